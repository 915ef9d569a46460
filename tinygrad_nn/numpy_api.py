"""NumPy functions on Tensors: NumPy's override protocols (`__array_ufunc__` for ufuncs such as
np.exp, `__array_function__` for the rest, NEP 13 and NEP 18), attached to Tensor here.

A NumPy function that tinygrad_nn has an op for runs that op, so NumPy code written without
tinygrad_nn in mind stays differentiable: `np.exp(t)`, `np.concatenate([t, u])`,
`np.sum(t, axis=0)`, `np.einsum("ij,jk", a, b)` return Tensors with a gradient. Which op runs
for which NumPy function is said where the op is defined (`register(np.exp)` in ops/); here
that table is only consulted. A NumPy function without an op raises TypeError when a Tensor
argument requires grad (it would silently cut the graph), and otherwise computes with NumPy on
the values. Functions whose result has no gradient (np.shape, np.argmax, np.allclose,
np.zeros_like, comparisons...) always compute on the values.

`t.numpy()` and `t.detach()` read a tensor's values (no graph): that is how to leave
tinygrad_nn on purpose. Operators on Tensors (`t + u`, `t @ w`) never come here: they call the
ops directly, so the protocols cost the op hot path nothing.
"""
import functools
import inspect

import numpy as np

from .grad_mode import is_grad_enabled
from .ops.base import NUMPY
from .tensor import Tensor

__all__ = ["NO_GRADIENT", "TRUTH_UFUNCS", "array_ufunc", "array_function"]

# NUMPY (ops/base.py) maps NumPy's function to ours, as the ops declare it: a ufunc (called with
# the same positional arguments), a (ufunc, "reduce" | "accumulate") pair, or another function
# (arguments matched by name). It is read at each call, so an op registered later dispatches too.

# Functions whose result carries no gradient (shapes, indices, truth values, fresh arrays,
# dtypes): they compute on the values even when an argument requires grad.
NO_GRADIENT = {
    np.shape, np.ndim, np.size, np.argmax, np.argmin, np.argsort, np.argwhere, np.nonzero,
    np.flatnonzero, np.count_nonzero, np.searchsorted, np.allclose, np.isclose, np.array_equal,
    np.array_equiv, np.any, np.all, np.zeros_like, np.ones_like, np.empty_like, np.isreal,
    np.iscomplex, np.isrealobj, np.iscomplexobj, np.may_share_memory, np.shares_memory,
    np.result_type, np.min_scalar_type, np.can_cast,
}

# ufuncs whose result for floats is bool (comparisons, np.isnan, np.logical_and...): no gradient
TRUTH_UFUNCS = {u for u in vars(np).values() if isinstance(u, np.ufunc)
                and any(t.startswith("d" * u.nin + "->?") for t in u.types)}


# ---------------------------------------------------------------------------- dispatch

def _arrays(x):
    """x with every Tensor (inside lists, tuples and dicts too) replaced by its array."""
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, (list, tuple)):
        return type(x)(_arrays(item) for item in x)
    if isinstance(x, dict):
        return {key: _arrays(value) for key, value in x.items()}
    return x


def _needs_grad(x):
    if isinstance(x, Tensor):
        return x.requires_grad
    if isinstance(x, (list, tuple)):
        return any(_needs_grad(item) for item in x)
    if isinstance(x, dict):
        return any(_needs_grad(value) for value in x.values())
    return False


def _name(func):
    module = getattr(func, "__module__", None) or "numpy"
    prefix = "np.linalg." if module.startswith("numpy.linalg") else "np."
    return prefix + getattr(func, "__name__", repr(func))


def _refuse(name, why=""):
    raise TypeError(f"{name} has no tinygrad_nn op{why}: applied to a Tensor that requires "
                    f"grad it would silently drop the gradient. Call .detach() on the Tensor "
                    f"arguments to compute without a gradient, or write it with tinygrad_nn "
                    f"ops.")


def _without_gradient(func, args, kwargs):
    return func(*_arrays(args), **_arrays(kwargs))


def array_ufunc(tensor, ufunc, method, *inputs, **kwargs):
    """Tensor.__array_ufunc__: an op for the ufuncs tinygrad_nn has (a Tensor), NumPy's result
    on the values where no gradient is lost, TypeError where one would be."""
    name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if method == "at" or any(isinstance(t, Tensor) for t in kwargs.get("out", ())):
        raise TypeError(f"{name} would write into a Tensor's data behind the graph's back; "
                        "tinygrad_nn ops return new Tensors (in place: Tensor.add_, copy_...)")
    ours = NUMPY.get(ufunc if method == "__call__" else (ufunc, method))
    if method == "__call__" and not kwargs and ours is not None:
        return ours(*inputs)
    allowed = {"reduce": {"axis", "keepdims"}, "accumulate": {"axis"}}.get(method)
    if ours is not None and allowed and len(inputs) == 1 and set(kwargs) <= allowed:
        return ours(inputs[0], kwargs.get("axis", 0), *(
            [kwargs.get("keepdims", False)] if method == "reduce" else []))
    if ufunc not in TRUTH_UFUNCS and is_grad_enabled() and (
            _needs_grad(inputs) or _needs_grad(kwargs)):
        _refuse(name, "" if ours is None else f" taking the arguments {sorted(kwargs)}")
    result = getattr(ufunc, method)(*_arrays(inputs), **_arrays(kwargs))
    # as comparison operators do: a bool or other gradient-free result comes back as a Tensor
    if isinstance(result, np.ndarray) and "out" not in kwargs:
        return Tensor._make(result, None)
    return result


# NumPy 1.x's functions written in C have no signature Python can read: theirs, as documented
def _concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"): ...
def _dot(a, b, out=None): ...
def _inner(a, b): ...
def _where(condition, x=None, y=None): ...


_C_FUNCTIONS = {np.concatenate: _concatenate, np.dot: _dot, np.inner: _inner, np.where: _where}


@functools.cache
def _signature(func):
    try:
        return inspect.signature(func)
    except ValueError:
        return inspect.signature(_C_FUNCTIONS[func])


@functools.cache
def _argument_names(func, ours):
    """NumPy parameter name -> our parameter name: the same name, or, for one of NumPy's
    leading parameters that we call differently, ours in the same position. Names passed
    through NumPy's **kwargs (np.pad's constant_values) keep theirs."""
    numpy_params = list(_signature(func).parameters.values())
    our_params = list(inspect.signature(ours).parameters)
    numpy_names = {p.name for p in numpy_params}
    names = {name: name for name in our_params}
    for i, p in enumerate(numpy_params):
        if p.name not in our_params and i < len(our_params) and our_params[i] not in numpy_names:
            names[p.name] = our_params[i]
    return names, numpy_params


def _unused(value, default):
    """True if a NumPy argument we do not take was left at its default (or NumPy's marker)."""
    return value is None or value is default or type(value).__name__ == "_NoValueType"


def _call_op(func, ours, args, kwargs):
    """ours(...) with the arguments of a call of NumPy's func(*args, **kwargs)."""
    names, numpy_params = _argument_names(func, ours)
    bound = _signature(func).bind(*args, **kwargs).arguments
    positional, named = [], {}
    for p in numpy_params:
        if p.name not in bound:
            continue
        value = bound[p.name]
        if p.kind is p.VAR_POSITIONAL:
            positional.extend(value)
            continue
        given = value.items() if p.kind is p.VAR_KEYWORD else [(p.name, value)]
        for key, item in given:
            if key in names:
                named[names[key]] = item
            elif not _unused(item, p.default):
                raise TypeError(f"{_name(func)}: the argument {key}={item!r} is not supported "
                                "on Tensors (tinygrad_nn computes without it); call .detach() "
                                "on the Tensors to compute with NumPy, without a gradient")
    if positional:  # np.einsum(subscripts, *operands): everything before the operands
        return ours(*positional, **named)
    return ours(*_leading(ours, named), **named)


def _leading(ours, named):
    """The arguments of `named` that must go by position: those up to and including our
    *-parameter (np.reshape(a, shape) calls reshape(x, *shape) as reshape(x, shape))."""
    params = list(inspect.signature(ours).parameters.values())
    star = next((i for i, p in enumerate(params) if p.kind is p.VAR_POSITIONAL), None)
    if star is None or params[star].name not in named:
        return []
    return [named.pop(p.name) for p in params[:star + 1]]


def array_function(tensor, func, types, args, kwargs):
    """Tensor.__array_function__: the op for the NumPy functions tinygrad_nn has, NumPy on the
    values where no gradient is lost, TypeError where one would be."""
    if not all(issubclass(t, (Tensor, np.ndarray)) for t in types):
        return NotImplemented
    ours = NUMPY.get(func)
    if ours is not None:
        return _call_op(func, ours, args, kwargs)
    if func in NO_GRADIENT or not is_grad_enabled() or not (
            _needs_grad(args) or _needs_grad(kwargs)):
        return _without_gradient(func, args, kwargs)
    _refuse(_name(func))


Tensor.__array_ufunc__ = array_ufunc
Tensor.__array_function__ = array_function

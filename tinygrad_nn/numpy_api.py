"""NumPy functions on Tensors: NumPy's override protocols (`__array_ufunc__` for ufuncs such as
np.exp, `__array_function__` for the rest, NEP 13 and NEP 18).

A NumPy function that tinygrad_nn has an op for runs that op, so NumPy code written without
tinygrad_nn in mind stays differentiable: `np.exp(t)`, `np.concatenate([t, u])`,
`np.sum(t, axis=0)`, `np.einsum("ij,jk", a, b)` return Tensors with a gradient. A NumPy function
without an op raises TypeError when a Tensor argument requires grad (it would silently cut the
graph), and otherwise computes with NumPy on the values. Functions whose result has no gradient
(np.shape, np.argmax, np.allclose, np.zeros_like, comparisons...) always compute on the values.

`np.asarray(t)` and `t.numpy()` read a tensor's values (no graph): that is how to leave
tinygrad_nn on purpose. Operators on Tensors (`t + u`, `t @ w`) never come here: they call the
ops directly, so the protocols cost the op hot path nothing.
"""
import functools
import inspect

import numpy as np

from . import functional as F
from . import ops
from .autograd import is_grad_enabled
from .tensor import Tensor

__all__ = ["UFUNCS", "FUNCTIONS", "NO_GRADIENT", "TRUTH_UFUNCS", "array_ufunc", "array_function",
           "refuse_implicit_conversion"]


def _binary(op):
    return lambda a, b: op.apply(a, b)


def _where(condition, x=None, y=None):
    """np.where(condition, x, y), or np.where(condition) = np.nonzero(condition) (no gradient)"""
    if x is None and y is None:
        return np.nonzero(_arrays(condition))
    return F.where(condition, x, y)


# (the one input of a unary ufunc that came here is the Tensor)
def _degrees(x):
    return x * (180 / np.pi)


def _radians(x):
    return x * (np.pi / 180)


# ufunc -> the tinygrad_nn function that computes it (same positional arguments)
UFUNCS = {
    np.add: _binary(ops.Add), np.subtract: _binary(ops.Sub), np.multiply: _binary(ops.Mul),
    np.divide: _binary(ops.Div), np.power: _binary(ops.Pow), np.matmul: F.matmul,
    np.negative: lambda x: ops.Neg.apply(x), np.positive: lambda x: +x, np.conjugate: lambda x: +x,
    np.maximum: F.maximum, np.minimum: F.minimum, np.mod: F.mod, np.arctan2: F.arctan2,
    np.hypot: F.hypot, np.logaddexp: F.logaddexp,
    np.exp: F.exp, np.log: F.log, np.sqrt: F.sqrt, np.absolute: F.abs, np.fabs: F.abs,
    np.tanh: F.tanh, np.sin: F.sin, np.cos: F.cos, np.tan: F.tan, np.arcsin: F.arcsin,
    np.arccos: F.arccos, np.arctan: F.arctan, np.sinh: F.sinh, np.cosh: F.cosh,
    np.arcsinh: F.arcsinh, np.arccosh: F.arccosh, np.arctanh: F.arctanh, np.log1p: F.log1p,
    np.expm1: F.expm1, np.log2: F.log2, np.log10: F.log10, np.exp2: F.exp2,
    np.square: F.square, np.reciprocal: F.reciprocal, np.sign: F.sign, np.floor: F.floor,
    np.ceil: F.ceil, np.rint: F.round, np.degrees: _degrees, np.rad2deg: _degrees,
    np.radians: _radians, np.deg2rad: _radians,
}
# ufunc.reduce and ufunc.accumulate that are ops: np.add.reduce(t, axis=0) is a sum
_REDUCE = {np.add: F.sum, np.multiply: F.prod, np.maximum: F.max, np.minimum: F.min,
           np.logaddexp: F.logsumexp}
_ACCUMULATE = {np.add: F.cumsum, np.multiply: F.cumprod}

# NumPy function -> the tinygrad_nn function; arguments are matched by name (NumPy's leading
# parameters by position where the names differ, e.g. np.sum's `a` is tg.sum's `x`)
FUNCTIONS = {
    np.sum: F.sum, np.mean: F.mean, np.max: F.max, np.amax: F.max, np.min: F.min,
    np.amin: F.min, np.var: F.var, np.std: F.std, np.prod: F.prod, np.cumsum: F.cumsum,
    np.cumprod: F.cumprod, np.diff: F.diff, np.linalg.norm: F.norm,
    np.clip: F.clip, np.where: _where, np.round: F.round, np.around: F.round,
    np.einsum: lambda *operands, optimize=False: F.einsum(*operands),  # same result either way
    np.tensordot: F.tensordot, np.dot: F.dot, np.inner: F.inner,
    np.outer: F.outer, np.trace: F.trace, np.diagonal: F.diagonal, np.diag: F.diag,
    np.triu: F.triu, np.tril: F.tril,
    np.concatenate: F.concatenate, np.stack: F.stack, np.hstack: F.hstack, np.vstack: F.vstack,
    np.column_stack: F.column_stack, np.split: F.split, np.array_split: F.array_split,
    np.pad: F.pad, np.repeat: F.repeat, np.tile: F.tile, np.flip: F.flip, np.roll: F.roll,
    np.swapaxes: F.swapaxes, np.moveaxis: F.moveaxis, np.expand_dims: F.expand_dims,
    np.squeeze: F.squeeze,
    np.ravel: F.ravel, np.take_along_axis: F.take_along_axis, np.sort: F.sort,
    # (their one array argument is the Tensor that came here)
    np.reshape: lambda x, shape: x.reshape(shape),
    np.transpose: lambda x, axes=None: x.transpose(*(axes or ())),
    np.broadcast_to: lambda x, shape: x.broadcast_to(shape),
}

# Functions whose result carries no gradient (shapes, indices, truth values, fresh arrays):
# they compute on the values even when an argument requires grad.
NO_GRADIENT = {
    np.shape, np.ndim, np.size, np.argmax, np.argmin, np.argsort, np.argwhere, np.nonzero,
    np.flatnonzero, np.count_nonzero, np.searchsorted, np.allclose, np.isclose, np.array_equal,
    np.array_equiv, np.any, np.all, np.zeros_like, np.ones_like, np.empty_like, np.isreal,
    np.iscomplex, np.isrealobj, np.iscomplexobj, np.may_share_memory, np.shares_memory,
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
                    f"arguments to compute without a gradient (np.asarray(t) reads the values), "
                    f"or write it with tinygrad_nn ops.")


def _without_gradient(func, args, kwargs):
    return func(*_arrays(args), **_arrays(kwargs))


def array_ufunc(ufunc, method, inputs, kwargs):
    """Tensor.__array_ufunc__: an op for the ufuncs tinygrad_nn has (a Tensor), NumPy's result
    on the values where no gradient is lost, TypeError where one would be."""
    name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if method == "at" or any(isinstance(t, Tensor) for t in kwargs.get("out", ())):
        raise TypeError(f"{name} would write into a Tensor's data behind the graph's back; "
                        "tinygrad_nn ops return new Tensors (in place: Tensor.add_, copy_...)")
    if method == "__call__" and not kwargs and ufunc in UFUNCS:
        return UFUNCS[ufunc](*inputs)
    if method in ("reduce", "accumulate") and len(inputs) == 1:
        table = _REDUCE if method == "reduce" else _ACCUMULATE
        allowed = {"axis", "keepdims"} if method == "reduce" else {"axis"}
        if ufunc in table and set(kwargs) <= allowed:
            return table[ufunc](inputs[0], kwargs.get("axis", 0), *(
                [kwargs.get("keepdims", False)] if method == "reduce" else []))
    if ufunc not in TRUTH_UFUNCS and is_grad_enabled() and (
            _needs_grad(inputs) or _needs_grad(kwargs)):
        if ufunc in UFUNCS or ufunc in _REDUCE or ufunc in _ACCUMULATE:
            _refuse(name, f" taking the arguments {sorted(kwargs)}")
        _refuse(name)
    result = getattr(ufunc, method)(*_arrays(inputs), **_arrays(kwargs))
    # as comparison operators do: a bool or other gradient-free result comes back as a Tensor
    if isinstance(result, np.ndarray) and "out" not in kwargs:
        return Tensor._make(result, None)
    return result


@functools.cache
def _argument_names(func, ours):
    """NumPy parameter name -> our parameter name: the same name, or, for one of NumPy's
    leading parameters that we call differently, ours in the same position. Names passed
    through NumPy's **kwargs (np.pad's constant_values) keep theirs."""
    numpy_params = list(inspect.signature(func).parameters.values())
    our_params = list(inspect.signature(ours).parameters)
    numpy_names = {p.name for p in numpy_params}
    names = {name: name for name in our_params}
    for i, p in enumerate(numpy_params):
        if p.name not in our_params and i < len(our_params) and our_params[i] not in numpy_names:
            names[p.name] = our_params[i]
    return names, numpy_params


def _call_op(func, ours, args, kwargs):
    """ours(...) with the arguments of a call of NumPy's func(*args, **kwargs)."""
    names, numpy_params = _argument_names(func, ours)
    bound = inspect.signature(func).bind(*args, **kwargs).arguments
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
            elif not (item is None or item is np._NoValue or item is p.default):
                raise TypeError(f"{_name(func)}: the argument {key}={item!r} is not supported "
                                "on Tensors (tinygrad_nn computes without it); call .detach() "
                                "on the Tensors to compute with NumPy, without a gradient")
    if positional:  # np.einsum(subscripts, *operands): everything before the operands
        return ours(*positional, **named)
    return ours(**named)


def array_function(func, types, args, kwargs):
    """Tensor.__array_function__: the op for the NumPy functions tinygrad_nn has, NumPy on the
    values where no gradient is lost, TypeError where one would be."""
    if not all(issubclass(t, (Tensor, np.ndarray)) for t in types):
        return NotImplemented
    if func in FUNCTIONS:
        return _call_op(func, FUNCTIONS[func], args, kwargs)
    if func in NO_GRADIENT or not is_grad_enabled() or not (
            _needs_grad(args) or _needs_grad(kwargs)):
        return _without_gradient(func, args, kwargs)
    _refuse(_name(func))


_CONCATENATORS = {type(np.r_).__getitem__.__code__, type(np.c_).__getitem__.__code__}


def refuse_implicit_conversion(frame):
    """Called by Tensor.__array__ for a tensor that requires grad, with the caller's frame:
    np.r_[...] and np.c_[...] turn their items into arrays before any protocol could see them,
    and would silently drop the gradient."""
    if frame.f_code in _CONCATENATORS and is_grad_enabled():
        raise TypeError("np.r_ / np.c_ would silently drop the gradient of a Tensor that "
                        "requires grad: use tg.concatenate (or np.concatenate, which stays "
                        "differentiable), or .detach() the Tensor to compute without a gradient")

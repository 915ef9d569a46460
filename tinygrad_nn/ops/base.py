"""What every op module builds on: the `Op` base class, `register` (which makes a function public,
a Tensor method and NumPy's function on Tensors at once), the axis checks, and `Where` with the
gradient helpers built on it.

A backward rule gets `g`, the gradient of the op's output, and returns one gradient per input
(None for an input that needs none). It may return a gradient of the *output's* shape for a
broadcast input: the engine sums it back to the input's shape (`autograd.sum_to_shape`).

Rules use only NumPy operators, Tensor/ndarray methods both types share (`reshape`, `sum`,
`mean`, `transpose`, indexing) and `call(Op, ...)`, so the same rule runs on arrays and, with
`create_graph=True`, on Tensors (then the gradient is itself recorded). What forward saves is
either an input, the output, or a constant (a mask, a sign) whose own derivative is zero.
Where a rule must look at values (a mask, a test for zeros), it reads them with `values(x)`,
which works on arrays and Tensors alike. A branch the rule did not take gets an exact zero
(`Where`), never `g * mask`, which turns an inf in g into NaN; `safe_divide`/`safe_multiply`
keep a zero gradient zero where the factor is 0, inf or NaN. docs/contributing.md lists the
rules `tg.jit` adds (NumPy only through this package's `np`, out-of-place accumulation).
"""
import functools
import math

import numpy as np

from ..function import Function, call
from ..tensor import Tensor

__all__ = ["Op", "register", "PUBLIC", "NUMPY", "numpy_keywords", "constant_parameter",
           "as_tensor", "values", "axis_index", "axis_tuple", "Where", "where", "safe_divide",
           "safe_multiply", "times"]


class Op(Function):
    """A built-in op: its backward is differentiable, so higher-order gradients work.
    (`abstract = True` in a class's own body marks a base of ops, not an op with a row.)"""
    abstract = True
    differentiable_backward = True
    keeps_input_dtype = True


# --------------------------------------------------------------------------- registration

PUBLIC = {}  # name -> function: the package's functions, `tg.NAME`
NUMPY = {}   # a NumPy function, ufunc, or (ufunc, "reduce" | "accumulate") -> the function
             # that computes it on Tensors (numpy_api.py dispatches NumPy's calls through it)


def register(*numpy_names, method=False, name=None):
    """Decorator that publishes an op's function in one place: `tg.<name>` (the function's
    own name unless `name` is given), also the Tensor method `t.<name>(...)` if `method`
    (True, or the method's name), and what each of NumPy's `numpy_names` computes when given
    a Tensor (`np.exp(t)` runs `exp(t)`)."""
    def publish(fn):
        key = name or fn.__name__
        PUBLIC[key] = fn
        if method:
            setattr(Tensor, key if method is True else method, fn)
        for numpy_name in numpy_names:
            NUMPY[numpy_name] = fn
        return fn
    return publish


# PyTorch's keyword names of reductions -> NumPy's, which tinygrad_nn uses
PYTORCH_KEYWORDS = {"dim": "axis", "keepdim": "keepdims"}


def numpy_keywords(fn):
    """Let `fn` (a reduction or softmax) answer PyTorch's dim=/keepdim= with the NumPy names."""
    @functools.wraps(fn)
    def checked(*args, **kwargs):
        for key in kwargs.keys() & PYTORCH_KEYWORDS.keys():
            raise TypeError(f"{fn.__name__}() got an unexpected keyword argument {key!r}; "
                            f"tinygrad_nn uses NumPy's name: {PYTORCH_KEYWORDS[key]}=")
        return fn(*args, **kwargs)
    return checked


def constant_parameter(name, value, where):
    """An op's parameter (clip's bounds, elu's alpha...), which the op treats as a constant: a
    Tensor becomes its array, but one that requires grad is refused rather than silently
    getting no gradient."""
    if isinstance(value, Tensor):
        if value.requires_grad:
            raise TypeError(f"{where}: {name} is a constant of the op and gets no gradient, but "
                            "the Tensor given requires grad; pass a number or an array (or "
                            f"{name}.detach() to use its value)")
        return value.data
    return value


def as_tensor(x):
    """x as a Tensor (a function that needs x's shape accepts lists and arrays too)."""
    return x if isinstance(x, Tensor) else Tensor(x)


def values(x):
    """The values of an array or of a Tensor (in a rule run on Tensors), as an array."""
    return x.data if isinstance(x, Tensor) else np.asarray(x)


# --------------------------------------------------------------------------- axes

def axis_index(axis, ndim, where, shape=None):
    """One axis (an int, negatives counting from the end) as an int in [0, ndim); TypeError
    for a non-integer, ValueError naming `where` (and the input's `shape`, if given) for an
    axis out of range."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{where}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        of = f"a tensor with {ndim} dimensions" if shape is None else f"a tensor of shape {shape}"
        raise ValueError(f"{where}: axis {axis} is out of range for {of}")
    return int(axis) % ndim


def axis_tuple(axis, ndim, where):
    """axis None (every axis), an int or a sequence of ints, as a sorted tuple of distinct
    axes in [0, ndim)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted({axis_index(ax, ndim, where) for ax in axes}))


# --------------------------------------------------------------------------- selection

class Where(Op):
    """a where cond, else b. The untaken side gets an exact 0 (never g * mask, which would
    turn an inf in g into NaN)."""
    @staticmethod
    def forward(ctx, cond, a, b):
        if np.asarray(cond).dtype != bool:
            raise TypeError(f"where: cond must be a bool Tensor or array, got dtype "
                            f"{np.asarray(cond).dtype}")
        ctx.save_for_backward(cond)
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        return None, call(Where, cond, g, 0), call(Where, cond, 0, g)


@register(np.where)
def where(cond, a=None, b=None):
    """a where cond (a bool Tensor or array) is True, else b; no gradient leaks into the side
    that was not taken. With cond alone, the indices where it is True (np.nonzero)."""
    if a is None and b is None:
        return np.nonzero(values(cond))
    return Where.apply(cond, a, b)


# --------------------------------------------------------------------------- gradient helpers

def safe_divide(g, d):
    """g / d, but exactly 0 where g is 0 even if d is 0, inf or NaN, so the zero gradient that
    `where` sends into the branch it did not take stays zero (no NaN from log(0), 1/0, ...)."""
    if isinstance(g, Tensor) or isinstance(d, Tensor):
        return g / _where_g_is_zero(g, d, lambda v: (v == 0) | ~np.isfinite(v), np.inf)
    out = np.zeros(np.broadcast_shapes(g.shape, np.shape(d)), np.result_type(g, d))
    return np.divide(g, d, out=out, where=g != 0)


def safe_multiply(g, d):
    """g * d, but exactly 0 where g is 0 even if d is inf or NaN (see safe_divide)."""
    if isinstance(g, Tensor) or isinstance(d, Tensor):
        return g * _where_g_is_zero(g, d, lambda v: ~np.isfinite(v), 0)
    out = np.zeros(np.broadcast_shapes(g.shape, np.shape(d)), np.result_type(g, d))
    return np.multiply(g, d, out=out, where=g != 0)


def times(g, d):
    """g * d with safe_multiply's guarantee, at the price of one dot product (nothing for a
    Python-number factor): the masked product runs only when d may hold an inf or NaN."""
    if isinstance(g, Tensor) or isinstance(d, Tensor):
        return safe_multiply(g, d)
    if type(d) is float or type(d) is int:
        return g * d
    flat = d.reshape(-1)
    # d·d is inf or NaN if d holds one (or if d is huge: then the careful path is merely slower)
    if math.isfinite(flat.dot(flat)):
        return g * d
    return safe_multiply(g, d)


def _where_g_is_zero(g, d, unusable, value):
    """d, recorded (create_graph), with `value` (0 to multiply, inf to divide by) where g is
    exactly 0 and d is unusable: there the result is a constant 0, as on arrays, and
    everywhere else d keeps its own derivative."""
    blocked = (values(g) == 0) & unusable(values(d))
    return call(Where, blocked, value, d) if blocked.any() else d

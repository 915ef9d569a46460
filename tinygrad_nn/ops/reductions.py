"""Reductions and scans: sums, means, extrema, variance, products, running sums and products,
log-sum-exp and norms, each op's forward and backward side by side, then the functions that
publish them (`tg.sum`, `t.sum()`, `np.sum(t)`)."""
import builtins
import functools
import math

import numpy as np

from ..function import call
from ..tensor import Tensor
from .base import (Op, Where, as_tensor, axis_index, axis_tuple, numpy_keywords, register,
                   values, where)
from .elementwise import Exp, Sqrt
from .shape import BroadcastTo


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Op):
    """sum over axes;  every input element gets the gradient of its sum"""
    @staticmethod
    def forward(ctx, a, *, axis, keepdims):
        axes = axis_tuple(axis, a.ndim, "sum")
        ctx.in_shape, ctx.kept_shape = a.shape, _kept_shape(a.shape, axes)
        return a.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        return call(BroadcastTo, g.reshape(ctx.kept_shape), shape=ctx.in_shape)


class Mean(Op):
    """mean over axes;  every input element gets 1/n of the gradient of its mean"""
    @staticmethod
    def forward(ctx, a, *, axis, keepdims):
        axes = axis_tuple(axis, a.ndim, "mean")
        ctx.in_shape, ctx.kept_shape = a.shape, _kept_shape(a.shape, axes)
        ctx.count = math.prod(a.shape[ax] for ax in axes)
        if a.dtype == np.float32 or a.dtype == np.float64:  # np.mean's own steps, bit for bit,
            return np.add.reduce(a, axis=axes, keepdims=keepdims) / ctx.count  # without its 4 µs
        return a.mean(axis=axes, keepdims=keepdims)  # float16 sums in float32, integers in float64

    @staticmethod
    def backward(ctx, g):
        return call(BroadcastTo, g.reshape(ctx.kept_shape) / ctx.count, shape=ctx.in_shape)


def _extremum_forward(ctx, a, axis, keepdims, reduce, where):
    axes = axis_tuple(axis, a.ndim, where)
    if a.size == 0:
        raise ValueError(f"{where} of an empty tensor (shape {a.shape})")
    ctx.kept_shape = _kept_shape(a.shape, axes)
    y = reduce(a, axis=axes, keepdims=True)
    hits = a == y
    # Tied entries split the gradient equally; the share is a constant (its derivative is 0).
    ctx.save_for_backward((hits / hits.sum(axis=axes, keepdims=True)).astype(a.dtype))
    return y if keepdims else y.reshape([n for i, n in enumerate(a.shape) if i not in axes])


class Max(Op):
    """max over axes;  the gradient goes to the maximal entries, split equally at ties"""
    @staticmethod
    def forward(ctx, a, *, axis, keepdims):
        return _extremum_forward(ctx, a, axis, keepdims, np.max, "max")

    @staticmethod
    def backward(ctx, g):
        (share,) = ctx.saved_tensors
        return g.reshape(ctx.kept_shape) * share


class Min(Max):
    """min over axes;  the gradient goes to the minimal entries, split equally at ties
    (backward as Max's)"""
    @staticmethod
    def forward(ctx, a, *, axis, keepdims):
        return _extremum_forward(ctx, a, axis, keepdims, np.min, "min")


class Var(Op):
    """variance over axes, Σ (a - mean)² / (n - ddof) (ddof=0: the population variance);
    d/da = 2 (a - mean) / (n - ddof)"""
    @staticmethod
    def forward(ctx, a, *, axis, keepdims, ddof=0):
        axes = axis_tuple(axis, a.ndim, "var")
        ctx.axes, ctx.kept_shape = axes, _kept_shape(a.shape, axes)
        ctx.divisor = math.prod(a.shape[ax] for ax in axes) - ddof
        if ctx.divisor <= 0:
            raise ValueError(f"var: ddof={ddof} leaves no degrees of freedom for "
                             f"{ctx.divisor + ddof} values per result")
        ctx.save_for_backward(a)
        return a.var(axis=axes, keepdims=keepdims, ddof=ddof)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        centered = a - a.mean(axis=ctx.axes, keepdims=True)
        return g.reshape(ctx.kept_shape) * (2 / ctx.divisor) * centered


def _one_at_a_time(a, axes):
    """(mask, ...) for every position along `axes`: a bool array, True at that position of each
    slice. Backward rules use it where a quotient form would divide by a zero input."""
    grids = [np.arange(a.shape[ax]).reshape([-1 if i == ax else 1 for i in range(a.ndim)])
             for ax in axes]
    everywhere = np.ones([1] * a.ndim, dtype=bool)
    for position in np.ndindex(*(a.shape[ax] for ax in axes)):
        yield functools.reduce(np.logical_and, (g == p for g, p in zip(grids, position)),
                               everywhere)


class Prod(Op):
    """product over axes;  d/da_i = the product of the other factors, y / a_i when none is 0"""
    @staticmethod
    def forward(ctx, a, *, axis, keepdims):
        axes = axis_tuple(axis, a.ndim, "prod")
        ctx.axes, ctx.kept_shape = axes, _kept_shape(a.shape, axes)
        y = a.prod(axis=axes, keepdims=keepdims)
        ctx.save_for_backward(a, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, y = ctx.saved_tensors
        g = g.reshape(ctx.kept_shape)
        if not (values(a) == 0).any():
            return g * y.reshape(ctx.kept_shape) / a
        # A factor is 0, so y / a_i would divide by it: take each position's product of the
        # others directly (the input with that position set to 1), one product per position.
        total = 0
        for here in _one_at_a_time(a, ctx.axes):
            others = call(Prod, call(Where, here, 1, a), axis=ctx.axes, keepdims=True)
            total = total + call(Where, here, g * others, 0)
        return total


def _scan_axis(a, axis, where):
    """(a, axis) for a scan: axis None scans the flattened input, as NumPy does."""
    if axis is None:
        return a.reshape(-1), 0
    return (a.reshape(1) if a.ndim == 0 else a), axis_index(axis, builtins.max(a.ndim, 1), where)


def _reversed_along(x, axis):
    return x[(slice(None),) * axis + (slice(None, None, -1),)]


def _reverse_cumsum(g, axis):
    """Σ_{j >= i} g_j along axis: the backward of a cumulative sum."""
    return _reversed_along(call(Cumsum, _reversed_along(g, axis), axis=axis), axis)


class Cumsum(Op):
    """running sum along axis (None: of the flattened input);  d/da_i = Σ_{j >= i} g_j"""
    @staticmethod
    def forward(ctx, a, *, axis):
        ctx.in_shape = a.shape
        a, ctx.axis = _scan_axis(a, axis, "cumsum")
        return np.cumsum(a, axis=ctx.axis)

    @staticmethod
    def backward(ctx, g):
        return _reverse_cumsum(g, ctx.axis).reshape(ctx.in_shape)


class Cumprod(Op):
    """running product along axis (None: of the flattened input);
    d/da_i = Σ_{j >= i} g_j y_j / a_i when no a is 0"""
    @staticmethod
    def forward(ctx, a, *, axis):
        ctx.in_shape = a.shape
        scanned, ctx.axis = _scan_axis(a, axis, "cumprod")
        ctx.scan_shape = scanned.shape
        y = np.cumprod(scanned, axis=ctx.axis)
        ctx.save_for_backward(a, y)  # a itself, so that create_graph finds the input
        return y

    @staticmethod
    def backward(ctx, g):
        a, y = ctx.saved_tensors
        a, axis = a.reshape(ctx.scan_shape), ctx.axis
        if not (values(a) == 0).any():
            return (_reverse_cumsum(g * y, axis) / a).reshape(ctx.in_shape)
        # A factor is 0: dy_j/da_i (j >= i) is the running product with a_i set to 1.
        later = np.arange(a.shape[axis]).reshape([-1 if k == axis else 1 for k in range(a.ndim)])
        total = 0
        for i, here in enumerate(_one_at_a_time(a, (axis,))):
            others = call(Cumprod, call(Where, here, 1, a), axis=axis)
            share = (call(Where, later >= i, g * others, 0)).sum(axis=axis, keepdims=True)
            total = total + call(Where, here, share, 0)
        return total.reshape(ctx.in_shape)


class LogSumExp(Op):
    """log Σ e^a over axes, shifted by the max so it never overflows;
    d/da = e^(a - out), the softmax"""
    @staticmethod
    def forward(ctx, a, *, axis, keepdims):
        axes = axis_tuple(axis, a.ndim, "logsumexp")
        ctx.kept_shape = _kept_shape(a.shape, axes)
        peak = a.max(axis=axes, keepdims=True)
        peak = np.where(np.isfinite(peak), peak, 0)  # all -inf: log 0 = -inf, not NaN
        y = np.log(np.exp(a - peak).sum(axis=axes, keepdims=True)) + peak
        y = y if keepdims else y.reshape([n for i, n in enumerate(a.shape) if i not in axes])
        ctx.save_for_backward(a, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, y = ctx.saved_tensors
        return g.reshape(ctx.kept_shape) * call(Exp, a - y.reshape(ctx.kept_shape))


# =========================================================================== the functions

@register(np.sum, (np.add, "reduce"), method=True)
@numpy_keywords
def sum(x, axis=None, keepdims=False):
    """Σ x over axis (None: all; an int or a tuple)."""
    return Sum.apply(as_tensor(x), axis=axis, keepdims=keepdims)


@register(np.mean, method=True)
@numpy_keywords
def mean(x, axis=None, keepdims=False):
    """The mean over axis (None: all; an int or a tuple)."""
    return Mean.apply(as_tensor(x), axis=axis, keepdims=keepdims)


@register(np.max, np.amax, (np.maximum, "reduce"), method=True)
@numpy_keywords
def max(x, axis=None, keepdims=False):
    """The largest entry over axis; tied entries share the gradient equally."""
    return Max.apply(as_tensor(x), axis=axis, keepdims=keepdims)


@register(np.min, np.amin, (np.minimum, "reduce"), method=True)
@numpy_keywords
def min(x, axis=None, keepdims=False):
    """The smallest entry over axis; tied entries share the gradient equally."""
    return Min.apply(as_tensor(x), axis=axis, keepdims=keepdims)


@register(np.var, method=True)
@numpy_keywords
def var(x, axis=None, keepdims=False, ddof=0):
    """Variance, Σ (x - mean)² / (n - ddof): ddof=0 (the default) the population variance."""
    return Var.apply(as_tensor(x), axis=axis, keepdims=keepdims, ddof=ddof)


@register(np.std, method=True)
@numpy_keywords
def std(x, axis=None, keepdims=False, ddof=0):
    """√var(x, axis, ddof=ddof): ddof=0 the population, ddof=1 the sample standard deviation."""
    return Sqrt.apply(var(x, axis, keepdims, ddof=ddof))


@register(np.prod, (np.multiply, "reduce"), method=True)
@numpy_keywords
def prod(x, axis=None, keepdims=False):
    """Product over axis (None: all); the gradient is right where factors are 0, too."""
    return Prod.apply(as_tensor(x), axis=axis, keepdims=keepdims)


@register(np.cumsum, (np.add, "accumulate"), method=True)
@numpy_keywords
def cumsum(x, axis=None):
    """Running sum along axis (None: over the flattened input), as np.cumsum."""
    return Cumsum.apply(as_tensor(x), axis=axis)


@register(np.cumprod, (np.multiply, "accumulate"), method=True)
@numpy_keywords
def cumprod(x, axis=None):
    """Running product along axis (None: over the flattened input), as np.cumprod."""
    return Cumprod.apply(as_tensor(x), axis=axis)


@register((np.logaddexp, "reduce"))
@numpy_keywords
def logsumexp(x, axis=None, keepdims=False):
    """log Σ e^x over axis, without overflow (scipy.special.logsumexp)."""
    return LogSumExp.apply(as_tensor(x), axis=axis, keepdims=keepdims)


def _root_of_sum(powers, axes, keepdims, p):
    """(Σ powers)^(1/p) over axes, with gradient 0 where the sum is 0 (PyTorch's subgradient of
    a norm at the origin) instead of the chain rule's 0 · ∞ = NaN."""
    total = powers.sum(axes, keepdims)
    origin = (total == 0).data
    total = where(origin, 1.0, total)
    return where(origin, 0.0, total.sqrt() if p == 2 else total ** (1 / p))


@register(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):
    """np.linalg.norm: a vector norm over one axis (ord None or 2, 1, inf, -inf, 0, any p) or a
    matrix norm over two ('fro'/None, 1, -1, inf, -inf); at the origin the gradient is 0.
    Spectral and nuclear norms need an SVD, which tinygrad_nn does not have: ValueError."""
    x = as_tensor(x)
    if axis is None and ord is not None and x.ndim not in (1, 2):
        raise ValueError(f"norm: ord={ord!r} needs a 1-D or 2-D input or an axis, got shape "
                         f"{x.shape}")
    axes = (tuple(range(x.ndim)) if axis is None else
            (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis))
    if ord is None or (ord == "fro" and len(axes) == 2) or (ord == 2 and len(axes) == 1):
        return _root_of_sum(x * x, axes, keepdims, 2)
    a = x.abs()
    if len(axes) == 1:
        if isinstance(ord, str):
            raise ValueError(f"norm: ord={ord!r} is a matrix norm; a vector norm needs a number")
        if ord == np.inf:
            return a.max(axes, keepdims)
        if ord == -np.inf:
            return a.min(axes, keepdims)
        if ord == 0:
            return (x != 0).astype(x.dtype).sum(axes, keepdims)
        return _root_of_sum(a ** ord, axes, keepdims, ord)
    if len(axes) != 2:
        raise ValueError(f"norm: axis must be an int or a pair of ints, got {axis!r}")
    rows, cols = (ax % x.ndim for ax in axes)
    if ord in (1, -1):  # the largest (smallest) column sum
        sums, over = a.sum(rows, keepdims=True), cols
    elif ord in (np.inf, -np.inf):  # the largest (smallest) row sum
        sums, over = a.sum(cols, keepdims=True), rows
    else:
        raise ValueError(f"norm: matrix ord={ord!r} is not supported (only 'fro', 1, -1, inf, "
                         "-inf; 2, -2 and 'nuc' need an SVD)")
    extreme = sums.max(over, keepdims=True) if ord > 0 else sums.min(over, keepdims=True)
    return extreme if keepdims else extreme.reshape(
        [n for i, n in enumerate(extreme.shape) if i not in (rows, cols)])


@register(np.diff)
def diff(x, n=1, axis=-1):
    """The n-th discrete difference along axis, out[i] = x[i+1] - x[i] (n times), as np.diff."""
    x = as_tensor(x)
    axis = axis_index(axis, x.ndim, "diff")
    lead = (slice(None),) * axis
    for _ in range(n):
        x = x[lead + (slice(1, None),)] - x[lead + (slice(None, -1),)]
    return x


def _arg_extremum(find, x, axis, keepdims, where):
    """The index of the first extreme entry (`find` is np.argmax or np.argmin) along `axis`
    (None: of the flattened tensor), as an int64 Tensor outside the graph."""
    data = values(x)
    if axis is not None:
        axis_index(axis, builtins.max(data.ndim, 1), where, data.shape)
    if data.size == 0:
        raise ValueError(f"{where} of an empty tensor (shape {data.shape})")
    return Tensor._make(np.asarray(find(data, axis=axis, keepdims=keepdims), dtype=np.int64),
                        None)


@register(method=True)
def argmax(x, axis=None, keepdims=False):
    """int64 indices of the maxima (the first among ties); no gradient."""
    return _arg_extremum(np.argmax, x, axis, keepdims, "argmax")


@register(method=True)
def argmin(x, axis=None, keepdims=False):
    """int64 indices of the minima (the first among ties); no gradient."""
    return _arg_extremum(np.argmin, x, axis, keepdims, "argmin")

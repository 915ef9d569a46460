"""The Tensor methods as functions (`tg.exp(t)` is `t.exp()`), the ops of several tensors, and
the rest of NumPy's (and PyTorch's activations) that tinygrad_nn differentiates, each with NumPy's
name and signature."""
import builtins
import math as _math

import numpy as np

from . import ops
from .ops import normalize_axis as _axis
from .tensor import Tensor, constant_parameter, numpy_keywords

__all__ = ["sum", "mean", "max", "min", "var", "exp", "log", "sqrt", "abs", "tanh", "sigmoid",
           "relu", "leaky_relu", "softmax", "log_softmax", "clip", "reshape", "transpose",
           "flatten", "matmul", "concatenate", "stack", "where", "maximum", "minimum", "linear",
           "cross_entropy", "unsqueeze", "squeeze", "argmax", "argmin", "conv2d", "max_pool2d",
           "avg_pool2d", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh",
           "cosh", "arcsinh", "arccosh", "arctanh", "log1p", "expm1", "log2", "log10", "exp2",
           "square", "reciprocal", "sign", "floor", "ceil", "round", "mod", "hypot", "logaddexp",
           "erf", "softplus", "elu", "selu", "gelu", "silu", "relu6", "hardtanh", "hardswish",
           "mish", "prod", "std", "cumsum", "cumprod", "logsumexp", "norm", "diff", "einsum",
           "tensordot", "dot", "inner", "outer", "diagonal", "trace", "diag", "triu", "tril",
           "pad", "split", "array_split", "repeat", "tile", "flip", "roll", "swapaxes",
           "moveaxis", "expand_dims", "ravel", "take_along_axis", "sort", "hstack", "vstack",
           "column_stack"]


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


@numpy_keywords
def sum(x, axis=None, keepdims=False): return _tensor(x).sum(axis, keepdims)
@numpy_keywords
def mean(x, axis=None, keepdims=False): return _tensor(x).mean(axis, keepdims)
@numpy_keywords
def max(x, axis=None, keepdims=False): return _tensor(x).max(axis, keepdims)
@numpy_keywords
def min(x, axis=None, keepdims=False): return _tensor(x).min(axis, keepdims)
@numpy_keywords
def var(x, axis=None, keepdims=False, ddof=0): return _tensor(x).var(axis, keepdims, ddof)
def exp(x): return _tensor(x).exp()
def log(x): return _tensor(x).log()
def sqrt(x): return _tensor(x).sqrt()
def abs(x): return _tensor(x).abs()
def tanh(x): return _tensor(x).tanh()
def sigmoid(x): return _tensor(x).sigmoid()
def relu(x): return _tensor(x).relu()
def leaky_relu(x, negative_slope=0.01): return _tensor(x).leaky_relu(negative_slope)
@numpy_keywords
def softmax(x, axis=-1): return _tensor(x).softmax(axis)
@numpy_keywords
def log_softmax(x, axis=-1): return _tensor(x).log_softmax(axis)
def clip(x, lo, hi): return _tensor(x).clip(lo, hi)
def reshape(x, *shape): return _tensor(x).reshape(*shape)
def transpose(x, *axes): return _tensor(x).transpose(*axes)
def flatten(x, start_axis=0, end_axis=-1): return _tensor(x).flatten(start_axis, end_axis)
def matmul(a, b): return _tensor(a).matmul(b)
def unsqueeze(x, axis): return _tensor(x).unsqueeze(axis)
def squeeze(x, axis=None): return _tensor(x).squeeze(axis)
def argmax(x, axis=None, keepdims=False): return _tensor(x).argmax(axis, keepdims)
def argmin(x, axis=None, keepdims=False): return _tensor(x).argmin(axis, keepdims)


@numpy_keywords
def concatenate(tensors, axis=0):
    """Join tensors along an existing axis (as np.concatenate; axis None joins them
    flattened)."""
    if axis is None:
        return ops.Concatenate.apply(*[_tensor(t).reshape(-1) for t in tensors], axis=0)
    return ops.Concatenate.apply(*tensors, axis=axis)


@numpy_keywords
def stack(tensors, axis=0):
    """Join same-shaped tensors along a new axis (as np.stack)."""
    return ops.Stack.apply(*tensors, axis=axis)


def where(cond, a, b):
    """a where cond (a bool Tensor or array) is True, else b; no gradient leaks into the side
    that was not taken."""
    return ops.Where.apply(cond, a, b)


def maximum(a, b):
    """Elementwise max; at a tie each input gets half the gradient."""
    return ops.Maximum.apply(a, b)


def minimum(a, b):
    """Elementwise min; at a tie each input gets half the gradient."""
    return ops.Minimum.apply(a, b)


def linear(x, weight, bias=None):
    """x @ weight + bias as one op (x (..., in), weight (in, out), bias (out,)): one node
    instead of two, and no separate pass for the bias."""
    return ops.Affine.apply(x, weight) if bias is None else ops.Affine.apply(x, weight, bias)


def cross_entropy(logits, labels, reduction="mean"):
    """Softmax cross-entropy of logits (N, C) against integer labels (N,) in [0, C), fused into
    one stable op (log-sum-exp); reduction 'mean', 'sum' or 'none' (shape (N,))."""
    logits = _tensor(logits)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {logits.shape}")
    labels = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: labels must be integers, got dtype {labels.dtype}")
    if labels.shape != logits.shape[:1]:
        raise ValueError(f"cross_entropy: labels of shape {labels.shape} do not match logits of "
                         f"shape {logits.shape} (expected ({logits.shape[0]},))")
    n_classes = logits.shape[1]
    bad = labels[(labels < 0) | (labels >= n_classes)]
    if bad.size:
        raise ValueError(f"cross_entropy: label {bad[0]} is outside [0, {n_classes})")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got "
                         f"{reduction!r}")
    return ops.CrossEntropy.apply(logits, labels, reduction=reduction)


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation with zero padding, as torch.nn.functional.conv2d: x (N, C, H, W),
    weight (C_out, C, kH, kW), bias (C_out,) or None; stride and padding an int or (h, w)
    pair -> (N, C_out, (H + 2p - kH) // s + 1, (W + 2p - kW) // s + 1)."""
    if bias is None:
        return ops.Convolution.apply(x, weight, stride=stride, padding=padding)
    return ops.Convolution.apply(x, weight, bias, stride=stride, padding=padding)


def max_pool2d(x, kernel_size, stride=None):
    """The max of each kernel_size window of x (N, C, H, W), one every `stride` (default
    kernel_size), no padding, windows that do not fit dropped; ties split the gradient."""
    return ops.MaxPooling.apply(x, kernel_size=kernel_size, stride=stride)


def avg_pool2d(x, kernel_size, stride=None):
    """The mean of each kernel_size window of x (N, C, H, W), one every `stride` (default
    kernel_size), no padding, windows that do not fit dropped."""
    return ops.AvgPooling.apply(x, kernel_size=kernel_size, stride=stride)


# ---------------------------------------------------------------------------- elementwise
# One op each, or (log2, log10, exp2, square, reciprocal) an exact composition of existing ones.

def sin(x): return ops.Sin.apply(_tensor(x))
def cos(x): return ops.Cos.apply(_tensor(x))
def tan(x): return ops.Tan.apply(_tensor(x))
def arcsin(x): return ops.Arcsin.apply(_tensor(x))
def arccos(x): return ops.Arccos.apply(_tensor(x))
def arctan(x): return ops.Arctan.apply(_tensor(x))
def arctan2(x1, x2): return ops.Arctan2.apply(x1, x2)
def sinh(x): return ops.Sinh.apply(_tensor(x))
def cosh(x): return ops.Cosh.apply(_tensor(x))
def arcsinh(x): return ops.Arcsinh.apply(_tensor(x))
def arccosh(x): return ops.Arccosh.apply(_tensor(x))
def arctanh(x): return ops.Arctanh.apply(_tensor(x))
def log1p(x): return ops.Log1p.apply(_tensor(x))
def expm1(x): return ops.Expm1.apply(_tensor(x))
def log2(x): return log(x) * (1 / _math.log(2))
def log10(x): return log(x) * (1 / _math.log(10))
def exp2(x): return 2.0 ** _tensor(x)
def square(x): return _tensor(x) ** 2
def reciprocal(x): return 1 / _tensor(x)
def sign(x): return ops.Sign.apply(_tensor(x))
def floor(x): return ops.Floor.apply(_tensor(x))
def ceil(x): return ops.Ceil.apply(_tensor(x))
def round(x, decimals=0): return ops.Round.apply(_tensor(x), decimals=decimals)
def mod(x1, x2): return ops.Mod.apply(x1, x2)
def hypot(x1, x2): return ops.Hypot.apply(x1, x2)
def logaddexp(x1, x2): return ops.LogAddExp.apply(x1, x2)
def erf(x): return ops.Erf.apply(_tensor(x))


# ---------------------------------------------------------------------------- activations
# PyTorch's definitions and argument names (NumPy has none).

def softplus(x, beta=1.0):
    """log(1 + e^(beta x)) / beta, computed without overflow."""
    return ops.Softplus.apply(_tensor(x), beta=constant_parameter("beta", beta, "softplus"))


def elu(x, alpha=1.0):
    """x for x > 0, alpha (e^x - 1) otherwise."""
    return ops.Elu.apply(_tensor(x), alpha=constant_parameter("alpha", alpha, "elu"))


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """scale · elu(x, alpha) with the self-normalising constants of Klambauer et al. (2017)."""
    return elu(x, SELU_ALPHA) * SELU_SCALE


def gelu(x, approximate="none"):
    """x Φ(x) (Φ the standard normal CDF, through erf), or with approximate='tanh' PyTorch's
    ½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return ops.Gelu.apply(_tensor(x), approximate=approximate)


def silu(x):
    """x · sigmoid(x) (also called swish)."""
    return _tensor(x) * sigmoid(x)


def relu6(x):
    """min(max(x, 0), 6); gradient 0 at 0 and 6, as torch.nn.functional.relu6."""
    return hardtanh(x, 0.0, 6.0)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    """x limited to [min_val, max_val]; unlike clip, the gradient is 0 at the bounds themselves
    (torch.nn.functional.hardtanh's)."""
    return ops.Clip.apply(_tensor(x), lo=constant_parameter("min_val", min_val, "hardtanh"),
                          hi=constant_parameter("max_val", max_val, "hardtanh"), strict=True)


def hardswish(x):
    """x · relu6(x + 3) / 6."""
    x = _tensor(x)
    return x * relu6(x + 3) * (1 / 6)


def mish(x):
    """x · tanh(softplus(x))."""
    return _tensor(x) * tanh(softplus(x))


# ---------------------------------------------------------------------------- reductions, scans

@numpy_keywords
def prod(x, axis=None, keepdims=False):
    """Product over axis (None: all); the gradient is right where factors are 0, too."""
    return ops.Prod.apply(_tensor(x), axis=axis, keepdims=keepdims)


@numpy_keywords
def std(x, axis=None, keepdims=False, ddof=0):
    """√var(x, axis, ddof=ddof): ddof=0 the population, ddof=1 the sample standard deviation."""
    return sqrt(var(x, axis, keepdims, ddof=ddof))


@numpy_keywords
def cumsum(x, axis=None):
    """Running sum along axis (None: over the flattened input), as np.cumsum."""
    return ops.Cumsum.apply(_tensor(x), axis=axis)


@numpy_keywords
def cumprod(x, axis=None):
    """Running product along axis (None: over the flattened input), as np.cumprod."""
    return ops.Cumprod.apply(_tensor(x), axis=axis)


@numpy_keywords
def logsumexp(x, axis=None, keepdims=False):
    """log Σ e^x over axis, without overflow (scipy.special.logsumexp)."""
    return ops.LogSumExp.apply(_tensor(x), axis=axis, keepdims=keepdims)


def _root_of_sum(powers, axes, keepdims, p):
    """(Σ powers)^(1/p) over axes, with gradient 0 where the sum is 0 (PyTorch's subgradient of
    a norm at the origin) instead of the chain rule's 0 · ∞ = NaN."""
    total = powers.sum(axes, keepdims)
    origin = (total == 0).data
    total = where(origin, 1.0, total)
    return where(origin, 0.0, sqrt(total) if p == 2 else total ** (1 / p))


def norm(x, ord=None, axis=None, keepdims=False):
    """np.linalg.norm: a vector norm over one axis (ord None or 2, 1, inf, -inf, 0, any p) or a
    matrix norm over two ('fro'/None, 1, -1, inf, -inf); at the origin the gradient is 0.
    Spectral and nuclear norms need an SVD, which tinygrad_nn does not have: ValueError."""
    x = _tensor(x)
    if axis is None and ord is not None and x.ndim not in (1, 2):
        raise ValueError(f"norm: ord={ord!r} needs a 1-D or 2-D input or an axis, got shape "
                         f"{x.shape}")
    axes = (tuple(range(x.ndim)) if axis is None else
            (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis))
    if ord is None or (ord == "fro" and len(axes) == 2) or (ord == 2 and len(axes) == 1):
        return _root_of_sum(x * x, axes, keepdims, 2)
    a = abs(x)
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


def diff(x, n=1, axis=-1):
    """The n-th discrete difference along axis, out[i] = x[i+1] - x[i] (n times), as np.diff."""
    x = _tensor(x)
    axis = _axis(axis, x.ndim, "diff")
    lead = (slice(None),) * axis
    for _ in range(n):
        x = x[lead + (slice(1, None),)] - x[lead + (slice(None, -1),)]
    return x


# ---------------------------------------------------------------------------- linear algebra

def einsum(subscripts, *operands):
    """np.einsum in its string form ('ij,jk->ik', '...' and the implicit output included)."""
    if not isinstance(subscripts, str):
        raise TypeError("einsum: subscripts must be a string such as 'ij,jk->ik'")
    return ops.Einsum.apply(*operands, subscripts=subscripts)


def tensordot(a, b, axes=2):
    """Sum over the last `axes` axes of a and the first of b, or over the pairs
    axes=(axes_of_a, axes_of_b), as np.tensordot."""
    a, b = _tensor(a), _tensor(b)
    if isinstance(axes, (int, np.integer)):
        axes = (list(range(a.ndim - axes, a.ndim)), list(range(axes)))
    axes_a, axes_b = ([ax] if isinstance(ax, (int, np.integer)) else list(ax) for ax in axes)
    if len(axes_a) != len(axes_b):
        raise ValueError(f"tensordot: {len(axes_a)} axes of a but {len(axes_b)} of b")
    letters = iter(ops._LETTERS)
    sub_a = [next(letters) for _ in range(a.ndim)]
    sub_b = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(axes_a, axes_b):
        sub_b[_axis(j, b.ndim, "tensordot")] = sub_a[_axis(i, a.ndim, "tensordot")]
    summed = set(sub_b) & set(sub_a)
    result = [c for c in sub_a + sub_b if c not in summed]
    return einsum("".join(sub_a) + "," + "".join(sub_b) + "->" + "".join(result), a, b)


def dot(a, b):
    """np.dot: a product for scalars, matmul for vectors and matrices, and for N-D a sum over
    the last axis of a and the second-to-last of b."""
    a, b = _tensor(a), _tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if (a.ndim <= 2 and b.ndim <= 2) or b.ndim == 1:
        return matmul(a, b)
    return tensordot(a, b, ([-1], [-2]))


def inner(a, b):
    """Sum over the last axes of a and b (np.inner); a product if either is a scalar."""
    a, b = _tensor(a), _tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, ([-1], [-1]))


def outer(a, b):
    """out[i, j] = a.ravel()[i] · b.ravel()[j] (np.outer)."""
    return ravel(a).reshape(-1, 1) * ravel(b).reshape(1, -1)


def diagonal(x, offset=0, axis1=0, axis2=1):
    """The diagonal of the (axis1, axis2) planes as the last axis (np.diagonal)."""
    return _gather(x, lambda at: np.diagonal(at, offset, axis1, axis2))


def trace(x, offset=0, axis1=0, axis2=1):
    """Sum of the diagonal (np.trace)."""
    return diagonal(x, offset, axis1, axis2).sum(-1)


def diag(v, k=0):
    """np.diag: a 1-D v on the k-th diagonal of a square matrix, or the k-th diagonal of a
    2-D v."""
    v = _tensor(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError(f"diag: input must be 1-D or 2-D, got shape {v.shape}")
    n = len(v) + builtins.abs(k)
    rows = np.arange(len(v)) + builtins.max(-k, 0)
    return ops.ScatterAdd.apply(v, index=(rows, rows + k), shape=(n, n))


def _triangle(x, keep, where):
    x = _tensor(x)
    if x.ndim == 0:
        raise ValueError(f"{where}: input must be at least 1-D")
    n, m = x.shape[-2:] if x.ndim >= 2 else x.shape * 2
    return ops.Where.apply(keep(n, m), x, 0)


def triu(x, k=0):
    """x with the elements below the k-th diagonal (of the last two axes) set to 0."""
    return _triangle(x, lambda n, m: ~np.tri(n, m, k - 1, dtype=bool), "triu")


def tril(x, k=0):
    """x with the elements above the k-th diagonal (of the last two axes) set to 0."""
    return _triangle(x, lambda n, m: np.tri(n, m, k, dtype=bool), "tril")


# ---------------------------------------------------------------------------- shape and indexing

def _gather(x, rearrange):
    """x's elements where `rearrange` moves them: it gets the array of x's flat positions and
    rearranges that with NumPy (np.tile, np.roll, np.pad...); the result indexes x, so the
    gradient is scattered back (and adds up where an element was used twice)."""
    x = _tensor(x)
    positions = rearrange(np.arange(x.size).reshape(x.shape))
    return x.reshape(-1)[positions]


def pad(x, pad_width, mode="constant", constant_values=0):
    """np.pad with mode 'constant' (constant_values), 'edge', 'reflect', 'symmetric' or 'wrap';
    pad_width as for np.pad: an int, (before, after), or one pair per axis."""
    x = _tensor(x)
    try:
        widths = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit a tensor of shape "
                         f"{x.shape}") from None
    if widths.dtype.kind not in "iu" or (widths < 0).any():
        raise ValueError(f"pad: pad_width must be non-negative integers, got {pad_width!r}")
    widths = widths.tolist()
    if mode == "constant":
        shape = tuple(n + before + after for n, (before, after) in zip(x.shape, widths))
        inside = tuple(slice(before, before + n) for n, (before, _) in zip(x.shape, widths))
        out = ops.ScatterAdd.apply(x, index=inside, shape=shape)
        if constant_values == 0:
            return out
        border = np.ones(shape, dtype=bool)
        border[inside] = False
        return ops.Where.apply(border, constant_values, out)
    if mode not in ("edge", "reflect", "symmetric", "wrap"):
        raise ValueError(f"pad: mode must be 'constant', 'edge', 'reflect', 'symmetric' or "
                         f"'wrap', got {mode!r}")
    if mode != "edge" and x.size == 0:
        raise ValueError(f"pad: mode {mode!r} cannot pad an empty tensor")
    return _gather(x, lambda at: np.pad(at, widths, mode=mode))


def _pieces(x, indices_or_sections, axis, equal, where):
    x = _tensor(x)
    axis = _axis(axis, x.ndim, where)
    try:
        parts = (np.split if equal else np.array_split)(np.arange(x.shape[axis]),
                                                        indices_or_sections)
    except ValueError:
        raise ValueError(f"{where}: {indices_or_sections!r} sections do not divide axis {axis} "
                         f"of length {x.shape[axis]} equally (array_split allows that)") from None
    lead = (slice(None),) * axis
    # each part is a run of consecutive positions (indices need not increase: [3, 1] makes
    # x[:3], x[3:1] and x[1:], as NumPy does)
    return [x[lead + (slice(int(p[0]), int(p[0]) + len(p)) if len(p) else slice(0, 0),)]
            for p in parts]


def split(x, indices_or_sections, axis=0):
    """A list of pieces along axis: an int n gives n equal pieces (ValueError if they cannot
    be), a list of indices gives the pieces between them (np.split)."""
    return _pieces(x, indices_or_sections, axis, True, "split")


def array_split(x, indices_or_sections, axis=0):
    """As split, but n pieces need not be equal: the first len % n are one longer."""
    return _pieces(x, indices_or_sections, axis, False, "array_split")


def repeat(x, repeats, axis=None):
    """Each element repeated (np.repeat); axis None repeats over the flattened input."""
    x = _tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    return _gather(x, lambda at: np.repeat(at, repeats, axis=_axis(axis, x.ndim, "repeat")))


def tile(x, reps):
    """x repeated reps times along each axis (np.tile)."""
    return _gather(x, lambda at: np.tile(at, reps))


def flip(x, axis=None):
    """x reversed along axis (an int, a tuple, or None: every axis)."""
    x = _tensor(x)
    axes = range(x.ndim) if axis is None else (
        [axis] if isinstance(axis, (int, np.integer)) else axis)
    axes = {_axis(ax, x.ndim, "flip") for ax in axes}
    return x[tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(x.ndim))]


def roll(x, shift, axis=None):
    """Elements shifted along axis, those past the end coming round at the start (np.roll)."""
    return _gather(x, lambda at: np.roll(at, shift, axis))


def swapaxes(x, axis1, axis2):
    x = _tensor(x)
    order = list(range(x.ndim))
    i, j = _axis(axis1, x.ndim, "swapaxes"), _axis(axis2, x.ndim, "swapaxes")
    order[i], order[j] = order[j], order[i]
    return x.transpose(order)


def moveaxis(x, source, destination):
    """Axes moved to new positions, the others keeping their order (np.moveaxis)."""
    x = _tensor(x)
    source, destination = (([ax] if isinstance(ax, (int, np.integer)) else list(ax))
                           for ax in (source, destination))
    if len(source) != len(destination):
        raise ValueError(f"moveaxis: {len(source)} source axes but {len(destination)} "
                         "destinations")
    source = [_axis(ax, x.ndim, "moveaxis") for ax in source]
    destination = [_axis(ax, x.ndim, "moveaxis") for ax in destination]
    order = [i for i in range(x.ndim) if i not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return x.transpose(order)


def expand_dims(x, axis):
    """x with new axes of length 1 at the positions `axis` (an int or a tuple)."""
    x = _tensor(x)
    try:
        shape = np.expand_dims(np.broadcast_to(0, x.shape), axis).shape
    except (np.exceptions.AxisError, ValueError) as exc:
        raise ValueError(f"expand_dims: {exc} (input shape {x.shape})") from None
    return x.reshape(shape)


def ravel(x):
    return _tensor(x).reshape(-1)


def take_along_axis(x, indices, axis=-1):
    """out[..., i, ...] = x[..., indices[..., i, ...], ...] along axis (np.take_along_axis);
    indices an integer Tensor or array."""
    indices = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"take_along_axis: indices must be integers, got dtype {indices.dtype}")
    x = _tensor(x)
    try:
        return _gather(x, lambda at: np.take_along_axis(at, indices, axis))
    except (ValueError, IndexError, np.exceptions.AxisError) as exc:
        raise type(exc)(f"take_along_axis: indices of shape {indices.shape} along axis {axis} "
                        f"of a tensor of shape {x.shape}: {exc}") from None


def sort(x, axis=-1):
    """x sorted along axis (None: flattened); the gradient follows each element to where it was
    taken from (equal elements keep their order)."""
    x = _tensor(x)
    order = np.argsort(x.data, axis=axis, kind="stable")
    return take_along_axis(x, order, axis)


def _at_least(x, ndim, place):
    x = _tensor(x)
    return x if x.ndim >= ndim else x.reshape(place(x.shape))


def hstack(tensors):
    """Join along axis 1, or axis 0 for 1-D tensors (np.hstack)."""
    tensors = [_at_least(t, 1, lambda s: (1,)) for t in tensors]
    return concatenate(tensors, axis=0 if tensors and tensors[0].ndim == 1 else 1)


def vstack(tensors):
    """Join along axis 0, a 1-D tensor being one row (np.vstack)."""
    return concatenate([_at_least(t, 2, lambda s: (1,) + s + (1,) * (1 - len(s)))
                        for t in tensors], axis=0)


def column_stack(tensors):
    """Join along axis 1, a 1-D tensor being one column (np.column_stack)."""
    return concatenate([_at_least(t, 2, lambda s: s + (1,) * (2 - len(s))) for t in tensors],
                       axis=1)

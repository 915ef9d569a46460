"""Every built-in op: forward and backward side by side, grouped by kind.

A backward rule gets `g`, the gradient of the op's output, and returns one gradient per input
(None for an input that needs none). It may return a gradient of the *output's* shape for a
broadcast input: the engine sums it back to the input's shape (`autograd.sum_to_shape`).

Rules use only NumPy operators, Tensor/ndarray methods both types share (`reshape`, `sum`,
`mean`, `transpose`, indexing) and `call(Op, ...)`, so the same rule runs on arrays and, with
`create_graph=True`, on Tensors (then the gradient is itself recorded). What forward saves is
either an input, the output, or a constant (a mask, a sign) whose own derivative is zero.
"""
import math

import numpy as np

from .autograd import Function, call
from .tensor import Tensor


class Op(Function):
    """A built-in op: its backward is differentiable, so higher-order gradients work."""
    differentiable_backward = True


def _safe_divide(g, d):
    """g / d, but exactly 0 where g is 0 even if d is 0, inf or NaN, so the zero gradient that
    `where` sends into the branch it did not take stays zero (no NaN from log(0), 1/0, ...)."""
    if isinstance(g, Tensor) or isinstance(d, Tensor):
        return g / _where_g_is_zero(g, d, lambda v: (v == 0) | ~np.isfinite(v), np.inf)
    out = np.zeros(np.broadcast_shapes(g.shape, np.shape(d)), np.result_type(g, d))
    return np.divide(g, d, out=out, where=g != 0)


def _safe_multiply(g, d):
    """g * d, but exactly 0 where g is 0 even if d is inf or NaN (see _safe_divide)."""
    if isinstance(g, Tensor) or isinstance(d, Tensor):
        return g * _where_g_is_zero(g, d, lambda v: ~np.isfinite(v), 0)
    out = np.zeros(np.broadcast_shapes(g.shape, np.shape(d)), np.result_type(g, d))
    return np.multiply(g, d, out=out, where=g != 0)


def _times(g, d):
    """g * d with _safe_multiply's guarantee, at the price of one dot product (nothing for a
    Python-number factor): the masked product runs only when d may hold an inf or NaN."""
    if isinstance(g, Tensor) or isinstance(d, Tensor):
        return _safe_multiply(g, d)
    if type(d) is float or type(d) is int:
        return g * d
    flat = d.reshape(-1)
    # d·d is inf or NaN if d holds one (or if d is huge: then the careful path is merely slower)
    if math.isfinite(flat.dot(flat)):
        return g * d
    return _safe_multiply(g, d)


def _where_g_is_zero(g, d, unusable, value):
    """d, recorded (create_graph), with `value` (0 to multiply, inf to divide by) where g is
    exactly 0 and d is unusable: there the result is a constant 0, as on arrays, and
    everywhere else d keeps its own derivative."""
    blocked = (np.asarray(g) == 0) & unusable(np.asarray(d))
    return call(Where, blocked, value, d) if blocked.any() else d


# =========================================================================== elementwise

class Add(Op):
    """a + b"""
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Op):
    """a - b"""
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, -g


class Mul(Op):
    """a * b;  d/da = b, d/db = a"""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (_times(g, b) if need_a else None), (_times(g, a) if need_b else None)


class Div(Op):
    """a / b;  d/da = 1/b, d/db = -a/b²"""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = _safe_divide(g, b) if need_a else None
        gb = -_safe_divide(g * a, b * b) if need_b else None
        return ga, gb


class Neg(Op):
    """-a"""
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(Op):
    """a ** b;  d/da = b a^(b-1), d/db = a^b log a; at a = 0 their limits, as in PyTorch:
    d/da = 0 where b = 0, d/db = 0 where b >= 0"""
    @staticmethod
    def forward(ctx, a, b):
        y = a ** b
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        if not need_b and (type(b) is int or type(b) is float) and b >= 1:
            return g * (2 * a if b == 2 else b * a ** (b - 1)), None  # finite: no masking needed
        with np.errstate(divide="ignore", invalid="ignore"):  # e.g. 0 ** -0.5: masked below
            ga = gb = None
            at_zero = np.asarray(a) == 0
            if need_a:
                limit = at_zero & (np.asarray(b) == 0)
                ga = _safe_multiply(g, call(Where, limit, 0, b * a ** (b - 1)))
            if need_b:
                limit = at_zero & (np.asarray(b) >= 0)
                gb = _safe_multiply(g, call(Where, limit, 0, y * call(Log, a)))
        return ga, gb


class Exp(Op):
    """e^a;  d/da = e^a (the saved output)"""
    @staticmethod
    def forward(ctx, a):
        y = np.exp(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return _times(g, y)


class Log(Op):
    """natural log;  d/da = 1/a"""
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return _safe_divide(g, a)


class Sqrt(Op):
    """√a;  d/da = 1 / (2√a)"""
    @staticmethod
    def forward(ctx, a):
        y = np.sqrt(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return _safe_divide(g, 2 * y)


class Abs(Op):
    """|a|;  d/da = sign(a) (0 at 0, as in PyTorch)"""
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(np.sign(a).astype(np.int8))
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        (sign,) = ctx.saved_tensors
        return g * sign


class Tanh(Op):
    """tanh a;  d/da = 1 - tanh² a"""
    @staticmethod
    def forward(ctx, a):
        y = np.tanh(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y * y)


class Sigmoid(Op):
    """σ(a) = 1 / (1 + e^-a), computed as exp(-log(1 + e^-a)) with logaddexp, which neither
    overflows nor loses the tails;  d/da = σ(1 - σ)"""
    @staticmethod
    def forward(ctx, a):
        y = np.exp(-np.logaddexp(0, -a))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y * (1 - y)


class Relu(Op):
    """max(a, 0);  d/da = 1 where a > 0, else 0"""
    @staticmethod
    def forward(ctx, a):
        y = np.maximum(a, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (y > 0)


class LeakyRelu(Op):
    """a where a > 0, else slope·a"""
    @staticmethod
    def forward(ctx, a, *, slope):
        ctx.slope = slope
        ctx.save_for_backward(a)
        return np.where(a > 0, a, a * slope)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return call(Where, a > 0, g, g * ctx.slope)


class Clip(Op):
    """a limited to [lo, hi] (either may be None);  d/da = 1 inside, 0 outside"""
    @staticmethod
    def forward(ctx, a, *, lo, hi):
        inside = np.ones(a.shape, dtype=bool)
        if lo is not None:
            inside &= a >= lo
        if hi is not None:
            inside &= a <= hi
        ctx.save_for_backward(inside)
        return np.clip(a, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (inside,) = ctx.saved_tensors
        return g * inside


def _split_at_ties(g, wins, ties):
    """g where `wins`, g/2 where `ties`, else 0: the gradient share of one side of max/min."""
    return call(Where, wins, g, call(Where, ties, g * 0.5, 0))


class Maximum(Op):
    """elementwise max(a, b); at a tie each input gets half the gradient"""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ties = a == b
        return _split_at_ties(g, a > b, ties), _split_at_ties(g, a < b, ties)


class Minimum(Op):
    """elementwise min(a, b); at a tie each input gets half the gradient"""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ties = a == b
        return _split_at_ties(g, a < b, ties), _split_at_ties(g, a > b, ties)


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


# =========================================================================== reductions

def _reduction_axes(axis, ndim):
    """axis (None, int or tuple, negatives allowed) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    for ax in axes:
        if not -ndim <= ax < ndim:
            raise ValueError(f"axis {ax} is out of range for a tensor with {ndim} dimensions")
    return tuple(sorted({int(ax) % ndim for ax in axes}))


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Op):
    """sum over axes;  every input element gets the gradient of its sum"""
    @staticmethod
    def forward(ctx, a, *, axis, keepdims):
        axes = _reduction_axes(axis, a.ndim)
        ctx.in_shape, ctx.kept_shape = a.shape, _kept_shape(a.shape, axes)
        return a.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        return call(BroadcastTo, g.reshape(ctx.kept_shape), shape=ctx.in_shape)


class Mean(Op):
    """mean over axes;  every input element gets 1/n of the gradient of its mean"""
    @staticmethod
    def forward(ctx, a, *, axis, keepdims):
        axes = _reduction_axes(axis, a.ndim)
        ctx.in_shape, ctx.kept_shape = a.shape, _kept_shape(a.shape, axes)
        ctx.count = int(np.prod([a.shape[ax] for ax in axes]))
        return a.mean(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        return call(BroadcastTo, g.reshape(ctx.kept_shape) / ctx.count, shape=ctx.in_shape)


def _extremum_forward(ctx, a, axis, keepdims, reduce):
    axes = _reduction_axes(axis, a.ndim)
    if a.size == 0:
        raise ValueError("max/min of an empty tensor")
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
        return _extremum_forward(ctx, a, axis, keepdims, np.max)

    @staticmethod
    def backward(ctx, g):
        (share,) = ctx.saved_tensors
        return g.reshape(ctx.kept_shape) * share


class Min(Max):
    """min over axes;  the gradient goes to the minimal entries, split equally at ties
    (backward as Max's)"""
    @staticmethod
    def forward(ctx, a, *, axis, keepdims):
        return _extremum_forward(ctx, a, axis, keepdims, np.min)


class Var(Op):
    """population variance (ddof=0) over axes;  d/da = 2 (a - mean) / n"""
    @staticmethod
    def forward(ctx, a, *, axis, keepdims):
        axes = _reduction_axes(axis, a.ndim)
        ctx.axes, ctx.kept_shape = axes, _kept_shape(a.shape, axes)
        ctx.count = int(np.prod([a.shape[ax] for ax in axes]))
        ctx.save_for_backward(a)
        return a.var(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        centered = a - a.mean(axis=ctx.axes, keepdims=True)
        return g.reshape(ctx.kept_shape) * (2 / ctx.count) * centered


def _softmax_axis(axis, ndim):
    if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"softmax axis must be an int in [{-ndim}, {ndim}), got {axis!r}")
    return int(axis)


class Softmax(Op):
    """e^a / Σ e^a along axis (shifted by the max, so it never overflows);
    d/da: y ⊙ (g - Σ g⊙y)"""
    @staticmethod
    def forward(ctx, a, *, axis):
        ctx.axis = axis = _softmax_axis(axis, a.ndim)
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        y = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return y * (g - (g * y).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Op):
    """a - log Σ e^a along axis (log-sum-exp shifted by the max);  d/da: g - softmax ⊙ Σ g"""
    @staticmethod
    def forward(ctx, a, *, axis):
        ctx.axis = axis = _softmax_axis(axis, a.ndim)
        shifted = a - a.max(axis=axis, keepdims=True)
        y = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g - call(Exp, y) * g.sum(axis=ctx.axis, keepdims=True)


# =========================================================================== linear algebra

def _swap_last_two(x):
    return x.T if x.ndim == 2 else x.transpose(*range(x.ndim - 2), x.ndim - 1, x.ndim - 2)


class MatMul(Op):
    """a @ b with NumPy's rules (1-D operands, broadcast batch dimensions);
    d/da = g @ bᵀ, d/db = aᵀ @ g"""
    @staticmethod
    def forward(ctx, a, b):
        a_ndim, b_ndim = np.ndim(a), np.ndim(b)
        if a_ndim == 0 or b_ndim == 0:
            raise ValueError(f"matmul: operands must be at least 1-D, got shapes "
                             f"{np.shape(a)} and {np.shape(b)}")
        if a.shape[-1] != b.shape[-2 if b_ndim > 1 else 0]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
                             f"{a.shape[-1]} (last dim of the first) != "
                             f"{b.shape[-2 if b_ndim > 1 else 0]} "
                             f"({'second-to-last' if b_ndim > 1 else 'only'} dim of the second)")
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if a.ndim == 1 and b.ndim == 1:  # inner product
            ga, gb = (g * b if need_a else None), (g * a if need_b else None)
        elif a.ndim == 1:  # (k,) @ (..., k, n)
            if need_a:
                ga = (g[..., None, :] @ _swap_last_two(b))[..., 0, :]
            if need_b:
                gb = a[:, None] * g[..., None, :]
        elif b.ndim == 1:  # (..., m, k) @ (k,)
            if need_a:
                ga = g[..., :, None] * b
            if need_b:
                gb = (_swap_last_two(a) @ g[..., :, None])[..., 0]
        else:
            if need_a:
                ga = g @ _swap_last_two(b)
            if need_b:
                gb = _swap_last_two(a) @ g
        return ga, gb


class Affine(Op):
    """x @ weight + bias in one node, x (..., in), weight (in, out), bias (out,) or None;
    d/dx = g weightᵀ, d/dweight = xᵀ g (over all leading axes), d/dbias = Σ g"""
    @staticmethod
    def forward(ctx, x, weight, bias=None):
        if np.ndim(x) == 0 or np.ndim(weight) != 2 or x.shape[-1] != weight.shape[0]:
            raise ValueError(f"linear: input of shape {np.shape(x)} does not fit a weight of "
                             f"shape {np.shape(weight)} (expected (..., {np.shape(weight)[0]}))")
        ctx.save_for_backward(x, weight)
        y = x @ weight
        if bias is None:
            return y
        if y.dtype == np.result_type(y, bias):
            y += bias  # in place: the matmul result is ours, and this saves a pass
            return y
        return y + bias

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need_x, need_weight = ctx.needs_input_grad[:2]
        gx = g @ weight.T if need_x else None
        gw = None
        if need_weight:
            if x.ndim != 2:  # x (in,) or (..., in): every leading axis is a batch axis
                x, g = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
            gw = x.T @ g
        gb = None
        if len(ctx.needs_input_grad) == 3 and ctx.needs_input_grad[2]:
            gb = g.sum(axis=tuple(range(g.ndim - 1)))
        return (gx, gw) if len(ctx.needs_input_grad) == 2 else (gx, gw, gb)


class CrossEntropy(Op):
    """-log softmax(logits)[label] per row, logits (N, C), labels (N,) integers, averaged
    ('mean'), added ('sum') or kept ('none');  d/dlogits = (softmax - onehot) · g"""
    @staticmethod
    def forward(ctx, logits, labels, *, reduction):
        rows = np.arange(len(labels))
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1))
        losses = log_norm - shifted[rows, labels]
        onehot = np.zeros(logits.shape, dtype=logits.dtype)
        onehot[rows, labels] = 1
        ctx.save_for_backward(logits, onehot)  # onehot is a constant
        ctx.reduction = reduction
        if reduction == "mean":
            return losses.mean()
        return losses.sum() if reduction == "sum" else losses

    @staticmethod
    def backward(ctx, g):
        logits, onehot = ctx.saved_tensors
        # softmax is recomputed from the logits, so the rule stays differentiable
        residual = call(Softmax, logits, axis=1) - onehot
        if ctx.reduction == "mean":
            return residual * (g / len(onehot)), None
        if ctx.reduction == "sum":
            return residual * g, None
        return residual * g.reshape(-1, 1), None


# =========================================================================== shape and indexing

def resolve_shape(old_shape, shape):
    """`shape` with its -1 (at most one) filled in; ValueError naming both sizes if it does not
    hold as many elements as `old_shape`."""
    size = int(np.prod(old_shape))
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: only one dimension can be -1, got {shape}")
    if any(n < -1 for n in shape):
        raise ValueError(f"reshape: invalid shape {shape}")
    known = int(np.prod([n for n in shape if n != -1]))
    if -1 in shape:
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {old_shape} ({size} "
                             f"elements) into shape {shape}")
        shape = tuple(size // known if n == -1 else n for n in shape)
    elif known != size:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {old_shape} ({size} "
                         f"elements) into shape {shape} ({known} elements)")
    return shape


def normalize_axes(axes, ndim):
    """A permutation of range(ndim) for transpose, negatives allowed."""
    if len(axes) != ndim or sorted(ax % max(ndim, 1) for ax in axes) != list(range(ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {ndim} dimensions")
    return tuple(ax % ndim for ax in axes)


class Reshape(Op):
    """the same elements in another shape;  the gradient is reshaped back"""
    @staticmethod
    def forward(ctx, a, *, shape):
        ctx.in_shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.in_shape)


class Transpose(Op):
    """axes permuted;  the gradient is permuted back"""
    @staticmethod
    def forward(ctx, a, *, axes):
        ctx.inverse = tuple(int(i) for i in np.argsort(axes))
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(ctx.inverse)


class BroadcastTo(Op):
    """a stretched to `shape`;  the engine sums the gradient back (sum_to_shape)"""
    @staticmethod
    def forward(ctx, a, *, shape):
        return np.full(shape, a)  # a real array: 4x cheaper than np.broadcast_to's view here

    @staticmethod
    def backward(ctx, g):
        return g


class Cast(Op):
    """a in another dtype;  the engine casts the gradient back to the input's dtype"""
    @staticmethod
    def forward(ctx, a, *, dtype):
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g


def as_index(index):
    """An index for NumPy: Tensors become their arrays, lists become integer arrays."""
    def part(i):
        if isinstance(i, Tensor):
            return i.data
        if isinstance(i, list):
            return np.asarray(i, dtype=np.intp) if len(i) == 0 else np.asarray(i)
        return i
    return tuple(part(i) for i in index) if isinstance(index, tuple) else part(index)


def _is_basic(index):
    """True if NumPy indexing with `index` cannot repeat an element (no integer arrays)."""
    parts = index if isinstance(index, tuple) else (index,)
    return not any(isinstance(i, np.ndarray) for i in parts)


class GetItem(Op):
    """a[index];  the gradient is scattered back, repeated indices adding up"""
    @staticmethod
    def forward(ctx, a, *, index):
        ctx.in_shape, ctx.index = a.shape, index
        return a[index]

    @staticmethod
    def backward(ctx, g):
        return call(ScatterAdd, g, index=ctx.index, shape=ctx.in_shape)


class ScatterAdd(Op):
    """zeros of `shape` with g added at `index` (the backward of GetItem);
    its own gradient is g gathered back: out[index]"""
    @staticmethod
    def forward(ctx, g, *, index, shape):
        ctx.index = index
        out = np.zeros(shape, dtype=g.dtype)
        if _is_basic(index):
            out[index] = g
        else:
            np.add.at(out, index, g)
        return out

    @staticmethod
    def backward(ctx, g):
        return g[ctx.index]


def _concat_axis(axis, ndim, where):
    if not -ndim <= axis < ndim:
        raise ValueError(f"{where}: axis {axis} is out of range for {ndim}-dimensional tensors")
    return axis % ndim


class Concatenate(Op):
    """inputs joined along an existing axis;  each gets its slice of the gradient"""
    @staticmethod
    def forward(ctx, *arrays, axis):
        if not arrays:
            raise ValueError("concatenate: need at least one tensor")
        shapes = [np.shape(a) for a in arrays]
        if not shapes[0]:
            raise ValueError("concatenate: 0-d tensors have no axis to join along; use stack")
        ctx.axis = axis = _concat_axis(axis, len(shapes[0]), "concatenate")
        if any(len(s) != len(shapes[0]) or s[:axis] + s[axis + 1:] != shapes[0][:axis]
               + shapes[0][axis + 1:] for s in shapes):
            raise ValueError(f"concatenate: the shapes {shapes} must match in every axis but "
                             f"axis {axis}")
        ctx.bounds = np.cumsum([0] + [np.shape(a)[axis] for a in arrays]).tolist()
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * ctx.axis
        return tuple(g[lead + (slice(lo, hi),)] for lo, hi in zip(ctx.bounds, ctx.bounds[1:]))


class Stack(Op):
    """inputs joined along a new axis;  each gets its index of the gradient"""
    @staticmethod
    def forward(ctx, *arrays, axis):
        if not arrays:
            raise ValueError("stack: need at least one tensor")
        shapes = [np.shape(a) for a in arrays]
        if len(set(shapes)) > 1:
            raise ValueError(f"stack: all tensors must have the same shape, got {shapes}")
        ctx.axis = _concat_axis(axis, np.ndim(arrays[0]) + 1, "stack")
        ctx.count = len(arrays)
        return np.stack(arrays, axis=ctx.axis)

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * ctx.axis
        return tuple(g[lead + (i,)] for i in range(ctx.count))


# =========================================================================== no gradient

def compare(ufunc, a, b):
    """A comparison: a bool Tensor, outside the graph."""
    a = a.data if isinstance(a, Tensor) else a
    b = b.data if isinstance(b, Tensor) else b
    return Tensor._make(np.asarray(ufunc(a, b)), None)

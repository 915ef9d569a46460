"""Every built-in op: forward and backward side by side, grouped by kind.

A backward rule gets `g`, the gradient of the op's output, and returns one gradient per input
(None for an input that needs none). It may return a gradient of the *output's* shape for a
broadcast input: the engine sums it back to the input's shape (`autograd.sum_to_shape`).

Rules use only NumPy operators, Tensor/ndarray methods both types share (`reshape`, `sum`,
`mean`, `transpose`, indexing) and `call(Op, ...)`, so the same rule runs on arrays and, with
`create_graph=True`, on Tensors (then the gradient is itself recorded). What forward saves is
either an input, the output, or a constant (a mask, a sign) whose own derivative is zero.
"""
import functools
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .autograd import Function, call
from .tensor import Tensor
from .validation import integer_at_least


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
    """a limited to [lo, hi] (either may be None);  d/da = 1 inside, 0 outside, and at the
    bounds 1 (torch.clamp) or, `strict`, 0 (torch's hardtanh)"""
    @staticmethod
    def forward(ctx, a, *, lo, hi, strict=False):
        inside = np.ones(a.shape, dtype=bool)
        if lo is not None:
            inside &= (a > lo) if strict else (a >= lo)
        if hi is not None:
            inside &= (a < hi) if strict else (a <= hi)
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

class _Times:
    """Mixin for an op y = function(a) whose derivative is a function of a: forward saves a,
    backward is g · derivative(a) (written as backward rules are: NumPy operators and call)."""
    @classmethod
    def forward(cls, ctx, a):
        ctx.save_for_backward(a)
        return cls.function(a)

    @classmethod
    def backward(cls, ctx, g):
        (a,) = ctx.saved_tensors
        return _times(g, cls.derivative(a))


class _Over(_Times):
    """Mixin as _Times for a derivative 1 / divisor(a): backward is g / divisor(a), exactly 0
    where g is 0 even at a pole (see _safe_divide)."""
    @classmethod
    def backward(cls, ctx, g):
        (a,) = ctx.saved_tensors
        return _safe_divide(g, cls.divisor(a))


class Sin(_Times, Op):
    """sin a;  d/da = cos a"""
    function = np.sin
    derivative = staticmethod(lambda a: call(Cos, a))


class Cos(_Times, Op):
    """cos a;  d/da = -sin a"""
    function = np.cos
    derivative = staticmethod(lambda a: -call(Sin, a))


class Tan(Op):
    """tan a;  d/da = 1 + tan² a"""
    @staticmethod
    def forward(ctx, a):
        y = np.tan(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 + y * y)


class Arcsin(_Over, Op):
    """arcsin a, a in [-1, 1];  d/da = 1 / √(1 - a²)"""
    function = np.arcsin
    divisor = staticmethod(lambda a: call(Sqrt, 1 - a * a))


class Arccos(_Over, Op):
    """arccos a, a in [-1, 1];  d/da = -1 / √(1 - a²)"""
    function = np.arccos
    divisor = staticmethod(lambda a: -call(Sqrt, 1 - a * a))


class Arctan(_Over, Op):
    """arctan a;  d/da = 1 / (1 + a²)"""
    function = np.arctan
    divisor = staticmethod(lambda a: 1 + a * a)


class Arctan2(Op):
    """arctan2(a, b), the angle of the point (x=b, y=a);  d/da = b / (a² + b²),
    d/db = -a / (a² + b²)"""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.arctan2(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        g = _safe_divide(g, a * a + b * b)
        return (g * b if need_a else None), (-g * a if need_b else None)


class Sinh(_Times, Op):
    """sinh a;  d/da = cosh a"""
    function = np.sinh
    derivative = staticmethod(lambda a: call(Cosh, a))


class Cosh(_Times, Op):
    """cosh a;  d/da = sinh a"""
    function = np.cosh
    derivative = staticmethod(lambda a: call(Sinh, a))


class Arcsinh(_Over, Op):
    """arcsinh a;  d/da = 1 / √(a² + 1)"""
    function = np.arcsinh
    divisor = staticmethod(lambda a: call(Sqrt, a * a + 1))


class Arccosh(_Over, Op):
    """arccosh a, a >= 1;  d/da = 1 / √(a² - 1)"""
    function = np.arccosh
    divisor = staticmethod(lambda a: call(Sqrt, a * a - 1))


class Arctanh(_Over, Op):
    """arctanh a, a in (-1, 1);  d/da = 1 / (1 - a²)"""
    function = np.arctanh
    divisor = staticmethod(lambda a: 1 - a * a)


class Log1p(_Over, Op):
    """log(1 + a), exact for tiny a;  d/da = 1 / (1 + a)"""
    function = np.log1p
    divisor = staticmethod(lambda a: 1 + a)


class Expm1(Op):
    """e^a - 1, exact for tiny a;  d/da = e^a = output + 1"""
    @staticmethod
    def forward(ctx, a):
        y = np.expm1(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return _times(g, y + 1)


class Sign(Op):
    """-1, 0 or 1 by the sign of a;  d/da = 0 (as in PyTorch; the piecewise-constant ops
    floor, ceil and round share this backward)"""
    @staticmethod
    def forward(ctx, a):
        return np.sign(a)

    @staticmethod
    def backward(ctx, g):
        return call(Where, False, g, 0)  # zeros of g's shape and dtype, 0 even where g is inf


class Floor(Sign):
    """the largest integer <= a;  d/da = 0"""
    @staticmethod
    def forward(ctx, a):
        return np.floor(a)


class Ceil(Sign):
    """the smallest integer >= a;  d/da = 0"""
    @staticmethod
    def forward(ctx, a):
        return np.ceil(a)


class Round(Sign):
    """a rounded to `decimals` places, halves to even (as np.round);  d/da = 0"""
    @staticmethod
    def forward(ctx, a, *, decimals):
        return np.round(a, decimals)


class Mod(Op):
    """a mod b with the sign of b (np.mod, Python's %): a - b·floor(a/b);  d/da = 1,
    d/db = -floor(a/b) (a constant between the jumps)"""
    @staticmethod
    def forward(ctx, a, b):
        quotient = np.floor_divide(a, b)
        ctx.save_for_backward(quotient)
        return np.mod(a, b)

    @staticmethod
    def backward(ctx, g):
        (quotient,) = ctx.saved_tensors
        return g, (-_times(g, quotient) if ctx.needs_input_grad[1] else None)


class Hypot(Op):
    """√(a² + b²) without overflow;  d/da = a / hypot, d/db = b / hypot"""
    @staticmethod
    def forward(ctx, a, b):
        y = np.hypot(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        g = _safe_divide(g, y)
        return (g * a if need_a else None), (g * b if need_b else None)


class LogAddExp(Op):
    """log(e^a + e^b) without overflow;  d/da = e^(a - out), d/db = e^(b - out)"""
    @staticmethod
    def forward(ctx, a, b):
        y = np.logaddexp(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return ((g * call(Exp, a - y) if need_a else None),
                (g * call(Exp, b - y) if need_b else None))


def _erf(x):
    """erf(x) to 2e-15 in float64 with NumPy alone: the series
    2/√π e^(-x²) Σ (2x²)^n x / (1·3···(2n+1)) (all terms positive: no cancellation) for |x| < 2.5,
    the continued fraction of erfc for 2.5 <= |x| < 6, and ±1 beyond (erfc(6) < 1e-16)."""
    x64 = np.asarray(x, dtype=np.float64)
    size = np.abs(x64)
    out = np.ones_like(x64)
    near = size < 2.5
    s = size[near]
    s2 = s * s
    term = s.copy()
    total = s.copy()
    for n in range(34):
        term = term * (2 * s2 / (2 * n + 3))  # (out of place: tg.jit replays it)
        total = total + term
    out[near] = (2 / math.sqrt(math.pi)) * np.exp(-s2) * total
    far = ~near & (size < 6)
    s = size[far]
    fraction = s.copy()
    for k in range(24, 0, -1):
        fraction = s + (k / 2) / fraction
    out[far] = 1 - np.exp(-s * s) / (math.sqrt(math.pi) * fraction)
    dtype = np.asarray(x).dtype  # float32 in, float32 out; Python numbers in float64
    dtype = dtype if dtype.kind == "f" else np.float64
    out = np.copysign(out, x64)
    return out if out.dtype == dtype else out.astype(dtype)


class Erf(_Times, Op):
    """the error function (2/√π) ∫₀^a e^(-t²) dt;  d/da = (2/√π) e^(-a²)"""
    function = staticmethod(_erf)
    derivative = staticmethod(lambda a: call(Exp, -(a * a)) * (2 / math.sqrt(math.pi)))


class Softplus(Op):
    """log(1 + e^(beta·a)) / beta without overflow (PyTorch's softplus);
    d/da = sigmoid(beta·a)"""
    @staticmethod
    def forward(ctx, a, *, beta):
        ctx.beta = beta
        ctx.save_for_backward(a)
        return np.logaddexp(0, a * beta) / beta

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * call(Sigmoid, a * ctx.beta)


class Elu(Op):
    """a where a > 0, else alpha (e^a - 1);  d/da = 1 where a > 0, else out + alpha"""
    @staticmethod
    def forward(ctx, a, *, alpha):
        ctx.alpha = alpha
        positive = a > 0
        y = np.where(positive, a, alpha * np.expm1(np.minimum(a, 0)))
        ctx.save_for_backward(positive, y)
        return y

    @staticmethod
    def backward(ctx, g):
        positive, y = ctx.saved_tensors
        return call(Where, positive, g, g * (y + ctx.alpha))


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


class Gelu(Op):
    """a Φ(a), Φ the standard normal CDF: 'none' uses erf, 'tanh' PyTorch's approximation
    ½ a (1 + tanh(√(2/π) (a + 0.044715 a³)));  d/da = Φ(a) + a φ(a) (exact form)"""
    @staticmethod
    def forward(ctx, a, *, approximate):
        ctx.approximate = approximate
        ctx.save_for_backward(a)
        if approximate == "tanh":
            return 0.5 * a * (1 + np.tanh(_SQRT_2_OVER_PI * (a + 0.044715 * a ** 3)))
        return 0.5 * a * (1 + _erf(a * math.sqrt(0.5)))

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        if ctx.approximate == "tanh":
            t = call(Tanh, _SQRT_2_OVER_PI * (a + 0.044715 * a * a * a))
            slope = 0.5 * (1 + t) + 0.5 * a * (1 - t * t) * (
                _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * a * a))
        else:
            cdf = 0.5 * (1 + call(Erf, a * math.sqrt(0.5)))
            slope = cdf + a * call(Exp, -0.5 * (a * a)) * (1 / math.sqrt(2 * math.pi))
        return g * slope


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
        ctx.count = math.prod(a.shape[ax] for ax in axes)
        if a.dtype == np.float32 or a.dtype == np.float64:  # np.mean's own steps, bit for bit,
            return np.add.reduce(a, axis=axes, keepdims=keepdims) / ctx.count  # without its 4 µs
        return a.mean(axis=axes, keepdims=keepdims)  # float16 sums in float32, integers in float64

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
    """variance over axes, Σ (a - mean)² / (n - ddof) (ddof=0: the population variance);
    d/da = 2 (a - mean) / (n - ddof)"""
    @staticmethod
    def forward(ctx, a, *, axis, keepdims, ddof=0):
        axes = _reduction_axes(axis, a.ndim)
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
        axes = _reduction_axes(axis, a.ndim)
        ctx.axes, ctx.kept_shape = axes, _kept_shape(a.shape, axes)
        y = a.prod(axis=axes, keepdims=keepdims)
        ctx.save_for_backward(a, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, y = ctx.saved_tensors
        g = g.reshape(ctx.kept_shape)
        if not (np.asarray(a) == 0).any():
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
    if not isinstance(axis, (int, np.integer)) or not -max(a.ndim, 1) <= axis < max(a.ndim, 1):
        raise ValueError(f"{where}: axis must be None or an int in [{-a.ndim}, {a.ndim}), "
                         f"got {axis!r}")
    return (a.reshape(1) if a.ndim == 0 else a), int(axis) % max(a.ndim, 1)


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
        if not (np.asarray(a) == 0).any():
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
        axes = _reduction_axes(axis, a.ndim)
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

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def einsum_subscripts(subscripts, shapes):
    """The input subscripts (a list, one string per operand) and the output subscript of an
    einsum, with '...' spelled out as letters and the implicit output (NumPy's: the broadcast
    axes, then the letters used once, in alphabetical order) made explicit."""
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    inputs = inputs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum {subscripts!r}: {len(inputs)} operand subscripts for "
                         f"{len(shapes)} operands")
    spare = [c for c in _LETTERS if c not in subscripts]
    width = max((len(shape) - len(s) + 3 for s, shape in zip(inputs, shapes) if "..." in s),
                default=0)
    broadcast = "".join(spare[:width])
    spelled = []
    for s, shape in zip(inputs, shapes):
        if "..." in s:
            s = s.replace("...", broadcast[width - (len(shape) - len(s) + 3):])
        if len(s) != len(shape) or (s and not s.isalpha()):
            raise ValueError(f"einsum {subscripts!r}: subscripts {s!r} do not fit an operand "
                             f"of shape {shape}")
        spelled.append(s)
    if arrow:
        output = output.replace("...", broadcast)
    else:
        letters = "".join(spelled)
        output = broadcast + "".join(sorted(c for c in set(letters) - set(broadcast)
                                            if letters.count(c) == 1))
    return spelled, output


class Einsum(Op):
    """np.einsum(subscripts, *operands);  the gradient of an operand is the einsum of g with the
    other operands back to that operand's subscripts (an identity matrix for each repeated
    letter, ones for a letter only it has)"""
    @staticmethod
    def forward(ctx, *operands, subscripts):
        ctx.subscripts = einsum_subscripts(subscripts, [np.shape(x) for x in operands])
        ctx.save_for_backward(*operands)
        operand_subscripts, result_subscript = ctx.subscripts
        return np.einsum(",".join(operand_subscripts) + "->" + result_subscript, *operands)

    @staticmethod
    def backward(ctx, g):
        operands = ctx.saved_tensors
        operand_subscripts, result_subscript = ctx.subscripts
        used = "".join(operand_subscripts) + result_subscript
        grads = []
        for k, (subs, need) in enumerate(zip(operand_subscripts, ctx.needs_input_grad)):
            if not need:
                grads.append(None)
                continue
            terms = [(result_subscript, g)] + [
                (s, x) for i, (s, x) in enumerate(zip(operand_subscripts, operands)) if i != k]
            spare = (c for c in _LETTERS if c not in used)
            target = ""
            for axis, c in enumerate(subs):
                n = operands[k].shape[axis]
                if c in target:  # a diagonal: put g on it with an identity matrix
                    fresh = next(spare)
                    terms.append((c + fresh, np.eye(n, dtype=g.dtype)))
                    c = fresh
                elif all(c not in s for s, _ in terms):  # summed over in this operand only
                    terms.append((c, np.ones(n, dtype=g.dtype)))
                target += c
            spec = ",".join(s for s, _ in terms) + "->" + target
            grads.append(call(Einsum, *(x for _, x in terms), subscripts=spec))
        return tuple(grads)


# =========================================================================== shape and indexing

def resolve_shape(old_shape, shape):
    """`shape` with its -1 (at most one) filled in; ValueError naming both sizes if it does not
    hold as many elements as `old_shape`."""
    size = math.prod(old_shape)
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: only one dimension can be -1, got {shape}")
    if any(n < -1 for n in shape):
        raise ValueError(f"reshape: invalid shape {shape}")
    known = math.prod(n for n in shape if n != -1)
    if -1 in shape:
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {old_shape} ({size} "
                             f"elements) into shape {shape}")
        shape = tuple(size // known if n == -1 else n for n in shape)
    elif known != size:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {old_shape} ({size} "
                         f"elements) into shape {shape} ({known} elements)")
    return shape


def normalize_axis(axis, ndim, where):
    """One axis (an int, negatives allowed) as a non-negative int; ValueError naming `where`."""
    if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"{where}: axis {axis!r} is out of range for a tensor with {ndim} "
                         "dimensions")
    return int(axis) % ndim


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


def unsqueezed_shape(shape, axis):
    """`shape` with a new axis of size 1 at `axis` (in [-ndim-1, ndim], as np.expand_dims)."""
    ndim = len(shape) + 1
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"unsqueeze: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"unsqueeze: axis {axis} is out of range for a tensor of shape {shape}")
    axis = int(axis) % ndim
    return shape[:axis] + (1,) + shape[axis:]


def squeezed_shape(shape, axis):
    """`shape` without the size-1 axes (all of them if axis is None); ValueError for an axis
    whose size is not 1."""
    if axis is None:
        return tuple(n for n in shape if n != 1)
    axes = _reduction_axes(axis, len(shape))
    for ax in axes:
        if shape[ax] != 1:
            raise ValueError(f"squeeze: axis {ax} of a tensor of shape {shape} has size "
                             f"{shape[ax]}, not 1")
    return tuple(n for i, n in enumerate(shape) if i not in axes)


# ==================================================================== convolution and pooling
# Images are (N, C, H, W), kernels (C_out, C_in, kH, kW), as in PyTorch. A convolution is one
# matrix product with the im2col matrix of the input's windows (cut from a strided view, no
# Python loop over samples, channels or pixels). Gradients are again these ops: Convolution,
# TransposedConvolution and ConvolutionWeightGrad are each other's derivatives, and so are
# Fold and Unfold, so every order of derivative is one of them.
#
# Two choices make them fast on small images. Reductions and scatters over a window loop over
# its kH·kW positions, each step one NumPy operation on every window at once: NumPy reduces
# over tiny trailing axes (a 2×2 window) some 50 times slower than it combines a handful of
# strided views. And the images these ops make are laid out samples last in memory, (C, H, W,
# N) seen as (N, C, H, W): a window position's view then holds runs of N (or W·N) contiguous
# numbers instead of W, which makes every copy and scatter about 3 times faster, and the matrix
# products give and take that layout without transposing.

def int_pair(value, name, where, minimum):
    """(h, w) from an int or a pair of ints, each >= minimum (kernel_size, stride, padding)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise TypeError(f"{where}: {name} must be an int or an (h, w) pair, got {value!r}")
        return (integer_at_least(name, value[0], minimum, where),
                integer_at_least(name, value[1], minimum, where))
    value = integer_at_least(name, value, minimum, where)
    return value, value


def _output_size(size, kernel_size, stride, padding=(0, 0)):
    """(H_out, W_out): how many windows fit, (H + 2p - kH) // s + 1 (floor)."""
    return tuple((n + 2 * p - k) // s + 1
                 for n, k, s, p in zip(size, kernel_size, stride, padding))


def _im2col(x, kernel_size, stride, padding):
    """The windows of padded x (N, C, H, W) as a matrix (C·kH·kW, H_out·W_out·N): a column per
    output pixel, samples last (see the comment at the top of this section)."""
    (n, c, h, w), (ph, pw) = x.shape, padding
    padded = np.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=x.dtype)
    padded[:, ph:ph + h, pw:pw + w] = x.transpose(1, 2, 3, 0)
    view = sliding_window_view(padded, kernel_size, axis=(1, 2))[:, ::stride[0], ::stride[1]]
    view = view.transpose(0, 4, 5, 1, 2, 3)  # (C, kH, kW, H_out, W_out, N)
    return view.reshape(math.prod(view.shape[:3]), math.prod(view.shape[3:]))


def _at_window_position(x, a, b, out_size, stride, axes=(-2, -1)):
    """x[..., i·sh + a, j·sw + b] for i < H_out, j < W_out (H and W the `axes` of x): position
    (a, b) of every window, a strided view."""
    (h_out, w_out), (sh, sw) = out_size, stride
    index = [slice(None)] * x.ndim
    index[axes[0]] = slice(a, a + sh * (h_out - 1) + 1, sh)
    index[axes[1]] = slice(b, b + sw * (w_out - 1) + 1, sw)
    return x[tuple(index)]


def _add_into_windows(out, values, kernel_size, stride, axes=(-2, -1)):
    """out[..., i·sh + a, j·sw + b] += values[k][..., i, j] for the k-th window position (a, b)
    (row-major; H and W the `axes` of out and of each values[k]), overlapping windows adding
    up; returns out."""
    out_size = (values.shape[1:][axes[0]], values.shape[1:][axes[1]])
    overlap = stride[0] < kernel_size[0] or stride[1] < kernel_size[1]
    for value, (a, b) in zip(values, np.ndindex(*kernel_size)):
        view = _at_window_position(out, a, b, out_size, stride, axes)
        if overlap:
            view += value
        else:
            view[...] = value  # a plain copy is twice as fast as an addition
    return out


def _empty_stack(like, count, dtype):
    """An empty (count,) + like.shape array whose slices are laid out in memory as `like` is:
    a stack of samples-last images stays samples last (np.stack would reorder them)."""
    order = sorted(range(like.ndim), key=lambda axis: -abs(like.strides[axis]))
    out = np.empty((count,) + tuple(like.shape[axis] for axis in order), dtype)
    return out.transpose([0] + [1 + order.index(axis) for axis in range(like.ndim)])


def _check_conv_shapes(x, weight, bias, padding):
    if np.ndim(x) != 4 or np.ndim(weight) != 4:
        raise ValueError(f"conv2d: input must be (N, C, H, W) and weight (C_out, C_in, kH, kW), "
                         f"got input {np.shape(x)} and weight {np.shape(weight)}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv2d: input of shape {x.shape} has {x.shape[1]} channels but the "
                         f"weight of shape {weight.shape} expects {weight.shape[1]}")
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    if weight.shape[2] > padded[0] or weight.shape[3] > padded[1]:
        raise ValueError(f"conv2d: kernel of the weight of shape {weight.shape} is larger than "
                         f"the padded input {padded} (input of shape {x.shape}, padding "
                         f"{padding})")
    if bias is not None and np.shape(bias) != weight.shape[:1]:
        raise ValueError(f"conv2d: bias of shape {np.shape(bias)} does not fit the weight of "
                         f"shape {weight.shape} (expected ({weight.shape[0]},))")


class Convolution(Op):
    """2-D cross-correlation with zero padding, as torch.nn.functional.conv2d:
    x (N, C, H, W), weight (O, C, kH, kW), bias (O,) or None -> (N, O, H_out, W_out),
    y[n, o, i, j] = b[o] + Σ_c,a,b x_pad[n, c, i·s + a, j·s + b] · w[o, c, a, b];
    d/dx = transposed convolution of g with w, d/dw = correlation of x with g, d/db = Σ g"""
    @staticmethod
    def forward(ctx, x, weight, bias=None, *, stride, padding):
        stride = int_pair(stride, "stride", "conv2d", 1)
        padding = int_pair(padding, "padding", "conv2d", 0)
        _check_conv_shapes(x, weight, bias, padding)
        ctx.stride, ctx.padding = stride, padding
        cols = _im2col(x, weight.shape[2:], stride, padding)
        ctx.save_for_backward(x, weight, cols)  # cols: the weight gradient needs them again
        o, (h_out, w_out) = len(weight), _output_size(x.shape[2:], weight.shape[2:], stride,
                                                      padding)
        # (O, H_out·W_out·N), seen as (N, O, H_out, W_out): elementwise ops after it keep this
        # layout, so the gradient that comes back needs no copy to be multiplied again
        y = weight.reshape(o, -1) @ cols
        if bias is not None and y.dtype == np.result_type(y, bias):
            y += bias[:, None]  # in place: the product is ours, and this saves a pass
        elif bias is not None:
            y = y + bias[:, None]
        return y.reshape(o, h_out, w_out, len(x)).transpose(3, 0, 1, 2)

    @staticmethod
    def backward(ctx, g):
        x, weight, cols = ctx.saved_tensors
        need_x, need_weight = ctx.needs_input_grad[:2]
        gx = gw = gb = None
        if need_x:
            gx = call(TransposedConvolution, g, weight, stride=ctx.stride, padding=ctx.padding,
                      size=x.shape[2:])
        if need_weight:
            gw = call(ConvolutionWeightGrad, x, g, stride=ctx.stride, padding=ctx.padding,
                      kernel_size=weight.shape[2:], cols=cols)
        if len(ctx.needs_input_grad) == 2:
            return gx, gw
        if ctx.needs_input_grad[2]:
            gb = g.sum(axis=(0, 2, 3))
        return gx, gw, gb


class TransposedConvolution(Op):
    """The gradient of Convolution for its input: g (N, O, H_out, W_out), weight (O, C, kH, kW)
    -> (N, C, H, W) with H, W = `size`: each output pixel sends g·w back to the window it read
    (zero for the pixels no window read). d/dg = Convolution(h, w), d/dw = the weight gradient
    of h against g."""
    @staticmethod
    def forward(ctx, g, weight, *, stride, padding, size):
        ctx.stride, ctx.padding = stride, padding
        ctx.save_for_backward(g, weight)
        (n, o, h_out, w_out), (c, kh, kw), (ph, pw) = g.shape, weight.shape[1:], padding
        # columns (C·kH·kW, H_out·W_out·N), added into (C, H, W, N): samples last
        cols = weight.reshape(o, -1).T @ g.transpose(1, 2, 3, 0).reshape(o, -1)
        blocks = cols.reshape(c, kh * kw, h_out, w_out, n).transpose(1, 0, 2, 3, 4)
        out = np.zeros((c, size[0] + 2 * ph, size[1] + 2 * pw, n), dtype=cols.dtype)
        _add_into_windows(out, blocks, (kh, kw), stride, axes=(1, 2))
        out = out[:, ph:ph + size[0], pw:pw + size[1]]
        return out.transpose(3, 0, 1, 2)

    @staticmethod
    def backward(ctx, h):
        g, weight = ctx.saved_tensors
        need_g, need_weight = ctx.needs_input_grad
        gg = gw = None
        if need_g:
            gg = call(Convolution, h, weight, stride=ctx.stride, padding=ctx.padding)
        if need_weight:
            gw = call(ConvolutionWeightGrad, h, g, stride=ctx.stride, padding=ctx.padding,
                      kernel_size=weight.shape[2:])
        return gg, gw


class ConvolutionWeightGrad(Op):
    """The gradient of Convolution for its weight: x (N, C, H, W), g (N, O, H_out, W_out)
    -> (O, C, kH, kW), dw[o, c, a, b] = Σ_n,i,j g[n, o, i, j] · x_pad[n, c, i·s + a, j·s + b]
    (`cols`, x's im2col matrix, if Convolution already made it);
    d/dx = TransposedConvolution(g, k), d/dg = Convolution(x, k)"""
    @staticmethod
    def forward(ctx, x, g, *, stride, padding, kernel_size, cols=None):
        ctx.stride, ctx.padding = stride, padding
        ctx.save_for_backward(x, g)
        if cols is None:
            cols = _im2col(x, kernel_size, stride, padding)
        o = g.shape[1]
        dw = g.transpose(1, 2, 3, 0).reshape(o, -1) @ cols.T
        return dw.reshape(o, x.shape[1], *kernel_size)

    @staticmethod
    def backward(ctx, k):
        x, g = ctx.saved_tensors
        need_x, need_g = ctx.needs_input_grad
        gx = gg = None
        if need_x:
            gx = call(TransposedConvolution, g, k, stride=ctx.stride, padding=ctx.padding,
                      size=x.shape[2:])
        if need_g:
            gg = call(Convolution, x, k, stride=ctx.stride, padding=ctx.padding)
        return gx, gg


def _pool_windows(ctx, x, kernel_size, stride, where):
    """Check a pooling's arguments against x (N, C, H, W) (stride defaults to kernel_size),
    keep the geometry on ctx, and return the kH·kW window positions' views (N, C, H_out,
    W_out)."""
    kernel_size = int_pair(kernel_size, "kernel_size", where, 1)
    stride = kernel_size if stride is None else int_pair(stride, "stride", where, 1)
    if np.ndim(x) != 4:
        raise ValueError(f"{where}: input must be (N, C, H, W), got shape {np.shape(x)}")
    if kernel_size[0] > x.shape[2] or kernel_size[1] > x.shape[3]:
        raise ValueError(f"{where}: kernel_size {kernel_size} is larger than the input of shape "
                         f"{x.shape}")
    ctx.kernel_size, ctx.stride, ctx.size = kernel_size, stride, x.shape[2:]
    out_size = _output_size(x.shape[2:], kernel_size, stride)
    return [_at_window_position(x, a, b, out_size, stride) for a, b in np.ndindex(*kernel_size)]


class MaxPooling(Op):
    """The max of each kH×kW window, one every `stride` (no padding; windows that do not fit
    are dropped): x (N, C, H, W) -> (N, C, H_out, W_out). The gradient goes to the maximal
    entries of each window, split equally at ties (as Max)."""
    @staticmethod
    def forward(ctx, x, *, kernel_size, stride):
        positions = _pool_windows(ctx, x, kernel_size, stride, "max_pool2d")
        y = functools.reduce(np.maximum, positions)
        # which entries of each window are maximal, (kH·kW, N, C, H_out, W_out), and how many:
        # constants (their derivative is 0)
        hits = _empty_stack(y, len(positions), bool)
        for position, hit in zip(positions, hits):
            np.equal(position, y, out=hit)
        ctx.save_for_backward(hits, hits.view(np.uint8).sum(axis=0, dtype=x.dtype))
        return y

    @staticmethod
    def backward(ctx, g):
        hits, count = ctx.saved_tensors
        return call(Fold, (g / count)[None] * hits, kernel_size=ctx.kernel_size,
                    stride=ctx.stride, size=ctx.size)


class AvgPooling(Op):
    """The mean of each kH×kW window, one every `stride` (no padding; windows that do not fit
    are dropped): x (N, C, H, W) -> (N, C, H_out, W_out). Each entry of a window gets
    1/(kH·kW) of its gradient."""
    @staticmethod
    def forward(ctx, x, *, kernel_size, stride):
        positions = _pool_windows(ctx, x, kernel_size, stride, "avg_pool2d")
        return functools.reduce(np.add, positions) / len(positions)

    @staticmethod
    def backward(ctx, g):
        count = ctx.kernel_size[0] * ctx.kernel_size[1]
        return call(Fold, g[None] / count, kernel_size=ctx.kernel_size, stride=ctx.stride,
                    size=ctx.size)


class Unfold(Op):
    """The windows of x (N, C, H, W) as (kH·kW, N, C, H_out, W_out), one slice per window
    position (the backward of Fold); its gradient is Fold of g"""
    @staticmethod
    def forward(ctx, x, *, kernel_size, stride):
        ctx.kernel_size, ctx.stride, ctx.size = kernel_size, stride, x.shape[2:]
        out_size = _output_size(x.shape[2:], kernel_size, stride)
        out = _empty_stack(x[..., :out_size[0], :out_size[1]], kernel_size[0] * kernel_size[1],
                           x.dtype)
        for window_position, (a, b) in zip(out, np.ndindex(*kernel_size)):
            window_position[...] = _at_window_position(x, a, b, out_size, stride)
        return out

    @staticmethod
    def backward(ctx, g):
        return call(Fold, g, kernel_size=ctx.kernel_size, stride=ctx.stride, size=ctx.size)


class Fold(Op):
    """Window values v (kH·kW, N, C, H_out, W_out) (a first axis of 1 broadcasts) added back
    into an image (N, C, H, W) of `size`, overlapping windows adding up (the backward of the
    pools); its gradient is Unfold of g"""
    @staticmethod
    def forward(ctx, v, *, kernel_size, stride, size):
        ctx.kernel_size, ctx.stride = kernel_size, stride
        (n, c), (h, w) = v.shape[1:3], size
        out = np.zeros((c, h, w, n), dtype=v.dtype).transpose(3, 0, 1, 2)  # samples last
        values = np.broadcast_to(v, (kernel_size[0] * kernel_size[1],) + v.shape[1:])
        return _add_into_windows(out, values, kernel_size, stride)

    @staticmethod
    def backward(ctx, g):
        return call(Unfold, g, kernel_size=ctx.kernel_size, stride=ctx.stride)


# =========================================================================== no gradient

def compare(ufunc, a, b):
    """A comparison: a bool Tensor, outside the graph."""
    a = a.data if isinstance(a, Tensor) else a
    b = b.data if isinstance(b, Tensor) else b
    return Tensor._make(np.asarray(ufunc(a, b)), None)


def arg_extremum(find, t, axis, keepdims, where):
    """The index of the first extreme entry (`find` is np.argmax or np.argmin) along `axis`
    (None: of the flattened tensor), as an int64 Tensor outside the graph."""
    data = t.data
    if axis is not None:
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise TypeError(f"{where}: axis must be an int or None, got {axis!r}")
        if not -data.ndim <= axis < max(data.ndim, 1):
            raise ValueError(f"{where}: axis {axis} is out of range for a tensor of shape "
                             f"{data.shape}")
    if data.size == 0:
        raise ValueError(f"{where} of an empty tensor (shape {data.shape})")
    return Tensor._make(find(data, axis=axis, keepdims=keepdims).astype(np.int64), None)

"""Elementwise ops: arithmetic, powers and logarithms, trigonometric and hyperbolic functions,
rounding, the error function, comparisons and casts. Each op class has its forward and backward
side by side; below the classes, the functions that publish them (`tg.exp`, `t.exp()`,
`np.exp(t)`), then the operators `+ - * / ** % @`... of Tensor."""
import math

import numpy as np

from ..function import binary_operator, call
from ..tensor import FLOAT_DTYPES, Tensor
from .base import (Op, Where, as_tensor, constant_parameter, register, safe_divide, safe_multiply,
                   times, values)


# =========================================================================== arithmetic

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
        return (times(g, b) if need_a else None), (times(g, a) if need_b else None)


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
        ga = safe_divide(g, b) if need_a else None
        gb = -safe_divide(g * a, b * b) if need_b else None
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
            at_zero = values(a) == 0
            if need_a:
                limit = at_zero & (values(b) == 0)
                ga = safe_multiply(g, call(Where, limit, 0, b * a ** (b - 1)))
            if need_b:
                limit = at_zero & (values(b) >= 0)
                gb = safe_multiply(g, call(Where, limit, 0, y * call(Log, a)))
        return ga, gb


# ===================================================================== functions of one input

class Unary(Op):
    """y = function(a), with d/da = derivative(x) (the gradient is g · derivative, exactly 0 where
    g is 0), or = 1 / divisor(x) (g / divisor, exactly 0 where g is 0, even at a pole); x is the
    input a, or the output y for an op with `of_output = True` (e^a's derivative is e^a).
    `bounded = True` says the derivative is finite everywhere, so g · derivative needs no
    guard (0 times a finite number is 0)."""
    abstract = True  # a base of ops, not an op
    of_output = bounded = False
    divisor = None

    @classmethod
    def forward(cls, ctx, a):
        y = cls.function(a)
        ctx.save_for_backward(y if cls.of_output else a)
        return y

    @classmethod
    def backward(cls, ctx, g):
        (x,) = ctx.saved_tensors
        if cls.divisor is not None:
            return safe_divide(g, cls.divisor(x))
        return g * cls.derivative(x) if cls.bounded else times(g, cls.derivative(x))


class Exp(Unary):
    """e^a;  d/da = e^a (the saved output)"""
    function, of_output = np.exp, True
    derivative = staticmethod(lambda y: y)


class Log(Unary):
    """natural log;  d/da = 1/a"""
    function = np.log
    divisor = staticmethod(lambda a: a)


class Sqrt(Unary):
    """√a;  d/da = 1 / (2√a)"""
    function, of_output = np.sqrt, True
    divisor = staticmethod(lambda y: 2 * y)


class Tanh(Unary):
    """tanh a;  d/da = 1 - tanh² a"""
    function, of_output, bounded = np.tanh, True, True
    derivative = staticmethod(lambda y: 1 - y * y)


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


class Sin(Unary):
    """sin a;  d/da = cos a"""
    function, bounded = np.sin, True
    derivative = staticmethod(lambda a: call(Cos, a))


class Cos(Unary):
    """cos a;  d/da = -sin a"""
    function, bounded = np.cos, True
    derivative = staticmethod(lambda a: -call(Sin, a))


class Tan(Unary):
    """tan a;  d/da = 1 + tan² a"""
    function, of_output = np.tan, True
    derivative = staticmethod(lambda y: 1 + y * y)


class Arcsin(Unary):
    """arcsin a, a in [-1, 1];  d/da = 1 / √(1 - a²)"""
    function = np.arcsin
    divisor = staticmethod(lambda a: call(Sqrt, 1 - a * a))


class Arccos(Unary):
    """arccos a, a in [-1, 1];  d/da = -1 / √(1 - a²)"""
    function = np.arccos
    divisor = staticmethod(lambda a: -call(Sqrt, 1 - a * a))


class Arctan(Unary):
    """arctan a;  d/da = 1 / (1 + a²)"""
    function = np.arctan
    divisor = staticmethod(lambda a: 1 + a * a)


class Sinh(Unary):
    """sinh a;  d/da = cosh a"""
    function = np.sinh
    derivative = staticmethod(lambda a: call(Cosh, a))


class Cosh(Unary):
    """cosh a;  d/da = sinh a"""
    function = np.cosh
    derivative = staticmethod(lambda a: call(Sinh, a))


class Arcsinh(Unary):
    """arcsinh a;  d/da = 1 / √(a² + 1)"""
    function = np.arcsinh
    divisor = staticmethod(lambda a: call(Sqrt, a * a + 1))


class Arccosh(Unary):
    """arccosh a, a >= 1;  d/da = 1 / √(a² - 1)"""
    function = np.arccosh
    divisor = staticmethod(lambda a: call(Sqrt, a * a - 1))


class Arctanh(Unary):
    """arctanh a, a in (-1, 1);  d/da = 1 / (1 - a²)"""
    function = np.arctanh
    divisor = staticmethod(lambda a: 1 - a * a)


class Log1p(Unary):
    """log(1 + a), exact for tiny a;  d/da = 1 / (1 + a)"""
    function = np.log1p
    divisor = staticmethod(lambda a: 1 + a)


class Expm1(Unary):
    """e^a - 1, exact for tiny a;  d/da = e^a = output + 1"""
    function, of_output = np.expm1, True
    derivative = staticmethod(lambda y: y + 1)


_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


def erf_values(x):
    """erf(x) to 2e-15 in float64 with NumPy alone, the same steps for every element (no branch
    on the data, so tg.jit replays it for any values): the series
    2/√π e^(-x²) Σ (2x²)^n x / (1·3···(2n+1)) (all terms positive: no cancellation) for |x| < 2.5,
    the continued fraction of erfc for 2.5 <= |x| < 6, and ±1 beyond (erfc(6) < 1e-16)."""
    x64 = np.asarray(x, dtype=np.float64)
    size = np.abs(x64)
    near = np.minimum(size, 2.5)  # each formula sees only values where it converges
    near2 = near * near
    term = near
    total = near
    for n in range(34):
        term = term * (2 * near2 / (2 * n + 3))  # (out of place: tg.jit replays it)
        total = total + term
    series = _TWO_OVER_SQRT_PI * np.exp(-near2) * total
    far = np.clip(size, 2.5, 6.0)
    fraction = far
    for k in range(24, 0, -1):
        fraction = far + (k / 2) / fraction
    tail = 1 - np.exp(-far * far) / (math.sqrt(math.pi) * fraction)
    out = np.copysign(np.where(size < 2.5, series, np.where(size < 6, tail, 1.0)), x64)
    dtype = np.asarray(x).dtype  # float32 in, float32 out; Python numbers in float64
    dtype = dtype if dtype.kind == "f" else np.float64
    return out if out.dtype == dtype else out.astype(dtype)


class Erf(Unary):
    """the error function (2/√π) ∫₀^a e^(-t²) dt;  d/da = (2/√π) e^(-a²)"""
    function, bounded = staticmethod(erf_values), True
    derivative = staticmethod(lambda a: call(Exp, -(a * a)) * _TWO_OVER_SQRT_PI)


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


class Cast(Op):
    """a in another dtype;  the engine casts the gradient back to the input's dtype"""
    keeps_input_dtype = False
    @staticmethod
    def forward(ctx, a, *, dtype):
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g


# ==================================================================== functions of two inputs

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
        g = safe_divide(g, a * a + b * b)
        return (g * b if need_a else None), (-g * a if need_b else None)


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
        return g, (-times(g, quotient) if ctx.needs_input_grad[1] else None)


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
        g = safe_divide(g, y)
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


# =========================================================================== the functions

# the operators as functions, with NumPy's names
@register(np.add)
def add(x1, x2): return Add.apply(x1, x2)
@register(np.subtract)
def subtract(x1, x2): return Sub.apply(x1, x2)
@register(np.multiply)
def multiply(x1, x2): return Mul.apply(x1, x2)
@register(np.divide)
def divide(x1, x2): return Div.apply(x1, x2)
@register(np.power)
def power(x1, x2): return Pow.apply(x1, x2)
@register(np.negative)
def negative(x): return Neg.apply(as_tensor(x))


@register(np.positive, np.conjugate)
def positive(x):
    """+x: x itself (real numbers are their own conjugates)"""
    return x


@register(np.exp, method=True)
def exp(x): return Exp.apply(as_tensor(x))
@register(np.log, method=True)
def log(x): return Log.apply(as_tensor(x))
@register(np.sqrt, method=True)
def sqrt(x): return Sqrt.apply(as_tensor(x))
@register(np.absolute, np.fabs, method=True)
def abs(x): return Abs.apply(as_tensor(x))
@register(np.tanh, method=True)
def tanh(x): return Tanh.apply(as_tensor(x))
@register(np.sin)
def sin(x): return Sin.apply(as_tensor(x))
@register(np.cos)
def cos(x): return Cos.apply(as_tensor(x))
@register(np.tan)
def tan(x): return Tan.apply(as_tensor(x))
@register(np.arcsin)
def arcsin(x): return Arcsin.apply(as_tensor(x))
@register(np.arccos)
def arccos(x): return Arccos.apply(as_tensor(x))
@register(np.arctan)
def arctan(x): return Arctan.apply(as_tensor(x))
@register(np.arctan2)
def arctan2(x1, x2): return Arctan2.apply(x1, x2)
@register(np.sinh)
def sinh(x): return Sinh.apply(as_tensor(x))
@register(np.cosh)
def cosh(x): return Cosh.apply(as_tensor(x))
@register(np.arcsinh)
def arcsinh(x): return Arcsinh.apply(as_tensor(x))
@register(np.arccosh)
def arccosh(x): return Arccosh.apply(as_tensor(x))
@register(np.arctanh)
def arctanh(x): return Arctanh.apply(as_tensor(x))
@register(np.log1p)
def log1p(x): return Log1p.apply(as_tensor(x))
@register(np.expm1)
def expm1(x): return Expm1.apply(as_tensor(x))
@register(np.sign)
def sign(x): return Sign.apply(as_tensor(x))
@register(np.floor)
def floor(x): return Floor.apply(as_tensor(x))
@register(np.ceil)
def ceil(x): return Ceil.apply(as_tensor(x))
@register(np.mod)
def mod(x1, x2): return Mod.apply(x1, x2)
@register(np.hypot)
def hypot(x1, x2): return Hypot.apply(x1, x2)
@register(np.logaddexp)
def logaddexp(x1, x2): return LogAddExp.apply(x1, x2)
@register()
def erf(x): return Erf.apply(as_tensor(x))


# exact compositions of the ops above
@register(np.log2)
def log2(x): return Log.apply(as_tensor(x)) * (1 / math.log(2))
@register(np.log10)
def log10(x): return Log.apply(as_tensor(x)) * (1 / math.log(10))
@register(np.exp2)
def exp2(x): return Pow.apply(2.0, as_tensor(x))
@register(np.square)
def square(x): return Pow.apply(as_tensor(x), 2)
@register(np.reciprocal)
def reciprocal(x): return Div.apply(1, as_tensor(x))
@register(np.degrees, np.rad2deg)
def degrees(x): return Mul.apply(as_tensor(x), 180 / np.pi)
@register(np.radians, np.deg2rad)
def radians(x): return Mul.apply(as_tensor(x), np.pi / 180)


@register(np.round, np.around, np.rint, method=True)
def round(x, decimals=0):
    """x rounded to `decimals` places, halves to even (np.round); gradient 0"""
    return Round.apply(as_tensor(x), decimals=decimals)


@register(np.clip, method=True)
def clip(x, lo, hi):
    """x limited to [lo, hi] (either may be None); gradient 1 inside and at the bounds (as
    torch.clamp), 0 outside"""
    return Clip.apply(as_tensor(x), lo=constant_parameter("lo", lo, "clip"),
                      hi=constant_parameter("hi", hi, "clip"))


@register(np.maximum)
def maximum(a, b):
    """Elementwise max; at a tie each input gets half the gradient."""
    return Maximum.apply(a, b)


@register(np.minimum)
def minimum(a, b):
    """Elementwise min; at a tie each input gets half the gradient."""
    return Minimum.apply(a, b)


@register(method=True)
def astype(x, dtype):
    """A copy in another dtype; a cast to integers or bool leaves the graph (no gradient)."""
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        return Tensor._make(values(x).astype(dtype), None)
    return Cast.apply(as_tensor(x), dtype=dtype)


def compare(ufunc):
    """A comparison operator: a bool Tensor, outside the graph."""
    def compared(a, b):
        b = b.data if isinstance(b, Tensor) else b
        return Tensor._make(np.asarray(ufunc(a.data, b)), None)
    return compared


# =========================================================================== operators

def _reflected(op):
    return lambda self, other: op.apply(other, self)


Tensor.__add__, Tensor.__radd__ = binary_operator(Add), _reflected(Add)
Tensor.__sub__, Tensor.__rsub__ = binary_operator(Sub), _reflected(Sub)
Tensor.__mul__, Tensor.__rmul__ = binary_operator(Mul), _reflected(Mul)
Tensor.__truediv__, Tensor.__rtruediv__ = binary_operator(Div), _reflected(Div)
Tensor.__pow__, Tensor.__rpow__ = power, _reflected(Pow)
Tensor.__mod__, Tensor.__rmod__ = mod, _reflected(Mod)
Tensor.__neg__ = negative
Tensor.__pos__ = positive
Tensor.__abs__ = abs
Tensor.__lt__, Tensor.__le__ = compare(np.less), compare(np.less_equal)
Tensor.__gt__, Tensor.__ge__ = compare(np.greater), compare(np.greater_equal)
Tensor.__eq__, Tensor.__ne__ = compare(np.equal), compare(np.not_equal)

"""Activations: sigmoid, the rectifiers and their smooth cousins, softmax and log-softmax, and
the softmax cross-entropy fused into one op. PyTorch's definitions and argument names (NumPy has
none), each op's forward and backward side by side, then the functions that publish them."""
import math

import numpy as np

from ..function import call
from .base import (Op, Where, as_tensor, axis_index, constant_parameter, numpy_keywords, register,
                   values)
from .elementwise import Clip, Erf, Exp, Tanh, Unary, erf_values


def _sigmoid(a):
    """σ(a) = 1 / (1 + e^-a) as 1 / (1 + e^-|a|) where a >= 0 and e^-|a| / (1 + e^-|a|) where
    a < 0: e^-|a| <= 1 never overflows, and the tails keep their relative precision (1 - σ is
    never formed; σ(-1e4) is exactly 0). On arrays of a thousand values or more it is 4 to 6
    times faster than going through logaddexp."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1, e) / (1 + e)


class Sigmoid(Unary):
    """σ(a) = 1 / (1 + e^-a), without overflow and keeping the tails (_sigmoid);
    d/da = σ(1 - σ)"""
    function = staticmethod(_sigmoid)
    of_output = bounded = True
    derivative = staticmethod(lambda y: y * (1 - y))


class Relu(Unary):
    """max(a, 0);  d/da = 1 where a > 0, else 0"""
    function = staticmethod(lambda a: np.maximum(a, 0))
    of_output = bounded = True
    derivative = staticmethod(lambda y: y > 0)


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


class Softplus(Op):
    """log(1 + e^(beta·a)) / beta without overflow (PyTorch's softplus);
    d/da = sigmoid(beta·a)"""
    @staticmethod
    def forward(ctx, a, *, beta):
        ctx.beta = beta
        ctx.save_for_backward(a)
        z = a * beta  # log(1 + e^z) = max(z, 0) + log(1 + e^-|z|): no overflow, fast
        return (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta

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
        return 0.5 * a * (1 + erf_values(a * math.sqrt(0.5)))

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



# =========================================================================== softmax

class Softmax(Op):
    """e^a / Σ e^a along axis (shifted by the max, so it never overflows);
    d/da: y ⊙ (g - Σ g⊙y)"""
    @staticmethod
    def forward(ctx, a, *, axis):
        ctx.axis = axis = axis_index(axis, a.ndim, "softmax")
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
        ctx.axis = axis = axis_index(axis, a.ndim, "log_softmax")
        shifted = a - a.max(axis=axis, keepdims=True)
        y = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g - call(Exp, y) * g.sum(axis=ctx.axis, keepdims=True)


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


# =========================================================================== the functions

@register(method=True)
def sigmoid(x): return Sigmoid.apply(as_tensor(x))
@register(method=True)
def relu(x): return Relu.apply(as_tensor(x))


@register(method=True)
def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, else negative_slope · x"""
    slope = constant_parameter("negative_slope", negative_slope, "leaky_relu")
    return LeakyRelu.apply(as_tensor(x), slope=slope)


@register()
def softplus(x, beta=1.0):
    """log(1 + e^(beta x)) / beta, computed without overflow."""
    return Softplus.apply(as_tensor(x), beta=constant_parameter("beta", beta, "softplus"))


@register()
def elu(x, alpha=1.0):
    """x for x > 0, alpha (e^x - 1) otherwise."""
    return Elu.apply(as_tensor(x), alpha=constant_parameter("alpha", alpha, "elu"))


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@register()
def selu(x):
    """scale · elu(x, alpha) with the self-normalising constants of Klambauer et al. (2017)."""
    return elu(x, SELU_ALPHA) * SELU_SCALE


@register()
def gelu(x, approximate="none"):
    """x Φ(x) (Φ the standard normal CDF, through erf), or with approximate='tanh' PyTorch's
    ½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(as_tensor(x), approximate=approximate)


@register()
def silu(x):
    """x · sigmoid(x) (also called swish)."""
    return as_tensor(x) * Sigmoid.apply(x)


@register()
def hardtanh(x, min_val=-1.0, max_val=1.0):
    """x limited to [min_val, max_val]; unlike clip, the gradient is 0 at the bounds themselves
    (torch.nn.functional.hardtanh's)."""
    return Clip.apply(as_tensor(x), lo=constant_parameter("min_val", min_val, "hardtanh"),
                      hi=constant_parameter("max_val", max_val, "hardtanh"), strict=True)


@register()
def relu6(x):
    """min(max(x, 0), 6); gradient 0 at 0 and 6, as torch.nn.functional.relu6."""
    return hardtanh(x, 0.0, 6.0)


@register()
def hardswish(x):
    """x · relu6(x + 3) / 6."""
    x = as_tensor(x)
    return x * relu6(x + 3) * (1 / 6)


@register()
def mish(x):
    """x · tanh(softplus(x))."""
    return as_tensor(x) * Tanh.apply(softplus(x))


@register(method=True)
@numpy_keywords
def softmax(x, axis=-1):
    """e^x / Σ e^x along axis, without overflow."""
    return Softmax.apply(as_tensor(x), axis=axis)


@register(method=True)
@numpy_keywords
def log_softmax(x, axis=-1):
    """x - log Σ e^x along axis, without overflow."""
    return LogSoftmax.apply(as_tensor(x), axis=axis)


@register()
def cross_entropy(logits, labels, reduction="mean"):
    """Softmax cross-entropy of logits (N, C) against integer labels (N,) in [0, C), fused into
    one stable op (log-sum-exp); reduction 'mean', 'sum' or 'none' (shape (N,))."""
    if np.ndim(values(logits)) != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got "
                         f"{np.shape(values(logits))}")
    shape = np.shape(values(logits))
    labels = values(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: labels must be integers, got dtype {labels.dtype}")
    if labels.shape != shape[:1]:
        raise ValueError(f"cross_entropy: labels of shape {labels.shape} do not match logits of "
                         f"shape {shape} (expected ({shape[0]},))")
    bad = labels[(labels < 0) | (labels >= shape[1])]
    if bad.size:
        raise ValueError(f"cross_entropy: label {bad[0]} is outside [0, {shape[1]})")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got "
                         f"{reduction!r}")
    return CrossEntropy.apply(logits, labels, reduction=reduction)

"""The Tensor methods as functions (`tg.exp(t)` is `t.exp()`), and the ops of several tensors."""
import numpy as np

from . import ops
from .tensor import Tensor, numpy_keywords

__all__ = ["sum", "mean", "max", "min", "var", "exp", "log", "sqrt", "abs", "tanh", "sigmoid",
           "relu", "leaky_relu", "softmax", "log_softmax", "clip", "reshape", "transpose",
           "flatten", "matmul", "concatenate", "stack", "where", "maximum", "minimum", "linear",
           "cross_entropy", "unsqueeze", "squeeze", "argmax", "argmin", "conv2d", "max_pool2d",
           "avg_pool2d"]


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
def var(x, axis=None, keepdims=False): return _tensor(x).var(axis, keepdims)
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
def flatten(x): return _tensor(x).flatten()
def matmul(a, b): return _tensor(a).matmul(b)
def unsqueeze(x, axis): return _tensor(x).unsqueeze(axis)
def squeeze(x, axis=None): return _tensor(x).squeeze(axis)
def argmax(x, axis=None, keepdims=False): return _tensor(x).argmax(axis, keepdims)
def argmin(x, axis=None, keepdims=False): return _tensor(x).argmin(axis, keepdims)


@numpy_keywords
def concatenate(tensors, axis=0):
    """Join tensors along an existing axis (as np.concatenate)."""
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

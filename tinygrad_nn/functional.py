"""The Tensor methods as functions (`tg.exp(t)` is `t.exp()`), and the ops of several tensors."""
from . import ops
from .tensor import Tensor

__all__ = ["sum", "mean", "max", "min", "var", "exp", "log", "sqrt", "abs", "tanh", "sigmoid",
           "relu", "leaky_relu", "softmax", "log_softmax", "clip", "reshape", "transpose",
           "flatten", "matmul", "concatenate", "stack", "where", "maximum", "minimum"]


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def sum(x, axis=None, keepdims=False): return _tensor(x).sum(axis, keepdims)
def mean(x, axis=None, keepdims=False): return _tensor(x).mean(axis, keepdims)
def max(x, axis=None, keepdims=False): return _tensor(x).max(axis, keepdims)
def min(x, axis=None, keepdims=False): return _tensor(x).min(axis, keepdims)
def var(x, axis=None, keepdims=False): return _tensor(x).var(axis, keepdims)
def exp(x): return _tensor(x).exp()
def log(x): return _tensor(x).log()
def sqrt(x): return _tensor(x).sqrt()
def abs(x): return _tensor(x).abs()
def tanh(x): return _tensor(x).tanh()
def sigmoid(x): return _tensor(x).sigmoid()
def relu(x): return _tensor(x).relu()
def leaky_relu(x, negative_slope=0.01): return _tensor(x).leaky_relu(negative_slope)
def softmax(x, axis=-1): return _tensor(x).softmax(axis)
def log_softmax(x, axis=-1): return _tensor(x).log_softmax(axis)
def clip(x, lo, hi): return _tensor(x).clip(lo, hi)
def reshape(x, *shape): return _tensor(x).reshape(*shape)
def transpose(x, *axes): return _tensor(x).transpose(*axes)
def flatten(x): return _tensor(x).flatten()
def matmul(a, b): return _tensor(a).matmul(b)


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis (as np.concatenate)."""
    return ops.Concatenate.apply(*tensors, axis=axis)


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

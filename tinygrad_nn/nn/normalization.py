"""Normalisation layers: BatchNorm1d, BatchNorm2d and LayerNorm, as PyTorch defines them, each
composed from Tensor ops (mean, var, sqrt, ...) so that the engine derives their gradients,
second order included."""
import numpy as np

from ..tensor import Tensor, get_default_dtype
from ..validation import positive_int, real_number
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]


def _as_tensor(x, where):
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    if x.dtype.kind != "f":
        raise TypeError(f"{where} expects floating-point input, got dtype {x.dtype}")
    return x


def _eps(eps, where):
    eps = real_number("eps", eps, where)
    if not eps >= 0:
        raise ValueError(f"{where}: eps must be >= 0, got {eps}")
    return eps


class _BatchNorm(Module):
    """Batch normalisation over every axis but the channel axis 1:

        y = (x - mean) / √(var + eps) · weight + bias

    In training mode mean and var are the batch's (var biased, ddof=0), and the buffers move
    towards them: running = (1 - momentum) · running + momentum · batch, with the unbiased
    variance for running_var. In eval mode the buffers are used instead.
    """

    input_dims = ()  # the numbers of axes accepted, set by each subclass

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        where = type(self).__name__
        self.num_features = positive_int("num_features", num_features, where)
        self.eps = _eps(eps, where)
        self.momentum = real_number("momentum", momentum, where)
        if not 0 <= self.momentum <= 1:
            raise ValueError(f"{where}: momentum must be in [0, 1], got {momentum}")
        dtype = get_default_dtype()
        self.weight = Parameter(np.ones(self.num_features, dtype=dtype))
        self.bias = Parameter(np.zeros(self.num_features, dtype=dtype))
        self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(self.num_features, dtype=dtype))

    def forward(self, x):
        x = _as_tensor(x, type(self).__name__)
        if x.ndim not in self.input_dims or x.shape[1] != self.num_features:
            layouts = " or ".join(("(N, C)", "(N, C, L)", "(N, C, H, W)")[d - 2]
                                  for d in self.input_dims)
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects input of "
                             f"shape {layouts} with C = {self.num_features}, got shape "
                             f"{x.shape}")
        axes = (0,) + tuple(range(2, x.ndim))
        channel_shape = (1, self.num_features) + (1,) * (x.ndim - 2)
        if self.training:
            count = x.size // self.num_features
            if count < 2:
                raise ValueError(f"{type(self).__name__} needs more than 1 value per channel "
                                 f"in training mode, got input of shape {x.shape}")
            mean = x.mean(axis=axes, keepdims=True)
            var = x.var(axis=axes, keepdims=True)
            self._update_running_stats(mean.data, var.data * (count / (count - 1)))
            x_hat = (x - mean) / (var + self.eps).sqrt()
        else:
            mean = self.running_mean.reshape(channel_shape).astype(x.dtype)
            std = np.sqrt(self.running_var.reshape(channel_shape) + self.eps).astype(x.dtype)
            x_hat = (x - mean) / std
        return x_hat * self.weight.reshape(channel_shape) + self.bias.reshape(channel_shape)

    def _update_running_stats(self, batch_mean, unbiased_var):
        for running, batch in ((self.running_mean, batch_mean), (self.running_var, unbiased_var)):
            running *= 1 - self.momentum
            running += self.momentum * batch.reshape(self.num_features)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) (or (N, C, L)) input, per channel; see _BatchNorm."""

    input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) images, per channel; see _BatchNorm."""

    input_dims = (4,)


class LayerNorm(Module):
    """Normalisation of each sample over its last len(normalized_shape) axes (an int means
    one axis), biased variance: y = (x - mean) / √(var + eps) · weight + bias, with weight
    (ones) and bias (zeros) of shape normalized_shape; `bias=False` leaves the bias out (its
    attribute is None)."""

    def __init__(self, normalized_shape, eps=1e-5, bias=True):
        super().__init__()
        shape = normalized_shape
        if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)) or not shape:
            raise TypeError(f"LayerNorm: normalized_shape must be an int or a non-empty tuple "
                            f"of ints, got {normalized_shape!r}")
        self.normalized_shape = tuple(positive_int("normalized_shape", n, "LayerNorm")
                                      for n in shape)
        self.eps = _eps(eps, "LayerNorm")
        dtype = get_default_dtype()
        self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"LayerNorm: bias must be True or False, got {bias!r}")
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype)) if bias else None

    def forward(self, x):
        x = _as_tensor(x, "LayerNorm")
        k = len(self.normalized_shape)
        if x.shape[x.ndim - k:] != self.normalized_shape or x.ndim < k:
            raise ValueError(f"LayerNorm{self.normalized_shape} expects input whose last {k} "
                             f"axes have shape {self.normalized_shape}, got shape {x.shape}")
        axes = tuple(range(-k, 0))
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True)
        y = (x - mean) / (var + self.eps).sqrt() * self.weight
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}" + ("" if self.bias is not None
                                                             else ", bias=False")

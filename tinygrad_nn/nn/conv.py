"""Layers for images (N, C, H, W): Conv2d, MaxPool2d, AvgPool2d and Flatten."""
import numpy as np

from ..ops import avg_pool2d, conv2d, max_pool2d, reshape
from ..tensor import get_default_dtype
from ..validation import generator, int_pair, positive_int
from .layers import INITIAL_WEIGHT_STD
from .module import Module, Parameter

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d", "Flatten"]


class Conv2d(Module):
    """2-D convolution (cross-correlation with zero padding, as torch.nn.Conv2d).

    x (N, in_channels, H, W) -> (N, out_channels, (H + 2p - kH) // s + 1, ...). weight
    (out_channels, in_channels, kH, kW) is drawn from N(0, std²), std given by `init` ("he":
    √(2/(in·kH·kW)), "xavier": √(2/((in+out)·kH·kW)), "normal": 0.01), using `rng` (a
    numpy.random.Generator or a seed; a fresh one if None); bias (out_channels,) starts at zero.
    kernel_size, stride and padding are an int or an (h, w) pair.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 init="he", rng=None):
        super().__init__()
        self.in_channels = positive_int("in_channels", in_channels, "Conv2d")
        self.out_channels = positive_int("out_channels", out_channels, "Conv2d")
        self.kernel_size = int_pair(kernel_size, "kernel_size", "Conv2d", 1)
        self.stride = int_pair(stride, "stride", "Conv2d", 1)
        self.padding = int_pair(padding, "padding", "Conv2d", 0)
        if not isinstance(init, str) or init not in INITIAL_WEIGHT_STD:
            raise ValueError(f"init must be one of {sorted(INITIAL_WEIGHT_STD)}, got {init!r}")
        self.init = init
        window = self.kernel_size[0] * self.kernel_size[1]
        std = INITIAL_WEIGHT_STD[init](self.in_channels * window, self.out_channels * window)
        shape = (self.out_channels, self.in_channels) + self.kernel_size
        weight = generator(rng, "Conv2d").standard_normal(shape) * std
        dtype = get_default_dtype()
        self.weight = Parameter(weight.astype(dtype))
        self.bias = Parameter(np.zeros(self.out_channels, dtype=dtype)) if bias else None

    def forward(self, x):
        return conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class _Pool2d(Module):
    """kernel_size and stride (default kernel_size) of a pooling layer, each an int or an (h, w)
    pair; no padding: (N, C, H, W) -> (N, C, (H - kH) // s + 1, (W - kW) // s + 1)."""

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        where = type(self).__name__
        self.kernel_size = int_pair(kernel_size, "kernel_size", where, 1)
        self.stride = self.kernel_size if stride is None else int_pair(stride, "stride", where, 1)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool2d(_Pool2d):
    """The max of each kernel_size window, one every `stride` (default kernel_size)."""

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride)


class AvgPool2d(_Pool2d):
    """The mean of each kernel_size window, one every `stride` (default kernel_size)."""

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride)


class Flatten(Module):
    """(N, ...) -> (N, product of the other axes): axis 0 is kept."""

    def forward(self, x):
        shape = np.shape(x)
        if len(shape) < 2:  # as torch.nn.Flatten: a (N,) input has no axes to flatten
            raise ValueError(f"Flatten needs an input (N, ...) with at least 2 axes, got shape "
                             f"{shape}")
        return reshape(x, shape[0], int(np.prod(shape[1:])))

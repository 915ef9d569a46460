"""Convolution and pooling on images (N, C, H, W), as torch.nn.functional's conv2d, max_pool2d
and avg_pool2d.

Images are (N, C, H, W), kernels (C_out, C_in, kH, kW), as in PyTorch. A convolution is one
matrix product with the im2col matrix of the input's windows (cut from a strided view, no
Python loop over samples, channels or pixels). Gradients are again these ops: Convolution,
TransposedConvolution and ConvolutionWeightGrad are each other's derivatives, and so are
Fold and Unfold, so every order of derivative is one of them.

Two choices make them fast on small images. Reductions and scatters over a window loop over
its kH·kW positions, each step one NumPy operation on every window at once: NumPy reduces
over tiny trailing axes (a 2×2 window) some 50 times slower than it combines a handful of
strided views. And the images these ops make are laid out samples last in memory, (C, H, W,
N) seen as (N, C, H, W): a window position's view then holds runs of N (or W·N) contiguous
numbers instead of W, which makes every copy and scatter about 3 times faster, and the matrix
products give and take that layout without transposing.
"""
import functools
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..function import call
from ..validation import int_pair
from .base import Op, register


def _output_size(size, kernel_size, stride, padding=(0, 0)):
    """(H_out, W_out): how many windows fit, (H + 2p - kH) // s + 1 (floor)."""
    return tuple((n + 2 * p - k) // s + 1
                 for n, k, s, p in zip(size, kernel_size, stride, padding))


def _im2col(x, kernel_size, stride, padding):
    """The windows of padded x (N, C, H, W) as a matrix (C·kH·kW, H_out·W_out·N): a column per
    output pixel, samples last (see the module docstring)."""
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


# =========================================================================== the functions

@register()
def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation with zero padding, as torch.nn.functional.conv2d: x (N, C, H, W),
    weight (C_out, C, kH, kW), bias (C_out,) or None; stride and padding an int or (h, w)
    pair -> (N, C_out, (H + 2p - kH) // s + 1, (W + 2p - kW) // s + 1)."""
    if bias is None:
        return Convolution.apply(x, weight, stride=stride, padding=padding)
    return Convolution.apply(x, weight, bias, stride=stride, padding=padding)


@register()
def max_pool2d(x, kernel_size, stride=None):
    """The max of each kernel_size window of x (N, C, H, W), one every `stride` (default
    kernel_size), no padding, windows that do not fit dropped; ties split the gradient."""
    return MaxPooling.apply(x, kernel_size=kernel_size, stride=stride)


@register()
def avg_pool2d(x, kernel_size, stride=None):
    """The mean of each kernel_size window of x (N, C, H, W), one every `stride` (default
    kernel_size), no padding, windows that do not fit dropped."""
    return AvgPooling.apply(x, kernel_size=kernel_size, stride=stride)

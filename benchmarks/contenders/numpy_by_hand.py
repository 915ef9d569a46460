"""The floor: forward and backward written by hand in NumPy, no autograd, no graph."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from benchmarks.contenders import Bench
from benchmarks.workloads import (
    CHAIN_SCALE,
    CHAIN_SHIFT,
    CNN_KERNEL,
    CNN_PADDING,
    CNN_POOL,
    OP_CYCLES,
    cnn_check_values,
    mlp_check_values,
)


def version() -> str:
    return np.__version__


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)), written with tanh so that it never overflows."""
    return 0.5 * (np.tanh(0.5 * z) + 1.0)


def op_overhead(x, w, b) -> Bench:
    def run():
        saved = []
        h = x
        for _ in range(OP_CYCLES):
            t = np.tanh(h * w + b)
            s = sigmoid(t * 1.5 + 0.25)
            e = np.exp(s)
            saved.append((h, t, s, e))
            h = e * 0.5
        total = h.sum()

        grad_h = np.ones_like(h)
        grad_w = np.zeros_like(w)
        grad_b = np.zeros_like(b)
        for h_in, t, s, e in reversed(saved):
            # d/d(h*w + b) of 0.5 * exp(sigmoid(1.5 * tanh(.) + 0.25)), constants folded.
            grad_pre = grad_h * e * s * (1.0 - s) * (1.0 - t * t) * 0.75
            grad_b += grad_pre
            grad_w += grad_pre * h_in
            grad_h = grad_pre * w
        return total, (grad_h, grad_w, grad_b)

    def check_values(output):
        total, (grad_x, grad_w, grad_b) = output
        return {"output": total, "x grad": grad_x, "w grad": grad_w, "b grad": grad_b}

    return Bench(run, check_values)


def mse_and_gradient(prediction, target):
    """mean((p - y)^2) and its gradient with respect to p."""
    difference = prediction - target
    return np.mean(difference * difference), difference * (2.0 / difference.size)


def cross_entropy_and_gradient(logits, labels):
    """Mean softmax cross-entropy and its gradient with respect to the logits, (p - onehot) / N."""
    batch = np.arange(len(labels))
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp_shifted = np.exp(shifted)
    sum_exp = exp_shifted.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(sum_exp[:, 0]) - shifted[batch, labels])
    probabilities = exp_shifted / sum_exp
    probabilities[batch, labels] -= 1.0
    return loss, probabilities / len(labels)


LOSS_AND_GRADIENT = {"mse": mse_and_gradient, "cross_entropy": cross_entropy_and_gradient}
ACTIVATE = {"relu": lambda z: np.maximum(z, 0.0), "sigmoid": sigmoid, None: lambda z: z}
# Each activation's derivative, written in terms of its output.
ACTIVATION_SLOPE = {"relu": lambda out: out > 0.0, "sigmoid": lambda out: out * (1.0 - out)}


def mlp_step(problem) -> Bench:
    weights = [(weight.copy(), bias.copy()) for weight, bias in problem.weights]
    loss_and_gradient = LOSS_AND_GRADIENT[problem.loss]

    def run():
        layer_inputs, layer_outputs = [], []
        h = problem.inputs
        for (weight, bias), activation in zip(weights, problem.activations):
            layer_inputs.append(h)
            h = ACTIVATE[activation](h @ weight + bias)
            layer_outputs.append(h)

        # With cross-entropy the last layer has no activation, so the fused loss gradient is
        # already the gradient with respect to its logits.
        loss, grad_out = loss_and_gradient(h, problem.targets)
        gradients = [None] * len(weights)
        for layer in reversed(range(len(weights))):
            activation = problem.activations[layer]
            grad_pre = grad_out
            if activation is not None:
                grad_pre = grad_out * ACTIVATION_SLOPE[activation](layer_outputs[layer])
            gradients[layer] = (layer_inputs[layer].T @ grad_pre, grad_pre.sum(axis=0))
            if layer > 0:  # the input batch needs no gradient
                grad_out = grad_pre @ weights[layer][0].T

        for (weight, bias), (grad_weight, grad_bias) in zip(weights, gradients):
            weight -= problem.lr * grad_weight
            bias -= problem.lr * grad_bias
        return loss, gradients

    def check_values(output):
        loss, gradients = output
        return mlp_check_values(loss, gradients, weights)

    return Bench(run, check_values)


def deep_chain(start, length) -> Bench:
    def run():
        x = start
        for _ in range(length):
            x = x * CHAIN_SCALE + CHAIN_SHIFT
        # d x_end / d x_start is the product of the chain's scales, accumulated as a tape would.
        grad = np.ones_like(start)
        for _ in range(length):
            grad = grad * CHAIN_SCALE
        return x, grad

    def check_values(output):
        x, grad = output
        return {"output": x, "start grad": grad}

    return Bench(run, check_values)


def im2col(x):
    """The 3×3 windows of x (C, H, W, N) padded by 1 as a matrix (C·3·3, H·W·N), a column per
    output pixel. Images are kept as (C, H, W, N) from layer to layer, samples last: the matrix
    products give and take that layout without transposing, and every window offset is then a
    view whose runs of contiguous numbers are N (or W·N) long, not W: 3x faster copies."""
    c, h, w, n = x.shape
    p, k = CNN_PADDING, CNN_KERNEL
    padded = np.zeros((c, h + 2 * p, w + 2 * p, n), dtype=x.dtype)
    padded[:, p:p + h, p:p + w] = x
    windows = sliding_window_view(padded, (k, k), axis=(1, 2))  # (C, H, W, N, k, k)
    return windows.transpose(0, 4, 5, 1, 2, 3).reshape(c * k * k, h * w * n)


def col2im(grad_cols, shape):
    """The adjoint of im2col: the windows' gradients (C·3·3, H·W·N) added back into an image
    (C, H, W, N), one kernel offset at a time."""
    c, h, w, n = shape
    p, k = CNN_PADDING, CNN_KERNEL
    grad_cols = grad_cols.reshape(c, k, k, h, w, n)
    padded = np.zeros((c, h + 2 * p, w + 2 * p, n), dtype=grad_cols.dtype)
    for a in range(k):
        for b in range(k):
            padded[:, a:a + h, b:b + w] += grad_cols[:, a, b]
    return padded[:, p:p + h, p:p + w]


POOL_OFFSETS = [(a, b) for a in range(CNN_POOL) for b in range(CNN_POOL)]


def cnn_step(problem) -> Bench:
    convs = [(weight.copy(), bias.copy()) for weight, bias in problem.convs]
    dense_weight, dense_bias = (array.copy() for array in problem.dense)
    q = CNN_POOL

    def run():
        h = problem.inputs.transpose(1, 2, 3, 0)  # (C, H, W, N)
        saved = []
        for weight, bias in convs:
            cols = im2col(h)
            z = weight.reshape(len(weight), -1) @ cols + bias[:, None]
            a = np.maximum(z, 0.0).reshape(len(weight), *h.shape[1:])
            corners = [a[:, i::q, j::q] for i, j in POOL_OFFSETS]
            pooled = np.maximum(np.maximum(corners[0], corners[1]),
                                np.maximum(corners[2], corners[3]))
            saved.append((h.shape, cols, a, corners, pooled))
            h = pooled
        flat = h.transpose(3, 0, 1, 2).reshape(h.shape[3], -1)  # PyTorch's (N, C·H·W) order
        logits = flat @ dense_weight + dense_bias
        loss, grad_logits = cross_entropy_and_gradient(logits, problem.targets)

        gradients = [flat.T @ grad_logits, grad_logits.sum(axis=0)]
        c, height, width, n = h.shape
        grad_h = (grad_logits @ dense_weight.T).reshape(n, c, height, width).transpose(1, 2, 3, 0)
        for layer in reversed(range(len(convs))):
            in_shape, cols, a, corners, pooled = saved[layer]
            grad_a = np.empty_like(a)
            # every corner equal to the max gets the gradient: ties happen only among ReLU
            # zeros, whose gradient the ReLU stops anyway
            for (i, j), corner in zip(POOL_OFFSETS, corners):
                grad_a[:, i::q, j::q] = (corner == pooled) * grad_h
            grad_z = (grad_a * (a > 0.0)).reshape(len(a), -1)
            weight = convs[layer][0]
            gradients[:0] = [(grad_z @ cols.T).reshape(weight.shape), grad_z.sum(axis=1)]
            if layer > 0:  # the input images need no gradient
                grad_h = col2im(weight.reshape(len(weight), -1).T @ grad_z, in_shape)

        parameters = [array for pair in convs for array in pair] + [dense_weight, dense_bias]
        for parameter, gradient in zip(parameters, gradients):
            parameter -= problem.lr * gradient
        return loss, gradients

    def check_values(output):
        loss, gradients = output
        parameters = [array for pair in convs for array in pair] + [dense_weight, dense_bias]
        return cnn_check_values(loss, gradients, parameters)

    return Bench(run, check_values)

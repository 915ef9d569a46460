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
    """The 3×3 windows of x (N, C, H, W) padded by 1, one row per output pixel:
    (N·H·W, C·3·3)."""
    n, c, h, w = x.shape
    p, k = CNN_PADDING, CNN_KERNEL
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    windows = sliding_window_view(padded, (k, k), axis=(2, 3))  # (N, C, H, W, k, k)
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * k * k)


def col2im(grad_cols, shape):
    """The adjoint of im2col: each window's gradient (N·H·W, C·3·3) added back into the image,
    one kernel offset at a time."""
    n, c, h, w = shape
    p, k = CNN_PADDING, CNN_KERNEL
    grad_cols = grad_cols.reshape(n, h, w, c, k, k).transpose(0, 3, 4, 5, 1, 2)
    padded = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=grad_cols.dtype)
    for a in range(k):
        for b in range(k):
            padded[:, :, a:a + h, b:b + w] += grad_cols[:, :, a, b]
    return padded[:, :, p:p + h, p:p + w]


def cnn_step(problem) -> Bench:
    convs = [(weight.copy(), bias.copy()) for weight, bias in problem.convs]
    dense_weight, dense_bias = (array.copy() for array in problem.dense)
    q = CNN_POOL

    def run():
        h = problem.inputs
        saved = []
        for weight, bias in convs:
            n, _, height, width = h.shape
            cols = im2col(h)
            z = cols @ weight.reshape(len(weight), -1).T + bias  # (N·H·W, out), channels last
            a = np.maximum(z, 0.0).reshape(n, height, width, -1).transpose(0, 3, 1, 2)
            blocks = a.reshape(n, -1, height // q, q, width // q, q)
            pooled = blocks.max(axis=(3, 5))
            winners = blocks == pooled[:, :, :, None, :, None]  # ties only among ReLU zeros
            saved.append((h.shape, cols, a, winners))
            h = pooled
        flat = h.reshape(len(h), -1)
        logits = flat @ dense_weight + dense_bias
        loss, grad_logits = cross_entropy_and_gradient(logits, problem.targets)

        gradients = [flat.T @ grad_logits, grad_logits.sum(axis=0)]
        grad_h = (grad_logits @ dense_weight.T).reshape(h.shape)
        for layer in reversed(range(len(convs))):
            in_shape, cols, a, winners = saved[layer]
            grad_a = (winners * grad_h[:, :, :, None, :, None]).reshape(a.shape)
            grad_z = (grad_a * (a > 0.0)).transpose(0, 2, 3, 1).reshape(len(cols), -1)
            weight = convs[layer][0]
            gradients[:0] = [(grad_z.T @ cols).reshape(weight.shape), grad_z.sum(axis=0)]
            if layer > 0:  # the input images need no gradient
                grad_h = col2im(grad_z @ weight.reshape(len(weight), -1), in_shape)

        parameters = [array for pair in convs for array in pair] + [dense_weight, dense_bias]
        for parameter, gradient in zip(parameters, gradients):
            parameter -= problem.lr * gradient
        return loss, gradients

    def check_values(output):
        loss, gradients = output
        parameters = [array for pair in convs for array in pair] + [dense_weight, dense_bias]
        return cnn_check_values(loss, gradients, parameters)

    return Bench(run, check_values)

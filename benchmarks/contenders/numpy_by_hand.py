"""The floor: forward and backward written by hand in NumPy, no autograd, no graph."""

import numpy as np

from benchmarks.contenders import Bench
from benchmarks.workloads import CHAIN_SCALE, CHAIN_SHIFT, OP_CYCLES, mlp_check_values


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

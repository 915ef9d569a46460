"""HIPS autograd: plain functions of NumPy arrays, differentiated with `value_and_grad`."""

from importlib.metadata import version as installed_version

import autograd.numpy as anp
from autograd import value_and_grad

from benchmarks.contenders import Bench
from benchmarks.workloads import CHAIN_SCALE, CHAIN_SHIFT, OP_CYCLES, mlp_check_values


def version() -> str:
    return installed_version("autograd")


def sigmoid(z):
    """autograd has no sigmoid primitive; this tanh form never overflows."""
    return 0.5 * (anp.tanh(0.5 * z) + 1.0)


def relu(z):
    return anp.maximum(z, 0.0)


def mse(prediction, target):
    difference = prediction - target
    return anp.mean(difference * difference)


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy via a max-shifted log-softmax."""
    shifted = logits - anp.max(logits, axis=1, keepdims=True)
    log_probabilities = shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))
    return -anp.mean(log_probabilities[anp.arange(len(labels)), labels])


ACTIVATIONS = {"relu": relu, "sigmoid": sigmoid, None: lambda z: z}
LOSSES = {"mse": mse, "cross_entropy": cross_entropy}


def op_overhead(x, w, b) -> Bench:
    def chain_sum(x, w, b):
        h = x
        for _ in range(OP_CYCLES):
            h = anp.exp(sigmoid(anp.tanh(h * w + b) * 1.5 + 0.25)) * 0.5
        return anp.sum(h)

    sum_and_gradients = value_and_grad(chain_sum, argnum=(0, 1, 2))

    def run():
        return sum_and_gradients(x, w, b)

    def check_values(output):
        total, (grad_x, grad_w, grad_b) = output
        return {"output": total, "x grad": grad_x, "w grad": grad_w, "b grad": grad_b}

    return Bench(run, check_values)


def mlp_step(problem) -> Bench:
    weights = [(weight.copy(), bias.copy()) for weight, bias in problem.weights]
    loss_fn = LOSSES[problem.loss]

    def mlp_loss(weights):
        h = problem.inputs
        for (weight, bias), activation in zip(weights, problem.activations):
            h = ACTIVATIONS[activation](anp.dot(h, weight) + bias)
        return loss_fn(h, problem.targets)

    loss_and_gradients = value_and_grad(mlp_loss)

    def run():
        loss, gradients = loss_and_gradients(weights)
        for (weight, bias), (grad_weight, grad_bias) in zip(weights, gradients):
            weight -= problem.lr * grad_weight
            bias -= problem.lr * grad_bias
        return loss, gradients

    def check_values(output):
        loss, gradients = output
        return mlp_check_values(loss, gradients, weights)

    return Bench(run, check_values)


def deep_chain(start, length) -> Bench:
    def chain_end(x):
        for _ in range(length):
            x = x * CHAIN_SCALE + CHAIN_SHIFT
        return anp.sum(x)

    end_and_gradient = value_and_grad(chain_end)

    def run():
        return end_and_gradient(start)

    def check_values(output):
        end, grad = output
        return {"output": anp.reshape(end, (1,)), "start grad": grad}

    return Bench(run, check_values)

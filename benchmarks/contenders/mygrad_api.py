"""MyGrad, used through its public Tensor and nnet functions."""

import mygrad as mg
import numpy as np
from mygrad.nnet.activations import relu, sigmoid
from mygrad.nnet.layers import conv_nd, max_pool
from mygrad.nnet.losses import softmax_crossentropy

from benchmarks.contenders import Bench
from benchmarks.workloads import (
    CHAIN_SCALE,
    CHAIN_SHIFT,
    CNN_PADDING,
    CNN_POOL,
    OP_CYCLES,
    cnn_check_values,
    mlp_check_values,
)

# MyGrad turns Python floats into float64 arrays, which would upcast every float32 result.
ONE_AND_HALF, QUARTER, HALF = np.float32(1.5), np.float32(0.25), np.float32(0.5)

ACTIVATIONS = {"relu": relu, "sigmoid": sigmoid, None: lambda z: z}
LOSSES = {
    "mse": lambda prediction, target: mg.mean(mg.square(prediction - target)),
    "cross_entropy": softmax_crossentropy,
}


def version() -> str:
    return mg.__version__


def op_overhead(x, w, b) -> Bench:
    x, w, b = mg.tensor(x), mg.tensor(w), mg.tensor(b)

    def run():
        h = x
        for _ in range(OP_CYCLES):
            h = mg.exp(sigmoid(mg.tanh(h * w + b) * ONE_AND_HALF + QUARTER)) * HALF
        total = h.sum()
        total.backward()
        return total.item()

    def check_values(total):
        return {"output": total, "x grad": x.grad, "w grad": w.grad, "b grad": b.grad}

    return Bench(run, check_values)


def mlp_step(problem) -> Bench:
    weights = [(mg.tensor(weight), mg.tensor(bias)) for weight, bias in problem.weights]
    loss_fn = LOSSES[problem.loss]

    def run():
        h = problem.inputs
        for (weight, bias), activation in zip(weights, problem.activations):
            h = ACTIVATIONS[activation](mg.matmul(h, weight) + bias)
        loss = loss_fn(h, problem.targets)
        loss.backward()
        for weight, bias in weights:
            weight.data -= problem.lr * weight.grad
            bias.data -= problem.lr * bias.grad
        return loss.item()

    def check_values(loss):
        gradients = [(weight.grad, bias.grad) for weight, bias in weights]
        return mlp_check_values(loss, gradients, [(w.data, b.data) for w, b in weights])

    return Bench(run, check_values)


def deep_chain(start, length) -> Bench:
    start = mg.tensor(start)

    def run():
        x = start
        for _ in range(length):
            x = x * CHAIN_SCALE + CHAIN_SHIFT
        x.sum().backward()
        return x.data

    def check_values(x):
        return {"output": x, "start grad": start.grad}

    return Bench(run, check_values)


def cnn_step(problem) -> Bench:
    convs = [(mg.tensor(weight), mg.tensor(bias)) for weight, bias in problem.convs]
    dense_weight, dense_bias = (mg.tensor(array) for array in problem.dense)
    parameters = [t for pair in convs for t in pair] + [dense_weight, dense_bias]
    pool = (CNN_POOL, CNN_POOL)

    def run():
        h = problem.inputs
        for weight, bias in convs:
            z = conv_nd(h, weight, stride=1, padding=CNN_PADDING) + bias.reshape(1, -1, 1, 1)
            h = max_pool(relu(z), pool, CNN_POOL)
        logits = mg.matmul(h.reshape(len(h), -1), dense_weight) + dense_bias
        loss = softmax_crossentropy(logits, problem.targets)
        loss.backward()
        for parameter in parameters:
            parameter.data -= problem.lr * parameter.grad
        return loss.item()

    def check_values(loss):
        return cnn_check_values(loss, [p.grad for p in parameters], [p.data for p in parameters])

    return Bench(run, check_values)

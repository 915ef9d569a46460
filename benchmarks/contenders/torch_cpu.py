"""PyTorch on the CPU, one thread like every contender (see benchmarks/__init__.py), used as a
PyTorch user would write it."""

import torch
import torch.nn.functional as F

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

torch.set_num_threads(1)

ACTIVATIONS = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid}
LOSSES = {"mse": F.mse_loss, "cross_entropy": F.cross_entropy}


def version() -> str:
    return torch.__version__


def leaf(array):
    return torch.tensor(array, requires_grad=True)


def op_overhead(x, w, b) -> Bench:
    x, w, b = leaf(x), leaf(w), leaf(b)

    def run():
        x.grad = w.grad = b.grad = None
        h = x
        for _ in range(OP_CYCLES):
            h = torch.exp(torch.sigmoid(torch.tanh(h * w + b) * 1.5 + 0.25)) * 0.5
        total = h.sum()
        total.backward()
        return total.item()

    def check_values(total):
        return {"output": total, "x grad": x.grad, "w grad": w.grad, "b grad": b.grad}

    return Bench(run, check_values)


def sgd_step(model, loss_fn, inputs, targets, lr):
    """`run()`: one training step of `model` (forward, loss, backward, SGD update); returns
    the loss as a float."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)

    def run():
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        return loss.item()

    return run


def mlp_step(problem) -> Bench:
    layers = []
    for (weight, bias), activation in zip(problem.weights, problem.activations):
        dense = torch.nn.Linear(*weight.shape)
        with torch.no_grad():
            dense.weight.copy_(torch.from_numpy(weight.T))  # torch stores (out, in)
            dense.bias.copy_(torch.from_numpy(bias))
        layers.append(dense)
        if activation is not None:
            layers.append(ACTIVATIONS[activation]())
    model = torch.nn.Sequential(*layers)
    loss_fn = LOSSES[problem.loss]
    inputs = torch.from_numpy(problem.inputs)
    targets = torch.from_numpy(problem.targets)
    run = sgd_step(model, loss_fn, inputs, targets, problem.lr)

    def check_values(loss):
        dense_layers = [layer for layer in model if isinstance(layer, torch.nn.Linear)]
        gradients = [(d.weight.grad.T, d.bias.grad) for d in dense_layers]
        weights = [(d.weight.detach().T, d.bias.detach()) for d in dense_layers]
        return mlp_check_values(loss, gradients, weights)

    return Bench(run, check_values)


def deep_chain(start, length) -> Bench:
    start = leaf(start)

    def run():
        start.grad = None
        x = start
        for _ in range(length):
            x = x * CHAIN_SCALE + CHAIN_SHIFT
        x.sum().backward()
        return x.detach().numpy()

    def check_values(x):
        return {"output": x, "start grad": start.grad}

    return Bench(run, check_values)


def cnn_step(problem) -> Bench:
    layers = []
    for weight, bias in problem.convs:
        conv = torch.nn.Conv2d(weight.shape[1], weight.shape[0], CNN_KERNEL, padding=CNN_PADDING)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(weight))
            conv.bias.copy_(torch.from_numpy(bias))
        layers += [conv, torch.nn.ReLU(), torch.nn.MaxPool2d(CNN_POOL)]
    dense = torch.nn.Linear(*problem.dense[0].shape)
    with torch.no_grad():
        dense.weight.copy_(torch.from_numpy(problem.dense[0].T))  # torch stores (out, in)
        dense.bias.copy_(torch.from_numpy(problem.dense[1]))
    model = torch.nn.Sequential(*layers, torch.nn.Flatten(), dense)
    inputs = torch.from_numpy(problem.inputs)
    targets = torch.from_numpy(problem.targets)
    run = sgd_step(model, F.cross_entropy, inputs, targets, problem.lr)

    def check_values(loss):
        parameters = list(model.parameters())
        gradients = [p.grad for p in parameters[:-2]] + [dense.weight.grad.T, dense.bias.grad]
        values = [p.detach() for p in parameters[:-2]] + [dense.weight.T, dense.bias]
        return cnn_check_values(loss, gradients, [v.detach() for v in values])

    return Bench(run, check_values)

"""tinygrad_nn, used only through its public API, as its users would write it.

Each workload's step is a function passed through `compile` before it is timed: as it is here,
or captured and replayed by `tg.jit` (the `tinygrad_nn (jit)` contender)."""

import numpy as np

import tinygrad_nn as tg
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
    sequence_check_values,
)

ACTIVATIONS = {"relu": tg.nn.ReLU, "sigmoid": tg.nn.Sigmoid}
LOSSES = {"mse": tg.nn.MSELoss, "cross_entropy": tg.nn.CrossEntropyLoss}


def version() -> str:
    return tg.__version__


def as_written(step):
    return step


def op_overhead(x, w, b, compile=as_written) -> Bench:
    x, w, b = (tg.Tensor(array, requires_grad=True) for array in (x, w, b))

    def forward_backward():
        for leaf in (x, w, b):
            leaf.zero_grad()
        h = x
        for _ in range(OP_CYCLES):
            h = ((h * w + b).tanh() * 1.5 + 0.25).sigmoid().exp() * 0.5
        total = h.sum()
        total.backward()
        return total

    step = compile(forward_backward)

    def run():
        return step().item()

    def check_values(total):
        return {"output": total, "x grad": x.grad, "w grad": w.grad, "b grad": b.grad}

    return Bench(run, check_values)


def sgd_step(model, loss_fn, inputs, targets, lr, compile=as_written):
    """`run()`: one training step of `model` (forward, loss, backward, SGD update); returns
    the loss as a float."""
    optimizer = tg.optim.SGD(model.parameters(), lr=lr)

    def train_step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    step = compile(train_step)

    def run():
        return step(inputs, targets).item()

    return run


def mlp_step(problem, compile=as_written) -> Bench:
    layers = []
    for (weight, bias), activation in zip(problem.weights, problem.activations):
        dense = tg.nn.Dense(*weight.shape, rng=np.random.default_rng(0))
        dense.weight.data[...] = weight
        dense.bias.data[...] = bias
        layers.append(dense)
        if activation is not None:
            layers.append(ACTIVATIONS[activation]())
    model = tg.nn.Sequential(*layers)
    loss_fn = LOSSES[problem.loss]()
    inputs = tg.Tensor(problem.inputs)
    targets = tg.Tensor(problem.targets)

    run = sgd_step(model, loss_fn, inputs, targets, problem.lr, compile)

    def check_values(loss):
        dense_layers = [layer for layer in model if isinstance(layer, tg.nn.Dense)]
        gradients = [(d.weight.grad, d.bias.grad) for d in dense_layers]
        weights = [(d.weight.data, d.bias.data) for d in dense_layers]
        return mlp_check_values(loss, gradients, weights)

    return Bench(run, check_values)


def deep_chain(start, length) -> Bench:
    start = tg.Tensor(start, requires_grad=True)

    def run():
        start.zero_grad()
        x = start
        for _ in range(length):
            x = x * CHAIN_SCALE + CHAIN_SHIFT
        x.sum().backward()
        return x.numpy()

    def check_values(x):
        return {"output": x, "start grad": start.grad}

    return Bench(run, check_values)


def cnn_step(problem, compile=as_written) -> Bench:
    layers = []
    for weight, bias in problem.convs:
        conv = tg.nn.Conv2d(weight.shape[1], weight.shape[0], CNN_KERNEL, padding=CNN_PADDING)
        conv.weight.data[...] = weight
        conv.bias.data[...] = bias
        layers += [conv, tg.nn.ReLU(), tg.nn.MaxPool2d(CNN_POOL)]
    dense = tg.nn.Dense(*problem.dense[0].shape)
    dense.weight.data[...], dense.bias.data[...] = problem.dense
    model = tg.nn.Sequential(*layers, tg.nn.Flatten(), dense)
    inputs = tg.Tensor(problem.inputs)
    targets = tg.Tensor(problem.targets)
    run = sgd_step(model, tg.nn.CrossEntropyLoss(), inputs, targets, problem.lr, compile)

    def check_values(loss):
        parameters = model.parameters()
        return cnn_check_values(loss, [p.grad for p in parameters], [p.data for p in parameters])

    return Bench(run, check_values)


def sequence_model(problem):
    """The names example's model of `problem.kind`, holding `problem.parameters`."""
    from tinygrad_nn.examples.names import CharLSTM, CharTransformer

    if problem.kind == "transformer":
        model = CharTransformer(problem.vocab, problem.inputs.shape[1], problem.width,
                                problem.layers, problem.heads, rng=0)
    else:
        model = CharLSTM(problem.vocab, problem.width, rng=0)
    own = dict(model.named_parameters())
    assert own.keys() == problem.parameters.keys(), sorted(own.keys() ^ problem.parameters.keys())
    for name, value in problem.parameters.items():
        own[name].data[...] = value
    return model


def sequence_step(problem, compile=as_written) -> Bench:
    model = sequence_model(problem)
    vocab = problem.vocab
    cross_entropy = tg.nn.CrossEntropyLoss(ignore_index=-1)

    def loss_fn(logits, targets):
        return cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))

    run = sgd_step(model, loss_fn, problem.inputs, problem.targets, problem.lr, compile)

    def check_values(loss):
        named = dict(model.named_parameters())
        return sequence_check_values(loss, {n: p.grad for n, p in named.items()},
                                     {n: p.data for n, p in named.items()})

    return Bench(run, check_values)

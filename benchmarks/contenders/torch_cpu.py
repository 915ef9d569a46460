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
    sequence_check_values,
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


class NamesTransformer(torch.nn.Module):
    """The names example's causal pre-norm transformer, written with torch.nn."""

    def __init__(self, vocab, length, width, layers, heads):
        super().__init__()
        self.token = torch.nn.Embedding(vocab, width)
        self.position = torch.nn.Embedding(length, width)
        layer = torch.nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0,
                                                 batch_first=True, norm_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, layers, norm=torch.nn.LayerNorm(width),
                                                   enable_nested_tensor=False)
        self.head = torch.nn.Linear(width, vocab)
        self.register_buffer("mask", torch.nn.Transformer.generate_square_subsequent_mask(length))

    def forward(self, indices):
        x = self.token(indices) + self.position(torch.arange(indices.shape[1]))
        return self.head(self.encoder(x, mask=self.mask, is_causal=True))


class NamesLSTM(torch.nn.Module):
    """The names example's LSTM: an embedding, an LSTM of twice its width, a head."""

    def __init__(self, vocab, width):
        super().__init__()
        self.token = torch.nn.Embedding(vocab, width)
        self.lstm = torch.nn.LSTM(width, 2 * width, batch_first=True)
        self.head = torch.nn.Linear(2 * width, vocab)

    def forward(self, indices):
        return self.head(self.lstm(self.token(indices))[0])


def torch_name(name):
    """PyTorch's name of a tinygrad_nn parameter (in_proj.weight is in_proj_weight)."""
    return name.replace("in_proj.weight", "in_proj_weight").replace("in_proj.bias",
                                                                    "in_proj_bias")


def transposed(name, array):
    """tinygrad_nn's layout -> PyTorch's: every 2-D weight but an embedding's is transposed."""
    return array.T if array.ndim == 2 and "token" not in name and "position" not in name \
        else array


def sequence_step(problem) -> Bench:
    if problem.kind == "transformer":
        model = NamesTransformer(problem.vocab, problem.inputs.shape[1], problem.width,
                                 problem.layers, problem.heads)
    else:
        model = NamesLSTM(problem.vocab, problem.width)
    own = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in problem.parameters.items():
            own[torch_name(name)].copy_(torch.from_numpy(transposed(name, value)))
    vocab = problem.vocab

    def loss_fn(logits, targets):
        return F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1), ignore_index=-1)

    run = sgd_step(model, loss_fn, torch.from_numpy(problem.inputs),
                   torch.from_numpy(problem.targets), problem.lr)

    def check_values(loss):
        gradients, values = {}, {}
        for name in problem.parameters:
            parameter = own[torch_name(name)]
            gradients[name] = transposed(name, parameter.grad.numpy())
            values[name] = transposed(name, parameter.detach().numpy())
        return sequence_check_values(loss, gradients, values)

    return Bench(run, check_values)

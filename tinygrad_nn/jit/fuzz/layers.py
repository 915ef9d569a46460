"""The layers the fuzzer builds its models from: one `Layer` row each.

A model is a chain of layers, each chosen among the rows that accept the current *kind* of
value (per sample, without the batch axis):

    "features"  (F,)            float
    "sequence"  (L, F)          float (a batch is (N, L, F), batch first)
    "image"     (C, H, W)       float
    "tokens"    (L,)            integer indices in [0, V) (its shape here is (L, V))

`build(shape, rng)` makes the module (its sizes and initial values drawn from `rng`) and returns
it with the shape of its output. Adding a layer is one row, for example:

    Layer("GRU", ("sequence",), lambda s, rng: (FirstOutput(nn.GRU(s[1], 4, batch_first=True)),
                                                (s[0], 4))),

(`FirstOutput` keeps the first of the results of a layer that returns several.)
"""
import dataclasses

import numpy as np

from ... import gelu, nn


@dataclasses.dataclass(frozen=True)
class Layer:
    name: str
    kinds: tuple          # the kinds of value it takes
    build: object         # (per-sample shape, numpy Generator) -> (Module, output shape)
    becomes: str = ""     # the kind it returns ("" : the kind it took)


class FirstOutput(nn.Module):
    """The first result of a layer that returns several (an RNN's (output, state))."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)[0]


class GELU(nn.Module):
    """x Φ(x): tg.gelu as a layer (exact, through erf, or approximate="tanh")."""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return gelu(x, approximate=self.approximate)


class SelfAttention(nn.Module):
    """An attention layer (MultiheadAttention, or a transformer encoder layer or stack) on a
    sequence attending to itself, causally or not."""

    def __init__(self, layer, causal):
        super().__init__()
        self.layer, self.causal = layer, causal

    def forward(self, x):
        if isinstance(self.layer, nn.MultiheadAttention):
            return self.layer(x, x, x, need_weights=False, is_causal=self.causal)[0]
        return self.layer(x, is_causal=self.causal)


def _size(rng, low=1, high=6):
    return int(rng.integers(low, high + 1))


def _dense(shape, rng):
    out = _size(rng, 1, 7)
    return nn.Dense(shape[-1], out, rng=rng, init=str(rng.choice(["he", "xavier"]))), \
        shape[:-1] + (out,)


def _conv(shape, rng):
    channels, height, width = shape
    kernel = _size(rng, 1, min(3, height, width))
    padding = int(rng.integers(0, 2))
    stride = int(rng.integers(1, 3))
    out = _size(rng, 1, 4)
    layer = nn.Conv2d(channels, out, kernel, stride=stride, padding=padding, rng=rng)
    return layer, (out, (height + 2 * padding - kernel) // stride + 1,
                   (width + 2 * padding - kernel) // stride + 1)


def _pool(kind):
    def build(shape, rng):
        channels, height, width = shape
        kernel = _size(rng, 1, min(2, height, width))
        stride = _size(rng, 1, kernel)
        return kind(kernel, stride), (channels, (height - kernel) // stride + 1,
                                      (width - kernel) // stride + 1)
    return build


def _recurrent(kind):
    def build(shape, rng):
        hidden, directions = _size(rng, 1, 4), int(rng.integers(1, 3))
        layer = kind(shape[1], hidden, num_layers=_size(rng, 1, 2), batch_first=True,
                     dropout=float(rng.choice([0.0, 0.3])), bidirectional=directions == 2,
                     rng=int(rng.integers(1000)))
        return FirstOutput(layer), (shape[0], directions * hidden)
    return build


def _heads(features, rng):
    return int(rng.choice([h for h in range(1, features + 1) if features % h == 0]))


def _attention(shape, rng):
    layer = nn.MultiheadAttention(shape[1], _heads(shape[1], rng), batch_first=True,
                                  dropout=float(rng.choice([0.0, 0.2])),
                                  rng=int(rng.integers(1000)))
    return SelfAttention(layer, bool(rng.integers(2))), shape


def _encoder(shape, rng):
    layer = nn.TransformerEncoderLayer(
        shape[1], _heads(shape[1], rng), dim_feedforward=_size(rng, 2, 8),
        dropout=float(rng.choice([0.0, 0.2])), activation=str(rng.choice(["relu", "gelu"])),
        batch_first=True, norm_first=bool(rng.integers(2)), rng=int(rng.integers(1000)))
    if rng.integers(2):
        layer = nn.TransformerEncoder(layer, _size(rng, 1, 2))
    return SelfAttention(layer, bool(rng.integers(2))), shape


def _same(make):
    return lambda shape, rng: (make(shape, rng), shape)


FLOATS = ("features", "sequence", "image")
LAYERS = [
    Layer("Dense", ("features", "sequence"), _dense),
    Layer("ReLU", FLOATS, _same(lambda s, rng: nn.ReLU())),
    Layer("Tanh", FLOATS, _same(lambda s, rng: nn.Tanh())),
    Layer("Sigmoid", FLOATS, _same(lambda s, rng: nn.Sigmoid())),
    Layer("LeakyReLU", FLOATS, _same(lambda s, rng: nn.LeakyReLU(float(rng.choice(
        [0.01, 0.2]))))),
    Layer("Identity", FLOATS, _same(lambda s, rng: nn.Identity())),
    Layer("GELU", FLOATS, _same(lambda s, rng: GELU(str(rng.choice(["none", "tanh"]))))),
    Layer("Softmax", ("features", "sequence"), _same(lambda s, rng: nn.Softmax(-1))),
    Layer("Dropout", FLOATS, _same(lambda s, rng: nn.Dropout(float(rng.choice([0.0, 0.2, 0.5])),
                                                             rng=int(rng.integers(1000))))),
    Layer("BatchNorm1d", ("features", "sequence"), _same(lambda s, rng: nn.BatchNorm1d(
        s[0], momentum=float(rng.choice([0.1, 0.5]))))),
    Layer("LayerNorm", FLOATS, _same(lambda s, rng: nn.LayerNorm(s[-1]))),
    Layer("Conv2d", ("image",), _conv),
    Layer("BatchNorm2d", ("image",), _same(lambda s, rng: nn.BatchNorm2d(s[0]))),
    Layer("MaxPool2d", ("image",), _pool(nn.MaxPool2d)),
    Layer("AvgPool2d", ("image",), _pool(nn.AvgPool2d)),
    Layer("Flatten", ("sequence", "image"), lambda s, rng: (nn.Flatten(), (int(np.prod(s)),)),
          "features"),
    Layer("Embedding", ("tokens",), lambda s, rng: (
        nn.Embedding(s[1], d := _size(rng, 1, 4), rng=rng), (s[0], d)), "sequence"),
    Layer("RNN", ("sequence",), _recurrent(nn.RNN)),
    Layer("LSTM", ("sequence",), _recurrent(nn.LSTM)),
    Layer("GRU", ("sequence",), _recurrent(nn.GRU)),
    Layer("MultiheadAttention", ("sequence",), _attention),
    Layer("TransformerEncoderLayer", ("sequence",), _encoder),
]
BY_NAME = {layer.name: layer for layer in LAYERS}

"""TransformerEncoderLayer and TransformerEncoder against a NumPy re-implementation of
PyTorch's definitions (float64, 1e-10 relative), and the independence of the encoder's copies."""
import copy
import math

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn

from test_attention import close, reference_multihead  # tests/nn is on sys.path

pytestmark = pytest.mark.usefixtures("float64_default")

ERF = np.vectorize(math.erf)
ACTIVATIONS = {"relu": lambda x: np.maximum(x, 0), "gelu": lambda x: x * (1 + ERF(x / 2 ** .5)) / 2}


def layer_norm(x, norm):
    mean, var = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
    y = (x - mean) / np.sqrt(var + norm.eps) * norm.weight.data
    return y if norm.bias is None else y + norm.bias.data


def dense(x, layer):
    return x @ layer.weight.data + (0 if layer.bias is None else layer.bias.data)


def reference_layer(layer, x, activation, allowed=None):
    """x (N, S, E) through PyTorch's encoder layer (dropout off)."""
    def attention(y):
        return reference_multihead(layer.self_attn, y, y, y, allowed)[0]

    def feed_forward(y):
        return dense(ACTIVATIONS[activation](dense(y, layer.linear1)), layer.linear2)
    if layer.norm_first:
        x = x + attention(layer_norm(x, layer.norm1))
        return x + feed_forward(layer_norm(x, layer.norm2))
    x = layer_norm(x + attention(x), layer.norm1)
    return layer_norm(x + feed_forward(x), layer.norm2)


def randomised(layer, seed=0):
    """The layer with every parameter redrawn (norm weights and zero biases would hide
    mistakes)."""
    rng = np.random.default_rng(seed)
    for parameter in layer.parameters():
        parameter.data[...] = rng.normal(size=parameter.shape) * 0.5
    return layer


X = np.random.default_rng(20).normal(size=(2, 5, 8))


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_the_reference(norm_first, activation):
    layer = randomised(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3, activation=activation,
                                                  batch_first=True, norm_first=norm_first,
                                                  rng=0))
    layer.eval()
    padding = np.array([[False] * 4 + [True], [False] * 5])
    out = layer(X, src_key_padding_mask=padding, is_causal=True)
    allowed = np.tri(5, dtype=bool) & ~padding[:, None, None, :]
    close(out.data, reference_layer(layer, X, activation, allowed))
    x = tg.Tensor(X[:1, :3], requires_grad=True)
    assert tg.gradcheck(lambda x: layer(x, is_causal=True), (x,))


def test_bias_false_drops_every_bias_and_names_follow_pytorch():
    layer = nn.TransformerEncoderLayer(8, 2, 16, bias=False, rng=0)
    assert [name for name, _ in layer.named_parameters()] == [
        "self_attn.in_proj.weight", "self_attn.out_proj.weight", "linear1.weight",
        "linear2.weight", "norm1.weight", "norm2.weight"]
    layer = randomised(layer)
    layer.eval()
    x = X.transpose(1, 0, 2)  # sequence first, the default
    close(layer(x).data, reference_layer(layer, X, "relu").transpose(1, 0, 2))
    full = nn.TransformerEncoderLayer(8, 2, 16, rng=0)
    assert [name for name, _ in full.named_parameters()][4:] == [
        "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias", "norm1.weight",
        "norm1.bias", "norm2.weight", "norm2.bias"]
    assert np.abs(full.linear1.bias.data).max() <= 1 / math.sqrt(8)  # torch.nn.Linear's init
    assert np.abs(full.linear2.weight.data).max() <= 1 / 4 and full.linear2.bias.data.any()


def test_dropout_in_training_mode_changes_the_output_and_eval_does_not():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5, batch_first=True, rng=1)
    outputs = [layer(X).data for _ in range(2)]
    assert not np.array_equal(outputs[0], outputs[1])
    layer.eval()
    close(layer(X).data, reference_layer(layer, X, "relu"))


def test_encoder_stacks_independent_copies_and_the_final_norm():
    prototype = randomised(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.2, batch_first=True,
                                                      norm_first=True, rng=2))
    before = {name: p.data.copy() for name, p in prototype.named_parameters()}
    state = copy.deepcopy(prototype.dropout.rng.bit_generator.state)
    encoder = nn.TransformerEncoder(prototype, 3, norm=nn.LayerNorm(8))
    assert len(encoder.layers) == 3 and len(encoder.parameters()) == 3 * 12 + 2
    ids = {id(p) for p in encoder.parameters()} | {id(p) for p in prototype.parameters()}
    assert len(ids) == 3 * 12 + 2 + 12  # nothing shared
    with tg.no_grad():
        encoder.layers[0].linear1.weight.mul_(2.0)
    assert np.array_equal(encoder.layers[1].linear1.weight.data, before["linear1.weight"])
    assert np.array_equal(prototype.linear1.weight.data, before["linear1.weight"])
    generators = [layer.dropout.rng for layer in encoder.layers]
    assert generators[0] is encoder.layers[0].dropout1.rng  # shared inside a layer, as before
    draws = [g.random(4).tolist() for g in generators] + [prototype.dropout.rng.random(4)
                                                          .tolist()]
    assert len({tuple(d) for d in draws}) == 4  # every copy has its own stream
    prototype.dropout.rng.bit_generator.state = state
    encoder.eval()
    x = X
    for layer in encoder.layers:
        x = reference_layer(layer, x, "relu", np.tri(5, dtype=bool))
    close(encoder(X, is_causal=True).data, layer_norm(x, encoder.norm))


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.TransformerEncoderLayer(8, 3), ValueError, "divisible"),
    (lambda: nn.TransformerEncoderLayer(8, 2, activation="tanh"), ValueError, "activation"),
    (lambda: nn.TransformerEncoder(nn.Dense(2, 2), 0), ValueError, "num_layers"),
    (lambda: nn.TransformerEncoder("layer", 2), TypeError, "encoder_layer"),
])
def test_mistakes_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_layer_norm_without_bias():
    norm = nn.LayerNorm(4, bias=False)
    assert norm.bias is None and list(norm.state_dict()) == ["weight"]
    x = np.random.default_rng(3).normal(size=(2, 4))
    close(norm(x).data, (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True)
                                                                    + 1e-5))

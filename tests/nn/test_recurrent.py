"""Recurrent cells and layers against NumPy re-implementations of PyTorch's formulas (float64,
1e-10 relative), their gradients against central differences of those re-implementations, and
every mistake named."""
import copy

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn

pytestmark = pytest.mark.usefixtures("float64_default")


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def rnn_cell(x, h, p, nonlinearity="tanh"):
    pre = x @ p["weight_ih"] + p.get("bias_ih", 0) + h @ p["weight_hh"] + p.get("bias_hh", 0)
    return np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0)


def lstm_cell(x, state, p):
    h, c = state
    gates = x @ p["weight_ih"] + p.get("bias_ih", 0) + h @ p["weight_hh"] + p.get("bias_hh", 0)
    i, f, g, o = np.split(gates, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def gru_cell(x, h, p):
    gi = x @ p["weight_ih"] + p.get("bias_ih", 0)
    gh = h @ p["weight_hh"] + p.get("bias_hh", 0)
    (i_r, i_z, i_n), (h_r, h_z, h_n) = np.split(gi, 3, axis=-1), np.split(gh, 3, axis=-1)
    r, z = sigmoid(i_r + h_r), sigmoid(i_z + h_z)
    n = np.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


CELLS = {"RNN": rnn_cell, "LSTM": lstm_cell, "GRU": gru_cell}


def reference_layer(kind, params, x, state, num_layers, directions, masks=(),
                    nonlinearity="tanh"):
    """output (T, N, D·H), final states: PyTorch's stacked (bi)directional recurrence, layer by
    layer, the input of layer k > 0 multiplied by masks[k - 1] (dropout) when given."""
    cell = CELLS[kind]
    if kind == "RNN":
        def cell(x, h, p):
            return rnn_cell(x, h, p, nonlinearity)
    finals = []
    for layer in range(num_layers):
        if layer and masks:
            x = x * masks[layer - 1]
        outputs = []
        for direction in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            p = {name[:-len(suffix)]: value for name, value in params.items()
                 if name.endswith(suffix) and not name[:-len(suffix)].endswith("_l0")}
            k = layer * directions + direction
            s = tuple(part[k] for part in state) if kind == "LSTM" else state[k]
            out = [None] * len(x)
            for t in (reversed(range(len(x))) if direction else range(len(x))):
                s = cell(x[t], s, p)
                out[t] = s[0] if kind == "LSTM" else s
            outputs.append(np.stack(out))
            finals.append(s)
        x = np.concatenate(outputs, axis=-1)
    if kind == "LSTM":
        return x, tuple(np.stack([f[i] for f in finals]) for i in range(2))
    return x, np.stack(finals)


def numeric_gradient(loss, array, eps=1e-6):
    """Central differences of loss() with respect to every element of `array` (in place)."""
    gradient = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        up = loss()
        array[index] = saved - eps
        down = loss()
        array[index] = saved
        gradient[index] = (up - down) / (2 * eps)
    return gradient


def close(a, b, rtol=1e-10):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    assert np.max(np.abs(a - b)) <= rtol * max(np.max(np.abs(b)), 1e-300)


LAYER_CASES = [
    ("RNN", dict()), ("RNN", dict(nonlinearity="relu", num_layers=2)),
    ("LSTM", dict(num_layers=2, bidirectional=True)), ("LSTM", dict(bias=False)),
    ("GRU", dict(bidirectional=True, batch_first=True)), ("GRU", dict(num_layers=2)),
]


@pytest.mark.parametrize("kind, options", LAYER_CASES)
def test_layers_match_the_reference_values_and_gradients(kind, options):
    layer = getattr(nn, kind)(2, 3, rng=0, **options)
    rng = np.random.default_rng(1)
    num_layers, directions = options.get("num_layers", 1), 1 + options.get("bidirectional", 0)
    x = rng.normal(size=(4, 2, 2))
    shape = (num_layers * directions, 2, 3)
    state = (rng.normal(size=shape), rng.normal(size=shape)) if kind == "LSTM" \
        else rng.normal(size=shape)
    layout = (lambda a: a.transpose(1, 0, 2)) if options.get("batch_first") else (lambda a: a)
    output, final = layer(tg.Tensor(layout(x)), state)
    params = {name: p.data for name, p in layer.named_parameters()}
    nonlinearity = options.get("nonlinearity", "tanh")
    expected_output, expected_final = reference_layer(kind, params, x, state, num_layers,
                                                      directions, nonlinearity=nonlinearity)
    close(output.data, layout(expected_output))
    for got, want in zip(final if kind == "LSTM" else (final,),
                         expected_final if kind == "LSTM" else (expected_final,)):
        close(got.data, want)
    weights = rng.normal(size=expected_output.shape)

    def reference_loss():
        output = reference_layer(kind, params, x, state, num_layers, directions,
                                 nonlinearity=nonlinearity)[0]
        return float((output * weights).sum())
    (output * tg.Tensor(layout(weights))).sum().backward()
    for name, parameter in layer.named_parameters():
        np.testing.assert_allclose(parameter.grad.data,
                                   numeric_gradient(reference_loss, params[name]),
                                   rtol=1e-6, atol=1e-8, err_msg=name)


def test_parameter_names_shapes_and_initialisation_are_pytorchs():
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, rng=0)
    names = [name for name, _ in lstm.named_parameters()]
    assert names == [f"{kind}_l{layer}{suffix}" for layer in (0, 1) for suffix in ("", "_reverse")
                     for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    shapes = dict((name, p.shape) for name, p in lstm.named_parameters())
    assert shapes["weight_ih_l0"] == (3, 16) and shapes["weight_ih_l1"] == (8, 16)
    assert shapes["weight_hh_l1_reverse"] == (4, 16) and shapes["bias_hh_l0"] == (16,)
    values = np.concatenate([p.data.ravel() for p in nn.GRU(50, 100, rng=0).parameters()])
    assert np.abs(values).max() <= 0.1 and np.abs(values).max() > 0.099  # U(±1/√100)
    assert abs(values.mean()) < 0.002 and values.std() == pytest.approx(0.1 / np.sqrt(3), rel=0.01)
    assert [n for n, _ in nn.RNN(2, 3, bias=False).named_parameters()] == ["weight_ih_l0",
                                                                          "weight_hh_l0"]


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_the_reference_batched_and_unbatched(kind):
    cell = getattr(nn, kind)(3, 4, rng=2)
    params = {name: p.data for name, p in cell.named_parameters()}
    rng = np.random.default_rng(3)
    reference = CELLS[kind.removesuffix("Cell")]
    for x_shape in ((2, 3), (3,)):
        x, h, c = rng.normal(size=x_shape), rng.normal(size=x_shape[:-1] + (4,)), None
        if kind == "LSTMCell":
            c = rng.normal(size=h.shape)
            for got, want in zip(cell(x, (h, c)), reference(x, (h, c), params)):
                close(got.data, want)
            zero = np.zeros_like(h)
            close(cell(x)[1].data, reference(x, (zero, zero), params)[1])
        else:
            close(cell(x, h).data, reference(x, h, params))
            close(cell(tg.Tensor(x)).data, reference(x, np.zeros_like(h), params))


def test_cell_gradients_pass_gradcheck():
    cell = nn.GRUCell(2, 3, rng=4)
    x = tg.Tensor(np.random.default_rng(5).normal(size=(2, 2)), requires_grad=True)
    h = tg.Tensor(np.random.default_rng(6).normal(size=(2, 3)), requires_grad=True)
    assert tg.gradcheck(lambda x, h: cell(x, h), (x, h))
    lstm = nn.LSTMCell(2, 3, rng=4)
    assert tg.gradcheck(lambda x, h: lstm(x, (h, h * 2))[1], (x, h))


def test_unbatched_input_and_a_long_sequence():
    lstm = nn.LSTM(2, 3, num_layers=2, rng=0)
    x = np.random.default_rng(7).normal(size=(6, 2))
    output, (h, c) = lstm(x)
    batched, (hb, cb) = lstm(x[:, None, :])
    assert output.shape == (6, 3) and h.shape == c.shape == (2, 3)
    close(output.data, batched.data[:, 0])
    close(h.data, hb.data[:, 0])
    long = tg.Tensor(np.random.default_rng(8).normal(size=(3000, 1, 2)) * 0.1,
                     requires_grad=True)
    output, _ = nn.GRU(2, 2, rng=0)(long)  # backpropagation through time: no recursion
    output[-1].sum().backward()
    assert long.grad.shape == (3000, 1, 2) and np.isfinite(long.grad.data).all()


def test_dropout_between_layers_uses_the_layers_generator():
    gru = nn.GRU(3, 4, num_layers=3, dropout=0.4, rng=9)
    x = np.random.default_rng(10).normal(size=(5, 2, 3))
    draws = copy.deepcopy(gru.rng)
    masks = [(draws.random((5, 2, 4)) >= 0.4) / 0.6 for _ in range(2)]
    params = {name: p.data for name, p in gru.named_parameters()}
    output, _ = gru(x)
    expected, _ = reference_layer("GRU", params, x, np.zeros((3, 2, 4)), 3, 1, masks)
    close(output.data, expected)
    gru.eval()
    expected, _ = reference_layer("GRU", params, x, np.zeros((3, 2, 4)), 3, 1)
    close(gru(x)[0].data, expected)


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.LSTM(3, 4)(np.zeros((5, 2, 2))), ValueError, r"\(5, 2, 2\).*\(T, N, 3\)"),
    (lambda: nn.GRU(3, 4, batch_first=True)(np.zeros(3)), ValueError, r"\(N, T, 3\)"),
    (lambda: nn.RNN(3, 4)(np.zeros((5, 2, 3)), np.zeros((1, 3, 4))), ValueError,
     r"state h has shape \(1, 3, 4\), expected \(1, 2, 4\)"),
    (lambda: nn.LSTM(3, 4)(np.zeros((5, 2, 3)), np.zeros((1, 2, 4))), ValueError, r"pair"),
    (lambda: nn.LSTM(3, 4, num_layers=2)(np.zeros((5, 2, 3)),
                                         (np.zeros((2, 2, 4)), np.zeros((1, 2, 4)))),
     ValueError, r"state c has shape \(1, 2, 4\), expected \(2, 2, 4\)"),
    (lambda: nn.LSTMCell(3, 4)(np.zeros((2, 4))), ValueError, r"\(2, 4\).*\(N, 3\)"),
    (lambda: nn.RNNCell(3, 4, nonlinearity="sigmoid"), ValueError, "nonlinearity"),
    (lambda: nn.RNN(3, 4, dropout=1.0), ValueError, "dropout"),
    (lambda: nn.GRU(3, 0), ValueError, "hidden_size"),
    (lambda: nn.LSTM(3, 4, bidirectional=1), TypeError, "bidirectional"),
    (lambda: nn.GRUCell(3, 4)(np.zeros((2, 3), np.int64)), TypeError, "floating-point"),
])
def test_mistakes_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_refused_nonlinearity_draws_nothing():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    with pytest.raises(ValueError):
        nn.RNN(2, 2, nonlinearity="gelu", rng=rng)
    assert rng.bit_generator.state == state

"""nn layers: Dense, containers, activations, Dropout, normalisation and Embedding, against
NumPy re-implementations of their PyTorch definitions."""
import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn


# --------------------------------------------------------------------------- Dense

def test_dense_shapes_dtype_and_zero_bias():
    layer = nn.Dense(3, 5, rng=0)
    assert layer.weight.shape == (3, 5) and layer.bias.shape == (5,)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    assert not layer.bias.data.any()
    x = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    y = layer(tg.Tensor(x))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), x @ layer.weight.data + layer.bias.data, rtol=1e-6)
    assert nn.Linear is nn.Dense
    assert nn.Dense(3, 5, bias=False).bias is None
    assert [n for n, _ in nn.Dense(3, 5, bias=False).named_parameters()] == ["weight"]


def test_dense_follows_the_default_dtype(float64_default):
    layer = nn.Dense(2, 2, rng=0)
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64


@pytest.mark.parametrize("init, expected_std", [
    ("he", np.sqrt(2 / 400)), ("xavier", np.sqrt(2 / 700)), ("normal", 0.01)])
def test_dense_initial_weight_statistics(init, expected_std):
    weight = nn.Dense(400, 300, init=init, rng=0).weight.data
    assert abs(weight.mean()) < 5 * expected_std / np.sqrt(weight.size)  # 5 standard errors
    assert weight.std() == pytest.approx(expected_std, rel=0.02)


def test_dense_rng_reproduces_and_bad_init_is_refused():
    a = nn.Dense(4, 4, rng=np.random.default_rng(7)).weight.data
    b = nn.Dense(4, 4, rng=np.random.default_rng(7)).weight.data
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="init must be one of"):
        nn.Dense(4, 4, init="uniform")


def test_dense_wrong_input_width_names_expected_and_got():
    layer = nn.Dense(3, 2, rng=0)
    with pytest.raises(ValueError, match=r"last dimension 3, got shape \(4, 2\)"):
        layer(tg.Tensor(np.ones((4, 2), dtype=np.float32)))


def test_dense_gradient_matches_the_formula():
    layer = nn.Dense(3, 2, rng=0)
    x = tg.Tensor(np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32),
                  requires_grad=True)
    upstream = np.random.default_rng(2).normal(size=(5, 2)).astype(np.float32)
    layer(x).backward(upstream)
    np.testing.assert_allclose(layer.weight.grad.numpy(), x.data.T @ upstream, rtol=1e-5)
    np.testing.assert_allclose(layer.bias.grad.numpy(), upstream.sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), upstream @ layer.weight.data.T, rtol=1e-5)


# --------------------------------------------------------------------------- Sequential

def test_sequential_indexing_length_iteration_and_slices():
    first, act, last = nn.Dense(2, 3, rng=0), nn.Tanh(), nn.Dense(3, 1, rng=0)
    model = nn.Sequential(first, act, last)
    assert len(model) == 3 and list(model) == [first, act, last]
    assert model[0] is first and model[-1] is last
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [first, act]
    x = tg.Tensor(np.ones((2, 2), dtype=np.float32))
    np.testing.assert_array_equal(model(x).numpy(), last(act(first(x))).numpy())
    with pytest.raises(TypeError, match=r"got a ufunc \(as its item 1\)"):
        nn.Sequential(first, np.tanh)


# --------------------------------------------------------------------------- activations

@pytest.mark.parametrize("module, reference", [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.LeakyReLU(0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.Tanh(), np.tanh),
    (nn.Softmax(axis=0), lambda x: np.exp(x) / np.exp(x).sum(axis=0)),
    (nn.Identity(), lambda x: x),
], ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "")
def test_activation_modules(module, reference):
    x = np.random.default_rng(0).normal(size=(4, 3))
    np.testing.assert_allclose(module(tg.Tensor(x)).numpy(), reference(x), rtol=1e-12)


# --------------------------------------------------------------------------- Dropout

def test_dropout_scales_survivors_and_draws_a_new_mask_each_call():
    dropout = nn.Dropout(0.25, rng=0)
    x = tg.Tensor(np.ones((200, 200), dtype=np.float32), requires_grad=True)
    first = dropout(x)
    kept = first.numpy() != 0
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first.numpy()[kept], np.float32(1 / 0.75))
    assert kept.mean() == pytest.approx(0.75, abs=0.01)
    first.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), first.numpy())  # the gradient is the mask
    second = dropout(x).numpy()
    assert not np.array_equal(second != 0, kept)


def test_dropout_is_the_identity_in_eval_mode_and_reproducible_from_rng():
    x = tg.Tensor(np.arange(12.0).reshape(3, 4))
    model = nn.Sequential(nn.Dropout(0.5, rng=1))
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), x.numpy())
    model.train()
    np.testing.assert_array_equal(nn.Dropout(0.5, rng=3)(x).numpy(),
                                  nn.Dropout(0.5, rng=3)(x).numpy())
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_probability_out_of_range(p):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        nn.Dropout(p)


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.Dense(0, 4), ValueError, "in_features must be >= 1, got 0"),
    (lambda: nn.Dense(-1, 4), ValueError, "in_features must be >= 1, got -1"),
    (lambda: nn.Dense(2.5, 4), TypeError, "in_features must be an integer, got 2.5"),
    (lambda: nn.Dense(2, "4"), TypeError, "out_features must be an integer"),
    (lambda: nn.Dense(True, 4), TypeError, "in_features must be an integer"),
    (lambda: nn.Dense(2, 4, rng="seed"), TypeError, "rng"),
    (lambda: nn.Dense(2, 4, rng=-1), ValueError, "rng"),
    (lambda: nn.Dense(2, 4, init=["he"]), ValueError, "init must be one of"),
    (lambda: nn.Dropout("0.5"), TypeError, "p must be a real number"),
    (lambda: nn.Dropout(1.0), ValueError, r"p must be in \[0, 1\)"),
    (lambda: nn.LeakyReLU("0.1"), TypeError, "negative_slope"),
])
def test_bad_layer_arguments_name_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --------------------------------------------------------------------------- ModuleList

def test_module_list_registers_appends_indexes_and_slices():
    first, second = nn.Dense(2, 3, rng=0), nn.Dense(3, 1, rng=0)
    layers = nn.ModuleList([first])
    assert layers.append(second) is layers
    assert len(layers) == 2 and list(layers) == [first, second]
    assert layers[0] is first and layers[-1] is second
    assert isinstance(layers[1:], nn.ModuleList) and list(layers[1:]) == [second]
    assert [name for name, _ in layers.named_parameters()] == [
        "0.weight", "0.bias", "1.weight", "1.bias"]
    assert len(nn.ModuleList()) == 0
    with pytest.raises(NotImplementedError):
        layers(np.ones((1, 2), np.float32))


def test_sequential_item_assignment_replaces_the_module_in_place():
    model = nn.Sequential(nn.Dense(2, 3, rng=0), nn.ReLU(), nn.Dense(3, 1, rng=0))
    replacement = nn.Dense(3, 1, rng=7)
    model[-1] = replacement
    model[1] = nn.Tanh()
    assert model[2] is replacement and isinstance(model[1], nn.Tanh) and len(model) == 3
    assert [name for name, _ in model.named_parameters()] == [
        "0.weight", "0.bias", "2.weight", "2.bias"]
    assert model.parameters()[2] is replacement.weight
    x = tg.Tensor(np.ones((4, 2), np.float32))
    np.testing.assert_array_equal(model(x).numpy(), replacement(model[0](x).tanh()).numpy())


@pytest.mark.parametrize("call, error, message", [
    (lambda layers: layers.__setitem__(1, nn.ReLU()), IndexError,
     "index 1 is out of range for a ModuleList of length 1"),
    (lambda layers: layers.__setitem__(0, np.tanh), TypeError,
     r"ModuleList takes Modules, got a ufunc \(assigned to item 0\)"),
    (lambda layers: layers.__setitem__(slice(0, 1), [nn.ReLU()]), TypeError,
     "assignment takes one integer index, got a slice"),
    (lambda layers: layers.append(np.tanh), TypeError, r"got a ufunc \(as its item 1\)"),
    (lambda layers: layers.extend([nn.ReLU(), "relu"]), TypeError,
     r"got a str \(as its item 2\)"),
    (lambda layers: layers[2], IndexError, "index 2 is out of range for a ModuleList of "
                                           "length 1"),
    (lambda layers: layers["0"], TypeError, "integers or slices, got str"),
])
def test_module_list_mistakes_change_nothing(call, error, message):
    layers = nn.ModuleList([nn.Tanh()])
    with pytest.raises(error, match=message):
        call(layers)
    assert len(layers) == 1 and isinstance(layers[0], nn.Tanh)


# --------------------------------------------------------------------------- normalisation

def batch_norm_reference(x, weight, bias, eps, axes):
    """torch.nn.BatchNorm's training-mode output in float64: batch mean, biased variance."""
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    shape = mean.shape
    return (x - mean) / np.sqrt(var + eps) * weight.reshape(shape) + bias.reshape(shape)


def normalisation_input_gradient(x, g, weight, eps, axes):
    """The closed-form input gradient of (x - mean) / √(var + eps) · weight over `axes`:
    weight / σ · (g - mean(g) - x̂ · mean(g · x̂))."""
    mean = x.mean(axis=axes, keepdims=True)
    std = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    x_hat = (x - mean) / std
    gw = g * weight
    return (gw - gw.mean(axis=axes, keepdims=True)
            - x_hat * (gw * x_hat).mean(axis=axes, keepdims=True)) / std


BATCH_NORMS = [(nn.BatchNorm1d, (6, 3), (0,)), (nn.BatchNorm1d, (5, 3, 4), (0, 2)),
               (nn.BatchNorm2d, (4, 3, 5, 2), (0, 2, 3))]


def with_affine(layer, rng):
    weight, bias = rng.normal(size=layer.weight.shape), rng.normal(size=layer.bias.shape)
    with tg.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return weight, bias


@pytest.mark.parametrize("layer_class, shape, axes", BATCH_NORMS)
def test_batch_norm_training_matches_the_definition(layer_class, shape, axes, float64_default):
    rng = np.random.default_rng(0)
    layer = layer_class(3, eps=1e-3, momentum=0.2)
    weight, bias = with_affine(layer, rng)
    x = rng.normal(2.0, 3.0, size=shape)
    g = rng.normal(size=shape)
    xt = tg.Tensor(x, requires_grad=True)
    y = layer(xt)
    (y * tg.Tensor(g)).sum().backward()
    np.testing.assert_allclose(y.numpy(), batch_norm_reference(x, weight, bias, 1e-3, axes),
                               rtol=1e-12, atol=1e-12)
    wshape = (1, 3) + (1,) * (len(shape) - 2)
    np.testing.assert_allclose(
        xt.grad.numpy(),
        normalisation_input_gradient(x, g, weight.reshape(wshape), 1e-3, axes), atol=1e-12)
    x_hat = batch_norm_reference(x, np.ones(3), np.zeros(3), 1e-3, axes)
    np.testing.assert_allclose(layer.weight.grad.numpy(), (g * x_hat).sum(axis=axes),
                               atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad.numpy(), g.sum(axis=axes), atol=1e-12)


@pytest.mark.parametrize("layer_class, shape, axes", BATCH_NORMS)
def test_batch_norm_running_statistics_and_eval_mode(layer_class, shape, axes,
                                                     float64_default):
    rng = np.random.default_rng(1)
    layer = layer_class(3, momentum=0.25)
    np.testing.assert_array_equal(layer.running_mean, np.zeros(3))
    np.testing.assert_array_equal(layer.running_var, np.ones(3))
    running_mean, running_var = np.zeros(3), np.ones(3)
    count = np.prod([shape[a] for a in axes])
    for _ in range(3):
        x = rng.normal(1.0, 2.0, size=shape)
        layer(tg.Tensor(x))
        running_mean = 0.75 * running_mean + 0.25 * x.mean(axis=axes)
        running_var = 0.75 * running_var + 0.25 * x.var(axis=axes) * count / (count - 1)
    np.testing.assert_allclose(layer.running_mean, running_mean, rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, running_var, rtol=1e-12)
    weight, bias = with_affine(layer, rng)
    layer.eval()
    x = rng.normal(size=shape)
    wshape = (1, 3) + (1,) * (len(shape) - 2)
    expected = ((x - running_mean.reshape(wshape)) / np.sqrt(running_var.reshape(wshape) + 1e-5)
                * weight.reshape(wshape) + bias.reshape(wshape))
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-12)
    before = layer.running_mean.copy()
    layer(x)  # eval mode leaves the running statistics alone
    np.testing.assert_array_equal(layer.running_mean, before)


def test_batch_norm_keeps_float32_and_its_state_dict_holds_the_buffers():
    layer = nn.BatchNorm2d(2)
    y = layer(tg.Tensor(np.random.default_rng(0).normal(size=(3, 2, 2, 2)).astype(np.float32)))
    assert y.dtype == np.float32 and layer.running_var.dtype == np.float32
    assert list(layer.state_dict()) == ["weight", "bias", "running_mean", "running_var"]
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]


@pytest.mark.parametrize("layer_class, shape", [(nn.BatchNorm1d, (3, 2)),
                                                (nn.BatchNorm2d, (2, 2, 2, 2)),
                                                (nn.LayerNorm, (2, 3))])
def test_normalisation_gradients_to_second_order(layer_class, shape, float64_default):
    rng = np.random.default_rng(2)
    layer = layer_class(shape[1]) if layer_class is not nn.LayerNorm else layer_class(shape[-1])
    with_affine(layer, rng)
    x = tg.Tensor(rng.normal(size=shape), requires_grad=True)
    assert tg.gradcheck(layer, [x])
    assert tg.gradgradcheck(layer, [x])
    assert tg.gradcheck(lambda weight, bias: layer(x.detach()), [layer.weight, layer.bias])


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.BatchNorm1d(3)(np.ones((1, 3), np.float32)), ValueError,
     r"more than 1 value per channel.*\(1, 3\)"),
    (lambda: nn.BatchNorm2d(3)(np.ones((1, 3, 1, 1), np.float32)), ValueError,
     r"more than 1 value per channel.*\(1, 3, 1, 1\)"),
    (lambda: nn.BatchNorm1d(3)(np.ones((4, 2), np.float32)), ValueError,
     r"C = 3, got shape \(4, 2\)"),
    (lambda: nn.BatchNorm2d(3)(np.ones((4, 3), np.float32)), ValueError,
     r"\(N, C, H, W\) with C = 3, got shape \(4, 3\)"),
    (lambda: nn.BatchNorm1d(0), ValueError, "num_features must be >= 1"),
    (lambda: nn.BatchNorm2d(2.0), TypeError, "num_features must be an integer"),
    (lambda: nn.BatchNorm2d(2, momentum=1.5), ValueError, "momentum"),
    (lambda: nn.BatchNorm2d(2, eps=-1.0), ValueError, "eps"),
    (lambda: nn.BatchNorm2d(2, eps="1e-5"), TypeError, "eps"),
    (lambda: nn.LayerNorm(4)(np.ones((2, 3), np.float32)), ValueError,
     r"\(4,\), got shape \(2, 3\)"),
    (lambda: nn.LayerNorm((2, 3))(np.ones(3, np.float32)), ValueError, r"got shape \(3,\)"),
    (lambda: nn.LayerNorm(()), TypeError, "normalized_shape"),
    (lambda: nn.LayerNorm((2, 0)), ValueError, "normalized_shape must be >= 1"),
    (lambda: nn.LayerNorm(4.0), TypeError, "normalized_shape"),
])
def test_normalisation_mistakes(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_batch_norm_refusing_a_batch_changes_no_running_statistic():
    layer = nn.BatchNorm1d(2)
    with pytest.raises(ValueError):
        layer(np.full((1, 2), 5.0, dtype=np.float32))
    np.testing.assert_array_equal(layer.running_mean, np.zeros(2))
    np.testing.assert_array_equal(layer.running_var, np.ones(2))


def test_layer_norm_matches_the_definition(float64_default):
    rng = np.random.default_rng(3)
    layer = nn.LayerNorm((3, 4), eps=1e-4)
    assert layer.weight.shape == layer.bias.shape == (3, 4)
    assert not list(layer.buffers())
    weight, bias = with_affine(layer, rng)
    x = rng.normal(size=(2, 5, 3, 4))
    g = rng.normal(size=x.shape)
    xt = tg.Tensor(x, requires_grad=True)
    y = layer(xt)
    (y * tg.Tensor(g)).sum().backward()
    mean = x.mean(axis=(-2, -1), keepdims=True)
    std = np.sqrt(x.var(axis=(-2, -1), keepdims=True) + 1e-4)
    np.testing.assert_allclose(y.numpy(), (x - mean) / std * weight + bias, rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(),
                               normalisation_input_gradient(x, g, weight, 1e-4, (-2, -1)),
                               atol=1e-12)
    assert nn.LayerNorm(4)(np.ones((2, 4), np.float32)).shape == (2, 4)


# --------------------------------------------------------------------------- Embedding

def test_embedding_looks_up_rows_and_accumulates_repeated_gradients():
    layer = nn.Embedding(5, 3, rng=0)
    np.testing.assert_array_equal(layer.weight.numpy(), nn.Embedding(5, 3, rng=0).weight.numpy())
    assert layer.weight.shape == (5, 3) and layer.weight.dtype == np.float32
    indices = np.array([[0, 4], [4, 2], [4, 0]])
    out = layer(indices)
    assert out.shape == (3, 2, 3)
    np.testing.assert_array_equal(out.numpy(), layer.weight.numpy()[indices])
    out.sum().backward()
    np.testing.assert_array_equal(layer.weight.grad.numpy()[:, 0], [2, 0, 1, 0, 3])
    assert layer(tg.Tensor(np.array(1))).shape == (3,)
    assert layer([1, 2]).shape == (2, 3)


def test_embedding_weights_are_standard_normal():
    weight = nn.Embedding(1000, 50, rng=1).weight.numpy()
    assert abs(weight.mean()) < 0.01 and abs(weight.std() - 1) < 0.01


@pytest.mark.parametrize("indices, error, message", [
    (np.array([1, 5, 7]), IndexError, "index 5 is out of range for num_embeddings=5"),
    (np.array([[0, -1]]), IndexError, "index -1 is out of range for num_embeddings=5"),
    (np.array([1.5, 2.0]), TypeError, "integer indices, got dtype float64$"),
    (np.array([1.0, 2.0]), TypeError, r"integer indices, got dtype float64; pass integers: "
                                      r"np.array\(\[0, 1, 2\]\)"),
    (tg.Tensor([1, 0]), TypeError, r"integer indices, got a float32 Tensor: a Python list given "
                                   r"to tg.Tensor becomes float32, the default dtype, even when "
                                   r"its numbers are whole; pass integers: np.array\(\[0, 1, "
                                   r"2\]\), tg.Tensor\(np.array\(indices\)\) or "
                                   r"indices.astype\(np.int64\)"),
])
def test_embedding_bad_indices(indices, error, message):
    with pytest.raises(error, match=message):
        nn.Embedding(5, 2, rng=0)(indices)


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.Embedding(0, 2), ValueError, "num_embeddings must be >= 1"),
    (lambda: nn.Embedding(3, 2.0), TypeError, "embedding_dim must be an integer"),
])
def test_embedding_bad_sizes(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("layer", [nn.BatchNorm1d(2), nn.LayerNorm(2)])
def test_normalisation_of_integers_is_refused(layer):
    with pytest.raises(TypeError, match=f"{type(layer).__name__} expects floating-point input, "
                                        "got dtype int64"):
        layer(np.arange(6).reshape(3, 2))

"""nn.Conv2d, MaxPool2d, AvgPool2d and Flatten against their torch.nn definitions, computed
independently with NumPy (im2col by slicing and one einsum)."""
import re

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn


def im2col_conv(x, weight, bias, stride, padding):
    """torch.nn.Conv2d: the padded image's windows stacked by kernel offset, one einsum."""
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    kh, kw = weight.shape[2:]
    h_out, w_out = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    cols = np.stack([np.stack([xp[:, :, a:a + sh * h_out:sh, b:b + sw * w_out:sw]
                               for b in range(kw)], axis=-1) for a in range(kh)], axis=-2)
    return np.einsum("nchwab,ocab->nohw", cols, weight) + bias[:, None, None]


def blocks(x, k):
    """Non-overlapping k×k blocks of x (N, C, H, W) as (N, C, H//k, W//k, k·k) (floor)."""
    n, c, h, w = x.shape
    x = x[:, :, :h // k * k, :w // k * k].reshape(n, c, h // k, k, w // k, k)
    return x.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // k, w // k, k * k)


# --------------------------------------------------------------------------- Conv2d

def test_conv2d_shapes_dtype_zero_bias_and_parameter_order():
    conv = nn.Conv2d(3, 8, (3, 2), stride=2, padding=(1, 0), rng=0)
    assert conv.weight.shape == (8, 3, 3, 2) and conv.bias.shape == (8,)
    assert conv.weight.dtype == conv.bias.dtype == np.float32
    assert not conv.bias.data.any()
    assert [name for name, _ in conv.named_parameters()] == ["weight", "bias"]
    assert list(conv.state_dict()) == ["weight", "bias"]
    y = conv(tg.ones(2, 3, 7, 6))
    assert y.shape == (2, 8, 4, 3) and y.dtype == np.float32
    without = nn.Conv2d(3, 8, 3, bias=False)
    assert without.bias is None and [n for n, _ in without.named_parameters()] == ["weight"]
    assert "Conv2d(3, 8, kernel_size=(3, 2), stride=(2, 2), padding=(1, 0)" in repr(conv)


@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 1), ((2, 1), (0, 2)), (3, 0)])
def test_conv2d_forward_and_gradients_match_the_definition(stride, padding):
    rng = np.random.default_rng(1)
    conv = nn.Conv2d(2, 3, (3, 2), stride=stride, padding=padding, rng=rng)
    conv.weight = nn.Parameter(conv.weight.data.astype(np.float64))  # float64 for the check
    conv.bias = nn.Parameter(rng.normal(size=3))
    x = tg.Tensor(rng.normal(size=(2, 2, 6, 5)), requires_grad=True)
    pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    expected = im2col_conv(x.data, conv.weight.data, conv.bias.data, pair(stride), pair(padding))
    y = conv(x)
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-12)
    # the gradient of Σ y·v for the weight is Σ over positions of v times the input window
    v = rng.normal(size=y.shape)
    (y * v).sum().backward()
    step = 1e-6
    for index in [(0, 0, 0, 0), (2, 1, 2, 1)]:
        bumped = conv.weight.data.copy()
        bumped[index] += step
        numeric = ((im2col_conv(x.data, bumped, conv.bias.data, pair(stride), pair(padding))
                    - expected) * v).sum() / step
        np.testing.assert_allclose(conv.weight.grad.data[index], numeric, rtol=1e-4)
    np.testing.assert_allclose(conv.bias.grad.data, v.sum(axis=(0, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize("init, expected_std", [
    ("he", np.sqrt(2 / (16 * 9))), ("xavier", np.sqrt(2 / ((16 + 32) * 9))), ("normal", 0.01)])
def test_conv2d_initial_weight_statistics(init, expected_std):
    weight = nn.Conv2d(16, 32, 3, init=init, rng=0).weight.data
    assert abs(weight.std() / expected_std - 1) < 0.05
    assert abs(weight.mean()) < 0.05 * expected_std * 3


def test_conv2d_rng_reproduces_and_bad_init_is_refused():
    a, b = nn.Conv2d(2, 3, 3, rng=7), nn.Conv2d(2, 3, 3, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    with pytest.raises(ValueError, match="init must be one of"):
        nn.Conv2d(2, 3, 3, init="uniform")


@pytest.mark.parametrize("kwargs, error, message", [
    ({"in_channels": 0}, ValueError, "in_channels must be >= 1"),
    ({"out_channels": 2.0}, TypeError, "out_channels must be an integer"),
    ({"in_channels": True}, TypeError, "in_channels must be an integer"),
    ({"kernel_size": 0}, ValueError, "kernel_size must be >= 1"),
    ({"kernel_size": (3, 3, 3)}, TypeError, r"kernel_size must be an int or an \(h, w\) pair"),
    ({"kernel_size": "3"}, TypeError, "kernel_size must be an integer"),
    ({"stride": 0}, ValueError, "stride must be >= 1"),
    ({"padding": -1}, ValueError, "padding must be >= 0"),
])
def test_conv2d_bad_sizes_name_the_argument(kwargs, error, message):
    args = {"in_channels": 1, "out_channels": 2, "kernel_size": 3} | kwargs
    with pytest.raises(error, match=f"Conv2d: {message}"):
        nn.Conv2d(**args)


def test_conv2d_wrong_input_names_both_shapes():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"\(2, 1, 5, 5\).*\(4, 3, 3, 3\)"):
        conv(tg.ones(2, 1, 5, 5))
    with pytest.raises(ValueError, match=r"\(1, 3, 2, 2\)"):
        conv(tg.ones(1, 3, 2, 2))


# --------------------------------------------------------------------------- pooling, Flatten

@pytest.mark.parametrize("layer, reduce", [(nn.MaxPool2d, np.max), (nn.AvgPool2d, np.mean)])
def test_pools_match_the_definition_with_the_default_stride(layer, reduce):
    x = tg.Tensor(np.random.default_rng(2).normal(size=(2, 3, 7, 6)), requires_grad=True)
    pool = layer(2)
    assert (pool.kernel_size, pool.stride) == ((2, 2), (2, 2))
    y = pool(x)
    np.testing.assert_allclose(y.data, reduce(blocks(x.data, 2), axis=-1), rtol=1e-12)
    y.sum().backward()
    if layer is nn.AvgPool2d:
        expected = np.zeros(x.shape)
        expected[:, :, :6, :6] = 0.25  # the last row is in no window
    else:
        # 1 at each block's maximum (no ties in normal samples), 0 elsewhere
        expected = np.zeros(x.shape)
        window_max = np.repeat(np.repeat(y.data, 2, axis=2), 2, axis=3)
        expected[:, :, :6, :6] = x.data[:, :, :6, :6] == window_max
    np.testing.assert_array_equal(x.grad.data, expected)


def test_pool_layers_with_a_stride_and_their_mistakes():
    pool = nn.AvgPool2d((3, 2), stride=(1, 2))
    assert pool(tg.ones(1, 1, 5, 4)).shape == (1, 1, 3, 2)
    assert repr(pool) == "AvgPool2d(kernel_size=(3, 2), stride=(1, 2))"
    with pytest.raises(ValueError, match="MaxPool2d: kernel_size must be >= 1"):
        nn.MaxPool2d(0)
    with pytest.raises(TypeError, match="AvgPool2d: stride must be an integer"):
        nn.AvgPool2d(2, stride=1.5)
    with pytest.raises(ValueError, match=r"larger than the input of shape \(1, 1, 2, 2\)"):
        nn.MaxPool2d(3)(tg.ones(1, 1, 2, 2))


def test_flatten_keeps_the_first_axis():
    x = tg.Tensor(np.arange(24.0).reshape(2, 3, 2, 2), requires_grad=True)
    y = nn.Flatten()(x)
    assert y.shape == (2, 12)
    np.testing.assert_array_equal(y.data, x.data.reshape(2, 12))
    (y * np.arange(24.0).reshape(2, 12)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.arange(24.0).reshape(2, 3, 2, 2))
    assert nn.Flatten()(tg.ones(0, 3, 2)).shape == (0, 6)
    for shape in [(4,), ()]:  # as torch.nn.Flatten: no axes after the first to flatten
        message = rf"at least 2 axes, got shape {re.escape(str(shape))}"
        with pytest.raises(ValueError, match=message):
            nn.Flatten()(tg.ones(*shape))


def test_a_small_cnn_learns_a_batch():
    rng = np.random.default_rng(3)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 8, 3, padding=1, rng=rng), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Dense(8, 3, rng=rng))
    x = tg.Tensor(rng.normal(size=(6, 1, 4, 4)).astype(np.float32))
    labels = np.array([0, 1, 2, 0, 1, 2])
    optimizer = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(30):
        loss = tg.cross_entropy(model(x), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]

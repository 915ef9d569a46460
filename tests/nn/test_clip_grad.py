"""nn.utils.clip_grad_norm_ and clip_grad_value_: PyTorch's formulas in closed form."""
import math

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn


def parameters_with_gradients(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    parameters = []
    for shape in ((3, 4), (5,), (2, 2, 2)):
        p = nn.Parameter(np.zeros(shape, dtype))
        p.grad = tg.Tensor(rng.normal(size=shape).astype(dtype))
        parameters.append(p)
    return parameters


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_scales_every_gradient_by_one_factor(norm_type, max_norm):
    parameters = parameters_with_gradients()
    flat = np.concatenate([p.grad.data.ravel() for p in parameters])
    total = np.abs(flat).max() if norm_type == math.inf else (np.abs(flat) ** norm_type).sum() \
        ** (1 / norm_type)
    before = [p.grad.data.copy() for p in parameters]
    returned = nn.utils.clip_grad_norm_((p for p in parameters), max_norm, norm_type)
    assert isinstance(returned, float) and returned == pytest.approx(total, rel=1e-12)
    factor = min(1.0, max_norm / (total + 1e-6))
    for p, g in zip(parameters, before):
        np.testing.assert_allclose(p.grad.data, g * factor, rtol=1e-12)


def test_clip_grad_norm_in_float32_one_tensor_and_no_gradients():
    (p, *_) = parameters_with_gradients(dtype=np.float32)
    grad = p.grad
    total = nn.utils.clip_grad_norm_(p, 1.0)
    assert p.grad is grad and p.grad.dtype == np.float32  # in place
    assert np.linalg.norm(p.grad.data) == pytest.approx(1.0, rel=1e-5) and total > 1
    assert nn.utils.clip_grad_norm_([nn.Parameter(np.ones(2))], 1.0) == 0.0


def test_clip_grad_value_clips_in_place():
    parameters = parameters_with_gradients(1)
    before = [p.grad.data.copy() for p in parameters]
    nn.utils.clip_grad_value_(parameters, 0.5)
    for p, g in zip(parameters, before):
        np.testing.assert_array_equal(p.grad.data, np.clip(g, -0.5, 0.5))


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.utils.clip_grad_norm_([np.ones(2)], 1.0), TypeError, "Tensors"),
    (lambda: nn.utils.clip_grad_norm_([], "1"), TypeError, "max_norm"),
    (lambda: nn.utils.clip_grad_norm_([], 1.0, norm_type=0), ValueError, "norm_type"),
    (lambda: nn.utils.clip_grad_value_([], -1.0), ValueError, "clip_value"),
])
def test_mistakes_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()

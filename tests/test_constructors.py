"""The constructors added with the NumPy-named ops: eye, linspace, full, zeros_like, ones_like,
rand, uniform (zeros, ones, randn and arange are tested with Tensor)."""
import numpy as np
import pytest

import tinygrad_nn as tg


@pytest.mark.parametrize("make, expected", [
    (lambda: tg.eye(3), np.eye(3)),
    (lambda: tg.eye(2, 3, k=1), np.eye(2, 3, k=1)),
    (lambda: tg.linspace(0, 1, 5), np.linspace(0, 1, 5)),
    (lambda: tg.linspace(0, 1, 4, endpoint=False), np.linspace(0, 1, 4, endpoint=False)),
    (lambda: tg.full((2, 3), 1.5), np.full((2, 3), 1.5)),
    (lambda: tg.full(4, -2), np.full(4, -2.0)),
    (lambda: tg.zeros_like([[1.0], [2.0]]), np.zeros((2, 1))),
    (lambda: tg.ones_like(tg.Tensor([[1.0, 2.0]])), np.ones((1, 2))),
])
def test_values_in_the_default_dtype(make, expected):
    t = make()
    assert isinstance(t, tg.Tensor) and t.dtype == tg.get_default_dtype()
    np.testing.assert_array_equal(t.data, expected.astype(t.dtype))


def test_like_keeps_the_dtype_and_dtype_and_requires_grad_apply():
    x = tg.Tensor(np.ones(3), dtype=np.float64)
    assert tg.zeros_like(x).dtype == np.float64 and tg.ones_like(x).dtype == np.float64
    assert tg.zeros_like(np.arange(3)).dtype == np.arange(3).dtype  # as np.zeros_like
    t = tg.full((2,), 3.0, requires_grad=True, dtype=np.float64)
    assert t.requires_grad and t.is_leaf and t.dtype == np.float64
    assert tg.eye(2, dtype=np.float64, requires_grad=True).requires_grad


def test_random_draws_come_from_the_generator():
    a = tg.rand(2, 3, rng=np.random.default_rng(0))
    b = tg.uniform(-1.0, 1.0, (2, 3), rng=np.random.default_rng(0))
    assert a.shape == b.shape == (2, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a.data, np.random.default_rng(0).uniform(0, 1, (2, 3))
                                  .astype(np.float32))
    np.testing.assert_allclose(b.data, 2 * a.data - 1, rtol=1e-6)
    assert 0 <= a.data.min() and a.data.max() < 1
    assert tg.uniform(rng=np.random.default_rng(1)).shape == ()

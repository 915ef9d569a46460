"""data: the toy data sets and the mini-batch iterator."""
import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import data

MAKERS = {
    "circles": lambda **kw: data.make_circles(**kw),
    "moons": lambda **kw: data.make_moons(**kw),
    "spirals": lambda **kw: data.make_spirals(**kw),
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_shapes_dtypes_and_equal_classes(name):
    X, y = MAKERS[name](n_samples=120, rng=0)
    assert X.shape == (120, 2) and X.dtype == np.float32
    assert y.shape == (120,) and y.dtype == np.int64
    counts = np.bincount(y)
    assert len(counts) >= 2 and np.all(counts == counts[0])


@pytest.mark.parametrize("name", list(MAKERS))
def test_the_same_seed_gives_the_same_data(name):
    X1, y1 = MAKERS[name](rng=3)
    X2, y2 = MAKERS[name](rng=np.random.default_rng(3))
    X3, _ = MAKERS[name](rng=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


@pytest.mark.parametrize("name", list(MAKERS))
def test_the_default_dtype_is_followed(name):
    tg.set_default_dtype(np.float64)
    try:
        X, _ = MAKERS[name](rng=0)
    finally:
        tg.set_default_dtype(np.float32)
    assert X.dtype == np.float64


def test_circles_radii_are_one_and_factor_without_noise():
    X, y = data.make_circles(n_samples=100, noise=0.0, factor=0.3, rng=0)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(radius[y == 1], 0.3, rtol=1e-6)


def test_circles_noise_is_the_standard_deviation_of_the_added_noise():
    X, y = data.make_circles(n_samples=20000, noise=0.05, factor=0.5, rng=0)
    radius = np.hypot(X[:, 0], X[:, 1])
    assert np.std(radius[y == 0] - 1.0) == pytest.approx(0.05, rel=0.05)


def test_moons_lie_on_the_two_half_circles_without_noise():
    X, y = data.make_moons(n_samples=100, noise=0.0, rng=0)
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, rtol=1e-6)
    assert np.all(upper[:, 1] >= -1e-7)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, rtol=1e-6)
    assert np.all(lower[:, 1] <= 0.5 + 1e-7)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_spirals_have_any_number_of_classes(n_classes):
    X, y = data.make_spirals(n_samples=40 * n_classes, n_classes=n_classes, noise=0.0, rng=0)
    np.testing.assert_array_equal(np.bincount(y), [40] * n_classes)
    radius = np.hypot(X[:, 0], X[:, 1])
    assert radius.min() == pytest.approx(0.1, rel=1e-5)
    assert radius.max() == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("call, message", [
    (lambda: data.make_circles(n_samples=301), "multiple"),
    (lambda: data.make_moons(n_samples=0), "multiple"),
    (lambda: data.make_spirals(n_samples=100, n_classes=3), "multiple"),
    (lambda: data.make_spirals(n_classes=0), "n_classes"),
    (lambda: data.make_circles(factor=1.0), "factor"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_batches_cover_every_sample_once_with_a_smaller_last_batch():
    X = np.arange(23 * 2, dtype=np.float32).reshape(23, 2)
    y = np.arange(23)
    batches = list(data.batches(X, y, batch_size=5, rng=0))
    assert [len(xb) for xb, _ in batches] == [5, 5, 5, 5, 3]
    assert all(isinstance(xb, tg.Tensor) and isinstance(yb, tg.Tensor) for xb, yb in batches)
    seen = np.concatenate([yb.numpy() for _, yb in batches])
    assert sorted(seen) == list(range(23)) and not np.array_equal(seen, np.arange(23))
    for xb, yb in batches:  # rows stay paired with their labels
        np.testing.assert_array_equal(xb.numpy(), X[yb.numpy()])
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == y.dtype


def test_batches_in_order_and_reproducible_shuffles():
    X, y = np.zeros((10, 2)), np.arange(10)
    in_order = [yb.numpy() for _, yb in data.batches(X, y, 4, shuffle=False)]
    np.testing.assert_array_equal(np.concatenate(in_order), np.arange(10))
    first = [yb.numpy() for _, yb in data.batches(X, y, 4, rng=1)]
    again = [yb.numpy() for _, yb in data.batches(X, y, 4, rng=np.random.default_rng(1))]
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(again))
    rng = np.random.default_rng(2)  # one generator: each epoch gets a new order
    epoch1 = np.concatenate([yb.numpy() for _, yb in data.batches(X, y, 4, rng=rng)])
    epoch2 = np.concatenate([yb.numpy() for _, yb in data.batches(X, y, 4, rng=rng)])
    assert not np.array_equal(epoch1, epoch2)
    assert len(list(data.batches(X, y, 100))) == 1


@pytest.mark.parametrize("call, message", [
    (lambda X, y: data.batches(X, y[:-1], 4), "same length"),
    (lambda X, y: data.batches(X, y, 0), "batch_size"),
    (lambda X, y: data.batches(X, y, -2), "batch_size"),
])
def test_batches_bad_arguments_raise_at_the_call(call, message):
    X, y = np.zeros((10, 2)), np.arange(10)
    with pytest.raises(ValueError, match=message):
        call(X, y)  # not only when the first batch is taken
    np.testing.assert_array_equal(y, np.arange(10))

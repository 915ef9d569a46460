"""Toy 2-D classification data sets and a mini-batch iterator.

Each `make_*` returns (X, y): X of shape (N, 2) in the default dtype, y of shape (N,) int64
class labels, every class the same size, rows shuffled. `noise` is the standard deviation of
Gaussian noise added to every coordinate, as in scikit-learn. `rng` is a numpy Generator, an
int seed, or None (fresh randomness); the same seed gives the same data.
"""
import numpy as np

from .tensor import Tensor, get_default_dtype

__all__ = ["make_circles", "make_moons", "make_spirals", "batches"]


def _samples_per_class(n_samples, n_classes):
    if n_samples < n_classes or n_samples % n_classes:
        raise ValueError(f"n_samples must be a positive multiple of the number of classes "
                         f"({n_classes}) so the classes have equal size, got {n_samples}")
    return n_samples // n_classes


def _finish(rng, points, noise):
    """Stack the per-class point arrays, label them 0, 1, ..., add noise, shuffle the rows."""
    X = np.concatenate(points)
    y = np.concatenate([np.full(len(p), label, dtype=np.int64) for label, p in enumerate(points)])
    if noise:
        X = X + rng.normal(scale=noise, size=X.shape)
    order = rng.permutation(len(X))
    return X[order].astype(get_default_dtype()), y[order]


def make_circles(n_samples=300, noise=0.1, factor=0.5, rng=None):
    """Two concentric circles: label 0 on the unit circle, label 1 on the circle of radius
    `factor` (in [0, 1)), each with points evenly spaced in angle before the noise."""
    if not 0 <= factor < 1:
        raise ValueError(f"factor must be in [0, 1), got {factor}")
    rng = np.random.default_rng(rng)
    per_class = _samples_per_class(n_samples, 2)
    angles = np.linspace(0, 2 * np.pi, per_class, endpoint=False)
    unit_circle = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return _finish(rng, [unit_circle, factor * unit_circle], noise)


def make_moons(n_samples=300, noise=0.1, rng=None):
    """Two interleaving half circles of radius 1 (scikit-learn's layout): label 0 the upper
    one centred at (0, 0), label 1 the lower one centred at (1, 0.5)."""
    rng = np.random.default_rng(rng)
    per_class = _samples_per_class(n_samples, 2)
    angles = np.linspace(0, np.pi, per_class)
    upper = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    lower = np.stack([1 - np.cos(angles), 0.5 - np.sin(angles)], axis=1)
    return _finish(rng, [upper, lower], noise)


def make_spirals(n_samples=300, n_classes=3, noise=0.05, rng=None):
    """`n_classes` interleaved spiral arms around the origin: arm k is the points
    r (cos θ, sin θ) with r going from 0.1 to 1 and θ = 2π (r + k / n_classes)."""
    if n_classes < 1:
        raise ValueError(f"n_classes must be at least 1, got {n_classes}")
    rng = np.random.default_rng(rng)
    per_class = _samples_per_class(n_samples, n_classes)
    radius = np.linspace(0.1, 1, per_class)
    arms = []
    for k in range(n_classes):
        angle = 2 * np.pi * (radius + k / n_classes)
        arms.append(radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1))
    return _finish(rng, arms, noise)


def batches(X, y, batch_size, shuffle=True, rng=None):
    """Mini-batches (X[i], y[i]) as Tensors covering every sample once, in an order drawn from
    `rng` when `shuffle` (else in order); the last batch is smaller when batch_size does not
    divide N. Call it once per epoch."""
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    order = np.random.default_rng(rng).permutation(len(X)) if shuffle else np.arange(len(X))
    return _batches_in_order(X, y, order, batch_size)


def _batches_in_order(X, y, order, batch_size):
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        yield Tensor(X[rows]), Tensor(y[rows])

"""sigmoid, softmax, log_softmax and cross-entropy built on them stay finite, in value and in
first and second derivatives, for float32 inputs up to ±1e4, and raise no NumPy warning.

Every check runs with warnings turned into errors and NumPy's floating-point errors raised
(overflow, division by zero, invalid operations). Underflow is left alone: e^-20000 rounding to
0 is the correct float32 answer and NumPy does not warn about it by default.
"""
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_nn as tg

from tinygrad_nn.checking.op_table import cross_entropy_ref, log_softmax_ref


@contextmanager
def no_numpy_warning():
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        yield


def cross_entropy_by_hand(z, labels):
    """-log softmax(z)[label], averaged over rows: built from log_softmax and indexing"""
    return -z.log_softmax(axis=1)[np.arange(len(labels)), labels].mean()


def stable_sigmoid_ref(z):
    return np.exp(-np.logaddexp(0, -z))


LABELS = np.array([1, 0, 2])

# name -> (tinygrad expression, float64 NumPy reference); inputs are (3, 3) float32
EXPRESSIONS = {
    "sigmoid": (tg.sigmoid, stable_sigmoid_ref),
    "softmax": (tg.softmax, lambda z: np.exp(log_softmax_ref(z, -1))),
    "softmax axis 0": (lambda z: z.softmax(axis=0), lambda z: np.exp(log_softmax_ref(z, 0))),
    "log_softmax": (tg.log_softmax, lambda z: log_softmax_ref(z, -1)),
    "log_softmax axis 0": (lambda z: z.log_softmax(axis=0), lambda z: log_softmax_ref(z, 0)),
    "cross-entropy from log_softmax": (lambda z: cross_entropy_by_hand(z, LABELS),
                                       lambda z: cross_entropy_ref(z, LABELS, "mean")),
    "fused cross_entropy": (lambda z: tg.cross_entropy(z, LABELS),
                            lambda z: cross_entropy_ref(z, LABELS, "mean")),
    "log-likelihood of sigmoid via log_softmax": (
        lambda z: tg.stack([z * 0, z], axis=-1).log_softmax(axis=-1)[..., 1].sum(),
        lambda z: -np.logaddexp(0, -z).sum()),
}

EXTREMES = {
    "mixed +-1e4": [[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0], [1e4, 1e4, -1e4]],
    "all +1e4": np.full((3, 3), 1e4),
    "all -1e4": np.full((3, 3), -1e4),
    "huge gaps": [[1e4, 0.0, -1e4], [50.0, -50.0, 1e-3], [-1e4, -1e4 + 1, -1e4 + 2]],
}


def check_finite_everywhere(fn, ref, z32):
    """Value, gradient and second derivative of fn at z32 are finite, with no NumPy warning,
    and the value matches the float64 reference."""
    with no_numpy_warning():
        z = tg.Tensor(z32, requires_grad=True)
        y = fn(z)
        v = np.ones(y.shape, np.float32)
        (g,) = tg.grad(fn(z), z, grad_outputs=v, create_graph=True)
        (h,) = tg.grad((g * g).sum(), z, allow_unused=True) if g.requires_grad else (None,)
        expected = ref(z32.astype(np.float64))
    assert y.dtype == np.float32 and g.dtype == np.float32
    assert np.isfinite(y.data).all() and np.isfinite(g.data).all()
    assert h is None or np.isfinite(h.data).all()
    np.testing.assert_allclose(y.data, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("inputs", EXTREMES)
@pytest.mark.parametrize("name", EXPRESSIONS)
def test_finite_values_and_gradients_at_extreme_float32_inputs(name, inputs):
    fn, ref = EXPRESSIONS[name]
    check_finite_everywhere(fn, ref, np.asarray(EXTREMES[inputs], dtype=np.float32))


def test_the_gradients_at_extremes_have_the_limiting_values():
    z = tg.Tensor(np.float32([[1e4, -1e4, 0.0]]), requires_grad=True)
    with no_numpy_warning():
        (sig,) = tg.grad(z.sigmoid().sum(), z)
        (ce,) = tg.grad(cross_entropy_by_hand(z, np.array([1])), z)
    np.testing.assert_array_equal(sig.data, [[0.0, 0.0, 0.25]])
    np.testing.assert_array_equal(ce.data, [[1.0, -1.0, 0.0]])  # softmax - onehot


EXTREME_FLOATS = st.one_of(st.sampled_from([1e4, -1e4, 0.0]),
                           st.floats(-1e4, 1e4, width=32, allow_subnormal=False))


@pytest.mark.parametrize("name", EXPRESSIONS)
@given(z=hnp.arrays(np.float32, (3, 3), elements=EXTREME_FLOATS))
def test_finite_values_and_gradients_anywhere_in_the_float32_range_up_to_1e4(name, z):
    fn, ref = EXPRESSIONS[name]
    check_finite_everywhere(fn, ref, z)

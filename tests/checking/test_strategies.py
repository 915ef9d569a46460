"""tinygrad_nn.testing (strategies, assert_gradients_match, gradient_test) and gradcheck's kink
detection: right gradients pass, wrong ones are caught, kinks are told apart from mistakes."""
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_nn as tg
from tinygrad_nn.testing import (arrays, assert_gradients_match, broadcastable_shapes,
                                 gradient_test, shapes)


class Cube(tg.Function):
    """a³, written right (and differentiable again)."""
    differentiable_backward = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a ** 3

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * 3 * a ** 2


class WrongCube(Cube):
    """a³ with the classic slip: the factor 3 forgotten."""

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * a ** 2


class ConstantSlopeCube(Cube):
    """Right first derivative, wrong second: reading the saved input's values turns it into a
    constant, so the recorded gradient does not depend on a."""

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * (3 * (a.detach() if isinstance(a, tg.Tensor) else a) ** 2)


class ScaledProduct(tg.Function):
    """2 a b with broadcasting; the engine sums each gradient back to its input's shape."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return 2 * a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return 2 * g * b, 2 * g * a


# ---------------------------------------------------------------------------- strategies

@given(arrays((4, 3), elements=(-1.0, 1.0), avoid=(0.0, 0.5), min_distance=0.1))
def test_arrays_stay_in_bounds_and_away_from_kinks(x):
    assert x.shape == (4, 3) and x.dtype == np.float64
    assert np.all((-1.0 <= x) & (x <= 1.0))
    assert np.all(np.abs(x) >= 0.1) and np.all(np.abs(x - 0.5) >= 0.1)


@given(arrays(shapes(min_dims=1, max_dims=2, max_side=3), dtype=np.float32,
              elements=(-0.1, 0.1), avoid=(0.0,), min_distance=0.03))
def test_arrays_with_a_shape_strategy_and_float32(x):
    """Bounds that float32 cannot hold exactly (0.1, 0.03) are rounded inward."""
    assert x.dtype == np.float32 and 1 <= x.ndim <= 2 and max(x.shape) <= 3
    assert np.all((-0.1 <= x) & (x <= 0.1) & (np.abs(x) >= 0.03))


@given(broadcastable_shapes(num_shapes=3, max_dims=3, max_side=4))
def test_broadcastable_shapes_broadcast(drawn):
    assert len(drawn) == 3 and all(isinstance(s, tuple) and len(s) <= 3 for s in drawn)
    np.broadcast_shapes(*drawn)


def test_arrays_refuse_bounds_with_nothing_left():
    with pytest.raises(ValueError, match="no value"):
        arrays((2,), elements=(-0.05, 0.05), avoid=(0.0,), min_distance=0.1)


# ------------------------------------------------------------------- assert_gradients_match

def test_assert_gradients_match_passes_a_right_backward():
    x = np.array([-1.5, 0.3, 2.0])
    assert_gradients_match(Cube.apply, x, second_order=True)
    assert_gradients_match(ScaledProduct.apply, np.ones((2, 3)), np.arange(3.0))


def test_assert_gradients_match_catches_a_wrong_backward_with_gradchecks_message():
    with pytest.raises(AssertionError) as info:
        assert_gradients_match(WrongCube.apply, np.array([-1.5, 0.3, 2.0]))
    message = str(info.value)
    assert "gradcheck failed for input 0" in message and "analytic=" in message


def test_second_order_catches_a_wrong_second_derivative():
    x = np.array([-1.5, 0.3, 2.0])
    assert_gradients_match(ConstantSlopeCube.apply, x)
    with pytest.raises(AssertionError, match="second derivatives"):
        assert_gradients_match(ConstantSlopeCube.apply, x, second_order=True)


def test_constants_are_passed_through():
    mask = np.array([True, False])
    assert_gradients_match(lambda a, m: tg.where(m, a, 0.0), np.array([1.0, 2.0]), mask)


# ---------------------------------------------------------------------------- gradient_test

@gradient_test(elements=(-2, 2), reference=lambda a: a ** 3, second_order=True)
def test_cube_gradient(a):
    """What a user writes: a few lines, and hypothesis draws shapes and values."""
    return Cube.apply(a)


@gradient_test(elements=[(-2, 2), (-2, 2)], max_examples=10)
def test_broadcast_product_gradient(a, b):
    return ScaledProduct.apply(a, b)


@gradient_test(shapes=[(3,)], avoid=(0.0,), min_distance=0.05, max_examples=10)
def test_abs_gradient_away_from_its_kink(a):
    return tg.abs(a)


def test_gradient_test_fails_a_wrong_backward():
    test = gradient_test(elements=(0.5, 2), max_examples=5)(WrongCube.apply)
    with pytest.raises(AssertionError, match="gradcheck failed"):
        test()


def test_gradient_test_checks_the_reference():
    test = gradient_test(shapes=[(2,)], reference=lambda a: a ** 2, max_examples=5)(Cube.apply)
    with pytest.raises(AssertionError, match="forward differs from reference"):
        test()


def test_gradient_test_with_a_shapes_strategy_and_per_input_settings():
    seen = []

    def product(a, b):
        seen.append((a.shape, b.shape))
        return a * b

    test = gradient_test(shapes=st.just([(2, 1), (3,)]), elements=[(-1, 1), (1, 2)],
                         avoid=[(0.0,), ()], min_distance=[0.1, 0.0], max_examples=3)(product)
    test()
    assert set(seen) == {((2, 1), (3,))}
    with pytest.raises(ValueError, match="2 entries for 1 inputs"):
        gradient_test(elements=[(-1, 1), (1, 2)])(tg.abs)


def test_importing_tinygrad_nn_does_not_import_hypothesis():
    code = ("import sys, tinygrad_nn as tg; assert 'hypothesis' not in sys.modules; "
            "tg.testing; assert 'hypothesis' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------- kink detection

def kink_warnings(fn, x):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert tg.gradcheck(fn, [tg.Tensor(np.array(x), requires_grad=True)], detect_kinks=True)
    return [str(w.message) for w in caught]


def test_abs_at_zero_is_a_kink_not_a_wrong_gradient():
    # exactly at 0 the numbers agree (0 and 0); within eps of 0 they cannot
    x = [0.0, 1e-7, -3e-7, 1.5]
    with pytest.raises(tg.GradcheckError):
        tg.gradcheck(tg.abs, [tg.Tensor(np.array(x), requires_grad=True)])
    (message,) = kink_warnings(tg.abs, x)
    assert "2 Jacobian entries sit at points where the function is not differentiable" in message


def test_other_kinks_and_ties():
    assert kink_warnings(tg.relu, [1e-7, 1.0])
    assert kink_warnings(lambda t: t.clip(-1, 1), [1.0 + 1e-7, 0.0])
    assert kink_warnings(lambda t: tg.maximum(t, 0.5), [0.5, 0.2]) == []  # ties share: exact


class AbsWithGarbageAtZero(tg.Function):
    """|a| whose backward gives 7 at 0: no one-sided slope (-1 or 1) supports it."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * np.where(np.abs(a) < 1e-6, 7.0, np.sign(a))


class WrongReciprocal(tg.Function):
    """1/a with a gradient 50 % too large: wrong, at a smooth point of high curvature."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return 1 / a

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return -1.5 * g / a ** 2


@pytest.mark.parametrize("op, x", [
    (WrongCube, [0.7, -1.2]),                # wrong at smooth points
    (AbsWithGarbageAtZero, [1e-7, 1.0]),     # at a kink, but outside both one-sided slopes
    (WrongReciprocal, [1.5e-3]),             # steep curvature must not pass for a kink
])
def test_a_wrong_gradient_is_still_an_error_with_kink_detection(op, x):
    with pytest.raises(tg.GradcheckError, match="gradcheck failed for input 0"):
        tg.gradcheck(op.apply, [tg.Tensor(np.array(x), requires_grad=True)], detect_kinks=True)


@given(arrays((3, 4), elements=(-1.0, 1.0), avoid=(0.0,), min_distance=0.1))
def test_arrays_are_spread_out_never_one_constant(x):
    assert len(np.unique(x)) == x.size

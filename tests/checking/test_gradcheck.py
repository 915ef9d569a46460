"""gradcheck and gradgradcheck cannot be fooled: a NaN gradient fails, and the default direction
of gradgradcheck is random (with all ones, Jᵀ·1 = 0 for softmax hides its second derivative)."""
import warnings

import numpy as np
import pytest

import tinygrad_nn as tg


class NaNGradient(tg.Function):
    """2a whose backward returns NaN (say, from 0/0 in a rule)."""

    @staticmethod
    def forward(ctx, a):
        return 2 * a

    @staticmethod
    def backward(ctx, g):
        return g * np.nan


class SoftmaxWithConstantSaved(tg.Function):
    """softmax with a right first derivative whose recorded gradient treats the saved output
    as a constant: its second derivative is wrong, except along v = 1, where the gradient
    y ⊙ (v - Σ v y) is 0 whatever y is."""
    differentiable_backward = True

    @staticmethod
    def forward(ctx, a):
        e = np.exp(a - a.max())
        y = e / e.sum()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        y = np.asarray(y.data if isinstance(y, tg.Tensor) else y)
        return y * (g - (g * y).sum())


def test_gradcheck_fails_on_a_nan_gradient():
    x = tg.Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    with pytest.raises(tg.GradcheckError) as info:
        tg.gradcheck(NaNGradient.apply, [x])
    assert "input 0" in str(info.value) and "analytic=nan" in str(info.value)
    assert tg.gradcheck(NaNGradient.apply, [x], raise_exception=False) is False


def test_gradgradcheck_default_direction_is_random_not_all_ones():
    x = tg.Tensor(np.array([0.3, -1.2, 0.8, 2.0]), requires_grad=True)
    assert tg.gradcheck(SoftmaxWithConstantSaved.apply, [x])
    # all ones: every Jᵀ·1 of softmax is 0, so the wrong second derivative goes unseen
    assert tg.gradgradcheck(SoftmaxWithConstantSaved.apply, [x], grad_outputs=np.ones(4))
    with pytest.raises(tg.GradcheckError, match="second derivatives.*input 0"):
        tg.gradgradcheck(SoftmaxWithConstantSaved.apply, [x])
    # the default direction is random, but fixed by the seed (reproducible)
    for seed in (0, 1, 2):
        assert tg.gradgradcheck(SoftmaxWithConstantSaved.apply, [x], seed=seed,
                                raise_exception=False) is False


def test_gradgradcheck_also_checks_the_gradient_as_a_function_of_grad_outputs():
    class WrongInG(tg.Function):
        """a², whose backward records 2a·v with v a constant: d(grad)/dv is lost."""
        differentiable_backward = True

        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return 2 * a * np.asarray(getattr(g, "data", g))

    x = tg.Tensor(np.array([0.5, -1.5]), requires_grad=True)
    assert tg.gradcheck(WrongInG.apply, [x])
    with pytest.raises(tg.GradcheckError, match="grad_outputs"):
        tg.gradgradcheck(WrongInG.apply, [x])


def test_gradcheck_perturbs_inputs_whose_data_is_not_contiguous():
    data = np.arange(6.0).reshape(2, 3).T  # Fortran order: reshape(-1) would be a copy
    x = tg.Tensor(data, dtype=np.float64, requires_grad=True)
    if x.data.flags.c_contiguous:
        x.data = np.asfortranarray(x.data)
    assert not x.data.flags.c_contiguous
    assert tg.gradcheck(lambda t: t * t, [x])
    with pytest.raises(tg.GradcheckError):
        tg.gradcheck(NaNGradient.apply, [x])


class RecordedDiffers(tg.Function):
    """3a, whose backward on Tensors (create_graph=True) computes 4g: the recorded gradient
    is consistent with itself, so only comparing it with the plain one shows the mistake."""
    differentiable_backward = True

    @staticmethod
    def forward(ctx, a):
        return 3 * a

    @staticmethod
    def backward(ctx, g):
        return 4 * g if isinstance(g, tg.Tensor) else 3 * g


def test_gradgradcheck_compares_the_recorded_gradient_with_the_plain_one():
    x = tg.Tensor(np.array([0.5, -1.5]), requires_grad=True)
    assert tg.gradcheck(RecordedDiffers.apply, [x])
    with pytest.raises(tg.GradcheckError, match="recorded for double backward"):
        tg.gradgradcheck(RecordedDiffers.apply, [x])


# ---------------------------------------------------------------- the criterion, kinks, no_grad

class Scaled(tg.Function):
    """slope · a, whose backward reports slope + error: an analytic derivative off by `error`
    from the numeric one (`slope`)."""
    slope, error = 100.0, 0.0

    @staticmethod
    def forward(ctx, a):
        return Scaled.slope * a

    @staticmethod
    def backward(ctx, g):
        return g * (Scaled.slope + Scaled.error)


@pytest.mark.parametrize("slope, error, passes", [
    # bound atol + rtol |numeric| = 0.01 + 1e-3 · 100 = 0.11
    # (a bound of atol + rtol |analytic| would pass 0.11005 and fail -0.10995)
    (100.0, 0.1099, True), (100.0, 0.11005, False),
    (100.0, -0.10995, True), (100.0, -0.1102, False),
    (0.0, 0.0098, True), (0.0, 0.0102, False),  # numeric 0: atol alone
])
def test_gradcheck_passes_exactly_within_atol_plus_rtol_times_the_numeric_value(
        slope, error, passes):
    Scaled.slope, Scaled.error = slope, error
    x = tg.Tensor(np.array([0.3, -0.7]), requires_grad=True)
    assert tg.gradcheck(Scaled.apply, x, atol=0.01, rtol=1e-3, raise_exception=False) is passes
    if not passes:
        with pytest.raises(tg.GradcheckError, match=r"atol=0.01 \+ rtol=0.001 \* \|numeric\|"):
            tg.gradcheck(Scaled.apply, x, atol=0.01, rtol=1e-3)


class ShiftedRelu(tg.Function):
    """max(a - 0.3, 0), whose backward at the kink a = 0.3 reports `at_kink` (the one-sided
    slopes there are 0 and 1, each computed with a rounding error of about 1e-11)."""
    at_kink = 1.0

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.maximum(a - 0.3, 0.0)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * np.where(a == 0.3, ShiftedRelu.at_kink, (a > 0.3).astype(a.dtype))


@pytest.mark.parametrize("at_kink, passes", [
    (0.5, True), (0.0, True), (1.0, True),
    (1.0 + 5e-4, True),  # past the right slope, within the slack atol + rtol · 1 = 1.01e-3
    (-5e-4, True),
    (1.0 + 2e-3, False), (-2e-3, False),  # beyond the slack: no one-sided slope supports it
])
def test_detect_kinks_excuses_a_value_between_the_one_sided_slopes_with_its_slack(
        at_kink, passes):
    ShiftedRelu.at_kink = at_kink
    x = tg.Tensor(np.array([0.3, 1.0, -0.5]), requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        verdict = tg.gradcheck(ShiftedRelu.apply, x, detect_kinks=True, raise_exception=False)
    assert verdict is passes
    kink_warnings = [w for w in caught if "not differentiable" in str(w.message)]
    excused = passes and at_kink != 0.5  # 0.5 is the central difference: nothing to excuse
    assert len(kink_warnings) == (1 if excused else 0)
    if excused:
        assert "element (0,)" in str(kink_warnings[0].message)
    # without detect_kinks the same point is a mismatch (the central difference is 0.5)
    assert tg.gradcheck(ShiftedRelu.apply, x, raise_exception=False) is (at_kink == 0.5)


@pytest.mark.parametrize("check, wrong", [(tg.gradcheck, NaNGradient.apply),
                                          (tg.gradgradcheck, SoftmaxWithConstantSaved.apply)])
def test_gradcheck_and_gradgradcheck_work_inside_no_grad(check, wrong):
    x = tg.Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    with tg.no_grad():
        assert check(lambda t: tg.sin(t) * t, x)
        assert check(wrong, x, raise_exception=False) is False
        assert not tg.is_grad_enabled()

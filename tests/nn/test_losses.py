"""nn losses against their closed forms, with their gradients."""
import warnings

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn


# --------------------------------------------------------------------------- losses

def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


# name: (loss class, prediction maker, target maker, value(p, t), d value / d p (p, t))
ELEMENTWISE_LOSSES = {
    "MSELoss": (nn.MSELoss, lambda r: r.normal(size=(6, 3)), lambda r: r.normal(size=(6, 3)),
                lambda p, t: (p - t) ** 2, lambda p, t: 2 * (p - t)),
    "L1Loss": (nn.L1Loss, lambda r: r.normal(size=(6, 3)), lambda r: r.normal(size=(6, 3)),
               lambda p, t: np.abs(p - t), lambda p, t: np.sign(p - t)),
    "BCELoss": (nn.BCELoss, lambda r: r.uniform(0.05, 0.95, (6, 3)),
                lambda r: r.integers(0, 2, (6, 3)).astype(float),
                lambda p, t: -(t * np.log(p) + (1 - t) * np.log(1 - p)),
                lambda p, t: (p - t) / (p * (1 - p))),
    "BCEWithLogitsLoss": (nn.BCEWithLogitsLoss, lambda r: r.normal(scale=3, size=(6, 3)),
                          lambda r: r.uniform(0, 1, (6, 3)),
                          lambda x, t: -(t * np.log(sigmoid(x)) + (1 - t) * np.log(sigmoid(-x))),
                          lambda x, t: sigmoid(x) - t),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", list(ELEMENTWISE_LOSSES))
def test_elementwise_loss_value_and_gradient(name, reduction, float64_default):
    loss_class, make_prediction, make_target, value, derivative = ELEMENTWISE_LOSSES[name]
    rng = np.random.default_rng(0)
    p_array, t_array = make_prediction(rng), make_target(rng)
    prediction = tg.Tensor(p_array, requires_grad=True)
    loss = loss_class(reduction=reduction)(prediction, t_array)
    expected, slope = value(p_array, t_array), derivative(p_array, t_array)
    if reduction == "mean":
        expected, slope = expected.mean(), slope / p_array.size
        loss.backward()
    elif reduction == "sum":
        expected = expected.sum()
        loss.backward()
    else:
        upstream = rng.normal(size=p_array.shape)  # weights each element's loss
        loss.backward(upstream)
        slope = slope * upstream
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(prediction.grad.numpy(), slope, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("labels_as", [np.asarray, tg.Tensor])
def test_cross_entropy_value_and_gradient(reduction, labels_as, float64_default):
    rng = np.random.default_rng(0)
    logits_array = rng.normal(scale=2, size=(5, 4))
    labels = np.array([0, 3, 1, 3, 2])
    logits = tg.Tensor(logits_array, requires_grad=True)
    loss = nn.CrossEntropyLoss(reduction=reduction)(logits, labels_as(labels))
    per_sample = -log_softmax(logits_array)[np.arange(5), labels]
    slope = np.exp(log_softmax(logits_array)) - np.eye(4)[labels]
    if reduction == "mean":
        expected, slope = per_sample.mean(), slope / 5
        loss.backward()
    elif reduction == "sum":
        expected = per_sample.sum()
        loss.backward()
    else:
        expected = per_sample
        upstream = rng.normal(size=5)
        loss.backward(upstream)
        slope = slope * upstream[:, None]
    assert loss.shape == np.shape(expected)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(logits.grad.numpy(), slope, rtol=1e-8, atol=1e-12)


def test_losses_keep_float32_whatever_the_target_dtype():
    prediction = tg.Tensor(np.full((4, 1), 0.5, dtype=np.float32), requires_grad=True)
    for loss_fn in (nn.MSELoss(), nn.L1Loss(), nn.BCELoss(), nn.BCEWithLogitsLoss()):
        for target in (np.ones((4, 1)), np.ones((4, 1), dtype=np.int64),
                       tg.Tensor(np.ones((4, 1), dtype=np.int64))):
            loss = loss_fn(prediction, target)
            assert loss.dtype == np.float32, (loss_fn, target)
    logits = tg.Tensor(np.zeros((3, 2), dtype=np.float32), requires_grad=True)
    assert nn.CrossEntropyLoss()(logits, np.array([0, 1, 1])).dtype == np.float32


def test_bce_with_logits_at_zero_has_gradient_one_half_minus_target():
    x = tg.Tensor(np.zeros(3), requires_grad=True)
    nn.BCEWithLogitsLoss(reduction="sum")(x, np.array([0.0, 1.0, 0.25])).backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.5, -0.5, 0.25])


def test_bce_on_exact_zero_and_one_probabilities_is_finite():
    p = tg.Tensor(np.array([0.0, 1.0, 0.0, 1.0], dtype=np.float32), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = nn.BCELoss()(p, np.array([0.0, 1.0, 1.0, 0.0]))
        loss.backward()
    assert np.isfinite(loss.item()) and loss.item() > 5  # two confidently wrong predictions
    assert np.all(np.isfinite(p.grad.numpy()))


EXTREME = np.array([[-1e4, 1e4, 0.0], [1e4, -1e4, 3.0]], dtype=np.float32)


@pytest.mark.parametrize("loss_fn, make_input, target", [
    (nn.BCEWithLogitsLoss(), lambda x: x, np.array([[1, 0, 1], [0, 1, 0]])),
    (nn.BCELoss(), lambda x: x.sigmoid(), np.array([[1, 0, 1], [0, 1, 0]])),
    (nn.MSELoss(), lambda x: x, np.zeros((2, 3))),
    (nn.L1Loss(), lambda x: x, np.zeros((2, 3))),
    (nn.CrossEntropyLoss(), lambda x: x, np.array([0, 1])),
], ids=["BCEWithLogitsLoss", "BCELoss(sigmoid)", "MSELoss", "L1Loss", "CrossEntropyLoss"])
def test_losses_are_finite_at_plus_minus_1e4_without_warnings(loss_fn, make_input, target):
    x = tg.Tensor(EXTREME, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = loss_fn(make_input(x), target)
        loss.backward()
    assert np.isfinite(loss.item())
    assert np.all(np.isfinite(x.grad.numpy()))


def test_bce_with_logits_is_exact_for_large_logits():
    x = tg.Tensor(EXTREME[0], requires_grad=True)  # -1e4, 1e4, 0 against 1, 0, 1
    loss = nn.BCEWithLogitsLoss(reduction="none")(x, np.array([1.0, 0.0, 1.0]))
    np.testing.assert_allclose(loss.numpy(), [1e4, 1e4, np.log(2)], rtol=1e-6)
    loss.backward(np.ones(3, dtype=np.float32))
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, 1.0, -0.5])


@pytest.mark.parametrize("loss_class", [nn.MSELoss, nn.L1Loss, nn.BCELoss, nn.BCEWithLogitsLoss])
def test_shape_mismatch_names_both_shapes(loss_class):
    prediction = tg.Tensor(np.full((4, 1), 0.5), requires_grad=True)
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        loss_class()(prediction, np.ones(4))
    assert prediction.grad is None


@pytest.mark.parametrize("loss_class", [nn.MSELoss, nn.L1Loss, nn.BCELoss, nn.BCEWithLogitsLoss,
                                        nn.CrossEntropyLoss])
def test_unknown_reduction(loss_class):
    with pytest.raises(ValueError, match="reduction"):
        loss_class(reduction="average")


@pytest.mark.parametrize("labels, error, message", [
    (np.array([0.0, 1.0, 2.0]), TypeError, r"labels must be integers \(class indices\), got "
                                           r"dtype float64; pass integer labels"),
    (np.array([0.5, 1.0, 2.0]), TypeError, "labels must be integers, got dtype float64"),
    (tg.Tensor([0, 1, 2]), TypeError,
     r"labels must be integers \(class indices\), got a float32 Tensor: a Python list given to "
     r"tg.Tensor becomes float32, the default dtype, even when its numbers are whole; pass "
     r"integer labels: np.array\(\[0, 1, 2\]\), tg.Tensor\(np.array\(labels\)\) or "
     r"labels.astype\(np.int64\)"),
    (np.eye(3, dtype=np.int64), ValueError,
     r"the labels have the logits' shape \(3, 3\), as one-hot labels or class probabilities "
     r"do; it takes class indices of shape \(3,\): for one-hot labels pass "
     r"labels.argmax\(axis=1\)"),
    (tg.Tensor(np.eye(3)), ValueError, "one-hot.*labels.argmax"),
    (np.array([0, 3, 1]), ValueError, r"label 3 is outside \[0, 3\)"),
    (np.array([0, 1, -1]), ValueError, r"label -1 is outside \[0, 3\)"),
    (np.array([[0, 1, 2]]), ValueError, r"\(1, 3\).*expected \(3,\)"),
])
def test_cross_entropy_bad_labels(labels, error, message):
    logits = tg.Tensor(np.zeros((3, 3), dtype=np.float32), requires_grad=True)
    with pytest.raises(error, match=message):
        nn.CrossEntropyLoss()(logits, labels)
    assert logits.grad is None


def test_cross_entropy_needs_two_dimensional_logits():
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        nn.CrossEntropyLoss()(tg.Tensor(np.zeros(3), requires_grad=True), np.array([0, 1, 2]))


@pytest.mark.parametrize("prediction, target, message", [
    ([[2.5], [0.3]], [[1.0], [0.0]], r"every prediction must be a probability in \[0, 1\], "
                                     r"got 2.5 at index \(0, 0\)"),
    ([-0.1, 0.5], [1.0, 0.0], "prediction .* got -0.1"),
    ([0.2, 0.5], [1.0, 2.0], r"every target must be a probability .* got 2.0 at index \(1,\)"),
])
def test_bce_refuses_values_that_are_not_probabilities(prediction, target, message):
    p = tg.Tensor(prediction, requires_grad=True)
    with pytest.raises(ValueError, match=message + ".*BCEWithLogitsLoss"):
        nn.BCELoss()(p, np.asarray(target, np.float32))
    assert p.grad is None


@pytest.mark.parametrize("prediction, target, message", [
    ([0.5, float("nan")], [1.0, 0.0], r"BCELoss: the prediction is NaN at index \(1,\) \(the "
                                      r"model diverged: lower the learning rate, or find the op "
                                      r"that first made a NaN with tg.detect_anomaly\(\)\)$"),
    ([0.2, 0.5], [float("nan"), 0.0], r"BCELoss: the target is NaN at index \(0,\) \(NaN in "
                                      r"the data\)$"),
])
def test_bce_of_nan_names_nan_and_does_not_advise_logits(prediction, target, message):
    p = tg.Tensor(prediction, requires_grad=True)
    with pytest.raises(ValueError, match=message) as info:
        nn.BCELoss()(p, np.asarray(target, np.float32))
    assert "logits" not in str(info.value)
    assert p.grad is None


def test_bce_with_a_tiny_eps_stays_finite_on_float32_zero_and_one():
    # eps=1e-9 is below float32's resolution near 1 (1 - 1e-9 rounds to 1): the clip must use
    # at least the dtype's machine epsilon, or log(1 - p) is log(0)
    p = tg.Tensor(np.array([0.0, 1.0, 0.0, 1.0], dtype=np.float32), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = nn.BCELoss(eps=1e-9, reduction="none")(p, np.array([1.0, 0.0, 0.0, 1.0]))
        loss.sum().backward()
    eps = np.finfo(np.float32).eps
    np.testing.assert_allclose(loss.numpy(), [-np.log(eps), -np.log(eps), 0, 0], atol=1e-6,
                               rtol=1e-5)
    assert loss.dtype == np.float32 and np.all(np.isfinite(p.grad.numpy()))


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.BCELoss(eps="1e-7"), TypeError, "eps must be a real number"),
    (lambda: nn.BCELoss(eps=0.7), ValueError, "eps must be in"),
    (lambda: nn.MSELoss()(tg.Tensor(np.arange(3)), np.zeros(3)), TypeError,
     "MSELoss: the prediction must be floating-point, got dtype int64"),
    (lambda: nn.L1Loss()(np.ones(2), np.ones(3)), ValueError, r"\(2,\).*\(3,\)"),
])
def test_more_loss_mistakes(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_losses_take_arrays_as_predictions():
    loss = nn.MSELoss()(np.array([1.0, 3.0]), np.array([0.0, 1.0]))
    assert loss.item() == pytest.approx(2.5)

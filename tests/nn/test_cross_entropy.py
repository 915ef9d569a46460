"""CrossEntropyLoss over (N, C, d1, ...) with ignore_index and label_smoothing, against a NumPy
re-implementation of PyTorch's formula (float64, 1e-10 relative), gradients by gradcheck."""
import warnings

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn

pytestmark = pytest.mark.usefixtures("float64_default")


def reference(logits, labels, reduction="mean", ignore_index=-100, smoothing=0.0):
    """PyTorch's cross-entropy: classes on axis 1; (1 - ε)·nll + ε/C·(-Σ_c log p_c), ignored
    positions 0 and left out of the mean."""
    classes = logits.shape[1] if logits.ndim > 1 else logits.shape[0]
    log_p = logits - logits.max(axis=min(1, logits.ndim - 1), keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=min(1, logits.ndim - 1), keepdims=True))
    log_p = np.moveaxis(log_p, min(1, logits.ndim - 1), -1)
    kept = labels != ignore_index
    safe = np.where(kept, labels, 0)
    nll = -np.take_along_axis(log_p, safe[..., None], axis=-1)[..., 0]
    losses = np.where(kept, (1 - smoothing) * nll - smoothing / classes * log_p.sum(-1), 0)
    if reduction == "none":
        return losses
    return losses.sum() / (kept.sum() if reduction == "mean" else 1)


RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(3, 5, 2, 4)) * 3
LABELS = RNG.integers(0, 5, (3, 2, 4))
LABELS[0, 1, :3] = -1


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore_index", [-100, -1])
def test_spatial_logits_match_the_reference(reduction, smoothing, ignore_index):
    labels = LABELS if ignore_index == -1 else np.maximum(LABELS, 0)
    loss_fn = nn.CrossEntropyLoss(reduction=reduction, ignore_index=ignore_index,
                                  label_smoothing=smoothing)
    loss = loss_fn(LOGITS, labels)
    expected = reference(LOGITS, labels, reduction, ignore_index, smoothing)
    assert loss.shape == np.shape(expected)
    np.testing.assert_allclose(loss.data, expected, rtol=1e-10, atol=0)
    logits = tg.Tensor(LOGITS[:2, :, :1, :3], requires_grad=True)
    assert tg.gradcheck(lambda x: loss_fn(x, labels[:2, :1, :3]), (logits,))


def test_the_n_c_form_and_the_unbatched_form():
    loss_fn = nn.CrossEntropyLoss(ignore_index=2, label_smoothing=0.1)
    logits, labels = LOGITS[:, :, 0, 0], LABELS[:, 0, 0] % 5
    np.testing.assert_allclose(loss_fn(logits, labels).data,
                               reference(logits, labels, ignore_index=2, smoothing=0.1),
                               rtol=1e-10)
    np.testing.assert_allclose(loss_fn(logits[0], labels[0]).data,
                               reference(logits[:1], labels[:1], ignore_index=2, smoothing=0.1),
                               rtol=1e-10)


def test_every_label_ignored_gives_nan_mean_zero_sum_and_zero_gradient():
    logits = tg.Tensor(LOGITS, requires_grad=True)
    labels = np.full(LABELS.shape, -100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean = nn.CrossEntropyLoss()(logits, labels)
        mean.backward()
        total = nn.CrossEntropyLoss(reduction="sum", label_smoothing=0.3)(logits, labels)
    assert np.isnan(mean.item()) and total.item() == 0.0
    assert not logits.grad.data.any()


def test_an_ignored_position_gets_no_gradient():
    logits = tg.Tensor(LOGITS, requires_grad=True)
    nn.CrossEntropyLoss(ignore_index=-1, label_smoothing=0.5)(logits, LABELS).backward()
    assert not logits.grad.data[0, :, 1, :3].any() and logits.grad.data[0, :, 1, 3].any()


@pytest.mark.parametrize("labels, error, message", [
    (LABELS[:, :, :2], ValueError, r"\(3, 2, 2\) do not match .* \(expected \(3, 2, 4\)"),
    (np.where(LABELS == -1, 7, LABELS), ValueError, r"label 7 is outside \[0, 5\)"),
    (LABELS, ValueError, r"label -1 is outside"),  # -1 is not the ignore_index here
    (LABELS.astype(float), TypeError, "integers"),
])
def test_mistakes_are_named(labels, error, message):
    with pytest.raises(error, match=message):
        nn.CrossEntropyLoss()(LOGITS, labels)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(TypeError, match="ignore_index"):
        nn.CrossEntropyLoss(ignore_index=0.5)

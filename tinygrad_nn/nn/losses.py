"""Losses: `loss_fn(prediction, target)` -> a Tensor, built from the public ops only, so the
engine derives every gradient.

Each loss computes one value per element (per sample for CrossEntropyLoss) and then reduces
them: reduction="mean" (the default) averages, "sum" adds, "none" returns them unreduced.
The prediction and the target must have the same shape: a mismatch raises ValueError rather
than broadcasting (predictions (N, 1) against targets (N,) would silently make an (N, N) loss).
"""
import numpy as np

from ..ops import cross_entropy, maximum, where
from ..tensor import Tensor
from ..validation import integer_at_least, real_number
from .module import Module

__all__ = ["MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss"]

REDUCTIONS = ("mean", "sum", "none")


def _as_target(target, prediction):
    """The target as a Tensor in the prediction's dtype (so float32 stays float32); a Tensor
    already in that dtype, or one that itself requires grad, is used as it is."""
    if isinstance(target, Tensor) and (target.requires_grad or target.dtype == prediction.dtype):
        return target
    return Tensor(np.asarray(target), dtype=prediction.dtype)


def _check_same_shape(loss_name, prediction, target):
    if prediction.shape != target.shape:
        raise ValueError(f"{loss_name}: prediction has shape {prediction.shape} but target has "
                         f"shape {target.shape}; they must be equal")


class _Loss(Module):
    """A loss with a `reduction`; subclasses define `elementwise(prediction, target)`."""

    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def forward(self, prediction, target):
        if not isinstance(prediction, Tensor):
            prediction = Tensor(np.asarray(prediction))
        if prediction.dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}: the prediction must be floating-point, got "
                            f"dtype {prediction.dtype}")
        target = _as_target(target, prediction)
        _check_same_shape(type(self).__name__, prediction, target)
        self.check_values(prediction, target)
        return self.reduce(self.elementwise(prediction, target))

    def check_values(self, prediction, target):
        """Raise ValueError for values the loss is not defined for (none by default)."""

    def reduce(self, losses):
        if self.reduction == "mean":
            return losses.mean()
        if self.reduction == "sum":
            return losses.sum()
        return losses

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """(prediction - target)²"""

    def elementwise(self, prediction, target):
        difference = prediction - target
        return difference * difference


class L1Loss(_Loss):
    """|prediction - target|"""

    def elementwise(self, prediction, target):
        return (prediction - target).abs()


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities p: -(y log p + (1 - y) log(1 - p)).

    p is first clipped to [eps, 1 - eps] (eps at least the dtype's machine epsilon, so that
    1 - eps < 1), so the loss stays finite when p reaches exactly 0 or 1; the gradient is zero
    where the clip bites. For logits, BCEWithLogitsLoss is more accurate and never saturates.
    """

    def __init__(self, reduction="mean", eps=1e-7):
        super().__init__(reduction)
        self.eps = real_number("eps", eps, "BCELoss")
        if not 0 <= self.eps < 0.5:
            raise ValueError(f"BCELoss: eps must be in [0, 0.5), got {eps}")

    def check_values(self, prediction, target):
        """Probabilities only: raw logits (outside [0, 1]) would be clipped to a loss near 0
        with zero gradient, silently. NaN is named as such: a NaN prediction comes from a
        model that diverged, not from logits."""
        for name, values in (("prediction", prediction.data), ("target", target.data)):
            outside = ~((values >= 0) & (values <= 1))  # NaN is outside too
            if outside.any():
                index = np.unravel_index(np.argmax(outside), values.shape)
                at = f"at index {tuple(map(int, index))}"
                if np.isnan(values[index]):
                    cause = ("the model diverged: lower the learning rate, or find the op that "
                             "first made a NaN with tg.detect_anomaly()" if name == "prediction"
                             else "NaN in the data")
                    raise ValueError(f"BCELoss: the {name} is NaN {at} ({cause})")
                raise ValueError(f"BCELoss: every {name} must be a probability in [0, 1], got "
                                 f"{values[index]} {at}; for raw scores (logits) use "
                                 f"BCEWithLogitsLoss, which applies the sigmoid itself")

    def elementwise(self, prediction, target):
        eps = max(self.eps, float(np.finfo(prediction.dtype).eps))
        p = prediction.clip(eps, 1 - eps)
        return -(target * p.log() + (1 - target) * (1 - p).log())


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits x, -(y log σ(x) + (1 - y) log(1 - σ(x))), written in the
    stable form max(x, 0) - x·y + log(1 + e^-|x|): no exp ever overflows.
    Its gradient is σ(x) - y (at x = 0, max splits the gradient, giving 1/2 - y)."""

    def elementwise(self, prediction, target):
        return (maximum(prediction, 0) - prediction * target
                + (1 + (-prediction.abs()).exp()).log())


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy: logits (N, C) (or (C,), or (N, C, d1, ...) with the classes on
    axis 1) and integer class labels (N,) (or (), or (N, d1, ...)) in [0, C), as a NumPy array
    or a Tensor. The loss of one position is -log_softmax(logits)[label], computed by the
    engine's fused, log-sum-exp-stable `cross_entropy` op; with `label_smoothing` = ε it is
    (1 - ε) of that plus ε/C times -Σ_c log_softmax(logits)[c] (PyTorch's formula). Labels equal
    to `ignore_index` add nothing and are left out of the mean (all of them ignored: NaN for
    "mean", with zero gradient, 0 for "sum"). With reduction="none" the result has the labels'
    shape. Float labels raise TypeError (`tg.Tensor([0, 1, 2])` is float32: write
    `np.array([0, 1, 2])`); labels of the logits' shape (one-hot) and labels outside [0, C) (and
    not ignore_index) raise ValueError."""

    def __init__(self, reduction="mean", ignore_index=-100, label_smoothing=0.0):
        super().__init__(reduction)
        self.ignore_index = integer_at_least("ignore_index", ignore_index, -2 ** 63,
                                             "CrossEntropyLoss")
        self.label_smoothing = real_number("label_smoothing", label_smoothing,
                                           "CrossEntropyLoss")
        if not 0 <= self.label_smoothing <= 1:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got "
                             f"{label_smoothing}")

    def forward(self, logits, labels):
        _check_labels(logits, labels)
        logits, labels, shape = _rows_of_classes(logits, labels)
        ignored = labels == self.ignore_index
        if not ignored.any():
            if self.reduction != "none" and not self.label_smoothing:
                return cross_entropy(logits, labels, reduction=self.reduction)
            return self.reduce(self._losses(logits, labels).reshape(shape))
        kept = ~ignored
        labels = np.where(kept, labels, 0)
        losses = where(kept, self._losses(logits, labels), 0.0)
        return self._reduce_kept(losses.reshape(shape), kept)

    def _losses(self, logits, labels):
        """The (M,) loss of each row of logits (M, C), smoothed."""
        losses = cross_entropy(logits, labels, reduction="none")
        epsilon = self.label_smoothing
        if not epsilon:
            return losses
        uniform = logits.log_softmax(axis=1).sum(axis=1) * (-epsilon / logits.shape[1])
        return losses * (1 - epsilon) + uniform

    def _reduce_kept(self, losses, kept):
        """The reduction, its mean over the labels not ignored (`kept`, a bool array)."""
        if self.reduction != "mean":
            return self.reduce(losses)
        count = kept.sum(dtype=losses.dtype)
        # every label ignored: 0 / 0 is NaN, as PyTorch, but made without a NumPy warning and
        # added as a constant so that the gradient stays the zeros the `where` above sent
        nothing_kept = np.where(count > 0, 0, np.nan).astype(losses.dtype)
        return losses.sum() / np.maximum(count, 1, dtype=count.dtype) + nothing_kept

    def extra_repr(self):
        extra = "" if self.ignore_index == -100 else f", ignore_index={self.ignore_index}"
        if self.label_smoothing:
            extra += f", label_smoothing={self.label_smoothing}"
        return super().extra_repr() + extra


def _rows_of_classes(logits, labels):
    """(logits as (M, C) rows, labels as an (M,) integer array, the labels' shape): the class
    axis 1 of (N, C, d1, ...) logits moved last and the rest flattened, as PyTorch reads it."""
    if not isinstance(logits, Tensor):
        logits = Tensor(np.asarray(logits))
    labels = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"CrossEntropyLoss: labels must be integers, got dtype {labels.dtype}")
    if logits.ndim == 0:
        raise ValueError("CrossEntropyLoss: logits must have shape (C,), (N, C) or "
                         "(N, C, d1, ...), got a scalar")
    if logits.ndim == 1:
        expected = ()
    else:
        expected = logits.shape[:1] + logits.shape[2:]
    if labels.shape != expected:
        raise ValueError(f"CrossEntropyLoss: labels of shape {labels.shape} do not match logits "
                         f"of shape {logits.shape} (expected {expected}; logits are (C,), (N, C) "
                         f"or (N, C, d1, ...))")
    classes = logits.shape[0] if logits.ndim == 1 else logits.shape[1]
    if logits.ndim != 2:
        order = (0,) + tuple(range(2, logits.ndim)) + (1,)
        logits = logits.reshape(1, classes) if logits.ndim == 1 else logits.transpose(*order)
        logits = logits.reshape(-1, classes)
    return logits, labels.reshape(-1), expected


def _check_labels(logits, labels):
    """The two label mistakes a PyTorch user makes, named with what to write instead:
    one-hot labels, and whole numbers that became floats (Python lists become float32)."""
    shape = np.shape(logits.data if isinstance(logits, Tensor) else logits)
    values = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    if len(shape) >= 2 and values.shape == shape:
        raise ValueError(f"CrossEntropyLoss: the labels have the logits' shape {shape}, as "
                         f"one-hot labels or class probabilities do; it takes class indices "
                         f"of shape {shape[:1] + shape[2:]}: for one-hot labels pass "
                         f"labels.argmax(axis=1)")
    if values.dtype.kind == "f" and np.all(values == np.floor(values)):
        got = (f"a {values.dtype} Tensor: a Python list given to tg.Tensor becomes "
               f"{values.dtype}, the default dtype, even when its numbers are whole"
               if isinstance(labels, Tensor) else f"dtype {values.dtype}")
        raise TypeError(f"CrossEntropyLoss: labels must be integers (class indices), got {got}; "
                        f"pass integer labels: np.array([0, 1, 2]), tg.Tensor(np.array(labels)) "
                        f"or labels.astype(np.int64)")

"""Losses: `loss_fn(prediction, target)` -> a Tensor, built from the public ops only, so the
engine derives every gradient.

Each loss computes one value per element (per sample for CrossEntropyLoss) and then reduces
them: reduction="mean" (the default) averages, "sum" adds, "none" returns them unreduced.
The prediction and the target must have the same shape: a mismatch raises ValueError rather
than broadcasting (predictions (N, 1) against targets (N,) would silently make an (N, N) loss).
"""
import numpy as np

from ..ops import cross_entropy, maximum
from ..tensor import Tensor
from ..validation import real_number
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
        with zero gradient, silently."""
        for name, values in (("prediction", prediction.data), ("target", target.data)):
            outside = ~((values >= 0) & (values <= 1))  # NaN is outside too
            if outside.any():
                index = np.unravel_index(np.argmax(outside), values.shape)
                raise ValueError(f"BCELoss: every {name} must be a probability in [0, 1], got "
                                 f"{values[index]} at index {tuple(map(int, index))}; for raw "
                                 f"scores (logits) use BCEWithLogitsLoss, which applies the "
                                 f"sigmoid itself")

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
    """Softmax cross-entropy: logits (N, C) and integer class labels (N,) in [0, C) as a NumPy
    array or a Tensor; the loss of sample i is -log_softmax(logits)[i, labels[i]], computed by
    the engine's fused, log-sum-exp-stable `cross_entropy` op. With reduction="none" the result
    has shape (N,). Float labels raise TypeError; labels outside [0, C) raise ValueError."""

    def forward(self, logits, labels):
        return cross_entropy(logits, labels, reduction=self.reduction)

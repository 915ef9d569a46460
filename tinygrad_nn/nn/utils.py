"""Gradient clipping, as torch.nn.utils: called between `backward()` and `optimizer.step()`.

    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
"""
import math

import numpy as np

from ..grad_mode import no_grad
from ..tensor import Tensor
from ..validation import real_number

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _gradients(parameters, where):
    """The `.grad` Tensors of `parameters` (a Tensor, or an iterable of them), skipping None."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    gradients = []
    for parameter in parameters:
        if not isinstance(parameter, Tensor):
            raise TypeError(f"{where}: parameters must be Tensors, got a "
                            f"{type(parameter).__name__}")
        if parameter.grad is not None:
            gradients.append(parameter.grad)
    return gradients


def _norm(array, norm_type):
    """The vector norm of every element of `array` (p-norm; max |x| for norm_type inf)."""
    magnitudes = np.abs(array)
    if norm_type == math.inf:
        return magnitudes.max(initial=0)
    if norm_type == 2:
        return np.sqrt(np.vdot(magnitudes, magnitudes))
    return (magnitudes ** norm_type).sum() ** (1 / norm_type)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    """Scale the gradients of `parameters` in place, all by the same factor
    min(1, max_norm / (total_norm + 1e-6)), where total_norm is the `norm_type`-norm of all of
    them together (the norm of the per-parameter norms, as PyTorch computes it; inf: the
    largest |g|). Returns total_norm before clipping, as a float (0.0 without gradients)."""
    max_norm = real_number("max_norm", max_norm, "clip_grad_norm_")
    norm_type = real_number("norm_type", norm_type, "clip_grad_norm_")
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 (or inf), got {norm_type}")
    gradients = _gradients(parameters, "clip_grad_norm_")
    if not gradients:
        return 0.0
    norms = np.stack([_norm(grad.data, norm_type) for grad in gradients])
    total = _norm(norms, norm_type)
    # in the gradients' dtype, as PyTorch computes it, so that float32 factors agree too
    factor = np.minimum(total.dtype.type(max_norm) / (total + total.dtype.type(1e-6)), 1)
    with no_grad():
        for grad in gradients:
            grad.mul_(factor.astype(grad.dtype))
    return float(total)


def clip_grad_value_(parameters, clip_value):
    """Clip every gradient of `parameters` in place to [-clip_value, clip_value]."""
    clip_value = real_number("clip_value", clip_value, "clip_grad_value_")
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    with no_grad():
        for grad in _gradients(parameters, "clip_grad_value_"):
            grad.copy_(np.clip(grad.data, -clip_value, clip_value))

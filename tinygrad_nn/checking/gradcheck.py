"""gradcheck / gradgradcheck: analytic Jacobians against central finite differences, in float64.

`compare_jacobians` does the work for both and for the self-check: it builds the two Jacobians
of every input that requires grad (checking.jacobians) and measures how far apart they are."""
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..autograd import grad
from ..ops import concatenate
from ..tensor import Tensor
from .jacobians import analytic_jacobian, first_derivatives, numeric_jacobian

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]


class GradcheckError(RuntimeError):
    """An analytic gradient disagrees with finite differences."""


def _float64_copies(inputs, where):
    """Float64 copies of the inputs (same requires_grad); a warning for lower precision."""
    copies = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad:
            if x.dtype != np.float64:
                warnings.warn(f"{where}: input {i} is {x.dtype}; it is checked as float64 "
                              "(finite differences need the precision)", stacklevel=3)
            copies.append(Tensor(x.data, dtype=np.float64, requires_grad=True))
        else:
            copies.append(x)
    return copies


def _output(fn, inputs, where):
    y = fn(*inputs)
    if not isinstance(y, Tensor):
        raise TypeError(f"{where}: fn must return a Tensor, got {type(y).__name__}")
    return y


def _one_sided_derivatives(fn, x, flat_index, out_index, step):
    """(f(x+h) - f(x)) / h and (f(x) - f(x-h)) / h for one Jacobian entry."""
    element = np.unravel_index(flat_index, x.shape)
    original = x.data[element]
    values = []
    for delta in (step, 0.0, -step):
        x.data[element] = original + delta
        values.append(fn().data.astype(np.float64).ravel()[out_index])
    x.data[element] = original
    return (values[0] - values[1]) / step, (values[1] - values[2]) / step


def _is_kink(fn, x, flat_index, out_index, eps, analytic, atol, rtol):
    """True if the function has no derivative here and `analytic` is a fair value for it.

    No derivative: the gap between the slopes from the left and from the right does not vanish
    as the step shrinks. On a smooth function the gap is proportional to the step (f'' h), so
    extrapolating it from steps 100 eps and 10 eps to a zero step leaves ~0; at a kink it stays
    (2 for |x| at 0). Fair value: between the two slopes (0 for |x| at 0, where they are -1 and
    1), so a kink never excuses a gradient that no one-sided slope supports.
    """
    slopes = [_one_sided_derivatives(fn, x, flat_index, out_index, step)
              for step in (eps * 100, eps * 10)]
    gaps = [abs(right - left) / max(1.0, abs(right), abs(left)) for right, left in slopes]
    gap_at_zero_step = gaps[1] - (gaps[0] - gaps[1]) / 9  # gap(h) ~ gap(0) + c h
    low, high = sorted(slopes[1])
    slack = atol + rtol * max(abs(low), abs(high))
    return gap_at_zero_step > 1e-2 and low - slack <= analytic <= high + slack


@dataclass
class Comparison:
    """How far the analytic Jacobians are from the numeric ones: the largest absolute error,
    the largest error relative to |numeric| (floored at atol, so entries that should be 0 count
    absolutely), the failure message (None if every entry is within atol + rtol |numeric|), and
    the entries excused as kinks (input, output element, input element)."""
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    failure: str = None
    kinks: list = field(default_factory=list)


def compare_jacobians(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, detect_kinks=False,
                      where="gradcheck", names=None):
    """Compare analytic and numeric Jacobians of fn(*inputs) for every input that requires grad
    (inputs already float64); `names` (optional) says how the message names input i."""
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError(f"{where}: no input has requires_grad=True")
    y = _output(fn, inputs, where)
    analytic = dict(zip(checked, analytic_jacobian(y, [inputs[i] for i in checked])))

    def evaluate():  # not under no_grad: fn may itself differentiate (gradgradcheck)
        return fn(*inputs)

    result = Comparison()
    for i in checked:
        x = inputs[i]
        numeric = numeric_jacobian(evaluate, x, eps)
        error = np.abs(analytic[i] - numeric)
        relative = error / np.maximum(np.abs(numeric), atol)
        result.max_abs_error = max(result.max_abs_error, float(np.max(error, initial=0.0)))
        result.max_rel_error = max(result.max_rel_error, float(np.max(relative, initial=0.0)))
        if np.isnan(error).any():
            result.max_abs_error = result.max_rel_error = float("nan")
        excess = error - (atol + rtol * np.abs(numeric))
        bad = np.argwhere(~(excess <= 0))  # NaN counts as bad
        if detect_kinks:
            still_bad = [(k, j) for k, j in bad
                         if not _is_kink(evaluate, x, j, k, eps, analytic[i][k, j], atol, rtol)]
            result.kinks += [(i, k, j) for k, j in bad if (k, j) not in still_bad]
            bad = still_bad
        if len(bad) and result.failure is None:
            k, j = max(bad, key=lambda kj: np.nan_to_num(excess[kj[0], kj[1]], nan=np.inf))
            element = tuple(int(n) for n in np.unravel_index(j, x.shape))
            out_element = tuple(int(n) for n in np.unravel_index(k, y.shape))
            name = names(i) if names else f"input {i}"
            result.failure = (
                f"gradcheck failed for {name} (shape {x.shape}) at element {element}, "
                f"output element {out_element}:\n"
                f"  analytic={float(analytic[i][k, j])!r}  numeric={float(numeric[k, j])!r}\n"
                f"  largest |analytic - numeric| = {float(np.max(error))!r}; "
                f"{len(bad)} of {error.size} Jacobian entries outside "
                f"atol={atol} + rtol={rtol} * |numeric|")
    return result


def _verdict(result, raise_exception, prefix=""):
    if result.failure is not None:
        if raise_exception:
            raise GradcheckError(prefix + result.failure)
        return False
    return True


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              detect_kinks=False):
    """Check the analytic Jacobian of `fn(*inputs)` against central finite differences.

    Every input with requires_grad=True is checked (as a float64 copy), over every output
    element. An entry passes if |analytic - numeric| <= atol + rtol * |numeric| (a NaN never
    passes). With `detect_kinks=True`, a mismatch at a point where the function has no
    derivative (the one-sided slopes stay apart as the step shrinks) and the analytic value lies
    between those slopes is reported as a kink (a warning) instead of a wrong gradient.

    Returns True; on a mismatch raises GradcheckError (or returns False if raise_exception is
    False) naming the input, the worst element, the analytic and numeric values.
    """
    single = isinstance(inputs, Tensor)
    inputs = _float64_copies([inputs] if single else list(inputs), "gradcheck")
    result = compare_jacobians(fn, inputs, eps, atol, rtol, detect_kinks)
    if result.kinks and result.failure is None:
        i, _, j = result.kinks[0]
        element = tuple(int(n) for n in np.unravel_index(j, inputs[i].shape))
        warnings.warn(f"gradcheck: {len(result.kinks)} Jacobian entries sit at points where the "
                      f"function is not differentiable (first: input {i}, element {element}); "
                      "they were not counted as wrong gradients", stacklevel=2)
    return _verdict(result, raise_exception)


def compare_second_order(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, grad_outputs=None,
                         seed=0):
    """What gradgradcheck checks, as a Comparison: the gradient recorded for double backward
    (create_graph=True) equals the plain one, and its Jacobian with respect to the inputs and
    to v = `grad_outputs` agrees with finite differences.

    v is random by default (fixed by `seed`): with v = 1 the gradient of softmax is identically
    0 and would hide any mistake in its second derivative. v is differentiated too, so the
    backward rules are checked as functions of the incoming gradient (the rules of the ops that
    backward itself records, such as ScatterAdd for indexing, run here)."""
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if grad_outputs is None:
        shape = _output(fn, inputs, "gradgradcheck").shape
        grad_outputs = np.random.default_rng(seed).standard_normal(shape)
    v = Tensor(np.asarray(getattr(grad_outputs, "data", grad_outputs)), dtype=np.float64,
               requires_grad=True)
    y = fn(*inputs)
    plain = [None] * len(checked)
    if y.requires_grad:
        plain = grad(y, [inputs[i] for i in checked], grad_outputs=v.data, allow_unused=True)
    recorded = first_derivatives(fn, inputs, v, wrt=checked)
    for i, p, r in zip(checked, plain, recorded):
        p = np.zeros(r.shape) if p is None else p.data
        # the same arithmetic on Tensors instead of arrays: equal but for float32 rounding
        if not np.allclose(r.data, p, rtol=1e-6, atol=1e-9, equal_nan=True):
            return Comparison(failure=f"the gradient of input {i} recorded for double backward "
                              "(create_graph=True) differs from the plain one by up to "
                              f"{float(np.max(np.abs(r.data - p)))!r}")

    def first(*args):
        grads = first_derivatives(fn, args[:-1], args[-1], wrt=checked)
        parts = [g.reshape(-1) for g in grads]
        return parts[0] if len(parts) == 1 else concatenate(parts)
    return compare_jacobians(first, list(inputs) + [v], eps, atol, rtol, where="gradgradcheck",
                             names=lambda i: "grad_outputs" if i == len(inputs) else f"input {i}")


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
                  grad_outputs=None, seed=0):
    """Check second derivatives: gradcheck of x, v -> grad(fn(x), x, v, create_graph=True) for
    a random v (fixed by `seed`) or `grad_outputs`, so every Hessian-vector product is compared
    (and the gradient's dependence on v); the recorded gradient must equal the plain one."""
    single = isinstance(inputs, Tensor)
    inputs = _float64_copies([inputs] if single else list(inputs), "gradgradcheck")
    result = compare_second_order(fn, inputs, eps, atol, rtol, grad_outputs, seed)
    return _verdict(result, raise_exception, "gradgradcheck (second derivatives): ")

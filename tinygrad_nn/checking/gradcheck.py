"""gradcheck / gradgradcheck: analytic Jacobians against central finite differences, in float64."""
import warnings

import numpy as np

from ..autograd import grad
from ..functional import concatenate
from ..tensor import Tensor

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


def _output_array(fn, inputs, where):
    y = fn(*inputs)
    if not isinstance(y, Tensor):
        raise TypeError(f"{where}: fn must return a Tensor, got {type(y).__name__}")
    return y


def _numeric_column(fn, x, flat_index, eps):
    """d fn / d x[flat_index] by central differences, flattened over the output."""
    flat = x.data.reshape(-1)  # a view: perturbing it perturbs x
    original = flat[flat_index]
    flat[flat_index] = original + eps
    plus = fn().data.astype(np.float64).ravel()
    flat[flat_index] = original - eps
    minus = fn().data.astype(np.float64).ravel()
    flat[flat_index] = original
    return (plus - minus) / (2 * eps)


def _one_sided_derivatives(fn, x, flat_index, out_index, step):
    """(f(x+h) - f(x)) / h and (f(x) - f(x-h)) / h for one Jacobian entry."""
    flat = x.data.reshape(-1)
    original = flat[flat_index]
    values = []
    for delta in (step, 0.0, -step):
        flat[flat_index] = original + delta
        values.append(fn().data.astype(np.float64).ravel()[out_index])
    flat[flat_index] = original
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


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              detect_kinks=False):
    """Check the analytic Jacobian of `fn(*inputs)` against central finite differences.

    Every input with requires_grad=True is checked (as a float64 copy), over every output
    element. An entry passes if |analytic - numeric| <= atol + rtol * |numeric|. With
    `detect_kinks=True`, a mismatch at a point where the function has no derivative (the
    one-sided slopes stay apart as the step shrinks) and the analytic value lies between those
    slopes is reported as a kink (a warning) instead of a wrong gradient.

    Returns True; on a mismatch raises GradcheckError (or returns False if raise_exception is
    False) naming the input, the worst element, the analytic and numeric values.
    """
    single = isinstance(inputs, Tensor)
    inputs = _float64_copies([inputs] if single else list(inputs), "gradcheck")
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")

    y = _output_array(fn, inputs, "gradcheck")
    out_size = y.size
    analytic = {i: np.zeros((out_size, inputs[i].size)) for i in checked}
    if y.requires_grad:
        for k in range(out_size):
            onehot = np.zeros(out_size)
            onehot[k] = 1.0
            grads = grad(y, [inputs[i] for i in checked], grad_outputs=onehot.reshape(y.shape),
                         retain_graph=True, allow_unused=True)
            for i, g in zip(checked, grads):
                if g is not None:
                    analytic[i][k] = g.data.ravel()

    def evaluate():  # not under no_grad: fn may itself differentiate (gradgradcheck)
        return fn(*inputs)

    kinks = []
    for i in checked:
        x = inputs[i]
        numeric = np.stack([_numeric_column(evaluate, x, j, eps) for j in range(x.size)], axis=1)
        error = np.abs(analytic[i] - numeric)
        excess = error - (atol + rtol * np.abs(numeric))
        bad = np.argwhere(~(excess <= 0))  # NaN counts as bad
        if detect_kinks:
            still_bad = [(k, j) for k, j in bad
                         if not _is_kink(evaluate, x, j, k, eps, analytic[i][k, j], atol, rtol)]
            kinks += [(i, k, j) for k, j in bad if (k, j) not in still_bad]
            bad = still_bad
        if len(bad):
            k, j = max(bad, key=lambda kj: np.nan_to_num(excess[kj[0], kj[1]], nan=np.inf))
            element = tuple(int(n) for n in np.unravel_index(j, x.shape))
            out_element = tuple(int(n) for n in np.unravel_index(k, y.shape))
            message = (f"gradcheck failed for input {i} (shape {x.shape}) at element {element}, "
                       f"output element {out_element}:\n"
                       f"  analytic={float(analytic[i][k, j])!r}  "
                       f"numeric={float(numeric[k, j])!r}\n"
                       f"  largest |analytic - numeric| = {float(np.nanmax(error))!r}; "
                       f"{len(bad)} of {error.size} Jacobian entries outside "
                       f"atol={atol} + rtol={rtol} * |numeric|")
            if raise_exception:
                raise GradcheckError(message)
            return False
    if kinks:
        i, _, j = kinks[0]
        element = tuple(int(n) for n in np.unravel_index(j, inputs[i].shape))
        warnings.warn(f"gradcheck: {len(kinks)} Jacobian entries sit at points where the function "
                      f"is not differentiable (first: input {i}, element {element}); "
                      "they were not counted as wrong gradients", stacklevel=2)
    return True


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
                  grad_outputs=None, seed=0):
    """Check second derivatives: gradcheck of x -> grad(fn(x), x, v, create_graph=True) for a
    fixed random v (or `grad_outputs`), so every Hessian-vector product is compared."""
    single = isinstance(inputs, Tensor)
    inputs = _float64_copies([inputs] if single else list(inputs), "gradgradcheck")
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if grad_outputs is None:
        shape = _output_array(fn, inputs, "gradgradcheck").shape
        grad_outputs = np.random.default_rng(seed).standard_normal(shape)

    def first_derivatives(*xs):
        y = fn(*xs)
        if not y.requires_grad:
            return Tensor(np.zeros(sum(xs[i].size for i in checked)))
        grads = grad(y, [xs[i] for i in checked], grad_outputs=grad_outputs,
                     create_graph=True, allow_unused=True)
        parts = [Tensor(np.zeros(xs[i].size)) if g is None else g.reshape(-1)
                 for i, g in zip(checked, grads)]
        return parts[0] if len(parts) == 1 else concatenate(parts)

    try:
        return gradcheck(first_derivatives, inputs, eps=eps, atol=atol, rtol=rtol)
    except GradcheckError as exc:
        if raise_exception:
            raise GradcheckError(f"gradgradcheck (second derivatives): {exc}") from None
        return False


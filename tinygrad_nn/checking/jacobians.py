"""Whole derivatives, built in one place: `analytic_jacobian` (one `tg.grad` pass per output
element), `numeric_jacobian` (central differences) and `first_derivatives` (the recorded
gradient, a function of the inputs again). gradcheck, gradgradcheck, the self-check and these
helpers all use them:

    tg.jacobian(fn, x)     # J[i..., j...] = d fn(x)[i...] / d x[j...], shape fn(x).shape + x.shape
    tg.hessian(fn, x)      # H[i..., j...] = d² fn(x) / d x[i...] d x[j...] (scalar fn),
                           #   shape x.shape + x.shape
    tg.hvp(fn, x, v)       # H v without forming H (two backward passes), shape x.shape
    numerical_jacobian(fn, x)  # central finite differences, to check the others against

`fn` takes a Tensor and returns one; `x` is a Tensor or array. The derivative is taken at the
value of `x` (a fresh leaf holding its data), so `x`'s own graph and `.grad` are left alone.
The results are constants (no graph).
"""
import contextlib

import numpy as np

from ..autograd import grad
from ..tensor import Tensor

__all__ = ["jacobian", "hessian", "hvp", "numerical_jacobian"]


def analytic_jacobian(y, xs):
    """d y / d x for each x of `xs` (leaves y was computed from), as (y.size, x.size) arrays:
    one backward pass per element of y; zeros where y does not depend on x."""
    dtype = np.result_type(y.dtype, *(x.dtype for x in xs))
    rows = [np.zeros((y.size, x.size), dtype=dtype) for x in xs]
    if y.requires_grad:
        onehot = np.zeros(y.size, dtype=y.dtype)
        for k in range(y.size):
            onehot[k] = 1
            grads = grad(y, xs, grad_outputs=onehot.reshape(y.shape), retain_graph=True,
                         allow_unused=True)
            onehot[k] = 0
            for row, g in zip(rows, grads):
                if g is not None:
                    row[k] = g.data.ravel()
    return rows


@contextlib.contextmanager
def working_copy(x):
    """x holding a writeable copy of its array for the time of the block (to perturb, one element
    at a time): its own array stays untouched, and may be read-only, held by a graph."""
    own = x.data
    x.data = own.copy()
    try:
        yield x.data
    finally:
        x.data = own


def numeric_jacobian(evaluate, x, eps):
    """d evaluate() / d x by central differences in float64, shape (output size, x.size):
    `evaluate` reads x, whose elements are perturbed one at a time (in a working copy)."""
    columns = []
    with working_copy(x) as work:
        for j in range(x.size):
            element = np.unravel_index(j, x.shape)
            original = work[element]
            work[element] = original + eps
            plus = evaluate().data.astype(np.float64).ravel()
            work[element] = original - eps
            minus = evaluate().data.astype(np.float64).ravel()
            work[element] = original
            columns.append((plus - minus) / (2 * eps))
    if not columns:
        return np.zeros((evaluate().size, 0))
    return np.stack(columns, axis=1)


def first_derivatives(fn, xs, grad_outputs=None, wrt=None):
    """The gradients of fn(*xs) · grad_outputs with respect to xs[i] for i in `wrt` (default:
    all), recorded (create_graph) so that they can be differentiated again; a zero Tensor
    where fn does not depend on an input."""
    wrt = [xs[i] for i in (range(len(xs)) if wrt is None else wrt)]
    y = fn(*xs)
    grads = [None] * len(wrt)
    if y.requires_grad:
        grads = grad(y, wrt, grad_outputs=grad_outputs, create_graph=True, allow_unused=True)
    return [Tensor(np.zeros(x.shape, dtype=x.dtype)) if g is None else g
            for x, g in zip(wrt, grads)]


def _fresh_leaf(x):
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    return Tensor(data, dtype=data.dtype, requires_grad=True)


def _scalar_function(fn, where):
    def checked(x):
        y = fn(x)
        if not isinstance(y, Tensor) or y.size != 1:
            raise ValueError(f"{where}: fn must return a Tensor with one element, got "
                             f"{getattr(y, 'shape', type(y).__name__)}")
        return y
    return checked


def jacobian(fn, x):
    """d fn(x) / d x, shape fn(x).shape + x.shape; one backward pass per output element."""
    x = _fresh_leaf(x)
    y = fn(x)
    (rows,) = analytic_jacobian(y, [x])
    return Tensor(rows.reshape(y.shape + x.shape), dtype=rows.dtype)


def hessian(fn, x):
    """Second derivatives of a scalar fn, shape x.shape + x.shape: the Jacobian of its gradient,
    which first_derivatives records as a function of x."""
    scalar = _scalar_function(fn, "hessian")
    return jacobian(lambda t: first_derivatives(scalar, [t])[0], x)


def hvp(fn, x, v):
    """The Hessian of a scalar fn at x times v (of x's shape), d/dx (∇fn(x) · v): two backward
    passes, no Hessian formed; shape x.shape."""
    x = _fresh_leaf(x)
    v = v if isinstance(v, Tensor) else np.asarray(v, dtype=x.dtype)
    (g,) = first_derivatives(_scalar_function(fn, "hvp"), [x])
    hv = grad(g, x, grad_outputs=v, allow_unused=True)[0] if g.requires_grad else None
    return Tensor(np.zeros(x.shape, dtype=x.dtype)) if hv is None else hv


def numerical_jacobian(fn, x, eps=1e-6):
    """d fn(x) / d x by central differences in float64, as a NumPy array of shape
    fn(x).shape + x.shape (what gradcheck compares against)."""
    x = Tensor(np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64),
               requires_grad=True)  # fn may differentiate with respect to x itself
    out_shape = fn(x).shape
    return numeric_jacobian(lambda: fn(x), x, eps).reshape(out_shape + x.shape)

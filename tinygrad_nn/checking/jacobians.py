"""Whole derivatives of a function of one tensor, built on `tg.grad`:

    tg.jacobian(fn, x)     # J[i..., j...] = d fn(x)[i...] / d x[j...], shape fn(x).shape + x.shape
    tg.hessian(fn, x)      # H[i..., j...] = d² fn(x) / d x[i...] d x[j...] (scalar fn),
                           #   shape x.shape + x.shape
    tg.hvp(fn, x, v)       # H v without forming H (two backward passes), shape x.shape
    numerical_jacobian(fn, x)  # central finite differences, to check the others against

`fn` takes a Tensor and returns one; `x` is a Tensor or array. The derivative is taken at the
value of `x` (a fresh leaf holding its data), so `x`'s own graph and `.grad` are left alone.
The results are constants (no graph).
"""
import numpy as np

from ..autograd import grad
from .gradcheck import _numeric_column
from ..tensor import Tensor

__all__ = ["jacobian", "hessian", "hvp", "numerical_jacobian"]


def _fresh_leaf(x):
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    return Tensor._make(data, None).requires_grad_()


def _zeros_like(x):
    return Tensor._make(np.zeros(x.shape, dtype=x.dtype), None)


def _scalar_output(fn, x, where):
    y = fn(x)
    if not isinstance(y, Tensor) or y.size != 1:
        raise ValueError(f"{where}: fn must return a Tensor with one element, got "
                         f"{getattr(y, 'shape', type(y).__name__)}")
    return y


def jacobian(fn, x):
    """d fn(x) / d x, shape fn(x).shape + x.shape; one backward pass per output element."""
    x = _fresh_leaf(x)
    y = fn(x)
    rows = np.zeros((y.size, x.size), dtype=np.result_type(y.dtype, x.dtype))
    if y.requires_grad:  # otherwise y does not depend on x: the Jacobian is zero
        onehot = np.zeros(y.size, dtype=y.dtype)
        for k in range(y.size):
            onehot[k] = 1
            (g,) = grad(y, x, grad_outputs=onehot.reshape(y.shape), retain_graph=True,
                        allow_unused=True)
            onehot[k] = 0
            if g is not None:
                rows[k] = g.data.ravel()
    return Tensor._make(rows.reshape(y.shape + x.shape), None)


def hessian(fn, x):
    """Second derivatives of a scalar fn, shape x.shape + x.shape: the Jacobian of its gradient,
    which grad(..., create_graph=True) records as a function of x."""
    def gradient(x):
        y = _scalar_output(fn, x, "hessian")
        g = grad(y, x, create_graph=True, allow_unused=True)[0] if y.requires_grad else None
        return _zeros_like(x) if g is None else g
    return jacobian(gradient, x)


def hvp(fn, x, v):
    """The Hessian of a scalar fn at x times v (of x's shape), d/dx (∇fn(x) · v): two backward
    passes, no Hessian formed; shape x.shape."""
    x = _fresh_leaf(x)
    v = v if isinstance(v, Tensor) else np.asarray(v, dtype=x.dtype)
    y = _scalar_output(fn, x, "hvp")
    g = grad(y, x, create_graph=True, allow_unused=True)[0] if y.requires_grad else None
    if g is None or not g.requires_grad:  # fn is at most linear in x: its Hessian is zero
        return _zeros_like(x)
    (hv,) = grad(g, x, grad_outputs=v, allow_unused=True)
    return _zeros_like(x) if hv is None else hv


def numerical_jacobian(fn, x, eps=1e-6):
    """d fn(x) / d x by central differences in float64, as a NumPy array of shape
    fn(x).shape + x.shape (what gradcheck compares against)."""
    x = Tensor(np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64),
               requires_grad=True)  # fn may differentiate with respect to x itself

    def evaluate():
        return fn(x)
    out_shape = evaluate().shape
    columns = [_numeric_column(evaluate, x, j, eps) for j in range(x.size)]
    return np.stack(columns, axis=-1).reshape(out_shape + x.shape)

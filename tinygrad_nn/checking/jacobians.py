"""Whole derivatives, built in one place: `analytic_jacobian` (one `tg.grad` pass per output
element), `numeric_jacobian` (central differences) and `first_derivatives` (the recorded
gradient, a function of the inputs again). gradcheck, gradgradcheck, the self-check, these
helpers and the transforms (`tg.jacfwd`, `tg.jvp`, ...) all use them:

    tg.jacobian(fn, x)     # J[i..., j...] = d fn(x)[i...] / d x[j...], shape fn(x).shape + x.shape
    tg.hessian(fn, x)      # H[i..., j...] = d² fn(x) / d x[i...] d x[j...] (scalar fn),
                           #   shape x.shape + x.shape
    tg.hvp(fn, x, v)       # H v without forming H (two backward passes), shape x.shape
    numerical_jacobian(fn, x)  # central finite differences, to check the others against

`fn` takes Tensors and returns a Tensor, or (jacobian) a tuple of Tensors; `x` is a Tensor or
array, or a tuple of them (then fn(*x)). With several outputs or inputs the result is a tuple,
over the outputs then the inputs, as torch.autograd.functional: `J[i][j]` is d output i / d
input j. The derivative is taken at the values of `x` (fresh leaves holding copies), so `x`'s
own graph and `.grad` are left alone; grad mode is on inside, also when the caller is in
`no_grad()`. The results are constants (no graph).
"""
import contextlib

import numpy as np

from ..autograd import grad
from ..grad_mode import enable_grad
from ..tensor import Tensor

__all__ = ["jacobian", "hessian", "hvp", "numerical_jacobian"]


def several(x):
    """Whether `x` is several inputs: a tuple, or a list of Tensors or arrays (a list of numbers
    is one input, an array)."""
    return isinstance(x, tuple) or (isinstance(x, list) and bool(x) and all(
        isinstance(e, (Tensor, np.ndarray)) for e in x))


def fresh_leaves(x):
    """(leaves holding copies of the values of x, one per input; whether x was a single one).
    A non-floating input raises TypeError (it cannot require grad)."""
    single = not several(x)
    leaves = []
    for value in ([x] if single else x):
        data = np.array(value.data if isinstance(value, Tensor) else value)
        leaves.append(Tensor(data, dtype=data.dtype, requires_grad=True))
    return leaves, single


def as_outputs(y, where):
    """(fn's result as a list of Tensors, whether it was a single Tensor); TypeError naming what
    it was otherwise."""
    if isinstance(y, Tensor):
        return [y], True
    if isinstance(y, (tuple, list)) and y:
        for i, t in enumerate(y):
            if not isinstance(t, Tensor):
                raise TypeError(f"{where}: fn returned a {type(y).__name__} whose element {i} is "
                                f"a {type(t).__name__}; fn must return a Tensor or a tuple of "
                                "Tensors")
        return list(y), False
    raise TypeError(f"{where}: fn must return a Tensor or a tuple of Tensors, got "
                    f"{type(y).__name__}")


def matching(vectors, like, single, what):
    """`vectors` as a list of arrays, one per tensor of `like` and each of its shape (a single
    one when `single`); ValueError naming the count or the shape otherwise."""
    if not single and not isinstance(vectors, (tuple, list)):
        raise ValueError(f"{what}: expected a tuple of {len(like)}, one per tensor, got a "
                         f"{type(vectors).__name__}")
    vectors = [vectors] if single else list(vectors)
    if len(vectors) != len(like):
        raise ValueError(f"{what}: {len(vectors)} given for {len(like)} tensors")
    arrays = []
    for i, (v, x) in enumerate(zip(vectors, like)):
        v = v.data if isinstance(v, Tensor) else np.asarray(v, dtype=x.dtype)
        if v.shape != x.shape:
            raise ValueError(f"{what} {i} has shape {v.shape}, but its tensor has shape "
                             f"{x.shape}")
        arrays.append(v)
    return arrays


def nest(blocks, single_out, single_in):
    """blocks[i][j] (output i, input j) in fn's structure: a Tensor for one output and one
    input, else a tuple over the outputs, of tuples over the inputs (either level dropped when
    it has one element that was not a tuple)."""
    rows = [row[0] if single_in else tuple(row) for row in blocks]
    return rows[0] if single_out else tuple(rows)


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


def _scalar_function(fn, where):
    def checked(*xs):
        y = fn(*xs)
        if not isinstance(y, Tensor) or y.size != 1:
            raise ValueError(f"{where}: fn must return a Tensor with one element, got "
                             f"{getattr(y, 'shape', type(y).__name__)}")
        return y
    return checked


def reverse_jacobian(fn, x, where):
    """d fn(*x) / d x in reverse mode (tg.jacobian, tg.jacrev): one backward pass per output
    element; J[i][j] of shape (output i).shape + (input j).shape."""
    with enable_grad():
        leaves, single_in = fresh_leaves(x)
        ys, single_out = as_outputs(fn(*leaves), where)
        blocks = [[Tensor(rows.reshape(y.shape + leaf.shape), dtype=rows.dtype)
                   for rows, leaf in zip(analytic_jacobian(y, leaves), leaves)] for y in ys]
    return nest(blocks, single_out, single_in)


def jacobian(fn, x):
    """d fn(x) / d x, shape fn(x).shape + x.shape; one backward pass per output element. A
    tuple of outputs or of inputs gives a tuple (J[i][j]: output i, input j)."""
    return reverse_jacobian(fn, x, "jacobian")


def hessian(fn, x):
    """Second derivatives of a scalar fn, shape x.shape + x.shape: the Jacobian of its gradient,
    which first_derivatives records as a function of x. For a tuple of inputs, H[i][j] =
    d² fn / d x_i d x_j, of shape x_i.shape + x_j.shape."""
    scalar, one = _scalar_function(fn, "hessian"), not several(x)

    def gradient(*xs):
        grads = first_derivatives(scalar, xs)
        return grads[0] if one else tuple(grads)
    return reverse_jacobian(gradient, x, "hessian")


@enable_grad()
def hvp(fn, x, v):
    """The Hessian of a scalar fn at x times v (of x's shape), d/dx (∇fn(x) · v): two backward
    passes, no Hessian formed; shape x.shape. For a tuple of inputs, v is a tuple too and the
    result is the tuple of d/dx_i Σ_j ∇_j fn · v_j."""
    leaves, single = fresh_leaves(x)
    vs = matching(v, leaves, single, "hvp: v")
    used = [(g, u) for g, u in zip(first_derivatives(_scalar_function(fn, "hvp"), leaves), vs)
            if g.requires_grad]
    hv = [None] * len(leaves)
    if used:
        hv = grad([g for g, _ in used], leaves, grad_outputs=[u for _, u in used],
                  allow_unused=True)
    results = [Tensor(np.zeros(x.shape, dtype=x.dtype)) if h is None else h
               for h, x in zip(hv, leaves)]
    return results[0] if single else tuple(results)


@enable_grad()  # fn may differentiate with respect to x itself
def numerical_jacobian(fn, x, eps=1e-6):
    """d fn(x) / d x by central differences in float64, as a NumPy array of shape
    fn(x).shape + x.shape (what gradcheck compares against)."""
    x = Tensor(np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64),
               requires_grad=True)
    out_shape = fn(x).shape
    return numeric_jacobian(lambda: fn(x), x, eps).reshape(out_shape + x.shape)

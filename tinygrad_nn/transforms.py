"""Function transforms: Jacobian-vector products (forward mode) and vector-Jacobian products.

    out, tangent_out = tg.jvp(fn, inputs, tangents)   # J v: how fn's output moves along v
    out, cotangent_in = tg.vjp(fn, inputs, cotangents)  # uᵀ J: one backward pass
    tg.jacfwd(fn, x)  # the Jacobian column by column (one J v per input element)
    tg.jacrev(fn, x)  # the Jacobian row by row (one uᵀ J per output element) = tg.jacobian

Forward mode needs no second set of derivative rules. The reverse-mode gradient
g(u) = Jᵀ u is linear in the cotangent u, so recording it (create_graph=True) for a u that
requires grad, then differentiating g · v with respect to u, gives J v.

`fn` takes Tensors and returns a Tensor or a tuple of Tensors; `inputs` (or `x`) is a Tensor (or
array) or a tuple of them, and `tangents` / `cotangents` match `inputs` / the outputs in
structure and shape. Results follow fn's structure, as torch.func's: a tuple over the outputs
(jvp's J v, jacfwd), of tuples over the inputs (vjp's uᵀ J, jacfwd). Derivatives are taken at
the inputs' values (fresh leaves), so the inputs' own graphs and `.grad` are left alone, and
grad mode is on inside, also when the caller is in `no_grad()`; the results are constants.
"""
import numpy as np

from .autograd import grad
from .grad_mode import enable_grad
from .checking.jacobians import as_outputs, fresh_leaves, matching, nest, reverse_jacobian
from .tensor import Tensor

__all__ = ["jvp", "vjp", "jacfwd", "jacrev"]


def _zeros(x):
    return Tensor._make(np.zeros(x.shape, dtype=x.dtype), None)


def _constant(g, like):
    return _zeros(like) if g is None else Tensor._make(np.array(g.data), None)


def _detached(ys, single):
    return ys[0].detach() if single else tuple(y.detach() for y in ys)


@enable_grad()
def vjp(fn, inputs, cotangents):
    """(fn(*inputs), uᵀ J): the gradient of fn's outputs weighted by `cotangents` (u, one per
    output, of its shape) with respect to each input; a tuple when `inputs` is a tuple."""
    leaves, single_in = fresh_leaves(inputs)
    ys, single_out = as_outputs(fn(*leaves), "vjp")
    us = matching(cotangents, ys, single_out, "cotangent")
    live = [(y, u) for y, u in zip(ys, us) if y.requires_grad]  # the others are constants
    grads = [None] * len(leaves)
    if live:
        grads = grad([y for y, _ in live], leaves, grad_outputs=[u for _, u in live],
                     allow_unused=True)
    grads = [_constant(g, x) for g, x in zip(grads, leaves)]
    return _detached(ys, single_out), grads[0] if single_in else tuple(grads)


def _linearization(fn, leaves, where):
    """(fn's outputs, whether a single one, their cotangents u (None for an output that does
    not depend on the inputs), and the gradients Jᵢᵀ u recorded as functions of the u, with
    the index of their input)."""
    ys, single = as_outputs(fn(*leaves), where)
    us = [Tensor._make(np.zeros(y.shape, dtype=y.dtype), None).requires_grad_()
          if y.requires_grad else None for y in ys]
    live = [(y, u) for y, u in zip(ys, us) if u is not None]
    used = []
    if live:
        grads = grad([y for y, _ in live], leaves, grad_outputs=[u for _, u in live],
                     create_graph=True, allow_unused=True)
        used = [(g, i) for i, g in enumerate(grads) if g is not None and g.requires_grad]
    return ys, single, us, used


def _push_forward(ys, us, used, tangents):
    """[J v for each output]: d(Σᵢ Jᵢᵀ u · vᵢ)/du for the linearization's gradients."""
    live = [u for u in us if u is not None]
    jvs = [None] * len(live)
    if used:
        jvs = grad([g for g, _ in used], live, grad_outputs=[tangents[i] for _, i in used],
                   retain_graph=True, allow_unused=True)
    jvs = iter(jvs)
    return [_zeros(y) if u is None else _constant(next(jvs), y) for y, u in zip(ys, us)]


@enable_grad()
def jvp(fn, inputs, tangents):
    """(fn(*inputs), J v): the directional derivative of fn at `inputs` along `tangents` (v, one
    per input, each of its input's shape), of fn's output shape (a tuple for a tuple)."""
    leaves, single_in = fresh_leaves(inputs)
    v = matching(tangents, leaves, single_in, "tangent")
    ys, single_out, us, used = _linearization(fn, leaves, "jvp")
    jv = _push_forward(ys, us, used, v)
    return _detached(ys, single_out), jv[0] if single_out else tuple(jv)


@enable_grad()
def jacfwd(fn, x):
    """d fn(x) / d x in forward mode, shape fn(x).shape + x.shape: one J v per element of x
    (cheaper than jacrev when x has fewer elements than fn(x)). A tuple of inputs (fn(*x)) or
    of outputs gives a tuple, J[i][j] = d output i / d input j, as torch.func.jacfwd."""
    leaves, single_in = fresh_leaves(x)
    ys, single_out, us, used = _linearization(fn, leaves, "jacfwd")
    tangents = [np.zeros(leaf.shape, dtype=leaf.dtype) for leaf in leaves]
    blocks = [[None] * len(leaves) for _ in ys]
    for j, leaf in enumerate(leaves):
        onehot = tangents[j].reshape(-1)  # a view: the tangent of input j, one element at a time
        columns = []
        for k in range(leaf.size):
            onehot[k] = 1
            columns.append([jv.data for jv in _push_forward(ys, us, used, tangents)])
            onehot[k] = 0
        for i, y in enumerate(ys):
            out = (np.stack([column[i] for column in columns], axis=-1) if columns
                   else np.zeros(y.shape + (0,), y.dtype))
            blocks[i][j] = Tensor._make(out.reshape(y.shape + leaf.shape), None)
    return nest(blocks, single_out, single_in)


def jacrev(fn, x):
    """d fn(x) / d x in reverse mode (= tg.jacobian), shape fn(x).shape + x.shape: one uᵀ J per
    element of fn(x). A tuple of inputs (fn(*x)) or of outputs gives a tuple, J[i][j] = d output
    i / d input j, as torch.func.jacrev."""
    return reverse_jacobian(fn, x, "jacrev")

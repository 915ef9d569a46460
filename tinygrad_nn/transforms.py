"""Function transforms: Jacobian-vector products (forward mode) and vector-Jacobian products.

    out, tangent_out = tg.jvp(fn, inputs, tangents)   # J v: how fn's output moves along v
    out, cotangent_in = tg.vjp(fn, inputs, cotangents)  # uᵀ J: one backward pass
    tg.jacfwd(fn, x)  # the Jacobian column by column (one J v per input element)
    tg.jacrev(fn, x)  # the Jacobian row by row (one uᵀ J per output element) = tg.jacobian

Forward mode needs no second set of derivative rules. The reverse-mode gradient
g(u) = Jᵀ u is linear in the cotangent u, so recording it (create_graph=True) for a u that
requires grad, then differentiating g · v with respect to u, gives J v.

`fn` takes Tensors and returns a Tensor; `inputs` is a Tensor (or array) or a tuple of them, and
`tangents` / `cotangents` match `inputs` / the output in structure and shape. Derivatives are
taken at the inputs' values (fresh leaves), so the inputs' own graphs and `.grad` are left
alone; the results are constants (no graph).
"""
import numpy as np

from .autograd import grad
from .checking.jacobians import jacobian
from .tensor import Tensor

__all__ = ["jvp", "vjp", "jacfwd", "jacrev"]

jacrev = jacobian


def _leaves(inputs):
    """(fresh leaves holding the inputs' values, whether `inputs` was a single tensor)."""
    single = not isinstance(inputs, (tuple, list))
    leaves = []
    for x in ([inputs] if single else inputs):
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        leaves.append(Tensor._make(data, None).requires_grad_())
    return leaves, single


def _matching(vectors, like, single, what):
    """`vectors` as a list of arrays, one per tensor of `like`, each of its shape."""
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


def _output(fn, leaves, where):
    y = fn(*leaves)
    if not isinstance(y, Tensor):
        raise TypeError(f"{where}: fn must return a Tensor, got {type(y).__name__}")
    return y


def _zeros(x):
    return Tensor._make(np.zeros(x.shape, dtype=x.dtype), None)


def _constant(g, like):
    return _zeros(like) if g is None else Tensor._make(np.array(g.data), None)


def vjp(fn, inputs, cotangents):
    """(fn(*inputs), uᵀ J): the gradient of fn's output weighted by `cotangents` (u, the output's
    shape) with respect to each input; a tuple when `inputs` is a tuple."""
    leaves, single = _leaves(inputs)
    y = _output(fn, leaves, "vjp")
    (u,) = _matching(cotangents, [y], True, "cotangent")
    if not y.requires_grad:  # y does not depend on the inputs
        grads = [None] * len(leaves)
    else:
        grads = grad(y, leaves, grad_outputs=u, allow_unused=True)
    grads = [_constant(g, x) for g, x in zip(grads, leaves)]
    return y.detach(), grads[0] if single else tuple(grads)


def _linearization(fn, leaves, where):
    """(y, u, gradients Jᵢᵀ u recorded as functions of the cotangent u), or None for the
    gradients when y does not depend on the inputs."""
    y = _output(fn, leaves, where)
    if not y.requires_grad:
        return y, None, None
    u = Tensor._make(np.zeros(y.shape, dtype=y.dtype), None).requires_grad_()
    grads = grad(y, leaves, grad_outputs=u, create_graph=True, allow_unused=True)
    used = [(g, i) for i, g in enumerate(grads) if g is not None and g.requires_grad]
    return y, u, used


def _push_forward(y, u, used, tangents):
    """J v = d(Σᵢ Jᵢᵀ u · vᵢ)/du for the linearization's gradients."""
    if not used:
        return _zeros(y)
    (jv,) = grad([g for g, _ in used], u, grad_outputs=[tangents[i] for _, i in used],
                 retain_graph=True, allow_unused=True)
    return _constant(jv, y)


def jvp(fn, inputs, tangents):
    """(fn(*inputs), J v): the directional derivative of fn at `inputs` along `tangents` (v, one
    per input, each of its input's shape), of fn's output shape."""
    leaves, single = _leaves(inputs)
    v = _matching(tangents, leaves, single, "tangent")
    y, u, used = _linearization(fn, leaves, "jvp")
    return y.detach(), _push_forward(y, u, used, v)


def jacfwd(fn, x):
    """d fn(x) / d x in forward mode, shape fn(x).shape + x.shape: one J v per element of x
    (cheaper than jacrev when x has fewer elements than fn(x))."""
    (leaf,), _ = _leaves(x)
    y, u, used = _linearization(fn, [leaf], "jacfwd")
    columns = []
    onehot = np.zeros(leaf.size, dtype=leaf.dtype)
    for j in range(leaf.size):
        onehot[j] = 1
        columns.append(_push_forward(y, u, used, [onehot.reshape(leaf.shape)]).data)
        onehot[j] = 0
    out = np.stack(columns, axis=-1) if columns else np.zeros(y.shape + (0,), y.dtype)
    return Tensor._make(out.reshape(y.shape + leaf.shape), None)

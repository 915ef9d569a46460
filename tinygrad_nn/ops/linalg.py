"""Linear algebra: matrix products (with NumPy's rules for 1-D operands and batch axes), the
fused affine map of a Dense layer, einsum and what NumPy builds on it (tensordot, dot, inner,
outer, trace, diag). Each op's forward and backward side by side, then the functions."""
import builtins

import numpy as np

from ..function import call
from ..tensor import Tensor
from .base import Op, as_tensor, axis_index, register
from .shape import ScatterAdd, diagonal, ravel


def _swap_last_two(x):
    return x.T if x.ndim == 2 else x.transpose(*range(x.ndim - 2), x.ndim - 1, x.ndim - 2)


class MatMul(Op):
    """a @ b with NumPy's rules (1-D operands, broadcast batch dimensions);
    d/da = g @ bᵀ, d/db = aᵀ @ g"""
    @staticmethod
    def forward(ctx, a, b):
        a_ndim, b_ndim = np.ndim(a), np.ndim(b)
        if a_ndim == 0 or b_ndim == 0:
            raise ValueError(f"matmul: operands must be at least 1-D, got shapes "
                             f"{np.shape(a)} and {np.shape(b)}")
        if a.shape[-1] != b.shape[-2 if b_ndim > 1 else 0]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
                             f"{a.shape[-1]} (last dim of the first) != "
                             f"{b.shape[-2 if b_ndim > 1 else 0]} "
                             f"({'second-to-last' if b_ndim > 1 else 'only'} dim of the second)")
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if a.ndim == 1 and b.ndim == 1:  # inner product
            ga, gb = (g * b if need_a else None), (g * a if need_b else None)
        elif a.ndim == 1:  # (k,) @ (..., k, n)
            if need_a:
                ga = (g[..., None, :] @ _swap_last_two(b))[..., 0, :]
            if need_b:
                gb = a[:, None] * g[..., None, :]
        elif b.ndim == 1:  # (..., m, k) @ (k,)
            if need_a:
                ga = g[..., :, None] * b
            if need_b:
                gb = (_swap_last_two(a) @ g[..., :, None])[..., 0]
        else:
            if need_a:
                ga = g @ _swap_last_two(b)
            if need_b:
                gb = _swap_last_two(a) @ g
        return ga, gb


class Affine(Op):
    """x @ weight + bias in one node, x (..., in), weight (in, out), bias (out,) or None;
    d/dx = g weightᵀ, d/dweight = xᵀ g (over all leading axes), d/dbias = Σ g"""
    @staticmethod
    def forward(ctx, x, weight, bias=None):
        if np.ndim(x) == 0 or np.ndim(weight) != 2 or x.shape[-1] != weight.shape[0]:
            raise ValueError(f"linear: input of shape {np.shape(x)} does not fit a weight of "
                             f"shape {np.shape(weight)} (expected (..., {np.shape(weight)[0]}))")
        ctx.save_for_backward(x, weight)
        y = x @ weight
        if bias is None:
            return y
        if y.dtype == np.result_type(y, bias):
            y += bias  # in place: the matmul result is ours, and this saves a pass
            return y
        return y + bias

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need_x, need_weight = ctx.needs_input_grad[:2]
        gx = g @ weight.T if need_x else None
        gw = None
        if need_weight:
            if x.ndim != 2:  # x (in,) or (..., in): every leading axis is a batch axis
                x, g = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
            gw = x.T @ g
        gb = None
        if len(ctx.needs_input_grad) == 3 and ctx.needs_input_grad[2]:
            gb = g.sum(axis=tuple(range(g.ndim - 1)))
        return (gx, gw) if len(ctx.needs_input_grad) == 2 else (gx, gw, gb)


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def einsum_subscripts(subscripts, shapes):
    """The input subscripts (a list, one string per operand) and the output subscript of an
    einsum, with '...' spelled out as letters and the implicit output (NumPy's: the broadcast
    axes, then the letters used once, in alphabetical order) made explicit."""
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    inputs = inputs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum {subscripts!r}: {len(inputs)} operand subscripts for "
                         f"{len(shapes)} operands")
    spare = [c for c in _LETTERS if c not in subscripts]
    width = max((len(shape) - len(s) + 3 for s, shape in zip(inputs, shapes) if "..." in s),
                default=0)
    broadcast = "".join(spare[:width])
    spelled = []
    for s, shape in zip(inputs, shapes):
        if "..." in s:
            s = s.replace("...", broadcast[width - (len(shape) - len(s) + 3):])
        if len(s) != len(shape) or (s and not s.isalpha()):
            raise ValueError(f"einsum {subscripts!r}: subscripts {s!r} do not fit an operand "
                             f"of shape {shape}")
        spelled.append(s)
    if arrow:
        output = output.replace("...", broadcast)
    else:
        letters = "".join(spelled)
        output = broadcast + "".join(sorted(c for c in set(letters) - set(broadcast)
                                            if letters.count(c) == 1))
    return spelled, output


class Einsum(Op):
    """np.einsum(subscripts, *operands);  the gradient of an operand is the einsum of g with the
    other operands back to that operand's subscripts (an identity matrix for each repeated
    letter, ones for a letter only it has)"""
    @staticmethod
    def forward(ctx, *operands, subscripts):
        ctx.subscripts = einsum_subscripts(subscripts, [np.shape(x) for x in operands])
        ctx.save_for_backward(*operands)
        operand_subscripts, result_subscript = ctx.subscripts
        return np.einsum(",".join(operand_subscripts) + "->" + result_subscript, *operands)

    @staticmethod
    def backward(ctx, g):
        operands = ctx.saved_tensors
        operand_subscripts, result_subscript = ctx.subscripts
        used = "".join(operand_subscripts) + result_subscript
        grads = []
        for k, (subs, need) in enumerate(zip(operand_subscripts, ctx.needs_input_grad)):
            if not need:
                grads.append(None)
                continue
            terms = [(result_subscript, g)] + [
                (s, x) for i, (s, x) in enumerate(zip(operand_subscripts, operands)) if i != k]
            spare = (c for c in _LETTERS if c not in used)
            target = ""
            for axis, c in enumerate(subs):
                n = operands[k].shape[axis]
                if c in target:  # a diagonal: put g on it with an identity matrix
                    fresh = next(spare)
                    terms.append((c + fresh, np.eye(n, dtype=g.dtype)))
                    c = fresh
                elif all(c not in s for s, _ in terms):  # summed over in this operand only
                    terms.append((c, np.ones(n, dtype=g.dtype)))
                target += c
            spec = ",".join(s for s, _ in terms) + "->" + target
            grads.append(call(Einsum, *(x for _, x in terms), subscripts=spec))
        return tuple(grads)


# =========================================================================== the functions

@register(np.matmul, method=True)
def matmul(a, b):
    """a @ b with NumPy's rules (1-D operands, broadcast batch axes)."""
    return MatMul.apply(a, b)


Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = lambda self, other: MatMul.apply(other, self)


@register()
def linear(x, weight, bias=None):
    """x @ weight + bias as one op (x (..., in), weight (in, out), bias (out,)): one node
    instead of two, and no separate pass for the bias."""
    return Affine.apply(x, weight) if bias is None else Affine.apply(x, weight, bias)


def _subscripts_of_lists(operands):
    """np.einsum's other form, (x, [0, 1], y, [1, 2], [0, 2]) with Ellipsis allowed, as
    ('ab,bc->ac', [x, y])."""
    def letters(axes):
        return "".join("..." if ax is Ellipsis else _LETTERS[ax] for ax in axes)
    arrays, inputs = operands[0:-1:2], operands[1::2]
    output = None
    if len(operands) % 2:
        arrays, inputs, output = operands[0:-1:2], operands[1:-1:2], operands[-1]
    subscripts = ",".join(letters(axes) for axes in inputs)
    return subscripts + ("" if output is None else "->" + letters(output)), list(arrays)


@register(np.einsum)
def einsum(subscripts, *operands, optimize=False):
    """np.einsum in its string form ('ij,jk->ik', '...' and the implicit output included) or its
    form of lists of axes (x, [0, 1], y, [1, 2], [0, 2]). `optimize` is accepted and ignored:
    the result is the same."""
    if not isinstance(subscripts, str):
        subscripts, operands = _subscripts_of_lists((subscripts,) + operands)
    return Einsum.apply(*operands, subscripts=subscripts)


@register(np.tensordot)
def tensordot(a, b, axes=2):
    """Sum over the last `axes` axes of a and the first of b, or over the pairs
    axes=(axes_of_a, axes_of_b), as np.tensordot."""
    a, b = as_tensor(a), as_tensor(b)
    if isinstance(axes, (int, np.integer)):
        axes = (list(range(a.ndim - axes, a.ndim)), list(range(axes)))
    axes_a, axes_b = ([ax] if isinstance(ax, (int, np.integer)) else list(ax) for ax in axes)
    if len(axes_a) != len(axes_b):
        raise ValueError(f"tensordot: {len(axes_a)} axes of a but {len(axes_b)} of b")
    letters = iter(_LETTERS)
    sub_a = [next(letters) for _ in range(a.ndim)]
    sub_b = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(axes_a, axes_b):
        sub_b[axis_index(j, b.ndim, "tensordot")] = sub_a[axis_index(i, a.ndim, "tensordot")]
    summed = set(sub_b) & set(sub_a)
    result = [c for c in sub_a + sub_b if c not in summed]
    return einsum("".join(sub_a) + "," + "".join(sub_b) + "->" + "".join(result), a, b)


@register(np.dot, method=True)
def dot(a, b):
    """np.dot: a product for scalars, matmul for vectors and matrices, and for N-D a sum over
    the last axis of a and the second-to-last of b."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if (a.ndim <= 2 and b.ndim <= 2) or b.ndim == 1:
        return matmul(a, b)
    return tensordot(a, b, ([-1], [-2]))


@register(np.inner)
def inner(a, b):
    """Sum over the last axes of a and b (np.inner); a product if either is a scalar."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, ([-1], [-1]))


@register(np.outer)
def outer(a, b):
    """out[i, j] = a.ravel()[i] · b.ravel()[j] (np.outer)."""
    return ravel(a).reshape(-1, 1) * ravel(b).reshape(1, -1)


@register(np.trace, method=True)
def trace(x, offset=0, axis1=0, axis2=1):
    """Sum of the diagonal (np.trace)."""
    return diagonal(x, offset, axis1, axis2).sum(-1)


@register(np.diag)
def diag(v, k=0):
    """np.diag: a 1-D v on the k-th diagonal of a square matrix, or the k-th diagonal of a
    2-D v."""
    v = as_tensor(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError(f"diag: input must be 1-D or 2-D, got shape {v.shape}")
    n = len(v) + builtins.abs(k)
    rows = np.arange(len(v)) + builtins.max(-k, 0)
    return ScatterAdd.apply(v, index=(rows, rows + k), shape=(n, n))

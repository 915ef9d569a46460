"""Linear algebra: matrix products (with NumPy's rules for 1-D operands and batch axes), the
fused affine map of a Dense layer, einsum and what NumPy builds on it (tensordot, dot, inner,
outer, trace, diag). Each op's forward and backward side by side, then the functions."""
import builtins
import collections

import numpy as np

from ..function import call
from ..tensor import Tensor
from .base import Op, Where, as_tensor, axis_index, register, values, where
from .shape import ScatterAdd, diagonal, moveaxis, ravel, stack


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


# =========================================================================== np.linalg
# Inverses, determinants and decompositions of matrices and of stacks of them (..., m, n), as
# np.linalg computes them; the gradients are HIPS autograd's rules. An op with several results
# (slogdet, eigh, svd) packs them in one array, so that one node serves every result and its
# backward sees all their gradients at once; the public function unpacks them by indexing.

LinAlgError = np.linalg.LinAlgError
NUMPY_2 = int(np.version.version.split(".")[0]) >= 2
SlogdetResult = collections.namedtuple("SlogdetResult", ["sign", "logabsdet"])
EighResult = collections.namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
SVDResult = collections.namedtuple("SVDResult", ["U", "S", "Vh"])


def _check_matrices(shape, where, square=True):
    """LinAlgError (NumPy's exception) unless `shape` is a matrix or a stack of matrices,
    square ones if asked."""
    if len(shape) < 2:
        raise LinAlgError(f"{where}: expected a matrix or a stack of matrices (at least 2-D), "
                          f"got shape {tuple(shape)}")
    if square and shape[-1] != shape[-2]:
        raise LinAlgError(f"{where}: expected square matrices in the last two axes, got shape "
                          f"{tuple(shape)}")


def _lapack(where, trouble, routine, a, *args, **kwargs):
    """routine(a, ...) (a np.linalg function); its LinAlgError said again with our function's
    name, the trouble and the input's shape."""
    try:
        return routine(a, *args, **kwargs)
    except LinAlgError as error:
        raise LinAlgError(f"{where}: {trouble} (input of shape {a.shape}; NumPy says: "
                          f"{error})") from None


def _with_two_axes(x):
    """x (...) as (..., 1, 1): one factor per matrix of a stack."""
    return x.reshape(tuple(x.shape) + (1, 1))


def _triangle_weights(n, dtype, upper):
    """1 on the diagonal, 2 strictly below it (above if `upper`), 0 on the other side: the
    gradient of a function of a symmetric matrix that reads only one triangle of its input is
    the symmetric gradient folded onto that triangle."""
    weights = np.tril(np.full((n, n), 2.0, dtype), -1) + np.eye(n, dtype=dtype)
    return weights.T if upper else weights


def _tolerance(x):
    """Roundoff next to x: sqrt(eps) times x's largest magnitude."""
    x = values(x)
    return np.sqrt(np.finfo(x.dtype).eps) * np.abs(x).max(initial=0)


def _check_repeated(w, vector_grads, where, what):
    """LinAlgError if a vector (a column of the matrices `vector_grads`) whose value in w
    (..., k) repeats has a gradient: there the vectors are any basis of a subspace, which jumps
    under the smallest change of the input, and the chain rule's 1 / (w_j - w_i) is infinite."""
    w = values(w)
    equal = (w[..., None, :] == w[..., :, None]) & ~np.eye(w.shape[-1], dtype=bool)
    repeated = np.any(equal, axis=-2)[..., None, :]
    for g in vector_grads:
        if np.any(repeated & (np.abs(g) > _tolerance(g))):
            raise LinAlgError(f"{where}: the gradient of the vectors is undefined where {what} "
                              f"repeat (they are any basis of a subspace there): keep the "
                              f"values apart, or use the values alone")


def _reciprocal_off_diagonal(gaps):
    """1 / gaps off the diagonal and where no gap is 0 (_check_repeated makes sure that what
    such a reciprocal multiplies is 0), else 0."""
    zero = (values(gaps) == 0) | np.eye(gaps.shape[-1], dtype=bool)
    return call(Where, zero, 0.0, 1 / call(Where, zero, 1.0, gaps))


def _divide_by_singular_values(x, s, axis, scale):
    """x / s along `axis` (-1: x's columns, -2: its rows), 0 where s is 0; there x must be
    negligible next to `scale` (LinAlgError otherwise: the gradient would be infinite)."""
    zero = values(s) == 0
    zero = zero[..., None, :] if axis == -1 else zero[..., :, None]
    if np.any(zero & (np.abs(values(x)) > _tolerance(scale))):
        raise LinAlgError("svd: the gradient of the singular vectors of a non-square matrix "
                          "is undefined at a zero singular value")
    s = s[..., None, :] if axis == -1 else s[..., :, None]
    return call(Where, zero, 0.0, x / call(Where, zero, 1.0, s))


def _svd_parts(packed, m, n, full_matrices):
    """u (..., m, p), s (..., k), vh (..., q, n) from the flat packing of Svd's output (or of
    its gradient): k = min(m, n), and p = q = k, or p = m and q = n with full_matrices."""
    k = builtins.min(m, n)
    p, q = (m, n) if full_matrices else (k, k)
    batch = tuple(packed.shape[:-1])
    return (packed[..., :m * p].reshape(batch + (m, p)), packed[..., m * p:m * p + k],
            packed[..., m * p + k:].reshape(batch + (q, n)))


def _reduced_svd_parts(u, gu, vh, gvh, k):
    """The first k columns of u and rows of vh of a full SVD, and their gradients. The others
    are any orthonormal basis of a complement: a loss that depends on them has no gradient."""
    if np.any(values(gu)[..., :, k:] != 0) or np.any(values(gvh)[..., k:, :] != 0):
        raise LinAlgError("svd: the gradient is undefined for the columns of U or the rows of "
                          "Vh beyond min(m, n) (full_matrices=True): they are any orthonormal "
                          "basis of a complement. Use full_matrices=False")
    return u[..., :, :k], gu[..., :, :k], vh[..., :k, :], gvh[..., :k, :]


def _svd_gradient(u, s, vh, gu, gs, gvh):
    """d/da of a = u diag(s) vh (reduced: u (m, k), vh (k, n)) from the gradients of u, s, vh.
    With skew parts J = uᵀg_u - g_uᵀu, K = vh g_vhᵀ - g_vh vhᵀ and F±_ij = 1/(s_j ± s_i):
    u (diag(g_s) + ½(J + K) ∘ F- + ½(J - K) ∘ F+) vh (HIPS autograd's (J s_j + s_i K) /
    (s_j² - s_i²), split so that no denominator vanishes unless two values repeat), plus, for
    a tall (wide) matrix, the part of g_u (g_vh) outside the span of u (vh), divided by s."""
    m, n, k = u.shape[-2], vh.shape[-1], s.shape[-1]
    ut_gu, vt_gv = _swap_last_two(u) @ gu, vh @ _swap_last_two(gvh)
    skew_u, skew_v = ut_gu - _swap_last_two(ut_gu), vt_gv - _swap_last_two(vt_gv)
    _check_repeated(s, [values(gu), np.swapaxes(values(gvh), -1, -2)], "svd",
                    "singular values")
    s_j, s_i = s[..., None, :], s[..., :, None]
    middle = (gs[..., None, :] * np.eye(k, dtype=gs.dtype)
              + (skew_u + skew_v) * 0.5 * _reciprocal_off_diagonal(s_j - s_i)
              + (skew_u - skew_v) * 0.5 * _reciprocal_off_diagonal(s_j + s_i))
    grad = u @ middle @ vh
    if m > k:  # tall: g_u outside u's columns
        grad = grad + _divide_by_singular_values(gu - u @ ut_gu, s, -1, gu) @ vh
    if n > k:  # wide: g_vh outside vh's rows
        grad = grad + u @ _divide_by_singular_values(gvh - _swap_last_two(vt_gv) @ vh, s, -2,
                                                     gvh)
    return grad


class Inv(Op):
    """a⁻¹ for each matrix of a stack (..., n, n);  d/da = -a⁻ᵀ g a⁻ᵀ"""
    @staticmethod
    def forward(ctx, a, *, caller="inv"):
        _check_matrices(a.shape, caller)
        inverse = _lapack(caller, "a matrix is singular", np.linalg.inv, a)
        ctx.save_for_backward(inverse)
        return inverse

    @staticmethod
    def backward(ctx, g):
        (inverse,) = ctx.saved_tensors
        inverse_t = _swap_last_two(inverse)
        return -(inverse_t @ g @ inverse_t)


class Solve(Op):
    """x = a⁻¹ b for a (..., n, n) and b (..., n, k), batch axes broadcast;
    d/db = a⁻ᵀ g, d/da = -(a⁻ᵀ g) xᵀ"""
    @staticmethod
    def forward(ctx, a, b):
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        # the same number of axes, so that NumPy 1.x does not take b for a stack of vectors
        x = _lapack("solve", "a matrix is singular", np.linalg.solve,
                    np.broadcast_to(a, batch + a.shape[-2:]),
                    np.broadcast_to(b, batch + b.shape[-2:]))
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        gb = call(Solve, _swap_last_two(a), g)
        ga = -(gb @ _swap_last_two(x)) if ctx.needs_input_grad[0] else None
        return ga, (gb if ctx.needs_input_grad[1] else None)


class Det(Op):
    """det a for each matrix (..., n, n);  d/da = g · det a · a⁻ᵀ (Jacobi's formula: at a
    singular matrix, where a⁻¹ does not exist, the gradient raises LinAlgError)"""
    @staticmethod
    def forward(ctx, a):
        _check_matrices(a.shape, "det")
        d = np.asarray(np.linalg.det(a))
        ctx.save_for_backward(a, d)
        return d

    @staticmethod
    def backward(ctx, g):
        a, d = ctx.saved_tensors
        inverse = call(Inv, a, caller="det's gradient (det a · a⁻ᵀ)")
        return _with_two_axes(g * d) * _swap_last_two(inverse)


class Slogdet(Op):
    """(sign, log |det a|) for each matrix (..., n, n), packed on a last axis of 2;
    d log|det a| / da = a⁻ᵀ, and the sign's derivative is 0"""
    @staticmethod
    def forward(ctx, a):
        _check_matrices(a.shape, "slogdet")
        # as a stack, so that NumPy returns arrays (tg.jit records arrays), not scalars
        sign, logabsdet = np.linalg.slogdet(a.reshape((-1,) + a.shape[-2:]))
        ctx.save_for_backward(a)
        return np.stack([sign, logabsdet], axis=-1).reshape(a.shape[:-2] + (2,))

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        inverse = call(Inv, a, caller="slogdet's gradient (a⁻ᵀ)")
        return _with_two_axes(g[..., 1]) * _swap_last_two(inverse)


class Pinv(Op):
    """p = a⁺, the Moore-Penrose pseudo-inverse of each matrix (..., m, n);
    d/da = -pᵀ g pᵀ + (I - a p) gᵀ p pᵀ + pᵀ p gᵀ (I - p a), where the rank is constant"""
    @staticmethod
    def forward(ctx, a, *, options):
        _check_matrices(a.shape, "pinv", square=False)
        p = np.linalg.pinv(a, **options)
        ctx.save_for_backward(a, p)
        return p

    @staticmethod
    def backward(ctx, g):
        a, p = ctx.saved_tensors
        m, n = a.shape[-2:]
        p_t, g_t = _swap_last_two(p), _swap_last_two(g)
        return (-(p_t @ g @ p_t) + (np.eye(m, dtype=g.dtype) - a @ p) @ g_t @ (p @ p_t)
                + (p_t @ p) @ g_t @ (np.eye(n, dtype=g.dtype) - p @ a))


class Cholesky(Op):
    """L lower triangular with L Lᵀ = the symmetric positive-definite matrix read from the
    lower triangle of each a (..., n, n); with Φ(x) = x's lower triangle, diagonal halved, and
    s = L⁻ᵀ Φ(Lᵀ g) L⁻¹, d/da = Φ(s + sᵀ) (0 above the diagonal, which is never read)"""
    @staticmethod
    def forward(ctx, a):
        _check_matrices(a.shape, "cholesky")
        lower = _lapack("cholesky", "a matrix is not positive definite", np.linalg.cholesky, a)
        ctx.save_for_backward(lower)
        return lower

    @staticmethod
    def backward(ctx, g):
        (lower,) = ctx.saved_tensors
        half = _triangle_weights(g.shape[-1], g.dtype, upper=False) * 0.5
        lower_t = _swap_last_two(lower)
        phi = (lower_t @ g) * half
        # s = L⁻ᵀ Φ L⁻¹ by two solves with Lᵀ: L⁻ᵀ Φᵀ, then L⁻ᵀ (L⁻ᵀ Φᵀ)ᵀ
        s = call(Solve, lower_t, _swap_last_two(call(Solve, lower_t, _swap_last_two(phi))))
        return (s + _swap_last_two(s)) * half


class Eigh(Op):
    """Eigenvalues w (ascending) and eigenvectors v of the symmetric matrix read from one
    triangle of each a (..., n, n), packed as out[..., 0, :] = w and out[..., 1:, :] = v.
    With m = vᵀ g_v and F_ij = 1/(w_j - w_i), x = v (diag(g_w) + F ∘ (m - mᵀ)/2) vᵀ; d/da is
    x folded onto the triangle read (x on the diagonal, 2x off it, 0 on the other side).
    The vectors of a repeated eigenvalue must get no gradient (LinAlgError)."""
    @staticmethod
    def forward(ctx, a, *, UPLO):
        w, v = np.linalg.eigh(a, UPLO)
        ctx.upper = UPLO == "U"
        out = np.concatenate([w[..., None, :], v], axis=-2)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        w, v, gw, gv = out[..., 0, :], out[..., 1:, :], g[..., 0, :], g[..., 1:, :]
        n = g.shape[-1]
        v_t = _swap_last_two(v)
        m = v_t @ gv
        skew = (m - _swap_last_two(m)) * 0.5
        _check_repeated(w, [values(gv)], "eigh", "eigenvalues")
        middle = (gw[..., None, :] * np.eye(n, dtype=g.dtype)
                  + _reciprocal_off_diagonal(w[..., None, :] - w[..., :, None]) * skew)
        return (v @ middle @ v_t) * _triangle_weights(n, g.dtype, ctx.upper)


class Svd(Op):
    """a = u diag(s) vh for each matrix (..., m, n), s descending, packed flat on the last axis
    (u, then s, then vh); the reduced SVD, or with full_matrices the full one, whose columns
    of u and rows of vh beyond min(m, n) must then get no gradient. d/da: _svd_gradient.
    The vectors of a repeated singular value, and of a non-square matrix's zero singular
    value, must get no gradient either (LinAlgError)."""
    @staticmethod
    def forward(ctx, a, *, full_matrices):
        _check_matrices(a.shape, "svd", square=False)
        u, s, vh = _lapack("svd", "the SVD did not converge", np.linalg.svd, a,
                           full_matrices=full_matrices)
        ctx.full_matrices, ctx.matrix_shape = full_matrices, a.shape[-2:]
        batch = a.shape[:-2]
        out = np.concatenate([u.reshape(batch + (u.shape[-2] * u.shape[-1],)), s,
                              vh.reshape(batch + (vh.shape[-2] * vh.shape[-1],))], axis=-1)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        m, n = ctx.matrix_shape
        u, s, vh = _svd_parts(out, m, n, ctx.full_matrices)
        gu, gs, gvh = _svd_parts(g, m, n, ctx.full_matrices)
        if ctx.full_matrices and m != n:
            u, gu, vh, gvh = _reduced_svd_parts(u, gu, vh, gvh, builtins.min(m, n))
        return _svd_gradient(u, s, vh, gu, gs, gvh)


# =========================================================================== np.linalg's functions

@register(np.linalg.inv)
def inv(a):
    """a⁻¹ of a matrix, or of each matrix of a stack (..., n, n); LinAlgError if one is
    singular."""
    return Inv.apply(as_tensor(a))


def _broadcastable(*shapes):
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return False
    return True


@register(np.linalg.solve)
def solve(a, b):
    """x with a x = b, for a (..., n, n): b (n,) is one right-hand side (with NumPy 1.x, so is
    each row of a b of a.ndim - 1 axes), else b (..., n, k) holds k of them; the batch axes
    broadcast. LinAlgError if a matrix is singular."""
    a, b = as_tensor(a), as_tensor(b)
    _check_matrices(a.shape, "solve")
    n = a.shape[-1]
    vector = b.ndim == 1 if NUMPY_2 else b.ndim == a.ndim - 1
    rhs = b.reshape(b.shape + (1,)) if vector else b
    if rhs.ndim < 2 or rhs.shape[-2] != n or not _broadcastable(a.shape[:-2], rhs.shape[:-2]):
        raise ValueError(f"solve: b of shape {b.shape} does not fit a of shape {a.shape} "
                         f"(expected b of shape ({n},) or (..., {n}, k))")
    x = Solve.apply(a, rhs)
    return x.reshape(x.shape[:-1]) if vector else x


@register(np.linalg.det)
def det(a):
    """The determinant of a matrix, or of each matrix of a stack (..., n, n) -> (...). Its
    gradient det a · a⁻ᵀ raises LinAlgError at a singular matrix."""
    return Det.apply(as_tensor(a))


@register(np.linalg.slogdet)
def slogdet(a):
    """(sign, logabsdet) with det a = sign · exp(logabsdet), without overflow, for a matrix or
    each matrix of a stack (..., n, n): a named tuple of two Tensors (...). A singular matrix
    gives (0, -inf), as NumPy, and its gradient raises LinAlgError."""
    packed = Slogdet.apply(as_tensor(a))
    return SlogdetResult(packed[..., 0], packed[..., 1])


_NUMPY_DEFAULT = object()  # an argument not given: NumPy's own default applies


@register(np.linalg.pinv)
def pinv(a, rcond=None, hermitian=False, *, rtol=_NUMPY_DEFAULT):
    """The Moore-Penrose pseudo-inverse of a matrix or of each matrix of a stack (..., m, n)
    -> (..., n, m); singular values under NumPy's cutoff (rcond, or NumPy 2's rtol) count as
    0. Differentiable where the rank does not change. hermitian=True is refused: it reads one
    triangle only, and hermitian=False gives the same result for a symmetric matrix."""
    if hermitian:
        raise ValueError("pinv: hermitian=True is not supported on Tensors; hermitian=False "
                         "gives the same pseudo-inverse of a symmetric matrix")
    options = {} if rcond is None else {"rcond": rcond}
    if rtol is not _NUMPY_DEFAULT:  # NumPy 2's: None means max(m, n) · eps
        options["rtol"] = rtol
    return Pinv.apply(as_tensor(a), options=options)


@register(np.linalg.cholesky)
def cholesky(a, *, upper=False):
    """L, lower triangular with a positive diagonal and L Lᵀ = a, for a symmetric
    positive-definite a (..., n, n). Only a's lower triangle is read, so only it gets a
    gradient; upper=True (NumPy 2's keyword) gives U = Lᵀ from the upper triangle.
    LinAlgError if a matrix is not positive definite."""
    a = as_tensor(a)
    _check_matrices(a.shape, "cholesky")
    if upper:
        return _swap_last_two(Cholesky.apply(_swap_last_two(a)))
    return Cholesky.apply(a)


def _eigh(a, UPLO, where):
    a = as_tensor(a)
    _check_matrices(a.shape, where)
    uplo = str(UPLO).upper()
    if uplo not in ("L", "U"):
        raise ValueError(f"{where}: UPLO must be 'L' or 'U', got {UPLO!r}")
    packed = Eigh.apply(a, UPLO=uplo)
    return EighResult(packed[..., 0, :], packed[..., 1:, :])


@register(np.linalg.eigh)
def eigh(a, UPLO="L"):
    """(eigenvalues (..., n) ascending, eigenvectors (..., n, n) in columns) of the symmetric
    matrix read from the lower (UPLO="L") or upper triangle of each a (..., n, n), a named
    tuple of Tensors; only that triangle gets a gradient. Where an eigenvalue repeats, its
    eigenvectors are any basis of a subspace and have no gradient: a loss that depends on them
    raises LinAlgError in backward (the eigenvalues alone are fine). Keep eigenvalues apart:
    near a repeat the gradient grows as 1 / gap."""
    return _eigh(a, UPLO, "eigh")


@register(np.linalg.eigvalsh)
def eigvalsh(a, UPLO="L"):
    """The eigenvalues (..., n), ascending, of the symmetric matrix read from one triangle of
    each a (..., n, n), as eigh."""
    return _eigh(a, UPLO, "eigvalsh").eigenvalues


@register(np.linalg.svd)
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """a = U diag(S) Vh for a matrix or each matrix of a stack (..., m, n): a named tuple of
    Tensors U (..., m, k), S (..., k) descending, Vh (..., k, n) with k = min(m, n), or with
    full_matrices (NumPy's default) U (..., m, m) and Vh (..., n, n), whose columns (rows)
    beyond k must get no gradient (LinAlgError: they are any basis of a complement). S alone
    with compute_uv=False. The vectors of a repeated singular value (and, for a non-square
    matrix, of a zero one) are any basis of a subspace and have no gradient: a loss that
    depends on them raises LinAlgError in backward (S alone is fine). Keep singular values
    apart and nonzero: near a repeat the gradient grows as 1 / gap. hermitian=True is refused
    (hermitian=False gives the same for a symmetric matrix)."""
    a = as_tensor(a)
    if hermitian:
        raise ValueError("svd: hermitian=True is not supported on Tensors; hermitian=False "
                         "gives the same decomposition of a symmetric matrix")
    _check_matrices(a.shape, "svd", square=False)
    m, n = a.shape[-2:]
    full = bool(full_matrices and compute_uv)
    packed = Svd.apply(a, full_matrices=full)
    if not compute_uv:
        k = builtins.min(m, n)
        return packed[..., m * k:m * k + k]
    return SVDResult(*_svd_parts(packed, m, n, full))


def _root_of_sum(powers, axes, keepdims, p):
    """(Σ powers)^(1/p) over axes, with gradient 0 where the sum is 0 (PyTorch's subgradient of
    a norm at the origin) instead of the chain rule's 0 · ∞ = NaN."""
    total = powers.sum(axes, keepdims)
    origin = (total == 0).data
    # constants of total's dtype: NumPy 1.x makes where(c, 1.0, a 0-d float32 array) float64
    one, zero = np.ones((), total.dtype), np.zeros((), total.dtype)
    total = where(origin, one, total)
    return where(origin, zero, total.sqrt() if p == 2 else total ** (1 / p))


def _singular_value_norm(x, ord, rows, cols, keepdims):
    """The largest singular value (ord 2), the smallest (-2) or their sum ('nuc') of the
    matrices in axes (rows, cols) of x."""
    s = svd(moveaxis(x, (rows, cols), (-2, -1)), compute_uv=False)
    result = s[..., 0] if ord == 2 else s[..., -1] if ord == -2 else s.sum(-1)
    if keepdims:
        result = result.reshape([1 if i in (rows, cols) else n for i, n in enumerate(x.shape)])
    return result


@register(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):
    """np.linalg.norm: a vector norm over one axis (ord None or 2, 1, inf, -inf, 0, any p) or a
    matrix norm over two ('fro'/None, 'nuc', 1, -1, 2, -2, inf, -inf; 2, -2 and 'nuc' from the
    singular values, see svd); at the origin the gradient is 0. x may be a list of Tensors of
    one shape (as HIPS autograd allows), stacked on a first axis."""
    if isinstance(x, (list, tuple)) and any(isinstance(item, Tensor) for item in x):
        x = stack([as_tensor(item) for item in x])
    x = as_tensor(x)
    if axis is None and ord is not None and x.ndim not in (1, 2):
        raise ValueError(f"norm: ord={ord!r} needs a 1-D or 2-D input or an axis, got shape "
                         f"{x.shape}")
    axes = (tuple(range(x.ndim)) if axis is None else
            (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis))
    if ord is None or (ord == "fro" and len(axes) == 2) or (ord == 2 and len(axes) == 1):
        return _root_of_sum(x * x, axes, keepdims, 2)
    a = x.abs()
    if len(axes) == 1:
        if isinstance(ord, str):
            raise ValueError(f"norm: ord={ord!r} is a matrix norm; a vector norm needs a number")
        if ord == np.inf:
            return a.max(axes, keepdims)
        if ord == -np.inf:
            return a.min(axes, keepdims)
        if ord == 0:
            return (x != 0).astype(x.dtype).sum(axes, keepdims)
        return _root_of_sum(a ** ord, axes, keepdims, ord)
    if len(axes) != 2:
        raise ValueError(f"norm: axis must be an int or a pair of ints, got {axis!r}")
    rows, cols = (axis_index(ax, x.ndim, "norm") for ax in axes)
    if rows == cols:
        raise ValueError(f"norm: the two axes of a matrix norm must differ, got {axis!r}")
    if ord in (2, -2, "nuc"):
        return _singular_value_norm(x, ord, rows, cols, keepdims)
    if ord in (1, -1):  # the largest (smallest) column sum
        sums, over = a.sum(rows, keepdims=True), cols
    elif ord in (np.inf, -np.inf):  # the largest (smallest) row sum
        sums, over = a.sum(cols, keepdims=True), rows
    else:
        raise ValueError(f"norm: matrix ord={ord!r} is not supported (only 'fro', 'nuc', 1, "
                         "-1, 2, -2, inf, -inf)")
    extreme = sums.max(over, keepdims=True) if ord > 0 else sums.min(over, keepdims=True)
    return extreme if keepdims else extreme.reshape(
        [n for i, n in enumerate(extreme.shape) if i not in (rows, cols)])

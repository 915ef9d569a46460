"""np.linalg on Tensors (tinygrad_nn/ops/linalg.py) beyond what the op table draws: NumPy's
functions dispatched to the ops, with NumPy's values and result types; gradients against closed
forms; the degenerate cases (singular, repeated or zero singular values, the extra columns of a
full SVD), which raise instead of returning a silent NaN; tg.linalg; a tg.jit replay."""
import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn.ops.linalg import NUMPY_2

LinAlgError = np.linalg.LinAlgError


def rng():
    return np.random.default_rng(0)


def leaf(array):
    return tg.Tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def gradient(fn, x):
    x = leaf(x)
    (g,) = tg.grad(fn(x), [x])
    return g.data


def spd(n, batch=()):
    """Symmetric positive-definite matrices with eigenvalues 1, 2, ..., n (well apart)."""
    q = np.linalg.qr(rng().normal(size=batch + (n, n)))[0]
    return (q * np.arange(1.0, n + 1)) @ np.swapaxes(q, -1, -2)


def fold_lower(c):
    """The gradient of sum(S ∘ c) for the symmetric S read from a matrix's lower triangle."""
    return np.tril(c + c.T) - np.diag(np.diag(c))


# --------------------------------------------------------------------------- NumPy's functions

A3 = rng().normal(size=(3, 3)) + 3 * np.eye(3)
STACK = rng().normal(size=(2, 3, 3)) + 3 * np.eye(3)
TALL = rng().normal(size=(2, 4, 3))
DISPATCHED = [
    (np.linalg.inv, (STACK,), {}),
    (np.linalg.pinv, (TALL,), {}),
    (np.linalg.pinv, (TALL,), {"rcond": 1e-3}),
    (np.linalg.solve, (STACK, np.ones((2, 3, 2))), {}),
    (np.linalg.solve, (A3, np.arange(3.0)), {}),
    (np.linalg.det, (STACK,), {}),
    (np.linalg.cholesky, (spd(3, (2,)),), {}),
    (np.linalg.eigvalsh, (STACK,), {"UPLO": "U"}),
    (np.linalg.svd, (TALL,), {"compute_uv": False}),
    (np.linalg.norm, (TALL,), {"ord": 2, "axis": (0, 2)}),
    (np.linalg.norm, (TALL,), {"ord": -2, "axis": (-1, 1), "keepdims": True}),
    (np.linalg.norm, (TALL[0],), {"ord": "nuc"}),
]


@pytest.mark.parametrize("func, args, kwargs", DISPATCHED,
                         ids=[f"{f.__name__}-{i}" for i, (f, _, _) in enumerate(DISPATCHED)])
def test_numpy_function_on_a_tensor_runs_the_op_with_numpy_values(func, args, kwargs):
    x = leaf(args[0])
    y = func(x, *args[1:], **kwargs)
    assert isinstance(y, tg.Tensor) and y.requires_grad
    np.testing.assert_allclose(y.data, func(*args, **kwargs), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("func, fields, kwargs", [
    (np.linalg.slogdet, ("sign", "logabsdet"), {}),
    (np.linalg.eigh, ("eigenvalues", "eigenvectors"), {"UPLO": "L"}),
    (np.linalg.svd, ("U", "S", "Vh"), {}),
    (np.linalg.svd, ("U", "S", "Vh"), {"full_matrices": False}),
])
def test_functions_with_several_results_return_named_tuples_of_tensors(func, fields, kwargs):
    a = TALL if func is np.linalg.svd else STACK * np.array([1.0, -1.0, 1.0])[:, None]
    ours, numpys = func(leaf(a), **kwargs), func(a, **kwargs)
    assert ours._fields == fields and len(numpys) == len(fields)
    for mine, theirs in zip(ours, numpys):
        assert isinstance(mine, tg.Tensor)
        np.testing.assert_allclose(mine.data, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.skipif(not NUMPY_2, reason="cholesky's `upper` is NumPy 2's")
def test_upper_cholesky_reads_the_upper_triangle_as_numpy_2():
    a = np.triu(spd(3)) + np.tril(rng().normal(size=(3, 3)), -1)
    u = np.linalg.cholesky(leaf(a), upper=True)
    np.testing.assert_allclose(u.data, np.linalg.cholesky(a, upper=True), rtol=1e-12)
    c = rng().normal(size=(3, 3))
    g = gradient(lambda x: (tg.cholesky(x, upper=True).T @ tg.cholesky(x, upper=True)
                            * c).sum(), a)
    np.testing.assert_allclose(g, fold_lower(c.T).T, rtol=1e-9, atol=1e-12)


def test_tg_linalg_mirrors_numpys_names():
    for name in tg.linalg.__all__:
        assert hasattr(np.linalg, name), name
        ours = getattr(tg.linalg, name)
        if callable(ours) and name[0].islower():
            assert ours is getattr(tg, name)
    assert tg.linalg.LinAlgError is LinAlgError


@pytest.mark.parametrize("b_shape", [(3,), (3, 2), (2, 3, 2), (1, 3, 1), (2, 3), (4, 3, 2)])
def test_solve_reads_b_as_the_installed_numpy_does(b_shape):
    """A vector or a stack of matrices, by NumPy's rule of the installed version; a b NumPy
    refuses, refused too."""
    b = np.arange(np.prod(b_shape), dtype=np.float64).reshape(b_shape)
    try:
        expected = np.linalg.solve(STACK, b)
    except ValueError:
        with pytest.raises(ValueError):
            tg.solve(leaf(STACK), b)
        return
    x = tg.solve(leaf(STACK), leaf(b))
    np.testing.assert_allclose(x.data, expected, rtol=1e-12)
    assert tg.gradcheck(tg.solve, [leaf(STACK), leaf(b)])


def test_norm_takes_a_list_of_tensors_as_hips_autograd():
    x = leaf(0.0)
    tg.norm([x, x + 2]).backward()
    assert x.grad.item() == 1.0


# --------------------------------------------------------------------------- closed forms

def test_det_gradient_is_det_times_inverse_transpose():
    a = STACK * np.array([1.0, -1.0, 1.0])[:, None]  # det of either sign
    expected = np.linalg.det(a)[:, None, None] * np.linalg.inv(a).swapaxes(-1, -2)
    np.testing.assert_allclose(gradient(lambda x: tg.det(x).sum(), a), expected, rtol=1e-10)


def test_log_abs_det_gradient_is_inverse_transpose():
    a = A3 * np.array([1.0, -1.0, 1.0])[:, None]
    g = gradient(lambda x: tg.slogdet(x).logabsdet, a)
    np.testing.assert_allclose(g, np.linalg.inv(a).T, rtol=1e-10)
    assert tg.slogdet(leaf(a)).sign.item() == np.sign(np.linalg.det(a))


def test_inverse_of_inverse_is_the_identity_map():
    c = rng().normal(size=STACK.shape)
    x = leaf(STACK)
    np.testing.assert_allclose(tg.inv(tg.inv(x)).data, STACK, rtol=1e-12)
    np.testing.assert_allclose(gradient(lambda x: (tg.inv(tg.inv(x)) * c).sum(), STACK), c,
                               rtol=1e-9)


def test_inverse_gradient_is_minus_inverse_transpose_around_g():
    c = rng().normal(size=(3, 3))
    inverse_t = np.linalg.inv(A3).T
    np.testing.assert_allclose(gradient(lambda x: (tg.inv(x) * c).sum(), A3),
                               -inverse_t @ c @ inverse_t, rtol=1e-10)


def test_solve_matches_inverse_times_b_in_value_and_gradients():
    b = rng().normal(size=(2, 3, 2))
    a1, b1, a2, b2 = leaf(STACK), leaf(b), leaf(STACK), leaf(b)
    x1, x2 = tg.solve(a1, b1), tg.inv(a2) @ b2
    np.testing.assert_allclose(x1.data, x2.data, rtol=1e-12)
    c = rng().normal(size=x1.shape)
    (x1 * c).sum().backward()
    (x2 * c).sum().backward()
    np.testing.assert_allclose(a1.grad.data, a2.grad.data, rtol=1e-10)
    np.testing.assert_allclose(b1.grad.data, b2.grad.data, rtol=1e-10)


def test_pinv_of_a_full_column_rank_matrix_is_the_normal_equations_solution():
    a = TALL[0]
    c = rng().normal(size=(3, 4))
    normal = gradient(lambda x: (tg.inv(x.T @ x) @ x.T * c).sum(), a)
    np.testing.assert_allclose(gradient(lambda x: (tg.pinv(x) * c).sum(), a), normal, rtol=1e-9)


@pytest.mark.parametrize("decomposition", ["cholesky", "eigh"])
def test_rebuilding_a_symmetric_matrix_has_the_gradient_of_its_lower_triangle(decomposition):
    """cholesky and eigh read the lower triangle only: sum(rebuilt ∘ c) has gradient
    c + cᵀ below the diagonal, c on it and 0 above."""
    def rebuilt(x):
        if decomposition == "cholesky":
            lower = tg.cholesky(x)
            return lower @ lower.T
        w, v = tg.eigh(x)
        return (v * w) @ v.T
    a = spd(3) + np.triu(rng().normal(size=(3, 3)), 1)  # the upper triangle is never read
    c = rng().normal(size=(3, 3))
    np.testing.assert_allclose(gradient(lambda x: (rebuilt(x) * c).sum(), a), fold_lower(c),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4), (2, 3, 2)])
def test_rebuilding_a_matrix_from_its_svd_is_the_identity_map(shape):
    a = rng().normal(size=shape)
    c = rng().normal(size=shape)

    def rebuilt(x):
        u, s, vh = tg.svd(x, full_matrices=False)
        return (u * s[..., None, :]) @ vh
    np.testing.assert_allclose(gradient(lambda x: (rebuilt(x) * c).sum(), a), c, rtol=1e-8,
                               atol=1e-12)


def test_nuclear_and_spectral_norm_gradients_are_singular_vector_products():
    a = TALL[0]
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(gradient(lambda x: tg.norm(x, "nuc"), a), u @ vh, rtol=1e-10)
    np.testing.assert_allclose(gradient(lambda x: tg.norm(x, 2), a), np.outer(u[:, 0], vh[0]),
                               rtol=1e-10)
    np.testing.assert_allclose(gradient(lambda x: tg.norm(x, -2), a),
                               np.outer(u[:, -1], vh[-1]), rtol=1e-10)


def test_eigenvalues_have_the_eigenvector_outer_products_as_gradients():
    a = spd(3)
    w, v = np.linalg.eigh(a)
    for i in range(3):
        g = gradient(lambda x, i=i: tg.eigvalsh(x)[i], a)
        np.testing.assert_allclose(g, fold_lower(np.outer(v[:, i], v[:, i])), rtol=1e-9,
                                   atol=1e-12)


# --------------------------------------------------------------------------- degenerate cases

SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])


@pytest.mark.parametrize("call, message", [
    (lambda x: tg.inv(x), "inv: a matrix is singular"),
    (lambda x: tg.solve(x, np.ones(2)), "solve: a matrix is singular"),
    (lambda x: tg.cholesky(-x), "cholesky: a matrix is not positive definite"),
    (lambda x: np.linalg.inv(x), "inv: a matrix is singular"),
])
def test_a_singular_or_indefinite_matrix_raises_naming_the_function(call, message):
    with pytest.raises(LinAlgError, match=message):
        call(leaf(SINGULAR))


@pytest.mark.parametrize("fn", [lambda x: tg.det(x), lambda x: tg.slogdet(x).logabsdet])
def test_determinant_gradients_at_a_singular_matrix_raise(fn):
    x = leaf(SINGULAR)
    y = fn(x)
    assert y.item() in (0.0, -np.inf)  # NumPy's values: det 0, log|det| -inf
    with pytest.raises(LinAlgError, match="gradient"):
        y.backward()


@pytest.mark.parametrize("call", [tg.inv, tg.det, tg.cholesky, tg.eigh, tg.slogdet,
                                  lambda x: tg.solve(x, np.ones(2))])
@pytest.mark.parametrize("shape", [(2,), (2, 3)])
def test_a_square_matrix_is_required(call, shape):
    with pytest.raises(LinAlgError, match=str(shape).replace("(", r"\(").replace(")", r"\)")):
        call(leaf(np.ones(shape)))


@pytest.mark.parametrize("loss", [
    lambda w, v: (v * np.arange(9.0).reshape(3, 3)).sum(),
    lambda w, v: v[0, 0] + w.sum(),  # the first vector: its eigenvalue repeats
])
def test_eigenvectors_of_repeated_eigenvalues_have_no_gradient(loss):
    x = leaf(np.diag([1.0, 1.0, 2.0]))
    with pytest.raises(LinAlgError, match="eigenvalues repeat"):
        loss(*tg.eigh(x)).backward()


def test_eigenvalues_alone_have_a_gradient_where_they_repeat():
    x = leaf(np.eye(3))
    (tg.eigvalsh(x) ** 2).sum().backward()  # ‖x‖², read from the lower triangle
    np.testing.assert_array_equal(x.grad.data, 2 * np.eye(3))


def test_singular_vectors_of_repeated_singular_values_have_no_gradient():
    x = leaf(np.eye(3))
    with pytest.raises(LinAlgError, match="singular values repeat"):
        tg.svd(x)[0].sum().backward()
    x = leaf(np.eye(3))
    tg.norm(x, "nuc").backward()  # singular values alone: the gradient exists
    np.testing.assert_allclose(x.grad.data, np.eye(3), atol=1e-15)


def test_singular_vectors_of_a_non_square_matrix_at_a_zero_singular_value_raise():
    a = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    with pytest.raises(LinAlgError, match="zero singular value"):
        tg.svd(leaf(a), full_matrices=False)[0].sum().backward()


def test_full_svd_gives_gradients_to_the_first_min_m_n_vectors_only():
    a = TALL[0]
    c = rng().normal(size=(4, 3))
    full = gradient(lambda x: (tg.svd(x)[0][:, :3] * c).sum() + tg.svd(x)[1].sum(), a)
    reduced = gradient(lambda x: (tg.svd(x, full_matrices=False)[0] * c).sum()
                       + tg.svd(x, full_matrices=False)[1].sum(), a)
    np.testing.assert_allclose(full, reduced, rtol=1e-10)
    with pytest.raises(LinAlgError, match="full_matrices=True"):
        tg.svd(leaf(a))[0].sum().backward()


@pytest.mark.parametrize("call, message", [
    (lambda x: tg.pinv(x, hermitian=True), "hermitian"),
    (lambda x: tg.svd(x, hermitian=True), "hermitian"),
    (lambda x: tg.eigh(x, UPLO="X"), "UPLO"),
    (lambda x: tg.solve(x, np.ones(3)), r"b of shape \(3,\)"),
    (lambda x: tg.norm(x, ord=3, axis=(0, 1)), "matrix ord=3"),
    (lambda x: tg.norm(x, ord=2, axis=(1, -1)), "must differ"),
])
def test_arguments_outside_what_the_op_computes_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call(leaf(A3[:2, :2]))


# --------------------------------------------------------------------------- tg.jit

def test_a_step_through_the_decompositions_replays_bit_for_bit():
    """An optimizer step on a loss of slogdet, solve, cholesky, eigh and the nuclear norm:
    tg.jit's replays equal the eager steps, parameters and all."""
    def build():
        w = tg.Tensor(rng().normal(size=(3, 3)), requires_grad=True)
        return w, tg.optim.SGD([w], lr=0.01)

    def make_step(w, optimizer):
        def step(y):
            optimizer.zero_grad()
            m = w @ w.T + y
            loss = (-tg.slogdet(m).logabsdet + tg.solve(m, np.ones(3)).sum()
                    + tg.cholesky(m).sum() + (tg.eigh(m)[1] ** 2 * np.arange(3.0)).sum()
                    + tg.norm(w, "nuc"))
            loss.backward()
            optimizer.step()
            return loss
        return step

    (w_a, opt_a), (w_b, opt_b) = build(), build()
    eager, replayed = make_step(w_a, opt_a), tg.jit(make_step(w_b, opt_b))
    for k in range(4):
        y = tg.Tensor(spd(3) + k * 0.1 * np.eye(3))
        assert eager(y).data.tobytes() == replayed(y).data.tobytes(), k
        assert w_a.data.tobytes() == w_b.data.tobytes(), k

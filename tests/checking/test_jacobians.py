"""tg.jacobian, tg.hessian, tg.hvp: shapes, known values, and finite differences."""
import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn.checking.jacobians import numerical_jacobian

rng = np.random.default_rng(0)


@pytest.mark.parametrize("fn, x_shape, out_shape", [
    (lambda x: x.exp() * x, (3,), (3,)),
    (lambda x: (x.tanh() @ x.T).sum(axis=0), (2, 3), (2,)),
    (lambda x: x.softmax(axis=-1), (2, 3), (2, 3)),
    (lambda x: (x ** 2).sum(), (4,), ()),
])
def test_jacobian_matches_finite_differences(fn, x_shape, out_shape):
    x = tg.Tensor(rng.standard_normal(x_shape))
    J = tg.jacobian(fn, x)
    assert J.shape == out_shape + x_shape and not J.requires_grad
    np.testing.assert_allclose(J.data, numerical_jacobian(fn, x), rtol=1e-6, atol=1e-8)


def test_jacobian_of_a_linear_map_is_its_matrix():
    A = rng.standard_normal((4, 3))
    np.testing.assert_allclose(tg.jacobian(lambda x: tg.Tensor(A) @ x, np.ones(3)).data, A)
    assert np.all(tg.jacobian(lambda x: tg.Tensor(A[0]), np.ones(3)).data == 0)  # independent


def test_hessian_of_a_quadratic_form_and_against_finite_differences():
    A = rng.standard_normal((3, 3))
    x = tg.Tensor(rng.standard_normal(3))
    H = tg.hessian(lambda x: x @ tg.Tensor(A) @ x, x)
    np.testing.assert_allclose(H.data, A + A.T, atol=1e-12)

    def fn(x):
        return (x.tanh() * x.exp()).sum()

    x = tg.Tensor(rng.standard_normal((2, 2)))
    H = tg.hessian(fn, x)
    assert H.shape == (2, 2, 2, 2)
    gradient = lambda t: tg.grad(fn(t), t, create_graph=True)[0]  # noqa: E731
    np.testing.assert_allclose(H.data, numerical_jacobian(gradient, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H.data.reshape(4, 4), H.data.reshape(4, 4).T, atol=1e-12)


def test_hvp_is_the_hessian_times_v_and_leaves_x_alone():
    x = tg.Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    v = rng.standard_normal((2, 3))

    def fn(t):
        return (t.sigmoid() * t ** 2).mean()

    Hv = tg.hvp(fn, x, v)
    assert Hv.shape == x.shape
    np.testing.assert_allclose(Hv.data, np.tensordot(tg.hessian(fn, x).data, v, axes=2),
                               rtol=1e-10, atol=1e-12)
    assert x.grad is None
    assert np.all(tg.hvp(lambda t: 3 * t.sum(), x, v).data == 0)  # linear: no curvature


def test_hessian_and_hvp_need_a_scalar_function():
    x = tg.Tensor(np.ones(3))
    with pytest.raises(ValueError, match="one element"):
        tg.hessian(lambda t: t * t, x)
    with pytest.raises(ValueError, match="one element"):
        tg.hvp(lambda t: t * t, x, np.ones(3))


def test_hessian_and_hvp_of_several_inputs_are_tuples_of_the_blocks():
    x, w = np.array([1.0, -2.0]), np.array([0.5, 3.0])
    v = (np.array([1.0, 2.0]), np.array([-1.0, 0.5]))

    def fn(x, w):  # Σ x² w: d²/dx² = diag(2w), d²/dx dw = diag(2x), d²/dw² = 0
        return (x * x * w).sum()

    H = tg.hessian(fn, (x, w))
    expected = [[np.diag(2 * w), np.diag(2 * x)], [np.diag(2 * x), np.zeros((2, 2))]]
    assert type(H) is tuple and all(type(row) is tuple and len(row) == 2 for row in H)
    for row, expected_row in zip(H, expected):
        for block, e in zip(row, expected_row):
            np.testing.assert_allclose(block.data, e, rtol=1e-12)
    hx, hw = tg.hvp(fn, (x, w), v)
    np.testing.assert_allclose(hx.data, expected[0][0] @ v[0] + expected[0][1] @ v[1])
    np.testing.assert_allclose(hw.data, expected[1][0] @ v[0] + expected[1][1] @ v[1])


def test_hvp_names_a_v_of_the_wrong_shape_or_count():
    with pytest.raises(ValueError, match=r"hvp: v 0 has shape \(2,\), but its tensor has shape"):
        tg.hvp(lambda t: (t * t).sum(), np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="hvp: v: expected a tuple of 2"):
        tg.hvp(lambda a, b: (a * b).sum(), (np.ones(2), np.ones(2)), np.ones(2))


def test_jacobian_copies_the_inputs_values_and_leaves_their_array_alone():
    x = np.array([1.0, 2.0])
    J = tg.jacobian(lambda t: t * t, x)
    x[0] = 100.0  # the result is not a view of the caller's array
    np.testing.assert_array_equal(J.data, np.diag([2.0, 4.0]))
    assert x.flags.writeable

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

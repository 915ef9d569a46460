"""tg.jvp, tg.vjp, tg.jacfwd and tg.jacrev against finite differences and against each other."""
import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn.checking.jacobians import numerical_jacobian

rng = np.random.default_rng(0)


def f_two(x, w):
    """R^3 x R^(3x2) -> R^2: smooth, both inputs matter."""
    return tg.tanh(x @ w) * tg.sin(x[:2]) + tg.logsumexp(w, axis=0)


def f_one(x):
    return tg.stack([tg.prod(x), tg.norm(x), tg.cumsum(x)[-1] ** 2, tg.softplus(x).sum()])


def numerical_jvp(fn, inputs, tangents):
    total = 0
    for i, (x, v) in enumerate(zip(inputs, tangents)):
        def with_x(xi, i=i):
            return fn(*inputs[:i], xi, *inputs[i + 1:])
        J = numerical_jacobian(with_x, x)
        total = total + np.tensordot(J, v, axes=v.ndim)
    return total


def test_jvp_matches_finite_differences_with_several_inputs():
    x, w = rng.normal(size=3), rng.normal(size=(3, 2))
    v = (rng.normal(size=3), rng.normal(size=(3, 2)))
    out, jv = tg.jvp(f_two, (x, w), v)
    np.testing.assert_allclose(out.data, f_two(tg.Tensor(x), tg.Tensor(w)).data)
    np.testing.assert_allclose(jv.data, numerical_jvp(f_two, (x, w), v), rtol=1e-6, atol=1e-8)
    assert not out.requires_grad and not jv.requires_grad


def test_vjp_matches_the_transposed_jacobian():
    x, w = rng.normal(size=3), rng.normal(size=(3, 2))
    u = rng.normal(size=2)
    _, (gx, gw) = tg.vjp(f_two, (x, w), u)
    jx = numerical_jacobian(lambda t: f_two(t, tg.Tensor(w)), x)
    jw = numerical_jacobian(lambda t: f_two(tg.Tensor(x), t), w)
    np.testing.assert_allclose(gx.data, np.tensordot(u, jx, axes=1), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gw.data, np.tensordot(u, jw, axes=1), rtol=1e-6, atol=1e-8)


def test_jacfwd_equals_jacrev_and_finite_differences():
    x = rng.uniform(0.5, 2.0, size=(2, 2))
    forward, reverse = tg.jacfwd(f_one, x), tg.jacrev(f_one, x)
    assert forward.shape == reverse.shape == (4, 2, 2)
    np.testing.assert_allclose(forward.data, reverse.data, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(forward.data, numerical_jacobian(f_one, x), rtol=1e-6, atol=1e-8)


def test_single_tensor_inputs_and_float32():
    x = tg.Tensor(rng.normal(size=4).astype(np.float32), requires_grad=True)
    v = np.ones(4, np.float32)
    out, jv = tg.jvp(tg.sin, x, v)
    assert jv.dtype == np.float32 and jv.shape == (4,)
    np.testing.assert_allclose(jv.data, np.cos(x.data), rtol=1e-6)
    _, g = tg.vjp(tg.sin, x, v)
    np.testing.assert_allclose(g.data, np.cos(x.data), rtol=1e-6)
    assert x.grad is None and x.grad_fn is None  # x's own graph and .grad are left alone


def test_a_linear_function_and_a_constant_one():
    x = rng.normal(size=3)
    _, jv = tg.jvp(lambda t: 3 * t, x, np.ones(3))
    np.testing.assert_allclose(jv.data, 3 * np.ones(3))
    _, jv = tg.jvp(lambda t: tg.Tensor(np.ones(2)), x, np.ones(3))
    np.testing.assert_array_equal(jv.data, np.zeros(2))
    _, g = tg.vjp(lambda t: tg.Tensor(np.ones(2)), x, np.ones(2))
    np.testing.assert_array_equal(g.data, np.zeros(3))


def test_mismatched_tangents_raise():
    with pytest.raises(ValueError, match="tangent 0 has shape"):
        tg.jvp(tg.sin, np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="2 given for 1 tensors"):
        tg.jvp(tg.sin, (np.ones(3),), (np.ones(3), np.ones(3)))
    with pytest.raises(ValueError, match="cotangent 0 has shape"):
        tg.vjp(tg.sin, np.ones(3), np.ones(2))

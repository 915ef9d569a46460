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


# ---------------------------------------------------------------- inside no_grad()

def cube(x):
    return x * x * x


def cube_sum(x):
    return (x * x * x).sum()


X = np.array([1.0, -2.0, 0.5])
V = np.array([0.5, 1.0, -1.0])
# each transform of x ↦ x³ (or of its sum) at X, and its closed form
TRANSFORMS = {
    "jvp": (lambda: tg.jvp(cube, X, V)[1], 3 * X ** 2 * V),
    "vjp": (lambda: tg.vjp(cube, X, V)[1], 3 * X ** 2 * V),
    "jacfwd": (lambda: tg.jacfwd(cube, X), np.diag(3 * X ** 2)),
    "jacrev": (lambda: tg.jacrev(cube, X), np.diag(3 * X ** 2)),
    "jacobian": (lambda: tg.jacobian(cube, X), np.diag(3 * X ** 2)),
    "hessian": (lambda: tg.hessian(cube_sum, X), np.diag(6 * X)),
    "hvp": (lambda: tg.hvp(cube_sum, X, V), 6 * X * V),
}


@pytest.mark.parametrize("mode", ["grad mode", "no_grad"])
@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_every_transform_gives_its_derivative_inside_no_grad_too(name, mode):
    compute, expected = TRANSFORMS[name]
    if mode == "no_grad":
        with tg.no_grad():
            result = compute()
            assert not tg.is_grad_enabled()  # the mode is the caller's again
    else:
        result = compute()
    np.testing.assert_allclose(result.data, expected, rtol=1e-12)
    assert not result.requires_grad


def test_a_no_grad_inside_fn_is_respected():
    def fn(x):
        with tg.no_grad():
            constant = x * 10
        return x * constant  # d/dx = constant: the inner no_grad cuts the other path

    np.testing.assert_allclose(tg.jacfwd(fn, X).data, np.diag(10 * X), rtol=1e-12)
    np.testing.assert_allclose(tg.jacrev(fn, X).data, np.diag(10 * X), rtol=1e-12)


# ---------------------------------------------------------------- tuples of inputs and outputs

def two_outputs(x, w):
    """(x ⊙ w, Σ x²): R^3 x R^3 -> R^3, R."""
    return x * w, (x * x).sum()


W = np.array([2.0, 0.5, -1.0])
# d output i / d input j of two_outputs at (X, W)
BLOCKS = [[np.diag(W), np.diag(X)], [2 * X, np.zeros(3)]]


@pytest.mark.parametrize("transform", [tg.jacfwd, tg.jacrev, tg.jacobian])
def test_jacobians_of_several_inputs_and_outputs_are_nested_tuples(transform):
    J = transform(two_outputs, (X, W))
    assert type(J) is tuple and len(J) == 2 and all(type(row) is tuple for row in J)
    for row, expected_row in zip(J, BLOCKS):
        for block, expected in zip(row, expected_row):
            np.testing.assert_allclose(block.data, expected, rtol=1e-12)
    assert [[b.shape for b in row] for row in J] == [[(3, 3), (3, 3)], [(3,), (3,)]]


@pytest.mark.parametrize("transform", [tg.jacfwd, tg.jacrev])
def test_one_level_of_tuple_for_one_input_or_one_output(transform):
    outputs = transform(lambda x: two_outputs(x, tg.Tensor(W)), X)  # one input: over outputs
    assert type(outputs) is tuple and len(outputs) == 2
    np.testing.assert_allclose(outputs[0].data, BLOCKS[0][0])
    np.testing.assert_allclose(outputs[1].data, BLOCKS[1][0])
    inputs = transform(lambda x, w: x * w, (X, W))  # one output: over inputs
    assert type(inputs) is tuple and len(inputs) == 2
    np.testing.assert_allclose(inputs[0].data, BLOCKS[0][0])
    np.testing.assert_allclose(inputs[1].data, BLOCKS[0][1])
    (alone,) = transform(lambda x: x * 2, (X,))  # a tuple of one input stays a tuple
    np.testing.assert_allclose(alone.data, 2 * np.eye(3))


def test_a_list_of_numbers_is_one_input_and_a_list_of_arrays_is_several():
    np.testing.assert_allclose(tg.jacfwd(cube, [1.0, 2.0]).data, np.diag([3.0, 12.0]))
    gx, gw = tg.jacrev(lambda x, w: x * w, [X, W])
    np.testing.assert_allclose(gx.data, np.diag(W))


def test_jvp_and_vjp_of_a_function_with_two_outputs():
    (y, s), (jy, js) = tg.jvp(two_outputs, (X, W), (V, V))
    np.testing.assert_allclose(y.data, X * W)
    np.testing.assert_allclose(jy.data, BLOCKS[0][0] @ V + BLOCKS[0][1] @ V)
    np.testing.assert_allclose(js.data, BLOCKS[1][0] @ V)
    u = (V, np.array(2.0))
    (y, s), (gx, gw) = tg.vjp(two_outputs, (X, W), u)
    np.testing.assert_allclose(gx.data, V @ BLOCKS[0][0] + 2.0 * BLOCKS[1][0])
    np.testing.assert_allclose(gw.data, V @ BLOCKS[0][1])
    with pytest.raises(ValueError, match="cotangent: expected a tuple of 2, one per tensor, "
                                         "got a ndarray"):
        tg.vjp(two_outputs, (X, W), V)
    with pytest.raises(ValueError, match="cotangent: 1 given for 2 tensors"):
        tg.vjp(two_outputs, (X, W), (V,))


def test_an_output_that_does_not_depend_on_the_inputs_gives_zeros_in_a_tuple():
    J = tg.jacfwd(lambda x: (x * 2, tg.Tensor(np.ones(2))), X)
    np.testing.assert_array_equal(J[1].data, np.zeros((2, 3)))
    np.testing.assert_allclose(J[0].data, 2 * np.eye(3))


@pytest.mark.parametrize("transform", [tg.jacfwd, tg.jacrev, tg.jacobian])
@pytest.mark.parametrize("returned, named", [
    (lambda x: {"y": x}, "got dict"),
    (lambda x: 3.0, "got float"),
    (lambda x: (x, x.numpy()), "element 1 is a ndarray"),
    (lambda x: (), "got tuple"),
])
def test_a_result_that_is_not_tensors_is_named(transform, returned, named):
    with pytest.raises(TypeError, match=f"{transform.__name__}: fn .*{named}"):
        transform(returned, X)

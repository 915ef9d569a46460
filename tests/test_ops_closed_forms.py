"""Gradients against formulas worked out by hand, higher-order derivatives, and gradcheck itself:
user Functions with a right and a wrong backward, the error message, float32 warnings."""
import numpy as np
import pytest

import tinygrad_nn as tg

RNG_SEED = 0


def rng():
    return np.random.default_rng(RNG_SEED)


def leaf(array):
    return tg.Tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def jacobian(fn, x):
    """d fn(x)[i] / d x[j] as a (fn(x).size, x.size) matrix, one backward per output element."""
    y = fn(x)
    rows = []
    for k in range(y.size):
        onehot = np.zeros(y.size)
        onehot[k] = 1
        (g,) = tg.grad(fn(x), x, grad_outputs=onehot.reshape(y.shape))
        rows.append(g.data.ravel())
    return np.array(rows)


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------- first derivatives

def test_log_softmax_jacobian_is_identity_minus_softmax():
    x = leaf([0.3, -1.2, 2.0, 0.5])
    s = softmax(x.data)
    np.testing.assert_allclose(jacobian(tg.log_softmax, x), np.eye(4) - s[None, :], atol=1e-12)


def test_softmax_jacobian_is_diag_minus_outer_product():
    x = leaf([0.3, -1.2, 2.0, 0.5])
    s = softmax(x.data)
    np.testing.assert_allclose(jacobian(tg.softmax, x), np.diag(s) - np.outer(s, s), atol=1e-12)


def test_softmax_along_axis_0_is_independent_per_column():
    x = leaf(rng().normal(size=(3, 2)))
    s = softmax(x.data, axis=0)
    expected = np.zeros((6, 6))
    for col in range(2):
        idx = [row * 2 + col for row in range(3)]
        expected[np.ix_(idx, idx)] = np.diag(s[:, col]) - np.outer(s[:, col], s[:, col])
    np.testing.assert_allclose(jacobian(lambda t: t.softmax(axis=0), x), expected, atol=1e-12)


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    logits = leaf(rng().normal(size=(4, 3)))
    labels = np.array([0, 2, 2, 1])
    loss = -logits.log_softmax(axis=1)[np.arange(4), labels].mean()
    loss.backward()
    onehot = np.eye(3)[labels]
    np.testing.assert_allclose(logits.grad.data, (softmax(logits.data, axis=1) - onehot) / 4,
                               atol=1e-12)


def test_matmul_gradients_are_g_times_w_transposed_and_x_transposed_times_g():
    x, w = leaf(rng().normal(size=(5, 3))), leaf(rng().normal(size=(3, 2)))
    g = rng().normal(size=(5, 2))
    (x @ w).backward(g)
    np.testing.assert_allclose(x.grad.data, g @ w.data.T, atol=1e-12)
    np.testing.assert_allclose(w.grad.data, x.data.T @ g, atol=1e-12)


def test_batched_matmul_gradient_of_a_shared_weight_sums_over_the_batch():
    x, w = leaf(rng().normal(size=(4, 5, 3))), leaf(rng().normal(size=(3, 2)))
    g = rng().normal(size=(4, 5, 2))
    (x @ w).backward(g)
    np.testing.assert_allclose(w.grad.data, np.einsum("bik,bij->kj", x.data, g), atol=1e-12)
    np.testing.assert_allclose(x.grad.data, g @ w.data.T, atol=1e-12)


@pytest.mark.parametrize("axis, n", [(None, 12), (0, 3), (1, 4), ((0, 1), 12), (-1, 4)])
def test_mean_gradient_is_one_over_the_count(axis, n):
    x = leaf(np.arange(12.0).reshape(3, 4))
    x.mean(axis=axis).sum().backward()
    np.testing.assert_allclose(x.grad.data, np.full((3, 4), 1 / n), atol=1e-15)


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_var_gradient_is_two_centered_over_n(axis):
    x = leaf(rng().normal(size=(3, 4)))
    g = rng().normal(size=np.var(x.data, axis=axis).shape)
    x.var(axis=axis).backward(g)
    mean = x.data.mean(axis=axis, keepdims=True)
    n = x.data.size // np.size(mean)
    expected = np.expand_dims(g, axis) if axis is not None else g
    np.testing.assert_allclose(x.grad.data, expected * 2 * (x.data - mean) / n, atol=1e-12)


X = np.array([-1.7, -0.4, 0.3, 1.1, 2.5])
SIGMA = 1 / (1 + np.exp(-X))
TANH = np.tanh(X)

# op, its first and second derivative at X (for positive-only ops, at |X|)
DERIVATIVES = {
    "exp": (tg.exp, X, np.exp(X), np.exp(X)),
    "log": (tg.log, abs(X), 1 / abs(X), -1 / X ** 2),
    "sqrt": (tg.sqrt, abs(X), 0.5 / np.sqrt(abs(X)), -0.25 * abs(X) ** -1.5),
    "tanh": (tg.tanh, X, 1 - TANH ** 2, -2 * TANH * (1 - TANH ** 2)),
    "sigmoid": (tg.sigmoid, X, SIGMA * (1 - SIGMA), SIGMA * (1 - SIGMA) * (1 - 2 * SIGMA)),
    "square": (lambda t: t ** 2, X, 2 * X, np.full_like(X, 2)),
    "reciprocal": (lambda t: 1 / t, X, -1 / X ** 2, 2 / X ** 3),
    "abs": (tg.abs, X, np.sign(X), np.zeros_like(X)),
    "relu": (tg.relu, X, (X > 0) * 1.0, np.zeros_like(X)),
    "leaky_relu": (lambda t: t.leaky_relu(0.1), X, np.where(X > 0, 1, 0.1), np.zeros_like(X)),
}


@pytest.mark.parametrize("name", DERIVATIVES)
def test_elementwise_first_and_second_derivatives_match_formulas(name):
    fn, at, first, second = DERIVATIVES[name]
    x = leaf(at)
    (g,) = tg.grad(fn(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, first, rtol=1e-12)
    if g.requires_grad:
        (h,) = tg.grad(g.sum(), x)
        np.testing.assert_allclose(h.data, second, rtol=1e-12, atol=1e-15)
    else:  # a gradient that does not depend on x: the second derivative is zero
        assert not second.any()


def test_third_derivative_of_tanh_via_create_graph():
    x = leaf(X)
    (d1,) = tg.grad(x.tanh().sum(), x, create_graph=True)
    (d2,) = tg.grad(d1.sum(), x, create_graph=True)
    (d3,) = tg.grad(d2.sum(), x)
    np.testing.assert_allclose(d3.data, -2 * (1 - TANH ** 2) * (1 - 3 * TANH ** 2), rtol=1e-12)


def test_backward_create_graph_gives_a_differentiable_grad():
    x = leaf([1.5, -2.0])
    (x ** 3).sum().backward(create_graph=True)
    first = x.grad
    assert first.requires_grad
    np.testing.assert_allclose(first.data, 3 * x.data ** 2)
    (h,) = tg.grad(first.sum(), x)
    np.testing.assert_allclose(h.data, 6 * x.data)


# y, dy/dx and d²y/dx² for x = [1, 2, -3]: a detached copy or the tensor's array is a constant
# although it shares x's memory
PRODUCTS_WITH_A_COPY = {
    "x * x.detach()": (lambda x: x * x.detach(), 1, 0),
    "x.detach() * x": (lambda x: x.detach() * x, 1, 0),
    "x * x.numpy()": (lambda x: x * x.numpy(), 1, 0),
    "x * x": (lambda x: x * x, 2, 2),
}


@pytest.mark.parametrize("name", PRODUCTS_WITH_A_COPY)
def test_second_derivative_treats_a_detached_copy_as_a_constant(name):
    fn, first, second = PRODUCTS_WITH_A_COPY[name]
    x = leaf([1.0, 2.0, -3.0])
    (g,) = tg.grad(fn(x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.data, first * x.data)
    hessian = tg.grad(g.sum(), x)[0].data if g.requires_grad else np.zeros(3)
    np.testing.assert_array_equal(hessian, np.full(3, float(second)))


def test_a_zero_gradient_keeps_its_own_derivative_through_a_safe_division():
    # d/dw sum(b log w) = b / w is 0 at b = 0, but its derivative in b, 1 / w, is not:
    # the guard that keeps `where` from leaking NaN must not zero it
    b, w = leaf([0.0, 0.0]), leaf([2.0, 4.0])
    (gw,) = tg.grad((b * w.log()).sum(), w, create_graph=True)
    np.testing.assert_array_equal(gw.data, [0.0, 0.0])
    (gb,) = tg.grad(gw.sum(), b)
    np.testing.assert_array_equal(gb.data, [0.5, 0.25])


# ---------------------------------------------------------------- Hessian-vector product

def mlp_loss(w1, b1, w2, x, y):
    """mean squared error of a tanh MLP, 3 -> 4 -> 2"""
    return (((x @ w1 + b1).tanh() @ w2 - y) ** 2).mean()


def test_hessian_vector_product_of_an_mlp_matches_finite_differences_of_the_gradient():
    r = rng()
    x, y = tg.Tensor(r.normal(size=(5, 3))), tg.Tensor(r.normal(size=(5, 2)))
    params = [leaf(r.normal(size=s)) for s in [(3, 4), (4,), (4, 2)]]
    v = [r.normal(size=p.shape) for p in params]

    grads = tg.grad(mlp_loss(*params, x, y), params, create_graph=True)
    hvp = tg.grad(sum((g * vi).sum() for g, vi in zip(grads, v)), params)

    def gradient_at(step):
        moved = [leaf(p.data + step * vi) for p, vi in zip(params, v)]
        return [g.data for g in tg.grad(mlp_loss(*moved, x, y), moved)]

    h = 1e-5
    numeric = [(plus - minus) / (2 * h) for plus, minus in zip(gradient_at(h), gradient_at(-h))]
    for analytic, expected in zip(hvp, numeric):
        np.testing.assert_allclose(analytic.data, expected, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------- user Functions

class Cube(tg.Function):
    """x³;  d/dx = 3x²"""
    differentiable_backward = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x


class CubeOnceDifferentiable(Cube):
    """The same rule, without the promise that backward runs on Tensors."""
    differentiable_backward = False


class CubeWrongAtOneElement(Cube):
    """3x² everywhere but at element (1, 2), where the gradient is doubled."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        wrong = np.ones(x.shape)
        wrong[1, 2] = 2
        return g * 3 * x * x * wrong


class ScaledProduct(tg.Function):
    """a * b, with the gradient of b wrong by a factor of 1.5"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b, 1.5 * g * a


class CubeWithConstantSecondDerivative(Cube):
    """Right first derivative, but backward turns x into a constant, so the second is wrong."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * (x.detach() if isinstance(x, tg.Tensor) else x) ** 2  # a constant


def test_a_user_function_with_a_right_backward_passes_gradcheck_and_gradgradcheck():
    x = leaf(rng().normal(size=(2, 3)))
    assert tg.gradcheck(Cube.apply, [x])
    assert tg.gradgradcheck(Cube.apply, [x])
    y = Cube.apply(x)
    assert y.grad_fn.name == "Cube"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, 3 * x.data ** 2)


def test_a_once_differentiable_user_function_gives_first_derivatives_and_refuses_second():
    x = leaf([0.5, -1.0])
    assert tg.gradcheck(CubeOnceDifferentiable.apply, [x])
    (g,) = tg.grad(CubeOnceDifferentiable.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, 3 * x.data ** 2)
    with pytest.raises(RuntimeError, match="CubeOnceDifferentiable"):
        tg.grad(g.sum(), x)


def test_a_wrong_backward_raises_gradcheck_error_naming_input_element_and_values():
    x = leaf(rng().normal(size=(2, 3)) + 2)
    with pytest.raises(tg.GradcheckError) as info:
        tg.gradcheck(CubeWrongAtOneElement.apply, [x])
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "input 0" in message and "(1, 2)" in message
    reported = {key: float(message.split(f"{key}=")[1].split()[0])
                for key in ("analytic", "numeric")}
    assert reported["analytic"] == pytest.approx(6 * x.data[1, 2] ** 2, rel=1e-12)
    assert reported["numeric"] == pytest.approx(3 * x.data[1, 2] ** 2, rel=1e-6)


def test_gradcheck_names_the_position_of_the_wrong_input():
    a, b = leaf([1.0, 2.0]), leaf([3.0, -1.0])
    with pytest.raises(tg.GradcheckError, match="input 1"):
        tg.gradcheck(ScaledProduct.apply, [a, b])
    b.requires_grad_(False)
    assert tg.gradcheck(ScaledProduct.apply, [a, b])  # only input 0 is checked


def test_gradcheck_returns_false_instead_of_raising_when_asked():
    x = leaf(rng().normal(size=(2, 3)))
    assert tg.gradcheck(CubeWrongAtOneElement.apply, [x], raise_exception=False) is False
    assert tg.gradcheck(Cube.apply, [x], raise_exception=False) is True


def test_gradgradcheck_catches_a_wrong_second_derivative():
    x = leaf([0.5, -1.5, 2.0])
    assert tg.gradcheck(CubeWithConstantSecondDerivative.apply, [x])
    with pytest.raises(tg.GradcheckError, match="input 0"):
        tg.gradgradcheck(CubeWithConstantSecondDerivative.apply, [x])
    assert tg.gradgradcheck(CubeWithConstantSecondDerivative.apply, [x],
                            raise_exception=False) is False


def test_gradcheck_warns_about_a_float32_input_and_checks_it_in_float64():
    x = tg.Tensor(np.array([0.5, 1.5], dtype=np.float32), requires_grad=True)
    with pytest.warns(UserWarning, match="float32"):
        assert tg.gradcheck(tg.tanh, [x])
    with pytest.warns(UserWarning, match="float32"):
        assert tg.gradgradcheck(tg.tanh, [x])
    assert x.dtype == np.float32 and x.grad is None  # the caller's tensor is left alone


def test_gradcheck_checks_a_whole_jacobian_of_a_non_scalar_output():
    a, b = leaf(rng().normal(size=(2, 3))), leaf(rng().normal(size=(3,)))
    assert tg.gradcheck(lambda a, b: (a * b).softmax(axis=0), [a, b])


# ---------------------------------------------------------------- powers at zero

@pytest.mark.parametrize("create_graph", [False, True], ids=["plain", "create_graph"])
def test_x_to_the_zero_has_base_gradient_zero_at_zero(create_graph):
    """PyTorch and HIPS autograd: d/dx x**0 = 0 everywhere, also at x = 0 (not 0 * inf)."""
    x = leaf([0.0, 2.0, -1.5])
    for exponent in (0, 0.0, leaf([0.0, 0.0, 0.0])):
        (g,) = tg.grad((x ** exponent).sum(), x, create_graph=True)
        np.testing.assert_array_equal(g.data, [0.0, 0.0, 0.0])
        (h,) = tg.grad(g.sum(), x, allow_unused=True)
        assert h is None or np.array_equal(h.data, [0.0, 0.0, 0.0])


def test_zero_to_the_y_has_exponent_gradient_zero_where_y_is_not_negative():
    """d/dy 0**y = 0**y log 0 -> 0 for y >= 0 (PyTorch's value); second derivative 0 too."""
    base, y = leaf([0.0, 0.0, 0.0, 2.0]), leaf([0.0, 0.5, 3.0, 1.5])
    gy, gbase = tg.grad((base ** y).sum(), [y, base], create_graph=True)
    np.testing.assert_array_equal(gy.data[:3], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(gy.data[3], 2.0 ** 1.5 * np.log(2.0), rtol=1e-14)
    # d/dbase base**y = y base^(y-1): 0 at base 0 for y = 3, inf for y = 0.5, 0 for y = 0
    np.testing.assert_array_equal(gbase.data[[0, 2]], [0.0, 0.0])
    (hy,) = tg.grad(gy.sum(), y)
    np.testing.assert_array_equal(hy.data[:3], [0.0, 0.0, 0.0])  # 0**y log(0)**2 -> 0
    np.testing.assert_allclose(hy.data[3], 2.0 ** 1.5 * np.log(2.0) ** 2, rtol=1e-14)


def test_scalar_base_zero_to_a_tensor_power():
    y = leaf([1.0, 2.0])
    (g,) = tg.grad((0.0 ** y).sum(), y)
    np.testing.assert_array_equal(g.data, [0.0, 0.0])

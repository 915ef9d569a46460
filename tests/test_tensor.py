"""The Tensor front: construction and dtypes, detach and requires_grad_, repr, operators and
their reflected forms, comparisons, conversions, indexing, and each method as a function."""
import numpy as np
import pytest

import tinygrad_nn as tg


def leaf(data, dtype=np.float64):
    return tg.Tensor(np.asarray(data, dtype=dtype), requires_grad=True)


@pytest.fixture
def default_dtype():
    """Restores the default dtype whatever the test sets it to."""
    saved = tg.get_default_dtype()
    yield
    tg.set_default_dtype(saved)


# ---------------------------------------------------------------- detach, requires_grad_

def test_detach_gives_a_leaf_without_grad_that_stops_the_gradient():
    x = leaf([1.0, 2.0])
    d = (x * 3).detach()
    assert (d.requires_grad, d.grad_fn, d.is_leaf) == (False, None, True)
    np.testing.assert_array_equal(d.data, 3 * x.data)
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, d.data)


def test_requires_grad_underscore_returns_self_and_turns_recording_on_and_off():
    t = tg.Tensor([1.0, 2.0])
    assert t.requires_grad_() is t and t.requires_grad
    assert (t * 2).requires_grad
    assert t.requires_grad_(False) is t and not (t * 2).requires_grad
    with pytest.raises(TypeError):
        tg.Tensor(np.array([1, 2])).requires_grad_()


# ---------------------------------------------------------------- dtypes

SCALARS = {"python float": 1.5, "python int": 2, "numpy float64 scalar": np.float64(1.5),
           "numpy float32 scalar": np.float32(1.5), "numpy int64 scalar": np.int64(2)}


@pytest.mark.parametrize("scalar", SCALARS.values(), ids=SCALARS.keys())
def test_float32_stays_float32_with_python_and_numpy_scalars(scalar):
    x = leaf([0.5, 2.0], dtype=np.float32)
    parts = [x + scalar, scalar + x, x - scalar, scalar - x, x * scalar, scalar * x, x / scalar,
             scalar / x, x ** scalar, scalar ** x, tg.maximum(x, scalar),
             tg.where(x > 1, x, scalar)]
    assert all(p.dtype == np.float32 for p in parts)
    total = parts[0].sum()
    for p in parts[1:]:
        total = total + p.sum()
    assert total.dtype == np.float32
    total.backward()
    assert x.grad.dtype == np.float32


def test_a_float32_leaf_gets_a_float32_grad_even_from_a_float64_graph():
    x, w = leaf([0.5, 2.0], dtype=np.float32), leaf([1.0, 3.0])
    y = x * w
    assert y.dtype == np.float64  # NumPy's promotion between arrays
    y.sum().backward()
    assert (x.grad.dtype, w.grad.dtype) == (np.float32, np.float64)
    np.testing.assert_array_equal(x.grad.data, np.float32([1.0, 3.0]))


def test_constructor_dtype_rules(default_dtype):
    assert tg.Tensor([1, 2]).dtype == np.float32
    assert tg.Tensor(3).dtype == np.float32 and tg.Tensor(2.5).dtype == np.float32
    for dtype in (np.float16, np.float32, np.float64):
        assert tg.Tensor(np.zeros(2, dtype)).dtype == dtype
    assert tg.Tensor(np.array([1, 2])).dtype == np.int64
    assert tg.Tensor(np.array([True, False])).dtype == bool
    assert tg.Tensor([1, 2], dtype=np.float64).dtype == np.float64
    tg.set_default_dtype(np.float64)
    assert tg.get_default_dtype() == np.float64
    assert tg.Tensor([1, 2]).dtype == np.float64 and tg.zeros(2).dtype == np.float64
    assert tg.Tensor(np.zeros(2, np.float32)).dtype == np.float32  # arrays keep theirs
    with pytest.raises(TypeError):
        tg.set_default_dtype(np.int32)


def test_a_tensor_from_a_tensor_copies_its_data_without_a_graph_link():
    x = leaf([1.0, 2.0])
    y = x * 2
    copy = tg.Tensor(y)
    assert (copy.requires_grad, copy.grad_fn) == (False, None)
    copy.data[0] = 100
    assert y.data[0] == 2


def test_constructors():
    assert tg.zeros(2, 3).shape == (2, 3) and tg.ones((2, 3)).shape == (2, 3)
    assert tg.zeros(2).dtype == np.float32 and tg.ones(2, dtype=np.float64).dtype == np.float64
    assert tg.ones(2, requires_grad=True).requires_grad
    np.testing.assert_array_equal(tg.arange(3).data, [0.0, 1.0, 2.0])
    assert tg.arange(3).dtype == np.float32 and tg.arange(1, 7, 2).tolist() == [1, 3, 5]
    r1 = tg.randn(2, 3, rng=np.random.default_rng(7))
    r2 = tg.randn(2, 3, rng=np.random.default_rng(7))
    assert r1.shape == (2, 3) and r1.dtype == np.float32
    np.testing.assert_array_equal(r1.data, r2.data)


# ---------------------------------------------------------------- the Tensor front

def test_repr_shows_data_dtype_and_grad_fn():
    a = tg.Tensor([0.5, 1.5], requires_grad=True)
    assert repr(a + tg.Tensor([0.5, 0.5])) == "Tensor([1. 2.], dtype=float32, grad_fn=Add)"
    assert repr(tg.Tensor([1.0, 2.0])) == "Tensor([1. 2.], dtype=float32)"
    assert repr(tg.Tensor(np.array([1, 2]))) == "Tensor([1 2], dtype=int64)"
    assert "requires_grad=True" in repr(a)
    assert (a @ a).grad_fn.name == "MatMul" and (a @ a).grad_fn.inputs == (a, a)


REFLECTED = {
    "2 + x": (lambda x: 2 + x, lambda x: 2 + x),
    "2 - x": (lambda x: 2 - x, lambda x: 2 - x),
    "2 * x": (lambda x: 2 * x, lambda x: 2 * x),
    "2 / x": (lambda x: 2 / x, lambda x: 2 / x),
    "2 ** x": (lambda x: 2 ** x, lambda x: 2 ** x),
    "x ** 2": (lambda x: x ** 2, lambda x: x ** 2),
    "-x": (lambda x: -x, lambda x: -x),
    "+x": (lambda x: +x, lambda x: +x),
    "abs(x)": (abs, abs),
    "ndarray @ x": (lambda x: np.array([[1.0, 2.0], [3.0, 4.0]]) @ x,
                    lambda x: np.array([[1.0, 2.0], [3.0, 4.0]]) @ x),
    "ndarray - x": (lambda x: np.array([1.0, 2.0]) - x, lambda x: np.array([1.0, 2.0]) - x),
    "ndarray / x": (lambda x: np.array([1.0, 2.0]) / x, lambda x: np.array([1.0, 2.0]) / x),
    "float64 scalar * x": (lambda x: np.float64(3) * x, lambda x: np.float64(3) * x),
}


@pytest.mark.parametrize("name", REFLECTED)
def test_operators_and_reflected_forms_are_differentiable(name):
    fn, ref = REFLECTED[name]
    x = leaf([0.5, -1.5])
    y = fn(x)
    assert isinstance(y, tg.Tensor) and y.requires_grad
    np.testing.assert_allclose(y.data, ref(x.data))
    assert tg.gradcheck(fn, [x])


def test_ndarray_plus_tensor_returns_a_tensor_with_a_graph():
    x = leaf([1.0, 2.0])
    y = np.array([10.0, 20.0]) + x
    assert isinstance(y, tg.Tensor) and y.grad_fn.name == "Add"
    (np.array([3.0, 4.0]) * y).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])


@pytest.mark.parametrize("op", ["__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"])
def test_comparisons_return_bool_tensors_without_grad(op):
    x = leaf([1.0, 2.0, 3.0])
    for other in (2.0, leaf([3.0, 2.0, 1.0]), np.array([1.0, 5.0, 3.0])):
        result = getattr(x, op)(other)
        expected = getattr(x.data, op)(other.data if isinstance(other, tg.Tensor) else other)
        assert isinstance(result, tg.Tensor) and result.dtype == bool
        assert (result.requires_grad, result.grad_fn) == (False, None)
        np.testing.assert_array_equal(result.data, expected)
    np.testing.assert_array_equal((2.0 < x).data, [False, False, True])  # reflected: x > 2


def test_conversions():
    t = tg.Tensor([[1.0, 2.0], [3.0, 4.0]])
    assert isinstance(np.asarray(t), np.ndarray)
    np.testing.assert_array_equal(np.asarray(t), [[1.0, 2.0], [3.0, 4.0]])
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert t.numpy() is t.data
    assert len(t) == 2 and t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert (t.shape, t.ndim, t.size, t.T.shape) == ((2, 2), 2, 4, (2, 2))
    assert t.sum().item() == 10.0 and isinstance(t.sum().item(), float)
    assert float(t[0, 1]) == 2.0
    with pytest.raises(ValueError):
        t.item()
    with pytest.raises(TypeError):
        len(tg.Tensor(1.0))


def test_iterating_a_tensor_gives_differentiable_rows():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    rows = list(x)
    assert len(rows) == 2 and all(r.grad_fn.name == "GetItem" for r in rows)
    (rows[0] * 2 + rows[1]).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[2.0, 2.0], [1.0, 1.0]])


def test_repeated_integer_indices_accumulate_their_gradients():
    x = leaf([10.0, 20.0, 30.0])
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 0.0, 1.0])


# name -> the arguments after the tensor
FUNCTIONS_AND_METHODS = {
    "sum": (), "mean": (1,), "max": (0, True), "min": (), "var": (-1,), "exp": (), "log": (),
    "sqrt": (), "abs": (), "tanh": (), "sigmoid": (), "relu": (), "leaky_relu": (0.2,),
    "softmax": (0,), "log_softmax": (), "clip": (0.3, 2.0), "reshape": (4, 1),
    "transpose": (1, 0), "flatten": (), "matmul": (np.array([[1.0], [2.0]]),),
}


@pytest.mark.parametrize("name", FUNCTIONS_AND_METHODS)
def test_each_method_is_also_a_function(name):
    x = leaf([[0.5, 1.5], [2.5, 0.25]])
    args = FUNCTIONS_AND_METHODS[name]
    by_function, by_method = getattr(tg, name)(x, *args), getattr(x, name)(*args)
    assert by_function.grad_fn.name == by_method.grad_fn.name
    np.testing.assert_array_equal(by_function.data, by_method.data)


@pytest.mark.parametrize("value", [np.ones(3), np.ones((2, 2, 2)), tg.Tensor(np.ones((1, 3)))])
def test_an_in_place_change_with_a_value_that_does_not_fit_names_both_shapes(value):
    t = tg.Tensor(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"add_: a value of shape \(.*\) does not fit a tensor of "
                                         r"shape \(2, 2\)"):
        t.add_(value)
    assert t._version == 0 and (t.data == 0).all()
    assert t.add_(np.ones(2)).mul_(3.0).data.tolist() == [[3.0, 3.0], [3.0, 3.0]]
    assert t._version == 2


@pytest.mark.parametrize("make", [lambda rng: tg.randn(3, rng=rng), lambda rng: tg.rand(3, rng=rng),
                                  lambda rng: tg.uniform(-1, 1, 3, rng=rng)])
def test_random_constructors_take_a_seed_or_a_generator(make):
    np.testing.assert_array_equal(make(7).data, make(np.random.default_rng(7)).data)
    with pytest.raises(TypeError, match="rng"):
        make("seven")

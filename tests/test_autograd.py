"""Graph semantics: fan-out, accumulation, retain_graph, hooks, retain_grad, grad mode, detach,
tg.grad, deep graphs, ties, `where` with a poisoned branch, dtypes, and the Tensor front
(repr, operators, comparisons, conversions)."""
import gc
import threading

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn.autograd import topological_order


def leaf(data, dtype=np.float64):
    return tg.Tensor(np.asarray(data, dtype=dtype), requires_grad=True)


@pytest.fixture
def default_dtype():
    """Restores the default dtype whatever the test sets it to."""
    saved = tg.get_default_dtype()
    yield
    tg.set_default_dtype(saved)


# ---------------------------------------------------------------- fan-out and order

def test_a_tensor_used_many_times_gets_the_sum_of_its_gradients():
    x = leaf([0.5, -1.0])
    (x * x + 3 * x + x.exp()).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 3 + np.exp(x.data))


def test_diamond_with_one_long_and_one_short_branch():
    x = leaf(1.5)
    a = x * 2
    long_branch = a
    for _ in range(50):
        long_branch = long_branch + 1
    (long_branch * a).backward()  # y = (a + 50) a,  dy/dx = (2a + 50) * 2
    np.testing.assert_allclose(x.grad.data, (2 * 3.0 + 50) * 2)


def test_the_same_tensor_twice_in_one_op():
    x = leaf([1.0, -2.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, 2 * x.data)
    x.grad = None
    (x @ x).backward()
    np.testing.assert_array_equal(x.grad.data, 2 * x.data)


# ---------------------------------------------------------------- accumulation, retain_graph

def test_gradients_accumulate_into_leaf_grad_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, 3 + 2 * x.data)
    x.zero_grad()
    assert x.grad is None


def test_a_second_backward_without_retain_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_a_second_backward_after_retain_graph_doubles_the_gradient():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.data, 2 * 2 * x.data)


def test_tg_grad_frees_the_graph_unless_retained():
    x = leaf([1.0, 2.0])
    y = (x.tanh() * x).sum()
    first = tg.grad(y, x, retain_graph=True)[0].data
    np.testing.assert_array_equal(tg.grad(y, x)[0].data, first)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        tg.grad(y, x)


# ---------------------------------------------------------------- hooks, retain_grad

def test_a_leaf_hook_sees_the_accumulated_gradient_once_and_can_replace_it():
    x = leaf([1.0, 2.0])
    seen = []

    def double(g):
        seen.append(g.data.copy())
        return g * 2

    x.register_hook(double)
    (x * 3 + x).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [4.0, 4.0])
    np.testing.assert_array_equal(x.grad.data, [8.0, 8.0])


def test_a_hook_on_a_non_leaf_replaces_the_gradient_flowing_upstream():
    x = leaf([1.0, 2.0])
    h = x * 2
    h.register_hook(lambda g: g * 10)
    (h * h).sum().backward()  # dL/dh = 2h, replaced by 20h; dL/dx = 20h * 2
    np.testing.assert_array_equal(x.grad.data, 20 * h.data * 2)


def test_a_hook_returning_none_only_observes():
    x = leaf([1.0, 2.0])
    h = x.tanh()
    seen = []
    h.register_hook(lambda g: seen.append(type(g)))
    x.register_hook(lambda g: seen.append(type(g)))
    h.sum().backward()
    assert seen == [tg.Tensor, tg.Tensor]
    np.testing.assert_allclose(x.grad.data, 1 - np.tanh(x.data) ** 2)


def test_a_hook_on_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError):
        tg.Tensor([1.0]).register_hook(lambda g: g)


def test_retain_grad_keeps_the_gradient_of_a_non_leaf_and_others_stay_none():
    x = leaf([1.0, 2.0])
    h = x * 2
    h.retain_grad()
    m = h + 1
    out = (m * h).sum()
    out.backward()
    np.testing.assert_array_equal(h.grad.data, 2 * h.data + 1)
    assert m.grad is None and out.grad is None
    assert not h.is_leaf and x.is_leaf


def test_retained_and_leaf_grads_are_separate_writable_arrays():
    x = leaf([1.0, 2.0])
    y = x + 1.0  # Add hands the same gradient array to x and to y's retained grad
    y.retain_grad()
    s = y * 3
    s.retain_grad()  # its gradient comes from sum's backward: a read-only broadcast view
    (s.sum() + (y * y).sum()).backward()
    grads = [x.grad.data, y.grad.data, s.grad.data]
    assert all(g.flags.writeable for g in grads)
    assert not any(np.shares_memory(a, b) for i, a in enumerate(grads) for b in grads[i + 1:])


# ---------------------------------------------------------------- grad mode

def test_no_grad_and_enable_grad_as_context_managers():
    x = leaf([1.0])
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = x * 2
        with tg.enable_grad():
            z = x * 2
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn.name == "Mul"


def test_no_grad_and_enable_grad_as_decorators():
    x = leaf([1.0])

    @tg.no_grad()
    def untracked(t):
        return t * 2, tracked(t)

    @tg.enable_grad()
    def tracked(t):
        return t * 2

    y, z = untracked(x)
    assert not y.requires_grad and z.requires_grad
    assert tg.is_grad_enabled()


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with tg.no_grad():
            1 / 0
    assert tg.is_grad_enabled()


def test_grad_mode_is_per_thread():
    x = leaf([1.0])
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with tg.no_grad():
            inside.set()
            release.wait(timeout=10)
            seen["worker"] = (tg.is_grad_enabled(), (x * 2).requires_grad)

    thread = threading.Thread(target=worker)
    thread.start()
    assert inside.wait(timeout=10)
    seen["main"] = (tg.is_grad_enabled(), (x * 2).requires_grad)
    release.set()
    thread.join()
    assert seen == {"worker": (False, False), "main": (True, True)}


def test_a_new_thread_records_even_if_the_main_thread_is_in_no_grad():
    x = leaf([1.0])
    seen = []
    with tg.no_grad():
        thread = threading.Thread(target=lambda: seen.append((x * 2).requires_grad))
        thread.start()
        thread.join()
    assert seen == [True]


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


# ---------------------------------------------------------------- tg.grad

def test_grad_returns_a_tuple_and_leaves_dot_grad_untouched():
    x, w = leaf([1.0, 2.0]), leaf([3.0, -1.0])
    w.grad = tg.Tensor(np.array([7.0, 7.0]))
    gx, gw = tg.grad((x * w).sum(), [x, w])
    np.testing.assert_array_equal(gx.data, w.data)
    np.testing.assert_array_equal(gw.data, x.data)
    assert x.grad is None
    np.testing.assert_array_equal(w.grad.data, [7.0, 7.0])
    (single,) = tg.grad((x * w).sum(), x)
    np.testing.assert_array_equal(single.data, w.data)


def test_grad_with_respect_to_non_leaf_tensors():
    x = leaf([1.0, 2.0])
    h = x * 3
    y = (h * h).sum()
    gh, gx = tg.grad(y, [h, x], retain_graph=True)
    np.testing.assert_array_equal(gh.data, 2 * h.data)
    np.testing.assert_array_equal(gx.data, 2 * h.data * 3)
    assert h.grad is None and x.grad is None


def test_grad_of_an_unused_input_raises_unless_allow_unused():
    x, unused = leaf([1.0]), leaf([2.0])
    with pytest.raises(RuntimeError, match="allow_unused"):
        tg.grad((x * 2).sum(), [x, unused])
    gx, gu = tg.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert gu is None
    np.testing.assert_array_equal(gx.data, [2.0])


def test_grad_of_several_outputs_with_grad_outputs_adds_their_contributions():
    x = leaf([1.0, 2.0])
    (g,) = tg.grad([x * 2, x * x], x, grad_outputs=[np.array([1.0, 1.0]), np.array([1.0, 0.5])])
    np.testing.assert_array_equal(g.data, 2 + np.array([1.0, 0.5]) * 2 * x.data)


# ---------------------------------------------------------------- deep graphs

def test_a_200000_op_chain_backpropagates_prints_and_is_freed_without_recursion():
    x0 = leaf(0.5)
    x = x0
    for _ in range(100_000):  # two ops per step
        x = x * 1.0001 + 0.0001
    assert len(topological_order([x.grad_fn])) == 200_000
    x.backward()
    np.testing.assert_allclose(x0.grad.data, 1.0001 ** 100_000, rtol=1e-9)
    np.testing.assert_allclose(x.data, 1.0001 ** 100_000 * (0.5 + 1) - 1, rtol=1e-9)
    assert repr(x).endswith("dtype=float64, grad_fn=Add)")
    del x
    gc.collect()


# ---------------------------------------------------------------- ties

@pytest.mark.parametrize("reduce, data, axis, expected", [
    ("max", [1.0, 3.0, 3.0], None, [0, 0.5, 0.5]),
    ("min", [2.0, 1.0, 1.0, 5.0], None, [0, 0.5, 0.5, 0]),
    ("max", [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], 1, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]]),
    ("min", [[1.0, 3.0], [1.0, 0.0]], 0, [[0.5, 0], [0.5, 1]]),
    ("max", [[4.0, 1.0], [0.0, 4.0]], None, [[0.5, 0], [0, 0.5]]),
])
def test_max_and_min_split_the_gradient_equally_among_ties(reduce, data, axis, expected):
    x = leaf(data)
    getattr(x, reduce)(axis=axis).sum().backward()
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-15)


@pytest.mark.parametrize("fn", [tg.maximum, tg.minimum])
def test_maximum_and_minimum_give_half_to_each_input_at_a_tie(fn):
    a, b = leaf([1.0, 2.0, 3.0]), leaf([1.0, 5.0, 0.0])
    fn(a, b).sum().backward()
    a_wins = [0.5, 0.0, 1.0] if fn is tg.maximum else [0.5, 1.0, 0.0]
    np.testing.assert_array_equal(a.grad.data, a_wins)
    np.testing.assert_array_equal(b.grad.data, 1 - np.array(a_wins))


def test_maximum_with_a_broadcast_scalar_collects_its_half_shares():
    x, zero = leaf([0.0, 2.0, 0.0]), leaf(0.0)
    tg.maximum(x, zero).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.5, 1.0, 0.5])
    np.testing.assert_array_equal(zero.grad.data, 1.0)


# ---------------------------------------------------------------- where

X_POISON = [-1.0, 0.0, 4.0]

# name -> fn, where fn's poisoned branch (NaN, inf or -inf at some of X_POISON, from a pole,
# a log or an overflow) is not taken, d fn / dx at X_POISON. The other branch is linear, so
# second derivatives vanish there.
POISONED_BRANCHES = {
    "sqrt of negatives": (lambda x: tg.where(x > 0, x.sqrt(), 0 * x), [1, 1, 0], [0, 0, 0.25]),
    "reciprocal of zero": (lambda x: tg.where(x != 0, 1 / x, 0 * x), [0, 1, 0], [-1, 0, -1 / 16]),
    "log of zero and negatives": (lambda x: tg.where(x > 0, x.log(), 0 * x), [1, 1, 0],
                                  [0, 0, 0.25]),
    "power one half": (lambda x: tg.where(x > 0, x ** 0.5, 0 * x), [1, 1, 0], [0, 0, 0.25]),
    "log in the false branch": (lambda x: tg.where(x <= 0, x, x.log()), [1, 1, 0], [1, 1, 0.25]),
    "entropy p log p": (lambda x: tg.where(x > 0, x * x.log(), 0 * x), [1, 1, 0],
                        [0, 0, np.log(4) + 1]),
    "exp overflow": (lambda x: tg.where(x > 2, 0 * x, (300 * x).exp()), [0, 0, 1],
                     [300 * np.exp(-300), 300, 0]),
}


@pytest.mark.parametrize("create_graph", [False, True], ids=["plain", "create_graph"])
@pytest.mark.parametrize("name", POISONED_BRANCHES)
def test_where_never_leaks_nan_or_inf_from_the_branch_not_taken(name, create_graph):
    fn, not_taken, expected = POISONED_BRANCHES[name]
    x = leaf(X_POISON)
    with np.errstate(all="ignore"):  # computing the untaken branch may warn
        (g,) = tg.grad(fn(x).sum(), x, create_graph=create_graph)
        (h,) = tg.grad(g.sum(), x) if create_graph else (None,)
    np.testing.assert_allclose(g.data, expected, rtol=1e-14, atol=0)  # zeros exactly
    if create_graph:  # second derivatives are finite, and exactly 0 where the poison was
        assert np.isfinite(h.data).all()
        np.testing.assert_array_equal(h.data[np.array(not_taken, bool)], 0)


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

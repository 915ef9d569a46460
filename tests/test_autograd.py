"""Graph semantics: fan-out, accumulation, retain_graph, hooks, retain_grad, grad mode, tg.grad,
deep graphs, ties, `where` with a poisoned branch, in-place changes after recording (versions),
and every path counted once."""
import gc
import threading

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn.autograd import topological_order


def leaf(data, dtype=np.float64):
    return tg.Tensor(np.asarray(data, dtype=dtype), requires_grad=True)


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


@pytest.mark.parametrize("scale", [np.float64(2.0), 2.0, np.array(2.0)])
def test_grad_outputs_of_a_scalar_output_may_be_a_number(scale):
    x = leaf([1.0, 2.0])
    (g,) = tg.grad((x * x).sum(), x, grad_outputs=scale)
    np.testing.assert_array_equal(g.data, 2 * 2 * x.data)


# ---------------------------------------------------------------- deep graphs

def test_a_40000_op_chain_backpropagates_prints_and_is_freed_without_recursion():
    # 40 times Python's recursion limit: a recursive walk, repr or release would fail
    x0 = leaf(0.5)
    x = x0
    for _ in range(20_000):  # two ops per step
        x = x * 1.0001 + 0.0001
    assert len(topological_order([x.grad_fn])) == 40_000
    x.backward()
    np.testing.assert_allclose(x0.grad.data, 1.0001 ** 20_000, rtol=1e-9)
    np.testing.assert_allclose(x.data, 1.0001 ** 20_000 * (0.5 + 1) - 1, rtol=1e-9)
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


# ---------------------------------------------------------------- in-place changes (versions)

def dense_and_input():
    model = tg.nn.Dense(4, 3, rng=0)
    x = tg.Tensor(np.random.default_rng(1).normal(size=(2, 4)).astype(np.float32))
    return model, x


@pytest.mark.parametrize("mode", ["plain", "retain_graph", "create_graph", "tg.grad"])
def test_backward_after_an_optimizer_step_raises_naming_op_shape_and_versions(mode):
    model, x = dense_and_input()
    optimizer = tg.optim.SGD(model.parameters(), lr=0.1)
    (model(x) * model(x)).sum().backward()
    optimizer.step()  # a first step: the weight is at version 1 when the loss is built
    loss = (model(x) ** 2).sum()
    optimizer.step()
    before = model.weight.grad.data.copy()
    with pytest.raises(RuntimeError, match="in-place") as info:
        if mode == "tg.grad":
            tg.grad(loss, model.weight)
        else:
            loss.backward(retain_graph=mode == "retain_graph",
                          create_graph=mode == "create_graph")
    message = str(info.value)
    assert "Affine" in message and "(4, 3)" in message
    assert "version 1" in message and "version 2" in message
    np.testing.assert_array_equal(model.weight.grad.data, before)  # nothing accumulated


def test_backward_after_load_state_dict_raises():
    model, x = dense_and_input()
    loss = model(x).sum() * model(x).sum()
    model.load_state_dict(tg.nn.Dense(4, 3, rng=5).state_dict())
    with pytest.raises(RuntimeError, match=r"Affine saved a tensor of shape \(4, 3\) at version 0"):
        loss.backward()


def test_a_change_of_a_tensor_the_node_did_not_save_or_made_before_the_node_is_fine():
    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    b = tg.Tensor([0.5, 0.5], requires_grad=True)
    with tg.no_grad():
        w.mul_(2.0)  # before the graph: the node saves version 1 and sees version 1
    y = (w * w + b).sum()
    with tg.no_grad():
        b.add_(1.0)  # Add saved nothing: its gradient does not depend on b's values
    y.backward()
    np.testing.assert_array_equal(w.grad.data, [4.0, 8.0])
    np.testing.assert_array_equal(b.grad.data, [1.0, 1.0])


def test_a_change_after_the_retained_first_backward_breaks_the_second():
    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    y.backward(retain_graph=True)
    with tg.no_grad():
        w.sub_(w.grad)
    with pytest.raises(RuntimeError, match="Mul saved a tensor of shape \\(2,\\) at version 0, "
                                           "it is now at version 1"):
        y.backward()


# ---------------------------------------------------------------- counting every path once

def test_the_same_output_twice_in_grad_counts_twice():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    (g,) = tg.grad([y, y], x)
    np.testing.assert_array_equal(g.data, 2 * 2 * x.data)


def test_a_leaf_passed_twice_as_an_output_counts_twice():
    x = leaf([1.0, 2.0])
    (g,) = tg.grad([x, x, x * 3], x, grad_outputs=[np.ones(2), np.full(2, 2.0), np.ones(2)])
    np.testing.assert_array_equal(g.data, [6.0, 6.0])


def test_outputs_computed_from_one_another_in_one_grad_call():
    x = leaf([1.0, -2.0])
    h = x * x
    y = (h * 3).sum()
    (g,) = tg.grad([h, y], x, grad_outputs=[np.array([1.0, 1.0]), np.array(1.0)],
                   retain_graph=True)
    np.testing.assert_array_equal(g.data, 2 * x.data + 3 * 2 * x.data)
    (gh,) = tg.grad([h, y], h, grad_outputs=[np.array([1.0, 2.0]), np.array(1.0)])
    np.testing.assert_array_equal(gh.data, [4.0, 5.0])


def test_grad_accumulates_across_repeated_backward_with_create_graph():
    x = leaf([1.0, 2.0])
    for _ in range(3):
        (x * x * x).sum().backward(create_graph=True)
    np.testing.assert_array_equal(x.grad.data, 3 * 3 * x.data ** 2)
    assert x.grad.requires_grad  # a graph: differentiable again
    (h,) = tg.grad(x.grad.sum(), x)
    np.testing.assert_array_equal(h.data, 3 * 6 * x.data)


@pytest.mark.parametrize("op", ["add", "sub", "mul by one", "where", "transpose", "reshape"])
def test_two_leaves_of_one_op_never_share_one_grad_array(op):
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    y = {"add": lambda: a + b, "sub": lambda: a - b, "mul by one": lambda: a * 1.0 + b * 1.0,
         "where": lambda: tg.where(np.array([True, False]), a, b) + a + b,
         "transpose": lambda: a.reshape(1, 2).T + b.reshape(2, 1),
         "reshape": lambda: a.reshape(2, 1) + b.reshape(2, 1)}[op]()
    y.sum().backward()
    assert not np.shares_memory(a.grad.data, b.grad.data)
    a.grad.data[...] = 100.0
    assert (b.grad.data != 100.0).all()


def test_a_hook_runs_with_gradient_and_replacement_in_a_chain_of_hooks():
    x = leaf([1.0, 2.0])
    h = x * 2
    order = []
    h.register_hook(lambda g: order.append("first") or g * 3)
    h.register_hook(lambda g: order.append(float(g.data[0])))
    (h * 1.0).sum().backward()
    assert order == ["first", 3.0]
    np.testing.assert_array_equal(x.grad.data, [6.0, 6.0])


def test_retain_grad_with_create_graph_keeps_a_differentiable_gradient():
    x = leaf([1.0, 2.0])
    h = x * x
    h.retain_grad()
    (h * h).sum().backward(create_graph=True)
    np.testing.assert_array_equal(h.grad.data, 2 * h.data)
    assert h.grad.requires_grad
    np.testing.assert_array_equal(x.grad.data, 4 * x.data ** 3)


def test_grad_leaves_retained_grads_untouched():
    x = leaf([1.0, 2.0])
    h = x * 2
    h.retain_grad()
    tg.grad((h * h).sum(), x)
    assert h.grad is None and x.grad is None


def test_a_gradient_smaller_than_its_input_is_a_clear_error():
    class SumToScalarGradient(tg.Function):
        @staticmethod
        def forward(ctx, a):
            return a.sum()

        @staticmethod
        def backward(ctx, g):
            return g  # wrong: shape () for an input of shape (3,)

    with pytest.raises(ValueError, match=r"shape \(\) for an input of shape \(3,\)"):
        SumToScalarGradient.apply(leaf([1.0, 2.0, 3.0])).backward()


def test_sum_to_shape_sums_added_and_stretched_axes_of_arrays_and_tensors():
    g = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(tg.autograd.sum_to_shape(g, (3, 1)),
                                  g.sum(axis=(0, 2)).reshape(3, 1))
    np.testing.assert_array_equal(tg.autograd.sum_to_shape(g, ()), g.sum())
    t = tg.autograd.sum_to_shape(tg.Tensor(g), (1, 4))
    assert isinstance(t, tg.Tensor) and t.shape == (1, 4)
    np.testing.assert_array_equal(t.data, g.sum(axis=(0, 1))[None])


class ReadOnlyGradient(tg.Function):
    """Its backward hands out a read-only array that is no view of anything."""

    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, g):
        out = g * 2
        out.flags.writeable = False
        return out


def test_a_leaf_grad_is_always_writable():
    x = leaf([1.0, 2.0])
    ReadOnlyGradient.apply(x).sum().backward()
    assert x.grad.data.flags.writeable
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])


@pytest.mark.parametrize("call", ["backward", "tg.grad"])
def test_the_callers_gradient_array_never_becomes_a_grad(call):
    x = leaf([1.0, 2.0])
    gradient = np.array([1.0, 1.0])
    y = x + 1.0  # Add passes the gradient through unchanged
    if call == "backward":
        y.backward(gradient)
        result = x.grad.data
    else:
        (result,) = (g.data for g in tg.grad(y, x, grad_outputs=gradient))
    assert not np.shares_memory(result, gradient)
    gradient[0] = 5.0
    np.testing.assert_array_equal(result, [1.0, 1.0])


def test_a_leaf_hook_also_runs_within_grad_and_its_replacement_is_returned():
    x = leaf([1.0, 2.0])
    x.register_hook(lambda g: g * 10)
    (g,) = tg.grad((x * 3).sum(), x)
    np.testing.assert_array_equal(g.data, [30.0, 30.0])
    assert x.grad is None


def test_a_tensor_without_requires_grad_never_gets_a_grad():
    x, c = leaf([1.0, 2.0]), tg.Tensor([3.0, 4.0], dtype=np.float64)
    (x + c - c * 2 + c * x - c).sum().backward()  # Add and Sub return one for every input
    assert c.grad is None
    np.testing.assert_array_equal(x.grad.data, 1 + c.data)


def test_hooks_run_with_grad_mode_off_unless_create_graph():
    x = leaf([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(tg.is_grad_enabled()))
    (x * x).sum().backward()
    (x * x).sum().backward(create_graph=True)
    assert seen == [False, True]
    assert tg.is_grad_enabled()


class CosineWithNumpyBackward(tg.Function):
    """cos x, its backward written with a NumPy function (so it runs only on arrays)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -g * np.sin(x)


def test_a_backward_that_only_works_on_arrays_still_gives_first_derivatives_with_create_graph():
    x = leaf([0.5, 1.0])
    (g,) = tg.grad(CosineWithNumpyBackward.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, -np.sin(x.data), rtol=1e-15)
    with pytest.raises(RuntimeError, match="CosineWithNumpyBackward"):
        tg.grad(g.sum(), x)


def test_many_writes_after_the_node_still_raise_with_the_oldest_version_known():
    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    with tg.no_grad():
        for _ in range(70):
            w.add_(0.0)
    with pytest.raises(RuntimeError, match="at version at most 6, it is now at version 70"):
        y.backward()


# ---------------------------------------------------------------- grad() walks only the paths

class Counted(tg.Function):
    """2x, counting its backward calls (a class attribute, reset by each test)."""
    calls = 0

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, g):
        Counted.calls += 1
        return 2 * g


@pytest.mark.parametrize("create_graph", [False, True])
def test_grad_never_runs_a_node_that_does_not_lead_to_the_inputs(create_graph):
    Counted.calls = 0
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    y = (x * x).sum() + Counted.apply(w).sum()
    (gx,) = tg.grad(y, x, retain_graph=True, create_graph=create_graph)
    np.testing.assert_array_equal(gx.data, 2 * x.data)
    assert Counted.calls == 0
    y.backward()  # backward() does reach every leaf: the node runs then
    assert Counted.calls == 1
    np.testing.assert_array_equal(w.grad.data, [2.0, 2.0])


def test_grad_does_not_run_the_node_of_a_non_leaf_input_that_leads_nowhere_else():
    Counted.calls = 0
    w = leaf([3.0, 4.0])
    b = Counted.apply(w)
    y = (b * b).sum()
    (gb,) = tg.grad(y, b, retain_graph=True)
    np.testing.assert_array_equal(gb.data, 2 * b.data)
    assert Counted.calls == 0
    gb, gw = tg.grad(y, [b, w])  # now b's node leads to w: it runs, once
    assert Counted.calls == 1
    np.testing.assert_array_equal(gb.data, 2 * b.data)
    np.testing.assert_array_equal(gw.data, 2 * b.data * 2)


def test_grad_of_an_output_that_does_not_lead_to_the_inputs_adds_nothing():
    Counted.calls = 0
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (gx,) = tg.grad([Counted.apply(w).sum(), (x * 5).sum()], x)
    np.testing.assert_array_equal(gx.data, [5.0, 5.0])
    assert Counted.calls == 0
    with pytest.raises(RuntimeError, match="allow_unused"):
        tg.grad(Counted.apply(w).sum(), x)
    assert Counted.calls == 0


def test_grad_runs_no_hook_off_the_paths_and_keeps_the_ones_on_them():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    seen = []
    off, on = w * 2, x * 3
    off.register_hook(lambda g: seen.append("off"))
    on.register_hook(lambda g: seen.append("on") or g * 10)
    (gx,) = tg.grad((off * on).sum(), x)
    assert seen == ["on"]
    np.testing.assert_array_equal(gx.data, 10 * off.data * 3)


def newton_sqrt(a):
    """One Newton step towards sqrt(a): x -> (x + a / x) / 2."""
    return lambda x: 0.5 * (x + a / x)


def fixed_point(f, a, x0, tol=1e-12):
    """HIPS autograd's `fixed_point` (examples/fixed_points.py) ported as a Function: x* with
    x* = f(a)(x*); its backward iterates the adjoint w = g + wᵀ ∂f/∂x at x* by calling tg.grad
    with respect to x*, the node's own output, then returns wᵀ ∂f/∂a."""
    found = []

    class FixedPoint(tg.Function):
        @staticmethod
        def forward(ctx, a_data):
            step = f(tg.Tensor(a_data))
            x, previous = step(tg.Tensor(x0)), tg.Tensor(x0)
            while abs((x - previous).item()) > tol:
                x, previous = step(x), x
            return x.data

        @staticmethod
        def backward(ctx, g):
            (a_leaf,), x_star = ctx.inputs, found[0]
            w = np.zeros_like(g)
            with tg.enable_grad():
                for _ in range(100):
                    (vjp_x,) = tg.grad(f(a_leaf)(x_star), x_star, grad_outputs=w)
                    w, previous = g + vjp_x.data, w
                    if np.max(np.abs(w - previous)) <= tol:
                        break
                (vjp_a,) = tg.grad(f(a_leaf)(x_star.detach()), a_leaf, grad_outputs=w)
            return vjp_a.data

    found.append(FixedPoint.apply(a))
    return found[0]


def test_hips_autograds_fixed_point_pattern_differentiates_without_recursing():
    # grad() with respect to x*, the output of the very node running, must not run that node
    a = leaf(2.0)
    x_star = fixed_point(newton_sqrt, a, 10.0)
    np.testing.assert_allclose(x_star.data, np.sqrt(2.0), rtol=1e-12)
    x_star.backward()
    np.testing.assert_allclose(a.grad.data, 0.5 / np.sqrt(2.0), rtol=1e-10)


@pytest.mark.parametrize("within", ["backward", "grad"])
def test_two_hooks_on_a_leaf_both_run_in_order_each_seeing_the_last_replacement(within):
    x = leaf([1.0, 2.0])
    order = []
    x.register_hook(lambda g: order.append(("first", g.data.tolist())) or g * 3)
    x.register_hook(lambda g: order.append(("second", g.data.tolist())) or g + 1)
    y = (x * 2).sum()
    if within == "backward":
        y.backward()
        result = x.grad
    else:
        (result,) = tg.grad(y, x)
    assert order == [("first", [2.0, 2.0]), ("second", [6.0, 6.0])]
    np.testing.assert_array_equal(result.data, [7.0, 7.0])

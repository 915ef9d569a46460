"""No public path silently corrupts a gradient: a write into an array a recorded graph needs
raises at the write (the array is read-only), or, for the library's own writes, makes the
backward raise (the version counter). Once backward frees the graph, or the graph is dropped,
leaves' arrays are writeable again."""
import gc

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn, optim


def leaf(values, requires_grad=True):
    return tg.Tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


WRITES = {
    ".data[...]": lambda t: t.data.__setitem__(0, 9.0),
    ".numpy()[...]": lambda t: t.numpy().__setitem__(0, 9.0),
    "np.asarray(t.detach())[...]": lambda t: np.asarray(t.detach()).__setitem__(0, 9.0),
    "out=t.data": lambda t: np.multiply(t.data, 2.0, out=t.data),
    "t.data += 1": lambda t: t.data.__iadd__(1.0),
}


@pytest.mark.parametrize("write", WRITES, ids=list(WRITES))
@pytest.mark.parametrize("role", ["leaf that requires grad", "input without grad",
                                  "computed tensor"])
def test_a_write_into_an_array_the_graph_saved_raises_at_the_write(write, role):
    x, w = leaf([1.0, 2.0, 3.0], requires_grad=role != "input without grad"), leaf([0.5] * 3)
    h = x * 2 if role == "computed tensor" else x
    loss = (h * w).sum()  # Mul saves both factors: w's gradient is h
    before = h.data.copy()
    with pytest.raises(ValueError, match="read-only"):
        WRITES[write](h)
    np.testing.assert_array_equal(h.data, before)  # the failed write changed nothing
    loss.backward()
    np.testing.assert_array_equal(w.grad.data, before)


def test_a_view_of_a_leaf_that_a_node_saved_holds_the_leaf():
    x, w = leaf([[1.0, 2.0], [3.0, 4.0]]), leaf([1.0, -1.0, 2.0, 0.5])
    loss = (x.reshape(-1) * w).sum()  # Mul saves the reshaped view of x's array
    with pytest.raises(ValueError, match="read-only"):
        x.data[0, 0] = 7.0
    loss.backward()
    np.testing.assert_array_equal(w.grad.data, [1.0, 2.0, 3.0, 4.0])


def test_after_backward_frees_the_graph_the_micrograd_update_works():
    w = leaf([1.0, 2.0])
    loss = (w * w).sum()
    loss.backward()
    w.data -= 0.1 * w.grad.data  # micrograd's update, in place
    np.testing.assert_allclose(w.data, [0.8, 1.6])
    x = leaf([3.0])
    loss = (x * x).sum()
    loss.backward(retain_graph=True)  # the graph is kept, so its hold too
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 1.0


def test_a_dropped_graph_lets_go():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    loss = (x * w).sum()
    with pytest.raises(ValueError):
        x.data[0] = 0.0
    del loss
    gc.collect()
    x.data[0] = 0.0  # no graph needs the old values any more
    np.testing.assert_array_equal(x.data, [0.0, 2.0])


def test_two_graphs_hold_a_leaf_until_both_let_go():
    x = leaf([1.0, 2.0])
    first, second = (x * x).sum(), (x * 3 * x).sum()
    first.backward()
    with pytest.raises(ValueError):  # the second graph still needs x
        x.data[0] = 0.0
    second.backward()
    x.data[0] = 0.0


def test_the_librarys_own_writes_go_through_and_backward_then_raises():
    model = nn.Dense(2, 1, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    loss = model(tg.Tensor([[1.0, 2.0]])).sum()
    loss.backward(retain_graph=True)
    opt.step()  # in place, through the library: allowed
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()
    loss = model(tg.Tensor([[1.0, 2.0]])).sum()
    model.load_state_dict({k: v + 1 for k, v in model.state_dict().items()})
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_an_array_the_user_passes_as_an_operand_stays_theirs():
    x, arr = leaf([1.0, 2.0]), np.array([3.0, 4.0])
    loss = (x * arr).sum()
    arr[0] = 5.0  # the user's own array is not locked (they own what they pass)
    assert arr.flags.writeable
    del loss


def test_a_computed_tensors_array_is_read_only_and_says_so_in_place():
    x = leaf([1.0, 2.0])
    y = (x * 2).detach()
    assert not y.numpy().flags.writeable
    with pytest.raises(RuntimeError, match="read-only.*tg.Tensor\\(t\\)"):
        y.add_(1.0)
    copy = tg.Tensor(y)  # a copy is the caller's: writeable
    copy.data[0] = 5.0
    with tg.no_grad():  # nothing recorded, nothing locked
        z = x * 2
    z.data[0] = 5.0


def test_numpy_does_not_refuse_a_tensor_that_requires_grad():
    x = leaf([1.0, 2.0])
    assert x.numpy() is x.data and x.numpy().flags.writeable

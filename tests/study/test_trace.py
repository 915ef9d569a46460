"""tg.trace: the nodes backward visits, in order, with shapes and gradient norms."""
import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn.autograd import observers


def norm(tensor):
    return float(np.linalg.norm(tensor.data))


@pytest.fixture
def network():
    """A two-layer network on 5 samples: relu(x @ w1 + b1) @ w2, mean squared output."""
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((5, 2)))
    params = {"w1": tg.Tensor(rng.standard_normal((2, 3)), requires_grad=True),
              "b1": tg.Tensor(rng.standard_normal(3), requires_grad=True),
              "w2": tg.Tensor(rng.standard_normal((3, 1)), requires_grad=True)}
    hidden = (x @ params["w1"] + params["b1"]).relu()
    loss = ((hidden @ params["w2"]) ** 2).mean()
    return loss, params


def test_two_layer_network_in_reverse_order_with_shapes(network):
    loss, params = network
    with tg.trace(params=params) as t:
        loss.backward()
    rows = t.to_records()
    assert len(t) == 6
    assert [r["op"] for r in rows] == ["Mean", "Pow", "MatMul", "Relu", "Add", "MatMul"]
    assert [r["step"] for r in rows] == list(range(6))
    assert [r["output_shape"] for r in rows] == [(), (5, 1), (5, 1), (5, 3), (5, 3), (5, 3)]
    assert [r["input_shapes"] for r in rows] == [
        [(5, 1)], [(5, 1), ()], [(5, 3), (3, 1)], [(5, 3)], [(5, 3), (3,)], [(5, 2), (2, 3)]]
    assert rows[1]["input_names"] == [None, "const"]  # the exponent 2
    assert rows[2]["input_names"] == [None, "w2"]
    assert rows[4]["input_names"] == [None, "b1"]
    assert rows[5]["input_names"] == [None, "w1"]


def test_gradient_norms_are_those_received_and_sent(network):
    loss, params = network
    with tg.trace(params=params) as t:
        loss.backward()
    rows = t.to_records()
    assert rows[0]["grad_norm"] == 1.0
    for before, after in zip(rows, rows[1:]):  # a chain: each node sends its producer's input
        sent = [n for n in before["input_grad_norms"] if n is not None]
        assert after["grad_norm"] == pytest.approx(sent[0])
    assert rows[1]["input_grad_norms"][1] is None  # the constant exponent
    assert rows[5]["input_grad_norms"][0] is None  # the data
    # summed back to the input's shape: the norms of the leaves' .grad
    assert rows[2]["input_grad_norms"][1] == pytest.approx(norm(params["w2"].grad))
    assert rows[4]["input_grad_norms"][1] == pytest.approx(norm(params["b1"].grad))
    assert rows[5]["input_grad_norms"][1] == pytest.approx(norm(params["w1"].grad))


def test_printed_table_is_aligned(network):
    loss, params = network
    with tg.trace(params=params) as t:
        loss.backward()
    lines = str(t).splitlines()
    assert lines[0].split() == ["step", "op", "inputs", "output", "grad", "norm", "input", "grad",
                                "norms"]
    assert len(lines) == 7
    column = lines[0].index("op")
    assert [line[column:].split()[0] for line in lines[1:]] == [r["op"] for r in t]
    assert "w1 (2, 3)" in lines[-1] and lines[-1].rstrip().endswith(
        f"-, {norm(params['w1'].grad):.4g}")
    assert repr(t) == "<BackwardTrace of 6 nodes>"


def test_records_are_plain_copies_and_iteration_gives_them(network):
    loss, _ = network
    with tg.trace() as t:
        loss.backward()
    records = t.to_records()
    assert list(t) == records and t[0] == records[0]
    assert all(type(r) is dict for r in records)
    records[0]["input_shapes"].append("changed")
    assert t.to_records()[0]["input_shapes"] == [(5, 1)]


def test_create_graph_traces_tensors_too():
    x = tg.Tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    with tg.trace() as t:
        (gx,) = tg.grad((x ** 3).sum(), x, create_graph=True)
    assert [r["op"] for r in t] == ["Sum", "Pow"]
    assert t[1]["input_grad_norms"][0] == pytest.approx(norm(gx))


def test_observer_is_removed_on_exit_even_after_an_error(network):
    loss, _ = network
    with pytest.raises(ZeroDivisionError):
        with tg.trace():
            1 / 0
    assert observers.backward == []
    with tg.trace() as t:
        pass
    loss.backward()
    assert len(t) == 0

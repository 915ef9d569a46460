"""Every row of the op table (tinygrad_nn/checking/op_table.py) over hypothesis-drawn float64
examples: forward against NumPy, first derivatives with gradcheck (random subsets of inputs
requiring grad), second derivatives with gradgradcheck (also as functions of the incoming
gradient, so the rules of the ops that backward records run too) and, for piecewise-linear
ops, exactly zero; float32 kept float32; no op writes into what it reads. An Op class in
tinygrad_nn.ops without a row is a failure."""
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_nn as tg
from tinygrad_nn import ops
from tinygrad_nn.checking.op_table import OP_TABLE, classes_recorded, example, op_classes
from tinygrad_nn.checking.sampling import RandomDraw
from tinygrad_nn.checking.strategies import HypothesisDraw

ALL_ROWS = pytest.mark.parametrize("row", OP_TABLE, ids=lambda row: row.name)
SMOOTH_ROWS = pytest.mark.parametrize("row", [r for r in OP_TABLE if r.smooth],
                                      ids=lambda row: row.name)
PIECEWISE_ROWS = pytest.mark.parametrize("row", [r for r in OP_TABLE if not r.smooth],
                                         ids=lambda row: row.name)


def draw_example(data, row, dtype=np.float64):
    return example(row, HypothesisDraw(data), dtype)


def test_every_op_class_has_a_row():
    claimed = {name for row in OP_TABLE for name in row.classes}
    defined = set(op_classes())
    assert defined - claimed == set(), "Op classes without a row in the op table"
    assert claimed - defined == set(), "rows claim classes that tinygrad_nn.ops lacks"


@ALL_ROWS
@settings(max_examples=5)
@given(data=st.data())
def test_each_row_exercises_the_op_classes_it_claims(row, data):
    assert set(row.classes) <= classes_recorded(row, draw_example(data, row))


@ALL_ROWS
@given(data=st.data())
def test_forward_matches_numpy_and_gradcheck_passes(row, data):
    ex = draw_example(data, row)
    xs = ex.leaves()
    y = row.fn(*xs, **ex.params)
    expected = np.asarray(row.ref(*ex.arrays, **ex.params))
    assert (y.shape, y.dtype) == (expected.shape, expected.dtype)
    np.testing.assert_allclose(y.data, expected, rtol=1e-10, atol=1e-12)
    assert y.requires_grad and y.grad_fn is not None

    assert tg.gradcheck(row.call(ex.params), xs, **row.gradcheck_options)


def assert_create_graph_gradients_match(row, ex, xs, v):
    """Gradients recorded for double backward equal the plain ones; returns the recorded."""
    fn = row.call(ex.params)
    plain = tg.grad(fn(*xs), xs, grad_outputs=v)
    recorded = tg.grad(fn(*xs), xs, grad_outputs=v, create_graph=True)
    for p, r in zip(plain, recorded):
        np.testing.assert_allclose(r.data, p.data, rtol=1e-12, atol=1e-14)
    return recorded


@SMOOTH_ROWS
@given(data=st.data())
def test_smooth_ops_pass_gradgradcheck(row, data):
    ex = draw_example(data, row)
    xs = ex.leaves([True] * len(ex.arrays))
    v = np.random.default_rng(0).normal(size=row.fn(*xs, **ex.params).shape)
    assert_create_graph_gradients_match(row, ex, xs, v)
    assert tg.gradgradcheck(row.call(ex.params), ex.leaves(), **row.gradcheck_options)


@PIECEWISE_ROWS
@given(data=st.data())
def test_piecewise_linear_ops_have_zero_second_derivatives(row, data):
    ex = draw_example(data, row)
    xs = ex.leaves([True] * len(ex.arrays))
    rng = np.random.default_rng(0)
    shape = row.fn(*xs, **ex.params).shape
    grads = assert_create_graph_gradients_match(row, ex, xs, rng.normal(size=shape))
    total = sum((g * rng.normal(size=g.shape)).sum() for g in grads)
    if total.requires_grad:  # otherwise the gradient does not depend on the inputs at all
        for h in tg.grad(total, xs, allow_unused=True):
            assert h is None or not np.any(h.data)
    if not ex.ties:  # at a tie the gradient jumps: finite differences of it mean nothing
        assert tg.gradgradcheck(row.call(ex.params), ex.leaves(), **row.gradcheck_options)


@ALL_ROWS
@settings(max_examples=5)
@given(data=st.data())
def test_float32_inputs_give_float32_outputs_and_gradients(row, data):
    ex = draw_example(data, row, np.float32)
    xs = ex.leaves([True] * len(ex.arrays))
    y = row.fn(*xs, **ex.params)
    assert y.dtype == np.dtype(ex.params.get("dtype", np.float32))
    y.backward(np.ones(y.shape, y.dtype))
    for x in xs:
        assert (x.grad.dtype, x.grad.shape) == (np.float32, x.shape)


@ALL_ROWS
@settings(max_examples=5)
@given(data=st.data())
def test_forward_and_backward_leave_inputs_and_output_untouched(row, data):
    # the tutorial's ReLU derivative overwrote its argument; no rule here may write into what
    # it reads
    ex = draw_example(data, row)
    xs = ex.leaves([True] * len(ex.arrays))
    inputs_before = [x.data.copy() for x in xs]
    y = row.fn(*xs, **ex.params)
    output_before = y.data.copy()
    tg.grad(y, xs, grad_outputs=np.random.default_rng(0).normal(size=y.shape), allow_unused=True)
    for x, before in zip(xs, inputs_before):
        np.testing.assert_array_equal(x.data, before)
    np.testing.assert_array_equal(y.data, output_before)


@ALL_ROWS
@settings(max_examples=10)
@given(data=st.data())
def test_drawn_values_are_spread_out(row, data):
    """No multi-element input filled with one value (a swapped vector·vector matmul gradient
    passed its test on such draws), and ties only where the row asks for them."""
    ex = draw_example(data, row)
    for a in ex.arrays:
        if a.size > 1 and not ex.ties:
            assert len(np.unique(a)) == a.size


def _is_numpy_function(f):
    module = getattr(f, "__module__", None) or ""
    return isinstance(f, np.ufunc) or module.split(".")[0] == "numpy"


NUMPY_REFERENCE_ROWS = [row for row in OP_TABLE if _is_numpy_function(row.ref)]


@pytest.mark.parametrize("row", NUMPY_REFERENCE_ROWS, ids=lambda row: row.name)
@settings(max_examples=5)
@given(data=st.data())
def test_a_row_whose_reference_is_a_numpy_function_is_dispatched_to_the_op(row, data):
    """NumPy's function called on Tensors runs the op (it is registered with its NumPy name):
    a differentiable Tensor holding NumPy's own values."""
    ex = draw_example(data, row)
    y = row.ref(*ex.leaves(), **ex.params)
    assert isinstance(y, tg.Tensor) and y.requires_grad, f"{row.ref} is not dispatched"
    np.testing.assert_allclose(y.data, row.ref(*ex.arrays, **ex.params), rtol=1e-10,
                               atol=1e-12)
    assert set(row.classes) <= classes_recorded(row, ex) | {"Mul", "Pow", "Div"}


# Values where a derivative is infinite or undefined (log and sqrt at 0, arcsin at ±1, exp and
# cosh overflowing...): what a masked branch of `where` may hold.
HAZARDS = np.array([0.0, 1.0, -1.0, 1e4, -1e4, 0.5, -2.0, 2.0])


@ALL_ROWS
@settings(max_examples=5)
@given(data=st.data())
def test_a_zero_gradient_stays_exactly_zero_at_every_input(row, data):
    """The branch that `where` did not take gets a zero gradient; the rules of the ops in it
    must keep it zero (0 · ∞ is NaN: safe_divide, safe_multiply, times) wherever the op's own
    derivative is infinite or undefined, to every order."""
    ex = draw_example(data, row)
    shift = data.draw(st.integers(0, len(HAZARDS) - 1))
    arrays = [np.resize(np.roll(HAZARDS, shift + k), a.shape) for k, a in enumerate(ex.arrays)]
    xs = [tg.Tensor(a, requires_grad=True) for a in arrays]
    with np.errstate(all="ignore"):
        y = row.fn(*xs, **ex.params)
        zero = tg.Tensor(np.zeros(y.shape), requires_grad=True)
        grads = tg.grad(y, xs, grad_outputs=zero, create_graph=True, allow_unused=True)
        for g in grads:
            assert g is None or np.all(g.data == 0), f"{row.name}: {g}"
        plain = tg.grad(row.fn(*xs, **ex.params), xs, grad_outputs=np.zeros(y.shape),
                        allow_unused=True)
    for g in plain:
        assert g is None or np.all(g.data == 0), f"{row.name}: {g}"


def test_every_backward_rule_runs_in_the_checks(monkeypatch):
    """ScatterAdd (the backward of indexing) once had its own backward never run by these
    tests: gradgradcheck now differentiates with respect to the incoming gradient too."""
    ran = set()
    for name in op_classes():
        cls = getattr(ops, name)

        def counting(ctx, *grads, rule=cls.backward, name=name):
            ran.add(name)
            return rule(ctx, *grads)
        monkeypatch.setattr(cls, "backward", staticmethod(counting))
    for row in OP_TABLE:  # seeded by name: adding a row does not change the others' draws
        ex = example(row, RandomDraw(np.random.default_rng(zlib.crc32(row.name.encode()))))
        tg.gradcheck(row.call(ex.params), ex.leaves(), **row.gradcheck_options)
        if not ex.ties:
            tg.gradgradcheck(row.call(ex.params), ex.leaves(), **row.gradcheck_options)
    assert set(op_classes()) - ran == set()

"""Every row of the op table (tinygrad_nn/checking/op_table.py) over hypothesis-drawn float64
examples: forward against NumPy, first derivatives with gradcheck (every subset of inputs
requiring grad), second derivatives with gradgradcheck (smooth ops) or exactly zero
(piecewise-linear ops), and float32 kept float32. An Op class in tinygrad_nn.ops without a row
is a failure."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_nn as tg
from tinygrad_nn import ops
from tinygrad_nn.autograd import topological_order

from tinygrad_nn.checking.op_table import OP_TABLE, examples

ALL_ROWS = pytest.mark.parametrize("row", OP_TABLE, ids=lambda row: row.name)
SMOOTH_ROWS = pytest.mark.parametrize("row", [r for r in OP_TABLE if r.smooth],
                                      ids=lambda row: row.name)
PIECEWISE_ROWS = pytest.mark.parametrize("row", [r for r in OP_TABLE if not r.smooth],
                                         ids=lambda row: row.name)


def op_classes():
    """Names of the Op subclasses defined in tinygrad_nn.ops."""
    return {name for name, obj in vars(ops).items()
            if isinstance(obj, type) and issubclass(obj, ops.Op) and obj is not ops.Op
            and obj.__module__ == ops.__name__}


def calling(row, params):
    return lambda *xs: row.fn(*xs, **params)


def leaves(example, requires=None):
    requires = requires or [True] * len(example.arrays)
    return [tg.Tensor(a, requires_grad=r) for a, r in zip(example.arrays, requires)]


def test_every_op_class_has_a_row():
    claimed = {name for row in OP_TABLE for name in row.classes}
    assert op_classes() - claimed == set(), "Op classes without a row in the op table"
    assert claimed - op_classes() == set(), "rows claim classes that tinygrad_nn.ops lacks"


@ALL_ROWS
@settings(max_examples=5)
@given(data=st.data())
def test_each_row_exercises_the_op_classes_it_claims(row, data):
    example = data.draw(examples(row))
    xs = leaves(example)
    y = row.fn(*xs, **example.params)
    # a grad_output that requires grad makes every backward rule record its op
    v = tg.Tensor(np.ones(y.shape), requires_grad=True)
    grads = tg.grad(y, xs, grad_outputs=v, create_graph=True, allow_unused=True)
    roots = [t.grad_fn for t in (y, *grads) if t is not None and t.grad_fn is not None]
    assert set(row.classes) <= {node.name for node in topological_order(roots)}


@ALL_ROWS
@given(data=st.data())
def test_forward_matches_numpy_and_gradcheck_passes(row, data):
    example = data.draw(examples(row))
    n = len(example.arrays)
    requires = data.draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(any),
                         label="requires_grad")
    xs = leaves(example, requires)

    y = row.fn(*xs, **example.params)
    expected = np.asarray(row.ref(*example.arrays, **example.params))
    assert (y.shape, y.dtype) == (expected.shape, expected.dtype)
    np.testing.assert_allclose(y.data, expected, rtol=1e-10, atol=1e-12)
    assert y.requires_grad and y.grad_fn is not None

    assert tg.gradcheck(calling(row, example.params), xs, **row.gradcheck_options)


def assert_create_graph_gradients_match(row, example, xs, v):
    """Gradients recorded for double backward equal the plain ones; returns the recorded."""
    fn = calling(row, example.params)
    plain = tg.grad(fn(*xs), xs, grad_outputs=v)
    recorded = tg.grad(fn(*xs), xs, grad_outputs=v, create_graph=True)
    for p, r in zip(plain, recorded):
        np.testing.assert_allclose(r.data, p.data, rtol=1e-12, atol=1e-14)
    return recorded


@SMOOTH_ROWS
@given(data=st.data())
def test_smooth_ops_pass_gradgradcheck(row, data):
    example = data.draw(examples(row))
    xs = leaves(example)
    v = np.random.default_rng(0).normal(size=row.fn(*xs, **example.params).shape)
    assert_create_graph_gradients_match(row, example, xs, v)
    assert tg.gradgradcheck(calling(row, example.params), xs, **row.gradcheck_options)


@PIECEWISE_ROWS
@given(data=st.data())
def test_piecewise_linear_ops_have_zero_second_derivatives(row, data):
    example = data.draw(examples(row))
    xs = leaves(example)
    rng = np.random.default_rng(0)
    shape = row.fn(*xs, **example.params).shape
    grads = assert_create_graph_gradients_match(row, example, xs, rng.normal(size=shape))
    total = sum((g * rng.normal(size=g.shape)).sum() for g in grads)
    if total.requires_grad:  # otherwise the gradient does not depend on the inputs at all
        for h in tg.grad(total, xs, allow_unused=True):
            assert h is None or not np.any(h.data)
    assert tg.gradgradcheck(calling(row, example.params), xs, **row.gradcheck_options)


@ALL_ROWS
@settings(max_examples=5)
@given(data=st.data())
def test_float32_inputs_give_float32_outputs_and_gradients(row, data):
    example = data.draw(examples(row, np.float32))
    xs = leaves(example)
    y = row.fn(*xs, **example.params)
    assert y.dtype == np.dtype(example.params.get("dtype", np.float32))
    y.backward(np.ones(y.shape, y.dtype))
    for x in xs:
        assert (x.grad.dtype, x.grad.shape) == (np.float32, x.shape)


@ALL_ROWS
@settings(max_examples=5)
@given(data=st.data())
def test_forward_and_backward_leave_inputs_and_output_untouched(row, data):
    # the tutorial's ReLU derivative overwrote its argument; no rule here may write into what
    # it reads
    example = data.draw(examples(row))
    xs = leaves(example)
    inputs_before = [x.data.copy() for x in xs]
    y = row.fn(*xs, **example.params)
    output_before = y.data.copy()
    tg.grad(y, xs, grad_outputs=np.random.default_rng(0).normal(size=y.shape), allow_unused=True)
    for x, before in zip(xs, inputs_before):
        np.testing.assert_array_equal(x.data, before)
    np.testing.assert_array_equal(y.data, output_before)

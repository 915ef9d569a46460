"""The table of differentiable ops: one row per way of calling an op, driving both the
hypothesis tests (tests/test_ops.py) and the self-check (`python -m tinygrad_nn.check`).

A row says how tinygrad_nn calls the op (`fn(*tensors, **params)`), its NumPy reference
(`ref(*arrays, **params)`), which `ops.Op` classes it exercises, whether it is smooth (second
derivatives checked by gradgradcheck; piecewise-linear rows have exactly zero ones), and how
its cases are drawn: `cases(draw) -> Case`, written against the abstract `sampling.Draw`, which
hypothesis or a seeded NumPy Generator provides. Adding an op means adding one row:

    OpRow("cube", lambda a: a ** 3, lambda a: a ** 3, ("Pow",), unary()),

An Op class in tinygrad_nn.ops that no row claims fails tests/test_ops.py and the self-check.
Examples are small (about MAX_SIZE elements per array) because gradcheck builds full Jacobians.
NumPy only: this module never imports hypothesis.
"""
from dataclasses import dataclass, field
from math import prod
from typing import Callable

import numpy as np

from .. import functional as F
from .. import ops
from ..autograd import call, grad, topological_order
from ..tensor import Tensor
from .sampling import REAL, Domain

MAX_SIZE = 12

POSITIVE = Domain(0.1, 3.0)                    # log, sqrt, bases of pow: off the pole at 0
NONZERO = Domain(avoid=(0.0,))                 # the kink of abs, relu
NEAR_POLE = Domain(-1.0, 1.0, avoid=(0.0,))    # 1/b: often close to its pole at 0, never on it
CLIP_SAFE = Domain(avoid=(-0.5, 0.5))          # the clip bounds the cases use
DISTINCT = Domain(margin=0.1, distinct=True)   # no ties within (or across) the drawn arrays


@dataclass
class Case:
    """Input arrays and keyword parameters of one call; `ties` marks inputs placed exactly at
    ties the op defines (max/min split the gradient), where only first derivatives agree with
    central differences."""
    arrays: list
    params: dict = field(default_factory=dict)
    ties: bool = False


@dataclass
class Example(Case):
    """A Case plus which inputs require grad (at least one)."""
    requires: list = None

    def leaves(self, requires=None):
        requires = self.requires if requires is None else requires
        return [Tensor(a, requires_grad=bool(r)) for a, r in zip(self.arrays, requires)]


@dataclass(frozen=True)
class OpRow:
    """One way of calling a differentiable op (see the module docstring)."""
    name: str
    fn: Callable
    ref: Callable
    classes: tuple
    cases: Callable
    smooth: bool = True
    gradcheck_options: dict = field(default_factory=dict)

    def call(self, params):
        return lambda *xs: self.fn(*xs, **params)


def example(row, draw, dtype=np.float64):
    """One Example of `row` from the choices of `draw`, arrays cast to `dtype`."""
    case = row.cases(draw)
    requires = [True] * len(case.arrays)
    if draw.booleans():  # else a random subset (a rule must not mix up which input it serves)
        requires = [draw.booleans() for _ in case.arrays]
    if not any(requires):
        requires[draw.integers(0, len(requires) - 1)] = True
    return Example([np.asarray(a).astype(dtype) for a in case.arrays], case.params, case.ties,
                   requires)


def classes_recorded(row, ex):
    """Names of the Op classes recorded by the call and by its gradient (taken with a
    grad_output that requires grad, so that every backward rule records its own ops)."""
    xs = ex.leaves([True] * len(ex.arrays))
    y = row.fn(*xs, **ex.params)
    v = Tensor(np.ones(y.shape), requires_grad=True)
    grads = grad(y, xs, grad_outputs=v, create_graph=True, allow_unused=True)
    roots = [t.grad_fn for t in (y, *grads) if t is not None and t.grad_fn is not None]
    return {node.name for node in topological_order(roots)}


def op_classes():
    """The names of the Op subclasses defined in tinygrad_nn.ops, in order of definition."""
    return [name for name, cls in vars(ops).items()
            if isinstance(cls, type) and issubclass(cls, ops.Op) and cls is not ops.Op]


# ---------------------------------------------------------------------------- cases

def unary(domain=REAL, min_dims=0, **choices):
    """One input of any small shape; each keyword parameter drawn from its list of options."""
    def cases(draw):
        params = {name: draw.sampled_from(options) for name, options in choices.items()}
        return Case([draw.array(draw.shape(min_dims=min_dims), domain)], params)
    return cases


def broadcast(*domains):
    """One input per domain, of mutually broadcastable shapes (size-1, missing axes, 0-d)."""
    def cases(draw):
        shapes = draw.broadcastable_shapes(len(domains))
        return Case([draw.array(s, d) for s, d in zip(shapes, domains)])
    return cases


REDUCTIONS = [(keepdims, kind) for kind in ("all", "int", "last", "tuple")
              for keepdims in (False, True)]


def reduction(domain=REAL):
    """axis: None, an int, the last axis or a tuple (negatives too), with or without keepdims:
    one first choice, so that the self-check makes each; no axis of size 1 (there a gradient
    that is not reshaped back would broadcast into the right place by luck)."""
    def cases(draw):
        keepdims, kind = draw.sampled_from(REDUCTIONS)
        ndim = draw.integers({"int": 1, "last": 2}.get(kind, 0), 3)
        axis = -1 if kind == "last" else draw.axes(ndim, kind)
        shape = draw.sides(ndim, min_side=2)
        return Case([draw.array(shape, domain)], {"axis": axis, "keepdims": keepdims})
    return cases


def _tie_two_extremes(a, axis, largest):
    """a with the two largest (or smallest) entries of each reduced slice made equal."""
    axes = tuple(range(a.ndim)) if axis is None else np.atleast_1d(axis) % max(a.ndim, 1)
    axes = tuple(sorted({int(ax) for ax in axes})) if a.ndim else ()
    rest = [ax for ax in range(a.ndim) if ax not in axes]
    moved = np.transpose(a, rest + list(axes)).copy()
    rows = moved.reshape(-1, prod(a.shape[ax] for ax in axes))
    if rows.shape[1] >= 2:
        order = np.argsort(rows, axis=1)
        keep, tie = (order[:, -1], order[:, -2]) if largest else (order[:, 0], order[:, 1])
        index = np.arange(len(rows))
        rows[index, tie] = rows[index, keep]
    return np.ascontiguousarray(np.transpose(rows.reshape(moved.shape),
                                             np.argsort(rest + list(axes))))


def extremum(largest):
    """max/min: distinct values, or (half the time) the two extremes of each slice tied."""
    def cases(draw):
        case = reduction(DISTINCT)(draw)
        if draw.booleans():
            case.arrays[0] = _tie_two_extremes(case.arrays[0], case.params["axis"], largest)
            case.ties = True
        return case
    return cases


def elementwise_extremum(draw):
    """maximum/minimum: values apart across both inputs, or same-shape inputs tied at random
    places (each side then gets half the gradient)."""
    if draw.booleans():
        shape = draw.shape()
        a = draw.array(shape)
        apart = a + draw.array(shape, Domain(-1.0, 1.0, avoid=(0.0,), margin=0.2))
        return Case([a, np.where(draw.rng.random(shape) < 0.5, a, apart)], ties=True)
    return Case(draw.arrays(draw.broadcastable_shapes(2), DISTINCT))


def along_one_axis(draw):
    """softmax / log_softmax: at least 1-D, one int axis, negative ones included."""
    shape = draw.shape(min_dims=1)
    return Case([draw.array(shape)], {"axis": draw.axis(len(shape))})


def cross_entropy_cases(draw):
    n, c = draw.integers(1, 3), draw.integers(1, 4)
    labels = np.array([draw.integers(0, c - 1) for _ in range(n)], dtype=np.int64)
    return Case([draw.array((n, c))],
                {"labels": labels, "reduction": draw.sampled_from(["mean", "sum", "none"])})


def where_cases(draw):
    shapes = draw.broadcastable_shapes(3)
    cond = draw.rng.random(shapes[0]) < 0.5
    return Case([draw.array(shapes[1]), draw.array(shapes[2])],
                {"cond": Tensor(cond) if draw.booleans() else cond})


def matmul_cases(draw):
    """1-D and n-D operands with broadcast batch axes, as NumPy's matmul signature allows."""
    kind = draw.sampled_from(["matrix @ matrix", "vector @ matrix", "matrix @ vector",
                              "vector @ vector"])
    n = draw.integers(1, 3)
    batch = draw.broadcastable_shapes(2, max_dims=1, max_side=2) if draw.booleans() else [(), ()]
    a = batch[0] + (draw.integers(1, 3), n) if kind.startswith("matrix") else (n,)
    b = batch[1] + (n, draw.integers(1, 3)) if kind.endswith("matrix") else (n,)
    return Case([draw.array(a), draw.array(b)])


def linear_cases(draw):
    """x (in,) or with 1 or 2 leading axes, weight (in, out), with or without bias (out,):
    one first choice."""
    lead_dims, bias = draw.sampled_from([(n, b) for n in range(3) for b in (True, False)])
    lead = draw.sides(lead_dims)
    n_in, n_out = draw.integers(1, 3), draw.integers(2, 3)
    shapes = [lead + (n_in,), (n_in, n_out)] + ([(n_out,)] if bias else [])
    return Case([draw.array(s) for s in shapes])


def reshape_cases(draw):
    """A new shape of the same size in 1 to 3 axes (or 0-d), sometimes with one -1 to infer."""
    shape = draw.shape()
    remaining, target = prod(shape), []
    for _ in range(draw.integers(0, 2)):
        target.append(draw.sampled_from([d for d in range(1, remaining + 1) if remaining % d == 0]))
        remaining //= target[-1]
    target.append(remaining)
    if prod(shape) == 1 and draw.booleans():
        target = []
    if target and draw.booleans():
        target[draw.integers(0, len(target) - 1)] = -1
    return Case([draw.array(shape)], {"shape": tuple(target)})


def transpose_cases(draw):
    """None (reverse the axes), any permutation (negative axes at random), or a 3-cycle, the
    permutation that is not its own inverse."""
    kind = draw.sampled_from(["reverse", "permutation", "cycle"])
    shape = draw.shape(min_dims=3, max_dims=3, max_side=2) if kind == "cycle" else draw.shape()
    n = len(shape)
    if kind == "reverse":
        return Case([draw.array(shape)], {"axes": None})
    axes = draw.sampled_from([(1, 2, 0), (2, 0, 1)]) if kind == "cycle" else draw.permutation(n)
    return Case([draw.array(shape)], {"axes": tuple(ax - n if draw.booleans() else ax
                                                    for ax in axes)})


def broadcast_to_cases(draw):
    """A target shape and an input shape that broadcasts to it (fewer axes, size-1 axes)."""
    target = draw.shape()
    kept = target[draw.integers(0, len(target)):]
    return Case([draw.array(tuple(draw.sampled_from([1, n]) for n in kept))], {"shape": target})


def integer_array_index(draw, shape):
    """Integer arrays or lists (repeated and negative indices): one per axis (they broadcast
    together), or on one axis after slices, or alone."""
    if draw.booleans():
        result = draw.shape(min_dims=1, max_dims=2, max_side=4)
        return tuple(draw.index_array(result, n) for n in shape)
    axis = draw.integers(0, len(shape) - 1)
    positions = draw.index_array(draw.shape(min_dims=1, max_dims=2, max_side=4), shape[axis])
    if draw.booleans():
        positions = positions.tolist()
    if axis == 0 and draw.booleans():
        return positions
    return (slice(None),) * axis + (positions,)


def basic_index_cases(draw):
    shape = draw.shape()
    return Case([draw.array(shape)], {"index": draw.basic_index(shape)})


def integer_index_cases(draw):
    shape = draw.shape(min_dims=1)
    return Case([draw.array(shape)], {"index": integer_array_index(draw, shape)})


def scatter_add_cases(draw):
    """g added into zeros of `shape` at an index (integer arrays repeat positions)."""
    shape = draw.shape(min_dims=1)
    index = ops.as_index(integer_array_index(draw, shape) if draw.booleans()
                         else draw.basic_index(shape))
    return Case([draw.array(np.zeros(shape)[index].shape)], {"index": index, "shape": shape})


def concatenate_cases(draw):
    base = draw.shape(min_dims=1, max_side=2)
    axis = draw.axis(len(base))
    lengths = [draw.integers(1, 3) for _ in range(draw.integers(1, 3))]
    shapes = [base[:axis % len(base)] + (n,) + base[axis % len(base) + 1:] for n in lengths]
    return Case([draw.array(s) for s in shapes], {"axis": axis})


def stack_cases(draw):
    shape = draw.shape(max_dims=2)
    count = draw.integers(1, 3)
    axis = draw.integers(-len(shape) - 1, len(shape))
    return Case([draw.array(shape) for _ in range(count)], {"axis": axis})


CONV_KINDS = ["small kernel", "kernel as large as the padded input", "stride beyond the kernel"]


def _int_or_pair(draw, low, high):
    first = draw.integers(low, high)
    return first if draw.booleans() else (first, draw.integers(low, high))


def _pair(value):
    return value if isinstance(value, tuple) else (value, value)


def conv2d_cases(draw):
    """x (N, C, H, W) down to 1×1 images, weight (O, C, kH, kW), a bias half the time;
    padding 0 or 1; the kind first, so that the self-check makes each."""
    kind = draw.sampled_from(CONV_KINDS)
    n, c, o = draw.integers(1, 2), draw.integers(1, 2), draw.integers(1, 2)
    h, w = draw.integers(1, 3), draw.integers(1, 3)
    padding = _int_or_pair(draw, 0, 1)
    padded = [side + 2 * p for side, p in zip((h, w), _pair(padding))]
    if kind == CONV_KINDS[1]:
        kernel = padded
    else:
        kernel = [draw.integers(1, min(side, 2)) for side in padded]
    stride = _int_or_pair(draw, 1, 2) if kind != CONV_KINDS[2] else kernel[0] + 1
    arrays = [draw.array((n, c, h, w)), draw.array((o, c, *kernel))]
    if draw.booleans():
        arrays.append(draw.array((o,)))
    return Case(arrays, {"stride": stride, "padding": padding})


def pool_cases(domain):
    """x (N, C, H, W) with windows that overlap (stride < kernel), that do not fit (floor),
    strides beyond the kernel, 1×1 images; stride None (the kernel size) a third of the time."""
    def cases(draw):
        shape = (draw.integers(1, 2), draw.integers(1, 2), draw.integers(1, 4),
                 draw.integers(1, 3))
        kernel = (draw.integers(1, shape[2]), draw.integers(1, shape[3]))
        kernel_size = kernel[0] if kernel[0] == kernel[1] and draw.booleans() else kernel
        stride = draw.sampled_from([None, "int", "pair"])
        if stride is not None:
            stride = _int_or_pair(draw, 1, 3) if stride == "int" else (
                draw.integers(1, 3), draw.integers(1, 3))
        return Case([draw.array(shape, domain)], {"kernel_size": kernel_size, "stride": stride})
    return cases


def unfold_cases(draw):
    shape = (draw.integers(1, 2), draw.integers(1, 2), draw.integers(1, 3), draw.integers(1, 3))
    kernel = (draw.integers(1, shape[2]), draw.integers(1, shape[3]))
    return Case([draw.array(shape)], {"kernel_size": kernel,
                                      "stride": (draw.integers(1, 2), draw.integers(1, 2))})


# ---------------------------------------------------------------------------- references

def sigmoid_ref(x):
    return 1 / (1 + np.exp(-x))


def leaky_relu_ref(x, negative_slope):
    return np.where(x > 0, x, negative_slope * x)


def log_softmax_ref(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def cross_entropy_ref(logits, labels, reduction):
    losses = -log_softmax_ref(logits, axis=1)[np.arange(len(labels)), labels]
    return {"mean": losses.mean, "sum": losses.sum, "none": lambda: losses}[reduction]()


def transpose_ref(x, axes):
    return x.transpose() if axes is None else x.transpose(*axes)


def scatter_add_ref(g, index, shape):
    out = np.zeros(shape, dtype=g.dtype)
    np.add.at(out, index, g)
    return out


def conv2d_ref(x, w, b=None, stride=1, padding=0):
    """torch.nn.functional.conv2d's definition: the padded input's windows times the kernel."""
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))
    y = np.einsum("nchwij,ocij->nohw", windows[:, :, ::sh, ::sw], w)
    return y if b is None else y + b[:, None, None]


def pool2d_ref(reduce):
    def ref(x, kernel_size, stride):
        kernel = _pair(kernel_size)
        sh, sw = kernel if stride is None else _pair(stride)
        windows = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(2, 3))
        return reduce(windows[:, :, ::sh, ::sw], axis=(4, 5))
    return ref


def unfold_ref(x, kernel_size, stride):
    """(kH·kW, N, C, H_out, W_out): one slice per window position."""
    windows = np.lib.stride_tricks.sliding_window_view(x, kernel_size, axis=(2, 3))
    windows = windows[:, :, ::stride[0], ::stride[1]]
    return np.moveaxis(windows.reshape(windows.shape[:4] + (-1,)), -1, 0)


# ---------------------------------------------------------------------------- the table

PIECEWISE = {"smooth": False}

OP_TABLE = [
    # ---------------------------------------------------------------- elementwise, two inputs
    OpRow("add", lambda a, b: a + b, np.add, ("Add",), broadcast(REAL, REAL)),
    OpRow("sub", lambda a, b: a - b, np.subtract, ("Sub",), broadcast(REAL, REAL)),
    OpRow("mul", lambda a, b: a * b, np.multiply, ("Mul",), broadcast(REAL, REAL)),
    OpRow("div", lambda a, b: a / b, np.divide, ("Div",), broadcast(REAL, NEAR_POLE)),
    OpRow("pow", lambda a, b: a ** b, np.power, ("Pow",), broadcast(POSITIVE, REAL)),
    OpRow("pow_constant_exponent", lambda a, p: a ** p, lambda a, p: a ** p, ("Pow",),
          unary(POSITIVE, p=[2, 3, 0.5, -1.5])),
    OpRow("pow_constant_base", lambda b, c: c ** b, lambda b, c: np.power(c, b), ("Pow",),
          unary(c=[0.5, 2.0, np.e])),
    OpRow("maximum", F.maximum, np.maximum, ("Maximum",), elementwise_extremum, **PIECEWISE),
    OpRow("minimum", F.minimum, np.minimum, ("Minimum",), elementwise_extremum, **PIECEWISE),
    OpRow("where", lambda a, b, cond: F.where(cond, a, b),  # smooth: linear in a and b
          lambda a, b, cond: np.where(np.asarray(cond), a, b), ("Where",), where_cases),
    # ---------------------------------------------------------------- elementwise, one input
    OpRow("neg", lambda a: -a, np.negative, ("Neg",), unary()),
    OpRow("exp", F.exp, np.exp, ("Exp",), unary()),
    OpRow("log", F.log, np.log, ("Log",), unary(POSITIVE)),
    OpRow("sqrt", F.sqrt, np.sqrt, ("Sqrt",), unary(POSITIVE)),
    OpRow("abs", F.abs, np.abs, ("Abs",), unary(NONZERO), **PIECEWISE),
    OpRow("tanh", F.tanh, np.tanh, ("Tanh",), unary()),
    OpRow("sigmoid", F.sigmoid, sigmoid_ref, ("Sigmoid",), unary(Domain(-4.0, 4.0))),
    OpRow("relu", F.relu, lambda a: np.maximum(a, 0), ("Relu",), unary(NONZERO), **PIECEWISE),
    OpRow("leaky_relu", F.leaky_relu, leaky_relu_ref, ("LeakyRelu",),
          unary(NONZERO, negative_slope=[0.01, 0.2]), **PIECEWISE),
    OpRow("clip", lambda a, bounds: F.clip(a, *bounds), lambda a, bounds: np.clip(a, *bounds),
          ("Clip",), unary(CLIP_SAFE, bounds=[(-0.5, 0.5), (None, 0.5), (-0.5, None)]),
          **PIECEWISE),
    # ---------------------------------------------------------------- reductions
    OpRow("sum", F.sum, np.sum, ("Sum",), reduction()),
    OpRow("mean", F.mean, np.mean, ("Mean",), reduction()),
    OpRow("var", F.var, np.var, ("Var",), reduction()),
    OpRow("max", F.max, np.max, ("Max",), extremum(largest=True), **PIECEWISE),
    OpRow("min", F.min, np.min, ("Min",), extremum(largest=False), **PIECEWISE),
    OpRow("softmax", F.softmax, lambda x, axis: np.exp(log_softmax_ref(x, axis)), ("Softmax",),
          along_one_axis),
    OpRow("log_softmax", F.log_softmax, log_softmax_ref, ("LogSoftmax",), along_one_axis),
    OpRow("cross_entropy", F.cross_entropy, cross_entropy_ref, ("CrossEntropy",),
          cross_entropy_cases),
    # ---------------------------------------------------------------- linear algebra
    OpRow("matmul", F.matmul, np.matmul, ("MatMul",), matmul_cases),
    OpRow("linear", F.linear, lambda x, w, b=0: x @ w + b, ("Affine",), linear_cases),
    # ---------------------------------------------------------------- shape and indexing
    OpRow("reshape", lambda x, shape: F.reshape(x, shape), np.reshape, ("Reshape",),
          reshape_cases),
    OpRow("transpose", lambda x, axes: x.transpose() if axes is None else F.transpose(x, *axes),
          transpose_ref, ("Transpose",), transpose_cases),
    OpRow("flatten", F.flatten, np.ravel, ("Reshape",), unary()),
    OpRow("broadcast_to", lambda x, shape: x.broadcast_to(shape), np.broadcast_to,
          ("BroadcastTo",), broadcast_to_cases),
    # finite differences of a float32 output need a step far above its resolution
    OpRow("astype", lambda x, dtype: x.astype(dtype), lambda x, dtype: x.astype(dtype),
          ("Cast",), unary(dtype=[np.float32, np.float64]),
          gradcheck_options={"eps": 1e-3, "atol": 1e-4}),
    OpRow("getitem_basic", lambda x, index: x[index], lambda x, index: x[index],
          ("GetItem", "ScatterAdd"), basic_index_cases),
    OpRow("getitem_integer_arrays", lambda x, index: x[index], lambda x, index: x[index],
          ("GetItem", "ScatterAdd"), integer_index_cases),
    OpRow("scatter_add", lambda g, index, shape: ops.ScatterAdd.apply(g, index=index,
                                                                      shape=shape),
          scatter_add_ref, ("ScatterAdd",), scatter_add_cases),
    OpRow("concatenate", lambda *xs, axis: F.concatenate(xs, axis=axis),
          lambda *xs, axis: np.concatenate(xs, axis=axis), ("Concatenate",), concatenate_cases),
    OpRow("stack", lambda *xs, axis: F.stack(xs, axis=axis),
          lambda *xs, axis: np.stack(xs, axis=axis), ("Stack",), stack_cases),
    # ---------------------------------------------------------------- convolution and pooling
    OpRow("conv2d", F.conv2d, conv2d_ref,
          ("Convolution", "TransposedConvolution", "ConvolutionWeightGrad"), conv2d_cases),
    OpRow("max_pool2d", F.max_pool2d, pool2d_ref(np.max), ("MaxPooling", "Fold"),
          pool_cases(Domain(-4.0, 4.0, margin=0.1, distinct=True)), **PIECEWISE),
    OpRow("avg_pool2d", F.avg_pool2d, pool2d_ref(np.mean), ("AvgPooling", "Fold"),
          pool_cases(REAL)),
    OpRow("unfold", lambda x, **params: call(ops.Unfold, x, **params), unfold_ref,
          ("Unfold", "Fold"), unfold_cases),
]

ROWS_BY_NAME = {row.name: row for row in OP_TABLE}
assert len(ROWS_BY_NAME) == len(OP_TABLE), "row names must be unique"

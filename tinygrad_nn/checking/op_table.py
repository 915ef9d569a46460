"""The declarative table of differentiable ops that drives tests/test_gradients.py.

One row per op: how tinygrad_nn calls it, its NumPy reference, how many tensor inputs it takes,
where their elements come from (its domain, kept away from kinks and ties), how its shapes and
parameters are drawn, whether it reduces over `axis`/`keepdims`, whether it is smooth (no kink
anywhere: second derivatives are checked), and which `ops.Op` classes it exercises. Adding an op
means adding a row; an Op class that no row claims fails `test_every_op_class_has_a_row`.

Examples are small (at most MAX_SIZE elements per array) because gradcheck builds full Jacobians.
"""
from dataclasses import dataclass, field
from math import prod
from typing import Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_nn as tg

MAX_SIZE = 12


# ---------------------------------------------------------------------------- domains

def floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def away_from(*points, lo=-2.0, hi=2.0, margin=0.1):
    """Floats in [lo, hi] at least `margin` from every point (kinks of relu, abs, clip...)."""
    edges = [lo] + [e for p in sorted(points) for e in (p - margin, p + margin)] + [hi]
    return st.one_of([floats(a, b) for a, b in zip(edges[::2], edges[1::2])])


@dataclass(frozen=True)
class Domain:
    """Where an input's elements are drawn from; `unique` forbids equal elements (ties)."""
    name: str
    elements: st.SearchStrategy
    unique: bool = False


REAL = Domain("[-2, 2]", floats(-2.0, 2.0))
POSITIVE = Domain("[0.1, 3]", floats(0.1, 3.0))
NONZERO = Domain("[-2, 2] away from 0", away_from(0.0))
CLIP_SAFE = Domain("[-2, 2] away from ±0.5", away_from(-0.5, 0.5))
# Distinct multiples of 0.1, so that no eps-perturbation changes which element is extreme.
DISTINCT = Domain("distinct k/10", st.integers(-20, 20).map(lambda k: k / 10), unique=True)
# k/10 and (k + 0.5)/10 never tie: maximum/minimum of the two have no kink at the samples.
GRID = Domain("k/10", st.integers(-20, 20).map(lambda k: k / 10))
OFFSET_GRID = Domain("(k + 1/2)/10", st.integers(-20, 20).map(lambda k: (k + 0.5) / 10))


# ---------------------------------------------------------------------------- shapes and parameters
# A `cases` strategy draws (shapes of the tensor inputs, keyword parameters of the call).

def _small(shapes):
    return shapes.filter(lambda s: prod(s) <= MAX_SIZE)


SHAPE = _small(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
SHAPE_1D_UP = _small(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))


def unary(params=None):
    return st.tuples(SHAPE.map(lambda s: (s,)), st.just({}) if params is None else params)


def broadcast(n):
    """n mutually broadcastable shapes: size-1 axes, missing axes, 0-d scalars."""
    shapes = hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=3, max_side=3)
    shapes = shapes.filter(lambda b: prod(b.result_shape) <= MAX_SIZE)
    return st.tuples(shapes.map(lambda b: b.input_shapes), st.just({}))


@st.composite
def axis_for(draw, ndim):
    """None, an int, or a tuple of distinct axes, each written negative half the time."""
    if ndim == 0:
        return draw(st.sampled_from([None, ()]))
    axes = draw(st.one_of(st.none(), st.integers(0, ndim - 1), hnp.valid_tuple_axes(ndim)))
    if axes is None:
        return None

    def written(ax):
        return ax - ndim if draw(st.booleans()) else ax

    return written(axes) if isinstance(axes, int) else tuple(written(ax % ndim) for ax in axes)


@st.composite
def reduction(draw):
    shape = draw(SHAPE)
    return (shape,), {"axis": draw(axis_for(len(shape))), "keepdims": draw(st.booleans())}


@st.composite
def along_one_axis(draw):
    """softmax / log_softmax: at least 1-D, one int axis, negative ones included."""
    shape = draw(SHAPE_1D_UP)
    return (shape,), {"axis": draw(st.integers(-len(shape), len(shape) - 1))}


@st.composite
def matmul_shapes(draw):
    """1-D and n-D operands with broadcast batch axes, as NumPy's matmul signature allows."""
    shapes = draw(hnp.mutually_broadcastable_shapes(
        signature="(m?,n),(n,p?)->(m?,p?)", max_dims=2, max_side=3).filter(
        lambda b: max(prod(s) for s in b.input_shapes + (b.result_shape,)) <= MAX_SIZE))
    return shapes.input_shapes, {}


@st.composite
def linear_shapes(draw):
    """x (..., in), weight (in, out) and, half the time, bias (out,)."""
    lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    n_in, n_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    shapes = (lead + (n_in,), (n_in, n_out))
    return (shapes + ((n_out,),) if draw(st.booleans()) else shapes), {}


@st.composite
def cross_entropy_cases(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    labels = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return ((n, c),), {"labels": labels, "reduction": reduction}


@st.composite
def where_cases(draw):
    shapes = draw(broadcast(3))[0]
    cond = draw(hnp.arrays(bool, shapes[0]))
    as_tensor = draw(st.booleans())
    return shapes[1:], {"cond": tg.Tensor(cond) if as_tensor else cond}


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def reshape_cases(draw):
    """A new shape of the same size in 1 to 3 axes (or 0-d), sometimes with one -1 to infer."""
    shape = draw(SHAPE)
    remaining, target = prod(shape), []
    for _ in range(draw(st.integers(0, 2))):
        target.append(draw(st.sampled_from(_divisors(remaining))))
        remaining //= target[-1]
    target.append(remaining)
    if prod(shape) == 1 and draw(st.booleans()):
        target = []
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return (shape,), {"shape": tuple(target)}


@st.composite
def transpose_cases(draw):
    """A permutation (written with negative axes at random) or None: reverse the axes."""
    shape = draw(SHAPE)
    n = len(shape)
    if draw(st.booleans()):
        return (shape,), {"axes": None}
    perm = draw(st.permutations(range(n)))
    return (shape,), {"axes": tuple(ax - n if draw(st.booleans()) else ax for ax in perm)}


@st.composite
def broadcast_to_cases(draw):
    """A target shape and an input shape that broadcasts to it (fewer axes, size-1 axes)."""
    target = draw(SHAPE)
    kept = target[draw(st.integers(0, len(target))):]
    shape = tuple(draw(st.sampled_from([1, n])) for n in kept)
    return (shape,), {"shape": target}


@st.composite
def basic_index_cases(draw):
    """Ints, slices (negative steps too), None and Ellipsis."""
    shape = draw(SHAPE)
    return (shape,), {"index": draw(hnp.basic_indices(shape, allow_newaxis=True,
                                                       allow_ellipsis=True))}


@st.composite
def integer_array_index_cases(draw):
    """Integer arrays or lists, repeated and negative indices, alone, on one axis after slices,
    or one per axis (then they broadcast together)."""
    shape = draw(SHAPE_1D_UP)
    if draw(st.booleans()):
        index = draw(hnp.integer_array_indices(
            shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=4)))
        return (shape,), {"index": index}
    axis = draw(st.integers(0, len(shape) - 1))
    n = shape[axis]
    positions = draw(hnp.arrays(np.intp, hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
                                elements=st.integers(-n, n - 1)))
    if draw(st.booleans()):
        positions = positions.tolist()
    if axis == 0 and draw(st.booleans()):
        return (shape,), {"index": positions}
    return (shape,), {"index": (slice(None),) * axis + (positions,)}


@st.composite
def concatenate_cases(draw):
    base = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=2))
    axis = draw(st.integers(-len(base), len(base) - 1))
    lengths = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    shapes = tuple(base[:axis % len(base)] + (n,) + base[axis % len(base) + 1:] for n in lengths)
    return shapes, {"axis": axis}


@st.composite
def stack_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    count = draw(st.integers(1, 3))
    return (shape,) * count, {"axis": draw(st.integers(-len(shape) - 1, len(shape)))}


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


# ---------------------------------------------------------------------------- the table

@dataclass(frozen=True)
class OpRow:
    """One differentiable op. `fn(*tensors, **params)` and `ref(*arrays, **params)` must agree;
    `domain` is one Domain for every input or a tuple, one per input; `cases` draws the input
    shapes and the parameters; `reduces` rows also draw `axis` and `keepdims`."""
    name: str
    fn: Callable
    ref: Callable
    inputs: str  # how many tensor inputs: "1", "2", "1-3", "2-3"
    classes: tuple
    domain: object = REAL
    cases: st.SearchStrategy = None
    reduces: bool = False
    smooth: bool = True
    gradcheck_options: dict = field(default_factory=dict)

    def domains(self, count):
        return self.domain if isinstance(self.domain, tuple) else (self.domain,) * count


def _row(name, fn, ref, inputs, classes, **options):
    default = {"1": unary(), "2": broadcast(2)}.get(inputs)
    if options.get("reduces"):
        default = reduction()
    options.setdefault("cases", default)
    return OpRow(name, fn, ref, inputs, classes, **options)


PIECEWISE = {"smooth": False}

OP_TABLE = [
    # ---------------------------------------------------------------- elementwise, two inputs
    _row("add", lambda a, b: a + b, np.add, "2", ("Add",)),
    _row("sub", lambda a, b: a - b, np.subtract, "2", ("Sub",)),
    _row("mul", lambda a, b: a * b, np.multiply, "2", ("Mul",)),
    _row("div", lambda a, b: a / b, np.divide, "2", ("Div",), domain=(REAL, NONZERO)),
    _row("pow", lambda a, b: a ** b, np.power, "2", ("Pow",), domain=(POSITIVE, REAL)),
    _row("pow_constant_exponent", lambda a, p: a ** p, lambda a, p: a ** p, "1", ("Pow",),
         domain=POSITIVE,
         cases=unary(st.fixed_dictionaries({"p": st.sampled_from([2, 3, 0.5, -1.5])}))),
    _row("pow_constant_base", lambda b, c: c ** b, lambda b, c: np.power(c, b), "1", ("Pow",),
         cases=unary(st.fixed_dictionaries({"c": st.sampled_from([0.5, 2.0, np.e])}))),
    _row("maximum", tg.maximum, np.maximum, "2", ("Maximum",), domain=(GRID, OFFSET_GRID),
         **PIECEWISE),
    _row("minimum", tg.minimum, np.minimum, "2", ("Minimum",), domain=(GRID, OFFSET_GRID),
         **PIECEWISE),
    _row("where", lambda a, b, cond: tg.where(cond, a, b),  # smooth: linear in a and b
         lambda a, b, cond: np.where(np.asarray(cond), a, b), "2", ("Where",),
         cases=where_cases()),
    # ---------------------------------------------------------------- elementwise, one input
    _row("neg", lambda a: -a, np.negative, "1", ("Neg",)),
    _row("exp", tg.exp, np.exp, "1", ("Exp",)),
    _row("log", tg.log, np.log, "1", ("Log",), domain=POSITIVE),
    _row("sqrt", tg.sqrt, np.sqrt, "1", ("Sqrt",), domain=POSITIVE),
    _row("abs", tg.abs, np.abs, "1", ("Abs",), domain=NONZERO, **PIECEWISE),
    _row("tanh", tg.tanh, np.tanh, "1", ("Tanh",)),
    _row("sigmoid", tg.sigmoid, sigmoid_ref, "1", ("Sigmoid",)),
    _row("relu", tg.relu, lambda a: np.maximum(a, 0), "1", ("Relu",), domain=NONZERO,
         **PIECEWISE),
    _row("leaky_relu", tg.leaky_relu, leaky_relu_ref, "1", ("LeakyRelu",), domain=NONZERO,
         cases=unary(st.fixed_dictionaries({"negative_slope": st.sampled_from([0.01, 0.2])})),
         **PIECEWISE),
    _row("clip", tg.clip, lambda a, lo, hi: np.clip(a, lo, hi), "1", ("Clip",), domain=CLIP_SAFE,
         cases=unary(st.sampled_from([(-0.5, 0.5), (None, 0.5), (-0.5, None)]).map(
             lambda bounds: dict(zip(("lo", "hi"), bounds)))), **PIECEWISE),
    # ---------------------------------------------------------------- reductions
    _row("sum", tg.sum, np.sum, "1", ("Sum",), reduces=True),
    _row("mean", tg.mean, np.mean, "1", ("Mean",), reduces=True),
    _row("var", tg.var, np.var, "1", ("Var",), reduces=True),
    _row("max", tg.max, np.max, "1", ("Max",), reduces=True, domain=DISTINCT, **PIECEWISE),
    _row("min", tg.min, np.min, "1", ("Min",), reduces=True, domain=DISTINCT, **PIECEWISE),
    _row("softmax", tg.softmax, lambda x, axis: np.exp(log_softmax_ref(x, axis)), "1",
         ("Softmax",), cases=along_one_axis()),
    _row("log_softmax", tg.log_softmax, log_softmax_ref, "1", ("LogSoftmax",),
         cases=along_one_axis()),
    _row("cross_entropy", tg.cross_entropy, cross_entropy_ref, "1", ("CrossEntropy",),
         cases=cross_entropy_cases()),
    # ---------------------------------------------------------------- linear algebra
    _row("matmul", tg.matmul, np.matmul, "2", ("MatMul",), cases=matmul_shapes()),
    _row("linear", tg.linear, lambda x, w, b=0: x @ w + b, "2-3", ("Affine",),
         cases=linear_shapes()),
    # ---------------------------------------------------------------- shape and indexing
    _row("reshape", lambda x, shape: tg.reshape(x, shape), np.reshape, "1", ("Reshape",),
         cases=reshape_cases()),
    _row("transpose", lambda x, axes: x.transpose() if axes is None else tg.transpose(x, *axes),
         transpose_ref, "1", ("Transpose",), cases=transpose_cases()),
    _row("flatten", tg.flatten, np.ravel, "1", ("Reshape",)),
    _row("broadcast_to", lambda x, shape: x.broadcast_to(shape), np.broadcast_to, "1",
         ("BroadcastTo",), cases=broadcast_to_cases()),
    _row("astype", lambda x, dtype: x.astype(dtype), lambda x, dtype: x.astype(dtype), "1",
         ("Cast",), cases=unary(st.fixed_dictionaries(
             {"dtype": st.sampled_from([np.float32, np.float64])})),
         # finite differences of a float32 output need a step far above its resolution
         gradcheck_options={"eps": 1e-3}),
    _row("getitem_basic", lambda x, index: x[index], lambda x, index: x[index], "1",
         ("GetItem", "ScatterAdd"), cases=basic_index_cases()),
    _row("getitem_integer_arrays", lambda x, index: x[index], lambda x, index: x[index], "1",
         ("GetItem", "ScatterAdd"), cases=integer_array_index_cases()),
    _row("concatenate", lambda *xs, axis: tg.concatenate(xs, axis=axis),
         lambda *xs, axis: np.concatenate(xs, axis=axis), "1-3", ("Concatenate",),
         cases=concatenate_cases()),
    _row("stack", lambda *xs, axis: tg.stack(xs, axis=axis),
         lambda *xs, axis: np.stack(xs, axis=axis), "1-3", ("Stack",), cases=stack_cases()),
]

ROWS_BY_NAME = {row.name: row for row in OP_TABLE}
assert len(ROWS_BY_NAME) == len(OP_TABLE), "row names must be unique"


# ---------------------------------------------------------------------------- examples

@dataclass
class Example:
    arrays: list
    params: dict


@st.composite
def examples(draw, row, dtype=np.float64):
    """Input arrays (drawn in float64, then cast to `dtype`) and parameters for one call."""
    shapes, params = draw(row.cases)
    arrays = [draw(hnp.arrays(np.float64, shape, elements=domain.elements, unique=domain.unique))
              for shape, domain in zip(shapes, row.domains(len(shapes)))]
    return Example([a.astype(dtype) for a in arrays], params)

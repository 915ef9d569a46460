"""The table of differentiable ops: one row per way of calling an op, driving both the
hypothesis tests (tests/test_ops.py) and the self-check (`python -m tinygrad_nn.check`).

A row says how tinygrad_nn calls the op (`fn(*tensors, **params)`), its NumPy reference
(`ref(*arrays, **params)`), which `ops.Op` classes it exercises, whether it is smooth (second
derivatives checked by gradgradcheck; piecewise-linear rows have exactly zero ones), and how
its cases are drawn: `cases(draw) -> Case`, written against the abstract `sampling.Draw`, which
hypothesis or a seeded NumPy Generator provides. Adding an op means adding one row:

    OpRow("cube", lambda a: a ** 3, lambda a: a ** 3, ("Pow",), unary()),

in the list of its kind (KINDS: elementwise, activations, reductions and scans, linear algebra,
shape and indexing, convolution and pooling), the order the self-check lists the ops in.
An Op class in tinygrad_nn.ops that no row claims fails tests/test_ops.py and the self-check.
Examples are small (about MAX_SIZE elements per array) because gradcheck builds full Jacobians.
NumPy only: this module never imports hypothesis.
"""
from dataclasses import dataclass, field
from math import erf, prod
from typing import Callable

import numpy as np

from .. import ops as F
from .. import ops
from ..autograd import grad, topological_order
from ..function import call
from ..ops.activations import SELU_ALPHA, SELU_SCALE
from ..ops.shape import as_index
from ..tensor import Tensor
from .sampling import REAL, Domain

MAX_SIZE = 12

POSITIVE = Domain(0.1, 3.0)                    # log, sqrt, bases of pow: off the pole at 0
NONZERO = Domain(avoid=(0.0,))                 # the kink of abs, relu
NEAR_POLE = Domain(-1.0, 1.0, avoid=(0.0,))    # 1/b: often close to its pole at 0, never on it
CLIP_SAFE = Domain(avoid=(-0.5, 0.5))          # the clip bounds the cases use
DISTINCT = Domain(margin=0.1, distinct=True)   # no ties within (or across) the drawn arrays
HALVES = Domain(avoid=(-1.5, -0.5, 0.5, 1.5))   # where round jumps
INTEGERS = Domain(avoid=(-1.0, 0.0, 1.0))       # where floor and ceil jump
UNIT = Domain(-0.9, 0.9)                         # arcsin, arccos, arctanh: inside (-1, 1)


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
    """The names of the op classes of tinygrad_nn.ops, in order of definition."""
    return list(ops.OP_CLASSES)


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
    index = as_index(integer_array_index(draw, shape) if draw.booleans()
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


# ---------------------------------------------------------------------------- cases of the
# NumPy-named ops (issue 12)

def with_a_zero(cases):
    """The arrays of `cases` with one entry set to exactly 0 (prod and cumprod then
    differentiate without dividing by it; several zeros are tested in test_ops_closed_forms.py,
    since the drawn values must be distinct)."""
    def zeroed(draw):
        case = cases(draw)
        for a in case.arrays:
            if a.size:
                a.flat[draw.integers(0, a.size - 1)] = 0.0
        return case
    return zeroed


def mod_cases(draw):
    """a % b with |a| in [0.1, 0.9] and |b| in [1, 2], signs at random: a / b stays 0.05 away
    from the integers where mod jumps."""
    shapes = draw.broadcastable_shapes(2)
    signs = [np.where(draw.rng.random(s) < 0.5, -1.0, 1.0) for s in shapes]
    return Case([signs[0] * draw.array(shapes[0], Domain(0.1, 0.9)),
                 signs[1] * draw.array(shapes[1], Domain(1.0, 2.0))])


def spread_cases(*ddofs):
    """var/std over axes holding at least two values more than ddof (std of one value has no
    derivative), ddof drawn from `ddofs`."""
    def cases(draw):
        ddof = draw.sampled_from(ddofs)
        shape = draw.shape(min_dims=1)
        axis = draw.axes(len(shape))
        axes = range(len(shape)) if axis is None else np.atleast_1d(axis) % len(shape)
        if prod(shape[ax] for ax in axes) < 2 + ddof:
            shape, axis = (draw.integers(2 + ddof, 4),), None
        return Case([draw.array(shape)], {"axis": axis, "keepdims": draw.booleans(),
                                          "ddof": ddof})
    return cases


def scan_cases(draw):
    """cumsum/cumprod: an int axis (negatives too) or None (the flattened input)."""
    shape = draw.shape()
    axis = draw.axis(len(shape)) if shape and draw.booleans() else None
    return Case([draw.array(shape)], {"axis": axis})


def norm_cases(smooth):
    """np.linalg.norm over every axis, one axis (vector norms) or two (matrix norms): the smooth
    ones (2-norm, Frobenius, ord=3) or the piecewise-linear ones (1, inf, -inf, and the matrix
    1, -1, inf, -inf) on positive values apart from each other (no ties among |x|)."""
    vector = [None, 2, 3] if smooth else [1, np.inf, -np.inf]
    matrix = [None, "fro"] if smooth else [1, -1, np.inf, -np.inf]
    domain = REAL if smooth else Domain(0.1, 2.0, distinct=True)

    def cases(draw):
        kind = draw.sampled_from(["vector", "matrix"] + (["all"] if smooth else []))
        shape = draw.shape(min_dims=2 if kind == "matrix" else 0 if kind == "all" else 1)
        params = {"ord": None, "axis": None}
        if kind == "vector":
            params = {"ord": draw.sampled_from(vector), "axis": draw.axis(len(shape))}
        elif kind == "matrix":
            params = {"ord": draw.sampled_from(matrix),
                      "axis": draw.permutation(len(shape))[:2]}
        return Case([draw.array(shape, domain)], dict(params, keepdims=draw.booleans()))
    return cases


def diff_cases(draw):
    shape = draw.shape(min_dims=1)
    return Case([draw.array(shape)], {"n": draw.integers(1, 2), "axis": draw.axis(len(shape))})


EINSUM_SPECS = ["ij,jk->ik", "ii", "ii->i", "...ij,...j", "ij,k->i", "ij,jk,k", "i,i", "i,j",
                "bij,bjk->bik", "ij->ji", "iij->j", "ij,ij->ij", "...i,...i->..."]


def einsum_cases(draw):
    """One of EINSUM_SPECS (traces, diagonals, broadcast '...', letters only one operand has,
    three operands), each letter of size 1 to 3, '...' of 0 to 2 axes."""
    spec = draw.sampled_from(EINSUM_SPECS)
    sizes = {c: draw.integers(1, 3) for c in sorted(set(spec) - set(",.->"))}
    batch = draw.shape(max_dims=2, max_side=2)
    shapes = [tuple(batch if part == "..." else (sizes[part],)
                    for part in _einsum_parts(s)) for s in spec.split("->")[0].split(",")]
    shapes = [tuple(n for piece in s for n in piece) for s in shapes]
    return Case([draw.array(s) for s in shapes], {"subscripts": spec})


def _einsum_parts(subscripts):
    """'...ij' -> ['...', 'i', 'j']"""
    return ["..."] + list(subscripts[3:]) if subscripts.startswith("...") else list(subscripts)


def tensordot_cases(draw):
    """Contract k axes: the last k of a with the first k of b (axes=k), or chosen axes of each
    in any order (axes=(axes of a, axes of b))."""
    a_shape = draw.shape(min_dims=1, max_side=2)
    k = draw.integers(0, min(len(a_shape), 2))
    if draw.booleans():
        b_shape = a_shape[len(a_shape) - k:] + draw.shape(max_dims=2, max_side=2)
        return Case([draw.array(a_shape), draw.array(b_shape)], {"axes": k})
    axes_a = draw.permutation(len(a_shape))[:k]
    b_free = list(draw.shape(max_dims=2, max_side=2))
    b_shape = b_free + [a_shape[ax] for ax in axes_a]
    order = draw.permutation(len(b_shape))
    b_shape = [b_shape[i] for i in order]
    axes_b = [order.index(len(b_free) + j) for j in range(k)]
    return Case([draw.array(a_shape), draw.array(tuple(b_shape))],
                {"axes": (list(axes_a), axes_b)})


def dot_cases(draw):
    """np.dot's cases: a scalar, vector · vector, matrix · vector, matrix · matrix, and N-D · M-D
    (the last axis of a against the second-to-last of b)."""
    n = draw.integers(1, 3)
    kind = draw.sampled_from(["scalar", "vector", "matrix", "nd"])
    if kind == "scalar":
        shapes = [(), draw.shape()] if draw.booleans() else [draw.shape(), ()]
    elif kind == "vector":
        shapes = [draw.shape(max_dims=2, max_side=2) + (n,), (n,)]
    elif kind == "matrix":
        shapes = [(draw.integers(1, 3), n), (n, draw.integers(1, 3))]
    else:
        shapes = [draw.shape(max_dims=2, max_side=2) + (n,),
                  draw.shape(max_dims=1, max_side=2) + (n, draw.integers(1, 2))]
    return Case([draw.array(s) for s in shapes])


def inner_cases(draw):
    n = draw.integers(1, 3)
    if draw.integers(0, 3) == 0:
        return Case([draw.array(()), draw.array(draw.shape())])
    return Case([draw.array(draw.shape(max_dims=2, max_side=2) + (n,)),
                 draw.array(draw.shape(max_dims=1, max_side=2) + (n,))])


def diagonal_cases(draw):
    """offset -1, 0 or 1 between two distinct axes (negatives too) of an at least 2-D input."""
    shape = draw.shape(min_dims=2)
    axis1, axis2 = draw.permutation(len(shape))[:2]
    n = len(shape)
    return Case([draw.array(shape)], {"offset": draw.integers(-1, 1),
                                      "axis1": axis1 - n if draw.booleans() else axis1,
                                      "axis2": axis2 - n if draw.booleans() else axis2})


def diag_cases(draw):
    """A vector put on the k-th diagonal, or the k-th diagonal of a matrix taken."""
    shape = (draw.integers(1, 3),) if draw.booleans() else draw.shape(min_dims=2, max_dims=2)
    return Case([draw.array(shape)], {"k": draw.integers(-1, 1)})


def pad_cases(draw):
    shape = draw.shape(min_dims=1, max_size=6)
    widths = tuple((draw.integers(0, 2), draw.integers(0, 2)) for _ in shape)
    mode = draw.sampled_from(["constant", "edge", "reflect", "symmetric", "wrap"])
    params = {"pad_width": widths, "mode": mode}
    if mode == "constant":
        params["constant_values"] = draw.sampled_from([0, 1.5])
    return Case([draw.array(shape)], params)


def split_cases(draw):
    """Equal pieces (a count that divides the axis, or split points)."""
    shape = draw.shape(min_dims=1)
    axis = draw.axis(len(shape))
    n = shape[axis]
    if draw.booleans():
        sections = draw.sampled_from([d for d in range(1, n + 1) if n % d == 0])
    else:
        sections = sorted({draw.integers(0, n) for _ in range(draw.integers(1, 2))})
    return Case([draw.array(shape)], {"indices_or_sections": sections, "axis": axis})


def array_split_cases(draw):
    shape = draw.shape(min_dims=1)
    return Case([draw.array(shape)], {"indices_or_sections": draw.integers(1, 3),
                                      "axis": draw.axis(len(shape))})


def repeat_cases(draw):
    """A count for every element, or one count each (0 included), over one axis or flattened."""
    shape = draw.shape(max_size=6)
    axis = draw.axis(len(shape)) if shape and draw.booleans() else None
    n = prod(shape) if axis is None else shape[axis]
    repeats = (draw.integers(0, 2) if draw.booleans()
               else [draw.integers(0, 2) for _ in range(n)])
    return Case([draw.array(shape)], {"repeats": repeats, "axis": axis})


def tile_cases(draw):
    reps = tuple(draw.integers(1, 2) for _ in range(draw.integers(1, 3)))
    return Case([draw.array(draw.shape(max_size=6))], {"reps": reps})


def flip_cases(draw):
    shape = draw.shape()
    return Case([draw.array(shape)], {"axis": draw.axes(len(shape))})


def roll_cases(draw):
    shape = draw.shape()
    if not shape or draw.booleans():
        return Case([draw.array(shape)], {"shift": draw.integers(-3, 3), "axis": None})
    axes = draw.permutation(len(shape))[:draw.integers(1, len(shape))]
    return Case([draw.array(shape)], {"shift": tuple(draw.integers(-3, 3) for _ in axes),
                                      "axis": axes})


def two_axes_cases(first, second):
    def cases(draw):
        shape = draw.shape(min_dims=1)
        return Case([draw.array(shape)], {first: draw.axis(len(shape)),
                                          second: draw.axis(len(shape))})
    return cases


def moveaxis_cases(draw):
    shape = draw.shape(min_dims=1)
    k = draw.integers(1, len(shape))
    return Case([draw.array(shape)], {"source": draw.permutation(len(shape))[:k],
                                      "destination": draw.permutation(len(shape))[:k]})


def expand_dims_cases(draw):
    shape = draw.shape()
    n = len(shape) + draw.integers(1, 2)
    axes = draw.permutation(n)[:n - len(shape)]
    return Case([draw.array(shape)], {"axis": axes if len(axes) > 1 else axes[0]})


def flatten_cases(draw):
    shape = draw.shape(min_dims=1)
    start = draw.integers(0, len(shape) - 1)
    end = draw.integers(start, len(shape) - 1)
    return Case([draw.array(shape)], {"start_axis": start, "end_axis": end - len(shape)})


def take_along_axis_cases(draw):
    shape = draw.shape(min_dims=1)
    axis = draw.axis(len(shape))
    index_shape = tuple(draw.integers(1, 3) if i == axis % len(shape) else n
                        for i, n in enumerate(shape))
    return Case([draw.array(shape)], {"indices": draw.index_array(index_shape, shape[axis]),
                                      "axis": axis})


def sort_cases(draw):
    shape = draw.shape()
    axis = draw.axis(len(shape)) if shape and draw.booleans() else None
    return Case([draw.array(shape, DISTINCT)], {"axis": axis})


def hstack_cases(draw):
    """1-D arrays end to end, or arrays of the same rows side by side."""
    count, rows = draw.integers(1, 3), draw.integers(1, 3)
    if draw.booleans():
        return Case([draw.array((draw.integers(1, 3),)) for _ in range(count)])
    return Case([draw.array((rows, draw.integers(1, 2))) for _ in range(count)])


def vstack_cases(draw):
    """Rows (1-D arrays) and matrices of the same width, one under the other."""
    count, width = draw.integers(1, 3), draw.integers(1, 3)
    return Case([draw.array((width,) if draw.booleans() else (draw.integers(1, 2), width))
                 for _ in range(count)])


def column_stack_cases(draw):
    """Columns (1-D arrays) and matrices of the same height, side by side."""
    count, height = draw.integers(1, 3), draw.integers(1, 3)
    return Case([draw.array((height,) if draw.booleans() else (height, draw.integers(1, 2)))
                 for _ in range(count)])


def softplus_ref(x, beta):
    return np.logaddexp(0, beta * x) / beta


def elu_ref(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def erf_ref(x):
    return np.vectorize(erf, otypes=[np.float64])(x)


def gelu_ref(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + erf_ref(x / np.sqrt(2)))


def logsumexp_ref(x, axis, keepdims):
    peak = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
    return out if keepdims else np.squeeze(out, axis=axis)


def flatten_ref(x, start_axis, end_axis):
    end = end_axis % x.ndim
    return x.reshape(x.shape[:start_axis] + (-1,) + x.shape[end + 1:])


def stacked(split):
    """The pieces of a split joined back in reverse order: one tensor to check."""
    return lambda x, **params: F.concatenate(split(x, **params)[::-1],
                                             axis=params.get("axis", 0))


def stacked_ref(split):
    return lambda x, **params: np.concatenate(split(x, **params)[::-1],
                                              axis=params.get("axis", 0))


# ---------------------------------------------------------------------------- the table

PIECEWISE = {"smooth": False}

ELEMENTWISE_ROWS = [
    # two inputs
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
    # one input
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
    # NumPy's names (issue 12)
    OpRow("sin", F.sin, np.sin, ("Sin",), unary()),
    OpRow("cos", F.cos, np.cos, ("Cos",), unary()),
    OpRow("tan", F.tan, np.tan, ("Tan",), unary(Domain(-1.2, 1.2))),
    OpRow("arcsin", F.arcsin, np.arcsin, ("Arcsin",), unary(UNIT)),
    OpRow("arccos", F.arccos, np.arccos, ("Arccos",), unary(UNIT)),
    OpRow("arctan", F.arctan, np.arctan, ("Arctan",), unary()),
    # a kept off 0, so (b, a) stays off the origin and off the branch cut
    OpRow("arctan2", F.arctan2, np.arctan2, ("Arctan2",), broadcast(NONZERO, REAL)),
    OpRow("sinh", F.sinh, np.sinh, ("Sinh",), unary()),
    OpRow("cosh", F.cosh, np.cosh, ("Cosh",), unary()),
    OpRow("arcsinh", F.arcsinh, np.arcsinh, ("Arcsinh",), unary()),
    OpRow("arccosh", F.arccosh, np.arccosh, ("Arccosh",), unary(Domain(1.1, 3.0))),
    OpRow("arctanh", F.arctanh, np.arctanh, ("Arctanh",), unary(UNIT)),
    OpRow("log1p", F.log1p, np.log1p, ("Log1p",), unary(Domain(-0.5, 2.0))),
    OpRow("expm1", F.expm1, np.expm1, ("Expm1",), unary()),
    OpRow("log2", F.log2, np.log2, ("Log", "Mul"), unary(POSITIVE)),
    OpRow("log10", F.log10, np.log10, ("Log", "Mul"), unary(POSITIVE)),
    OpRow("exp2", F.exp2, np.exp2, ("Pow",), unary()),
    OpRow("square", F.square, np.square, ("Pow",), unary()),
    OpRow("reciprocal", F.reciprocal, np.reciprocal, ("Div",), unary(NEAR_POLE)),
    OpRow("sign", F.sign, np.sign, ("Sign",), unary(NONZERO), **PIECEWISE),
    OpRow("floor", F.floor, np.floor, ("Floor",), unary(INTEGERS), **PIECEWISE),
    OpRow("ceil", F.ceil, np.ceil, ("Ceil",), unary(INTEGERS), **PIECEWISE),
    OpRow("round", F.round, np.round, ("Round",), unary(HALVES, decimals=[0]), **PIECEWISE),
    OpRow("round_decimals", F.round, np.round, ("Round",),
          unary(Domain(-0.2, 0.2, avoid=(-0.15, -0.05, 0.05, 0.15), margin=0.01),
                decimals=[1]), **PIECEWISE),
    OpRow("mod", lambda a, b: a % b, np.mod, ("Mod",), mod_cases, **PIECEWISE),
    OpRow("hypot", F.hypot, np.hypot, ("Hypot",), broadcast(NONZERO, REAL)),
    OpRow("logaddexp", F.logaddexp, np.logaddexp, ("LogAddExp",), broadcast(REAL, REAL)),
    OpRow("erf", F.erf, erf_ref, ("Erf",), unary()),
]

ACTIVATION_ROWS = [
    OpRow("softplus", F.softplus, softplus_ref, ("Softplus",), unary(beta=[1.0, 2.0])),
    OpRow("elu", F.elu, elu_ref, ("Elu",), unary(NONZERO, alpha=[1.0, 0.5])),
    OpRow("selu", F.selu, lambda x: SELU_SCALE * elu_ref(x, SELU_ALPHA), ("Elu", "Mul"),
          unary(NONZERO)),
    OpRow("gelu", F.gelu, gelu_ref, ("Gelu",), unary(approximate=["none", "tanh"])),
    OpRow("silu", F.silu, lambda x: x * sigmoid_ref(x), ("Mul", "Sigmoid"), unary()),
    OpRow("relu6", F.relu6, lambda x: np.clip(x, 0, 6), ("Clip",),
          unary(Domain(-2.0, 8.0, avoid=(0.0, 6.0))), **PIECEWISE),
    OpRow("hardtanh", F.hardtanh, lambda x: np.clip(x, -1, 1), ("Clip",),
          unary(Domain(avoid=(-1.0, 1.0))), **PIECEWISE),
    # piecewise quadratic: second derivatives exist off the kinks at ±3
    OpRow("hardswish", F.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6, ("Mul", "Clip"),
          unary(Domain(-5.0, 5.0, avoid=(-3.0, 3.0)))),
    OpRow("mish", F.mish, lambda x: x * np.tanh(np.logaddexp(0, x)), ("Mul", "Tanh",
                                                                        "Softplus"), unary()),
]

REDUCTION_ROWS = [
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
    OpRow("prod", F.prod, np.prod, ("Prod",), reduction()),
    OpRow("prod_with_zeros", F.prod, np.prod, ("Prod",), with_a_zero(reduction())),
    OpRow("var_ddof", F.var, np.var, ("Var",), spread_cases(0, 1)),
    OpRow("std", F.std, np.std, ("Var", "Sqrt"), spread_cases(0, 1)),
    OpRow("cumsum", F.cumsum, np.cumsum, ("Cumsum",), scan_cases),
    OpRow("cumprod", F.cumprod, np.cumprod, ("Cumprod",), scan_cases),
    OpRow("cumprod_with_zeros", F.cumprod, np.cumprod, ("Cumprod",), with_a_zero(scan_cases)),
    OpRow("logsumexp", F.logsumexp, logsumexp_ref, ("LogSumExp",), reduction()),
    OpRow("norm", F.norm, np.linalg.norm, ("Sum", "Where"), norm_cases(smooth=True)),
    OpRow("norm_piecewise", F.norm, np.linalg.norm, ("Abs",), norm_cases(smooth=False),
          **PIECEWISE),
    OpRow("diff", F.diff, np.diff, ("GetItem", "Sub"), diff_cases),
]

LINEAR_ALGEBRA_ROWS = [
    OpRow("matmul", F.matmul, np.matmul, ("MatMul",), matmul_cases),
    OpRow("linear", F.linear, lambda x, w, b=0: x @ w + b, ("Affine",), linear_cases),
    OpRow("einsum", lambda *xs, subscripts: F.einsum(subscripts, *xs),
          lambda *xs, subscripts: np.einsum(subscripts, *xs), ("Einsum",), einsum_cases),
    OpRow("tensordot", F.tensordot, np.tensordot, ("Einsum",), tensordot_cases),
    OpRow("dot", F.dot, np.dot, (), dot_cases),
    OpRow("inner", F.inner, np.inner, (), inner_cases),
    OpRow("outer", F.outer, np.outer, ("Mul",), broadcast(REAL, REAL)),
    OpRow("trace", F.trace, np.trace, ("GetItem", "Sum"), diagonal_cases),
    OpRow("diagonal", F.diagonal, np.diagonal, ("GetItem",), diagonal_cases),
    OpRow("diag", F.diag, np.diag, (), diag_cases),
    OpRow("triu", F.triu, np.triu, ("Where",), unary(min_dims=1, k=[-1, 0, 1])),
    OpRow("tril", F.tril, np.tril, ("Where",), unary(min_dims=1, k=[-1, 0, 1])),
]

SHAPE_ROWS = [
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
    OpRow("pad", F.pad, np.pad, ("ScatterAdd", "GetItem"), pad_cases),
    OpRow("split", stacked(F.split), stacked_ref(np.split), ("GetItem", "Concatenate"),
          split_cases),
    OpRow("array_split", stacked(F.array_split), stacked_ref(np.array_split),
          ("GetItem", "Concatenate"), array_split_cases),
    OpRow("repeat", F.repeat, np.repeat, ("GetItem",), repeat_cases),
    OpRow("tile", F.tile, np.tile, ("GetItem",), tile_cases),
    OpRow("flip", F.flip, np.flip, ("GetItem",), flip_cases),
    OpRow("roll", F.roll, np.roll, ("GetItem",), roll_cases),
    OpRow("swapaxes", F.swapaxes, np.swapaxes, ("Transpose",), two_axes_cases("axis1", "axis2")),
    OpRow("moveaxis", F.moveaxis, np.moveaxis, ("Transpose",), moveaxis_cases),
    OpRow("expand_dims", F.expand_dims, np.expand_dims, ("Reshape",), expand_dims_cases),
    OpRow("ravel", F.ravel, np.ravel, ("Reshape",), unary()),
    OpRow("flatten_axes", F.flatten, flatten_ref, ("Reshape",), flatten_cases),
    OpRow("take_along_axis", F.take_along_axis, np.take_along_axis, ("GetItem",),
          take_along_axis_cases),
    OpRow("sort", F.sort, np.sort, ("GetItem",), sort_cases, **PIECEWISE),
    OpRow("hstack", lambda *xs: F.hstack(xs), lambda *xs: np.hstack(xs), ("Concatenate",),
          hstack_cases),
    OpRow("vstack", lambda *xs: F.vstack(xs), lambda *xs: np.vstack(xs), ("Concatenate",),
          vstack_cases),
    OpRow("column_stack", lambda *xs: F.column_stack(xs), lambda *xs: np.column_stack(xs),
          ("Concatenate",), column_stack_cases),
]

CONVOLUTION_ROWS = [
    OpRow("conv2d", F.conv2d, conv2d_ref,
          ("Convolution", "TransposedConvolution", "ConvolutionWeightGrad"), conv2d_cases),
    OpRow("max_pool2d", F.max_pool2d, pool2d_ref(np.max), ("MaxPooling", "Fold"),
          pool_cases(Domain(-4.0, 4.0, margin=0.1, distinct=True)), **PIECEWISE),
    OpRow("avg_pool2d", F.avg_pool2d, pool2d_ref(np.mean), ("AvgPooling", "Fold"),
          pool_cases(REAL)),
    OpRow("unfold", lambda x, **params: call(ops.Unfold, x, **params), unfold_ref,
          ("Unfold", "Fold"), unfold_cases),
]

# The kinds, in the order the self-check and docs/ops.md list them.
KINDS = {
    "elementwise": ELEMENTWISE_ROWS,
    "activations": ACTIVATION_ROWS,
    "reductions and scans": REDUCTION_ROWS,
    "linear algebra": LINEAR_ALGEBRA_ROWS,
    "shape and indexing": SHAPE_ROWS,
    "convolution and pooling": CONVOLUTION_ROWS,
}
OP_TABLE = [row for rows in KINDS.values() for row in rows]

ROWS_BY_NAME = {row.name: row for row in OP_TABLE}
assert len(ROWS_BY_NAME) == len(OP_TABLE), "row names must be unique"

"""Shape and indexing: reshape, transpose, broadcast, indexing and its scatter, joining and
splitting, and the rearrangements NumPy has (pad, tile, roll, flip, sort...). Most of the latter
are one gather (`_gather`): an index computed by NumPy on the array of positions, whose gradient
scatters back. Each op's forward and backward side by side, then the functions."""
import builtins
import math

import numpy as np

from ..function import call
from ..tensor import Tensor, shape_argument
from .base import Op, Where, as_tensor, axis_index, axis_tuple, numpy_keywords, register, values


def resolve_shape(old_shape, shape):
    """`shape` with its -1 (at most one) filled in; ValueError naming both sizes if it does not
    hold as many elements as `old_shape`."""
    size = math.prod(old_shape)
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: only one dimension can be -1, got {shape}")
    if any(n < -1 for n in shape):
        raise ValueError(f"reshape: invalid shape {shape}")
    known = math.prod(n for n in shape if n != -1)
    if -1 in shape:
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {old_shape} ({size} "
                             f"elements) into shape {shape}")
        shape = tuple(size // known if n == -1 else n for n in shape)
    elif known != size:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {old_shape} ({size} "
                         f"elements) into shape {shape} ({known} elements)")
    return shape


class Reshape(Op):
    """the same elements in another shape;  the gradient is reshaped back"""
    @staticmethod
    def forward(ctx, a, *, shape):
        ctx.in_shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.in_shape)


class Transpose(Op):
    """axes permuted;  the gradient is permuted back"""
    @staticmethod
    def forward(ctx, a, *, axes):
        ctx.inverse = tuple(int(i) for i in np.argsort(axes))
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(ctx.inverse)


class BroadcastTo(Op):
    """a stretched to `shape`;  the engine sums the gradient back (sum_to_shape)"""
    @staticmethod
    def forward(ctx, a, *, shape):
        return np.full(shape, a)  # a real array: 4x cheaper than np.broadcast_to's view here

    @staticmethod
    def backward(ctx, g):
        return g


def as_index(index):
    """An index for NumPy: Tensors become their arrays, lists become integer arrays."""
    def part(i):
        if isinstance(i, Tensor):
            return i.data
        if isinstance(i, list):
            return np.asarray(i, dtype=np.intp) if len(i) == 0 else np.asarray(i)
        return i
    return tuple(part(i) for i in index) if isinstance(index, tuple) else part(index)


def _is_basic(index):
    """True if NumPy indexing with `index` cannot repeat an element (no integer arrays)."""
    parts = index if isinstance(index, tuple) else (index,)
    return not any(isinstance(i, np.ndarray) for i in parts)


class GetItem(Op):
    """a[index];  the gradient is scattered back, repeated indices adding up"""
    @staticmethod
    def forward(ctx, a, *, index):
        ctx.in_shape, ctx.index = a.shape, index
        return a[index]

    @staticmethod
    def backward(ctx, g):
        return call(ScatterAdd, g, index=ctx.index, shape=ctx.in_shape)


class ScatterAdd(Op):
    """zeros of `shape` with g added at `index` (the backward of GetItem);
    its own gradient is g gathered back: out[index]"""
    @staticmethod
    def forward(ctx, g, *, index, shape):
        ctx.index = index
        out = np.zeros(shape, dtype=g.dtype)
        if _is_basic(index):
            out[index] = g
        else:
            np.add.at(out, index, g)
        return out

    @staticmethod
    def backward(ctx, g):
        return g[ctx.index]


class Concatenate(Op):
    """inputs joined along an existing axis;  each gets its slice of the gradient"""
    @staticmethod
    def forward(ctx, *arrays, axis):
        if not arrays:
            raise ValueError("concatenate: need at least one tensor")
        shapes = [np.shape(a) for a in arrays]
        if not shapes[0]:
            raise ValueError("concatenate: 0-d tensors have no axis to join along; use stack")
        ctx.axis = axis = axis_index(axis, len(shapes[0]), "concatenate")
        if any(len(s) != len(shapes[0]) or s[:axis] + s[axis + 1:] != shapes[0][:axis]
               + shapes[0][axis + 1:] for s in shapes):
            raise ValueError(f"concatenate: the shapes {shapes} must match in every axis but "
                             f"axis {axis}")
        ctx.bounds = np.cumsum([0] + [np.shape(a)[axis] for a in arrays]).tolist()
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * ctx.axis
        return tuple(g[lead + (slice(lo, hi),)] for lo, hi in zip(ctx.bounds, ctx.bounds[1:]))


class Stack(Op):
    """inputs joined along a new axis;  each gets its index of the gradient"""
    @staticmethod
    def forward(ctx, *arrays, axis):
        if not arrays:
            raise ValueError("stack: need at least one tensor")
        shapes = [np.shape(a) for a in arrays]
        if len(set(shapes)) > 1:
            raise ValueError(f"stack: all tensors must have the same shape, got {shapes}")
        ctx.axis = axis_index(axis, np.ndim(arrays[0]) + 1, "stack")
        ctx.count = len(arrays)
        return np.stack(arrays, axis=ctx.axis)

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * ctx.axis
        return tuple(g[lead + (i,)] for i in range(ctx.count))


# =========================================================================== the functions

@register(np.reshape, method=True)
def reshape(x, *shape):
    """The same elements in another shape: ints or one tuple, at most one -1 (inferred)."""
    x = as_tensor(x)
    return Reshape.apply(x, shape=resolve_shape(x.shape, shape_argument(shape, "reshape")))


@register(np.transpose, method=True)
def transpose(x, *axes):
    """Axes permuted as np.transpose does; no axes (or None) reverses them."""
    x = as_tensor(x)
    if not axes or axes == (None,):
        return Transpose.apply(x, axes=tuple(range(x.ndim))[::-1])
    axes = tuple(axis_index(ax, x.ndim, "transpose") for ax in shape_argument(axes, "transpose"))
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} "
                         "dimensions")
    return Transpose.apply(x, axes=axes)


Tensor.T = property(transpose)


@register(method=True)
def flatten(x, start_axis=0, end_axis=-1):
    """The axes start_axis..end_axis (all by default) merged into one."""
    x = as_tensor(x)
    start, end = (axis_index(ax, builtins.max(x.ndim, 1), "flatten")
                  for ax in (start_axis, end_axis))
    shape = x.shape if x.ndim else (1,)
    return reshape(x, shape[:start] + (-1,) + shape[end + 1:])


@register(np.ravel, method=True)
def ravel(x):
    """The elements as a 1-D tensor."""
    return reshape(x, -1)


@register(np.broadcast_to, method=True)
def broadcast_to(x, *shape):
    """x stretched to `shape` (NumPy's broadcasting); its gradient is summed back."""
    return BroadcastTo.apply(as_tensor(x), shape=shape_argument(shape, "broadcast_to"))


@register(method=True)
def unsqueeze(x, axis):
    """A new axis of size 1 at `axis` (negatives count from the end of the result)."""
    x = as_tensor(x)
    axis = axis_index(axis, x.ndim + 1, "unsqueeze", x.shape)
    return Reshape.apply(x, shape=x.shape[:axis] + (1,) + x.shape[axis:])


@register(np.squeeze, method=True)
def squeeze(x, axis=None):
    """Without the size-1 axes (all of them if axis is None, else axis: an int or tuple);
    ValueError for an axis whose size is not 1."""
    x = as_tensor(x)
    if axis is None:
        return Reshape.apply(x, shape=tuple(n for n in x.shape if n != 1))
    axes = axis_tuple(axis, x.ndim, "squeeze")
    for ax in axes:
        if x.shape[ax] != 1:
            raise ValueError(f"squeeze: axis {ax} of a tensor of shape {x.shape} has size "
                             f"{x.shape[ax]}, not 1")
    return Reshape.apply(x, shape=tuple(n for i, n in enumerate(x.shape) if i not in axes))


@register(np.expand_dims)
def expand_dims(x, axis):
    """x with new axes of length 1 at the positions `axis` (an int or a tuple)."""
    x = as_tensor(x)
    try:
        shape = np.expand_dims(np.broadcast_to(0, x.shape), axis).shape
    except (ValueError, IndexError) as exc:  # NumPy's AxisError is both
        raise ValueError(f"expand_dims: {exc} (input shape {x.shape})") from None
    return Reshape.apply(x, shape=shape)


@register(np.swapaxes, method=True)
def swapaxes(x, axis1, axis2):
    """x with two axes exchanged."""
    x = as_tensor(x)
    order = list(range(x.ndim))
    i, j = axis_index(axis1, x.ndim, "swapaxes"), axis_index(axis2, x.ndim, "swapaxes")
    order[i], order[j] = order[j], order[i]
    return Transpose.apply(x, axes=tuple(order))


@register(np.moveaxis)
def moveaxis(x, source, destination):
    """Axes moved to new positions, the others keeping their order (np.moveaxis)."""
    x = as_tensor(x)
    source, destination = (([ax] if isinstance(ax, (int, np.integer)) else list(ax))
                           for ax in (source, destination))
    if len(source) != len(destination):
        raise ValueError(f"moveaxis: {len(source)} source axes but {len(destination)} "
                         "destinations")
    source = [axis_index(ax, x.ndim, "moveaxis") for ax in source]
    destination = [axis_index(ax, x.ndim, "moveaxis") for ax in destination]
    order = [i for i in range(x.ndim) if i not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return Transpose.apply(x, axes=tuple(order))


def _getitem(x, index):
    return GetItem.apply(x, index=as_index(index))


Tensor.__getitem__ = _getitem


@register(np.concatenate)
@numpy_keywords
def concatenate(tensors, axis=0):
    """Join tensors along an existing axis (as np.concatenate; axis None joins them
    flattened)."""
    if axis is None:
        return Concatenate.apply(*[reshape(t, -1) for t in tensors], axis=0)
    return Concatenate.apply(*tensors, axis=axis)


@register(np.stack)
@numpy_keywords
def stack(tensors, axis=0):
    """Join same-shaped tensors along a new axis (as np.stack)."""
    return Stack.apply(*tensors, axis=axis)


def _at_least(x, ndim, place):
    x = as_tensor(x)
    return x if x.ndim >= ndim else reshape(x, place(x.shape))


@register(np.hstack)
def hstack(tensors):
    """Join along axis 1, or axis 0 for 1-D tensors (np.hstack)."""
    tensors = [_at_least(t, 1, lambda s: (1,)) for t in tensors]
    return concatenate(tensors, axis=0 if tensors and tensors[0].ndim == 1 else 1)


@register(np.vstack)
def vstack(tensors):
    """Join along axis 0, a 1-D tensor being one row (np.vstack)."""
    return concatenate([_at_least(t, 2, lambda s: (1,) + s + (1,) * (1 - len(s)))
                        for t in tensors], axis=0)


@register(np.column_stack)
def column_stack(tensors):
    """Join along axis 1, a 1-D tensor being one column (np.column_stack)."""
    return concatenate([_at_least(t, 2, lambda s: s + (1,) * (2 - len(s))) for t in tensors],
                       axis=1)


def _pieces(x, indices_or_sections, axis, equal, where):
    x = as_tensor(x)
    axis = axis_index(axis, x.ndim, where)
    try:
        parts = (np.split if equal else np.array_split)(np.arange(x.shape[axis]),
                                                        indices_or_sections)
    except ValueError:
        raise ValueError(f"{where}: {indices_or_sections!r} sections do not divide axis {axis} "
                         f"of length {x.shape[axis]} equally (array_split allows that)") from None
    lead = (slice(None),) * axis
    # each part is a run of consecutive positions (indices need not increase: [3, 1] makes
    # x[:3], x[3:1] and x[1:], as NumPy does)
    return [x[lead + (slice(int(p[0]), int(p[0]) + len(p)) if len(p) else slice(0, 0),)]
            for p in parts]


@register(np.split)
def split(x, indices_or_sections, axis=0):
    """A list of pieces along axis: an int n gives n equal pieces (ValueError if they cannot
    be), a list of indices gives the pieces between them (np.split)."""
    return _pieces(x, indices_or_sections, axis, True, "split")


@register(np.array_split)
def array_split(x, indices_or_sections, axis=0):
    """As split, but n pieces need not be equal: the first len % n are one longer."""
    return _pieces(x, indices_or_sections, axis, False, "array_split")


def _gather(x, rearrange):
    """x's elements where `rearrange` moves them: it gets the array of x's flat positions and
    rearranges that with NumPy (np.tile, np.roll, np.pad...); the result indexes x, so the
    gradient is scattered back (and adds up where an element was used twice)."""
    x = as_tensor(x)
    positions = rearrange(np.arange(x.size).reshape(x.shape))
    return reshape(x, -1)[positions]


@register(np.pad)
def pad(x, pad_width, mode="constant", constant_values=0):
    """np.pad with mode 'constant' (constant_values), 'edge', 'reflect', 'symmetric' or 'wrap';
    pad_width as for np.pad: an int, (before, after), or one pair per axis."""
    x = as_tensor(x)
    try:
        widths = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit a tensor of shape "
                         f"{x.shape}") from None
    if widths.dtype.kind not in "iu" or (widths < 0).any():
        raise ValueError(f"pad: pad_width must be non-negative integers, got {pad_width!r}")
    widths = widths.tolist()
    if mode == "constant":
        shape = tuple(n + before + after for n, (before, after) in zip(x.shape, widths))
        inside = tuple(slice(before, before + n) for n, (before, _) in zip(x.shape, widths))
        out = ScatterAdd.apply(x, index=inside, shape=shape)
        if constant_values == 0:
            return out
        border = np.ones(shape, dtype=bool)
        border[inside] = False
        return Where.apply(border, constant_values, out)
    if mode not in ("edge", "reflect", "symmetric", "wrap"):
        raise ValueError(f"pad: mode must be 'constant', 'edge', 'reflect', 'symmetric' or "
                         f"'wrap', got {mode!r}")
    if mode != "edge" and x.size == 0:
        raise ValueError(f"pad: mode {mode!r} cannot pad an empty tensor")
    return _gather(x, lambda at: np.pad(at, widths, mode=mode))


@register(np.repeat, method=True)
def repeat(x, repeats, axis=None):
    """Each element repeated (np.repeat); axis None repeats over the flattened input."""
    x = as_tensor(x)
    if axis is None:
        x, axis = reshape(x, -1), 0
    axis = axis_index(axis, x.ndim, "repeat")
    return _gather(x, lambda at: np.repeat(at, repeats, axis=axis))


@register(np.tile)
def tile(x, reps):
    """x repeated reps times along each axis (np.tile)."""
    return _gather(x, lambda at: np.tile(at, reps))


@register(np.flip)
def flip(x, axis=None):
    """x reversed along axis (an int, a tuple, or None: every axis)."""
    x = as_tensor(x)
    axes = axis_tuple(axis, x.ndim, "flip")
    return x[tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(x.ndim))]


@register(np.roll)
def roll(x, shift, axis=None):
    """Elements shifted along axis, those past the end coming round at the start (np.roll)."""
    return _gather(x, lambda at: np.roll(at, shift, axis))


@register(np.diagonal, method=True)
def diagonal(x, offset=0, axis1=0, axis2=1):
    """The diagonal of the (axis1, axis2) planes as the last axis (np.diagonal)."""
    return _gather(x, lambda at: np.diagonal(at, offset, axis1, axis2))


def _triangle(x, keep, where):
    x = as_tensor(x)
    if x.ndim == 0:
        raise ValueError(f"{where}: input must be at least 1-D")
    n, m = x.shape[-2:] if x.ndim >= 2 else x.shape * 2
    return Where.apply(keep(n, m), x, 0)


@register(np.triu)
def triu(x, k=0):
    """x with the elements below the k-th diagonal (of the last two axes) set to 0."""
    return _triangle(x, lambda n, m: ~np.tri(n, m, k - 1, dtype=bool), "triu")


@register(np.tril)
def tril(x, k=0):
    """x with the elements above the k-th diagonal (of the last two axes) set to 0."""
    return _triangle(x, lambda n, m: np.tri(n, m, k, dtype=bool), "tril")


@register(np.take_along_axis)
def take_along_axis(x, indices, axis=-1):
    """out[..., i, ...] = x[..., indices[..., i, ...], ...] along axis (np.take_along_axis);
    indices an integer Tensor or array."""
    indices = values(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"take_along_axis: indices must be integers, got dtype {indices.dtype}")
    x = as_tensor(x)
    try:
        return _gather(x, lambda at: np.take_along_axis(at, indices, axis))
    except (ValueError, IndexError) as exc:  # NumPy's AxisError is both
        raise type(exc)(f"take_along_axis: indices of shape {indices.shape} along axis {axis} "
                        f"of a tensor of shape {x.shape}: {exc}") from None


@register(np.sort)
def sort(x, axis=-1):
    """x sorted along axis (None: flattened); the gradient follows each element to where it was
    taken from (equal elements keep their order)."""
    x = as_tensor(x)
    order = np.argsort(x.data, axis=axis, kind="stable")
    return take_along_axis(x, order, axis)

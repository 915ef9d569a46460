"""The passes of the lowering: each takes a Block and returns one that computes the same values
with fewer statements or fewer buffers.

They run in the order of PASSES. Each can be switched off by name, `tg.jit(fn,
passes=...)` or the environment variable TINYGRAD_NN_JIT_SKIP=name,name, so that a replay
that differs from eager can be bisected to a pass: the program without any pass is the
recording itself, one statement per noted call.
"""
import numpy as np

from .ir import Statement, follow, layout, overlaps, writes_between
from .recording import Call
from .stand_ins import Scalar, Traced


def reuse_repeats(block):
    """A call repeated on unchanged inputs (x * x's two gradients, the same check twice) is
    made once. Only if the two results stay equal: nothing writes into either later
    (`t *= a; s += t` on two copies of one array), and no view made at capture looks into
    the repeat's own memory, which the replay would no longer fill."""
    viewed = block.viewed()
    statements = block.statements
    seen, kept, alias = {}, [], dict(block.alias)
    for k, statement in enumerate(statements):
        key = _key(statement, lambda array: follow(alias, array))
        if key is not None and key in seen:
            start, previous = seen[key]
            results = list(previous.results) + list(statement.results)
            if not (writes_between(kept[start + 1:], previous.reads + results)
                    or writes_between(statements[k + 1:], results)
                    or any(overlaps(r, viewed) for r in statement.results)):
                for mine, theirs in zip(statement.results, previous.results):
                    if mine is not theirs:
                        alias[id(mine)] = theirs
                continue
        if key is not None:
            seen[key] = (len(kept), statement)
        kept.append(statement)
    return block.but(statements=tuple(kept), alias=alias)


def _key(statement, resolve):
    """What makes two statements the same computation (None: never merged)."""
    call = statement.call
    if statement.kind == "guard":
        return ("guard", _key_of(call.args[0], resolve), call.kwargs["value"])
    if statement.kind != "call" or statement.mask_shape is not None or call.kind == "draw":
        return None
    return (id(call.func), _key_of((call.args, call.kwargs), resolve))


def _key_of(x, resolve):
    if isinstance(x, Traced):
        a = resolve(x.array)  # two views of the same memory are the same value
        return ("array", a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)
    if isinstance(x, (Scalar, np.ndarray)):
        return ("object", id(x))
    if type(x) in (tuple, list):
        return (type(x), tuple(_key_of(v, resolve) for v in x))
    if type(x) is dict:
        return tuple((k, _key_of(v, resolve)) for k, v in x.items())
    return (type(x), repr(x))


def skip_copies(block):
    """A copy whose source and result nothing writes into afterwards (the engine's copy of a
    gradient handed to .grad) becomes the source itself."""
    kept, sources, alias = [], set(), dict(block.alias)
    statements = block.statements
    for k, statement in enumerate(statements):
        call = statement.call
        if statement.kind == "call" and _is_copy(call):
            source = follow(alias, call.args[0].array)
            copy = statement.results[0]
            later = statements[k + 1:]
            if (id(source) not in sources and id(source) not in block.external
                    and source.strides == copy.strides  # the same layout as eager's
                    and not writes_between(later, [source, copy])
                    and not any(overlaps(r, [copy]) and r is not copy
                                for s in later for r in s.reads)
                    and not overlaps(copy, block.viewed())):
                sources.add(id(source))
                alias[id(copy)] = source
                continue
        kept.append(statement)
    return block.but(statements=tuple(kept), alias=alias)


def _is_copy(call):
    return call.func is np.ndarray.copy or (
        call.func is np.ndarray.astype and np.dtype(call.args[1]) == call.args[0].dtype)


def fold_constants(block):
    """A call on constants only (the ones the backward pass starts from, divided by the
    count of a mean, broadcast) keeps the value the capture gave its buffer."""
    written = [w for st in block.statements if st.kind != "create" for w in st.writes]
    constant = [r for st in block.statements if st.kind == "create" for r in st.results
                if not overlaps(r, written)]
    kept, folded = [], []
    for statement in block.statements:
        if (statement.kind == "call" and statement.call.kind != "draw"
                and statement.mask_shape is None and statement.reads
                and all(overlaps(r, constant) for r in statement.reads)
                and not any(overlaps(r, [w for w in written if w is not r])
                            for r in statement.results)):
            constant += statement.results
            folded.append(statement)
            continue
        kept.append(statement)
    return block.but(statements=tuple(kept), folded=block.folded + tuple(folded))


def drop_unused(block):
    """Statements whose results nothing reads (the gradient of an input that needs none) are
    left out, and so is the refill of a constant nothing writes into; writes into arrays that
    live on (parameters, state, the arguments), draws and checks never are."""
    outside = block.outside()
    written = [w for st in block.statements if st.kind != "create" for w in st.writes]
    live = [block.resolve(a) for a in block.kept]
    kept = []
    for statement in reversed(block.statements):
        if statement.kind == "create" and (statement.call.func in UNDEFINED or not any(
                overlaps(r, written) for r in statement.results)):
            continue  # a constant, or np.empty's values, which no code may read
        removable = statement.kind in ("call", "create", "write") and not (
            statement.call.kind == "draw" or statement.mask_shape is not None
            or any(overlaps(w, outside) for w in statement.writes))
        if removable and not any(overlaps(block.resolve(w), live) for w in statement.writes):
            continue
        kept.append(statement)
        live += [block.resolve(r) for r in statement.reads]
    return block.but(statements=tuple(kept[::-1]))


UNDEFINED = {np.empty, np.empty_like}  # their values are undefined: nothing to refill


def share_buffers(block):
    """A buffer whose last reader has run is reused for a later result of its shape, dtype
    and memory layout (a reduction's order follows the layout, so its bits do too), as
    NumPy's allocator reuses freed memory: fewer arrays, warmer caches."""
    keep = [block.resolve(a) for a in block.kept] + list(block.external.values())
    keep += block.bases() + [block.resolve(v) for v in block.viewed()]
    last = {}  # id(array) -> index of the last statement that reads or writes it
    for k, statement in enumerate(block.statements):
        for a in statement.reads + statement.writes:
            last[id(block.resolve(a))] = k
    free, releases, alias = {}, {}, {}
    for k, statement in enumerate(block.statements):
        if statement.kind == "call" and len(statement.results) == 1:
            result = statement.results[0]
            if (id(result) not in block.alias and result.base is None
                    and not overlaps(result, keep)):
                pool = free.get(layout(result))
                shared = result
                if pool:
                    alias[id(result)] = shared = pool.pop()
                releases.setdefault(last.get(id(result), k), []).append(shared)
        for array in releases.pop(k, ()):
            free.setdefault(layout(array), []).append(array)
    return block.but(alias=alias)


# Reductions whose NumPy function is a thin wrapper of a ufunc's reduce.
REDUCTIONS = {np.sum: np.add.reduce, np.max: np.maximum.reduce, np.amax: np.maximum.reduce,
              np.min: np.minimum.reduce, np.amin: np.minimum.reduce,
              np.prod: np.multiply.reduce}


def direct_calls(block):
    """np.sum, np.max, ... become the ufunc reduce they call, and np.mean of floats its own
    two steps (the sum, then a division in place by the count, an intp as NumPy counts): the
    same arithmetic, without NumPy's Python wrappers."""
    statements = []
    for statement in block.statements:
        call = statement.call
        if statement.kind != "call" or len(call.args) != 1 or statement.mask_shape is not None:
            statements.append(statement)
        elif call.func in REDUCTIONS and set(call.kwargs) <= {"axis", "keepdims", "dtype"}:
            axis = call.kwargs.get("axis")
            kwargs = {**call.kwargs, "axis": tuple(axis) if type(axis) is list else axis}
            statements.append(_rewritten(statement, REDUCTIONS[call.func], kwargs))
        elif (call.func is np.mean and set(call.kwargs) <= {"axis", "keepdims"}
                and call.args[0].dtype in (np.float32, np.float64)):
            statements += _mean(statement)
        else:
            statements.append(statement)
    return block.but(statements=tuple(statements))


def _rewritten(statement, func, kwargs):
    call = statement.call
    new = Call("call", func, call.args, kwargs, call.result, call.op)
    return Statement(statement.kind, new, statement.results, statement.reads, statement.writes)


def _mean(statement):
    call = statement.call
    source = call.args[0].array
    axis = call.kwargs.get("axis")
    axis = axis if axis is None or isinstance(axis, int) else tuple(axis)
    axes = range(source.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
    count = np.intp(np.prod([source.shape[a] for a in axes], dtype=np.intp))
    total = _rewritten(statement, np.add.reduce,
                       {"axis": axis, "keepdims": call.kwargs.get("keepdims", False)})
    result = call.result
    divide = Call("call", np.true_divide, (result, count), {"out": (result,),
                                                            "casting": "unsafe"}, None, call.op)
    return [total, Statement("write", divide, (), [result.array], [result.array])]


# The pipeline, in order: name -> pass.
PASSES = {"reuse_repeats": reuse_repeats, "skip_copies": skip_copies,
          "fold_constants": fold_constants, "drop_unused": drop_unused,
          "share_buffers": share_buffers, "direct_calls": direct_calls}


def run_passes(block, names):
    """block through the passes named in `names`, in the pipeline's order."""
    for name, transform in PASSES.items():
        if name in names:
            block = transform(block)
    return block

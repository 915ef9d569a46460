"""From a Recording to a Block: one statement per noted call that computes something.

A call whose result is a view of its input (a transpose, a reshape) gets no statement: the view
made at capture looks into the right buffer on every replay. The arrays that come from outside
are the input buffers: the arguments, and two values read anew on each call, each copied into a
buffer of its own (views of it made again): a `.grad` that the step adds into (gradients
accumulated across calls) and the array of a tensor whose `.data` the step rebinds
(`p.data = p.data - lr * p.grad.data`).
"""
import numpy as np

from .ir import Block, Statement
from .stand_ins import Traced, unwrap
from .transaction import _DATA, _GRAD


def dynamic_inputs(rec):
    """[(array read at capture, source)] for the values read anew on each call: ("grad", t)
    for the .grad of t that the step read and added into, ("data", t) for the array of a
    tensor whose .data the step rebinds."""
    found = []
    for t, (first, grad) in rec.grads.items():
        if first == "read" and grad is not None and id(t) not in rec.born:
            array = _DATA.__get__(grad)
            if id(array) in rec.external:
                found.append((array, ("grad", t)))
    for t, array in rec.rebinds.items():
        if id(array) in rec.external:
            found.append((array, ("data", t)))
    return found


def build(rec, inputs, outputs):
    """The Block of a recording: `inputs` the arguments' stand-ins, `outputs` the returned
    ones."""
    dynamic = dynamic_inputs(rec)
    external = {k: t.array for k, t in rec.external.items()}
    alias, statements = {}, []
    for k, traced in enumerate(inputs):
        statements.append(Statement("input", None, (traced.array,), (), (traced.array,),
                                    ("argument", k)))
    for array, source in dynamic:
        buffer = np.empty_like(array)  # the same memory layout
        del external[id(array)]
        alias[id(array)] = buffer
        statements.append(Statement("input", None, (buffer,), (), (buffer,), source))
    views = []
    for call in rec.calls:
        _add_statement(call, statements, views)
    block = Block(tuple(statements), alias, tuple(views), external,
                  tuple(kept_after(rec, outputs)),
                  tuple(s.results[0] for s in statements if s.kind == "input"))
    return _views_of_inputs(block) if dynamic else block


def _add_statement(call, statements, views):
    """Append the statement of a noted call (none for a view, nor for a constant)."""
    kind, args, kwargs, result = call.kind, call.args, call.kwargs, call.result
    if kind == "guard":
        stand_in = args[0]
        if isinstance(stand_in, Traced):  # (a Scalar is checked at the start)
            if call.kwargs["check"] == "shape":
                statements[-1].mask_shape = call.kwargs["value"]
            else:
                statements.append(Statement("guard", call, (), (stand_in.array,)))
        return
    reads = [t.array for t in traced_in((args, {k: v for k, v in kwargs.items() if k != "out"}))]
    if kind == "setitem" or result is None:
        out = args[0] if kind == "setitem" or "out" not in kwargs else kwargs["out"]
        targets = [t.array for t in (out if type(out) is tuple else (out,))]
        if kind == "setitem" or "where" in kwargs or "out" not in kwargs:
            reads += targets  # a partial write keeps the rest of the target
        statements.append(Statement("write", call, (), reads, targets))
        return
    results = tuple(r.array for r in (result if type(result) in (tuple, list) else (result,)))
    if all(_is_view(r, reads) for r in results):  # views (a transpose, np.split's parts)
        for r in results:
            views.append((r, call, next(a for a in reads if np.may_share_memory(r, a))))
        return
    statements.append(Statement("create" if kind == "create" else "call", call, results,
                                reads, results))


def _views_of_inputs(block):
    """Views made at capture of an array that became an input buffer are made again, of the
    buffer."""
    alias = dict(block.alias)
    for view, call, _ in block.views:
        args = _resolved(call.args, block.but(alias=alias))
        kwargs = _resolved(call.kwargs, block.but(alias=alias))
        again = call.func(*args, **kwargs)
        if type(again) in (tuple, list):  # the part of np.split's result that `view` is
            again = again[[r.array for r in call.result].index(view)]
        if again is not view and not np.may_share_memory(again, view):
            alias[id(view)] = again
    return block.but(alias=alias)


def _resolved(x, block):
    if isinstance(x, Traced):
        return block.resolve(x.array)
    if type(x) in (tuple, list):
        return type(x)(_resolved(v, block) for v in x)
    if type(x) is dict:
        return {k: _resolved(v, block) for k, v in x.items()}
    return unwrap(x)


def kept_after(rec, outputs):
    """The arrays read after the last statement: outputs, gradients, rebound state, the new
    arrays of rebound tensors."""
    kept = [t.array for t in outputs] + [t.array for _, t in rec.rebound]
    for t in rec.grads:
        grad = _GRAD.__get__(t)
        if grad is not None and isinstance(_DATA.__get__(grad), Traced):
            kept.append(_DATA.__get__(grad).array)
    for t in rec.rebinds:
        data = _DATA.__get__(t)
        kept.append(data.array if isinstance(data, Traced) else data)
    return kept


def traced_in(x):
    if isinstance(x, Traced):
        yield x
    elif type(x) in (tuple, list):
        for v in x:
            yield from traced_in(v)
    elif type(x) is dict:
        for v in x.values():
            yield from traced_in(v)


def _is_view(array, inputs):
    """True if `array` shares memory with one of the call's input arrays."""
    return array.base is not None and any(np.may_share_memory(array, a) for a in inputs)

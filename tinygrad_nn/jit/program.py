"""The replay: a Recording lowered through the passes to one generated Python function.

    def replay(a0, a1):
        <checks: anything the step reached that changed means a new capture: return MISS>
        <numbers read anew (s0 = SGD.lr), values read anew (t3.grad.data)>
        copyto(x0, a0)                      # the arguments into their buffers
        matmul(x0, p0, out=b0)              # one line per statement of the Block
        ...
        <write-backs: .grad, step counters, version counts, p.data>
        return (b9.copy(),)

A check in the middle (a branch on a value) that fails puts back what the replay changed
outside the step so far (random generators, parameters), and returns MISS: the call is then
captured anew, as an eager run. `Program.plan` is the same program for people to read.
"""
import numpy as np

from ..tensor import Tensor, _default, count_write
from . import guards
from .build import build, dynamic_inputs
from .emit import Names, statement_line
from .ir import overlaps
from .passes import run_passes
from .plan import render_plan
from .stand_ins import Scalar, Traced
from .transaction import _DATA, _GRAD

MISS = object()  # what a replay returns when a check says: capture anew


class Program:
    """The lowered recording: `replay(*arrays)` runs it (MISS if a check fails, else the
    output arrays, fresh); `plan` describes it; `rebuild` makes the returned structure;
    `block` is the Block it was generated from, `source` the generated code."""

    def __init__(self, rec, inputs, outputs, reached, title, passes):
        self.block = block = run_passes(build(rec, inputs, outputs), passes)
        self.namespace = {"copyto": np.copyto, "MISS": MISS, "count_write": count_write}
        names = Names(block, self.namespace)
        for buffer in block.inputs:
            names.name(buffer, "x")
        self.checked = []  # what the checks at the start look at, for the plan
        prelude = (_structure_check(rec, names, self.checked)
                   + _identity_checks(rec, reached, names, self.checked))
        scalars = _scalar_checks(rec, names, self.checked)
        body, rows, counts, undo = _body(block, names)
        self.after = []    # what a replay updates besides arrays, for the plan
        epilogue = _write_back(rec, block, names, self.after)
        self.inputs_written = _inputs_written(block, len(inputs))
        epilogue += [f"copyto(a{k}, {names.name(block.inputs[k], 'x')})"
                     for k in self.inputs_written]
        results = [names.array(t.array) for t in outputs]
        epilogue.append(f"return ({''.join(r + '.copy(), ' for r in results)})")
        lines = (prelude + names.scalar_lines + scalars + _dynamic_inputs(rec, block, names)
                 + undo + body + epilogue)
        arguments = ", ".join(f"a{k}" for k in range(len(inputs)))
        self.source = f"def replay({arguments}):\n" + "".join(f"    {x}\n" for x in lines)
        exec(compile(self.source, "<tg.jit replay>", "exec"), self.namespace)
        self.replay = self.namespace["replay"]
        self.kept = names.kept
        self.plan = render_plan(title, self.checked, names, rows, self.after, block, counts)
        self.rebuild = None


def _structure_check(rec, names, checked):
    """One number compared on each call; the structures of the modules reached compared only
    after a Module attribute was set somewhere."""
    modules = [(m, s) for m, s in rec.modules.items() if s is not None]
    if not modules:
        return []
    seen = [-1]  # the structure-change count the structures were last found unchanged at

    def unchanged():
        if guards.structures_unchanged(modules):
            seen[0] = guards.changes()
            return True
        return False
    checked.append(f"the structure of {len(modules)} modules (attributes, train/eval mode, "
                   f"parameters, sub-modules, buffers) is the same")
    return [f"if {names.name(guards._changes, 'k')}[0] != {names.name(seen, 'k')}[0] and not "
            f"{names.name(unchanged, 'f')}(): return MISS"]


def _identity_checks(rec, reached, names, checked):
    """One `if` over the objects reached: the same objects, the same arrays, the same state."""
    conditions = []
    for container, key, value, _ in reached.items:
        got = (f"{names.name(container, 'h')}.get({key!r})" if key is not None
               else f"{names.name(container, 'k')}.cell_contents")
        conditions.append(f"{got} is not {names.name(value, 'k')}")
    if reached.items:
        checked.append("the same " + ", ".join(label for *_, label in reached.items))
    rebound = {id(t) for t in rec.rebinds}  # (their arrays are read anew: dynamic inputs)
    read_anew = {id(a) for a, _ in dynamic_inputs(rec)}  # (and the .grad added into)
    tensors = [(t, a) for t, (a, _) in rec.tensors.items() if id(t) in rebound
               or _DATA.__get__(t) is a and id(a) not in read_anew]
    for t, array in tensors:
        name = names.name(t, "t")
        if id(t) not in rebound:
            conditions.append(f"{name}.data is not {names.name(array, 'p')}")
        conditions.append(f"{name}.requires_grad is not {t.requires_grad}")
    if tensors:
        checked.append(f"{len(tensors)} tensors hold the same arrays, and require grad or not "
                       f"as before")
    conditions += _optimizer_conditions(rec, names, checked)
    empty = [t for t, (first, grad) in rec.grads.items()
             if first == "read" and grad is None and id(t) not in rec.born]
    conditions += [f"{names.name(t, 't')}.grad is not None" for t in empty]
    if empty:
        checked.append(f"{len(empty)} .grad are still None")
    conditions.append(f"{names.name(_default, 'h')}['dtype'] is not "
                      f"{names.name(_default['dtype'], 'k')}")
    checked.append(f"the default dtype is {_default['dtype']}")
    return ["if " + " or ".join(conditions) + ": return MISS"]


def _optimizer_conditions(rec, names, checked):
    conditions = []
    for optimizer, reads in rec.optimizers.items():
        o = names.name(optimizer, "o")
        kind = type(optimizer).__name__
        ids = [id(p) for p in optimizer.params]
        names.kept.append(tuple(optimizer.params))  # alive, so that no other object takes an id
        conditions.append(f"[*map(id, {o}.params)] != {names.name(ids, 'k')}")
        if optimizer in rec.stepped:
            conditions.append(f"{o}.state is not {names.name(optimizer.state, 'h')}")
        conditions += [f"{o}.{name} != {value!r}" for name, value in reads.items()]
        checked.append(f"{kind}'s parameter list" + (" and state" if optimizer in rec.stepped
                                                     else "")
                       + "".join(f", {kind}.{name} == {value!r}" for name, value in
                                 reads.items()))
    return conditions


def _scalar_checks(rec, names, checked):
    """The branches the code took on hyperparameters and counters (`if momentum:`)."""
    lines = []
    for call in rec.calls:
        if call.kind == "guard" and isinstance(call.args[0], Scalar):
            value, expected = names.scalar(call.args[0]), call.kwargs["value"]
            if call.kwargs["check"] == "bool":  # a truth test, as the code made it
                line = f"if {'not ' if expected else ''}{value}: return MISS"
            else:
                line = f"if {value} != {expected!r}: return MISS"
            if line not in lines:
                lines.append(line)
                source = call.args[0].source
                shown = source[3] if source is not None else value
                checked.append(f"bool({shown}) is {expected}" if call.kwargs["check"] == "bool"
                               else f"{shown} == {expected!r}")
    return lines


def _dynamic_inputs(rec, block, names):
    """The values read anew on each call (a .grad added into, the array of a rebound tensor):
    each must have the layout of the capture's, and is copied into its buffer."""
    lines = []
    buffers = iter(s.results[0] for s in block.statements if s.kind == "input"
                   and s.source[0] != "argument")
    for array, (kind, t) in dynamic_inputs(rec):
        buffer = next(buffers)
        value = f"{names.name(t, 't')}.{kind}"
        lines.append(f"d = {value}")
        if kind == "grad":
            lines += ["if d is None: return MISS", "d = d.data"]
        lines.append(f"if d.shape != {array.shape!r} or d.dtype is not "
                     f"{names.name(array.dtype, 'k')} or d.strides != {array.strides!r}: "
                     f"return MISS")
        lines.append(f"copyto({names.name(buffer, 'x')}, d)")
        names.sources.append(f"{names.name(buffer, 'x')} = {value}" + (".data" if kind == "grad"
                                                                        else ""))
    return lines


def _body(block, names):
    """(lines, plan rows, counts, undo lines) of the statements. What a check in the middle
    may have to put back is saved first: the generators drawn from and the arrays outside the
    step written before the last check."""
    statements = [s for s in block.statements if s.kind != "input" or s.source[0] == "argument"]
    guarded = [k for k, s in enumerate(statements)
               if s.kind == "guard" or s.mask_shape is not None]
    undo, restore = _undo(statements[:guarded[-1]] if guarded else [], block, names)
    lines, rows, counts = [], [], {"input": 0, "call": 0, "guard": 0}
    changed = False  # outside the step: a generator drawn from, a parameter written
    for statement in statements:
        call = statement.call
        on_failure = (restore if changed else "") + "return MISS"
        if statement.kind == "input":
            name = names.name(statement.results[0], "x")
            line, shown, kind = f"copyto({name}, a{statement.source[1]})", (
                f"copyto({name}, argument)"), "input"
        elif statement.kind == "guard":
            name, value = names.array(statement.reads[0]), call.kwargs["value"]
            line, shown, kind = (f"if bool({name}) is not {value}: {on_failure}",
                                 f"check bool({name}) is {value}", "guard")
        else:
            line, shown = statement_line(names, statement)
            kind = "call"
            if statement.mask_shape is not None:  # the selection's size is checked first
                lines.append(f"if {line.split(' = ', 1)[1]}.shape != "
                             f"{statement.mask_shape!r}: {on_failure}")
                shown += f", its shape checked to be {statement.mask_shape}"
        changed = changed or call is not None and call.kind == "draw" or any(
            overlaps(w, block.external.values()) for w in statement.writes)
        lines.append(line)
        counts[kind] += 1
        result = statement.results[0] if statement.results else None
        rows.append(("(input)" if call is None else call.op, shown, result))
    return lines, rows, counts, undo


def _undo(statements, block, names):
    """(lines that save, at the start, what `statements` change outside the step; the source
    that puts it back)."""
    generators, arrays = [], []
    for statement in statements:
        if statement.call is not None and statement.call.kind == "draw":
            generator = statement.call.func.__self__
            if all(g is not generator for g in generators):
                generators.append(generator)
        arrays += [a for a in block.external.values() if overlaps(a, statement.writes)
                   and all(a is not b for b in arrays)]
    save, restore = [], []
    for k, generator in enumerate(generators):
        g = names.name(generator, "k")
        if isinstance(generator, np.random.Generator):
            save.append(f"u{k} = {g}.bit_generator.state")
            restore.append(f"{g}.bit_generator.state = u{k}")
        else:
            save.append(f"u{k} = {g}.get_state()")
            restore.append(f"{g}.set_state(u{k})")
    for array in arrays:
        p, saved = names.array(array), names.name(np.empty_like(array), "k")
        save.append(f"copyto({saved}, {p})")
        restore.append(f"copyto({p}, {saved})")
    return save, "".join(line + "; " for line in restore)


def _write_back(rec, block, names, after):
    """What a replay sets after its calls, as the step did: step counters, rebound optimizer
    state, .grad, p.data, train/eval modes, version counts."""
    lines = [f"{names.name(entry, 'h')}[{name!r}] = {names.scalar(scalar)}"
             for entry, name, scalar in rec.counters]
    if rec.counters:
        after.append(f"{len(rec.counters)} step counters")
    lines += [f"copyto({names.array(array)}, {names.array(traced.array)})"
              for array, traced in rec.rebound]
    grads = _grad_write_back(rec, block, names)
    if grads:
        after.append(f"{len(grads)} .grad")
    lines += grads
    for t in rec.rebinds:
        data = _DATA.__get__(t)
        final = block.resolve(data.array if isinstance(data, Traced) else data)
        value = names.array(final)
        lines.append(f"{names.name(t, 't')}.data = " + (
            value if id(final) in block.external else f"{value}.copy(order='K')"))
    if rec.rebinds:
        after.append(f"{len(rec.rebinds)} .data (p.data = ... in the step)")
    lines += _mode_write_back(rec, names, after)
    # each in-place write of the capture is counted again, as the engine counts it (a
    # backward through a graph that saved the old values then raises, as eagerly)
    written = tuple(t for t, (_, version) in rec.tensors.items()
                    for _ in range(t._version - version))
    if written:
        lines.append(f"for t in {names.name(written, 'k')}: count_write(t)")
        after.append(f"{len(written)} version counts")
    return lines


def _grad_write_back(rec, block, names):
    lines = []
    for t, (first, original) in rec.grads.items():
        if id(t) in rec.born:
            continue
        grad = _GRAD.__get__(t)
        if grad is None:
            if not (first == "read" and original is None):
                lines.append(f"{names.name(t, 't')}.grad = None")
        elif isinstance(_DATA.__get__(grad), Traced):
            # one Tensor for each call's gradient, as PyTorch keeps one .grad
            array = block.resolve(_DATA.__get__(grad).array)
            lines.append(f"{names.name(t, 't')}.grad = "
                         f"{names.name(Tensor._make(array, None), 'g')}")
        elif grad is not original:
            lines.append(f"{names.name(t, 't')}.grad = {names.name(grad, 'g')}")
    return lines


def _mode_write_back(rec, names, after):
    """train()/eval() inside the step: the modes it leaves are set again."""
    lines = []
    for module, structure in rec.modules.items():
        if structure is None:
            continue
        before = dict(structure).get("training")
        now = object.__getattribute__(module, "__dict__").get("training")
        if before is not now:
            lines.append(f"{names.name(module, 'm')}.training = {now}")
    if lines:
        after.append(f"{len(lines)} train/eval modes")
    return lines


def _inputs_written(block, count):
    """The arguments the step changed in place (copied back to the caller's arrays)."""
    written = [w for s in block.statements if s.kind != "input" for w in s.writes]
    return [k for k in range(count) if overlaps(block.inputs[k], written)]

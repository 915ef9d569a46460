"""Lowering: a Recording becomes one flat Python function over buffers allocated once.

Every array the capture made is kept and becomes a buffer: a replay writes each result into the
same array again (`out=` where NumPy takes one, else a copy into it), so views made during the
capture (a transpose, a reshape) stay views of the right memory and cost nothing on replay.
Arrays that live outside the step (parameters, optimizer state, module buffers) are used in
place. Before any line is written the calls are made fewer: a repeat on unchanged inputs is
made once, a copy nothing writes into afterwards is skipped, calls on constants keep their
capture's value, results nothing reads are dropped, and a buffer whose last reader has run is
reused for a later result of the same layout.

What the capture read as Python values becomes checks: the arrays of tensors, optimizer state,
train/eval modes, `.grad` being empty and hyperparameter branches are checked at the start of a
replay (a change means a new capture); a branch on an array's value is checked where it
happened (a new capture too if nothing outside the step has changed yet, else GuardFailed).

The function is generated as Python source, one line per NumPy call, and compiled: the replay
pays for nothing but the NumPy calls. `Program.plan` is the same program for people to read.
"""
import functools
import operator
import textwrap

import numpy as np

from ..tensor import count_write
from ..tensor import Tensor
from .recording import Scalar, Traced, name_of

MISS = object()  # what a replay returns when a check at its start says: capture anew

# NumPy functions whose result can be written into a given array with out=.
WITH_OUT = {np.sum, np.mean, np.max, np.amax, np.min, np.amin, np.var, np.std, np.prod,
            np.dot, np.clip, np.cumsum, np.around, np.take, np.concatenate, np.stack,
            np.argmax, np.argmin, np.einsum, np.matmul}
# Ufuncs that warn when out is given by position.
NO_POSITIONAL = {np.maximum, np.minimum}
# Reductions whose NumPy function is a thin wrapper of a ufunc's reduce.
REDUCTIONS = {np.sum: np.add.reduce, np.max: np.maximum.reduce, np.amax: np.maximum.reduce,
              np.min: np.minimum.reduce, np.amin: np.minimum.reduce,
              np.prod: np.multiply.reduce}
# Generator methods that fill a given array (same draws as making a new one).
DRAWS_WITH_OUT = {"random", "standard_normal", "standard_exponential"}
# Fresh constant arrays, refilled on replay (only if the program writes into them).
FILLS = {np.zeros: 0, np.zeros_like: 0, np.ones: 1, np.ones_like: 1}
UNDEFINED = {np.empty, np.empty_like}  # their values are undefined: nothing to refill
SYMBOLS = {operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/",
           operator.floordiv: "//", operator.mod: "%", operator.pow: "**", operator.lt: "<",
           operator.le: "<=", operator.gt: ">", operator.ge: ">=", operator.eq: "==",
           operator.ne: "!="}
UNARY = {operator.neg: "-", operator.pos: "+"}


class GuardFailed(RuntimeError):
    """A replay met a value that makes the code take another branch than at capture."""


def guard_failed(op, check):
    raise GuardFailed(
        f"tg.jit replay: {op} branched on a value ({check}) that differs from the capture; "
        f"the replay cannot take the other branch. This call's updates are incomplete: call "
        f"step.reset() and run this step without tg.jit (or fix the cause, e.g. a loss that "
        f"became inf or NaN).")


def _shape_text(array):
    return f"{tuple(array.shape)} {array.dtype}"


class Statement:
    """One line of the program: `kind` is "input" (copy an argument in), "call" (fresh results
    into their buffers), "write" (into arrays the code named: out=, setitem, ufunc.at),
    "create" (refill a constant buffer the program writes into) or "guard"."""
    __slots__ = ("kind", "call", "results", "reads", "writes", "mask_shape")

    def __init__(self, kind, call, results=(), reads=(), writes=()):
        self.kind, self.call, self.results = kind, call, results
        self.reads, self.writes, self.mask_shape = list(reads), list(writes), None


class Program:
    """The lowered recording: `replay(*arrays)` runs it (MISS if a check at its start fails,
    else the output arrays, fresh); `plan` describes it."""

    def __init__(self, rec, inputs, outputs, title):
        self.names = {}          # id(array or object) -> name in the generated code
        self.numbers = {}        # prefix -> the last number given
        self.external = rec.external
        self.namespace = {"copyto": np.copyto, "MISS": MISS, "count_write": count_write,
                          "guard_failed": guard_failed}
        self.kept = []           # keeps every named object alive (ids stay unique)
        self.scalars = {}        # id(Scalar) -> variable name
        self.alias = {}          # id(array) -> the array used instead (a copy or repeat saved)
        self.prelude, self.body, self.epilogue = [], [], []
        self.plan_lines, self.views, self.view_ids = [], [], set()
        self.folded = []         # statements computed once, at capture
        self.sources = []        # "s0 = SGD.lr": the numbers read anew on each replay
        self.checked = []        # what the checks at the start of a replay look at
        self.after = []          # what a replay updates besides arrays
        self.counts = {"input": 0, "call": 0, "guard": 0}
        for traced in inputs:
            self._name(traced.array, "x")
        statements = [Statement("input", k, (t.array,), (), (t.array,))
                      for k, t in enumerate(inputs)]
        for call in rec.calls:
            self._statement(call, statements)
        kept_arrays = self._kept_by_epilogue(rec, outputs)
        statements = self._reuse_repeats(statements)
        statements = self._skip_copies(statements)
        statements = self._fold_constants(statements)
        statements = self._drop_unused(statements, kept_arrays, [t.array for t in inputs])
        self._share_buffers(statements, kept_arrays)
        self._checks(rec)
        self.outside = [t.array for t in self.external.values()]
        self.changed_outside = False  # by the statements emitted so far: draws, writes
        for statement in statements:
            self._emit(statement)
        self._write_back(rec)
        # an argument the function changed in place is changed for the caller too
        written = [w for st in statements if st.kind != "input" for w in st.writes]
        self.inputs_written = [k for k, t in enumerate(inputs) if _overlaps(t.array, written)]
        self.epilogue += [f"copyto(a{k}, {self._name(inputs[k].array, 'x')})"
                          for k in self.inputs_written]
        results = [self._array_name(self._resolve(t.array)) for t in outputs]
        self.epilogue.append(f"return ({''.join(r + '.copy(), ' for r in results)})")
        arguments = ", ".join(f"a{k}" for k in range(len(inputs)))
        lines = self.prelude + self.body + self.epilogue
        self.source = f"def replay({arguments}):\n" + "".join(f"    {line}\n" for line in lines)
        exec(compile(self.source, "<tg.jit replay>", "exec"), self.namespace)
        self.replay = self.namespace["replay"]
        self.plan = self._plan(title)

    # ------------------------------------------------------------------ names
    def _name(self, obj, prefix):
        """The name of `obj` in the generated code; a new one (prefix and a number) if it has
        none yet."""
        name = self.names.get(id(obj))
        if name is None:
            number = self.numbers[prefix] = self.numbers.get(prefix, -1) + 1
            name = self.names[id(obj)] = f"{prefix}{number}"
            self.namespace[name] = obj
            self.kept.append(obj)
        return name

    def _resolve(self, array):
        """The array used for `array` (a copy skipped, a repeat saved, a buffer shared)."""
        while id(array) in self.alias:
            array = self.alias[id(array)]
        return array

    def _array_name(self, array):
        """The name of an array: p for one used in place, v for a view made at capture, c for
        a constant."""
        array = self._resolve(array)
        prefix = "p" if id(array) in self.external else "v" if id(array) in self.view_ids else "c"
        return self._name(array, prefix)

    def _expr(self, x):
        """Python source for an argument of a call."""
        if isinstance(x, Traced):
            return self._array_name(x.array)
        if isinstance(x, Scalar):
            return self._scalar(x)
        if isinstance(x, np.ndarray):
            return self._name(x, "c")
        if type(x) is tuple:
            return "(" + "".join(self._expr(v) + ", " for v in x) + ")"
        if type(x) is list:
            return "[" + ", ".join(self._expr(v) for v in x) + "]"
        if x is None or x is Ellipsis or type(x) in (bool, int, str) or (
                type(x) is float and np.isfinite(x)) or type(x) is slice and all(
                v is None or type(v) is int for v in (x.start, x.stop, x.step)):
            return repr(x)
        return self._name(x, "k")

    def _args(self, args, kwargs):
        parts = [self._expr(a) for a in args]
        for k, v in kwargs.items():
            if k == "out" and type(v) is tuple and len(v) == 1:
                v = v[0]  # out=(b0,) as out=b0
            parts.append(f"{k}={self._expr(v)}")
        return ", ".join(parts)

    def _scalar(self, s):
        """A variable of the prelude that holds the Scalar's value on each replay."""
        name = self.scalars.get(id(s))
        if name is not None:
            return name
        if s.source is not None:
            container, key, item, label = s.source
            text = f"{self._name(container, 'h')}[{key!r}]" + ("" if item is None else
                                                                  f"[{item}]")
        elif s.func in SYMBOLS:
            a, b = (self._expr(v) for v in s.args)
            text = f"({a}) {SYMBOLS[s.func]} ({b})"
        elif s.func in UNARY:
            text = f"{UNARY[s.func]}({self._expr(s.args[0])})"
        elif s.func is operator.getitem:
            text = f"{self._expr(s.args[0])}[{s.args[1]}]"
        else:
            text = f"{self._name(s.func, 'f')}({self._args(s.args, {})})"
        name = self.scalars[id(s)] = f"s{len(self.scalars)}"
        self.kept.append(s)
        self.prelude.append(f"{name} = {text}")
        if s.source is not None:
            self.sources.append(f"{name} = {label}")
        return name

    # ------------------------------------------------------------------ checks at the start
    def _checks(self, rec):
        conditions = []
        for tensor, (array, _) in rec.tensors.items():
            if Tensor.__dict__["data"].__get__(tensor) is array:
                conditions.append(f"{self._name(tensor, 't')}.data is not "
                                  f"{self._name(array, 'p')}")
        if conditions:
            self.checked.append(f"{len(conditions)} tensors hold the same arrays")
        for optimizer, state in rec.optimizer_states.items():
            conditions.append(f"{self._name(optimizer, 'o')}.state is not "
                              f"{self._name(state, 'h')}")
        for module, training in rec.modules.items():
            conditions.append(f"{self._name(module, 'm')}.training is not {training}")
        if rec.modules:
            self.checked.append(f"{len(rec.modules)} modules are in the same train/eval mode")
        empty = sum(1 for t, first in rec.grad_first.items()
                    if first == ("read", None) and id(t) not in rec.born)
        if empty:
            self.checked.append(f"{empty} .grad are still None")
        for tensor, first in rec.grad_first.items():
            if first[0] == "read" and id(tensor) not in rec.born:
                # the step read .grad as it was: None, or a gradient made before the call
                grad = "None" if first[1] is None else self._name(first[1], "g")
                conditions.append(f"{self._name(tensor, 't')}.grad is not {grad}")
        if conditions:
            self.prelude.append("if " + " or ".join(conditions) + ": return MISS")
        for call in rec.calls:
            if call.kind == "guard" and isinstance(call.args[0], Scalar):
                value = self._scalar(call.args[0])
                expected = call.kwargs["value"]
                if call.kwargs["check"] == "bool":  # a truth test, as the code made it
                    line = f"if {'not ' if expected else ''}{value}: return MISS"
                else:
                    line = f"if {value} != {expected!r}: return MISS"
                if line not in self.prelude:
                    self.prelude.append(line)
                    scalar = call.args[0]
                    shown = scalar.source[3] if scalar.source is not None else value
                    self.checked.append(f"bool({shown}) is {expected}"
                                        if call.kwargs["check"] == "bool"
                                        else f"{shown} == {expected!r}")

    # ------------------------------------------------------------------ statements
    def _statement(self, call, statements):
        """Append the statement of a noted call (none for a view, nor for a constant)."""
        kind, func, args, kwargs, result = (call.kind, call.func, call.args, call.kwargs,
                                            call.result)
        if kind == "guard":
            stand_in = args[0]
            if not isinstance(stand_in, Traced):
                return  # a Scalar: checked at the start
            if call.kwargs["check"] == "shape":
                statements[-1].mask_shape = call.kwargs["value"]
            else:
                statements.append(Statement("guard", call, (), (stand_in.array,)))
            return
        reads = [t.array for t in _traced_in((args, {k: v for k, v in kwargs.items()
                                                      if k != "out"}))]
        if kind == "setitem" or result is None:
            out = args[0] if kind == "setitem" or "out" not in kwargs else kwargs["out"]
            targets = [t.array for t in (out if type(out) is tuple else (out,))]
            if kind == "setitem" or "where" in kwargs or "out" not in kwargs:
                reads += targets  # a partial write keeps the rest of the target
            statements.append(Statement("write", call, (), reads, targets))
            return
        results = tuple(r.array for r in (result if type(result) is tuple else (result,)))
        if len(results) == 1 and _is_view(results[0], reads):
            base = next(a for a in reads if np.may_share_memory(results[0], a))
            self.views.append((results[0], func, base))
            self.view_ids.add(id(results[0]))
            return
        statements.append(Statement("create" if kind == "create" else "call", call, results,
                                    reads, results))

    def _kept_by_epilogue(self, rec, outputs):
        """The arrays read after the last statement: outputs, gradients, rebound state."""
        kept = [t.array for t in outputs] + [t.array for _, t in rec.rebound]
        for tensor in rec.grad_first:
            grad = Tensor.__dict__["grad"].__get__(tensor)
            if grad is not None and isinstance(Tensor.__dict__["data"].__get__(grad), Traced):
                kept.append(Tensor.__dict__["data"].__get__(grad).array)
        return kept

    def _writes_between(self, statements, start, stop, arrays):
        return any(_overlaps(w, arrays) for s in statements[start:stop] for w in s.writes)

    def _reuse_repeats(self, statements):
        """A call repeated on unchanged inputs (x * x's two gradients, the same check twice)
        is made once. Only if the two results stay equal: nothing writes into either later
        (`t *= a; s += t` on two copies of one array), and no view made at capture looks into
        the repeat's own memory, which the replay would no longer fill."""
        viewed = [v for v, _, _ in self.views]
        seen, kept = {}, []
        for k, statement in enumerate(statements):
            key = self._key(statement)
            if key is not None and key in seen:
                start, previous = seen[key]
                results = list(previous.results) + list(statement.results)
                if not (self._writes_between(kept, start + 1, len(kept),
                                             previous.reads + results)
                        or self._writes_between(statements, k + 1, len(statements), results)
                        or any(_overlaps(r, viewed) for r in statement.results)):
                    for mine, theirs in zip(statement.results, previous.results):
                        self.alias[id(mine)] = theirs
                    continue
            if key is not None:
                seen[key] = (len(kept), statement)
            kept.append(statement)
        return kept

    def _key(self, statement):
        call = statement.call
        if statement.kind == "guard":
            return ("guard", self._key_of(call.args[0]), call.kwargs["value"])
        if statement.kind != "call" or statement.mask_shape is not None:
            return None
        return (id(call.func), self._key_of((call.args, call.kwargs)))

    def _key_of(self, x):
        if isinstance(x, Traced):
            a = self._resolve(x.array)  # two views of the same memory are the same value
            return ("array", a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)
        if isinstance(x, (Scalar, np.ndarray)):
            return ("object", id(x))
        if type(x) in (tuple, list):
            return (type(x), tuple(self._key_of(v) for v in x))
        if type(x) is dict:
            return tuple((k, self._key_of(v)) for k, v in x.items())
        return (type(x), repr(x))

    def _skip_copies(self, statements):
        """A copy whose source and result nothing writes into afterwards (the engine's copy of
        a gradient handed to .grad) becomes the source itself."""
        result, sources = [], set()
        for k, statement in enumerate(statements):
            call = statement.call
            if statement.kind == "call" and (call.func is np.ndarray.copy or (
                    call.func is np.ndarray.astype
                    and np.dtype(call.args[1]) == call.args[0].dtype)):
                source = self._resolve(call.args[0].array)
                copy = statement.results[0]
                if copy is source:  # astype(same dtype, copy=False) made no copy at all
                    continue
                later = statements[k + 1:]
                if (id(source) not in sources and id(source) not in self.external
                        and source.strides == copy.strides  # the same layout as eager's
                        and not self._writes_between(later, 0, len(later), [source, copy])
                        and not any(_overlaps(r, [copy]) and r is not copy
                                    for s in later for r in s.reads)
                        and not any(np.may_share_memory(v, copy) for v, _, _ in self.views)):
                    sources.add(id(source))
                    self.alias[id(copy)] = source
                    continue
            result.append(statement)
        return result

    def _fold_constants(self, statements):
        """A call on constants only (the ones the backward pass starts from, divided by the
        count of a mean, broadcast) keeps the value the capture gave its buffer."""
        written = [w for st in statements if st.kind != "create" for w in st.writes]
        constant = [r for st in statements if st.kind == "create" for r in st.results
                    if not _overlaps(r, written)]
        kept = []
        for statement in statements:
            if (statement.kind == "call" and statement.call.kind != "draw"
                    and statement.mask_shape is None and statement.reads
                    and all(_overlaps(r, constant) for r in statement.reads)
                    and not any(_overlaps(r, [w for w in written if w is not r])
                                for r in statement.results)):
                constant += statement.results
                self.folded.append(statement)
                continue
            kept.append(statement)
        return kept

    def _drop_unused(self, statements, kept_arrays, inputs):
        """Statements whose results nothing reads (the gradient of an input that needs none)
        are left out, and so is the refill of a constant nothing writes into; writes into
        arrays that live on (parameters, state, the arguments), draws and checks never are."""
        outside = [t.array for t in self.external.values()] + inputs
        written = [w for st in statements if st.kind != "create" for w in st.writes]
        live = [self._resolve(a) for a in kept_arrays]
        kept = []
        for statement in reversed(statements):
            if statement.kind == "create" and (statement.call.func in UNDEFINED or not any(
                    _overlaps(r, written) for r in statement.results)):
                continue  # a constant, or np.empty's values, which no code may read
            removable = statement.kind in ("call", "create", "write") and not (
                statement.call.kind == "draw" or statement.mask_shape is not None
                or any(_overlaps(w, outside)
                                                     for w in statement.writes))
            if removable and not any(_overlaps(self._resolve(w), live)
                                     for w in statement.writes):
                continue
            kept.append(statement)
            live += [self._resolve(r) for r in statement.reads]
        return kept[::-1]

    def _share_buffers(self, statements, kept_arrays):
        """A buffer whose last reader has run is reused for a later result of its shape, dtype
        and memory layout (a reduction's order follows the layout, so its bits do too), as
        NumPy's allocator reuses freed memory: fewer arrays, warmer caches."""
        viewed = [b for _, _, b in self.views]
        keep = [self._resolve(a) for a in kept_arrays] + [t.array for t in self.external.values()]
        last = {}  # id(array) -> index of the last statement that reads or writes it
        for k, statement in enumerate(statements):
            for a in statement.reads + statement.writes:
                last[id(self._resolve(a))] = k
        free, releases = {}, {}
        for k, statement in enumerate(statements):
            if statement.kind == "call" and len(statement.results) == 1:
                result = statement.results[0]
                if (id(result) not in self.alias and result.base is None
                        and not _overlaps(result, keep + viewed)):
                    pool = free.get(_layout(result))
                    if pool:
                        self.alias[id(result)] = shared = pool.pop()
                    else:
                        shared = result
                    releases.setdefault(last.get(id(result), k), []).append(shared)
            for array in releases.pop(k, ()):
                free.setdefault(_layout(array), []).append(array)

    # ------------------------------------------------------------------ emitting
    def _emit(self, statement):
        call, kind = statement.call, statement.kind
        if kind == "input":
            name = self._name(statement.results[0], "x")
            self._line(f"copyto({name}, a{call})", "(input)", f"copyto({name}, argument)",
                       statement.results[0], "input")
            return
        func, args, kwargs = call.func, call.args, call.kwargs
        if kind == "guard":
            name = self._array_name(statement.reads[0])
            value = kwargs["value"]
            self._line(f"if bool({name}) is not {value}: {self._on_failure(call, 'a truth value')}",
                       call.op, f"check bool({name}) is {value}", None, "guard")
            return
        if call.kind == "draw" or kind == "write" and any(
                _overlaps(w, self.outside) for w in statement.writes):
            self.changed_outside = True
        if kind == "write":
            if call.kind == "setitem":
                target, index, value = (self._expr(a) for a in args)
                line = f"{target}[{index}] = {value}"
                self._line(line, call.op, line, None)
            else:
                line = f"{self._name(func, 'f')}({self._call_args(func, args, kwargs)})"
                self._line(line, call.op, f"{name_of(func)}({self._args(args, kwargs)})", None)
            return
        results = [self._resolve(r) for r in statement.results]
        out_names = [self._name(r, "b") for r in results]
        out = out_names[0] if len(out_names) == 1 else "(" + ", ".join(out_names) + ")"
        shown = f"{name_of(func)}({self._args(args, kwargs)}) -> {out}"
        if kind == "create":
            fill = FILLS.get(func)
            line = (f"{out}.fill({fill})" if fill is not None else
                    f"copyto({out}, {self._name(func, 'f')}({self._args(args, kwargs)}))")
        else:
            line = self._call_into(func, args, kwargs, out, results)
        if statement.mask_shape is not None:  # the selection's size is checked first
            expression = line.split(" = ", 1)[1]
            self.body.append(f"if {expression}.shape != {statement.mask_shape!r}: "
                             + self._on_failure(call, "the number of selected elements"))
            shown += f", its shape checked to be {statement.mask_shape}"
        self._line(line, call.op, shown, results[0])

    def _on_failure(self, call, check):
        """What a replay does when a check in the middle fails: capture anew if nothing outside
        the step has changed yet (the call is then run eagerly, as if new), else raise."""
        if not self.changed_outside:
            return "return MISS"
        return f"guard_failed({self._name(call.op, 'k')}, {check!r})"

    def _line(self, line, op, text, result, kind="call"):
        self.body.append(line)
        self.counts[kind] += 1
        self.plan_lines.append((op, text, "" if result is None else _shape_text(result)))

    def _call_args(self, func, args, kwargs):
        """Arguments of a ufunc call with out= passed by position (a faster call)."""
        out = kwargs.get("out")
        if (isinstance(func, np.ufunc) and out is not None and len(args) == func.nin
                and func not in NO_POSITIONAL):
            rest = {k: v for k, v in kwargs.items() if k != "out"}
            outs = out if type(out) is tuple else (out,)
            return self._args(tuple(args) + tuple(outs), rest)
        return self._args(args, kwargs)

    def _call_into(self, func, args, kwargs, out, results):
        """Source of a call that writes func's result into the buffers `out`."""
        if func in REDUCTIONS and len(args) == 1 and set(kwargs) <= {"axis", "keepdims", "dtype"}:
            # what np.sum etc. call, without their Python wrapper
            func, args = REDUCTIONS[func], (args[0], kwargs.get("axis"), kwargs.get("dtype"))
            return (f"{self._name(func, 'f')}({self._args(args, {})}, {out}, "
                    f"{kwargs.get('keepdims', False)})")
        if (func is np.mean and len(args) == 1 and set(kwargs) <= {"axis", "keepdims"}
                and args[0].dtype in (np.float32, np.float64)):
            # what np.mean does for float input, without its Python wrapper: the sum, then
            # a division by the count (an intp, as NumPy counts) in place
            source = args[0].array
            axis = kwargs.get("axis")
            axis = axis if axis is None or isinstance(axis, int) else tuple(axis)
            axes = range(source.ndim) if axis is None else (axis,) if isinstance(
                axis, int) else axis
            count = np.intp(np.prod([source.shape[a] for a in axes], dtype=np.intp))
            return (f"{self._name(np.add.reduce, 'f')}({self._expr(args[0])}, {axis!r}, None, "
                    f"{out}, {kwargs.get('keepdims', False)}); {self._name(np.true_divide, 'f')}"
                    f"({out}, {self._name(count, 'k')}, {out}, casting='unsafe')")
        named = self._name(func, "f")
        if isinstance(func, np.ufunc) and len(args) == func.nin and func not in NO_POSITIONAL:
            return f"{named}({self._args(args, {})}, {out}" + "".join(
                f", {k}={self._expr(v)}" for k, v in kwargs.items()) + ")"
        if isinstance(func, np.ufunc) or isinstance(getattr(func, "__self__", None),
                                                    np.ufunc) or func in WITH_OUT:
            return f"{named}({self._args(args, kwargs)}, out={out})"
        if func is np.ndarray.astype or func is np.ascontiguousarray:
            return f"copyto({out}, {self._expr(args[0])}, casting='unsafe')"
        if func in (np.ndarray.copy, np.ndarray.flatten, np.reshape, np.ravel):
            source = args[0].array
            target = results[0].reshape(source.shape)  # a view: the buffer is new
            return f"copyto({self._name(target, 'v')}, {self._expr(args[0])})"
        if func is np.full:
            return f"copyto({out}, {self._expr(args[1])})"
        if getattr(func, "__name__", None) in DRAWS_WITH_OUT and isinstance(
                getattr(func, "__self__", None), np.random.Generator) and len(args) <= 1:
            rest = {k: v for k, v in kwargs.items() if k != "size"}
            return f"{named}({self._args((), rest)}{', ' if rest else ''}out={out})"
        if func is operator.getitem:
            return f"{out}[...] = {self._expr(args[0])}[{self._expr(args[1])}]"
        return f"copyto({out}, {named}({self._args(args, kwargs)}))"

    def _write_back(self, rec):
        start = len(self.epilogue)
        for entry, name, scalar in rec.counters:
            self.epilogue.append(f"{self._name(entry, 'h')}[{name!r}] = {self._scalar(scalar)}")
        if rec.counters:
            self.after.append(f"{len(rec.counters)} step counters")
        for array, traced in rec.rebound:
            self.epilogue.append(f"copyto({self._name(array, 'p')}, "
                                 f"{self._array_name(traced.array)})")
        for tensor, first in rec.grad_first.items():
            if id(tensor) in rec.born:
                continue
            grad = Tensor.__dict__["grad"].__get__(tensor)
            t = self._name(tensor, "t")
            if grad is None and first != ("read", None):
                self.epilogue.append(f"{t}.grad = None")
            elif grad is not None and isinstance(Tensor.__dict__["data"].__get__(grad),
                                                 Traced):
                # one Tensor for each call's gradient, as PyTorch keeps one .grad
                array = self._resolve(Tensor.__dict__["data"].__get__(grad).array)
                self.epilogue.append(f"{t}.grad = {self._name(Tensor._make(array, None), 'g')}")
        grads = sum(".grad = " in line for line in self.epilogue[start:])
        if grads:
            self.after.append(f"{grads} .grad")
        # each in-place write of the capture is counted again, as the engine counts it (a
        # backward through a graph that saved the old values then raises, as eagerly)
        written = tuple(tensor for tensor, (_, version) in rec.tensors.items()
                        for _ in range(tensor._version - version))
        if written:
            self.epilogue.append(f"for t in {self._name(written, 'k')}: count_write(t)")
            self.after.append(f"{len(written)} version counts")

    # ------------------------------------------------------------------ for people
    def _plan(self, title):
        width = max([len(op) for op, _, _ in self.plan_lines] + [2])
        lines = [title]
        wrap = functools.partial(textwrap.fill, width=100, subsequent_indent="    ")
        if self.checked:
            lines.append(wrap("checked first (else a new capture): " + ", ".join(self.checked)))
        if self.sources:
            lines.append(wrap("read on each replay: " + ", ".join(self.sources)))
        lines.append(f"  {'#':>3}  {'op':<{width}}  NumPy call -> buffer")
        for k, (op, text, shape) in enumerate(self.plan_lines, 1):
            lines.append(f"  {k:>3}  {op:<{width}}  {text}" + (f"   {shape}" if shape else ""))
        if self.after:
            lines.append(wrap("then set: " + ", ".join(self.after)))
        once = [f"  {self.names[id(v)]} = {name_of(f)} of {self._array_name(b)}   "
                f"{_shape_text(v)}" for v, f, b in self.views if id(v) in self.names]
        once += [f"  {self.names[id(r)]} = {name_of(st.call.func)}(...) of constants   "
                 f"{_shape_text(r)}" for st in self.folded for r in st.results
                 if id(r) in self.names]
        if once:
            lines.append("made once at capture (views, and calls on constants):")
            lines += once
        buffers = [obj for name, obj in self.namespace.items()
                   if name[0] in "xb" and name[1:].isdigit()]
        in_place = [obj for name, obj in self.namespace.items()
                    if name[0] == "p" and name[1:].isdigit()]
        nbytes = sum(b.nbytes for b in buffers)
        lines.append(wrap(
            f"summary: {_count(len(self.plan_lines), 'line')} per replay "
            f"({_count(self.counts['input'], 'input copy', 'input copies')}, "
            f"{_count(self.counts['call'], 'NumPy call')}, {_count(self.counts['guard'], 'check')}"
            f"); {_count(len(buffers), 'buffer')} allocated once ({nbytes:,} bytes); "
            f"{_count(len(in_place), 'array')} used in place (parameters, state: "
            f"{sum(a.nbytes for a in in_place):,} bytes); "
            f"{_count(len(self.scalars), 'Python number')} read on each replay"))
        return "\n".join(lines)


def _count(n, one, many=None):
    return f"{n} {one if n == 1 else many or one + 's'}"


def _layout(array):
    return array.shape, array.dtype.str, array.strides


def _overlaps(array, arrays):
    return any(np.may_share_memory(array, a) for a in arrays)


def _traced_in(x):
    if isinstance(x, Traced):
        yield x
    elif type(x) in (tuple, list):
        for v in x:
            yield from _traced_in(v)
    elif type(x) is dict:
        for v in x.values():
            yield from _traced_in(v)


def _is_view(array, inputs):
    """True if `array` shares memory with one of the call's input arrays."""
    return array.base is not None and any(np.may_share_memory(array, a) for a in inputs)

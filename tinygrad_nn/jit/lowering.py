"""Lowering: a Recording becomes one flat Python function over buffers allocated once.

Every array the capture made is kept and becomes a buffer: a replay writes each result into the
same array again (`out=` where NumPy takes one, else a copy into it), so views made during the
capture (a transpose, a reshape) stay views of the right memory and cost nothing on replay.
Arrays that live outside the step (parameters, optimizer state, module buffers) are used in
place. What the capture read as Python values becomes checks: hyperparameters, step counters,
train/eval modes and `.grad` being empty are read at the start of a replay (a change means a
new capture), a branch on an array's value is checked where it happened.

The function is generated as Python source, one line per NumPy call, and compiled: the replay
pays for nothing but the NumPy calls. `Program.plan` is the same program for people to read.
"""
import operator

import numpy as np

from ..tensor import Tensor
from .recording import Scalar, Traced, name_of

MISS = object()  # what a replay returns when a check at its start says: capture anew

# NumPy functions whose result can be written into a given array with out=.
WITH_OUT = {np.sum, np.mean, np.max, np.amax, np.min, np.amin, np.var, np.std, np.prod,
            np.dot, np.clip, np.cumsum, np.around, np.take, np.concatenate, np.stack,
            np.argmax, np.argmin, np.einsum, np.matmul}
# Generator methods that fill a given array (same draws as making a new one).
DRAWS_WITH_OUT = {"random", "standard_normal", "standard_exponential"}
# Fresh constant arrays, refilled on replay (only if the program writes into them).
FILLS = {np.zeros: 0, np.zeros_like: 0, np.ones: 1, np.ones_like: 1}
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


class Program:
    """The lowered recording: `replay(*arrays)` runs it (MISS if a check at its start fails,
    else the output arrays, fresh); `plan` describes it."""

    def __init__(self, rec, inputs, outputs, title):
        self.names = {}          # id(array or object) -> name in the generated code
        self.numbers = {}        # prefix -> the last number given
        self.external = rec.external
        self.namespace = {"copyto": np.copyto, "MISS": MISS, "make": Tensor._make,
                          "guard_failed": guard_failed}
        self.kept = []           # keeps every named object alive (ids stay unique)
        self.scalars = {}        # id(Scalar) -> variable name
        self.prelude, self.body, self.epilogue = [], [], []
        self.plan_lines, self.views = [], []
        self.counts = {"input": 0, "call": 0, "guard": 0}
        self.written = self._written_arrays(rec)
        self._checks(rec)
        for k, traced in enumerate(inputs):
            name = self._name(traced.array, "x")
            self._emit(f"copyto({name}, a{k})", "(input)", f"copyto({name}, argument)",
                       traced.array, "input")
        for call in rec.calls:
            self._lower(call)
        self._write_back(rec)
        results = [self._array_name(t.array) if id(t.array) in self.names or id(t.array)
                   in self.external else self._name(t.array, "b") for t in outputs]
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

    def _array_name(self, array):
        """The name of an array: p for one used in place, c for a constant made outside."""
        return self._name(array, "p" if id(array) in self.external else "c")

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
        parts += [f"{k}={self._expr(v)}" for k, v in kwargs.items()]
        return ", ".join(parts)

    def _scalar(self, s):
        """A variable of the prelude that holds the Scalar's value on each replay."""
        name = self.scalars.get(id(s))
        if name is not None:
            return name
        if s.source is not None:
            container, key, item = s.source
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
        return name

    # ------------------------------------------------------------------ checks at the start
    def _checks(self, rec):
        conditions = []
        for tensor, (array, _) in rec.tensors.items():
            if Tensor.__dict__["data"].__get__(tensor) is array:
                conditions.append(f"{self._name(tensor, 't')}.data is not "
                                  f"{self._name(array, 'p')}")
        for module, training in rec.modules.items():
            conditions.append(f"{self._name(module, 'm')}.training is not {training}")
        for tensor, first in rec.grad_first.items():
            if first == ("read", None) and id(tensor) not in rec.born:
                conditions.append(f"{self._name(tensor, 't')}.grad is not None")
        if conditions:
            self.prelude.append("if " + " or ".join(conditions) + ": return MISS")
        for call in rec.calls:
            if call.kind == "guard" and isinstance(call.args[0], Scalar):
                value = self._scalar(call.args[0])
                expected = call.kwargs["value"]
                test = f"bool({value})" if call.kwargs["check"] == "bool" else value
                self.prelude.append(f"if {test} != {expected!r}: return MISS")

    # ------------------------------------------------------------------ the calls
    def _written_arrays(self, rec):
        """The arrays some call writes into (in place, or by setitem)."""
        written = []
        for call in rec.calls:
            if call.kind == "setitem":
                written.append(call.args[0].array)
            elif call.kind == "call" and call.result is None:
                out = call.kwargs.get("out", call.args[0])
                written += [t.array for t in (out if type(out) is tuple else (out,))]
        return written

    def _is_written(self, array):
        return any(np.may_share_memory(array, w) for w in self.written)

    def _emit(self, line, op, text, result, kind="call"):
        self.body.append(line)
        self.counts[kind] += 1
        shape = "" if result is None else _shape_text(result)
        self.plan_lines.append((op, text, shape))

    def _lower(self, call):
        kind, func, args, kwargs, result = (call.kind, call.func, call.args, call.kwargs,
                                            call.result)
        if kind == "guard":
            if isinstance(args[0], Traced):
                self._guard(call)
            return
        if kind == "setitem":
            target, index, value = (self._expr(a) for a in args)
            line = f"{target}[{index}] = {value}"
            self._emit(line, call.op, line, None)
            return
        if result is None:  # a write into an argument
            line = f"{self._name(func, 'f')}({self._args(args, kwargs)})"
            self._emit(line, call.op, f"{name_of(func)}({self._args(args, kwargs)})",
                       None)
            return
        results = result if type(result) is tuple else (result,)
        inputs = [a.array for a in _traced_in((args, kwargs))]
        if len(results) == 1 and _is_view(results[0].array, inputs):
            view = results[0].array
            base = next(a for a in inputs if np.may_share_memory(view, a))
            name = self._name(view, "v")
            self.views.append(f"{name} = {name_of(func)} of {self._array_name(base)} "
                              f"{_shape_text(view)}")
            return
        shown = f"{name_of(func)}({self._args(args, kwargs)})"
        if kind == "create" and not self._is_written(results[0].array):
            self.views.append(f"{self._name(results[0].array, 'c')} = {shown}, a constant")
            return
        out_names = [self._name(r.array, "b") for r in results]
        out = out_names[0] if len(out_names) == 1 else "(" + ", ".join(out_names) + ")"
        if kind == "create":
            fill = FILLS.get(func)
            line = (f"{out}.fill({fill})" if fill is not None else
                    f"copyto({out}, {self._name(func, 'f')}({self._args(args, kwargs)}))")
            self._emit(line, call.op, shown + f" -> {out}", results[0].array)
            return
        line = self._call_into(func, args, kwargs, out, results)
        self._emit(line, call.op, f"{shown} -> {out}", results[0].array)

    def _call_into(self, func, args, kwargs, out, results):
        """Source of a call that writes func's result into the buffers `out`."""
        named = self._name(func, "f")
        if isinstance(func, np.ufunc) or isinstance(getattr(func, "__self__", None),
                                                    np.ufunc) or func in WITH_OUT:
            return f"{named}({self._args(args, kwargs)}, out={out})"
        if func is np.ndarray.astype:
            return f"copyto({out}, {self._expr(args[0])}, casting='unsafe')"
        if func in (np.ndarray.copy, np.ndarray.flatten, np.reshape, np.ravel):
            source = args[0].array
            target = results[0].array.reshape(source.shape)  # a view: the buffer is new
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

    def _guard(self, call):
        stand_in, check = call.args[0], call.kwargs["check"]
        value = call.kwargs["value"]
        name = self._array_name(stand_in.array)
        where = self._name(call.op, "k")
        if check == "shape":
            # the buffer has the capture's shape: recompute the masked selection and compare
            # checked before the selection is copied into its buffer, of the capture's shape
            expression = self.body[-1].split(" = ", 1)[1]
            self.body.insert(len(self.body) - 1, f"if {expression}.shape != {value!r}: "
                             f"guard_failed({where}, 'the number of selected elements')")
        else:
            self.body.append(f"if bool({name}) is not {value}: "
                             f"guard_failed({where}, 'a truth value')")
        self.counts["guard"] += 1
        self.plan_lines.append((call.op, f"check bool({name}) is {value}" if check == "bool"
                                else f"check the shape of {name} is {value}", ""))

    def _write_back(self, rec):
        for entry, name, scalar in rec.counters:
            self.epilogue.append(f"{self._name(entry, 'h')}[{name!r}] = {self._scalar(scalar)}")
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
                buffer = Tensor.__dict__["data"].__get__(grad).array
                self.epilogue.append(f"{t}.grad = make({self._array_name(buffer)}, None)")
        for tensor, (_, version) in rec.tensors.items():
            if tensor._version != version:
                self.epilogue.append(f"{self._name(tensor, 't')}._version += "
                                     f"{tensor._version - version}")

    # ------------------------------------------------------------------ for people
    def _plan(self, title):
        width = max([len(op) for op, _, _ in self.plan_lines] + [2])
        lines = [title, f"  {'#':>3}  {'op':<{width}}  NumPy call -> buffer"]
        for k, (op, text, shape) in enumerate(self.plan_lines, 1):
            lines.append(f"  {k:>3}  {op:<{width}}  {text}" + (f"   {shape}" if shape else ""))
        if self.views:
            lines.append("made once at capture, no work on replay:")
            lines += [f"  {v}" for v in self.views]
        buffers = [obj for name, obj in self.namespace.items()
                   if name[0] in "xb" and name[1:].isdigit()]
        in_place = [obj for name, obj in self.namespace.items()
                    if name[0] == "p" and name[1:].isdigit()]
        nbytes = sum(b.nbytes for b in buffers)
        lines.append(
            f"summary: {len(self.plan_lines)} lines per replay ({self.counts['input']} input "
            f"copies, {self.counts['call']} NumPy calls, {self.counts['guard']} checks); "
            f"{len(buffers)} buffers allocated once ({nbytes:,} bytes); {len(in_place)} arrays "
            f"used in place (parameters, state: {sum(a.nbytes for a in in_place):,} bytes); "
            f"{len(self.scalars)} Python numbers read on each replay")
        return "\n".join(lines)


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

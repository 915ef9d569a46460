"""Code generation: Python source for the statements of a Block, one line each.

Names say what each object is: `x` an input buffer, `p` an array used in place (a parameter,
optimizer state), `b` a buffer allocated once, `v` a view made once, `c` a constant, `s` a
Python number read on each replay, `t` a tensor, `m` a module, `o` an optimizer, `g` a gradient
tensor, `h` a dict, `f` a function, `k` anything else.
"""
import operator

import numpy as np

from .stand_ins import Scalar, Traced, name_of

# NumPy functions whose result can be written into a given array with out=.
WITH_OUT = {np.sum, np.mean, np.max, np.amax, np.min, np.amin, np.var, np.std, np.prod,
            np.dot, np.clip, np.cumsum, np.around, np.take, np.concatenate, np.stack,
            np.argmax, np.argmin, np.einsum, np.matmul}
# Ufuncs that warn when out is given by position.
NO_POSITIONAL = {np.maximum, np.minimum}
# Generator methods that fill a given array (same draws as making a new one).
DRAWS_WITH_OUT = {"random", "standard_normal", "standard_exponential"}
# Fresh constant arrays, refilled on replay (only if the program writes into them).
FILLS = {np.zeros: 0, np.zeros_like: 0, np.ones: 1, np.ones_like: 1}
SYMBOLS = {operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/",
           operator.floordiv: "//", operator.mod: "%", operator.pow: "**", operator.lt: "<",
           operator.le: "<=", operator.gt: ">", operator.ge: ">=", operator.eq: "==",
           operator.ne: "!="}
UNARY = {operator.neg: "-", operator.pos: "+"}


class Names:
    """The names of the objects the generated code refers to, and its namespace."""

    def __init__(self, block, namespace):
        self.block, self.namespace = block, namespace
        self.names, self.numbers, self.kept = {}, {}, []
        self.scalars = {}        # id(Scalar) -> variable name
        self.scalar_lines = []   # "s0 = h0['lr']": computed at the start of each replay
        self.sources = []        # "s0 = SGD.lr": the numbers read anew, for the plan
        self.view_ids = {id(block.resolve(v)) for v in block.viewed()}

    def name(self, obj, prefix):
        """The name of `obj`; a new one (prefix and a number) if it has none yet."""
        name = self.names.get(id(obj))
        if name is None:
            number = self.numbers[prefix] = self.numbers.get(prefix, -1) + 1
            name = self.names[id(obj)] = f"{prefix}{number}"
            self.namespace[name] = obj
            self.kept.append(obj)  # alive as long as the program: ids stay unique
        return name

    def array(self, array):
        """The name of an array (after the passes' substitutions)."""
        array = self.block.resolve(array)
        prefix = ("p" if id(array) in self.block.external else
                  "v" if id(array) in self.view_ids else "c")
        return self.name(array, prefix)

    def expr(self, x):
        """Python source for an argument of a call."""
        if isinstance(x, Traced):
            return self.array(x.array)
        if isinstance(x, Scalar):
            return self.scalar(x)
        if isinstance(x, np.ndarray):
            return self.name(x, "c")
        if type(x) is tuple:
            return "(" + "".join(self.expr(v) + ", " for v in x) + ")"
        if type(x) is list:
            return "[" + ", ".join(self.expr(v) for v in x) + "]"
        if x is None or x is Ellipsis or type(x) in (bool, int, str) or (
                type(x) is float and np.isfinite(x)) or type(x) is slice and all(
                v is None or type(v) is int for v in (x.start, x.stop, x.step)):
            return repr(x)
        return self.name(x, "k")

    def args(self, args, kwargs):
        parts = [self.expr(a) for a in args]
        for k, v in kwargs.items():
            if k == "out" and type(v) is tuple and len(v) == 1:
                v = v[0]  # out=(b0,) as out=b0
            parts.append(f"{k}={self.expr(v)}")
        return ", ".join(parts)

    def scalar(self, s):
        """A variable computed at the start of each replay that holds the Scalar's value."""
        name = self.scalars.get(id(s))
        if name is not None:
            return name
        if s.source is not None:
            container, key, item, label = s.source
            text = f"{self.name(container, 'h')}[{key!r}]" + ("" if item is None else
                                                               f"[{item}]")
            self.sources.append(f"s{len(self.scalars)} = {label}")
        elif s.func in SYMBOLS:
            a, b = (self.expr(v) for v in s.args)
            text = f"({a}) {SYMBOLS[s.func]} ({b})"
        elif s.func in UNARY:
            text = f"{UNARY[s.func]}({self.expr(s.args[0])})"
        elif s.func is operator.getitem:
            text = f"{self.expr(s.args[0])}[{s.args[1]}]"
        else:
            text = f"{self.name(s.func, 'f')}({self.args(s.args, {})})"
        name = self.scalars[id(s)] = f"s{len(self.scalars)}"
        self.kept.append(s)
        self.scalar_lines.append(f"{name} = {text}")
        return name


def statement_line(names, statement):
    """(source line, what the plan shows) of a call, create or write statement."""
    call = statement.call
    func, args, kwargs = call.func, call.args, call.kwargs
    if statement.kind == "write":
        if call.kind == "setitem":
            target, index, value = (names.expr(a) for a in args)
            line = f"{target}[{index}] = {value}"
            return line, line
        line = f"{names.name(func, 'f')}({_call_args(names, func, args, kwargs)})"
        return line, f"{name_of(func)}({names.args(args, kwargs)})"
    results = [names.block.resolve(r) for r in statement.results]
    out_names = [names.name(r, "b") for r in results]
    out = out_names[0] if len(out_names) == 1 else "(" + ", ".join(out_names) + ")"
    shown = f"{name_of(func)}({names.args(args, kwargs)}) -> {out}"
    if statement.kind == "create":
        fill = FILLS.get(func)
        line = (f"{out}.fill({fill})" if fill is not None else
                f"copyto({out}, {names.name(func, 'f')}({names.args(args, kwargs)}))")
    else:
        line = _call_into(names, call, out, results)
    return line, shown


def _call_args(names, func, args, kwargs):
    """Arguments of a ufunc call with out= passed by position (a faster call)."""
    out = kwargs.get("out")
    if (isinstance(func, np.ufunc) and out is not None and len(args) == func.nin
            and func not in NO_POSITIONAL):
        rest = {k: v for k, v in kwargs.items() if k != "out"}
        outs = out if type(out) is tuple else (out,)
        return names.args(tuple(args) + tuple(outs), rest)
    return names.args(args, kwargs)


def _call_into(names, call, out, results):
    """Source of a call that writes func's result into the buffers `out`."""
    func, args, kwargs = call.func, call.args, call.kwargs
    named = names.name(func, "f")
    owner = getattr(func, "__self__", None)
    if isinstance(owner, np.ufunc) and func.__name__ == "reduce" and len(args) == 1 and set(
            kwargs) <= {"axis", "keepdims", "dtype"}:
        return (f"{named}({names.expr(args[0])}, {kwargs.get('axis')!r}, "
                f"{names.expr(kwargs.get('dtype'))}, {out}, {kwargs.get('keepdims', False)})")
    if isinstance(func, np.ufunc) and len(args) == func.nin and func not in NO_POSITIONAL:
        return f"{named}({names.args(args, {})}, {out}" + "".join(
            f", {k}={names.expr(v)}" for k, v in kwargs.items()) + ")"
    if isinstance(func, np.ufunc) or isinstance(owner, np.ufunc) or func in WITH_OUT:
        return f"{named}({names.args(args, kwargs)}, out={out})"
    if func is np.ndarray.astype or func is np.ascontiguousarray:
        return f"copyto({out}, {names.expr(args[0])}, casting='unsafe')"
    if func in (np.ndarray.copy, np.ndarray.flatten, np.reshape, np.ravel):
        target = results[0].reshape(args[0].shape)  # a view: the buffer is new
        return f"copyto({names.name(target, 'v')}, {names.expr(args[0])})"
    if func is np.full:
        return f"copyto({out}, {names.expr(args[1])})"
    if getattr(func, "__name__", None) in DRAWS_WITH_OUT and isinstance(
            owner, np.random.Generator) and len(args) <= 1:
        rest = {k: v for k, v in kwargs.items() if k != "size"}
        return f"{named}({names.args((), rest)}{', ' if rest else ''}out={out})"
    if func is operator.getitem:
        return f"{out}[...] = {names.expr(args[0])}[{names.expr(args[1])}]"
    if len(results) > 1:  # a tuple of arrays (np.linalg.eigh, svd)
        return f"for o, r in zip({out}, {named}({names.args(args, kwargs)})): copyto(o, r)"
    return f"copyto({out}, {named}({names.args(args, kwargs)}))"

"""The program between capture and code: a `Block` of `Statement`s over the capture's arrays.

Every array the capture made is a buffer of the program: a statement writes its result into
the same array on every replay. The passes (passes.py) take a Block and return one with fewer
statements or fewer buffers; the code generator (emit.py) writes one line per statement.
"""
import dataclasses

import numpy as np


class Statement:
    """One line of the program.

    kind: "input" (copy a value from outside into its buffer: `source` says which), "call"
    (fresh results into their buffers), "write" (into arrays the code named: out=, setitem,
    ufunc.at), "create" (refill a constant buffer the program writes into) or "guard" (check a
    value the code branched on). `reads` and `writes` are the arrays it reads and writes;
    `mask_shape` is the shape a boolean-mask selection must have (checked before it is
    written).
    """
    __slots__ = ("kind", "call", "results", "reads", "writes", "mask_shape", "source")

    def __init__(self, kind, call, results=(), reads=(), writes=(), source=None):
        self.kind, self.call, self.results = kind, call, tuple(results)
        self.reads, self.writes, self.mask_shape = list(reads), list(writes), None
        self.source = source

    def __repr__(self):
        name = getattr(self.call, "func", None)
        return f"Statement({self.kind}, {getattr(name, '__name__', name)})"


@dataclasses.dataclass(frozen=True)
class Block:
    """statements, in order; `alias`: id(array) -> the array used instead (a repeat made once,
    a copy skipped, a buffer shared); `views`: (view, call, base) made once at capture;
    `external`: id(array) -> array, the arrays used in place (parameters, state); `kept`:
    arrays read after the last statement (outputs, gradients, rebound state); `inputs`: the
    input buffers; `folded`: statements computed once, at capture."""
    statements: tuple
    alias: dict
    views: tuple
    external: dict
    kept: tuple
    inputs: tuple
    folded: tuple = ()

    def but(self, **changes):
        """This block with `changes`; an `alias` given is added to the block's own."""
        if "alias" in changes:
            changes["alias"] = {**self.alias, **changes["alias"]}
        return dataclasses.replace(self, **changes)

    def resolve(self, array):
        """The array used for `array` (a copy skipped, a repeat saved, a buffer shared)."""
        return follow(self.alias, array)

    def viewed(self):
        return [v for v, _, _ in self.views]

    def bases(self):
        return [b for _, _, b in self.views]

    def outside(self):
        """Arrays that live on after a replay: used in place, or the input buffers."""
        return list(self.external.values()) + list(self.inputs)


def follow(alias, array):
    """alias[id(array)], alias[id(that)], ... to the end of the chain."""
    for _ in range(len(alias) + 1):
        if id(array) not in alias:
            return array
        array = alias[id(array)]
    raise AssertionError("an alias cycle")  # a pass mapped an array onto itself


def overlaps(array, arrays):
    return any(np.may_share_memory(array, a) for a in arrays)


def writes_between(statements, arrays):
    return any(overlaps(w, arrays) for s in statements for w in s.writes)


def layout(array):
    return array.shape, array.dtype.str, array.strides

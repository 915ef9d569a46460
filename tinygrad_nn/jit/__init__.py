"""`tg.jit(fn)`: capture a training step once, replay it as flat NumPy.

    step = tg.jit(train_step)      # train_step(x, y) runs forward, backward, optimizer.step()
    loss = step(x, y)              # first call with these shapes: runs and records it
    loss = step(x2, y2)            # later calls: replay the recorded NumPy calls
    print(step.plan)               # the program a replay runs

capture (instrument.py puts the stand-ins of stand_ins.py in place; the Recording of
recording.py notes each NumPy call, the Transaction of transaction.py can undo the call)
-> build.py (a Block of statements) -> passes.py (fewer statements, fewer buffers) ->
program.py and emit.py (one generated Python function, its checks from guards.py first).
A replay computes what an eager call would, bit for bit; what it cannot reproduce raises at
capture and changes nothing (see docs/jit.md, which has the maintainers' drawing of this).
"""
import functools
import os
import types
import warnings

import numpy as np

from ..grad_mode import is_grad_enabled
from ..tensor import Tensor, held, held_arrays_writeable
from . import passes as _passes
from .arguments import (bind, check_arguments, copy_of, describe, held_by_identity,
                        name_of_function, split_outputs, stand_in_of, title)
from .guards import Reached
from .instrument import instrument
from .program import MISS, Program
from .recording import Recording
from .stand_ins import CaptureError, Traced, recording
from .transaction import _DATA, _GRAD, generator_state

__all__ = ["jit", "CaptureError"]

MAX_PROGRAMS = 8  # recordings kept per signature (they differ in what their checks expect)
SKIP_VARIABLE = "TINYGRAD_NN_JIT_SKIP"  # names of passes to switch off, comma-separated


class jit:
    """`step = tg.jit(fn)`: `step(*args, **kwargs)` runs `fn` and records what it computes the
    first time it sees a signature (shapes and dtypes of Tensor and array arguments, the values
    of numbers, strings, bools, None and tuples of them, the identity of anything else, grad
    mode), and replays the recording on later calls while nothing it reached has changed.

    `fn` returns None, a Tensor, or a tuple, list or dict of Tensors; the Tensors returned are
    new each call and detached. `step.plan` describes the program of the latest capture (""
    before the first); `step.reset()` forgets every capture. `passes` names the lowering
    passes to run (all of `tg.jit.PASSES` by default, less those named in the environment
    variable TINYGRAD_NN_JIT_SKIP), to bisect a replay that differs from eager to a pass.
    """

    PASSES = tuple(_passes.PASSES)

    def __init__(self, fn, passes=None):
        if not callable(fn):
            raise TypeError(f"tg.jit takes a function, got {type(fn).__name__}")
        unknown = sorted(set(passes or ()) - set(self.PASSES))
        if isinstance(passes, str) or unknown:
            raise ValueError(f"tg.jit: passes must be a collection of names among "
                             f"{list(self.PASSES)}, got {passes!r}")
        functools.update_wrapper(self, fn, updated=())
        self.fn, self.passes = fn, None if passes is None else frozenset(passes)
        self.plan = ""
        self._programs = {}  # signature -> [Program, ...], tried in order
        self._held = []      # arguments in signatures by identity, kept alive
        self._warned = False

    def __get__(self, instance, owner=None):
        """As a method (`@tg.jit` on a def in a class), bound to the instance."""
        return self if instance is None else types.MethodType(self, instance)

    def reset(self):
        """Forget every capture: the next call captures anew."""
        self._programs.clear()
        self._held.clear()
        self.plan = ""

    def __call__(self, *args, **kwargs):
        if recording() is not None:
            return self._inline(args, kwargs)
        key, arrays = [is_grad_enabled()], []
        for x in args:
            if isinstance(x, Tensor):  # the common case, inline
                x = x.data
                key += (x.shape, x.dtype, x.strides)
                arrays.append(x)
            else:
                describe(x, key, arrays)
        if kwargs:
            describe(kwargs, key, arrays)
        key = tuple(key)
        for program in self._programs.get(key, ()):
            if held:  # a graph holds arrays this replay may update: the version counts catch it
                with held_arrays_writeable():
                    result = program.replay(*arrays)
            else:
                result = program.replay(*arrays)
            if result is not MISS:
                return program.rebuild(result)
        return self._capture(key, arrays, args, kwargs)

    def _inline(self, args, kwargs):
        """Called inside another capture: fn is part of that capture (its results detached,
        as the results of a jitted function always are)."""
        check_arguments((args, kwargs))
        outputs, rebuild = split_outputs(self.fn(*args, **kwargs))
        return rebuild([stand_in_of(t).copy() for t in outputs])

    def _capture(self, key, arrays, args, kwargs):
        check_arguments((args, kwargs))
        rec, inputs = Recording(), []
        copies = iter([Traced(copy_of(a)) for a in arrays])
        generators = [(g, generator_state(g)) for g in _generators_seen_by(self.fn)]
        for generator, state in generators:
            rec.undo.save_generator(generator, state)
        try:
            with instrument(rec):
                bound_args, bound_kwargs = bind((args, kwargs), copies, inputs)
                outputs, rebuild = split_outputs(self.fn(*bound_args, **bound_kwargs))
                differentiable = any(t.requires_grad for t in outputs)
                outputs = [stand_in_of(t) for t in outputs]
            _refuse(rec, generators)
            program = Program(rec, inputs, outputs, Reached(self.fn, held_by_identity(
                (args, kwargs), [])), title(self.fn, args, kwargs, key[0]),
                self._pass_names())
        except BaseException:
            rec.undo.rollback()
            raise
        finally:
            _release(rec)
        program.rebuild = rebuild
        for k in program.inputs_written:
            np.copyto(arrays[k], inputs[k].array)
        self.plan = program.plan
        if not rec.unsteady:  # a capture that created optimizer state is not a steady step
            programs = self._programs.setdefault(key, [])
            programs.insert(0, program)  # the newest first: the likeliest to fit the next call
            del programs[MAX_PROGRAMS:]
            held_by_identity((args, kwargs), self._held)
        if differentiable and key[0] and not rec.backward_ran:
            self._warn_detached()
        return rebuild([t.array.copy() for t in outputs])

    def _pass_names(self):
        skipped = {name.strip() for name in os.environ.get(SKIP_VARIABLE, "").split(",")}
        return frozenset(self.PASSES if self.passes is None else self.passes) - skipped

    def _warn_detached(self):
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"tg.jit({name_of_function(self.fn)}): its results depend on "
                f"tensors that require grad, but the results of a jitted function are "
                f"detached: no gradient flows back through them, so a backward() through them "
                f"reaches no parameter. To train, put loss.backward() (and optimizer.step()) "
                f"inside the jitted function; to only evaluate, call it under tg.no_grad().",
                stacklevel=4)


def _refuse(rec, generators):
    """Raise CaptureError for what the replay could not reproduce."""
    for generator, state in generators:
        if id(generator) not in rec.generators and not _same_state(
                state, generator_state(generator)):
            rec.refused.append(
                f"a random draw from {type(generator).__name__} {id(generator):#x}, which is "
                f"not an attribute of a module the function calls (as Dropout's rng is): a "
                f"replay would reuse the values of the capture")
    rec.refused += [f"the function changed {type(optimizer).__name__}.{name} (set "
                    f"hyperparameters between calls: a replay reads them anew)"
                    for optimizer, values in rec.stepped.items()
                    for name, value in values.items() if vars(optimizer)[name] != value]
    if rec.refused:
        raise CaptureError("tg.jit cannot replay this function: "
                           + "; ".join(dict.fromkeys(rec.refused)))


def _release(rec):
    """Tensors the capture leaves behind hold plain arrays, not stand-ins: the gradients it
    made, and the arrays it rebound (copies: the step's own array is a buffer of the
    program, which the next replay writes into)."""
    for t in rec.grads:
        grad = _GRAD.__get__(t)
        if grad is not None and isinstance(_DATA.__get__(grad), Traced):
            _GRAD.__set__(t, Tensor._make(_DATA.__get__(grad).array, None))
    for t in rec.rebinds:
        data = _DATA.__get__(t)
        if isinstance(data, Traced):
            outside = id(data.array) in rec.external
            _DATA.__set__(t, data.array if outside else data.array.copy(order="K"))


def _generators_seen_by(fn):
    """The random generators `fn` can reach by name (its globals, its closure) and NumPy's
    global one: their state must not change during a capture unless the draws were noted."""
    found = {id(np.random.mtrand._rand): np.random.mtrand._rand}
    code = getattr(fn, "__code__", None)
    values = [cell.cell_contents for cell in getattr(fn, "__closure__", None) or ()
              if cell.cell_contents is not None] if code else []
    if code is not None:
        values += [fn.__globals__.get(name) for name in code.co_names]
    for value in values:
        if isinstance(value, (np.random.Generator, np.random.RandomState)):
            found[id(value)] = value
    return list(found.values())


def _same_state(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    return np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b

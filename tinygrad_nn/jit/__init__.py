"""`tg.jit(fn)`: capture a training step once, replay it as flat NumPy.

    step = tg.jit(train_step)      # train_step(x, y) runs forward, backward, optimizer.step()
    loss = step(x, y)              # first call with these shapes: runs and records it
    loss = step(x2, y2)            # later calls: replay the recorded NumPy calls
    print(step.plan)               # the program a replay runs

Capture (`recording.py`) runs `fn` once while every NumPy computation it triggers is noted, as
the ops, the backward rules, the engine's gradient sums, the optimizers and dropout make them.
Lowering (`lowering.py`) turns the notes into one generated Python function that calls NumPy
into buffers allocated once. A replay computes what an eager call would, bit for bit; what it
cannot reproduce raises at capture (see docs/jit.md).
"""
import functools
import types

import numpy as np

from ..grad_mode import is_grad_enabled
from ..tensor import Tensor
from .lowering import MISS, GuardFailed, Program
from .recording import (CaptureError, Recording, Traced, check_generators, generator_state,
                        generators_seen_by, instrument)

__all__ = ["jit", "CaptureError", "GuardFailed"]

MAX_PROGRAMS = 8  # recordings kept per signature (they differ in what their checks expect)
_BY_VALUE = (type(None), bool, int, float, complex, str, bytes)


class jit:
    """`step = tg.jit(fn)`: `step(*args, **kwargs)` runs `fn` and records what it computes the
    first time it sees a signature (shapes and dtypes of Tensor and array arguments, the values
    of numbers, strings, bools, None and tuples of them, the identity of anything else, grad
    mode, the train/eval mode of the modules called), and replays the recording on later calls.

    `fn` returns None, a Tensor, or a tuple, list or dict of Tensors; the Tensors returned are
    new each call and detached. `step.plan` describes the program of the latest capture (""
    before the first); `step.reset()` forgets every capture.
    """

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"tg.jit takes a function, got {type(fn).__name__}")
        functools.update_wrapper(self, fn, updated=())
        self.fn = fn
        self.plan = ""
        self._programs = {}  # signature -> [Program, ...], tried in order
        self._held = []      # arguments in signatures by identity, kept alive

    def __get__(self, instance, owner=None):
        """As a method (`@tg.jit` on a def in a class), bound to the instance."""
        return self if instance is None else types.MethodType(self, instance)

    def reset(self):
        """Forget every capture: the next call captures anew."""
        self._programs.clear()
        self._held.clear()
        self.plan = ""

    def __call__(self, *args, **kwargs):
        key, arrays = [is_grad_enabled()], []
        for x in args:
            if isinstance(x, Tensor):  # the common case, inline
                x = x.data
                key += (x.shape, x.dtype, x.strides)
                arrays.append(x)
            else:
                _describe(x, key, arrays)
        if kwargs:
            _describe(kwargs, key, arrays)
        key = tuple(key)
        programs = self._programs.get(key)
        if programs:
            for program in programs:
                result = program.replay(*arrays)
                if result is not MISS:
                    return program.rebuild(result)
        return self._capture(key, arrays, args, kwargs)

    def _capture(self, key, arrays, args, kwargs):
        _check_arguments((args, kwargs))
        rec = Recording()
        inputs = []
        copies = iter([Traced(_copy(a)) for a in arrays])
        generators = [(g, generator_state(g)) for g in generators_seen_by(self.fn)]
        try:
            with instrument(rec):
                bound_args, bound_kwargs = _bind((args, kwargs), copies, inputs)
                result = self.fn(*bound_args, **bound_kwargs)
                outputs, rebuild = _split_outputs(result)
            check_generators(rec, generators)
            rec.refused += [f"the function changed {type(optimizer).__name__}.{name} (set "
                            f"hyperparameters between calls: a replay reads them anew)"
                            for optimizer, values in rec.optimizers.items()
                            for name, value in values.items()
                            if vars(optimizer)[name] != value]
            rec.refused += [
                f"the function adds gradients into the .grad of a tensor of shape "
                f"{tensor.shape} that was not empty when the call began; call "
                f"optimizer.zero_grad() inside the function (or between calls)"
                for tensor, first in rec.grad_first.items()
                if first[0] == "read" and first[1] is not None and id(tensor) not in rec.born
                and tensor.grad is not first[1]]
            if rec.refused:
                raise CaptureError("tg.jit cannot replay this function: "
                                   + "; ".join(rec.refused))
            program = Program(rec, inputs, outputs, _title(self.fn, args, kwargs, key[0]))
        finally:
            _release_gradients(rec)
        program.rebuild = rebuild
        for k in program.inputs_written:
            np.copyto(arrays[k], inputs[k].array)
        self.plan = program.plan
        if not rec.unsteady:  # a capture that created optimizer state is not a steady step
            programs = self._programs.setdefault(key, [])
            programs.insert(0, program)  # the newest first: the likeliest to fit the next call
            del programs[MAX_PROGRAMS:]
            _keep_identities((args, kwargs), self._held)
        return rebuild([t.array.copy() for t in outputs])


def _describe(x, key, arrays):
    """Append to `key` what must match for a recording to be replayed with argument x (shapes
    and dtypes of arrays, values of numbers and strings, identities of other objects), and to
    `arrays` the arrays of its Tensors and arrays, in the order _bind meets them."""
    if isinstance(x, Tensor):  # the layout too: a reduction's order, so its bits, follow it
        x = x.data
        key += (x.shape, x.dtype, x.strides)
        arrays.append(x)
    elif isinstance(x, np.ndarray):
        key += ("array", x.shape, x.dtype, x.strides)
        arrays.append(x)
    elif type(x) in (tuple, list):
        key.append((type(x), len(x)))
        for v in x:
            _describe(v, key, arrays)
    elif type(x) is dict:
        for k in sorted(x):
            key.append(k)
            _describe(x[k], key, arrays)
    elif type(x) in _BY_VALUE:
        key.append((type(x), x))
    else:
        key.append(("identity", id(x)))


def _keep_identities(x, held):
    """Keep alive the arguments a signature holds by identity (their ids must stay theirs)."""
    if type(x) in (tuple, list):
        for v in x:
            _keep_identities(v, held)
    elif type(x) is dict:
        for v in x.values():
            _keep_identities(v, held)
    elif not isinstance(x, (Tensor, np.ndarray)) and type(x) not in _BY_VALUE:
        held.append(x)


def _copy(array):
    """A copy with the same memory order of the axes as `array` (as eager code would see)."""
    copy = np.empty_like(array)
    np.copyto(copy, array)
    return copy


def _check_arguments(x):
    if isinstance(x, Tensor) and x.requires_grad:
        raise TypeError("tg.jit: a Tensor argument that requires grad is not supported (its "
                        "gradient would not reach it); train the parameters of a module or "
                        "of an optimizer the function uses, and pass the data as arguments")
    if type(x) in (tuple, list):
        for v in x:
            _check_arguments(v)
    elif type(x) is dict:
        for v in x.values():
            _check_arguments(v)


def _bind(x, copies, inputs):
    """x as the function sees it during the capture: its Tensor and array arguments replaced by
    `copies` (stand-ins of input buffers, which a replay fills with the new arguments)."""
    if isinstance(x, (Tensor, np.ndarray)):
        traced = next(copies)
        inputs.append(traced)
        return Tensor._make(traced, None) if isinstance(x, Tensor) else traced
    if type(x) in (tuple, list):
        return type(x)(_bind(v, copies, inputs) for v in x)
    if type(x) is dict:
        return {k: _bind(x[k], copies, inputs) for k in sorted(x)}
    return x


def _split_outputs(result):
    """(the stand-ins of the returned Tensors, a function that rebuilds the returned structure
    from arrays)."""
    if result is None:
        return [], lambda arrays: None
    if isinstance(result, Tensor):
        return [_stand_in(result)], lambda arrays: Tensor._make(arrays[0], None)
    if type(result) in (tuple, list) and all(isinstance(t, Tensor) for t in result):
        kind = type(result)
        return ([_stand_in(t) for t in result],
                lambda arrays: kind(Tensor._make(a, None) for a in arrays))
    if type(result) is dict and all(isinstance(t, Tensor) for t in result.values()):
        keys = list(result)
        return ([_stand_in(result[k]) for k in keys],
                lambda arrays: {k: Tensor._make(a, None) for k, a in zip(keys, arrays)})
    raise TypeError(f"tg.jit: the function must return None, a Tensor, or a tuple, list or "
                    f"dict of Tensors; it returned {type(result).__name__}")


def _stand_in(tensor):
    data = tensor.data  # read while instrumented: always a stand-in
    return data if isinstance(data, Traced) else Traced(np.asarray(data))


def _release_gradients(rec):
    """Gradients made during the capture hold stand-ins: give them their plain arrays."""
    data = Tensor.__dict__["data"]
    for tensor in rec.grad_first:
        grad = tensor.grad
        if grad is not None and isinstance(data.__get__(grad), Traced):
            tensor.grad = Tensor._make(data.__get__(grad).array, None)


def _title(fn, args, kwargs, grad_mode):
    def describe(x):
        if isinstance(x, (Tensor, np.ndarray)):
            return f"{tuple(x.shape)} {x.dtype}"
        return repr(x)
    parts = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
    return (f"tg.jit plan of {getattr(fn, '__qualname__', 'fn')}({', '.join(parts)}), "
            f"grad mode {'on' if grad_mode else 'off'}")

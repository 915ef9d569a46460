"""Capture: what one run of the step noted.

While a step is captured (`instrument.py` puts the stand-ins in place), every NumPy computation
it makes is noted as a `Call` in a `Recording`, with what the replay has to check first (the
objects the step reached, the branches it took) and what it has to write back after the calls
(`.grad`, step counters). The recording also keeps the undo log (`Transaction`) that puts
everything back if the capture raises.
"""
import numpy as np

from .stand_ins import Traced, origin
from .transaction import Transaction


# NumPy functions that write into their first argument (and return None).
WRITE_INTO_FIRST = {np.copyto, np.put, np.place, np.putmask, np.put_along_axis,
                    np.fill_diagonal}


class Call:
    """One noted NumPy computation: `func(*args, **kwargs)` (stand-ins in place of values) made
    `result` (a Traced, a tuple of them, or None for a write into `args`), during `op`.

    kind: "call" (a NumPy function, ufunc or method), "create" (a fresh array whose value is
    a constant: zeros, ones, arange...), "setitem" (args: target, index, value), "draw" (a
    random generator's method), "guard" (args: the stand-in whose value the code branched on,
    kwargs: {"value": what it was, "check": how it is compared}).
    """
    __slots__ = ("kind", "func", "args", "kwargs", "result", "op")

    def __init__(self, kind, func, args, kwargs, result, op):
        self.kind, self.func, self.args, self.kwargs = kind, func, args, kwargs
        self.result, self.op = result, op

    def __repr__(self):
        return f"Call({self.kind}, {getattr(self.func, '__name__', self.func)}, at {self.op})"


class Recording:
    """Everything one capture noted: the calls in order, and what the replay has to check and
    write back besides them."""

    def __init__(self):
        self.calls = []
        self.external = {}      # id(array) -> Traced, for arrays that live outside the step
        self.tensors = {}       # tensor made before the capture -> (array, _version) at 1st read
        self.born = {}          # id(tensor) -> tensor, for the tensors made during the capture
        self.grads = {}         # tensor -> ("read" or "write", its .grad) at first use of .grad
        self.rebinds = {}       # tensor made before -> its array, for p.data = ... in the step
        self.modules = {}       # module reached -> its structure when first reached
        self.born_modules = set()  # ids of the modules made during the capture
        self.optimizers = {}    # optimizer reached -> {hyperparameter: value read outside step}
        self.stepped = {}       # optimizer -> {hyperparameter: value} when it first stepped
        self.counters = []      # (state dict, name, Scalar) written back after each replay
        self.rebound = []       # (array, Traced): state array replaced by a new one in step
        self.refused = []       # reasons the capture cannot be replayed
        self.unsteady = False   # state was created during the capture: capture again next call
        self.restore = []       # undo actions of the instrumentation, run when the capture ends
        self.generators = {}    # id -> generator whose draws are noted
        self.backward_ran = False  # the step ran a backward pass (backward() or tg.grad)
        self.constants = []     # the Traced made from constants only (see Traced.constant)
        self.undo = Transaction()

    def note(self, kind, func, args, kwargs, result):
        self.calls.append(Call(kind, func, args, kwargs, result, origin()))

    def guard(self, stand_in, value, check):
        """The code branched on a value: replays check it is still the same."""
        self.calls.append(Call("guard", None, (stand_in,), {"value": value, "check": check},
                               None, origin()))
        return value

    def external_array(self, array):
        """The one Traced standing for an array that lives outside the step (a parameter, a
        tensor the function closes over, a module buffer, optimizer state)."""
        traced = self.external.get(id(array))
        if traced is None:
            traced = self.external[id(array)] = Traced(array)
        return traced

    def writing(self, func, args, kwargs):
        """func(*args, **kwargs) is about to run: the arrays outside the step that it writes
        into (out=, or the first argument of np.copyto, ufunc.at, ...) are saved first, for the
        undo log."""
        out = kwargs.get("out")
        if out is None:
            writes_first = func in WRITE_INTO_FIRST or getattr(func, "__name__", "") == "at"
            out = args[:1] if writes_first else ()
        for target in (out if type(out) in (tuple, list) else (out,)):
            if isinstance(target, Traced):
                self.writing_into(target)

    def writing_into(self, target):
        """target (a Traced) is about to be written into: save the arrays outside the step in
        its memory."""
        array = target.array
        if id(array) in self.external:
            self.undo.save_array(array)
        elif array.base is not None:
            for traced in self.external.values():
                if np.may_share_memory(array, traced.array):
                    self.undo.save_array(traced.array)

    def made(self, array, constant):
        """The Traced of an array the step made; a constant one is kept track of, so that a
        write into its memory makes it a constant no more."""
        traced = Traced(array, constant)
        if constant:
            self.constants.append(traced)
        return traced

    def wrote(self, target):
        """`target` (a Traced) was written into: the constants in its memory are constants no
        more. (What it may change outside the step was saved when the step first reached it.)"""
        for traced in self.constants:
            if traced.constant and np.may_share_memory(target.array, traced.array):
                traced.constant = False

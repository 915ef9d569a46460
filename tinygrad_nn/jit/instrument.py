"""The stand-ins get into the library for the time of a capture only, through `instrument()`.

- `Tensor.data` and `Tensor.grad` read and write through properties: a tensor made before the
  call hands out the one stand-in of its array, and what the step does to `.grad` and to
  `p.data` is noted (and saved, for the undo log);
- the library modules' `np` and `math` names point to thin shims (fresh arrays are stand-ins,
  conversions keep them), and their `to_constant` takes a stand-in as the array it stands for;
- modules and optimizers are wrapped: the first time the step reaches one its structure is
  noted (the replay checks it), its buffers and generators become stand-ins, an optimizer's
  hyperparameters `Scalar`s for the time of its step;
- the Tensor methods that read a value or print one are refused.

Every change is undone when the capture ends (see the table in docs/jit.md).
"""
import contextlib
import math
import sys
import types

import numpy as np

from .. import autograd, function, nn, optim
from ..tensor import Tensor
from .guards import module_structure
from .stand_ins import (CONVERSION, CaptureError, Scalar, Traced, _active, all_constant,
                        has_stand_in, read, recording, refuse, run, text_of, unwrap,
                        where_in_user_code)
from .transaction import _DATA, _GRAD, generator_state


# --------------------------------------------------------------------------- Tensor slots

def _read_data(t):
    array = _DATA.__get__(t)
    rec = recording()
    if rec is None or id(t) in rec.born or t in rec.rebinds:
        return array  # (the step's own tensors hold its stand-ins)
    if type(array) is Traced:  # a tensor an earlier capture made and the caller kept
        array = array.array
    if type(array) is not np.ndarray:
        return array
    if t not in rec.tensors:
        rec.tensors[t] = (array, t._version)
        rec.undo.save_version(t)
    return rec.external_array(array)


def _write_data(t, value):
    rec = recording()
    if rec is not None and id(t) not in rec.born:
        try:
            current = _DATA.__get__(t)
        except AttributeError:  # a tensor being made: from now on it is the step's own
            rec.born[id(t)] = t
        else:  # p.data = ... on a tensor made before the call
            if isinstance(value, Traced) and value.array is current:
                return  # p.data -= x: written in place, the same array again
            rec.rebinds.setdefault(t, current)
            rec.undo.save_data(t, current)
    _DATA.__set__(t, value)


def _read_grad(t):
    grad = _GRAD.__get__(t)
    rec = recording()
    if rec is not None and t not in rec.grads and id(t) not in rec.born:
        rec.grads[t] = ("read", grad)
        rec.undo.save_grad(t, grad)
    return grad


def _write_grad(t, grad):
    rec = recording()
    if rec is not None and t not in rec.grads and id(t) not in rec.born:
        rec.grads[t] = ("write", _GRAD.__get__(t))
        rec.undo.save_grad(t, _GRAD.__get__(t))
    _GRAD.__set__(t, grad)


def _refused_read(name, method):
    what = _CONVERSIONS.get(name, f"Tensor.{name}()")

    def refused(self, *args, **kwargs):
        return read(self, lambda t: method(t, *args, **kwargs), what)
    return refused


_CONVERSIONS = {"__bool__": "bool(tensor) (an if or while on a tensor's value)",
                "__float__": "float(tensor)", "__int__": "int(tensor)",
                "__index__": "using a tensor as an index or count", "__array__": CONVERSION}


def _refused_text(method):
    return lambda self: text_of(self, method)


# --------------------------------------------------------------------------- shims

class _NumpyShim(types.ModuleType):
    """`np` for the library's modules during a capture: NumPy, except that conversions keep
    stand-ins and that fresh arrays are stand-ins (so writes into them are seen)."""

    ndarray = (np.ndarray, Traced)  # isinstance(x, np.ndarray) holds for stand-ins

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def asarray(a, dtype=None, **kwargs):
        if isinstance(a, Tensor):
            a = a.data
        if isinstance(a, Traced):
            return a if dtype is None or a.dtype == dtype else a.astype(dtype)
        return np.asarray(a, dtype, **kwargs)

    asanyarray = asarray

    @staticmethod
    def ascontiguousarray(a, dtype=None, **kwargs):
        if isinstance(a, Tensor):
            a = a.data
        if isinstance(a, Traced) and (dtype is None or a.dtype == dtype):
            return a if a.flags.c_contiguous else run(np.ascontiguousarray, (a,), {})
        return np.ascontiguousarray(unwrap(a), dtype, **kwargs) if not isinstance(
            a, Traced) else run(np.ascontiguousarray, (a, dtype), kwargs)

    @staticmethod
    def array(a, dtype=None, copy=True, **kwargs):
        if isinstance(a, Tensor):
            a = a.data
        if isinstance(a, Traced):
            return a.astype(a.dtype if dtype is None else dtype) if copy else a
        return np.array(a, dtype, copy=copy, **kwargs)


def _creator(func):
    def create(*args, **kwargs):
        result = func(*unwrap(args), **unwrap(kwargs))
        rec = recording()
        if rec is None:
            return result
        # np.full(shape, stand_in) computes from a value: a call, not a constant
        kind = "call" if has_stand_in((args, kwargs)) else "create"
        traced = rec.made(result, kind == "create" or all_constant((args, kwargs)))
        rec.note(kind, func, args, kwargs, traced)
        return traced
    return staticmethod(create)


for _name in ("zeros", "ones", "empty", "full", "arange", "eye"):
    setattr(_NumpyShim, _name, _creator(getattr(np, _name)))
numpy_shim = _NumpyShim("numpy")


def _math_function(name):
    real = getattr(math, name)

    def function(*args):
        if any(isinstance(a, Traced) for a in args):
            return run(getattr(np, name), args, {})
        if any(isinstance(a, Scalar) for a in args):
            return Scalar(real(*unwrap(args)), None, real, args)
        return real(*args)
    return function


math_shim = types.SimpleNamespace(**{name: getattr(math, name) for name in dir(math)
                                     if not name.startswith("_")})
for _name in ("sqrt", "exp", "log", "cos", "sin", "isfinite", "isnan", "isinf", "fabs"):
    setattr(math_shim, _name, _math_function(_name))


def _to_constant(x, to_constant=function.to_constant):
    """function.to_constant, which takes a stand-in as the array it stands for (an ndarray
    argument of the step combined with a Tensor, x + w)."""
    return x if isinstance(x, (Traced, Scalar)) else to_constant(x)


class _RecordingGenerator:
    """A module's numpy.random.Generator during a capture: each draw is noted, so a replay
    draws again from the same generator, in the same order."""

    def __init__(self, generator):
        self.generator = generator

    def __getattr__(self, name):
        method = getattr(self.generator, name)
        if not callable(method):
            return method

        def draw(*args, **kwargs):
            result = method(*unwrap(args), **unwrap(kwargs))
            rec = recording()
            if rec is None or not isinstance(result, np.ndarray):
                return result
            traced = Traced(result)
            rec.note("draw", method, args, kwargs, traced)
            return traced
        return draw


def _new_generator(*args, **kwargs):
    """np.random.default_rng inside a captured function: new draws on every eager call."""
    rec = recording()
    if rec is not None:
        rec.refused.append(f"a new random generator made inside the function [at "
                           f"{where_in_user_code()}]: each eager call would draw anew, a "
                           f"replay would not")
    return np.random.default_rng(*args, **kwargs)


class _RandomShim(types.ModuleType):
    default_rng = staticmethod(_new_generator)

    def __getattr__(self, name):
        return getattr(np.random, name)


_random_shim = _RandomShim("numpy.random")


# --------------------------------------------------------------------------- modules

def _library_modules():
    return [m for name, m in list(sys.modules.items())
            if name.startswith("tinygrad_nn.") and not name.startswith(__package__)
            and m is not None]


def _subclasses(cls):
    found, stack = [], [cls]
    while stack:
        c = stack.pop()
        found.append(c)
        stack.extend(c.__subclasses__())
    return found


def _set(obj, name, value, undo):
    """obj.name = value (in obj's __dict__ for classes), with a way back for the undo list."""
    had = name in vars(obj)
    old = vars(obj).get(name)
    setattr(obj, name, value)
    undo.append(lambda: setattr(obj, name, old) if had else delattr(obj, name))


def _reach_module(rec, module):
    """First time the step reaches a module (reads or sets an attribute, calls it): note its
    structure (what replays check), save it for the undo log; its buffers and generators
    become stand-ins until the capture ends."""
    attributes = object.__getattribute__(module, "__dict__")
    rec.modules[module] = module_structure(module)
    rec.undo.save_module(module)
    for name, value in list(attributes.items()):
        if isinstance(value, (np.random.Generator, np.random.RandomState)):
            attributes[name] = _RecordingGenerator(value)
            rec.generators[id(value)] = value
            rec.undo.save_generator(value, generator_state(value))
            rec.restore.append(lambda a=attributes, n=name, v=value: a.__setitem__(n, v))
    buffers = attributes.get("_buffers")
    if isinstance(buffers, dict):
        for name, value in list(buffers.items()):
            if type(value) is np.ndarray:
                buffers[name] = rec.external_array(value)
                rec.restore.append(lambda b=buffers, n=name, v=value: b.__setitem__(n, v))


def _patch_modules(rec, nn, undo):
    """nn.Module: reaching a module notes it; a Python attribute set on a module the step
    reached is refused (no replay repeats it), except train()/eval() (the modes are checked
    and set again); modules made during the call are the step's own."""
    module = nn.Module
    getattribute, setattr_, init = (module.__getattribute__, module.__setattr__,
                                    module.__init__)

    def reached(self):
        if self not in rec.modules and id(self) not in rec.born_modules:
            rec.modules[self] = None  # (reached: no recursion through the reads below)
            _reach_module(rec, self)

    def read(self, name):
        reached(self)
        return getattribute(self, name)

    def set_attribute(self, name, value):
        reached(self)
        if (id(self) not in rec.born_modules and name != "training"
                and name not in object.__getattribute__(self, "_buffers")):
            refuse(rec, f"{type(self).__name__}.{name} is set during the call: a replay would "
                        f"not set it again (keep such state in a buffer, register_buffer, "
                        f"updated in place) [at {where_in_user_code()}]")
        setattr_(self, name, value)

    def initialise(self, *args, **kwargs):
        rec.born_modules.add(id(self))
        init(self, *args, **kwargs)
    _set(module, "__getattribute__", read, undo)
    _set(module, "__setattr__", set_attribute, undo)
    _set(module, "__init__", initialise, undo)


# --------------------------------------------------------------------------- optimizers

def _enter_optimizer(rec, optimizer):
    """Before an optimizer's step: its hyperparameters and step counters become Scalars read
    anew on each replay, its state arrays stand-ins."""
    rec.undo.save_optimizer(optimizer)
    attributes, kind = vars(optimizer), type(optimizer).__name__
    rec.optimizers.setdefault(optimizer, {})
    values = {}
    for name in type(optimizer).hyperparameters:
        value = values[name] = attributes[name]
        if isinstance(value, tuple):
            attributes[name] = tuple(Scalar(v, (attributes, name, i, f"{kind}.{name}[{i}]"))
                                     for i, v in enumerate(value))
        elif isinstance(value, (bool, int, float)):
            attributes[name] = Scalar(value, (attributes, name, None, f"{kind}.{name}"))
    rec.stepped.setdefault(optimizer, values)
    before = {index: dict(entry) for index, entry in optimizer.state.items()}
    for index, entry in optimizer.state.items():
        for name, value in entry.items():
            if type(value) is np.ndarray:
                entry[name] = rec.external_array(value)
            elif isinstance(value, int):
                label = f"{kind}.state[{index}][{name!r}]"
                entry[name] = Scalar(value, (entry, name, None, label))
    return values, before


def _leave_optimizer(rec, optimizer, values, before):
    """After the step: plain values back in place; counters and rebound arrays are noted for
    the replay; state made during the capture means the next call must capture again."""
    attributes = vars(optimizer)
    for name, value in values.items():
        if not isinstance(attributes[name], (Scalar, tuple)):
            rec.refused.append(f"{type(optimizer).__name__}.step() changed {name}")
        attributes[name] = value
    for index, entry in optimizer.state.items():
        old = before.get(index)
        if old is None or set(old) != set(entry):
            rec.unsteady = True
        for name, value in entry.items():
            previous = None if old is None else old.get(name)
            if isinstance(value, Scalar):
                if value.source is None or value.source[0] is not entry:
                    rec.counters.append((entry, name, value))
                entry[name] = value.value
            elif isinstance(value, Traced):
                if type(previous) is np.ndarray and value.array is not previous:
                    rec.rebound.append((previous, value))
                    rec.undo.save_array(previous)
                    np.copyto(previous, value.array)
                    entry[name] = previous
                else:
                    entry[name] = value.array


def _patch_optimizers(rec, optim, undo):
    """Each optimizer's step runs on Scalars and stand-ins; an optimizer's hyperparameters read
    outside its step are noted (replays check them); a schedule stepped is refused."""
    def wrapped(step):
        def step_on_stand_ins(optimizer, *args, **kwargs):
            values, before = _enter_optimizer(rec, optimizer)
            try:
                return step(optimizer, *args, **kwargs)
            finally:
                _leave_optimizer(rec, optimizer, values, before)
        return step_on_stand_ins

    for cls in _subclasses(optim.Optimizer):
        if "step" in vars(cls):
            _set(cls, "step", wrapped(vars(cls)["step"]), undo)
    getattribute = optim.Optimizer.__getattribute__

    def reach(optimizer, name):
        value = getattribute(optimizer, name)
        reads = rec.optimizers.setdefault(optimizer, {})
        if name in type(optimizer).hyperparameters and not isinstance(value, (Scalar, tuple)):
            reads.setdefault(name, value)
        return value
    _set(optim.Optimizer, "__getattribute__", reach, undo)
    _set(optim.lr_scheduler.LRScheduler, "step", _refused_schedule_step, undo)


def _refused_schedule_step(schedule):
    raise CaptureError(
        f"{type(schedule).__name__}.step() inside a function that tg.jit captures: the replay "
        f"would not run it again. Call schedule.step() between calls of the jitted function; "
        f"the new lr takes effect in the replay.")


# --------------------------------------------------------------------------- all together

@contextlib.contextmanager
def instrument(rec):
    """Put the stand-ins in place for the time of a capture, and take them out again."""
    undo = []
    _active.append(rec)
    try:
        _set(Tensor, "data", property(_read_data, _write_data), undo)
        _set(Tensor, "grad", property(_read_grad, _write_grad), undo)
        for name in ("numpy", "item", "tolist", "__bool__", "__float__", "__int__",
                     "__index__", "__array__"):
            if hasattr(Tensor, name):
                _set(Tensor, name, _refused_read(name, getattr(Tensor, name)), undo)
        _set(Tensor, "__repr__", _refused_text(Tensor.__repr__), undo)
        for module in _library_modules():
            for name, real, shim in (("np", np, numpy_shim), ("math", math, math_shim),
                                     ("to_constant", function.to_constant, _to_constant)):
                if getattr(module, name, None) is real:
                    _set(module, name, shim, undo)
        _patch_modules(rec, nn, undo)
        _patch_optimizers(rec, optim, undo)
        run_backward = autograd.run_backward

        def noted_backward(*args, **kwargs):
            rec.backward_ran = True
            return run_backward(*args, **kwargs)
        _set(autograd, "run_backward", noted_backward, undo)
        _set(numpy_shim, "random", _random_shim, undo)
        yield rec
    finally:
        _active.pop()
        for action in reversed(undo + rec.restore):
            action()


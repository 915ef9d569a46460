"""Guards: what a replay checks before it runs, so that nothing the step reached is stale.

The capture notes every object the step reached, as TorchDynamo guards the attribute reads of a
frame:
- each Module reached (an attribute read or set, a call): its structure, that is its attributes
  (hyperparameters such as Dropout.p, its generator, its train/eval mode) and its registered
  parameters, sub-modules and buffers. Checking them all on every call would cost more than a
  small step, so every attribute set on any Module counts one *structure change* (`changes()`);
  a replay compares one number, and only after a change compares the structures;
- each tensor made before the call whose array the step read: the same array, the same
  requires_grad;
- each optimizer reached: the same parameter list, the same state dict, the hyperparameters it
  read outside its step (those read inside are read anew on each replay);
- the objects `fn` reads from its globals and closure (and from those of the functions it reads,
  and the attributes of plain objects among them): the same objects. Plain numbers and strings
  there are frozen at capture, as documented: `step.reset()` forgets every capture.
"""
import dis
import types

import numpy as np

from .. import nn
from ..optim import Optimizer
from ..tensor import Tensor

_changes = [0]  # structure changes of Modules so far: bumped by every attribute set on one


def changes():
    """The number of attribute sets, deletions and buffer registrations on Modules so far."""
    return _changes[0]


def _counted(method):
    def counted(self, *args, **kwargs):
        _changes[0] += 1
        return method(self, *args, **kwargs)
    counted.__name__, counted.__doc__ = method.__name__, method.__doc__
    counted.__wrapped__ = method
    return counted


for _name in ("__setattr__", "__delattr__", "register_buffer"):
    setattr(nn.Module, _name, _counted(getattr(nn.Module, _name)))


PLAIN = (type(None), bool, int, float, complex, str, bytes, np.generic)


def module_structure(module):
    """[(name, value)] of a module's attributes, its registries as tuples of their items."""
    attributes = object.__getattribute__(module, "__dict__")
    return [(name, tuple(value.items()) if name in ("_parameters", "_buffers", "_modules")
             else value) for name, value in attributes.items()]


def same(a, b):
    """a and b are the same: plain values equal (NaN equals NaN), containers item by item,
    anything else the same object."""
    if type(a) is not type(b):
        return False
    if isinstance(a, PLAIN):
        return a == b or (a != a and b != b)
    if type(a) in (tuple, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a is b


def structures_unchanged(modules):
    """True if every (module, structure) still has that structure."""
    return all(same(module_structure(m), structure) for m, structure in modules)


class Reached:
    """What the capture reached through `fn`'s globals and closure: [(container, key, value,
    label)], each checked as container[key] is value (a dict: globals, an object's __dict__,
    a dict the step reads) or container.cell_contents is value (key None: a closure cell)."""

    def __init__(self, fn, held):
        self.items, self._seen = [], set()
        for obj in held:
            self._object(obj, type(obj).__name__, depth=1)
        self._function(fn, depth=0)

    def _function(self, fn, depth):
        fn = getattr(fn, "__func__", fn)  # a bound method: its function
        code = getattr(fn, "__code__", None)
        if code is None or id(fn) in self._seen or depth > 3:
            return
        self._seen.add(id(fn))
        names = set(_global_names(code))
        for name in sorted(names):
            if name in fn.__globals__:
                self._add(fn.__globals__, name, fn.__globals__[name], name, depth)
        for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            self._add(cell, None, value, name, depth)

    def _add(self, container, key, value, label, depth):
        if isinstance(value, (PLAIN, type, types.ModuleType, types.BuiltinFunctionType)):
            return  # frozen (numbers, strings), or never rebound in practice (modules, classes)
        if isinstance(value, tuple) and all(isinstance(v, PLAIN) for v in value):
            return
        self.items.append((container, key, value, label))
        if isinstance(value, (types.FunctionType, types.MethodType)):
            self._function(value, depth + 1)
            if isinstance(value, types.MethodType):
                self._object(value.__self__, label, depth + 1)
        else:
            self._object(value, label, depth + 1)

    def _object(self, obj, label, depth):
        """The attributes of a plain object (a trainer holding a model), the items of a dict."""
        if id(obj) in self._seen or depth > 2:
            return
        self._seen.add(id(obj))
        if type(obj) is dict:
            items = obj
        elif _plain_instance(obj):
            items = vars(obj)
        else:
            return
        for key, value in list(items.items()):
            if isinstance(value, (nn.Module, Tensor, Optimizer, np.random.Generator, dict)) or (
                    _plain_instance(value)):
                self._add(items, key, value, f"{label}.{key}" if items is not obj else
                          f"{label}[{key!r}]", depth)


def _global_names(code):
    """The global names `code` (and the functions and comprehensions defined in it) loads."""
    for instruction in dis.get_instructions(code):
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            yield instruction.argval
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_names(const)


def _plain_instance(obj):
    """An instance of a user's class (not a library object, a function, a module, a class)."""
    module = type(obj).__module__
    return (hasattr(obj, "__dict__") and not isinstance(obj, (
        type, types.ModuleType, types.FunctionType, types.MethodType, nn.Module, Tensor,
        np.ndarray, Optimizer))
        and (not module.startswith(("tinygrad_nn.", "numpy", "builtins"))
             or module.startswith(_USER_MODULES)))


_USER_MODULES = ("tinygrad_nn.examples", "tinygrad_nn.jit.fuzz")  # the package's user code

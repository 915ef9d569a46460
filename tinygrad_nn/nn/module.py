"""Module and Parameter: the containers that hold a network's weights.

A Module registers every Parameter and every sub-Module assigned to one of its attributes, and
every buffer (a NumPy array of state, such as batch norm's running statistics) given to
`register_buffer`, so `parameters()`, `state_dict()` and `train()`/`eval()` find them without
being told.
"""
import os
from collections import namedtuple
from collections.abc import Mapping

import numpy as np

from ..grad_mode import no_grad
from ..tensor import Tensor

__all__ = ["Module", "Parameter", "IncompatibleKeys"]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter(Tensor):
    """A Tensor that requires grad and is registered when set as a Module attribute."""

    __slots__ = ()

    def __init__(self, data, dtype=None):
        super().__init__(data, requires_grad=True, dtype=dtype)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base of every layer and network: subclasses set their Parameters and sub-Modules as
    attributes in `__init__` (after `super().__init__()`), register NumPy arrays that are
    state but not parameters (running statistics) with `register_buffer`, and define
    `forward`."""

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        """A Parameter or Module value is registered under `name`; a new value for a registered
        Parameter must be a Parameter or None (which removes it), one for a buffer a NumPy
        array of the same shape and dtype (copied in) or None; any other value becomes a
        plain attribute."""
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign attribute {name!r} before "
                                 f"Module.__init__() is called: call super().__init__() first "
                                 f"in {type(self).__name__}.__init__")
        if name in self._parameters and not (value is None or isinstance(value, Parameter)):
            raise TypeError(f"cannot assign a {type(value).__name__} to {name!r}, a Parameter "
                            f"of {type(self).__name__}: assign an nn.Parameter, or None to "
                            f"remove it (to change its values, use {name}.copy_(...) under "
                            f"tg.no_grad())")
        if name in self._modules and not (value is None or isinstance(value, (Module,
                                                                              Parameter))):
            raise TypeError(f"cannot assign a {type(value).__name__} to {name!r}, a sub-module "
                            f"of {type(self).__name__}: assign a Module, or None to remove it")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            if value is not None:
                self._check_buffer_value(name, value)
                np.copyto(self._buffers[name], value)
                return
            del self._buffers[name]
        if isinstance(value, Parameter):
            registry = self._parameters
        elif isinstance(value, Module):
            registry = self._modules
        else:
            registry = None
        for other in (self._parameters, self._buffers, self._modules):
            if other is not registry:
                other.pop(name, None)
        if registry is None:
            object.__setattr__(self, name, value)
        else:
            self.__dict__.pop(name, None)
            registry[name] = value  # a name assigned again keeps its place in the order

    def _check_buffer_value(self, name, value):
        buffer = self._buffers[name]
        if not isinstance(value, np.ndarray):
            raise TypeError(f"cannot assign a {type(value).__name__} to {name!r}, a buffer of "
                            f"{type(self).__name__}: assign a NumPy array of shape "
                            f"{buffer.shape} and dtype {buffer.dtype}, or None to remove it")
        if value.shape != buffer.shape or value.dtype != buffer.dtype:
            raise ValueError(f"cannot assign an array of shape {value.shape} and dtype "
                             f"{value.dtype} to the buffer {name!r} of {type(self).__name__}, "
                             f"which has shape {buffer.shape} and dtype {buffer.dtype}")

    def register_buffer(self, name, array):
        """Keep `array` (a NumPy array, copied) as state under `name`: saved in `state_dict()`
        and loaded by `load_state_dict`, read as `self.name`, but not a parameter."""
        if "_buffers" not in self.__dict__:
            raise AttributeError(f"cannot register buffer {name!r} before Module.__init__() "
                                 f"is called: call super().__init__() first in "
                                 f"{type(self).__name__}.__init__")
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"register_buffer: name must be a non-empty str without '.', got "
                             f"{name!r}")
        if (name in self._parameters or name in self._modules or name in self.__dict__
                or hasattr(type(self), name)):
            raise KeyError(f"register_buffer: {type(self).__name__} already has an attribute "
                           f"{name!r}")
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
            raise TypeError(f"register_buffer: {name!r} must be a numeric NumPy array, got "
                            f"{type(array).__name__}"
                            + (f" of dtype {array.dtype}" if isinstance(array, np.ndarray)
                               else ""))
        self._buffers[name] = array.copy()

    def __getattr__(self, name):
        # Only called when normal lookup fails, i.e. for registered parameters, buffers and
        # modules.
        registry = self.__dict__
        if "_parameters" in registry:
            for kind in ("_parameters", "_buffers", "_modules"):
                if name in registry[kind]:
                    return registry[kind][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    # ------------------------------------------------------------------ traversal
    def named_children(self):
        """(name, module) for each direct sub-module, in assignment order."""
        return iter(self._modules.items())

    def children(self):
        return (module for _, module in self.named_children())

    def modules(self):
        """This module and every module below it, each once, parents before children."""
        seen = set()
        stack = [self]
        while stack:
            module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield module
            stack.extend(reversed(list(module.children())))

    def _named_entries(self, prefix, kinds):
        """(dotted name, value) of the registries `kinds` of this module, then of each
        sub-module, in assignment order; each value once (under its first name)."""
        seen = set()
        for name, value in self._all_entries(prefix, kinds):
            if id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def _all_entries(self, prefix, kinds):
        for kind in kinds:
            for name, value in getattr(self, kind).items():
                yield prefix + name, value
        for name, module in self._modules.items():
            yield from module._all_entries(prefix + name + ".", kinds)

    def named_parameters(self, prefix=""):
        """(dotted name, Parameter) pairs, each Parameter once (under its first name): this
        module's own parameters first, then each sub-module's, in assignment order."""
        return self._named_entries(prefix, ("_parameters",))

    def parameters(self):
        """Every Parameter once, in the order of `named_parameters()`."""
        return [parameter for _, parameter in self.named_parameters()]

    def named_buffers(self, prefix=""):
        """(dotted name, array) pairs of the buffers, ordered as `named_parameters()`."""
        return self._named_entries(prefix, ("_buffers",))

    def buffers(self):
        """Every buffer (a NumPy array) once, in the order of `named_buffers()`."""
        return [buffer for _, buffer in self.named_buffers()]

    def zero_grad(self):
        """Forget the gradients of every parameter (`.grad = None`)."""
        for parameter in self.parameters():
            parameter.grad = None

    # ------------------------------------------------------------------ modes
    def train(self, mode=True):
        """Set training mode (Dropout and batch norm's batch statistics active) on this
        module and all below it; returns self."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"train(mode): mode must be True or False, got {mode!r}")
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self):
        """Set evaluation mode (Dropout is the identity, batch norm uses its running
        statistics) on this module and all below; returns self."""
        return self.train(False)

    # ------------------------------------------------------------------ state
    def _named_state(self):
        return self._named_entries("", ("_parameters", "_buffers"))

    def state_dict(self):
        """{dotted name: copy of the NumPy array} of every parameter and buffer: each module's
        parameters, then its buffers, then its sub-modules' (as PyTorch orders them)."""
        return {name: (value.data if isinstance(value, Tensor) else value).copy()
                for name, value in self._named_state()}

    def load_state_dict(self, state_dict, strict=True):
        """Copy the arrays of `state_dict` into the parameters and buffers of the same name.

        Everything is checked before anything is copied, so on an error nothing changes:
        TypeError if `state_dict` is not a mapping; with `strict`, a missing or unexpected
        name raises KeyError; a shape or dtype that differs from the module's raises
        ValueError. Without `strict`, only the names both sides have are loaded. Returns
        `IncompatibleKeys(missing_keys, unexpected_keys)`.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict takes a mapping from names to arrays (such as "
                            f"tg.load(path) returns), got {type(state_dict).__name__}"
                            + (": pass tg.load(path), not the path"
                               if isinstance(state_dict, (str, os.PathLike)) else ""))
        if not isinstance(strict, (bool, np.bool_)):
            raise TypeError(f"load_state_dict: strict must be True or False, got {strict!r}")
        own = dict(self._named_state())
        missing = [name for name in own if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys "
                           f"{unexpected}")
        updates = []
        for name, target in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            array = value.data if isinstance(value, Tensor) else np.asarray(value)
            if array.shape != target.shape:
                raise ValueError(f"load_state_dict: {name!r} has shape {array.shape} in the "
                                 f"state dict but {target.shape} in the module")
            if array.dtype != target.dtype:
                raise ValueError(f"load_state_dict: {name!r} has dtype {array.dtype} in the "
                                 f"state dict but {target.dtype} in the module")
            updates.append((target, array))
        with no_grad():
            for target, array in updates:
                if isinstance(target, Tensor):
                    target.copy_(array)
                else:
                    np.copyto(target, array)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ display
    def extra_repr(self):
        """What goes between the parentheses of this module's repr (its settings)."""
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(module).replace("\n", "\n  ")
                 for name, module in self._modules.items()]
        if not lines:
            return f"{type(self).__name__}({self.extra_repr()})"
        header = self.extra_repr()
        body = "\n  ".join(([header] if header else []) + lines)
        return f"{type(self).__name__}(\n  {body}\n)"

"""Module and Parameter: the containers that hold a network's weights.

A Module registers every Parameter and every sub-Module assigned to one of its attributes, so
`parameters()`, `state_dict()` and `train()`/`eval()` find them without being told.
"""
from collections import namedtuple

import numpy as np

from ..autograd import no_grad
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
    attributes in `__init__` (after `super().__init__()`) and define `forward`."""

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        """A Parameter or Module value is registered under `name`; any other value takes the
        name out of the registry and becomes a plain attribute."""
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign attribute {name!r} before "
                                 f"Module.__init__() is called: call super().__init__() first "
                                 f"in {type(self).__name__}.__init__")
        if isinstance(value, Parameter):
            registry = self._parameters
        elif isinstance(value, Module):
            registry = self._modules
        else:
            registry = None
        for other in (self._parameters, self._modules):
            if other is not registry:
                other.pop(name, None)
        if registry is None:
            object.__setattr__(self, name, value)
        else:
            self.__dict__.pop(name, None)
            registry[name] = value  # a name assigned again keeps its place in the order

    def __getattr__(self, name):
        # Only called when normal lookup fails, i.e. for registered parameters and modules.
        registry = self.__dict__
        if "_parameters" in registry:
            if name in registry["_parameters"]:
                return registry["_parameters"][name]
            if name in registry["_modules"]:
                return registry["_modules"][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._modules:
            del self._modules[name]
        else:
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

    def named_parameters(self, prefix=""):
        """(dotted name, Parameter) pairs, each Parameter once (under its first name): this
        module's own parameters first, then each sub-module's, in assignment order."""
        seen = set()
        for name, parameter in self._named_parameters(prefix):
            if id(parameter) not in seen:
                seen.add(id(parameter))
                yield name, parameter

    def _named_parameters(self, prefix):
        for name, parameter in self._parameters.items():
            yield prefix + name, parameter
        for name, module in self._modules.items():
            yield from module._named_parameters(prefix + name + ".")

    def parameters(self):
        """Every Parameter once, in the order of `named_parameters()`."""
        return [parameter for _, parameter in self.named_parameters()]

    def zero_grad(self):
        """Forget the gradients of every parameter (`.grad = None`)."""
        for parameter in self.parameters():
            parameter.grad = None

    # ------------------------------------------------------------------ modes
    def train(self, mode=True):
        """Set training mode (Dropout active) on this module and all below it; returns self."""
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self):
        """Set evaluation mode (Dropout is the identity) on this module and all below; returns
        self."""
        return self.train(False)

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """{dotted name: copy of the parameter's NumPy array}, in `named_parameters()` order."""
        return {name: parameter.data.copy() for name, parameter in self.named_parameters()}

    def load_state_dict(self, state_dict, strict=True):
        """Copy the arrays of `state_dict` into the parameters of the same name.

        Everything is checked before anything is copied, so on an error no parameter changes:
        with `strict`, a missing or unexpected name raises KeyError; a shape or dtype that
        differs from the parameter's raises ValueError. Without `strict`, only the names both
        sides have are loaded. Returns `IncompatibleKeys(missing_keys, unexpected_keys)`.
        """
        own = dict(self.named_parameters())
        missing = [name for name in own if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys "
                           f"{unexpected}")
        updates = []
        for name, parameter in own.items():
            if name not in state_dict:
                continue
            array = np.asarray(state_dict[name])
            if array.shape != parameter.shape:
                raise ValueError(f"load_state_dict: {name!r} has shape {array.shape} in the "
                                 f"state dict but {parameter.shape} in the module")
            if array.dtype != parameter.dtype:
                raise ValueError(f"load_state_dict: {name!r} has dtype {array.dtype} in the "
                                 f"state dict but {parameter.dtype} in the module")
            updates.append((parameter, array))
        with no_grad():
            for parameter, array in updates:
                parameter.copy_(array)
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

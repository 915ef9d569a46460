"""The undo log of a capture: a capture that raises puts back what it changed.

A capture is an eager run, so it changes what an eager call changes: parameters and buffers
(in place), optimizer state, `.grad`, tensors' arrays (`p.data = ...`), version counts, random
generators, module attributes. Each is saved the first time the capture reaches it, and
`rollback()` restores them, so that a call that raises changes nothing.
"""
import numpy as np

from ..tensor import Tensor

_DATA = Tensor.__dict__["data"]  # the slot descriptors, read through while capturing
_GRAD = Tensor.__dict__["grad"]


class Transaction:
    """What a capture changed, saved before it changed it."""

    def __init__(self):
        self.arrays = {}      # id(array) -> (array, copy of its values)
        self.data = {}        # tensor -> the array it held
        self.grads = {}       # tensor -> its .grad
        self.versions = {}    # tensor -> (_version, list of _writes or None)
        self.generators = {}  # id(generator) -> (generator, state)
        self.modules = {}     # module -> (its __dict__, its registries), shallow copies
        self.optimizers = {}  # optimizer -> (state dict, its entries, entry contents, attributes)

    def save_array(self, array):
        if id(array) not in self.arrays:
            self.arrays[id(array)] = (array, array.copy())

    def save_data(self, tensor, array):
        self.data.setdefault(tensor, array)

    def save_grad(self, tensor, grad):
        self.grads.setdefault(tensor, grad)

    def save_version(self, tensor):
        if tensor not in self.versions:
            writes = getattr(tensor, "_writes", None)
            self.versions[tensor] = (tensor._version, None if writes is None else list(writes))

    def save_generator(self, generator, state):
        self.generators.setdefault(id(generator), (generator, state))

    def save_module(self, module):
        if module not in self.modules:
            attributes = object.__getattribute__(module, "__dict__")
            self.modules[module] = (dict(attributes), {
                name: dict(attributes[name]) for name in ("_parameters", "_buffers", "_modules")
                if isinstance(attributes.get(name), dict)})

    def save_optimizer(self, optimizer):
        if optimizer not in self.optimizers:
            attributes = vars(optimizer)
            state = attributes["state"]
            self.optimizers[optimizer] = (state, dict(state), {
                index: dict(entry) for index, entry in state.items()}, dict(attributes))

    def rollback(self):
        """Put back everything saved (values of arrays in place, the rest by assignment)."""
        for module, (attributes, registries) in self.modules.items():
            current = object.__getattribute__(module, "__dict__")
            current.clear()
            current.update(attributes)
            for name, registry in registries.items():
                attributes[name].clear()
                attributes[name].update(registry)
        for optimizer, (state, entries, contents, attributes) in self.optimizers.items():
            for index, entry in entries.items():
                entry.clear()
                entry.update(contents[index])
            state.clear()
            state.update(entries)
            vars(optimizer).clear()
            vars(optimizer).update(attributes)
        for array, saved in self.arrays.values():
            if array.tobytes() != saved.tobytes():
                _copy_into(array, saved)
        for tensor, array in self.data.items():
            _DATA.__set__(tensor, array)
        for tensor, grad in self.grads.items():
            _GRAD.__set__(tensor, grad)
        for tensor, (version, writes) in self.versions.items():
            tensor._version = version
            if writes is not None:
                tensor._writes.clear()
                tensor._writes.extend(writes)
            elif getattr(tensor, "_writes", None) is not None:
                del tensor._writes
        for generator, state in self.generators.values():
            set_generator_state(generator, state)


def _copy_into(array, values):
    """np.copyto(array, values), also into an array read-only for now (a graph holds it: its
    values go back to those the graph saw)."""
    writeable = array.flags.writeable
    if not writeable:
        array.setflags(write=True)
    np.copyto(array, values)
    if not writeable:
        array.setflags(write=False)


def generator_state(generator):
    if isinstance(generator, np.random.Generator):
        return generator.bit_generator.state
    return generator.get_state(legacy=False)


def set_generator_state(generator, state):
    if isinstance(generator, np.random.Generator):
        generator.bit_generator.state = state
    else:
        generator.set_state(state)

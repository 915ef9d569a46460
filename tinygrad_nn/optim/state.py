"""Optimizer and schedule state dicts: the readers that take values back from a state dict (as
made in memory, or as `tg.load` returns it: NumPy scalars and arrays under flat dotted names),
and the check of a whole optimizer state dict before anything is loaded.

An optimizer's state dict records the class that wrote it and the shape of every parameter, so
that AdamW state never loads into an Adam, nor state for 4 parameters into an optimizer of 6;
a state dict written before these were recorded loads when everything else matches.
"""
import numpy as np

from ..serialization import unflatten

__all__ = ["read_float", "read_count", "read_bool", "read_pair", "read_fields",
           "optimizer_state_dict", "read_optimizer_state"]


def read_float(value):
    array = np.asarray(value)
    if array.shape != () or array.dtype.kind not in "iuf":
        raise ValueError(f"expected a number, got {value!r}")
    return float(array)


def read_count(value):
    array = np.asarray(value)
    if array.shape != () or array.dtype.kind not in "iu" or array < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return int(array)


def read_bool(value):
    array = np.asarray(value)
    if array.shape != () or array.dtype != bool:
        raise ValueError(f"expected True or False, got {value!r}")
    return bool(array)


def read_pair(value):
    array = np.asarray(value)
    if array.shape != (2,) or array.dtype.kind not in "iuf":
        raise ValueError(f"expected a pair of numbers, got {value!r}")
    return (float(array[0]), float(array[1]))


def _read_name(value):
    array = np.asarray(value)
    if array.shape != () or array.dtype.kind != "U":
        raise ValueError(f"expected a class name, got {value!r}")
    return str(array)


def _read_shape(value):
    array = np.asarray(value)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu") or (array < 0).any():
        raise ValueError(f"expected a shape, got {value!r}")
    return tuple(int(n) for n in array)


def read_fields(where, readers, values):
    """{name: readers[name](values[name])}: KeyError unless `values` has exactly the names of
    `readers`, ValueError naming the field whose value a reader refuses."""
    if not hasattr(values, "keys") or set(values) != set(readers):
        names = sorted(map(str, values)) if hasattr(values, "keys") else type(values).__name__
        raise KeyError(f"{where}: the state dict must have the keys {sorted(readers)}, got "
                       f"{names}")
    result = {}
    for name, read in readers.items():
        try:
            result[name] = read(values[name])
        except ValueError as error:
            raise ValueError(f"{where}: {name} in the state dict: {error}") from None
    return result


def optimizer_state_dict(optimizer):
    """{"class": the optimizer's class name, "shapes": {index: parameter shape}, "state":
    {index: {name: counter or array copy}}, "hyperparameters": {name: value}}."""
    state = {index: {name: value.copy() if isinstance(value, np.ndarray) else value
                     for name, value in entry.items()}
             for index, entry in optimizer.state.items()}
    return {"class": type(optimizer).__name__,
            "shapes": {index: np.array(p.shape, dtype=np.int64)
                       for index, p in enumerate(optimizer.params)},
            "state": state,
            "hyperparameters": {name: getattr(optimizer, name)
                                for name in optimizer.hyperparameters}}


_REQUIRED, _RECORDED = {"state", "hyperparameters"}, {"class", "shapes"}


def read_optimizer_state(optimizer, state_dict):
    """(hyperparameters, state) of `state_dict` for `optimizer`, every value checked and
    nothing changed: TypeError if it is not a mapping; ValueError for another class, another
    number or shape of parameters, or a bad value, shape or dtype; KeyError for a missing or
    unknown name or a parameter index out of range."""
    where = f"{type(optimizer).__name__}.load_state_dict"
    if not hasattr(state_dict, "keys"):
        raise TypeError(f"{where} takes a state dict (a mapping, such as state_dict() or "
                        f"tg.load(path) returns), got {type(state_dict).__name__}")
    if not any(isinstance(value, dict) for value in state_dict.values()):
        state_dict = unflatten(state_dict)
    if set(state_dict) - _REQUIRED - _RECORDED or "hyperparameters" not in state_dict:
        raise KeyError(f"{where}: an optimizer state dict has the keys 'state' and "
                       f"'hyperparameters' (and 'class' and 'shapes' since they are recorded), "
                       f"got {sorted(map(str, state_dict))}")
    if "class" in state_dict:
        _check_class(where, optimizer, state_dict["class"])
    if "shapes" in state_dict:
        _check_shapes(where, optimizer.params, state_dict["shapes"])
    hyperparameters = read_fields(where, optimizer.hyperparameters,
                                  state_dict["hyperparameters"])
    hyperparameters = optimizer.check_hyperparameters(**hyperparameters)
    counters, arrays = optimizer.state_names(hyperparameters)
    state = {}
    for key, entry in state_dict.get("state", {}).items():
        index = _read_index(optimizer.params, key)
        state[index] = _read_parameter_state(optimizer.params, index, entry, counters, arrays)
    return hyperparameters, state


def _check_class(where, optimizer, recorded):
    try:
        name = _read_name(recorded)
    except ValueError as error:
        raise ValueError(f"{where}: class in the state dict: {error}") from None
    if name != type(optimizer).__name__:
        raise ValueError(f"{where}: the state dict was written by {name}, but this optimizer "
                         f"is {type(optimizer).__name__}; load it into a {name}")


def _check_shapes(where, params, recorded):
    """The recorded shapes, keyed by parameter index, against the parameters'."""
    if not hasattr(recorded, "keys"):
        raise ValueError(f"{where}: shapes in the state dict must map parameter indices to "
                         f"shapes, got {type(recorded).__name__}")
    if len(recorded) != len(params):
        raise ValueError(f"{where}: the state dict is for {len(recorded)} parameters, but this "
                         f"optimizer has {len(params)}")
    for index, p in enumerate(params):
        if index not in recorded and str(index) not in recorded:
            raise KeyError(f"{where}: the state dict records no shape for parameter {index}")
        try:
            shape = _read_shape(recorded[index if index in recorded else str(index)])
        except ValueError as error:
            raise ValueError(f"{where}: shape of parameter {index}: {error}") from None
        if shape != p.shape:
            raise ValueError(f"{where}: parameter {index} has shape {shape} in the state dict, "
                             f"but {p.shape} in this optimizer")


def _read_index(params, key):
    index = int(key) if str(key).isdigit() else -1
    if str(index) != str(key) or not 0 <= index < len(params):
        raise KeyError(f"state for parameter {key!r}, but this optimizer has {len(params)} "
                       f"parameters (0 to {len(params) - 1})")
    return index


def _read_parameter_state(params, index, entry, counters, arrays):
    expected = set(counters) | set(arrays)
    if not hasattr(entry, "keys") or set(entry) != expected:
        raise KeyError(f"state of parameter {index} must have the keys {sorted(expected)}, "
                       f"got {sorted(entry) if hasattr(entry, 'keys') else entry!r}")
    p = params[index]
    result = {}
    for name in counters:
        try:
            result[name] = read_count(entry[name])
        except ValueError as error:
            raise ValueError(f"state {index}.{name}: {error}") from None
    for name in arrays:
        array = np.asarray(entry[name])
        if array.shape != p.shape or array.dtype != p.dtype:
            raise ValueError(f"state {index}.{name} has shape {array.shape} and dtype "
                             f"{array.dtype}, but parameter {index} has shape {p.shape} "
                             f"and dtype {p.dtype}")
        result[name] = array.copy()
    return result

"""Saving and loading state dicts as .npz files, atomically and without pickle.

    tg.save(model, "model.npz")                  # a Module or any (nested) dict of arrays
    model.load_state_dict(tg.load("model.npz"))
    tg.save(optimizer.state_dict(), "optimizer.npz")
    optimizer.load_state_dict(tg.load("optimizer.npz"))

Nested dicts (an optimizer's state) are stored flat under dotted names ("state.0.step");
`unflatten` nests them again. Python numbers and tuples are stored as NumPy arrays.
"""
import os
import secrets
import zipfile
import zlib

import numpy as np

__all__ = ["save", "load", "flatten", "unflatten"]


def flatten(state, prefix=""):
    """{"state": {0: {"step": 3}}} -> {"state.0.step": 3}: nested dicts as one level of dotted
    names (an empty nested dict leaves no name). ValueError if two paths give the same name."""
    if not isinstance(state, dict):
        raise TypeError(f"flatten takes a dict, got {type(state).__name__}")
    flat = {}
    for key, value in state.items():
        name = f"{prefix}{key}"
        items = flatten(value, name + ".").items() if isinstance(value, dict) else [(name, value)]
        for flat_name, flat_value in items:
            if flat_name in flat:
                raise ValueError(f"two entries of the state dict are both named {flat_name!r}")
            flat[flat_name] = flat_value
    return flat


def unflatten(flat):
    """{"state.0.step": 3} -> {"state": {"0": {"step": 3}}}: the inverse of `flatten` (keys
    come back as strings). ValueError if a name is both a value and a prefix of another."""
    if not hasattr(flat, "items"):
        raise TypeError(f"unflatten takes a mapping, got {type(flat).__name__}")
    nested = {}
    for name, value in flat.items():
        *parents, last = str(name).split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"{name!r} is below {part!r}, which is a value, not a group")
        if last in node:
            raise ValueError(f"{name!r} is both a value and a group of values")
        node[last] = value
    return nested


def _arrays_to_save(module_or_state_dict):
    # Anything with a state_dict() (a Module, an optimizer, a schedule) saves its state dict:
    # asking for the method, not for nn.Module, keeps this module free of nn.
    if callable(getattr(module_or_state_dict, "state_dict", None)):
        module_or_state_dict = module_or_state_dict.state_dict()
    if not isinstance(module_or_state_dict, dict):
        raise TypeError(f"save() takes a Module or a state dict (or anything with a "
                        f"state_dict() method), got {type(module_or_state_dict).__name__}")
    state = flatten(module_or_state_dict)
    arrays = {}
    for name, value in state.items():
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise ValueError(f"cannot save {name!r}: it is not numeric data (it would need "
                             f"pickle, got {type(value).__name__})")
        arrays[str(name)] = array
    return arrays


def _path(path, where):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{where}: path must be a str or os.PathLike, got "
                        f"{type(path).__name__}")
    return os.fspath(path)


def save(module_or_state_dict, path):
    """Write a Module's state dict, or a (nested) dict of arrays and numbers, to `path` (str or
    os.PathLike) as an .npz archive, exactly at `path` (no suffix is added).

    The archive is written to a temporary file in the same folder, then renamed over `path`,
    so a failure or a crash mid-write leaves any previous file at `path` intact. A folder that
    does not exist raises FileNotFoundError, and any other failure to write an OSError, each
    naming `path`.
    """
    path = _path(path, "save")
    arrays = _arrays_to_save(module_or_state_dict)
    folder, filename = os.path.split(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: cannot write {path!r}: the directory {folder!r} does "
                                "not exist")
    temporary = os.path.join(folder, f".{filename}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as file:
            # The archive np.savez writes, but not through np.savez, whose own keyword
            # arguments (`file`, `allow_pickle`) would clash with parameters of those names.
            with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED) as archive:
                for name, array in arrays.items():
                    with archive.open(name + ".npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        if os.path.exists(temporary):
            os.remove(temporary)
        if isinstance(error, OSError) and error.filename is not None:
            # the error would name the hidden temporary file; name the user's path instead
            raise type(error)(error.errno, f"save: cannot write {path!r} "
                                           f"({error.strerror})") from None
        raise


# How the first bytes of a file that is not an .npz archive say what it is.
_NOT_NPZ = ((b"\x93NUMPY", "holds a single array (.npy)"),
            (b"\x80", "looks like pickled data, which load() refuses to unpickle"))


def load(path):
    """The state dict saved at `path`: {name: NumPy array}, flat (see `unflatten`).

    Never unpickles. A file that is not an .npz archive of plain arrays (a text file, a
    pickle, a single .npy array, an empty, truncated or damaged archive, object arrays inside)
    raises ValueError naming `path`.
    """
    path = _path(path, "load")
    with open(path, "rb") as file:
        start = file.read(6)
        if not start.startswith(b"PK"):
            what = next((what for magic, what in _NOT_NPZ if start.startswith(magic)),
                        "is empty" if not start else f"starts with {start!r}")
            raise ValueError(f"load: {path!r} is not an .npz state dict: it {what}")
        file.seek(0)
        try:
            with np.load(file, allow_pickle=False) as archive:
                return {name: _read_entry(archive, name, path) for name in archive.files}
        except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as error:
            raise ValueError(f"load: {path!r} is not a readable .npz state dict: it is "
                             f"truncated or damaged ({error})") from None


def _read_entry(archive, name, path):
    try:
        return archive[name]
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise ValueError(f"load: {path!r}: entry {name!r} is an object array (pickled "
                             f"Python objects), which load() refuses to unpickle") from None
        raise ValueError(f"load: {path!r}: entry {name!r} is damaged ({error})") from None

"""Saving and loading state dicts as .npz files, atomically and without pickle.

    tg.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3},
            "checkpoint.npz")                    # one file; a Module or any nested dict saves
    checkpoint = tg.load("checkpoint.npz")       # nested as it was saved
    model.load_state_dict(checkpoint["model"])

Each array is one member of the archive. A nested dict's keys are joined with "/" in the
member names ("optimizer/state/0/step.npy"; an empty dict is a folder entry), and `load` nests
them again, so a model's own dotted names ("0.weight") stay as they are. Python numbers and
strings come back as Python numbers and strings (a mark in the member's zip comment says which
members were); tuples and lists come back as NumPy arrays, and integer keys as strings.
"""
import errno
import os
import secrets
import zipfile
import zlib

import numpy as np

from .tensor import Tensor

__all__ = ["save", "load", "unflatten"]

SEPARATOR = "/"  # between the keys of nested dicts in member names (a zip folder separator)
PYTHON_VALUE = b"tinygrad_nn: python value"  # zip comment of a member that was a Python scalar
NUMPY_SCALAR = b"tinygrad_nn: numpy scalar"
_PYTHON_SCALARS = (bool, int, float, complex, str)


def unflatten(flat):
    """{"state.0.step": 3} -> {"state": {"0": {"step": 3}}}: nests a dict of dotted names.
    Files written before `save` nested dicts held an optimizer's state this way; an
    optimizer's `load_state_dict` still reads them. ValueError if a name is both a value and a
    prefix of another."""
    if not hasattr(flat, "items"):
        raise TypeError(f"unflatten takes a mapping, got {type(flat).__name__}")
    nested = {}
    for name, value in flat.items():
        _insert(nested, str(name).split("."), value, name)
    return nested


def _insert(nested, parts, value, name):
    """nested[parts[0]][parts[1]]...[parts[-1]] = value, making the dicts on the way (value
    None: only the dicts). ValueError naming `name` if a value is in the way."""
    node = nested
    for part in parts[:-1] if value is not None else parts:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"{name!r} is below {part!r}, which is a value, not a group")
    if value is not None:
        if parts[-1] in node:
            raise ValueError(f"{name!r} is both a value and a group of values")
        node[parts[-1]] = value


# ---------------------------------------------------------------------------- save

def _members(state, prefix, members):
    """Fill `members` {member name: (array, zip comment)} from the (nested) state dict `state`;
    an empty nested dict becomes a folder entry (name ending in "/", array None)."""
    if not state and prefix:
        members[prefix] = (None, b"")
    for key, value in state.items():
        if not isinstance(key, (str, int)) or isinstance(key, bool) or str(key) in ("", "."):
            raise ValueError(f"cannot save the key {key!r}: keys must be non-empty strings or "
                             f"integers")
        if SEPARATOR in str(key):
            raise ValueError(f"cannot save the key {key!r}: '{SEPARATOR}' separates the keys of "
                             f"nested dicts in the file; rename it")
        name = prefix + str(key)
        if callable(getattr(value, "state_dict", None)):  # a Module, optimizer, schedule
            value = value.state_dict()
        if isinstance(value, dict):
            _members(value, name + SEPARATOR, members)
            continue
        if name + ".npy" in members:
            raise ValueError(f"two entries of the state dict are both named {name!r}")
        members[name + ".npy"] = _array(name, value)


def _array(name, value):
    """(the array stored for `value`, the zip comment that says how to give it back)."""
    if isinstance(value, Tensor):
        value = value.detach().numpy()
    comment = (PYTHON_VALUE if isinstance(value, _PYTHON_SCALARS)
               else NUMPY_SCALAR if isinstance(value, np.generic) else b"")
    array = np.asarray(value)
    if array.dtype.hasobject:
        raise ValueError(f"cannot save {name!r}: it is not numeric data (it would need "
                         f"pickle, got {type(value).__name__})")
    return array, comment


def _arrays_to_save(module_or_state_dict):
    # Anything with a state_dict() (a Module, an optimizer, a schedule) saves its state dict:
    # asking for the method, not for nn.Module, keeps this module free of nn.
    if callable(getattr(module_or_state_dict, "state_dict", None)):
        module_or_state_dict = module_or_state_dict.state_dict()
    if not isinstance(module_or_state_dict, dict):
        raise TypeError(f"save() takes a Module or a state dict (or anything with a "
                        f"state_dict() method), got {type(module_or_state_dict).__name__}")
    members = {}
    _members(module_or_state_dict, "", members)
    return members


def _path(path, where):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{where}: path must be a str or os.PathLike, got "
                        f"{type(path).__name__}")
    return os.fspath(path)


def _folder_to_write_in(path):
    """The folder that will hold the file `path`; an OSError naming `path` if `path` names a
    folder or its folder does not exist."""
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"save: {path!r} is a directory; give the path of "
                                f"a file in it, such as "
                                f"{os.path.join(path, 'checkpoint.npz')!r}")
    if path.endswith(("/", os.sep)):
        raise FileNotFoundError(errno.ENOENT, f"save: {path!r} ends with a separator, so it "
                                f"names a directory, and there is none; give a file name, "
                                f"such as {os.path.join(path, 'checkpoint.npz')!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        kind = "is a file, not a directory" if os.path.exists(folder) else "does not exist"
        raise FileNotFoundError(errno.ENOENT, f"save: cannot write {path!r}: the directory "
                                f"{folder!r} {kind}")
    return folder


def save(module_or_state_dict, path):
    """Write a Module's state dict, or a (nested) dict of arrays, numbers, strings and things
    with a `state_dict()` (a model, an optimizer, a schedule), to `path` (str or
    os.PathLike) as an .npz archive, exactly at `path` (no suffix is added).

    The archive is written to a temporary file in the same folder, then renamed over `path`,
    so a failure or a crash mid-write leaves any previous file at `path` intact. A `path` that
    is a directory, or whose directory does not exist, raises an OSError naming `path`, and
    so does any other failure to write.
    """
    path = _path(path, "save")
    members = _arrays_to_save(module_or_state_dict)
    folder = _folder_to_write_in(path)
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as file:
            _write_archive(file, members)
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


def _write_archive(file, members):
    # The archive np.savez writes, but not through np.savez, whose own keyword arguments
    # (`file`, `allow_pickle`) would clash with entries of those names.
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for name, (array, comment) in members.items():
            if array is None:
                archive.writestr(name, b"")  # a folder entry: an empty dict
                continue
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.comment = comment
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


# ---------------------------------------------------------------------------- load

# How the first bytes of a file that is not an .npz archive say what it is.
_NOT_NPZ = ((b"\x93NUMPY", "holds a single array (.npy)"),
            (b"\x80", "looks like pickled data, which load() refuses to unpickle"))


def load(path):
    """The state dict saved at `path`, nested as it was saved: {name: NumPy array, or a dict
    of them}; what was a Python number or string is one again.

    Never unpickles. A file that is not an .npz archive of plain arrays (a text file, a
    pickle, a single .npy array, an empty, truncated or damaged archive, a member that is not
    an array, an object array) raises ValueError naming `path`.
    """
    path = _path(path, "load")
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"load: {path!r} is a directory; give the path of "
                                f"the file tg.save wrote")
    with open(path, "rb") as file:
        start = file.read(6)
        if not start.startswith(b"PK"):
            what = next((what for magic, what in _NOT_NPZ if start.startswith(magic)),
                        "is empty" if not start else f"starts with {start!r}")
            raise ValueError(f"load: {path!r} is not an .npz state dict: it {what}")
        file.seek(0)
        try:
            with zipfile.ZipFile(file) as archive:
                return _read_archive(archive, path)
        except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as error:
            raise ValueError(f"load: {path!r} is not a readable .npz state dict: it is "
                             f"truncated or damaged ({error})") from None


def _read_archive(archive, path):
    state = {}
    for info in archive.infolist():
        name = info.filename
        if name.endswith(SEPARATOR):  # a folder entry: an empty dict
            value, name = None, name[:-1]
        elif name.endswith(".npy"):
            name = name[:-len(".npy")]
            value = _read_member(archive, info, name, path)
        else:
            raise ValueError(f"load: {path!r}: the member {name!r} is not an array (.npy); "
                             f"a state dict holds only arrays")
        try:
            _insert(state, name.split(SEPARATOR), value, name)
        except ValueError as error:
            raise ValueError(f"load: {path!r} is not a state dict: {error}") from None
    return state


def _read_member(archive, info, name, path):
    try:
        with archive.open(info) as member:
            array = np.lib.format.read_array(member, allow_pickle=False)
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise ValueError(f"load: {path!r}: entry {name!r} is an object array (pickled "
                             f"Python objects), which load() refuses to unpickle") from None
        raise ValueError(f"load: {path!r}: entry {name!r} is damaged ({error})") from None
    if info.comment == PYTHON_VALUE and array.ndim == 0:
        return array.item()
    if info.comment == NUMPY_SCALAR and array.ndim == 0:
        return array[()]
    return array

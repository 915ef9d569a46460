"""The stand-ins a capture hands around instead of values: `Traced` for arrays, `Scalar` for the
Python numbers an optimizer computes with.

Both pass every NumPy computation made on them to `run`, which computes it on the real values
(so the capture is an ordinary eager run) and, while a Recording is being made, notes it.
Outside a capture a stand-in behaves as its value.
"""
import inspect
import operator
import os
import sys

import numpy as np

from ..tensor import Tensor

_active = []  # the Recording being made (at most one)


def recording():
    """The Recording being made, or None."""
    return _active[-1] if _active else None


class CaptureError(RuntimeError):
    """Raised at capture for what a replay could not reproduce."""


class Traced:
    """Stands in for a NumPy array during a capture: `array` is the real array (computed
    eagerly); NumPy functions, ufuncs, operators and the ndarray methods the library uses are
    passed to the recording. Outside a capture it behaves as its array.

    `constant`: its value depends on nothing but constants (np.arange(n), a shape's positions),
    so it is the same on every call of the signature: the code may read it into Python.
    """
    __slots__ = ("array", "constant", "__weakref__")
    __hash__ = object.__hash__

    def __init__(self, array, constant=False):
        self.array, self.constant = array, constant

    shape = property(lambda self: self.array.shape)
    dtype = property(lambda self: self.array.dtype)
    ndim = property(lambda self: self.array.ndim)
    size = property(lambda self: self.array.size)
    itemsize = property(lambda self: self.array.itemsize)
    nbytes = property(lambda self: self.array.nbytes)
    strides = property(lambda self: self.array.strides)
    flags = property(lambda self: self.array.flags)
    base = property(lambda self: self.array.base)
    T = property(lambda self: np.transpose(self))

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if any(isinstance(x, Tensor) for x in inputs):
            return NotImplemented  # the Tensor's protocol makes the op (an ndarray argument)
        return run(getattr(ufunc, method) if method != "__call__" else ufunc, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        tensor = next((x for x in _flat(args) if isinstance(x, Tensor)), None)
        if tensor is not None:
            return tensor.__array_function__(func, (Tensor,), args, kwargs)
        return run(func, args, kwargs)

    def __len__(self):
        return len(self.array)

    # text: for the library's messages; user code printing a value of the step is refused
    def __repr__(self):
        return (f"Traced(shape={self.shape}, dtype={self.dtype})" if recording() is None
                else text_of(self.array, repr))

    def __str__(self):
        return text_of(self.array, str)

    def __format__(self, spec):
        return text_of(self.array if self.ndim else self.array[()],
                       lambda value: format(value, spec))

    # reading a value into Python
    def __bool__(self):
        rec = recording()
        if rec is None or self.constant:
            return bool(self.array)
        return rec.guard(self, bool(self.array), "bool")

    def __array__(self, dtype=None, copy=None):
        array = self.array if dtype is None else self.array.astype(dtype)
        return read(self, lambda t: array, CONVERSION)

    def _read(self, what):
        return read(self, lambda t: getattr(t.array, what)(), f"ndarray.{what}()")

    def item(self): return self._read("item")
    def tolist(self): return self._read("tolist")
    def __float__(self): return self._read("__float__")
    def __int__(self): return self._read("__int__")
    def __index__(self): return self._read("__index__")
    def __iter__(self): return (self[i] for i in range(len(self)))

    # methods, as the NumPy functions they stand for
    def sum(self, *a, **k): return np.sum(self, *a, **k)
    def mean(self, *a, **k): return np.mean(self, *a, **k)
    def max(self, *a, **k): return np.max(self, *a, **k)
    def min(self, *a, **k): return np.min(self, *a, **k)
    def var(self, *a, **k): return np.var(self, *a, **k)
    def std(self, *a, **k): return np.std(self, *a, **k)
    def prod(self, *a, **k): return np.prod(self, *a, **k)
    def any(self, *a, **k): return np.any(self, *a, **k)
    def all(self, *a, **k): return np.all(self, *a, **k)
    def argmax(self, *a, **k): return np.argmax(self, *a, **k)
    def argmin(self, *a, **k): return np.argmin(self, *a, **k)
    def cumsum(self, *a, **k): return np.cumsum(self, *a, **k)
    def clip(self, *a, **k): return np.clip(self, *a, **k)
    def dot(self, other): return np.dot(self, other)
    def ravel(self): return np.ravel(self)
    def squeeze(self, *a, **k): return np.squeeze(self, *a, **k)
    def swapaxes(self, a, b): return np.swapaxes(self, a, b)
    def repeat(self, *a, **k): return np.repeat(self, *a, **k)
    def nonzero(self): return np.nonzero(self)

    def reshape(self, *shape, **k):
        return np.reshape(self, shape[0] if len(shape) == 1 else shape, **k)

    def transpose(self, *axes):
        return np.transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def astype(self, dtype, **k): return run(np.ndarray.astype, (self, dtype), k)
    def copy(self, order="C"): return run(np.ndarray.copy, (self,), {"order": order})
    def flatten(self): return run(np.ndarray.flatten, (self,), {})
    def view(self, *a): return run(np.ndarray.view, (self, *a), {})
    def __getitem__(self, index): return run(operator.getitem, (self, index), {})

    def __setitem__(self, index, value):
        rec = recording()
        if rec is not None:
            rec.writing_into(self)
        self.array[unwrap(index)] = unwrap(value)
        if rec is not None:
            rec.wrote(self)
            rec.note("setitem", operator.setitem, (self, index, value), {}, None)

    def fill(self, value):
        self[...] = value


def _binary(ufunc):
    def forward(a, b):
        return NotImplemented if isinstance(b, Tensor) else ufunc(a, b)

    def reflected(a, b):
        return NotImplemented if isinstance(b, Tensor) else ufunc(b, a)

    def in_place(a, b):
        return ufunc(a, b, out=(a,))
    return forward, reflected, in_place


for _name, _ufunc in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                      ("truediv", np.true_divide), ("floordiv", np.floor_divide),
                      ("mod", np.remainder), ("pow", np.power), ("matmul", np.matmul),
                      ("and", np.bitwise_and), ("or", np.bitwise_or),
                      ("xor", np.bitwise_xor)]:
    _forward, _reflected, _in_place = _binary(_ufunc)
    setattr(Traced, f"__{_name}__", _forward)
    setattr(Traced, f"__r{_name}__", _reflected)
    setattr(Traced, f"__i{_name}__", _in_place)
for _name, _ufunc in [("lt", np.less), ("le", np.less_equal), ("gt", np.greater),
                      ("ge", np.greater_equal), ("eq", np.equal), ("ne", np.not_equal)]:
    setattr(Traced, f"__{_name}__", _binary(_ufunc)[0])
for _name, _ufunc in [("neg", np.negative), ("pos", np.positive), ("abs", np.absolute),
                      ("invert", np.invert)]:
    setattr(Traced, f"__{_name}__", lambda a, _ufunc=_ufunc: _ufunc(a))


class Scalar:
    """Stands in for a Python number an optimizer computes with (a hyperparameter such as lr,
    a step counter, or an expression of them): `value` is the number; `source` says where a
    hyperparameter or counter is read from on each replay ((container, key, item, label): read
    as container[key] or container[key][item], described as label); else `func(*args)`
    computed it."""
    __slots__ = ("value", "source", "func", "args")

    def __init__(self, value, source=None, func=None, args=()):
        self.value, self.source, self.func, self.args = value, source, func, args

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return run(getattr(ufunc, method) if method != "__call__" else ufunc, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func in (np.shape, np.ndim):
            return func(self.value)
        return run(func, args, kwargs)

    def __bool__(self):
        rec = recording()
        return bool(self.value) if rec is None else rec.guard(self, bool(self.value), "bool")

    def _concrete(self, convert):
        rec = recording()
        value = convert(self.value)
        return value if rec is None else rec.guard(self, value, "==")

    def __float__(self): return self._concrete(float)
    def __int__(self): return self._concrete(int)
    def __index__(self): return self._concrete(operator.index)
    def __repr__(self): return repr(self.value)
    def __format__(self, spec): return format(self.value, spec)

    def __iter__(self):
        return iter([Scalar(v, None, operator.getitem, (self, i))
                     for i, v in enumerate(self.value)])


def _scalar_op(func, reflected=False):
    def method(self, *others):
        if any(isinstance(o, (np.ndarray, Traced)) for o in others):
            return NotImplemented  # the array's reflected operator hands it to NumPy
        args = (others[0], self) if reflected else (self, *others)
        return Scalar(func(*(a.value if isinstance(a, Scalar) else a for a in args)), None,
                      func, args)
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow"):
    _func = getattr(operator, _name)
    setattr(Scalar, f"__{_name}__", _scalar_op(_func))
    setattr(Scalar, f"__r{_name}__", _scalar_op(_func, reflected=True))
for _name in ("lt", "le", "gt", "ge", "eq", "ne", "neg", "pos", "abs"):
    setattr(Scalar, f"__{_name}__", _scalar_op(getattr(operator, _name)))
Scalar.__hash__ = None


def unwrap(x):
    """x with every stand-in replaced by its value (inside tuples, lists and dicts too)."""
    if isinstance(x, Traced):
        return x.array
    if isinstance(x, Scalar):
        return x.value
    if type(x) in (tuple, list):
        return type(x)(unwrap(v) for v in x)
    if type(x) is dict:
        return {k: unwrap(v) for k, v in x.items()}
    return x


def _flat(x):
    """The items of x, and of the tuples, lists and dicts in it."""
    if type(x) in (tuple, list):
        for v in x:
            yield from _flat(v)
    elif type(x) is dict:
        for v in x.values():
            yield from _flat(v)
    else:
        yield x


def has_stand_in(x):
    return any(isinstance(v, (Traced, Scalar)) for v in _flat(x))


# ------------------------------------------------------------------------- reading values

CONVERSION = ("converting a value of the step to a NumPy array (np.asarray(t), np.array(t), or "
              "indexing a NumPy array with it, as np.eye(K)[labels] does)")
TEXT = "printing a value of the step (print, str, repr or an f-string of a tensor)"
_ADVICE = {
    CONVERSION: "Write it with tensors, which replay (tg.eye(K)[labels] for one-hot rows), or "
                "compute it before the call and pass the result in as an argument.",
    TEXT: "Return the tensor and print it after the call (loss = step(x, y); print(loss)), "
          "or call the function without tg.jit.",
}


def read_message(what):
    """Why reading a value inside a captured function is refused, and what to do instead."""
    advice = _ADVICE.get(what, "Return the tensor from the function and read it after the "
                               "call (loss = step(x, y); loss.item()), or call the function "
                               "without tg.jit.")
    return (f"{what} inside a function that tg.jit is capturing: the value would be read once, "
            f"at capture, and replays (which run no Python) would silently reuse it. {advice} "
            f"[at {where_in_user_code()}]")


def read(value, convert, what):
    """convert(value), a read of a value (a Traced, or a Tensor) into Python: refused during a
    capture, unless the value is a constant. A read by user code raises at once; one by the
    library (the message of an error it is about to raise) gets the value, and the capture is
    refused when it ends, unless that error comes first."""
    rec = recording()
    if rec is not None and not getattr(getattr(value, "data", value), "constant", False):
        refuse(rec, read_message(what))
    return convert(value)


def text_of(value, convert):
    rec = recording()
    if rec is not None and called_from_user():
        raise CaptureError(read_message(TEXT))
    return convert(value)


def refuse(rec, message):
    """Refuse the capture: at once if user code is the cause, else when the capture ends (so
    that an exception the library raises next reaches the caller as it would eagerly)."""
    if called_from_user():
        raise CaptureError(message)
    rec.refused.append(message)


_JIT_DIR = os.path.dirname(__file__)
_PACKAGE_DIR = os.path.dirname(_JIT_DIR)
# code in these folders of the package is the user's: examples, and the fuzzer's programs
_USER_DIRS = tuple(os.path.join(_PACKAGE_DIR, d) + os.sep
                   for d in ("examples", os.path.join("jit", "fuzz")))
# neither the user's nor the library's: the standard library (contextlib...) and NumPy's own
_SKIPPED = (os.path.dirname(inspect.getfile(operator)), os.path.dirname(inspect.getfile(np)))
_ENTRY = os.path.join(_JIT_DIR, "__init__.py")  # where a capture starts: the stack above is not
                                                # the function's


def _outer_frames():
    """The frames of the stack, innermost first, from the caller to the function tg.jit
    captures, leaving out the jit's own."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename != _ENTRY:
        name = frame.f_code.co_filename
        if not (name.startswith(_JIT_DIR) and not name.startswith(_USER_DIRS)):
            yield frame
        frame = frame.f_back


def _is_library(filename):
    return filename.startswith(_PACKAGE_DIR) and not filename.startswith(_USER_DIRS)


def called_from_user():
    """True if the innermost code outside the jit is not the library's (it is the user's)."""
    for frame in _outer_frames():
        if not frame.f_code.co_filename.startswith(_SKIPPED):
            return not _is_library(frame.f_code.co_filename)
    return True


def where_in_user_code():
    """'function (file.py:line)' of the innermost user frame, for messages."""
    for frame in _outer_frames():
        code = frame.f_code
        if not _is_library(code.co_filename) and not code.co_filename.startswith(_SKIPPED):
            return (f"{code.co_qualname} ({os.path.basename(code.co_filename)}:"
                    f"{frame.f_lineno})")
    return "?"


# ------------------------------------------------------------------------- running calls

# Functions whose result describes shapes and types, not values: nothing to replay.
DESCRIBE = {np.shape, np.ndim, np.size, np.result_type, np.may_share_memory, np.shares_memory,
            np.iscomplexobj, np.isrealobj, np.can_cast}
# Functions that make text of an array.
TEXT_FUNCTIONS = {np.array2string, np.array_repr, np.array_str}
# Functions that make an array whose value depends only on shapes and constants.
CREATE_LIKE = {np.zeros_like, np.ones_like, np.empty_like}


def run(func, args, kwargs):
    """Run a NumPy computation on stand-ins: compute it on the values and, during a capture,
    note it. Returns stand-ins for the arrays it made."""
    rec = recording()
    if rec is not None:
        rec.writing(func, args, kwargs)
    if func in TEXT_FUNCTIONS:  # a message's text: the library may, user code may not
        return text_of(unwrap(args[0]), lambda array: func(array, *unwrap(args[1:]),
                                                           **unwrap(kwargs)))
    result = func(*unwrap(args), **unwrap(kwargs))
    if rec is None or func in DESCRIBE:
        return result
    out = kwargs.get("out")
    if result is None:  # np.copyto, ufunc.at, ...: a write into the first argument
        out = args[0]
    if out is not None:  # a write into arrays the code already has
        return _noted_write(rec, func, args, kwargs, result, out)
    for x in _flat(args):  # astype(copy=False), asarray...: the argument itself, no new array
        if isinstance(x, Traced) and x.array is result:
            return x
    kind = "create" if func in CREATE_LIKE else "call"
    constant = kind == "create" or all_constant((args, kwargs))
    named = None
    if isinstance(result, tuple) and hasattr(result, "_fields"):  # svd's, eigh's named tuple:
        named, result = type(result), tuple(result)                # noted as a plain tuple
    if type(result) in (tuple, list) and result and all(
            isinstance(r, (np.ndarray, np.generic)) for r in result):  # (np.split's views)
        wrapped = type(result)(rec.made(np.asarray(r), constant) for r in result)
    elif isinstance(result, (np.ndarray, np.generic, bool, int, float)):
        wrapped = rec.made(np.asarray(result), constant)
    else:
        refuse(rec, f"tg.jit cannot record {name_of(func)}: it returned a "
                    f"{type(result).__name__}, not an array [at {origin()}]")
        return result
    rec.note(kind, func, args, kwargs, wrapped)
    if func is operator.getitem and _has_mask(args[1]) and not constant:
        rec.guard(wrapped, wrapped.shape, "shape")  # a mask's count decides the shape
    return wrapped if named is None else named(*wrapped)


def all_constant(x):
    """True if every stand-in in x is a constant Traced (a Scalar is read anew: never)."""
    return all(v.constant if isinstance(v, Traced) else not isinstance(v, Scalar)
               for v in _flat(x))


def _noted_write(rec, func, args, kwargs, result, out):
    out = out if type(out) is tuple else (out,)
    if not all(isinstance(target, Traced) for target in out):
        refuse(rec, f"{name_of(func)} writes into an array that tg.jit does not follow (a "
                    f"plain NumPy array, not a tensor's) [at {origin()}]")
        return result
    for target in out:
        rec.wrote(target)
    rec.note("call", func, args, kwargs, None)
    if result is None:
        return None
    return out[0] if len(out) == 1 and not isinstance(result, tuple) else out


def _has_mask(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (Traced, np.ndarray)) and p.dtype == bool for p in parts)


def name_of(func):
    """A short readable name of a NumPy function, ufunc method or method."""
    if isinstance(func, np.ufunc):
        return func.__name__
    owner = getattr(func, "__self__", None)
    if isinstance(owner, np.ufunc):
        return f"{owner.__name__}.{func.__name__}"
    if isinstance(owner, (np.random.Generator, np.random.RandomState)):
        return f"rng.{func.__name__}"
    if func is operator.getitem:
        return "getitem"
    if func is operator.setitem:
        return "setitem"
    return getattr(func, "__name__", repr(func))


_FRONT = (sys.modules[Tensor.__module__].__file__,)  # the Tensor front: never an origin


def origin():
    """Where the computation being noted comes from: the innermost forward/backward/step on the
    stack (an op's rule, a layer, an optimizer), else the innermost library or user function."""
    fallback = None
    for frame in _outer_frames():
        code = frame.f_code
        if code.co_filename.startswith(_SKIPPED) or code.co_filename in _FRONT:
            continue
        name = code.co_qualname
        if name.endswith((".forward", ".backward", ".step")):
            cls = frame.f_locals.get("cls")  # a rule shared by ops: name the op itself
            return name if not isinstance(cls, type) else (
                f"{cls.__name__}.{name.rpartition('.')[2]}")
        fallback = fallback or name
    return fallback or "?"

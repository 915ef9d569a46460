"""Capture: run the step once while every NumPy computation it makes is noted.

While a step is captured, arrays are handed around as `Traced` stand-ins and Python numbers that
an optimizer reads from its hyperparameters and counters as `Scalar` stand-ins. Both pass every
computation on them to the `Recording`, which runs it on the real values (so the capture is an
ordinary eager run) and notes it as a `Call`. The ops, backward rules, the engine's gradient
sums, the optimizers and dropout are not changed: they compute on what they are given, and the
stand-ins see it. Anything that would read a value into Python, where the recording cannot
follow, either becomes a guard checked on replay or raises.

The stand-ins get into the library for the time of the capture only, through `instrument()`:
`Tensor.data` and `Tensor.grad` read through properties, the library modules' `np` and `math`
names point to thin shims, modules, optimizers and random generators are wrapped, and the
Tensor methods that read a value raise.
"""
import contextlib
import math
import numbers
import operator
import sys
import types

import numpy as np

from ..tensor import Tensor

_active = []  # the Recording being made (at most one)


def recording():
    """The Recording being made, or None."""
    return _active[-1] if _active else None


class CaptureError(RuntimeError):
    """Raised at capture for what a replay could not reproduce."""


# --------------------------------------------------------------------------- what is noted

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


class Traced:
    """Stands in for a NumPy array during a capture: `array` is the real array (computed
    eagerly); NumPy functions, ufuncs, operators and the ndarray methods the library uses are
    passed to the recording. Outside a capture it behaves as its array."""
    __slots__ = ("array", "__weakref__")
    __hash__ = object.__hash__

    def __init__(self, array):
        self.array = array

    shape = property(lambda self: self.array.shape)
    dtype = property(lambda self: self.array.dtype)
    ndim = property(lambda self: self.array.ndim)
    size = property(lambda self: self.array.size)
    itemsize = property(lambda self: self.array.itemsize)
    nbytes = property(lambda self: self.array.nbytes)
    strides = property(lambda self: self.array.strides)
    flags = property(lambda self: self.array.flags)
    T = property(lambda self: np.transpose(self))

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return run(getattr(ufunc, method) if method != "__call__" else ufunc, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return run(func, args, kwargs)

    def __len__(self):
        return len(self.array)

    def __repr__(self):
        return f"Traced(shape={self.shape}, dtype={self.dtype})"

    # text for a message or a print: shown once, at capture, as any Python side effect
    def __str__(self):
        return str(self.array)

    def __format__(self, spec):
        return format(self.array if self.ndim else self.array[()], spec)

    # reading a value into Python
    def __bool__(self):
        rec = recording()
        return bool(self.array) if rec is None else rec.guard(self, bool(self.array), "bool")

    def __array__(self, dtype=None, copy=None):
        if recording() is not None:
            read_error("converting an array to NumPy (np.asarray, np.array, ...)")
        return self.array if dtype is None else self.array.astype(dtype)

    def _read(self, what):
        if recording() is not None:
            read_error(what)
        return getattr(self.array, what)()

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
        self.array[unwrap(index)] = unwrap(value)
        if rec is not None:
            rec.note("setitem", operator.setitem, (self, index, value), {}, None)

    def fill(self, value):
        self[...] = value


def _binary(ufunc):
    return (lambda a, b: ufunc(a, b)), (lambda a, b: ufunc(b, a)), (
        lambda a, b: ufunc(a, b, out=(a,)))


for _name, _ufunc in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                      ("truediv", np.true_divide), ("floordiv", np.floor_divide),
                      ("mod", np.remainder), ("pow", np.power), ("matmul", np.matmul),
                      ("and", np.bitwise_and), ("or", np.bitwise_or),
                      ("xor", np.bitwise_xor)]:
    _forward, _reflected, _inplace = _binary(_ufunc)
    setattr(Traced, f"__{_name}__", _forward)
    setattr(Traced, f"__r{_name}__", _reflected)
    setattr(Traced, f"__i{_name}__", _inplace)
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
numbers.Real.register(Scalar)  # the engine takes it as a number (to_constant)


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


def has_stand_in(x):
    if isinstance(x, (Traced, Scalar)):
        return True
    if type(x) in (tuple, list):
        return any(has_stand_in(v) for v in x)
    if type(x) is dict:
        return any(has_stand_in(v) for v in x.values())
    return False


def read_error(what):
    raise CaptureError(
        f"{what} inside a function that tg.jit is capturing: the value would be read once, "
        f"at capture, and replays would silently reuse it. Return the tensor from the function "
        f"and read it after the call (loss = step(x, y); loss.item()), or call the function "
        f"without tg.jit. [at {origin()}]")


# Functions whose result describes shapes and types, not values: nothing to replay.
DESCRIBE = {np.shape, np.ndim, np.size, np.result_type, np.may_share_memory, np.shares_memory,
            np.iscomplexobj, np.isrealobj, np.can_cast}
# Functions that make an array whose value depends only on shapes and constants.
CREATE_LIKE = {np.zeros_like, np.ones_like, np.empty_like}


def run(func, args, kwargs):
    """Run a NumPy computation on stand-ins: compute it on the values and, during a capture,
    note it. Returns stand-ins for the arrays it made."""
    result = func(*unwrap(args), **unwrap(kwargs))
    rec = recording()
    if rec is None or func in DESCRIBE:
        return result
    out = kwargs.get("out")
    if result is None:  # np.copyto, ufunc.at, ...: a write into the first argument
        out = args[0]
    if out is not None:  # a write into arrays the code already has
        out = out if type(out) is tuple else (out,)
        for target in out:
            if not isinstance(target, Traced):
                raise CaptureError(f"{name_of(func)} writes into an array that tg.jit does not "
                                   f"follow (a plain NumPy array, not a tensor's); "
                                   f"[at {origin()}]")
        rec.note("call", func, args, kwargs, None)
        if result is None:
            return None
        return out[0] if len(out) == 1 and not isinstance(result, tuple) else out
    kind = "create" if func in CREATE_LIKE else "call"
    if isinstance(result, tuple) and all(isinstance(r, np.ndarray) for r in result):
        wrapped = tuple(Traced(r) for r in result)
    elif isinstance(result, (np.ndarray, np.generic, bool, int, float)):
        wrapped = Traced(np.asarray(result) if not isinstance(result, np.ndarray) else result)
    else:
        raise CaptureError(f"tg.jit cannot record {name_of(func)}: it returned a "
                           f"{type(result).__name__}, not an array [at {origin()}]")
    rec.note(kind, func, args, kwargs, wrapped)
    if func is operator.getitem and _has_mask(args[1]):
        rec.guard(wrapped, wrapped.shape, "shape")  # a mask's count decides the shape
    return wrapped


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


def origin():
    """Where the computation being noted comes from: the innermost forward/backward/step on the
    stack (an op's rule, a layer, an optimizer), else the innermost library or user function."""
    frame, fallback = sys._getframe(1), None
    while frame is not None and frame.f_code.co_filename != _JIT_FILE:
        code = frame.f_code
        if code.co_filename not in _SKIPPED_FILES:
            name = code.co_qualname
            if name.endswith((".forward", ".backward", ".step")):
                cls = frame.f_locals.get("cls")  # a rule shared by ops: name the op itself
                return name if not isinstance(cls, type) else (
                    f"{cls.__name__}.{name.rpartition('.')[2]}")
            fallback = fallback or name
        frame = frame.f_back
    return fallback or "?"


# --------------------------------------------------------------------------- the recording

class Recording:
    """Everything one capture noted: the calls in order, and what the replay has to check and
    write back besides them."""

    def __init__(self):
        self.calls = []
        self.external = {}      # id(array) -> Traced, for arrays that live outside the step
        self.tensors = {}       # tensor made before the capture -> (array, _version) at 1st read
        self.born = {}          # id(tensor) -> tensor, for the tensors made during the capture
        self.grad_first = {}    # tensor -> ("read", grad) or ("write",) on first use of .grad
        self.modules = {}       # module -> its training flag when first called
        self.optimizers = {}    # optimizer -> {hyperparameter: value} when it first stepped
        self.optimizer_states = {}  # optimizer -> its state dict (load_state_dict replaces it)
        self.counters = []      # (state dict, name, Scalar) written back after each replay
        self.rebound = []       # (array, Traced): state array replaced by a new one in step
        self.refused = []       # reasons the capture cannot be replayed
        self.unsteady = False   # state was created during the capture: capture again next call
        self.restore = []       # undo actions, run when the capture ends
        self.generators = {}    # id -> generator whose draws are noted

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


# --------------------------------------------------------------------------- instrumentation

_DATA = Tensor.__dict__["data"]  # the slot descriptors, read through while capturing
_GRAD = Tensor.__dict__["grad"]


def _read_data(tensor):
    array = _DATA.__get__(tensor)
    rec = recording()
    if rec is None or type(array) is not np.ndarray:
        return array
    if tensor not in rec.tensors and id(tensor) not in rec.born:
        rec.tensors[tensor] = (array, tensor._version)
    return rec.external_array(array)


def _write_data(tensor, array):
    rec = recording()
    if rec is not None:
        rec.born[id(tensor)] = tensor
    _DATA.__set__(tensor, array)


def _read_grad(tensor):
    grad = _GRAD.__get__(tensor)
    rec = recording()
    if rec is not None and tensor not in rec.grad_first:
        rec.grad_first[tensor] = ("read", grad)
    return grad


def _write_grad(tensor, grad):
    rec = recording()
    if rec is not None and tensor not in rec.grad_first:
        rec.grad_first[tensor] = ("write",)
    _GRAD.__set__(tensor, grad)


def _refuse_read(name):
    def refuse(self, *args, **kwargs):
        read_error(f"Tensor.{name}()")
    return refuse


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
        traced = Traced(result)
        # np.full(shape, stand_in) computes from a value: a call, not a constant
        kind = "call" if has_stand_in((args, kwargs)) else "create"
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


def generators_seen_by(fn):
    """The random generators `fn` can reach by name (its globals, its closure) and NumPy's
    global one: their state must not change during a capture unless the draws were noted."""
    found = {id(np.random.mtrand._rand): np.random.mtrand._rand}
    code = getattr(fn, "__code__", None)
    values = [cell.cell_contents for cell in getattr(fn, "__closure__", None) or ()
              if cell.cell_contents is not None] if code else []
    if code is not None:
        values += [fn.__globals__.get(name) for name in code.co_names]
    for value in values:
        if isinstance(value, (np.random.Generator, np.random.RandomState)):
            found[id(value)] = value
    return list(found.values())


def generator_state(generator):
    if isinstance(generator, np.random.Generator):
        return generator.bit_generator.state
    return generator.get_state(legacy=False)


def check_generators(rec, states):
    """Refuse the capture if a generator changed that no noted draw explains."""
    for generator, state in states:
        if id(generator) not in rec.generators and not _same_state(
                state, generator_state(generator)):
            rec.refused.append(
                f"a random draw from {type(generator).__name__} {id(generator):#x}, which is "
                f"not an attribute of a module the function calls (as Dropout's rng is): a "
                f"replay would reuse the values of the capture")


def _same_state(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    return np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b


def _new_generator(*args, **kwargs):
    """np.random.default_rng inside a captured function: new draws on every eager call."""
    rec = recording()
    if rec is not None:
        rec.refused.append(f"a new random generator made inside the function [at {origin()}]: "
                           f"each eager call would draw anew, a replay would not")
    return np.random.default_rng(*args, **kwargs)


class _RandomShim(types.ModuleType):
    default_rng = staticmethod(_new_generator)

    def __getattr__(self, name):
        return getattr(np.random, name)


_random_shim = _RandomShim("numpy.random")


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


def _enter_module(rec, module):
    """First call of a module during the capture: note its mode; its buffers and generators
    become stand-ins until the capture ends."""
    rec.modules[module] = module.training
    attributes = vars(module)
    for name, value in list(attributes.items()):
        if isinstance(value, (np.random.Generator, np.random.RandomState)):
            attributes[name] = _RecordingGenerator(value)
            rec.generators[id(value)] = value
            rec.restore.append(lambda a=attributes, n=name, v=value: a.__setitem__(n, v))
    buffers = attributes.get("_buffers")
    if isinstance(buffers, dict):
        for name, value in list(buffers.items()):
            if type(value) is np.ndarray:
                buffers[name] = rec.external_array(value)
                rec.restore.append(lambda b=buffers, n=name, v=value: b.__setitem__(n, v))


def _enter_optimizer(rec, optimizer):
    """Before an optimizer's step: its hyperparameters and step counters become Scalars read
    anew on each replay, its state arrays stand-ins."""
    attributes, kind = vars(optimizer), type(optimizer).__name__
    rec.optimizer_states.setdefault(optimizer, optimizer.state)
    values = {}
    for name in type(optimizer).hyperparameters:
        value = values[name] = attributes[name]
        if isinstance(value, tuple):
            attributes[name] = tuple(Scalar(v, (attributes, name, i, f"{kind}.{name}[{i}]"))
                                     for i, v in enumerate(value))
        elif isinstance(value, (bool, int, float)):
            attributes[name] = Scalar(value, (attributes, name, None, f"{kind}.{name}"))
    rec.optimizers.setdefault(optimizer, values)
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
                    np.copyto(previous, value.array)
                    entry[name] = previous
                else:
                    entry[name] = value.array


@contextlib.contextmanager
def instrument(rec):
    """Put the stand-ins in place for the time of a capture, and take them out again."""
    from .. import nn, optim
    undo = []
    _active.append(rec)
    try:
        _set(Tensor, "data", property(_read_data, _write_data), undo)
        _set(Tensor, "grad", property(_read_grad, _write_grad), undo)
        for name in ("numpy", "item", "tolist", "__bool__", "__float__", "__int__",
                     "__index__", "__array__"):
            _set(Tensor, name, _refuse_read(name), undo)
        for module in _library_modules():
            if getattr(module, "np", None) is np:
                _set(module, "np", numpy_shim, undo)
            if getattr(module, "math", None) is math:
                _set(module, "math", math_shim, undo)
        module_call = nn.Module.__call__

        def call(module, *args, **kwargs):
            if module not in rec.modules:
                _enter_module(rec, module)
            return module_call(module, *args, **kwargs)
        _set(nn.Module, "__call__", call, undo)
        module_setattr = nn.Module.__setattr__

        def setattr_(module, name, value):
            # a module already called sets an attribute: a Python write no replay repeats
            # (a buffer is the exception: it is copied into in place, and that is recorded)
            if module in rec.modules and name not in vars(module).get("_buffers", ()):
                rec.refused.append(f"{type(module).__name__}.{name} is set during the call: "
                                   f"a replay would not set it again (keep such state in a "
                                   f"buffer, register_buffer, updated in place)")
            module_setattr(module, name, value)
        _set(nn.Module, "__setattr__", setattr_, undo)
        for cls in _subclasses(optim.Optimizer):
            if "step" in vars(cls):
                _set(cls, "step", _wrapped_step(rec, vars(cls)["step"]), undo)
        schedulers = getattr(optim, "lr_scheduler", None)
        if schedulers is not None:
            _set(schedulers.LRScheduler, "step", _refused_schedule_step, undo)
        _set(numpy_shim, "random", _random_shim, undo)
        yield rec
    finally:
        _active.pop()
        for action in reversed(undo + rec.restore):
            action()


def _wrapped_step(rec, step):
    def wrapped(optimizer, *args, **kwargs):
        values, before = _enter_optimizer(rec, optimizer)
        try:
            return step(optimizer, *args, **kwargs)
        finally:
            _leave_optimizer(rec, optimizer, values, before)
    return wrapped


def _refused_schedule_step(schedule):
    raise CaptureError(
        f"{type(schedule).__name__}.step() inside a function that tg.jit captures: the replay "
        f"would not run it again. Call schedule.step() between calls of the jitted function; "
        f"the new lr takes effect in the replay.")


_JIT_FILE = __file__.replace("recording.py", "__init__.py")  # the capture starts there
# Frames of these files are not named as a call's origin (the Tensor front, the recording
# itself).
_SKIPPED_FILES = (__file__, sys.modules[Tensor.__module__].__file__, contextlib.__file__)

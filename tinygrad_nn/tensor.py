"""Tensor: a NumPy array plus what reverse mode needs (`requires_grad`, `grad`, `grad_fn`).

This module knows only the graph's value type. The rest of a Tensor's behaviour is attached by
the modules built on it, each where its work is done, so imports run one way:

    tensor  <-  function (nodes)  <-  autograd (backward)  <-  ops/* (math)  <-  numpy_api

- `autograd.py` attaches `backward`, `retain_grad` and `register_hook`;
- each module of `ops/` attaches the operators and methods of its ops (`x + y`, `x.sum()`);
- `numpy_api.py` attaches NumPy's protocols, so `np.exp(x)` runs the op `exp`.
"""
import collections
import itertools
import sys
import types

import numpy as np

from .grad_mode import is_grad_enabled
from .validation import generator

__all__ = ["Tensor", "get_default_dtype", "set_default_dtype", "zeros", "ones", "randn",
           "arange", "full", "zeros_like", "ones_like", "eye", "linspace", "rand", "uniform"]

FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_default = {"dtype": np.dtype(np.float32)}


def get_default_dtype():
    """The dtype of Tensors made from Python numbers and lists (float32 at start)."""
    return _default["dtype"]


def set_default_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"the default dtype must be float16, float32 or float64, not {dtype}")
    _default["dtype"] = dtype


def _as_array(data, dtype=None):
    """The array a new Tensor holds (always a copy of the caller's data)."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        array = np.array(data, dtype=dtype)
    else:
        try:
            array = np.array(data, dtype=dtype)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"cannot make a Tensor from {type(data).__name__}: {exc}") from None
        if dtype is None and array.dtype.kind in "biuf":
            array = array.astype(_default["dtype"])
    if array.dtype.kind not in "biuf":
        raise TypeError(f"Tensor data must be numeric or bool, got dtype {array.dtype}")
    return array


def _broadcasts_to(shape, target):
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def shape_argument(shape, where):
    """(2, 3) from either f(2, 3) or f((2, 3))."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(isinstance(n, (int, np.integer)) for n in shape):
        raise TypeError(f"{where}: shape must be integers, got {shape}")
    return tuple(int(n) for n in shape)


# PyTorch's names that tinygrad_nn spells otherwise: a Tensor attribute or method -> the spelling
# here (the error for x.view says to use x.reshape).
PYTORCH_METHODS = {
    "view": "x.reshape(...)", "permute": "x.transpose(*axes)", "clamp": "x.clip(lo, hi)",
    "expand": "x.broadcast_to(*shape)", "numel": "x.size", "dim": "x.ndim",
    "mm": "x @ y or x.matmul(y)", "pow": "x ** y", "float": "x.astype(np.float32)",
    "double": "x.astype(np.float64)", "to": "x.astype(dtype)", "zero_": "x.zero_grad() on "
    "the tensor (or optimizer.zero_grad()); .grad is replaced, never cleared in place",
    "cpu": "x (there is only the CPU)", "contiguous": "x", "t": "x.T",
}


class ElementCount(int):
    """`Tensor.size`: the number of elements, an int as NumPy's `.size`. Calling it as PyTorch's
    `x.size()` raises, pointing to `x.shape`."""

    def __call__(self, *axis):
        raise TypeError("Tensor.size is the number of elements (an int, as in NumPy), not a "
                        "method: for PyTorch's x.size() use x.shape, for x.size(i) x.shape[i]")


# --------------------------------------------------------------------------- the graph's clock

# One clock orders the graph's events: each recorded node's creation number (`seq`) and each
# in-place write. Backward compares them to tell that an array a node saved was changed since.
clock = itertools.count()
writes = types.SimpleNamespace(last=-1)  # the clock time of the newest in-place write
WRITES_KEPT = 64  # per tensor: enough to name the version a node saw


def count_write(tensor):
    """Note an in-place change of tensor.data: a new version, and its clock time."""
    tensor._version += 1
    writes.last = now = next(clock)
    if getattr(tensor, "_writes", None) is None:
        tensor._writes = collections.deque(maxlen=WRITES_KEPT)
    tensor._writes.append(now)


class Tensor:
    """`Tensor(data, requires_grad=False, dtype=None)`: an n-dimensional array that records the
    ops applied to it when it (or an input) requires a gradient."""

    # `_version` counts the in-place changes of `data` (the methods ending in `_`) and `_writes`
    # (set at the first) holds when the last ones happened, so that backward can tell that an
    # array a node saved was changed after the node saved it.
    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "_hooks", "_version", "_writes",
                 "__weakref__")

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _as_array(data, dtype)
        self.grad = None
        self.grad_fn = None
        self._hooks = None
        self._version = 0
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data, grad_fn):
        """A Tensor around an op's output array, without copying or checks (the hot path)."""
        t = object.__new__(Tensor)
        t.data = data
        t.grad = None
        t.grad_fn = grad_fn
        t.requires_grad = grad_fn is not None
        t._hooks = None
        t._version = 0
        return t

    # ------------------------------------------------------------------ attributes
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: ElementCount(self.data.size))
    dtype = property(lambda self: self.data.dtype)
    is_leaf = property(lambda self: self.grad_fn is None)

    def __getattr__(self, name):
        # reached only for a name Tensor does not have: say how a PyTorch habit is spelled here
        hint = PYTORCH_METHODS.get(name)
        where = f"; in tinygrad_nn use {hint} (PyTorch's x.{name})" if hint else ""
        raise AttributeError(f"'Tensor' object has no attribute {name!r}{where}")

    # ------------------------------------------------------------------ conversion
    def numpy(self):
        """The tensor's array itself (no copy, no graph)."""
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape "
                             f"{self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        """np.asarray(t): the values, outside the graph. Refused for a tensor that requires grad
        while grad mode is on (as PyTorch does): a NumPy or SciPy function reading the values
        would silently drop the gradient."""
        if self.requires_grad and is_grad_enabled():
            raise TypeError(_implicit_conversion_message(sys._getframe(1)))
        return self.data if dtype is None else self.data.astype(dtype)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    __hash__ = object.__hash__  # identity, although == (attached by the ops) is elementwise

    def __repr__(self):
        body = np.array2string(self.data, separator=" ", prefix="Tensor(")
        extra = f", dtype={self.dtype}"
        if self.grad_fn is not None:
            extra += f", grad_fn={self.grad_fn.name}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    # ------------------------------------------------------------------ graph control
    def detach(self):
        """The same data as a new leaf that does not require grad."""
        return Tensor._make(self.data, None)

    def requires_grad_(self, flag=True):
        if flag and self.data.dtype not in FLOAT_DTYPES:
            raise TypeError(f"only floating-point tensors can require gradients, this one is "
                            f"{self.data.dtype}")
        if not flag and self.grad_fn is not None:
            raise RuntimeError("requires_grad can only be turned off on a leaf; use detach()")
        self.requires_grad = bool(flag)
        return self

    def zero_grad(self):
        self.grad = None

    # ------------------------------------------------------------------ in-place changes
    # They write into `data` (same shape, same dtype), outside any graph, and count a new
    # version. Optimizers and load_state_dict change parameters only through them.
    def _write(self, ufunc, other, where):
        if self.grad_fn is not None:
            raise RuntimeError(f"{where}: in-place change of a tensor computed by "
                               f"{self.grad_fn.name}; only leaf tensors can be changed in place")
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError(f"{where}: a leaf tensor that requires grad can be changed in "
                               "place only under tg.no_grad() (as optimizers do)")
        other = other.data if isinstance(other, Tensor) else other
        if np.shape(other) != self.shape and not _broadcasts_to(np.shape(other), self.shape):
            raise ValueError(f"{where}: a value of shape {np.shape(other)} does not fit a "
                             f"tensor of shape {self.shape}")
        ufunc(self.data, other, out=self.data, casting="same_kind")
        count_write(self)
        return self

    def add_(self, other):
        """self += other in place (other broadcasts to self's shape); returns self."""
        return self._write(np.add, other, "add_")

    def sub_(self, other):
        """self -= other in place; returns self."""
        return self._write(np.subtract, other, "sub_")

    def mul_(self, other):
        """self *= other in place; returns self."""
        return self._write(np.multiply, other, "mul_")

    def copy_(self, source):
        """Overwrite self's values with source's (broadcast to self's shape); returns self."""
        return self._write(lambda _, b, out, casting: np.copyto(out, b, casting=casting),
                           source, "copy_")


def _implicit_conversion_message(frame):
    """What np.asarray(t) says for a tensor that requires grad; `frame` is the caller's."""
    caller = frame.f_globals.get("__name__", "") if frame is not None else ""
    scipy = ""
    if caller.split(".")[0] == "scipy":
        scipy = (" SciPy's functions see only values: for scipy.special's logsumexp, expit, "
                 "logit, erf, erfc, xlogy, softmax and log_softmax use tg.special, which "
                 "keeps the gradient.")
    return ("Can't convert a Tensor that requires grad to a NumPy array: the NumPy or SciPy "
            "function reading its values would silently drop the gradient. Use a tinygrad_nn "
            "op (NumPy's functions that have one run it on Tensors), or call .detach() "
            "(or .numpy()) to compute on the values without a gradient." + scipy)


# ---------------------------------------------------------------------- constructors

def _filled(fill, shape, requires_grad, dtype, where):
    dtype = np.dtype(dtype) if dtype is not None else get_default_dtype()
    return Tensor(fill(shape_argument(shape, where), dtype=dtype), requires_grad=requires_grad)


def zeros(*shape, requires_grad=False, dtype=None):
    return _filled(np.zeros, shape, requires_grad, dtype, "zeros")


def ones(*shape, requires_grad=False, dtype=None):
    return _filled(np.ones, shape, requires_grad, dtype, "ones")


def randn(*shape, rng=None, requires_grad=False, dtype=None):
    """Standard normal samples from `rng` (a numpy.random.Generator or an int seed; fresh
    randomness if None)."""
    rng = generator(rng, "randn")
    data = rng.standard_normal(shape_argument(shape, "randn"))
    return Tensor(data, requires_grad=requires_grad, dtype=dtype or get_default_dtype())


def arange(start, stop=None, step=1, requires_grad=False, dtype=None):
    """As np.arange, in the default float dtype unless `dtype` is given."""
    data = np.arange(start, stop, step) if stop is not None else np.arange(0, start, step)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype or get_default_dtype())


def full(shape, fill_value, requires_grad=False, dtype=None):
    """A tensor of `shape` (an int or a tuple) holding fill_value everywhere."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else shape
    return _filled(lambda s, dtype: np.full(s, fill_value, dtype=dtype), (shape,), requires_grad,
                   dtype, "full")


def zeros_like(t, requires_grad=False, dtype=None):
    """Zeros of t's shape and (unless `dtype` is given) t's dtype."""
    return zeros(np.shape(t), requires_grad=requires_grad, dtype=dtype or _dtype_of(t))


def ones_like(t, requires_grad=False, dtype=None):
    """Ones of t's shape and (unless `dtype` is given) t's dtype."""
    return ones(np.shape(t), requires_grad=requires_grad, dtype=dtype or _dtype_of(t))


def _dtype_of(t):
    """t's dtype if t is a Tensor or array, else the default (as Tensor(t) would)."""
    dtype = getattr(t, "dtype", None)  # `is None`: NumPy 1.x dtypes are falsy (len 0)
    return get_default_dtype() if dtype is None else dtype


def eye(N, M=None, k=0, requires_grad=False, dtype=None):
    """An N x M matrix (M defaults to N) with ones on the k-th diagonal (np.eye)."""
    dtype = np.dtype(dtype) if dtype is not None else get_default_dtype()
    return Tensor(np.eye(N, M, k, dtype=dtype), requires_grad=requires_grad)


def linspace(start, stop, num=50, endpoint=True, requires_grad=False, dtype=None):
    """`num` evenly spaced values from start to stop (included unless endpoint=False)."""
    data = np.linspace(start, stop, num, endpoint=endpoint)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype or get_default_dtype())


def rand(*shape, rng=None, requires_grad=False, dtype=None):
    """Uniform samples from [0, 1) drawn from `rng` (a numpy.random.Generator or an int seed;
    fresh randomness if None)."""
    return uniform(0.0, 1.0, shape_argument(shape, "rand"), rng=rng, requires_grad=requires_grad,
                   dtype=dtype)


def uniform(low=0.0, high=1.0, size=None, rng=None, requires_grad=False, dtype=None):
    """Uniform samples from [low, high) of shape `size` (None: one value) drawn from `rng`, as
    numpy.random.Generator.uniform; `rng` a Generator, an int seed or None."""
    rng = generator(rng, "uniform")
    data = rng.uniform(low, high, size)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype or get_default_dtype())


class _TensorModule(types.ModuleType):
    """This module, `tg.tensor`: calling it as PyTorch's torch.tensor(data) says what to use."""

    def __call__(self, *args, **kwargs):
        raise TypeError("tg.tensor is the module tinygrad_nn.tensor, not a function: use "
                        "tg.Tensor(data) (PyTorch's torch.tensor(data))")


sys.modules[__name__].__class__ = _TensorModule

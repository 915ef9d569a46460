"""Tensor: a NumPy array plus what reverse mode needs (`requires_grad`, `grad`, `grad_fn`).

The class is a thin front: every method hands over to an op in `ops.py` or to the engine in
`autograd.py`; no math lives here.
"""
import functools
import numbers
import sys
import types

import numpy as np

from .validation import generator

__all__ = ["Tensor", "get_default_dtype", "set_default_dtype", "zeros", "ones", "randn",
           "arange", "to_constant", "full", "zeros_like", "ones_like", "eye", "linspace", "rand",
           "uniform"]

_FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_default = {"dtype": np.dtype(np.float32)}


def get_default_dtype():
    """The dtype of Tensors made from Python numbers and lists (float32 at start)."""
    return _default["dtype"]


def set_default_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in _FLOAT_DTYPES:
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


def to_constant(x):
    """A non-Tensor operand of an op, as NumPy should see it.

    Python numbers stay Python numbers, so NumPy treats them as weak scalars: float32 * 1.5 is
    float32. NumPy scalars become Python numbers for the same reason; lists become arrays of
    the default dtype (bool lists stay bool, for masks); arrays are used as they are.
    """
    if type(x) is float or type(x) is int or type(x) is np.ndarray:
        return x
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (numbers.Number, np.ndarray)):
        return x
    if isinstance(x, (list, tuple)):
        array = np.asarray(x)
        return array if array.dtype == bool else array.astype(_default["dtype"])
    raise TypeError(f"unsupported operand type for a Tensor op: {type(x).__name__}")


def _broadcasts_to(shape, target):
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _shape_arg(shape, where):
    """(2, 3) from either f(2, 3) or f((2, 3))."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(isinstance(n, (int, np.integer)) for n in shape):
        raise TypeError(f"{where}: shape must be integers, got {shape}")
    return tuple(int(n) for n in shape)


# PyTorch's names that tinygrad_nn spells otherwise: a Tensor attribute or method -> the spelling
# here (the error for x.view says to use x.reshape), and the keyword arguments of reductions.
PYTORCH_METHODS = {
    "view": "x.reshape(...)", "permute": "x.transpose(*axes)", "clamp": "x.clip(lo, hi)",
    "expand": "x.broadcast_to(*shape)", "numel": "x.size", "dim": "x.ndim",
    "mm": "x @ y or x.matmul(y)", "pow": "x ** y", "float": "x.astype(np.float32)",
    "double": "x.astype(np.float64)", "to": "x.astype(dtype)", "zero_": "x.zero_grad() on "
    "the tensor (or optimizer.zero_grad()); .grad is replaced, never cleared in place",
    "cpu": "x (there is only the CPU)", "contiguous": "x", "t": "x.T",
}
PYTORCH_KEYWORDS = {"dim": "axis", "keepdim": "keepdims"}


def numpy_keywords(fn):
    """Let `fn` (a reduction or softmax) answer PyTorch's dim=/keepdim= with the NumPy names."""
    @functools.wraps(fn)
    def checked(*args, **kwargs):
        for name in kwargs.keys() & PYTORCH_KEYWORDS.keys():
            raise TypeError(f"{fn.__name__}() got an unexpected keyword argument {name!r}; "
                            f"tinygrad_nn uses NumPy's name: {PYTORCH_KEYWORDS[name]}=")
        return fn(*args, **kwargs)
    return checked


class ElementCount(int):
    """`Tensor.size`: the number of elements, an int as NumPy's `.size`. Calling it as PyTorch's
    `x.size()` raises, pointing to `x.shape`."""

    def __call__(self, *axis):
        raise TypeError("Tensor.size is the number of elements (an int, as in NumPy), not a "
                        "method: for PyTorch's x.size() use x.shape, for x.size(i) x.shape[i]")


def constant_parameter(name, value, where):
    """An op's parameter (clip's bounds, elu's alpha...), which the op treats as a constant: a
    Tensor becomes its array, but one that requires grad is refused rather than silently
    getting no gradient."""
    if isinstance(value, Tensor):
        if value.requires_grad:
            raise TypeError(f"{where}: {name} is a constant of the op and gets no gradient, but "
                            "the Tensor given requires grad; pass a number or an array (or "
                            f"{name}.detach() to use its value)")
        return value.data
    return value


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
    T = property(lambda self: self.transpose())
    is_leaf = property(lambda self: self.grad_fn is None)

    def __getattr__(self, name):
        # reached only for a name Tensor does not have: say how a PyTorch habit is spelled here
        hint = PYTORCH_METHODS.get(name)
        where = f"; in tinygrad_nn use {hint} (PyTorch's x.{name})" if hint else ""
        raise AttributeError(f"'Tensor' object has no attribute {name!r}{where}")

    # ------------------------------------------------------------------ conversion
    def numpy(self):
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape "
                             f"{self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        """np.asarray(t): the values, outside the graph (reading them is how to leave it)."""
        if self.requires_grad:
            numpy_api.refuse_implicit_conversion(sys._getframe(1))
        return self.data if dtype is None else self.data.astype(dtype)

    # NumPy functions on Tensors run the ops of the same name (numpy_api.py); operators do not
    # come this way (they call the ops directly).
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return numpy_api.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return numpy_api.array_function(func, types, args, kwargs)

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

    __hash__ = object.__hash__  # identity, although == is elementwise

    def __repr__(self):
        body = np.array2string(self.data, separator=" ", prefix="Tensor(")
        extra = f", dtype={self.dtype}"
        if self.grad_fn is not None:
            extra += f", grad_fn={self.grad_fn.name}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    # ------------------------------------------------------------------ graph control
    def backward(self, gradient=None, retain_graph=False, create_graph=False):
        autograd.backward(self, gradient, retain_graph, create_graph)

    def detach(self):
        """The same data as a new leaf that does not require grad."""
        return Tensor._make(self.data, None)

    def requires_grad_(self, flag=True):
        if flag and self.data.dtype not in _FLOAT_DTYPES:
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
        if self.requires_grad and grad_mode.is_grad_enabled():
            raise RuntimeError(f"{where}: a leaf tensor that requires grad can be changed in "
                               "place only under tg.no_grad() (as optimizers do)")
        other = other.data if isinstance(other, Tensor) else other
        if np.shape(other) != self.shape and not _broadcasts_to(np.shape(other), self.shape):
            raise ValueError(f"{where}: a value of shape {np.shape(other)} does not fit a "
                             f"tensor of shape {self.shape}")
        ufunc(self.data, other, out=self.data, casting="same_kind")
        function.count_write(self)
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

    def retain_grad(self):
        autograd.retain_grad(self)

    def register_hook(self, fn):
        autograd.register_hook(self, fn)

    # ------------------------------------------------------------------ operators
    def __add__(self, other): return ops.Add.operator(self, other)
    def __radd__(self, other): return ops.Add.apply(other, self)
    def __sub__(self, other): return ops.Sub.operator(self, other)
    def __rsub__(self, other): return ops.Sub.apply(other, self)
    def __mul__(self, other): return ops.Mul.operator(self, other)
    def __rmul__(self, other): return ops.Mul.apply(other, self)
    def __truediv__(self, other): return ops.Div.operator(self, other)
    def __rtruediv__(self, other): return ops.Div.apply(other, self)
    def __pow__(self, other): return ops.Pow.apply(self, other)
    def __rpow__(self, other): return ops.Pow.apply(other, self)
    def __matmul__(self, other): return ops.MatMul.apply(self, other)
    def __rmatmul__(self, other): return ops.MatMul.apply(other, self)
    def __neg__(self): return ops.Neg.apply(self)
    def __pos__(self): return self
    def __abs__(self): return ops.Abs.apply(self)
    def __mod__(self, other): return ops.Mod.apply(self, other)
    def __rmod__(self, other): return ops.Mod.apply(other, self)

    def __lt__(self, other): return ops.compare(np.less, self, other)
    def __le__(self, other): return ops.compare(np.less_equal, self, other)
    def __gt__(self, other): return ops.compare(np.greater, self, other)
    def __ge__(self, other): return ops.compare(np.greater_equal, self, other)
    def __eq__(self, other): return ops.compare(np.equal, self, other)
    def __ne__(self, other): return ops.compare(np.not_equal, self, other)

    def __getitem__(self, index): return ops.GetItem.apply(self, index=ops.as_index(index))

    # ------------------------------------------------------------------ methods
    @numpy_keywords
    def sum(self, axis=None, keepdims=False):
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    @numpy_keywords
    def mean(self, axis=None, keepdims=False):
        return ops.Mean.apply(self, axis=axis, keepdims=keepdims)

    @numpy_keywords
    def max(self, axis=None, keepdims=False):
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    @numpy_keywords
    def min(self, axis=None, keepdims=False):
        return ops.Min.apply(self, axis=axis, keepdims=keepdims)

    @numpy_keywords
    def var(self, axis=None, keepdims=False, ddof=0):
        """Variance, Σ (x - mean)² / (n - ddof): ddof=0 (the default) the population variance."""
        return ops.Var.apply(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def exp(self): return ops.Exp.apply(self)
    def log(self): return ops.Log.apply(self)
    def sqrt(self): return ops.Sqrt.apply(self)
    def abs(self): return ops.Abs.apply(self)
    def tanh(self): return ops.Tanh.apply(self)
    def sigmoid(self): return ops.Sigmoid.apply(self)
    def relu(self): return ops.Relu.apply(self)
    def leaky_relu(self, negative_slope=0.01):
        slope = constant_parameter("negative_slope", negative_slope, "leaky_relu")
        return ops.LeakyRelu.apply(self, slope=slope)

    @numpy_keywords
    def softmax(self, axis=-1): return ops.Softmax.apply(self, axis=axis)
    @numpy_keywords
    def log_softmax(self, axis=-1): return ops.LogSoftmax.apply(self, axis=axis)
    def clip(self, lo, hi):
        return ops.Clip.apply(self, lo=constant_parameter("lo", lo, "clip"),
                              hi=constant_parameter("hi", hi, "clip"))
    def matmul(self, other): return ops.MatMul.apply(self, other)
    def astype(self, dtype):
        """A copy in another dtype; a cast to integers or bool leaves the graph (no gradient)."""
        dtype = np.dtype(dtype)
        if dtype not in _FLOAT_DTYPES:
            return Tensor._make(self.data.astype(dtype), None)
        return ops.Cast.apply(self, dtype=dtype)
    def broadcast_to(self, *shape):
        return ops.BroadcastTo.apply(self, shape=_shape_arg(shape, "broadcast_to"))

    def reshape(self, *shape):
        """Ints or one tuple; at most one -1, inferred from the size."""
        shape = ops.resolve_shape(self.shape, _shape_arg(shape, "reshape"))
        return ops.Reshape.apply(self, shape=shape)

    def transpose(self, *axes):
        """Permute axes as np.transpose does; no axes reverses them."""
        axes = _shape_arg(axes, "transpose") if axes else tuple(range(self.ndim))[::-1]
        return ops.Transpose.apply(self, axes=ops.normalize_axes(axes, self.ndim))

    def flatten(self, start_axis=0, end_axis=-1):
        """The axes start_axis..end_axis (all by default) merged into one."""
        start, end = (ops.normalize_axis(ax, max(self.ndim, 1), "flatten")
                      for ax in (start_axis, end_axis))
        shape = self.shape if self.ndim else (1,)
        return self.reshape(shape[:start] + (-1,) + shape[end + 1:])

    def unsqueeze(self, axis):
        """A new axis of size 1 at `axis` (negatives count from the end of the result)."""
        return ops.Reshape.apply(self, shape=ops.unsqueezed_shape(self.shape, axis))

    def squeeze(self, axis=None):
        """Without the size-1 axes (all of them if axis is None, else axis: an int or tuple);
        ValueError for an axis whose size is not 1."""
        return ops.Reshape.apply(self, shape=ops.squeezed_shape(self.shape, axis))

    def argmax(self, axis=None, keepdims=False):
        """int64 indices of the maxima (the first among ties); no gradient."""
        return ops.arg_extremum(np.argmax, self, axis, keepdims, "argmax")

    def argmin(self, axis=None, keepdims=False):
        """int64 indices of the minima (the first among ties); no gradient."""
        return ops.arg_extremum(np.argmin, self, axis, keepdims, "argmin")

    # The methods below are NumPy's ndarray methods; the functions in functional.py do the work.
    @numpy_keywords
    def prod(self, axis=None, keepdims=False): return functional.prod(self, axis, keepdims)
    @numpy_keywords
    def std(self, axis=None, keepdims=False, ddof=0):
        return functional.std(self, axis, keepdims, ddof)
    @numpy_keywords
    def cumsum(self, axis=None): return functional.cumsum(self, axis)
    @numpy_keywords
    def cumprod(self, axis=None): return functional.cumprod(self, axis)
    def round(self, decimals=0): return functional.round(self, decimals)
    def dot(self, other): return functional.dot(self, other)
    def diagonal(self, offset=0, axis1=0, axis2=1):
        return functional.diagonal(self, offset, axis1, axis2)
    def trace(self, offset=0, axis1=0, axis2=1):
        return functional.trace(self, offset, axis1, axis2)
    def repeat(self, repeats, axis=None): return functional.repeat(self, repeats, axis)
    def swapaxes(self, axis1, axis2): return functional.swapaxes(self, axis1, axis2)
    def ravel(self): return self.reshape(-1)


# ---------------------------------------------------------------------- constructors

def _filled(fill, shape, requires_grad, dtype, where):
    dtype = np.dtype(dtype) if dtype is not None else get_default_dtype()
    return Tensor(fill(_shape_arg(shape, where), dtype=dtype), requires_grad=requires_grad)


def zeros(*shape, requires_grad=False, dtype=None):
    return _filled(np.zeros, shape, requires_grad, dtype, "zeros")


def ones(*shape, requires_grad=False, dtype=None):
    return _filled(np.ones, shape, requires_grad, dtype, "ones")


def randn(*shape, rng=None, requires_grad=False, dtype=None):
    """Standard normal samples from `rng` (a numpy.random.Generator or an int seed; fresh
    randomness if None)."""
    rng = generator(rng, "randn")
    data = rng.standard_normal(_shape_arg(shape, "randn"))
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
    return uniform(0.0, 1.0, _shape_arg(shape, "rand"), rng=rng, requires_grad=requires_grad,
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

# The one import back-edge: the methods above hand over to the engine, the ops, the functions
# and NumPy's protocols, which build on Tensor; imported last so that they find Tensor defined.
from . import autograd, function, functional, grad_mode, numpy_api, ops  # noqa: E402

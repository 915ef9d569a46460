"""What goes into a jitted function and what comes out: the signature of a call, the arguments
as the captured function sees them, and the returned structure rebuilt from arrays."""
import numpy as np

from ..tensor import Tensor
from .stand_ins import Traced

BY_VALUE = (type(None), bool, int, float, complex, str, bytes)


def describe(x, key, arrays):
    """Append to `key` what must match for a recording to be replayed with argument x (shapes
    and dtypes of arrays, values of numbers and strings, identities of other objects), and to
    `arrays` the arrays of its Tensors and arrays, in the order `bind` meets them."""
    if isinstance(x, Tensor):  # the layout too: a reduction's order, so its bits, follow it
        x = x.data
        key += (x.shape, x.dtype, x.strides)
        arrays.append(x)
    elif isinstance(x, np.ndarray):
        key += ("array", x.shape, x.dtype, x.strides)
        arrays.append(x)
    elif type(x) in (tuple, list):
        key.append((type(x), len(x)))
        for v in x:
            describe(v, key, arrays)
    elif type(x) is dict:
        for k in sorted(x):
            key.append(k)
            describe(x[k], key, arrays)
    elif type(x) in BY_VALUE:
        key.append((type(x), x))
    else:
        key.append(("identity", id(x)))


def held_by_identity(x, held):
    """Collect into `held` the arguments a signature holds by identity (kept alive, so that
    their ids stay theirs)."""
    if type(x) in (tuple, list):
        for v in x:
            held_by_identity(v, held)
    elif type(x) is dict:
        for v in x.values():
            held_by_identity(v, held)
    elif not isinstance(x, (Tensor, np.ndarray)) and type(x) not in BY_VALUE:
        held.append(x)
    return held


def copy_of(array):
    """A copy with the same memory order of the axes as `array` (as eager code would see)."""
    copy = np.empty_like(array)
    np.copyto(copy, array)
    return copy


def check_arguments(x):
    if isinstance(x, Tensor) and x.requires_grad:
        raise TypeError("tg.jit: a Tensor argument that requires grad is not supported (its "
                        "gradient would not reach it); train the parameters of a module or "
                        "of an optimizer the function uses, and pass the data as arguments")
    if type(x) in (tuple, list):
        for v in x:
            check_arguments(v)
    elif type(x) is dict:
        for v in x.values():
            check_arguments(v)


def bind(x, copies, inputs):
    """x as the function sees it during the capture: its Tensor and array arguments replaced by
    `copies` (stand-ins of input buffers, which a replay fills with the new arguments)."""
    if isinstance(x, (Tensor, np.ndarray)):
        traced = next(copies)
        inputs.append(traced)
        return Tensor._make(traced, None) if isinstance(x, Tensor) else traced
    if type(x) in (tuple, list):
        return type(x)(bind(v, copies, inputs) for v in x)
    if type(x) is dict:
        return {k: bind(x[k], copies, inputs) for k in sorted(x)}
    return x


def split_outputs(result):
    """(the returned Tensors, a function that rebuilds the returned structure from arrays)."""
    if result is None:
        return [], lambda arrays: None
    if isinstance(result, Tensor):
        return [result], lambda arrays: Tensor._make(arrays[0], None)
    if type(result) in (tuple, list):
        for index, value in enumerate(result):
            _check_returned(value, f"a {type(result).__name__} whose item {index}")
        kind = type(result)
        return list(result), lambda arrays: kind(Tensor._make(a, None) for a in arrays)
    if type(result) is dict:
        for key, value in result.items():
            _check_returned(value, f"a dict whose value for {key!r}")
        keys = list(result)
        return (list(result.values()),
                lambda arrays: {k: Tensor._make(a, None) for k, a in zip(keys, arrays)})
    _check_returned(result, "")


def _check_returned(value, where):
    if isinstance(value, Tensor):
        return
    what = f"{where} is a {type(value).__name__}" if where else type(value).__name__
    hint = (" (a number: return tg.Tensor(value), or compute it after the call from the "
            "returned tensors)" if isinstance(value, (int, float, np.number)) else "")
    raise TypeError(f"tg.jit: the function must return None, a Tensor, or a tuple, list or "
                    f"dict of Tensors; it returned {what}{hint}: a replay runs no Python, so "
                    f"only tensors can come out of it")


def stand_in_of(tensor):
    """The stand-in of a returned tensor's array."""
    data = tensor.data  # read while instrumented: always a stand-in for the step's tensors
    return data if isinstance(data, Traced) else Traced(np.asarray(data))


def title(fn, args, kwargs, grad_mode):
    def shown(x):
        if isinstance(x, (Tensor, np.ndarray)):
            return f"{tuple(x.shape)} {x.dtype}"
        return repr(x)
    parts = [shown(a) for a in args] + [f"{k}={shown(v)}" for k, v in kwargs.items()]
    return (f"tg.jit plan of {name_of_function(fn)}({', '.join(parts)}), "
            f"grad mode {'on' if grad_mode else 'off'}")


def name_of_function(fn):
    """A function's qualified name; a callable object's class name (a Module)."""
    return getattr(fn, "__qualname__", None) or type(fn).__name__

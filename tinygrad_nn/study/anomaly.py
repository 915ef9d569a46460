"""`with tg.detect_anomaly():` (or `@tg.detect_anomaly()`): stop at the first NaN or inf.

While it is active, the output of every recorded op's forward and every gradient an op's
backward returns is checked; the first one holding NaN or inf raises `FloatingPointError`
naming the op and the line of *your* code that created it (the innermost caller outside the
tinygrad_nn package; its examples count as your code). Ops run where nothing needs a gradient
are not recorded, so they are not checked. Nestable; while no block is active it costs nothing.
"""
import contextlib
import functools
import linecache
import os
import sys

import numpy as np

from ..function import observers
from ..tensor import Tensor

__all__ = ["detect_anomaly"]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # tinygrad_nn/
_EXAMPLES = _PACKAGE + "examples" + os.sep


@functools.lru_cache(maxsize=None)
def _is_library_file(filename):
    path = os.path.abspath(filename)
    return path.startswith(_PACKAGE) and not path.startswith(_EXAMPLES)


def _user_line():
    """(filename, line number) of the innermost frame outside the library, or None."""
    frame = sys._getframe(1)
    while frame is not None and _is_library_file(frame.f_code.co_filename):
        frame = frame.f_back
    return None if frame is None else (frame.f_code.co_filename, frame.f_lineno)


def _describe_line(where):
    if where is None:
        return "  (created outside detect_anomaly(), so the line that created it is unknown)"
    filename, line = where
    text = f'  File "{filename}", line {line}'
    source = linecache.getline(filename, line).strip()
    return f"{text}\n    {source}" if source else text


def _bad_values(array):
    """'NaN', 'inf' or 'NaN and inf' if a float array holds them, else None."""
    if array.dtype.kind not in "fc" or np.isfinite(array).all():
        return None
    kinds = [name for name, test in (("NaN", np.isnan), ("inf", np.isinf)) if test(array).any()]
    return " and ".join(kinds)


def _array(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _check_forward(node, out):
    node.created_at = where = _user_line()
    bad = _bad_values(out)
    if bad:
        bad_inputs = [i for i, x in enumerate(node.inputs) if _bad_values(_array(x))]
        cause = (f"input {', '.join(map(str, bad_inputs))} already held NaN or inf" if bad_inputs
                 else "its inputs were finite")
        raise FloatingPointError(f"detect_anomaly: {node.name} produced {bad} in its output "
                                 f"(shape {np.shape(out)}); {cause}. Created at:\n"
                                 f"{_describe_line(where)}")


def _check_backward(node, grad_output, input_grads):
    for i, g in enumerate(input_grads):
        bad = None if g is None else _bad_values(_array(g))
        if bad:
            received = ("already held NaN or inf" if _bad_values(_array(grad_output))
                        else "was finite")
            where = _describe_line(getattr(node, "created_at", None))
            raise FloatingPointError(f"detect_anomaly: {node.name}.backward produced {bad} in the "
                                     f"gradient of input {i}; the gradient it received {received}. "
                                     f"The {node.name} was created at:\n{where}")


class detect_anomaly(contextlib.ContextDecorator):
    """Context manager and decorator: check every forward output and backward gradient for NaN
    and inf while active (see the module docstring). Not thread-local: it watches every thread."""

    _active = 0  # how many blocks are open; the checks are registered while it is positive

    def __enter__(self):
        if detect_anomaly._active == 0:
            observers.forward.append(_check_forward)
            observers.backward.append(_check_backward)
        detect_anomaly._active += 1
        return self

    def __exit__(self, *exc):
        detect_anomaly._active -= 1
        if detect_anomaly._active == 0:
            observers.forward.remove(_check_forward)
            observers.backward.remove(_check_backward)
        return False

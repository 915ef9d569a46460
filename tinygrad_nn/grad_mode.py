"""Grad mode: whether ops record a graph, per thread (on by default)."""
import contextlib
import threading

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]


class _GradMode(threading.local):
    enabled = True  # the default for every thread


_grad_mode = _GradMode()


def is_grad_enabled():
    return _grad_mode.enabled


@contextlib.contextmanager
def set_grad_enabled(mode=True):
    """`with set_grad_enabled(mode):` or `@set_grad_enabled(mode)`: record a graph or not, in
    this thread; the previous mode comes back on exit, also after an exception."""
    previous, _grad_mode.enabled = _grad_mode.enabled, bool(mode)
    try:
        yield
    finally:
        _grad_mode.enabled = previous


def no_grad(fn=None):
    """`with no_grad():`, `@no_grad()` or `@no_grad`: nothing inside records a graph."""
    return set_grad_enabled(False) if fn is None else set_grad_enabled(False)(fn)


def enable_grad(fn=None):
    """`with enable_grad():`, `@enable_grad()` or `@enable_grad`: record again (in no_grad)."""
    return set_grad_enabled(True) if fn is None else set_grad_enabled(True)(fn)

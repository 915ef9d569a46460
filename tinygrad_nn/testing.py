"""`tinygrad_nn.testing`: hypothesis strategies and helpers for testing the gradients of your
own ops (needs hypothesis). They live in `tinygrad_nn.checking.strategies`; this name is the
documented way in."""
from .checking.strategies import *  # noqa: F401,F403
from .checking.strategies import __all__, __doc__  # noqa: F401

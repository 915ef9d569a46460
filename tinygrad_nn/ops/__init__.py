"""Every built-in op, one module per kind; each module holds its op classes (forward and
backward side by side), the functions that publish them and their NumPy names (`register`).

Importing the modules, in this order (each builds only on those before it), attaches the Tensor
methods and operators and fills `PUBLIC` (the functions `tg.NAME`) and `NUMPY` (what NumPy's
functions compute on Tensors, numpy_api.py). docs/contributing.md shows how to add an op.
"""
from . import base, elementwise, shape, reductions, activations, linalg, convolution
from .base import PUBLIC, Op

KINDS = {"elementwise": elementwise, "activations": activations,
         "reductions and scans": reductions, "linear algebra": linalg,
         "shape and indexing": shape, "convolution and pooling": convolution}
# (a class with `abstract = True` of its own is a base that other ops share, not an op)
OP_CLASSES = {name: cls for module in (base, *KINDS.values()) for name, cls in vars(module).items()
              if isinstance(cls, type) and issubclass(cls, Op)
              and cls.__module__ == module.__name__ and not vars(cls).get("abstract")}

# `ops.exp`, `ops.Exp`: every public function and op class by name
globals().update(PUBLIC)
globals().update(OP_CLASSES)
__all__ = sorted(PUBLIC)

"""`tg.linalg`: np.linalg's names for tinygrad_nn's linear algebra, so that code written as
`np.linalg.inv(a)` reads the same as `tg.linalg.inv(a)`. The functions are the ops of
`tinygrad_nn/ops/linalg.py` (also `tg.inv`, ..., and what `np.linalg.inv(t)` runs on a Tensor);
this module only gathers them under NumPy's namespace.

    import tinygrad_nn as tg
    a = tg.Tensor([[2.0, 1.0], [1.0, 3.0]], requires_grad=True)
    tg.linalg.slogdet(a).logabsdet.backward()   # a.grad = a⁻ᵀ
"""
from .ops.linalg import (LinAlgError, cholesky, det, eigh, eigvalsh, inv, norm, pinv, slogdet,
                         solve, svd)

__all__ = ["LinAlgError", "cholesky", "det", "eigh", "eigvalsh", "inv", "norm", "pinv", "slogdet",
           "solve", "svd"]

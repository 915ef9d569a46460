"""tinygrad_nn: a small, readable autograd engine and neural-network library on NumPy.

    import tinygrad_nn as tg
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad  # Tensor([2. 4.], dtype=float32)
"""
from .tensor import (Tensor, get_default_dtype, set_default_dtype, zeros, ones, randn, arange,
                     full, zeros_like, ones_like, eye, linspace, rand, uniform)
from .grad_mode import no_grad, enable_grad, set_grad_enabled, is_grad_enabled
from .function import Function, call
from .autograd import grad
# every op as a function (sum, exp, ..., einsum, pad, sort): the list is ops.__all__
from .ops import *  # noqa: F401,F403
from . import ops as _ops, numpy_api as _numpy_api  # noqa: F401 (attaches NumPy's protocols)
# tg.trace stays the study tool imported below; the matrix trace is Tensor.trace(), np.trace(t)
# and tg.ops.trace.
from .checking import GradcheckError, gradcheck, gradgradcheck, jacobian, hessian, hvp
from .transforms import jvp, vjp, jacfwd, jacrev
from .study import viz, trace, detect_anomaly
from . import nn, optim, data
from .serialization import save, load
from .jit import jit

__version__ = "0.1.0"
__all__ = ["Tensor", "get_default_dtype", "set_default_dtype", "zeros", "ones", "randn", "arange",
           "Function", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "grad",
           "call", "GradcheckError", "gradcheck", "gradgradcheck", "jacobian", "hessian", "hvp",
           "jvp", "vjp", "jacfwd", "jacrev", "trace", "detect_anomaly", "viz", "nn", "optim",
           "data", "save", "load", "full", "zeros_like", "ones_like", "eye", "linspace", "rand",
           "uniform", "jit"]
__all__ += [name for name in _ops.__all__ if name not in __all__]


# PyTorch's package-level names that tinygrad_nn spells otherwise.
_PYTORCH_NAMES = {"cat": "tg.concatenate(tensors, axis=0)", "tensor": "tg.Tensor(data)",
                  "from_numpy": "tg.Tensor(array)", "clamp": "tg.clip(x, lo, hi)",
                  "manual_seed": "rng=np.random.default_rng(seed) where randomness is drawn",
                  "permute": "tg.transpose(x, *axes)"}


def __getattr__(name):
    """`tg.testing` (which needs hypothesis) and `tg.check` are imported on first use, so that
    importing tinygrad_nn never imports hypothesis, and `python -m tinygrad_nn.check` runs a
    module that was not imported before. A PyTorch name gets the tinygrad_nn spelling."""
    if name in ("testing", "check"):
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    hint = _PYTORCH_NAMES.get(name)
    where = f"; in tinygrad_nn use {hint} (PyTorch's torch.{name})" if hint else ""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}{where}")

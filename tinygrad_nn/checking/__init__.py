"""Tools for checking gradients: `gradcheck`/`gradgradcheck` (analytic against finite
differences), the one Jacobian builder and whole Jacobians and Hessians (`jacobians`), the
table of every built-in op (`op_table`) that drives both the test suite and the self-check
command (`selfcheck`), the one sampler of inputs and source of choices both use (`sampling`),
and hypothesis strategies for testing your own ops (`strategies`, also `tinygrad_nn.testing`).

Nothing here is imported by the engine; importing this package never imports hypothesis."""
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .jacobians import hessian, hvp, jacobian

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck", "jacobian", "hessian", "hvp"]

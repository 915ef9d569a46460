"""Side-by-side timing of tinygrad_nn against hand-written NumPy and peer autograd libraries.

Run with `python -m benchmarks` (see `benchmarks/run.py`).
"""

import os

# BLAS on one thread, set before NumPy is imported in a benchmark process (and inherited by the
# fresh processes that measure peak memory): with two threads on a 2-core machine the MLP ratios
# swing between 0.6x and 1.1x from round to round. `run.main` also limits an already loaded BLAS
# (threadpoolctl, when installed). A value set by the caller is kept.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

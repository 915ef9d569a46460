"""The contenders: one module each, all with the same interface.

A contender module defines

- `version()`, of the library it times;
- `op_overhead(x, w, b)`, `mlp_step(problem)` and `deep_chain(start, length)`, each taking the
  shared NumPy inputs from `benchmarks.workloads` and returning a `Bench`.

A module whose library is not installed raises ImportError when imported, and is skipped.
`MODULES` maps each contender's name (its column in the table) to its module.
"""

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

MODULES = {
    "numpy": "benchmarks.contenders.numpy_by_hand",
    "tinygrad_nn": "benchmarks.contenders.tinygrad_nn_api",
    "tinygrad_nn (jit)": "benchmarks.contenders.tinygrad_nn_jit",
    "torch": "benchmarks.contenders.torch_cpu",
    "mygrad": "benchmarks.contenders.mygrad_api",
    "autograd": "benchmarks.contenders.hips_autograd",
}

REFERENCE = "numpy"


class Bench(NamedTuple):
    """One workload, set up for one contender.

    `run()` is one timed call (it returns the call's output: loss, sum or chain end, plus what
    the contender needs to report its gradients); `check_values(output)` names the NumPy
    values of that call to compare against the reference contender.
    """

    run: Callable[[], Any]
    check_values: Callable[[Any], dict]


def load(name: str):
    """Import the contender module called `name`; ImportError if its library is missing."""
    return importlib.import_module(MODULES[name])

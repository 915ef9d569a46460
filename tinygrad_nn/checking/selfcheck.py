"""`python -m tinygrad_nn.check [--seed N]`: gradcheck and gradgradcheck every built-in op on
random float64 inputs, print a table (op, call, input shapes, largest absolute and relative
error, result) and exit with status 1 if any check fails. `run(seed)` does the same in Python.

Every `Op` subclass in `tinygrad_nn.ops` needs a recipe in RECIPES: a call that uses it, with
random inputs kept away from its kinks, poles and ties. An op without one is reported as a
failure ("no recipe"), so a new op comes with a new row here.
"""
import argparse
import sys
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import functional as F
from .. import ops
from ..autograd import grad, topological_order
from .jacobians import jacobian, numerical_jacobian
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from ..tensor import Tensor

__all__ = ["Recipe", "RECIPES", "Sampler", "run", "format_table", "main"]


class Sampler:
    """Random float64 inputs for one recipe."""

    def __init__(self, rng):
        self.rng = rng

    def normal(self, *shape):
        return self.rng.standard_normal(shape)

    def uniform(self, low, high, *shape):
        return self.rng.uniform(low, high, shape)

    def away(self, points, *shape, gap=0.2):
        """Normal values, each at least `gap` from every point (kinks, poles)."""
        x = self.normal(*shape)
        for point in points:
            near = np.abs(x - point) < gap
            x[near] = point + np.where(x[near] >= point, gap, -gap)
        return x

    def distinct(self, *shape):
        """Values at least 0.1 apart from each other, so max and min have no ties."""
        n = int(np.prod(shape))
        spread = 0.3 * self.rng.permutation(n) - 0.15 * n + self.rng.uniform(-0.1, 0.1, n)
        return spread.reshape(shape)

    def untied_pair(self, *shape):
        """a and b = a ± 0.2..1, so maximum(a, b) and minimum(a, b) have no ties."""
        a = self.normal(*shape)
        offset = self.rng.choice([-1.0, 1.0], shape) * self.rng.uniform(0.2, 1.0, shape)
        return [a, a + offset]


@dataclass(frozen=True)
class Recipe:
    """How to check one op: `fn` (float64 Tensors -> Tensor) uses it, `inputs(sampler)` draws
    one array per parameter of fn, `call` describes the call in the table."""
    op: str
    call: str
    fn: Callable
    inputs: Callable
    eps: float = 1e-6
    atol: float = 1e-5
    rtol: float = 1e-3


_CONDITION = np.array([[True, False, True], [False, False, True]])
_LABELS = np.array([0, 2, 1, 2])

RECIPES = [
    # elementwise
    Recipe("Add", "a + b", lambda a, b: a + b, lambda s: [s.normal(3, 4), s.normal(4)]),
    Recipe("Sub", "a - b", lambda a, b: a - b, lambda s: [s.normal(3, 1), s.normal(1, 4)]),
    Recipe("Mul", "a * b", lambda a, b: a * b, lambda s: [s.normal(2, 3), s.normal(3)]),
    Recipe("Div", "a / b", lambda a, b: a / b,
           lambda s: [s.normal(2, 3), s.away([0.0], 2, 3, gap=0.5)]),
    Recipe("Neg", "-a", lambda a: -a, lambda s: [s.normal(5)]),
    Recipe("Pow", "a ** b", lambda a, b: a ** b,
           lambda s: [s.uniform(0.5, 2.0, 2, 3), s.normal(2, 3)]),
    Recipe("Pow", "a ** 3", lambda a: a ** 3, lambda s: [s.normal(5)]),
    Recipe("Pow", "2 ** a", lambda a: 2 ** a, lambda s: [s.normal(5)]),
    Recipe("Exp", "exp(a)", F.exp, lambda s: [s.normal(5)]),
    Recipe("Log", "log(a)", F.log, lambda s: [s.uniform(0.5, 3.0, 5)]),
    Recipe("Sqrt", "sqrt(a)", F.sqrt, lambda s: [s.uniform(0.5, 3.0, 5)]),
    Recipe("Abs", "abs(a)", F.abs, lambda s: [s.away([0.0], 2, 3)]),
    Recipe("Tanh", "tanh(a)", F.tanh, lambda s: [s.normal(5)]),
    Recipe("Sigmoid", "sigmoid(a)", F.sigmoid, lambda s: [3 * s.normal(5)]),
    Recipe("Relu", "relu(a)", F.relu, lambda s: [s.away([0.0], 2, 3)]),
    Recipe("LeakyRelu", "leaky_relu(a, 0.1)", lambda a: F.leaky_relu(a, 0.1),
           lambda s: [s.away([0.0], 2, 3)]),
    Recipe("Clip", "clip(a, -0.5, 0.5)", lambda a: F.clip(a, -0.5, 0.5),
           lambda s: [s.away([-0.5, 0.5], 2, 3)]),
    Recipe("Maximum", "maximum(a, b)", F.maximum, lambda s: s.untied_pair(2, 3)),
    Recipe("Minimum", "minimum(a, b)", F.minimum, lambda s: s.untied_pair(2, 3)),
    Recipe("Where", "where(cond, a, b)", lambda a, b: F.where(_CONDITION, a, b),
           lambda s: [s.normal(2, 3), s.normal(3)]),
    # reductions
    Recipe("Sum", "a.sum()", F.sum, lambda s: [s.normal(2, 3)]),
    Recipe("Sum", "a.sum(axis=1)", lambda a: a.sum(axis=1), lambda s: [s.normal(2, 3)]),
    Recipe("Mean", "a.mean(axis=0, keepdims=True)", lambda a: a.mean(axis=0, keepdims=True),
           lambda s: [s.normal(2, 3)]),
    Recipe("Max", "a.max(axis=1)", lambda a: a.max(axis=1), lambda s: [s.distinct(2, 3)]),
    Recipe("Min", "a.min()", F.min, lambda s: [s.distinct(2, 3)]),
    Recipe("Var", "a.var(axis=0)", lambda a: a.var(axis=0), lambda s: [s.normal(3, 2)]),
    Recipe("Softmax", "softmax(a, axis=-1)", F.softmax, lambda s: [s.normal(2, 3)]),
    Recipe("LogSoftmax", "log_softmax(a, axis=0)", lambda a: F.log_softmax(a, axis=0),
           lambda s: [s.normal(3, 2)]),
    Recipe("CrossEntropy", "cross_entropy(a, labels)", lambda a: F.cross_entropy(a, _LABELS),
           lambda s: [s.normal(4, 3)]),
    Recipe("CrossEntropy", "cross_entropy(a, labels, 'none')",
           lambda a: F.cross_entropy(a, _LABELS, reduction="none"), lambda s: [s.normal(4, 3)]),
    # linear algebra
    Recipe("MatMul", "a @ b", lambda a, b: a @ b, lambda s: [s.normal(2, 3), s.normal(3, 2)]),
    Recipe("MatMul", "a @ b, batched", lambda a, b: a @ b,
           lambda s: [s.normal(2, 2, 3), s.normal(3, 2)]),
    Recipe("MatMul", "vector @ matrix", lambda a, b: a @ b,
           lambda s: [s.normal(3), s.normal(3, 2)]),
    Recipe("MatMul", "matrix @ vector", lambda a, b: a @ b,
           lambda s: [s.normal(2, 3), s.normal(3)]),
    Recipe("MatMul", "vector @ vector", lambda a, b: a @ b, lambda s: [s.normal(3), s.normal(3)]),
    Recipe("Affine", "linear(x, w, b)", F.linear,
           lambda s: [s.normal(3, 2), s.normal(2, 3), s.normal(3)]),
    Recipe("Affine", "linear(x, w), batched", F.linear,
           lambda s: [s.normal(2, 2, 2), s.normal(2, 3)]),
    # shape and indexing
    Recipe("Reshape", "a.reshape(3, 2)", lambda a: a.reshape(3, 2), lambda s: [s.normal(2, 3)]),
    Recipe("Transpose", "a.transpose(1, 0, 2)", lambda a: a.transpose(1, 0, 2),
           lambda s: [s.normal(2, 3, 2)]),
    Recipe("BroadcastTo", "a.broadcast_to(2, 3)", lambda a: a.broadcast_to(2, 3),
           lambda s: [s.normal(3)]),
    # float32 rounding is 1e-7 of the value: a 1e-3 step keeps the differences exact enough
    Recipe("Cast", "a.astype(float32)", lambda a: a.astype(np.float32),
           lambda s: [s.normal(5)], eps=1e-3, atol=1e-4),
    Recipe("GetItem", "a[1:, ::2]", lambda a: a[1:, ::2], lambda s: [s.normal(3, 4)]),
    Recipe("GetItem", "a[[0, 2, 0]]", lambda a: a[[0, 2, 0]], lambda s: [s.normal(3, 2)]),
    Recipe("ScatterAdd", "scatter_add(g, [0, 2, 0]) into (4, 2)",
           lambda g: ops.ScatterAdd.apply(g, index=np.array([0, 2, 0]), shape=(4, 2)),
           lambda s: [s.normal(3, 2)]),
    Recipe("Concatenate", "concatenate([a, b], axis=1)", lambda a, b: F.concatenate([a, b], 1),
           lambda s: [s.normal(2, 3), s.normal(2, 1)]),
    Recipe("Stack", "stack([a, b])", lambda a, b: F.stack([a, b]),
           lambda s: [s.normal(2, 3), s.normal(2, 3)]),
]


def op_names():
    """The names of every Op subclass in tinygrad_nn.ops, in the order they are defined."""
    return [name for name, cls in vars(ops).items()
            if isinstance(cls, type) and issubclass(cls, ops.Op) and cls is not ops.Op]


def _first_derivatives(fn, v):
    """xs -> the gradients of fn(*xs) · v with respect to every input, flattened and joined:
    the function whose Jacobian gradgradcheck compares."""
    def first(*xs):
        grads = grad(fn(*xs), xs, grad_outputs=v, create_graph=True, allow_unused=True)
        return F.concatenate([Tensor(np.zeros(x.size)) if g is None else g.reshape(-1)
                              for x, g in zip(xs, grads)])
    return first


def _largest_errors(fn, inputs, recipe):
    """max |analytic - numeric| over the Jacobians of fn with respect to each input, and the
    same relative to |numeric| (floored at atol, so entries that should be 0 count absolutely)."""
    largest_abs = largest_rel = 0.0
    for i, x in enumerate(inputs):
        def with_x(xi):  # called only within this iteration, so the loop variable is fine
            return fn(*inputs[:i], xi, *inputs[i + 1:])  # noqa: B023
        numeric = numerical_jacobian(with_x, x, recipe.eps)
        error = np.abs(jacobian(with_x, x).data - numeric)
        largest_abs = max(largest_abs, float(error.max(initial=0.0)))
        relative = error / np.maximum(np.abs(numeric), recipe.atol)
        largest_rel = max(largest_rel, float(relative.max(initial=0.0)))
    return largest_abs, largest_rel


def _check_recipe(recipe, seed):
    """The two rows (grad, gradgrad) of one recipe."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{recipe.op} {recipe.call}".encode())])
    sampler = Sampler(rng)
    inputs = [Tensor(a, dtype=np.float64, requires_grad=True) for a in recipe.inputs(sampler)]
    row = {"op": recipe.op, "call": recipe.call, "shapes": [x.shape for x in inputs]}
    try:
        y = recipe.fn(*inputs)
    except Exception as exc:  # a broken op must not hide the rest of the table
        return [dict(row, check="forward", max_abs_error=None, max_rel_error=None,
                     passed=False, message=f"{type(exc).__name__}: {exc}")]
    if recipe.op not in {node.name for node in topological_order([y.grad_fn])}:
        return [dict(row, check="-", max_abs_error=None, max_rel_error=None, passed=False,
                     message=f"the recipe {recipe.call!r} does not use {recipe.op}")]
    v = sampler.normal(*y.shape)
    rows = []
    for check, checker, fn, options in (
            ("grad", gradcheck, recipe.fn, {}),
            ("gradgrad", gradgradcheck, _first_derivatives(recipe.fn, v), {"grad_outputs": v})):
        result = dict(row, check=check, max_abs_error=None, max_rel_error=None, passed=True,
                      message="")
        try:
            result["max_abs_error"], result["max_rel_error"] = _largest_errors(fn, inputs, recipe)
            checker(recipe.fn, inputs, eps=recipe.eps, atol=recipe.atol, rtol=recipe.rtol,
                    **options)
        except GradcheckError as exc:
            result.update(passed=False, message=str(exc))
        except Exception as exc:  # e.g. a backward that returns the wrong number of gradients
            result.update(passed=False, message=f"{type(exc).__name__}: {exc}")
        rows.append(result)
    return rows


def run(seed=0, only=None):
    """Check every op (or the op names in `only`); one dict per row with keys op, check
    ('grad', 'gradgrad', or '-' for an op with no recipe), call, shapes, max_abs_error,
    max_rel_error, passed, message."""
    rows = []
    for name in op_names():
        if only is not None and name not in only:
            continue
        recipes = [recipe for recipe in RECIPES if recipe.op == name]
        if not recipes:
            rows.append({"op": name, "check": "-", "call": "-", "shapes": [],
                         "max_abs_error": None, "max_rel_error": None, "passed": False,
                         "message": "no recipe"})
        for recipe in recipes:
            rows += _check_recipe(recipe, seed)
    return rows


def format_table(rows):
    """The rows as an aligned text table."""
    def number(x):
        return "-" if x is None else f"{x:.1e}"
    header = ("op", "check", "call", "input shapes", "max abs err", "max rel err", "result")
    lines = [header]
    for r in rows:
        result = "ok" if r["passed"] else ("FAIL (no recipe)" if r["message"] == "no recipe"
                                           else "FAIL")
        lines.append((r["op"], r["check"], r["call"], ", ".join(map(str, r["shapes"])) or "-",
                      number(r["max_abs_error"]), number(r["max_rel_error"]), result))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
                     for line in lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinygrad_nn.check",
                                     description="gradcheck and gradgradcheck every built-in op")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    args = parser.parse_args(argv)
    rows = run(seed=args.seed)
    print(format_table(rows))
    failures = [r for r in rows if not r["passed"]]
    for r in failures:
        print(f"\nFAIL {r['op']} {r['check']} ({r['call']}):\n{r['message']}")
    checked = len({r["op"] for r in rows})
    print(f"\n{len(rows) - len(failures)} of {len(rows)} checks passed over {checked} ops "
          f"(seed {args.seed})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Mutation testing of the backward rules: plant one plausible wrong formula at a time in
tinygrad_nn/ops.py (on a temporary copy of the package), then run (a) the op tests
(tests/test_ops.py, tests/test_ops_closed_forms.py) and (b) the self-check
(`python -m tinygrad_nn.check`), and print which of them caught each mutant and the two scores.

    python tools/mutation_test.py [--jobs 2] [--only Softmax] [--list]

A mutant names the class (or helper) whose source it edits and the exact text it replaces
there; one whose text is no longer found (ops.py was rewritten) is reported as not applied.
The self-check must catch every mutant the tests catch: the script exits 1 otherwise.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ["tests/test_ops.py", "tests/test_ops_closed_forms.py", "tests/conftest.py"]
TIMEOUT = 600

# (where: an op class or helper in ops.py, what goes wrong, text there, its replacement)
MUTANTS = [
    ("Add", "wrong sign", "return g, g", "return g, -g"),
    ("Add", "second input dropped", "return g, g", "return g, 0 * g"),
    ("Sub", "wrong sign", "return g, -g", "return g, g"),
    ("Sub", "signs swapped", "return g, -g", "return -g, g"),
    ("Mul", "operands swapped (a)", "_times(g, b) if need_a", "_times(g, a) if need_a"),
    ("Mul", "operands swapped (b)", "(_times(g, a) if need_b", "(_times(g, b) if need_b"),
    ("Mul", "need flags swapped", "need_a, need_b = ctx", "need_b, need_a = ctx"),
    ("Div", "1/b² for a", "ga = _safe_divide(g, b)", "ga = _safe_divide(g, b * b)"),
    ("Div", "wrong sign for b", "gb = -_safe_divide", "gb = _safe_divide"),
    ("Div", "factor a dropped", "-_safe_divide(g * a, b * b)", "-_safe_divide(g, b * b)"),
    ("Div", "b instead of b²", "-_safe_divide(g * a, b * b)", "-_safe_divide(g * a, b)"),
    ("Neg", "sign lost", "return -g", "return g"),
    ("Pow", "factor 2 dropped in a ** 2", "2 * a if b == 2", "a if b == 2"),
    ("Pow", "exponent not lowered (constant)", "b * a ** (b - 1)), None", "b * a ** b), None"),
    ("Pow", "factor b dropped", "_safe_multiply(g, b * a ** (b - 1))",
     "_safe_multiply(g, a ** (b - 1))"),
    ("Pow", "exponent not lowered", "_safe_multiply(g, b * a ** (b - 1))",
     "_safe_multiply(g, b * a ** b)"),
    ("Pow", "factor y dropped for b", "y * call(Log, a)", "call(Log, a)"),
    ("Pow", "a instead of log a", "y * call(Log, a)", "y * a"),
    ("Exp", "factor dropped", "return _times(g, y)", "return g"),
    ("Exp", "y squared", "return _times(g, y)", "return _times(g, y * y)"),
    ("Exp", "saved output a constant (no 2nd order)", "return _times(g, y)",
     "return _times(g, getattr(y, 'data', y))"),
    ("Log", "1/a² instead of 1/a", "_safe_divide(g, a)", "_safe_divide(g, a * a)"),
    ("Log", "a instead of 1/a", "return _safe_divide(g, a)", "return g * a"),
    ("Sqrt", "factor 2 dropped", "_safe_divide(g, 2 * y)", "_safe_divide(g, y)"),
    ("Sqrt", "y² instead of y", "_safe_divide(g, 2 * y)", "_safe_divide(g, 2 * y * y)"),
    ("Abs", "sign dropped", "return g * sign", "return g"),
    ("Abs", "wrong sign", "return g * sign", "return -g * sign"),
    ("Tanh", "square dropped", "g * (1 - y * y)", "g * (1 - y)"),
    ("Tanh", "wrong sign", "g * (1 - y * y)", "g * (1 + y * y)"),
    ("Tanh", "saved output a constant (no 2nd order)", "g * (1 - y * y)",
     "g * (1 - getattr(y, 'data', y) ** 2)"),
    ("Sigmoid", "factor y dropped", "g * y * (1 - y)", "g * (1 - y)"),
    ("Sigmoid", "wrong sign", "g * y * (1 - y)", "g * y * (1 + y)"),
    ("Relu", "mask dropped", "return g * (y > 0)", "return g"),
    ("Relu", "mask inverted", "return g * (y > 0)", "return g * (y <= 0)"),
    ("LeakyRelu", "branches swapped", "call(Where, a > 0, g, g * ctx.slope)",
     "call(Where, a > 0, g * ctx.slope, g)"),
    ("LeakyRelu", "slope dropped", "call(Where, a > 0, g, g * ctx.slope)",
     "call(Where, a > 0, g, g)"),
    ("LeakyRelu", "g dropped on the negative side", "g, g * ctx.slope)", "g, ctx.slope)"),
    ("Clip", "mask dropped", "return g * inside", "return g"),
    ("Clip", "upper bound on the wrong side", "inside &= a <= hi", "inside &= a >= hi"),
    ("_split_at_ties", "whole gradient to each side at a tie", "g * 0.5", "g"),
    ("Maximum", "winners swapped", "_split_at_ties(g, a > b, ties), _split_at_ties(g, a < b",
     "_split_at_ties(g, a < b, ties), _split_at_ties(g, a > b"),
    ("Maximum", "ties forgotten", "ties = a == b", "ties = a != a"),
    ("Minimum", "winners swapped", "_split_at_ties(g, a < b, ties), _split_at_ties(g, a > b",
     "_split_at_ties(g, a > b, ties), _split_at_ties(g, a < b"),
    ("Where", "branches swapped", "call(Where, cond, g, 0), call(Where, cond, 0, g)",
     "call(Where, cond, 0, g), call(Where, cond, g, 0)"),
    ("Sum", "reshape missing", "g.reshape(ctx.kept_shape)", "g"),
    ("Mean", "reshape missing", "g.reshape(ctx.kept_shape) / ctx.count", "g / ctx.count"),
    ("Mean", "times n instead of over n", "/ ctx.count", "* ctx.count"),
    ("Mean", "1/n dropped", "g.reshape(ctx.kept_shape) / ctx.count", "g.reshape(ctx.kept_shape)"),
    ("Mean", "n counts every axis", "int(np.prod([a.shape[ax] for ax in axes]))",
     "int(a.size)"),
    ("_extremum_forward", "whole gradient to every tied entry", "(hits / hits.sum(axis=axes, "
     "keepdims=True))", "hits"),
    ("_extremum_forward", "tie count over every axis", "hits.sum(axis=axes, keepdims=True)",
     "hits.sum()"),
    ("Max", "share dropped", "g.reshape(ctx.kept_shape) * share", "g.reshape(ctx.kept_shape)"),
    ("Max", "reshape missing", "g.reshape(ctx.kept_shape) * share", "g * share"),
    ("Var", "factor 2 dropped", "(2 / ctx.count)", "(1 / ctx.count)"),
    ("Var", "mean over the wrong axes", "a.mean(axis=ctx.axes, keepdims=True)", "a.mean()"),
    ("Var", "not centered", "centered = a - a.mean(axis=ctx.axes, keepdims=True)",
     "centered = a"),
    ("Var", "reshape missing", "g.reshape(ctx.kept_shape) * (2", "g * (2"),
    ("Softmax", "wrong axis", "(g * y).sum(axis=ctx.axis", "(g * y).sum(axis=-1"),
    ("Softmax", "factor y dropped in the sum", "(g * y).sum(axis=ctx.axis", "g.sum(axis=ctx.axis"),
    ("Softmax", "outer factor y dropped", "return y * (g - ", "return (g - "),
    ("LogSoftmax", "log-probabilities instead of probabilities", "call(Exp, y) * g.sum",
     "y * g.sum"),
    ("LogSoftmax", "wrong axis", "g.sum(axis=ctx.axis", "g.sum(axis=-1"),
    ("LogSoftmax", "wrong sign", "return g - call(Exp, y)", "return g + call(Exp, y)"),
    ("MatMul", "vector·vector operands swapped", "(g * b if need_a else None), (g * a if need_b",
     "(g * a if need_a else None), (g * b if need_b"),
    ("MatMul", "need flags swapped", "need_a, need_b = ctx", "need_b, need_a = ctx"),
    ("MatMul", "transpose missing (a)", "ga = g @ _swap_last_two(b)", "ga = g @ b"),
    ("MatMul", "transpose missing (b)", "gb = _swap_last_two(a) @ g", "gb = a @ g"),
    ("MatMul", "vector @ matrix: outer product transposed", "gb = a[:, None] * g[..., None, :]",
     "gb = a[None, :] * g[..., :, None]"),
    ("MatMul", "matrix @ vector: transpose missing",
     "gb = (_swap_last_two(a) @ g[..., :, None])[..., 0]", "gb = (a @ g[..., :, None])[..., 0]"),
    ("Affine", "transpose missing (x)", "gx = g @ weight.T", "gx = g @ weight"),
    ("Affine", "bias summed over the first axis only", "gb = g.sum(axis=tuple(range(g.ndim - 1)))",
     "gb = g.sum(axis=0)"),
    ("Affine", "weight gradient transposed", "gw = x.T @ g", "gw = g.T @ x"),
    ("CrossEntropy", "mean: 1/N dropped", "residual * (g / len(onehot))", "residual * g"),
    ("CrossEntropy", "onehot added", "call(Softmax, logits, axis=1) - onehot",
     "call(Softmax, logits, axis=1) + onehot"),
    ("CrossEntropy", "softmax over the wrong axis", "call(Softmax, logits, axis=1)",
     "call(Softmax, logits, axis=0)"),
    ("Transpose", "permutation not inverted",
     "ctx.inverse = tuple(int(i) for i in np.argsort(axes))",
     "ctx.inverse = tuple(int(i) for i in axes)"),
    ("ScatterAdd", "repeated indices overwrite instead of adding", "if _is_basic(index):",
     "if True:"),
    ("ScatterAdd", "gather missing", "return g[ctx.index]", "return g"),
    ("Concatenate", "slices on the wrong axis", "lead = (slice(None),) * ctx.axis", "lead = ()"),
    ("Concatenate", "bounds shifted", "zip(ctx.bounds, ctx.bounds[1:])",
     "zip(ctx.bounds[:-1], ctx.bounds[1:][::-1])"),
    ("Stack", "index on the wrong axis", "lead = (slice(None),) * ctx.axis", "lead = ()"),
    ("Stack", "inputs in reverse order", "g[lead + (i,)]", "g[lead + (ctx.count - 1 - i,)]"),
    ("_safe_divide", "recorded division multiplies", "return g / _where_g_is_zero(",
     "return g * _where_g_is_zero("),
    ("_safe_multiply", "recorded factor a constant (no 2nd order)",
     "return g * _where_g_is_zero(g, d, lambda v: ~np.isfinite(v), 0)",
     "return g * getattr(d, 'data', d)"),
]


def block(source, name):
    """(start, end) of the top-level class or function `name` in `source`."""
    match = re.search(rf"^(class|def) {re.escape(name)}\b", source, re.MULTILINE)
    if match is None:
        return None
    end = re.compile(r"^(class |def |# =)", re.MULTILINE).search(source, match.end())
    return match.start(), end.start() if end else len(source)


def mutate(source, mutant):
    """source with the mutant planted, or None if its text is not found exactly once."""
    where, _, old, new = mutant
    span = block(source, where)
    if span is None or source[span[0]:span[1]].count(old) != 1:
        return None
    start, end = span
    return source[:start] + source[start:end].replace(old, new) + source[end:]


def caught(copy, command):
    """True if `command` fails on the mutated copy."""
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    try:
        done = subprocess.run(command, cwd=copy, env=env, capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return True
    return done.returncode != 0


def run_both(copy):
    tests = caught(copy, [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                          *TESTS[:2]])
    selfcheck = caught(copy, [sys.executable, "-m", "tinygrad_nn.check"])
    return tests, selfcheck


def make_copy(into):
    shutil.copytree(ROOT / "tinygrad_nn", into / "tinygrad_nn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in TESTS:
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, into / name)
    return into


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at the same time")
    parser.add_argument("--only", default="", help="only mutants whose place contains this")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    args = parser.parse_args(argv)
    source = (ROOT / "tinygrad_nn" / "ops.py").read_text()
    mutants = [m for m in MUTANTS if args.only in m[0]]
    if args.list:
        for i, (where, what, _, _) in enumerate(mutants):
            print(f"{i:3d}  {where:18s} {what}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        copies = [make_copy(Path(tmp) / f"copy{j}") for j in range(args.jobs)]
        if run_both(copies[0]) != (False, False):
            print("the unmutated package already fails the tests or the self-check")
            return 1
        free = list(copies)

        def one(mutant):
            mutated = mutate(source, mutant)
            if mutated is None:
                return mutant, None
            copy = free.pop()
            try:
                (copy / "tinygrad_nn" / "ops.py").write_text(mutated)
                return mutant, run_both(copy)
            finally:
                free.append(copy)

        results = []
        with ThreadPoolExecutor(args.jobs) as pool:
            for mutant, outcome in pool.map(one, mutants):
                mark = {None: "not applied", True: "caught", False: "SURVIVED"}
                tests, selfcheck = outcome if outcome else (None, None)
                print(f"{mutant[0]:18s} {mutant[1]:45s} tests: {mark[tests]:11s} "
                      f"self-check: {mark[selfcheck]}", flush=True)
                results.append((mutant, outcome))
    applied = [(m, o) for m, o in results if o is not None]
    by_tests = sum(o[0] for _, o in applied)
    by_selfcheck = sum(o[1] for _, o in applied)
    print(f"\n{len(applied)} mutants applied ({len(results) - len(applied)} not found in ops.py)")
    print(f"tests (test_ops, test_ops_closed_forms): {by_tests} of {len(applied)} caught")
    print(f"self-check (python -m tinygrad_nn.check): {by_selfcheck} of {len(applied)} caught")
    missed = [m for m, o in applied if o[0] and not o[1]]
    for m in missed:
        print(f"caught by the tests, missed by the self-check: {m[0]}: {m[1]}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

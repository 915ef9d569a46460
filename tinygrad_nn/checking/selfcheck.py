"""`python -m tinygrad_nn.check [--seed N]`: gradcheck and gradgradcheck every built-in op on
random float64 inputs, print a table (op, check, call, input shapes, largest absolute and
relative error, result) with the ops grouped by kind (the op table's KINDS), and exit with
status 1 if any check fails. `run(seed)` does the same in
Python.

The calls are the rows of the op table (`checking.op_table`), the same rows the test suite
runs under hypothesis; here a seeded NumPy Generator makes the choices. Each row is checked on
EXAMPLES examples, picked among CANDIDATES drawn ones so that between them they make as many
different choices as possible (every axis variant, permutation, exponent, tie ...). An `Op`
subclass in `tinygrad_nn.ops` that no row claims is reported as a failure ("no row").
"""
import argparse
import sys
import zlib

import numpy as np

from . import op_table
from .gradcheck import compare_jacobians, compare_second_order
from .op_table import classes_recorded, example, op_classes
from .sampling import RandomDraw

__all__ = ["run", "format_table", "main", "op_names"]

EXAMPLES = 12
CANDIDATES = 48
SIZE_WEIGHT = 0.3

op_names = op_classes


def _features(made):
    """The choices an example made, and the pairs of its first few choices."""
    first = sorted(choice for choice in made if choice[0] < 5)
    return made | {(a, b) for i, a in enumerate(first) for b in first[i + 1:]}


def examples(row, seed):
    """EXAMPLES examples of `row`, greedily chosen among CANDIDATES seeded draws to cover the
    choices (each with few options, at each position) and the pairs of early choices not made
    yet: first every option of the first choice (rows draw their kind of case first: ties or
    not, matmul's kind ...), then the most new ones, earlier choices weighing more."""
    key = zlib.crc32(row.name.encode())
    pool = []
    for i in range(CANDIDATES):
        draw = RandomDraw(np.random.default_rng([seed, key, i]))
        ex = example(row, draw)
        pool.append((_features(draw.made), ex))

    def gain(candidate):
        features, ex = candidate
        new = features - covered
        singles = [f[0] for f in new if isinstance(f[0], int)]
        # larger inputs are less often degenerate (size-1 axes hide a missing reshape)
        size = sum(a.size for a in ex.arrays)
        return (0 in singles, len(new) - len(singles) + sum(1 / (1 + i) for i in singles)
                + SIZE_WEIGHT * size)
    chosen, covered = [], set()
    while pool and len(chosen) < EXAMPLES:
        features, ex = pool.pop(max(range(len(pool)), key=lambda i: gain(pool[i])))
        chosen.append(ex)
        covered |= features
    return chosen


def _show(value):
    """A short description of a call's parameter."""
    if isinstance(value, type):
        return value.__name__
    if hasattr(value, "shape") and not isinstance(value, (int, float, np.generic)):
        return f"{type(value).__name__}{tuple(value.shape)}"
    if isinstance(value, slice):
        parts = [value.start, value.stop] + ([value.step] if value.step is not None else [])
        return ":".join("" if v is None else str(v) for v in parts)
    if value is Ellipsis:
        return "..."
    if isinstance(value, (tuple, list)):
        inner = ", ".join(map(_show, value)) + ("," if len(value) == 1 and
                                                 isinstance(value, tuple) else "")
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    return f"{value:g}" if isinstance(value, float) else repr(value)


def describe(row, ex):
    """The call as text: `sum(a, axis=(0, -1), keepdims=True)`."""
    args = [chr(ord("a") + i) for i in range(len(ex.arrays))]
    args += [f"{name}={_show(value)}" for name, value in ex.params.items()]
    return f"{row.name}({', '.join(args)})" + (" at ties" if ex.ties else "")


def _errors(compare, *args, **kwargs):
    """(max abs error, max rel error, failure message or None) of one comparison."""
    try:
        result = compare(*args, **kwargs)
    except Exception as exc:  # e.g. a backward that returns the wrong number of gradients
        return None, None, f"{type(exc).__name__}: {exc}"
    return result.max_abs_error, result.max_rel_error, result.failure


def _largest(values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


def _check_example(row, ex):
    """{check: (max abs error, max rel error, failure)} for one example: 'grad' (forward
    against NumPy, then first derivatives), 'gradgrad' (unless the example sits at ties), or
    '-' if the call does not record the classes the row claims."""
    fn = row.call(ex.params)
    try:
        missing = set(row.classes) - classes_recorded(row, ex)
        if missing:
            return {"-": (None, None, f"the row {row.name!r} does not use "
                                       f"{', '.join(sorted(missing))}")}
        y = fn(*ex.leaves())
        expected = np.asarray(row.ref(*ex.arrays, **ex.params))
        if y.shape != expected.shape or not np.allclose(y.data, expected, rtol=1e-10,
                                                        atol=1e-12):
            return {"grad": (None, None, "the forward differs from NumPy's")}
    except Exception as exc:  # a broken op must not hide the rest of the table
        return {"grad": (None, None, f"{type(exc).__name__}: {exc}")}
    options = {"eps": 1e-6, "atol": 1e-5, "rtol": 1e-3, **row.gradcheck_options}
    everything = ex.leaves([True] * len(ex.arrays))
    grads = [_errors(compare_jacobians, fn, everything, **options)]
    if not all(ex.requires):  # also the drawn subset: a rule must serve the inputs it is asked
        grads.append(_errors(compare_jacobians, fn, ex.leaves(), **options))
    failures = [failure for _, _, failure in grads if failure is not None]
    results = {"grad": (_largest(e[0] for e in grads), _largest(e[1] for e in grads),
                        failures[0] if failures else None)}
    if not ex.ties:
        results["gradgrad"] = _errors(compare_second_order, fn, ex.leaves(), **options)
    return results


def _check_row(row, seed):
    """One result per check of the row, over its examples: the largest errors, and the first
    failure (or else the example with the largest relative error) shown as its call."""
    results = {}
    for ex in examples(row, seed):
        for check, (abs_error, rel_error, failure) in _check_example(row, ex).items():
            results.setdefault(check, []).append((ex, abs_error, rel_error, failure))
    rows = []
    for check, outcomes in results.items():
        failed = [o for o in outcomes if o[3] is not None]
        shown = failed[0] if failed else max(outcomes, key=lambda o: o[2])
        ex = shown[0]

        rows.append({"check": check, "call": describe(row, ex),
                     "shapes": [a.shape for a in ex.arrays],
                     "max_abs_error": _largest(o[1] for o in outcomes),
                     "max_rel_error": _largest(o[2] for o in outcomes),
                     "passed": not failed, "message": failed[0][3] if failed else ""})
    return rows


def run(seed=0, only=None):
    """Check every op (or the op names in `only`); one dict per check with keys op, check
    ('grad', 'gradgrad', or '-' for an op with no row), call, shapes, max_abs_error,
    max_rel_error, passed, message. A row claiming several ops is checked once and listed
    under each."""
    rows, done = [], {}
    kinds = kind_of_ops()
    for name in sorted(op_names(), key=lambda name: list(KINDS_LISTED).index(kinds[name])):
        if only is not None and name not in only:
            continue
        claiming = [row for row in op_table.OP_TABLE if name in row.classes]
        if not claiming:
            rows.append({"op": name, "kind": kinds[name], "check": "-", "call": "-",
                         "shapes": [], "max_abs_error": None, "max_rel_error": None,
                         "passed": False, "message": "no row"})
        for row in claiming:
            if row.name not in done:
                done[row.name] = _check_row(row, seed)
            rows += [dict(result, op=name, kind=kinds[name]) for result in done[row.name]]
    return rows


KINDS_LISTED = {**op_table.KINDS, "without a row": []}


def kind_of_ops():
    """Op class name -> the kind of the first row of the op table that claims it (the
    self-check lists the ops by kind, as docs/ops.md does)."""
    kinds = {name: "without a row" for name in op_names()}
    for kind, rows in reversed(op_table.KINDS.items()):
        for row in reversed(rows):
            kinds.update((name, kind) for name in row.classes)
    return kinds


def format_table(rows):
    """The rows as an aligned text table."""
    def number(x):
        return "-" if x is None else f"{x:.1e}"
    header = ("op", "check", "call", "input shapes", "max abs err", "max rel err", "result")
    lines = [header]
    for r in rows:
        result = "ok" if r["passed"] else ("FAIL (no row)" if r["message"] == "no row"
                                           else "FAIL")
        lines.append((r["op"], r["check"], r["call"], ", ".join(map(str, r["shapes"])) or "-",
                      number(r["max_abs_error"]), number(r["max_rel_error"]), result))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]
    if len({r.get("kind") for r in rows}) > 1:  # a heading before each kind's ops
        for i in reversed(range(len(rows))):
            if i == 0 or rows[i]["kind"] != rows[i - 1]["kind"]:
                text.insert(i + 1, f"-- {rows[i]['kind']} --")
    return "\n".join(text)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinygrad_nn.check",
                                     description="gradcheck and gradgradcheck every built-in op")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    parser.add_argument("--only", nargs="+", metavar="OP",
                        help="check only these op classes (e.g. --only Exp MatMul)")
    args = parser.parse_args(argv)
    unknown = set(args.only or ()) - set(op_names())
    if unknown:
        parser.error(f"no op class named {', '.join(sorted(unknown))}; the op classes are "
                     f"{', '.join(op_names())}")
    rows = run(seed=args.seed, only=None if args.only is None else set(args.only))
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

"""python -m tinygrad_nn.check: every op gradchecked (first and second order) over the rows of
the one op table, failures caught."""
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_nn import ops
from tinygrad_nn.checking import op_table
from tinygrad_nn.checking import selfcheck as check


@pytest.fixture(scope="module")
def rows():
    return check.run(seed=0)


def test_every_op_passes_both_checks(rows):
    failures = [(r["op"], r["check"], r["message"][:200]) for r in rows if not r["passed"]]
    assert failures == []
    for name in check.op_names():
        assert {r["check"] for r in rows if r["op"] == name} == {"grad", "gradgrad"}, name


def test_every_op_subclass_is_introspected():
    names = check.op_names()
    assert {"Add", "MatMul", "LogSoftmax", "GetItem", "ScatterAdd"} <= set(names)
    assert "Op" not in names and len(names) == len(set(names))


def test_a_wrong_backward_fails_and_main_exits_non_zero(monkeypatch, capsys):
    monkeypatch.setattr(ops.Exp, "backward", staticmethod(lambda ctx, g: g))  # d/da e^a = 1 ?
    rows = check.run(only={"Exp"})
    assert [(r["op"], r["check"]) for r in rows] == [("Exp", "grad"), ("Exp", "gradgrad")]
    assert not rows[0]["passed"]
    assert "gradcheck failed for input 0" in rows[0]["message"]
    assert rows[0]["max_abs_error"] > 0.1
    assert check.main(["--seed", "3"]) == 1
    out = capsys.readouterr().out
    assert "FAIL Exp grad (exp(a))" in out and "checks passed" in out


def test_an_op_without_a_row_is_a_failure(monkeypatch, capsys):
    class Frobnicate(ops.Op):
        @staticmethod
        def forward(ctx, a):
            return a

        @staticmethod
        def backward(ctx, g):
            return g

    monkeypatch.setitem(ops.OP_CLASSES, "Frobnicate", Frobnicate)
    (row,) = check.run(only={"Frobnicate"})
    assert (row["passed"], row["message"]) == (False, "no row")
    assert check.main([]) == 1
    assert "FAIL (no row)" in capsys.readouterr().out


def test_a_row_that_misses_its_op_is_a_failure(monkeypatch):
    wrong = op_table.OpRow("exp", lambda a: a.log(), np.log, ("Exp",),
                           op_table.unary(op_table.POSITIVE))
    monkeypatch.setattr(op_table, "OP_TABLE", [wrong])
    (row,) = check.run(only={"Exp"})
    assert not row["passed"] and "does not use Exp" in row["message"]


def test_table_format(rows):
    lines = check.format_table(rows[:2]).splitlines()
    assert lines[0].split()[:4] == ["op", "check", "call", "input"]
    assert lines[1].split()[:2] == [rows[0]["op"], "grad"] and lines[1].endswith("ok")


def test_the_command_exits_zero_and_prints_the_table():
    done = subprocess.run([sys.executable, "-m", "tinygrad_nn.check", "--seed", "1"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.startswith("op ") and "FAIL" not in done.stdout
    assert np.all([name in done.stdout for name in check.op_names()])


def test_the_self_check_runs_without_hypothesis():
    """The self-check is NumPy only: with hypothesis unimportable it still runs every row."""
    code = ("import sys; sys.modules['hypothesis'] = None; "
            "from tinygrad_nn.checking import selfcheck; "
            "rows = selfcheck.run(only={'Exp', 'GetItem'}); "
            "assert rows and all(r['passed'] for r in rows), rows")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_examples_make_every_variant_the_rules_need():
    """Negative, tuple and None axes and keepdims; a permutation that is not its own inverse;
    a ** 2; every matmul kind; divisors near their pole; ties for max/min."""
    rows = op_table.ROWS_BY_NAME
    made = {name: check.examples(rows[name], seed=0) for name in rows}

    def params(name, key):
        return [ex.params[key] for ex in made[name]]
    for name in ("sum", "mean", "var"):
        axes = params(name, "axis")
        assert any(isinstance(a, tuple) for a in axes) and None in axes, (name, axes)
        assert any(ax < 0 for a in axes if a is not None for ax in np.atleast_1d(a)), name
        assert set(params(name, "keepdims")) == {True, False}, name
    assert any(a is not None and len(a) == 3 and tuple(np.argsort(np.mod(a, 3))) != tuple(
        np.mod(a, 3)) for a in params("transpose", "axes"))
    assert 2 in params("pow_constant_exponent", "p")
    kinds = {(ex.arrays[0].ndim > 1, ex.arrays[1].ndim > 1) for ex in made["matmul"]}
    assert kinds == {(True, True), (True, False), (False, True), (False, False)}
    assert min(np.abs(ex.arrays[1]).min() for ex in made["div"]) < 0.3
    for name in ("maximum", "minimum", "max", "min"):
        assert any(ex.ties for ex in made[name]) and not all(ex.ties for ex in made[name]), name


def test_the_table_lists_the_ops_grouped_by_kind(rows):
    """Each kind of the op table once, in KINDS order, every op under the kind of its first
    row (issue 12: the self-check lists every op by kind)."""
    lines = check.format_table(rows).splitlines()
    headings = [line for line in lines if line.startswith("-- ")]
    assert headings == [f"-- {kind} --" for kind in op_table.KINDS]
    kinds = check.kind_of_ops()
    current = None
    for line in lines[1:]:
        if line.startswith("-- "):
            current = line[3:-3]
        else:
            assert kinds[line.split()[0]] == current, line

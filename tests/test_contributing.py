"""docs/contributing.md's steps, followed on its own code: the op block runs in the namespace of
the ops module it names, the row in the op table's, and the new op then passes what the op table
puts every op through, and NumPy's function of its name dispatches to it. Everything registered
is taken back afterwards."""
import re
from pathlib import Path

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import ops
from tinygrad_nn.checking import op_table, selfcheck
from tinygrad_nn.checking.op_table import classes_recorded, example
from tinygrad_nn.checking.sampling import RandomDraw
from tinygrad_nn.ops.base import NUMPY, PUBLIC

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "contributing.md"


def guide_blocks():
    """{package file: the code the guide puts in it}, from its ```python in=PATH blocks."""
    text = GUIDE.read_text(encoding="utf-8")
    return {path: code for path, code in
            re.findall(r"^```python in=(\S+)\n(.*?)^```", text, flags=re.S | re.M)}


def module_of(path):
    name = path.removesuffix(".py").replace("/", ".")
    module = __import__(name)
    for part in name.split(".")[1:]:
        module = getattr(module, part)
    return module


@pytest.fixture
def cube_root(monkeypatch):
    """The guide's op and row, added as the guide adds them; returns the row."""
    blocks = guide_blocks()
    assert set(blocks) == {"tinygrad_nn/ops/elementwise.py", "tinygrad_nn/checking/op_table.py"}
    saved = [(table, dict(table)) for table in (PUBLIC, NUMPY, ops.OP_CLASSES)]
    namespace = dict(vars(module_of("tinygrad_nn/ops/elementwise.py")))
    exec(blocks["tinygrad_nn/ops/elementwise.py"], namespace)
    monkeypatch.setitem(ops.OP_CLASSES, "Cbrt", namespace["Cbrt"])
    monkeypatch.setattr(ops, "cbrt", namespace["cbrt"], raising=False)
    row = eval(blocks["tinygrad_nn/checking/op_table.py"].strip().rstrip(","),
               dict(vars(op_table)))
    monkeypatch.setattr(op_table, "OP_TABLE", op_table.OP_TABLE + [row])
    yield row
    for table, before in saved:
        table.clear()
        table.update(before)


def test_the_guide_adds_a_working_op_with_its_numpy_dispatch(cube_root):
    row = cube_root
    assert tg.ops.cbrt is PUBLIC["cbrt"] and NUMPY[np.cbrt] is PUBLIC["cbrt"]
    for seed in range(5):
        ex = example(row, RandomDraw(np.random.default_rng(seed)))
        xs = ex.leaves()
        y = row.fn(*xs)
        np.testing.assert_allclose(y.data, np.cbrt(ex.arrays[0]), rtol=1e-12)
        assert tg.gradcheck(row.fn, xs) and tg.gradgradcheck(row.fn, xs)
        assert {"Cbrt"} <= classes_recorded(row, ex)
        dispatched = np.cbrt(xs[0])  # NumPy's own function on a Tensor runs the op
        assert isinstance(dispatched, tg.Tensor) and dispatched.grad_fn.name == "Cbrt"
    with np.errstate(all="ignore"):  # at 0 the derivative is infinite: a zero gradient stays 0
        x = tg.Tensor([0.0, 1.0, -8.0], requires_grad=True)
        (g,) = tg.grad(row.fn(x), x, grad_outputs=np.zeros(3))
    np.testing.assert_array_equal(g.data, 0)


def test_the_self_check_finds_and_passes_the_new_op(cube_root):
    rows = selfcheck.run(only={"Cbrt"})
    assert [(r["op"], r["check"], r["passed"]) for r in rows] == [
        ("Cbrt", "grad", True), ("Cbrt", "gradgrad", True)]


def test_without_its_row_the_new_op_fails_the_self_check(cube_root, monkeypatch):
    monkeypatch.setattr(op_table, "OP_TABLE", op_table.OP_TABLE[:-1])
    (row,) = selfcheck.run(only={"Cbrt"})
    assert (row["passed"], row["message"]) == (False, "no row")


def test_the_throwaway_op_leaves_nothing_behind():
    assert "cbrt" not in PUBLIC and np.cbrt not in NUMPY and "Cbrt" not in ops.OP_CLASSES
    with pytest.raises(TypeError, match="np.cbrt has no tinygrad_nn op"):
        np.cbrt(tg.Tensor([1.0], requires_grad=True))

"""The rules op code follows so that tg.jit can capture it (docs/jit.md, "Rules for op code"),
checked over every op module (every module of the `tinygrad_nn.ops` package, and of the
modules being folded into it, that has a module-level `np`) and over every row of the op
table; and the size limits of jit/."""
import ast
import importlib
import inspect
import pkgutil

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn.checking.op_table import OP_TABLE
from tinygrad_nn.checking.sampling import RandomDraw


def op_modules():
    """Every module of the ops package (or the ops module) and of functional.py, as long as it
    exists, whose module-level `np` is NumPy."""
    found = []
    for name in ("tinygrad_nn.ops", "tinygrad_nn.functional"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        found.append(module)
        for info in pkgutil.walk_packages(getattr(module, "__path__", []), name + "."):
            found.append(importlib.import_module(info.name))
    return [m for m in found if getattr(m, "np", None) is np]


MODULES = op_modules()


def tree(module):
    return ast.parse(inspect.getsource(module))


def test_there_are_op_modules_to_check():
    assert any(m.__name__.startswith("tinygrad_nn.ops") for m in MODULES)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_numpy_only_through_the_modules_np(module):
    """During a capture the module's `np` is a shim that makes fresh arrays stand-ins and keeps
    them through conversions: NumPy reached any other way makes arrays the capture cannot
    follow. A function imported from NumPy is allowed only if NumPy hands it to the stand-ins
    itself (a function with __array_function__ dispatch)."""
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "numpy":
                    assert alias.name == "numpy" and alias.asname == "np", (
                        f"{module.__name__}:{node.lineno} imports {alias.name} as "
                        f"{alias.asname}: use the module's np")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "numpy":
            for alias in node.names:
                value = getattr(importlib.import_module(node.module), alias.name)
                assert hasattr(value, "_implementation"), (
                    f"{module.__name__}:{node.lineno} imports {alias.name} from {node.module}, "
                    f"which the capture does not see: call it through np")


def copies_written_in_place(function):
    """Names bound to a copy (x.copy(), np.copy(x), np.array(x), x.astype(...)) in `function`
    that an augmented assignment (+=, *=, ...) then writes into."""
    copied, written = set(), set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and _is_copy(node.value):
            copied |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            written.add(node.target.id)
    return copied & written


def _is_copy(value):
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in ("copy", "astype") or (name == "array" and isinstance(func, ast.Attribute)
                                          and getattr(func.value, "id", "") == "np")


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_accumulate_out_of_place(module):
    """A copy is never updated in place: write `total = total + term`, not `total += term`.
    Two copies of one array are the same call twice, which the lowering may make once
    (reuse_repeats); a value accumulated out of place is a new array at each step, whose
    statements need no reasoning about later writes."""
    for node in ast.walk(tree(module)):
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            written = copies_written_in_place(node)
            assert not written, (f"{module.__name__}:{node.lineno} {getattr(node, 'name', '')}"
                                 f" updates the copies {sorted(written)} in place")


def test_the_check_for_accumulation_finds_a_copy_updated_in_place():
    function = ast.parse("def f(a):\n    total = a.copy()\n    total += a\n    return total")
    assert copies_written_in_place(function) == {"total"}
    function = ast.parse("def f(a):\n    total = a.copy()\n    total = total + a")
    assert copies_written_in_place(function) == set()


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_no_astype_without_a_copy(module):
    """x.astype(dtype, copy=False) returns x itself when it has the dtype already: a call whose
    result is its own argument, which once made the lowering loop forever."""
    for node in ast.walk(tree(module)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "astype"):
            assert not any(k.arg == "copy" for k in node.keywords), (
                f"{module.__name__}:{node.lineno} calls astype(copy=...)")


JIT = importlib.import_module("tinygrad_nn.jit")  # (tinygrad_nn.jit is the function)
JIT_MODULES = [JIT] + [importlib.import_module(info.name) for info in pkgutil.walk_packages(
    JIT.__path__, "tinygrad_nn.jit.")]


@pytest.mark.parametrize("module", JIT_MODULES, ids=lambda m: m.__name__)
def test_jit_functions_and_classes_stay_small(module):
    """No function over 50 lines and no class over 150 in jit/ (the house rule)."""
    for node in ast.walk(tree(module)):
        length = node.end_lineno - node.lineno + 1 if hasattr(node, "end_lineno") else 0
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert length <= 50, f"{module.__name__}.{node.name} has {length} lines"
        elif isinstance(node, ast.ClassDef):
            assert length <= 150, f"{module.__name__}.{node.name} has {length} lines"



def test_no_op_selects_a_number_of_elements_that_depends_on_the_values():
    """No branch on the data: an op computes the same steps whatever the values (erf evaluates
    both formulas and picks with np.where). A boolean-mask selection, whose size depends on the
    values, would make every replay check it and capture anew when it changes. Each row of the
    op table, forward and backward, is captured and its program searched."""
    selecting = []
    for i, row in enumerate(OP_TABLE):
        case = row.cases(RandomDraw(np.random.default_rng([0, i])))
        arrays = [np.asarray(a, dtype=np.float64) for a in case.arrays]
        w = tg.Tensor(arrays[0], requires_grad=True)

        def step(y, row=row, arrays=arrays, case=case, w=w):
            w.grad = None
            out = row.fn(y * w, *map(tg.Tensor, arrays[1:]), **case.params)
            (out * 1.0).sum().backward()
            return w.grad

        jitted = tg.jit(step)
        with np.errstate(all="ignore"):
            jitted(tg.ones(*w.shape, dtype=np.float64))
        selecting += [f"{row.name}: {op}" for op in selections(jitted)]
    assert selecting == []


def selections(jitted):
    """The ops whose statements select elements by a mask, in the latest program of `jitted`."""
    program = next(iter(jitted._programs.values()))[0]
    return [s.call.op for s in program.block.statements if s.mask_shape is not None]


def test_a_selection_by_a_mask_is_found():
    class Positive(tg.Function):
        @staticmethod
        def forward(ctx, a):
            return a[a > 0].sum()

    jitted = tg.jit(lambda x: Positive.apply(x))
    jitted(tg.Tensor(np.array([1.0, -1.0, 2.0])))
    assert selections(jitted) == ["test_a_selection_by_a_mask_is_found.<locals>.Positive.forward"]

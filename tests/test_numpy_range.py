"""The NumPy range pyproject.toml declares is the range that is tested: .ci/run runs the test
command on the newest NumPy and on the oldest allowed, and no module reads NumPy's private
modules (they move between versions: numpy.lib._index_tricks_impl exists only from NumPy 2,
and numpy.core became numpy._core)."""
import re
import subprocess
import types
from pathlib import Path

import numpy as np

import tinygrad_nn

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(tinygrad_nn.__file__).resolve().parent
DOTTED = re.compile(r"\b(?:np|numpy)(?:\.\w+)+")


def private_modules(line):
    """The dotted NumPy paths in `line` that go through a private module: a name with one
    leading underscore that is a module, or that this NumPy does not have (it moved between
    versions), or numpy.core (numpy._core's deprecated alias since NumPy 2)."""
    found = []
    for match in DOTTED.finditer(line):
        owner = np
        for position, part in enumerate(match.group().split(".")[1:]):
            if position == 0 and part == "core":
                found.append(match.group())
                break
            if not part.startswith("_") or part.startswith("__"):
                owner = getattr(owner, part, None)
                continue
            value = getattr(owner, part, None)
            if value is None or isinstance(value, types.ModuleType):
                found.append(match.group())
            break
    return found


def test_no_module_of_the_package_reads_a_private_numpy_module():
    found = [f"{path.relative_to(PACKAGE)}:{number}: {path_found}"
             for path in sorted(PACKAGE.rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), start=1)
             for path_found in private_modules(line)]
    assert found == []


def test_private_modules_finds_what_it_must_and_only_that():
    assert private_modules("{np.lib._index_tricks_impl.AxisConcatenator.__getitem__}")
    assert private_modules("from numpy.core.multiarray import normalize_axis_index")
    assert private_modules("x = np._core.umath")
    assert private_modules("import numpy.lib._function_base_impl")
    # public modules, and private values of public modules, are fine
    assert not private_modules("np.lib.stride_tricks.sliding_window_view(x, 3), np.__version__")
    assert not private_modules("item is np._NoValue or np.random.mtrand._rand")


def test_ci_runs_the_tests_on_the_oldest_numpy_that_pyproject_allows():
    declared = re.search(r'"numpy>=(\d+\.\d+)"', (REPO_ROOT / "pyproject.toml").read_text())
    assert declared, "pyproject.toml must declare numpy>=X.Y"
    script = REPO_ROOT / ".ci" / "run"
    # the script reads the same number (so the two cannot drift apart), and pins it
    (expression,) = re.findall(r"sed -n '([^']+)' pyproject.toml", script.read_text())
    shown = subprocess.run(["sed", "-n", expression, "pyproject.toml"], cwd=REPO_ROOT,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert shown == declared.group(1)
    text = script.read_text()
    assert 'fresh_environment oldest "numpy==$OLDEST_NUMPY.*"' in text
    assert text.rstrip().endswith("$TEST_COMMAND")


def test_the_numpy_in_use_is_within_the_declared_range():
    declared = re.search(r'"numpy>=(\d+)\.(\d+)"', (REPO_ROOT / "pyproject.toml").read_text())
    assert tuple(int(n) for n in np.__version__.split(".")[:2]) >= (
        int(declared.group(1)), int(declared.group(2)))

"""The function list: every function tinygrad_nn exports (tg.NAME, functional.__all__) and every
constructor and transform is named in docs/ops.md, the reference grouped by kind."""
import re
from pathlib import Path

import tinygrad_nn as tg
from tinygrad_nn import functional

OPS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "ops.md"
CONSTRUCTORS_AND_TRANSFORMS = ["zeros", "ones", "full", "zeros_like", "ones_like", "eye",
                               "arange", "linspace", "randn", "rand", "uniform", "jvp", "vjp",
                               "jacfwd", "jacrev"]


def test_every_function_is_named_in_the_ops_page():
    prose = re.sub(r"```.*?```", "", OPS_PAGE.read_text(), flags=re.S)  # code blocks out
    spans = re.findall(r"`([^`]+)`", prose)
    named = set(re.findall(r"[A-Za-z_]\w*", " ".join(spans)))
    missing = set(functional.__all__ + CONSTRUCTORS_AND_TRANSFORMS) - named
    assert missing == set(), f"docs/ops.md does not name {sorted(missing)}"


def test_every_function_is_exported_as_tg_name():
    for name in functional.__all__ + CONSTRUCTORS_AND_TRANSFORMS:
        assert name in tg.__all__
        # tg.trace is the study tool; the matrix trace is Tensor.trace and functional.trace
        assert name == "trace" or getattr(tg, name) is getattr(functional, name, getattr(tg, name))

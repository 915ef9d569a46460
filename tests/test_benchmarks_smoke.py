"""The benchmark's smoke mode runs end to end, and tinygrad_nn agrees with the NumPy floor."""

import sys
from pathlib import Path

import pytest

# `benchmarks` is not an installed package: import it from the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.run import main

WORKLOADS_WITH_CHECKS = 6  # op-overhead, tutorial net, MLP B=128, MLP B=1024, CNN, deep chain
# the names transformer and LSTM steps, checked against tinygrad_nn's eager step (no numpy one)
SEQUENCE_WORKLOADS = 2


# tinygrad_nn (jit) has no deep chain: a chain run once is not a step that repeats
@pytest.mark.slow
@pytest.mark.parametrize("contender, checks", [
    ("tinygrad_nn", WORKLOADS_WITH_CHECKS),
    ("tinygrad_nn (jit)", WORKLOADS_WITH_CHECKS - 1 + SEQUENCE_WORKLOADS)])
def test_smoke_run_prints_the_table_and_every_check_is_ok(capsys, contender, checks):
    assert main(["--smoke", "--contenders", f"numpy,{contender}"]) == 0
    output = capsys.readouterr().out

    assert f"| workload | unit | numpy | {contender} |" in output
    assert "| error" not in output
    check_lines = [line for line in output.splitlines() if line.startswith("check ")]
    assert len(check_lines) == checks
    for line in check_lines:
        assert f" {contender}: ok " in line, line
    assert "checks: all ok." in output

"""The benchmark's smoke mode runs end to end, and tinygrad_nn agrees with the NumPy floor."""

import sys
from pathlib import Path

# `benchmarks` is not an installed package: import it from the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.run import main

WORKLOADS_WITH_CHECKS = 6  # op-overhead, tutorial net, MLP B=128, MLP B=1024, CNN, deep chain


def test_smoke_run_prints_the_table_and_every_check_is_ok(capsys):
    assert main(["--smoke", "--contenders", "numpy,tinygrad_nn"]) == 0
    output = capsys.readouterr().out

    assert "| workload | unit | numpy | tinygrad_nn |" in output
    assert "| error" not in output
    check_lines = [line for line in output.splitlines() if line.startswith("check ")]
    assert len(check_lines) == WORKLOADS_WITH_CHECKS
    for line in check_lines:
        assert " tinygrad_nn: ok " in line, line
    assert "checks: all ok." in output

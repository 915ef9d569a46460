"""Time tinygrad_nn against hand-written NumPy and peer autograd libraries, side by side.

    python -m benchmarks                   # full run
    python -m benchmarks --quick           # fewer rounds, no 1,000,000-op chain
    python -m benchmarks --smoke           # one tiny round of everything (used by the tests)
    python -m benchmarks --markdown FILE   # also write the table to FILE

Contenders run interleaved: round r times each contender once, in an order rotated by r, so a
drift in the machine's speed hits all of them alike. A cell is the median over the rounds and,
in parentheses, the median of the per-round ratios to the numpy contender. Times are reported,
never asserted. Peak memory is measured in a fresh process per contender. Linux only (/proc).
"""

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

REPO_ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    # Run as `python benchmarks/run.py`: import the package from the repo root, not this folder.
    sys.path[0] = str(REPO_ROOT)

import numpy as np  # noqa: E402

from benchmarks import contenders, workloads  # noqa: E402

# OpenBLAS threads spin for a while after a matmul; a pause keeps them out of the next block.
PAUSE_SECONDS = 0.15
# float32 agreement: |got - ref| <= RTOL * |ref| + ATOL * max|ref| (ATOL relative to the
# array's scale, so gradients of size 1e-3 are held to the same standard as weights of size 1).
RTOL, ATOL = 1e-4, 1e-5
# Chains longer than this run only the numpy floor and tinygrad_nn: the peers take seconds and
# gigabytes per call already at 100,000 ops.
LONGEST_CHAIN_FOR_PEERS = 100_000
LONG_CHAIN_CONTENDERS = ("numpy", "tinygrad_nn")


@dataclass(frozen=True)
class Settings:
    """How much to measure."""

    rounds: int  # rounds of every workload but the deep chain
    block_seconds: float  # a timed block repeats the call to last about this long
    chain_lengths: tuple[int, ...]
    chain_rounds: int
    memory_steps: int  # SGD steps in the peak-memory process


FULL = Settings(9, 0.3, (100_000, 1_000_000), chain_rounds=5, memory_steps=50)
QUICK = Settings(5, 0.1, (100_000,), chain_rounds=3, memory_steps=50)
SMOKE = Settings(1, 0.0, (1_000,), chain_rounds=1, memory_steps=2)


@dataclass
class Row:
    """One line of the results table: a cell of text per contender that ran."""

    workload: str
    unit: str
    cells: dict[str, str] = field(default_factory=dict)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer rounds, no 1,000,000-op chain")
    mode.add_argument("--smoke", action="store_true", help="one tiny round of each workload")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    parser.add_argument(
        "--contenders",
        default=",".join(contenders.MODULES),
        help="comma-separated subset of: %(default)s (numpy is always included)",
    )
    # Internal: the fresh process that measures one contender's peak memory.
    parser.add_argument(
        "--measure-peak-memory", nargs=3, metavar=("CONTENDER", "WORKLOAD", "SIZE"),
        help=argparse.SUPPRESS,
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.measure_peak_memory:
        name, workload, size = args.measure_peak_memory
        print(json.dumps({"peak_mib": peak_memory_here(name, workload, int(size))}))
        return 0

    settings = SMOKE if args.smoke else QUICK if args.quick else FULL
    requested = [contenders.REFERENCE] + [
        name for name in args.contenders.split(",") if name and name != contenders.REFERENCE
    ]
    loaded = load_contenders(requested)
    machine = machine_info(loaded)
    print(machine, flush=True)

    rows, mismatches = [], []
    x, w, b = workloads.op_overhead_inputs()
    rows.append(time_workload(
        "op-overhead (200 ops + backward)", "µs per op", 1e6 / workloads.OP_COUNT,
        lambda contender: contender.op_overhead(x, w, b),
        loaded, settings.rounds, settings.block_seconds, mismatches,
    ))
    for label, problem in [
        ("tutorial net 2-4-8-1, N=300", workloads.tutorial_net()),
        ("MLP 784-256-128-10, B=128", workloads.mnist_sized_mlp(128)),
        ("MLP 784-256-128-10, B=1024", workloads.mnist_sized_mlp(1024)),
    ]:
        rows.append(time_workload(
            label, "ms per step", 1e3, lambda contender: contender.mlp_step(problem),
            loaded, settings.rounds, settings.block_seconds, mismatches,
        ))

    notes = []
    start = workloads.deep_chain_start()
    for length in settings.chain_lengths:
        chain_contenders = loaded
        if length > LONGEST_CHAIN_FOR_PEERS:
            chain_contenders = {n: c for n, c in loaded.items() if n in LONG_CHAIN_CONTENDERS}
            skipped = sorted(set(loaded) - set(chain_contenders))
            if skipped:
                notes.append(
                    f"deep chain {length:,}: {', '.join(skipped)} skipped (too slow and memory "
                    f"hungry at this length; see their {LONGEST_CHAIN_FOR_PEERS:,} row)."
                )
        rows.append(time_workload(
            f"deep chain {length:,}", "s", 1.0,
            lambda contender: contender.deep_chain(start, length),
            chain_contenders, settings.chain_rounds, 0.0, mismatches,
        ))
        rows.append(memory_row(f"deep chain {length:,}: peak memory", "deep-chain", length,
                               chain_contenders))
    rows.append(memory_row(f"{settings.memory_steps} SGD steps, B=1024: peak memory",
                           "mlp-steps", settings.memory_steps, loaded))

    notes.append(
        "Cells: median over rounds (median of same-round ratios to numpy). op-overhead is one "
        "call (forward, sum, backward) divided by its 200 ops. Peak memory: increase of the "
        "peak RSS over the RSS after imports, data and weights, in a fresh process."
    )
    notes.append("checks: all ok." if not mismatches else "checks FAILED: " + "; ".join(mismatches))
    table = markdown_table(rows, list(loaded))
    report = "\n".join([table, ""] + notes)
    print("\n" + report)
    if args.markdown:
        Path(args.markdown).write_text(f"{machine}\n\n{report}\n")
    return 0


def load_contenders(names):
    """Import each contender that is installed, in order; print a note for the others."""
    loaded = {}
    for name in names:
        if name not in contenders.MODULES:
            raise SystemExit(f"unknown contender {name!r}; choose from {list(contenders.MODULES)}")
        try:
            loaded[name] = contenders.load(name)
        except ImportError as error:
            print(f"note: {name} skipped, not importable ({error})")
    return loaded


def machine_info(loaded) -> str:
    cpu = platform.machine()
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = ", ".join(f"{name} {module.version()}" for name, module in loaded.items())
    return (
        f"machine: {cpu}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), "
        f"Python {platform.python_version()}\nversions: {versions}"
    )


def time_workload(label, unit, unit_per_second, build, loaded, rounds, block_seconds, mismatches):
    """Set the workload up for each contender, check the first call, then time it in rounds.

    Returns the table row; appends to `mismatches` a line for each failed check.
    """
    print(f"\n{label}", flush=True)
    row = Row(label, unit)
    benches, first_call_seconds, values = {}, {}, {}
    for name, contender in loaded.items():
        try:
            benches[name] = build(contender)
            gc.collect()
            start = time.perf_counter()
            output = benches[name].run()
            first_call_seconds[name] = time.perf_counter() - start
            values[name] = benches[name].check_values(output)
        except Exception as error:  # a contender that fails must not stop the others
            traceback.print_exc()
            benches.pop(name, None)
            row.cells[name] = "error"
            mismatches.append(f"{label} / {name}: {type(error).__name__}: {error}")
            print(f"check  {label}  {name}: ERROR {type(error).__name__}: {error}")

    reference = values.get(contenders.REFERENCE)
    for name in values:
        if name != contenders.REFERENCE:
            verdict = compare(values[name], reference)
            print(f"check  {label}  {name}: {verdict}")
            if not verdict.startswith("ok"):
                mismatches.append(f"{label} / {name}: {verdict}")

    calls = {name: max(1, round(block_seconds / first_call_seconds[name])) for name in benches}
    seconds_per_call = {name: [] for name in benches}
    names = list(benches)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            time.sleep(PAUSE_SECONDS)
            run = benches[name].run
            start = time.perf_counter()
            for _ in range(calls[name]):
                run()
            seconds_per_call[name].append((time.perf_counter() - start) / calls[name])

    floor = seconds_per_call.get(contenders.REFERENCE)
    for name, times in seconds_per_call.items():
        value = median(times) * unit_per_second
        ratio = median(t / f for t, f in zip(times, floor)) if floor else float("nan")
        row.cells[name] = f"{value:.3g} ({ratio:.3g}×)"
        print(f"  {name:12} {value:.4g} {unit}  ({ratio:.3g}× numpy, {calls[name]} calls/round)")
    return row


def compare(values, reference) -> str:
    """'ok (...)' if every reference value is matched within the float32 tolerance."""
    if reference is None:
        return "MISMATCH (no numpy reference to compare with)"
    worst_name, worst_excess, worst_diff = None, -1.0, 0.0
    for name, expected in reference.items():
        if name not in values:
            return f"MISMATCH ({name} missing)"
        expected = np.asarray(expected, dtype=np.float64)
        got = np.asarray(values[name], dtype=np.float64)
        if got.shape != expected.shape:
            return f"MISMATCH ({name} has shape {got.shape}, numpy {expected.shape})"
        if not np.all(np.isfinite(got)):
            return f"MISMATCH ({name} is not finite)"
        difference = np.abs(got - expected)
        tolerance = RTOL * np.abs(expected) + ATOL * np.abs(expected).max()
        excess = np.max(difference - tolerance)
        if excess > worst_excess:
            worst_name, worst_excess, worst_diff = name, excess, difference.max()
    verdict = "ok" if worst_excess <= 0 else "MISMATCH"
    return f"{verdict} (closest to tolerance: {worst_name}, max |diff| {worst_diff:.2g})"


def memory_row(label, workload, size, loaded) -> Row:
    """Peak memory of each contender, each measured in a fresh process."""
    print(f"\n{label}", flush=True)
    row = Row(label, "MiB")
    for name in loaded:
        command = [sys.executable, "-m", "benchmarks", "--measure-peak-memory",
                   name, workload, str(size)]
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            print(f"  {name}: failed\n{result.stderr}")
            row.cells[name] = "error"
            continue
        peak_mib = json.loads(result.stdout.splitlines()[-1])["peak_mib"]
        row.cells[name] = f"{peak_mib:.1f}"
        print(f"  {name:12} {peak_mib:.1f} MiB")
    return row


def peak_memory_here(name, workload, size) -> float:
    """In this (fresh) process: MiB by which running `workload` raises the peak RSS.

    The baseline is the RSS once imports, data and weights are set up; the peak is ru_maxrss.
    """
    contender = contenders.load(name)
    if workload == "mlp-steps":
        bench, calls = contender.mlp_step(workloads.mnist_sized_mlp(1024)), size
    else:
        bench, calls = contender.deep_chain(workloads.deep_chain_start(), size), 1
    gc.collect()
    baseline = resident_bytes()
    for _ in range(calls):
        bench.run()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return (peak - baseline) / 2**20


def resident_bytes() -> int:
    """Current resident set size, from /proc/self/statm (its second field, in pages)."""
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def markdown_table(rows, names) -> str:
    lines = [
        "| workload | unit | " + " | ".join(names) + " |",
        "|---|---|" + "---:|" * len(names),
    ]
    for row in rows:
        cells = [row.cells.get(name, "skipped") for name in names]
        lines.append(f"| {row.workload} | {row.unit} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

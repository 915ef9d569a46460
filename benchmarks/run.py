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
import contextlib
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import methodcaller
from pathlib import Path
from statistics import median

REPO_ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    # Run as `python benchmarks/run.py`: import the package from the repo root, not this folder.
    sys.path[0] = str(REPO_ROOT)

import numpy as np  # noqa: E402  (after the sys.path fix above)

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
    block_seconds: float  # length of one timed block of those workloads
    chain_lengths: tuple[int, ...]
    chain_rounds: int
    memory_steps: int  # SGD steps in the peak-memory process


FULL = Settings(
    rounds=9,
    block_seconds=0.3,
    chain_lengths=(100_000, 1_000_000),
    chain_rounds=5,
    memory_steps=50,
)
QUICK = Settings(
    rounds=5, block_seconds=0.1, chain_lengths=(100_000,), chain_rounds=3, memory_steps=50
)
SMOKE = Settings(
    rounds=1, block_seconds=0.0, chain_lengths=(1_000,), chain_rounds=1, memory_steps=2
)


@dataclass
class Row:
    """One line of the results table: a cell of text per contender that ran."""

    workload: str
    unit: str
    cells: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TimedWorkload:
    """A workload timed in rounds; `build(contender_module)` sets it up as a `Bench`."""

    label: str
    unit: str
    unit_per_second: float  # converts seconds per call into `unit`
    build: Callable
    rounds: int
    block_seconds: float  # a timed block repeats the call to last about this long; 0: once
    # The contender whose values the others are checked against and whose times are the
    # ratios' denominator (numpy's, unless the workload has no numpy version).
    reference: str = contenders.REFERENCE


def fast_workloads(settings) -> list[TimedWorkload]:
    """Every timed workload but the deep chain, with their shared inputs."""
    x, w, b = workloads.op_overhead_inputs()
    listed = [
        TimedWorkload(
            label="op-overhead (200 ops + backward)",
            unit="µs per op",
            unit_per_second=1e6 / workloads.OP_COUNT,
            build=methodcaller("op_overhead", x, w, b),
            rounds=settings.rounds,
            block_seconds=settings.block_seconds,
        )
    ]
    for label, problem in [
        ("tutorial net 2-4-8-1, N=300", workloads.tutorial_net()),
        ("MLP 784-256-128-10, B=128", workloads.mnist_sized_mlp(128)),
        ("MLP 784-256-128-10, B=1024", workloads.mnist_sized_mlp(1024)),
    ]:
        listed.append(
            TimedWorkload(
                label=label,
                unit="ms per step",
                unit_per_second=1e3,
                build=methodcaller("mlp_step", problem),
                rounds=settings.rounds,
                block_seconds=settings.block_seconds,
            )
        )
    return listed


def cnn_workload(settings) -> TimedWorkload:
    """One SGD step of the digits CNN (two convolutions and poolings, one Dense) at B=64."""
    return TimedWorkload(
        label="digits CNN 8×8, B=64",
        unit="ms per step",
        unit_per_second=1e3,
        build=methodcaller("cnn_step", workloads.digits_cnn(64)),
        rounds=settings.rounds,
        block_seconds=settings.block_seconds,
    )


SEQUENCE_REFERENCE = "tinygrad_nn"


def sequence_workloads(settings) -> list[TimedWorkload]:
    """One SGD step of each of the names example's models at B=32: no numpy version, so the
    eager tinygrad_nn step is the reference (checks and ratios)."""
    return [
        TimedWorkload(
            label=f"names {kind}, B=32",
            unit="ms per step",
            unit_per_second=1e3,
            build=methodcaller("sequence_step", workloads.names_model_step(kind)),
            rounds=settings.rounds,
            block_seconds=settings.block_seconds,
            reference=SEQUENCE_REFERENCE,
        )
        for kind in ("transformer", "lstm")
    ]


def implementing(loaded, method, notes) -> dict:
    """The loaded contenders that define `method`; a note naming the others."""
    chosen = {name: c for name, c in loaded.items() if hasattr(c, method)}
    if len(chosen) < len(loaded):
        missing = [name for name in loaded if name not in chosen]
        notes.append(f"{', '.join(missing)}: no {method} workload (skipped in its row).")
    return chosen


def deep_chain_rows(settings, loaded, failures, notes) -> list[Row]:
    """Time and memory rows of the deep chain at each length; long ones skip the peers."""
    rows = []
    start = workloads.deep_chain_start()
    for length in settings.chain_lengths:
        chain_contenders = loaded
        if length > LONGEST_CHAIN_FOR_PEERS:
            chain_contenders = {n: c for n, c in loaded.items() if n in LONG_CHAIN_CONTENDERS}
            skipped = [name for name in loaded if name not in chain_contenders]
            if skipped:
                notes.append(
                    f"deep chain {length:,}: {', '.join(skipped)} skipped (too slow and memory "
                    f"hungry at this length; see their {LONGEST_CHAIN_FOR_PEERS:,} row)."
                )
        chain = TimedWorkload(
            label=f"deep chain {length:,}",
            unit="s",
            unit_per_second=1.0,
            build=methodcaller("deep_chain", start, length),
            rounds=settings.chain_rounds,
            block_seconds=0.0,
        )
        rows.append(time_workload(chain, chain_contenders, failures))
        label = f"deep chain {length:,}: peak memory"
        rows.append(memory_row(label, "deep-chain", length, chain_contenders))
    return rows


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
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
        "--measure-peak-memory",
        nargs=3,
        metavar=("CONTENDER", "WORKLOAD", "SIZE"),
        help=argparse.SUPPRESS,
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    with one_blas_thread():
        return run(parse_args(argv))


def one_blas_thread():
    """Limit BLAS to one thread for the run, also when NumPy was loaded before the benchmark
    package set OPENBLAS_NUM_THREADS (e.g. under pytest); restored afterwards."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")


def run(args) -> int:
    if args.measure_peak_memory:
        name, workload, size = args.measure_peak_memory
        print(json.dumps({"peak_mib": peak_memory_here(name, workload, int(size))}))
        return 0

    settings = SMOKE if args.smoke else QUICK if args.quick else FULL
    requested = [contenders.REFERENCE] + [
        name for name in args.contenders.split(",") if name and name != contenders.REFERENCE
    ]
    load_at_start = os.getloadavg()[0]
    loaded, notes = load_contenders(requested)
    machine = machine_info(loaded)
    print(machine, flush=True)

    rows, failures = [], []
    for workload in fast_workloads(settings):
        rows.append(time_workload(workload, loaded, failures))
    cnn_contenders = implementing(loaded, "cnn_step", notes)
    rows.append(time_workload(cnn_workload(settings), cnn_contenders, failures))
    sequence_contenders = implementing(loaded, "sequence_step", notes)
    for workload in sequence_workloads(settings):
        rows.append(time_workload(workload, sequence_contenders, failures))
    rows += deep_chain_rows(settings, implementing(loaded, "deep_chain", notes), failures, notes)
    label = f"{settings.memory_steps} SGD steps, B=1024: peak memory"
    rows.append(memory_row(label, "mlp-steps", settings.memory_steps, loaded))

    notes.append(
        "Cells: median over rounds (median of same-round ratios to numpy; in the names rows, "
        "which numpy has no version of, to tinygrad_nn's eager step, whose values the others "
        "are checked against). op-overhead is one "
        "call (forward, sum, backward) divided by its 200 ops. Peak memory: increase of the "
        "peak RSS over the RSS after imports, data and weights, in a fresh process."
    )
    busy = " (other work was running: expect distorted times)" if load_at_start >= 0.5 else ""
    notes.append(f"load average at start: {load_at_start:.2f} on {os.cpu_count()} cores{busy}.")
    notes.append("checks: all ok." if not failures else "checks FAILED: " + "; ".join(failures))
    table = markdown_table(rows, list(loaded))
    report = "\n".join([table, ""] + notes)
    print("\n" + report)
    if args.markdown:
        Path(args.markdown).write_text(f"{machine}\n\n{report}\n")
    return 0


def load_contenders(names):
    """Import each contender that imports, in order; a note for each of the others."""
    loaded, notes = {}, []
    for name in names:
        if name not in contenders.MODULES:
            raise SystemExit(f"unknown contender {name!r}; choose from {list(contenders.MODULES)}")
        try:
            loaded[name] = contenders.load(name)
        except Exception as error:  # noqa: BLE001 (not installed, or installed but broken)
            notes.append(f"{name} skipped, not importable ({type(error).__name__}: {error}).")
            print(f"note: {notes[-1]}")
    return loaded, notes


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
        f"BLAS threads: {os.environ['OPENBLAS_NUM_THREADS']}, "
        f"Python {platform.python_version()}\nversions: {versions}"
    )


def time_workload(workload, loaded, failures) -> Row:
    """Set `workload` up for each contender, check its first call, then time it in rounds.

    Appends a line to `failures` for each contender that errs or disagrees with numpy.
    """
    print(f"\n{workload.label}", flush=True)
    row = Row(workload.label, workload.unit)
    benches, values = {}, {}
    for name, contender in loaded.items():
        try:
            benches[name] = workload.build(contender)
            values[name] = benches[name].check_values(benches[name].run())
        except Exception as error:  # noqa: BLE001 (one contender failing must not stop the rest)
            traceback.print_exc()
            benches.pop(name, None)
            row.cells[name] = "error"
            failures.append(f"{workload.label} / {name}: {type(error).__name__}: {error}")
            print(f"check  {workload.label}  {name}: ERROR {type(error).__name__}: {error}")

    reference = values.get(workload.reference)
    if reference is None and workload.reference != contenders.REFERENCE:
        # the reference contender is not timed in this run: its values are computed anyway
        bench = workload.build(contenders.load(workload.reference))
        reference = bench.check_values(bench.run())
    for name, contender_values in values.items():
        if name != workload.reference:
            verdict = compare(contender_values, reference)
            print(f"check  {workload.label}  {name}: {verdict}")
            if not verdict.startswith("ok"):
                failures.append(f"{workload.label} / {name}: {verdict}")

    calls = {
        name: calls_per_block(bench, workload.block_seconds) for name, bench in benches.items()
    }
    seconds_per_call = {name: [] for name in benches}
    names = list(benches)
    for round_index in range(workload.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            seconds_per_call[name].append(time_block(benches[name].run, calls[name]))

    floor = seconds_per_call.get(workload.reference)
    for name, times in seconds_per_call.items():
        value = median(times) * workload.unit_per_second
        ratio = median(t / f for t, f in zip(times, floor)) if floor else float("nan")
        row.cells[name] = f"{value:.3g} ({ratio:.3g}×)"
        print(
            f"  {name:12} {value:.4g} {workload.unit}  ({ratio:.3g}× {workload.reference}, "
            f"{calls[name]} calls per round)"
        )
    return row


def calls_per_block(bench, block_seconds) -> int:
    """How many calls fill a block of about `block_seconds`, judged from one untimed call."""
    if block_seconds == 0:
        return 1
    start = time.perf_counter()
    bench.run()
    return max(1, round(block_seconds / (time.perf_counter() - start)))


def time_block(run, calls) -> float:
    """Seconds per call of `run`, timed over `calls` calls after a pause and a collection."""
    gc.collect()
    time.sleep(PAUSE_SECONDS)
    start = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - start) / calls


def compare(values, reference) -> str:
    """'ok (...)' if every reference value is matched: same shape, dtype and, within the float32
    tolerance, value."""
    if reference is None:
        return "MISMATCH (no reference to compare with)"
    worst_name, worst_excess, worst_diff = None, -np.inf, 0.0
    for name, expected in reference.items():
        if name not in values:
            return f"MISMATCH ({name} missing)"
        expected, got = np.asarray(expected), np.asarray(values[name])
        if got.shape != expected.shape:
            return f"MISMATCH ({name} has shape {got.shape}, reference {expected.shape})"
        # Scalars may have passed through a Python float (`.item()`); arrays keep their dtype.
        if expected.ndim > 0 and got.dtype != expected.dtype:
            return f"MISMATCH ({name} is {got.dtype}, reference {expected.dtype})"
        expected, got = expected.astype(np.float64), got.astype(np.float64)
        if not np.all(np.isfinite(got)):
            return f"MISMATCH ({name} is not finite)"
        difference = np.abs(got - expected)
        tolerance = RTOL * np.abs(expected) + ATOL * np.abs(expected).max()
        excess = np.max(difference - tolerance)
        if excess > worst_excess:
            worst_name, worst_excess, worst_diff = name, excess, difference.max()
    verdict = "ok" if worst_excess <= 0 else "MISMATCH"
    return f"{verdict} (worst: {worst_name}, max |diff| {worst_diff:.2g})"


def memory_row(label, workload, size, loaded) -> Row:
    """Peak memory of each contender, each measured in a fresh process."""
    print(f"\n{label}", flush=True)
    row = Row(label, "MiB")
    for name in loaded:
        # Linux carries a parent's peak RSS over into ru_maxrss of a child it starts (across
        # exec), so a shell that forks starts the measuring process: it inherits only the
        # shell's small peak.
        measure = [sys.executable, "-m", "benchmarks", "--measure-peak-memory"]
        command = ["/bin/sh", "-c", '"$@"; exit $?', "sh", *measure, name, workload, str(size)]
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
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
    # The kernel updates the peak from per-thread page counts in batches: it can lag by a few
    # pages, so a workload that allocates nothing may come out just below the baseline.
    return max(0.0, (peak - baseline) / 2**20)


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

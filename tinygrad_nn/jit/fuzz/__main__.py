"""`python -m tinygrad_nn.jit.fuzz --seeds 0:5000`: run fuzzed programs, report the verdicts.

Prints the count of each verdict, every refusal with its reason, and for every other failure
its shrunk Spec (a reproducer: `from tinygrad_nn.jit.fuzz import run, Spec; run(Spec(...))`).
Exits 1 if any program was a mismatch, a crash, a hang or invalid.
"""
import argparse
import collections
import sys
import time

from .. import jit
from .run import run, shrink
from .spec import generate

FAILURES = ("mismatch", "crash", "hang", "invalid")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinygrad_nn.jit.fuzz", description=__doc__)
    parser.add_argument("--seeds", default="0:200", help="START:STOP, the programs to run")
    parser.add_argument("--timeout", type=float, default=60,
                        help="CPU seconds a program may take (longer: a hang)")
    parser.add_argument("--skip", default="", help="lowering passes to switch off, a,b")
    parser.add_argument("--no-shrink", action="store_true", help="report failures as drawn")
    parser.add_argument("--show", action="store_true", help="print every program's verdict")
    args = parser.parse_args(argv)
    start, stop = (int(n) for n in args.seeds.split(":"))
    passes = set(jit.PASSES) - set(filter(None, args.skip.split(",")))
    counts, refusals, failures = collections.Counter(), collections.Counter(), []
    began = time.perf_counter()
    for seed in range(start, stop):
        spec = generate(seed)
        verdict = run(spec, args.timeout, passes)
        counts[verdict.kind] += 1
        if args.show:
            print(f"{seed}: {verdict.kind} {verdict.detail}\n    {spec!r}")
        if verdict.kind == "refused":
            refusals[verdict.detail] += 1
        elif verdict.kind in FAILURES:
            small = spec if args.no_shrink else shrink(spec, verdict, passes, args.timeout)
            failures.append((seed, verdict, small))
            print(f"seed {seed}: {verdict.kind} at entry {verdict.at}: {verdict.detail}\n"
                  f"    reproducer: run({small!r})", flush=True)
    count, seconds = stop - start, time.perf_counter() - began
    print(f"{count} program{'s' * (count != 1)} in {seconds:.0f} s: " + ", ".join(
        f"{counts[kind]} {kind}" for kind in ("match", "refused") + FAILURES))
    for reason, count in refusals.most_common():
        print(f"  refused {count}x: {reason}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Where a contender spends its time: cProfile's top functions on two benchmark workloads.

    python -m benchmarks.hotspots                 # tinygrad_nn, top 15 by own time
    python -m benchmarks.hotspots torch --top 25

Profiles the op-overhead call and the MLP B=128 step, each repeated so that the profile
is not dominated by one-off costs (after a warm-up call that is left out).
"""

import argparse
import cProfile
import pstats
from operator import methodcaller

from benchmarks import contenders, workloads

WORKLOADS = {
    "op-overhead (200 ops + backward), 200 calls": (
        methodcaller("op_overhead", *workloads.op_overhead_inputs()),
        200,
    ),
    "MLP 784-256-128-10, B=128, 50 steps": (
        methodcaller("mlp_step", workloads.mnist_sized_mlp(128)),
        50,
    ),
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotspots", description=__doc__)
    parser.add_argument("contender", nargs="?", default="tinygrad_nn", choices=contenders.MODULES)
    parser.add_argument("--top", type=int, default=15, help="how many functions to list")
    args = parser.parse_args(argv)

    contender = contenders.load(args.contender)
    for label, (build, calls) in WORKLOADS.items():
        bench = build(contender)
        bench.run()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            bench.run()
        profiler.disable()
        print(f"\n{args.contender}: {label}")
        pstats.Stats(profiler).strip_dirs().sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()

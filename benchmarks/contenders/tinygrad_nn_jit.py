"""tinygrad_nn with each step captured once by tg.jit and replayed: the tinygrad_nn contender's
code, its step passed through `tg.jit`. No deep chain: a million-op chain run once is not a step
that repeats, and recording it would cost more than running it."""

import tinygrad_nn as tg
from benchmarks.contenders import tinygrad_nn_api as api

version = api.version


def op_overhead(x, w, b):
    return api.op_overhead(x, w, b, compile=tg.jit)


def mlp_step(problem):
    return api.mlp_step(problem, compile=tg.jit)


def cnn_step(problem):
    return api.cnn_step(problem, compile=tg.jit)


def sequence_step(problem):
    return api.sequence_step(problem, compile=tg.jit)

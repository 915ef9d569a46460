"""The differential fuzzer: random training programs, eager against tg.jit, bit for bit.

The default run takes a short fixed slice; `python -m pytest -m fuzz` (which .ci/run runs) a
slice of 300 programs. Every failure the fuzzer found is a test below, as its shrunk Spec.
"""
import dataclasses
import importlib

import pytest

from tinygrad_nn import nn
from tinygrad_nn.jit import passes
from tinygrad_nn.jit.fuzz import LAYERS, Layer, Spec, generate, layers, run, shrink
from tinygrad_nn.jit.fuzz.__main__ import main

# The failures the fuzzer found, shrunk; each replays bit for bit now.
FOUND = [
    # a parameter frozen (requires_grad_(False)) between calls of a step that rebinds p.data:
    # the check of requires_grad was left out for the tensors whose .data the step rebinds
    Spec(seed=121, input=("sequence", (3, 2)), layers=(), loss=("MSELoss", "mean"),
         optimizer=("SGD", (("lr", 0.05),)), schedule=(), step="manual_rebind",
         returns="loss", arguments="tensors",
         script=(("call", 2), ("event", "freeze", 52087565), ("call", 2))),
]


@pytest.mark.parametrize("spec", FOUND, ids=lambda s: f"seed {s.seed}")
def test_each_failure_found_replays_bit_for_bit(spec):
    assert run(spec).kind == "match"


@pytest.mark.parametrize("seed", range(3))
def test_a_short_slice_of_programs_replays_bit_for_bit(seed):
    verdict = run(generate(seed))
    assert verdict.kind == "match", verdict


@pytest.mark.fuzz
@pytest.mark.parametrize("start", range(0, 300, 50))
def test_a_slice_of_300_programs_replays_bit_for_bit(start):
    verdicts = [(seed, run(generate(seed))) for seed in range(start, start + 50)]
    assert [(seed, v) for seed, v in verdicts if v.kind != "match"] == []


def wrong_share_buffers(block):
    """share_buffers without its liveness: every result takes the first buffer of its layout."""
    first, alias = {}, {}
    for statement in block.statements:
        if statement.kind == "call" and len(statement.results) == 1:
            result = statement.results[0]
            key = (result.shape, result.dtype.str, result.strides)
            if key in first and result.base is None:
                alias[id(result)] = first[key]
            first.setdefault(key, result)
    return block.but(alias=alias)


def test_a_wrong_pass_is_found_and_shrunk_to_a_small_reproducer(monkeypatch):
    monkeypatch.setitem(passes.PASSES, "share_buffers", wrong_share_buffers)
    spec = generate(8)  # 6 calls and events, 1 layer, AdamW, two losses
    verdict = run(spec)
    assert verdict.kind == "mismatch"
    small = shrink(spec, verdict)
    assert run(small).kind == "mismatch"
    assert len(small.script) == 2 and small.layers == () and small.step == "standard"
    assert eval(repr(small), {"Spec": Spec}) == small  # its repr is the reproducer
    # switched off, the wrong pass is out of the program
    assert run(small, passes=set(passes.PASSES) - {"share_buffers"}).kind == "match"


def test_a_new_layer_is_one_row(monkeypatch):
    class Scale(nn.Module):
        def forward(self, x):
            return x * 0.5

    row = Layer("Scale", ("features", "sequence"), lambda shape, rng: (Scale(), shape))
    monkeypatch.setattr(layers, "LAYERS", LAYERS + [row])
    monkeypatch.setitem(layers.BY_NAME, "Scale", row)
    monkeypatch.setattr(importlib.import_module("tinygrad_nn.jit.fuzz.spec"), "LAYERS",
                        layers.LAYERS)
    specs = [s for s in map(generate, range(60)) if ("Scale" in (n for n, _ in s.layers))]
    assert specs and all(run(s).kind == "match" for s in specs[:3])


def test_the_command_reports_counts(capsys):
    assert main(["--seeds", "5:6"]) == 0
    assert "1 program in" in capsys.readouterr().out


def test_a_spec_is_data():
    spec = generate(7)
    assert dataclasses.replace(spec) == spec and eval(repr(spec), {"Spec": Spec}) == spec

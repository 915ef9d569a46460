"""The lowering passes one by one: each does what its docstring says on a Block, and a program
with any pass switched off (or all of them) still replays bit for bit."""
import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn, optim
from tinygrad_nn.jit import passes
from tinygrad_nn.jit.fuzz.run import same_value


def block_of(fn, *args, names=()):
    """The Block of fn's capture, lowered through the passes `names` only."""
    step = tg.jit(fn, passes=names)
    step(*args)
    return next(iter(step._programs.values()))[0].block


def calls(block):
    return [s for s in block.statements if s.call is not None]


def funcs(block):
    return [s.call.func for s in calls(block)]


def gradient_of(loss_of, shape=(3,)):
    """A step that returns d loss_of(x, w) / dw for a leaf w."""
    w = tg.Tensor(np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape).astype(np.float32),
                  requires_grad=True)

    def step(x):
        w.grad = None
        loss_of(x, w).backward()
        return w.grad
    return step


def test_reuse_repeats_makes_a_repeated_call_once():
    # d(sum(x * w * w))/dw: Mul's backward multiplies g by w for each of the two factors
    block = block_of(gradient_of(lambda x, w: (x * (w * w)).sum()), tg.ones(3))
    after = passes.reuse_repeats(block)
    assert len(after.statements) < len(block.statements)
    merged = [s for s in block.statements if s not in after.statements]
    assert any(s.kind == "call" for s in merged)
    # each merged call has a twin kept: the same call, whose result is used instead
    for statement in (s for s in merged if s.kind == "call"):
        twin = after.resolve(statement.results[0])
        assert twin is not statement.results[0]
        assert any(any(r is twin for r in s.results) and s.call.func is statement.call.func
                   for s in calls(after))


def test_reuse_repeats_keeps_two_copies_when_one_is_written_into():
    class TwoCopies(tg.Function):
        @staticmethod
        def forward(ctx, a):
            first, second = a.copy(), a.copy()
            first *= 2  # the copies are no longer equal
            return first + second

        @staticmethod
        def backward(ctx, g):
            return g

    block = block_of(lambda x: TwoCopies.apply(x) * 1.0, tg.ones(3))
    after = passes.reuse_repeats(block)
    copies = [s for s in calls(after) if s.call.func is np.ndarray.copy]
    assert len(copies) == 2


def test_skip_copies_uses_the_gradient_itself_for_grad():
    block = block_of(gradient_of(lambda x, w: (x * w).sum()), tg.ones(3))
    assert np.ndarray.copy in funcs(block) or np.ndarray.astype in funcs(block)
    after = passes.skip_copies(block)
    skipped = [s for s in block.statements if s not in after.statements]
    assert skipped and all(passes._is_copy(s.call) for s in skipped)
    for statement in skipped:
        assert after.resolve(statement.results[0]) is after.resolve(
            statement.call.args[0].array)


def test_fold_constants_computes_a_call_on_constants_once():
    # the gradient of a mean starts from ones divided by the count: constants only
    block = block_of(gradient_of(lambda x, w: (x * w).mean()), tg.ones(3))
    after = passes.fold_constants(block)
    assert after.folded and len(after.statements) == len(block.statements) - len(after.folded)
    for statement in after.folded:
        assert statement.kind == "call"
        assert all(any(np.may_share_memory(r, c) for s in block.statements if s.kind == "create"
                       for c in s.results + tuple(f.results[0] for f in after.folded))
                   for r in statement.reads)


def test_drop_unused_leaves_out_what_nothing_reads():
    def f(x):
        x * 3.0  # noqa: B018 (computed, never used)
        return x * 2.0

    block = block_of(f, tg.ones(3))
    after = passes.drop_unused(block)
    kept = [s.call.args[1] for s in calls(after) if s.call.func is np.multiply]
    assert kept == [2.0] and len(block.statements) == len(after.statements) + 1


def test_share_buffers_gives_a_freed_buffer_to_a_later_result_of_its_layout():
    block = block_of(lambda x: (((x * 2.0) + 1.0) * 3.0) + 4.0, tg.ones(5))
    after = passes.share_buffers(block)
    results = [s.results[0] for s in block.statements if s.kind == "call"]
    assert len({id(after.resolve(r)) for r in results}) < len(results)
    for r in results:
        shared = after.resolve(r)
        assert (shared.shape, shared.dtype, shared.strides) == (r.shape, r.dtype, r.strides)


def test_direct_calls_uses_the_ufunc_reduce_of_a_reduction_and_mean_in_two_steps():
    class Reductions(tg.Function):
        @staticmethod
        def forward(ctx, a):
            return a.sum(axis=0) + a.mean(axis=1).max()

    block = block_of(lambda x: Reductions.apply(x), tg.ones(3, 4))
    assert np.mean in funcs(block) and np.sum in funcs(block)
    after = passes.direct_calls(block)
    assert np.sum not in funcs(after) and np.mean not in funcs(after) and np.max not in funcs(
        after)
    assert np.add.reduce in funcs(after) and np.maximum.reduce in funcs(after)
    divide = [s for s in calls(after) if s.call.func is np.true_divide and s.kind == "write"]
    assert len(divide) == 1 and divide[0].call.kwargs["casting"] == "unsafe"


def circles():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Dense(2, 4, rng=rng), nn.ReLU(), nn.Dropout(0.2, rng=1),
                          nn.BatchNorm1d(4), nn.Dense(4, 1, rng=rng), nn.Sigmoid())
    return model, optim.Adam(model.parameters(), lr=0.05), nn.BCELoss()


def training(model, optimizer, loss_fn):
    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss, model(x).mean(axis=0)
    return step


@pytest.mark.parametrize("skipped", [(name,) for name in tg.jit.PASSES] + [tg.jit.PASSES],
                         ids=list(tg.jit.PASSES) + ["all"])
def test_a_program_without_a_pass_replays_bit_for_bit(skipped):
    (model_a, opt_a, loss_a), (model_b, opt_b, loss_b) = circles(), circles()
    eager = training(model_a, opt_a, loss_a)
    jitted = tg.jit(training(model_b, opt_b, loss_b),
                    passes=set(tg.jit.PASSES) - set(skipped))
    rng = np.random.default_rng(1)
    for k in range(4):
        x = tg.Tensor(rng.standard_normal((6, 2)).astype(np.float32))
        y = tg.Tensor(rng.uniform(0, 1, (6, 1)).astype(np.float32))
        assert not same_value(eager(x, y), jitted(x, y), "results"), k
        for p, q in zip(model_a.parameters(), model_b.parameters()):
            assert np.array_equal(p.data, q.data) and np.array_equal(p.grad.data, q.grad.data)


def test_the_environment_variable_switches_passes_off(monkeypatch):
    def f(x):
        x * 3.0  # noqa: B018 (computed, never used)
        return x * 2.0

    def count(step):
        step(tg.ones(5))
        return len(next(iter(step._programs.values()))[0].block.statements)

    everything = count(tg.jit(f))
    monkeypatch.setenv("TINYGRAD_NN_JIT_SKIP", "drop_unused")
    assert count(tg.jit(f)) == everything + 1  # the unused product is computed
    monkeypatch.setenv("TINYGRAD_NN_JIT_SKIP", ",".join(tg.jit.PASSES))
    assert count(tg.jit(f)) == count(tg.jit(f, passes=()))


def test_passes_are_checked_by_name():
    with pytest.raises(ValueError, match="passes must be a collection of names among"):
        tg.jit(lambda x: x, passes=["reuse_repeat"])
    with pytest.raises(ValueError, match="passes must be a collection of names among"):
        tg.jit(lambda x: x, passes="reuse_repeats")
    assert tg.jit.PASSES == ("reuse_repeats", "skip_copies", "fold_constants", "drop_unused",
                             "share_buffers", "direct_calls")

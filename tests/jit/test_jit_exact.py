"""What users write inside a jitted step replays bit for bit: rebinding p.data and writing into
it, NumPy arrays as arguments, tg.grad, eval-mode forwards, nested tg.jit; and what cannot be
replayed (np.eye(K)[labels]) is refused with advice that fits."""
import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn
from tinygrad_nn.jit import CaptureError
from tinygrad_nn.jit.fuzz.run import same_value


def mlp():
    rng = np.random.default_rng(0)
    return nn.Sequential(nn.Dense(3, 5, rng=rng), nn.Tanh(), nn.Dropout(0.2, rng=3),
                         nn.Dense(5, 2, rng=rng))


def batches(count, n=4):
    rng = np.random.default_rng(1)
    for _ in range(count):
        yield (rng.standard_normal((n, 3)).astype(np.float32),
               rng.standard_normal((n, 2)).astype(np.float32))


def assert_twins_agree(make_step, calls=6, wrap=tg.Tensor):
    """make_step(model) run eagerly and through tg.jit on twin models: the same results and
    the same parameters (values and .grad) after every call."""
    a, b = mlp(), mlp()
    eager, jitted = make_step(a), tg.jit(make_step(b))
    for k, (x, y) in enumerate(batches(calls)):
        assert not same_value(eager(wrap(x), wrap(y)), jitted(wrap(x), wrap(y)), "result"), k
        for p, q in zip(a.parameters(), b.parameters()):
            assert not same_value((p.data, p.grad is None or p.grad.data),
                                  (q.data, q.grad is None or q.grad.data), "parameter"), k
    return jitted


def manual(update):
    def make_step(model):
        def step(x, y):
            model.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            for p in model.parameters():
                update(p)
            return loss
        return step
    return make_step


def rebind(p):
    p.data = p.data - 0.1 * p.grad.data


def subtract_in_place(p):
    p.data -= 0.1 * p.grad.data


def write_into(p):
    p.data[...] = p.data - 0.1 * p.grad.data


def sub_(p):
    with tg.no_grad():
        p.sub_(0.1 * p.grad)


@pytest.mark.parametrize("update", [rebind, subtract_in_place, write_into, sub_])
def test_manual_updates_of_p_data_replay_bit_for_bit(update):
    assert_twins_agree(manual(update))


def test_rebinding_p_data_makes_a_new_array_each_call_as_eagerly():
    model = mlp()
    step = tg.jit(manual(rebind)(model))
    arrays = []
    for x, y in batches(4):
        step(tg.Tensor(x), tg.Tensor(y))
        arrays.append((model[0].weight.data, model[0].weight.data.copy()))
    for array, values in arrays:  # an array the caller kept is never written again
        assert np.array_equal(array, values)
    assert len({id(a) for a, _ in arrays}) == len(arrays)


def test_ndarray_arguments_combined_with_tensors_replay_bit_for_bit():
    w = tg.Tensor(np.random.default_rng(2).standard_normal((3, 3)).astype(np.float32))

    def f(x, y):
        return (x + w, w * x, x @ w, np.add(x[:, :1], w), (y - w[:, :2]).sum(axis=0))

    jitted = tg.jit(f)
    for k, (x, y) in enumerate(batches(3, n=3)):
        assert not same_value(f(x, y), jitted(x, y), "results"), k
    assert "(input)" in jitted.plan


def test_a_model_fed_ndarrays_trains_bit_for_bit():
    def make_step(model):
        def step(x, y):
            model.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            with tg.no_grad():
                for p in model.parameters():
                    p.sub_(0.1 * p.grad)
            return loss
        return step
    assert_twins_agree(make_step, wrap=np.asarray)


def test_one_hot_rows_from_numpy_are_refused_with_advice_that_fits():
    model = mlp()

    @tg.jit
    def step(x, labels):
        targets = np.eye(2, dtype=np.float32)[labels]
        return ((model(x) - targets) ** 2).mean()

    with pytest.raises(CaptureError, match=r"np.eye\(K\)\[labels\].*tg.eye\(K\)\[labels\]"):
        step(tg.Tensor(np.ones((4, 3), dtype=np.float32)), np.array([0, 1, 1, 0]))


def test_one_hot_rows_from_tensors_replay_bit_for_bit():
    a, b = mlp(), mlp()

    def step_of(model):
        def step(x, labels):
            targets = tg.eye(2)[labels]
            return ((model(x) - targets) ** 2).mean()
        return step
    eager, jitted = step_of(a), tg.jit(step_of(b))
    rng = np.random.default_rng(3)
    with tg.no_grad():
        for x, _ in batches(4):
            labels = tg.Tensor(rng.integers(0, 2, 4))
            assert not same_value(eager(tg.Tensor(x), labels), jitted(tg.Tensor(x), labels),
                                  "loss")


def test_grad_inside_the_step_replays_bit_for_bit():
    def make_step(model):
        def step(x, y):
            loss = ((model(x) - y) ** 2).mean()
            grads = tg.grad(loss, model.parameters())
            with tg.no_grad():
                for p, g in zip(model.parameters(), grads):
                    p.sub_(0.1 * g)
            return loss, grads[0]
        return step
    assert_twins_agree(make_step)


def test_an_eval_mode_forward_inside_the_step_replays_and_leaves_the_mode():
    def make_step(model):
        def step(x, y):
            model.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            with tg.no_grad():
                for p in model.parameters():
                    p.sub_(0.1 * p.grad)
                model.eval()
                evaluated = ((model(x) - y) ** 2).mean()
            return loss, evaluated
        return step
    a, b = mlp(), mlp()
    eager, jitted = make_step(a), tg.jit(make_step(b))
    for k, (x, y) in enumerate(batches(5)):
        a.train()
        b.train()
        assert not same_value(eager(tg.Tensor(x), tg.Tensor(y)),
                              jitted(tg.Tensor(x), tg.Tensor(y)), "losses"), k
        assert not a.training and not b.training and not b[2].training  # left in eval mode
    assert "train/eval modes" in jitted.plan


def test_a_jitted_function_called_inside_another_is_part_of_its_capture():
    a, b = mlp(), mlp()
    inner_a, inner_b = (lambda x: a(x) * 2), tg.jit(lambda x: b(x) * 2)

    def outer_of(inner):
        def outer(x, y):
            return ((inner(x) - y) ** 2).mean()
        return outer
    eager, jitted = outer_of(inner_a), tg.jit(outer_of(inner_b))
    with tg.no_grad():
        for k, (x, y) in enumerate(batches(4)):
            assert not same_value(eager(tg.Tensor(x), tg.Tensor(y)),
                                  jitted(tg.Tensor(x), tg.Tensor(y)), "loss"), k
    assert inner_b.plan == ""  # never captured on its own
    assert "Affine.forward" in jitted.plan

"""A tg.jit call that raises changes nothing: parameters, buffers, optimizer state, generator
states and .grad are as they were before it; the library's own exceptions reach the caller as
they would eagerly; no call hangs."""
import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn, optim
from tinygrad_nn.jit import CaptureError
from tinygrad_nn.jit.fuzz.run import same_value


def network():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Dense(3, 6, rng=rng), nn.BatchNorm1d(6), nn.ReLU(),
                          nn.Dropout(0.3, rng=1), nn.Dense(6, 1, rng=rng), nn.Sigmoid())
    return model, optim.Adam(model.parameters(), lr=0.01), nn.BCELoss()


def snapshot(model, optimizer):
    """Values and identities of everything a step changes."""
    return ([(p.data.copy(), p.data, p.grad, None if p.grad is None else p.grad.data.copy())
             for p in model.parameters()], model.state_dict(), optimizer.state_dict(),
            str(model[3].rng.bit_generator.state))


def assert_unchanged(before, after):
    (params_a, *rest_a), (params_b, *rest_b) = before, after
    for (values, array, grad, grad_values), (values_b, array_b, grad_b, grad_values_b) in zip(
            params_a, params_b):
        assert array is array_b and grad is grad_b  # the same objects, put back
        assert not same_value((values, grad_values), (values_b, grad_values_b), "parameter")
    assert not same_value(rest_a, rest_b, "buffers, optimizer state, generator")


def batch(seed=0, n=8):
    rng = np.random.default_rng(seed)
    return (tg.Tensor(rng.standard_normal((n, 3)).astype(np.float32)),
            tg.Tensor(rng.uniform(0, 1, (n, 1)).astype(np.float32)))


def trained(steps=2):
    """A network after a few eager steps: it has gradients and optimizer state."""
    model, optimizer, loss_fn = network()
    for k in range(steps):
        optimizer.zero_grad()
        loss_fn(model(batch(k)[0]), batch(k)[1]).backward()
        optimizer.step()
    return model, optimizer, loss_fn


def ends_with(finish):
    """A training step that does `finish(loss, model)` after optimizer.step()."""
    def make(model, optimizer, loss_fn):
        def step(x, y):
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            return finish(loss, model)
        return step
    return make


def set_attribute(loss, model):
    model[0].calls = 1
    return loss


def schedule_step(loss, model):
    optim.lr_scheduler.StepLR(optimizer_of[model], step_size=1).step()
    return loss


optimizer_of = {}


@pytest.mark.parametrize("finish, error, match", [
    (lambda loss, model: print(loss) or loss, CaptureError, "printing a value of the step"),
    (lambda loss, model: loss.item(), CaptureError, r"Tensor.item\(\)"),
    (lambda loss, model: float(loss), CaptureError, r"float\(tensor\)"),
    (lambda loss, model: {"loss": loss, "n": 3}, TypeError, "value for 'n' is a int"),
    (lambda loss, model: loss + nn.Dense(1, 1)(loss.reshape(1, 1)).sum(), CaptureError,
     "new random generator"),
    (set_attribute, CaptureError, "Dense.calls is set during the call"),
    (schedule_step, CaptureError, r"StepLR.step\(\) inside a function"),
], ids=["print", "item", "float", "returned a number", "new generator", "module attribute",
        "schedule"])
def test_a_capture_refused_after_the_update_changes_nothing(finish, error, match):
    model, optimizer, loss_fn = trained()
    optimizer_of[model] = optimizer
    step = tg.jit(ends_with(finish)(model, optimizer, loss_fn))
    before = snapshot(model, optimizer)
    with pytest.raises(error, match=match):
        step(*batch(5))
    assert_unchanged(before, snapshot(model, optimizer))
    assert step.plan == ""


def eager_error(fn, *args):
    try:
        fn(*args)
    except Exception as error:  # noqa: BLE001 (the library's own exception is the point)
        return error
    raise AssertionError("the eager call did not raise")


@pytest.mark.parametrize("calls_before", [0, 3], ids=["at capture", "at replay"])
def test_a_nan_prediction_raises_the_value_error_of_bce_loss_and_changes_nothing(calls_before):
    model, optimizer, loss_fn = trained()
    eager_model, eager_optimizer, _ = trained()
    step = tg.jit(ends_with(lambda loss, model: loss)(model, optimizer, loss_fn))
    eager = ends_with(lambda loss, model: loss)(eager_model, eager_optimizer, loss_fn)
    for k in range(calls_before):
        step(*batch(10 + k))
        eager(*batch(10 + k))
    x, y = batch(20)
    x.data[0] = np.nan  # a diverged model's prediction
    with np.errstate(invalid="ignore"):
        expected = eager_error(nn.BCELoss(), eager_model(x), y)
    before = snapshot(model, optimizer)
    with pytest.raises(ValueError) as raised, np.errstate(invalid="ignore"):
        step(x, y)
    assert type(raised.value) is type(expected) and str(raised.value) == str(expected)
    assert_unchanged(before, snapshot(model, optimizer))


@pytest.mark.parametrize("calls_before", [0, 2], ids=["at capture", "at replay"])
def test_an_index_out_of_range_raises_the_index_error_of_embedding(calls_before):
    embedding = nn.Embedding(5, 2, rng=0)
    lookup = tg.jit(lambda i: embedding(i) * 2)
    with tg.no_grad():
        for _ in range(calls_before):
            lookup(np.array([[1, 2]]))
        expected = eager_error(embedding, np.array([[1, 7]]))
        with pytest.raises(IndexError) as raised:
            lookup(np.array([[1, 7]]))
    assert str(raised.value) == str(expected) == (
        "Embedding index 7 is out of range for num_embeddings=5 (indices must be in [0, 5))")


def test_int64_indices_looked_up_twice_in_one_step_replay_bit_for_bit():
    # astype(np.intp, copy=False) returns its own input: the repeat of it once mapped an array
    # onto itself in the lowering, and the capture never returned
    def build():
        model = nn.Embedding(10, 3, rng=0)
        return model, optim.SGD(model.parameters(), lr=0.1)

    def step_of(model, optimizer):
        def step(i):
            optimizer.zero_grad()
            loss = (model(i) * model(i)).sum()
            loss.backward()
            optimizer.step()
            return loss
        return step
    (model_a, opt_a), (model_b, opt_b) = build(), build()
    eager, jitted = step_of(model_a, opt_a), tg.jit(step_of(model_b, opt_b))
    rng = np.random.default_rng(1)
    for _ in range(4):
        i = rng.integers(0, 10, (4, 2)).astype(np.int64)
        assert not same_value(eager(i), jitted(i), "loss")
        assert np.array_equal(model_a.weight.data, model_b.weight.data)


def test_a_check_that_fails_in_a_replay_puts_back_what_the_replay_changed():
    """The check of BCELoss comes after the draw of Dropout and the update of batch norm's
    running statistics: a replay that fails it puts both back before capturing anew."""
    model, optimizer, loss_fn = trained()
    forward = tg.jit(lambda x, y: loss_fn(model(x), y))
    with tg.no_grad():
        for k in range(3):
            forward(*batch(30 + k))
        x, y = batch(40)
        x.data[:] = np.nan
        before = snapshot(model, optimizer)
        with pytest.raises(ValueError, match="BCELoss: the prediction is NaN"), \
                np.errstate(invalid="ignore"):
            forward(x, y)
    assert_unchanged(before, snapshot(model, optimizer))
    assert "bit_generator.state = u0" in next(iter(forward._programs.values()))[0].source

"""The jit's messages for a new user's mistakes name what happened and what to do (issue 19's
table), and a call that fails changes nothing."""
import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn, optim
from tinygrad_nn.jit import CaptureError


def setup():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Dense(3, 4, rng=rng), nn.ReLU(), nn.Dense(4, 1, rng=rng))
    return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9), nn.MSELoss()


def data():
    rng = np.random.default_rng(1)
    return (tg.Tensor(rng.standard_normal((5, 3)).astype(np.float32)),
            tg.Tensor(rng.standard_normal((5, 1)).astype(np.float32)))


def parameters(model):
    return [p.data.copy() for p in model.parameters()]


def test_print_inside_a_jitted_step():
    model, optimizer, loss_fn = setup()

    @tg.jit
    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        print(loss)
        return loss

    before = parameters(model)
    with pytest.raises(CaptureError) as raised:
        step(*data())
    message = str(raised.value)
    assert message.startswith("printing a value of the step (print, str, repr or an f-string of "
                              "a tensor) inside a function that tg.jit is capturing")
    assert "Return the tensor and print it after the call (loss = step(x, y); print(loss))" \
        in message
    assert "[at test_print_inside_a_jitted_step.<locals>.step (test_jit_messages.py:" in message
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters()))
    assert optimizer.state == {} and all(p.grad is None for p in model.parameters())


def test_a_jitted_function_inside_another_is_captured_with_it():
    model, _, loss_fn = setup()
    forward = tg.jit(lambda x: model(x))
    loss = tg.jit(lambda x, y: loss_fn(forward(x), y))  # was "cannot record matmul"
    x, y = data()
    with tg.no_grad():
        expected = loss_fn(model(x), y)
        for _ in range(3):
            assert np.array_equal(loss(x, y).data, expected.data)


def test_backward_through_the_results_of_a_jitted_model_warns_that_they_are_detached():
    model, optimizer, loss_fn = setup()
    forward = tg.jit(model)
    x, y = data()
    with pytest.warns(UserWarning) as warned:
        out = forward(x)
    message = str(warned[0].message)
    assert message.startswith("tg.jit(Sequential): its results depend on tensors that require "
                              "grad, but the results of a jitted function are detached")
    assert "put loss.backward() (and optimizer.step()) inside the jitted function" in message
    assert "to only evaluate, call it under tg.no_grad()" in message
    assert warned[0].filename == __file__  # at the user's call
    with pytest.raises(RuntimeError, match="does not require grad"):
        loss_fn(out, y).backward()
    with tg.no_grad():  # evaluating: nothing to warn about
        tg.jit(model)(x)


def test_a_training_step_does_not_warn():
    model, optimizer, loss_fn = setup()

    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tg.jit(step)(*data())


@pytest.mark.parametrize("returned, where", [
    (lambda loss: {"loss": loss, "accuracy": 0.5}, "a dict whose value for 'accuracy' is a "
                                                   "float"),
    (lambda loss: (loss, None), "a tuple whose item 1 is a NoneType"),
    (lambda loss: 3, "int"),
])
def test_a_returned_value_that_is_not_a_tensor_is_named(returned, where):
    model, optimizer, loss_fn = setup()

    @tg.jit
    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return returned(loss)

    before = parameters(model)
    with pytest.raises(TypeError) as raised:
        step(*data())
    assert str(raised.value).startswith(
        f"tg.jit: the function must return None, a Tensor, or a tuple, list or dict of "
        f"Tensors; it returned {where}")
    assert "a replay runs no Python, so only tensors can come out of it" in str(raised.value)
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters()))
    assert optimizer.state == {}


def test_a_diverging_step_gives_the_nan_loss_eager_gives():
    """The digits example at --lr 1e9: its loss becomes NaN, the finiteness check of Mul's
    backward (batch norm's x_hat * weight) takes the other branch after Dropout drew its mask,
    and the replay used to raise GuardFailed. Now it puts the draw back and captures anew: the
    NaN the eager step gives, and the example's own message about it."""
    def build():
        rng = np.random.default_rng(0)
        model = nn.Sequential(nn.Dense(3, 8, rng=rng), nn.ReLU(), nn.Dropout(0.2, rng=1),
                              nn.BatchNorm1d(8), nn.Dense(8, 2, rng=rng))
        return model, optim.SGD(model.parameters(), lr=1e9), nn.CrossEntropyLoss()

    def step_of(model, optimizer, loss_fn):
        def step(x, y):
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            return loss
        return step
    eager, jitted = step_of(*build()), tg.jit(step_of(*build()))
    rng = np.random.default_rng(2)
    losses = []
    with np.errstate(all="ignore"):
        for _ in range(8):
            x = tg.Tensor(rng.standard_normal((6, 3)).astype(np.float32))
            y = tg.Tensor(rng.integers(0, 2, 6))
            a, b = eager(x, y), jitted(x, y)
            assert a.data.tobytes() == b.data.tobytes()
            losses.append(float(a.item()))
    assert not np.isfinite(losses[-1]) and np.isfinite(losses[0])

"""tg.jit guards: whatever a capture reached and the caller changes between calls (a layer, a
Parameter, the optimizer, Dropout's p or generator, a hyperparameter, p.data) makes the next
call capture anew, so that it computes what an eager call computes, bit for bit."""
import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn, optim
from tinygrad_nn.jit.fuzz.run import same_value


class Setup:
    """A small network with a hyperparameter of each kind, its optimizer and loss."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.model = nn.Sequential(nn.Dense(3, 6, rng=rng), nn.LeakyReLU(0.1),
                                   nn.Dropout(0.3, rng=1), nn.BatchNorm1d(6), nn.LayerNorm(6),
                                   nn.Dense(6, 2, rng=rng))
        self.optimizer = optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)
        self.loss_fn = nn.MSELoss()


def state(setup):
    return ([(p.data, None if p.grad is None else p.grad.data, p.requires_grad)
             for p in setup.model.parameters()], setup.model.state_dict(),
            setup.optimizer.state_dict(), str(setup.model[2].rng.bit_generator.state))


def standard_step(setup, ran):
    def step(x, y):
        ran.append(1)  # runs only when the call is captured
        setup.optimizer.zero_grad()
        loss = setup.loss_fn(setup.model(x), y)
        loss.backward()
        setup.optimizer.step()
        return loss
    return step


def batches(count):
    rng = np.random.default_rng(1)
    for _ in range(count):
        yield (tg.Tensor(rng.standard_normal((4, 3)).astype(np.float32)),
               tg.Tensor(rng.standard_normal((4, 2)).astype(np.float32)))


def assert_change_is_seen(change, calls=6, at=3):
    """The jitted twin computes what the eager one does before and after `change` (applied to
    both between calls `at - 1` and `at`), and captures anew after it."""
    a, b = Setup(), Setup()
    eager, ran = standard_step(a, []), []
    jitted = tg.jit(standard_step(b, ran))
    for k, (x, y) in enumerate(batches(calls)):
        if k == at:
            before = len(ran)
            change(a)
            change(b)
        assert not same_value(eager(x, y), jitted(x, y), "loss"), k
        assert not same_value(state(a), state(b), "state"), k
    assert len(ran) > before  # the change was seen: a new capture


def replace_parameter(s):
    s.model[0].weight = nn.Parameter(np.full((3, 6), 0.1, dtype=np.float32))


def replace_layer(s):
    setattr(s.model, "1", nn.Tanh())


def new_optimizer(s):
    s.optimizer = optim.Adam(s.model.parameters(), lr=0.01)


def dropout_p(s):
    s.model[2].p = 0.6


def dropout_generator(s):
    s.model[2].rng = np.random.default_rng(42)


def slope(s):
    s.model[1].negative_slope = 0.3


def batch_norm_momentum(s):
    s.model[3].momentum = 0.5


def layer_norm_eps(s):
    s.model[4].eps = 1e-2


def rebind_data(s):
    s.model[5].weight.data = s.model[5].weight.data * np.float32(0.5)


def freeze(s):
    s.model[0].bias.requires_grad_(False)


def parameter_list(s):
    s.optimizer.params.pop()  # the last bias is no longer updated


def load_optimizer_state(s):
    s.optimizer.load_state_dict({"state": {}, "hyperparameters": {
        "lr": 0.05, "momentum": 0.5, "nesterov": False, "weight_decay": 0.0}})


@pytest.mark.parametrize("change", [
    replace_parameter, replace_layer, new_optimizer, dropout_p, dropout_generator, slope,
    batch_norm_momentum, layer_norm_eps, rebind_data, freeze, parameter_list,
    load_optimizer_state])
def test_a_change_between_calls_is_seen(change):
    assert_change_is_seen(change)


SCRIPT = """
def step(x, y):
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss
"""


def script():
    """The globals of a script that defines step() with SCRIPT."""
    namespace = {"loss_fn": nn.MSELoss()}
    exec(SCRIPT, namespace)
    return namespace


def test_a_global_rebound_between_calls_is_seen():
    eager, twin = script(), script()
    jitted = tg.jit(twin["step"])
    for k, (x, y) in enumerate(batches(6)):
        if k in (0, 3):  # the script makes its model and optimizer again
            for scope in (eager, twin):
                s = Setup()
                scope["model"], scope["optimizer"] = s.model, s.optimizer
        assert not same_value(eager["step"](x, y), jitted(x, y), "loss"), k
        assert all(np.array_equal(p.data, q.data) for p, q in zip(
            eager["model"].parameters(), twin["model"].parameters())), k
    assert "the same loss_fn, model, optimizer" in " ".join(jitted.plan.split())


def test_a_closure_rebound_between_calls_is_seen():
    def make():
        s = Setup()

        def step(x, y):
            s.optimizer.zero_grad()
            s.loss_fn(s.model(x), y).backward()
            s.optimizer.step()
            return s.model[5].weight * 1

        def replace():
            nonlocal s
            s = Setup()
            s.model[5].weight.data[...] = 1
        return step, replace
    (eager, replace_a), (step, replace_b) = make(), make()
    jitted = tg.jit(step)
    for k, (x, y) in enumerate(batches(6)):
        if k == 3:
            replace_a()
            replace_b()
        assert not same_value(eager(x, y), jitted(x, y), "weight"), k


def test_an_attribute_of_the_instance_of_a_jitted_method_is_seen():
    class Trainer:
        def __init__(self):
            self.setup = Setup()

        def step(self, x, y):
            self.setup.optimizer.zero_grad()
            loss = self.setup.loss_fn(self.setup.model(x), y)
            loss.backward()
            self.setup.optimizer.step()
            return loss

    class JitTrainer(Trainer):
        step = tg.jit(Trainer.step)

    a, b = Trainer(), JitTrainer()
    for k, (x, y) in enumerate(batches(6)):
        if k == 3:
            a.setup, b.setup = Setup(), Setup()
        assert not same_value(a.step(x, y), b.step(x, y), "loss"), k
        assert not same_value(state(a.setup), state(b.setup), "state"), k


def test_the_default_dtype_is_checked():
    w = tg.Tensor(np.ones(2, dtype=np.float32))
    f = tg.jit(lambda x: x * w + tg.Tensor([0.5, 0.25]))
    try:
        assert f(tg.ones(2)).dtype == np.float32
        tg.set_default_dtype(np.float64)
        assert f(tg.ones(2)).dtype == np.float64  # as eagerly: a float64 constant
        assert "the default dtype is float64" in " ".join(f.plan.split())
    finally:
        tg.set_default_dtype(np.float32)


def test_a_change_the_step_does_not_reach_does_not_capture_anew():
    s, ran = Setup(), []
    step = tg.jit(standard_step(s, ran))
    unrelated = nn.Dropout(0.1)
    for k, (x, y) in enumerate(batches(5)):
        unrelated.p = 0.1 + k / 10  # a Module attribute set, of a module the step never uses
        step(x, y)
    assert len(ran) == 2  # the first call (it makes momentum buffers) and the steady capture


def test_the_plan_lists_what_is_checked():
    s = Setup()
    step = tg.jit(standard_step(s, []))
    for x, y in batches(2):
        step(x, y)
    checked = " ".join(step.plan.split("read on each replay")[0].split())
    assert "the structure of 8 modules (attributes, train/eval mode, parameters, sub-modules, " \
           "buffers) is the same" in checked
    assert "the same ran, setup, setup.model, setup.optimizer, setup.loss_fn" in checked
    assert "8 tensors hold the same arrays, and require grad or not as before" in checked
    assert "SGD's parameter list and state" in checked
    assert "bool(SGD.momentum) is True" in checked

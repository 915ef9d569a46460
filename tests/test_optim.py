"""optim: SGD, Adam, AdamW and RMSprop against their torch update rules computed by hand in
NumPy, the learning-rate schedules against their closed and recursive forms, bad
hyperparameters, and state dicts that make a resumed run identical to an uninterrupted one."""
import math
import warnings

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn, optim

STEPS = 6


def gradient_sequence(shape, steps=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for _ in range(steps)]


def reference_sgd(p, grads, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """torch.optim.SGD's rule (dampening 0), written out in NumPy float64."""
    p = p.copy()
    buffer = None
    for g in grads:
        g = g + weight_decay * p
        if momentum:
            buffer = g.copy() if buffer is None else momentum * buffer + g
            g = g + momentum * buffer if nesterov else buffer
        p = p - lr * g
    return p


def reference_adam(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """torch.optim.Adam's rule, written out in NumPy float64; None in grads = no step."""
    beta1, beta2 = betas
    p = p.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    t = 0
    for g in grads:
        if g is None:
            continue
        t += 1
        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def reference_adamw(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """torch.optim.AdamW's rule: decoupled decay p ← p(1 - lr·wd), then Adam on the gradient."""
    beta1, beta2 = betas
    p = p.copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        p = p * (1 - lr * weight_decay)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1 ** t) * m / (np.sqrt(v) / np.sqrt(1 - beta2 ** t) + eps)
    return p


def reference_rmsprop(p, grads, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0):
    """torch.optim.RMSprop's rule (not centered), written out in NumPy float64."""
    p = p.copy()
    v, b = np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        step = g / (np.sqrt(v) + eps)
        if momentum:
            b = momentum * b + step
            step = b
        p = p - lr * step
    return p


def run(optimizer_class, start, grads, **hyperparameters):
    p = nn.Parameter(start)
    optimizer = optimizer_class([p], **hyperparameters)
    for g in grads:
        p.grad = None if g is None else tg.Tensor(g)
        optimizer.step()
    return p.data


START = np.random.default_rng(42).normal(size=(3, 4))


RULES = [
    (optim.SGD, reference_sgd, {"lr": 0.1}),
    (optim.SGD, reference_sgd, {"lr": 0.1, "momentum": 0.9}),
    (optim.SGD, reference_sgd, {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    (optim.SGD, reference_sgd, {"lr": 0.1, "weight_decay": 0.01}),
    (optim.SGD, reference_sgd, {"lr": 0.05, "momentum": 0.9, "nesterov": True,
                                "weight_decay": 0.1}),
    (optim.Adam, reference_adam, {"lr": 0.01}),
    (optim.Adam, reference_adam, {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-6}),
    (optim.Adam, reference_adam, {"lr": 0.01, "weight_decay": 0.1}),
    (optim.AdamW, reference_adamw, {}),
    (optim.AdamW, reference_adamw, {"lr": 0.05, "betas": (0.8, 0.95), "eps": 1e-6,
                                    "weight_decay": 0.3}),
    (optim.AdamW, reference_adamw, {"lr": 0.01, "weight_decay": 0.0}),
    (optim.RMSprop, reference_rmsprop, {}),
    (optim.RMSprop, reference_rmsprop, {"lr": 0.01, "alpha": 0.9, "eps": 1e-3}),
    (optim.RMSprop, reference_rmsprop, {"lr": 0.01, "momentum": 0.9}),
    (optim.RMSprop, reference_rmsprop, {"lr": 0.005, "alpha": 0.95, "momentum": 0.5,
                                        "weight_decay": 0.1}),
]


@pytest.mark.parametrize("optimizer_class, reference, hyperparameters", RULES,
                         ids=[f"{c.__name__}-{'-'.join(h) or 'default'}" for c, _, h in RULES])
def test_updates_match_the_torch_rules(optimizer_class, reference, hyperparameters):
    grads = gradient_sequence(START.shape)
    np.testing.assert_allclose(run(optimizer_class, START, grads, **hyperparameters),
                               reference(START, grads, **hyperparameters), rtol=1e-12)


def test_adamw_decay_is_decoupled_from_the_gradient():
    # With a zero gradient Adam's step is 0, so only the decay moves the parameter.
    moved = run(optim.AdamW, START, [np.zeros_like(START)], lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(moved, START * (1 - 0.1 * 0.5), rtol=1e-15)
    assert optim.AdamW([nn.Parameter(START)]).weight_decay == 1e-2


def test_adam_first_step_moves_each_entry_by_lr():
    # With bias correction, m̂ = g and v̂ = g², so the first step is lr · sign(g) (eps = 0).
    grads = gradient_sequence(START.shape, steps=1)
    moved = run(optim.Adam, START, grads, lr=0.01, eps=0.0) - START
    np.testing.assert_allclose(moved, -0.01 * np.sign(grads[0]), rtol=1e-12)


def test_adam_counts_steps_per_parameter_and_skips_none_gradients():
    grads = gradient_sequence(START.shape)
    sparse = [g if i % 2 else None for i, g in enumerate(grads)]
    np.testing.assert_allclose(run(optim.Adam, START, sparse, lr=0.01),
                               reference_adam(START, sparse, lr=0.01), rtol=1e-12)


@pytest.mark.parametrize("make_optimizer", [
    lambda params: optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda params: optim.Adam(params, lr=0.1, weight_decay=0.1),
    lambda params: optim.AdamW(params, lr=0.1, weight_decay=0.1),
    lambda params: optim.RMSprop(params, lr=0.1, momentum=0.9, weight_decay=0.1),
], ids=["SGD", "Adam", "AdamW", "RMSprop"])
def test_parameters_without_gradient_are_skipped(make_optimizer):
    with_grad, without_grad = nn.Parameter(START), nn.Parameter(START)
    optimizer = make_optimizer([with_grad, without_grad])
    with_grad.grad = tg.Tensor(np.ones_like(START))
    optimizer.step()
    np.testing.assert_array_equal(without_grad.data, START)
    assert not np.array_equal(with_grad.data, START)
    assert list(optimizer.state) == [0]


@pytest.mark.parametrize("make_optimizer", [
    lambda params: optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
    lambda params: optim.Adam(params, lr=0.1, weight_decay=0.1),
    lambda params: optim.AdamW(params, lr=0.1, weight_decay=0.1),
    lambda params: optim.RMSprop(params, lr=0.1, momentum=0.9, weight_decay=0.1),
], ids=["SGD", "Adam", "AdamW", "RMSprop"])
def test_step_neither_writes_into_grad_nor_changes_the_dtype(make_optimizer):
    p = nn.Parameter(START.astype(np.float32))
    optimizer = make_optimizer([p])
    for g in gradient_sequence(START.shape, steps=3):
        p.grad = tg.Tensor(g.astype(np.float32))
        grad_array, grad_copy = p.grad.data, p.grad.data.copy()
        optimizer.step()
        np.testing.assert_array_equal(grad_array, grad_copy)
        assert p.grad.data is grad_array
    assert p.dtype == np.float32
    assert all(a.dtype == np.float32 for entry in optimizer.state.values()
               for a in entry.values() if isinstance(a, np.ndarray))


def test_training_with_backward_lowers_the_loss_and_zero_grad_sets_none():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Dense(3, 8, rng=rng), nn.Tanh(), nn.Dense(8, 1, rng=rng))
    x = tg.Tensor(rng.normal(size=(32, 3)).astype(np.float32))
    y = x.numpy().sum(axis=1, keepdims=True)
    optimizer = optim.Adam((p for p in model.parameters()), lr=0.01)  # a generator works
    losses = []
    for _ in range(50):
        optimizer.zero_grad()
        assert all(p.grad is None for p in model.parameters())
        loss = nn.MSELoss()(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 5


@pytest.mark.parametrize("make_optimizer, message", [
    (lambda ps: optim.SGD(ps, lr=-0.1), "lr"),
    (lambda ps: optim.SGD(ps, lr=float("nan")), "lr"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=-0.1), "momentum"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=1.0), "momentum"),
    (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), "nesterov"),
    (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1e-4), "weight_decay"),
    (lambda ps: optim.Adam(ps, lr=-1e-3), "lr"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), "beta1"),
    (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), "beta2"),
    (lambda ps: optim.Adam(ps, betas=(0.9,)), "pair"),
    (lambda ps: optim.Adam(ps, eps=-1e-8), "eps"),
    (lambda ps: optim.Adam(ps, weight_decay=-0.1), "weight_decay"),
    (lambda ps: optim.Adam(ps, betas=0.9), "pair"),
    (lambda ps: optim.AdamW(ps, lr=-1e-3), "lr"),
    (lambda ps: optim.AdamW(ps, betas=(0.9, 1.0)), "beta2"),
    (lambda ps: optim.AdamW(ps, eps=-1.0), "eps"),
    (lambda ps: optim.AdamW(ps, weight_decay=-1e-2), "weight_decay"),
    (lambda ps: optim.RMSprop(ps, lr=-0.01), "lr"),
    (lambda ps: optim.RMSprop(ps, alpha=-0.5), "alpha"),
    (lambda ps: optim.RMSprop(ps, alpha=1.5), "alpha"),
    (lambda ps: optim.RMSprop(ps, eps=-1e-8), "eps"),
    (lambda ps: optim.RMSprop(ps, momentum=-0.9), "momentum"),
    (lambda ps: optim.RMSprop(ps, weight_decay=-0.1), "weight_decay"),
])
def test_bad_hyperparameters_are_refused(make_optimizer, message):
    p = nn.Parameter(START)
    p.grad = tg.Tensor(np.ones_like(START))
    with pytest.raises(ValueError, match=message):
        make_optimizer([p])
    np.testing.assert_array_equal(p.data, START)
    np.testing.assert_array_equal(p.grad.data, np.ones_like(START))


@pytest.mark.parametrize("make_optimizer, message", [
    (lambda ps: optim.SGD(ps, lr="0.1"), r"SGD: lr must be a real number, got '0.1' \(str\)"),
    (lambda ps: optim.SGD(ps, lr=None), "lr must be a real number, got None"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum="0.9"), "momentum must be a real number"),
    (lambda ps: optim.SGD(ps, lr=0.1, nesterov="yes"), "nesterov must be True or False"),
    (lambda ps: optim.SGD(ps, lr=True), "lr must be a real number, got True"),
    (lambda ps: optim.Adam(ps, lr=[0.1]), "Adam: lr must be a real number"),
    (lambda ps: optim.Adam(ps, betas=("0.9", 0.999)), "beta1 must be a real number"),
    (lambda ps: optim.AdamW(ps, weight_decay="0.01"), "AdamW: weight_decay must be a real"),
    (lambda ps: optim.AdamW(ps, eps=1j), "eps must be a real number"),
    (lambda ps: optim.RMSprop(ps, alpha="0.99"), "RMSprop: alpha must be a real number"),
    (lambda ps: optim.RMSprop(ps, momentum=None), "momentum must be a real number"),
])
def test_hyperparameters_that_are_not_numbers_are_named(make_optimizer, message):
    p = nn.Parameter(START)
    with pytest.raises(TypeError, match=message):
        make_optimizer([p])
    np.testing.assert_array_equal(p.data, START)


@pytest.mark.parametrize("params", [[], (p for p in [])], ids=["list", "generator"])
@pytest.mark.parametrize("optimizer_class", [optim.Adam, lambda ps: optim.SGD(ps, lr=0.1),
                                             optim.AdamW, optim.RMSprop])
def test_empty_parameter_list(optimizer_class, params):
    with pytest.raises(ValueError, match="empty parameter list"):
        optimizer_class(params)


def test_bad_parameter_lists():
    p = nn.Parameter(START)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(TypeError, match="Tensors"):
        optim.SGD([START], lr=0.1)
    with pytest.raises(ValueError, match="not a leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor: wrap it in a list"):
        optim.Adam(p)
    with pytest.raises(TypeError, match="iterable of parameters.*got int"):
        optim.Adam(3)
    with pytest.raises(TypeError, match="dtype int64"):
        optim.SGD([tg.Tensor(np.arange(3))], lr=0.1)


# --------------------------------------------------------------------------- state dicts

OPTIMIZERS = {
    "SGD": lambda params: optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True,
                                    weight_decay=0.01),
    "Adam": lambda params: optim.Adam(params, lr=0.01, betas=(0.8, 0.99), weight_decay=0.01),
    "AdamW": lambda params: optim.AdamW(params, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1),
    "RMSprop": lambda params: optim.RMSprop(params, lr=0.01, alpha=0.9, momentum=0.5,
                                            weight_decay=0.01),
}
SCHEDULES = {
    "none": None,
    "StepLR": lambda optimizer: optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5),
    "Cosine": lambda optimizer: optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=7,
                                                                     eta_min=1e-4),
}


def make_problem(seed):
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Dense(2, 6, rng=rng), nn.ReLU(), nn.Dense(6, 1, rng=rng))
    x = tg.Tensor(np.random.default_rng(100).normal(size=(16, 2)).astype(np.float32))
    y = np.random.default_rng(101).normal(size=(16, 1)).astype(np.float32)
    return model, x, y


def train(model, optimizer, x, y, steps, schedule=None):
    for _ in range(steps):
        optimizer.zero_grad()
        nn.MSELoss()(model(x), y).backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()


def start(name, schedule_name, seed):
    model, x, y = make_problem(seed)
    optimizer = OPTIMIZERS[name](model.parameters())
    make_schedule = SCHEDULES[schedule_name]
    return model, optimizer, make_schedule and make_schedule(optimizer), x, y


@pytest.mark.parametrize("through_files", [False, True], ids=["in_memory", "files"])
@pytest.mark.parametrize("schedule_name", list(SCHEDULES))
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_resumed_training_matches_uninterrupted_training_bit_for_bit(name, schedule_name,
                                                                     through_files, tmp_path):
    model, optimizer, schedule, x, y = start(name, schedule_name, seed=0)
    train(model, optimizer, x, y, 10, schedule)
    expected = model.state_dict()
    expected_lr = optimizer.lr

    model, optimizer, schedule, x, y = start(name, schedule_name, seed=0)
    train(model, optimizer, x, y, 4, schedule)
    states = [model.state_dict(), optimizer.state_dict()]
    states += [schedule.state_dict()] if schedule else []
    if through_files:
        for index, state in enumerate(states):
            tg.save(state, tmp_path / f"{index}.npz")
        states = [tg.load(tmp_path / f"{index}.npz") for index in range(len(states))]

    # other initial weights and lr, all overwritten by the loads (built as at the start)
    resumed, resumed_optimizer, resumed_schedule, _, _ = start(name, schedule_name, seed=1)
    resumed_optimizer.lr = 123.0
    for target, state in zip([resumed, resumed_optimizer, resumed_schedule], states):
        target.load_state_dict(state)
    train(resumed, resumed_optimizer, x, y, 6, resumed_schedule)
    assert resumed_optimizer.lr == expected_lr
    for key, array in resumed.state_dict().items():
        np.testing.assert_array_equal(array, expected[key], err_msg=key)


def test_state_dict_layout_and_copies():
    model, x, y = make_problem(seed=0)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    train(model, optimizer, x, y, steps=2)
    state = optimizer.state_dict()
    assert state["hyperparameters"] == {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8,
                                        "weight_decay": 0.0}
    assert sorted(state["state"]) == [0, 1, 2, 3]
    assert state["state"][0]["step"] == 2
    state["state"][0]["exp_avg"][...] = 99.0
    assert not np.any(optimizer.state[0]["exp_avg"] == 99.0)


def trained_optimizer(name):
    model, x, y = make_problem(seed=0)
    optimizer = OPTIMIZERS[name](model.parameters())
    train(model, optimizer, x, y, steps=3)
    return optimizer


def corrupt(name, how):
    """A state dict of optimizer `name` broken in one way, and the error it must raise."""
    state = trained_optimizer(name).state_dict()
    array_name = {"SGD": "momentum_buffer", "RMSprop": "square_avg"}.get(name, "exp_avg")
    if how == "shape":
        state["state"][3][array_name] = np.zeros((2, 2), np.float32)
        return state, ValueError, "shape"
    if how == "dtype":
        state["state"][3][array_name] = state["state"][3][array_name].astype(np.float64)
        return state, ValueError, "float64"
    if how == "index":
        state["state"][7] = state["state"][0]
        return state, KeyError, "7"
    if how == "missing_array":
        del state["state"][3][array_name]
        return state, KeyError, array_name
    if how == "hyperparameter_value":
        state["hyperparameters"]["lr"] = -1.0
        return state, ValueError, "lr"
    if how == "hyperparameter_missing":
        del state["hyperparameters"]["weight_decay"]
        return state, KeyError, "weight_decay"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["shape", "dtype", "index", "missing_array",
                                 "hyperparameter_value", "hyperparameter_missing"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_bad_optimizer_state_changes_nothing(name, how):
    bad_state, error, message = corrupt(name, how)
    optimizer = trained_optimizer(name)
    optimizer.lr = 0.5  # a value the bad state dict would overwrite if loaded half-way
    before = optimizer.state_dict()
    with pytest.raises(error, match=message):
        optimizer.load_state_dict(bad_state)
    after = optimizer.state_dict()
    assert after["hyperparameters"] == before["hyperparameters"]
    assert after["state"].keys() == before["state"].keys()
    for index, entry in before["state"].items():
        for key, value in entry.items():
            np.testing.assert_array_equal(after["state"][index][key], value)


def test_sgd_state_is_empty_before_the_first_step_and_round_trips(tmp_path):
    model, _, _ = make_problem(seed=0)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    tg.save(optimizer.state_dict(), tmp_path / "sgd.npz")
    other = optim.SGD(model.parameters(), lr=0.3)
    other.load_state_dict(tg.load(tmp_path / "sgd.npz"))
    assert other.state == {} and other.lr == 0.1 and other.momentum == 0.9
    assert repr(other) == "SGD(lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0)"


@pytest.mark.parametrize("change, error, message", [
    (lambda s: s["hyperparameters"].update(lr="fast"), ValueError, "lr in the state dict"),
    (lambda s: s["hyperparameters"].update(betas=(0.9,)), ValueError, "betas in the state"),
    (lambda s: s["state"][0].update(step=-1), ValueError, r"state 0\.step"),
    (lambda s: s["state"][0].update(step=1.5), ValueError, r"state 0\.step"),
    (lambda s: s["state"].update({"x": {}}), KeyError, "'x'"),
    (lambda s: s.update(extra=1), KeyError, "'state' and 'hyperparameters'"),
])
def test_more_bad_adam_states_change_nothing(change, error, message):
    state = trained_optimizer("Adam").state_dict()
    change(state)
    optimizer = trained_optimizer("Adam")
    before = optimizer.state_dict()
    with pytest.raises(error, match=message):
        optimizer.load_state_dict(state)
    assert optimizer.state_dict()["hyperparameters"] == before["hyperparameters"]
    np.testing.assert_array_equal(optimizer.state[0]["exp_avg"], before["state"][0]["exp_avg"])


@pytest.mark.parametrize("state", ["optimizer.npz", [1, 2]])
def test_optimizer_load_state_dict_of_something_not_a_mapping(state):
    optimizer = trained_optimizer("SGD")
    with pytest.raises(TypeError, match="state dict.*got"):
        optimizer.load_state_dict(state)
    assert optimizer.lr == 0.05


def test_rmsprop_state_follows_the_loaded_momentum(tmp_path):
    model, x, y = make_problem(seed=0)
    with_momentum = optim.RMSprop(model.parameters(), momentum=0.9)
    train(model, with_momentum, x, y, 2)
    assert sorted(with_momentum.state[0]) == ["momentum_buffer", "square_avg"]
    tg.save(with_momentum, tmp_path / "rmsprop.npz")  # anything with a state_dict() saves
    plain = optim.RMSprop(model.parameters())
    train(model, plain, x, y, 1)
    assert sorted(plain.state[0]) == ["square_avg"]
    plain.load_state_dict(tg.load(tmp_path / "rmsprop.npz"))
    assert plain.momentum == 0.9 and sorted(plain.state[0]) == ["momentum_buffer", "square_avg"]
    train(model, plain, x, y, 1)


# --------------------------------------------------------------------------- schedules

def torch_step_lr(lr, epochs, step_size, gamma):
    """torch's StepLR.get_lr, recursive: multiply by gamma at every multiple of step_size."""
    rates = [lr]
    for epoch in range(1, epochs):
        rates.append(rates[-1] * gamma if epoch % step_size == 0 else rates[-1])
    return rates


def torch_cosine_lr(lr, epochs, T_max, eta_min):
    """torch's CosineAnnealingLR.get_lr, its recursive (chainable) form."""
    rates = [lr]
    for epoch in range(1, epochs):
        previous = rates[-1]
        if (epoch - 1 - T_max) % (2 * T_max) == 0:
            rates.append(previous + (lr - eta_min) * (1 - math.cos(math.pi / T_max)) / 2)
        else:
            rates.append((1 + math.cos(math.pi * epoch / T_max))
                         / (1 + math.cos(math.pi * (epoch - 1) / T_max))
                         * (previous - eta_min) + eta_min)
    return rates


def schedule_rates(make_schedule, lr, epochs):
    optimizer = optim.SGD([nn.Parameter(START)], lr=lr)
    schedule = make_schedule(optimizer)
    rates = []
    for _ in range(epochs):
        rates.append(schedule.get_last_lr()[0])
        assert schedule.get_last_lr() == [optimizer.lr]
        optimizer.step()  # no gradients: nothing changes, but the schedule sees the order
        schedule.step()
    return rates


@pytest.mark.parametrize("step_size, gamma", [(1, 0.5), (3, 0.1), (4, 0.9)])
def test_step_lr_matches_torch(step_size, gamma):
    rates = schedule_rates(lambda o: optim.lr_scheduler.StepLR(o, step_size, gamma), 0.3, 20)
    np.testing.assert_allclose(rates, torch_step_lr(0.3, 20, step_size, gamma), rtol=1e-12)
    assert rates[0] == 0.3 and rates[step_size] == 0.3 * gamma


@pytest.mark.parametrize("T_max, eta_min", [(1, 0.0), (5, 0.0), (7, 0.01), (10, 1e-4)])
def test_cosine_annealing_lr_matches_torch_for_three_periods(T_max, eta_min):
    make = lambda o: optim.lr_scheduler.CosineAnnealingLR(o, T_max, eta_min)  # noqa: E731
    rates = schedule_rates(make, 0.1, 3 * T_max + 2)
    np.testing.assert_allclose(rates, torch_cosine_lr(0.1, 3 * T_max + 2, T_max, eta_min),
                               rtol=1e-12, atol=1e-15)
    assert rates[0] == 0.1 and rates[T_max] == pytest.approx(eta_min, abs=1e-15)


def test_schedule_state_dict_round_trip(tmp_path):
    optimizer = optim.SGD([nn.Parameter(START)], lr=0.2)
    schedule = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    optimizer.step()
    for _ in range(5):
        schedule.step()
    assert schedule.state_dict() == {"base_lr": 0.2, "last_epoch": 5, "step_size": 2,
                                     "gamma": 0.5}
    tg.save(schedule, tmp_path / "schedule.npz")
    other = optim.lr_scheduler.StepLR(optim.SGD([nn.Parameter(START)], lr=0.2), 7, 0.9)
    other.load_state_dict(tg.load(tmp_path / "schedule.npz"))
    assert (other.last_epoch, other.step_size, other.gamma) == (5, 2, 0.5)
    assert repr(other) == "StepLR(step_size=2, gamma=0.5, last_epoch=5)"


@pytest.mark.parametrize("call, error, message", [
    (lambda o: optim.lr_scheduler.StepLR(nn.Dense(2, 2), 3), TypeError, "takes an optimizer"),
    (lambda o: optim.lr_scheduler.StepLR(o, 0), ValueError, "step_size must be >= 1"),
    (lambda o: optim.lr_scheduler.StepLR(o, 2.5), TypeError, "step_size must be an integer"),
    (lambda o: optim.lr_scheduler.StepLR(o, 3, gamma="0.1"), TypeError, "gamma must be a real"),
    (lambda o: optim.lr_scheduler.StepLR(o, 3, gamma=-0.1), ValueError, "gamma must be >= 0"),
    (lambda o: optim.lr_scheduler.CosineAnnealingLR(o, 0), ValueError, "T_max must be >= 1"),
    (lambda o: optim.lr_scheduler.CosineAnnealingLR(o, None), TypeError, "T_max"),
    (lambda o: optim.lr_scheduler.CosineAnnealingLR(o, 5, eta_min=-1e-3), ValueError,
     "eta_min must be >= 0"),
])
def test_bad_schedule_arguments_leave_the_lr_alone(call, error, message):
    optimizer = optim.SGD([nn.Parameter(START)], lr=0.2)
    with pytest.raises(error, match=message):
        call(optimizer)
    assert optimizer.lr == 0.2


@pytest.mark.parametrize("change, error, message", [
    (lambda s: s.pop("gamma"), KeyError, "gamma"),
    (lambda s: s.update(extra=1), KeyError, "extra"),
    (lambda s: s.update(last_epoch=-2), ValueError, "last_epoch"),
    (lambda s: s.update(step_size=0), ValueError, "step_size must be >= 1"),
    (lambda s: s.update(base_lr=-1.0), ValueError, "base_lr must be >= 0"),
    (lambda s: s.update(gamma="x"), ValueError, "gamma in the state dict"),
])
def test_bad_schedule_states_change_nothing(change, error, message):
    schedule = optim.lr_scheduler.StepLR(optim.SGD([nn.Parameter(START)], lr=0.2), 2)
    schedule.optimizer.step()
    schedule.step()
    state = schedule.state_dict()
    change(state)
    before = schedule.state_dict()
    with pytest.raises(error, match=message):
        schedule.load_state_dict(state)
    assert schedule.state_dict() == before
    with pytest.raises(TypeError, match="mapping"):
        schedule.load_state_dict("schedule.npz")


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_a_gradient_of_the_wrong_shape_stops_the_step_before_any_change(name):
    model, x, y = make_problem(seed=0)
    optimizer = OPTIMIZERS[name](model.parameters())
    train(model, optimizer, x, y, 2)
    before_model, before_state = model.state_dict(), optimizer.state_dict()
    nn.MSELoss()(model(x), y).backward()
    model[2].bias.grad = tg.Tensor(np.ones(3, np.float32))  # the last parameter
    with pytest.raises(ValueError, match=r"parameter 3 has shape \(1,\) but its .grad has "
                                         r"shape \(3,\)"):
        optimizer.step()
    for key, array in model.state_dict().items():
        np.testing.assert_array_equal(array, before_model[key])
    for index, entry in before_state["state"].items():
        for key, value in entry.items():
            np.testing.assert_array_equal(optimizer.state[index][key], value)


def test_the_momentum_buffer_never_aliases_grad_over_several_steps():
    """A buffer that is .grad's array would be scaled by `buffer *= momentum` in place, changing
    the gradient the user sees, and a gradient that accumulates would change the buffer."""
    p = tg.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    optimizer = tg.optim.SGD([p], lr=0.1, momentum=0.9)
    buffer, expected_p = np.zeros(2), p.data.copy()
    for step in range(4):
        (p * p * (step + 1)).sum().backward()
        grad = p.grad.data.copy()
        optimizer.step()
        np.testing.assert_array_equal(p.grad.data, grad)  # step left .grad alone
        buffer = grad if step == 0 else 0.9 * buffer + grad
        expected_p = expected_p - 0.1 * buffer
        np.testing.assert_allclose(p.data, expected_p, rtol=1e-15)
        stored = optimizer.state[0]["momentum_buffer"]
        assert not np.shares_memory(stored, p.grad.data)
        p.grad.data[...] = 1e6  # a user scribbling on .grad must not reach the buffer
        np.testing.assert_allclose(stored, buffer, rtol=1e-15)
        p.zero_grad()


# ------------------------------------------------------------------ state of another optimizer

def assert_unchanged(optimizer, before):
    after = optimizer.state_dict()
    assert after["hyperparameters"] == before["hyperparameters"]
    assert after["state"].keys() == before["state"].keys()
    for index, entry in before["state"].items():
        for key, value in entry.items():
            np.testing.assert_array_equal(after["state"][index][key], value)


@pytest.mark.parametrize("through_files", [False, True], ids=["in_memory", "files"])
@pytest.mark.parametrize("source, target", [("AdamW", "Adam"), ("Adam", "AdamW"),
                                            ("SGD", "RMSprop"), ("RMSprop", "Adam")])
def test_state_of_another_optimizer_class_is_refused_naming_both(source, target, through_files,
                                                                 tmp_path):
    state = trained_optimizer(source).state_dict()
    if through_files:
        tg.save(state, tmp_path / "optimizer.npz")
        state = tg.load(tmp_path / "optimizer.npz")
    optimizer = trained_optimizer(target)
    before = optimizer.state_dict()
    with pytest.raises(ValueError, match=f"written by {source}, but this optimizer is {target}"):
        optimizer.load_state_dict(state)
    assert_unchanged(optimizer, before)


def model_of(sizes):
    rng = np.random.default_rng(0)
    layers = [nn.Dense(a, b, rng=rng) for a, b in zip(sizes, sizes[1:])]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("through_files", [False, True], ids=["in_memory", "files"])
@pytest.mark.parametrize("saved_sizes, sizes, message", [
    ((2, 6, 1), (2, 6, 6, 1), "the state dict is for 4 parameters, but this optimizer has 6"),
    ((2, 6, 6, 1), (2, 6, 1), "the state dict is for 6 parameters, but this optimizer has 4"),
    ((2, 6, 1), (2, 5, 1), r"parameter 0 has shape \(2, 6\) in the state dict, but \(2, 5\)"),
])
def test_state_for_another_number_or_shape_of_parameters_is_refused(saved_sizes, sizes, message,
                                                                     through_files, tmp_path):
    for name in ("SGD", "Adam"):  # with state for every parameter, and (lr only) with none
        source = optim.Adam(model_of(saved_sizes).parameters()) if name == "Adam" else \
            optim.SGD(model_of(saved_sizes).parameters(), lr=0.1)
        source.step()
        state = source.state_dict()
        if through_files:
            tg.save(state, tmp_path / "optimizer.npz")
            state = tg.load(tmp_path / "optimizer.npz")
        optimizer = type(source)(model_of(sizes).parameters(), lr=0.5)
        before = optimizer.state_dict()
        with pytest.raises(ValueError, match=message):
            optimizer.load_state_dict(state)
        assert_unchanged(optimizer, before)
        assert optimizer.lr == 0.5


@pytest.mark.parametrize("through_files", [False, True], ids=["in_memory", "files"])
def test_a_state_dict_written_before_class_and_shapes_were_recorded_still_loads(through_files,
                                                                               tmp_path):
    state = trained_optimizer("Adam").state_dict()
    del state["class"], state["shapes"]
    if through_files:
        tg.save(state, tmp_path / "optimizer.npz")
        state = tg.load(tmp_path / "optimizer.npz")
    model, _, _ = make_problem(seed=0)
    optimizer = optim.Adam(model.parameters())
    optimizer.load_state_dict(state)
    assert optimizer.lr == 0.01 and optimizer.state[0]["step"] == 3
    assert optimizer.state_dict()["class"] == "Adam"  # recorded from now on
    # the rest is still checked: state for a parameter this optimizer lacks
    small = optim.Adam([nn.Parameter(np.ones((2, 6), np.float32))])
    with pytest.raises(KeyError, match="this optimizer has 1 parameters"):
        small.load_state_dict(state)


@pytest.mark.parametrize("change, error, message", [
    (lambda s: s.update({"class": 3}), ValueError, "class in the state dict"),
    (lambda s: s.update(shapes=[1, 2]), ValueError, "shapes in the state dict must map"),
    (lambda s: s["shapes"].update({0: np.array([2.5, 6])}), ValueError,
     "shape of parameter 0"),
    (lambda s: s["shapes"].update({7: s["shapes"].pop(0)}), KeyError,
     "no shape for parameter 0"),
])
def test_a_damaged_class_or_shape_record_is_named_and_changes_nothing(change, error, message):
    state = trained_optimizer("Adam").state_dict()
    change(state)
    optimizer = trained_optimizer("Adam")
    before = optimizer.state_dict()
    with pytest.raises(error, match=message):
        optimizer.load_state_dict(state)
    assert_unchanged(optimizer, before)


# ------------------------------------------------------------------ hyperparameters set later

@pytest.mark.parametrize("make, name, value, error, message", [
    (lambda ps: optim.SGD(ps, lr=0.1), "lr", "x", TypeError, "SGD: lr must be a real number"),
    (lambda ps: optim.SGD(ps, lr=0.1), "lr", -1, ValueError, "SGD: lr must be >= 0, got -1"),
    (lambda ps: optim.SGD(ps, lr=0.1), "lr", None, TypeError, "lr must be a real number"),
    (lambda ps: optim.SGD(ps, lr=0.1), "lr", float("nan"), ValueError, "lr must be >= 0"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), "momentum", 1.0, ValueError,
     r"momentum must be in \[0, 1\)"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True), "momentum", 0.0,
     ValueError, "nesterov=True needs a momentum > 0"),
    (lambda ps: optim.SGD(ps, lr=0.1), "nesterov", "yes", TypeError,
     "nesterov must be True or False"),
    (lambda ps: optim.SGD(ps, lr=0.1), "weight_decay", -1e-4, ValueError, "weight_decay"),
    (lambda ps: optim.Adam(ps), "betas", (0.9, 1.0), ValueError, "Adam: beta2 must be in"),
    (lambda ps: optim.Adam(ps), "betas", 0.9, ValueError, "betas must be a pair"),
    (lambda ps: optim.Adam(ps), "betas", ("0.9", 0.999), TypeError, "beta1 must be a real"),
    (lambda ps: optim.Adam(ps), "eps", -1e-8, ValueError, "Adam: eps must be >= 0"),
    (lambda ps: optim.AdamW(ps), "weight_decay", "0.01", TypeError,
     "AdamW: weight_decay must be a real number"),
    (lambda ps: optim.RMSprop(ps), "alpha", 1.5, ValueError, r"RMSprop: alpha must be in \[0, 1\]"),
    (lambda ps: optim.RMSprop(ps), "momentum", -0.5, ValueError, "momentum"),
])
def test_a_hyperparameter_set_after_construction_is_checked_and_changes_nothing(
        make, name, value, error, message):
    optimizer = make([nn.Parameter(START)])
    before = getattr(optimizer, name)
    with pytest.raises(error, match=message):
        setattr(optimizer, name, value)
    assert getattr(optimizer, name) == before


def test_a_good_hyperparameter_set_later_is_stored_as_the_constructor_stores_it_and_used():
    p = nn.Parameter(START)
    optimizer = optim.Adam([p], lr=0.1, eps=0.0)
    optimizer.lr = np.float32(0.5)
    optimizer.betas = [0.5, 0.9]
    assert type(optimizer.lr) is float and optimizer.betas == (0.5, 0.9)
    p.grad = tg.Tensor(np.ones_like(START))
    optimizer.step()  # Adam's first step moves every entry by lr
    np.testing.assert_allclose(p.data, START - 0.5, rtol=1e-12)
    optimizer.extra_note = "anything"  # other attributes are not hyperparameters
    assert optimizer.extra_note == "anything"


# --------------------------------------------------------------------------- schedule order, names

@pytest.mark.parametrize("make_schedule", [
    lambda o: optim.lr_scheduler.StepLR(o, step_size=2),
    lambda o: optim.lr_scheduler.CosineAnnealingLR(o, T_max=5),
])
def test_a_schedule_stepped_before_the_optimizer_warns_once_as_pytorch(make_schedule):
    optimizer = optim.SGD([nn.Parameter(START)], lr=0.1)
    schedule = make_schedule(optimizer)
    with pytest.warns(UserWarning, match=r"Detected call of `\w+\.step\(\)` before "
                                         r"`optimizer\.step\(\)`.*skips the first value"):
        schedule.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schedule.step()  # once: the schedule is no longer fresh
        in_order = optim.SGD([nn.Parameter(START)], lr=0.1)
        second = make_schedule(in_order)
        in_order.step()
        second.step()
        resumed = make_schedule(optim.SGD([nn.Parameter(START)], lr=0.1))
        resumed.load_state_dict(schedule.state_dict())  # a schedule that has run before
        resumed.step()


def test_param_groups_says_how_tinygrad_nn_spells_it():
    optimizer = optim.Adam([nn.Parameter(START)])
    with pytest.raises(AttributeError, match=r"'Adam' object has no attribute 'param_groups'; "
                                             r".*optimizer\.params.*optimizer\.lr"):
        optimizer.param_groups
    with pytest.raises(AttributeError, match=r"'defaults'; .*optimizer\.lr"):
        optimizer.defaults
    with pytest.raises(AttributeError, match=r"^'Adam' object has no attribute 'momentum'$"):
        optimizer.momentum
    assert not hasattr(optimizer, "param_groups")

"""optim: SGD and Adam against their update rules computed by hand in NumPy, bad
hyperparameters, and state dicts that make a resumed run identical to an uninterrupted one."""
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


def reference_adam(p, grads, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """torch.optim.Adam's rule, written out in NumPy float64; None in grads = no step."""
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


def run(optimizer_class, start, grads, **hyperparameters):
    p = nn.Parameter(start)
    optimizer = optimizer_class([p], **hyperparameters)
    for g in grads:
        p.grad = None if g is None else tg.Tensor(g)
        optimizer.step()
    return p.data


START = np.random.default_rng(42).normal(size=(3, 4))


@pytest.mark.parametrize("hyperparameters", [
    {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True},
    {"lr": 0.1, "weight_decay": 0.01},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
], ids=["plain", "momentum", "nesterov", "weight_decay", "all"])
def test_sgd_matches_the_torch_rule(hyperparameters):
    grads = gradient_sequence(START.shape)
    np.testing.assert_allclose(run(optim.SGD, START, grads, **hyperparameters),
                               reference_sgd(START, grads, **hyperparameters), rtol=1e-12)


@pytest.mark.parametrize("hyperparameters", [
    {"lr": 0.01},
    {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-6},
    {"lr": 0.01, "weight_decay": 0.1},
], ids=["default", "betas_eps", "weight_decay"])
def test_adam_matches_the_torch_rule(hyperparameters):
    grads = gradient_sequence(START.shape)
    expected_kwargs = dict(hyperparameters)
    if "betas" in expected_kwargs:
        expected_kwargs["beta1"], expected_kwargs["beta2"] = expected_kwargs.pop("betas")
    np.testing.assert_allclose(run(optim.Adam, START, grads, **hyperparameters),
                               reference_adam(START, grads, **expected_kwargs), rtol=1e-12)


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
], ids=["SGD", "Adam"])
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
], ids=["SGD", "Adam"])
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
])
def test_bad_hyperparameters_are_refused(make_optimizer, message):
    p = nn.Parameter(START)
    p.grad = tg.Tensor(np.ones_like(START))
    with pytest.raises(ValueError, match=message):
        make_optimizer([p])
    np.testing.assert_array_equal(p.data, START)
    np.testing.assert_array_equal(p.grad.data, np.ones_like(START))


@pytest.mark.parametrize("params", [[], (p for p in [])], ids=["list", "generator"])
@pytest.mark.parametrize("optimizer_class", [optim.Adam, lambda ps: optim.SGD(ps, lr=0.1)])
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


# --------------------------------------------------------------------------- state dicts

OPTIMIZERS = {
    "SGD": lambda params: optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True,
                                    weight_decay=0.01),
    "Adam": lambda params: optim.Adam(params, lr=0.01, betas=(0.8, 0.99), weight_decay=0.01),
}


def make_problem(seed):
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Dense(2, 6, rng=rng), nn.ReLU(), nn.Dense(6, 1, rng=rng))
    x = tg.Tensor(np.random.default_rng(100).normal(size=(16, 2)).astype(np.float32))
    y = np.random.default_rng(101).normal(size=(16, 1)).astype(np.float32)
    return model, x, y


def train(model, optimizer, x, y, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        nn.MSELoss()(model(x), y).backward()
        optimizer.step()


@pytest.mark.parametrize("through_files", [False, True], ids=["in_memory", "files"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_resumed_training_matches_uninterrupted_training_bit_for_bit(name, through_files,
                                                                     tmp_path):
    model, x, y = make_problem(seed=0)
    optimizer = OPTIMIZERS[name](model.parameters())
    train(model, optimizer, x, y, steps=10)
    expected = model.state_dict()

    model, x, y = make_problem(seed=0)
    optimizer = OPTIMIZERS[name](model.parameters())
    train(model, optimizer, x, y, steps=4)
    model_state, optimizer_state = model.state_dict(), optimizer.state_dict()
    if through_files:
        tg.save(model, tmp_path / "model.npz")
        tg.save(optimizer_state, tmp_path / "optimizer.npz")
        model_state = tg.load(tmp_path / "model.npz")
        optimizer_state = tg.load(tmp_path / "optimizer.npz")

    resumed, _, _ = make_problem(seed=1)  # other initial weights, overwritten by the load
    resumed_optimizer = OPTIMIZERS[name](resumed.parameters())
    resumed_optimizer.lr = 123.0  # overwritten too: hyperparameters are part of the state
    resumed.load_state_dict(model_state)
    resumed_optimizer.load_state_dict(optimizer_state)
    train(resumed, resumed_optimizer, x, y, steps=6)
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
    array_name = "momentum_buffer" if name == "SGD" else "exp_avg"
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

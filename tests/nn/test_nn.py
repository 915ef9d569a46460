"""nn: module registration and state, the layers, and every loss against its closed form."""
import warnings

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn


class Net(nn.Module):
    """A sub-module assigned before a parameter: parameters() must still list own ones first."""

    def __init__(self, rng=0):
        super().__init__()
        self.encoder = nn.Dense(2, 3, rng=rng)
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))
        self.layers = nn.Sequential(nn.Dense(3, 4, rng=rng), nn.ReLU(), nn.Dense(4, 1, rng=rng))
        self.note = "not registered"

    def forward(self, x):
        return self.layers(self.encoder(x) * self.scale)


def snapshot(module):
    return {name: p.data.copy() for name, p in module.named_parameters()}


def assert_unchanged(module, before):
    after = snapshot(module)
    assert after.keys() == before.keys()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)


@pytest.fixture
def float64_default():
    tg.set_default_dtype(np.float64)
    yield
    tg.set_default_dtype(np.float32)


# --------------------------------------------------------------------------- Module

def test_named_parameters_own_first_then_submodules_in_assignment_order():
    names = [name for name, _ in Net().named_parameters()]
    assert names == ["scale", "encoder.weight", "encoder.bias", "layers.0.weight",
                     "layers.0.bias", "layers.2.weight", "layers.2.bias"]
    net = Net()
    assert [id(p) for p in net.parameters()] == [id(p) for _, p in net.named_parameters()]
    assert net.encoder.weight is net.parameters()[1]


def test_assigning_a_name_again_keeps_its_place():
    net = Net()
    net.encoder = nn.Dense(2, 3, rng=5)
    net.scale = nn.Parameter(np.zeros(3, dtype=np.float32))
    assert [name for name, _ in net.named_parameters()][:3] == [
        "scale", "encoder.weight", "encoder.bias"]
    assert not net.scale.data.any()


def test_shared_parameters_and_modules_are_listed_once():
    shared = nn.Dense(3, 3, rng=0)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert len(model.parameters()) == 2
    assert len(list(model.modules())) == 3  # the Sequential, the Dense once, the ReLU


def test_only_parameters_and_modules_are_registered():
    net = Net()
    net.plain = tg.Tensor([1.0, 2.0], requires_grad=True)  # a Tensor, not a Parameter
    assert "plain" not in dict(net.named_parameters())
    assert net.note == "not registered"
    net.scale = None  # None takes the name out of the registry
    assert "scale" not in dict(net.named_parameters()) and net.scale is None
    net.scale = nn.Parameter([1.0, 1.0, 1.0])
    assert "scale" in dict(net.named_parameters())
    del net.layers
    assert not any(name.startswith("layers.") for name, _ in net.named_parameters())
    with pytest.raises(AttributeError, match="layers"):
        _ = net.layers


def test_assigning_before_super_init_raises_a_clear_error():
    class Forgetful(nn.Module):
        def __init__(self):
            self.weight = nn.Parameter([1.0])

    with pytest.raises(AttributeError, match=r"super\(\)\.__init__\(\)"):
        Forgetful()


def test_parameter_is_a_tensor_that_requires_grad():
    p = nn.Parameter(np.zeros((2, 3), dtype=np.float32))
    assert isinstance(p, tg.Tensor) and p.requires_grad and p.is_leaf
    assert p.dtype == np.float32 and p.shape == (2, 3)
    assert repr(p).startswith("Parameter containing:\nTensor(")
    with pytest.raises(TypeError):
        nn.Parameter(np.array([1, 2]))  # integers cannot require grad


def test_call_runs_forward_and_zero_grad_sets_none():
    net = Net()
    out = net(tg.Tensor(np.ones((5, 2), dtype=np.float32)))
    assert out.shape == (5, 1)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_train_and_eval_propagate_and_return_self():
    net = Net()
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert net.layers[1].training is False
    assert net.train() is net
    assert all(m.training for m in net.modules())


def test_repr_shows_the_tree_and_settings():
    text = repr(Net())
    assert text.startswith("Net(\n  (encoder): Dense(in_features=2, out_features=3, bias=True)")
    assert "  (layers): Sequential(\n    (0): Dense(in_features=3, out_features=4" in text
    assert "    (1): ReLU()" in text
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"


# --------------------------------------------------------------------------- state dicts

def test_state_dict_is_a_copy_in_parameter_order():
    net = Net()
    state = net.state_dict()
    assert list(state) == [name for name, _ in net.named_parameters()]
    assert all(isinstance(a, np.ndarray) for a in state.values())
    state["scale"][:] = 42.0
    assert not np.any(net.scale.data == 42.0)


def test_state_dict_round_trip_reproduces_the_outputs():
    source, target = Net(rng=1), Net(rng=2)
    x = tg.Tensor(np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32))
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(target(x).numpy(), source(x).numpy())
    # Loading copies the values in: later changes to the source do not leak.
    source.scale.data += 1
    assert not np.array_equal(target.scale.data, source.scale.data)


def bad_state_dicts():
    good = Net(rng=1).state_dict()
    missing = {k: v for k, v in good.items() if k != "layers.2.bias"}
    unexpected = {**good, "layers.3.weight": np.zeros((1, 1), np.float32)}
    shape = {**good, "layers.2.bias": np.zeros(2, np.float32)}  # the last key is wrong
    dtype = {**good, "layers.2.bias": good["layers.2.bias"].astype(np.float64)}
    return [
        pytest.param(missing, KeyError, "layers.2.bias", id="missing"),
        pytest.param(unexpected, KeyError, "layers.3.weight", id="unexpected"),
        pytest.param(shape, ValueError, r"layers\.2\.bias.*\(2,\).*\(1,\)", id="shape"),
        pytest.param(dtype, ValueError, r"layers\.2\.bias.*float64.*float32", id="dtype"),
    ]


@pytest.mark.parametrize("state, error, message", bad_state_dicts())
def test_strict_load_failures_change_nothing(state, error, message):
    net = Net(rng=2)
    before = snapshot(net)
    with pytest.raises(error, match=message):
        net.load_state_dict(state)
    assert_unchanged(net, before)


def test_non_strict_load_takes_the_common_keys_but_still_checks_them():
    source, net = Net(rng=1), Net(rng=2)
    state = {k: v for k, v in source.state_dict().items() if k.startswith("layers.")}
    state["extra"] = np.zeros(1)
    result = net.load_state_dict(state, strict=False)
    assert result.missing_keys == ["scale", "encoder.weight", "encoder.bias"]
    assert result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(net.layers[0].weight.data, source.layers[0].weight.data)
    assert not np.array_equal(net.encoder.weight.data, source.encoder.weight.data)

    before = snapshot(net)
    state["layers.2.weight"] = np.zeros((5, 5), np.float32)
    with pytest.raises(ValueError, match="layers.2.weight"):
        net.load_state_dict(state, strict=False)
    assert_unchanged(net, before)


# --------------------------------------------------------------------------- Dense

def test_dense_shapes_dtype_and_zero_bias():
    layer = nn.Dense(3, 5, rng=0)
    assert layer.weight.shape == (3, 5) and layer.bias.shape == (5,)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    assert not layer.bias.data.any()
    x = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    y = layer(tg.Tensor(x))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), x @ layer.weight.data + layer.bias.data, rtol=1e-6)
    assert nn.Linear is nn.Dense
    assert nn.Dense(3, 5, bias=False).bias is None
    assert [n for n, _ in nn.Dense(3, 5, bias=False).named_parameters()] == ["weight"]


def test_dense_follows_the_default_dtype(float64_default):
    layer = nn.Dense(2, 2, rng=0)
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64


@pytest.mark.parametrize("init, expected_std", [
    ("he", np.sqrt(2 / 400)), ("xavier", np.sqrt(2 / 700)), ("normal", 0.01)])
def test_dense_initial_weight_statistics(init, expected_std):
    weight = nn.Dense(400, 300, init=init, rng=0).weight.data
    assert abs(weight.mean()) < 5 * expected_std / np.sqrt(weight.size)  # 5 standard errors
    assert weight.std() == pytest.approx(expected_std, rel=0.02)


def test_dense_rng_reproduces_and_bad_init_is_refused():
    a = nn.Dense(4, 4, rng=np.random.default_rng(7)).weight.data
    b = nn.Dense(4, 4, rng=np.random.default_rng(7)).weight.data
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="init must be one of"):
        nn.Dense(4, 4, init="uniform")


def test_dense_wrong_input_width_names_expected_and_got():
    layer = nn.Dense(3, 2, rng=0)
    with pytest.raises(ValueError, match=r"last dimension 3, got shape \(4, 2\)"):
        layer(tg.Tensor(np.ones((4, 2), dtype=np.float32)))


def test_dense_gradient_matches_the_formula():
    layer = nn.Dense(3, 2, rng=0)
    x = tg.Tensor(np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32),
                  requires_grad=True)
    upstream = np.random.default_rng(2).normal(size=(5, 2)).astype(np.float32)
    layer(x).backward(upstream)
    np.testing.assert_allclose(layer.weight.grad.numpy(), x.data.T @ upstream, rtol=1e-5)
    np.testing.assert_allclose(layer.bias.grad.numpy(), upstream.sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), upstream @ layer.weight.data.T, rtol=1e-5)


# --------------------------------------------------------------------------- Sequential

def test_sequential_indexing_length_iteration_and_slices():
    first, act, last = nn.Dense(2, 3, rng=0), nn.Tanh(), nn.Dense(3, 1, rng=0)
    model = nn.Sequential(first, act, last)
    assert len(model) == 3 and list(model) == [first, act, last]
    assert model[0] is first and model[-1] is last
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [first, act]
    x = tg.Tensor(np.ones((2, 2), dtype=np.float32))
    np.testing.assert_array_equal(model(x).numpy(), last(act(first(x))).numpy())
    with pytest.raises(TypeError, match="item 1 is a ufunc"):
        nn.Sequential(first, np.tanh)


# --------------------------------------------------------------------------- activations

@pytest.mark.parametrize("module, reference", [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.LeakyReLU(0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.Tanh(), np.tanh),
    (nn.Softmax(axis=0), lambda x: np.exp(x) / np.exp(x).sum(axis=0)),
    (nn.Identity(), lambda x: x),
], ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "")
def test_activation_modules(module, reference):
    x = np.random.default_rng(0).normal(size=(4, 3))
    np.testing.assert_allclose(module(tg.Tensor(x)).numpy(), reference(x), rtol=1e-12)


# --------------------------------------------------------------------------- Dropout

def test_dropout_scales_survivors_and_draws_a_new_mask_each_call():
    dropout = nn.Dropout(0.25, rng=0)
    x = tg.Tensor(np.ones((200, 200), dtype=np.float32), requires_grad=True)
    first = dropout(x)
    kept = first.numpy() != 0
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first.numpy()[kept], np.float32(1 / 0.75))
    assert kept.mean() == pytest.approx(0.75, abs=0.01)
    first.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), first.numpy())  # the gradient is the mask
    second = dropout(x).numpy()
    assert not np.array_equal(second != 0, kept)


def test_dropout_is_the_identity_in_eval_mode_and_reproducible_from_rng():
    x = tg.Tensor(np.arange(12.0).reshape(3, 4))
    model = nn.Sequential(nn.Dropout(0.5, rng=1))
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), x.numpy())
    model.train()
    np.testing.assert_array_equal(nn.Dropout(0.5, rng=3)(x).numpy(),
                                  nn.Dropout(0.5, rng=3)(x).numpy())
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_probability_out_of_range(p):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        nn.Dropout(p)


# --------------------------------------------------------------------------- losses

def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


# name: (loss class, prediction maker, target maker, value(p, t), d value / d p (p, t))
ELEMENTWISE_LOSSES = {
    "MSELoss": (nn.MSELoss, lambda r: r.normal(size=(6, 3)), lambda r: r.normal(size=(6, 3)),
                lambda p, t: (p - t) ** 2, lambda p, t: 2 * (p - t)),
    "L1Loss": (nn.L1Loss, lambda r: r.normal(size=(6, 3)), lambda r: r.normal(size=(6, 3)),
               lambda p, t: np.abs(p - t), lambda p, t: np.sign(p - t)),
    "BCELoss": (nn.BCELoss, lambda r: r.uniform(0.05, 0.95, (6, 3)),
                lambda r: r.integers(0, 2, (6, 3)).astype(float),
                lambda p, t: -(t * np.log(p) + (1 - t) * np.log(1 - p)),
                lambda p, t: (p - t) / (p * (1 - p))),
    "BCEWithLogitsLoss": (nn.BCEWithLogitsLoss, lambda r: r.normal(scale=3, size=(6, 3)),
                          lambda r: r.uniform(0, 1, (6, 3)),
                          lambda x, t: -(t * np.log(sigmoid(x)) + (1 - t) * np.log(sigmoid(-x))),
                          lambda x, t: sigmoid(x) - t),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", list(ELEMENTWISE_LOSSES))
def test_elementwise_loss_value_and_gradient(name, reduction, float64_default):
    loss_class, make_prediction, make_target, value, derivative = ELEMENTWISE_LOSSES[name]
    rng = np.random.default_rng(0)
    p_array, t_array = make_prediction(rng), make_target(rng)
    prediction = tg.Tensor(p_array, requires_grad=True)
    loss = loss_class(reduction=reduction)(prediction, t_array)
    expected, slope = value(p_array, t_array), derivative(p_array, t_array)
    if reduction == "mean":
        expected, slope = expected.mean(), slope / p_array.size
        loss.backward()
    elif reduction == "sum":
        expected = expected.sum()
        loss.backward()
    else:
        upstream = rng.normal(size=p_array.shape)  # weights each element's loss
        loss.backward(upstream)
        slope = slope * upstream
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(prediction.grad.numpy(), slope, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("labels_as", [np.asarray, tg.Tensor])
def test_cross_entropy_value_and_gradient(reduction, labels_as, float64_default):
    rng = np.random.default_rng(0)
    logits_array = rng.normal(scale=2, size=(5, 4))
    labels = np.array([0, 3, 1, 3, 2])
    logits = tg.Tensor(logits_array, requires_grad=True)
    loss = nn.CrossEntropyLoss(reduction=reduction)(logits, labels_as(labels))
    per_sample = -log_softmax(logits_array)[np.arange(5), labels]
    slope = np.exp(log_softmax(logits_array)) - np.eye(4)[labels]
    if reduction == "mean":
        expected, slope = per_sample.mean(), slope / 5
        loss.backward()
    elif reduction == "sum":
        expected = per_sample.sum()
        loss.backward()
    else:
        expected = per_sample
        upstream = rng.normal(size=5)
        loss.backward(upstream)
        slope = slope * upstream[:, None]
    assert loss.shape == np.shape(expected)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(logits.grad.numpy(), slope, rtol=1e-8, atol=1e-12)


def test_losses_keep_float32_whatever_the_target_dtype():
    prediction = tg.Tensor(np.full((4, 1), 0.5, dtype=np.float32), requires_grad=True)
    for loss_fn in (nn.MSELoss(), nn.L1Loss(), nn.BCELoss(), nn.BCEWithLogitsLoss()):
        for target in (np.ones((4, 1)), np.ones((4, 1), dtype=np.int64),
                       tg.Tensor(np.ones((4, 1), dtype=np.int64))):
            loss = loss_fn(prediction, target)
            assert loss.dtype == np.float32, (loss_fn, target)
    logits = tg.Tensor(np.zeros((3, 2), dtype=np.float32), requires_grad=True)
    assert nn.CrossEntropyLoss()(logits, np.array([0, 1, 1])).dtype == np.float32


def test_bce_with_logits_at_zero_has_gradient_one_half_minus_target():
    x = tg.Tensor(np.zeros(3), requires_grad=True)
    nn.BCEWithLogitsLoss(reduction="sum")(x, np.array([0.0, 1.0, 0.25])).backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.5, -0.5, 0.25])


def test_bce_on_exact_zero_and_one_probabilities_is_finite():
    p = tg.Tensor(np.array([0.0, 1.0, 0.0, 1.0], dtype=np.float32), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = nn.BCELoss()(p, np.array([0.0, 1.0, 1.0, 0.0]))
        loss.backward()
    assert np.isfinite(loss.item()) and loss.item() > 5  # two confidently wrong predictions
    assert np.all(np.isfinite(p.grad.numpy()))


EXTREME = np.array([[-1e4, 1e4, 0.0], [1e4, -1e4, 3.0]], dtype=np.float32)


@pytest.mark.parametrize("loss_fn, make_input, target", [
    (nn.BCEWithLogitsLoss(), lambda x: x, np.array([[1, 0, 1], [0, 1, 0]])),
    (nn.BCELoss(), lambda x: x.sigmoid(), np.array([[1, 0, 1], [0, 1, 0]])),
    (nn.MSELoss(), lambda x: x, np.zeros((2, 3))),
    (nn.L1Loss(), lambda x: x, np.zeros((2, 3))),
    (nn.CrossEntropyLoss(), lambda x: x, np.array([0, 1])),
], ids=["BCEWithLogitsLoss", "BCELoss(sigmoid)", "MSELoss", "L1Loss", "CrossEntropyLoss"])
def test_losses_are_finite_at_plus_minus_1e4_without_warnings(loss_fn, make_input, target):
    x = tg.Tensor(EXTREME, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = loss_fn(make_input(x), target)
        loss.backward()
    assert np.isfinite(loss.item())
    assert np.all(np.isfinite(x.grad.numpy()))


def test_bce_with_logits_is_exact_for_large_logits():
    x = tg.Tensor(EXTREME[0], requires_grad=True)  # -1e4, 1e4, 0 against 1, 0, 1
    loss = nn.BCEWithLogitsLoss(reduction="none")(x, np.array([1.0, 0.0, 1.0]))
    np.testing.assert_allclose(loss.numpy(), [1e4, 1e4, np.log(2)], rtol=1e-6)
    loss.backward(np.ones(3, dtype=np.float32))
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, 1.0, -0.5])


@pytest.mark.parametrize("loss_class", [nn.MSELoss, nn.L1Loss, nn.BCELoss, nn.BCEWithLogitsLoss])
def test_shape_mismatch_names_both_shapes(loss_class):
    prediction = tg.Tensor(np.full((4, 1), 0.5), requires_grad=True)
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        loss_class()(prediction, np.ones(4))
    assert prediction.grad is None


@pytest.mark.parametrize("loss_class", [nn.MSELoss, nn.L1Loss, nn.BCELoss, nn.BCEWithLogitsLoss,
                                        nn.CrossEntropyLoss])
def test_unknown_reduction(loss_class):
    with pytest.raises(ValueError, match="reduction"):
        loss_class(reduction="average")


@pytest.mark.parametrize("labels, error, message", [
    (np.array([0.0, 1.0, 2.0]), TypeError, "integer"),
    (tg.Tensor([0.0, 1.0, 2.0]), TypeError, "integer"),
    (np.array([0, 3, 1]), ValueError, r"label 3 is outside \[0, 3\)"),
    (np.array([0, 1, -1]), ValueError, r"label -1 is outside \[0, 3\)"),
    (np.array([[0, 1, 2]]), ValueError, r"\(1, 3\).*expected \(3,\)"),
])
def test_cross_entropy_bad_labels(labels, error, message):
    logits = tg.Tensor(np.zeros((3, 3), dtype=np.float32), requires_grad=True)
    with pytest.raises(error, match=message):
        nn.CrossEntropyLoss()(logits, labels)
    assert logits.grad is None


def test_cross_entropy_needs_two_dimensional_logits():
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        nn.CrossEntropyLoss()(tg.Tensor(np.zeros(3), requires_grad=True), np.array([0, 1, 2]))

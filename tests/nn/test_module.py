"""nn.Module: registration, traversal, modes, buffers and state dicts."""
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


@pytest.mark.parametrize("state, message", [
    ("model.npz", "mapping.*got str: pass tg.load"),
    ([("scale", np.ones(3))], "mapping.*got list"),
])
def test_load_state_dict_of_something_not_a_mapping(state, message):
    net = Net(rng=2)
    before = snapshot(net)
    with pytest.raises(TypeError, match=message):
        net.load_state_dict(state)
    assert_unchanged(net, before)


# --------------------------------------------------------------------------- assignment

@pytest.mark.parametrize("value", [
    tg.Tensor([1.0, 2.0, 3.0]), np.ones(3, np.float32), 0.5, "replaced", nn.ReLU()])
def test_assigning_a_non_parameter_to_a_parameter_raises_and_changes_nothing(value):
    layer = nn.Dense(2, 3, rng=0)
    bias = layer.bias
    with pytest.raises(TypeError, match=rf"cannot assign a {type(value).__name__} to 'bias', "
                                        r"a Parameter of Dense.*nn\.Parameter, or None"):
        layer.bias = value
    assert layer.bias is bias and "bias" in dict(layer.named_parameters())


def test_the_silent_unregistering_of_issue_9_now_raises():
    layer = nn.Dense(2, 3, rng=0)
    with pytest.raises(TypeError, match="'weight'"):
        layer.weight = layer.weight - 0.1
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]


def test_assigning_a_parameter_replaces_and_none_removes():
    layer = nn.Dense(2, 3, rng=0)
    new_bias = nn.Parameter(np.ones(3, np.float32))
    layer.bias = new_bias
    assert layer.bias is new_bias and layer.parameters()[1] is new_bias
    layer.bias = None
    assert layer.bias is None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert list(layer.state_dict()) == ["weight"]
    out = layer(np.ones((1, 2), np.float32))
    np.testing.assert_array_equal(out.numpy(), np.ones((1, 2), np.float32) @ layer.weight.data)


# --------------------------------------------------------------------------- buffers

class Counter(nn.Module):
    """A module with one parameter and two buffers, inside a container."""

    def __init__(self):
        super().__init__()
        self.register_buffer("count", np.zeros((), np.int64))
        self.weight = nn.Parameter(np.ones(2, np.float32))
        self.register_buffer("total", np.zeros(2, np.float32))


def counters():
    outer = nn.Sequential(Counter(), nn.ReLU(), Counter())
    outer.register_buffer("scale", np.full(1, 2.0, np.float32))
    return outer


def test_buffers_are_state_but_not_parameters():
    model = counters()
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "2.weight"]
    assert [name for name, _ in model.named_buffers()] == [
        "scale", "0.count", "0.total", "2.count", "2.total"]
    assert all(isinstance(b, np.ndarray) for b in model.buffers())
    assert list(model.state_dict()) == ["scale", "0.weight", "0.count", "0.total", "2.weight",
                                        "2.count", "2.total"]
    assert model.scale.dtype == np.float32 and model[0].count.shape == ()
    state = model.state_dict()
    state["0.total"][:] = 7.0  # a copy
    assert not model[0].total.any()


def test_register_buffer_copies_and_assignment_replaces_the_values():
    array = np.arange(3.0)
    module = nn.Module()
    module.register_buffer("values", array)
    array[0] = 100.0
    assert module.values[0] == 0.0
    module.values = np.full(3, 5.0)
    np.testing.assert_array_equal(module.values, [5.0, 5.0, 5.0])
    module.values = None
    assert "values" not in dict(module.named_buffers()) and module.values is None


def test_buffers_round_trip_through_load_state_dict_and_files(tmp_path):
    source, target = counters(), counters()
    source[0].total[:] = [1.5, 2.5]
    source[2].count[...] = 4
    tg.save(source, tmp_path / "model.npz")
    target.load_state_dict(tg.load(tmp_path / "model.npz"))
    np.testing.assert_array_equal(target[0].total, [1.5, 2.5])
    assert target[2].count == 4


@pytest.mark.parametrize("change, error, message", [
    (lambda s: s.pop("0.total"), KeyError, "missing keys.*0.total"),
    (lambda s: s.update({"0.total": np.zeros(3, np.float32)}), ValueError,
     r"'0.total' has shape \(3,\)"),
    (lambda s: s.update({"2.count": np.zeros((), np.float64)}), ValueError,
     "'2.count' has dtype float64"),
])
def test_bad_buffer_values_in_a_state_dict_change_nothing(change, error, message):
    model = counters()
    model[0].total[:] = 3.0
    state = counters().state_dict()
    state["0.weight"] = np.full(2, 9.0, np.float32)  # would be loaded first, if anything were
    change(state)
    before = model.state_dict()
    with pytest.raises(error, match=message):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


@pytest.mark.parametrize("call, error, message", [
    (lambda m: m.register_buffer("a.b", np.zeros(1)), ValueError, "without '.'"),
    (lambda m: m.register_buffer("weight", np.zeros(1)), KeyError, "already has an attribute"),
    (lambda m: m.register_buffer("forward", np.zeros(1)), KeyError, "'forward'"),
    (lambda m: m.register_buffer("extra", [1.0]), TypeError, "NumPy array, got list"),
    (lambda m: m.register_buffer("extra", np.array(["a"])), TypeError, "dtype <U1"),
    (lambda m: setattr(m, "total", np.zeros(3, np.float32)), ValueError,
     r"shape \(3,\) and dtype float32 to the buffer 'total'.*shape \(2,\)"),
    (lambda m: setattr(m, "total", np.zeros(2, np.float64)), ValueError, "dtype float64"),
    (lambda m: setattr(m, "total", tg.Tensor([1.0, 2.0])), TypeError,
     "cannot assign a Tensor to 'total', a buffer of Counter"),
    (lambda m: setattr(m, "total", 1.0), TypeError, "NumPy array of shape"),
])
def test_buffer_mistakes_change_nothing(call, error, message):
    module = Counter()
    module.total[:] = [1.0, 2.0]
    with pytest.raises(error, match=message):
        call(module)
    np.testing.assert_array_equal(module.total, [1.0, 2.0])
    assert [name for name, _ in module.named_buffers()] == ["count", "total"]
    assert "extra" not in module.__dict__


def test_register_buffer_before_super_init():
    class Forgetful(nn.Module):
        def __init__(self):
            self.register_buffer("mean", np.zeros(1))

    with pytest.raises(AttributeError, match=r"super\(\)\.__init__\(\)"):
        Forgetful()


@pytest.mark.parametrize("call, message", [
    (lambda net: setattr(net, "layers", 3), "cannot assign a int to 'layers', a sub-module of "
                                            "Net: assign a Module, or None"),
    (lambda net: net.train("no"), "mode must be True or False, got 'no'"),
    (lambda net: net.load_state_dict(net.state_dict(), strict="yes"), "strict must be True"),
])
def test_more_module_mistakes_change_nothing(call, message):
    net = Net()
    layers = net.layers
    before = snapshot(net)
    with pytest.raises(TypeError, match=message):
        call(net)
    assert net.layers is layers and net.training
    assert_unchanged(net, before)


# --------------------------------------------------------------------------- random generators

class Noisy(nn.Module):
    """Two layers that draw, one sharing its generator with a third module."""

    def __init__(self, seed):
        super().__init__()
        self.dense = nn.Dense(3, 3, rng=seed)
        self.drop = nn.Dropout(0.5, rng=seed + 1)
        self.again = nn.Sequential(nn.Dropout(0.25, rng=seed + 2))
        self.shared = self.again[0]

    def forward(self, x):
        return self.again(self.drop(self.dense(x)))


def test_state_dict_holds_each_generator_once_after_the_buffers():
    model = Noisy(0)
    assert list(model.state_dict()) == ["dense.weight", "dense.bias", "drop.rng",
                                        "again.0.rng"]
    state = model.state_dict()["drop.rng"]
    # a check of the kind (PCG64), then two words for each of its 4 integers (128-bit ones)
    assert state.dtype == np.uint64 and state.shape == (9,)


def test_a_loaded_generator_state_continues_the_stream_bit_for_bit():
    model, other = Noisy(0), Noisy(10)
    x = tg.Tensor(np.ones((8, 3), np.float32))
    model(x)
    state = model.state_dict()
    expected = model(x).numpy()
    assert not np.array_equal(other(x).numpy(), expected)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other(x).numpy(), expected)
    assert other.shared is other.again[0]  # the generator was set in place, not replaced


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.MT19937, np.random.Philox,
                                           np.random.SFC64, np.random.PCG64DXSM])
def test_every_kind_of_bit_generator_round_trips(bit_generator):
    source = nn.Dropout(0.5, rng=np.random.Generator(bit_generator(1)))
    target = nn.Dropout(0.5, rng=np.random.Generator(bit_generator(2)))
    source.rng.random(5)
    target.load_state_dict(source.state_dict())
    np.testing.assert_array_equal(target.rng.random(100), source.rng.random(100))


def generator_state_mistakes():
    good = nn.Dropout(0.5, rng=0).state_dict()["rng"]
    mt = nn.Dropout(0.5, rng=np.random.Generator(np.random.MT19937(0))).state_dict()["rng"]
    return [
        pytest.param({"rng": good.astype(np.int64)}, ValueError,
                     r"'rng' is the state of a random generator \(PCG64\), a uint64 array of "
                     r"shape \(9,\); the state dict has an array of shape \(9,\) and dtype "
                     r"int64", id="dtype"),
        pytest.param({"rng": mt}, ValueError, r"shape \(627,\)", id="another kind"),
        pytest.param({"rng": good[:5]}, ValueError, r"shape \(5,\)", id="short"),
        # word 1 is the high half of PCG64's has_uint32 flag: 2**64 is no flag
        pytest.param({"rng": np.where(np.arange(9) == 1, np.uint64(1), good)}, ValueError,
                     r"'rng' is not a valid state of a random generator", id="refused value"),
        pytest.param({}, KeyError, r"missing keys \['rng'\], unexpected keys \[\]; 'rng' is the "
                                   r"state of a random generator.*strict=False", id="missing"),
    ]


@pytest.mark.parametrize("state, error, message", generator_state_mistakes())
def test_bad_generator_states_change_nothing(state, error, message):
    dropout = nn.Dropout(0.5, rng=3)
    before = dropout.rng.bit_generator.state
    with pytest.raises(error, match=message):
        dropout.load_state_dict(state)
    assert dropout.rng.bit_generator.state == before


def test_a_whole_checkpoint_given_to_load_state_dict_says_to_pass_its_part():
    net = Net()
    checkpoint = {"model": net.state_dict(), "epoch": 3}
    before = snapshot(net)
    with pytest.raises(KeyError, match=r"'model' holds a dict: to load a module from a "
                                       r"checkpoint that holds several state dicts, pass its "
                                       r"part, load_state_dict\(checkpoint\['model'\]\)"):
        net.load_state_dict(checkpoint)
    assert_unchanged(net, before)


# --------------------------------------------------------------------------- dtypes

def test_float64_data_into_a_float32_model_warns_once_per_model():
    model = nn.Sequential(nn.Dense(2, 3, rng=0), nn.ReLU(), nn.Dense(3, 1, rng=0))
    x = np.ones((4, 2))
    with pytest.warns(UserWarning) as caught:
        model(x)
        model(x)
        model[0](x)
        model(tg.Tensor(x))
    assert len(caught) == 1
    assert str(caught[0].message) == (
        "Sequential has float32 parameters but was called with float64 input, so NumPy "
        "computes it in float64 (slower, and the outputs are float64). Convert the data once, "
        "X.astype(np.float32), or build the model in float64 (tg.set_default_dtype(np.float64) "
        "first). This warning is shown once per model.")
    assert caught[0].filename == __file__  # the line that called the model
    with pytest.warns(UserWarning, match="Dense has float32"):
        nn.Dense(2, 3, rng=0)(x)  # another model warns too


def test_matching_dtypes_and_integer_indices_do_not_warn(recwarn):
    nn.Dense(2, 3, rng=0)(np.ones((4, 2), np.float32))
    nn.Embedding(4, 2, rng=0)(np.array([0, 3]))
    nn.MSELoss()(tg.Tensor(np.ones(3)), np.ones(3))  # no parameters: nothing to compare with
    previous = tg.get_default_dtype()
    tg.set_default_dtype(np.float64)
    try:
        nn.Dense(2, 3, rng=0)(np.ones((4, 2)))
    finally:
        tg.set_default_dtype(previous)
    assert len(recwarn) == 0

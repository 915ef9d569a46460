"""save/load: round trips, the path written exactly as given, atomic replacement, no pickle."""
import os
import pickle
import zipfile

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn, serialization


def small_model(seed=0):
    return nn.Sequential(nn.Dense(2, 3, rng=seed), nn.ReLU(), nn.Dense(3, 1, rng=seed))


def test_module_round_trip_keeps_names_values_and_dtypes(tmp_path):
    model = small_model()
    tg.save(model, tmp_path / "model.npz")
    state = tg.load(tmp_path / "model.npz")
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(state[name], array)
        assert state[name].dtype == array.dtype == np.float32
    other = small_model(seed=1)
    other.load_state_dict(state)
    x = tg.Tensor(np.ones((2, 2), dtype=np.float32))
    np.testing.assert_array_equal(other(x).numpy(), model(x).numpy())


@pytest.mark.parametrize("filename", ["weights", "weights.bin", "weights.npz"])
@pytest.mark.parametrize("as_path", [str, lambda p: p], ids=["str", "Path"])
def test_the_path_is_written_exactly_as_given(tmp_path, filename, as_path):
    target = tmp_path / filename
    tg.save(small_model(), as_path(target))
    assert sorted(os.listdir(tmp_path)) == [filename]  # no ".npz" added, no temporary left
    assert set(tg.load(as_path(target))) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_a_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "model.npz"
    tg.save(small_model(), target)
    old_bytes = target.read_bytes()

    calls = []

    def write_then_fail(member, array, allow_pickle):
        calls.append(array.shape)
        if len(calls) == 3:  # two arrays are already in the new archive
            raise OSError("disk full")
        return original_write(member, array, allow_pickle=allow_pickle)

    original_write = np.lib.format.write_array
    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        tg.save(small_model(seed=5), target)
    assert target.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["model.npz"]


def test_unsaveable_values_are_refused_before_anything_is_written(tmp_path):
    target = tmp_path / "state.npz"
    tg.save({"a": np.ones(2)}, target)
    old_bytes = target.read_bytes()
    with pytest.raises(ValueError, match="'b.inner'.*pickle"):
        tg.save({"a": np.zeros(2), "b": {"inner": [object()]}}, target)
    with pytest.raises(TypeError, match="Module or a state dict"):
        tg.save([np.ones(2)], target)
    assert target.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["state.npz"]


def test_load_refuses_a_pickle_file(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"weight": np.ones(2)}))
    with pytest.raises(ValueError, match="pickled data"):
        tg.load(path)


def test_load_refuses_object_arrays_inside_an_npz(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, fine=np.ones(2), evil=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="'evil' is an object array"):
        tg.load(path)


def test_load_refuses_a_single_npy_array(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.ones(3))
    with pytest.raises(ValueError, match="single array"):
        tg.load(path)
    np.save(tmp_path / "objects.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickled data"):
        tg.load(tmp_path / "objects.npy")


def test_nested_state_is_stored_under_dotted_names(tmp_path):
    nested = {"state": {0: {"step": 3, "exp_avg": np.ones(2, np.float32)}},
              "hyperparameters": {"lr": 0.1, "betas": (0.9, 0.999), "nesterov": True}}
    tg.save(nested, tmp_path / "opt.npz")
    with zipfile.ZipFile(tmp_path / "opt.npz") as archive:
        assert sorted(archive.namelist()) == sorted([
            "state.0.step.npy", "state.0.exp_avg.npy", "hyperparameters.lr.npy",
            "hyperparameters.betas.npy", "hyperparameters.nesterov.npy"])
    flat = tg.load(tmp_path / "opt.npz")
    assert flat["state.0.step"] == 3 and flat["hyperparameters.nesterov"].dtype == bool
    back = serialization.unflatten(flat)
    np.testing.assert_array_equal(back["state"]["0"]["exp_avg"], np.ones(2))
    np.testing.assert_array_equal(back["hyperparameters"]["betas"], [0.9, 0.999])


def test_names_that_are_numpy_savez_keywords_are_fine(tmp_path):
    tg.save({"file": np.ones(1), "allow_pickle": np.zeros(1)}, tmp_path / "odd.npz")
    assert set(tg.load(tmp_path / "odd.npz")) == {"file", "allow_pickle"}


def test_flatten_and_unflatten_refuse_ambiguous_names():
    with pytest.raises(ValueError, match="a.b"):
        serialization.flatten({"a.b": 1, "a": {"b": 2}})
    with pytest.raises(ValueError, match="a.b"):
        serialization.unflatten({"a": 1, "a.b": 2})
    assert serialization.unflatten(serialization.flatten({"x": {"y": {"z": 1}}, "w": 2})) == {
        "x": {"y": {"z": 1}}, "w": 2}

"""save/load: round trips, the path written exactly as given, atomic replacement, no pickle."""
import gc
import os
import pickle
import re
import warnings
import zipfile

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn, optim, serialization


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
    with pytest.raises(ValueError, match="objects.npy' is not an .npz.*single array"):
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


def test_flatten_and_unflatten_take_mappings():
    with pytest.raises(TypeError, match="flatten takes a dict, got list"):
        serialization.flatten([1])
    with pytest.raises(TypeError, match="unflatten takes a mapping, got str"):
        serialization.unflatten("state.npz")


def test_flatten_and_unflatten_refuse_ambiguous_names():
    with pytest.raises(ValueError, match="a.b"):
        serialization.flatten({"a.b": 1, "a": {"b": 2}})
    with pytest.raises(ValueError, match="a.b"):
        serialization.unflatten({"a": 1, "a.b": 2})
    assert serialization.unflatten(serialization.flatten({"x": {"y": {"z": 1}}, "w": 2})) == {
        "x": {"y": {"z": 1}}, "w": 2}


def valid_archive_bytes(tmp_path):
    tg.save(small_model(), tmp_path / "good.npz")
    return (tmp_path / "good.npz").read_bytes()


@pytest.mark.parametrize("content, message", [
    (lambda good: b"weight,bias\n0.1,0.2\n", r"it starts with b'weight'"),
    (lambda good: b"", "it is empty"),
    (lambda good: good[: len(good) // 2], "truncated or damaged"),
    (lambda good: good[:10], "truncated or damaged"),
    (lambda good: good[:-30], "truncated or damaged"),
    (lambda good: b"PK\x03\x04" + b"\x00" * 40, "truncated or damaged"),
])
def test_load_of_a_file_that_is_not_a_state_dict_names_the_path(tmp_path, content, message):
    path = tmp_path / "model.npz"
    path.write_bytes(content(valid_archive_bytes(tmp_path)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no unclosed-file ResourceWarning either
        with pytest.raises(ValueError, match=f"load: '{re.escape(str(path))}' is not"
                                             f".*{message}"):
            tg.load(path)
        gc.collect()


def test_load_of_a_damaged_member_names_the_path_and_the_entry(tmp_path):
    good = bytearray(valid_archive_bytes(tmp_path))
    at = good.index(b"\x93NUMPY")
    good[at:at + 6] = b"XXXXXX"  # the first member's .npy header
    (tmp_path / "bad.npz").write_bytes(bytes(good))
    with pytest.raises(ValueError, match="bad.npz.*(entry '0.weight'|truncated or damaged)"):
        tg.load(tmp_path / "bad.npz")


def test_save_into_a_missing_directory_names_the_users_path(tmp_path):
    target = tmp_path / "missing" / "model.npz"
    with pytest.raises(FileNotFoundError, match=f"cannot write '{re.escape(str(target))}'"
                                                ".*does not exist") as info:
        tg.save(small_model(), target)
    assert ".tmp" not in str(info.value)
    assert os.listdir(tmp_path) == []


def test_save_errors_from_the_system_name_the_users_path(tmp_path):
    target = tmp_path / "folder"
    target.mkdir()  # os.replace cannot put a file where a directory is
    with pytest.raises(OSError, match=f"cannot write '{re.escape(str(target))}'") as info:
        tg.save(small_model(), target)
    assert ".tmp" not in str(info.value)
    assert os.listdir(tmp_path) == ["folder"] and os.listdir(target) == []


@pytest.mark.parametrize("call", [lambda: tg.save(small_model(), 3), lambda: tg.load(None)])
def test_a_path_that_is_not_a_path(call):
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got"):
        call()


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        tg.load(tmp_path / "nothing.npz")


def test_optimizers_and_schedules_save_directly(tmp_path):
    model = small_model()
    optimizer = optim.Adam(model.parameters())
    schedule = optim.lr_scheduler.StepLR(optimizer, 2)
    tg.save(optimizer, tmp_path / "optimizer.npz")
    tg.save(schedule, tmp_path / "schedule.npz")
    assert set(tg.load(tmp_path / "optimizer.npz")) == {
        "class", "shapes.0", "shapes.1", "shapes.2", "shapes.3", "hyperparameters.lr",
        "hyperparameters.betas", "hyperparameters.eps", "hyperparameters.weight_decay"}
    assert tg.load(tmp_path / "schedule.npz")["step_size"] == 2


def test_serialization_and_optim_do_not_import_nn():
    # optim reads flat state dicts through serialization.unflatten: neither may need nn
    for module in (serialization, optim.optimizers, optim.state, optim.lr_scheduler):
        with open(module.__file__) as file:
            source = file.read()
        assert "from .nn" not in source and "from ..nn" not in source, module.__name__

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


def test_a_checkpoint_of_nested_dicts_loads_back_nested(tmp_path):
    model = small_model()
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    model(tg.ones(4, 2)).sum().backward()
    optimizer.step()
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                  "epoch": 3, "best": 0.25, "done": False, "name": "run-1",
                  "scale": np.float32(2.5), "betas": (0.9, 0.999)}
    tg.save(checkpoint, tmp_path / "checkpoint.npz")
    back = tg.load(tmp_path / "checkpoint.npz")
    assert list(back) == list(checkpoint)
    assert list(back["model"]) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # not nested
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(back["model"][name], array)
        assert back["model"][name].dtype == np.float32
    assert set(back["optimizer"]) == {"class", "shapes", "state", "hyperparameters"}
    assert back["optimizer"]["class"] == "Adam"
    assert sorted(back["optimizer"]["state"]) == ["0", "1", "2", "3"]  # integer keys: str
    assert back["optimizer"]["state"]["0"]["step"] == 1
    # Python numbers and strings come back as they were; a NumPy scalar as a NumPy scalar
    assert (back["epoch"], back["best"], back["done"], back["name"]) == (3, 0.25, False, "run-1")
    assert [type(back[k]) for k in ("epoch", "best", "done", "name")] == [int, float, bool, str]
    assert type(back["scale"]) is np.float32 and back["scale"] == 2.5
    np.testing.assert_array_equal(back["betas"], [0.9, 0.999])  # a tuple is an array
    other = small_model(seed=1)
    other.load_state_dict(back["model"])
    other_optimizer = optim.Adam(other.parameters(), lr=0.01)
    other_optimizer.load_state_dict(back["optimizer"])
    assert other_optimizer.state[0]["step"] == 1


def test_members_are_named_by_their_path_of_keys(tmp_path):
    nested = {"state": {0: {"step": 3, "exp_avg": np.ones(2, np.float32)}}, "empty": {},
              "hyperparameters": {"lr": 0.1, "nesterov": True}, "model": small_model()}
    tg.save(nested, tmp_path / "opt.npz")
    with zipfile.ZipFile(tmp_path / "opt.npz") as archive:
        assert archive.namelist() == [
            "state/0/step.npy", "state/0/exp_avg.npy", "empty/", "hyperparameters/lr.npy",
            "hyperparameters/nesterov.npy", "model/0.weight.npy", "model/0.bias.npy",
            "model/2.weight.npy", "model/2.bias.npy"]
    back = tg.load(tmp_path / "opt.npz")
    assert back["empty"] == {} and back["hyperparameters"]["nesterov"] is True
    assert list(back["model"]) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_an_archive_written_by_numpy_loads_flat(tmp_path):
    # files written before save nested dicts: dotted names, read flat; optimizers unflatten them
    optimizer = optim.SGD(small_model().parameters(), lr=0.5, momentum=0.9)
    np.savez(tmp_path / "old.npz", **{"hyperparameters.lr": np.float64(0.1),
                                      "hyperparameters.momentum": np.float64(0.5),
                                      "hyperparameters.nesterov": np.bool_(False),
                                      "hyperparameters.weight_decay": np.float64(0.0)})
    flat = tg.load(tmp_path / "old.npz")
    assert sorted(flat) == ["hyperparameters.lr", "hyperparameters.momentum",
                            "hyperparameters.nesterov", "hyperparameters.weight_decay"]
    optimizer.load_state_dict(flat)
    assert (optimizer.lr, optimizer.momentum) == (0.1, 0.5)
    back = serialization.unflatten(flat)
    assert back["hyperparameters"]["lr"] == 0.1


@pytest.mark.parametrize("state, message", [
    ({"a/b": np.ones(2)}, "the key 'a/b'.*'/' separates"),
    ({"outer": {"": np.ones(2)}}, "the key ''"),
    ({(1, 2): np.ones(2)}, r"the key \(1, 2\)"),
    ({0: np.ones(1), "0": np.zeros(1)}, "both named '0'"),
])
def test_keys_that_cannot_be_stored_are_refused_before_writing(tmp_path, state, message):
    with pytest.raises(ValueError, match=message):
        tg.save(state, tmp_path / "state.npz")
    assert os.listdir(tmp_path) == []


def test_names_that_are_numpy_savez_keywords_are_fine(tmp_path):
    tg.save({"file": np.ones(1), "allow_pickle": np.zeros(1)}, tmp_path / "odd.npz")
    assert set(tg.load(tmp_path / "odd.npz")) == {"file", "allow_pickle"}


def test_unflatten_takes_a_mapping_and_refuses_ambiguous_names():
    with pytest.raises(TypeError, match="unflatten takes a mapping, got str"):
        serialization.unflatten("state.npz")
    with pytest.raises(ValueError, match="a.b"):
        serialization.unflatten({"a": 1, "a.b": 2})
    assert serialization.unflatten({"x.y.z": 1, "w": 2}) == {"x": {"y": {"z": 1}}, "w": 2}


@pytest.mark.parametrize("member, data", [
    ("notes.txt", b"not an array"),
    ("model/config.json", b"{}"),
])
def test_load_refuses_members_that_are_not_arrays(tmp_path, member, data):
    path = tmp_path / "mixed.npz"
    np.savez(path, weight=np.ones(2))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(member, data)
    with pytest.raises(ValueError, match=f"load: '{re.escape(str(path))}': the member "
                                         f"'{member}' is not an array"):
        tg.load(path)


def test_load_refuses_a_value_that_is_also_a_group(tmp_path):
    path = tmp_path / "clash.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for name in ("a.npy", "a/b.npy"):
            with archive.open(name, "w") as member:
                np.lib.format.write_array(member, np.ones(1))
    with pytest.raises(ValueError, match="clash.npz' is not a state dict: 'a/b' is below 'a'"):
        tg.load(path)


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


@pytest.mark.parametrize("suffix", ["", "/"])
def test_save_to_a_directory_says_it_is_one(tmp_path, suffix):
    target = tmp_path / "ckdir"
    target.mkdir()
    given = str(target) + suffix
    with pytest.raises(IsADirectoryError, match=f"save: '{re.escape(given)}' is a directory; "
                                                f"give the path of a file in it, such as "
                                                f"'{re.escape(given)}/?checkpoint.npz'"):
        tg.save(small_model(), given)
    assert os.listdir(tmp_path) == ["ckdir"] and os.listdir(target) == []


def test_save_to_a_path_ending_in_a_separator_names_the_problem(tmp_path):
    given = str(tmp_path / "missing") + "/"
    with pytest.raises(FileNotFoundError, match="ends with a separator, so it names a "
                                                "directory, and there is none"):
        tg.save(small_model(), given)
    assert os.listdir(tmp_path) == []


def test_save_below_a_file_says_it_is_a_file(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="notes.txt' is a file, not a directory"):
        tg.save(small_model(), tmp_path / "notes.txt" / "model.npz")


def test_load_of_a_directory_says_it_is_one(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory; give the path of the file"):
        tg.load(tmp_path)


def test_save_errors_from_the_system_name_the_users_path(tmp_path, monkeypatch):
    target = tmp_path / "model.npz"

    def refuse(source, destination):
        raise PermissionError(13, "Permission denied", source)
    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError, match=f"cannot write '{re.escape(str(target))}' "
                                              r"\(Permission denied\)") as info:
        tg.save(small_model(), target)
    assert ".tmp" not in str(info.value)
    assert os.listdir(tmp_path) == []


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
    loaded = tg.load(tmp_path / "optimizer.npz")
    assert loaded["class"] == "Adam" and loaded["state"] == {}
    assert {k: v.tolist() for k, v in loaded["shapes"].items()} == {
        "0": [2, 3], "1": [3], "2": [3, 1], "3": [1]}
    assert loaded["hyperparameters"] == {"lr": 1e-3, "betas": pytest.approx(np.array(
        [0.9, 0.999])), "eps": 1e-8, "weight_decay": 0.0}
    fresh = optim.Adam(small_model().parameters())
    fresh.load_state_dict(loaded)  # what was saved loads back, nested
    assert tg.load(tmp_path / "schedule.npz")["step_size"] == 2


def test_serialization_and_optim_do_not_import_nn():
    # optim reads flat state dicts through serialization.unflatten: neither may need nn
    for module in (serialization, optim.optimizers, optim.state, optim.lr_scheduler):
        with open(module.__file__) as file:
            source = file.read()
        assert "from .nn" not in source and "from ..nn" not in source, module.__name__


# --------------------------------------------------------------------------- resume

def resume_setup(seed=0):
    """A model with batch norm and dropout, AdamW and a StepLR schedule, built as at start."""
    model = nn.Sequential(nn.Dense(4, 16, rng=seed), nn.BatchNorm1d(16), nn.ReLU(),
                          nn.Dropout(0.3, rng=seed + 1), nn.Dense(16, 3, rng=seed))
    optimizer = optim.AdamW(model.parameters(), lr=0.01)
    schedule = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    return model, optimizer, schedule


def train_epochs(model, optimizer, schedule, epochs):
    X = np.random.default_rng(5).standard_normal((40, 4)).astype(np.float32)
    y = np.arange(40) % 3
    loss_fn = nn.CrossEntropyLoss()
    for epoch in epochs:
        for inputs, labels in tg.data.batches(X, y, batch_size=16, rng=epoch):
            optimizer.zero_grad()
            loss_fn(model(inputs), labels).backward()
            optimizer.step()
        schedule.step()


def test_a_resume_with_dropout_from_one_file_is_bit_for_bit(tmp_path):
    uninterrupted = resume_setup()
    train_epochs(*uninterrupted, range(5))

    first = resume_setup()
    train_epochs(*first, range(2))
    model, optimizer, schedule = first
    tg.save({"model": model, "optimizer": optimizer, "schedule": schedule, "epoch": 2},
            tmp_path / "checkpoint.npz")

    resumed = resume_setup()
    checkpoint = tg.load(tmp_path / "checkpoint.npz")
    fresh_generator = resumed[0][3].rng.bit_generator.state
    for part, name in zip(resumed, ("model", "optimizer", "schedule")):
        part.load_state_dict(checkpoint[name])
    assert resumed[0][3].rng.bit_generator.state != fresh_generator  # dropout's stream moved
    train_epochs(*resumed, range(checkpoint["epoch"], 5))

    expected = uninterrupted[0].state_dict()
    assert list(resumed[0].state_dict()) == list(expected)
    for name, array in resumed[0].state_dict().items():
        np.testing.assert_array_equal(array, expected[name], err_msg=name)
    assert resumed[1].lr == uninterrupted[1].lr
    for index, entry in uninterrupted[1].state.items():
        for key, value in entry.items():
            np.testing.assert_array_equal(resumed[1].state[index][key], value)

    # without the generator's state the masks differ, and so does the result
    without = resume_setup()
    without[0].load_state_dict({k: v for k, v in checkpoint["model"].items() if k != "3.rng"},
                               strict=False)
    without[1].load_state_dict(checkpoint["optimizer"])
    without[2].load_state_dict(checkpoint["schedule"])
    train_epochs(*without, range(2, 5))
    assert not np.array_equal(without[0][0].weight.numpy(), expected["0.weight"])

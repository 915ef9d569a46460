"""data: the toy data sets and the mini-batch iterator."""
import gzip
import math
import re
import struct
import sys

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import data

MAKERS = {
    "circles": lambda **kw: data.make_circles(**kw),
    "moons": lambda **kw: data.make_moons(**kw),
    "spirals": lambda **kw: data.make_spirals(**kw),
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_shapes_dtypes_and_equal_classes(name):
    X, y = MAKERS[name](n_samples=120, rng=0)
    assert X.shape == (120, 2) and X.dtype == np.float32
    assert y.shape == (120,) and y.dtype == np.int64
    counts = np.bincount(y)
    assert len(counts) >= 2 and np.all(counts == counts[0])


@pytest.mark.parametrize("name", list(MAKERS))
def test_the_same_seed_gives_the_same_data(name):
    X1, y1 = MAKERS[name](rng=3)
    X2, y2 = MAKERS[name](rng=np.random.default_rng(3))
    X3, _ = MAKERS[name](rng=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


@pytest.mark.parametrize("name", list(MAKERS))
def test_the_default_dtype_is_followed(name):
    tg.set_default_dtype(np.float64)
    try:
        X, _ = MAKERS[name](rng=0)
    finally:
        tg.set_default_dtype(np.float32)
    assert X.dtype == np.float64


def test_circles_radii_are_one_and_factor_without_noise():
    X, y = data.make_circles(n_samples=100, noise=0.0, factor=0.3, rng=0)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(radius[y == 1], 0.3, rtol=1e-6)


def test_circles_noise_is_the_standard_deviation_of_the_added_noise():
    X, y = data.make_circles(n_samples=20000, noise=0.05, factor=0.5, rng=0)
    radius = np.hypot(X[:, 0], X[:, 1])
    assert np.std(radius[y == 0] - 1.0) == pytest.approx(0.05, rel=0.05)


def test_moons_lie_on_the_two_half_circles_without_noise():
    X, y = data.make_moons(n_samples=100, noise=0.0, rng=0)
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, rtol=1e-6)
    assert np.all(upper[:, 1] >= -1e-7)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, rtol=1e-6)
    assert np.all(lower[:, 1] <= 0.5 + 1e-7)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_spirals_have_any_number_of_classes(n_classes):
    X, y = data.make_spirals(n_samples=40 * n_classes, n_classes=n_classes, noise=0.0, rng=0)
    np.testing.assert_array_equal(np.bincount(y), [40] * n_classes)
    radius = np.hypot(X[:, 0], X[:, 1])
    assert radius.min() == pytest.approx(0.1, rel=1e-5)
    assert radius.max() == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("call, message", [
    (lambda: data.make_circles(n_samples=301), "multiple"),
    (lambda: data.make_moons(n_samples=0), "multiple"),
    (lambda: data.make_spirals(n_samples=100, n_classes=3), "multiple"),
    (lambda: data.make_spirals(n_classes=0), "n_classes"),
    (lambda: data.make_circles(factor=1.0), "factor"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_batches_cover_every_sample_once_with_a_smaller_last_batch():
    X = np.arange(23 * 2, dtype=np.float32).reshape(23, 2)
    y = np.arange(23)
    batches = list(data.batches(X, y, batch_size=5, rng=0))
    assert [len(xb) for xb, _ in batches] == [5, 5, 5, 5, 3]
    assert all(isinstance(xb, tg.Tensor) and isinstance(yb, tg.Tensor) for xb, yb in batches)
    seen = np.concatenate([yb.numpy() for _, yb in batches])
    assert sorted(seen) == list(range(23)) and not np.array_equal(seen, np.arange(23))
    for xb, yb in batches:  # rows stay paired with their labels
        np.testing.assert_array_equal(xb.numpy(), X[yb.numpy()])
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == y.dtype


def test_batches_in_order_and_reproducible_shuffles():
    X, y = np.zeros((10, 2)), np.arange(10)
    in_order = [yb.numpy() for _, yb in data.batches(X, y, 4, shuffle=False)]
    np.testing.assert_array_equal(np.concatenate(in_order), np.arange(10))
    first = [yb.numpy() for _, yb in data.batches(X, y, 4, rng=1)]
    again = [yb.numpy() for _, yb in data.batches(X, y, 4, rng=np.random.default_rng(1))]
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(again))
    rng = np.random.default_rng(2)  # one generator: each epoch gets a new order
    epoch1 = np.concatenate([yb.numpy() for _, yb in data.batches(X, y, 4, rng=rng)])
    epoch2 = np.concatenate([yb.numpy() for _, yb in data.batches(X, y, 4, rng=rng)])
    assert not np.array_equal(epoch1, epoch2)
    assert len(list(data.batches(X, y, 100))) == 1


@pytest.mark.parametrize("call, message", [
    (lambda X, y: data.batches(X, y[:-1], 4), "same length"),
    (lambda X, y: data.batches(X, y, 0), "batch_size"),
    (lambda X, y: data.batches(X, y, -2), "batch_size"),
])
def test_batches_bad_arguments_raise_at_the_call(call, message):
    X, y = np.zeros((10, 2)), np.arange(10)
    with pytest.raises(ValueError, match=message):
        call(X, y)  # not only when the first batch is taken
    np.testing.assert_array_equal(y, np.arange(10))


@pytest.mark.parametrize("call, error, message", [
    (lambda: data.make_circles(noise=-0.1), ValueError, "noise .* must be >= 0, got -0.1"),
    (lambda: data.make_moons(noise=float("nan")), ValueError, "noise"),
    (lambda: data.make_spirals(noise="0.1"), TypeError, "noise must be a real number"),
    (lambda: data.make_circles(factor="0.5"), TypeError, "factor must be a real number"),
    (lambda: data.make_circles(n_samples=100.0), TypeError, "n_samples must be an integer"),
    (lambda: data.make_moons(n_samples=-2), ValueError, "n_samples must be >= 0"),
    (lambda: data.make_spirals(n_classes=2.0), TypeError, "n_classes must be an integer"),
    (lambda: data.make_circles(rng="seed"), TypeError, "make_circles: rng"),
    (lambda: data.batches(np.zeros((4, 2)), np.zeros(4), 2.5), TypeError,
     "batch_size must be an integer"),
    (lambda: data.batches(np.zeros((4, 2)), np.zeros(4), 2, rng=1.5), TypeError, "rng"),
    (lambda: data.batches(np.zeros((4, 2)), np.zeros(4), 2, shuffle="no"), TypeError,
     "shuffle must be True or False"),
    (lambda: data.batches(np.float32(1), np.zeros(4), 2), ValueError, r"shapes \(\) and \(4,\)"),
])
def test_bad_arguments_name_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --------------------------------------------------------------------------- train_test_split

def labels_with_counts(counts):
    return np.repeat(np.arange(len(counts)), counts)


@pytest.mark.parametrize("counts, test_size", [
    ([50, 50], 0.25), ([10, 20, 30], 0.2), ([3, 7, 11, 2], 0.3), ([178, 182, 177], 0.2),
    ([5, 5, 5], 0.5), ([2, 2, 2, 2], 0.1), ([9, 4], 0.77),
])
def test_split_sizes_are_exact_and_stratified(counts, test_size):
    y = labels_with_counts(counts)
    X = np.arange(len(y) * 2).reshape(len(y), 2)
    X_train, X_test, y_train, y_test = data.train_test_split(X, y, test_size=test_size, rng=0)
    n_test = math.ceil(test_size * len(y))
    assert len(y_test) == len(X_test) == n_test and len(y_train) == len(y) - n_test
    shares = np.array(counts) * n_test / len(y)
    per_class = np.bincount(y_test, minlength=len(counts))
    assert np.all((per_class == np.floor(shares)) | (per_class == np.ceil(shares)))
    # every sample once, rows still paired with their labels
    rows = np.concatenate([X_train[:, 0], X_test[:, 0]]) // 2
    assert sorted(rows) == list(range(len(y)))
    np.testing.assert_array_equal(y[X_test[:, 0] // 2], y_test)
    np.testing.assert_array_equal(y[X_train[:, 0] // 2], y_train)


def test_split_is_shuffled_and_reproducible():
    y = labels_with_counts([30, 30])
    X = np.arange(60.0)[:, None]
    first = data.train_test_split(X, y, rng=3)
    again = data.train_test_split(X, y, rng=np.random.default_rng(3))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.all(np.diff(first[0][:, 0]) > 0)  # the training part is not in order
    other = data.train_test_split(X, y, rng=4)
    assert not np.array_equal(first[1], other[1])


def test_each_class_gives_random_members_to_the_test_part():
    # a split that took the first k of each class (in any order) would give the same test
    # rows on every seed; members drawn at random reach every row over a few seeds
    y = labels_with_counts([12, 8])
    X = np.arange(len(y))
    test_sets = [frozenset(data.train_test_split(X, y, rng=seed)[1]) for seed in range(40)]
    assert len(set(test_sets)) > 30
    reached = set().union(*test_sets)
    assert reached == set(range(len(y)))


def test_a_regression_target_is_refused_with_the_way_out_and_splits_with_stratify_none():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.standard_normal(40)
    with pytest.raises(ValueError, match=r"class -?\d\.\d+ has only 1 sample; a stratified split "
                                         r"needs at least 2 per class \(y holds 40 distinct "
                                         r"values among 40 samples: a regression target\?\)\. "
                                         r"For a regression target, or to split without "
                                         r"stratifying, pass stratify=None"):
        data.train_test_split(X, y)
    for off in (None, False):
        X_train, X_test, y_train, y_test = data.train_test_split(X, y, test_size=0.3, rng=1,
                                                                 stratify=off)
        assert len(X_test) == len(y_test) == 12 and len(X_train) == 28
        rows = [np.flatnonzero((X == row).all(axis=1))[0] for row in X_test]
        np.testing.assert_array_equal(y[rows], y_test)  # rows stay paired with their targets
        assert sorted(np.concatenate([y_train, y_test])) == sorted(y)
    again = data.train_test_split(X, y, test_size=0.3, rng=1, stratify=None)
    np.testing.assert_array_equal(again[3], y_test)
    assert not np.array_equal(data.train_test_split(X, y, rng=2, stratify=None)[3][:10],
                              y_test[:10])
    targets = rng.standard_normal((40, 2))  # a plain split takes targets of any shape
    assert data.train_test_split(X, targets, stratify=None)[3].shape == (10, 2)


def test_stratify_by_another_array():
    groups = labels_with_counts([32, 8])
    y = np.linspace(0, 1, 40)
    _, _, y_train, y_test = data.train_test_split(np.arange(40), y, test_size=0.25, rng=0,
                                                  stratify=groups)
    test_groups = groups[np.searchsorted(y, y_test)]
    assert np.bincount(test_groups).tolist() == [8, 2]  # a quarter of each group
    assert len(y_train) == 30


def test_split_keeps_dtypes_and_other_label_values():
    y = np.array(["a", "b"] * 10)
    X = np.ones((20, 1, 2, 2), np.float32)
    X_train, X_test, y_train, y_test = data.train_test_split(X, y, test_size=0.3, rng=0)
    assert X_train.dtype == np.float32 and X_test.shape == (6, 1, 2, 2)
    assert sorted(y_test) == ["a"] * 3 + ["b"] * 3


@pytest.mark.parametrize("call, error, message", [
    (lambda X, y: data.train_test_split(X, y[:-1]), ValueError, r"same length.*\(9,\)"),
    (lambda X, y: data.train_test_split(X, y.reshape(5, 2)), ValueError, "same length"),
    (lambda X, y: data.train_test_split(X, np.c_[y, y]), ValueError,
     r"y must hold one label per sample, shape \(10,\), to stratify by, got shape \(10, 2\); "
     r"for a regression target pass stratify=None"),
    (lambda X, y: data.train_test_split(X, y, stratify=y[:-1]), ValueError,
     r"stratify must hold one label per sample, shape \(10,\), to stratify by, got shape "
     r"\(9,\)$"),
    (lambda X, y: data.train_test_split(X, y, stratify=[{}] * 10), TypeError,
     "stratify must be True, False, None or an array of labels, got list"),
    (lambda X, y: data.train_test_split(X, y, test_size=0.0), ValueError, "test_size"),
    (lambda X, y: data.train_test_split(X, y, test_size=1.0), ValueError, "test_size"),
    (lambda X, y: data.train_test_split(X, y, test_size=3), ValueError, "test_size"),
    (lambda X, y: data.train_test_split(X, y, test_size="0.2"), TypeError, "test_size"),
    (lambda X, y: data.train_test_split(X, y, test_size=0.95), ValueError,
     "no training samples"),
    (lambda X, y: data.train_test_split(X, np.r_[y[:-1], 7]), ValueError,
     "class 7 has only 1 sample; a stratified split needs at least 2 per class. For a "
     "regression target, or to split without stratifying, pass stratify=None$"),
    (lambda X, y: data.train_test_split(X, y, rng="0"), TypeError, "rng"),
])
def test_split_mistakes(call, error, message):
    X, y = np.zeros((10, 2)), labels_with_counts([5, 5])
    with pytest.raises(error, match=message):
        call(X, y)
    np.testing.assert_array_equal(y, labels_with_counts([5, 5]))


# --------------------------------------------------------------------------- digits

def test_load_digits_is_scikit_learns_digits_scaled():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    X, y = data.load_digits()
    digits = sklearn_datasets.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(X, digits.data / 16, rtol=1e-7)
    np.testing.assert_array_equal(y, digits.target)
    assert X.min() == 0.0 and X.max() == 1.0 and sorted(set(y)) == list(range(10))
    images, labels = data.load_digits(images=True)
    assert images.shape == (1797, 1, 8, 8)
    np.testing.assert_array_equal(images.reshape(1797, 64), X)
    with pytest.raises(TypeError, match="images must be True or False"):
        data.load_digits(images="yes")


def test_load_digits_without_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # `import sklearn...` now fails
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=re.escape('pip install "tinygrad_nn[data]"')):
        data.load_digits()


# --------------------------------------------------------------------------- MNIST IDX files

def idx_bytes(array, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(directory, split="train", n=5, rows=4, cols=3, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    prefix = "train" if split == "train" else "t10k"
    for name, array in ((f"{prefix}-images-idx3-ubyte", images),
                        (f"{prefix}-labels-idx1-ubyte", labels)):
        path = directory / (name + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(idx_bytes(array)) if gz else idx_bytes(array))
    return images, labels


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_load_mnist_reads_plain_and_gzipped_idx_files(tmp_path, split, gz):
    images, labels = write_mnist(tmp_path, split, gz=gz)
    X, y = data.load_mnist(str(tmp_path), split=split)
    assert X.shape == (5, 1, 4, 3) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(X[:, 0], images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)


def test_load_mnist_prefers_the_plain_file(tmp_path):
    _, plain_labels = write_mnist(tmp_path, seed=1)
    write_mnist(tmp_path, gz=True, seed=2)
    np.testing.assert_array_equal(data.load_mnist(tmp_path)[1], plain_labels)


def replace(path, content):
    path.write_bytes(content)


LABELS = "train-labels-idx1-ubyte"
IMAGES = "train-images-idx3-ubyte"


@pytest.mark.parametrize("damage, error, message", [
    (lambda d: (d / LABELS).unlink(), FileNotFoundError,
     f"neither '.*{LABELS}' nor '.*{LABELS}.gz' exists"),
    (lambda d: replace(d / IMAGES, b""), ValueError, f"{IMAGES}' is not an IDX file"),
    (lambda d: replace(d / IMAGES, b"\x00\x00\x08\x03\x00"), ValueError, "not an IDX file"),
    (lambda d: replace(d / LABELS, b"\x00\x00\x0d\x01" + (d / LABELS).read_bytes()[4:]),
     ValueError, r"unsigned bytes with 1 axes .*header starts with b'\\x00\\x00\\r"),
    (lambda d: replace(d / IMAGES, idx_bytes(np.zeros((2, 3), np.uint8))), ValueError,
     "3 axes"),
    (lambda d: replace(d / IMAGES, (d / IMAGES).read_bytes()[:-1]), ValueError,
     r"59 bytes of values, but its header announces shape \(5, 4, 3\), that is 60"),
    (lambda d: replace(d / IMAGES, (d / IMAGES).read_bytes() + b"\x00"), ValueError,
     "61 bytes of values"),
    (lambda d: replace(d / LABELS, idx_bytes(np.zeros(4, np.uint8))), ValueError,
     "5 train images but 4 train labels"),
])
def test_load_mnist_missing_and_malformed_files_are_named(tmp_path, damage, error, message):
    write_mnist(tmp_path)
    damage(tmp_path)
    with pytest.raises(error, match=message):
        data.load_mnist(tmp_path)


def test_load_mnist_corrupt_gzip_and_bad_arguments(tmp_path):
    write_mnist(tmp_path, gz=True)
    content = (tmp_path / (IMAGES + ".gz")).read_bytes()
    (tmp_path / (IMAGES + ".gz")).write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match=f"cannot read '.*{IMAGES}.gz'"):
        data.load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="'.*missing' is not a directory"):
        data.load_mnist(tmp_path / "missing")
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'valid'"):
        data.load_mnist(tmp_path, split="valid")
    with pytest.raises(TypeError, match="directory must be a str or a path, got int"):
        data.load_mnist(3)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        data.load_mnist(tmp_path, split="test")

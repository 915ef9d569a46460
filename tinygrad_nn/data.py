"""Data: toy 2-D classification sets, real image sets (scikit-learn's 8×8 digits, MNIST from
the user's IDX files), a train/test split (stratified unless told not to) and a mini-batch
iterator.

Each `make_*` returns (X, y): X of shape (N, 2) in the default dtype, y of shape (N,) int64
class labels, every class the same size, rows shuffled. `noise` is the standard deviation of
Gaussian noise added to every coordinate, as in scikit-learn. `rng` is a numpy Generator, an
int seed, or None (fresh randomness); the same seed gives the same data.
"""
import gzip
import math
import os
import zlib

import numpy as np

from .tensor import Tensor, get_default_dtype
from .validation import generator, integer_at_least, positive_int, real_number

__all__ = ["make_circles", "make_moons", "make_spirals", "batches", "train_test_split",
           "load_digits", "load_mnist"]


def _noise(noise, where):
    noise = real_number("noise", noise, where)
    if not noise >= 0:
        raise ValueError(f"{where}: noise (a standard deviation) must be >= 0, got {noise}")
    return noise


def _samples_per_class(n_samples, n_classes, where):
    integer_at_least("n_samples", n_samples, 0, where)
    if n_samples < n_classes or n_samples % n_classes:
        raise ValueError(f"{where}: n_samples must be a positive multiple of the number of classes "
                         f"({n_classes}) so the classes have equal size, got {n_samples}")
    return n_samples // n_classes


def _finish(rng, points, noise):
    """Stack the per-class point arrays, label them 0, 1, ..., add noise, shuffle the rows."""
    X = np.concatenate(points)
    y = np.concatenate([np.full(len(p), label, dtype=np.int64) for label, p in enumerate(points)])
    if noise:
        X = X + rng.normal(scale=noise, size=X.shape)
    order = rng.permutation(len(X))
    return X[order].astype(get_default_dtype()), y[order]


def make_circles(n_samples=300, noise=0.1, factor=0.5, rng=None):
    """Two concentric circles: label 0 on the unit circle, label 1 on the circle of radius
    `factor` (in [0, 1)), each with points evenly spaced in angle before the noise."""
    factor = real_number("factor", factor, "make_circles")
    if not 0 <= factor < 1:
        raise ValueError(f"make_circles: factor must be in [0, 1), got {factor}")
    noise = _noise(noise, "make_circles")
    rng = generator(rng, "make_circles")
    per_class = _samples_per_class(n_samples, 2, "make_circles")
    angles = np.linspace(0, 2 * np.pi, per_class, endpoint=False)
    unit_circle = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return _finish(rng, [unit_circle, factor * unit_circle], noise)


def make_moons(n_samples=300, noise=0.1, rng=None):
    """Two interleaving half circles of radius 1 (scikit-learn's layout): label 0 the upper
    one centred at (0, 0), label 1 the lower one centred at (1, 0.5)."""
    noise = _noise(noise, "make_moons")
    rng = generator(rng, "make_moons")
    per_class = _samples_per_class(n_samples, 2, "make_moons")
    angles = np.linspace(0, np.pi, per_class)
    upper = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    lower = np.stack([1 - np.cos(angles), 0.5 - np.sin(angles)], axis=1)
    return _finish(rng, [upper, lower], noise)


def make_spirals(n_samples=300, n_classes=3, noise=0.05, rng=None):
    """`n_classes` interleaved spiral arms around the origin: arm k is the points
    r (cos θ, sin θ) with r going from 0.1 to 1 and θ = 2π (r + k / n_classes)."""
    n_classes = positive_int("n_classes", n_classes, "make_spirals")
    noise = _noise(noise, "make_spirals")
    rng = generator(rng, "make_spirals")
    per_class = _samples_per_class(n_samples, n_classes, "make_spirals")
    radius = np.linspace(0.1, 1, per_class)
    arms = []
    for k in range(n_classes):
        angle = 2 * np.pi * (radius + k / n_classes)
        arms.append(radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1))
    return _finish(rng, arms, noise)


def batches(X, y, batch_size, shuffle=True, rng=None):
    """Mini-batches (X[i], y[i]) as Tensors covering every sample once, in an order drawn from
    `rng` when `shuffle` (else in order); the last batch is smaller when batch_size does not
    divide N. Call it once per epoch."""
    X, y = _samples_and_labels(X, y, "batches")
    batch_size = positive_int("batch_size", batch_size, "batches")
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"batches: shuffle must be True or False, got {shuffle!r}")
    order = generator(rng, "batches").permutation(len(X)) if shuffle else np.arange(len(X))
    return _batches_in_order(X, y, order, batch_size)


def _samples_and_labels(X, y, where):
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{where}: X and y must have a first axis of samples, got shapes "
                         f"{X.shape} and {y.shape}")
    if len(X) != len(y):
        raise ValueError(f"{where}: X and y must have the same length, got shapes {X.shape} "
                         f"and {y.shape}")
    return X, y


def _batches_in_order(X, y, order, batch_size):
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        yield Tensor(X[rows]), Tensor(y[rows])


def train_test_split(X, y, test_size=0.25, rng=None, stratify=True):
    """X_train, X_test, y_train, y_test (scikit-learn's order): a shuffled split whose test
    part has ceil(test_size · N) samples; `rng` a Generator or an int seed.

    stratify=True (the default) stratifies by the labels y (N,): each class gets the floor or
    the ceiling of its share of the test part (the largest remainders get the ceilings, ties
    drawn from `rng`), and a class with fewer than 2 samples raises ValueError. An array of
    N labels stratifies by it instead, as scikit-learn's `stratify=`. stratify=None (or
    False) gives a plain shuffled split, for a regression target. Both parts are shuffled.
    """
    X, y = _samples_and_labels(X, y, "train_test_split")
    test_size = real_number("test_size", test_size, "train_test_split")
    if not 0 < test_size < 1:
        raise ValueError(f"train_test_split: test_size (a fraction) must be in (0, 1), got "
                         f"{test_size}")
    n_test = math.ceil(test_size * len(y))
    if n_test >= len(y):
        raise ValueError(f"train_test_split: test_size={test_size} of {len(y)} samples leaves "
                         f"no training samples")
    strata = _strata(stratify, y)
    if strata is None:
        order = generator(rng, "train_test_split").permutation(len(y))
        test, train = order[:n_test], order[n_test:]
    else:
        test, train = _stratified_split(strata, n_test, rng)
    return X[train], X[test], y[train], y[test]


def _strata(stratify, y):
    """The labels to stratify by, (N,), or None for a plain split."""
    if stratify is None or isinstance(stratify, (bool, np.bool_)):
        if not stratify:
            return None
        strata, what = y, "y"
    else:
        strata, what = np.asarray(stratify), "stratify"
        if strata.dtype.hasobject:
            raise TypeError(f"train_test_split: stratify must be True, False, None or an "
                            f"array of labels, got {type(stratify).__name__}")
    if strata.shape != (len(y),):
        raise ValueError(f"train_test_split: {what} must hold one label per sample, shape "
                         f"({len(y)},), to stratify by, got shape {strata.shape}"
                         + ("; for a regression target pass stratify=None" if what == "y"
                            else ""))
    return strata


def _stratified_split(strata, n_test, rng):
    """(test indices, training indices): each class of `strata` gets its share of the n_test
    test samples, the members drawn at random."""
    classes, labels, counts = np.unique(strata, return_inverse=True, return_counts=True)
    if counts.min() < 2:
        rare = classes[np.argmin(counts)].tolist()
        looks = (f" (y holds {len(classes)} distinct values among {len(strata)} samples: a "
                 f"regression target?)" if strata.dtype.kind == "f" else "")
        raise ValueError(f"train_test_split: class {rare!r} has only 1 sample; a stratified "
                         f"split needs at least 2 per class{looks}. For a regression target, "
                         f"or to split without stratifying, pass stratify=None")
    rng = generator(rng, "train_test_split")
    shares = counts * (n_test / len(strata))
    per_class = np.floor(shares).astype(int)
    remainders = shares - per_class
    # the leftover test samples go to the largest remainders; ties are broken at random
    order = np.lexsort((rng.random(len(classes)), -remainders))
    per_class[order[:n_test - per_class.sum()]] += 1
    test, train = [], []
    for label, k in enumerate(per_class):
        members = rng.permutation(np.flatnonzero(labels == label))
        test.append(members[:k])
        train.append(members[k:])
    return rng.permutation(np.concatenate(test)), rng.permutation(np.concatenate(train))


def load_digits(images=False):
    """scikit-learn's bundled 8×8 handwritten digits: X float32 = pixels / 16, of shape
    (1797, 64), or (1797, 1, 8, 8) with images=True; y int64 labels 0-9. Needs scikit-learn
    (the "data" extra)."""
    if not isinstance(images, (bool, np.bool_)):
        raise TypeError(f"load_digits: images must be True or False, got {images!r}")
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError:
        raise ImportError('load_digits needs scikit-learn, which is not installed: '
                          'pip install "tinygrad_nn[data]"') from None
    digits = sklearn_load_digits()
    X = (digits.data / 16).astype(np.float32)
    y = digits.target.astype(np.int64)
    return (X.reshape(-1, 1, 8, 8) if images else X), y


def load_mnist(directory, split="train"):
    """MNIST (or any data set in its format) from the IDX files in `directory`:
    train-images-idx3-ubyte and train-labels-idx1-ubyte, or with split="test" the t10k-...
    files, each plain or gzipped (.gz; the plain file is read when both exist). Returns X
    float32 = pixels / 255 of shape (N, 1, rows, cols) and y int64 of shape (N,). A missing
    file raises FileNotFoundError, a malformed one ValueError, each naming the file. Nothing
    is downloaded."""
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"load_mnist: directory must be a str or a path, got "
                        f"{type(directory).__name__}")
    if split not in ("train", "test"):
        raise ValueError(f"load_mnist: split must be 'train' or 'test', got {split!r}")
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"load_mnist: {directory!r} is not a directory (expected a "
                                f"directory holding the MNIST IDX files)")
    prefix = "train" if split == "train" else "t10k"
    images = _read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte"), ndim=3)
    labels = _read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte"), ndim=1)
    if len(images) != len(labels):
        raise ValueError(f"load_mnist: {directory!r} has {len(images)} {split} images but "
                         f"{len(labels)} {split} labels; the two files must belong together")
    X = (images[:, None] / np.float32(255)).astype(np.float32)
    return X, labels.astype(np.int64)


def _read_idx(path, ndim):
    """The unsigned-byte array of `ndim` axes in the IDX file `path` or, if it is missing,
    `path`.gz. IDX: two zero bytes, the type code 0x08 (unsigned byte), the number of axes,
    one big-endian uint32 size per axis, then the values."""
    if os.path.exists(path):
        candidate, opener = path, open
    elif os.path.exists(path + ".gz"):
        candidate, opener = path + ".gz", gzip.open
    else:
        raise FileNotFoundError(f"load_mnist: neither {path!r} nor {path + '.gz'!r} exists "
                                f"(expected the MNIST IDX file {os.path.basename(path)}, plain "
                                f"or gzipped)")
    try:
        with opener(candidate, "rb") as file:
            content = file.read()
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"load_mnist: cannot read {candidate!r}: {error}") from None
    expected = f"an IDX file of unsigned bytes with {ndim} axes"
    header_size = 4 + 4 * ndim
    if (len(content) < header_size or content[:3] != b"\x00\x00\x08"
            or content[3] != ndim):
        raise ValueError(f"load_mnist: {candidate!r} is not {expected} (its header starts "
                         f"with {content[:4]!r}, expected b'\\x00\\x00\\x08\\x0{ndim}')")
    shape = tuple(int(n) for n in np.frombuffer(content, ">u4", ndim, offset=4))
    size = len(content) - header_size
    if size != math.prod(shape):
        raise ValueError(f"load_mnist: {candidate!r} has {size} bytes of values, but its header "
                         f"announces shape {shape}, that is {math.prod(shape)} values "
                         f"({expected})")
    return np.frombuffer(content, np.uint8, offset=header_size).reshape(shape)


# ---------------------------------------------------------------------------- text

__all__ += ["CharVocab", "load_text", "load_names"]


class CharVocab:
    """The characters of `text`, sorted, each given its index: `encode(str)` -> int64 array of
    indices, `decode(indices)` -> str, `len(vocab)` the number of characters, `vocab.chars` the
    characters in index order. A character that `text` lacks raises KeyError naming it."""

    def __init__(self, text):
        if not isinstance(text, str):
            raise TypeError(f"CharVocab takes a str, got {type(text).__name__}")
        self.chars = "".join(sorted(set(text)))
        self._index = {char: index for index, char in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def __repr__(self):
        return f"CharVocab({self.chars!r})"

    def encode(self, text):
        """The (len(text),) int64 indices of the characters of `text`."""
        if not isinstance(text, str):
            raise TypeError(f"CharVocab.encode takes a str, got {type(text).__name__}")
        try:
            return np.fromiter((self._index[char] for char in text), np.int64, len(text))
        except KeyError as error:
            raise KeyError(f"CharVocab.encode: the character {error.args[0]!r} (at index "
                           f"{next(i for i, c in enumerate(text) if c not in self._index)}) is "
                           f"not in the vocabulary of {len(self)} characters") from None

    def decode(self, indices):
        """The str of the characters at `indices` (integers, a list, an array or a Tensor)."""
        indices = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
        if indices.size == 0:  # an empty list comes as float64
            return ""
        if indices.dtype.kind not in "iu":
            raise TypeError(f"CharVocab.decode takes integer indices, got dtype {indices.dtype}")
        flat = indices.reshape(-1)
        bad = (flat < 0) | (flat >= len(self))
        if bad.any():
            raise KeyError(f"CharVocab.decode: index {flat[bad][0]} is outside the vocabulary "
                           f"of {len(self)} characters [0, {len(self)})")
        return "".join(self.chars[i] for i in flat.tolist())


def load_text(path):
    """The contents of the UTF-8 text file `path` (a str or path), as a str; FileNotFoundError
    or ValueError naming the file when it is missing or not UTF-8."""
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"load_text: no such file: {os.fspath(path)!r}") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"load_text: {os.fspath(path)!r} is not UTF-8 text ({error.reason} at "
                         f"byte {error.start})") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"load_text: {os.fspath(path)!r} is a directory, not a text "
                                f"file") from None


def load_names():
    """The 32,033 given names (lower-case a-z) that the package ships, a list of str in the
    file's order: `names.txt` of the makemore repository (MIT License, (c) 2022 Andrej
    Karpathy; see tinygrad_nn/datasets/README.md), most common names of U.S. Social Security
    records."""
    from importlib.resources import files
    return files(__package__).joinpath("datasets", "names.txt").read_text("utf-8").splitlines()

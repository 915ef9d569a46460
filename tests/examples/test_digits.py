"""The digits CNN learns from a short run, shows its mistakes in the plot, reads MNIST's IDX
files with --mnist, and refuses a bad --mnist directory before training."""
import gzip
import re
import struct
import sys

import numpy as np
import pytest

from tinygrad_nn.examples import common, digits


def test_a_short_run_learns_the_digits(capsys):
    pytest.importorskip("sklearn")  # load_digits reads scikit-learn's bundled data set
    result = digits.main(["--epochs", "2", "--quiet"])
    assert result["test_accuracy"] > 0.8 and result["train_accuracy"] > 0.8
    assert len(result["losses"]) == len(result["test_losses"]) == 2
    output = capsys.readouterr().out
    assert "1437 training samples" in output and "360 held-out samples" in output


def test_a_divergence_ends_with_the_same_message_eager_or_jitted():
    # jitted, the replay of batch 4 meets a NaN its capture did not see: tg.jit undoes what it
    # began and captures anew, so the run ends as --no-jit does
    pytest.importorskip("sklearn")
    messages = []
    for flags in ([], ["--no-jit"]):
        with pytest.raises(SystemExit) as info:
            common.run(lambda f=flags: digits.main(["--lr", "1e9", "--epochs", "1", "--quiet"] + f))
        messages.append(info.value.code)
    assert messages[0] == messages[1] == (
        "error: the training loss is nan at epoch 1, batch 4 of 45: training stopped before "
        "that update. NaN or inf in the data or a learning rate too large (--lr 1e+09) are the "
        "usual causes; to find the op that first made a NaN or inf, run the training under "
        "`with tg.detect_anomaly():` (the --detect-anomaly flag does)")


def test_the_plot_shows_the_misclassified_test_digits(monkeypatch, tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure
    saved = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, path, **options: saved.append(figure))
    result = digits.main(["--epochs", "1", "--quiet", "--plot", str(tmp_path / "d.png")])
    (figure,) = saved
    loss_axes, *digit_axes = figure.get_axes()
    assert "training" in loss_axes.get_title() and "test" in loss_axes.get_title()
    wrong = round((1 - result["test_accuracy"]) * 360)
    assert 0 < len(digit_axes) == min(wrong, 24)
    assert all(re.fullmatch(r"true \d\npredicted \d", axes.get_title()) for axes in digit_axes)
    assert f"{wrong} of 360" in figure.subfigs[1].get_suptitle()


def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def write_fake_mnist(directory, size=12):
    """Train and test IDX files (gzipped) of an easy ten-class set: class k is a bright 3×3
    square at the k-th of ten places, on faint noise."""
    rng = np.random.default_rng(0)
    places = [(r, c) for r in (1, 5, 8) for c in (1, 5, 8)] + [(4, 4)]
    for prefix, n in (("train", 300), ("t10k", 100)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, size=(n, size, size))
        for image, label in zip(images, labels):
            r, c = places[label]
            image[r:r + 3, c:c + 3] = 255
        write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", labels)


def test_mnist_from_idx_files(tmp_path, capsys):
    write_fake_mnist(tmp_path)
    result = digits.main(["--mnist", str(tmp_path), "--epochs", "2", "--quiet"])
    assert result["model"][-1].in_features == 2 * digits.CHANNELS * 3 * 3  # 12 × 12 images
    assert result["test_accuracy"] > 0.8
    output = capsys.readouterr().out
    assert "MNIST" in output and "300 training samples" in output
    assert "100 held-out samples" in output


def mnist_error(directory, capsys):
    """The last line of the argparse error that `--mnist directory` ends in, before training."""
    with pytest.raises(SystemExit) as info:
        digits.main(["--mnist", str(directory), "--epochs", "1"])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err.splitlines()[-1]


def test_missing_mnist_test_files_are_named(tmp_path, capsys):
    write_fake_mnist(tmp_path)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).unlink()
    error = mnist_error(tmp_path, capsys)
    assert "argument --mnist" in error and "t10k-images-idx3-ubyte" in error


def test_a_corrupt_mnist_file_is_named(tmp_path, capsys):
    write_fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    error = mnist_error(tmp_path, capsys)
    assert "argument --mnist" in error and "t10k-labels-idx1-ubyte" in error


def test_a_missing_mnist_directory(tmp_path, capsys):
    with pytest.raises(SystemExit):
        digits.main(["--mnist", str(tmp_path / "nowhere")])
    assert str(tmp_path / "nowhere") in capsys.readouterr().err


def test_without_scikit_learn_the_message_names_the_data_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(SystemExit) as info:
        digits.main(["--epochs", "1"])
    assert info.value.code == 2
    assert "tinygrad_nn[data]" in capsys.readouterr().err

"""The examples reach their training and held-out accuracy from a fixed seed, the L-layer sigmoid
network's gradients equal the tutorial's hand-derived backprop formulas, and a user's mistake on
the command line or in the data ends in a clear message before anything is trained or written."""
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import __main__ as entry_point
from tinygrad_nn import data, nn
from tinygrad_nn.examples import circles, common, deep_sigmoid, spirals

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_circles_reaches_95_percent_training_and_held_out(capsys):
    result = circles.main(["--quiet", "--no-progress"])
    assert result["train_accuracy"] >= 0.95 and result["test_accuracy"] >= 0.95
    assert result["train_loss"] < result["losses"][0] / 10
    assert len(result["losses"]) == len(result["test_losses"]) == circles.EPOCHS
    output = capsys.readouterr().out
    assert "training accuracy" in output and "test accuracy" in output
    assert "300 training samples" in output and "100 held-out samples" in output


def test_circles_with_mini_batches():
    result = circles.main(["--quiet", "--batch-size", "32", "--epochs", "60", "--lr", "0.1"])
    assert result["train_accuracy"] >= 0.95 and result["test_accuracy"] >= 0.95


@pytest.mark.parametrize("example, flags", [
    (circles, ["--epochs", "40", "--batch-size", "64"]),   # a last batch of another shape
    (spirals, ["--epochs", "20"]),
])
def test_training_through_tg_jit_equals_eager_training_bit_for_bit(example, flags):
    replayed = example.main(["--quiet", *flags])
    eager = example.main(["--quiet", "--no-jit", *flags])
    assert replayed["losses"] == eager["losses"]
    assert replayed["test_losses"] == eager["test_losses"]


def test_spirals_reaches_95_percent_training_and_held_out():
    result = spirals.main(["--quiet", "--no-progress"])
    assert result["train_accuracy"] >= 0.95 and result["test_accuracy"] >= 0.95
    assert result["model"][-1].out_features == 3


def test_the_split_is_stratified_and_disjoint():
    X, y = data.make_spirals(480, n_classes=3, rng=0)
    train_set, test_set = common.split(X, y, np.random.default_rng(0), binary=False)
    assert len(test_set.X) == 120 and np.bincount(test_set.labels).tolist() == [40, 40, 40]
    rows = {tuple(row) for row in np.concatenate([train_set.X, test_set.X])}
    assert len(rows) == 480
    binary_train, _ = common.split(X[:10], y[:10] % 2, 0, binary=True)
    assert binary_train.targets.shape == (len(binary_train.X), 1)
    assert binary_train.targets.dtype == X.dtype


def test_deep_sigmoid_cost_decreases_and_is_printed(capsys):
    result = deep_sigmoid.main(["--epochs", "1500", "--print-every", "300"])
    costs = result["losses"]
    assert len(costs) == 1500
    assert costs[-1] < costs[0] / 5 and result["train_loss"] < costs[0] / 5
    lines = capsys.readouterr().out.splitlines()
    epoch_lines = [line for line in lines if line.startswith("epoch")]
    assert epoch_lines == [
        f"epoch {epoch:>4}/1500  training loss {costs[epoch - 1]:.5f}  "
        f"test loss {result['test_losses'][epoch - 1]:.5f}" for epoch in range(300, 1501, 300)]


def test_deep_sigmoid_refuses_layers_that_do_not_fit_the_data(capsys):
    with pytest.raises(SystemExit):
        deep_sigmoid.main(["--layers", "3", "4", "1"])
    assert "--layers must start with 2" in capsys.readouterr().err


def test_deep_sigmoid_gradients_equal_the_hand_derived_backprop():
    """The tutorial's formulas, with its (out, in) weights W = our weightᵀ and samples as
    columns: Z = W A_prev + b, A = σ(Z); dA_L = -(Y/A_L - (1-Y)/(1-A_L));
    dZ = dA ⊙ A(1-A), dW = dZ A_prevᵀ / m, db = mean of dZ over samples, dA_prev = Wᵀ dZ."""
    tg.set_default_dtype(np.float64)
    try:
        rng = np.random.default_rng(0)
        model = deep_sigmoid.deep_sigmoid_network([2, 5, 4, 1], rng)
        X = rng.normal(size=(7, 2))
        Y = rng.integers(0, 2, size=(7, 1)).astype(np.float64)
        nn.BCELoss()(model(tg.Tensor(X)), Y).backward()
    finally:
        tg.set_default_dtype(np.float32)

    dense_layers = [layer for layer in model if isinstance(layer, nn.Dense)]
    weights = [layer.weight.data.T for layer in dense_layers]      # (out, in)
    biases = [layer.bias.data[:, None] for layer in dense_layers]   # (out, 1)
    m = X.shape[0]
    activations = [X.T]                                             # (features, m)
    for W, b in zip(weights, biases):
        activations.append(1 / (1 + np.exp(-(W @ activations[-1] + b))))
    A_L, Y_T = activations[-1], Y.T
    dA = -(Y_T / A_L - (1 - Y_T) / (1 - A_L))
    for layer_index in reversed(range(len(weights))):
        A, A_prev = activations[layer_index + 1], activations[layer_index]
        dZ = dA * A * (1 - A)
        dW = dZ @ A_prev.T / m
        db = dZ.mean(axis=1, keepdims=True)
        dA = weights[layer_index].T @ dZ
        layer = dense_layers[layer_index]
        np.testing.assert_allclose(layer.weight.grad.numpy(), dW.T, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(layer.bias.grad.numpy(), db[:, 0], rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------- progress

def test_progress_without_tqdm_prints_plain_lines(monkeypatch, capsys):
    monkeypatch.setattr(common, "tqdm", None)
    circles.main(["--epochs", "20"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  training loss")[0] for line in lines[:-3]] == [
        f"epoch {epoch:>2}/20" for epoch in range(2, 21, 2)]
    assert all("  test loss " in line for line in lines[:-3])
    assert lines[-3].startswith("circles (2-4-8-1 ReLU network): 20 epochs")


class FakeBar:
    """Records how the progress bar is made and used, in place of tqdm."""
    made = []

    def __init__(self, **options):
        self.options, self.updates, self.postfix, self.closed = options, 0, None, False
        FakeBar.made.append(self)

    def set_postfix_str(self, text):
        self.postfix = text

    def update(self):
        self.updates += 1

    def close(self):
        self.closed = True


def fake_terminal(monkeypatch, stdout_tty, stderr_tty):
    FakeBar.made = []
    monkeypatch.setattr(common, "tqdm", FakeBar)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: stdout_tty, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: stderr_tty, raising=False)


def test_progress_bar_on_a_terminal_leaves_its_last_line(monkeypatch, capsys):
    fake_terminal(monkeypatch, True, True)
    result = spirals.main(["--epochs", "7", "--batch-size", "100"])  # 4 batches an epoch
    (bar,) = FakeBar.made
    assert bar.options["total"] == 28 and bar.options["leave"] is True
    assert bar.updates == 28 and bar.closed
    assert bar.postfix == (f"epoch 7/7, training loss {result['losses'][-1]:.4g}, "
                           f"test loss {result['test_losses'][-1]:.4g}")
    assert not [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]


@pytest.mark.parametrize("stdout_tty, stderr_tty", [(False, True), (True, False)])
def test_output_that_is_not_a_terminal_gets_plain_lines(monkeypatch, capsys, stdout_tty,
                                                         stderr_tty):
    fake_terminal(monkeypatch, stdout_tty, stderr_tty)
    spirals.main(["--epochs", "10"])
    assert FakeBar.made == []
    epoch_lines = [line for line in capsys.readouterr().out.splitlines()
                   if line.startswith("epoch")]
    assert len(epoch_lines) == 10


def test_no_progress_and_quiet_turn_the_bar_off(monkeypatch, capsys):
    fake_terminal(monkeypatch, True, True)
    spirals.main(["--epochs", "3", "--no-progress"])
    spirals.main(["--epochs", "3", "--quiet"])
    assert FakeBar.made == []


def test_quiet_prints_only_the_result(capsys):
    spirals.main(["--epochs", "5", "--quiet"])
    output = capsys.readouterr().out.splitlines()
    assert len(output) == 3 and output[0].startswith("spirals (3 classes): 5 epochs")
    assert output[1].lstrip().startswith("training accuracy")
    assert output[2].lstrip().startswith("test accuracy")


# ---------------------------------------------------------------- plots

def test_plot_is_saved(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "spirals.png"
    spirals.main(["--epochs", "3", "--quiet", "--plot", str(path)])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_labels_its_axes_and_says_training_or_test(monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure
    saved = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, path, **options: saved.append(figure))
    result = circles.main(["--epochs", "3", "--quiet", "--plot", str(tmp_path / "c.png")])
    (figure,) = saved
    loss_axes, regions_axes = figure.get_axes()
    assert loss_axes.get_xlabel() == "epoch" and "loss" in loss_axes.get_ylabel()
    assert "training" in loss_axes.get_title() and "test" in loss_axes.get_title()
    legend = [text.get_text() for text in loss_axes.get_legend().get_texts()]
    assert any(label.startswith("training loss") for label in legend)
    assert any(label.startswith("test loss") for label in legend)
    np.testing.assert_allclose(loss_axes.get_lines()[1].get_ydata(), result["test_losses"])
    assert regions_axes.get_xlabel() and regions_axes.get_ylabel()
    title = regions_axes.get_title()
    assert f"training accuracy {result['train_accuracy']:.1%}" in title
    assert f"test accuracy {result['test_accuracy']:.1%}" in title
    legend = [text.get_text() for text in regions_axes.get_legend().get_texts()]
    assert {"training points", "test (held-out) points", "class 0", "class 1"} <= set(legend)


def test_plot_without_matplotlib_names_the_plots_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    monkeypatch.setitem(sys.modules, "matplotlib.backend_bases", None)
    with pytest.raises(SystemExit) as info:
        circles.main(["--plot", str(tmp_path / "circles.png")])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert "tinygrad_nn[plots]" in captured.err and "--plot" in captured.err
    assert captured.out == ""  # nothing trained
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- command-line mistakes

@pytest.mark.parametrize("flag, value", [
    ("--seed", "-1"), ("--seed", "x"), ("--lr", "-1"), ("--lr", "0"), ("--lr", "nan"),
    ("--lr", "inf"), ("--epochs", "0"), ("--epochs", "1.5"), ("--batch-size", "0"),
    ("--print-every", "-3"), ("--momentum", "1"), ("--momentum", "-0.5"),
])
def test_bad_flags_are_argparse_errors_naming_the_flag(capsys, flag, value):
    with pytest.raises(SystemExit) as info:
        circles.main([flag, value])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("usage:") and captured.out == ""
    error = captured.err.splitlines()[-1]
    assert f"argument {flag}: " in error and value in error, error


@pytest.mark.parametrize("example, argv, name", [
    (spirals, ["--classes", "1"], "--classes"),
    (spirals, ["--classes", "0"], "--classes"),
    (deep_sigmoid, ["--layers", "2", "0", "1"], "--layers"),
])
def test_bad_example_flags_are_argparse_errors(capsys, example, argv, name):
    with pytest.raises(SystemExit) as info:
        example.main(argv)
    assert info.value.code == 2
    assert name in capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize("matplotlib_installed", [True, False])
def test_plot_into_a_missing_directory_fails_before_training(monkeypatch, capsys, tmp_path,
                                                             matplotlib_installed):
    if not matplotlib_installed:
        monkeypatch.setitem(sys.modules, "matplotlib", None)
        monkeypatch.setitem(sys.modules, "matplotlib.backend_bases", None)
    path = tmp_path / "missing" / "x.png"
    with pytest.raises(SystemExit) as info:
        circles.main(["--plot", str(path)])
    assert info.value.code == 2
    captured = capsys.readouterr()
    error = captured.err.splitlines()[-1]
    assert "argument --plot" in error and str(path) in error and "does not exist" in error
    assert captured.out == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, message", [
    ("", "is a directory"),
    ("plot", "no suffix"),
    ("plot.nope", "cannot write .nope files"),
])
def test_plot_paths_that_cannot_be_written(capsys, tmp_path, name, message):
    if name.endswith(".nope"):
        pytest.importorskip("matplotlib")
    path = str(tmp_path / name) if name else str(tmp_path)
    with pytest.raises(SystemExit):
        circles.main(["--plot", path])
    error = capsys.readouterr().err.splitlines()[-1]
    assert message in error and path in error
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- a loss that is not finite

def circles_with_a_nan(monkeypatch):
    make_circles = data.make_circles

    def with_a_nan(*args, **kwargs):
        X, y = make_circles(*args, **kwargs)
        X[::7, 0] = np.nan  # in the training and in the test part
        return X, y
    monkeypatch.setattr(data, "make_circles", with_a_nan)


def test_nan_in_the_data_stops_training_and_points_to_detect_anomaly(monkeypatch, capsys):
    circles_with_a_nan(monkeypatch)
    steps = count_steps(monkeypatch)
    with pytest.raises(FloatingPointError) as info:
        circles.main(["--no-progress"])
    message = str(info.value)
    assert "training loss is nan at epoch 1, batch 1 of 1" in message
    assert "tg.detect_anomaly()" in message and "--detect-anomaly" in message
    assert steps == [] and capsys.readouterr().out == ""


def count_steps(monkeypatch):
    steps = []
    step = tg.optim.SGD.step
    monkeypatch.setattr(tg.optim.SGD, "step", lambda self: steps.append(1) or step(self))
    return steps


def test_a_learning_rate_too_large_stops_before_the_non_finite_update(monkeypatch):
    """The weights overflow a few epochs in and the model's output turns NaN: training stops
    at the evaluation after that epoch, before any further update, with no NumPy warning on
    the way."""
    steps = count_steps(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(FloatingPointError, match="--lr 1e\\+30") as info:
            circles.main(["--lr", "1e30", "--quiet"])
    epoch = int(re.search(r"after epoch (\d+): training stopped", str(info.value)).group(1))
    assert epoch > 1 and len(steps) == epoch


def test_detect_anomaly_flag_names_the_op(monkeypatch):
    circles_with_a_nan(monkeypatch)
    with pytest.raises(FloatingPointError, match="Affine produced NaN"):
        circles.main(["--quiet", "--detect-anomaly"])


def test_run_turns_a_non_finite_loss_into_a_message(monkeypatch, capsys):
    def diverging_main():
        raise FloatingPointError("the training loss is nan")
    with pytest.raises(SystemExit) as info:
        common.run(diverging_main)
    assert info.value.code == "error: the training loss is nan"


# ---------------------------------------------------------------- as programs

def test_package_main_runs_circles_and_help_lists_the_examples(capsys):
    result = entry_point.main(["--epochs", "5", "--quiet"])
    assert {"train_accuracy", "test_accuracy"} <= set(result)
    assert entry_point.main(["--help"]) is None
    help_text = capsys.readouterr().out
    for name in ("circles", "deep_sigmoid", "spirals", "digits"):
        assert f"python -m tinygrad_nn.examples.{name}" in help_text
    assert "--epochs" in help_text and "--no-progress" in help_text


def test_python_dash_m_tinygrad_nn_runs():
    completed = subprocess.run(
        [sys.executable, "-m", "tinygrad_nn", "--epochs", "10", "--no-progress"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert "circles (2-4-8-1 ReLU network): 10 epochs" in completed.stdout
    assert "test accuracy" in completed.stdout


def test_a_reader_that_stops_early_ends_the_example_quietly():
    """`python -m tinygrad_nn.examples.circles | head -1`: the pipe is closed before the
    example writes, so every write fails; no BrokenPipeError traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tinygrad_nn.examples.circles", "--epochs", "20"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=120) == 1
    assert stderr == ""


def test_the_examples_list_names_every_example():
    listed = {line.split()[0] for line in
              sys.modules["tinygrad_nn.examples"].__doc__.split("\n\n")[1].splitlines()
              if not line.startswith(" " * 8)}
    files = {path.stem for path in (REPO_ROOT / "tinygrad_nn" / "examples").glob("*.py")}
    assert listed == files - {"__init__", "common"}
    assert set(entry_point.EXAMPLES) == listed

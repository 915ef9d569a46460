"""The examples reach their accuracy from a fixed seed, and the L-layer sigmoid network's
gradients equal the tutorial's hand-derived backprop formulas."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import __main__ as entry_point
from tinygrad_nn import nn
from tinygrad_nn.examples import circles, common, deep_sigmoid, spirals

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_circles_reaches_95_percent_from_the_default_seed(capsys):
    result = circles.main(["--quiet", "--no-progress"])
    assert result["accuracy"] >= 0.95
    assert result["loss"] < result["losses"][0] / 10
    assert len(result["losses"]) == circles.EPOCHS
    assert "training accuracy" in capsys.readouterr().out


def test_circles_with_mini_batches():
    result = circles.main(["--quiet", "--batch-size", "32", "--epochs", "60", "--lr", "0.1"])
    assert result["accuracy"] >= 0.95


def test_spirals_reaches_95_percent_from_the_default_seed():
    result = spirals.main(["--quiet", "--no-progress"])
    assert result["accuracy"] >= 0.95
    assert result["model"][-1].out_features == 3


def test_deep_sigmoid_cost_decreases_and_is_printed(capsys):
    result = deep_sigmoid.main(["--epochs", "500", "--print-every", "100"])
    costs = result["losses"]
    assert len(costs) == 500
    assert costs[-1] < costs[0] / 5 and result["loss"] < costs[0] / 5
    output = capsys.readouterr().out
    assert [line for line in output.splitlines() if line.startswith("cost after epoch")] == [
        f"cost after epoch {epoch}: {costs[epoch]:.6f}" for epoch in range(0, 500, 100)]


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


def test_progress_without_tqdm_prints_plain_lines(monkeypatch, capsys):
    monkeypatch.setattr(common, "tqdm", None)
    circles.main(["--epochs", "20"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  loss")[0] for line in lines[:-1]] == [
        f"epoch {epoch:>2}/20" for epoch in range(2, 21, 2)]
    assert lines[-1].startswith("circles: 20 epochs")


def test_quiet_prints_only_the_result(capsys):
    spirals.main(["--epochs", "5", "--quiet"])
    output = capsys.readouterr().out.splitlines()
    assert len(output) == 1 and output[0].startswith("spirals (3 classes): 5 epochs")


def test_plot_is_saved(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "spirals.png"
    spirals.main(["--epochs", "3", "--quiet", "--plot", str(path)])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_what_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(SystemExit):
        circles.main(["--plot", str(tmp_path / "circles.png")])
    assert "pip install matplotlib" in capsys.readouterr().err
    assert not (tmp_path / "circles.png").exists()


def test_package_main_runs_circles_and_help_lists_the_examples(capsys):
    result = entry_point.main(["--epochs", "5", "--quiet"])
    assert set(result) >= {"loss", "accuracy"}
    assert entry_point.main(["--help"]) is None
    help_text = capsys.readouterr().out
    for name in ("circles", "deep_sigmoid", "spirals"):
        assert f"python -m tinygrad_nn.examples.{name}" in help_text
    assert "--epochs" in help_text and "--no-progress" in help_text


def test_python_dash_m_tinygrad_nn_runs():
    completed = subprocess.run(
        [sys.executable, "-m", "tinygrad_nn", "--epochs", "10", "--no-progress"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert "circles: 10 epochs" in completed.stdout

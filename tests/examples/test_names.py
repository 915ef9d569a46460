"""The names example: a short run of each model learns something and ends in the held-out line,
replays through tg.jit as eager training, trains on any text, draws attention weights, and
refuses a bad --text before training."""
import re

import numpy as np
import pytest

from tinygrad_nn import data
from tinygrad_nn.examples import names

SHORT = ["--steps", "40", "--batch-size", "16", "--width", "16", "--no-progress", "--quiet"]


def test_a_short_transformer_run_beats_the_uniform_guess_and_prints_the_last_line(capsys):
    result = names.main(SHORT + ["--lr", "0.01"])
    assert result["test_loss"] < np.log(27) - 0.3  # a uniform guess over 27 characters
    assert 2.3 < result["bigram_loss"] < 2.6 and len(result["losses"]) == 40
    assert len(result["samples"]) == 10 and all(set(s) <= set("abcdefghijklmnopqrstuvwxyz")
                                                for s in result["samples"])
    last = capsys.readouterr().out.splitlines()[-1]
    assert re.fullmatch(r"held-out loss \d\.\d{3} nats/char \(bigram baseline \d\.\d{3}\)", last)
    assert last == (f"held-out loss {result['test_loss']:.3f} nats/char (bigram baseline "
                    f"{result['bigram_loss']:.3f})")


@pytest.fixture
def few_names(tmp_path):
    """A text file of 100 of the names: a small held-out set, quick to evaluate."""
    path = tmp_path / "few.txt"
    path.write_text("\n".join(data.load_names()[::320]), encoding="utf-8")
    return str(path)


def test_training_through_tg_jit_equals_eager_training_bit_for_bit(few_names):
    flags = ["--steps", "6", "--batch-size", "8", "--width", "8", "--quiet", "--text",
             few_names]
    for model in ("transformer", "lstm"):
        replayed = names.main(flags + ["--model", model])
        eager = names.main(flags + ["--model", model, "--no-jit"])
        assert replayed["losses"] == eager["losses"] and replayed["samples"] == eager["samples"]


def test_the_split_is_seeded_disjoint_and_ninety_ten():
    lines = data.load_names()
    train, test = names.split_lines(lines, np.random.default_rng(0))
    assert len(test) == 3204 and len(train) + len(test) == len(lines)
    assert sorted(train + test) == sorted(lines)
    assert names.split_lines(lines, np.random.default_rng(0))[1] == test


def test_sequences_are_shifted_by_one_and_padded():
    vocab = data.CharVocab("\nabc")
    inputs, targets = names.sequences(["ab", "cabca"], vocab, block_size=4)
    assert inputs.tolist() == [[0, 1, 2, 0], [0, 3, 1, 2], [3, 1, 0, 0]]
    assert targets.tolist() == [[1, 2, 0, -1], [3, 1, 2, 3], [1, 0, -1, -1]]


def test_an_lstm_trains_on_a_text_file(tmp_path, capsys):
    text = tmp_path / "lines.txt"
    lines = ["ab" * (k % 6 + 1) + "c" for k in range(30)]
    text.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    result = names.main(["--text", str(text), "--model", "lstm", "--steps", "60", "--lr",
                         "0.02", "--width", "8", "--no-progress"])
    assert result["test_loss"] < result["bigram_loss"] + 0.5
    output = capsys.readouterr().out
    assert "27 training and 3 held-out lines, 4 characters, blocks of 14" in output


def test_the_plot_shows_the_losses_and_one_heads_attention(monkeypatch, tmp_path, few_names):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure
    saved = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, path, **options: saved.append(figure))
    result = names.main(["--steps", "20", "--batch-size", "8", "--width", "8", "--quiet",
                         "--text", few_names, "--plot", str(tmp_path / "names.png")])
    (figure,) = saved
    losses, attention = figure.get_axes()[:2]
    assert len(result["test_losses"]) == names.EVALUATIONS
    assert "held-out" in [text.get_text() for text in losses.get_legend().get_texts()][1]
    assert attention.get_title().startswith("attention weights of layer 0, head 0 on ")
    weights = attention.get_images()[0].get_array()
    assert np.allclose(weights.sum(axis=1), 1) and not np.triu(weights, 1).any()  # causal


@pytest.mark.parametrize("content, message", [(None, "no such file"), (b"\xff\xfe", "UTF-8"),
                                              (b"one line\n", "at least 2")])
def test_a_bad_text_file_is_refused_before_training(tmp_path, capsys, content, message):
    path = tmp_path / "text.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SystemExit) as info:
        names.main(["--text", str(path)])
    assert info.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert "argument --text" in error and message in error


def test_a_learning_rate_that_blows_up_stops_with_a_message(few_names):
    with pytest.raises(FloatingPointError, match=r"loss is nan at step \d+: .* smaller --lr"):
        names.main(["--steps", "30", "--lr", "1e12", "--quiet", "--text", few_names,
                    "--width", "8", "--batch-size", "8"])

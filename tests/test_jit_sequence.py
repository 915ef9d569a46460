"""tg.jit captures the sequence models: an LSTM step and a transformer step, with dropout and
masks, replay what eager steps compute, bit for bit."""
import numpy as np

import tinygrad_nn as tg
from tinygrad_nn import nn, optim

VOCAB, STEPS = 11, 6


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


class Tagger(nn.Module):
    """(N, T) indices -> (N, VOCAB, T) logits through a 2-layer bidirectional LSTM with
    dropout between the layers."""

    def __init__(self, seed):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 6, rng=seed)
        self.lstm = nn.LSTM(6, 5, num_layers=2, dropout=0.3, bidirectional=True,
                            batch_first=True, rng=seed + 1)
        self.head = nn.Dense(10, VOCAB, rng=seed + 2)

    def forward(self, indices, padding):
        return self.head(self.lstm(self.embed(indices))[0]).transpose(0, 2, 1)


class Encoder(nn.Module):
    """(N, T) indices -> (N, T, VOCAB) logits: a 2-layer causal encoder with dropout, keys
    masked by a padding mask."""

    def __init__(self, seed):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 8, rng=seed)
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.2, activation="gelu",
                                           batch_first=True, norm_first=True, rng=seed + 1)
        self.encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8))
        self.head = nn.Dense(8, VOCAB, rng=seed + 2)

    def forward(self, indices, padding):
        x = self.encoder(self.embed(indices), src_key_padding_mask=padding, is_causal=True)
        return self.head(x).transpose(0, 2, 1)


def training(model_class):
    model = model_class(seed=3)
    # plain SGD makes no optimizer state: the first call is a steady step, captured once
    # (AdamW's first call, which makes its state, is captured and dropped: test_jit.py)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss(ignore_index=-1, label_smoothing=0.1)

    def step(indices, padding, targets):
        step.runs += 1  # counts the calls that run this Python code: eager ones and captures
        optimizer.zero_grad()
        loss = loss_fn(model(indices, padding), targets)
        loss.backward()
        optimizer.step()
        return loss
    step.runs = 0
    return model, optimizer, step


def batches(seed=0, n=3, length=5):
    """Random sequences with a padded tail of random length (target -1, padding True)."""
    rng = np.random.default_rng(seed)
    for _ in range(STEPS):
        indices = rng.integers(0, VOCAB, (n, length))
        lengths = rng.integers(2, length + 1, n)
        padding = np.arange(length) >= lengths[:, None]
        targets = np.where(padding, -1, rng.integers(0, VOCAB, (n, length)))
        yield indices, padding, targets


def replays_as_eager(model_class):
    model_a, optimizer_a, eager = training(model_class)
    model_b, optimizer_b, step = training(model_class)
    jitted = tg.jit(step)
    for indices, padding, targets in batches():
        loss_a = eager(indices, padding, targets)
        loss_b = jitted(indices, padding, targets)
        assert same_bits(loss_a.data, loss_b.data)
    for (name, p), q in zip(model_a.named_parameters(), model_b.parameters()):
        assert same_bits(p.data, q.data), name
        assert same_bits(p.grad.data, q.grad.data), name
    assert step.runs == 1  # captured on the first call, replayed on every later one
    return jitted


def test_an_lstm_step_with_dropout_replays_bit_for_bit():
    step = replays_as_eager(Tagger)
    assert "rng.random" in step.plan  # the dropout masks are drawn anew in each replay


def test_a_transformer_step_with_dropout_and_masks_replays_bit_for_bit():
    step = replays_as_eager(Encoder)
    assert "rng.random" in step.plan

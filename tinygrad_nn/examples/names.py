"""A character-level language model that learns to make up names: a small causal transformer
(or an LSTM with --model lstm) reads a name one character at a time and predicts the next one;
trained on 90 % of the 32,033 names the package ships (or on the lines of --text FILE) with
AdamW, a cosine schedule and gradient clipping, through tg.jit; prints the held-out loss in
nats per character beside a bigram model counted on the same split, and samples 10 new names.

    python -m tinygrad_nn.examples.names [--model lstm] [--steps N] [--text FILE] [--plot FILE]
"""
import argparse
import math
import sys
import time

import numpy as np

import tinygrad_nn as tg
from tinygrad_nn import data, nn, optim
from tinygrad_nn.examples.common import (add_report_flags, non_negative_int, parse_args,
                                         plot_path, positive_float, positive_int, run, tqdm)

try:  # with NumPy's BLAS on one thread these small products run faster (and undisturbed)
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

STEPS = 3000
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 0.01
MAX_NORM = 1.0  # gradient clipping
WIDTH = 64
LAYERS = 2
HEADS = 4
TEST_SIZE = 0.1
SAMPLES = 10
EVALUATIONS = 10  # held-out losses measured during training, for the plot
END = 0  # index of "\n": the start and the end of every sequence
IGNORE = -1  # the target of a padding position


# ---------------------------------------------------------------- data

def sequences(lines, vocab, block_size):
    """(inputs, targets), each (M, block_size) int64: a line l becomes "\\n" + l -> l + "\\n",
    cut into windows of block_size when longer, padded with END (inputs) and IGNORE
    (targets)."""
    inputs, targets = [], []
    for line in lines:
        tokens = np.concatenate([[END], vocab.encode(line), [END]])
        for start in range(0, max(len(tokens) - 1, 1), block_size):
            window = tokens[start:start + block_size + 1]
            x = np.full(block_size, END, np.int64)
            y = np.full(block_size, IGNORE, np.int64)
            x[:len(window) - 1], y[:len(window) - 1] = window[:-1], window[1:]
            inputs.append(x)
            targets.append(y)
    return np.array(inputs).reshape(-1, block_size), np.array(targets).reshape(-1, block_size)


def split_lines(lines, rng, test_size=TEST_SIZE):
    """(training lines, held-out lines): a shuffled split, ceil(test_size · N) held out."""
    order = rng.permutation(len(lines))
    held_out = math.ceil(test_size * len(lines))
    return [lines[i] for i in order[held_out:]], [lines[i] for i in order[:held_out]]


def bigram_loss(train, test, vocab_size):
    """Mean held-out negative log-likelihood (nats per character) of the bigram model counted
    on the training sequences (add-one smoothing): the baseline to beat."""
    counts = np.ones((vocab_size, vocab_size))
    kept = train[1] != IGNORE
    np.add.at(counts, (train[0][kept], train[1][kept]), 1)
    log_p = np.log(counts / counts.sum(axis=1, keepdims=True))
    kept = test[1] != IGNORE
    return float(-log_p[test[0][kept], test[1][kept]].mean())


# ---------------------------------------------------------------- models

class CharTransformer(nn.Module):
    """(N, T) character indices -> (N, T, vocab) logits of the next character: token and
    position embeddings, `layers` pre-norm causal encoder layers, a final layer norm, a head."""

    def __init__(self, vocab_size, block_size, width=WIDTH, layers=LAYERS, heads=HEADS,
                 rng=None):
        super().__init__()
        self.token = nn.Embedding(vocab_size, width, rng=rng)
        self.position = nn.Embedding(block_size, width, rng=rng)
        with tg.no_grad():  # N(0, 0.1²) embeddings: N(0, 1) drowns the first layers
            self.token.weight.mul_(0.1)
            self.position.weight.mul_(0.1)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0,
                                           batch_first=True, norm_first=True, rng=rng)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(width))
        self.head = nn.Dense(width, vocab_size, rng=rng)

    def embed(self, indices):
        # the first T rows of the position table: a slice, whose gradient is one assignment,
        # where an index array would go through np.add.at
        return self.token(indices) + self.position.weight[:indices.shape[1]]

    def forward(self, indices):
        return self.head(self.encoder(self.embed(indices), is_causal=True))

    def attention(self, indices, layer=0):
        """(N, heads, T, T): the attention weights of every head of one encoder layer."""
        x = self.embed(indices)
        for block in self.encoder.layers[:layer]:
            x = block(x, is_causal=True)
        block = self.encoder.layers[layer]
        y = block.norm1(x)
        return block.self_attn(y, y, y, is_causal=True, average_attn_weights=False)[1]


class CharLSTM(nn.Module):
    """(N, T) character indices -> (N, T, vocab) logits: an embedding, a `layers`-deep LSTM,
    a head."""

    def __init__(self, vocab_size, width=WIDTH, layers=1, rng=None):
        super().__init__()
        self.token = nn.Embedding(vocab_size, width, rng=rng)
        self.lstm = nn.LSTM(width, 2 * width, num_layers=layers, batch_first=True, rng=rng)
        self.head = nn.Dense(2 * width, vocab_size, rng=rng)

    def forward(self, indices):
        return self.head(self.lstm(self.token(indices))[0])


# ---------------------------------------------------------------- training

class StepProgress:
    """A tqdm bar over the steps when tqdm is installed, wanted and both outputs are terminals;
    else a line of training loss every `every` steps and at the last."""

    def __init__(self, steps, every, quiet, bar):
        self.steps, self.every, self.quiet = steps, every, quiet
        self.bar = None
        if bar and not quiet and tqdm is not None and sys.stdout.isatty() and sys.stderr.isatty():
            self.bar = tqdm(total=steps, unit="step", desc="names", leave=True,
                            dynamic_ncols=True)

    def step_done(self, step, loss):
        if self.bar is not None:
            self.bar.update()
            if step % 50 == 0 or step == self.steps:
                self.bar.set_postfix_str(f"training loss {loss:.4f}")
        elif not self.quiet and (step % self.every == 0 or step == self.steps):
            print(f"step {step:>{len(str(self.steps))}}/{self.steps}  training loss {loss:.4f}")

    def close(self):
        if self.bar is not None:
            self.bar.close()


def held_out_loss(model, test, batch_size=512):
    """Mean negative log-likelihood per character of the targets of `test` (nats/char)."""
    model.eval()
    loss_fn = nn.CrossEntropyLoss(reduction="sum", ignore_index=IGNORE)
    total = 0.0
    with tg.no_grad():
        for start in range(0, len(test[0]), batch_size):
            logits = model(test[0][start:start + batch_size])
            total += loss_fn(logits.reshape(-1, logits.shape[-1]),
                             test[1][start:start + batch_size].reshape(-1)).item()
    model.train()
    return total / np.count_nonzero(test[1] != IGNORE)


def train(model, train_set, test_set, args, rng):
    """args.steps AdamW steps on random batches, the learning rate annealed to 0 by a cosine,
    gradients clipped to norm MAX_NORM. Returns ({"train": loss of each step, "test": [(step,
    held-out loss), ...]}, seconds)."""
    optimizer = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=WEIGHT_DECAY)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps)
    loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE)

    def loss_and_gradients(inputs, targets):
        optimizer.zero_grad()
        logits = model(inputs)
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        loss.backward()
        return loss

    if not args.no_jit:  # captured once, replayed as flat NumPy (docs/jit.md)
        loss_and_gradients = tg.jit(loss_and_gradients)
    history = {"train": [], "test": []}
    every = args.print_every or max(args.steps // 10, 1)
    evaluate_every = max(args.steps // EVALUATIONS, 1)
    progress = StepProgress(args.steps, every, args.quiet, not args.no_progress)
    start = time.perf_counter()
    # overflow shows up as a non-finite loss, reported once with what to do about it, rather
    # than as NumPy warnings from inside the ops
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for step in range(1, args.steps + 1):
            rows = rng.integers(0, len(train_set[0]), args.batch_size)
            loss = loss_and_gradients(train_set[0][rows], train_set[1][rows]).item()
            if not math.isfinite(loss):
                progress.close()
                raise FloatingPointError(f"the training loss is {loss} at step {step}: training "
                                         f"stopped before that update (try a smaller --lr)")
            nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)
            optimizer.step()
            scheduler.step()
            history["train"].append(loss)
            if args.plot and (step % evaluate_every == 0 or step == args.steps):
                history["test"].append((step, held_out_loss(model, test_set)))
            progress.step_done(step, loss)
    progress.close()
    return history, time.perf_counter() - start


def sample(model, vocab, block_size, rng, count=SAMPLES):
    """`count` new lines drawn from the model, one character at a time from its softmax, each
    until it draws the end ("\\n") or reaches block_size characters."""
    model.eval()
    lines = []
    with tg.no_grad():
        for _ in range(count):
            context = [END]
            while len(context) <= block_size:
                logits = model(np.array([context[-block_size:]]))[0, -1].numpy()
                p = np.exp(logits - logits.max())
                index = int(rng.choice(len(p), p=p / p.sum()))
                if index == END:
                    break
                context.append(index)
            lines.append(vocab.decode(context[1:]))
    model.train()
    return lines


# ---------------------------------------------------------------- the program

def build_parser(prog="python -m tinygrad_nn.examples.names"):
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("transformer", "lstm"), default="transformer",
                        help="a causal pre-norm transformer (default) or an LSTM")
    parser.add_argument("--steps", type=positive_int, default=STEPS,
                        help=f"training steps, one batch each (default {STEPS})")
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE,
                        help=f"sequences per batch (default {BATCH_SIZE})")
    parser.add_argument("--lr", type=positive_float, default=LEARNING_RATE,
                        help=f"AdamW's starting learning rate, annealed to 0 by a cosine "
                        f"(default {LEARNING_RATE})")
    parser.add_argument("--width", type=positive_int, default=WIDTH,
                        help=f"embedding width (default {WIDTH}; the LSTM's state is twice as "
                        f"wide)")
    parser.add_argument("--layers", type=positive_int, default=None,
                        help=f"encoder layers (default {LAYERS}) or LSTM layers (default 1)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of the split, the initial weights, the batches and the "
                        "samples (default 0)")
    parser.add_argument("--text", metavar="FILE",
                        help="train on the lines of this UTF-8 text file instead of the names")
    parser.add_argument("--plot", metavar="FILE.png", type=plot_path,
                        help="save the loss curves and one head's attention weights on a name "
                        "(needs matplotlib: pip install 'tinygrad_nn[plots]')")
    add_report_flags(parser, "steps")
    return parser


def load_lines(args, parser):
    """The names, or the non-empty lines of --text (ending spaces and "\\r" removed)."""
    if args.text is None:
        return data.load_names()
    try:
        text = data.load_text(args.text)
    except (OSError, ValueError) as error:
        parser.error(f"argument --text: {error}")
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        parser.error(f"argument --text: {args.text!r} has {len(lines)} non-empty line(s); "
                     f"at least 2 are needed to hold some out")
    return lines


def main(argv=None, prog=None):
    """Train, print the held-out loss beside the bigram baseline and 10 samples; returns
    {"test_loss", "bigram_loss", "losses", "test_losses", "samples", "seconds", "model"}."""
    parser = build_parser(*([prog] if prog else []))
    args = parse_args(parser, argv)
    lines = load_lines(args, parser)
    vocab = data.CharVocab("\n" + "".join(lines))
    block_size = min(max(len(line) for line in lines) + 1, 64)
    rng = np.random.default_rng(args.seed)
    train_lines, test_lines = split_lines(lines, rng)
    train_set = sequences(train_lines, vocab, block_size)
    test_set = sequences(test_lines, vocab, block_size)
    if args.model == "lstm":
        model = CharLSTM(len(vocab), args.width, args.layers or 1, rng=rng)
    else:
        model = CharTransformer(len(vocab), block_size, args.width, args.layers or LAYERS,
                                rng=rng)
    if not args.quiet:
        print(f"{args.model}: {sum(p.size for p in model.parameters()):,} parameters; "
              f"{len(train_lines):,} training and {len(test_lines):,} held-out lines, "
              f"{len(vocab)} characters, blocks of {block_size}")
    one_thread = threadpool_limits(1, user_api="blas") if threadpool_limits else None
    try:
        history, seconds = train(model, train_set, test_set, args, rng)
    finally:
        if one_thread is not None:
            one_thread.unregister()
    result = {"test_loss": held_out_loss(model, test_set), "seconds": seconds, "model": model,
              "bigram_loss": bigram_loss(train_set, test_set, len(vocab)),
              "losses": history["train"], "test_losses": history["test"],
              "samples": sample(model, vocab, block_size, rng)}
    if not args.quiet:
        print(f"{args.steps} steps in {seconds:.1f} s; samples:")
        print("\n".join("  " + line for line in result["samples"]))
    if args.plot:
        save_plot(args.plot, args, model, vocab, test_lines, result)
        if not args.quiet:
            print(f"plot saved to {args.plot}")
    print(f"held-out loss {result['test_loss']:.3f} nats/char (bigram baseline "
          f"{result['bigram_loss']:.3f})")
    return result


# ---------------------------------------------------------------- the plot

def save_plot(path, args, model, vocab, test_lines, result):
    """Left: the training loss (a running mean over 50 steps), the held-out loss and the bigram
    baseline. Right: the transformer's attention weights, layer 0, head 0, on the first
    held-out line (for the LSTM: its next-character probabilities along that line)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 5), layout="constrained")
    left, right = figure.subplots(1, 2)
    losses = np.asarray(result["losses"])
    window = min(50, len(losses))
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    left.plot(np.arange(window, len(losses) + 1), smooth,
              label=f"training loss (mean of {window} steps)")
    if result["test_losses"]:
        steps, values = zip(*result["test_losses"])
        left.plot(steps, values, "o-", label="held-out loss")
    left.axhline(result["bigram_loss"], color="gray", linestyle="--", label="bigram baseline")
    left.set(xlabel="step", ylabel="nats per character", title="training and held-out loss")
    left.legend()
    line = test_lines[0]
    shown = ["·"] + list(line)  # "·" is the start of the line
    indices = np.array([np.concatenate([[END], vocab.encode(line)])])
    model.eval()
    with tg.no_grad():
        if isinstance(model, CharTransformer):
            picture = model.attention(indices)[0, 0].numpy()
            title = f"attention weights of layer 0, head 0 on {line!r}"
            columns, xlabel = shown, "key (attended to)"
        else:
            picture = model(indices)[0].softmax(axis=-1).numpy()
            title = f"next-character probabilities along {line!r}"
            columns, xlabel = [c if c != "\n" else "end" for c in vocab.chars], "next character"
    model.train()
    image = right.imshow(picture, cmap="viridis", vmin=0)
    right.set_xticks(range(len(columns)), columns)
    right.set_yticks(range(len(shown)), shown)
    right.set(xlabel=xlabel, ylabel="query (position read)", title=title)
    figure.colorbar(image, ax=right, shrink=0.8)
    figure.suptitle(f"names: {args.model}, held-out {result['test_loss']:.3f} nats/char "
                    f"(bigram {result['bigram_loss']:.3f})")
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    run(main)

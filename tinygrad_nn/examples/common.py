"""What the examples share: their command-line flags (checked before any training), the split
into training and held-out test sets, the training loop with its progress report, the
evaluation on both sets, the plot, and running as a program."""
import argparse
import contextlib
import math
import os
import sys
import time
from typing import NamedTuple

import numpy as np

try:
    from tqdm import tqdm
except ImportError:  # tqdm is optional: without it progress is printed as plain lines
    tqdm = None

import tinygrad_nn as tg

TEST_SIZE = 0.25


# ---------------------------------------------------------------- command-line flags

def _number(text, kind):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {'an integer' if kind is int else 'a number'}"
                                         f", got {text!r}") from None


def positive_int(text):
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def non_negative_int(text):
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def positive_float(text):
    value = _number(text, float)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def fraction(text):
    """A number in [0, 1): a momentum, a dropout probability, a weight decay."""
    value = _number(text, float)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text}")
    return value


def plot_path(text):
    """A file that can be written: its directory exists and it is not a directory itself."""
    directory = os.path.dirname(os.path.abspath(text))
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a directory; give a file name such as "
                                         f"{os.path.join(text, 'plot.png')!r}")
    if not os.path.isdir(directory):
        raise argparse.ArgumentTypeError(f"cannot save the plot to {text!r}: the directory "
                                         f"{directory!r} does not exist")
    if not os.access(directory, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot save the plot to {text!r}: the directory "
                                         f"{directory!r} is not writable")
    if not os.path.splitext(text)[1]:
        raise argparse.ArgumentTypeError(f"{text!r} has no suffix to tell the image format "
                                         "(.png, .svg, .pdf)")
    return text


def make_parser(prog, description, epochs, lr, batch_size=None, seed=0, epochs_help=None):
    """An ArgumentParser with the flags every example takes: --epochs, --lr, --batch-size,
    --seed, --plot, --quiet, --no-progress, --print-every, --no-jit and --detect-anomaly."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--epochs", type=positive_int, default=epochs,
                        help=epochs_help or f"passes over the training set (default {epochs})")
    parser.add_argument("--lr", type=positive_float, default=lr,
                        help=f"learning rate (default {lr})")
    parser.add_argument("--batch-size", type=positive_int, default=batch_size,
                        help=f"mini-batch size (default {batch_size or 'the whole training set'})")
    parser.add_argument("--seed", type=non_negative_int, default=seed,
                        help=f"seed of the data, its split, the initial weights and the batch "
                        f"order (default {seed})")
    parser.add_argument("--plot", metavar="FILE.png", type=plot_path,
                        help="save the training and test loss curves and a picture of what the "
                        "model learned (needs matplotlib: pip install 'tinygrad_nn[plots]')")
    add_report_flags(parser, "epochs")
    parser.add_argument("--detect-anomaly", action="store_true",
                        help="train under tg.detect_anomaly(): stop at the first op that makes "
                        "a NaN or inf, naming it (slower)")
    return parser


def add_report_flags(parser, unit):
    """--quiet, --no-progress, --print-every (N of `unit`: "epochs", "steps") and --no-jit."""
    parser.add_argument("--quiet", action="store_true", help="print only the final result")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar: plain loss lines instead")
    parser.add_argument("--print-every", type=positive_int, default=None, metavar="N",
                        help=f"without a progress bar, print the losses every N {unit} "
                        f"(default: {unit} / 10)")
    parser.add_argument("--no-jit", action="store_true",
                        help="compute each step's loss and gradients eagerly instead of replaying "
                             "them with tg.jit (to compare)")


def parse_args(parser, argv):
    """Parse argv; with --plot, check now (not after training) that matplotlib is there and
    can write the file's format."""
    args = parser.parse_args(argv)
    if args.plot:
        try:
            from matplotlib.backend_bases import FigureCanvasBase
        except ImportError:
            parser.error("--plot needs matplotlib, which is not installed: "
                         "pip install 'tinygrad_nn[plots]'  (or: pip install matplotlib)")
        formats = FigureCanvasBase.get_supported_filetypes()
        suffix = os.path.splitext(args.plot)[1][1:].lower()
        if suffix not in formats:
            parser.error(f"argument --plot: matplotlib cannot write .{suffix} files "
                         f"({args.plot!r}); use one of: {', '.join(sorted(formats))}")
    return args


# ---------------------------------------------------------------- data

class Dataset(NamedTuple):
    """One part of a data set: inputs X (N, ...), the targets the loss compares the output
    with, and the (N,) integer class labels accuracy is counted on."""
    X: np.ndarray
    targets: np.ndarray
    labels: np.ndarray


def dataset(X, y, binary):
    """A Dataset of inputs X and labels y; with `binary` the targets are the labels as an (N, 1)
    float column (for a network with one probability output), else the labels themselves."""
    return Dataset(X, y[:, None].astype(X.dtype) if binary else y, y)


def split(X, y, rng, binary, test_size=TEST_SIZE):
    """(training set, held-out test set): Datasets from a stratified split."""
    X_train, X_test, y_train, y_test = tg.data.train_test_split(X, y, test_size=test_size,
                                                                rng=rng)
    return dataset(X_train, y_train, binary), dataset(X_test, y_test, binary)


# ---------------------------------------------------------------- training

class Progress:
    """Reports the training: a tqdm bar that moves with every batch and shows the last epoch's
    losses (its final line left on screen) when tqdm is installed, wanted and both outputs are
    terminals; else a plain line of losses every `every` epochs and at the last one."""

    def __init__(self, epochs, batches, every, quiet=False, bar=True, name=None):
        self.epochs, self.every, self.quiet = epochs, every, quiet
        self.bar = None
        if bar and not quiet and tqdm is not None and sys.stdout.isatty() and sys.stderr.isatty():
            self.bar = tqdm(total=epochs * batches, unit="batch", desc=name, leave=True,
                            dynamic_ncols=True)

    def batch_done(self):
        if self.bar is not None:
            self.bar.update()

    def epoch_done(self, epoch, train_loss, test_loss):
        """Epoch `epoch` (counted from 1) ended with these mean losses."""
        if self.bar is not None:
            self.bar.set_postfix_str(f"epoch {epoch}/{self.epochs}, training loss "
                                     f"{train_loss:.4g}, test loss {test_loss:.4g}")
        elif not self.quiet and (epoch % self.every == 0 or epoch == self.epochs):
            print(f"epoch {epoch:>{len(str(self.epochs))}}/{self.epochs}  "
                  f"training loss {train_loss:.5f}  test loss {test_loss:.5f}")

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _diverged(what, args):
    """The one message every divergence ends with, eager or jitted: what went non-finite, and
    what to do about it."""
    return FloatingPointError(
        f"{what}. NaN or inf in the data or a learning rate too large (--lr {args.lr:g}) are the "
        f"usual causes; to find the op that first made a NaN or inf, run the training under "
        f"`with tg.detect_anomaly():` (the --detect-anomaly flag does)")


class _Step:
    """One batch's loss and gradients (`step(inputs, targets, where)` -> the loss value, the
    gradients in .grad), replayed with tg.jit unless `eager`. A batch that shows the training
    has diverged raises FloatingPointError, with the same message eager or jitted."""

    def __init__(self, model, loss_fn, optimizer, args, eager):
        self.model, self.loss_fn, self.optimizer, self.args = model, loss_fn, optimizer, args
        # captured once per batch shape, then replayed as flat NumPy (docs/jit.md); the update
        # stays eager so that a non-finite loss stops training before it
        self.jitted = None if eager else tg.jit(self.loss_and_gradients)

    def loss_and_gradients(self, inputs, targets):
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(inputs), targets)
        loss.backward()
        return loss

    def __call__(self, inputs, targets, where):
        try:
            value = self._loss_value(inputs, targets)
        except ValueError:  # a loss that refuses a NaN output (BCELoss) says why, not this
            if self._output_is_finite(inputs):
                raise
            raise _diverged(f"the model's output is nan at {where}: training stopped before "
                            f"that update", self.args) from None
        if not math.isfinite(value):
            raise _diverged(f"the training loss is {value} at {where}: training stopped before "
                            f"that update", self.args)
        return value

    def _loss_value(self, inputs, targets):
        # (a replay that meets a value its capture did not see, a NaN most often, undoes what
        # it began and captures anew: the loss is what --no-jit computes)
        step = self.loss_and_gradients if self.jitted is None else self.jitted
        return step(inputs, targets).item()

    def _output_is_finite(self, inputs):
        with tg.no_grad():
            return bool(np.isfinite(self.model(inputs).numpy()).all())


def train(model, loss_fn, optimizer, train_set, test_set, args, rng, scheduler=None,
          name=None):
    """Train for args.epochs epochs on mini-batches of args.batch_size (or the whole set), with
    progress reports (the bar titled `name`) and `scheduler.step()` after each epoch. Stops
    with FloatingPointError at the first training loss or model output that is NaN or inf
    (before its update), or the first test loss that is. Returns ({"train": mean training
    loss of each epoch, "test": test loss after each epoch}, seconds taken)."""
    batch_size = args.batch_size or len(train_set.X)
    batches = math.ceil(len(train_set.X) / batch_size)
    history = {"train": [], "test": []}
    progress = Progress(args.epochs, batches, every=args.print_every or max(args.epochs // 10, 1),
                        quiet=args.quiet, bar=not args.no_progress, name=name)
    anomaly = tg.detect_anomaly() if args.detect_anomaly else contextlib.nullcontext()
    step = _Step(model, loss_fn, optimizer, args, eager=args.no_jit or args.detect_anomaly)
    start = time.perf_counter()
    # overflow shows up below as a non-finite loss, reported once with what to do about it,
    # rather than as NumPy warnings from inside the ops
    try:
        with anomaly, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for epoch in range(1, args.epochs + 1):
                model.train()
                total = 0.0
                for batch, (inputs, targets) in enumerate(
                        tg.data.batches(train_set.X, train_set.targets, batch_size, rng=rng),
                        start=1):
                    value = step(inputs, targets, f"epoch {epoch}, batch {batch} of {batches}")
                    optimizer.step()
                    total += value * len(inputs)
                    progress.batch_done()
                if scheduler is not None:
                    scheduler.step()
                history["train"].append(total / len(train_set.X))
                history["test"].append(_test_loss(model, loss_fn, test_set, epoch, args))
                progress.epoch_done(epoch, history["train"][-1], history["test"][-1])
    finally:
        progress.close()
    return history, time.perf_counter() - start


def _test_loss(model, loss_fn, test_set, epoch, args):
    """The loss on the test set after an epoch; FloatingPointError if it is not finite."""
    outputs = predict(model, test_set.X)
    if not np.isfinite(outputs).all():
        raise _diverged(f"the model's output on the test set is nan after epoch {epoch}: "
                        f"training stopped", args)
    loss = evaluate(model, loss_fn, test_set, outputs)[0]
    if not math.isfinite(loss):
        raise _diverged(f"the test loss is {loss} after epoch {epoch}: training stopped", args)
    return loss


# ---------------------------------------------------------------- evaluation and report

def predict(model, X, batch_size=1000):
    """The model's outputs for the rows of X (a NumPy array), in eval mode, without a graph,
    a batch at a time so that a large set fits in memory."""
    was_training = model.training
    model.eval()
    try:
        with tg.no_grad():
            return np.concatenate([model(tg.Tensor(X[start:start + batch_size])).numpy()
                                   for start in range(0, len(X), batch_size)])
    finally:
        model.train(was_training)


def predicted_labels(outputs):
    """Class labels from outputs (N, C): output > 0.5 for one probability column, else the
    argmax."""
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.int64)
    return outputs.argmax(axis=1)


def evaluate(model, loss_fn, dataset, outputs=None):
    """(mean loss, accuracy) of the model on a Dataset (whose outputs `predict` gave, if
    given)."""
    if outputs is None:
        outputs = predict(model, dataset.X)
    with tg.no_grad():
        loss = loss_fn(tg.Tensor(outputs), dataset.targets).item()
    return loss, float(np.mean(predicted_labels(outputs) == dataset.labels))


def report(name, args, model, loss_fn, train_set, test_set, history, seconds, draw):
    """Evaluate the trained model on the training and the held-out test set, print both, save
    the plot if --plot was given (`draw(figure, model, train_set, test_set, result)` fills its
    right half); returns {"train_loss", "train_accuracy", "test_loss", "test_accuracy",
    "losses" (training loss per epoch), "test_losses", "seconds", "model"}."""
    train_loss, train_accuracy = evaluate(model, loss_fn, train_set)
    test_loss, test_accuracy = evaluate(model, loss_fn, test_set)
    print(f"{name}: {args.epochs} epochs in {seconds:.2f} s\n"
          f"  training accuracy {train_accuracy:6.1%}  (loss {train_loss:.5f}, "
          f"{len(train_set.X)} training samples)\n"
          f"  test accuracy     {test_accuracy:6.1%}  (loss {test_loss:.5f}, "
          f"{len(test_set.X)} held-out samples)")
    result = {"train_loss": train_loss, "train_accuracy": train_accuracy,
              "test_loss": test_loss, "test_accuracy": test_accuracy,
              "losses": history["train"], "test_losses": history["test"],
              "seconds": seconds, "model": model}
    if args.plot:
        save_plot(args.plot, name, history, draw, model, train_set, test_set, result)
        if not args.quiet:
            print(f"plot saved to {args.plot}")
    return result


# ---------------------------------------------------------------- plots

def save_plot(path, title, history, draw, model, train_set, test_set, result):
    """A figure with the training and test loss curves on the left and `draw`'s picture on the
    right, saved to `path`."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(12, 5), layout="constrained")
    left, right = figure.subfigures(1, 2)
    axes = left.subplots()
    epochs = np.arange(1, len(history["train"]) + 1)
    axes.plot(epochs, history["train"], label="training loss (mean over the epoch's batches)")
    axes.plot(epochs, history["test"], label="test loss (held-out set, after the epoch)")
    axes.set(xlabel="epoch", ylabel="loss (log scale)", yscale="log",
             title="training and test loss")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend()
    draw(right, model, train_set, test_set, result)
    figure.suptitle(title)
    figure.savefig(path, dpi=110)


def draw_regions(figure, model, train_set, test_set, result):
    """Over 2-D points: the regions the model assigns to each class, the training points as
    dots and the held-out test points as triangles, each coloured by its true class."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D

    axes = figure.subplots()
    X = np.concatenate([train_set.X, test_set.X])
    margin = 0.3
    xs = np.linspace(X[:, 0].min() - margin, X[:, 0].max() + margin, 300)
    ys = np.linspace(X[:, 1].min() - margin, X[:, 1].max() + margin, 300)
    grid_x, grid_y = np.meshgrid(xs, ys)
    grid = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(X.dtype)
    regions = predicted_labels(predict(model, grid)).reshape(grid_x.shape)
    classes = int(max(train_set.labels.max(), test_set.labels.max())) + 1
    palette = colormaps["tab10"].colors
    colors = ListedColormap([palette[label % len(palette)] for label in range(classes)])
    axes.contourf(grid_x, grid_y, regions, levels=np.arange(classes + 1) - 0.5, cmap=colors,
                  alpha=0.3)
    for part, marker, size in ((train_set, "o", 14), (test_set, "^", 34)):
        axes.scatter(part.X[:, 0], part.X[:, 1], c=part.labels, cmap=colors, vmin=-0.5,
                     vmax=classes - 0.5, s=size, marker=marker, edgecolors="black",
                     linewidths=0.4)
    handles = [Line2D([], [], marker=marker, linestyle="", color="lightgray",
                      markeredgecolor="black", label=label)
               for marker, label in (("o", "training points"), ("^", "test (held-out) points"))]
    handles += [Line2D([], [], marker="s", linestyle="", color=palette[label % len(palette)],
                       label=f"class {label}") for label in range(classes)]
    axes.legend(handles=handles, loc="upper right", fontsize="small", framealpha=0.8)
    axes.set(xlabel="$x_1$", ylabel="$x_2$", aspect="equal",
             title=f"decision regions: training accuracy {result['train_accuracy']:.1%}, "
                   f"test accuracy {result['test_accuracy']:.1%}")


# ---------------------------------------------------------------- running as a program

def run(main):
    """Run an example's `main()` as a program: a reader that stops early (`| head`) ends it
    quietly, a non-finite loss ends it with the message alone (exit status 1)."""
    try:
        main()
        sys.stdout.flush()  # a broken pipe shows here rather than at interpreter exit
    except BrokenPipeError:
        # Python would report the broken pipe again when it flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except FloatingPointError as error:
        sys.exit(f"error: {error}")

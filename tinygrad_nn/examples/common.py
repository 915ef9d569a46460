"""What the examples share: their command-line flags, progress reporting and the plot."""
import argparse
import time

import numpy as np

try:
    from tqdm import tqdm
except ImportError:  # tqdm is optional: without it progress is printed as plain lines
    tqdm = None

import tinygrad_nn as tg


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def make_parser(prog, description, epochs, lr, seed=0):
    """An ArgumentParser with the flags every example takes: --epochs, --lr, --seed, --plot,
    --quiet and --no-progress."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--epochs", type=positive_int, default=epochs,
                        help=f"passes over the training set (default {epochs})")
    parser.add_argument("--lr", type=float, default=lr, help=f"learning rate (default {lr})")
    parser.add_argument("--seed", type=int, default=seed,
                        help=f"seed of the data and the initial weights (default {seed})")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="save the loss curve and the decision regions (needs matplotlib)")
    parser.add_argument("--quiet", action="store_true", help="print only the final result")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar: a plain line every few epochs instead")
    return parser


def parse_args(parser, argv):
    """Parse argv; with --plot, check now (not after training) that matplotlib is there."""
    args = parser.parse_args(argv)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--plot needs matplotlib, which is not installed: "
                         "pip install matplotlib  (or: pip install 'tinygrad_nn[plots]')")
    return args


class Progress:
    """Reports the loss of each epoch: a tqdm bar showing the running loss when tqdm is
    installed and wanted, else a plain line every `every` epochs (and at the last one)."""

    def __init__(self, epochs, every, quiet=False, bar=True):
        self.epochs, self.every, self.quiet = epochs, every, quiet
        self.bar = None
        if bar and tqdm is not None and not quiet:
            self.bar = tqdm(total=epochs, unit="epoch", leave=False)

    def update(self, epoch, loss):
        """Epoch `epoch` (counted from 1) ended with training loss `loss`."""
        if self.bar is not None:
            self.bar.update()
            if epoch % 10 == 0 or epoch == self.epochs:
                self.bar.set_postfix(loss=f"{loss:.5f}", refresh=False)
        elif not self.quiet and (epoch % self.every == 0 or epoch == self.epochs):
            print(f"epoch {epoch:>{len(str(self.epochs))}}/{self.epochs}  loss {loss:.5f}")

    def close(self):
        if self.bar is not None:
            self.bar.close()


def train(model, loss_fn, optimizer, X, targets, args, rng):
    """Mini-batch training for args.epochs epochs (batches of args.batch_size, or the whole set)
    with progress reports; returns (the mean training loss of each epoch, seconds taken)."""
    batch_size = args.batch_size or len(X)
    losses = []
    progress = Progress(args.epochs, every=max(args.epochs // 10, 1), quiet=args.quiet,
                        bar=not args.no_progress)
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        epoch_loss = 0.0
        for inputs, batch_targets in tg.data.batches(X, targets, batch_size, rng=rng):
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), batch_targets)
            loss.backward()
            optimizer.step()
            epoch_loss += loss.item() * len(inputs)
        losses.append(epoch_loss / len(X))
        progress.update(epoch, losses[-1])
    seconds = time.perf_counter() - start
    progress.close()
    return losses, seconds


def report(name, plot_title, args, model, loss_fn, X, y, targets, losses, seconds, binary):
    """Evaluate the trained model on its training set, print the result, save the plot if
    --plot was given; returns {"loss", "accuracy", "losses", "seconds", "model"}."""
    with tg.no_grad():
        final_loss = loss_fn(model(tg.Tensor(X)), targets).item()
    accuracy = float(np.mean(predict_labels(model, X, binary=binary) == y))
    print(f"{name}: {args.epochs} epochs in {seconds:.2f} s, final loss {final_loss:.5f}, "
          f"training accuracy {accuracy:.1%}")
    if args.plot:
        save_plot(args.plot, f"{plot_title}, accuracy {accuracy:.1%}", losses, model, X, y,
                  binary=binary)
        if not args.quiet:
            print(f"plot saved to {args.plot}")
    return {"loss": final_loss, "accuracy": accuracy, "losses": losses, "seconds": seconds,
            "model": model}


def predict_labels(model, X, binary):
    """Class labels of the rows of X (a NumPy array), in eval mode and without a graph:
    output > 0.5 for a network with one probability output, else the argmax."""
    was_training = model.training
    model.eval()
    with tg.no_grad():
        output = model(tg.Tensor(X)).numpy()
    model.train(was_training)
    return (output[:, 0] > 0.5).astype(np.int64) if binary else output.argmax(axis=1)


def save_plot(path, title, losses, model, X, y, binary):
    """Save a figure with the loss curve and, over the data, the regions the model assigns to
    each class."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    loss_axes, data_axes = figure.subplots(1, 2)
    loss_axes.plot(np.arange(1, len(losses) + 1), losses)
    loss_axes.set(xlabel="epoch", ylabel="training loss", yscale="log", title="loss")

    margin = 0.3
    xs = np.linspace(X[:, 0].min() - margin, X[:, 0].max() + margin, 300)
    ys = np.linspace(X[:, 1].min() - margin, X[:, 1].max() + margin, 300)
    grid_x, grid_y = np.meshgrid(xs, ys)
    grid = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(X.dtype)
    regions = predict_labels(model, grid, binary).reshape(grid_x.shape)
    classes = int(y.max()) + 1
    palette = colormaps["tab10"].colors
    colors = ListedColormap([palette[label % len(palette)] for label in range(classes)])
    levels = np.arange(classes + 1) - 0.5
    data_axes.contourf(grid_x, grid_y, regions, levels=levels, cmap=colors, alpha=0.3)
    data_axes.scatter(X[:, 0], X[:, 1], c=y, cmap=colors, vmin=-0.5, vmax=classes - 0.5, s=14,
                      edgecolors="black", linewidths=0.4)
    data_axes.set(title="decision regions", aspect="equal")
    figure.suptitle(title)
    figure.savefig(path, dpi=110)

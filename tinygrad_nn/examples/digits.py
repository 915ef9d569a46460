"""A small convolutional network that reads handwritten digits: scikit-learn's 8×8 digits split
80/20 (stratified) into training and held-out test images, batch norm and dropout, AdamW with a
cosine learning-rate schedule; prints training and test accuracy. With --mnist DIR the same
network shape learns MNIST from its IDX files.

    python -m tinygrad_nn.examples.digits [--epochs N] [--plot digits.png] [--mnist DIR]
"""
import contextlib

import numpy as np

from tinygrad_nn import data, nn, optim
from tinygrad_nn.examples.common import (dataset, fraction, make_parser, parse_args, predict,
                                         predicted_labels, report, run, split, train)

try:  # installed with scikit-learn, which load_digits needs
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

EPOCHS = 25
MNIST_EPOCHS = 3
LEARNING_RATE = 0.01
WEIGHT_DECAY = 0.05
DROPOUT = 0.5
BATCH_SIZE = 32
TEST_SIZE = 0.2
CHANNELS = 24  # of the first convolution; the second has twice as many


def digits_network(image_shape, rng, channels=CHANNELS, dropout=DROPOUT, classes=10):
    """(N, 1, H, W) images -> (N, classes) logits: two blocks of 3×3 convolution (padding 1),
    batch norm, ReLU and 2×2 max pooling, then dropout and one dense layer."""
    height, width = image_shape
    wide = 2 * channels
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1, rng=rng), nn.BatchNorm2d(channels), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(channels, wide, 3, padding=1, rng=rng), nn.BatchNorm2d(wide), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(dropout, rng=rng),
        nn.Dense(wide * (height // 4) * (width // 4), classes, rng=rng),
    )


def build_parser(prog="python -m tinygrad_nn.examples.digits"):
    parser = make_parser(prog, __doc__.split("\n\n")[0], None, LEARNING_RATE,
                         batch_size=BATCH_SIZE, epochs_help=f"passes over the training set "
                         f"(default {EPOCHS}, with --mnist {MNIST_EPOCHS})")
    parser.add_argument("--weight-decay", type=fraction, default=WEIGHT_DECAY,
                        help=f"AdamW's decoupled weight decay (default {WEIGHT_DECAY})")
    parser.add_argument("--dropout", type=fraction, default=DROPOUT,
                        help=f"dropout probability before the dense layer (default {DROPOUT})")
    parser.add_argument("--mnist", metavar="DIR",
                        help="learn MNIST from the IDX files in DIR (train-images-idx3-ubyte, "
                        "train-labels-idx1-ubyte, t10k-... for the test set; plain or .gz)")
    return parser


def load(args, parser, rng):
    """(training set, test set): MNIST's own split with --mnist, else the 8×8 digits split
    80/20."""
    if args.mnist is None:
        try:
            X, y = data.load_digits(images=True)
        except ImportError as error:
            parser.error(str(error))
        return split(X, y, rng, binary=False, test_size=TEST_SIZE)
    try:
        X_train, y_train = data.load_mnist(args.mnist, split="train")
        X_test, y_test = data.load_mnist(args.mnist, split="test")
    except (OSError, ValueError) as error:
        parser.error(f"argument --mnist: {error}")
    return dataset(X_train, y_train, binary=False), dataset(X_test, y_test, binary=False)


def main(argv=None, prog=None):
    """Train, print the training and test accuracy; returns the dict of `common.report`."""
    parser = build_parser(*([prog] if prog else []))
    args = parse_args(parser, argv)
    args.epochs = args.epochs or (MNIST_EPOCHS if args.mnist else EPOCHS)
    rng = np.random.default_rng(args.seed)
    train_set, test_set = load(args, parser, rng)
    model = digits_network(train_set.X.shape[2:], rng, dropout=args.dropout)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    # This network's matrix products are too small for BLAS threads to pay off: with two on a
    # 2-core machine the default run took 4.7 s idle and 21 s beside other work, with one 4.2 s.
    one_thread = (threadpool_limits(1, user_api="blas") if threadpool_limits
                  else contextlib.nullcontext())
    with one_thread:
        history, seconds = train(model, loss_fn, optimizer, train_set, test_set, args, rng,
                                 scheduler=scheduler, name="digits")
    name = "MNIST" if args.mnist else "8×8 digits"
    return report(f"digits: small CNN on {name}", args, model, loss_fn, train_set, test_set,
                  history, seconds, draw_mistakes)


def draw_mistakes(figure, model, train_set, test_set, result, most=24):
    """A grid of (at most `most`) misclassified test images, each titled with its true and
    predicted label."""
    predicted = predicted_labels(predict(model, test_set.X))
    wrong = np.flatnonzero(predicted != test_set.labels)
    figure.suptitle(f"misclassified test digits: {len(wrong)} of {len(test_set.X)} "
                    f"(test accuracy {result['test_accuracy']:.1%}, training accuracy "
                    f"{result['train_accuracy']:.1%})", fontsize="medium")
    if len(wrong) == 0:
        axes = figure.subplots()
        axes.axis("off")
        axes.text(0.5, 0.5, "every test digit is classified correctly", ha="center")
        return
    shown = wrong[:most]
    columns = min(len(shown), 6)
    grid = figure.subplots(-(-len(shown) // columns), columns, squeeze=False).ravel()
    for axes in grid[len(shown):]:
        axes.remove()
    for axes, index in zip(grid, shown):
        axes.imshow(test_set.X[index, 0], cmap="gray_r", vmin=0, vmax=1)
        axes.set_title(f"true {test_set.labels[index]}\npredicted {predicted[index]}",
                       fontsize="small")
        axes.set_xticks([])
        axes.set_yticks([])


if __name__ == "__main__":
    run(main)

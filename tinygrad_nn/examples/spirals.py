"""A multi-class classifier: a ReLU network (2-32-32-C) that separates interleaved spiral arms,
trained with softmax cross-entropy and Adam; a quarter of the points are held out to measure
test accuracy.

    python -m tinygrad_nn.examples.spirals [--classes 3] [--epochs N] [--lr LR] [--plot FILE]
"""
import argparse

import numpy as np

from tinygrad_nn import data, nn, optim
from tinygrad_nn.examples.common import (draw_regions, make_parser, parse_args, positive_int,
                                         report, run, split, train)

EPOCHS = 300
LEARNING_RATE = 0.02
CLASSES = 3
HIDDEN = 32
SAMPLES_PER_CLASS = 160  # 120 to train on, 40 held out


def spirals_network(classes, rng, hidden=HIDDEN):
    """2 inputs -> hidden -> hidden -> `classes` logits, ReLU between the layers."""
    return nn.Sequential(
        nn.Dense(2, hidden, rng=rng), nn.ReLU(),
        nn.Dense(hidden, hidden, rng=rng), nn.ReLU(),
        nn.Dense(hidden, classes, rng=rng),
    )


def class_count(text):
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2 (arms to tell apart), got {text}")
    return value


def build_parser(prog="python -m tinygrad_nn.examples.spirals"):
    parser = make_parser(prog, __doc__.split("\n\n")[0], EPOCHS, LEARNING_RATE)
    parser.add_argument("--classes", type=class_count, default=CLASSES,
                        help=f"number of spiral arms, at least 2 (default {CLASSES})")
    return parser


def main(argv=None, prog=None):
    """Train, print the training and test accuracy; returns the dict of `common.report`."""
    parser = build_parser(*([prog] if prog else []))
    args = parse_args(parser, argv)
    rng = np.random.default_rng(args.seed)
    X, y = data.make_spirals(SAMPLES_PER_CLASS * args.classes, n_classes=args.classes,
                             noise=0.05, rng=rng)
    train_set, test_set = split(X, y, rng, binary=False)
    model = spirals_network(args.classes, rng)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    history, seconds = train(model, loss_fn, optimizer, train_set, test_set, args, rng,
                             name="spirals")
    return report(f"spirals ({args.classes} classes)", args, model, loss_fn, train_set,
                  test_set, history, seconds, draw_regions)


if __name__ == "__main__":
    run(main)

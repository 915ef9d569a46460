"""The 2-4-8-1 network (ReLU, ReLU, sigmoid) that learns to tell two concentric circles apart,
trained with mean squared error and SGD with momentum; a quarter of the points are held out
to measure test accuracy.

    python -m tinygrad_nn.examples.circles [--epochs N] [--lr LR] [--plot circles.png]
"""

import numpy as np

from tinygrad_nn import data, nn, optim
from tinygrad_nn.examples.common import (draw_regions, fraction, make_parser, parse_args,
                                         report, run, split, train)

SAMPLES = 400  # 300 to train on, 100 held out
EPOCHS = 500
LEARNING_RATE = 0.5
MOMENTUM = 0.9


def circles_network(rng):
    """2 inputs -> 4 -> 8 -> 1 probability, ReLU between the layers, sigmoid at the end."""
    return nn.Sequential(
        nn.Dense(2, 4, rng=rng), nn.ReLU(),
        nn.Dense(4, 8, rng=rng), nn.ReLU(),
        nn.Dense(8, 1, rng=rng), nn.Sigmoid(),
    )


def build_parser(prog="python -m tinygrad_nn.examples.circles"):
    parser = make_parser(prog, __doc__.split("\n\n")[0], EPOCHS, LEARNING_RATE)
    parser.add_argument("--momentum", type=fraction, default=MOMENTUM,
                        help=f"SGD momentum, in [0, 1) (default {MOMENTUM})")
    return parser


def main(argv=None, prog=None):
    """Train, print the training and test accuracy; returns the dict of `common.report`."""
    parser = build_parser(*([prog] if prog else []))
    args = parse_args(parser, argv)
    rng = np.random.default_rng(args.seed)
    X, y = data.make_circles(SAMPLES, noise=0.1, factor=0.5, rng=rng)
    train_set, test_set = split(X, y, rng, binary=True)
    model = circles_network(rng)
    loss_fn = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    history, seconds = train(model, loss_fn, optimizer, train_set, test_set, args, rng,
                             name="circles")
    return report("circles (2-4-8-1 ReLU network)", args, model, loss_fn, train_set, test_set,
                  history, seconds, draw_regions)


if __name__ == "__main__":
    run(main)

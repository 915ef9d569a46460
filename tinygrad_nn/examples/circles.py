"""The 2-4-8-1 network (ReLU, ReLU, sigmoid) that learns to tell two concentric circles apart,
trained with mean squared error and SGD with momentum.

    python -m tinygrad_nn.examples.circles [--epochs N] [--lr LR] [--plot circles.png]
"""

import numpy as np

from tinygrad_nn import data, nn, optim
from tinygrad_nn.examples.common import make_parser, parse_args, positive_int, report, train

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
    parser.add_argument("--momentum", type=float, default=MOMENTUM,
                        help=f"SGD momentum, in [0, 1) (default {MOMENTUM})")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="mini-batch size (default: the whole training set, 300 points)")
    return parser


def main(argv=None, prog=None):
    """Train, print the final loss and accuracy; returns a dict with "loss", "accuracy",
    "losses" (one per epoch), "seconds" and "model"."""
    parser = build_parser(*([prog] if prog else []))
    args = parse_args(parser, argv)
    rng = np.random.default_rng(args.seed)
    X, y = data.make_circles(300, noise=0.1, factor=0.5, rng=rng)
    targets = y[:, None].astype(X.dtype)  # (N, 1), the shape of the network's output
    model = circles_network(rng)
    loss_fn = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    losses, seconds = train(model, loss_fn, optimizer, X, targets, args, rng)

    return report("circles", "circles: 2-4-8-1 ReLU network", args, model, loss_fn, X, y,
                  targets, losses, seconds, binary=True)

if __name__ == "__main__":
    main()

"""A multi-class classifier: a ReLU network (2-32-32-C) that separates interleaved spiral arms,
trained with softmax cross-entropy and Adam.

    python -m tinygrad_nn.examples.spirals [--classes 3] [--epochs N] [--lr LR] [--plot FILE]
"""

import numpy as np

from tinygrad_nn import data, nn, optim
from tinygrad_nn.examples.common import make_parser, parse_args, positive_int, report, train

EPOCHS = 300
LEARNING_RATE = 0.02
CLASSES = 3
HIDDEN = 32
SAMPLES_PER_CLASS = 100


def spirals_network(classes, rng, hidden=HIDDEN):
    """2 inputs -> hidden -> hidden -> `classes` logits, ReLU between the layers."""
    return nn.Sequential(
        nn.Dense(2, hidden, rng=rng), nn.ReLU(),
        nn.Dense(hidden, hidden, rng=rng), nn.ReLU(),
        nn.Dense(hidden, classes, rng=rng),
    )


def build_parser(prog="python -m tinygrad_nn.examples.spirals"):
    parser = make_parser(prog, __doc__.split("\n\n")[0], EPOCHS, LEARNING_RATE)
    parser.add_argument("--classes", type=positive_int, default=CLASSES,
                        help=f"number of spiral arms (default {CLASSES})")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help=f"mini-batch size (default: the whole training set, "
                        f"{SAMPLES_PER_CLASS} points per class)")
    return parser


def main(argv=None, prog=None):
    """Train, print the final loss and accuracy; returns a dict with "loss", "accuracy",
    "losses" (one per epoch), "seconds" and "model"."""
    parser = build_parser(*([prog] if prog else []))
    args = parse_args(parser, argv)
    rng = np.random.default_rng(args.seed)
    X, y = data.make_spirals(SAMPLES_PER_CLASS * args.classes, n_classes=args.classes,
                             noise=0.05, rng=rng)
    model = spirals_network(args.classes, rng)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    losses, seconds = train(model, loss_fn, optimizer, X, y, args, rng)

    return report(f"spirals ({args.classes} classes)", f"spirals: {args.classes} classes", args,
                  model, loss_fn, X, y, y, losses, seconds, binary=False)

if __name__ == "__main__":
    main()

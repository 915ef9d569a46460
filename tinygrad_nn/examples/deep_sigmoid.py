"""The L-layer sigmoid network of the "neural network from scratch" tutorial, trained with
binary cross-entropy by full-batch gradient descent; prints its cost history, then its
accuracy on the training points and on a quarter of the points held out.

Done right: the gradients come from autograd instead of hand-written backprop, the cost is
computed with a clipped log (never inf), and Xavier initialisation (std √(2/(in+out)))
replaces the tutorial's 0.01 · randn, with which a deep sigmoid network barely learns.

    python -m tinygrad_nn.examples.deep_sigmoid [--layers 2 8 8 1] [--epochs N] [--lr LR]
"""
import itertools

import numpy as np

from tinygrad_nn import data, nn, optim
from tinygrad_nn.examples.common import (draw_regions, make_parser, parse_args, positive_int,
                                         report, run, split, train)

LAYERS = [2, 8, 8, 1]
SAMPLES = 400  # 300 to train on, 100 held out
EPOCHS = 2000
LEARNING_RATE = 5.0


def deep_sigmoid_network(layer_dims, rng, init="xavier"):
    """Dense(layer_dims[l-1], layer_dims[l]) followed by a sigmoid, for l = 1 .. L: the
    tutorial's Z = W·A_prev + b, A = σ(Z), with W stored transposed, as (in, out)."""
    layers = []
    for fan_in, fan_out in itertools.pairwise(layer_dims):
        layers += [nn.Dense(fan_in, fan_out, init=init, rng=rng), nn.Sigmoid()]
    return nn.Sequential(*layers)


def build_parser(prog="python -m tinygrad_nn.examples.deep_sigmoid"):
    parser = make_parser(prog, __doc__.split("\n\n")[0], EPOCHS, LEARNING_RATE)
    parser.add_argument("--layers", type=positive_int, nargs="+", default=LAYERS,
                        metavar="N", help="layer sizes, input first; the input must be 2 and "
                        f"the output 1 (default {' '.join(map(str, LAYERS))})")
    return parser


def main(argv=None, prog=None):
    """Train, print the cost history and the training and test accuracy; returns the dict of
    `common.report` ("losses": the cost of each epoch, before its update)."""
    parser = build_parser(*([prog] if prog else []))
    args = parse_args(parser, argv)
    if len(args.layers) < 2 or args.layers[0] != 2 or args.layers[-1] != 1:
        parser.error(f"--layers must start with 2 (the input) and end with 1 (the output), "
                     f"got {' '.join(map(str, args.layers))}")
    rng = np.random.default_rng(args.seed)
    X, y = data.make_moons(SAMPLES, noise=0.1, rng=rng)
    train_set, test_set = split(X, y, rng, binary=True)
    model = deep_sigmoid_network(args.layers, rng)
    cost_fn = nn.BCELoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr)
    history, seconds = train(model, cost_fn, optimizer, train_set, test_set, args, rng,
                             name="deep_sigmoid")
    return report(f"deep_sigmoid (network {'-'.join(map(str, args.layers))})", args, model,
                  cost_fn, train_set, test_set, history, seconds, draw_regions)


if __name__ == "__main__":
    run(main)

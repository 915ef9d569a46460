"""The L-layer sigmoid network of the "neural network from scratch" tutorial, trained with
binary cross-entropy by full-batch gradient descent; prints its cost history.

Done right: the gradients come from autograd instead of hand-written backprop, the cost is
computed with a clipped log (never inf), and Xavier initialisation (std √(2/(in+out)))
replaces the tutorial's 0.01 · randn, with which a deep sigmoid network barely learns.

    python -m tinygrad_nn.examples.deep_sigmoid [--layers 2 8 8 1] [--epochs N] [--lr LR]
"""
import itertools
import time

import numpy as np

import tinygrad_nn as tg
from tinygrad_nn import data, nn, optim
from tinygrad_nn.examples.common import (make_parser, parse_args, positive_int, predict_labels,
                                         save_plot)

LAYERS = [2, 8, 8, 1]
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
    parser.add_argument("--print-every", type=positive_int, default=None, metavar="N",
                        help="print the cost every N epochs (default: epochs / 10)")
    return parser


def main(argv=None, prog=None):
    """Train, print the cost history and the final cost and accuracy; returns a dict with
    "loss", "accuracy", "losses" (the cost before each epoch's update), "seconds", "model"."""
    parser = build_parser(*([prog] if prog else []))
    args = parse_args(parser, argv)
    if args.layers[0] != 2 or args.layers[-1] != 1 or len(args.layers) < 2:
        parser.error(f"--layers must start with 2 (the input) and end with 1 (the output), "
                     f"got {' '.join(map(str, args.layers))}")
    rng = np.random.default_rng(args.seed)
    X, y = data.make_moons(300, noise=0.1, rng=rng)
    inputs, targets = tg.Tensor(X), tg.Tensor(y[:, None].astype(X.dtype))
    model = deep_sigmoid_network(args.layers, rng)
    cost_fn = nn.BCELoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr)
    print_every = args.print_every or max(args.epochs // 10, 1)

    cost_history = []
    start = time.perf_counter()
    for epoch in range(args.epochs):
        optimizer.zero_grad()
        cost = cost_fn(model(inputs), targets)
        cost.backward()
        optimizer.step()
        cost_history.append(cost.item())
        if not args.quiet and epoch % print_every == 0:
            print(f"cost after epoch {epoch}: {cost_history[-1]:.6f}")
    seconds = time.perf_counter() - start

    with tg.no_grad():
        final_cost = cost_fn(model(inputs), targets).item()
    accuracy = float(np.mean(predict_labels(model, X, binary=True) == y))
    print(f"deep_sigmoid {'-'.join(map(str, args.layers))}: {args.epochs} epochs in "
          f"{seconds:.2f} s, final cost {final_cost:.6f}, training accuracy {accuracy:.1%}")
    if args.plot:
        save_plot(args.plot, f"deep sigmoid network {'-'.join(map(str, args.layers))}, "
                  f"accuracy {accuracy:.1%}", cost_history, model, X, y, binary=True)
        if not args.quiet:
            print(f"plot saved to {args.plot}")
    return {"loss": final_cost, "accuracy": accuracy, "losses": cost_history,
            "seconds": seconds, "model": model}


if __name__ == "__main__":
    main()

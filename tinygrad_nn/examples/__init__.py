"""Runnable examples, each `python -m tinygrad_nn.examples.NAME [--help]` and each with a
`main(argv=None)` that returns its training and held-out test loss and accuracy:

    circles       the 2-4-8-1 ReLU network on two concentric circles, MSE, SGD with momentum
    deep_sigmoid  an L-layer sigmoid network on two moons, binary cross-entropy, gradient descent
    spirals       a ReLU network on interleaved spirals, softmax cross-entropy, Adam
    digits        a small CNN on handwritten digits (8×8, or MNIST with --mnist DIR), batch
                  norm, dropout, AdamW and a cosine schedule
    names         a character-level language model (a causal transformer, or --model lstm) on
                  the bundled names: held-out loss per character beside a bigram baseline
"""

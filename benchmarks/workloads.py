"""The inputs every contender shares: data and initial weights, made from fixed NumPy seeds.

Each contender copies these arrays, so all of them start from the same numbers and must end
their first step with the same numbers (float32, but for the deep chain).
"""

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

# Op overhead: OP_CYCLES cycles of x*w, +b, tanh, *1.5, +0.25, sigmoid, exp, *0.5.
OP_CYCLES = 25
OPS_PER_CYCLE = 8
OP_COUNT = OP_CYCLES * OPS_PER_CYCLE
OP_VECTOR_SIZE = 16

# Deep chain: x = x * CHAIN_SCALE + CHAIN_SHIFT, repeated.
CHAIN_SCALE = 1.0001
CHAIN_SHIFT = 0.0001


@dataclass(frozen=True)
class MLPProblem:
    """One SGD step of an MLP of Dense layers, each `activation(x @ W + b)`, then a mean loss.

    `weights` is a tuple of (W of shape (in, out), b of shape (out,)) per layer;
    `activations` names each layer's activation: "relu", "sigmoid" or None (raw logits);
    `loss` is "mse" (targets (N, 1) float32) or "cross_entropy" (softmax, targets (N,) int64).
    """

    inputs: np.ndarray
    targets: np.ndarray
    weights: tuple[tuple[np.ndarray, np.ndarray], ...]
    activations: tuple[str | None, ...]
    loss: str
    lr: float


def op_overhead_inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, w, b: float32 vectors of shape (16,)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, OP_VECTOR_SIZE)
    w = rng.uniform(0.5, 1.5, OP_VECTOR_SIZE)
    b = rng.uniform(-0.5, 0.5, OP_VECTOR_SIZE)
    return x.astype(np.float32), w.astype(np.float32), b.astype(np.float32)


def he_initial_weights(layer_sizes: list[int], rng: np.random.Generator):
    """Per layer (W, b): W ~ N(0, 2 / fan_in) of shape (in, out), b small and nonzero, float32.

    The biases are nonzero so that a contender that mishandles them cannot pass the check.
    """
    weights = []
    for fan_in, fan_out in pairwise(layer_sizes):
        weight = rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out))
        bias = rng.normal(0.0, 0.01, fan_out)
        weights.append((weight.astype(np.float32), bias.astype(np.float32)))
    return tuple(weights)


def circles(n_samples: int, noise: float, factor: float, rng: np.random.Generator):
    """Two noisy concentric rings: X (N, 2) float32, y (N, 1) float32, 1.0 for the inner ring."""
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    outer_angles = rng.uniform(0.0, 2 * np.pi, n_outer)
    inner_angles = rng.uniform(0.0, 2 * np.pi, n_inner)
    outer = np.stack([np.cos(outer_angles), np.sin(outer_angles)], axis=1)
    inner = factor * np.stack([np.cos(inner_angles), np.sin(inner_angles)], axis=1)
    points = np.concatenate([outer, inner]) + rng.normal(0.0, noise, (n_samples, 2))
    labels = np.concatenate([np.zeros(n_outer), np.ones(n_inner)])[:, None]
    return points.astype(np.float32), labels.astype(np.float32)


def tutorial_net(seed: int = 1) -> MLPProblem:
    """The tutorial's 2-4-8-1 ReLU/ReLU/sigmoid MLP, MSE loss, full batch of 300 circle points."""
    rng = np.random.default_rng(seed)
    points, labels = circles(300, noise=0.1, factor=0.5, rng=rng)
    return MLPProblem(
        inputs=points,
        targets=labels,
        weights=he_initial_weights([2, 4, 8, 1], rng),
        activations=("relu", "relu", "sigmoid"),
        loss="mse",
        lr=0.05,
    )


def mnist_sized_mlp(batch_size: int, seed: int = 2) -> MLPProblem:
    """A 784-256-128-10 ReLU MLP on random float32 inputs and labels, softmax cross-entropy."""
    rng = np.random.default_rng(seed)
    inputs = rng.normal(0.0, 1.0, (batch_size, 784)).astype(np.float32)
    labels = rng.integers(0, 10, batch_size).astype(np.int64)
    return MLPProblem(
        inputs=inputs,
        targets=labels,
        weights=he_initial_weights([784, 256, 128, 10], rng),
        activations=("relu", "relu", None),
        loss="cross_entropy",
        lr=0.01,
    )


def deep_chain_start() -> np.ndarray:
    """The chain's input, of shape (1,): float64, the chain's one exception to float32.

    Its gradient is CHAIN_SCALE ** length, about 2.7e43 after 1,000,000 steps: beyond float32.
    """
    return np.array([0.5], dtype=np.float64)


def mlp_check_values(loss, gradients, weights) -> dict[str, np.ndarray]:
    """Copies of what a contender's MLP step produced: the loss, each layer's gradients and weights.

    `gradients` and `weights` are sequences of (W, b) array-likes with W of shape (in, out).
    """
    values = {"loss": np.array(loss)}
    for layer, ((grad_weight, grad_bias), (weight, bias)) in enumerate(
        zip(gradients, weights, strict=True), start=1
    ):
        values[f"W{layer} grad"] = np.array(grad_weight)
        values[f"b{layer} grad"] = np.array(grad_bias)
        values[f"W{layer} after step"] = np.array(weight)
        values[f"b{layer} after step"] = np.array(bias)
    return values


@dataclass(frozen=True)
class CNNProblem:
    """One SGD step of the digits CNN without batch norm or dropout, on (N, 1, 8, 8) images:
    Conv2d(1, 16, 3, padding=1) - ReLU - MaxPool2d(2) - Conv2d(16, 32, 3, padding=1) - ReLU -
    MaxPool2d(2) - Flatten - Dense(128, 10), mean softmax cross-entropy.

    `convs` is ((W1, b1), (W2, b2)) with W of shape (out, in, 3, 3); `dense` is (W, b) with W of
    shape (128, 10); targets (N,) int64.
    """

    inputs: np.ndarray
    targets: np.ndarray
    convs: tuple[tuple[np.ndarray, np.ndarray], ...]
    dense: tuple[np.ndarray, np.ndarray]
    lr: float


CNN_CHANNELS = (1, 16, 32)
CNN_KERNEL = 3
CNN_PADDING = 1
CNN_POOL = 2


def digits_cnn(batch_size: int, seed: int = 3) -> CNNProblem:
    """The CNN above on random pixels in [0, 1) and random labels, He-initialised (float32)."""
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(0.0, 1.0, (batch_size, 1, 8, 8)).astype(np.float32)
    labels = rng.integers(0, 10, batch_size).astype(np.int64)
    convs = []
    for fan_in, fan_out in pairwise(CNN_CHANNELS):
        shape = (fan_out, fan_in, CNN_KERNEL, CNN_KERNEL)
        weight = rng.normal(0.0, np.sqrt(2.0 / (fan_in * CNN_KERNEL**2)), shape)
        convs.append((weight.astype(np.float32), rng.normal(0.0, 0.01, fan_out).astype(np.float32)))
    (dense,) = he_initial_weights([CNN_CHANNELS[-1] * 2 * 2, 10], rng)
    return CNNProblem(inputs, labels, tuple(convs), dense, lr=0.01)


def cnn_check_values(loss, gradients, parameters) -> dict[str, np.ndarray]:
    """Copies of what a contender's CNN step produced: the loss, then the gradient and the
    value after the step of conv1 W, b, conv2 W, b, dense W, b (conv W (out, in, kH, kW), dense
    W (in, out))."""
    names = ["conv1 W", "conv1 b", "conv2 W", "conv2 b", "dense W", "dense b"]
    values = {"loss": np.array(loss)}
    for name, gradient, parameter in zip(names, gradients, parameters, strict=True):
        values[f"{name} grad"] = np.array(gradient)
        values[f"{name} after step"] = np.array(parameter)
    return values


@dataclass(frozen=True)
class SequenceProblem:
    """One SGD step of a character-level language model (the names example's models) on a
    batch of (N, T) int64 character indices and (N, T) int64 next-character targets, -1 at the
    padded end of each sequence (ignored by the mean cross-entropy).

    `kind` is "transformer" (token and position embeddings, `layers` pre-norm causal encoder
    layers of `heads` heads with ReLU feed-forward blocks of 4·width, a final layer norm, a
    head) or "lstm" (an embedding, one LSTM of 2·width, a head). `parameters` maps the
    tinygrad_nn parameter names to float32 arrays in its layout (a Dense weight is (in, out),
    PyTorch's transposed).
    """

    kind: str
    inputs: np.ndarray
    targets: np.ndarray
    parameters: dict
    vocab: int
    width: int
    layers: int
    heads: int
    lr: float


SEQUENCE_VOCAB = 27  # the names: a-z and the end of a name
SEQUENCE_LENGTH = 16


def _uniform(rng, bound, shape):
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def _transformer_parameters(rng, width, layers, vocab, length):
    ff = 4 * width
    parameters = {"token.weight": (rng.normal(0, 0.1, (vocab, width))).astype(np.float32),
                  "position.weight": (rng.normal(0, 0.1, (length, width))).astype(np.float32)}
    for layer in range(layers):
        prefix = f"encoder.layers.{layer}."
        shapes = {"self_attn.in_proj.weight": (width, 3 * width),
                  "self_attn.in_proj.bias": (3 * width,),
                  "self_attn.out_proj.weight": (width, width),
                  "self_attn.out_proj.bias": (width,),
                  "linear1.weight": (width, ff), "linear1.bias": (ff,),
                  "linear2.weight": (ff, width), "linear2.bias": (width,)}
        for name, shape in shapes.items():
            parameters[prefix + name] = _uniform(rng, 1 / np.sqrt(shape[0]), shape)
        for norm in ("norm1", "norm2"):
            parameters[prefix + norm + ".weight"] = 1 + _uniform(rng, 0.1, (width,))
            parameters[prefix + norm + ".bias"] = _uniform(rng, 0.1, (width,))
    parameters["encoder.norm.weight"] = 1 + _uniform(rng, 0.1, (width,))
    parameters["encoder.norm.bias"] = _uniform(rng, 0.1, (width,))
    parameters["head.weight"] = _uniform(rng, 1 / np.sqrt(width), (width, vocab))
    parameters["head.bias"] = _uniform(rng, 1 / np.sqrt(width), (vocab,))
    return parameters


def _lstm_parameters(rng, width, vocab):
    hidden = 2 * width
    bound = 1 / np.sqrt(hidden)
    return {"token.weight": rng.normal(0, 1, (vocab, width)).astype(np.float32),
            "lstm.weight_ih_l0": _uniform(rng, bound, (width, 4 * hidden)),
            "lstm.weight_hh_l0": _uniform(rng, bound, (hidden, 4 * hidden)),
            "lstm.bias_ih_l0": _uniform(rng, bound, (4 * hidden,)),
            "lstm.bias_hh_l0": _uniform(rng, bound, (4 * hidden,)),
            "head.weight": _uniform(rng, 1 / np.sqrt(hidden), (hidden, vocab)),
            "head.bias": _uniform(rng, 1 / np.sqrt(hidden), (vocab,))}


def names_model_step(kind: str, batch_size: int = 32, seed: int = 4) -> SequenceProblem:
    """The names example's default transformer (64 wide, 2 layers, 4 heads) or its LSTM, on
    random sequences of random length 2..16 (the rest padding)."""
    rng = np.random.default_rng(seed)
    width, layers, heads, vocab, length = 64, 2, 4, SEQUENCE_VOCAB, SEQUENCE_LENGTH
    inputs = rng.integers(1, vocab, (batch_size, length))
    lengths = rng.integers(2, length + 1, batch_size)
    padded = np.arange(length) >= lengths[:, None]
    inputs[padded] = 0
    targets = np.where(padded, -1, rng.integers(0, vocab, (batch_size, length)))
    if kind == "transformer":
        parameters = _transformer_parameters(rng, width, layers, vocab, length)
    else:
        parameters = _lstm_parameters(rng, width, vocab)
    return SequenceProblem(kind, inputs.astype(np.int64), targets.astype(np.int64), parameters,
                           vocab, width, layers, heads, lr=0.1)


def sequence_check_values(loss, gradients, parameters) -> dict[str, np.ndarray]:
    """Copies of what a contender's sequence step produced: the loss, then each parameter's
    gradient and value after the step (dicts keyed by the tinygrad_nn names, in its layout)."""
    values = {"loss": np.array(loss)}
    for name in gradients:
        values[f"{name} grad"] = np.array(gradients[name])
        values[f"{name} after step"] = np.array(parameters[name])
    return values

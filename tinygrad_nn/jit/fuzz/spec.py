"""A fuzzed program, as data: `Spec`, drawn from a seed by `generate`, made smaller by `simpler`.

A Spec holds only numbers, strings and tuples, so its repr is Python that makes it again: a
reproducer is `run(Spec(...))`. What the names mean is in world.py (how a Spec becomes a model,
a step and the events between calls).
"""
import dataclasses

import numpy as np

from .layers import LAYERS

INPUTS = ("features", "sequence", "image", "tokens")
LOSSES = ("MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss")
OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop")
# step shapes: the body of the function tg.jit captures (world.py, STEPS)
STEPS = ("standard", "micro_batches", "two_losses", "two_backwards", "accumulate",
         "manual_rebind", "manual_in_place", "manual_sub", "grad_then_step", "grad_manual",
         "eval_inside", "clip", "forward_only")
WITHOUT_OPTIMIZER = ("manual_rebind", "manual_in_place", "manual_sub", "grad_manual",
                     "forward_only")
# events between calls (world.py, World.event)
EVENTS = ("train", "eval", "lr", "schedule", "replace_parameter", "replace_layer",
          "new_optimizer", "checkpoint", "restore", "dropout_p", "dropout_rng",
          "hyperparameter", "rebind_data", "zero_grad", "freeze", "unfreeze", "update",
          "fault", "evaluate")


@dataclasses.dataclass(frozen=True)
class Spec:
    """seed: weights and data; input: (kind, per-sample shape); layers: ((name, seed), ...),
    before the head (world.py adds Flatten, Dense and for BCELoss Sigmoid); loss: (name,
    reduction); optimizer: (name, ((hyperparameter, value), ...)); schedule: () or (name,
    setting); step, returns ("loss", "tuple", "dict"), arguments ("tensors", "arrays");
    script: (("call", batch size), ("event", name, seed), ...)."""
    seed: int
    input: tuple
    layers: tuple
    loss: tuple
    optimizer: tuple
    schedule: tuple
    step: str
    returns: str
    arguments: str
    script: tuple


def generate(seed):
    """The Spec of fuzzed program number `seed`."""
    rng = np.random.default_rng(seed)
    kind = str(rng.choice(INPUTS))
    shape = {"features": lambda: (int(rng.integers(1, 7)),),
             "sequence": lambda: (int(rng.integers(1, 5)), int(rng.integers(1, 6))),
             "image": lambda: (int(rng.integers(1, 3)), int(rng.integers(3, 8)),
                               int(rng.integers(3, 8))),
             "tokens": lambda: (int(rng.integers(1, 5)), int(rng.integers(2, 10)))}[kind]()
    layers = _layers(rng, kind, int(rng.integers(0, 6)))
    loss = (str(rng.choice(LOSSES)), str(rng.choice(["mean", "sum", "none"])))
    step = str(rng.choice(STEPS))
    optimizer = _optimizer(rng)
    schedule = () if rng.random() < 0.6 else (
        ("StepLR", int(rng.integers(1, 3))) if rng.random() < 0.5 else
        ("CosineAnnealingLR", int(rng.integers(2, 6))))
    script = _script(rng, int(rng.integers(3, 10)))
    return Spec(seed, (kind, shape), layers, loss, optimizer, schedule, step,
                str(rng.choice(["loss", "tuple", "dict"])),
                str(rng.choice(["tensors", "arrays"])), script)


def _layers(rng, kind, count):
    """`count` layer choices that fit one after another from `kind` (the shapes are checked
    again when the model is built: a layer that does not fit is left out)."""
    layers = []
    if kind == "tokens":
        layers.append(("Embedding", int(rng.integers(1 << 30))))
        kind = "sequence"
    for _ in range(count):
        fitting = [layer for layer in LAYERS if kind in layer.kinds]
        layer = fitting[int(rng.integers(len(fitting)))]
        layers.append((layer.name, int(rng.integers(1 << 30))))
        kind = layer.becomes or kind
    return tuple(layers)


def _optimizer(rng):
    name = str(rng.choice(OPTIMIZERS))
    lr = float(rng.choice([1e-3, 1e-2, 0.05]))
    decay = float(rng.choice([0.0, 0.0, 1e-3]))
    if name == "SGD":
        momentum = float(rng.choice([0.0, 0.9]))
        settings = {"lr": lr, "momentum": momentum, "weight_decay": decay,
                    "nesterov": bool(momentum and rng.random() < 0.5)}
    elif name == "RMSprop":
        settings = {"lr": lr / 10, "momentum": float(rng.choice([0.0, 0.5])),
                    "weight_decay": decay}
    else:
        settings = {"lr": lr, "weight_decay": decay}
    return name, tuple(settings.items())


def _script(rng, calls):
    """calls with a batch size each (from a small set: a change means a new signature), and
    events between them."""
    sizes = [int(n) for n in rng.choice([2, 3, 4, 5], size=int(rng.integers(1, 3)))]
    script = []
    for _ in range(calls):
        while rng.random() < 0.35:
            script.append(("event", str(rng.choice(EVENTS)), int(rng.integers(1 << 30))))
        script.append(("call", sizes[int(rng.integers(len(sizes)))]))
    return tuple(script)


def simpler(spec):
    """Specs smaller than `spec` by one step each, the likeliest to keep a failure first."""
    script = spec.script
    for k in range(len(script)):
        if script[k][0] == "event" or sum(entry[0] == "call" for entry in script) > 1:
            yield dataclasses.replace(spec, script=script[:k] + script[k + 1:])
    for k in range(len(spec.layers)):
        if spec.layers[k][0] != "Embedding":
            yield dataclasses.replace(spec, layers=spec.layers[:k] + spec.layers[k + 1:])
    plain = {"step": "standard", "returns": "loss", "arguments": "tensors", "schedule": (),
             "optimizer": ("SGD", (("lr", 0.05),)), "loss": ("MSELoss", "mean")}
    for field, value in plain.items():
        if getattr(spec, field) != value:
            yield dataclasses.replace(spec, **{field: value})

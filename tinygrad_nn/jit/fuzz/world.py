"""A Spec made real: a `World` holds the model, loss, optimizer and schedule, makes the batches,
the step function (one of STEPS) and runs the events between calls.

Two Worlds built from one Spec start bit for bit equal: everything is drawn from the Spec's
seeds. The step functions read what they use through the world (`world.optimizer`), as a user's
training loop reads its globals, so that replacing an object between calls is a change the
jitted function must see.
"""
import numpy as np

from ... import Tensor, grad, nn, no_grad, optim
from .layers import BY_NAME

ACTIVATIONS = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.Identity)


class World:
    def __init__(self, spec):
        self.spec = spec
        self.model, self.outputs, self.kind = _model(spec)
        name, reduction = spec.loss
        self.loss_fn = getattr(nn, name)(reduction=reduction)
        self.optimizer = self.schedule = None
        if spec.step not in ("manual_rebind", "manual_in_place", "manual_sub", "grad_manual",
                             "forward_only"):
            self._new_optimizer()
        self.checkpoint = self._state()
        self.fault = False
        self.evaluate = _evaluation(self)  # the runner passes the jitted world's through tg.jit

    def _new_optimizer(self):
        name, settings = self.spec.optimizer
        self.optimizer = getattr(optim, name)(self.model.parameters(), **dict(settings))
        if self.spec.schedule:
            name, setting = self.spec.schedule
            schedule = getattr(optim.lr_scheduler, name)
            self.schedule = (schedule(self.optimizer, step_size=setting) if name == "StepLR"
                             else schedule(self.optimizer, T_max=setting))

    def _state(self):
        return (self.model.state_dict(),
                None if self.optimizer is None else self.optimizer.state_dict())

    # ------------------------------------------------------------------ data
    def batch(self, index, size):
        """(x, y) of call `index`, `size` samples, as the Spec's arguments say (Tensors or
        arrays); a call after a "fault" event gets a value the library refuses."""
        rng = np.random.default_rng([self.spec.seed, index])
        kind, shape = self.spec.input
        if kind == "tokens":
            x = rng.integers(0, shape[1], (size, shape[0])).astype(
                np.int64 if index % 2 else np.int32)
        elif kind == "image":
            x = rng.uniform(0, 1, (size,) + shape).astype(np.float32)
        else:
            x = rng.standard_normal((size,) + shape).astype(np.float32)
        y = self._targets(rng, size)
        if self.fault:
            x, y = self._faulty(x, y)
        wrap = Tensor if self.spec.arguments == "tensors" else np.asarray
        return wrap(x), wrap(y)

    def _targets(self, rng, size):
        loss = self.spec.loss[0]
        if loss == "CrossEntropyLoss":
            return rng.integers(0, self.outputs, size)
        if loss == "BCELoss":
            return rng.uniform(0, 1, (size, self.outputs)).astype(np.float32)
        if loss == "BCEWithLogitsLoss":
            return rng.integers(0, 2, (size, self.outputs)).astype(np.float32)
        return rng.standard_normal((size, self.outputs)).astype(np.float32)

    def _faulty(self, x, y):
        """A batch the library refuses: an index out of range, a label out of range, a NaN
        probability."""
        self.fault = False
        if self.spec.input[0] == "tokens":
            x[0, 0] = self.spec.input[1][1]
        elif self.spec.loss[0] == "CrossEntropyLoss":
            y[0] = self.outputs
        elif self.spec.loss[0] == "BCELoss":
            x[...] = np.nan
        return x, y

    # ------------------------------------------------------------------ events
    def event(self, name, seed):
        """Run one event between calls (one of spec.EVENTS); what it needs and the model
        lacks (no Dropout to change) makes it nothing. Returns the loss of an "evaluate"."""
        rng = np.random.default_rng(seed)
        layers = list(self.model)
        if name == "evaluate":
            was, self.fault = self.fault, False
            loss = self.evaluate(*self.batch(seed % 1000 + 1000, int(rng.integers(2, 5))))
            self.fault = was
            return loss
        if name in ("train", "eval"):
            self.model.train(name == "train")
        elif name == "lr" and self.optimizer is not None:
            self.optimizer.lr = self.optimizer.lr * float(rng.choice([0.5, 2.0]))
        elif name == "schedule" and self.schedule is not None:
            self.schedule.step()
        elif name == "new_optimizer" and self.optimizer is not None:
            self._new_optimizer()
        elif name == "checkpoint":
            self.checkpoint = self._state()
        elif name == "restore":
            self.model.load_state_dict(self.checkpoint[0])
            if self.optimizer is not None and self.checkpoint[1] is not None:
                self.optimizer.load_state_dict(self.checkpoint[1])
        elif name == "zero_grad":
            self.model.zero_grad()
        elif name == "update" and self.optimizer is not None:
            self.optimizer.step()
            self.optimizer.zero_grad()
        elif name == "fault":
            self.fault = True
        else:
            _change_a_layer(name, layers, self.model, rng)


def _change_a_layer(name, layers, model, rng):
    """The events that change one layer or one parameter of the model."""
    params = model.parameters()
    if name == "replace_parameter":
        holders = [m for m in model.modules() if "weight" in m._parameters]
        if holders:
            module = holders[int(rng.integers(len(holders)))]
            w = module.weight
            module.weight = nn.Parameter(rng.standard_normal(w.shape).astype(w.dtype) * 0.3)
    elif name == "replace_layer":  # (not the last: a Sigmoid that BCELoss needs)
        spots = [k for k, m in enumerate(layers[:-1]) if isinstance(m, ACTIVATIONS)]
        if spots:
            k = spots[int(rng.integers(len(spots)))]
            setattr(model, str(k), ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))]())
    elif name in ("dropout_p", "dropout_rng"):
        dropouts = [m for m in layers if isinstance(m, nn.Dropout)]
        if dropouts:
            dropout = dropouts[int(rng.integers(len(dropouts)))]
            if name == "dropout_p":
                dropout.p = float(rng.choice([0.0, 0.3, 0.6]))
            else:
                dropout.rng = np.random.default_rng(int(rng.integers(1000)))
    elif name == "hyperparameter":
        _change_hyperparameter(layers, rng)
    elif name in ("rebind_data", "freeze", "unfreeze") and params:
        p = params[int(rng.integers(len(params)))]
        if name == "rebind_data":
            p.data = p.data * np.float32(0.5)
        elif name == "freeze" and sum(q.requires_grad for q in params) > 1:
            p.requires_grad_(False)
        elif name == "unfreeze":
            p.requires_grad_(True)


def _change_hyperparameter(layers, rng):
    for layer in layers:
        if isinstance(layer, nn.LeakyReLU):
            layer.negative_slope = float(rng.choice([0.05, 0.3]))
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            layer.momentum = float(rng.choice([0.2, 0.9]))
        elif isinstance(layer, nn.LayerNorm):
            layer.eps = float(rng.choice([1e-3, 1e-6]))


def _model(spec):
    """(the model, the width of its output, the kind of its output) of a Spec: its layers
    (those that fit the shape they meet), then Flatten, Dense and Sigmoid as the loss needs."""
    kind, shape = spec.input
    layers = []
    for name, seed in spec.layers:
        layer = BY_NAME[name]
        if kind not in layer.kinds:
            continue
        module, out = layer.build(shape, np.random.default_rng(seed))
        if min(out) < 1:
            continue
        layers.append(module)
        kind, shape = layer.becomes or kind, out
    if spec.arguments == "arrays" and spec.input[0] != "tokens" and not (
            layers and isinstance(layers[0], TAKE_ARRAYS)):
        layers.insert(0, _Combine())
    if kind == "tokens":  # no Embedding left: the indices as floats
        layers.append(_Float())
        kind, shape = "sequence", shape[:1]
    if len(shape) > 1:
        layers.append(nn.Flatten())
        shape = (int(np.prod(shape)),)
    rng = np.random.default_rng(spec.seed)
    outputs = 3 if spec.loss[0] == "CrossEntropyLoss" else int(rng.integers(1, 4))
    layers.append(nn.Dense(shape[0], outputs, rng=rng))
    if spec.loss[0] == "BCELoss":
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers), outputs, kind


TAKE_ARRAYS = (nn.Dense, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)


class _Combine(nn.Module):
    """x * a constant Tensor: an ndarray argument combined with a Tensor (for a first layer
    that takes only Tensors: an activation calls x.relu())."""

    def forward(self, x):
        return x * Tensor(np.full((), 1.0, dtype=np.float32))


class _Float(nn.Module):
    """Integer indices as floats (a model whose Embedding a shrink removed)."""

    def forward(self, x):
        return (x if isinstance(x, Tensor) else Tensor(x)).astype(np.float32)


def _evaluation(world):
    def evaluate(x, y):
        with no_grad():
            return _loss(world, x, y)[0]
    return evaluate


# --------------------------------------------------------------------------- steps

def make_step(world):
    """The step function of the world's Spec: takes (x, y), returns as spec.returns says."""
    body = STEPS[world.spec.step]
    shape = world.spec.returns

    def step(x, y):
        loss, out = body(world, x, y)
        if shape == "loss":
            return loss
        return (loss, out) if shape == "tuple" else {"loss": loss, "out": out}
    return step


def _loss(world, x, y):
    out = world.model(x)
    loss = world.loss_fn(out, y)
    return (loss if world.spec.loss[1] != "none" else loss.mean()), out


def _standard(world, x, y):
    world.optimizer.zero_grad()
    loss, out = _loss(world, x, y)
    loss.backward()
    world.optimizer.step()
    return loss, out


def _micro_batches(world, x, y):
    world.optimizer.zero_grad()
    half = max(len(x) // 2, 1)
    first, out = _loss(world, x[:half], y[:half])
    (first * 0.5).backward()
    if half < len(x):
        second, _ = _loss(world, x[half:], y[half:])
        (second * 0.5).backward()
        first = first + second
    world.optimizer.step()
    return first, out


def _two_losses(world, x, y):
    world.optimizer.zero_grad()
    loss, out = _loss(world, x, y)
    total = loss + 0.01 * (out * out).mean()
    total.backward()
    world.optimizer.step()
    return total, out


def _two_backwards(world, x, y):
    world.optimizer.zero_grad()
    loss, out = _loss(world, x, y)
    loss.backward(retain_graph=True)
    (0.01 * (out * out).sum()).backward()
    world.optimizer.step()
    return loss, out


def _accumulate(world, x, y):
    loss, out = _loss(world, x, y)  # no zero_grad: the "update" event steps and zeroes
    loss.backward()
    return loss, out


def _manual(update):
    def step(world, x, y):
        world.model.zero_grad()
        loss, out = _loss(world, x, y)
        loss.backward()
        for p in world.model.parameters():
            if p.grad is not None:
                update(p)
        return loss, out
    return step


def _rebind(p):
    p.data = p.data - 0.05 * p.grad.data


def _in_place(p):
    p.data -= 0.05 * p.grad.data


def _sub(p):
    with no_grad():
        p.sub_(0.05 * p.grad)


def _grad_then_step(world, x, y):
    loss, out = _loss(world, x, y)
    trainable = [p for p in world.model.parameters() if p.requires_grad]
    for p, g in zip(trainable, grad(loss, trainable, allow_unused=True)):
        p.grad = g
    world.optimizer.step()
    return loss, out


def _grad_manual(world, x, y):
    loss, out = _loss(world, x, y)
    trainable = [p for p in world.model.parameters() if p.requires_grad]
    with no_grad():
        for p, g in zip(trainable, grad(loss, trainable, allow_unused=True)):
            if g is not None:
                p.sub_(0.05 * g)
    return loss, out


def _eval_inside(world, x, y):
    loss, out = _standard(world, x, y)
    training = world.model.training
    world.model.eval()
    with no_grad():
        evaluated, _ = _loss(world, x, y)
    world.model.train(training)
    return loss, evaluated


def _clip(world, x, y):
    world.optimizer.zero_grad()
    loss, out = _loss(world, x, y)
    loss.backward()
    for p in world.model.parameters():
        if p.grad is not None:
            p.grad = p.grad.clip(-0.5, 0.5)
    world.optimizer.step()
    return loss, out


def _forward_only(world, x, y):
    with no_grad():
        return _loss(world, x, y)


STEPS = {"standard": _standard, "micro_batches": _micro_batches, "two_losses": _two_losses,
         "two_backwards": _two_backwards, "accumulate": _accumulate,
         "manual_rebind": _manual(_rebind), "manual_in_place": _manual(_in_place),
         "manual_sub": _manual(_sub), "grad_then_step": _grad_then_step,
         "grad_manual": _grad_manual, "eval_inside": _eval_inside, "clip": _clip,
         "forward_only": _forward_only}

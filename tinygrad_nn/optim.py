"""Optimizers: SGD (with momentum, Nesterov, weight decay) and Adam, with the update rules of
torch.optim.SGD and torch.optim.Adam.

    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for x, y in data.batches(X, Y, 32):
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()

`step()` updates each parameter in place (`p.sub_(...)`, which counts a new version of it, so
a backward through a graph that saved the old value raises), outside any graph, and never
writes into a `.grad` array; a parameter whose `.grad` is None is skipped (its state,
step count included, does not change).
"""
import math

import numpy as np

from .autograd import no_grad
from .serialization import unflatten
from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam"]


def _parameter_list(params):
    """params (any iterable, a generator included) as a list of distinct leaf Tensors."""
    params = list(params)
    if not params:
        raise ValueError("optimizer got an empty parameter list")
    seen = set()
    for index, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"optimizer parameters must be Tensors, parameter {index} is a "
                            f"{type(p).__name__}")
        if not p.is_leaf:
            raise ValueError(f"parameter {index} is not a leaf tensor (it was computed by "
                             f"{p.grad_fn.name}); optimize the tensors it was computed from")
        if id(p) in seen:
            raise ValueError(f"parameter {index} appears more than once in the parameter list")
        seen.add(id(p))
    return params


def _check_at_least_zero(name, value):
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"{name} must be >= 0, got {value}")


def _check_in_unit_interval(name, value):
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


class Optimizer:
    """Base of the optimizers: the parameter list, the hyperparameters (attributes named in
    `hyperparameters`, each with the function that reads it back from a state dict) and
    `state`, a dict from parameter index to that parameter's counters and arrays."""

    hyperparameters = {}
    state_counters = ()
    state_arrays = ()

    def __init__(self, params, **hyperparameters):
        self.params = _parameter_list(params)
        self.check_hyperparameters(**hyperparameters)
        for name, value in hyperparameters.items():
            setattr(self, name, value)
        self.state = {}

    def check_hyperparameters(self, **hyperparameters):
        """Raise ValueError for a value out of range."""
        raise NotImplementedError

    def step(self):
        """Update every parameter that has a gradient."""
        raise NotImplementedError

    def gradients(self):
        """(index, parameter, gradient + weight_decay · parameter) for every parameter that has
        a gradient; the .grad array itself is never modified."""
        for index, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad.data
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            yield index, p, g

    def zero_grad(self):
        """Forget the gradients of every parameter (`.grad = None`)."""
        for p in self.params:
            p.grad = None

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """{"state": {parameter index: {name: counter or array copy}}, "hyperparameters":
        {name: value}}: everything `load_state_dict` needs to resume training exactly."""
        state = {index: {name: value.copy() if isinstance(value, np.ndarray) else value
                         for name, value in entry.items()}
                 for index, entry in self.state.items()}
        hyperparameters = {name: getattr(self, name) for name in self.hyperparameters}
        return {"state": state, "hyperparameters": hyperparameters}

    def load_state_dict(self, state_dict):
        """Restore the state and hyperparameters of `state_dict`, nested as `state_dict()`
        makes it or flat as `tg.load` returns it ("state.0.step", "hyperparameters.lr", ...).

        Everything is checked before anything changes: KeyError for a missing or unknown name
        or a parameter index out of range, ValueError for a bad value, shape or dtype.
        """
        if not any(isinstance(value, dict) for value in state_dict.values()):
            state_dict = unflatten(state_dict)
        unknown = set(state_dict) - {"state", "hyperparameters"}
        if unknown or "hyperparameters" not in state_dict:
            raise KeyError(f"an optimizer state dict has the keys 'state' and "
                           f"'hyperparameters', got {sorted(map(str, state_dict))}")
        hyperparameters = self._read_hyperparameters(state_dict["hyperparameters"])
        state = {}
        for key, entry in state_dict.get("state", {}).items():
            index = self._read_index(key)
            state[index] = self._read_parameter_state(index, entry)
        for name, value in hyperparameters.items():
            setattr(self, name, value)
        self.state = state

    def _read_hyperparameters(self, values):
        if set(values) != set(self.hyperparameters):
            raise KeyError(f"{type(self).__name__} hyperparameters are "
                           f"{sorted(self.hyperparameters)}, the state dict has "
                           f"{sorted(values)}")
        converted = {name: read(values[name]) for name, read in self.hyperparameters.items()}
        self.check_hyperparameters(**converted)
        return converted

    def _read_index(self, key):
        index = int(key) if str(key).isdigit() else -1
        if str(index) != str(key) or not 0 <= index < len(self.params):
            raise KeyError(f"state for parameter {key!r}, but this optimizer has "
                           f"{len(self.params)} parameters (0 to {len(self.params) - 1})")
        return index

    def _read_parameter_state(self, index, entry):
        expected = set(self.state_counters) | set(self.state_arrays)
        if set(entry) != expected:
            raise KeyError(f"state of parameter {index} must have the keys {sorted(expected)}, "
                           f"got {sorted(entry)}")
        p = self.params[index]
        result = {}
        for name in self.state_counters:
            count = np.asarray(entry[name])
            if count.shape != () or count.dtype.kind not in "iu" or count < 0:
                raise ValueError(f"state {index}.{name} must be a non-negative integer, got "
                                 f"{entry[name]!r}")
            result[name] = int(count)
        for name in self.state_arrays:
            array = np.asarray(entry[name])
            if array.shape != p.shape or array.dtype != p.dtype:
                raise ValueError(f"state {index}.{name} has shape {array.shape} and dtype "
                                 f"{array.dtype}, but parameter {index} has shape {p.shape} "
                                 f"and dtype {p.dtype}")
            result[name] = array.copy()
        return result

    def __repr__(self):
        settings = ", ".join(f"{name}={getattr(self, name)}" for name in self.hyperparameters)
        return f"{type(self).__name__}({settings})"


def _pair_of_floats(value):
    pair = tuple(float(b) for b in np.asarray(value, dtype=float).ravel())
    if len(pair) != 2:
        raise ValueError(f"expected a pair of numbers, got {value!r}")
    return pair


class SGD(Optimizer):
    """Stochastic gradient descent, the update rule of torch.optim.SGD (dampening 0):

        g ← ∇p + weight_decay · p
        b ← g on the first step, then momentum · b + g     (only when momentum > 0)
        g ← g + momentum · b if nesterov, else b
        p ← p - lr · g

    lr >= 0; momentum in [0, 1) (1 or more makes the buffer grow without bound); nesterov needs
    momentum > 0; weight_decay >= 0 (L2 regularisation added to the gradient).
    """

    hyperparameters = {"lr": float, "momentum": float, "nesterov": bool, "weight_decay": float}
    state_arrays = ("momentum_buffer",)

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr=lr, momentum=momentum, nesterov=nesterov,
                         weight_decay=weight_decay)

    def check_hyperparameters(self, lr, momentum, nesterov, weight_decay):
        _check_at_least_zero("lr", lr)
        _check_in_unit_interval("momentum", momentum)
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs a momentum > 0")
        _check_at_least_zero("weight_decay", weight_decay)

    @no_grad()
    def step(self):
        for index, p, g in self.gradients():
            if self.momentum:
                state = self.state.get(index)
                if state is None:
                    buffer = g.copy()
                    self.state[index] = {"momentum_buffer": buffer}
                else:
                    buffer = state["momentum_buffer"]
                    buffer *= self.momentum
                    buffer += g
                g = g + self.momentum * buffer if self.nesterov else buffer
            p.sub_(self.lr * g)


class Adam(Optimizer):
    """Adam, the update rule of torch.optim.Adam (weight decay as L2, added to the gradient):

        g ← ∇p + weight_decay · p;  t ← t + 1
        m ← β₁ m + (1 - β₁) g;  v ← β₂ v + (1 - β₂) g²      (m, v start at 0)
        p ← p - lr / (1 - β₁ᵗ) · m / (√v / √(1 - β₂ᵗ) + eps)

    lr >= 0; β₁, β₂ in [0, 1); eps >= 0; weight_decay >= 0. Each parameter has its own step
    count t, which advances only on the steps where it has a gradient.
    """

    hyperparameters = {"lr": float, "betas": _pair_of_floats, "eps": float,
                       "weight_decay": float}
    state_counters = ("step",)
    state_arrays = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def check_hyperparameters(self, lr, betas, eps, weight_decay):
        _check_at_least_zero("lr", lr)
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        _check_in_unit_interval("beta1", betas[0])
        _check_in_unit_interval("beta2", betas[1])
        _check_at_least_zero("eps", eps)
        _check_at_least_zero("weight_decay", weight_decay)

    @no_grad()
    def step(self):
        beta1, beta2 = self.betas
        for index, p, g in self.gradients():
            state = self.state.get(index)
            if state is None:
                state = self.state[index] = {"step": 0, "exp_avg": np.zeros_like(p.data),
                                             "exp_avg_sq": np.zeros_like(p.data)}
            state["step"] += 1
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg *= beta1
            exp_avg += (1 - beta1) * g
            exp_avg_sq *= beta2
            exp_avg_sq += (1 - beta2) * (g * g)
            step_size = self.lr / (1 - beta1 ** state["step"])
            denominator = np.sqrt(exp_avg_sq) / math.sqrt(1 - beta2 ** state["step"]) + self.eps
            p.sub_(step_size * (exp_avg / denominator))

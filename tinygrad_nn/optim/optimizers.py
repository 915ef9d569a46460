"""Optimizers: SGD (with momentum, Nesterov, weight decay), Adam, AdamW and RMSprop, with the
update rules of their torch.optim namesakes.

`step()` updates each parameter in place (`p.sub_(...)`, which counts a new version of it, so
a backward through a graph that saved the old value raises), outside any graph, and never
writes into a `.grad` array; a parameter whose `.grad` is None is skipped (its state,
step count included, does not change).
"""
import math

import numpy as np

from ..grad_mode import no_grad
from ..serialization import unflatten
from ..tensor import Tensor
from ..validation import real_number

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "read_fields", "read_float",
           "read_count", "at_least_zero"]


def _parameter_list(params, where):
    """params (any iterable, a generator included) as a list of distinct leaf Tensors."""
    if isinstance(params, Tensor):
        raise TypeError(f"{where} takes an iterable of parameters (model.parameters()), got a "
                        "single Tensor: wrap it in a list")
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"{where} takes an iterable of parameters (model.parameters()), got "
                        f"{type(params).__name__}") from None
    if not params:
        raise ValueError(f"{where} got an empty parameter list")
    seen = set()
    for index, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"optimizer parameters must be Tensors, parameter {index} is a "
                            f"{type(p).__name__}")
        if not p.is_leaf:
            raise ValueError(f"parameter {index} is not a leaf tensor (it was computed by "
                             f"{p.grad_fn.name}); optimize the tensors it was computed from")
        if p.dtype.kind != "f":
            raise TypeError(f"parameter {index} has dtype {p.dtype}; only floating-point "
                            f"tensors can be optimized")
        if id(p) in seen:
            raise ValueError(f"parameter {index} appears more than once in the parameter list")
        seen.add(id(p))
    return params


def at_least_zero(name, value, where):
    """`value` as a float, TypeError unless a real number, ValueError unless >= 0 (NaN too)."""
    value = real_number(name, value, where)
    if not value >= 0:
        raise ValueError(f"{where}: {name} must be >= 0, got {value}")
    return value


def _in_unit_interval(name, value, where):
    value = real_number(name, value, where)
    if not 0 <= value < 1:
        raise ValueError(f"{where}: {name} must be in [0, 1), got {value}")
    return value


def _betas(betas, where):
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise ValueError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
    return (_in_unit_interval("beta1", betas[0], where),
            _in_unit_interval("beta2", betas[1], where))


def read_float(value):
    array = np.asarray(value)
    if array.shape != () or array.dtype.kind not in "iuf":
        raise ValueError(f"expected a number, got {value!r}")
    return float(array)


def read_count(value):
    array = np.asarray(value)
    if array.shape != () or array.dtype.kind not in "iu" or array < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return int(array)


def _read_bool(value):
    array = np.asarray(value)
    if array.shape != () or array.dtype != bool:
        raise ValueError(f"expected True or False, got {value!r}")
    return bool(array)


def _read_pair(value):
    array = np.asarray(value)
    if array.shape != (2,) or array.dtype.kind not in "iuf":
        raise ValueError(f"expected a pair of numbers, got {value!r}")
    return (float(array[0]), float(array[1]))


def read_fields(where, readers, values):
    """{name: readers[name](values[name])}: KeyError unless `values` has exactly the names of
    `readers`, ValueError naming the field whose value a reader refuses. Reads state dicts
    both as made in memory and as `tg.load` returns them (NumPy scalars and arrays)."""
    if not hasattr(values, "keys") or set(values) != set(readers):
        names = sorted(map(str, values)) if hasattr(values, "keys") else type(values).__name__
        raise KeyError(f"{where}: the state dict must have the keys {sorted(readers)}, got "
                       f"{names}")
    result = {}
    for name, read in readers.items():
        try:
            result[name] = read(values[name])
        except ValueError as error:
            raise ValueError(f"{where}: {name} in the state dict: {error}") from None
    return result


class Optimizer:
    """Base of the optimizers: the parameter list, the hyperparameters (attributes named in
    `hyperparameters`, each with the function that reads it back from a state dict) and
    `state`, a dict from parameter index to that parameter's counters and arrays."""

    hyperparameters = {}
    state_counters = ()
    state_arrays = ()
    decoupled_weight_decay = False

    def __init__(self, params, **hyperparameters):
        where = type(self).__name__
        self.params = _parameter_list(params, where)
        for name, value in self.check_hyperparameters(**hyperparameters).items():
            setattr(self, name, value)
        self.state = {}

    def check_hyperparameters(self, **hyperparameters):
        """The hyperparameters as stored (floats, bools); TypeError for a value of the wrong
        type, ValueError for one out of range, each naming the hyperparameter."""
        raise NotImplementedError

    def state_names(self, hyperparameters):
        """(counter names, array names) of a parameter's state under these hyperparameters."""
        return self.state_counters, self.state_arrays

    def step(self):
        """Update every parameter that has a gradient."""
        raise NotImplementedError

    def gradients(self):
        """(index, parameter, gradient) for every parameter that has a gradient, with L2
        weight decay added (gradient + weight_decay · parameter) unless the optimizer decays
        the weights itself; the .grad array itself is never modified. Every gradient's shape
        is checked before the first is given out, so a bad one stops the step before any
        parameter changes."""
        with_grad = [(index, p) for index, p in enumerate(self.params) if p.grad is not None]
        for index, p in with_grad:
            if p.grad.shape != p.shape:
                raise ValueError(f"{type(self).__name__}.step: parameter {index} has shape "
                                 f"{p.shape} but its .grad has shape {p.grad.shape}")
        for index, p in with_grad:
            g = p.grad.data
            if self.weight_decay and not self.decoupled_weight_decay:
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

        Everything is checked before anything changes: TypeError if it is not a mapping,
        KeyError for a missing or unknown name or a parameter index out of range, ValueError
        for a bad value, shape or dtype.
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"{where} takes a state dict (a mapping, such as state_dict() or "
                            f"tg.load(path) returns), got {type(state_dict).__name__}")
        if not any(isinstance(value, dict) for value in state_dict.values()):
            state_dict = unflatten(state_dict)
        unknown = set(state_dict) - {"state", "hyperparameters"}
        if unknown or "hyperparameters" not in state_dict:
            raise KeyError(f"{where}: an optimizer state dict has the keys 'state' and "
                           f"'hyperparameters', got {sorted(map(str, state_dict))}")
        hyperparameters = read_fields(where, self.hyperparameters,
                                      state_dict["hyperparameters"])
        hyperparameters = self.check_hyperparameters(**hyperparameters)
        counters, arrays = self.state_names(hyperparameters)
        state = {}
        for key, entry in state_dict.get("state", {}).items():
            index = self._read_index(key)
            state[index] = self._read_parameter_state(index, entry, counters, arrays)
        for name, value in hyperparameters.items():
            setattr(self, name, value)
        self.state = state

    def _read_index(self, key):
        index = int(key) if str(key).isdigit() else -1
        if str(index) != str(key) or not 0 <= index < len(self.params):
            raise KeyError(f"state for parameter {key!r}, but this optimizer has "
                           f"{len(self.params)} parameters (0 to {len(self.params) - 1})")
        return index

    def _read_parameter_state(self, index, entry, counters, arrays):
        expected = set(counters) | set(arrays)
        if not hasattr(entry, "keys") or set(entry) != expected:
            raise KeyError(f"state of parameter {index} must have the keys {sorted(expected)}, "
                           f"got {sorted(entry) if hasattr(entry, 'keys') else entry!r}")
        p = self.params[index]
        result = {}
        for name in counters:
            try:
                result[name] = read_count(entry[name])
            except ValueError as error:
                raise ValueError(f"state {index}.{name}: {error}") from None
        for name in arrays:
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


class SGD(Optimizer):
    """Stochastic gradient descent, the update rule of torch.optim.SGD (dampening 0):

        g ← ∇p + weight_decay · p
        b ← g on the first step, then momentum · b + g     (only when momentum > 0)
        g ← g + momentum · b if nesterov, else b
        p ← p - lr · g

    lr >= 0; momentum in [0, 1) (1 or more makes the buffer grow without bound); nesterov needs
    momentum > 0; weight_decay >= 0 (L2 regularisation added to the gradient).
    """

    hyperparameters = {"lr": read_float, "momentum": read_float, "nesterov": _read_bool,
                       "weight_decay": read_float}
    state_arrays = ("momentum_buffer",)

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr=lr, momentum=momentum, nesterov=nesterov,
                         weight_decay=weight_decay)

    def check_hyperparameters(self, lr, momentum, nesterov, weight_decay):
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"SGD: nesterov must be True or False, got {nesterov!r}")
        momentum = _in_unit_interval("momentum", momentum, "SGD")
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov=True needs a momentum > 0")
        return {"lr": at_least_zero("lr", lr, "SGD"), "momentum": momentum,
                "nesterov": bool(nesterov),
                "weight_decay": at_least_zero("weight_decay", weight_decay, "SGD")}

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

    hyperparameters = {"lr": read_float, "betas": _read_pair, "eps": read_float,
                       "weight_decay": read_float}
    state_counters = ("step",)
    state_arrays = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def check_hyperparameters(self, lr, betas, eps, weight_decay):
        where = type(self).__name__
        return {"lr": at_least_zero("lr", lr, where), "betas": _betas(betas, where),
                "eps": at_least_zero("eps", eps, where),
                "weight_decay": at_least_zero("weight_decay", weight_decay, where)}

    @no_grad()
    def step(self):
        beta1, beta2 = self.betas
        for index, p, g in self.gradients():
            if self.decoupled_weight_decay and self.weight_decay:
                p.mul_(1 - self.lr * self.weight_decay)
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


class AdamW(Adam):
    """AdamW, the update rule of torch.optim.AdamW: Adam on the plain gradient, after a
    decoupled weight decay p ← p - lr · weight_decay · p (for the parameters that have a
    gradient). Default weight_decay 1e-2."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class RMSprop(Optimizer):
    """RMSprop, the update rule of torch.optim.RMSprop (not centered):

        g ← ∇p + weight_decay · p
        v ← α v + (1 - α) g²                     (v starts at 0)
        b ← momentum · b + g / (√v + eps);  p ← p - lr · b     when momentum > 0 (b starts at 0)
        p ← p - lr · g / (√v + eps)                            otherwise

    lr >= 0; alpha in [0, 1]; eps >= 0; momentum in [0, 1); weight_decay >= 0.
    """

    hyperparameters = {"lr": read_float, "alpha": read_float, "eps": read_float,
                       "momentum": read_float, "weight_decay": read_float}

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, momentum=momentum,
                         weight_decay=weight_decay)

    def check_hyperparameters(self, lr, alpha, eps, momentum, weight_decay):
        alpha = at_least_zero("alpha", alpha, "RMSprop")
        if alpha > 1:
            raise ValueError(f"RMSprop: alpha must be in [0, 1], got {alpha}")
        return {"lr": at_least_zero("lr", lr, "RMSprop"), "alpha": alpha,
                "eps": at_least_zero("eps", eps, "RMSprop"),
                "momentum": _in_unit_interval("momentum", momentum, "RMSprop"),
                "weight_decay": at_least_zero("weight_decay", weight_decay, "RMSprop")}

    def state_names(self, hyperparameters):
        arrays = ("square_avg", "momentum_buffer") if hyperparameters["momentum"] else (
            "square_avg",)
        return (), arrays

    @no_grad()
    def step(self):
        for index, p, g in self.gradients():
            state = self.state.get(index)
            if state is None:
                state = self.state[index] = {"square_avg": np.zeros_like(p.data)}
                if self.momentum:
                    state["momentum_buffer"] = np.zeros_like(p.data)
            square_avg = state["square_avg"]
            square_avg *= self.alpha
            square_avg += (1 - self.alpha) * (g * g)
            average = np.sqrt(square_avg) + self.eps
            if self.momentum:
                buffer = state["momentum_buffer"]
                buffer *= self.momentum
                buffer += g / average
                p.sub_(self.lr * buffer)
            else:
                p.sub_(self.lr * (g / average))

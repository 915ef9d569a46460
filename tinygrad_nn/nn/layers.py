"""Layers: Dense, the containers ModuleList and Sequential, the activations as modules, and
Dropout."""
import numpy as np

from ..ops import linear
from ..tensor import Tensor, get_default_dtype
from ..validation import generator, positive_int, real_number
from .module import Module, Parameter

__all__ = ["Dense", "Linear", "ModuleList", "Sequential", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
           "Softmax", "Identity", "Dropout"]

# The standard deviation of the initial weights, from (in_features, out_features).
INITIAL_WEIGHT_STD = {
    "he": lambda fan_in, fan_out: np.sqrt(2.0 / fan_in),
    "xavier": lambda fan_in, fan_out: np.sqrt(2.0 / (fan_in + fan_out)),
    "normal": lambda fan_in, fan_out: 0.01,
}


class Dense(Module):
    """Fully connected layer: y = x @ weight + bias.

    x (..., in_features) -> y (..., out_features). weight (in_features, out_features) is drawn
    from N(0, std²), std given by `init` ("he": √(2/in), "xavier": √(2/(in+out)), "normal":
    0.01), using `rng` (a numpy.random.Generator or a seed; a fresh one if None); bias
    (out_features,) starts at zero. Both are in the default dtype.
    """

    def __init__(self, in_features, out_features, bias=True, init="he", rng=None):
        super().__init__()
        in_features = positive_int("in_features", in_features, "Dense")
        out_features = positive_int("out_features", out_features, "Dense")
        if not isinstance(init, str) or init not in INITIAL_WEIGHT_STD:
            raise ValueError(f"init must be one of {sorted(INITIAL_WEIGHT_STD)}, got {init!r}")
        self.in_features, self.out_features, self.init = in_features, out_features, init
        rng = generator(rng, "Dense")
        dtype = get_default_dtype()
        std = INITIAL_WEIGHT_STD[init](in_features, out_features)
        weight = rng.standard_normal((in_features, out_features)) * std
        self.weight = Parameter(weight.astype(dtype))
        self.bias = Parameter(np.zeros(out_features, dtype=dtype)) if bias else None

    def forward(self, x):
        shape = x.shape if isinstance(x, Tensor) else np.shape(x)
        if shape[-1:] != (self.in_features,):
            raise ValueError(f"Dense expected input with last dimension {self.in_features}, "
                             f"got shape {shape}")
        return linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


Linear = Dense


class ModuleList(Module):
    """A list of Modules, registered under the names "0", "1", ... (so their parameters are
    "0.weight", ...): `append`, `extend`, `len`, indexing (a slice gives the same kind of
    container) and iteration. It has no forward of its own."""

    def __init__(self, modules=()):
        super().__init__()
        self.extend(modules)

    def append(self, module):
        """Add `module` at the end; returns self."""
        return self.extend([module])

    def extend(self, modules):
        """Add each of `modules` at the end (all checked first: a non-Module adds nothing);
        returns self."""
        modules = list(modules)
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"{type(self).__name__} takes Modules, got a "
                                f"{type(module).__name__} (as its item {len(self) + index})")
        for module in modules:
            setattr(self, str(len(self)), module)
        return self

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            part = type(self).__new__(type(self))
            ModuleList.__init__(part, modules[index])
            return part
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"{type(self).__name__} indices must be integers or slices, got "
                            f"{type(index).__name__}")
        if not -len(modules) <= index < len(modules):
            raise IndexError(f"index {index} is out of range for a {type(self).__name__} of "
                             f"length {len(modules)}")
        return modules[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.values()))


class Sequential(ModuleList):
    """Modules applied one after another: Sequential(a, b)(x) = b(a(x)). A ModuleList with a
    forward: indexable (a slice gives a Sequential), iterable, and its parameters are named
    "0.weight", "1.bias", ..."""

    def __init__(self, *modules):
        super().__init__(modules)

    def forward(self, x):
        for module in self:
            x = module(x)
        return x


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x):
        return x.relu()


class LeakyReLU(Module):
    """x where x > 0, else negative_slope · x."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = real_number("negative_slope", negative_slope, "LeakyReLU")

    def forward(self, x):
        return x.leaky_relu(self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """1 / (1 + e^-x), elementwise."""

    def forward(self, x):
        return x.sigmoid()


class Tanh(Module):
    """tanh x, elementwise."""

    def forward(self, x):
        return x.tanh()


class Softmax(Module):
    """e^x / Σ e^x along `axis`."""

    def __init__(self, axis=-1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return x.softmax(self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"


class Identity(Module):
    """Returns its input unchanged."""

    def forward(self, x):
        return x


class Dropout(Module):
    """Inverted dropout: in training mode each element is zeroed with probability p and the
    survivors are scaled by 1/(1-p), so the expected output equals the input; a new mask is
    drawn (from `rng`, a Generator or a seed) at every call. In eval mode it is the identity."""

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        p = real_number("p", p, "Dropout")
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: probability p must be in [0, 1), got {p}")
        self.p = p
        self.rng = generator(rng, "Dropout")

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = self.rng.random(x.shape) >= self.p
        return x * (keep.astype(x.dtype) / (1 - self.p))

    def extra_repr(self):
        return f"p={self.p}"

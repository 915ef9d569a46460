"""Recurrent layers: the cells RNNCell, LSTMCell and GRUCell (one time step) and the layers
RNN, LSTM and GRU (a whole sequence, stacked and optionally bidirectional), with PyTorch's
shapes, gate orders, formulas and initialisation, and this library's `Dense` convention for
the weights (x @ weight: weight_ih (input_size, G·hidden), the transpose of PyTorch's).

Each time step is a handful of Tensor ops, so the engine derives every gradient
(backpropagation through time is the ordinary backward walk, iterative at any length).
"""
import math

import numpy as np

from ..ops import concatenate, linear, stack
from ..tensor import Tensor, get_default_dtype
from ..validation import generator, positive_int, real_number
from .module import Module, Parameter

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]

NONLINEARITIES = ("tanh", "relu")


def _check_nonlinearity(nonlinearity, where):
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"{where}: nonlinearity must be one of {NONLINEARITIES}, got "
                         f"{nonlinearity!r}")


def _as_input(x, where):
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    if x.dtype.kind != "f":
        raise TypeError(f"{where} expects floating-point input, got dtype {x.dtype}")
    return x


def dropout(x, p, rng):
    """Inverted dropout of x with probability p, the mask drawn from `rng` (as nn.Dropout)."""
    keep = rng.random(x.shape) >= p
    return x * (keep.astype(x.dtype) / (1 - p))


# ---------------------------------------------------------------------------- one step each
# xw is the input's share, x @ weight_ih + bias_ih (for the LSTM and the RNN bias_hh too),
# computed for every time step at once; a step adds the hidden state's share.
#
# The gates' sigmoids are computed as σ(a) = ½ tanh(a/2) + ½, the same function: one tanh over
# all four LSTM gates (the ½ folded into their columns of the weights, once per sequence) costs
# a tenth of the engine's overflow-proof sigmoid, which goes through logaddexp.

def gate_scales(hidden, gates, sigmoid_gates, dtype):
    """(scale, shift) of width gates·hidden: ½ and ½ on the columns of the gates that take a
    sigmoid, 1 and 0 on the others, so that tanh(a · scale) · scale + shift is σ or tanh."""
    scale, shift = np.ones(gates * hidden, dtype), np.zeros(gates * hidden, dtype)
    for gate in sigmoid_gates:
        scale[gate * hidden:(gate + 1) * hidden] = 0.5
        shift[gate * hidden:(gate + 1) * hidden] = 0.5
    return scale, shift


def rnn_step(xw, h, weight_hh, nonlinearity):
    """h' = tanh (or relu)(x W_ih + b_ih + h W_hh + b_hh)."""
    pre = xw + h @ weight_hh
    return pre.tanh() if nonlinearity == "tanh" else pre.relu()


def lstm_step(xw, state, weight_hh, hidden, scale, shift):
    """Gates i, f, g, o = σ, σ, tanh, σ of (x W_ih + b_ih + h W_hh + b_hh), in that order;
    c' = f c + i g, h' = o tanh(c'). xw and weight_hh come with their gate columns multiplied
    by `scale` (gate_scales), so that one tanh gives all four gates."""
    h, c = state
    gates = (xw + h @ weight_hh).tanh() * scale + shift
    i, f, g, o = (gates[..., k * hidden:(k + 1) * hidden] for k in range(4))
    c = f * c + i * g
    return o * c.tanh(), c


def gru_step(xw, h, weight_hh, bias_hh, hidden):
    """r, z = σ(x W_i{r,z} + b_i{r,z} + h W_h{r,z} + b_h{r,z});
    n = tanh(x W_in + b_in + r (h W_hn + b_hn)); h' = (1 - z) n + z h = n + z (h - n)."""
    hw = linear(h, weight_hh, bias_hh)
    rz = ((xw[..., :2 * hidden] + hw[..., :2 * hidden]) * 0.5).tanh() * 0.5 + 0.5
    r, z = rz[..., :hidden], rz[..., hidden:]
    n = (xw[..., 2 * hidden:] + r * hw[..., 2 * hidden:]).tanh()
    return n + z * (h - n)


def time_steps(xw):
    """[xw[0], ..., xw[T-1]], sliced through blocks of about √T steps. The gradient of a slice
    is an array of the whole's shape, zeros but for the slice, so T slices taken straight from
    xw would cost backward T² N·G·hidden of memory traffic; through blocks it is about
    2 T^1.5 N·G·hidden."""
    size = math.isqrt(len(xw))
    if size < 3:  # short: the blocks would cost more ops than they save
        return [xw[t] for t in range(len(xw))]
    blocks = [xw[start:start + size] for start in range(0, len(xw), size)]
    return [block[k] for block in blocks for k in range(len(block))]


class _Recurrent(Module):
    """What cells and layers share: the sizes, the kind's gate count G, the initialisation
    U(-1/√hidden, 1/√hidden) of every weight and bias, and one time step."""

    gates = 1  # G, set by each kind

    def _sizes(self, input_size, hidden_size, bias):
        where = type(self).__name__
        self.input_size = positive_int("input_size", input_size, where)
        self.hidden_size = positive_int("hidden_size", hidden_size, where)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"{where}: bias must be True or False, got {bias!r}")
        self.bias = bool(bias)

    def _add_weights(self, suffix, input_size, rng):
        """Draw weight_ih{suffix}, weight_hh{suffix}, bias_ih{suffix}, bias_hh{suffix}."""
        width = self.gates * self.hidden_size
        bound = 1 / np.sqrt(self.hidden_size)
        shapes = {"weight_ih": (input_size, width), "weight_hh": (self.hidden_size, width)}
        if self.bias:
            shapes.update(bias_ih=(width,), bias_hh=(width,))
        dtype = get_default_dtype()
        for name, shape in shapes.items():
            setattr(self, name + suffix,
                    Parameter(rng.uniform(-bound, bound, shape).astype(dtype)))

    def _recurrence(self, x, suffix):
        """(xw, the step: step(xw_t, state) -> next state) for the weights of `suffix`: xw =
        x @ weight_ih + bias_ih (+ bias_hh where the step adds it unchanged) for every time
        step of x at once."""
        weight, weight_hh = getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix)
        bias = getattr(self, "bias_ih" + suffix) if self.bias else None
        if self.bias and self.gates != 3:  # the GRU keeps b_hn inside r (h W_hn + b_hn)
            bias = bias + getattr(self, "bias_hh" + suffix)
        xw = x @ weight if bias is None else linear(x, weight, bias)
        hidden = self.hidden_size
        if self.gates == 4:
            scale, shift = gate_scales(hidden, 4, (0, 1, 3), x.dtype)
            weight_hh = weight_hh * scale
            return xw * scale, lambda xw_t, state: lstm_step(xw_t, state, weight_hh, hidden,
                                                             scale, shift)
        if self.gates == 3:
            bias_hh = getattr(self, "bias_hh" + suffix) if self.bias else None
            return xw, lambda xw_t, h: gru_step(xw_t, h, weight_hh, bias_hh, hidden)
        return xw, lambda xw_t, h: rnn_step(xw_t, h, weight_hh, self.nonlinearity)

    def _state(self, state, shape, x):
        """The state as Tensors of `shape` (zeros for None): h, or the LSTM's (h, c);
        ValueError naming both shapes."""
        names = ("h", "c") if self.gates == 4 else ("h",)
        if state is None:
            state = (None,) * len(names)
        elif self.gates != 4:
            state = (state,)
        elif not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError(f"{type(self).__name__}: the state must be a pair (h, c), got "
                             f"{type(state).__name__}")
        tensors = []
        for name, part in zip(names, state):
            if part is None:
                tensors.append(Tensor(np.zeros(shape, dtype=x.dtype)))
                continue
            part = _as_input(part, type(self).__name__)
            if part.shape != shape:
                raise ValueError(f"{type(self).__name__}: the state {name} has shape "
                                 f"{part.shape}, expected {shape} for input of shape {x.shape}")
            tensors.append(part)
        return tuple(tensors) if self.gates == 4 else tensors[0]


class _Cell(_Recurrent):
    """One time step: cell(x, state=None), x (N, input_size) or (input_size,)."""

    def __init__(self, input_size, hidden_size, bias=True, rng=None):
        super().__init__()
        self._sizes(input_size, hidden_size, bias)
        self._add_weights("", self.input_size, generator(rng, type(self).__name__))

    def forward(self, x, state=None):
        x = _as_input(x, type(self).__name__)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input has shape {x.shape}, expected "
                             f"(N, {self.input_size}) or ({self.input_size},)")
        state = self._state(state, x.shape[:-1] + (self.hidden_size,), x)
        xw, step = self._recurrence(x, "")
        return step(xw, state)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_Cell):
    """h' = tanh(x W_ih + b_ih + h W_hh + b_hh) (or relu): x (N, input_size) -> h' (N,
    hidden_size); weight_ih (input_size, hidden), weight_hh (hidden, hidden)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", rng=None):
        _check_nonlinearity(nonlinearity, "RNNCell")  # before a weight is drawn from rng
        super().__init__(input_size, hidden_size, bias, rng)
        self.nonlinearity = nonlinearity

    def extra_repr(self):
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class LSTMCell(_Cell):
    """(h', c') from x (N, input_size) and (h, c), gates i, f, g, o (see lstm_step); weights
    (input_size, 4·hidden) and (hidden, 4·hidden)."""

    gates = 4


class GRUCell(_Cell):
    """h' from x (N, input_size) and h, gates r, z, n (see gru_step); weights
    (input_size, 3·hidden) and (hidden, 3·hidden)."""

    gates = 3


class _Layer(_Recurrent):
    """A whole sequence through `num_layers` stacked recurrences, each one direction or two."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, rng=None):
        super().__init__()
        where = type(self).__name__
        self._sizes(input_size, hidden_size, bias)
        self.num_layers = positive_int("num_layers", num_layers, where)
        for name, flag in (("batch_first", batch_first), ("bidirectional", bidirectional)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"{where}: {name} must be True or False, got {flag!r}")
        self.batch_first, self.bidirectional = bool(batch_first), bool(bidirectional)
        self.dropout = real_number("dropout", dropout, where)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"{where}: dropout must be in [0, 1), got {dropout}")
        self.rng = generator(rng, where)
        for layer in range(self.num_layers):
            for suffix in self._suffixes(layer):
                width = self.input_size if layer == 0 else self.hidden_size * self.directions
                self._add_weights(suffix, width, self.rng)

    @property
    def directions(self):
        return 2 if self.bidirectional else 1

    def _suffixes(self, layer):
        return [f"_l{layer}", f"_l{layer}_reverse"][:self.directions]

    def forward(self, x, state=None):
        """x (T, N, input_size) ((N, T, ...) batch first, (T, input_size) unbatched) ->
        (output (T, N, D·hidden), h_n (D·num_layers, N, hidden)); the LSTM's state and
        h_n are pairs (h, c)."""
        x = _as_input(x, type(self).__name__)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            layout = "(N, T, {0})" if self.batch_first else "(T, N, {0})"
            raise ValueError(f"{type(self).__name__}: input has shape {x.shape}, expected "
                             f"{layout.format(self.input_size)} or (T, {self.input_size})")
        batched = x.ndim == 3
        if not batched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        states = self._initial_states(state, x, batched)
        final = []
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                x = dropout(x, self.dropout, self.rng)
            outputs = []
            for direction, suffix in enumerate(self._suffixes(layer)):
                index = layer * self.directions + direction
                output, last = self._run(x, states[index], suffix, reverse=direction == 1)
                outputs.append(output)
                final.append(last)
            x = outputs[0] if len(outputs) == 1 else concatenate(outputs, axis=2)
        return self._finish(x, final, batched)

    def _run(self, x, state, suffix, reverse):
        """One direction of one layer over x (T, N, F): (outputs (T, N, hidden), last state)."""
        xw, step = self._recurrence(x, suffix)
        xw = time_steps(xw)
        steps = range(len(x) - 1, -1, -1) if reverse else range(len(x))
        outputs = [None] * len(x)
        for t in steps:
            state = step(xw[t], state)
            outputs[t] = state[0] if self.gates == 4 else state
        return stack(outputs, axis=0), state

    def _initial_states(self, state, x, batched):
        """One initial state per layer and direction (zeros when `state` is None)."""
        count = self.num_layers * self.directions
        shape = (count, x.shape[1], self.hidden_size) if batched else (count, self.hidden_size)
        full = self._state(state, shape, x)
        if not batched:
            full = tuple(part.unsqueeze(1) for part in full) if self.gates == 4 \
                else full.unsqueeze(1)
        if self.gates == 4:
            return [(full[0][k], full[1][k]) for k in range(count)]
        return [full[k] for k in range(count)]

    def _finish(self, output, final, batched):
        if self.gates == 4:
            last = (stack([h for h, _ in final]), stack([c for _, c in final]))
        else:
            last = stack(final)
        if not batched:
            output = output.squeeze(1)
            last = tuple(part.squeeze(1) for part in last) if self.gates == 4 \
                else last.squeeze(1)
        elif self.batch_first:
            output = output.transpose(1, 0, 2)
        return output, last

    def extra_repr(self):
        extra = [f"{self.input_size}, {self.hidden_size}"]
        extra += [f"num_layers={self.num_layers}"] * (self.num_layers > 1)
        extra += ["bias=False"] * (not self.bias) + ["batch_first=True"] * self.batch_first
        extra += [f"dropout={self.dropout}"] * bool(self.dropout)
        extra += ["bidirectional=True"] * self.bidirectional
        return ", ".join(extra)


class RNN(_Layer):
    """Elman RNN over a sequence, h_t = tanh (or relu)(x_t W_ih + b_ih + h_{t-1} W_hh + b_hh),
    stacked num_layers deep; see _Layer.forward for the shapes."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, rng=None):
        _check_nonlinearity(nonlinearity, "RNN")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, rng)
        self.nonlinearity = nonlinearity


class LSTM(_Layer):
    """LSTM over a sequence (the step of LSTMCell at each time), stacked num_layers deep;
    forward(x, (h_0, c_0)) -> (output, (h_n, c_n))."""

    gates = 4


class GRU(_Layer):
    """GRU over a sequence (the step of GRUCell at each time), stacked num_layers deep."""

    gates = 3

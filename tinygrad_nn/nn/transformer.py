"""The transformer encoder: TransformerEncoderLayer (self-attention and a feed-forward block,
each with a residual connection and layer norm, before or after) and TransformerEncoder (a
stack of independent copies of one layer), as torch.nn defines them."""
import copy
import math

import numpy as np

from ..ops import gelu
from ..tensor import get_default_dtype
from ..validation import generator, positive_int, real_number
from .attention import MultiheadAttention
from .layers import Dense, Dropout, ModuleList
from .module import Module, Parameter
from .normalization import LayerNorm

__all__ = ["TransformerEncoderLayer", "TransformerEncoder"]

ACTIVATIONS = {"relu": lambda x: x.relu(), "gelu": gelu}


def _pytorch_dense(in_features, out_features, bias, rng):
    """Dense initialised as torch.nn.Linear: weight and bias from U(±1/√in_features)."""
    dense = Dense(in_features, out_features, bias=bias, rng=rng)
    bound = 1 / math.sqrt(in_features)
    dtype = get_default_dtype()
    dense.weight = Parameter(rng.uniform(-bound, bound, (in_features, out_features))
                             .astype(dtype))
    if bias:
        dense.bias = Parameter(rng.uniform(-bound, bound, out_features).astype(dtype))
    return dense


class TransformerEncoderLayer(Module):
    """One encoder layer, as torch.nn.TransformerEncoderLayer:

        post-norm (norm_first=False):  x = norm1(x + sa(x)); x = norm2(x + ff(x))
        pre-norm  (norm_first=True):   x = x + sa(norm1(x)); x = x + ff(norm2(x))

    sa is self-attention (`self_attn`, a MultiheadAttention) then dropout; ff is linear1,
    the activation ("relu", "gelu" or a function), dropout, linear2, dropout. src is
    (S, N, d_model) ((N, S, d_model) batch first, (S, d_model) unbatched). Dropout masks come
    from `rng`; `bias=False` leaves out the biases of the linear layers and of the norms."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 rng=None):
        super().__init__()
        where_ = "TransformerEncoderLayer"
        d_model = positive_int("d_model", d_model, where_)
        dim_feedforward = positive_int("dim_feedforward", dim_feedforward, where_)
        if not callable(activation) and activation not in ACTIVATIONS:
            raise ValueError(f"{where_}: activation must be 'relu', 'gelu' or a function, got "
                             f"{activation!r}")
        if not isinstance(norm_first, (bool, np.bool_)):
            raise TypeError(f"{where_}: norm_first must be True or False, got {norm_first!r}")
        dropout = real_number("dropout", dropout, where_)
        rng = generator(rng, where_)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, rng=rng)
        self.linear1 = _pytorch_dense(d_model, dim_feedforward, bias, rng)
        self.dropout = Dropout(dropout, rng=rng)
        self.linear2 = _pytorch_dense(dim_feedforward, d_model, bias, rng)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = Dropout(dropout, rng=rng)
        self.dropout2 = Dropout(dropout, rng=rng)
        self.activation = activation

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        """src -> the same shape; src_mask (S, S) or (N·nhead, S, S) and src_key_padding_mask
        (N, S) as MultiheadAttention's attn_mask and key_padding_mask (True = may NOT
        attend); is_causal adds the causal mask."""
        x = src
        masks = (src_mask, src_key_padding_mask, is_causal)
        if self.norm_first:
            x = x + self._self_attention(self.norm1(x), *masks)
            return x + self._feed_forward(self.norm2(x))
        x = self.norm1(x + self._self_attention(x, *masks))
        return self.norm2(x + self._feed_forward(x))

    def _self_attention(self, x, mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, key_padding_mask=key_padding_mask, need_weights=False,
                           attn_mask=mask, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _feed_forward(self, x):
        activation = ACTIVATIONS.get(self.activation, self.activation)
        rows = x.reshape(-1, x.shape[-1])  # one BLAS call per product, not one per sample
        y = self.linear2(self.dropout(activation(self.linear1(rows))))
        return self.dropout2(y.reshape(x.shape))

    def extra_repr(self):
        name = self.activation if isinstance(self.activation, str) else \
            getattr(self.activation, "__name__", repr(self.activation))
        return f"activation={name!r}, norm_first={self.norm_first}"


class TransformerEncoder(Module):
    """`num_layers` deep copies of `encoder_layer` (`layers`, a ModuleList) applied in turn,
    then `norm` (a module, or None). The copies share nothing with each other or with the
    prototype: copy k's random generators start k + 1 jumps of 2^127 draws ahead of the
    prototype's (independent dropout masks in every layer)."""

    def __init__(self, encoder_layer, num_layers, norm=None):
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"TransformerEncoder: encoder_layer must be a Module, got "
                            f"{type(encoder_layer).__name__}")
        num_layers = positive_int("num_layers", num_layers, "TransformerEncoder")
        if norm is not None and not isinstance(norm, Module):
            raise TypeError(f"TransformerEncoder: norm must be a Module or None, got "
                            f"{type(norm).__name__}")
        self.layers = ModuleList(_independent_copy(encoder_layer, k) for k in range(num_layers))
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=False):
        """src through every layer (each given the same masks), then the norm."""
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=is_causal)
        return x if self.norm is None else self.norm(x)


def _independent_copy(module, k):
    """A deep copy of `module` whose generators (shared within it as they were in `module`)
    are jumped k + 1 times ahead: a different stream from the prototype's and every other
    copy's."""
    clone = copy.deepcopy(module)
    jumped = {}
    for part in clone.modules():
        for name, value in list(vars(part).items()):
            if isinstance(value, np.random.Generator):
                if id(value) not in jumped:
                    bit_generator = value.bit_generator
                    jumped[id(value)] = (np.random.Generator(bit_generator.jumped(k + 1))
                                         if hasattr(bit_generator, "jumped") else value)
                object.__setattr__(part, name, jumped[id(value)])
    return clone

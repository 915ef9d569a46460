"""Attention: `scaled_dot_product_attention` (exported as tg.scaled_dot_product_attention) and
`MultiheadAttention`, as PyTorch defines them, composed from Tensor ops (matmul, where,
softmax) so that the engine derives every gradient.

Masks: `allowed` below is a bool array, True where a query may attend to a key. A query row
with no allowed key gets zero attention weights (so an output row of zeros and no gradient),
as PyTorch's CPU kernel gives, where a plain softmax over -inf would give NaN.
"""
import functools
import math

import numpy as np

from ..ops import linear, where
from ..tensor import Tensor, get_default_dtype
from ..validation import generator, positive_int, real_number
from .layers import Dense
from .module import Module, Parameter
from .recurrent import dropout

__all__ = ["scaled_dot_product_attention", "MultiheadAttention"]


def _as_float_tensor(x, name, where):
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    if x.dtype.kind != "f":
        raise TypeError(f"{where}: {name} must be floating-point, got dtype {x.dtype}")
    return x


def causal_mask(length, source_length):
    """The (L, S) bool mask tril(ones(L, S)): query i may attend to keys 0..i."""
    return np.tri(length, source_length, dtype=bool)


def mask_parts(mask, shape, where):
    """A user's mask as (allowed, additive): a bool mask (True = may attend) is `allowed`
    itself; a float mask is added to the scores, and -inf in it means not allowed. ValueError
    unless the mask broadcasts to the scores' `shape` (..., L, S)."""
    additive = mask if isinstance(mask, Tensor) else None
    array = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if array.dtype.kind not in "bf":
        raise TypeError(f"{where}: a mask must be bool or floating-point, got dtype "
                        f"{array.dtype}")
    try:
        broadcast = np.broadcast_shapes(array.shape, shape)
    except ValueError:
        broadcast = None
    if broadcast != shape:
        raise ValueError(f"{where}: a mask of shape {array.shape} does not broadcast to the "
                         f"attention scores' shape {shape} (..., L, S)")
    if array.dtype == bool:
        return array, None
    allowed = ~np.isneginf(array)
    return (None if allowed.all() else allowed), (additive if additive is not None
                                                  else Tensor(array))


def attend(query, key, value, allowed=None, additive=None, dropout_p=0.0, rng=None,
           scale=None):
    """(output (..., L, Ev), weights (..., L, S)) of softmax(q kᵀ · scale + additive) v, with
    the weights where `allowed` is False set to 0, dropout with probability `dropout_p` (masks
    from `rng`) on the weights. No argument checks: the public functions make them."""
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.swapaxes(-1, -2)) * scale
    if additive is not None:
        scores = scores + additive
    if allowed is not None:
        # a finite fill: softmax subtracts the row's max, and -inf - (-inf) would be NaN
        fill = np.finfo(scores.dtype).min / 2
        scores = where(allowed, scores, fill)
    weights = scores.softmax(axis=-1)
    if allowed is not None:
        some = allowed.any(axis=-1, keepdims=True)
        if not some.all():  # rows with nothing allowed: uniform over the fill, made 0 here
            weights = where(some, weights, 0.0)
    if dropout_p:
        weights = dropout(weights, dropout_p, rng)
    return weights @ value, weights


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, rng=None):
    """softmax(query keyᵀ · scale + mask) value, as torch.nn.functional's: query (..., L, E),
    key (..., S, E), value (..., S, Ev) -> (..., L, Ev). `attn_mask` broadcasts to (..., L, S):
    bool (True = may attend) or float (added to the scores); `is_causal` lets query i attend
    to keys 0..i; `scale` defaults to 1/√E; `dropout_p` drops attention weights (masks drawn
    from `rng`, a Generator or a seed). A query that may attend to nothing gives zeros."""
    where_ = "scaled_dot_product_attention"
    query, key, value = (_as_float_tensor(t, name, where_) for t, name in
                         ((query, "query"), (key, "key"), (value, "value")))
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise ValueError(f"{where_}: query, key and value need at least 2 axes, got shapes "
                         f"{query.shape}, {key.shape}, {value.shape}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{where_}: query (..., L, E), key (..., S, E) and value (..., S, Ev) "
                         f"do not fit: got shapes {query.shape}, {key.shape}, {value.shape}")
    try:
        lead = np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except ValueError:
        raise ValueError(f"{where_}: the leading axes of query {query.shape}, key {key.shape} "
                         f"and value {value.shape} do not broadcast") from None
    dropout_p = real_number("dropout_p", dropout_p, where_)
    if not 0 <= dropout_p < 1:
        raise ValueError(f"{where_}: dropout_p must be in [0, 1), got {dropout_p}")
    if scale is not None:
        scale = real_number("scale", scale, where_)
    length, source_length = query.shape[-2], key.shape[-2]
    allowed = additive = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{where_}: give attn_mask or is_causal=True, not both")
        allowed = causal_mask(length, source_length)
    elif attn_mask is not None:
        allowed, additive = mask_parts(attn_mask, lead + (length, source_length), where_)
    rng = generator(rng, where_) if dropout_p else None
    return attend(query, key, value, allowed, additive, dropout_p, rng, scale)[0]


class MultiheadAttention(Module):
    """Multi-head attention, as torch.nn.MultiheadAttention: q, k, v are projected by `in_proj`
    (Dense(embed_dim, 3·embed_dim), its output split into q, k, v; its weight is PyTorch's
    in_proj_weight transposed), split into num_heads heads of embed_dim / num_heads, attended
    in each head (see `attend`), joined and projected by `out_proj` (Dense(embed_dim,
    embed_dim)). Initialised as PyTorch's: xavier-uniform in_proj, out_proj U(±1/√embed_dim),
    zero biases. `dropout` drops attention weights in training mode (masks from `rng`)."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, batch_first=False,
                 rng=None):
        super().__init__()
        where_ = "MultiheadAttention"
        self.embed_dim = positive_int("embed_dim", embed_dim, where_)
        self.num_heads = positive_int("num_heads", num_heads, where_)
        if self.embed_dim % self.num_heads:
            raise ValueError(f"{where_}: embed_dim ({embed_dim}) must be divisible by "
                             f"num_heads ({num_heads})")
        self.dropout = real_number("dropout", dropout, where_)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"{where_}: dropout must be in [0, 1), got {dropout}")
        for name, flag in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"{where_}: {name} must be True or False, got {flag!r}")
        self.batch_first = bool(batch_first)
        self.rng = generator(rng, where_)
        self.in_proj = Dense(embed_dim, 3 * embed_dim, bias=bias, rng=self.rng)
        self.out_proj = Dense(embed_dim, embed_dim, bias=bias, rng=self.rng)
        dtype = get_default_dtype()
        bound = math.sqrt(6 / (embed_dim + 3 * embed_dim))
        self.in_proj.weight = Parameter(
            self.rng.uniform(-bound, bound, (embed_dim, 3 * embed_dim)).astype(dtype))
        bound = 1 / math.sqrt(embed_dim)
        self.out_proj.weight = Parameter(
            self.rng.uniform(-bound, bound, (embed_dim, embed_dim)).astype(dtype))

    @property
    def head_dim(self):
        return self.embed_dim // self.num_heads

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        """query (L, N, E), key and value (S, N, E) ((N, L, E) batch first; (L, E) unbatched)
        -> (output shaped as query, weights (N, L, S) averaged over the heads, or
        (N, num_heads, L, S), or None when not need_weights). key_padding_mask (N, S): True
        (or -inf) = a padding key, ignored; attn_mask (L, S) or (N·num_heads, L, S): True (or
        -inf) = may NOT attend, a float mask is added; is_causal adds the causal mask."""
        q, k, v, batched = self._batch_major(query, key, value)
        n, length, source_length = q.shape[0], q.shape[1], k.shape[1]
        heads = self._project(q, k, v, query is key and key is value)
        allowed, additive = multihead_masks(key_padding_mask, attn_mask, is_causal,
                                            (n, self.num_heads, length, source_length))
        p = self.dropout if self.training else 0.0
        out, weights = attend(*heads, allowed, additive, p, self.rng)
        out = out.transpose(0, 2, 1, 3).reshape(n * length, self.embed_dim)
        out = self.out_proj(out).reshape(n, length, self.embed_dim)
        if not need_weights:
            weights = None
        elif average_attn_weights:
            weights = weights.mean(axis=1)
        if not batched:
            return out.squeeze(0), (None if weights is None else weights.squeeze(0))
        return (out if self.batch_first else out.transpose(1, 0, 2)), weights

    def _batch_major(self, query, key, value):
        """query, key, value as (N, L, E) Tensors, and whether they came batched."""
        where_ = "MultiheadAttention"
        q = _as_float_tensor(query, "query", where_)
        k = q if key is query else _as_float_tensor(key, "key", where_)
        v = k if value is key else _as_float_tensor(value, "value", where_)
        tensors = {"query": q, "key": k, "value": v}
        batched = q.ndim == 3
        layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
        for name, x in tensors.items():
            if x.ndim != q.ndim or x.ndim not in (2, 3) or x.shape[-1] != self.embed_dim:
                raise ValueError(f"{where_}: {name} has shape {x.shape}, expected {layout} "
                                 f"(or (L, E) unbatched) with E = {self.embed_dim}, as the "
                                 f"query's {q.shape}")
        batch_axis = 0 if self.batch_first else 1
        if k.shape != v.shape or (batched and k.shape[batch_axis] != q.shape[batch_axis]):
            raise ValueError(f"{where_}: key {k.shape} and value {v.shape} must have the same "
                             f"shape, with the query's batch size ({q.shape})")
        if not batched:
            return q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), False
        if not self.batch_first:
            q, k, v = (x.transpose(1, 0, 2) for x in (q, k, v))
        return q, k, v, True

    def _project(self, q, k, v, self_attention):
        """(q, k, v) projected by in_proj and split into heads: each (N, num_heads, L, d)."""
        n, heads, d = q.shape[0], self.num_heads, self.head_dim
        weight, bias = self.in_proj.weight, self.in_proj.bias
        if self_attention:  # one projection, then one reshape and transpose for all three
            # matrix products on (N·L, E) rows: one BLAS call, where NumPy makes one per sample
            qkv = linear(q.reshape(-1, self.embed_dim), weight, bias)
            qkv = qkv.reshape(n, q.shape[1], 3, heads, d)
            qkv = qkv.transpose(2, 0, 3, 1, 4)
            return qkv[0], qkv[1], qkv[2]
        e = self.embed_dim
        parts = []
        for i, x in enumerate((q, k, v)):
            part = linear(x, weight[:, i * e:(i + 1) * e],
                          None if bias is None else bias[i * e:(i + 1) * e])
            parts.append(part.reshape(n, x.shape[1], heads, d).transpose(0, 2, 1, 3))
        return tuple(parts)

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, batch_first={self.batch_first}")


def multihead_masks(key_padding_mask, attn_mask, is_causal, shape):
    """(allowed, bool, broadcasting to `shape` (N, num_heads, L, S), or None when everything is
    allowed; additive Tensor or None) from MultiheadAttention's masks, read as PyTorch reads
    them: True (or -inf) = may NOT attend, a float mask is added to the scores."""
    where_ = "MultiheadAttention"
    n, heads, length, source_length = shape
    allowed, additive = [], []
    if attn_mask is not None:
        array = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
        if array.shape not in ((length, source_length), (n * heads, length, source_length)):
            raise ValueError(f"{where_}: attn_mask has shape {array.shape}, expected "
                             f"{(length, source_length)} or "
                             f"{(n * heads, length, source_length)}")
        if array.ndim == 3:
            attn_mask = (attn_mask if isinstance(attn_mask, Tensor) else array).reshape(shape)
        _add_mask(attn_mask, allowed, additive)
    if key_padding_mask is not None:
        array = (key_padding_mask.data if isinstance(key_padding_mask, Tensor)
                 else np.asarray(key_padding_mask))
        if array.shape != (n, source_length):
            raise ValueError(f"{where_}: key_padding_mask has shape {array.shape}, expected "
                             f"(N, S) = {(n, source_length)}")
        padding = key_padding_mask if isinstance(key_padding_mask, Tensor) else array
        _add_mask(padding[:, None, None, :], allowed, additive)
    if is_causal:
        allowed.append(causal_mask(length, source_length))
    combined = functools.reduce(np.logical_and, allowed) if allowed else None
    if combined is not None and combined.all():
        combined = None
    total = functools.reduce(lambda a, b: a + b, additive) if additive else None
    return combined, total


def _add_mask(mask, allowed, additive):
    """A bool mask (True = may not attend) adds its negation to `allowed`; a float mask goes to
    `additive`, and its -inf entries to `allowed` as not allowed."""
    array = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if array.dtype == bool:
        allowed.append(~array)
        return
    if array.dtype.kind != "f":
        raise TypeError(f"MultiheadAttention: a mask must be bool or floating-point, got dtype "
                        f"{array.dtype}")
    allowed.append(~np.isneginf(array))
    additive.append(mask if isinstance(mask, Tensor) else Tensor(array))

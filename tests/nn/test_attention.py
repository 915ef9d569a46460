"""scaled_dot_product_attention and MultiheadAttention against NumPy re-implementations of
PyTorch's definitions (float64, 1e-10 relative): masks of each kind, rows with nothing to attend
to, dropout, gradients."""
import copy
import warnings

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn

pytestmark = pytest.mark.usefixtures("float64_default")


def close(a, b, rtol=1e-10):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert np.max(np.abs(a - b)) <= rtol * max(np.max(np.abs(b)), 1e-300)


def reference_attention(q, k, v, allowed=None, additive=None, scale=None, keep=None):
    """(output, weights): softmax over the allowed keys of q kᵀ · scale + additive (weights 0
    in a row with no allowed key), then dropout's `keep` mask (scaled), times v."""
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale
    if additive is not None:
        scores = scores + additive
    allowed = np.ones(scores.shape, bool) if allowed is None else np.broadcast_to(
        allowed, scores.shape)
    shifted = np.where(allowed, scores, -np.inf)
    top = np.max(shifted, axis=-1, keepdims=True)
    exp = np.where(allowed, np.exp(shifted - np.where(np.isfinite(top), top, 0)), 0)
    total = exp.sum(axis=-1, keepdims=True)
    weights = np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)
    if keep is not None:
        weights = weights * keep
    return weights @ v, weights


def tensors(*arrays):
    return [tg.Tensor(a, requires_grad=True) for a in arrays]


QKV = [np.random.default_rng(i).normal(size=shape) for i, shape in
       enumerate([(2, 3, 4, 5), (2, 1, 6, 5), (2, 3, 6, 2)])]
MASK = np.random.default_rng(9).random((4, 6)) < 0.6


@pytest.mark.parametrize("options, allowed, additive", [
    ({}, None, None),
    ({"attn_mask": MASK | np.eye(4, 6, dtype=bool)}, MASK | np.eye(4, 6, dtype=bool), None),
    ({"attn_mask": np.linspace(-2, 2, 24).reshape(4, 6)}, None,
     np.linspace(-2, 2, 24).reshape(4, 6)),
    ({"is_causal": True}, np.tri(4, 6, dtype=bool), None),
    ({"attn_mask": np.where(MASK, 0.5, -np.inf)}, MASK, np.where(MASK, 0.5, 0.0)),
    ({"scale": 0.3}, None, None),
])
def test_sdpa_matches_the_reference_and_its_gradients_pass_gradcheck(options, allowed,
                                                                     additive):
    q, k, v = tensors(*QKV)
    out = tg.scaled_dot_product_attention(q, k, v, **options)
    expected, _ = reference_attention(*QKV, allowed, additive, options.get("scale"))
    close(out.data, expected)
    small = [a[:1, :2] for a in QKV]
    options = {"attn_mask": options["attn_mask"]} if "attn_mask" in options else options
    assert tg.gradcheck(lambda q, k, v: tg.scaled_dot_product_attention(q, k, v, **options),
                        tensors(*small))


def test_a_row_that_may_attend_to_nothing_gives_zeros_and_no_gradient():
    mask = MASK.copy()
    mask[1] = False
    q, k, v = tensors(*QKV)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = tg.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out.sum().backward()
    assert not out.data[:, :, 1].any()
    assert not q.grad.data[:, :, 1].any() and np.isfinite(k.grad.data).all()
    close(out.data, reference_attention(*QKV, allowed=mask)[0])
    minus_inf = np.where(mask, 0.0, -np.inf)
    close(tg.scaled_dot_product_attention(*QKV, attn_mask=minus_inf).data, out.data)


def test_causal_masks_are_top_left_aligned():
    q, k, v = (np.random.default_rng(i).normal(size=(n, 3)) for i, n in ((0, 3), (1, 5), (2, 5)))
    out = tg.scaled_dot_product_attention(q, k, v, is_causal=True)
    close(out.data, reference_attention(q, k, v, np.tri(3, 5, dtype=bool))[0])
    close(out.data[0], v[0])  # the first query sees the first key only


def test_sdpa_dropout_draws_its_masks_from_rng():
    q, k, v = QKV
    keep = (np.random.default_rng(5).random((2, 3, 4, 6)) >= 0.25) / 0.75
    out = tg.scaled_dot_product_attention(q, k, v, dropout_p=0.25, rng=5)
    close(out.data, reference_attention(q, k, v, keep=keep)[0])


@pytest.mark.parametrize("call, error, message", [
    (lambda: tg.scaled_dot_product_attention(*QKV, attn_mask=np.ones((5, 6), bool)), ValueError,
     r"\(5, 6\) does not broadcast .* \(2, 3, 4, 6\)"),
    (lambda: tg.scaled_dot_product_attention(QKV[0], QKV[1][..., :4], QKV[2]), ValueError,
     "do not fit"),
    (lambda: tg.scaled_dot_product_attention(*QKV, attn_mask=MASK, is_causal=True), ValueError,
     "not both"),
    (lambda: tg.scaled_dot_product_attention(*QKV, attn_mask=MASK.astype(int)), TypeError,
     "bool or floating"),
    (lambda: tg.scaled_dot_product_attention(*QKV, dropout_p=1.0), ValueError, "dropout_p"),
])
def test_sdpa_mistakes_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --------------------------------------------------------------------------- MultiheadAttention

def reference_multihead(module, query, key, value, allowed=None, additive=None, keep=None):
    """PyTorch's algorithm on (N, L, E) arrays: project, split heads, attend, join, project;
    returns (output (N, L, E), weights (N, heads, L, S))."""
    w, e, heads = module.in_proj.weight.data, module.embed_dim, module.num_heads
    b = np.zeros(3 * e) if module.in_proj.bias is None else module.in_proj.bias.data

    def split(x, i):
        y = x @ w[:, i * e:(i + 1) * e] + b[i * e:(i + 1) * e]
        return y.reshape(y.shape[0], y.shape[1], heads, e // heads).transpose(0, 2, 1, 3)
    out, weights = reference_attention(split(query, 0), split(key, 1), split(value, 2),
                                       allowed, additive, keep=keep)
    out = out.transpose(0, 2, 1, 3).reshape(query.shape)
    out = out @ module.out_proj.weight.data
    return out + (0 if module.out_proj.bias is None else module.out_proj.bias.data), weights


def with_biases(module, seed=11):
    """The module with nonzero biases (PyTorch starts them at zero, which would hide them)."""
    rng = np.random.default_rng(seed)
    for dense in (module.in_proj, module.out_proj):
        dense.bias.data[...] = rng.normal(size=dense.bias.shape)
    return module


X = np.random.default_rng(12).normal(size=(3, 4, 6))  # (N, L, E)
Y = np.random.default_rng(13).normal(size=(3, 5, 6))  # (N, S, E)
PADDING = np.array([[False] * 4 + [True], [False] * 5, [True] + [False] * 4])


def test_self_attention_with_masks_matches_the_reference():
    module = with_biases(nn.MultiheadAttention(6, 2, batch_first=True, rng=0))
    attn_mask = np.triu(np.ones((4, 4), bool), 1)  # True = may not attend: causal
    out, weights = module(X, X, X, attn_mask=attn_mask, average_attn_weights=False)
    expected, expected_weights = reference_multihead(module, X, X, X, allowed=~attn_mask)
    close(out.data, expected)
    close(weights.data, expected_weights)
    causal_out, average = module(tg.Tensor(X), tg.Tensor(X), tg.Tensor(X), is_causal=True)
    close(causal_out.data, expected)
    close(average.data, expected_weights.mean(axis=1))


def test_cross_attention_with_padding_and_float_masks_sequence_first():
    module = with_biases(nn.MultiheadAttention(6, 3, rng=1))
    float_mask = np.random.default_rng(14).normal(size=(4, 5))
    out, weights = module(X.transpose(1, 0, 2), Y.transpose(1, 0, 2), Y.transpose(1, 0, 2),
                          key_padding_mask=PADDING, attn_mask=float_mask)
    allowed = ~PADDING[:, None, None, :]
    expected, expected_weights = reference_multihead(module, X, Y, Y, allowed, float_mask)
    close(out.data, expected.transpose(1, 0, 2))
    close(weights.data, expected_weights.mean(axis=1))
    unbatched, unbatched_weights = module(X[0], Y[0], Y[0], attn_mask=float_mask)
    close(unbatched.data, reference_multihead(module, X[:1], Y[:1], Y[:1],
                                              additive=float_mask)[0][0])
    assert unbatched_weights.shape == (4, 5)


def test_a_query_with_every_key_masked_outputs_the_out_proj_bias():
    module = with_biases(nn.MultiheadAttention(6, 2, batch_first=True, rng=2))
    attn_mask = np.zeros((4, 5), bool)
    attn_mask[2] = True  # query 2 may attend to nothing
    x = tg.Tensor(X, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, weights = module(x, Y, Y, attn_mask=attn_mask)
        out.sum().backward()
    close(out.data[:, 2], np.broadcast_to(module.out_proj.bias.data, (3, 6)))
    assert not weights.data[:, 2].any() and not x.grad.data[:, 2].any()


def test_gradients_pass_gradcheck():
    module = with_biases(nn.MultiheadAttention(4, 2, batch_first=True, rng=3))
    query, key = tensors(X[:2, :3, :4], Y[:2, :2, :4])
    assert tg.gradcheck(lambda q, k: module(q, k, k, key_padding_mask=PADDING[:2, :2] & False)[0],
                        (query, key))
    grads = tg.grad(module(query, query, query, is_causal=True)[0].sum(),
                    [module.in_proj.weight, module.out_proj.weight])
    assert all(np.isfinite(g.data).all() and g.data.any() for g in grads)


def test_dropout_on_the_weights_in_training_mode_only():
    module = with_biases(nn.MultiheadAttention(6, 2, dropout=0.5, batch_first=True, rng=4))
    draws = copy.deepcopy(module.rng)
    keep = (draws.random((3, 2, 4, 5)) >= 0.5) / 0.5
    out, weights = module(X, Y, Y, average_attn_weights=False)
    expected, expected_weights = reference_multihead(module, X, Y, Y, keep=keep)
    close(out.data, expected)
    close(weights.data, expected_weights)  # the weights returned are dropped out, as PyTorch's
    module.eval()
    close(module(X, Y, Y)[0].data, reference_multihead(module, X, Y, Y)[0])


def test_initialisation_and_parameters_are_pytorchs():
    module = nn.MultiheadAttention(64, 4, rng=0)
    assert [n for n, _ in module.named_parameters()] == [
        "in_proj.weight", "in_proj.bias", "out_proj.weight", "out_proj.bias"]
    assert module.in_proj.weight.shape == (64, 192) and module.out_proj.weight.shape == (64, 64)
    assert np.abs(module.in_proj.weight.data).max() <= np.sqrt(6 / 256)
    assert module.in_proj.weight.data.std() == pytest.approx(np.sqrt(2 / 256), rel=0.03)
    assert np.abs(module.out_proj.weight.data).max() <= 1 / 8
    assert module.out_proj.weight.data.std() == pytest.approx(1 / 8 / np.sqrt(3), rel=0.03)
    assert not module.in_proj.bias.data.any() and not module.out_proj.bias.data.any()
    assert nn.MultiheadAttention(8, 2, bias=False).in_proj.bias is None
    assert module(X[:, :, :1].repeat(64, axis=2), X[:, :, :1].repeat(64, axis=2),
                  X[:, :, :1].repeat(64, axis=2), need_weights=False)[1] is None


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.MultiheadAttention(6, 4), ValueError, "divisible"),
    (lambda: nn.MultiheadAttention(6, 2)(X, X, X[:, :, :4]), ValueError, r"value has shape"),
    (lambda: nn.MultiheadAttention(6, 2, batch_first=True)(X, X, X, attn_mask=np.ones((3, 3))),
     ValueError, r"attn_mask has shape \(3, 3\), expected \(4, 4\) or \(6, 4, 4\)"),
    (lambda: nn.MultiheadAttention(6, 2, batch_first=True)(X, Y, Y, key_padding_mask=PADDING.T),
     ValueError, r"key_padding_mask has shape \(5, 3\), expected \(N, S\) = \(3, 5\)"),
])
def test_multihead_mistakes_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()

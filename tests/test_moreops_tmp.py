# ruff: noqa: E501
"""Temporary: gradcheck/gradgradcheck of the new ops until the op table takes them."""
import math

import numpy as np
import pytest

import tinygrad_nn as tg

rng = np.random.default_rng(0)


def normal(*s):
    return rng.standard_normal(s)


def unif(lo, hi, *s):
    return rng.uniform(lo, hi, s)


def away(points, *s, gap=0.2):
    x = normal(*s)
    for p in points:
        near = np.abs(x - p) < gap
        x[near] = p + np.where(x[near] >= p, gap, -gap)
    return x


def erf_ref(x):
    return np.vectorize(math.erf)(x)


def gelu_ref(x):
    return 0.5 * x * (1 + erf_ref(x / np.sqrt(2)))


def softplus_ref(x, beta=1.0):
    return np.log1p(np.exp(beta * x)) / beta


def lse_ref(x, axis=None, keepdims=False):
    m = x.max(axis=axis, keepdims=True)
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


# name, fn, ref, inputs, smooth
CASES = [
    ("sin", tg.sin, np.sin, [normal(2, 3)], True),
    ("cos", tg.cos, np.cos, [normal(2, 3)], True),
    ("tan", tg.tan, np.tan, [unif(-1.2, 1.2, 5)], True),
    ("arcsin", tg.arcsin, np.arcsin, [unif(-0.9, 0.9, 5)], True),
    ("arccos", tg.arccos, np.arccos, [unif(-0.9, 0.9, 5)], True),
    ("arctan", tg.arctan, np.arctan, [normal(5)], True),
    ("arctan2", tg.arctan2, np.arctan2, [normal(2, 3), away([0], 3)], True),
    ("sinh", tg.sinh, np.sinh, [normal(5)], True),
    ("cosh", tg.cosh, np.cosh, [normal(5)], True),
    ("arcsinh", tg.arcsinh, np.arcsinh, [normal(5)], True),
    ("arccosh", tg.arccosh, np.arccosh, [unif(1.2, 3, 5)], True),
    ("arctanh", tg.arctanh, np.arctanh, [unif(-0.9, 0.9, 5)], True),
    ("log1p", tg.log1p, np.log1p, [unif(-0.5, 2, 5)], True),
    ("expm1", tg.expm1, np.expm1, [normal(5)], True),
    ("log2", tg.log2, np.log2, [unif(0.2, 3, 5)], True),
    ("log10", tg.log10, np.log10, [unif(0.2, 3, 5)], True),
    ("exp2", tg.exp2, np.exp2, [normal(5)], True),
    ("square", tg.square, np.square, [normal(5)], True),
    ("reciprocal", tg.reciprocal, np.reciprocal, [away([0], 5, gap=0.5)], True),
    ("sign", tg.sign, np.sign, [away([0], 5)], False),
    ("floor", tg.floor, np.floor, [away([-1, 0, 1], 5)], False),
    ("ceil", tg.ceil, np.ceil, [away([-1, 0, 1], 5)], False),
    ("round", lambda x: tg.round(x, 1), lambda x: np.round(x, 1), [normal(5) * 0 + [0.12, 0.33, -0.71, 1.04, -1.47]], False),
    ("mod", tg.mod, np.mod, [np.array([[0.3, 1.7, -2.15]]), np.array([[1.1], [-0.7]])], False),
    ("mod_op", lambda a, b: a % b, np.mod, [np.array([0.3, 1.7, -2.2]), np.array([1.1, -0.7, 0.9])], False),
    ("hypot", tg.hypot, np.hypot, [normal(2, 3), normal(3)], True),
    ("logaddexp", tg.logaddexp, np.logaddexp, [normal(2, 3), normal(3)], True),
    ("erf", tg.erf, erf_ref, [2 * normal(7)], True),
    ("softplus", tg.softplus, softplus_ref, [normal(5)], True),
    ("softplus_beta", lambda x: tg.softplus(x, 2.0), lambda x: softplus_ref(x, 2.0), [normal(5)], True),
    ("elu", tg.elu, lambda x: np.where(x > 0, x, np.expm1(x)), [away([0], 6)], True),
    ("selu", tg.selu, lambda x: 1.0507009873554804934193349852946 * np.where(x > 0, x, 1.6732632423543772848170429916717 * np.expm1(x)), [away([0], 6)], True),
    ("gelu", tg.gelu, gelu_ref, [2 * normal(6)], True),
    ("gelu_tanh", lambda x: tg.gelu(x, "tanh"), lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))), [2 * normal(6)], True),
    ("silu", tg.silu, lambda x: x / (1 + np.exp(-x)), [normal(5)], True),
    ("relu6", tg.relu6, lambda x: np.clip(x, 0, 6), [away([0, 6], 6) * 4], False),
    ("hardtanh", tg.hardtanh, lambda x: np.clip(x, -1, 1), [away([-1, 1], 6)], False),
    ("hardswish", tg.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6, [away([-3, 3], 8) * 2], True),
    ("mish", tg.mish, lambda x: x * np.tanh(np.log1p(np.exp(x))), [normal(5)], True),
    ("prod", lambda x: tg.prod(x, axis=1), lambda x: np.prod(x, axis=1), [normal(2, 3)], True),
    ("prod_all", tg.prod, np.prod, [normal(2, 3)], True),
    ("prod_zero", lambda x: tg.prod(x, axis=(0, 2), keepdims=True), lambda x: np.prod(x, axis=(0, 2), keepdims=True), [np.array([[[0.0, 1.5], [2.0, -1.0]], [[0.7, 0.0], [1.2, 3.0]]])], True),
    ("prod_two_zeros", tg.prod, np.prod, [np.array([0.0, 1.5, 0.0, 2.0])], True),
    ("std", lambda x: tg.std(x, axis=0, ddof=1), lambda x: np.std(x, axis=0, ddof=1), [normal(3, 2)], True),
    ("var_ddof", lambda x: x.var(ddof=1), lambda x: np.var(x, ddof=1), [normal(3, 2)], True),
    ("cumsum", lambda x: tg.cumsum(x, axis=1), lambda x: np.cumsum(x, axis=1), [normal(2, 3)], True),
    ("cumsum_flat", tg.cumsum, np.cumsum, [normal(2, 3)], True),
    ("cumprod", lambda x: tg.cumprod(x, axis=0), lambda x: np.cumprod(x, axis=0), [normal(3, 2)], True),
    ("cumprod_flat", tg.cumprod, np.cumprod, [normal(2, 3)], True),
    ("cumprod_zero", lambda x: tg.cumprod(x, axis=-1), lambda x: np.cumprod(x, axis=-1), [np.array([[0.5, 0.0, 2.0, -1.5], [1.1, 0.3, 0.0, 0.0]])], True),
    ("logsumexp", lambda x: tg.logsumexp(x, axis=1), lambda x: lse_ref(x, axis=1), [normal(2, 3)], True),
    ("logsumexp_all", tg.logsumexp, lse_ref, [normal(2, 3)], True),
    ("norm", tg.norm, np.linalg.norm, [normal(2, 3)], True),
    ("norm_1", lambda x: tg.norm(x, 1, axis=1), lambda x: np.linalg.norm(x, 1, axis=1), [away([0], 2, 3)], False),
    ("norm_3", lambda x: tg.norm(x, 3, axis=0, keepdims=True), lambda x: np.linalg.norm(x, 3, axis=0, keepdims=True), [away([0], 2, 3)], True),
    ("norm_inf_matrix", lambda x: tg.norm(x, np.inf), lambda x: np.linalg.norm(x, np.inf), [np.array([[0.3, -1.0, 2.0], [1.5, 0.4, -0.2]])], False),
    ("norm_1_matrix", lambda x: tg.norm(x, 1), lambda x: np.linalg.norm(x, 1), [np.array([[0.3, -1.0, 2.0], [1.5, 0.4, -0.2]])], False),
    ("diff", lambda x: tg.diff(x, 2, axis=0), lambda x: np.diff(x, 2, axis=0), [normal(4, 2)], True),
    ("einsum_matmul", lambda a, b: tg.einsum("ij,jk->ik", a, b), lambda a, b: np.einsum("ij,jk->ik", a, b), [normal(2, 3), normal(3, 2)], True),
    ("einsum_trace", lambda a: tg.einsum("ii", a), lambda a: np.einsum("ii", a), [normal(3, 3)], True),
    ("einsum_diag", lambda a: tg.einsum("ii->i", a), lambda a: np.einsum("ii->i", a), [normal(3, 3)], True),
    ("einsum_ellipsis", lambda a, b: tg.einsum("...ij,...j", a, b), lambda a, b: np.einsum("...ij,...j", a, b), [normal(2, 2, 3), normal(3)], True),
    ("einsum_sum_only", lambda a, b: tg.einsum("ij,k->i", a, b), lambda a, b: np.einsum("ij,k->i", a, b), [normal(2, 3), normal(2)], True),
    ("einsum_three", lambda a, b, c: tg.einsum("ij,jk,k", a, b, c), lambda a, b, c: np.einsum("ij,jk,k", a, b, c), [normal(2, 3), normal(3, 2), normal(2)], True),
    ("einsum_broadcast", lambda a, b: tg.einsum("ij,ij->ij", a, b), lambda a, b: np.einsum("ij,ij->ij", a, b), [normal(1, 3), normal(2, 3)], True),
    ("tensordot", lambda a, b: tg.tensordot(a, b, 1), lambda a, b: np.tensordot(a, b, 1), [normal(2, 3), normal(3, 2)], True),
    ("tensordot_pairs", lambda a, b: tg.tensordot(a, b, ([0, 2], [1, 0])), lambda a, b: np.tensordot(a, b, ([0, 2], [1, 0])), [normal(2, 3, 2), normal(2, 2, 3)], True),
    ("dot", tg.dot, np.dot, [normal(2, 2, 3), normal(2, 3, 2)], True),
    ("dot_vec", tg.dot, np.dot, [normal(3), normal(3)], True),
    ("dot_mat", lambda a, b: a.dot(b), np.dot, [normal(2, 3), normal(3)], True),
    ("inner", tg.inner, np.inner, [normal(2, 3), normal(2, 3)], True),
    ("outer", tg.outer, np.outer, [normal(2, 2), normal(3)], True),
    ("trace", tg.functional.trace, np.trace, [normal(3, 4)], True),
    ("trace_offset", lambda x: x.trace(1, 1, 2), lambda x: x.trace(1, 1, 2), [normal(2, 3, 4)], True),
    ("diag_make", lambda v: tg.diag(v, -1), lambda v: np.diag(v, -1), [normal(3)], True),
    ("diag_take", lambda v: tg.diag(v, 1), lambda v: np.diag(v, 1), [normal(3, 4)], True),
    ("triu", lambda x: tg.triu(x, 1), lambda x: np.triu(x, 1), [normal(2, 3, 3)], True),
    ("tril", tg.tril, np.tril, [normal(3, 4)], True),
    ("pad_constant", lambda x: tg.pad(x, ((1, 0), (2, 1)), constant_values=1.5), lambda x: np.pad(x, ((1, 0), (2, 1)), constant_values=1.5), [normal(2, 3)], True),
    ("pad_edge", lambda x: tg.pad(x, 2, mode="edge"), lambda x: np.pad(x, 2, mode="edge"), [normal(2, 3)], True),
    ("pad_reflect", lambda x: tg.pad(x, (1, 2), mode="reflect"), lambda x: np.pad(x, (1, 2), mode="reflect"), [normal(3, 3)], True),
    ("split", lambda x: tg.stack(tg.split(x, 2, axis=1)), lambda x: np.stack(np.split(x, 2, axis=1)), [normal(2, 4)], True),
    ("array_split", lambda x: tg.concatenate(tg.array_split(x, 3)[::-1]), lambda x: np.concatenate(np.array_split(x, 3)[::-1]), [normal(5, 2)], True),
    ("repeat", lambda x: tg.repeat(x, [1, 0, 2], axis=1), lambda x: np.repeat(x, [1, 0, 2], axis=1), [normal(2, 3)], True),
    ("repeat_flat", lambda x: x.repeat(2), lambda x: x.repeat(2), [normal(2, 3)], True),
    ("tile", lambda x: tg.tile(x, (2, 1, 2)), lambda x: np.tile(x, (2, 1, 2)), [normal(2, 3)], True),
    ("flip", lambda x: tg.flip(x, 1), lambda x: np.flip(x, 1), [normal(2, 3)], True),
    ("flip_all", tg.flip, np.flip, [normal(2, 3)], True),
    ("roll", lambda x: tg.roll(x, (1, -1), (0, 1)), lambda x: np.roll(x, (1, -1), (0, 1)), [normal(2, 3)], True),
    ("roll_flat", lambda x: tg.roll(x, 4), lambda x: np.roll(x, 4), [normal(2, 3)], True),
    ("swapaxes", lambda x: x.swapaxes(0, -1), lambda x: x.swapaxes(0, -1), [normal(2, 3, 4)], True),
    ("moveaxis", lambda x: tg.moveaxis(x, [0, 1], [-1, 0]), lambda x: np.moveaxis(x, [0, 1], [-1, 0]), [normal(2, 3, 4)], True),
    ("expand_dims", lambda x: tg.expand_dims(x, (0, 3)), lambda x: np.expand_dims(x, (0, 3)), [normal(2, 3)], True),
    ("ravel", tg.ravel, np.ravel, [normal(2, 3)], True),
    ("flatten_start", lambda x: tg.flatten(x, 1), lambda x: x.reshape(2, -1), [normal(2, 3, 2)], True),
    ("take_along_axis", lambda x: tg.take_along_axis(x, np.array([[0, 2, 2], [1, 1, 0]]), 1), lambda x: np.take_along_axis(x, np.array([[0, 2, 2], [1, 1, 0]]), 1), [normal(2, 3)], True),
    ("sort", lambda x: tg.sort(x, 0), lambda x: np.sort(x, 0), [normal(3, 2)], True),
    ("sort_flat", lambda x: tg.sort(x, None), lambda x: np.sort(x, None), [normal(3, 2)], True),
    ("hstack", lambda a, b: tg.hstack([a, b]), lambda a, b: np.hstack([a, b]), [normal(2, 3), normal(2, 1)], True),
    ("vstack", lambda a, b: tg.vstack([a, b]), lambda a, b: np.vstack([a, b]), [normal(3), normal(2, 3)], True),
    ("column_stack", lambda a, b: tg.column_stack([a, b]), lambda a, b: np.column_stack([a, b]), [normal(3), normal(3, 2)], True),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_new_op(case):
    name, fn, ref, arrays, smooth = case
    xs = [tg.Tensor(a, dtype=np.float64, requires_grad=True) for a in arrays]
    y = fn(*xs)
    expected = ref(*arrays)
    assert y.shape == np.shape(expected)
    np.testing.assert_allclose(y.data, expected, rtol=1e-10, atol=1e-12)
    assert tg.gradcheck(fn, xs)
    assert tg.gradgradcheck(fn, xs)
    xs32 = [tg.Tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    y32 = fn(*xs32)
    assert y32.dtype == np.float32, y32.dtype
    y32.backward(np.ones(y32.shape, np.float32))
    for x in xs32:
        assert x.grad.dtype == np.float32 and x.grad.shape == x.shape


def test_erf_accuracy():
    x = np.linspace(-7, 7, 20001)
    np.testing.assert_allclose(tg.erf(x).data, erf_ref(x), rtol=0, atol=3e-15)


def test_norm_at_the_origin_has_gradient_zero():
    for ord in (None, 3):
        x = tg.Tensor(np.zeros(3), requires_grad=True)
        tg.norm(x, ord).backward()
        np.testing.assert_array_equal(x.grad.data, np.zeros(3))

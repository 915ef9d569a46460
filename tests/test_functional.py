"""The functions beyond what the op table draws: every function tinygrad_nn exports is named in
docs/ops.md (the reference grouped by kind); products with several zeros; norm at the origin;
erf's accuracy."""
import math
import re
from pathlib import Path

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import ops

OPS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "ops.md"
CONSTRUCTORS_AND_TRANSFORMS = ["zeros", "ones", "full", "zeros_like", "ones_like", "eye",
                               "arange", "linspace", "randn", "rand", "uniform", "jvp", "vjp",
                               "jacfwd", "jacrev"]


def test_every_function_is_named_in_the_ops_page():
    prose = re.sub(r"```.*?```", "", OPS_PAGE.read_text(), flags=re.S)  # code blocks out
    spans = re.findall(r"`([^`]+)`", prose)
    named = set(re.findall(r"[A-Za-z_]\w*", " ".join(spans)))
    missing = set(ops.__all__ + CONSTRUCTORS_AND_TRANSFORMS) - named
    assert missing == set(), f"docs/ops.md does not name {sorted(missing)}"


def test_every_function_is_exported_as_tg_name():
    for name in ops.__all__ + CONSTRUCTORS_AND_TRANSFORMS:
        assert name in tg.__all__
    for name in ops.__all__:
        # tg.trace is the study tool; the matrix trace is Tensor.trace and ops.trace
        assert name == "trace" or getattr(tg, name) is getattr(ops, name)


@pytest.mark.parametrize("fn, x", [
    (lambda x: tg.prod(x), [0.0, 1.5, 0.0, 2.0]),
    (lambda x: tg.prod(x, axis=(0, 2), keepdims=True),
     [[[0.0, 1.5], [2.0, -1.0]], [[0.7, 0.0], [1.2, 3.0]]]),
    (lambda x: tg.cumprod(x, axis=-1), [[0.5, 0.0, 2.0, -1.5], [1.1, 0.3, 0.0, 0.0]]),
])
def test_products_with_several_zeros_have_exact_derivatives(fn, x):
    """The op table draws distinct values, so at most one zero per input: here two."""
    x = tg.Tensor(x, dtype=np.float64, requires_grad=True)
    assert tg.gradcheck(fn, [x]) and tg.gradgradcheck(fn, [x])


@pytest.mark.parametrize("ord", [None, 3])
def test_norm_at_the_origin_has_gradient_zero(ord):
    x = tg.Tensor(np.zeros(3), requires_grad=True)
    tg.norm(x, ord).backward()
    np.testing.assert_array_equal(x.grad.data, np.zeros(3))


def test_erf_is_accurate_to_a_few_ulps():
    x = np.linspace(-7, 7, 20001)
    exact = np.vectorize(math.erf, otypes=[np.float64])(x)
    np.testing.assert_allclose(tg.erf(x).data, exact, rtol=0, atol=3e-15)
    assert tg.erf(np.float32(0.5)).dtype == np.float32


JIT_CASES = {
    "erf_gelu": lambda y, w: (tg.erf(y * w) + tg.gelu(y * w, "tanh") + tg.gelu(y - w)).sum(),
    "prod_with_zeros": lambda y, w: tg.prod(y * w, axis=1).sum(),
    "cumprod_with_zeros": lambda y, w: tg.cumprod(y * w).sum(),
    "pad": lambda y, w: (tg.pad(y * w, 1, mode="reflect") ** 2).sum(),
    "sort_einsum": lambda y, w: (tg.sort(y * w, axis=None) * np.arange(6)).sum()
    + tg.einsum("ij,kj->", y, w),
    "numpy_functions": lambda y, w: np.sum(np.exp(np.concatenate([y * w, w]))),
}


@pytest.mark.parametrize("name", list(JIT_CASES))
def test_tg_jit_replays_the_new_ops_exactly(name):
    """(erf once accumulated in place, which a replay repeated wrongly)"""
    w = tg.Tensor([[0.0, 1.5, -0.7], [2.0, 0.3, 0.0]], dtype=np.float64, requires_grad=True)

    def step(y):
        w.grad = None
        loss = JIT_CASES[name](y, w)
        loss.backward()
        return loss, w.grad
    replayed = tg.jit(step)
    rng = np.random.default_rng(0)
    for _ in range(3):
        y = tg.Tensor(rng.normal(size=(2, 3)))
        (loss, grad), (eager_loss, eager_grad) = replayed(y), step(y)
        np.testing.assert_array_equal(loss.data, eager_loss.data)
        np.testing.assert_array_equal(grad.data, eager_grad.data)


def test_relu6_hardtanh_hardswish_gradients_at_their_kinks_are_pytorchs():
    """torch's hardtanh (and relu6, hardswish built on it) gives 0 at the bounds, unlike clip."""
    x = tg.Tensor([-3.0, -1.0, 0.0, 1.0, 3.0, 6.0], dtype=np.float64, requires_grad=True)
    expected = {"relu6": [0, 0, 0, 1, 1, 0], "hardtanh": [0, 0, 1, 0, 0, 0],
                "hardswish": [0, 1 / 6, 0.5, 5 / 6, 1, 1]}
    for name, grad in expected.items():
        x.grad = None
        getattr(tg, name)(x).sum().backward()
        np.testing.assert_allclose(x.grad.data, grad, rtol=1e-15, err_msg=name)
    x.grad = None
    tg.clip(x, -1.0, 1.0).sum().backward()  # torch.clamp passes the gradient at its bounds
    np.testing.assert_array_equal(x.grad.data, [0, 1, 1, 1, 0, 0])


def test_split_with_indices_that_do_not_increase_gives_numpys_pieces():
    x = tg.Tensor([0.0, 1.0, 2.0, 3.0], requires_grad=True)
    pieces = tg.split(x, [3, 1])
    assert [p.data.tolist() for p in pieces] == [a.tolist() for a in np.split(x.data, [3, 1])]
    sum(((p * (k + 1)).sum() for k, p in enumerate(pieces)), tg.zeros(())).backward()
    np.testing.assert_array_equal(x.grad.data, [1, 4, 4, 3])  # x[1:3] is in pieces 0 and 2


@pytest.mark.parametrize("call, name", [
    (lambda t, a: tg.elu(t, alpha=a), "alpha"), (lambda t, a: tg.softplus(t, beta=a), "beta"),
    (lambda t, a: t.leaky_relu(a), "negative_slope"), (lambda t, a: tg.clip(t, a, 2.0), "lo"),
    (lambda t, a: tg.hardtanh(t, max_val=a), "max_val"),
])
def test_a_parameter_tensor_that_requires_grad_is_refused_not_silently_left_without_gradient(
        call, name):
    t = tg.Tensor([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match=f"{name} is a constant of the op"):
        call(t, tg.Tensor(0.5, requires_grad=True))
    call(t, tg.Tensor(0.5))  # a Tensor that needs no gradient is used as its value


def test_clip_with_tensor_bounds_and_like_constructors_keep_dtypes():
    t = tg.Tensor([1.0, 2.0, 3.0])
    bound = tg.Tensor([0.5, 2.5, 0.0])
    np.testing.assert_array_equal(tg.clip(t, bound, 2.8).data, np.clip(t.data, bound.data, 2.8))
    assert tg.zeros_like(tg.Tensor(np.arange(3))).dtype == np.int64
    assert tg.ones_like(tg.Tensor(np.ones(2, np.float64))).dtype == np.float64
    assert tg.concatenate([t, tg.ones(2, 2)], axis=None).shape == (7,)

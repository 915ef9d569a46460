"""NumPy functions on Tensors (tinygrad_nn/numpy_api.py): plain NumPy code stays differentiable
where tinygrad_nn has the op, refuses loudly where a gradient would be lost, and operators never
go through the protocols."""
import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import numpy_api
from tinygrad_nn.ops.base import NUMPY

rng = np.random.default_rng(0)


def leaf(*shape, lo=-1.0, hi=1.0):
    return tg.Tensor(rng.uniform(lo, hi, shape), dtype=np.float64, requires_grad=True)


# ------------------------------------------------------------ NumPy code written without tg

def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def layer_norm(x, gamma, beta, eps=1e-5):
    mean = np.mean(x, axis=-1, keepdims=True)
    var = np.var(x, axis=-1, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def gaussian_log_likelihood(x, mu, log_sigma):
    sigma = np.exp(log_sigma)
    z = (x - mu) / sigma
    return np.sum(-0.5 * np.log(2 * np.pi) - log_sigma - 0.5 * np.square(z))


XS = np.linspace(-1, 1, 7)
YS = np.sin(3 * XS)


def polynomial_fit_loss(coefficients):
    powers = np.stack([XS ** k for k in range(len(coefficients))], axis=1)
    residual = np.dot(powers, coefficients) - YS
    return np.mean(residual ** 2) + 1e-3 * np.linalg.norm(coefficients)


def attention(q, k, v):
    scores = np.einsum("id,jd->ij", q, k) / np.sqrt(q.shape[-1])
    return np.concatenate([softmax(scores) @ v, np.tanh(q)], axis=1)


PLAIN_NUMPY = [
    ("softmax", softmax, [(2, 4)]),
    ("layer_norm", layer_norm, [(3, 4), (4,), (4,)]),
    ("gaussian_log_likelihood", gaussian_log_likelihood, [(5,), (), (5,)]),
    ("polynomial_fit_loss", polynomial_fit_loss, [(4,)]),
    ("attention", attention, [(2, 3), (4, 3), (4, 2)]),
]


@pytest.mark.parametrize("name, fn, shapes", PLAIN_NUMPY, ids=[c[0] for c in PLAIN_NUMPY])
def test_plain_numpy_functions_are_differentiable(name, fn, shapes):
    inputs = [leaf(*shape) for shape in shapes]
    y = fn(*inputs)
    assert isinstance(y, tg.Tensor) and y.requires_grad
    np.testing.assert_allclose(y.data, fn(*[x.data for x in inputs]), rtol=1e-12)
    assert tg.gradcheck(fn, inputs)


# ------------------------------------------------------------ every mapped function, via NumPy

def a(*shape):
    return leaf(*shape, lo=0.2, hi=0.9)


DISPATCHED = {f for f in NUMPY if not isinstance(f, tuple)}  # NumPy functions and ufuncs
UFUNCS = [f for f in DISPATCHED if isinstance(f, np.ufunc)]
UFUNC_CALLS = [(u, (a(2, 3),) * u.nin) for u in UFUNCS
               if u not in (np.matmul, np.arccosh, np.mod)]
UFUNC_CALLS += [(np.matmul, (a(2, 3), a(3, 2))), (np.arccosh, (a(3) + 1.5,)),
                (np.mod, (a(3), a(3) + 1))]


def call(*args, **kwargs):
    return args, kwargs


FUNCTION_CALLS = {
    np.sum: call(a(2, 3), axis=0, keepdims=True), np.mean: call(a(2, 3), 1),
    np.max: call(a(2, 3), axis=1), np.amax: call(a(2, 3)),
    np.min: call(a(2, 3), axis=0), np.amin: call(a(2, 3)),
    np.var: call(a(2, 3), axis=1, ddof=1), np.std: call(a(4), ddof=1),
    np.prod: call(a(2, 3), axis=-1), np.cumsum: call(a(2, 3), 1),
    np.cumprod: call(a(2, 3)), np.diff: call(a(2, 4), 2),
    np.linalg.norm: call(a(2, 3), axis=1), np.clip: call(a(2, 3), 0.3, 0.8),
    np.where: call(np.array([True, False, True]), a(2, 3), 0.0),
    np.round: call(a(3), 1), np.around: call(a(3)),
    np.einsum: call("ij,jk->ik", a(2, 3), a(3, 2), optimize=True),
    np.tensordot: call(a(2, 3), a(3, 2), axes=1),
    np.dot: call(a(2, 3), a(3)), np.inner: call(a(2, 3), a(3)),
    np.outer: call(a(2), a(3)), np.trace: call(a(3, 3)),
    np.diagonal: call(a(3, 3), 1), np.diag: call(a(3)),
    np.triu: call(a(3, 3)), np.tril: call(a(3, 3), -1),
    np.concatenate: call([a(2, 3), np.ones((1, 3))]),
    np.stack: call([a(3), a(3)], axis=1),
    np.hstack: call([a(2), a(3)]), np.vstack: call([a(3), a(2, 3)]),
    np.column_stack: call([a(2), a(2, 2)]),
    np.split: call(a(4, 2), 2), np.array_split: call(a(5), 2),
    np.pad: call(a(2, 3), 1, constant_values=0.5),
    np.repeat: call(a(2, 3), 2, axis=0), np.tile: call(a(3), 2),
    np.flip: call(a(2, 3)), np.roll: call(a(2, 3), 1, axis=1),
    np.swapaxes: call(a(2, 3), 0, 1), np.moveaxis: call(a(2, 3, 1), 0, -1),
    np.expand_dims: call(a(3), 0), np.squeeze: call(a(1, 3)), np.ravel: call(a(2, 3)),
    np.take_along_axis: call(a(2, 3), np.array([[2], [0]]), axis=1),
    np.sort: call(a(2, 3)), np.reshape: call(a(2, 3), (3, 2)),
    np.transpose: call(a(2, 3)), np.broadcast_to: call(a(3), (2, 3)),
}
# ufunc.reduce and ufunc.accumulate that are ops
METHOD_CALLS = {(np.add, "reduce"): call(a(2, 3)),
                (np.multiply, "reduce"): call(a(2, 3), axis=1, keepdims=True),
                (np.maximum, "reduce"): call(a(2, 3), axis=None),
                (np.minimum, "reduce"): call(a(2, 3), axis=1),
                (np.logaddexp, "reduce"): call(a(2, 3), axis=0),
                (np.add, "accumulate"): call(a(2, 3), axis=1),
                (np.multiply, "accumulate"): call(a(2, 3))}


def test_every_dispatched_numpy_function_has_a_call_here():
    assert set(FUNCTION_CALLS) | set(UFUNCS) == DISPATCHED
    assert set(METHOD_CALLS) == {key for key in NUMPY if isinstance(key, tuple)}


def _values(x):
    """x with every Tensor (in lists too) replaced by its values."""
    if isinstance(x, tg.Tensor):
        return x.data
    return type(x)(_values(v) for v in x) if isinstance(x, (list, tuple)) else x


def _assert_same_values(result, expected):
    """Our result (a Tensor with a gradient, or a list of them) holds NumPy's own values."""
    if isinstance(expected, list):
        assert isinstance(result, list) and len(result) == len(expected)
        for r, e in zip(result, expected):
            _assert_same_values(r, e)
        return
    assert isinstance(result, tg.Tensor) and result.requires_grad  # (np.positive(x) is x)
    assert result.shape == np.shape(expected)
    np.testing.assert_allclose(result.data, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("ufunc, inputs", UFUNC_CALLS, ids=lambda u: getattr(u, "__name__", ""))
def test_ufuncs_with_an_op_compute_numpys_values_and_are_differentiable(ufunc, inputs):
    _assert_same_values(ufunc(*inputs), ufunc(*[x.data for x in inputs]))
    assert tg.gradcheck(lambda *xs: ufunc(*xs), list(inputs))


@pytest.mark.parametrize("func", list(FUNCTION_CALLS), ids=lambda f: f.__name__)
def test_functions_with_an_op_compute_numpys_values_and_are_differentiable(func):
    args, kwargs = FUNCTION_CALLS[func]
    _assert_same_values(func(*args, **kwargs), func(*_values(args), **kwargs))


@pytest.mark.parametrize("key", list(METHOD_CALLS), ids=lambda k: f"{k[0].__name__}.{k[1]}")
def test_ufunc_reduce_and_accumulate_compute_numpys_values_and_are_differentiable(key):
    method = getattr(key[0], key[1])
    args, kwargs = METHOD_CALLS[key]
    _assert_same_values(method(*args, **kwargs), method(*_values(args), **kwargs))


# ------------------------------------------------------------ nothing drops a gradient silently

def _float_values(result):
    """The floating arrays or numbers in a result (gradient-free Tensors included)."""
    if isinstance(result, tg.Tensor):
        return [] if result.requires_grad or result.dtype.kind != "f" else [result]
    if isinstance(result, (np.ndarray, np.generic)):
        return [result] if np.asarray(result).dtype.kind in "fc" else []
    if isinstance(result, (list, tuple)):
        return [v for item in result for v in _float_values(item)]
    return [result] if isinstance(result, float) else []


def _numpy_callables():
    namespaces = [(np, "np."), (np.linalg, "np.linalg.")]
    for space, prefix in namespaces:
        for name in sorted(dir(space)):
            f = getattr(space, name)
            if isinstance(f, np.ufunc) or hasattr(f, "_implementation"):
                yield prefix + name, f


CALLABLES = list(_numpy_callables())


@pytest.mark.parametrize("name, func", CALLABLES, ids=[n for n, _ in CALLABLES])
def test_no_numpy_function_silently_drops_a_gradient(name, func):
    x = leaf(3, 3, lo=0.1, hi=0.9)
    calls = [lambda: func(x), lambda: func(x, x), lambda: func(x, 1)]
    if isinstance(func, np.ufunc):
        calls += [lambda: func.reduce(x), lambda: func.accumulate(x), lambda: func.outer(x, x)]
    for call in calls:
        try:
            with np.errstate(all="ignore"):  # x is outside some functions' domains
                result = call()
        except TypeError as exc:
            if "has no tinygrad_nn op" in str(exc) or "not supported on Tensors" in str(exc):
                assert ".detach()" in str(exc) and func.__name__ in str(exc)
            continue
        except Exception:  # the call does not fit the function's arguments: nothing computed
            continue
        if func in numpy_api.NO_GRADIENT:
            continue
        assert not _float_values(result), f"{name} returned values without a gradient"


def test_refusal_names_the_function_and_the_way_out():
    x = leaf(3)
    with pytest.raises(TypeError, match=r"np\.median has no tinygrad_nn op.*\.detach\(\)"):
        np.median(x)
    with pytest.raises(TypeError, match=r"np\.cbrt"):
        np.cbrt(x)
    with pytest.raises(TypeError, match=r"np\.sum: the argument dtype"):
        np.sum(x, dtype=np.float32)
    with pytest.raises(TypeError, match=r"requires grad.*\.detach\(\)"):
        np.r_[x, x]  # converts its items itself: refused by Tensor.__array__
    with pytest.raises(TypeError, match=r"np\.linalg\.inv"):
        np.linalg.inv(tg.Tensor(np.eye(2), requires_grad=True))


def test_without_a_gradient_to_lose_numpy_computes_on_the_values():
    x = leaf(3)
    assert np.median(x.detach()) == np.median(x.data)
    with tg.no_grad():
        assert np.median(x) == np.median(x.data)
    np.testing.assert_array_equal(np.asarray(x.detach()), x.data)  # reading values on purpose
    with pytest.raises(TypeError, match=r"\.detach\(\)"):
        np.asarray(x)  # implicitly, while grad mode is on: refused (PyTorch's rule)
    assert np.argmax(x) == np.argmax(x.data) and np.shape(x) == (3,)
    np.testing.assert_array_equal(np.r_[x.detach(), x.detach()], np.r_[x.data, x.data])
    assert (np.ones(3) < x).dtype == np.bool_


def test_an_array_on_the_left_of_an_operator_gives_the_same_tensor():
    x = leaf(3)
    for y, expected in [(np.ones(3) + x, 1 + x.data), (np.float64(2) * x, 2 * x.data),
                        (np.ones((2, 3)) @ x, np.ones((2, 3)) @ x.data),
                        (np.ones(3) ** x, np.ones(3) ** x.data)]:
        assert y.requires_grad
        np.testing.assert_allclose(y.data, expected)
    y = np.ones(3, np.float32) * tg.Tensor(np.ones(3, np.float32), requires_grad=True)
    assert y.dtype == np.float32


def test_operators_on_tensors_do_not_go_through_the_protocols(monkeypatch):
    def fail(*args):
        raise AssertionError("an operator went through a NumPy protocol")
    monkeypatch.setattr(numpy_api, "array_ufunc", fail)
    monkeypatch.setattr(numpy_api, "array_function", fail)
    x, w = leaf(3), leaf(3, 3)
    y = ((x * 2 + 1) @ w - x / 3) ** 2 % 5
    y = (-y + np.ones(3)) * np.float64(1.5) - 0.5 / x
    y = tg.logsumexp(tg.softplus(y.sum() + y.mean() + y.max())[None])
    y.backward()
    assert x.grad is not None

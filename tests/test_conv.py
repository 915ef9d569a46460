"""conv2d, max_pool2d, avg_pool2d, unsqueeze, squeeze, argmax, argmin: forward against plain
loops over every output pixel, gradients against finite differences (first and second order)
over generated sizes, strides and paddings, dtypes, and the errors a user's mistake raises."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_nn as tg
from tinygrad_nn import ops


# --------------------------------------------------------------------------- loop references

def conv2d_loops(x, w, b=None, stride=(1, 1), padding=(0, 0)):
    """torch.nn.functional.conv2d's definition, one output element at a time."""
    (n, c, h, wd), (o, _, kh, kw), (sh, sw), (ph, pw) = x.shape, w.shape, stride, padding
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    h_out, w_out = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    y = np.zeros((n, o, h_out, w_out))
    for i in range(n):
        for j in range(o):
            for r in range(h_out):
                for s in range(w_out):
                    window = xp[i, :, r * sh:r * sh + kh, s * sw:s * sw + kw]
                    y[i, j, r, s] = (window * w[j]).sum() + (0 if b is None else b[j])
    return y


def pool2d_loops(reduce, x, kernel_size, stride):
    (kh, kw), (sh, sw) = kernel_size, stride
    h_out, w_out = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    y = np.zeros(x.shape[:2] + (h_out, w_out))
    for r in range(h_out):
        for s in range(w_out):
            y[:, :, r, s] = reduce(x[:, :, r * sh:r * sh + kh, s * sw:s * sw + kw], axis=(2, 3))
    return y


# --------------------------------------------------------------------------- strategies

def pair_or_int(draw, values):
    first = draw(values)
    return first if draw(st.booleans()) else (first, draw(values))


def as_pair(v):
    return v if isinstance(v, tuple) else (v, v)


@st.composite
def conv_cases(draw):
    """(x shape, weight shape, bias shape or None), stride, padding: images down to 1×1,
    kernels up to the whole padded image, strides beyond the kernel."""
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = pair_or_int(draw, st.integers(0, 1))
    ph, pw = as_pair(padding)
    kh = draw(st.integers(1, min(h + 2 * ph, 3)) | st.just(h + 2 * ph))
    kw = draw(st.integers(1, min(w + 2 * pw, 3)) | st.just(w + 2 * pw))
    stride = pair_or_int(draw, st.integers(1, 3))
    bias = (o,) if draw(st.booleans()) else None
    return ((n, c, h, w), (o, c, kh, kw), bias), stride, padding


@st.composite
def pool_cases(draw):
    """x shape, kernel_size, stride (None half the time): overlapping windows, strides beyond
    the kernel, windows that do not fit, 1×1 images."""
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 4)),
             draw(st.integers(1, 4)))
    kernel = (draw(st.integers(1, shape[2])), draw(st.integers(1, shape[3])))
    kernel_size = kernel[0] if kernel[0] == kernel[1] and draw(st.booleans()) else kernel
    stride = draw(st.none() | st.integers(1, 3) | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    return shape, kernel_size, stride


def distinct_values(draw, shape):
    """Distinct multiples of 1/8 in random order: no ties in a max-pool window, and none that
    a finite-difference perturbation could create."""
    seed = draw(st.integers(0, 2 ** 16), label="seed")
    size = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(size) - size // 2).reshape(shape) / 8


def leaves(*arrays):
    return [tg.Tensor(a, requires_grad=True) for a in arrays if a is not None]


def conv_fn(stride, padding):
    return lambda x, w, b=None: tg.conv2d(x, w, b, stride=stride, padding=padding)


# --------------------------------------------------------------------------- conv2d

@settings(max_examples=25)
@given(data=st.data(), case=conv_cases())
def test_conv2d_matches_the_loops_and_gradcheck(data, case):
    (x_shape, w_shape, b_shape), stride, padding = case
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=x_shape), rng.normal(size=w_shape),
              None if b_shape is None else rng.normal(size=b_shape)]
    xs = leaves(*arrays)
    y = tg.conv2d(*xs[:2], None if b_shape is None else xs[2], stride=stride, padding=padding)
    expected = conv2d_loops(*arrays, as_pair(stride), as_pair(padding))
    assert y.shape == expected.shape and y.dtype == np.float64
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-12)
    assert tg.gradcheck(conv_fn(stride, padding), xs)


@settings(max_examples=12)
@given(case=conv_cases())
def test_conv2d_gradgradcheck(case):
    (x_shape, w_shape, b_shape), stride, padding = case
    rng = np.random.default_rng(1)
    xs = leaves(rng.normal(size=x_shape), rng.normal(size=w_shape),
                None if b_shape is None else rng.normal(size=b_shape))
    assert tg.gradgradcheck(conv_fn(stride, padding), xs)


def test_conv2d_third_derivative():
    """The gradient of a gradient of a convolution is again differentiable."""
    rng = np.random.default_rng(2)
    x, w = leaves(rng.normal(size=(1, 2, 4, 3)), rng.normal(size=(2, 2, 2, 2)))

    def input_gradient(x, w):
        y = tg.conv2d(x, w, stride=(2, 1), padding=1)
        (gx,) = tg.grad((y * y).sum(), x, create_graph=True)
        return gx

    assert tg.gradgradcheck(input_gradient, [x, w])


def test_conv2d_float32_stays_float32():
    rng = np.random.default_rng(3)
    x, w, b = (tg.Tensor(rng.normal(size=s).astype(np.float32), requires_grad=True)
               for s in [(2, 3, 5, 5), (4, 3, 3, 3), (4,)])
    y = tg.conv2d(x, w, b, stride=2, padding=1)
    assert y.dtype == np.float32
    y.sum().backward()
    assert [t.grad.dtype for t in (x, w, b)] == [np.float32] * 3
    expected = conv2d_loops(x.data.astype(np.float64), w.data.astype(np.float64),
                            b.data.astype(np.float64), (2, 2), (1, 1))
    np.testing.assert_allclose(y.data, expected, rtol=1e-5, atol=1e-5)


def test_conv2d_without_grad_records_nothing():
    x, w = tg.ones(1, 1, 3, 3), tg.ones(1, 1, 2, 2, requires_grad=True)
    with tg.no_grad():
        y = tg.conv2d(x, w)
    assert y.grad_fn is None and y.tolist() == [[[[4.0, 4.0], [4.0, 4.0]]]]


def test_an_empty_batch_gives_empty_outputs_and_gradients():
    x, w = tg.zeros(0, 2, 5, 5, requires_grad=True), tg.ones(3, 2, 3, 3, requires_grad=True)
    y = tg.max_pool2d(tg.conv2d(x, w, padding=1), 2) + tg.avg_pool2d(x, 2).sum()
    assert y.shape == (0, 3, 2, 2)
    y.sum().backward()
    assert x.grad.shape == x.shape and not w.grad.data.any()


@pytest.mark.parametrize("x_shape, w_shape, kwargs, error, message", [
    ((1, 3, 5, 5), (2, 2, 3, 3), {}, ValueError, r"\(1, 3, 5, 5\).*3 channels.*\(2, 2, 3, 3\)"),
    ((1, 1, 2, 2), (1, 1, 3, 3), {}, ValueError, r"larger than the padded input.*\(1, 1, 2, 2\)"),
    ((1, 1, 2, 2), (1, 1, 5, 1), {"padding": 1}, ValueError, r"\(1, 1, 5, 1\).*\(4, 4\)"),
    ((1, 5, 5), (1, 1, 3, 3), {}, ValueError, r"input \(1, 5, 5\) and weight \(1, 1, 3, 3\)"),
    ((1, 1, 5, 5), (1, 1, 3, 3), {"stride": 0}, ValueError, "stride must be >= 1"),
    ((1, 1, 5, 5), (1, 1, 3, 3), {"stride": (1, 2, 3)}, TypeError, r"stride.*\(h, w\) pair"),
    ((1, 1, 5, 5), (1, 1, 3, 3), {"stride": 1.5}, TypeError, "stride must be an integer"),
    ((1, 1, 5, 5), (1, 1, 3, 3), {"padding": -1}, ValueError, "padding must be >= 0"),
    ((1, 1, 5, 5), (1, 1, 3, 3), {"padding": (1, True)}, TypeError, "padding must be an integer"),
    ((1, 1, 5, 5), (2, 1, 3, 3), {"bias": np.zeros(3)}, ValueError, r"bias of shape \(3,\)"),
])
def test_conv2d_mistakes_name_the_shapes_or_argument(x_shape, w_shape, kwargs, error, message):
    x, w = tg.ones(*x_shape, requires_grad=True), tg.ones(*w_shape, requires_grad=True)
    with pytest.raises(error, match=message):
        tg.conv2d(x, w, **kwargs)


# --------------------------------------------------------------------------- pooling

POOLS = [(tg.max_pool2d, np.max), (tg.avg_pool2d, np.mean)]


@settings(max_examples=20)
@pytest.mark.parametrize("pool, reduce", POOLS, ids=["max", "avg"])
@given(data=st.data(), case=pool_cases())
def test_pools_match_the_loops_and_pass_gradcheck_and_gradgradcheck(pool, reduce, data, case):
    shape, kernel_size, stride = case
    x = tg.Tensor(distinct_values(data.draw, shape), requires_grad=True)
    y = pool(x, kernel_size, stride)
    kernel = as_pair(kernel_size)
    expected = pool2d_loops(reduce, x.data, kernel, kernel if stride is None else as_pair(stride))
    assert y.shape == expected.shape and y.dtype == np.float64
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-12)
    fn = lambda x: pool(x, kernel_size, stride)  # noqa: E731
    assert tg.gradcheck(fn, [x])
    assert tg.gradgradcheck(fn, [x])


@pytest.mark.parametrize("kernel_size, stride", [((2, 2), (1, 1)), ((2, 3), (2, 3)),
                                                 ((1, 2), (3, 1))])
def test_fold_and_unfold_are_adjoint_and_differentiable_to_any_order(kernel_size, stride):
    """The pools' gradients: Unfold cuts the windows out, Fold adds them back. Each one's
    backward is the other, recorded, so the backward of a backward is checked too."""
    rng = np.random.default_rng(5)
    x = tg.Tensor(rng.normal(size=(2, 1, 4, 5)), requires_grad=True)

    def unfold(x):
        return tg.call(ops.Unfold, x, kernel_size=kernel_size, stride=stride)

    def fold(v):
        return tg.call(ops.Fold, v, kernel_size=kernel_size, stride=stride, size=(4, 5))

    v = tg.Tensor(rng.normal(size=unfold(x).shape), requires_grad=True)
    np.testing.assert_allclose((unfold(x) * v).sum().item(), (x * fold(v)).sum().item())
    for fn, t in [(unfold, x), (fold, v)]:
        assert tg.gradcheck(fn, [t])
        w = tg.Tensor(rng.normal(size=fn(t).shape), requires_grad=True)
        backward = lambda w: tg.grad(fn(t), t, grad_outputs=w, create_graph=True)[0]  # noqa
        assert backward(w).requires_grad and tg.gradcheck(backward, [w])


def test_max_pool_ties_split_the_gradient_equally():
    x = tg.Tensor(np.array([[[[1.0, 1.0, 0.0], [1.0, 0.0, 2.0], [3.0, 3.0, 3.0]]]]),
                  requires_grad=True)
    tg.max_pool2d(x, 2, stride=1).sum().backward()
    # four 2×2 windows: three 1s tie, a single 2, then two pairs of 3s sharing the middle one
    expected = [[1 / 3, 1 / 3, 0.0], [1 / 3, 0.0, 1.0], [0.5, 1.0, 0.5]]
    np.testing.assert_allclose(x.grad.data[0, 0], expected)


def test_overlapping_windows_add_up_their_gradients():
    x = tg.ones(1, 1, 4, 4, requires_grad=True)
    tg.avg_pool2d(x, 3, stride=1).sum().backward()
    counts = np.array([1, 2, 2, 1])
    np.testing.assert_allclose(x.grad.data[0, 0], np.outer(counts, counts) / 9)


@pytest.mark.parametrize("pool", [tg.max_pool2d, tg.avg_pool2d])
def test_pools_keep_float32_and_record_create_graph(pool):
    x = tg.Tensor(np.random.default_rng(4).normal(size=(2, 3, 6, 5)).astype(np.float32),
                  requires_grad=True)
    y = pool(x, (3, 2), stride=2)
    assert y.dtype == np.float32 and y.shape == (2, 3, 2, 2)
    (g,) = tg.grad((y * y).sum(), x, create_graph=True)
    assert g.dtype == np.float32 and g.requires_grad


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("shape, args, error, message", [
    ((1, 1, 3, 3), (4,), ValueError, r"kernel_size \(4, 4\) is larger than the input of shape "
                                     r"\(1, 1, 3, 3\)"),
    ((1, 1, 3, 3), ((1, 4),), ValueError, r"kernel_size \(1, 4\)"),
    ((1, 3, 3), (2,), ValueError, r"input must be \(N, C, H, W\), got shape \(1, 3, 3\)"),
    ((1, 1, 3, 3), (0,), ValueError, "kernel_size must be >= 1"),
    ((1, 1, 3, 3), (2, 0), ValueError, "stride must be >= 1"),
    ((1, 1, 3, 3), (2.0,), TypeError, "kernel_size must be an integer"),
])
def test_pool_mistakes_name_the_shape_or_argument(name, shape, args, error, message):
    with pytest.raises(error, match=f"{name}: {message}"):
        getattr(tg, name)(tg.ones(*shape), *args)


# --------------------------------------------------------------------------- squeeze, argmax

def test_unsqueeze_and_squeeze_shapes_and_gradients():
    x = tg.Tensor(np.arange(6.0).reshape(2, 1, 3), requires_grad=True, dtype=np.float64)
    assert x.unsqueeze(0).shape == (1, 2, 1, 3)
    assert tg.unsqueeze(x, -1).shape == (2, 1, 3, 1)
    assert x.unsqueeze(3).shape == (2, 1, 3, 1)
    assert x.squeeze().shape == (2, 3) and tg.squeeze(x, -2).shape == (2, 3)
    assert x.unsqueeze(0).squeeze((0, 2)).shape == (2, 3)
    assert tg.squeeze(tg.ones(1, 1)).shape == ()
    assert tg.gradcheck(lambda t: t.unsqueeze(1).squeeze(), [x])
    assert tg.gradgradcheck(lambda t: (t.unsqueeze(1) ** 2).squeeze(2), [x])


@pytest.mark.parametrize("call, error, message", [
    (lambda x: x.squeeze(0), ValueError, r"axis 0 of a tensor of shape \(2, 1, 3\) has size 2"),
    (lambda x: x.squeeze(3), ValueError, "out of range"),
    (lambda x: x.unsqueeze(4), ValueError, r"axis 4 is out of range .* \(2, 1, 3\)"),
    (lambda x: x.unsqueeze(1.0), TypeError, "axis must be an int"),
])
def test_squeeze_mistakes(call, error, message):
    with pytest.raises(error, match=message):
        call(tg.zeros(2, 1, 3))


def test_argmax_and_argmin_take_the_first_index_among_ties():
    x = tg.Tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 0.0]], requires_grad=True)
    assert x.argmax().item() == 1 and x.argmin().item() == 4
    assert x.argmax(axis=1).tolist() == [1, 0] and tg.argmin(x, 1).tolist() == [0, 1]
    assert tg.argmax(x, axis=0, keepdims=True).tolist() == [[1, 0, 0]]
    assert x.argmin(axis=-1, keepdims=True).shape == (2, 1)
    result = x.argmax(axis=0)
    assert result.dtype == np.int64 and not result.requires_grad and result.grad_fn is None


@pytest.mark.parametrize("call, error, message", [
    (lambda: tg.ones(2, 3).argmax(axis=2), ValueError, r"argmax: axis 2 .* \(2, 3\)"),
    (lambda: tg.ones(2, 3).argmin(axis=(0, 1)), TypeError, "argmin: axis must be an int"),
    (lambda: tg.zeros(0).argmax(), ValueError, "argmax of an empty tensor"),
])
def test_argmax_mistakes(call, error, message):
    with pytest.raises(error, match=message):
        call()

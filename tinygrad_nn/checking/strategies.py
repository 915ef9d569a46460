"""Property tests of the gradients of your own ops, with hypothesis (an optional dependency:
`pip install hypothesis`; `import tinygrad_nn` never imports it, `tinygrad_nn.testing` does).

    import tinygrad_nn as tg
    from tinygrad_nn.testing import gradient_test

    class Cube(tg.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a ** 3

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * 3 * a ** 2

    @gradient_test(elements=(-3, 3), reference=lambda a: a ** 3)
    def test_cube(a):          # a pytest test: hypothesis draws shapes and float64 values
        return Cube.apply(a)

Building blocks: the strategies `shapes`, `broadcastable_shapes` and `arrays` (values kept away
from kinks and poles with `avoid`), and `assert_gradients_match`, which raises AssertionError
with gradcheck's message.
"""
import inspect

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..function import Function
from ..tensor import Tensor
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .sampling import Draw, Domain

__all__ = ["shapes", "broadcastable_shapes", "arrays", "assert_gradients_match", "gradient_test"]


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Shapes (tuples) of min_dims..max_dims dimensions, each of size min_side..max_side."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Lists of `num_shapes` shapes that broadcast together: some dimensions are 1 or missing
    in some of them, so the gradient of a broadcast input is tested too."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, min_side=min_side,
        max_side=max_side).map(lambda drawn: list(drawn.input_shapes))


class HypothesisDraw(Draw):
    """The choices of `sampling.Draw` made by hypothesis (`data` from `st.data()`), so that
    the op table's cases run as property tests and shrink."""

    def __init__(self, data):
        self.data = data

    def integers(self, low, high):
        return self.data.draw(st.integers(low, high))

    def seed(self):
        return self.data.draw(st.integers(0, 2 ** 32 - 1), label="seed of the values")


def arrays(shape, dtype=np.float64, elements=(-10.0, 10.0), avoid=(), min_distance=1e-3):
    """Arrays of `shape` (a tuple or a strategy of tuples) whose values lie in
    [low, high] = `elements` and at least `min_distance` from every point of `avoid` (kinks such
    as 0 for abs and relu, poles such as 0 for 1/x), spread uniformly over the intervals between
    them (values from a NumPy Generator whose seed hypothesis draws: never one constant)."""
    low, high = elements
    domain = Domain(low, high, tuple(avoid), min_distance)
    domain.intervals(dtype)  # a domain with nothing left raises now, not at the first draw
    shapes = shape if isinstance(shape, st.SearchStrategy) else st.just(tuple(shape))
    return st.tuples(shapes, st.integers(0, 2 ** 32 - 1)).map(
        lambda drawn: domain.sample(np.random.default_rng(drawn[1]), drawn[0], dtype))


def _as_input(x):
    """Floating NumPy arrays become float64 Tensors to differentiate; the rest stays as given."""
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return Tensor(x, dtype=np.float64, requires_grad=True)
    return x


def assert_gradients_match(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, second_order=False,
                           detect_kinks=False):
    """Assert that fn's analytic gradients (and with second_order, its second derivatives)
    match central finite differences for every input that requires grad; floating NumPy
    arrays count as such inputs. Raises AssertionError carrying gradcheck's message."""
    inputs = [_as_input(x) for x in inputs]
    try:
        gradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol, detect_kinks=detect_kinks)
        if second_order:
            gradgradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol)
    except GradcheckError as exc:
        raise AssertionError(str(exc)) from None


def _per_input(value, count, where, given_per_input):
    """`value` for each of `count` inputs: as given if `given_per_input`, else repeated."""
    if not given_per_input:
        return [value] * count
    if len(value) != count:
        raise ValueError(f"gradient_test: {where} has {len(value)} entries for {count} inputs")
    return list(value)


def _input_count(fn):
    """How many tensors fn takes: its positional parameters without defaults (for
    `MyOp.apply`, those of MyOp.forward after ctx); None if it takes *args."""
    owner = getattr(fn, "__self__", None)
    skip = 0
    if isinstance(owner, type) and issubclass(owner, Function):
        fn, skip = owner.forward, 1
    parameters = list(inspect.signature(fn).parameters.values())[skip:]
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
               for p in parameters)


def _list_of_sequences(value):
    return isinstance(value, list) and bool(value) and all(
        isinstance(v, (tuple, list)) for v in value)


def _shape_lists(shapes, fn):
    """(a strategy of lists of input shapes, how many inputs) for gradient_test's `shapes`."""
    fixed_shapes = shapes is not None and not isinstance(shapes, st.SearchStrategy)
    count = len(shapes) if fixed_shapes else _input_count(fn)
    if count is None:
        raise ValueError(f"gradient_test: {fn.__name__} takes *args; pass shapes=[...] to "
                         "say how many inputs to draw")
    if shapes is None:
        return broadcastable_shapes(count), count
    if fixed_shapes:
        return st.just([tuple(shape) for shape in shapes]), count
    return shapes, count


def gradient_test(shapes=None, elements=(-3.0, 3.0), avoid=(), min_distance=1e-3,
                  reference=None, eps=1e-6, atol=1e-5, rtol=1e-3, second_order=False,
                  max_examples=None):
    """Turn `fn(*tensors) -> Tensor` into a hypothesis test of its gradients (for pytest).

    fn may be a function of tensors or `MyOp.apply`. shapes: None for mutually broadcastable
    shapes, one per input of fn; a list of fixed shapes; or a strategy of such lists. Where
    values come from: elements (low, high), avoid (points) and min_distance, the same for every
    input, or lists with one entry per input (`elements=[(-3, 3), (0.1, 3)]`,
    `avoid=[(0,), ()]`, `min_distance=[1e-3, 0.1]`).
    reference: a NumPy function that fn's forward must match. second_order: check second
    derivatives too. max_examples overrides the hypothesis profile.
    """
    def decorate(fn):
        shape_lists, count = _shape_lists(shapes, fn)
        bounds = _per_input(elements, count, "elements", _list_of_sequences(elements))
        kinks = _per_input(avoid, count, "avoid", _list_of_sequences(avoid))
        distances = _per_input(min_distance, count, "min_distance",
                               isinstance(min_distance, list))
        overrides = {"deadline": None}  # a gradcheck takes longer than hypothesis expects
        if max_examples is not None:
            overrides["max_examples"] = max_examples

        @settings(**overrides)
        @given(data=st.data())
        def test(data):
            drawn_shapes = data.draw(shape_lists, label="shapes")
            values = [data.draw(arrays(shape, elements=bounds[i], avoid=kinks[i],
                                       min_distance=distances[i]), label=f"input {i}")
                      for i, shape in enumerate(drawn_shapes)]
            if reference is not None:
                tensors = [Tensor(v, dtype=np.float64) for v in values]
                np.testing.assert_allclose(fn(*tensors).data, reference(*values), rtol=1e-7,
                                           atol=1e-10, err_msg="forward differs from reference")
            assert_gradients_match(fn, *values, eps=eps, atol=atol, rtol=rtol,
                                   second_order=second_order)

        # pytest must see a test without parameters (not fn's), so no functools.wraps
        test.__name__, test.__qualname__ = fn.__name__, fn.__qualname__
        test.__module__, test.__doc__ = fn.__module__, fn.__doc__
        return test
    return decorate

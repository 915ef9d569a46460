"""Misuse fails early, with the exception type a NumPy/PyTorch user expects and a message that
names what was wrong (shapes, sizes, the op)."""
import re

import numpy as np
import pytest

import tinygrad_nn as tg


def leaf(data):
    return tg.Tensor(np.asarray(data, dtype=np.float64), requires_grad=True)


X = np.ones((2, 3))


def test_matmul_of_misaligned_shapes_names_both():
    a, b = leaf(np.ones((3, 4))), leaf(np.ones((5, 2)))
    with pytest.raises(ValueError, match=re.escape("(3, 4)")) as info:
        a @ b
    assert "(5, 2)" in str(info.value)


def test_matmul_of_a_0d_operand_raises():
    with pytest.raises(ValueError):
        leaf(2.0) @ leaf([1.0, 2.0])


@pytest.mark.parametrize("shape, sizes", [((4, 2), ("6", "8")), ((4, -1), ("6",)),
                                          ((7,), ("6", "7"))])
def test_reshape_to_an_incompatible_size_names_the_sizes(shape, sizes):
    with pytest.raises(ValueError) as info:
        leaf(X).reshape(*shape)
    assert all(size in str(info.value) for size in sizes)


def test_reshape_with_two_unknown_dimensions_raises():
    with pytest.raises(ValueError, match="-1"):
        leaf(X).reshape(-1, -1)


@pytest.mark.parametrize("data", [np.array([1, 2]), np.array([True]), np.array(3, np.int8)])
def test_requires_grad_on_a_non_floating_tensor_raises_type_error(data):
    with pytest.raises(TypeError):
        tg.Tensor(data, requires_grad=True)


def test_tensor_from_non_numeric_data_raises_type_error():
    with pytest.raises(TypeError):
        tg.Tensor("abc")
    with pytest.raises(TypeError):
        tg.Tensor({"a": 1})


def test_backward_on_a_non_scalar_without_gradient_raises():
    y = leaf(X) * 2
    with pytest.raises(RuntimeError, match=re.escape("(2, 3)")):
        y.backward()
    (leaf([[3.0]]) * 2).backward()  # one element, whatever the shape, is fine


@pytest.mark.parametrize("call", ["backward", "tg.grad"])
def test_a_gradient_of_the_wrong_shape_raises_value_error(call):
    x = leaf(X)
    y = x * 2
    with pytest.raises(ValueError, match=re.escape("(3, 2)")):
        if call == "backward":
            y.backward(np.ones((3, 2)))
        else:
            tg.grad(y, x, grad_outputs=np.ones((3, 2)))


def test_backward_or_grad_of_a_tensor_that_does_not_require_grad_raises():
    with pytest.raises(RuntimeError):
        tg.Tensor([1.0]).sum().backward()
    with pytest.raises(RuntimeError):
        tg.grad((leaf([1.0]) * 2).sum(), tg.Tensor([1.0]))


@pytest.mark.parametrize("cond", [leaf([1.0, 0.0]), np.array([1, 0]), tg.Tensor([1.0, 0.0])],
                         ids=["float tensor", "int array", "float tensor without grad"])
def test_where_with_a_non_bool_condition_raises_type_error(cond):
    with pytest.raises(TypeError, match="bool"):
        tg.where(cond, leaf([1.0, 2.0]), leaf([3.0, 4.0]))


BAD_AXES = {
    "sum axis 2": lambda x: x.sum(axis=2),
    "mean axis -3": lambda x: x.mean(axis=-3),
    "max axes (0, 2)": lambda x: x.max(axis=(0, 2)),
    "min axis 2": lambda x: x.min(axis=2),
    "var axis 5": lambda x: x.var(axis=5),
    "softmax axis 2": lambda x: x.softmax(axis=2),
    "log_softmax axis -3": lambda x: x.log_softmax(axis=-3),
    "concatenate axis 2": lambda x: tg.concatenate([x, x], axis=2),
    "stack axis 4": lambda x: tg.stack([x, x], axis=4),
    "transpose (0, 0)": lambda x: x.transpose(0, 0),
    "transpose (0,)": lambda x: x.transpose(0),
}


@pytest.mark.parametrize("name", BAD_AXES)
def test_a_bad_axis_raises_value_error(name):
    with pytest.raises(ValueError):
        BAD_AXES[name](leaf(X))


def test_incompatible_broadcasting_raises_value_error():
    with pytest.raises(ValueError):
        leaf(X) + leaf(np.ones(4))
    with pytest.raises(ValueError):
        leaf(X).broadcast_to(3, 3)


def test_max_of_an_empty_tensor_raises_value_error():
    with pytest.raises(ValueError):
        leaf(np.ones(0)).max()


class TwoGradientsForOneInput(tg.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2, g


def test_a_user_function_returning_the_wrong_number_of_gradients_names_the_op():
    y = TwoGradientsForOneInput.apply(leaf([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="TwoGradientsForOneInput"):
        y.sum().backward()


def test_gradcheck_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError):
        tg.gradcheck(tg.exp, [tg.Tensor([1.0])])


# ---------------------------------------------------------------- stack / concatenate shapes

def test_stack_of_mismatched_shapes_names_the_shapes():
    with pytest.raises(ValueError, match=re.escape("[(2, 3), (3,)]")):
        tg.stack([leaf(X), leaf(np.ones(3))])


def test_concatenate_of_mismatched_shapes_names_the_shapes_and_the_axis():
    with pytest.raises(ValueError, match=re.escape("[(2, 3), (2, 4)]")) as info:
        tg.concatenate([leaf(X), leaf(np.ones((2, 4)))], axis=0)
    assert "axis 0" in str(info.value)
    with pytest.raises(ValueError, match=re.escape("[(2, 3), (3,)]")):
        tg.concatenate([leaf(X), leaf(np.ones(3))], axis=1)
    assert tg.concatenate([leaf(X), leaf(np.ones((2, 4)))], axis=1).shape == (2, 7)


def test_concatenate_of_0d_tensors_points_to_stack():
    with pytest.raises(ValueError, match="stack"):
        tg.concatenate([leaf(1.0), leaf(2.0)])


# ---------------------------------------------------------------- PyTorch habits

PYTORCH_METHODS = {"view": "reshape", "permute": "transpose", "clamp": "clip",
                   "expand": "broadcast_to", "dim": "ndim",
                   "numel": "size", "zero_": "zero_grad"}


@pytest.mark.parametrize("name", PYTORCH_METHODS)
def test_a_pytorch_method_name_on_a_tensor_says_the_tinygrad_nn_spelling(name):
    x = leaf(X)
    with pytest.raises(AttributeError, match=f"'{name}'") as info:
        getattr(x, name)
    assert PYTORCH_METHODS[name] in str(info.value)
    assert not hasattr(x, name)


def test_an_unknown_attribute_is_a_plain_attribute_error():
    with pytest.raises(AttributeError, match="'Tensor' object has no attribute 'foo'$"):
        leaf(X).foo  # noqa: B018


def test_size_is_the_element_count_and_calling_it_points_to_shape():
    x = leaf(X)
    assert x.size == 6 and isinstance(x.size, int) and repr(x.size) == "6"
    with pytest.raises(TypeError, match="x.shape"):
        x.size()
    with pytest.raises(TypeError, match=re.escape("x.shape[i]")):
        x.size(0)


@pytest.mark.parametrize("name, spelling", [("cat", "tg.concatenate"), ("tensor", "tg.Tensor"),
                                            ("from_numpy", "tg.Tensor"), ("clamp", "tg.clip"),
                                            ("manual_seed", "rng=")])
def test_a_pytorch_name_on_the_package_says_the_tinygrad_nn_spelling(name, spelling):
    with pytest.raises((AttributeError, TypeError), match=re.escape(spelling)):
        getattr(tg, name)([1.0])


@pytest.mark.parametrize("call", [
    lambda x: x.sum(dim=1), lambda x: x.mean(keepdim=True), lambda x: x.max(dim=0),
    lambda x: x.min(dim=0), lambda x: x.var(dim=0), lambda x: x.softmax(dim=1),
    lambda x: x.log_softmax(dim=1), lambda x: tg.sum(x, dim=1), lambda x: tg.softmax(x, dim=0),
    lambda x: tg.concatenate([x, x], dim=1), lambda x: tg.stack([x, x], dim=1),
])
def test_pytorch_keyword_names_say_the_numpy_names(call):
    with pytest.raises(TypeError, match="axis=|keepdims="):
        call(leaf(X))

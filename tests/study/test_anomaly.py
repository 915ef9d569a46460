"""tg.detect_anomaly: the first NaN/inf of a forward or backward pass names its op and line."""
import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn.autograd import observers

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's own NaN warnings


def line_of(text):
    """The number of the line of this file that holds `text` (not counting assertions)."""
    with open(__file__) as f:
        return next(number for number, line in enumerate(f, start=1)
                    if text in line and "line_of" not in line)


def test_forward_names_the_op_that_made_the_first_nan_and_the_users_line():
    x = tg.Tensor(np.array([1.0, -1.0]), requires_grad=True)
    with pytest.raises(FloatingPointError) as info:
        with tg.detect_anomaly():
            (x * 2).log().exp()  # the NaN is born in log
    message = str(info.value)
    assert message.startswith("detect_anomaly: Log produced NaN in its output (shape (2,)); "
                              "its inputs were finite")
    assert f'{__file__}", line {line_of("(x * 2).log().exp()  #")}' in message
    assert "\n    (x * 2).log().exp()  # the NaN is born in log" in message


def test_forward_points_past_library_code_to_the_users_call():
    model = tg.nn.Dense(2, 1)
    model.weight.data[0, 0] = np.inf
    with tg.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        model(tg.Tensor(np.array([[1.0, -1.0]])))
    message = str(info.value)
    assert "input 1 already held NaN or inf" in message
    assert f'line {line_of("model(tg.Tensor(np.array([[1.0, -1.0]])))")}' in message


def test_backward_names_the_op_and_the_line_that_created_it():
    x = tg.Tensor(np.array([0.0, 4.0]), requires_grad=True)
    with tg.detect_anomaly():
        root = x.sqrt()  # finite forward; d/dx sqrt at 0 is inf
        loss = root.sum()
        with pytest.raises(FloatingPointError) as info:
            loss.backward()
    message = str(info.value)
    assert message.startswith("detect_anomaly: Sqrt.backward produced inf in the gradient of "
                              "input 0; the gradient it received was finite")
    assert f'line {line_of("root = x.sqrt()")}' in message and "root = x.sqrt()" in message


def test_backward_of_a_graph_built_outside_says_the_line_is_unknown():
    x = tg.Tensor(np.array([0.0]), requires_grad=True)
    loss = x.sqrt().sum()
    with tg.detect_anomaly(), pytest.raises(FloatingPointError, match="line that created it is "
                                                                       "unknown"):
        loss.backward()


def test_decorator_nesting_and_no_cost_when_off():
    calls = []

    @tg.detect_anomaly()
    def log_of(values):
        calls.append(len(observers.forward))
        return tg.Tensor(np.array(values), requires_grad=True).log()

    assert log_of([1.0, 2.0]).shape == (2,)
    with pytest.raises(FloatingPointError, match="Log produced NaN"):
        log_of([-1.0])
    with tg.detect_anomaly():
        with tg.detect_anomaly():
            log_of([1.0])
        with pytest.raises(FloatingPointError):  # the outer block is still active
            tg.Tensor([-1.0], requires_grad=True).log()
    assert calls == [1, 1, 1]
    assert observers.forward == [] and observers.backward == []
    tg.Tensor([-1.0], requires_grad=True).log()  # off: NaN passes silently, as NumPy does


def test_finite_training_step_passes():
    x = tg.Tensor(np.random.default_rng(0).standard_normal((4, 2)))
    model = tg.nn.Sequential(tg.nn.Dense(2, 3), tg.nn.ReLU(), tg.nn.Dense(3, 1), tg.nn.Sigmoid())
    with tg.detect_anomaly():
        model(x).mean().backward()
    assert all(p.grad is not None for p in model.parameters())

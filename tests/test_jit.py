"""tg.jit: a replayed step computes what the eager step computes, bit for bit; every trap of
capture-and-replay is handled or refused with a clear error."""
import re

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn, optim
from tinygrad_nn.checking.op_table import OP_TABLE
from tinygrad_nn.checking.sampling import RandomDraw
from tinygrad_nn.jit import CaptureError


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def assert_same_state(model_a, model_b, opt_a=None, opt_b=None):
    for (name, p), q in zip(model_a.named_parameters(), model_b.parameters()):
        assert same_bits(p.data, q.data), name
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            assert same_bits(p.grad.data, q.grad.data), name
    for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()):
        assert same_bits(a, b)  # buffers too (batch-norm running statistics)
    if opt_a is not None:
        state_a, state_b = opt_a.state_dict(), opt_b.state_dict()
        assert state_a["hyperparameters"] == state_b["hyperparameters"]
        assert state_a["state"].keys() == state_b["state"].keys()
        for index, entry in state_a["state"].items():
            for name, value in entry.items():
                assert same_bits(value, state_b["state"][index][name]), (index, name)


def training_step(model, loss_fn, optimizer):
    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss
    return step


def twins(build):
    """(eager step, jitted step, (model, optimizer) eager, (model, optimizer) jitted) from two
    calls of build(), which must make the same model twice."""
    (model_a, loss_a, opt_a), (model_b, loss_b, opt_b) = build(), build()
    return (training_step(model_a, loss_a, opt_a), tg.jit(training_step(model_b, loss_b, opt_b)),
            (model_a, opt_a), (model_b, opt_b))


def circles_setup():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Dense(2, 4, rng=rng), nn.ReLU(), nn.Dense(4, 8, rng=rng), nn.ReLU(),
                          nn.Dense(8, 1, rng=rng), nn.Sigmoid())
    return model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.5, momentum=0.9)


def circles_data():
    X, y = tg.data.make_circles(300, noise=0.1, factor=0.5, rng=np.random.default_rng(1))
    return X, y[:, None].astype(X.dtype)


def test_circles_sgd_momentum_50_steps_bit_for_bit():
    eager, step, (model_a, opt_a), (model_b, opt_b) = twins(circles_setup)
    X, Y = circles_data()
    for _ in range(50):
        loss_a = eager(tg.Tensor(X), tg.Tensor(Y))
        loss_b = step(tg.Tensor(X), tg.Tensor(Y))
        assert same_bits(loss_a.data, loss_b.data)
    assert_same_state(model_a, model_b, opt_a, opt_b)
    assert "Affine.backward" in step.plan and "SGD.step" in step.plan
    assert "\nsummary: " in step.plan


def mlp_dropout_setup():
    rng = np.random.default_rng(2)
    model = nn.Sequential(nn.Dense(20, 32, rng=rng), nn.ReLU(), nn.Dropout(0.3, rng=7),
                          nn.Dense(32, 16, rng=rng), nn.Tanh(), nn.Dropout(0.1, rng=8),
                          nn.Dense(16, 5, rng=rng))
    return model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01,
                                                    weight_decay=1e-4)


def test_mlp_dropout_adam_50_steps_bit_for_bit():
    eager, step, (model_a, opt_a), (model_b, opt_b) = twins(mlp_dropout_setup)
    rng = np.random.default_rng(3)
    for _ in range(50):
        x = rng.standard_normal((16, 20)).astype(np.float32)
        y = rng.integers(0, 5, 16)
        loss_a = eager(tg.Tensor(x), tg.Tensor(y))
        loss_b = step(tg.Tensor(x), tg.Tensor(y))
        assert same_bits(loss_a.data, loss_b.data)
    assert_same_state(model_a, model_b, opt_a, opt_b)
    # the dropout generators were drawn from equally often
    for a, b in zip(model_a, model_b):
        if isinstance(a, nn.Dropout):
            assert a.rng.bit_generator.state == b.rng.bit_generator.state


def embedding_setup():
    model = nn.Sequential(nn.Embedding(20, 6, rng=0), nn.Flatten(), nn.Dense(18, 1, rng=1))
    return model, nn.MSELoss(), optim.Adam(model.parameters(), lr=0.1)


@pytest.mark.parametrize("index_dtype", [np.int64, np.int32])
def test_embedding_with_int64_or_int32_indices_replays_bit_for_bit(index_dtype):
    # int64 indices once hung the capture: astype(intp, copy=False) returned its own input
    eager, step, (model_a, opt_a), (model_b, opt_b) = twins(embedding_setup)
    rng = np.random.default_rng(4)
    for _ in range(10):
        indices = rng.integers(0, 20, (5, 3)).astype(index_dtype)
        targets = tg.Tensor(rng.standard_normal((5, 1)))
        assert same_bits(eager(indices, targets).data, step(indices, targets).data)
    assert_same_state(model_a, model_b, opt_a, opt_b)


def test_returned_tensors_are_fresh_and_detached():
    _, step, _, _ = twins(circles_setup)
    X, Y = circles_data()
    first = step(tg.Tensor(X), tg.Tensor(Y))
    kept = first.data.copy()
    second = step(tg.Tensor(X), tg.Tensor(Y))
    third = step(tg.Tensor(X), tg.Tensor(Y))
    assert same_bits(first.data, kept)
    assert first.data is not second.data and second.data is not third.data
    assert not third.requires_grad and third.grad_fn is None


def test_structures_returned():
    w = tg.Tensor(np.arange(3.0), dtype=np.float32)

    @tg.jit
    def f(x):
        return {"sum": x + w, "product": x * w}

    out = f(tg.ones(3))
    assert sorted(out) == ["product", "sum"]
    assert np.array_equal(out["sum"].data, [1, 2, 3])
    out = f(tg.ones(3) * 2)  # a replay
    assert np.array_equal(out["product"].data, [0, 2, 4])
    assert isinstance(tg.jit(lambda x: [x, x * 3])(tg.ones(1)), list)
    pair = tg.jit(lambda x: (x * 2, x + 1))(tg.ones(2))
    assert isinstance(pair, tuple) and np.array_equal(pair[1].data, [2, 2])
    assert tg.jit(lambda x: None)(tg.ones(2)) is None
    with pytest.raises(TypeError, match="must return None, a Tensor"):
        tg.jit(lambda x: 3.0)(tg.ones(2))


def test_new_shape_dtype_and_value_are_captured_anew():
    w = tg.Tensor(np.array([1.0, 2.0], dtype=np.float32))
    calls = []

    @tg.jit
    def f(x, scale):
        calls.append(scale)  # Python side effects run only when capturing
        return (x * w) * scale

    for _ in range(3):
        assert np.array_equal(f(tg.ones(4, 2), 2.0).data, np.full((4, 2), [2.0, 4.0]))
    assert len(calls) == 1
    assert f(tg.ones(3, 2), 2.0).shape == (3, 2)          # a new shape
    assert f(tg.ones(3, 2, dtype=np.float64), 2.0).dtype == np.float64  # a new dtype
    assert np.array_equal(f(tg.ones(3, 2), 3.0).data, np.full((3, 2), [3.0, 6.0]))  # a value
    assert len(calls) == 4
    f(tg.ones(3, 2), 3.0)
    assert len(calls) == 4
    f.reset()
    assert f.plan == ""
    f(tg.ones(3, 2), 3.0)
    assert len(calls) == 5 and f.plan


def test_grad_mode_is_part_of_the_signature():
    model, _, _ = circles_setup()
    predict = tg.jit(lambda x: model(x))
    x = tg.Tensor(np.ones((5, 2), dtype=np.float32))
    with tg.no_grad():
        a = predict(x)
        a = predict(x)
    with pytest.warns(UserWarning, match="the results of a jitted function are detached"):
        b = predict(x)
    assert same_bits(a.data, b.data)
    assert "grad mode off" not in predict.plan and "grad mode on" in predict.plan


def test_train_and_eval_modes_are_captured_apart():
    model, _, _ = mlp_dropout_setup()
    reference, _, _ = mlp_dropout_setup()
    forward = tg.jit(lambda x: model(x))
    x = np.random.default_rng(4).standard_normal((8, 20)).astype(np.float32)
    for mode in ("train", "eval", "train", "eval"):
        getattr(model, mode)()
        getattr(reference, mode)()
        with tg.no_grad():
            assert same_bits(forward(tg.Tensor(x)).data, reference(tg.Tensor(x)).data)
    model.eval()
    reference.eval()
    with tg.no_grad():
        assert same_bits(forward(tg.Tensor(x)).data, forward(tg.Tensor(x)).data)


@pytest.mark.parametrize("read", [
    lambda t: t.item(), lambda t: t.numpy(), lambda t: t.tolist(), lambda t: bool(t),
    lambda t: float(t), lambda t: int(t), lambda t: np.asarray(t.data),
])
def test_reading_a_value_during_capture_raises(read):
    @tg.jit
    def f(x):
        y = (x * 2).sum()
        read(y)
        return y

    with pytest.raises(RuntimeError, match="inside a function that tg.jit is capturing"):
        f(tg.ones(3))
    assert f.plan == ""


def test_an_op_the_recorder_cannot_follow_raises_naming_it():
    class Opaque(tg.Function):
        @staticmethod
        def forward(ctx, a):
            return np.array(a.tolist(), dtype=np.float32)  # leaves NumPy for Python lists

        @staticmethod
        def backward(ctx, g):
            return g

    f = tg.jit(lambda x: Opaque.apply(x))
    with pytest.raises(RuntimeError, match="Opaque.forward"):
        f(tg.ones(3))
    plain = np.zeros(3, dtype=np.float32)

    class WritesOutside(tg.Function):
        @staticmethod
        def forward(ctx, a):
            np.multiply(a, 2, out=plain)  # a plain array the recorder does not follow
            return a * 1

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match="WritesOutside.forward"):
        tg.jit(lambda x: WritesOutside.apply(x))(tg.ones(3))


def test_changing_an_argument_in_place_reaches_the_caller():
    @tg.jit
    def f(x):
        with tg.no_grad():
            x.add_(1.0)
        return x * 2

    for k in range(3):
        x = tg.Tensor(np.zeros(2, dtype=np.float32))
        assert np.array_equal(f(x).data, [2, 2])
        assert np.array_equal(x.data, [1, 1]), k


def test_a_tensor_the_function_closes_over_is_read_anew():
    offset = tg.Tensor(np.zeros(3, dtype=np.float32))
    f = tg.jit(lambda x: x + offset)
    f(tg.ones(3))
    with tg.no_grad():
        offset.add_(5.0)
    assert np.array_equal(f(tg.ones(3)).data, [6, 6, 6])
    offset.data = np.full(3, 7.0, dtype=np.float32)  # a new array: the replay notices
    assert np.array_equal(f(tg.ones(3)).data, [8, 8, 8])


def test_random_draws_from_a_generator_the_recorder_does_not_see_are_refused():
    rng = np.random.default_rng(0)
    f = tg.jit(lambda x: x + tg.randn(3, rng=rng))
    with pytest.raises(RuntimeError, match="random draw"):
        f(tg.ones(3))


def test_lr_changed_between_calls_takes_effect_and_hyperparameter_branches_recapture():
    eager, step, (model_a, opt_a), (model_b, opt_b) = twins(circles_setup)
    X, Y = circles_data()
    for k in range(12):
        for opt in (opt_a, opt_b):
            opt.lr = 0.5 / (1 + k)
            opt.nesterov = k >= 6
            opt.weight_decay = 0.01 if k >= 8 else 0.0
        assert same_bits(eager(tg.Tensor(X), tg.Tensor(Y)).data,
                         step(tg.Tensor(X), tg.Tensor(Y)).data)
    assert_same_state(model_a, model_b, opt_a, opt_b)


def test_gradients_accumulated_across_calls_replay_bit_for_bit():
    def build():
        model, loss_fn, opt = circles_setup()
        return model, loss_fn, opt

    (model_a, loss_a, opt_a), (model_b, loss_b, opt_b) = build(), build()

    def no_zero_grad(model, loss_fn, opt):
        def step(x, y):
            loss_fn(model(x), y).backward()  # adds into .grad left by the call before
            opt.step()
        return step

    eager, step = no_zero_grad(model_a, loss_a, opt_a), tg.jit(no_zero_grad(model_b, loss_b,
                                                                            opt_b))
    X, Y = circles_data()
    for k in range(6):
        eager(tg.Tensor(X), tg.Tensor(Y))
        step(tg.Tensor(X), tg.Tensor(Y))
        assert_same_state(model_a, model_b, opt_a, opt_b)
        if k == 2:  # replayed: the .grad that each call adds into is read anew
            read_anew = " ".join(step.plan.split("read on each replay: ")[1].split("#")[0].split())
            assert len(re.findall(r"x\d+ = t\d+\.grad\.data", read_anew)) == 6
        if k == 3:  # zeroed between calls: a capture of its own
            opt_a.zero_grad()
            opt_b.zero_grad()


def test_a_branch_on_a_value_is_checked_on_replay():
    w = tg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    reference = tg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)

    def gradient(x, w):
        w.grad = None
        (x * w * w).sum().backward()  # Mul's backward checks its factor is finite
        return w.grad

    f = tg.jit(lambda x: gradient(x, w))
    for values in ([1, 2, 3], [np.inf, 1, 1], [4, 5, 6], [np.nan, 1, 1]):
        x = np.array(values, dtype=np.float32)
        with np.errstate(invalid="ignore", over="ignore"):
            # nothing changed outside the step before the check: captured anew
            assert same_bits(f(tg.Tensor(x)).data, gradient(tg.Tensor(x), reference).data)
    assert len(f._programs[next(iter(f._programs))]) == 2


def test_a_branch_after_a_random_draw_is_undone_and_captured_anew():
    model = nn.Sequential(nn.Dropout(0.5, rng=0))
    reference = nn.Sequential(nn.Dropout(0.5, rng=0))
    w = tg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    v = tg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)

    def gradient(model, w):
        def step(x):
            w.grad = None
            (model(x) * w * w).sum().backward()  # Mul's backward checks its factor is finite
            return w.grad
        return step

    f, eager = tg.jit(gradient(model, w)), gradient(reference, v)
    with np.errstate(invalid="ignore"):
        for values in ([1, 2, 3], [4, 5, 6], [np.inf, 1, 1], [1, 2, 3], [np.inf, 2, 1]):
            x = np.array(values, dtype=np.float32)
            # the check fails after the draw: the generator is put back, the call captured
            assert same_bits(f(tg.Tensor(x)).data, eager(tg.Tensor(x)).data), values
            assert model[0].rng.bit_generator.state == reference[0].rng.bit_generator.state
    assert "bit_generator.state = u0" in next(iter(f._programs.values()))[0].source


def test_plan_lists_the_program():
    _, step, _, _ = twins(circles_setup)
    assert step.plan == ""
    X, Y = circles_data()
    step(tg.Tensor(X), tg.Tensor(Y))
    step(tg.Tensor(X), tg.Tensor(Y))
    lines = step.plan.splitlines()
    assert lines[0].startswith("tg.jit plan of")
    assert any("matmul(x0, p0) -> b0" in line for line in lines)
    assert "buffers allocated" in step.plan.split("summary:")[1]


def test_arguments_that_require_grad_are_refused():
    with pytest.raises(TypeError, match="requires grad"):
        tg.jit(lambda x: x * 2)(tg.ones(2, requires_grad=True))


def test_capture_error_is_a_runtime_error():
    assert issubclass(CaptureError, RuntimeError)


def batch_norm_setup():
    rng = np.random.default_rng(5)
    model = nn.Sequential(nn.Dense(6, 16, rng=rng), nn.BatchNorm1d(16), nn.ReLU(),
                          nn.LayerNorm(16), nn.Dense(16, 3, rng=rng))
    return model, nn.CrossEntropyLoss(), optim.AdamW(model.parameters(), lr=0.01)


def test_batch_norm_adamw_cosine_schedule_with_evaluation_bit_for_bit():
    eager, step, (model_a, opt_a), (model_b, opt_b) = twins(batch_norm_setup)
    schedules = [optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10) for opt in (opt_a, opt_b)]
    evaluate_a, evaluate_b = (lambda x: model_a(x)), tg.jit(lambda x: model_b(x))
    rng = np.random.default_rng(6)
    for _epoch in range(10):
        for _ in range(5):
            x = rng.standard_normal((8, 6)).astype(np.float32)
            y = rng.integers(0, 3, 8)
            assert same_bits(eager(tg.Tensor(x), tg.Tensor(y)).data,
                             step(tg.Tensor(x), tg.Tensor(y)).data)
        for schedule in schedules:
            schedule.step()
        for model in (model_a, model_b):
            model.eval()
        with tg.no_grad():
            x = tg.Tensor(rng.standard_normal((4, 6)).astype(np.float32))
            assert same_bits(evaluate_a(x).data, evaluate_b(x).data)
        for model in (model_a, model_b):
            model.train()
    assert_same_state(model_a, model_b, opt_a, opt_b)


@pytest.mark.parametrize("make", [
    lambda p: optim.RMSprop(p, lr=0.01, momentum=0.9, weight_decay=0.01),
    lambda p: optim.RMSprop(p, lr=0.01),
    lambda p: optim.SGD(p, lr=0.1, momentum=0.5, nesterov=True, weight_decay=1e-3),
    lambda p: optim.Adam(p, lr=0.01, betas=(0.8, 0.9)),
])
def test_every_optimizer_replays_bit_for_bit(make):
    def build():
        model, loss_fn, _ = batch_norm_setup()
        return model, loss_fn, make(model.parameters())
    eager, step, (model_a, opt_a), (model_b, opt_b) = twins(build)
    rng = np.random.default_rng(7)
    for _ in range(8):
        x, y = rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 3, 8)
        assert same_bits(eager(tg.Tensor(x), tg.Tensor(y)).data,
                         step(tg.Tensor(x), tg.Tensor(y)).data)
    assert_same_state(model_a, model_b, opt_a, opt_b)


def test_a_schedule_stepped_inside_the_function_is_refused():
    model, loss_fn, opt = circles_setup()
    schedule = optim.lr_scheduler.StepLR(opt, step_size=1)

    @tg.jit
    def step(x, y):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        schedule.step()

    X, Y = circles_data()
    with pytest.raises(RuntimeError, match="between calls"):
        step(tg.Tensor(X), tg.Tensor(Y))


def test_an_argument_in_another_memory_layout_replays_as_eager():
    w = tg.Tensor(np.random.default_rng(8).standard_normal((6, 5)).astype(np.float32))
    f = tg.jit(lambda x: (x * w).sum(axis=0))
    data = np.random.default_rng(9).standard_normal((5, 6)).astype(np.float32)
    for x in (data.T, data.T.copy(), data.T, data.T.copy()):
        assert tg.Tensor(x).data.flags.c_contiguous == x.flags.c_contiguous
        assert same_bits(f(tg.Tensor(x)).data, (tg.Tensor(x) * w).sum(axis=0).data)


def test_a_hyperparameter_set_inside_the_function_is_refused():
    model, loss_fn, opt = circles_setup()

    @tg.jit
    def step(x, y):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        opt.lr = opt.lr * 0.5

    X, Y = circles_data()
    with pytest.raises(RuntimeError, match="changed SGD.lr"):
        step(tg.Tensor(X), tg.Tensor(Y))


def digits_cnn_setup():
    rng = np.random.default_rng(10)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
        nn.Dropout(0.25, rng=11), nn.Dense(32, 10, rng=rng))
    for p in model.parameters():  # the layers draw from fresh generators: fix their start
        with tg.no_grad():
            p.copy_(rng.standard_normal(p.shape).astype(np.float32) * 0.3)
    return model, nn.CrossEntropyLoss(), optim.AdamW(model.parameters(), lr=0.01)


def test_digits_cnn_batch_norm_adamw_cosine_schedule_50_steps_bit_for_bit():
    eager, step, (model_a, opt_a), (model_b, opt_b) = twins(digits_cnn_setup)
    schedules = [optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5) for opt in (opt_a, opt_b)]
    rng = np.random.default_rng(12)
    for k in range(50):
        x = rng.uniform(0, 1, (16, 1, 8, 8)).astype(np.float32)
        y = rng.integers(0, 10, 16)
        assert same_bits(eager(tg.Tensor(x), tg.Tensor(y)).data,
                         step(tg.Tensor(x), tg.Tensor(y)).data), k
        if k % 10 == 9:
            for schedule in schedules:
                schedule.step()
    assert_same_state(model_a, model_b, opt_a, opt_b)
    assert "Convolution.backward" in step.plan or "ConvolutionWeightGrad" in step.plan


def test_a_new_generator_made_inside_the_function_is_refused():
    f = tg.jit(lambda x: nn.Dense(3, 2)(x))  # fresh random weights on every eager call
    with pytest.raises(RuntimeError, match="new random generator"):
        f(tg.ones(4, 3))


def test_a_label_out_of_range_raises_as_eagerly():
    _, step, _, _ = twins(mlp_small)
    x = tg.Tensor(np.ones((5, 4), dtype=np.float32))
    for _ in range(3):
        step(x, tg.Tensor(np.array([0, 1, 2, 0, 1])))
    with pytest.raises(ValueError, match="label 7 is outside"):
        step(x, tg.Tensor(np.array([0, 1, 7, 0, 1])))


def mlp_small():
    model = nn.Sequential(nn.Dense(4, 3, rng=0))
    return model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1)


def test_a_jitted_method_binds_its_instance():
    class Trainer:
        def __init__(self):
            self.model, self.loss_fn, self.optimizer = circles_setup()

        @tg.jit
        def step(self, x, y):
            return training_step(self.model, self.loss_fn, self.optimizer)(x, y)

    trainer = Trainer()
    X, Y = circles_data()
    for _ in range(3):
        trainer.step(tg.Tensor(X), tg.Tensor(Y))
    assert "SGD.step" in trainer.step.plan


def test_optimizer_state_loaded_between_calls_is_used():
    eager, step, (model_a, opt_a), (model_b, opt_b) = twins(circles_setup)
    X, Y = circles_data()
    for _ in range(3):
        eager(tg.Tensor(X), tg.Tensor(Y))
        step(tg.Tensor(X), tg.Tensor(Y))
    saved = opt_a.state_dict()
    for _ in range(2):
        eager(tg.Tensor(X), tg.Tensor(Y))
        step(tg.Tensor(X), tg.Tensor(Y))
    for opt in (opt_a, opt_b):
        opt.load_state_dict(saved)  # a new state dict, new arrays
    for _ in range(3):
        assert same_bits(eager(tg.Tensor(X), tg.Tensor(Y)).data,
                         step(tg.Tensor(X), tg.Tensor(Y)).data)
    assert_same_state(model_a, model_b, opt_a, opt_b)


def test_a_module_attribute_set_during_the_call_is_refused():
    class Counting(nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return x * 2

    f = tg.jit(Counting())
    with pytest.raises(RuntimeError, match="Counting.calls is set during the call"):
        f(tg.ones(2))


def test_a_graph_made_before_a_replayed_update_cannot_backward_through_it():
    eager, step, _, (model, _) = twins(circles_setup)
    X, Y = circles_data()
    for _ in range(3):
        step(tg.Tensor(X), tg.Tensor(Y))
    loss = nn.MSELoss()(model(tg.Tensor(X)), tg.Tensor(Y))  # saves the parameters
    step(tg.Tensor(X), tg.Tensor(Y))  # a replay updates them in place
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def assert_replays_as_eager(loss_of, w, inputs):
    """tg.jit of a step that differentiates loss_of(y, w) gives, for every input y, the loss
    and w.grad the eager step gives, bit for bit."""
    def step(y):
        w.grad = None
        loss = loss_of(y, w)
        loss.backward()
        return loss, w.grad

    replayed = tg.jit(step)
    for k, y in enumerate(inputs):
        (loss, grad), (eager_loss, eager_grad) = replayed(tg.Tensor(y)), step(tg.Tensor(y))
        assert same_bits(loss.data, eager_loss.data), k
        assert same_bits(grad.data, eager_grad.data), k


@pytest.mark.parametrize("loss_of", [
    lambda y, w: tg.prod(y * w, axis=1).sum() + tg.cumprod(y * w).sum(),
    lambda y, w: ((tg.pad(y * w, 1, mode="reflect") ** 2).sum()
                  + (tg.sort(y * w, axis=None) * np.arange(6)).sum()),
], ids=["prod+cumprod", "pad+sort"])
def test_two_ops_of_one_product_replay_bit_for_bit(loss_of):
    # y * w is computed twice; the replay makes it once, so the reshape the capture made of
    # the second one (cumprod, sort) must not be kept: it would look at memory never refilled
    w = tg.Tensor([[0.0, 1.5, -0.7], [2.0, 0.3, 0.0]], dtype=np.float64, requires_grad=True)
    rng = np.random.default_rng(0)
    assert_replays_as_eager(loss_of, w, [rng.normal(size=(2, 3)) for _ in range(3)])


def test_in_place_accumulation_on_two_copies_replays_bit_for_bit():
    class Series(tg.Function):
        """a + a²/2 + a³/6 + ..., as erf's series: two copies of a updated in place."""
        @staticmethod
        def forward(ctx, a):
            term, total = a.copy(), a.copy()  # the same call twice: equal, until written
            for n in range(4):
                term *= a / (n + 2)
                total += term
            return total

        @staticmethod
        def backward(ctx, g):
            return g

    f = tg.jit(lambda x: Series.apply(x) * 1.0)
    rng = np.random.default_rng(0)
    for k in range(3):
        x = rng.normal(size=5)
        assert same_bits(f(tg.Tensor(x)).data, (Series.apply(tg.Tensor(x)) * 1.0).data), k


def test_sums_of_op_table_rows_on_one_product_replay_bit_for_bit():
    """2 or 3 rows of the op table (sometimes one twice) applied to the same y * w, w a leaf
    that requires grad: the replays of 3 new inputs give the eager loss and gradient."""
    replayed = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        by_shape = {}
        for i, row in enumerate(OP_TABLE):
            case = row.cases(RandomDraw(np.random.default_rng([seed, i])))
            arrays = [np.asarray(a, dtype=np.float64) for a in case.arrays]
            by_shape.setdefault(arrays[0].shape, []).append((row, arrays, case.params))
        for rows in by_shape.values():
            if len(rows) < 2:
                continue
            chosen = [rows[j] for j in rng.choice(len(rows), min(len(rows), rng.integers(2, 4)),
                                                  replace=bool(rng.integers(2)))]

            def loss_of(y, w, chosen=chosen):
                loss = 0
                for row, arrays, params in chosen:
                    out = row.fn(y * w, *map(tg.Tensor, arrays[1:]), **params)
                    loss = loss + (out * np.linspace(-1, 1, out.size).reshape(out.shape)).sum()
                return loss

            # w is in the first row's domain; y near 1 keeps y * w there
            w = tg.Tensor(chosen[0][1][0], requires_grad=True)
            inputs = [rng.uniform(0.95, 1.0, size=w.shape) for _ in range(3)]
            try:
                with np.errstate(all="raise"):  # in the domains of the other rows too
                    for y in inputs:
                        loss_of(tg.Tensor(y), w).backward()
            except FloatingPointError:
                continue
            assert_replays_as_eager(loss_of, w, inputs)  # split's list of parts too
            replayed += 1
    assert replayed >= 150  # of the 10 seeds' draws; the rest leave a domain

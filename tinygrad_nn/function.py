"""Graph nodes: `Function` (every op, built-in or user-defined), `call`, the check that an array
a node saved was not changed in place since, and rules run on Tensors (create_graph).

An op's `apply` runs its forward on arrays; when grad mode is on and an input requires grad, the
op instance that forward saved into becomes a node of the graph: the output Tensor's `grad_fn`,
holding the input Tensors. `autograd.py` walks these nodes backwards.
"""
import numbers
import types

import numpy as np

from .grad_mode import _grad_mode
from .tensor import WRITES_KEPT, Tensor, clock, get_default_dtype, hold, let_go

__all__ = ["Function", "call", "binary_operator", "to_constant", "observers", "check_versions",
           "backward_on_tensors"]


# The ctx an op's forward gets when nothing will be differentiated: saving is a no-op.
_UNRECORDED = types.SimpleNamespace(save_for_backward=lambda *arrays: None)
# One shared tuple per needs_input_grad pattern: a long graph holds one object less per node
# (9% of the deep chain's memory), and Python's cyclic GC runs less often while it grows.
_interned = {(p, q): (p, q) for p in (False, True) for q in (False, True)}


# NumPy 1.x computes a float32 0-d array (or NumPy scalar) with a Python number in float64;
# NumPy 2 keeps float32 (NEP 50). On NumPy 1 a built-in op's output goes back to its inputs'
# float dtype, so float32 stays float32 on every NumPy the project allows.
LEGACY_PROMOTION = int(np.__version__.split(".")[0]) < 2


def _in_float_dtype_of(out, arrays):
    """out in the widest float dtype of `arrays` if NumPy 1 widened it to float64."""
    if out.dtype != np.float64:
        return out
    floats = [a.dtype for a in arrays if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    if not floats or np.float64 in floats:
        return out
    return out.astype(max(floats, key=lambda dtype: dtype.itemsize))


# Callbacks of the study tools (trace, detect_anomaly); empty lists cost nothing.
# forward: fn(node, out) after a recorded op's forward;
# backward: fn(node, grad_of_output, input_grads) after each node's backward.
observers = types.SimpleNamespace(forward=[], backward=[])


class Function:
    """Base of every op, built-in or user-defined; an instance is one node of the graph.

    Subclasses define `forward(ctx, *arrays, **params) -> array` and
    `backward(ctx, *grads) -> one gradient (or None) per positional input`, both static.

    `differentiable_backward = True` promises that `backward` uses only NumPy operators and
    `call(...)` of ops, so that it can run on Tensors when `create_graph=True`. A user op
    without it can be differentiated once; differentiating its gradient again raises.
    """

    differentiable_backward = False
    keeps_input_dtype = False  # True for a built-in op: float32 in, float32 out (NumPy 1)
    # A node holds its inputs (Tensors or constants), which of them need a gradient, its output
    # array, the arrays saved for backward (None once freed), its creation number (decreasing
    # `seq` is a topological order), and the hooks and retained-grad tensor of its output (None
    # on most nodes); `__dict__` keeps what an op stores on ctx (ctx.axis = ...).
    __slots__ = ("inputs", "needs_input_grad", "out", "saved_tensors", "seq", "hooks",
                 "retained", "holds", "__dict__", "__weakref__")
    name = property(lambda self: type(self).__name__)

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

    @classmethod
    def apply(cls, *inputs, **params):
        """Run `forward` on the inputs' arrays and return the output as a Tensor.

        `inputs` are Tensors or constants (numbers, arrays, lists), `params` go to forward as
        keywords. When grad mode is on and an input requires grad, a node is recorded: it is
        the `ctx` forward saves into, and the output's `grad_fn`.
        """
        arrays, needs = [], []
        for x in inputs:
            if isinstance(x, Tensor):
                arrays.append(x.data)
                needs.append(x.requires_grad)
            else:
                arrays.append(x if type(x) is float or type(x) is int else to_constant(x))
                needs.append(False)
        if not (True in needs and _grad_mode.enabled):
            out = cls.forward(_UNRECORDED, *arrays, **params)
            out = out if type(out) is np.ndarray else np.asarray(out)
            if LEGACY_PROMOTION and cls.keeps_input_dtype:
                out = _in_float_dtype_of(out, arrays)
            return Tensor._make(out, None)
        node = object.__new__(cls)
        node.inputs = inputs
        node.needs_input_grad = _interned.setdefault(needs := tuple(needs), needs)
        node.saved_tensors = ()
        node.hooks = node.retained = node.holds = None
        node.seq = next(clock)
        node.out = out = cls.forward(node, *arrays, **params)  # kept as made: saved_tensors
        if type(out) is not np.ndarray:  # may hold this very object (a NumPy scalar)
            out = np.asarray(out)
        if LEGACY_PROMOTION and cls.keeps_input_dtype:
            out = _in_float_dtype_of(out, arrays)
        if type(out) is np.ndarray:  # (not a stand-in of tg.jit's)
            out.setflags(write=False)  # see tensor.hold: the graph may need it
            if node.saved_tensors or out.base is not None:
                for x in inputs:
                    if isinstance(x, Tensor) and x.grad_fn is None:
                        node.holds = Holds.taken_by(node, out)
                        break
        for observe in observers.forward:
            observe(node, out)
        return Tensor._make(out, node)

    def __repr__(self):
        return f"<{self.name} node>"



class Holds:
    """A node's hold on the arrays of its leaf inputs that it saved or made a view of (they stay
    read-only while it lives, tensor.hold): let go when backward frees the node, or when the node
    is dropped (this object dies with it)."""
    __slots__ = ("arrays",)

    @staticmethod
    def taken_by(node, out):
        """The node's Holds, or None if it needs none."""
        needed = []
        for x in node.inputs:
            if isinstance(x, Tensor) and x.grad_fn is None:
                a = x.data
                if a is out.base or _among(a, node.saved_tensors):
                    needed.append(a)
        if not needed:
            return None
        holds = object.__new__(Holds)
        holds.arrays = hold(needed)
        return holds

    def release(self):
        arrays, self.arrays = self.arrays, ()
        let_go(arrays)

    def __del__(self):
        if self.arrays:
            let_go(self.arrays)


def _among(a, arrays):
    for b in arrays:
        if a is b:
            return True
    return False


def binary_operator(op):
    """The function behind a Tensor operator (`Tensor.__add__ = binary_operator(Add)`):
    op.apply(a, b) for a Tensor `a` and a Tensor or number `b`, without apply's loops. The same
    steps for the commonest call; one Python call less than a method that calls apply."""
    forward = op.forward

    def operate(a, b):
        if isinstance(b, Tensor):
            b_data, b_needs = b.data, b.requires_grad
        else:
            b_data, b_needs = (b if type(b) is float or type(b) is int else to_constant(b)), False
        if not ((a.requires_grad or b_needs) and _grad_mode.enabled):
            out = forward(_UNRECORDED, a.data, b_data)
            out = out if type(out) is np.ndarray else np.asarray(out)
            if LEGACY_PROMOTION:
                out = _in_float_dtype_of(out, (a.data, b_data))
            return Tensor._make(out, None)
        node = object.__new__(op)
        node.inputs, node.needs_input_grad = (a, b), _interned[a.requires_grad, b_needs]
        node.saved_tensors = ()
        node.hooks = node.retained = node.holds = None
        node.seq = next(clock)
        node.out = out = forward(node, a.data, b_data)
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        if LEGACY_PROMOTION:
            out = _in_float_dtype_of(out, (a.data, b_data))
        if type(out) is np.ndarray:  # (not a stand-in of tg.jit's)
            out.setflags(write=False)  # see tensor.hold: the graph may need it
            if (node.saved_tensors or out.base is not None) and (
                    a.grad_fn is None or (isinstance(b, Tensor) and b.grad_fn is None)):
                node.holds = Holds.taken_by(node, out)
        for observe in observers.forward:
            observe(node, out)
        return Tensor._make(out, node)
    operate.__name__ = operate.__qualname__ = f"{op.__name__}.operator"
    return operate


def to_constant(x):
    """A non-Tensor operand of an op, as NumPy should see it.

    Python numbers stay Python numbers, so NumPy treats them as weak scalars: float32 * 1.5 is
    float32. NumPy scalars become Python numbers for the same reason; lists become arrays of
    the default dtype (bool lists stay bool, for masks); arrays are used as they are.
    """
    if type(x) is float or type(x) is int or type(x) is np.ndarray:
        return x
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (numbers.Number, np.ndarray)):
        return x
    if isinstance(x, (list, tuple)):
        array = np.asarray(x)
        return array if array.dtype == bool else array.astype(get_default_dtype())
    raise TypeError(f"unsupported operand type for a Tensor op: {type(x).__name__}")


def call(op, *args, **params):
    """Run `op` on Tensors (recorded) or on plain arrays (forward only).

    Backward rules use this for the few ops that are not NumPy operators, so the same rule
    computes a gradient from arrays and, with create_graph=True, records one from Tensors.
    """
    for a in args:
        if isinstance(a, Tensor):
            return op.apply(*args, **params)
    return op.forward(_UNRECORDED, *args, **params)


# --------------------------------------------------------------------------- in-place writes

def check_versions(node):
    """Raise if an input whose array the node saved was changed in place since: its gradient
    would silently use the new values."""
    saved = {id(a) for a in node.saved_tensors}
    for x in node.inputs:
        if isinstance(x, Tensor) and id(x.data) in saved:
            since = sum(seq > node.seq for seq in getattr(x, "_writes", ()))
            if since:
                at_most = "at most " if since == WRITES_KEPT else ""
                raise RuntimeError(
                    f"one of the tensors needed for the gradient has been modified by an "
                    f"in-place operation: {node.name} saved a tensor of shape {x.shape} at "
                    f"version {at_most}{x._version - since}, it is now at version "
                    f"{x._version}. Call backward() before changing it (e.g. before "
                    "optimizer.step() or load_state_dict()).")


# --------------------------------------------------------------------------- rules on Tensors

def backward_on_tensors(node, g):
    """node's backward rule run on Tensors (create_graph=True), so that the gradient it returns
    is recorded as a function of the inputs and can be differentiated again."""
    if node.differentiable_backward:
        return node.backward(_TensorCtx(node), g)
    grads = node.backward(node, g.data)
    return tuple(None if r is None else
                 OnceDifferentiable.apply(g, *node.inputs, value=np.asarray(r), op_name=node.name)
                 for r in (grads if isinstance(grads, tuple) else (grads,)))


class _TensorCtx:
    """What a backward rule sees as `ctx` when create_graph=True: saved arrays become the
    Tensors they came from, so the gradient is recorded as a function of the inputs."""

    def __init__(self, node):
        self._node = node
        self.saved_tensors = tuple(_as_tensor(a, k, node) for k, a in
                                   enumerate(node.saved_tensors))

    def __getattr__(self, name):
        return getattr(self._node, name)


def _as_tensor(a, k, node):
    """The Tensor that saved array `a` (the node's k-th) came from: an input (looked for first
    in place k: in x * x.detach() two inputs share one array, only the place tells which one
    was saved), the node's own output re-attached to it, or else a constant (a mask)."""
    inputs = node.inputs
    for x in ((inputs[k],) + inputs if k < len(inputs) else inputs):
        if x is a or (isinstance(x, Tensor) and x.data is a):
            return x
    return Tensor._make(np.asarray(a), node) if a is node.out else a


class OnceDifferentiable(Function):
    """Stands for the gradient of a user op whose backward only works on arrays: its value is
    right, differentiating it again raises instead of silently giving zero."""
    differentiable_backward = True

    @staticmethod
    def forward(ctx, g, *op_inputs, value, op_name):
        ctx.op_name = op_name  # the op's inputs are attached only so that the graph reaches them
        return value

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError(f"{ctx.op_name}.backward was run with create_graph=True but is not "
                           "differentiable: set `differentiable_backward = True` on the "
                           "Function and write its backward with NumPy operators and "
                           "tinygrad_nn.call(...), or do not take higher-order gradients.")

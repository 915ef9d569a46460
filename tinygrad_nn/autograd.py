"""The engine: grad mode, graph nodes (`Function`) and the backward walk.

A Tensor made by an op that needs a gradient points to the node that made it (`tensor.grad_fn`);
the node holds its input Tensors. `backward()` visits the nodes reachable from the output newest
first (a consumer is always newer than the nodes that produced its inputs), handing each node
the complete gradient of its output and sending each input its share, summed to its shape.

Backward rules are written with NumPy operators and with ops called through `call`, which computes
on plain arrays and records on Tensors. So with `create_graph=True` the engine simply runs the same
rules on Tensors, and the backward pass becomes a graph that can be differentiated again.
"""
import collections
import contextlib
import heapq
import itertools
import threading
import types
import weakref

import numpy as np

from .tensor import Tensor, to_constant

__all__ = ["Function", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "backward", "grad", "topological_order", "call", "sum_to_shape"]


# --------------------------------------------------------------------------- grad mode

class _GradMode(threading.local):
    enabled = True  # the default for every thread


_grad_mode = _GradMode()


def is_grad_enabled():
    return _grad_mode.enabled


@contextlib.contextmanager
def set_grad_enabled(mode=True):
    """`with set_grad_enabled(mode):` or `@set_grad_enabled(mode)`: record a graph or not, in
    this thread; the previous mode comes back on exit, also after an exception."""
    previous, _grad_mode.enabled = _grad_mode.enabled, bool(mode)
    try:
        yield
    finally:
        _grad_mode.enabled = previous


def no_grad(fn=None):
    """`with no_grad():`, `@no_grad()` or `@no_grad`: nothing inside records a graph."""
    return set_grad_enabled(False) if fn is None else set_grad_enabled(False)(fn)


def enable_grad(fn=None):
    """`with enable_grad():`, `@enable_grad()` or `@enable_grad`: record again (in no_grad)."""
    return set_grad_enabled(True) if fn is None else set_grad_enabled(True)(fn)


# --------------------------------------------------------------------------- nodes

# The ctx an op's forward gets when nothing will be differentiated: saving is a no-op.
_UNRECORDED = types.SimpleNamespace(save_for_backward=lambda *arrays: None)
_sequence = itertools.count()  # creation numbers of nodes and of in-place writes
_last_write = -1  # the creation number of the newest in-place write
# One shared tuple per needs_input_grad pattern: a long graph holds one object less per node
# (9% of the deep chain's memory), and Python's cyclic GC runs less often while it grows.
_interned = {(p, q): (p, q) for p in (False, True) for q in (False, True)}


class Function:
    """Base of every op, built-in or user-defined; an instance is one node of the graph.

    Subclasses define `forward(ctx, *arrays, **params) -> array` and
    `backward(ctx, *grads) -> one gradient (or None) per positional input`, both static.

    `differentiable_backward = True` promises that `backward` uses only NumPy operators and
    `call(...)` of ops, so that it can run on Tensors when `create_graph=True`. A user op
    without it can be differentiated once; differentiating its gradient again raises.
    """

    differentiable_backward = False
    # A node holds its inputs (Tensors or constants), which of them need a gradient, its output
    # array, the arrays saved for backward (None once freed) and its creation number (decreasing
    # `seq` is a topological order); `__dict__` keeps what an op stores on ctx (ctx.axis = ...).
    __slots__ = ("inputs", "needs_input_grad", "out", "saved_tensors", "seq", "__dict__",
                 "__weakref__")
    # Set only on the few nodes that need them: the output's hooks and its retained-grad tensor.
    hooks = retained = None
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
            return Tensor._make(out if type(out) is np.ndarray else np.asarray(out), None)
        node = object.__new__(cls)
        node.inputs = inputs
        node.needs_input_grad = _interned.setdefault(needs := tuple(needs), needs)
        node.saved_tensors = ()
        node.seq = next(_sequence)
        node.out = out = cls.forward(node, *arrays, **params)  # kept as made: saved_tensors
        if type(out) is not np.ndarray:  # may hold this very object (a NumPy scalar)
            out = np.asarray(out)
        for observe in observers.forward:
            observe(node, out)
        return Tensor._make(out, node)

    @classmethod
    def operator(cls, a, b):
        """apply(a, b) for a Tensor `a` and a Tensor or number `b` (the arithmetic operators),
        without apply's loops: the same steps for the commonest call, measured ~7% faster."""
        if isinstance(b, Tensor):
            b_data, b_needs = b.data, b.requires_grad
        else:
            b_data, b_needs = (b if type(b) is float or type(b) is int else to_constant(b)), False
        if not ((a.requires_grad or b_needs) and _grad_mode.enabled):
            out = cls.forward(_UNRECORDED, a.data, b_data)
            return Tensor._make(out if type(out) is np.ndarray else np.asarray(out), None)
        node = object.__new__(cls)
        node.inputs, node.needs_input_grad = (a, b), _interned[a.requires_grad, b_needs]
        node.saved_tensors = ()
        node.seq = next(_sequence)
        node.out = out = cls.forward(node, a.data, b_data)
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        for observe in observers.forward:
            observe(node, out)
        return Tensor._make(out, node)

    def __repr__(self):
        return f"<{self.name} node>"


def call(op, *args, **params):
    """Run `op` on Tensors (recorded) or on plain arrays (forward only).

    Backward rules use this for the few ops that are not NumPy operators, so the same rule
    computes a gradient from arrays and, with create_graph=True, records one from Tensors.
    """
    for a in args:
        if isinstance(a, Tensor):
            return op.apply(*args, **params)
    return op.forward(_UNRECORDED, *args, **params)


def count_write(tensor):
    """Note an in-place change of tensor.data: a new version, and when it happened (creation
    numbers of its last writes), for the walk to compare with the nodes that saved it."""
    global _last_write
    tensor._version += 1
    _last_write = next(_sequence)
    if getattr(tensor, "_writes", None) is None:
        tensor._writes = collections.deque(maxlen=_WRITES_KEPT)
    tensor._writes.append(_last_write)


_WRITES_KEPT = 64  # enough to name the version a node saw; older writes only make it "at most"


# Callbacks of the study tools (trace, detect_anomaly); empty lists cost nothing.
# forward: fn(node, out) after a recorded op's forward;
# backward: fn(node, grad_of_output, input_grads) after each node's backward.
observers = types.SimpleNamespace(forward=[], backward=[])


# --------------------------------------------------------------------------- the walk

def topological_order(roots):
    """Every node reachable from `roots` through inputs that need a gradient, consumers first
    (decreasing creation number). The backward walk gets the same order from a heap."""
    seen, stack = set(roots), list(roots)
    while stack:
        node = stack.pop()
        for x, need in zip(node.inputs, node.needs_input_grad):
            if need and x.grad_fn is not None and x.grad_fn not in seen:
                seen.add(x.grad_fn)
                stack.append(x.grad_fn)
    return sorted(seen, key=lambda node: -node.seq)


def sum_to_shape(g, shape):
    """`g` (array or Tensor) summed over the axes that broadcasting added or stretched, so that
    it has `shape`: the one place where broadcasting is undone."""
    extra = g.ndim - len(shape)
    if extra < 0 or any(n != 1 and n != m for n, m in zip(shape, g.shape[extra:])):
        raise ValueError(f"a backward rule returned a gradient of shape {g.shape} for an input "
                         f"of shape {shape}: it must have the input's shape, or a shape the "
                         "input broadcasts to")
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and g.shape[i + extra] != 1)
    return (g.sum(axis=axes, keepdims=True) if axes else g).reshape(shape)


def _fit(g, data):
    """g with the shape and dtype of the input array `data`."""
    if g.shape != data.shape:
        g = sum_to_shape(g, data.shape)
    return g if g.dtype == data.dtype else g.astype(data.dtype)


def run_backward(roots, grads, retain_graph, create_graph, capture=None):
    """Back-propagate `grads` (arrays, or Tensors when create_graph) from the `roots` Tensors.

    Nodes wait in a heap keyed by creation number, so the newest node, whose consumers are all
    done, comes out first; its gradient is complete by then. Without `capture`, gradients
    accumulate into leaves' `.grad`; with `capture` (a dict from id(tensor) to tensor), the
    gradients of exactly those tensors are returned instead.
    """
    pending = {}  # node or leaf -> the sum of the gradients sent to it so far
    heap = []  # (-seq, node) for every node in `pending`
    results = None if capture is None else {}
    watched = {t.grad_fn: key for key, t in capture.items()} if capture else {}
    inputs, needs, input_grads = roots, (True,) * len(roots), grads
    plain = not create_graph and not observers.backward  # the rule needs no wrapping
    with set_grad_enabled(create_graph):
        while True:
            for x, need, gx in zip(inputs, needs, input_grads):  # send each input its share
                if not need or gx is None:
                    continue
                data = x.data
                if gx.shape != data.shape or gx.dtype is not data.dtype:
                    gx = _fit(gx, data)
                key = x if x.grad_fn is None else x.grad_fn
                if key in pending:
                    pending[key] = pending[key] + gx
                else:
                    pending[key] = gx
                    if key is not x:
                        heapq.heappush(heap, (-key.seq, key))
            if not heap:
                break
            node = heapq.heappop(heap)[1]  # the newest node: its gradient is complete
            g = pending.pop(node)
            if node.saved_tensors is None:
                raise RuntimeError(_FREED_MESSAGE.format(node.name))
            if node.seq < _last_write:  # something was changed in place since the node was made
                _check_versions(node)
            if node.hooks or node.retained is not None or node in watched:
                g = _see_output_gradient(node, g, create_graph, watched, results)
            input_grads = node.backward(node, g) if plain else _run_rule(node, g, create_graph)
            if type(input_grads) is not tuple or len(input_grads) != len(node.inputs):
                input_grads = _as_one_per_input(node, input_grads)
            if not retain_graph:
                node.saved_tensors = None
            inputs, needs = node.inputs, node.needs_input_grad
        _finish_leaves(pending, create_graph, capture, results)
    return results


def _run_rule(node, g, create_graph):
    """node.backward(g) as a tuple of one gradient (or None) per input; with create_graph, on
    Tensors and recorded."""
    if not create_graph:
        grads = node.backward(node, g)
    elif node.differentiable_backward:
        grads = node.backward(_TensorCtx(node), g)
    else:
        grads = node.backward(node, g.data)
        grads = tuple(None if r is None else
                      OnceDifferentiable.apply(g, *node.inputs, value=np.asarray(r),
                                               op_name=node.name)
                      for r in (grads if isinstance(grads, tuple) else (grads,)))
    grads = _as_one_per_input(node, grads)
    for observe in observers.backward:
        observe(node, g, grads)
    return grads


def _as_one_per_input(node, grads):
    """A rule's result as a tuple of one gradient per input (a single-input rule may return
    the gradient alone)."""
    grads = grads if type(grads) is tuple else (grads,)
    if len(grads) != len(node.inputs):
        raise RuntimeError(f"{node.name}.backward returned {len(grads)} gradients for "
                           f"{len(node.inputs)} inputs")
    return grads


_FREED_MESSAGE = ("Trying to backward through the graph a second time: the first backward "
                  "freed the graph (reached again at {}). Pass retain_graph=True to the first "
                  "backward() if you need to backward through the graph again.")


def _check_versions(node):
    """Raise if an input whose array the node saved was changed in place since: its gradient
    would silently use the new values."""
    saved = {id(a) for a in node.saved_tensors}
    for x in node.inputs:
        if isinstance(x, Tensor) and id(x.data) in saved:
            since = sum(seq > node.seq for seq in getattr(x, "_writes", ()))
            if since:
                at_most = "at most " if since == _WRITES_KEPT else ""
                raise RuntimeError(
                    f"one of the tensors needed for the gradient has been modified by an "
                    f"in-place operation: {node.name} saved a tensor of shape {x.shape} at "
                    f"version {at_most}{x._version - since}, it is now at version "
                    f"{x._version}. Call backward() before changing it (e.g. before "
                    "optimizer.step() or load_state_dict()).")


def _see_output_gradient(node, g, create_graph, watched, results):
    """The output's hooks (which may replace g), retain_grad (not within grad(), whose
    `results` is a dict), and capture by grad()."""
    if node.hooks:
        g = _run_hooks(node.hooks, g, create_graph)
    if node.retained is not None and results is None:
        # a copy: g flows on (into leaves' .grad too) and may be a read-only view
        _retain(node.retained(), g if create_graph else np.array(g), create_graph)
    if node in watched:
        results[watched[node]] = g
    return g


def _run_hooks(hooks, g, create_graph):
    """Hooks see Tensors; a hook returning a Tensor replaces the gradient."""
    for hook in hooks:
        result = hook(g if create_graph else Tensor._make(np.asarray(g), None))
        if result is not None:
            g = result if create_graph else Tensor(result).data
    return g


def _finish_leaves(pending, create_graph, capture, results):
    """Run the leaves' hooks, then hand out their gradients: to grad()'s results, else into
    `.grad`, never letting two `.grad` share memory nor hold a read-only view."""
    handed_out = set()
    for leaf, g in pending.items():
        if leaf._hooks:
            g = _run_hooks(leaf._hooks, g, create_graph)
        if results is not None:
            if id(leaf) in capture:
                results[id(leaf)] = g
        else:
            # a view (x.T + w hands w the gradient and x its transpose) may share memory
            if not create_graph and (type(g) is not np.ndarray or g.base is not None
                                     or id(g) in handed_out or not g.flags.writeable):
                g = np.array(g)
            handed_out.add(id(g))
            _retain(leaf, g, create_graph)


def _retain(tensor, g, create_graph):
    """Accumulate gradient g into tensor.grad (a Tensor)."""
    if tensor is None:
        return
    if tensor.grad is None:
        tensor.grad = g if create_graph else Tensor._make(np.asarray(g), None)
    elif create_graph or isinstance(g, Tensor):
        tensor.grad = tensor.grad + g
    else:
        tensor.grad = Tensor._make(tensor.grad.data + g, None)


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


# --------------------------------------------------------------------------- the front

def _root_gradient(output, gradient, create_graph, where):
    """The gradient to start from: ones for a single-element output, else `gradient`."""
    if not isinstance(output, Tensor):
        raise TypeError(f"{where}: expected a Tensor, got {type(output).__name__}")
    if not output.requires_grad:
        raise RuntimeError(f"{where}: the tensor does not require grad and has no grad_fn "
                           "(was it computed under no_grad(), or from inputs without "
                           "requires_grad=True?)")
    if gradient is None:
        if output.size != 1:
            raise RuntimeError(f"{where}: grad can be implicitly created only for outputs with "
                               f"one element, but the output has shape {output.shape}; pass "
                               "`gradient` (the same shape as the output)")
        g = np.ones(output.shape, dtype=output.dtype)
    else:
        g = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient)
        if g.shape != output.shape:
            raise ValueError(f"{where}: gradient has shape {g.shape} but the output has shape "
                             f"{output.shape}")
        if create_graph and isinstance(gradient, Tensor) and gradient.requires_grad:
            return gradient
        g = np.array(g, dtype=output.dtype)  # a copy: the caller's array never becomes a .grad
    return Tensor._make(g, None) if create_graph else g


def backward(output, gradient=None, retain_graph=False, create_graph=False):
    """Accumulate d(output)/d(leaf) into `.grad` of every leaf that requires grad."""
    g = _root_gradient(output, gradient, create_graph, "backward()")
    run_backward([output], [g], retain_graph or create_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of `outputs` with respect to `inputs`, as a tuple; `.grad` is left untouched.

    An input the outputs do not depend on raises, unless `allow_unused=True` (then its
    gradient is None).
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad(): {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    for x in inputs:
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise RuntimeError("grad(): every input must be a Tensor with requires_grad=True")
    roots = [_root_gradient(y, go, create_graph, "grad()") for y, go in zip(outputs, grad_outputs)]
    retain_graph = create_graph if retain_graph is None else retain_graph
    results = run_backward(outputs, roots, retain_graph, create_graph, {id(x): x for x in inputs})
    grads = []
    for i, x in enumerate(inputs):
        g = results.get(id(x))
        if g is None and not allow_unused:
            raise RuntimeError(f"grad(): input {i} (shape {x.shape}) was not used to compute "
                               "the outputs; pass allow_unused=True to get None for it")
        grads.append(g if g is None or isinstance(g, Tensor) else Tensor._make(np.array(g), None))
    return tuple(grads)


def register_hook(tensor, hook):
    """Run `hook(grad)` when tensor's gradient is computed; a returned Tensor replaces it."""
    if not tensor.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that does not require grad")
    if tensor.grad_fn is None:
        tensor._hooks = (tensor._hooks or []) + [hook]
    else:
        tensor.grad_fn.hooks = (tensor.grad_fn.hooks or []) + [hook]


def retain_grad(tensor):
    """Keep `.grad` on a non-leaf tensor after backward (leaves always keep theirs)."""
    if not tensor.requires_grad:
        raise RuntimeError("retain_grad() on a tensor that does not require grad")
    if tensor.grad_fn is not None:
        tensor.grad_fn.retained = weakref.ref(tensor)

"""The engine: grad mode, graph nodes (`Function`), the topological order and the backward walk.

A Tensor made by an op that needs a gradient points to the node that made it (`tensor.grad_fn`);
the node holds its input Tensors. `backward()` visits the nodes reachable from the output newest
first (a consumer is always newer than the nodes that produced its inputs), handing each node
the complete gradient of its output and collecting the gradients of its inputs.

Backward rules are written with NumPy operators and with ops called through `call`, which computes
on plain arrays and records on Tensors. So with `create_graph=True` the engine simply runs the same
rules on Tensors, and the backward pass becomes a graph that can be differentiated again.
"""
import functools
import heapq
import itertools
import threading
import weakref

import numpy as np

from .tensor import Tensor, to_constant

__all__ = ["Function", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "backward", "grad", "topological_order", "call"]


# --------------------------------------------------------------------------- grad mode

class _GradMode(threading.local):
    enabled = True  # the default for every thread


_grad_mode = _GradMode()


def is_grad_enabled():
    return _grad_mode.enabled


class set_grad_enabled:
    """Context manager and decorator that turns graph recording on or off (per thread)."""

    def __init__(self, mode=True):
        self.mode = bool(mode)
        self.saved = []

    def __enter__(self):
        self.saved.append(_grad_mode.enabled)
        _grad_mode.enabled = self.mode

    def __exit__(self, *exc):
        _grad_mode.enabled = self.saved.pop()

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(self.mode):
                return fn(*args, **kwargs)
        return wrapper


class _FixedMode(set_grad_enabled):
    """A set_grad_enabled whose mode is fixed by the class; usable as `@it` as well as `@it()`."""
    mode_of_class = True

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        if fn is None:
            return self
        self.__init__()
        return self(fn)

    def __init__(self, fn=None):
        super().__init__(self.mode_of_class)


class no_grad(_FixedMode):
    """`with no_grad():` (or `@no_grad` / `@no_grad()`): nothing inside records a graph."""
    mode_of_class = False


class enable_grad(_FixedMode):
    """`with enable_grad():` (or `@enable_grad`): record a graph again, e.g. inside no_grad."""
    mode_of_class = True


# --------------------------------------------------------------------------- nodes

class _Unrecorded:
    """The ctx an op's forward gets when nothing will be differentiated: saving is a no-op."""

    def save_for_backward(self, *arrays):
        pass


_UNRECORDED = _Unrecorded()


class Function:
    """Base of every op, built-in or user-defined; an instance is one node of the graph.

    Subclasses define `forward(ctx, *arrays, **params) -> array` and
    `backward(ctx, *grads) -> one gradient (or None) per positional input`, both static.
    `apply(*inputs, **params)` runs forward on the inputs' arrays and, when an input needs a
    gradient and grad mode is on, records the node: `ctx` *is* the node.

    `differentiable_backward = True` promises that `backward` uses only NumPy operators and
    `call(...)` of ops, so that it can run on Tensors when `create_graph=True`. A user op
    without it can be differentiated once; differentiating its gradient again raises.
    """

    differentiable_backward = False
    # What a recorded node holds: its inputs (Tensors or constants), which inputs need a
    # gradient, its output array, the arrays saved for backward (None once freed), the hooks
    # and retained-grad tensor of its output, and its creation number: a consumer is always
    # created after its producers, so decreasing `seq` is a topological order.
    # `__dict__` stays available for what an op keeps on ctx (ctx.axis = ...).
    __slots__ = ("inputs", "needs_input_grad", "out", "saved", "hooks", "retained", "seq",
                 "__dict__", "__weakref__")

    @property
    def name(self):
        return type(self).__name__

    def save_for_backward(self, *arrays):
        self.saved = arrays

    @property
    def saved_tensors(self):
        if self.saved is None:
            raise RuntimeError(_FREED_MESSAGE.format(self.name))
        return self.saved

    @staticmethod
    def forward(ctx, *arrays, **params):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **params):
        arrays = []
        needs = []
        for x in inputs:
            if isinstance(x, Tensor):
                arrays.append(x.data)
                needs.append(x.requires_grad)
            else:
                arrays.append(x if type(x) is float or type(x) is int else to_constant(x))
                needs.append(False)
        if True in needs and _grad_mode.enabled:
            node = _new(cls)
            node.inputs = inputs
            node.needs_input_grad = _interned.setdefault(needs := tuple(needs), needs)
            node.saved = ()
            node.hooks = node.retained = None
            node.seq = next(_sequence)
            out = cls.forward(node, *arrays, **params)
            node.out = out  # as forward made it (a NumPy scalar for some 0-d results), so
            if type(out) is not np.ndarray:  # saved_tensors can recognise it by identity
                out = np.asarray(out)
            if observers.forward:
                for observe in observers.forward:
                    observe(node, out)
            return _make_tensor(out, node)
        out = cls.forward(_UNRECORDED, *arrays, **params)
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        return _make_tensor(out, None)

    def __repr__(self):
        return f"<{self.name} node>"


_sequence = itertools.count()
# One shared tuple per needs_input_grad pattern: a node then allocates one object less, which
# keeps Python's cyclic GC from running as often while a long graph grows.
_interned = {}
_new = object.__new__
_make_tensor = Tensor._make


def call(op, *args, **params):
    """Run `op` on Tensors (recorded) or on plain arrays (forward only).

    Backward rules use this for the few ops that are not NumPy operators, so the same rule
    computes a gradient from arrays and, with create_graph=True, records one from Tensors.
    """
    for a in args:
        if isinstance(a, Tensor):
            return op.apply(*args, **params)
    return op.forward(_UNRECORDED, *args, **params)


class _Observers:
    """Callbacks of the study tools (trace, detect_anomaly). Each list is checked once per op,
    so they cost nothing while empty.

    forward: fn(node, out) after a recorded op's forward;
    backward: fn(node, grad_of_output, input_grads) after each node's backward.
    """
    forward = []
    backward = []


observers = _Observers()

_FREED_MESSAGE = ("Trying to backward through the graph a second time: the first backward "
                  "freed the graph (reached again at {}). Pass retain_graph=True to the first "
                  "backward() if you need to backward through the graph again.")


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


def fit_gradient(g, x):
    """Sum `g` over the axes broadcasting added or stretched (or broadcast it out) to x's shape,
    in x's dtype: the one place where broadcasting is undone."""
    shape = x.shape
    if g.shape != shape:
        extra = g.ndim - len(shape)
        if extra >= 0 and all(n == 1 or n == m for n, m in zip(shape, g.shape[extra:])):
            axes = tuple(range(extra)) + tuple(
                i + extra for i, n in enumerate(shape) if n == 1 and g.shape[i + extra] != 1)
            if axes:
                g = g.sum(axis=axes, keepdims=True)
            g = g.reshape(shape)
        else:
            try:
                np.broadcast_shapes(g.shape, shape)
            except ValueError:
                raise ValueError(f"gradient of shape {g.shape} does not fit an input of shape "
                                 f"{shape}") from None
            g = call(ops.BroadcastTo, g, shape=np.broadcast_shapes(g.shape, shape))
            return fit_gradient(g, x)
    if g.dtype != x.dtype:
        g = g.astype(x.dtype)
    return g


class _TensorCtx:
    """What a backward rule sees as `ctx` when create_graph=True: saved arrays become the
    Tensors they came from, so the gradient is recorded as a function of the inputs."""

    def __init__(self, node):
        self._node = node
        saved = node.saved_tensors
        output = None
        tensors = []
        inputs = node.inputs
        for k, a in enumerate(saved):
            # Look first at the input in the same place (ops save inputs in order): in
            # x * x.detach() or x * np.asarray(x) two inputs share one array, and only the
            # place says which one was saved.
            for x in ((inputs[k],) + inputs if k < len(inputs) else inputs):
                if x is a:  # a constant input
                    tensors.append(a)
                    break
                if isinstance(x, Tensor) and x.data is a:
                    tensors.append(x)
                    break
            else:
                if a is node.out:  # the node's own output, re-attached to the node
                    if output is None:
                        output = Tensor._make(np.asarray(a), node)
                    tensors.append(output)
                else:
                    tensors.append(a)  # a constant such as a mask
        self.saved_tensors = tuple(tensors)

    def __getattr__(self, name):
        return getattr(self._node, name)


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


def _run_backward(node, g, create_graph):
    """Call node.backward; a tuple of one gradient (or None) per input."""
    if create_graph:
        if node.differentiable_backward:
            grads = node.backward(_TensorCtx(node), g)
        else:
            raw = node.backward(node, g.data)
            raw = raw if isinstance(raw, tuple) else (raw,)
            grads = tuple(None if r is None else
                          OnceDifferentiable.apply(g, *node.inputs, value=np.asarray(r),
                                                   op_name=node.name)
                          for r in raw)
    else:
        grads = node.backward(node, g)
    if type(grads) is not tuple:
        grads = (grads,)
    if len(grads) != len(node.inputs):
        _wrong_count(node, grads)
    for observe in observers.backward:
        observe(node, g, grads)
    return grads


def _wrong_count(node, grads):
    raise RuntimeError(f"{node.name}.backward returned {len(grads)} gradients for "
                       f"{len(node.inputs)} inputs")


def _as_gradient(g, create_graph):
    """Hooks see Tensors; the walk keeps arrays unless it records the backward pass."""
    return g if create_graph else Tensor._make(np.asarray(g), None)


def _run_hooks(hooks, g, create_graph):
    for hook in hooks:
        result = hook(_as_gradient(g, create_graph))
        if result is not None:
            g = result if create_graph else Tensor(result).data
    return g


def _accumulate(old, new):
    return new if old is None else old + new


def _see_output_gradient(node, g, create_graph, capture, captured_nodes, results):
    """What happens to a node's output gradient before its backward: the output's hooks (which
    may replace it), retain_grad, and capture by grad(). Returns the gradient to use."""
    if node.hooks:
        g = _run_hooks(node.hooks, g, create_graph)
    if node.retained is not None and capture is None:
        # a copy: g flows on (into leaves' .grad too) and may be a read-only view
        _retain(node.retained(), g if create_graph else np.array(g), create_graph)
    if node in captured_nodes:
        results[captured_nodes[node]] = g
    return g


def run_backward(roots, grads, retain_graph, create_graph, capture=None):
    """Back-propagate `grads` (arrays, or Tensors when create_graph) from the `roots` Tensors.

    Nodes wait in a heap keyed by creation number, so the newest node, whose consumers are all
    done, comes out first; its gradient is complete by then. Without `capture`, gradients
    accumulate into leaves' `.grad`; with `capture` (a dict from id(tensor) to tensor), the
    gradients of exactly those tensors are returned instead.
    """
    pending = {}     # node -> gradient of its output, summed over the consumers done so far
    heap = []        # (-seq, node) for every node in `pending`
    leaf_grads = {}  # id(leaf) -> [leaf, gradient]
    for root, g in zip(roots, grads):
        if root.grad_fn is None:
            entry = leaf_grads.setdefault(id(root), [root, None])
            entry[1] = _accumulate(entry[1], g)
        elif root.grad_fn in pending:
            pending[root.grad_fn] = pending[root.grad_fn] + g
        else:
            pending[root.grad_fn] = g
            heapq.heappush(heap, (-root.grad_fn.seq, root.grad_fn))
    captured_nodes = {}
    if capture:
        captured_nodes = {t.grad_fn: i for i, t in capture.items() if t.grad_fn is not None}
    results = {}
    plain = not create_graph and not observers.backward

    push, pop = heapq.heappush, heapq.heappop
    previous_mode, _grad_mode.enabled = _grad_mode.enabled, create_graph
    try:
        while heap:
            node = pop(heap)[1]
            g = pending.pop(node)
            if node.saved is None:
                raise RuntimeError(_FREED_MESSAGE.format(node.name))
            if node.hooks or node.retained is not None or captured_nodes:
                g = _see_output_gradient(node, g, create_graph, capture, captured_nodes, results)
            if plain:
                input_grads = node.backward(node, g)
                if type(input_grads) is not tuple:
                    input_grads = (input_grads,)
                if len(input_grads) != len(node.inputs):
                    _wrong_count(node, input_grads)
            else:
                input_grads = _run_backward(node, g, create_graph)
            if not retain_graph:
                node.saved = None
            for x, need, gx in zip(node.inputs, node.needs_input_grad, input_grads):
                if not need or gx is None:
                    continue
                data = x.data
                if gx.shape != data.shape or gx.dtype is not data.dtype:
                    gx = fit_gradient(gx, x)
                producer = x.grad_fn
                if producer is None:
                    entry = leaf_grads.get(id(x))
                    if entry is None:
                        leaf_grads[id(x)] = [x, gx]
                    else:
                        entry[1] = entry[1] + gx
                elif producer in pending:
                    pending[producer] = pending[producer] + gx
                else:
                    pending[producer] = gx
                    push(heap, (-producer.seq, producer))

        handed_out = set()
        for key, (leaf, g) in leaf_grads.items():
            if leaf._hooks:
                g = _run_hooks(leaf._hooks, g, create_graph)
            if capture is not None:
                if key in capture:
                    results[key] = g
                continue
            if not create_graph and (type(g) is not np.ndarray or id(g) in handed_out
                                     or not g.flags.writeable):
                g = np.array(g)  # never let two .grad share memory, nor hold a read-only view
            handed_out.add(id(g))
            _retain(leaf, g, create_graph)
    finally:
        _grad_mode.enabled = previous_mode
    return results


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


def _root_gradient(output, gradient, create_graph, where):
    """The gradient to start from: ones for a single-element output, else `gradient`."""
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
        g = np.array(g, dtype=output.dtype)  # a copy: the caller's array never becomes a .grad
        if create_graph and isinstance(gradient, Tensor) and gradient.requires_grad:
            return gradient
    return Tensor._make(g, None) if create_graph else g


def _check_differentiable(output, where):
    if not isinstance(output, Tensor):
        raise TypeError(f"{where}: expected a Tensor, got {type(output).__name__}")
    if not output.requires_grad:
        raise RuntimeError(f"{where}: the tensor does not require grad and has no grad_fn "
                           "(was it computed under no_grad(), or from inputs without "
                           "requires_grad=True?)")


def backward(output, gradient=None, retain_graph=False, create_graph=False):
    """Accumulate d(output)/d(leaf) into `.grad` of every leaf that requires grad."""
    _check_differentiable(output, "backward()")
    g = _root_gradient(output, gradient, create_graph, "backward()")
    run_backward([output], [g], retain_graph or create_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of `outputs` with respect to `inputs`, as a tuple; `.grad` is left untouched.

    An input the outputs do not depend on raises, unless `allow_unused=True` (then its
    gradient is None).
    """
    single_output = isinstance(outputs, Tensor)
    outputs = [outputs] if single_output else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad(): {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    for x in inputs:
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise RuntimeError("grad(): every input must be a Tensor with requires_grad=True")
    for y in outputs:
        _check_differentiable(y, "grad()")
    if retain_graph is None:
        retain_graph = create_graph
    roots = [_root_gradient(y, go, create_graph, "grad()") for y, go in zip(outputs, grad_outputs)]
    capture = {id(x): x for x in inputs}
    results = run_backward(outputs, roots, retain_graph, create_graph, capture)
    grads = []
    for i, x in enumerate(inputs):
        g = results.get(id(x))
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"grad(): input {i} (shape {x.shape}) was not used to compute "
                                   "the outputs; pass allow_unused=True to get None for it")
            grads.append(None)
        else:
            grads.append(g if isinstance(g, Tensor) else Tensor._make(np.array(g), None))
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


from . import ops  # noqa: E402  (ops builds on Function and call, defined above)

"""The backward walk, and its front: `backward`, `grad`, hooks and `retain_grad`.

A Tensor made by an op that needs a gradient points to the node that made it (`tensor.grad_fn`,
a `Function`: function.py); the node holds its input Tensors. `backward()` visits the nodes
reachable from the output newest first (a consumer is always newer than the nodes that produced
its inputs), handing each node the complete gradient of its output and sending each input its
share, summed to its shape.

Backward rules are written with NumPy operators and with ops called through `call`, which computes
on plain arrays and records on Tensors. So with `create_graph=True` the engine simply runs the same
rules on Tensors, and the backward pass becomes a graph that can be differentiated again.
"""
import heapq
import weakref

import numpy as np

from . import function
from .function import observers
from .grad_mode import set_grad_enabled
from .tensor import Tensor, writes

__all__ = ["backward", "grad", "topological_order", "sum_to_shape", "register_hook",
           "retain_grad"]


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
            if node.seq < writes.last:  # an array was changed in place since
                function.check_versions(node)
            if node.hooks is not None or node.retained is not None or node in watched:
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
    grads = _as_one_per_input(node, function.backward_on_tensors(node, g) if create_graph
                              else node.backward(node, g))
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


# The Tensor methods that hand over to the walk (`t.backward()` is backward(t)).
Tensor.backward = backward
Tensor.retain_grad = retain_grad
Tensor.register_hook = register_hook

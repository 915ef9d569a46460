"""A record of the backward walk, node by node:

    with tg.trace(params=model.named_parameters()) as t:
        loss.backward()
    print(t)              # an aligned table, one row per node in the order backward visited it
    t.to_records()        # the same rows as plain dicts

Each row: the op, its input shapes (named where they are parameters; "const" marks an operand
that is not a Tensor), its output shape, the norm of the gradient it received, and the norm of
the gradient it sent to each input (summed back to that input's shape; "-" for an input that
needs none). Norms are Frobenius norms.
"""
import numpy as np

from ..autograd import sum_to_shape
from ..function import observers
from ..tensor import Tensor
from .viz import parameter_names

__all__ = ["trace", "BackwardTrace"]


def _array(x):
    """The array of a gradient: the walk hands over arrays, or Tensors when create_graph=True."""
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _norm(array):
    return float(np.linalg.norm(np.asarray(array, dtype=np.float64).ravel()))


def _copy(record):
    return {key: list(value) if isinstance(value, list) else value
            for key, value in record.items()}


class BackwardTrace:
    """The nodes backward visits while the trace is active (see `trace`); a sequence of dicts
    with keys step, op, input_shapes, input_names, output_shape, grad_norm, input_grad_norms."""

    def __init__(self, params=None):
        self._names = parameter_names(params)
        self._records = []

    def __enter__(self):
        observers.backward.append(self._observe)
        return self

    def __exit__(self, *exc):
        observers.backward.remove(self._observe)
        return False

    def _observe(self, node, grad_output, input_grads):
        norms = []
        for x, need, g in zip(node.inputs, node.needs_input_grad, input_grads):
            if not need or g is None:
                norms.append(None)
                continue
            g = _array(g)
            if g.shape != x.shape:  # what the input receives: the engine sums it to its shape
                g = sum_to_shape(g, x.shape)
            norms.append(_norm(g))
        self._records.append({
            "step": len(self._records),
            "op": node.name,
            "input_shapes": [tuple(np.shape(_array(x))) for x in node.inputs],
            "input_names": [self._names.get(id(x)) if isinstance(x, Tensor) else "const"
                            for x in node.inputs],
            "output_shape": tuple(np.shape(node.out)),
            "grad_norm": _norm(_array(grad_output)),
            "input_grad_norms": norms,
        })

    def to_records(self):
        """The rows as a list of plain dicts (copies: changing them changes nothing here)."""
        return [_copy(r) for r in self._records]

    def __len__(self):
        return len(self._records)

    def __iter__(self):
        return map(_copy, self._records)

    def __getitem__(self, step):
        return _copy(self._records[step])

    def __str__(self):
        header = ("step", "op", "inputs", "output", "grad norm", "input grad norms")
        rows = [header]
        for r in self._records:
            inputs = ", ".join(str(shape) if name is None else f"{name} {shape}"
                               for name, shape in zip(r["input_names"], r["input_shapes"]))
            sent = ", ".join("-" if n is None else f"{n:.4g}" for n in r["input_grad_norms"])
            rows.append((str(r["step"]), r["op"], inputs, str(r["output_shape"]),
                         f"{r['grad_norm']:.4g}", sent))
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        return "\n".join("  ".join(cell.rjust(w) if i in (0, 4) else cell.ljust(w)
                                   for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
                         for row in rows)

    def __repr__(self):
        return f"<BackwardTrace of {len(self)} nodes>"


def trace(params=None):
    """`with tg.trace() as t: loss.backward()` records every node the backward walk visits, in
    order (see the module docstring). `params`, as for `tg.viz.to_dot`, names parameter inputs."""
    return BackwardTrace(params)

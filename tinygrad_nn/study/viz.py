"""Pictures of the graph that made a tensor: Graphviz DOT text (`to_dot`) and images (`render`).

    print(tg.viz.to_dot(loss, params=model.named_parameters(), show_grads=True))
    tg.viz.render(loss, "graph.svg", params=model.named_parameters())

One box per op with its name and output shape; leaves labelled with their parameter name where
known, other inputs and constants with their shape; edges run from inputs to the op that used
them. The walk is iterative, so any depth works; a graph of more than `max_nodes` ops is cut to
the `max_nodes` ops nearest the output, and one "… k more ops" node stands for the rest.
A picture in pixels (.png, .jpg, ...) is kept small enough to open and draw quickly: at most
`RASTER_MAX_PIXELS` on a side and `RASTER_MAX_OPS` op boxes; a larger graph belongs in an SVG.
"""
import os
import shutil
import subprocess

import numpy as np

from ..autograd import topological_order
from ..tensor import Tensor

__all__ = ["to_dot", "render", "parameter_names"]

RASTER_FORMATS = {"png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp", "ico"}
RASTER_MAX_OPS = 100
RASTER_MAX_PIXELS = 8192  # on the longer side; Graphviz shrinks the drawing to fit
_RASTER_DPI = 96

_NO_GRAPHVIZ = ("render() needs Graphviz's `dot` program to draw {fmt!r} files, and neither the "
                "`graphviz` Python package nor `dot` on PATH was found: install Graphviz "
                "(https://graphviz.org/download/, e.g. `apt install graphviz` or `brew install "
                "graphviz`), optionally with `pip install graphviz`; or save a .dot file, or "
                "use to_dot(), which need neither")
_NO_DOT = ("render() found the `graphviz` Python package but not Graphviz's `dot` program it "
           "runs: install Graphviz (https://graphviz.org/download/, e.g. `apt install graphviz` "
           "or `brew install graphviz`)")


def parameter_names(params):
    """{id(tensor): name} from a dict name -> Tensor, an iterable of (name, Tensor) pairs such as
    `module.named_parameters()`, or a module itself (anything with `named_parameters()`)."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        params = params.named_parameters()
    pairs = params.items() if isinstance(params, dict) else params
    return {id(tensor): name for name, tensor in pairs}


def _quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape(array):
    return str(tuple(np.shape(array)))


def _norm(array):
    return float(np.linalg.norm(np.asarray(array, dtype=np.float64).ravel()))


def to_dot(tensor, params=None, show_grads=False, max_nodes=500):
    """Graphviz DOT text of the graph that made `tensor`.

    params: names for leaves (see `parameter_names`). show_grads: add the norm of each leaf's
    `.grad` (call after backward). max_nodes: at most this many op boxes, the newest ones (those
    nearest the output); the older ops are summarised by one node that names how many there are.
    """
    return _to_dot(tensor, params, show_grads, max_nodes)[0]


class _DotLines:
    """The lines of a DOT graph being written: leaves declared on first sight (a leaf used twice
    is one box), constants, and op boxes with an arrow from each input."""

    def __init__(self, names, show_grads, graph_attributes):
        self.names, self.show_grads = names, show_grads
        self.lines = ["digraph autograd {", '  node [fontname="Helvetica", fontsize=10];']
        if graph_attributes:
            self.lines.append(f"  graph [{graph_attributes}];")
        self.leaf_ids, self.constants = {}, 0

    def leaf(self, x):
        """The id of leaf tensor x's box."""
        if id(x) not in self.leaf_ids:
            self.leaf_ids[id(x)] = f"leaf{len(self.leaf_ids)}"
            label = f"{self.names.get(id(x), 'leaf' if x.requires_grad else 'input')}\n"
            label += _shape(x.data)
            if self.show_grads and x.requires_grad:
                label += "\nno grad" if x.grad is None else f"\ngrad norm {_norm(x.grad.data):.4g}"
            fill = "lightblue" if x.requires_grad else "white"
            self.lines.append(f"  {self.leaf_ids[id(x)]} [label={_quote(label)}, shape=box, "
                              f'style="rounded,filled", fillcolor={fill}];')
        return self.leaf_ids[id(x)]

    def constant(self, x):
        """The id of a new box for a constant input (a number, or an array's shape)."""
        name, self.constants = f"const{self.constants}", self.constants + 1
        label = str(x) if np.ndim(x) == 0 else f"const\n{_shape(x)}"
        self.lines.append(f"  {name} [label={_quote(label)}, shape=plaintext, fontcolor=gray40];")
        return name

    def op(self, node, name, highlighted):
        """node's box, named `name`."""
        look = "peripheries=2, fillcolor=gold" if highlighted else "fillcolor=lightgray"
        label = f"{node.name}\n{_shape(node.out)}"
        self.lines.append(f"  {name} [label={_quote(label)}, shape=box, style=filled, {look}];")


def _to_dot(tensor, params, show_grads, max_nodes, graph_attributes=""):
    """(to_dot's text, with `graph_attributes` added to the graph, and the number of op boxes
    drawn)."""
    ops = topological_order([tensor.grad_fn]) if tensor.grad_fn is not None else []
    drawn = ops[:max_nodes]
    op_ids = {node: f"op{i}" for i, node in enumerate(drawn)}
    dot = _DotLines(parameter_names(params), show_grads, graph_attributes)
    if not ops:
        dot.leaf(tensor)
    cut = False
    for node in drawn:
        dot.op(node, op_ids[node], node is tensor.grad_fn)
        sources = []
        for x in node.inputs:
            if not isinstance(x, Tensor):
                sources.append(dot.constant(x))
            elif x.grad_fn is None:
                sources.append(dot.leaf(x))
            elif x.grad_fn in op_ids:
                sources.append(op_ids[x.grad_fn])
            elif "more" not in sources:  # an input made by an op that was cut off
                sources.append("more")
                cut = True
        dot.lines += [f"  {source} -> {op_ids[node]};" for source in sources]
    if cut:
        dot.lines.append(f"  more [label={_quote(f'… {len(ops) - len(drawn)} more ops')}, "
                         "shape=box, style=dashed];")
    return "\n".join(dot.lines + ["}"]) + "\n", len(drawn)


def render(tensor, path, params=None, show_grads=False, max_nodes=500):
    """Draw the graph of `tensor` into `path`, in the format its suffix names (.svg, .png, .pdf,
    ...; .dot or .gv writes the DOT text). Uses the `graphviz` package if importable, else the
    `dot` program; raises RuntimeError naming what to install if neither is there.

    A picture in pixels is at most RASTER_MAX_PIXELS on its longer side (shrunk to fit); one
    that would hold more than RASTER_MAX_OPS op boxes raises ValueError, before anything is
    drawn or written, saying to use .svg or a smaller max_nodes."""
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1][1:].lower()
    if not fmt:
        raise ValueError(f"render: {path!r} has no suffix to tell the format (.svg, .png, .pdf)")
    raster = fmt in RASTER_FORMATS
    inches = RASTER_MAX_PIXELS / _RASTER_DPI
    dot, drawn = _to_dot(tensor, params, show_grads, max_nodes,
                         f'size="{inches:.4g},{inches:.4g}", dpi={_RASTER_DPI}' if raster else "")
    if raster and drawn > RASTER_MAX_OPS:
        raise ValueError(
            f"render: a .{fmt} picture of {drawn} ops (more than {RASTER_MAX_OPS}) would have "
            f"text too small to read once shrunk to {RASTER_MAX_PIXELS} pixels on a side. "
            f"Save it as .svg instead ({path!r} -> "
            f"{os.path.splitext(path)[0] + '.svg'!r}: zoomable, any size, opens in a browser), "
            f"or pass max_nodes={RASTER_MAX_OPS} to draw only the ops nearest the output")
    if fmt in ("dot", "gv"):
        with open(path, "w", encoding="utf-8") as f:
            f.write(dot)
        return path
    picture = _run_graphviz(dot, fmt)
    with open(path, "wb") as f:
        f.write(picture)
    return path


def _run_graphviz(dot, fmt):
    """The bytes of `dot` drawn in format `fmt`."""
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is not None:
        try:
            return graphviz.Source(dot).pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            raise RuntimeError(_NO_DOT) from None
    program = shutil.which("dot")
    if program is None:
        raise RuntimeError(_NO_GRAPHVIZ.format(fmt=fmt))
    done = subprocess.run([program, f"-T{fmt}"], input=dot.encode("utf-8"), capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout

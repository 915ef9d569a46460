"""tg.viz: the DOT text of a graph (nodes, labels, edges, summaries) and render's backends."""
import re
import sys
import types

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import viz

NODE = re.compile(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"(.*)\];$')
EDGE = re.compile(r"^\s*(\w+) -> (\w+);$")


def parse_dot(text):
    """({node id: label lines}, [(source, target) edges]) of to_dot's output."""
    lines = text.strip().splitlines()
    assert lines[0] == "digraph autograd {" and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if (m := NODE.match(line)):
            assert m.group(1) not in nodes, f"node {m.group(1)} declared twice"
            nodes[m.group(1)] = m.group(2).split("\\n")
        elif (m := EDGE.match(line)):
            edges.append((m.group(1), m.group(2)))
    for source, target in edges:
        assert source in nodes and target in nodes, (source, target)
    return nodes, edges


def two_layer_network():
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((5, 2)))
    params = {"w1": tg.Tensor(rng.standard_normal((2, 3)), requires_grad=True),
              "b1": tg.zeros(3, requires_grad=True),
              "w2": tg.Tensor(rng.standard_normal((3, 1)), requires_grad=True)}
    hidden = (x @ params["w1"] + params["b1"]).relu()
    loss = ((hidden @ params["w2"]).sigmoid() ** 2).mean()
    return loss, params


def by_label(nodes, first_line):
    return [node for node, label in nodes.items() if label[0] == first_line]


def test_nodes_edges_and_names_of_a_two_layer_network():
    loss, params = two_layer_network()
    nodes, edges = parse_dot(viz.to_dot(loss, params=params))
    ops = [label[0] for node, label in nodes.items() if node.startswith("op")]
    assert sorted(ops) == sorted(["MatMul", "Add", "Relu", "MatMul", "Sigmoid", "Pow", "Mean"])
    # 7 ops, 3 parameters, the data input, the constant exponent 2
    assert len(nodes) == 7 + 3 + 1 + 1
    (mean,) = by_label(nodes, "Mean")
    assert nodes[mean][1] == "()"
    (w1,), (b1,), (w2,) = by_label(nodes, "w1"), by_label(nodes, "b1"), by_label(nodes, "w2")
    assert nodes[w1][1] == "(2, 3)" and nodes[b1][1] == "(3,)"
    (data,) = by_label(nodes, "input")
    assert nodes[data][1] == "(5, 2)"
    first_matmul = next(t for s, t in edges if s == w1)
    second_matmul = next(t for s, t in edges if s == w2)
    (add,), (relu,), (sigmoid,), (pow_,) = (by_label(nodes, name)
                                            for name in ("Add", "Relu", "Sigmoid", "Pow"))
    expected = {(data, first_matmul), (w1, first_matmul), (first_matmul, add), (b1, add),
                (add, relu), (relu, second_matmul), (w2, second_matmul),
                (second_matmul, sigmoid), (sigmoid, pow_), (pow_, mean)}
    assert expected <= set(edges)
    assert len(edges) == len(expected) + 1  # and the constant 2 into Pow
    assert nodes[first_matmul] == ["MatMul", "(5, 3)"]


@pytest.mark.parametrize("form", ["dict", "pairs", "module"])
def test_params_may_be_a_dict_pairs_or_a_module(form):
    loss, params = two_layer_network()
    if form == "pairs":
        given = iter(params.items())
    elif form == "module":
        given = types.SimpleNamespace(named_parameters=lambda: iter(params.items()))
    else:
        given = params
    labels = {label[0] for label in parse_dot(viz.to_dot(loss, params=given))[0].values()}
    assert {"w1", "b1", "w2"} <= labels


def test_names_from_a_real_module():
    model = tg.nn.Sequential(tg.nn.Dense(2, 3), tg.nn.ReLU(), tg.nn.Dense(3, 1))
    out = model(tg.Tensor(np.ones((4, 2)))).sum()
    labels = {label[0] for label in parse_dot(viz.to_dot(out, params=model))[0].values()}
    assert {name for name, _ in model.named_parameters()} <= labels


def test_unnamed_leaves_and_a_leaf_used_twice():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    nodes, edges = parse_dot(viz.to_dot(x * x))
    (leaf,) = by_label(nodes, "leaf")
    (mul,) = by_label(nodes, "Mul")
    assert edges == [(leaf, mul), (leaf, mul)]


def test_show_grads_gives_the_norm_of_each_leaf_gradient():
    loss, params = two_layer_network()
    nodes, _ = parse_dot(viz.to_dot(loss, params=params, show_grads=True))
    assert all(label[2] == "no grad" for label in nodes.values() if label[0] in params)
    loss.backward()
    nodes, _ = parse_dot(viz.to_dot(loss, params=params, show_grads=True))
    for name, tensor in params.items():
        (node,) = by_label(nodes, name)
        shown = float(nodes[node][2].removeprefix("grad norm "))
        assert shown == pytest.approx(np.linalg.norm(tensor.grad.data), rel=1e-3)


def test_a_leaf_alone_is_one_node():
    nodes, edges = parse_dot(viz.to_dot(tg.Tensor([1.0, 2.0])))
    assert list(nodes.values()) == [["input", "(2,)"]] and edges == []


def test_a_20000_node_chain_is_drawn_without_recursion_and_summarised():
    x = tg.Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y * 1.0
    text = viz.to_dot(y, max_nodes=500)  # far deeper than Python's recursion limit
    nodes, edges = parse_dot(text)
    op_nodes = [n for n in nodes if n.startswith("op")]
    assert len(op_nodes) == 500
    assert nodes["more"] == ["… 19500 more ops"]
    assert ("more", op_nodes[-1]) in edges
    assert len(text) < 100_000


def without_backends(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # `import graphviz` raises ImportError
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)


def test_render_without_graphviz_names_what_to_install(monkeypatch, tmp_path):
    without_backends(monkeypatch)
    loss, _ = two_layer_network()
    with pytest.raises(RuntimeError) as info:
        viz.render(loss, tmp_path / "graph.svg")
    assert "pip install graphviz" in str(info.value) and "`dot`" in str(info.value)
    assert not (tmp_path / "graph.svg").exists()


def test_render_with_the_python_package_but_no_dot_program(monkeypatch, tmp_path):
    class ExecutableNotFound(RuntimeError):
        pass

    class Source:
        def __init__(self, text):
            pass

        def pipe(self, format):
            raise ExecutableNotFound("failed to execute 'dot'")

    fake = types.SimpleNamespace(Source=Source, ExecutableNotFound=ExecutableNotFound)
    monkeypatch.setitem(sys.modules, "graphviz", fake)
    with pytest.raises(RuntimeError, match="`dot` program"):
        viz.render(two_layer_network()[0], tmp_path / "graph.png")


def capture_graphviz(monkeypatch):
    """A fake `graphviz` package that records the DOT text and format it is asked to draw."""
    calls = []

    class Source:
        def __init__(self, text):
            calls.append(text)

        def pipe(self, format):
            calls.append(format)
            return b"picture"

    monkeypatch.setitem(sys.modules, "graphviz",
                        types.SimpleNamespace(Source=Source, ExecutableNotFound=OSError))
    return calls


def test_render_uses_the_python_package_with_the_suffix_as_format(monkeypatch, tmp_path):
    calls = capture_graphviz(monkeypatch)
    loss, params = two_layer_network()
    assert viz.render(loss, tmp_path / "graph.SVG", params=params) == str(tmp_path / "graph.SVG")
    assert (tmp_path / "graph.SVG").read_bytes() == b"picture"
    assert calls == [viz.to_dot(loss, params=params), "svg"]


def test_render_falls_back_to_the_dot_program(monkeypatch, tmp_path):
    program = tmp_path / "dot"
    program.write_text('#!/bin/sh\necho "format $1"\ncat\n')
    program.chmod(0o755)
    monkeypatch.setitem(sys.modules, "graphviz", None)
    monkeypatch.setattr(viz.shutil, "which", lambda name: str(program))
    loss, _ = two_layer_network()
    viz.render(loss, tmp_path / "graph.pdf")
    written = (tmp_path / "graph.pdf").read_text()
    assert written.startswith("format -Tpdf\ndigraph autograd {")


def test_render_dot_text_needs_no_backend_and_a_suffix_is_required(monkeypatch, tmp_path):
    without_backends(monkeypatch)
    loss, _ = two_layer_network()
    viz.render(loss, tmp_path / "graph.dot")
    assert (tmp_path / "graph.dot").read_text() == viz.to_dot(loss)
    with pytest.raises(ValueError, match="suffix"):
        viz.render(loss, tmp_path / "graph")


def chain(length):
    x = tg.Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(length):
        y = y * 1.0
    return y


@pytest.mark.parametrize("name", ["graph.png", "graph.JPG"])
def test_a_picture_in_pixels_of_a_huge_graph_is_refused_with_a_pointer_to_svg(monkeypatch,
                                                                              tmp_path, name):
    calls = capture_graphviz(monkeypatch)
    with pytest.raises(ValueError) as info:
        viz.render(chain(viz.RASTER_MAX_OPS + 1), tmp_path / name)
    message = str(info.value)
    assert f"{viz.RASTER_MAX_OPS + 1} ops" in message and str(tmp_path / name) in message
    assert ".svg" in message and f"max_nodes={viz.RASTER_MAX_OPS}" in message
    assert calls == [] and list(tmp_path.iterdir()) == []


def test_a_picture_in_pixels_is_capped_in_size(monkeypatch, tmp_path):
    calls = capture_graphviz(monkeypatch)
    y = chain(viz.RASTER_MAX_OPS + 50)
    viz.render(y, tmp_path / "graph.png", max_nodes=viz.RASTER_MAX_OPS)
    text, fmt = calls
    inches = viz.RASTER_MAX_PIXELS / 96
    assert f'  graph [size="{inches:.4g},{inches:.4g}", dpi=96];' in text.splitlines()
    assert fmt == "png"
    nodes, _ = parse_dot(text)
    assert sum(node.startswith("op") for node in nodes) == viz.RASTER_MAX_OPS


def test_vector_formats_take_any_size_unchanged(monkeypatch, tmp_path):
    calls = capture_graphviz(monkeypatch)
    y = chain(viz.RASTER_MAX_OPS + 50)
    viz.render(y, tmp_path / "graph.svg")
    assert calls == [viz.to_dot(y), "svg"]
    assert "graph [" not in calls[0]


@pytest.mark.skipif(viz.shutil.which("dot") is None, reason="needs Graphviz's dot program")
def test_the_largest_png_allowed_fits_the_cap(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    path = viz.render(chain(viz.RASTER_MAX_OPS), tmp_path / "graph.png")
    header = open(path, "rb").read(24)
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert max(width, height) <= viz.RASTER_MAX_PIXELS

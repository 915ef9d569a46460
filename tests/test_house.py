"""The shape of the package, checked: imports run one way (no cycle, counting imports inside
functions and at the bottom of a module) and no function is over 50 lines. (NumPy's private
modules: tests/test_numpy_range.py.)"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tinygrad_nn"
MAX_FUNCTION_LINES = 50


def modules():
    """{dotted module name: parsed source} for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = (path, ast.parse(path.read_text(encoding="utf-8")))
    return found


def imported_modules(name, path, tree, known):
    """The package's modules that module `name` imports anywhere in its source (a function's
    body included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # `from pkg import sub` depends on the module pkg.sub; `from pkg import name`, on pkg
            submodules = {f"{base}.{alias.name}" for alias in node.names} & set(known)
            targets.update(submodules or {base})
    return {t for t in targets if t in known and t != name}


def import_graph():
    found = modules()
    return {name: imported_modules(name, path, tree, found) for name, (path, tree) in found.items()}


def cycles(graph):
    """The strongly connected components with more than one module (Tarjan, iteratively)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert "tinygrad_nn.tensor" in graph and graph["tinygrad_nn.ops.base"]
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_engine_imports_one_way():
    graph = import_graph()
    engine = ["grad_mode", "tensor", "function", "autograd", "ops.base", "ops.elementwise",
              "ops.shape", "ops.reductions", "ops.activations", "ops.linalg",
              "ops.convolution", "numpy_api"]
    engine = [f"tinygrad_nn.{name}" for name in engine]
    for i, name in enumerate(engine):
        later = set(engine[i + 1:]) | {"tinygrad_nn.ops"}
        assert graph[name] & later == set(), f"{name} imports {graph[name] & later}"


def test_no_function_is_longer_than_50_lines():
    long = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} "
            f"({node.end_lineno - node.lineno + 1} lines)"
            for path, tree in modules().values() for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []

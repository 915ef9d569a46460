"""`step.plan`: the program a replay runs, for people to read."""
import functools
import textwrap

from .stand_ins import name_of


def render_plan(title, checked, names, rows, after, block, counts):
    """The title, what is checked first, the numbers read anew, one line per NumPy call (the
    op it came from, the call, the shape of its result), what is set after the calls, what
    was made once at capture, and a summary."""
    width = max([len(op) for op, _, _ in rows] + [2])
    lines = [title]
    wrap = functools.partial(textwrap.fill, width=100, subsequent_indent="    ")
    if checked:
        lines.append(wrap("checked first (else a new capture): " + ", ".join(checked)))
    if names.sources:
        lines.append(wrap("read on each replay: " + ", ".join(names.sources)))
    lines.append(f"  {'#':>3}  {'op':<{width}}  NumPy call -> buffer")
    for k, (op, text, result) in enumerate(rows, 1):
        shape = "" if result is None else f"   {_shape_text(result)}"
        lines.append(f"  {k:>3}  {op:<{width}}  {text}{shape}")
    if after:
        lines.append(wrap("then set: " + ", ".join(after)))
    once = [f"  {names.names[id(block.resolve(v))]} = {name_of(call.func)} of "
            f"{names.array(base)}   {_shape_text(v)}" for v, call, base in block.views
            if id(block.resolve(v)) in names.names]
    once += [f"  {names.names[id(r)]} = {name_of(st.call.func)}(...) of constants   "
             f"{_shape_text(r)}" for st in block.folded for r in st.results
             if id(r) in names.names]
    if once:
        lines.append("made once at capture (views, and calls on constants):")
        lines += once
    lines.append(wrap(_summary(names, rows, counts)))
    return "\n".join(lines)


def _summary(names, rows, counts):
    namespace = names.namespace
    buffers = [obj for name, obj in namespace.items() if name[0] in "xb" and name[1:].isdigit()]
    in_place = [obj for name, obj in namespace.items() if name[0] == "p" and name[1:].isdigit()]
    return (f"summary: {_count(len(rows), 'line')} per replay "
            f"({_count(counts['input'], 'input copy', 'input copies')}, "
            f"{_count(counts['call'], 'NumPy call')}, {_count(counts['guard'], 'check')}); "
            f"{_count(len(buffers), 'buffer')} allocated once "
            f"({sum(b.nbytes for b in buffers):,} bytes); "
            f"{_count(len(in_place), 'array')} used in place (parameters, state: "
            f"{sum(a.nbytes for a in in_place):,} bytes); "
            f"{_count(len(names.scalars), 'Python number')} read on each replay")


def _count(n, one, many=None):
    return f"{n} {one if n == 1 else many or one + 's'}"


def _shape_text(array):
    return f"{tuple(array.shape)} {array.dtype}"

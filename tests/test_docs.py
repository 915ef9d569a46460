"""Every Python code block in README.md and docs/**/*.md runs, and prints what the page shows.

Pages are found automatically (README.md and every .md file under docs/), so a new page is
tested as soon as it exists. How a page's code blocks are treated, by the fence's info string:

- ```python
  Runs. The blocks of one page run in order, in one namespace, as if they were one script, in a
  fresh temporary working directory (files a page writes go there).
- ```text right after a ```python block (nothing but blank lines between the two) is that
  block's expected output: what it prints to stdout and, if it raises, the exception as Python's
  last lines show it (`GradcheckError: message`, the class without its module, plus any
  notes; the traceback is left out). The two
  are compared line by line, trailing spaces and trailing blank lines ignored. `...` inside a
  line matches any text within that line; a line that is only `...` matches any number of whole
  lines. Show only what is deterministic (seeded draws, rounded floats), and use `...` for the
  rest: paths, line numbers, timings.
- A block that raises fails, unless a ```text block right after it shows that exception.
- ```python needs=NAME[,NAME...]
  Runs only where each NAME is an importable module or a program on PATH (e.g. `needs=dot` for
  Graphviz); elsewhere it is reported as skipped (`pytest -rs` lists why). Later blocks that use
  what it made need the same mark.
- ```python no-run
  Not run, and reported as skipped: only for code that needs what the tests cannot make (the
  user's own data). At most MAX_NO_RUN such blocks in all pages, so they stay rare.
- ```python in=PATH
  Code that belongs in the package file PATH (a step of docs/contributing.md): not run here,
  but by tests/test_contributing.py, in that file's namespace.
- Any other block (```console, ```text that does not follow a python block, plain ```) is shown,
  not run. The README's two commands are run by .ci/run instead.

Fences must start at the beginning of the line and say ```python (an indented fence, or ```py,
would never run, so either is an error); a page's relative links must point to existing files;
every page in docs/ must be linked from docs/README.md, the manual's table of contents.
"""
import contextlib
import difflib
import importlib.util
import io
import linecache
import os
import re
import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

import tinygrad_nn as tg

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_NO_RUN = 2
FENCE = re.compile(r"^(`{3,})\s*(\S*)\s*(.*)$")


@dataclass
class Block:
    page: str      # path relative to the repo root, e.g. "docs/how-it-works.md"
    line: int      # 1-based line of the first code line
    language: str  # "python", "text", ...
    options: str   # the rest of the info string ("no-run", "needs=graphviz", ...)
    source: str
    expected: str | None = None  # for a python block: the text block right after it

    @property
    def name(self):
        return f"{self.page}:{self.line}"

    @property
    def needs(self):
        for option in self.options.split():
            if option.startswith("needs="):
                return [name for name in option[len("needs="):].split(",") if name]
        return []


def pages():
    found = [REPO_ROOT / "README.md"] + sorted((REPO_ROOT / "docs").rglob("*.md"))
    return [path.relative_to(REPO_ROOT).as_posix() for path in found if path.exists()]


def parse(page):
    """The fenced blocks of a page, each python block with its expected output attached."""
    lines = (REPO_ROOT / page).read_text(encoding="utf-8").splitlines()
    blocks, previous, i = [], None, 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            if lines[i].strip():
                previous = None  # prose between a python block and a text block
            i += 1
            continue
        ticks, language, options = opening.groups()
        end = i + 1
        while end < len(lines) and not re.fullmatch(re.escape(ticks) + r"`*\s*", lines[end]):
            end += 1
        block = Block(page, i + 2, language, options, "\n".join(lines[i + 1:end]) + "\n")
        if language == "text" and previous is not None:
            previous.expected = block.source
            previous = None
        else:
            blocks.append(block)
            previous = block if language == "python" else None
        i = end + 1
    return blocks


PYTHON_BLOCKS = [b for page in pages() for b in parse(page) if b.language == "python"]


def _available(name):
    return importlib.util.find_spec(name) is not None or shutil.which(name) is not None


def _matches(expected, actual):
    """`actual` fits `expected`, where `...` is a wildcard (see the module docstring)."""
    pattern = ""
    for line in expected:
        if line.strip() == "...":
            pattern += r"(?:[^\n]*\n)*?"
        else:
            pattern += "[^\n]*".join(map(re.escape, line.split("..."))) + r"\n"
    return re.fullmatch(pattern, "".join(line + "\n" for line in actual)) is not None


def _lines(text):
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _run_block(block, namespace):
    """("passed" | "failed", message) for one block, run in `namespace`."""
    code = compile("\n" * (block.line - 1) + block.source, block.page, "exec")
    output = io.StringIO()
    raised = None
    with contextlib.redirect_stdout(output):
        try:
            exec(code, namespace)
        except Exception as exc:  # compared with the page's expected output below
            raised = exc
    shown = output.getvalue()
    if raised is not None:
        last_lines = "".join(traceback.format_exception_only(type(raised), raised))
        qualified = f"{type(raised).__module__}.{type(raised).__qualname__}"
        if last_lines.startswith(qualified):  # shown as written in code: GradcheckError
            last_lines = type(raised).__name__ + last_lines[len(qualified):]
        shown += last_lines
    if block.expected is None:
        if raised is None:
            return "passed", ""
        details = "".join(traceback.format_exception(type(raised), raised, raised.__traceback__))
        return "failed", (f"{block.name} raised, and no ```text block after it shows that "
                          f"exception:\n{details}")
    expected, actual = _lines(block.expected), _lines(shown)
    if _matches(expected, actual):
        return "passed", ""
    diff = "\n".join(difflib.unified_diff(expected, actual, "shown in the page", "printed",
                                          lineterm=""))
    return "failed", f"{block.name}: the output differs from the page's ```text block:\n{diff}"


def run_page(page, directory):
    """Run every python block of `page` in order in one namespace, in `directory`; returns
    {line: (outcome, message)}, outcome "passed", "failed" or "skipped"."""
    text = (REPO_ROOT / page).read_text(encoding="utf-8")
    # Tracebacks and detect_anomaly show the page's own lines.
    linecache.cache[page] = (len(text), None, text.splitlines(True), page)
    namespace = {"__name__": "__main__"}
    results = {}
    failed_at = None
    dtype, grad_mode = tg.get_default_dtype(), tg.is_grad_enabled()
    old_directory = os.getcwd()
    os.chdir(directory)
    try:
        for block in (b for b in PYTHON_BLOCKS if b.page == page):
            missing = [name for name in block.needs if not _available(name)]
            if "no-run" in block.options.split():
                results[block.line] = ("skipped", "marked no-run")
            elif block.options.startswith("in="):
                results[block.line] = ("passed", "run by tests/test_contributing.py")
            elif missing:
                results[block.line] = ("skipped", f"needs {', '.join(missing)}")
            elif failed_at is not None:
                results[block.line] = ("skipped", f"an earlier block failed ({failed_at})")
            else:
                results[block.line] = _run_block(block, namespace)
                if results[block.line][0] == "failed":
                    failed_at = block.name
    finally:
        os.chdir(old_directory)
        tg.set_default_dtype(dtype)
    assert tg.is_grad_enabled() == grad_mode, f"{page} left grad mode switched"
    return results


@pytest.fixture(scope="session")
def page_results(tmp_path_factory):
    """Each page is run once, when the first of its blocks is tested."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    cache = {}

    def results(page):
        if page not in cache:
            directory = tmp_path_factory.mktemp(re.sub(r"\W", "_", page))
            cache[page] = run_page(page, directory)
        return cache[page]
    return results


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.name for b in PYTHON_BLOCKS])
def test_code_block(block, page_results):
    outcome, message = page_results(block.page)[block.line]
    if outcome == "skipped":
        pytest.skip(f"{block.name}: {message}")
    if outcome == "failed":
        pytest.fail(message, pytrace=False)


def test_pages_are_found_and_have_code():
    assert "README.md" in pages() and any(page.startswith("docs/") for page in pages())
    assert len(PYTHON_BLOCKS) >= 20


def test_no_run_blocks_stay_rare():
    not_run = [b.name for b in PYTHON_BLOCKS if "no-run" in b.options.split()]
    assert len(not_run) <= MAX_NO_RUN, f"too many blocks marked no-run: {not_run}"


def test_every_python_fence_is_found():
    """An indented fence is not parsed, and ```py is not ```python: their code would silently
    never run."""
    for page in pages():
        for number, line in enumerate((REPO_ROOT / page).read_text().splitlines(), 1):
            assert not re.match(r"\s+`{3,}\s*py", line), \
                f"{page}:{number}: a ```python fence must start at the beginning of the line"
            assert not re.match(r"`{3,}\s*(py|python3|pycon)\b", line), \
                f"{page}:{number}: write ```python, so that the block runs"


def test_relative_links_point_to_files():
    for page in pages():
        text = (REPO_ROOT / page).read_text(encoding="utf-8")
        text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)  # code is not prose
        text = re.sub(r"`[^`\n]*`", "", text)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:|#", target):
                continue
            path = (REPO_ROOT / page).parent / target.split("#")[0]
            assert path.exists(), f"{page}: the link {target!r} points to no file"


def test_every_docs_page_is_linked_from_the_manual_index():
    index = (REPO_ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    for page in pages():
        if page.startswith("docs/") and page != "docs/README.md":
            assert f"]({page[len('docs/'):]})" in index, \
                f"docs/README.md does not link to {page}"


def test_install_commands_name_existing_extras():
    """`pip install -e ".[a,b]"` in any page names only extras that pyproject.toml defines (pip
    itself only warns about an unknown extra)."""
    tomllib = pytest.importorskip("tomllib")
    with open(REPO_ROOT / "pyproject.toml", "rb") as f:
        extras = set(tomllib.load(f)["project"]["optional-dependencies"])
    for page in pages():
        text = (REPO_ROOT / page).read_text(encoding="utf-8")
        for named in re.findall(r"pip install -e \"?\.\[([\w,-]+)\]", text):
            unknown = set(named.split(",")) - extras
            assert not unknown, f"{page}: pip install names unknown extras {sorted(unknown)}"


def test_expected_output_comparison():
    """The wildcard rules the pages rely on."""
    assert _matches(["a ... c"], ["a b b c"])
    assert not _matches(["a ... c"], ["a b", "c"])
    assert _matches(["first", "...", "last"], ["first", "x", "y", "last"])
    assert _matches(["first", "...", "last"], ["first", "last"])
    assert not _matches(["first", "last"], ["first", "last", "extra"])

"""The `fuzz` marker: a long differential-fuzzer slice, run by `python -m pytest -m fuzz` (and
by .ci/run), left out of the default `python -m pytest`."""
import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "fuzz: a long tg.jit fuzzer slice (opt-in: -m fuzz)")


def pytest_collection_modifyitems(config, items):
    if "fuzz" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="opt-in: python -m pytest -m fuzz")
    for item in items:
        if "fuzz" in item.keywords:
            item.add_marker(skip)

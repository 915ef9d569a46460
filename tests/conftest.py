"""Hypothesis profiles: `ci` (the default) is deterministic and bounded so the suite runs in
about a minute on 2 cores; `thorough` (`--hypothesis-profile=thorough`) searches much harder.

Markers: `slow` (long campaigns: the self-check over the whole op table, the benchmark's smoke
run) and `fuzz` (a 300-program slice of the tg.jit fuzzer) are left out of the default run;
`python -m pytest -m "slow or fuzz"` runs them, as .ci/run does."""
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=30, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile("ci")

OPT_IN = {"slow": "a long campaign", "fuzz": "a long tg.jit fuzzer slice"}


def pytest_configure(config):
    for name, what in OPT_IN.items():
        config.addinivalue_line("markers", f"{name}: {what} (opt-in: -m {name})")


def pytest_collection_modifyitems(config, items):
    chosen = config.getoption("-m") or ""
    for name in OPT_IN:
        if name in chosen:
            continue
        skip = pytest.mark.skip(reason=f'opt-in: python -m pytest -m "{name}"')
        for item in items:
            if name in item.keywords:
                item.add_marker(skip)

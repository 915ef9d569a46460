"""Hypothesis profiles: `ci` (the default) is deterministic and bounded so the suite runs in
minutes on 2 cores; `thorough` (`--hypothesis-profile=thorough`) searches much harder."""
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=30, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile("ci")

"""Tools for studying the engine at work: pictures of the graph (`viz`), a table of what
backward did (`trace`), and a search for the op that made the first NaN or inf
(`detect_anomaly`). They watch the engine through `autograd.observers`; the engine does not
know them."""
from . import viz
from .anomaly import detect_anomaly
from .trace import trace

__all__ = ["viz", "trace", "detect_anomaly"]

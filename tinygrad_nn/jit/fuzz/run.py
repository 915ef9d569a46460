"""Running a Spec twice, eagerly and through tg.jit, from identical starting states, comparing
every value bit for bit after every call; and shrinking a failure to a smaller Spec.

A run ends with one verdict:
    match     every call returned the same values and left the same state (a call that raised
              did so in both, with the same type and message: the run stops there)
    mismatch  a value differs (or one side raised where the other computed)
    refused   tg.jit raised CaptureError where eager computed: its reason is kept
    crash     tg.jit raised another exception where eager computed, or a different one
    hang      the run took longer than the timeout (CPU seconds)
    invalid   the eager program itself failed on building (a fuzzer bug)
"""
import contextlib
import dataclasses
import signal
import warnings

import numpy as np

from ... import Tensor, jit
from ..stand_ins import CaptureError
from .spec import simpler
from .world import World, make_step


@dataclasses.dataclass
class Verdict:
    kind: str
    detail: str = ""
    at: int = -1  # the entry of the script where the run ended


class Timeout(Exception):
    """The run took longer than allowed (a hang)."""


def run(spec, timeout=60, passes=None):
    """The Verdict of running `spec` eagerly and through tg.jit (with the lowering `passes`)."""
    with _deadline(timeout), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return _compare_runs(spec, passes)
        except Timeout:
            return Verdict("hang", "no answer within the timeout")


def _compare_runs(spec, passes):
    try:
        eager, jitted = World(spec), World(spec)
    except Exception as error:
        return Verdict("invalid", f"{type(error).__name__}: {error}")
    steps = make_step(eager), jit(make_step(jitted), passes=passes)
    jitted.evaluate = jit(jitted.evaluate, passes=passes)
    difference = compare_state(eager, jitted)
    if difference:
        return Verdict("invalid", f"the two worlds start apart: {difference}")
    calls = 0
    for index, entry in enumerate(spec.script):
        verdict = _compare(eager, jitted, entry, calls, index, steps)
        if verdict is not None:
            return verdict
        calls += entry[0] == "call"
    return Verdict("match")


def _compare(eager, jitted, entry, calls, index, steps):
    """None if the script's entry (an event, or call number `calls`) did the same on both
    sides, else the Verdict."""
    results = []
    for world, step in zip((eager, jitted), steps):
        try:
            results.append(("value", world.event(*entry[1:]) if entry[0] == "event" else
                            step(*world.batch(calls, entry[1]))))
        except Timeout:
            raise
        except Exception as error:
            results.append(("error", error))
    (kind_a, a), (kind_b, b) = results
    if kind_a == "error" and kind_b == "error":
        if type(a) is type(b) and str(a) == str(b):
            return Verdict("match", f"both raised {type(a).__name__}", index)
        return Verdict("crash", f"eager raised {_text(a)}; tg.jit raised {_text(b)}", index)
    if kind_b == "error":
        kind = "refused" if isinstance(b, CaptureError) else "crash"
        return Verdict(kind, _text(b), index)
    if kind_a == "error":
        return Verdict("mismatch", f"eager raised {_text(a)}, tg.jit returned", index)
    difference = same_value(a, b, "the result") or compare_state(eager, jitted)
    return Verdict("mismatch", difference, index) if difference else None


def _text(error):
    return f"{type(error).__name__}: {error}"


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def same_value(a, b, where):
    """"" if a and b are the same (Tensors and arrays bit for bit, structures item by item),
    else what differs."""
    if isinstance(a, (Tensor, np.ndarray)) and isinstance(b, (Tensor, np.ndarray)):
        a, b = (x.data if isinstance(x, Tensor) else x for x in (a, b))
        return "" if same_bits(a, b) else f"{where} differs"
    if type(a) is not type(b):
        return f"{where}: {type(a).__name__} against {type(b).__name__}"
    if isinstance(a, (tuple, list)):
        if len(a) != len(b):
            return f"{where}: {len(a)} items against {len(b)}"
        return next((d for k, (x, y) in enumerate(zip(a, b))
                     if (d := same_value(x, y, f"{where}[{k}]"))), "")
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{where}: keys {list(a)} against {list(b)}"
        return next((d for k in a if (d := same_value(a[k], b[k], f"{where}[{k!r}]"))), "")
    return "" if a == b or (a != a and b != b) else f"{where}: {a!r} against {b!r}"


def state_of(world):
    """Everything a call can change, by name."""
    state = {}
    for name, p in world.model.named_parameters():
        state[f"{name}.data"] = p.data
        state[f"{name}.grad"] = None if p.grad is None else p.grad.data
        state[f"{name}.requires_grad"] = p.requires_grad
    state.update({f"state_dict {k}": v for k, v in world.model.state_dict().items()})
    for k, module in enumerate(world.model.modules()):
        state[f"module {k} training"] = module.training
        rng = getattr(module, "rng", None)
        if isinstance(rng, np.random.Generator):
            state[f"module {k} rng"] = str(rng.bit_generator.state)
    if world.optimizer is not None:
        state["optimizer"] = world.optimizer.state_dict()
    return state


def compare_state(a, b):
    """"" if the two worlds are in the same state, else what differs."""
    return same_value(state_of(a), state_of(b), "state")


@contextlib.contextmanager
def _deadline(seconds):
    """Raise Timeout in the run after `seconds` of CPU time (not of the wall clock: a loaded
    machine makes a run slower, not a hang)."""
    def expire(signum, frame):
        raise Timeout()
    previous = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def shrink(spec, verdict, passes=None, timeout=60, attempts=200):
    """A Spec as small as greedy steps find that still gets a verdict of the same kind."""
    improved = True
    while improved and attempts > 0:
        improved = False
        for smaller in simpler(spec):
            attempts -= 1
            if run(smaller, timeout, passes).kind == verdict.kind:
                spec, improved = smaller, True
                break
            if attempts <= 0:
                break
    return spec

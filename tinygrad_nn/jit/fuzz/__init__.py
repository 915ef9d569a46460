"""A differential fuzzer for tg.jit: random training programs, each run eagerly and through
tg.jit from identical starting states, every value compared bit for bit.

    python -m tinygrad_nn.jit.fuzz --seeds 0:5000        # a campaign; counts by verdict
    python -m tinygrad_nn.jit.fuzz --seeds 17:18 --show  # one program, its Spec and verdict

A program (`Spec`, spec.py) is a model from the layers of layers.py, a loss, an optimizer and a
schedule, a step shape (the function tg.jit captures: world.py, STEPS) and a script of calls
(batch sizes vary) and events between them (train/eval, lr changes, replaced parameters and
layers, a new optimizer, load_state_dict, Dropout's p and generator, faults the library refuses:
spec.EVENTS). run.py runs it and returns a Verdict; a failure is shrunk to a smaller Spec whose
repr is its reproducer: `run(Spec(...))`. To fuzz a new layer, add its row to layers.LAYERS.
"""
from .layers import LAYERS, FirstOutput, Layer
from .run import Verdict, run, shrink
from .spec import Spec, generate

__all__ = ["LAYERS", "Layer", "FirstOutput", "Spec", "generate", "run", "shrink", "Verdict"]

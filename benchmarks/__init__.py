"""Side-by-side timing of tinygrad_nn against hand-written NumPy and peer autograd libraries.

Run with `python -m benchmarks` (see `benchmarks/run.py`).
"""

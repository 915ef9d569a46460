"""Argument checks shared by nn, optim and data, so that a wrong argument raises at the call
that passed it, with a message naming the argument (not a NumPy error from deep inside)."""
import numbers

import numpy as np

__all__ = ["real_number", "positive_int", "integer_at_least", "int_pair", "generator"]


def real_number(name, value, where):
    """`value` as a float; TypeError naming `name` unless it is a real number (bools
    excluded: `lr=True` is a mistake, not 1.0)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {value!r} "
                        f"({type(value).__name__})")
    return float(value)


def integer_at_least(name, value, minimum, where):
    """`value` as an int; TypeError naming `name` unless it is an integer (bools excluded),
    ValueError unless it is >= minimum."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an integer, got {value!r} "
                        f"({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value}")
    return int(value)


def positive_int(name, value, where):
    """`value` as an int >= 1 (a size: features, channels, steps), else TypeError/ValueError
    naming `name`."""
    return integer_at_least(name, value, 1, where)


def int_pair(value, name, where, minimum):
    """(h, w) from an int or a pair of ints, each >= minimum (kernel_size, stride, padding)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise TypeError(f"{where}: {name} must be an int or an (h, w) pair, got {value!r}")
        return (integer_at_least(name, value[0], minimum, where),
                integer_at_least(name, value[1], minimum, where))
    value = integer_at_least(name, value, minimum, where)
    return value, value


def generator(rng, where):
    """A numpy Generator from `rng` (a Generator, an int seed >= 0, or None for fresh
    randomness); TypeError/ValueError naming `rng` otherwise."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is not None:
        integer_at_least("rng (a numpy Generator or a seed)", rng, 0, where)
    return np.random.default_rng(rng)

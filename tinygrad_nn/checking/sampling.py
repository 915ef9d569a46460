"""Where test inputs come from, written once for the hypothesis tests and the self-check.

`Domain` is the one sampler of values kept off kinks and poles: bounds, points to avoid with a
margin, and optionally distinct values (no ties). `Draw` is an abstract source of choices: every
choice (booleans, shapes, axes, permutations, index expressions ...) is built on one primitive,
`integers(low, high)`, which hypothesis (`strategies.HypothesisDraw`) or a seeded NumPy
Generator (`RandomDraw`, for the self-check) provides. Array values come from a Generator seeded
by one drawn integer, so they are spread out (never one constant filling a whole array).
NumPy only: the self-check runs without hypothesis.
"""
from dataclasses import dataclass

import numpy as np

__all__ = ["Domain", "Draw", "RandomDraw"]


def _held(value, dtype, toward):
    """`value` rounded to `dtype`, moved one step toward `toward` if rounding went past it."""
    held = dtype.type(value)
    if (held < value and toward > value) or (held > value and toward < value):
        held = np.nextafter(held, dtype.type(toward))
    return float(held)


@dataclass(frozen=True)
class Domain:
    """Values in [low, high] at least `margin` from every point of `avoid` (kinks such as 0 for
    abs, poles such as 0 for 1/x); with `distinct`, no two values of one draw closer than
    `margin` either (no ties for max and min)."""
    low: float = -2.0
    high: float = 2.0
    avoid: tuple = ()
    margin: float = 0.1
    distinct: bool = False

    def intervals(self, dtype=np.float64):
        """The allowed intervals, their ends held exactly by `dtype` (rounded inward)."""
        dtype = np.dtype(dtype)
        margin = self.margin * (1 + 1e-9)  # so that |x - point| >= margin survives rounding
        edges = [self.low]
        for point in sorted(self.avoid):
            edges += [point - margin, point + margin]
        edges.append(self.high)
        held = [(_held(a, dtype, b), _held(b, dtype, a))
                for a, b in zip(edges[::2], edges[1::2]) if a <= b]
        held = [(a, b) for a, b in held if a <= b]
        if not held:
            raise ValueError(f"no value in [{self.low}, {self.high}] is {self.margin} away "
                             f"from {self.avoid}")
        return held

    def sample(self, rng, shape, dtype=np.float64):
        """An array of `shape` and `dtype` drawn uniformly from the allowed intervals."""
        intervals = self.intervals(dtype)
        lengths = np.array([b - a for a, b in intervals])
        n = int(np.prod(shape))
        total = lengths.sum()
        if self.distinct:
            room = total - (n - 1) * self.margin
            if room < 0:
                raise ValueError(f"{n} values at least {self.margin} apart do not fit in "
                                 f"{intervals}")
            # sorted positions, spaced by at least margin, then shuffled
            t = np.sort(rng.uniform(0, room, n)) + self.margin * np.arange(n)
            t = rng.permutation(t)
        else:
            t = rng.uniform(0, total, n)
        starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
        which = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(intervals) - 1)
        lows = np.array([a for a, _ in intervals])
        highs = np.array([b for _, b in intervals])
        values = np.clip(lows[which] + (t - starts[which]), lows[which], highs[which])
        return values.astype(dtype).reshape(shape)


REAL = Domain()


class Draw:
    """Choices for one example. Subclasses give `integers(low, high)` (both ends included) and
    `seed()`; everything else is built on them, so both sources draw the same things."""

    def integers(self, low, high):
        raise NotImplementedError

    def seed(self):
        """The seed of this example's array values."""
        raise NotImplementedError

    @property
    def rng(self):
        if getattr(self, "_rng", None) is None:
            self._rng = np.random.default_rng(self.seed())
        return self._rng

    def booleans(self):
        return self.integers(0, 1) == 1

    def sampled_from(self, options):
        options = list(options)
        return options[self.integers(0, len(options) - 1)]

    def permutation(self, n):
        items, out = list(range(n)), []
        while items:
            out.append(items.pop(self.integers(0, len(items) - 1)))
        return tuple(out)

    def shape(self, min_dims=0, max_dims=3, max_side=3, max_size=12):
        """A shape of min_dims..max_dims axes of 1..max_side, at most max_size elements."""
        return self.sides(self.integers(min_dims, max_dims), max_side, max_size)

    def sides(self, ndim, max_side=3, max_size=12, min_side=1):
        """A shape of `ndim` axes of min_side..max_side, at most max_size elements (unless
        min_side forces more)."""
        shape, size = [], 1
        for _ in range(ndim):
            shape.append(self.integers(min_side, max(min_side, min(max_side, max_size // size))))
            size *= shape[-1]
        return tuple(shape)

    def broadcastable_shapes(self, count, max_dims=3, max_side=3, max_size=12):
        """`count` shapes that broadcast together: some drop leading axes, some have size 1."""
        result = self.shape(0, max_dims, max_side, max_size)
        shapes = []
        for _ in range(count):
            kept = result[self.integers(0, len(result)):] if result else ()
            shapes.append(tuple(1 if self.integers(0, 2) == 0 else n for n in kept))
        return shapes

    def axis(self, ndim):
        """An int axis, negative half the time."""
        ax = self.integers(0, ndim - 1)
        return ax - ndim if self.booleans() else ax

    def axes(self, ndim, kind=None):
        """None, an int, or a tuple of distinct axes (() too), each negative half the time;
        `kind` ("all", "int" or "tuple") chooses which."""
        if kind is None:
            kind = self.sampled_from(["all", "int", "tuple"] if ndim else ["all", "tuple"])
        if kind == "all":
            return None
        if kind == "int":
            return self.axis(ndim)
        chosen = self.permutation(ndim)[:self.integers(0, ndim)]
        return tuple(ax - ndim if self.booleans() else ax for ax in chosen)

    def array(self, shape, domain=REAL, dtype=np.float64):
        return domain.sample(self.rng, shape, dtype)

    def arrays(self, shapes, domain=REAL, dtype=np.float64):
        """One array per shape; with a distinct domain no value repeats across all of them."""
        sizes = [int(np.prod(s)) for s in shapes]
        flat = domain.sample(self.rng, (sum(sizes),), dtype)
        bounds = np.cumsum([0] + sizes)
        return [flat[lo:hi].reshape(s) for lo, hi, s in zip(bounds, bounds[1:], shapes)]

    def index_array(self, shape, n):
        """Integers in [-n, n) of `shape`, repeats likely (they must add up in backward)."""
        return self.rng.integers(-n, n, size=shape)

    def basic_index(self, shape):
        """Ints, slices (negative steps too), None and Ellipsis, as NumPy's basic indexing."""
        count = self.integers(0, len(shape))
        ellipsis_first = count < len(shape) and self.booleans()
        sides = shape[len(shape) - count:] if ellipsis_first else shape[:count]
        parts = []
        for n in sides:
            kind = self.integers(0, 2)
            if kind == 0:
                parts.append(self.integers(-n, n - 1))
            elif kind == 1:
                parts.append(slice(None))
            else:
                step = self.sampled_from([1, 2, -1, -2])
                start = self.integers(-n, n - 1)
                parts.append(slice(start, None, step))
        if self.booleans():
            parts.insert(self.integers(0, len(parts)), None)
        if ellipsis_first:
            parts.insert(0, Ellipsis)
        return parts[0] if len(parts) == 1 and self.booleans() else tuple(parts)


class RandomDraw(Draw):
    """Choices from a seeded NumPy Generator (the self-check). It records every choice with
    few options, so that the self-check can pick examples that between them make each one."""

    def __init__(self, rng):
        self._choices = rng
        self.made = set()

    def integers(self, low, high):
        value = int(self._choices.integers(low, high + 1))
        if high - low < 8:
            self.made.add((len(self.made), low, high, value))
        return value

    def seed(self):
        return int(self._choices.integers(2 ** 32))

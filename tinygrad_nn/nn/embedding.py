"""Embedding: a lookup table of learned vectors, one row per index."""
import numpy as np

from ..tensor import Tensor, get_default_dtype
from ..validation import generator, positive_int
from .module import Module, Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """weight (num_embeddings, embedding_dim), drawn from N(0, 1) using `rng` (a Generator or
    a seed); called with integer indices of any shape (an array, a list or a Tensor), returns
    weight[indices], of shape indices.shape + (embedding_dim,). The gradient of a row used
    several times adds up."""

    _input_dtype_checked = True  # its input is indices, not data to compare with the weights

    def __init__(self, num_embeddings, embedding_dim, rng=None):
        super().__init__()
        self.num_embeddings = positive_int("num_embeddings", num_embeddings, "Embedding")
        self.embedding_dim = positive_int("embedding_dim", embedding_dim, "Embedding")
        weight = generator(rng, "Embedding").standard_normal((num_embeddings, embedding_dim))
        self.weight = Parameter(weight.astype(get_default_dtype()))

    def forward(self, indices):
        given = indices
        indices = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
        if indices.dtype.kind not in "iu":
            raise TypeError(_not_integers(given, indices))
        bad = (indices < 0) | (indices >= self.num_embeddings)
        if bad.any():
            first = indices[np.unravel_index(np.argmax(bad), indices.shape)]
            raise IndexError(f"Embedding index {first} is out of range for num_embeddings="
                             f"{self.num_embeddings} (indices must be in [0, "
                             f"{self.num_embeddings}))")
        return self.weight[indices.astype(np.intp, copy=False)]

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


def _not_integers(given, indices):
    """Why float indices are refused, and what to write; whole numbers in a float Tensor most
    likely came from a Python list, which tg.Tensor makes float32."""
    if indices.dtype.kind != "f" or not np.all(indices == np.floor(indices)):
        return f"Embedding takes integer indices, got dtype {indices.dtype}"
    got = (f"a {indices.dtype} Tensor: a Python list given to tg.Tensor becomes "
           f"{indices.dtype}, the default dtype, even when its numbers are whole"
           if isinstance(given, Tensor) else f"dtype {indices.dtype}")
    return (f"Embedding takes integer indices, got {got}; pass integers: np.array([0, 1, 2]), "
            f"tg.Tensor(np.array(indices)) or indices.astype(np.int64)")

"""Fixtures shared by the nn tests."""
import numpy as np
import pytest

import tinygrad_nn as tg


@pytest.fixture
def float64_default():
    """The default dtype float64 for one test (for checks against float64 references)."""
    tg.set_default_dtype(np.float64)
    yield
    tg.set_default_dtype(np.float32)

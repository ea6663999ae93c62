import numpy as np
import pytest


@pytest.fixture
def rng():
    """One seeded generator per test, so failures reproduce."""
    return np.random.default_rng(20261126)

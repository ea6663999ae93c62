import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# The suite runs what users get: the default configuration (cache on, kernels
# built ahead of time wherever that applies, JITGRAD_AOT unset). The second
# configuration, JIT only, is the tox environment `jit` (JITGRAD_AOT=0 over the
# tests where the two paths differ: codegen, derivatives, the differential
# tester); a JITGRAD_AOT set by the caller is kept.


@pytest.fixture
def rng():
    """One seeded generator per test, so failures reproduce."""
    return np.random.default_rng(20261126)


# ----------------------------------------------------------------------------- hypothesis
# Profiles, chosen with the environment variable HYPOTHESIS_PROFILE (tox passes it on):
#   ci    (default) derandomized, so CI is reproducible: in tests/test_fuzz.py 100
#         random graphs per evaluate-only property and 2 compiled kernels;
#   long  20 000 examples per evaluate-only fuzz property and 150 kernels per
#         simplification level (README, "Running the tests").
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_SLOW_OK,
)
settings.register_profile(
    "long",
    max_examples=20_000,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_OK,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# ----------------------------------------------------------------------------- helpers
# test_codegen.py's helper processes compile its large kernels on the spare cores;
# started as soon as the tests are collected, they work while the modules before
# it run (the main process then loads those kernels from the module's cache).
def pytest_collection_finish(session):
    mod = sys.modules.get("test_codegen")
    factory = getattr(session.config, "_tmp_path_factory", None)  # the tmp_path_factory fixture
    if mod is not None and hasattr(mod, "start_early") and factory is not None:
        mod.start_early(session.items, factory)


def pytest_sessionfinish(session):
    mod = sys.modules.get("test_codegen")
    if mod is not None and hasattr(mod, "stop_helpers"):
        mod.stop_helpers()

"""Deep graphs: building, counting, printing and evaluating never recurse in Python."""

import numpy as np
import pytest

import jitgrad as jg

N = 100_000


@pytest.fixture(scope="module")
def scalar_chain():
    """A chain of 100 002 ops on a scalar: sin, add, mul repeated."""
    x = jg.scalar("x")
    y = x
    for _ in range(N // 3 + 1):
        y = jg.sin(y)
        y = y + 0.5
        y = y * 0.999
    return x, y


def _chain_oracle(x0: float) -> float:
    y = np.float64(x0)
    for _ in range(N // 3 + 1):
        y = (np.sin(y) + 0.5) * 0.999
    return y


def test_scalar_chain(scalar_chain):
    x, y = scalar_chain
    n = 3 * (N // 3 + 1)
    assert jg.count_ops(y) == n
    assert jg.count_ops([y, y]) == n
    got = jg.evaluate(y, {x: 0.3})
    np.testing.assert_allclose(got, _chain_oracle(0.3), rtol=1e-12)
    text = str(y)
    assert len(text) < 200 * n
    assert "sin(x)" in text
    assert repr(y) == "<Node multiply () float64>"


def test_vector_depth(rng):
    """Depth 100 000 on a vector, each step reusing the input (x is shared by all)."""
    x = jg.vector("x", 4)
    y = x
    for _ in range(N // 2):
        y = jg.sin(y) + x
    assert jg.count_ops(y) == N
    x0 = rng.uniform(-1.0, 1.0, 4)
    want = x0.copy()
    for _ in range(N // 2):
        want = np.sin(want) + x0
    np.testing.assert_allclose(jg.evaluate(y, {x: x0}), want, rtol=1e-12)
    text = jg.pretty(y)
    assert len(text) < 200 * N
    assert text.split("\n")[-1].endswith("+ x")


def test_deep_graph_with_shared_nodes():
    """Every node used twice: the DAG is small but its tree expansion is 2**depth."""
    x = jg.scalar("x")
    y = x
    depth = 10_000
    for _ in range(depth):
        y = jg.tanh(y) * y
    assert jg.count_ops(y) == 2 * depth
    got = jg.evaluate(y, {x: 0.9})
    want = np.float64(0.9)
    for _ in range(depth):
        want = np.tanh(want) * want
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert len(str(y)) < 200 * 2 * depth


def test_deep_graph_released():
    """Dropping the last reference to a deep chain frees it without a crash."""
    import gc

    x = jg.scalar("x_release")
    y = x
    for _ in range(N // 2):
        y = jg.cos(y)
    del y
    gc.collect()
    assert jg.count_ops(jg.cos(x)) == 1

"""Arguments the JIT path accepts are accepted on the default (ahead-of-time)
path too, converted as documented: unaligned arrays, ``np.memmap`` inputs and
``k.into`` outputs, unaligned outputs, Python ints beyond int64 (to float, as
NumPy converts them). Strings are refused on both."""

import numpy as np
import pytest

import jitgrad as jg

X = np.arange(9.0) / 4.0


@pytest.fixture(scope="module", params=["default", "jit"])
def kernel(request, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("JITGRAD_CACHE_DIR", str(tmp_path_factory.mktemp("odd")))
    mp.delenv("JITGRAD_AOT", raising=False)
    x = jg.vector("x_odd", 9)
    s = jg.scalar("s_odd")
    outs = [jg.sum(x * x) * s, x * 2.0 + s]
    k = jg.compile([x, s], outs, aot=None if request.param == "default" else False)
    yield k, request.param, tmp_path_factory.mktemp("files")
    mp.undo()


def _unaligned(n):
    a = np.ndarray((n,), dtype=np.float64, buffer=bytearray(8 * n + 1), offset=1)
    assert not a.flags.aligned
    return a


def test_unaligned_and_memmap_inputs(kernel):
    k, mode, d = kernel
    if mode == "default":
        assert k.aot
    a = _unaligned(9)
    a[:] = X
    m = np.memmap(d / "in.dat", dtype=np.float64, mode="w+", shape=(9,))
    m[:] = X
    want = (float(X @ X) * 1.5, X * 2.0 + 1.5)
    for arg in (a, m):
        f, g = k(arg, 1.5)
        assert f == want[0] and np.array_equal(g, want[1])


def test_memmap_and_unaligned_outputs(kernel):
    k, _, d = kernel
    f0 = np.empty(1)
    m = np.memmap(d / "out.dat", dtype=np.float64, mode="w+", shape=(9,))
    k.into(X, 1.5, out=(f0, m))
    assert np.array_equal(m, X * 2.0 + 1.5) and f0[0] == float(X @ X) * 1.5
    u = _unaligned(9)
    k.into(X, 1.5, out=(f0, u))
    assert np.array_equal(u, X * 2.0 + 1.5)


def test_python_ints_beyond_int64_convert_as_numpy_does(kernel):
    k, _, _ = kernel
    big = [2**70] + [1] * 8
    f, g = k(big, 2**65)
    want = np.asarray(big, dtype=np.float64)
    assert f == float(want @ want) * float(2**65)
    assert np.array_equal(g, want * 2.0 + float(2**65))
    with pytest.raises(TypeError, match="input 'x_odd': expected a real number array"):
        k(["1.0"] * 9, 1.0)
    with pytest.raises(TypeError, match="input 's_odd'"):
        k(X, "2")


def test_copy_and_deepcopy_of_nodes_kernels_and_structures_holding_them():
    """Nodes are interned and kernels are compiled code: copies are the objects
    themselves, and a deep copy of a structure holding them keeps them usable."""
    import copy

    x = jg.vector("cx", 3)
    f = jg.sum(jg.sin(x) * x)
    k = jg.compile([x], [f, jg.grad(f, x)])
    state = {"f": f, "wrt": [x], "kernel": k, "x0": np.arange(3.0)}
    for c in (copy.copy, copy.deepcopy):
        assert c(f) is f and c(k) is k
        s2 = c(state)
        assert s2["f"] is f and s2["wrt"][0] is x and s2["kernel"] is k
    s2 = copy.deepcopy(state)
    assert s2["x0"] is not state["x0"]  # arrays are still copied
    got = s2["kernel"](s2["x0"])
    want = jg.evaluate([f, jg.grad(f, x)], {x: state["x0"]})
    assert np.allclose(got[0], want[0]) and np.allclose(got[1], want[1])
    # a node built from the copy is the node built from the original (interning)
    assert jg.sum(jg.sin(s2["wrt"][0]) * s2["wrt"][0]) is f

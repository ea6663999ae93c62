"""Kernels that are one block of scalar LLVM instructions, compiled by llvmlite
alone (jitgrad.codegen.direct): same values as the Numba kernel, no Numba
imported to compile or call them, k.njit still there."""

import numpy as np
import pytest
from children import run_child

import jitgrad as jg
from jitgrad.codegen import aot as A

pytestmark = pytest.mark.skipif(
    A.find_cc() is None, reason="no C compiler: no trampoline, so no direct kernels"
)


def _nest(name, depth=4, order=4):
    x = jg.scalar(name)
    f = x
    for _ in range(depth):
        f = jg.sin(f)
    return x, jg.simplify(jg.derivative(f, x, order=order))


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("JITGRAD_AOT", raising=False)
    return str(tmp_path)


@pytest.mark.parametrize("cache", [True, False])
def test_direct_kernel_equals_numba_kernel_bit_for_bit(here, cache):
    x, d = _nest(f"x_direct_{cache}")
    y = jg.scalar(f"y_direct_{cache}")
    outs = [d, d * y + jg.cos(y)]
    k = jg.compile([x, y], outs, cache=cache)
    assert "direct" in k.stats and k.aot
    assert k.stats["aot"] == ("built" if cache else "direct, in memory")
    ref = jg.compile([x, y], outs, cache=False, aot=False)  # Numba, with a scalar block
    assert "scalar_block(" in ref.source and "direct" not in ref.stats
    for point in [(0.3, -1.2), (2.5, 0.0), (-7.0, 3.0), (np.nan, 1.0), (np.inf, 1.0)]:
        got, want = k(*point), ref(*point)
        assert [float(v).hex() for v in got] == [float(v).hex() for v in want]
    w = jg.evaluate(outs, {x: 0.3, y: -1.2})
    np.testing.assert_allclose(k(0.3, -1.2), [float(v) for v in w], rtol=1e-12)
    # the other entry points come from Numba, on first use
    fv = np.empty(1)
    k.into(0.3, -1.2, out=(fv, np.empty(1)))
    assert fv[0] == ref(0.3, -1.2)[0]
    kn = k.njit

    import numba

    @numba.njit
    def user(a, b):
        return kn(a, b)

    assert user(0.3, -1.2) == ref(0.3, -1.2)


def test_not_direct_when_an_op_needs_numba(here):
    x, d = _nest("x_tanh")
    out = d + jg.tanh(x)  # tanh is compiled by Numba inside the block
    k = jg.compile([x], out)
    # Not one block of LLVM instructions; the loop compiler (tests/test_loopjit.py)
    # takes it, with tanh a libm call as in Numba's kernel.
    assert k.stats["llvm"] == "loops"
    assert np.isclose(k(0.4), float(jg.evaluate(out, {x: 0.4})), rtol=1e-12)
    ref = jg.compile([x], out, aot=False, cache=False)
    assert float(k(0.4)).hex() == float(ref(0.4)).hex()
    k32 = jg.compile([jg.scalar("x32", dtype="float32")], jg.sin(jg.scalar("x32", dtype="float32")))
    assert k32.stats["llvm"].startswith("numba:") and "direct" not in k32.stats


def test_aot_false_keeps_numba(here):
    x, d = _nest("x_off")
    k = jg.compile([x], d, aot=False)
    assert "direct" not in k.stats and not k.aot and "numba" in k.stats


_CHILD = r"""
import json, sys
import jitgrad as jg
x = jg.scalar("x")
f = x
for _ in range(7):
    f = jg.sin(f)
d = jg.simplify(jg.derivative(f, x, order=6))
k = jg.compile([x], d, cache=sys.argv[1] == "cache")
v = k(0.3)
print("RESULT " + json.dumps({"stats": k.stats, "numba": "numba" in sys.modules,
                              "v": float(v).hex(), "w": float(jg.evaluate(d, {x: 0.3})).hex()}))
"""


def _child(cache_dir, mode):
    return run_child(_CHILD, cache_dir, mode)


def test_compiled_and_called_without_numba(tmp_path):
    d = str(tmp_path)
    first = _child(d, "cache")
    assert first["stats"]["aot"] == "built" and "direct" in first["stats"]
    assert not first["numba"]
    again = _child(d, "cache")  # the warm start loads the library
    assert again["stats"]["aot"] == "loaded" and not again["numba"]
    mem = _child(d, "nocache")
    assert mem["stats"]["aot"] == "direct, in memory" and not mem["numba"]
    assert first["v"] == again["v"] == mem["v"]
    assert abs(float.fromhex(first["v"]) - float.fromhex(first["w"])) <= 1e-9 * abs(
        float.fromhex(first["w"])
    )

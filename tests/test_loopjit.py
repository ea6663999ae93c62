"""Loop kernels compiled to LLVM by jitgrad itself (jitgrad.codegen.loopjit):
the same bits as Numba's kernel of the same module, the values of evaluate,
Numba where the compiler does not apply, and the Python semantics of every
construct it accepts."""

import ctypes
import os

import numpy as np
import pytest
from children import run_child

import jitgrad as jg
from jitgrad.codegen import aot as A
from jitgrad.codegen import loopjit as LJ

pytestmark = pytest.mark.skipif(
    A.find_cc() is None, reason="no C compiler: no trampoline, so no LLVM kernels"
)


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("JITGRAD_AOT", raising=False)
    return str(tmp_path)


def _graph(tag):
    """One kernel using every construct of the part of the language the loop
    compiler takes: the float64 functions, powers, comparisons and selects,
    reductions, shifted slices, gathers, transposes, constants, a Hessian."""
    x = jg.vector(f"x_{tag}", 6)
    A_ = jg.matrix(f"A_{tag}", 3, 4)
    a = jg.scalar(f"a_{tag}")
    u = jg.sin(x) * 0.5 + 0.6  # in (0.1, 1.1): inside every domain below
    funcs = [
        jg.exp(x), jg.log(u), jg.log1p(u), jg.expm1(x), jg.sqrt(u), jg.sin(x), jg.cos(x),
        jg.tan(x * 0.3), jg.arcsin(u - 0.6), jg.arccos(u - 0.6), jg.arctan(x), jg.tanh(x),
        jg.sinh(x), jg.cosh(x), jg.sigmoid(x * 40.0), jg.softplus(x * 40.0), jg.abs(x),
        jg.sign(x), jg.square(x), x**3, x**-2, u**a, x / (u + a), -x,
        jg.maximum(x, a), jg.minimum(x, 0.2), jg.where(x > a, x, 2.0 * x),
    ]  # fmt: skip
    parts = [jg.sum(f * (k + 1.0)) for k, f in enumerate(funcs)]
    parts += [
        jg.sum(x[1:] * x[:-1]) + jg.sum(x[::2] - x[1::2]),
        jg.sum(jg.max(A_, axis=0)) + jg.sum(jg.min(A_, axis=1)) + jg.prod(u),
        jg.sum(A_.T * jg.reshape(x[:4], (4, 1))),
        jg.sum(x[np.array([5, 0, 2, 2])] * a),
        jg.sum(jg.where(A_ >= a, A_, 0.0)),
        jg.sum(jg.logsumexp(A_, axis=1)) + jg.logsumexp(x * 3.0),  # np.isfinite, if
    ]
    f = sum(parts[1:], parts[0])
    ins = [x, A_, a]
    outs = [f, jg.grad(f, x), jg.hessian(f, x), jg.grad(f, A_), jg.stack(funcs)]
    return ins, outs


def _points(tag):
    rng = np.random.default_rng(7)
    yield [rng.uniform(-1, 1, 6), rng.uniform(-1, 1, (3, 4)), 0.25]
    x = rng.uniform(-1, 1, 6)
    x[2] = 0.0  # sign(0), abs'(0), where at the tie
    yield [x, np.full((3, 4), -0.5), -0.5]
    x = rng.uniform(-1, 1, 6)
    x[1] = np.nan  # nan through maximum, minimum, sign, comparisons
    yield [x, rng.uniform(-1, 1, (3, 4)), 0.1]


@pytest.mark.parametrize("cache", [True, False])
def test_loop_kernel_equals_numba_kernel_bit_for_bit(here, cache):
    ins, outs = _graph(f"bits{cache}")
    k = jg.compile(ins, outs, cache=cache)
    assert k.stats["llvm"] == "loops" and k.aot, k.stats
    assert k.stats["aot"] == ("built" if cache else "loops, in memory")
    ref = jg.compile(ins, outs, cache=False, aot=False)  # Numba
    assert "llvm" not in ref.stats
    for point in _points("bits"):
        got, want = k(*point), ref(*point)
        for j, (g, w) in enumerate(zip(got, want)):
            g, w = np.asarray(g), np.asarray(w)
            assert g.shape == w.shape and g.dtype == w.dtype, j
            assert g.tobytes() == w.tobytes(), (j, np.argwhere(g != w)[:3])
    # the first point is inside every domain: the values of evaluate
    point = next(_points("bits"))
    want = jg.evaluate(outs, dict(zip(ins, point)))
    for g, w in zip(k(*point), want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    if cache:
        return
    # the other entry points come from Numba, on first use
    bufs = tuple(np.empty(np.shape(w)) for w in want)
    k.into(*point, out=bufs)
    assert all(b.tobytes() == np.asarray(g).tobytes() for b, g in zip(bufs, k(*point)))
    kn = k.njit

    import numba

    @numba.njit
    def user(x, A, a):
        return kn(x, A, a)[0]

    assert float(user(*point)).hex() == float(k(*point)[0]).hex()


def test_loop_kernel_loads_in_a_fresh_process_without_numba(here):
    code = """
import json, sys, numpy as np, jitgrad as jg
x = jg.vector("x_fresh_loops", 5)
f = jg.sum(jg.exp(x[1:] - x[:-1]) * x[1:])
k = jg.compile([x], [f, jg.grad(f, x), jg.hessian(f, x)])
v = np.linspace(0.1, 0.5, 5)
got = k(v)
want = jg.evaluate([f, jg.grad(f, x), jg.hessian(f, x)], {x: v})
ok = all(np.allclose(g, w, rtol=1e-12) for g, w in zip(got, want))
r = [k.stats.get("llvm"), k.stats["aot"], bool(ok), "numba" in sys.modules]
print("RESULT " + json.dumps(r))
"""
    first = run_child(code, here)
    assert first == ["loops", "built", True, False], first
    again = run_child(code, here)
    assert again == [None, "loaded", True, False], again


def test_what_the_loop_compiler_leaves_to_numba(here):
    x = jg.vector("x_left", 4)
    cases = {
        "fastmath": dict(outs=[jg.sum(x * x)], fastmath=True),
        "float32": dict(outs=[jg.sum(jg.cast(x, np.float32) * np.float32(2.0))]),
    }
    for what, kw in cases.items():
        outs = kw.pop("outs")
        k = jg.compile([x], outs, **kw)
        assert k.stats.get("llvm", "").startswith("numba:"), (what, k.stats)
        v = np.linspace(0.1, 0.4, 4)
        np.testing.assert_allclose(
            np.asarray(k(v), dtype=float),
            np.asarray(jg.evaluate(outs, {x: v})[0], dtype=float),
            rtol=1e-6,
        )
    # aot=False asks for Numba alone
    k = jg.compile([x], jg.sum(x), aot=False)
    assert "llvm" not in k.stats and not k.aot


# ---------------------------------------------------------------- the language itself


def _run(body, shapes_in, out_shape, *args):
    """Compile ``body`` (a module holding ``inner``) in memory and call it on
    ``args`` (float64 arrays or scalars); returns the output array."""
    from jitgrad.codegen import direct as D

    ins = [jg.vector(f"p{k}", s[0]) if s else jg.scalar(f"p{k}") for k, s in enumerate(shapes_in)]
    out = jg.vector("o", out_shape[0]) if out_shape else jg.scalar("o")
    text = LJ.ir_text(body, ins, [out], {}, [])
    address = D.jit(text)
    keep = [np.ascontiguousarray(a, dtype=np.float64) for a in args]
    res = np.zeros(out_shape or (1,))
    ptrs = [a.ctypes.data for a in keep] + [res.ctypes.data]
    argv = (ctypes.c_void_p * len(ptrs))(*ptrs)
    ctypes.CFUNCTYPE(None, ctypes.c_void_p)(address)(ctypes.cast(argv, ctypes.c_void_p))
    return res


def test_float_predicates_are_numpys():
    body = """
def inner(x, out0):
    for i0 in range(5):
        out0[i0] = (1.0 if np.isfinite(x[i0]) else 0.0) + (2.0 if np.isnan(x[i0]) else 0.0)
        out0[i0 + 5] = (1.0 if np.isinf(x[i0]) else 0.0)
"""
    x = np.array([1.0, np.inf, -np.inf, np.nan, -0.0])
    want = np.concatenate([np.isfinite(x) + 2.0 * np.isnan(x), 1.0 * np.isinf(x)])
    assert _run(body, [(5,)], (10,), x).tolist() == want.tolist()


def test_integer_floor_division_and_modulo_are_pythons():
    body = """
def inner(x, out0):
    for i0 in range(7):
        out0[i0] = (i0 - 3) // 2 + 10 * ((i0 - 3) % 2)
"""
    want = [(i - 3) // 2 + 10 * ((i - 3) % 2) for i in range(7)]
    assert _run(body, [(7,)], (7,), np.zeros(7)).tolist() == want


def test_negative_indices_count_from_the_end():
    body = """
def inner(x, out0):
    for i0 in range(4):
        out0[i0] = x[i0 - 2] + x[-1]
"""
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert _run(body, [(4,)], (4,), x).tolist() == [x[i - 2] + x[-1] for i in range(4)]


def test_python_max_min_and_helpers_keep_nans_where_python_does():
    body = """
def _maximum(a, b):
    return a if (a >= b or a != a) else b

def inner(x, out0):
    out0[0] = max(x[0], 0.0)
    out0[1] = max(0.0, x[0])
    out0[2] = _maximum(0.0, x[0])
    out0[3] = min(x[1], x[0], 2.0)
    out0[4] = (x[1] if x[0] != x[0] else 5.0)
"""
    nan = float("nan")
    got = _run(body, [(2,)], (5,), np.array([nan, 3.0]))
    want = [max(nan, 0.0), max(0.0, nan), nan, min(3.0, nan, 2.0), 3.0]
    assert [repr(float(v)) for v in got] == [repr(float(v)) for v in want]


def test_unsupported_constructs_are_refused_not_guessed():
    for body in [
        "def inner(x, out0):\n    out0[0] = np.dot(x, x)\n",
        "def inner(x, out0):\n    out0[0] = x[0] % 2.0\n",
        "def inner(x, out0):\n    out0[:] = x\n",
        "def inner(x, out0):\n    while True:\n        pass\n",
        "def inner(x, out0):\n    out0[0] = undefined_name\n",
    ]:
        with pytest.raises(LJ.Unsupported):
            _run(body, [(2,)], (2,), np.zeros(2))


def test_the_default_size_limit_is_numbas_only_where_numba_compiles(here, monkeypatch):
    """max_ops=None: the large limit for kernels compiled to LLVM here, Numba's
    smaller one (its compile time grows about quadratically) before any file is
    written for a kernel that would need Numba."""
    from jitgrad.codegen import kernel as K

    monkeypatch.setattr(K, "NUMBA_MAX_OPS", 10)

    def graph(tag):  # a new graph each time: a cache hit compiles what is there
        x = jg.vector(f"x_limit_{tag}", 4)
        f = x
        for k in range(8):
            f = jg.sin(f) * (k + 1.0)
        assert jg.count_ops(jg.sum(f)) > 10
        return x, jg.sum(f)

    x, out = graph("loops")
    assert jg.compile([x], out).stats["llvm"] == "loops"  # the limit of MAX_OPS
    before = sorted(os.listdir(here))
    x, out = graph("jit")
    with pytest.raises(ValueError, match=r"needs Numba \(aot=False.*more than 10 would take"):
        jg.compile([x], out, aot=False)
    with pytest.raises(ValueError, match=r"needs Numba \(numba: fastmath"):
        jg.compile([x], out, fastmath=True)
    assert sorted(os.listdir(here)) == before  # refused before the cache write
    jg.compile([x], out, aot=False, max_ops=1000)  # an explicit limit applies to both
    with pytest.raises(ValueError, match="more than max_ops=5"):
        jg.compile(*graph("five"), max_ops=5)

"""compile(..., aot=True): kernels as small shared libraries, loaded without Numba.

Fresh subprocesses check the warm start (no Numba, no llvmlite, same bits as the
JIT kernel); the rest runs in this process against a module-wide cache folder.
"""

import os
import sys
import warnings

import numpy as np
import pytest
from children import run_child

import jitgrad as jg
from jitgrad.codegen import aot as A
from jitgrad.codegen import kernel as K
from jitgrad.codegen.errors import InputShapeError

pytestmark = [
    pytest.mark.skipif(A.find_cc() is None, reason="no C compiler ($CC, cc, gcc, clang) found"),
    pytest.mark.skipif(A.host_key() is None, reason="no /proc/cpuinfo: AOT is Linux-only"),
]


_CHILD = r"""
import json, sys
import numpy as np
import jitgrad as jg
x = jg.vector("x", 4)
y = jg.scalar("y")
f = jg.sum(jg.sin(x) * y + jg.exp(x / y)) + jg.log1p(y * y)
k = jg.compile([x, y], [f, jg.grad(f, x), jg.grad(f, y)], aot=True)
args = (np.linspace(-1.0, 2.0, 4), 0.75)
r = k(*args)
res = {
    "aot": k.aot,
    "stats": {a: b for a, b in k.stats.items()},
    "numba": "numba" in sys.modules,
    "llvmlite": "llvmlite" in sys.modules,
    "values": [float(v).hex() for v in np.concatenate([np.ravel(q) for q in r])],
}
if sys.argv[1] == "more":
    f0, g, gy = np.empty(1), np.empty(4), np.empty(1)
    k.into(*args, out=(f0, g, gy))
    res["into"] = [float(v).hex() for v in np.concatenate([f0, g, gy])]
    res["numba_after_into"] = "numba" in sys.modules
    import numba

    kn = k.njit

    @numba.njit
    def user(a, b):
        return kn(a, b)

    q = user(*args)
    res["njit"] = [float(v).hex() for v in np.concatenate([np.ravel(v) for v in q])]
print("RESULT " + json.dumps(res))
"""


def _child(cache, mode="plain"):
    return run_child(_CHILD, cache, mode)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("aot-cache"))


@pytest.fixture(scope="module", autouse=True)
def numba_kernels():
    """These tests are of Numba's kernels and their ahead-of-time build (the
    path of kernels the loop compiler leaves to Numba), in this process and in
    its children: JITGRAD_LOOPS=0. tests/test_loopjit.py tests the loop
    compiler's libraries."""
    mp = pytest.MonkeyPatch()
    mp.setenv("JITGRAD_LOOPS", "0")
    yield
    mp.undo()


@pytest.fixture
def here(cache, monkeypatch):
    """This process compiles into the module's cache, with no $CC or $JITGRAD_AOT."""
    monkeypatch.setenv("JITGRAD_CACHE_DIR", cache)
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("JITGRAD_AOT", raising=False)
    return cache


def _artifacts(cache, suffix):
    return sorted(f for f in os.listdir(cache) if f.startswith("k_") and f.endswith(suffix))


def test_warm_start_in_a_new_process_needs_no_numba(cache):
    first = _child(cache)
    assert first["aot"] and first["stats"]["aot"] == "built"  # used at once
    assert len(_artifacts(cache, ".so")) == 1 and len(_artifacts(cache, ".aot")) == 1

    second = _child(cache, "more")
    assert second["aot"] and second["stats"]["cache_hit"] and second["stats"]["aot"] == "loaded"
    assert not second["numba"] and not second["llvmlite"]
    assert not second["numba_after_into"]
    # the same bits as the JIT kernel of the first process, by every route
    assert second["values"] == first["values"]
    assert second["into"] == first["values"]
    assert second["njit"] == first["values"]


def _graph(tag):
    x = jg.vector(f"x_{tag}", 3)
    f = jg.sum(jg.cos(x) * x) + jg.sum(x * x)
    return [x], [f, jg.grad(f, x)], (np.array([0.1, -0.7, 2.0]),)


def test_in_process_aot_mode_matches_jit_and_checks_arguments(here):
    ins, outs, args = _graph("modes")
    jit = jg.compile(ins, outs, cache=False)
    k = jg.compile(ins, outs, aot=True)
    assert k.stats["aot"] == "built" and k.aot and "numba" not in k.stats
    k2 = jg.compile(ins, outs, aot=True)
    assert k2.aot and k2.stats["aot"] == "loaded"
    want = jit(*args)
    for got in (k2(*args), k2(list(args[0])), K.Kernel.__call__(k2, *args)):
        assert got[0] == want[0] and got[1].tobytes() == want[1].tobytes()
    with pytest.raises(ValueError, match="expected shape"):
        k2(np.ones(4))
    with pytest.raises(TypeError):
        k2()
    f, g = np.empty(1), np.empty(3)
    k2.into(*args, out=(f, g))
    assert f[0] == want[0] and g.tobytes() == want[1].tobytes()
    with pytest.raises(ValueError, match="output 1"):
        k2.into(*args, out=(f, np.empty(4)))
    ro = args[0].copy()
    ro.flags.writeable = False
    assert k2(ro)[1].tobytes() == want[1].tobytes()


def test_corrupt_artifact_is_removed_and_rebuilt(here, caplog):
    ins, outs, args = _graph("corrupt")
    k = jg.compile(ins, outs, aot=True)
    assert k.stats["aot"] == "built"
    so = [f for f in _artifacts(here, ".so") if f.startswith(_key(ins, outs))]
    assert len(so) == 1
    path = os.path.join(here, so[0])
    with open(path, "r+b") as fh:
        fh.seek(200)
        fh.write(b"\xff\xfe\xfd\xfc")
    with caplog.at_level("WARNING", logger="jitgrad"):
        k2 = jg.compile(ins, outs, aot=True)
    assert "SHA-256 does not match" in caplog.text
    assert k2.aot and k2.stats["aot"] == "built"  # library rebuilt
    k3 = jg.compile(ins, outs, aot=True)
    assert k3.aot
    assert k3(*args)[1].tobytes() == k2(*args)[1].tobytes()
    # a corrupt manifest too
    man = A.paths(here, _key(ins, outs), A.host_key())[1]
    with open(man, "ab") as fh:
        fh.write(b" ")
    caplog.clear()
    with caplog.at_level("WARNING", logger="jitgrad"):
        k4 = jg.compile(ins, outs, aot=True)
    assert "manifest" in caplog.text and k4.aot and k4.stats["aot"] == "built"


def _key(ins, outs):
    opts = dict(simplify="fast", parallel=False, batch=False, fastmath=False, single=False)
    return "k_" + K.graph_digest(ins, outs, opts)[:24]


def test_temporaries_come_from_the_caller(here):
    """A kernel with temporary arrays (small matmuls, a reshape of a transpose)
    is built: its inner_w takes them as scratch memory from the trampoline."""
    x = jg.vector("x_tmp", 5)
    a = jg.matrix("A_tmp", 3, 5)
    f = jg.sum(jg.exp(a @ x)) + jg.sum(jg.reshape(a.T, (15,)) * jg.reshape(a, (15,)))
    outs = [f, jg.grad(f, x), jg.grad(f, a)]
    args = (np.linspace(0, 1, 5), np.linspace(-1, 1, 15).reshape(3, 5))
    k = jg.compile([x, a], outs, aot=True)
    assert k.stats["aot"] == "built" and k.aot
    assert "def inner_w(" in k.source and k._temps
    k2 = jg.compile([x, a], outs, aot=True)
    assert k2.stats["aot"] == "loaded" and k2._temps == k._temps
    want = jg.compile([x, a], outs, cache=False)(*args)
    for kk in (k, k2):
        _same(kk(*args), want)
        bufs = (np.empty(1), np.empty(5), np.empty((3, 5)))
        kk.into(*args, out=bufs)
        assert bufs[2].tobytes() == want[2].tobytes()
    ref = jg.evaluate(outs, dict(zip([x, a], args)))
    for g, r in zip(want, ref):
        np.testing.assert_allclose(g, r, rtol=1e-13)


def test_kernels_that_call_blas_stay_jit(here):
    x = jg.vector("x_blas", 80)
    a = jg.matrix("A_blas", 80, 80)
    f = jg.sum(jg.exp(a @ x))
    args = (np.linspace(0, 1, 80), np.linspace(-1, 1, 6400).reshape(80, 80) / 80)
    k = jg.compile([x, a], [f, jg.grad(f, x)], aot=True)
    assert k.stats["aot"].startswith("unsupported") and "NRT" in k.stats["aot"]
    assert "np.dot" in k.stats["aot"] and "aot_build" not in k.stats  # seen in the source
    assert not k.aot
    want = jg.compile([x, a], [f, jg.grad(f, x)], cache=False)(*args)
    assert k(*args)[1].tobytes() == want[1].tobytes()


def test_batch_kernels_stay_jit(here):
    x = jg.vector("x_batch", 3)
    k = jg.compile([x], jg.sum(x * x), aot=True, batch=True)
    assert k.stats["aot"].startswith("off") and not k.aot
    assert np.allclose(k(np.ones((2, 3))), [3.0, 3.0])


@pytest.mark.parametrize("how", ["CC", "PATH"])
def test_no_compiler_warns_once_and_uses_jit(here, monkeypatch, tmp_path, how):
    if how == "CC":
        monkeypatch.setenv("CC", "/nonexistent/cc")
    else:
        monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(K, "_NO_CC_WARNED", [])
    ins, outs, args = _graph(f"nocc_{how}")
    with pytest.warns(RuntimeWarning, match="C compiler"):
        k = jg.compile(ins, outs, aot=True)
    assert k.stats["aot"] == "off: no C compiler" and not k.aot
    assert np.isfinite(k(*args)[0])
    ins, outs, args = _graph(f"nocc2_{how}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jg.compile(ins, outs, aot=True)  # warned once per process


def test_env_default_and_cache_false(here, monkeypatch):
    monkeypatch.setenv("JITGRAD_AOT", "1")
    ins, outs, _ = _graph("env")
    assert jg.compile(ins, outs).stats["aot"] == "built"
    assert jg.compile(ins, outs, aot=False).stats["aot"] == "off"
    assert jg.compile(ins, outs, cache=False).stats["aot"].startswith("off: needs the disk cache")


def test_numba_version_without_numba(monkeypatch):
    import numba

    monkeypatch.delitem(sys.modules, "numba")
    assert K._numba_version() == numba.__version__
    assert "numba" not in sys.modules


def test_constants_float32_single_output_and_clashing_names(here):
    fn = jg.vector("fn", 3, dtype="float32")  # names the generated __call__ must not shadow
    empty = jg.scalar("empty", dtype="float32")
    out = jg.sum(fn * np.array([1.5, -2.0, 0.25], dtype=np.float32)) * empty
    k = jg.compile([fn, empty], out, aot=True)
    assert k.stats["aot"] == "built" and len(k._consts) == 1
    k2 = jg.compile([fn, empty], out, aot=True)
    assert k2.aot
    a = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    for s in (2.0, np.float32(2.0), np.array(2.0)):
        got = k2(a, s)
        assert type(got) is float and got == k(a, s)
    assert k2(fn=a, empty=2.0) == k(a, 2.0)


def test_missing_library_is_rebuilt(here, caplog):
    ins, outs, args = _graph("missing")
    jg.compile(ins, outs, aot=True)
    for f in _artifacts(here, ".so"):
        if f.startswith(_key(ins, outs)):
            os.unlink(os.path.join(here, f))
    with caplog.at_level("WARNING", logger="jitgrad"):
        k = jg.compile(ins, outs, aot=True)
    assert "cannot read the library" in caplog.text
    assert k.aot and k.stats["aot"] == "built"
    assert jg.compile(ins, outs, aot=True).aot


# ----------------------------------------------------------------------------- the call path


@pytest.fixture(scope="module")
def pair(cache, tmp_path_factory):
    """The same graph as an AOT-mode kernel and as a JIT kernel (no cache): a
    vector, a scalar and a (2, 3) matrix in; a scalar, a vector and a matrix out."""
    mp = pytest.MonkeyPatch()
    mp.setenv("JITGRAD_CACHE_DIR", cache)
    x = jg.vector("x_call", 3)
    s = jg.scalar("s_call")
    m = jg.matrix("m_call", 2, 3)
    f = jg.sum(jg.sin(x) * s) + jg.sum(m * m)
    outs = [f, jg.grad(f, x), jg.grad(f, m) * s]
    ins = [x, s, m]
    jg.compile(ins, outs, aot=True)
    k = jg.compile(ins, outs, aot=True)
    jit = jg.compile(ins, outs, cache=False)
    mp.undo()
    assert k.aot and k.stats["aot"] == "loaded" and not jit.aot
    return k, jit


X1 = np.array([0.5, -1.25, 2.0])
M1 = np.arange(6.0).reshape(2, 3) / 7


def _same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert type(g) is type(w)
        assert np.asarray(g).tobytes() == np.asarray(w).tobytes()


def test_call_is_the_compiled_trampoline(pair):
    k, jit = pair
    assert type(type(k).__call__).__name__ == "builtin_function_or_method"
    _same(k(X1, 0.75, M1), jit(X1, 0.75, M1))


def test_arguments_convert_as_in_jit_mode(pair):
    k, jit = pair
    want = jit(X1, 0.75, M1)
    ro = X1.copy()
    ro.flags.writeable = False
    for args, kws in [
        ((X1.tolist(), 0.75, M1.tolist()), {}),
        ((X1, np.float64(0.75), M1), {}),
        ((X1, np.array(0.75), np.asfortranarray(M1)), {}),
        ((ro, 0.75, M1), {}),
        ((np.repeat(X1, 2)[::2], 0.75, M1), {}),
        ((X1.astype(np.float32).astype(np.float64), 0.75, M1), {}),
        ((), {"x_call": X1, "s_call": 0.75, "m_call": M1}),
        ((X1,), {"m_call": M1, "s_call": 0.75}),
    ]:
        _same(k(*args, **kws), want)
    w2 = jit(np.array([1.0, 2.0, 3.0]), 2.0, M1)
    _same(k([1, 2, 3], 2, M1), w2)  # integers convert like NumPy
    _same(k(np.array([1, 2, 3]), np.int64(2), M1), w2)


@pytest.mark.parametrize(
    ("args", "kws", "exc", "words"),
    [
        ((), {}, TypeError, ["'x_call'", "'s_call'", "'m_call'", "missing 3"]),
        ((X1,), {}, TypeError, ["'s_call'", "'m_call'", "missing 2"]),
        ((X1, 0.75, M1, M1), {}, TypeError, ["takes 3 input"]),
        ((X1, 0.75, M1), {"zz": 1}, TypeError, ["unexpected keyword argument 'zz'"]),
        ((X1, 0.75), {"x_call": X1}, TypeError, ["multiple values for argument 'x_call'"]),
        ((np.ones(4), 0.75, M1), {}, InputShapeError, ["'x_call'", "(3,)", "(4,)"]),
        ((X1, np.ones(2), M1), {}, InputShapeError, ["'s_call'", "()", "(2,)"]),
        ((X1, 0.75, M1.T), {}, InputShapeError, ["'m_call'", "(2, 3)", "(3, 2)"]),
        ((X1, "0.75", M1), {}, TypeError, ["'s_call'"]),
        ((X1 + 1j, 0.75, M1), {}, TypeError, ["'x_call'"]),
        ((X1, None, M1), {}, TypeError, ["'s_call'"]),
    ],
    ids=[
        "none",
        "missing2",
        "too_many",
        "unknown_kw",
        "twice",
        "shape",
        "scalar_shape",
        "transposed",
        "str",
        "complex",
        "None",
    ],
)
def test_bad_arguments_raise_like_jit_mode(pair, args, kws, exc, words):
    k, _ = pair
    with pytest.raises(exc) as e:
        k(*args, **kws)
    for w in words:
        assert w in str(e.value)


def test_into_and_strict_plan(pair):
    k, jit = pair
    want = jit(X1, 0.75, M1)
    f, g, h = np.empty(1), np.empty(3), np.empty((2, 3))
    k.into(X1, 0.75, M1, out=(f, g, h))
    assert f[0] == want[0] and g.tobytes() == want[1].tobytes() and h.tobytes() == want[2].tobytes()
    with pytest.raises(ValueError, match="output 2"):
        k.into(X1, 0.75, M1, out=(f, g, np.empty((3, 2))))
    # the C side refuses what no Python check let through
    with pytest.raises(TypeError, match="does not match its plan"):
        k._aot_strict(X1.tolist(), 0.75, M1)
    with pytest.raises(ValueError, match="does not match its plan"):
        k._aot_into(X1, 0.75, M1, f, g, np.empty((2, 3))[:, :2])
    with pytest.raises(TypeError, match="expected 3 inputs"):
        k._aot_strict(X1)


def test_into_fast_path_skips_the_python_checks(pair, monkeypatch):
    k, jit = pair
    want = jit(X1, 0.75, M1)
    f, g, h = np.full(1, np.nan), np.full(3, np.nan), np.full((2, 3), np.nan)
    calls = []
    checks = type(k)._args
    monkeypatch.setattr(k, "_args", lambda *a, **kw: calls.append(1) or checks(k, *a, **kw))
    k.into(X1, 0.75, M1, out=(f, g, h))  # exact arrays: straight into the trampoline
    assert not calls
    assert f[0] == want[0] and g.tobytes() == want[1].tobytes() and h.tobytes() == want[2].tobytes()
    h[...] = np.nan
    k.into(X1.tolist(), 0.75, M1, out=[f, g, h])  # a list converts first, same result
    assert calls and h.tobytes() == want[2].tobytes()
    # a refused buffer leaves every output as it was, with the Python message
    g[...] = 7.0
    with pytest.raises(ValueError, match="output 2 must be"):
        k.into(X1, 0.75, M1, out=(f, g, np.empty((2, 3))[:, :2]))
    assert (g == 7.0).all()


def test_kernel_is_freed(here):
    import gc
    import weakref

    ins, outs, args = _graph("freed")
    jg.compile(ins, outs, aot=True)
    k = jg.compile(ins, outs, aot=True)
    assert k.aot
    k(*args)
    ref = weakref.ref(k)
    del k
    gc.collect()
    assert ref() is None


def test_corrupt_trampoline_is_rebuilt(tmp_path, monkeypatch, caplog):
    d = str(tmp_path)
    monkeypatch.setattr(A, "_TRAMPOLINE", {})
    assert A.trampoline(d) is not None
    (so,) = [f for f in os.listdir(d) if f.startswith("_jitgrad_trampoline") and f.endswith(".so")]
    path = os.path.join(d, so)
    with open(path, "rb") as fh:
        good = fh.read()
    with open(path, "r+b") as fh:
        fh.seek(300)
        fh.write(b"\x00\x01\x02\x03")
    monkeypatch.setattr(A, "_TRAMPOLINE", {})
    with caplog.at_level("WARNING", logger="jitgrad"):
        assert A.trampoline(d) is not None
    assert "call path" in caplog.text
    with open(path, "rb") as fh:
        rebuilt = fh.read()
    assert len(rebuilt) == len(good)  # whole again (same compiler, same source)


def test_float32_kernel_through_the_trampoline(here):
    x = jg.vector("x_f32", 4, dtype="float32")
    s = jg.scalar("s_f32", dtype="float32")
    f = jg.sum(jg.exp(x) * s)
    outs = [f, jg.grad(f, x), jg.grad(f, s)]
    jg.compile([x, s], outs, aot=True)
    k = jg.compile([x, s], outs, aot=True)
    jit = jg.compile([x, s], outs, cache=False)
    assert k.aot
    a = np.linspace(0, 1, 4, dtype=np.float32)
    for sv in (1.5, np.float32(1.5), 1.5000001):
        got, want = k(a, sv), jit(a, sv)
        assert got[1].dtype == np.float32
        _same(got, want)
    _same(k(a.astype(np.float64), 1.5), jit(a, 1.5))


# ----------------------------------------------------------------------------- regressions
# Wrong numbers on the default path (issue 15): ``inner`` (the library) and
# ``entry`` (Numba's dispatcher) were emitted with their own counters, and the
# constants took their names from them: a name given to one array by one
# emission could be given to another array by the other, and the later one
# overwrote the earlier one in the module's constant table. Every case below
# needs several array constants (from jacobian/hessian of slices and stacks).


def _least_squares(n=10):
    x = jg.vector("x_ls", n)
    v = jg.vector("v_ls", n)
    u = jg.vector("u_ls", n)
    odd, even = x[0::2], x[1::2]
    r = jg.reshape(jg.stack([10.0 * (even - odd**2), 1.0 - odd], axis=1), (n,))
    f = jg.sum(r**2)
    outs = [f, jg.grad(f, x), jg.hvp(f, x, v), jg.hessian(f, x)]
    outs += [jg.jacobian(r, x), jg.jvp(r, x, v), jg.vjp(r, x, u)]
    rng = np.random.default_rng(0)
    args = (np.tile([-1.2, 1.0], n // 2), rng.standard_normal(n), rng.standard_normal(n))
    return [x, v, u], outs, args


def _stack_sigmoid():
    y = jg.var("y_ss", (2,))
    u = jg.var("u_ss", (4,))
    r = jg.reshape(jg.stack([y, jg.sigmoid(y)], axis=-1), (4,))
    outs = [jg.hessian(jg.sum(r), y), jg.vjp(r, y, u)]
    return [u, y], outs, (np.array([-0.065, -1.48, 0.347, -0.482]), np.array([-1.88, -0.356]))


def _polyfit():
    x = jg.vector("x_pf", 3)
    t = np.linspace(0.0, 1.0, 5)
    V = np.vander(t, 3)
    r = jg.concatenate([V @ x - np.sin(t), jg.stack([x[0] - 1.0, x[1] * x[2]])])
    f = jg.sum(r**2)
    outs = [f, jg.grad(f, x), jg.hessian(f, x), jg.jacobian(r, x)]
    return [x], outs, (np.array([0.5, -1.0, 2.0]),)


def _third_order():
    x = jg.vector("x_3o", 4)
    f = jg.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    g = jg.grad(f, x)
    outs = [f, g, jg.hessian(f, x), jg.hessian(g[1], x), jg.hessian(g[2], x)]
    return [x], outs, (np.array([-1.2, 1.0, 0.7, 1.3]),)


@pytest.mark.parametrize("build", [_least_squares, _stack_sigmoid, _polyfit, _third_order])
@pytest.mark.parametrize("simplify", ["fast", None])
def test_multi_output_kernels_with_constants_are_right_on_the_default_path(here, build, simplify):
    ins, outs, args = build()
    want = jg.evaluate(outs, dict(zip(ins, args)))
    k = jg.compile(ins, outs, simplify=simplify)  # the defaults: cache, AOT where it applies
    assert k.aot and k.stats["aot"] == "built", k.stats["aot"]
    assert len(k._const_names) == len(set(k._const_names))
    k2 = jg.compile(ins, outs, simplify=simplify)
    assert k2.stats["aot"] == "loaded"
    jit = jg.compile(ins, outs, simplify=simplify, aot=False)
    for kk in (k, k2, jit):
        for _ in range(2):  # scratch memory is reused by the second call
            for j, (g, w) in enumerate(zip(kk(*args), want)):
                np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, err_msg=f"output {j}")
    # the same over a batch of 3 points
    rng = np.random.default_rng(1)
    pts = [[a + 0.1 * rng.standard_normal(np.shape(a)) for a in args] for _ in range(3)]
    kb = jg.compile(ins, outs, simplify=simplify, batch=True)
    got = kb(*[np.stack([p[q] for p in pts]) for q in range(len(ins))])
    for b, p in enumerate(pts):
        for j, w in enumerate(jg.evaluate(outs, dict(zip(ins, p)))):
            np.testing.assert_allclose(got[j][b], w, rtol=1e-12, atol=1e-12, err_msg=f"{b}, {j}")


def test_zero_size_inputs_build_without_a_logged_failure(here, caplog):
    x = jg.vector("x_empty", 0)
    y = jg.vector("y_empty", 3)
    outs = [jg.sum(jg.sin(x)) + jg.sum(y * y), jg.grad(jg.sum(y**3), y), x * 2.0]
    with caplog.at_level("WARNING", logger="jitgrad"):
        k = jg.compile([x, y], outs)
    assert "failed" not in caplog.text and k.stats["aot"] == "built"
    got = k(np.empty(0), np.array([1.0, 2.0, 3.0]))
    assert got[0] == 14.0 and got[1].tolist() == [3.0, 12.0, 27.0] and got[2].shape == (0,)


def test_fastmath_kernel_with_a_kink_passes_the_self_check(here):
    """The self-check point was evenly spaced: equal steps gave equal differences,
    ties at the kink of ``where(e > 0, e, 0)``, where the reassociated fastmath
    sums land on either side. The library was then refused ("differs from the
    JIT kernel's"), or, in the long profile, both were taken for wrong and
    compile raised KernelCheckError. Found by tests/difftest.py (case 840)."""
    x = jg.vector("x_kink", 6)
    e0 = jg.reshape(jg.stack([x[1::2] - x[0::2], x[1::2] * 0.5], axis=1), (6,))
    e5 = e0[:, None] - e0[None, :]
    W = np.random.default_rng(0).uniform(-1, 1, (6, 6))
    f = jg.sum(jg.sigmoid(jg.where(e5 > 0.0, e5, 0.0)) * W)
    outs = [f, jg.grad(f, x), jg.hessian(f, x)]
    k = jg.compile([x], outs, fastmath=True)
    assert k.aot and k.stats["aot"] == "built", k.stats["aot"]
    a = np.random.default_rng(1).uniform(-1, 1, 6)
    for g, w in zip(k(a), jg.evaluate(outs, {x: a})):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9)

"""compile(..., aot=True): kernels as small shared libraries, loaded without Numba.

Fresh subprocesses check the warm start (no Numba, no llvmlite, same bits as the
JIT kernel); the rest runs in this process against a module-wide cache folder.
"""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.codegen import aot as A
from jitgrad.codegen import kernel as K

pytestmark = [
    pytest.mark.skipif(A.find_cc() is None, reason="no C compiler ($CC, cc, gcc, clang) found"),
    pytest.mark.skipif(A.host_key() is None, reason="no /proc/cpuinfo: AOT is Linux-only"),
]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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
    env = dict(os.environ, JITGRAD_CACHE_DIR=cache, PYTHONPATH=ROOT)
    env.pop("JITGRAD_AOT", None)
    p = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], env=env, capture_output=True, text=True, timeout=300
    )
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise AssertionError(f"child failed:\n{p.stdout}\n{p.stderr}")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("aot-cache"))


@pytest.fixture
def here(cache, monkeypatch):
    """This process compiles into the module's cache, with no $CC or $JITGRAD_AOT."""
    monkeypatch.setenv("JITGRAD_CACHE_DIR", cache)
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("JITGRAD_AOT", raising=False)
    return cache


def _artifacts(cache, suffix):
    return sorted(f for f in os.listdir(cache) if f.endswith(suffix))


def test_warm_start_in_a_new_process_needs_no_numba(cache):
    first = _child(cache)
    assert not first["aot"] and first["stats"]["aot"] == "built"
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
    assert k.stats["aot"] == "built" and not k.aot
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
    assert not k2.aot and k2.stats["aot"] == "built"  # JIT now, library rebuilt
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
    assert "manifest" in caplog.text and not k4.aot and k4.stats["aot"] == "built"


def _key(ins, outs):
    opts = dict(simplify="fast", parallel=False, batch=False, fastmath=False, single=False)
    return "k_" + K.graph_digest(ins, outs, opts)[:24]


def test_kernels_that_allocate_stay_jit(here):
    x = jg.vector("x_alloc", 5)
    a = jg.matrix("A_alloc", 3, 5)
    f = jg.sum(jg.exp(a @ x))
    args = (np.linspace(0, 1, 5), np.linspace(-1, 1, 15).reshape(3, 5))
    k = jg.compile([x, a], [f, jg.grad(f, x)], aot=True)
    assert k.stats["aot"].startswith("unsupported") and "NRT" in k.stats["aot"]
    assert not k.aot
    want = jg.compile([x, a], [f, jg.grad(f, x)], cache=False)(*args)
    assert k(*args)[1].tobytes() == want[1].tobytes()
    # recorded: no second build attempt
    k2 = jg.compile([x, a], [f, jg.grad(f, x)], aot=True)
    assert k2.stats["aot"].startswith("unsupported") and "aot_build" not in k2.stats


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
    assert not k.aot and k.stats["aot"] == "built"
    assert jg.compile(ins, outs, aot=True).aot

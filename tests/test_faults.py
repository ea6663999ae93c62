"""Faults during a compile end with correct results (or the caller's own
KeyboardInterrupt) and leave no permanent mark: a full disk, a cache turned
read-only in the middle of a compile, a C compiler that hangs or writes
garbage, a process killed with SIGKILL or interrupted with SIGINT, and a cache
folder removed (or reached by a relative path) after the compile.

The disk faults use a small tmpfs and a read-only bind mount, which need root:
they are skipped with that reason otherwise.
"""

import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from children import ROOT, run_child

import jitgrad as jg
from jitgrad.codegen import aot as A
from jitgrad.codegen import kernel as K

HAVE_AOT = A.find_cc() is not None and A.host_key() is not None
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_aot = pytest.mark.skipif(not HAVE_AOT, reason="no C compiler or no /proc/cpuinfo")
needs_root = pytest.mark.skipif(not IS_ROOT, reason="mounting a tmpfs or a bind mount needs root")


def _graph(tag):
    x = jg.vector(f"x_{tag}", 5)
    f = jg.sum(jg.exp(jg.sin(x)) * x) + jg.sum(x[1:] * x[:-1])
    outs = [f, jg.grad(f, x), jg.hessian(f, x)]
    args = (np.linspace(-1.0, 1.5, 5),)
    return [x], outs, args, jg.evaluate(outs, {x: args[0]})


def _right(k, args, want):
    for g, w in zip(k(*args), want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def _manifests(d):
    return [f for f in os.listdir(d) if f.startswith("k_") and f.endswith(".aot")]


def _no_unsupported(d):
    for f in _manifests(d):
        man = A.read_manifest(os.path.join(d, f))
        assert "unsupported" not in man, man


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("JITGRAD_AOT", raising=False)
    monkeypatch.delenv("CC", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def numba_path(monkeypatch):
    """Kernels compiled by Numba, in this process and its children
    (JITGRAD_LOOPS=0): the faults below are of Numba's compile, import and
    ahead-of-time build, which the loop compiler (jitgrad.codegen.loopjit)
    does not reach."""
    monkeypatch.setenv("JITGRAD_LOOPS", "0")


def _mount(*args):
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """A 16 MiB tmpfs as the cache."""
    d = tmp_path / "tmpfs"
    d.mkdir()
    try:
        _mount("-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(d))
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        pytest.skip(f"cannot mount a tmpfs here ({e})")
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(d))
    monkeypatch.delenv("JITGRAD_AOT", raising=False)
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


@needs_root
@needs_aot
def test_a_full_disk_gives_an_in_memory_kernel_and_no_mark(small_disk):
    # the trampoline first, while there is room
    ins, outs, args, want = _graph("disk0")
    jg.compile(ins, outs)
    filler = small_disk / "filler"
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - 2048))
    ins, outs, args, want = _graph("disk1")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        k = jg.compile(ins, outs)
    _right(k, args, want)
    assert any("compiling in memory" in str(m.message) for m in w) or not k.aot
    _no_unsupported(small_disk)
    filler.unlink()  # room again: the next compile builds the library
    k2 = jg.compile(ins, outs)
    _right(k2, args, want)
    assert k2.aot and k2.stats["aot"] == "built"


@needs_root
@needs_aot
def test_a_cache_turned_read_only_mid_compile_gives_an_in_memory_kernel(here, monkeypatch):
    here.mkdir(mode=0o700)
    ins, outs, args, want = _graph("ro0")
    jg.compile(ins, outs)  # the trampoline
    try:
        _mount("--bind", str(here), str(here))
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        pytest.skip(f"cannot bind-mount here ({e})")
    try:
        link = A.link

        def read_only_then_link(*a, **kw):  # the disk goes read-only during the build
            _mount("-o", "remount,ro,bind", str(here))
            return link(*a, **kw)

        monkeypatch.setattr(A, "link", read_only_then_link)
        ins, outs, args, want = _graph("ro1")
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            k = jg.compile(ins, outs)
        _right(k, args, want)
        monkeypatch.setattr(A, "link", link)
        _mount("-o", "remount,rw,bind", str(here))
        _no_unsupported(here)
        k2 = jg.compile(ins, outs)
        _right(k2, args, want)
        assert k2.aot, k2.stats["aot"]
    finally:
        subprocess.run(["umount", "-l", str(here)], check=False)


def _fake_cc(tmp_path, body):
    cc = tmp_path / "fake-cc"
    cc.write_text("#!/bin/sh\n" + body + "\n")
    cc.chmod(0o755)
    return str(cc)


@needs_aot
@pytest.mark.parametrize(
    "kind, body",
    [
        ("hangs", "sleep 60"),
        ("garbage", 'while [ $# -gt 0 ]; do [ "$1" = -o ] && echo garbage > "$2"; shift; done'),
    ],
)
def test_a_broken_c_compiler_leaves_a_working_kernel_and_no_mark(
    here, monkeypatch, tmp_path, kind, body
):
    ins, outs, args, want = _graph(f"cc0_{kind}")
    jg.compile(ins, outs)  # the trampoline, with the real compiler
    monkeypatch.setenv("CC", _fake_cc(tmp_path, body))
    monkeypatch.setenv("JITGRAD_CC_TIMEOUT", "2")
    ins, outs, args, want = _graph(f"cc1_{kind}")
    t = time.perf_counter()
    k = jg.compile(ins, outs)
    assert time.perf_counter() - t < 50
    _right(k, args, want)
    assert not k.aot and k.stats["aot"].startswith("failed"), k.stats["aot"]
    why = "did not finish within 2 s" if kind == "hangs" else "not a shared library"
    assert why in k.stats["aot"]
    _no_unsupported(str(here))
    monkeypatch.delenv("CC")
    k2 = jg.compile(ins, outs)
    assert k2.aot and k2.stats["aot"] == "built"


@needs_aot
def test_an_error_inside_numba_during_the_build_is_not_recorded(here, monkeypatch, numba_path):
    """Numba failing on the C wrapper for a reason of its own (seen after a
    Ctrl-C swallowed by a finalizer: "no compiled object yet for <Library
    'inner_w'>") leaves a JIT kernel and no mark; the next compile builds."""
    import numba

    ins, outs, args, want = _graph("nbfail")
    real = numba.cfunc

    def broken(*a, **kw):
        def wrap(fn):
            raise RuntimeError("no compiled object yet for <Library 'inner_w'>")

        return wrap

    monkeypatch.setattr(numba, "cfunc", broken)
    k = jg.compile(ins, outs)
    _right(k, args, want)
    assert not k.aot and k.stats["aot"].startswith("failed: "), k.stats["aot"]
    assert "no compiled object yet" in k.stats["aot"]
    _no_unsupported(str(here))
    monkeypatch.setattr(numba, "cfunc", real)
    k2 = jg.compile(ins, outs)
    assert k2.aot and k2.stats["aot"] == "built", k2.stats["aot"]
    _right(k2, args, want)


def test_leftovers_of_killed_processes_are_removed_at_the_next_start(here):
    here.mkdir(mode=0o700)
    old = time.time() - 2 * K.STALE_SECONDS
    (here / ".aot-dead").mkdir()
    (here / ".aot-dead" / "k.o").write_bytes(b"x")
    (here / ".tmp-dead").write_bytes(b"x")
    (here / ".aot-running").mkdir()  # young: a compile in another process
    for p in (here / ".aot-dead", here / ".tmp-dead"):
        os.utime(p, (old, old))
    K._CLEANED.discard(str(here))
    ins, outs, args, want = _graph("leftover")
    _right(jg.compile(ins, outs), args, want)
    names = set(os.listdir(here))
    assert ".aot-dead" not in names and ".tmp-dead" not in names and ".aot-running" in names


def test_kill_9_mid_compile_then_a_new_process(tmp_path):
    cache = str(tmp_path / "cache")
    code = (
        "import numpy as np, jitgrad as jg\n"
        "x = jg.vector('x_kill', 6)\n"
        "f = jg.sum(jg.exp(jg.sin(x)) * jg.cos(x))\n"
        "k = jg.compile([x], [f, jg.grad(f, x), jg.hessian(f, x)])\n"
    )
    env = dict(os.environ, JITGRAD_CACHE_DIR=cache, PYTHONPATH=ROOT)
    env.pop("JITGRAD_AOT", None)
    p = subprocess.Popen([sys.executable, "-c", code], env=env)
    time.sleep(2.5)
    p.kill()
    p.wait()
    res = run_child(_SIGINT_CHILD, cache, "x_kill")
    assert res["right"] and res["aot"] in ("built", "loaded"), res


_SIGINT_CHILD = r"""
import json, signal, sys
# Python's own Ctrl-C handler, also where the test runs as a background job
# (which starts with SIGINT ignored, and the signal would then never arrive)
signal.signal(signal.SIGINT, signal.default_int_handler)
import numpy as np, jitgrad as jg
x = jg.vector(sys.argv[1], 6)
f = jg.sum(jg.exp(jg.sin(x)) * jg.cos(x))
outs = [f, jg.grad(f, x), jg.hessian(f, x)]
k = jg.compile([x], outs)
a = np.linspace(-1, 1, 6)
right = all(np.allclose(g, w, rtol=1e-12) for g, w in zip(k(a), jg.evaluate(outs, {x: a})))
print("RESULT " + json.dumps({"right": bool(right), "aot": k.stats["aot"]}))
"""


SIGINT_DELAYS = [0.8, 1.6, 2.4, 3.2]


@pytest.mark.parametrize("delay", SIGINT_DELAYS)
def test_sigint_reaches_the_caller_and_leaves_no_mark(tmp_path, delay, numba_path):
    cache = str(tmp_path / "cache")
    env = dict(os.environ, JITGRAD_CACHE_DIR=cache, PYTHONPATH=ROOT)
    env.pop("JITGRAD_AOT", None)
    name = f"x_int{int(delay * 10)}"
    p = subprocess.Popen(
        [sys.executable, "-c", _SIGINT_CHILD, name],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=300)
    # either the Ctrl-C reached the program, or the compile had finished
    assert ("KeyboardInterrupt" in err and p.returncode != 0) or "RESULT" in out, (out, err)
    if delay == min(SIGINT_DELAYS):  # no cold compile of a Hessian with AOT is this quick
        assert "KeyboardInterrupt" in err and "RESULT" not in out, (out, err)
    if os.path.isdir(cache):
        _no_unsupported(cache)
    res = run_child(_SIGINT_CHILD, cache, name)
    assert res["right"], res
    if HAVE_AOT:
        assert res["aot"] in ("built", "loaded"), res


_HALF_IMPORT_CHILD = r"""
import importlib.abc, json, sys
import numpy as np, jitgrad as jg

class CtrlC(importlib.abc.MetaPathFinder):
    # a Ctrl-C that arrives while Numba's first import reaches this submodule
    def find_spec(self, name, path, target=None):
        if name == sys.argv[1]:
            sys.meta_path.remove(self)
            raise KeyboardInterrupt
        return None

assert "numba" not in sys.modules and "llvmlite" not in sys.modules
sys.meta_path.insert(0, CtrlC())
x = jg.vector("x_half", 4)
f = jg.sum(jg.exp(jg.sin(x)) * x)
outs = [f, jg.grad(f, x), jg.hessian(f, x)]
res = {}
try:
    jg.compile([x], outs)
    res["first"] = "done"
except KeyboardInterrupt:
    res["first"] = "interrupted"
a = np.linspace(-1, 1, 4)
for opts in ({}, {"aot": False}, {"cache": False}):
    k = jg.compile([x], outs, **opts)
    got, want = k(a), jg.evaluate(outs, {x: a})
    res[str(opts)] = bool(all(np.allclose(g, w, rtol=1e-12) for g, w in zip(got, want)))
print("RESULT " + json.dumps(res))
"""


@pytest.mark.parametrize(
    "module",
    [
        "numba.core.typing",
        "numba.core.typing.templates",
        "numba.core.cpu",
        "llvmlite.binding",
        "llvmlite.binding.executionengine",
    ],
)
def test_a_ctrl_c_during_the_first_import_of_numba_leaves_the_process_usable(
    tmp_path, module, numba_path
):
    """Interrupted half way through Numba's import, the package was gone from
    sys.modules while finished submodules kept the dead object: every later
    compile in that process raised ``module 'numba' has no attribute 'core'``."""
    res = run_child(_HALF_IMPORT_CHILD, str(tmp_path / "cache"), module)
    assert res == {
        "first": "interrupted",
        "{}": True,
        "{'aot': False}": True,
        "{'cache': False}": True,
    }


_SWALLOWED_CHILD = r"""
import json, os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import numpy as np, jitgrad as jg
from jitgrad.codegen import kernel as K

real = K._compile

def swallowing(*a, **kw):
    # a Ctrl-C that lands where Python ignores exceptions (a ctypes callback
    # of llvmlite's: "Exception ignored on calling ctypes callback function")
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    return real(*a, **kw)

K._compile = swallowing
x = jg.vector("x_swallow", 3)
res = {}
try:
    jg.compile([x], [jg.sum(jg.sin(x))])
    res["first"] = "returned"
except KeyboardInterrupt:
    res["first"] = "interrupted"
K._compile = real
k = jg.compile([x], [jg.sum(jg.sin(x))])
res["after"] = bool(np.isclose(k(np.ones(3)), 3 * np.sin(1.0)))
print("RESULT " + json.dumps(res))
"""


def test_a_ctrl_c_swallowed_on_the_way_still_reaches_the_caller(tmp_path):
    """llvmlite calls back into Python from C, where an exception is printed and
    dropped: the SIGINT test saw a compile return after its Ctrl-C. The
    interrupt is remembered and raised when the compile returns."""
    res = run_child(_SWALLOWED_CHILD, str(tmp_path / "cache"))
    assert res == {"first": "interrupted", "after": True}


_LAZY_CHILD = r"""
import json, os, shutil, sys
import numpy as np, jitgrad as jg
x = jg.vector("x_lazy", 5)
f = jg.sum(jg.exp(jg.sin(x)) * x)
outs = [f, jg.grad(f, x)]
k = jg.compile([x], outs)
res = {"aot": k.stats["aot"]}
if sys.argv[1] == "remove":
    shutil.rmtree(os.environ["JITGRAD_CACHE_DIR"])
elif sys.argv[1] == "chdir":
    os.makedirs("elsewhere", exist_ok=True)
    os.chdir("elsewhere")
if sys.argv[1] != "build":
    a = np.linspace(-1, 1, 5)
    got = k.njit(a)  # imports the module on first use
    res["right"] = bool(np.allclose(got[1], jg.evaluate(outs, {x: a})[1], rtol=1e-12))
    res["again"] = k.njit is k.njit
    res["stray"] = os.path.exists("rel-cache") if sys.argv[1] == "chdir" else False
print("RESULT " + json.dumps(res))
"""


@needs_aot
@pytest.mark.parametrize("how", ["remove", "chdir"])
def test_njit_works_after_the_cache_folder_is_removed_or_the_directory_changes(tmp_path, how):
    """A kernel loaded from the library imports its module (k.njit) on first use:
    after the cache folder is removed it writes the files again; with a
    relative JITGRAD_CACHE_DIR it still finds them after os.chdir."""
    cache = "rel-cache" if how == "chdir" else str(tmp_path / "cache")
    env = dict(os.environ, JITGRAD_CACHE_DIR=cache, PYTHONPATH=ROOT)
    env.pop("JITGRAD_AOT", None)

    def child(mode):
        p = subprocess.run(
            [sys.executable, "-c", _LAZY_CHILD, mode], env=env, cwd=tmp_path,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
        assert line, p.stderr
        import json

        return json.loads(line[-1][7:])

    assert child("build")["aot"] == "built"
    res = child(how)
    assert res["aot"] == "loaded" and res["right"] and res["again"] and not res["stray"], res

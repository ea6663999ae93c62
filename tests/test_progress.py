"""Progress reports of slow compiles and derivative builds (jitgrad.progress).

Thresholds are set to 0 (report everything) or to a long time (report nothing),
so the tests do not depend on how fast the machine is; one tiny kernel is
compiled once per module, in a private cache directory.
"""

import logging
import sys
import threading
import time
import types

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import progress


@pytest.fixture
def settings():
    """set_progress(...) for one test, restored afterwards."""
    old = jg.set_progress()
    yield jg.set_progress
    jg.set_progress(**old)


@pytest.fixture
def log_lines(caplog):
    caplog.set_level(logging.INFO, logger="jitgrad")

    def lines():
        return [r.getMessage() for r in caplog.records if r.name == "jitgrad"]

    return lines


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    d = tmp_path_factory.mktemp("progress_cache")
    mp.setenv("JITGRAD_CACHE_DIR", str(d))
    yield d
    mp.undo()


def _graph():
    x = jg.vector("progress_x", 3)
    f = jg.sum(jg.sin(x) * x)
    return x, [f, jg.grad(f, x)]


def _ours(text):
    return [line for line in text.splitlines() if line.startswith("jitgrad: ")]


@pytest.mark.parametrize("aot", [False, True])
def test_compile_reports_every_phase(
    cache_dir, settings, capfd, log_lines, aot, tmp_path, monkeypatch
):
    from jitgrad.codegen import aot as A

    if aot and A.find_cc() is None:
        pytest.skip("no C compiler: no AOT build to report")
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))  # a miss for each mode
    settings(True, after=0.0, bar=False)
    x, outs = _graph()
    k = jg.compile([x], outs, aot=aot)  # a cache miss in the fresh directory
    err = _ours(capfd.readouterr().err)
    names = [line.split(": ", 2)[2].split("...")[0] for line in err[:-1]]
    build = "llvm (loops)" if aot else "numba compile"  # loopjit: no Numba at all
    assert names == [
        "hash",
        "cache lookup",
        "simplify (fast)",
        "simplify (fast) > fast pass",
        "lower",
        "emit",
        "cache write",
        build,
    ]
    assert err[0].startswith("jitgrad: compiling kernel (progress_x) -> 2 outputs, ")
    assert "done in" in err[-1] and build in err[-1]
    # the same lines go to the logger
    logged = [m for m in log_lines() if "compiling kernel" in m]
    assert logged == err
    np.testing.assert_allclose(k(np.ones(3))[0], 3 * np.sin(1.0))

    # a cache hit: no simplify, lower or emit; Numba (or the AOT library) loads
    jg.compile([x], outs, aot=aot)
    err = _ours(capfd.readouterr().err)
    names = [line.split(": ", 2)[2].split("...")[0] for line in err[:-1]]
    assert names == ["hash", "cache lookup", "aot load" if aot else "numba load"]


def test_quick_task_says_nothing(cache_dir, settings, capfd, log_lines):
    settings(True, after=30.0, bar=False)
    x, outs = _graph()
    jg.compile([x], outs)  # perhaps a miss (this test alone), then a cache hit
    jg.compile([x], outs)
    jg.hessian(outs[0], x)
    assert capfd.readouterr().err == ""
    assert not [m for m in log_lines() if "compiling kernel" in m or "building" in m]


def test_off_logs_only(settings, capfd, log_lines):
    settings(False, after=0.0)
    x = jg.vector("progress_h", 3)
    jg.hessian(jg.sum(jg.exp(x) * x), x)
    assert capfd.readouterr().err == ""
    lines = [m for m in log_lines() if "building Hessian" in m]
    assert lines[0].startswith(
        "jitgrad: building Hessian wrt progress_h (3,): gradient (reverse sweep)... ["
    )
    assert "forward sweep" in lines[1] and "batch over 3 directions" in lines[2]
    assert "done in" in lines[-1]


def test_auto_is_quiet_when_stderr_is_not_a_terminal(settings, capsys, log_lines):
    settings("auto", after=0.0, bar=False)
    s = jg.scalar("progress_s")
    jg.derivative(jg.sin(s) * s, s, order=3)
    assert capsys.readouterr().err == ""  # pytest's capture is not a TTY
    lines = [m for m in log_lines() if "order 3" in m]
    assert [m.split(": ")[2].split("...")[0] for m in lines[:-1]] == [
        "order 1",
        "order 2",
        "order 3",
    ]


def test_watcher_reports_during_a_blocking_phase(settings, capsys):
    settings(True, after=0.2, bar=False)
    with progress.task("blocking demo") as rep:
        rep.phase("quick")
        rep.phase("one long call")
        deadline = time.perf_counter() + 5.0
        seen = ""
        while "one long call" not in seen and time.perf_counter() < deadline:
            time.sleep(0.05)  # the working thread is busy; the watcher must speak
            seen += capsys.readouterr().err
        assert "jitgrad: blocking demo: one long call... [" in seen
        assert "quick" not in seen  # it ended before the threshold
    end = capsys.readouterr().err
    assert end.startswith("jitgrad: blocking demo: done in ")
    assert "(quick 0.0" in end


def test_error_ends_the_report(settings, capsys):
    settings(True, after=0.0, bar=False)
    with pytest.raises(KeyError):
        with progress.task("failing demo") as rep:
            rep.phase("look up")
            {}["missing"]
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("jitgrad: failing demo: stopped by KeyError after ")


def test_lazy_description_and_nesting(settings, capsys):
    settings(True, after=0.0, bar=False)
    calls = []

    def desc():
        calls.append(1)
        return "outer"

    with progress.task(desc) as rep:
        rep.phase("a")
        with progress.task("inner") as sub:
            sub.phase("b")
        rep.phase("c")
    err = capsys.readouterr().err.splitlines()
    assert [line.split("...")[0] for line in err[:-1]] == [
        "jitgrad: outer: a",
        "jitgrad: outer: a > b",
        "jitgrad: outer: c",
    ]
    assert "(a 0." in err[-1] and "c 0." in err[-1] and "b 0." not in err[-1]
    assert calls == [1]
    settings(after=30.0)
    with progress.task(lambda: calls.append(2)) as rep:
        rep.phase("a")
    assert calls == [1]  # not reported, so never described


def test_threads(settings, capsys):
    """Tasks in several threads at once are independent (none nests in another)."""
    settings(True, after=0.0, bar=False)
    barrier = threading.Barrier(4)

    def work(i):
        barrier.wait()
        with progress.task(f"thread {i}") as rep:
            for p in range(5):
                rep.phase(f"p{p}")
                time.sleep(0.001)

    before = set(threading.enumerate())
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    err = capsys.readouterr().err.splitlines()
    for i in range(4):
        mine = [line for line in err if line.startswith(f"jitgrad: thread {i}: ")]
        assert [line.split(": ")[2].split("...")[0] for line in mine[:-1]] == [
            f"p{p}" for p in range(5)
        ]
        assert "done in" in mine[-1]
    # the only thread jitgrad keeps is its daemon watcher
    extra = [t for t in threading.enumerate() if t not in before]
    assert all(t.daemon and t.name == "jitgrad-progress" for t in extra)
    assert not progress._active


def test_tqdm_bar(settings, capsys, monkeypatch):
    """With tqdm importable, one status bar is updated in place and closed."""
    bars = []

    class FakeTqdm:
        def __init__(self, **kw):
            self.kw, self.descs, self.closed, self.start_t = kw, [kw["desc"]], False, 0.0
            bars.append(self)

        def set_description_str(self, d, refresh=True):
            self.descs.append(d)

        def refresh(self):
            pass

        def close(self):
            self.closed = True

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeTqdm))
    settings(True, after=0.0, bar="auto")
    with progress.task("bar demo") as rep:
        rep.phase("one")
        rep.phase("two")
    (bar,) = bars
    assert bar.closed and bar.kw["file"] is sys.stderr
    assert bar.descs[0].startswith("jitgrad: bar demo")  # the watcher may come first
    assert "jitgrad: bar demo: one..." in bar.descs
    assert bar.descs[-2] == "jitgrad: bar demo: two..."
    assert bar.descs[-1].startswith("jitgrad: bar demo: done in ")
    assert capsys.readouterr().err == ""  # no plain lines besides the bar


def test_settings(settings, monkeypatch):
    with pytest.raises(ValueError, match="show"):
        jg.set_progress("sometimes")
    with pytest.raises(ValueError, match="after"):
        jg.set_progress(after=-1)
    with pytest.raises(ValueError, match="bar"):
        jg.set_progress(bar=True)
    old = settings(True, after=2.5, bar=False)
    assert jg.set_progress(**old) == {"show": True, "after": 2.5, "bar": False}
    for value, want in [("0", False), ("1", True), ("auto", "auto"), ("off", False)]:
        monkeypatch.setenv("JITGRAD_PROGRESS", value)
        assert progress._env_show() == want
    monkeypatch.setenv("JITGRAD_PROGRESS_AFTER", "0.25")
    assert progress._env_after() == 0.25
    monkeypatch.setenv("JITGRAD_PROGRESS_AFTER", "soon")
    assert progress._env_after() == 1.0


def test_no_watcher_stops_and_restarts_the_thread():
    """Inside no_watcher() the watcher thread is gone; a task still running when
    it ends gets its watcher back."""
    from jitgrad import progress

    def alive():
        return [t for t in threading.enumerate() if t.name == "jitgrad-progress"]

    with progress.task("outer", after=1e9) as rep:
        rep.phase("one")
        assert alive()
        with progress.no_watcher():
            assert not alive()
        assert alive()


def test_sympy_workers_forked_without_our_thread(monkeypatch):
    """The SymPy level forks worker processes: the progress watcher must not be
    running then (forking a multi-threaded process may deadlock the child; Python
    3.12+ warns). Other tests may leave threads of their own (Numba's thread
    pool), so the check is on ours, at each fork."""
    import os

    real_fork = os.fork
    seen = []

    def fork():
        seen.append(any(t.name == "jitgrad-progress" for t in threading.enumerate()))
        return real_fork()

    x = jg.vector("x", 3)
    jg.compile([x], [jg.sum(x * x)], cache=False)  # the watcher thread exists now
    assert any(t.name == "jitgrad-progress" for t in threading.enumerate())
    a, b = jg.scalars("a b")
    monkeypatch.setattr(os, "fork", fork)
    out = jg.simplify(jg.grad(a**2 * jg.sin(b), a), level="sympy")
    monkeypatch.setattr(os, "fork", real_fork)
    assert str(out) == "2*a*sin(b)"
    assert seen and not any(seen)

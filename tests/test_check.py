"""Kernels checked against ``jg.evaluate``: ``compile(..., check=True)``,
``JITGRAD_CHECK``, and the self-check of every ahead-of-time build.

Faults are injected by perturbing one generated statement (a scalar value
``sN = a op b`` multiplied by 1.001) in the loop IR of ``inner`` (what the
ahead-of-time library runs), of ``entry`` (what Numba's dispatcher runs), or
of both.
"""

import ast
import re
import warnings

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.codegen import aot as A
from jitgrad.codegen import check as C
from jitgrad.codegen import emit as E
from jitgrad.codegen import ir as IR

HAVE_AOT = A.find_cc() is not None and A.host_key() is not None


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("JITGRAD_AOT", raising=False)
    monkeypatch.delenv("JITGRAD_CHECK", raising=False)
    return tmp_path


def _perturb(monkeypatch, modes):
    """Make the code generator emit one wrong statement (a value ``sN = a op b``
    times 1.001) in each function of ``modes``, in its loop IR (what both the
    printed source and the loop compiler read)."""
    functions = E.Emitter.functions
    hits = []

    def first(body):
        for k, s in enumerate(body):
            if isinstance(s, IR.Loop):
                found = first(s.body)
                if found:
                    return found
            elif (
                isinstance(s, IR.Let)
                and len(s.targets) == 1
                and re.fullmatch(r"s\d+", s.targets[0])
                and isinstance(s.value, ast.BinOp)
            ):
                return body, k
        return None

    def wrong(self):
        fns = dict(zip(("inner", "entry"), functions(self)))
        for mode in sorted(modes):
            found = first(fns[mode].body)
            assert found, IR.to_python(fns[mode])
            body, k = found
            s = body[k]
            value = ast.BinOp(s.value, ast.Mult(), ast.Constant(1.001))
            body[k] = IR.Let(list(s.targets), value, s.note)  # a new statement: not shared
            hits.append(mode)
        return fns["inner"], fns["entry"]

    monkeypatch.setattr(E.Emitter, "functions", wrong)
    return hits


def _graph(tag):
    x = jg.vector(f"x_{tag}", 4)
    y = jg.scalar(f"y_{tag}")
    f = jg.sum(jg.sin(x) * y + x**2 * jg.exp(-y))
    return [x, y], [f, jg.grad(f, x), jg.hessian(f, x)]


def test_check_passes_on_a_right_kernel_on_every_path(cache):
    ins, outs = _graph("ok")
    for opts in (dict(), dict(aot=False), dict(cache=False), dict(batch=True), dict(fastmath=True)):
        k = jg.compile(ins, outs, check=True, **opts)
        assert k.stats["check"] >= 0, opts
    k = jg.compile(ins, outs, check=7)  # a cache hit is checked too
    assert "check" in k.stats


def test_check_catches_an_injected_fault_on_the_jit_path(cache, monkeypatch):
    hits = _perturb(monkeypatch, {"entry"})
    ins, outs = _graph("jit")
    k = jg.compile(ins, outs, aot=False)  # without the check the fault goes unnoticed
    assert hits
    args = (np.linspace(-1, 2, 4), 0.5)
    got = k(*args)
    want = jg.evaluate(outs, dict(zip(ins, args)))
    assert any(not np.allclose(g, w, rtol=1e-6) for g, w in zip(got, want))
    with pytest.raises(jg.KernelCheckError, match=r"disagrees with jg.evaluate") as e:
        jg.compile(ins, outs, aot=False, check=True)
    bad = e.value.mismatches
    assert bad and all(m["abs_error"] > 0 for m in bad)
    assert {m["output"] for m in bad} <= {0, 1, 2}
    assert "output " in str(e.value) and "abs error" in str(e.value)
    # the environment variable turns it on for a whole program
    monkeypatch.setenv("JITGRAD_CHECK", "2")
    with pytest.raises(jg.KernelCheckError):
        jg.compile(ins, outs, aot=False)


def test_check_names_only_the_outputs_that_differ(cache, monkeypatch):
    _perturb(monkeypatch, {"entry"})
    x = jg.vector("x_only", 3)
    outs = [jg.sum(x), jg.sin(x) * jg.cos(x) + x]  # the scalar sum has no sN statement
    with pytest.raises(jg.KernelCheckError) as e:
        jg.compile([x], outs, aot=False, cache=False, check=True)
    assert [m["output"] for m in e.value.mismatches] == [1]
    assert "output 1 (add, shape (3,))" in str(e.value)


@pytest.mark.skipif(not HAVE_AOT, reason="no C compiler or no /proc/cpuinfo: no AOT path")
def test_a_wrong_library_falls_back_to_the_jit_kernel_with_one_warning(cache, monkeypatch):
    hits = _perturb(monkeypatch, {"inner"})
    ins, outs = _graph("lib")
    with pytest.warns(RuntimeWarning) as caught:
        k = jg.compile(ins, outs)
    # the loop compiler's library (from inner) is refused first, then Numba's
    said = [str(w.message) for w in caught]
    assert len(said) == 2, said
    assert re.search(r"the LLVM kernel k_\w+ was wrong .*compiling it with Numba", said[0])
    assert re.search(r"ahead-of-time library of kernel k_\w+ was wrong", said[1])
    assert hits == ["inner"]
    assert not k.aot and k.stats["aot"].startswith("failed: self-check against jg.evaluate")
    args = (np.linspace(-1, 2, 4), 0.5)
    for g, w in zip(k(*args), jg.evaluate(outs, dict(zip(ins, args)))):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    # recorded: a later compile neither rebuilds nor warns again
    monkeypatch.undo()
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(cache))
    monkeypatch.delenv("JITGRAD_AOT", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        k2 = jg.compile(ins, outs, check=True)
    assert not k2.aot and k2.stats["aot"].startswith("unsupported: self-check")


@pytest.mark.skipif(not HAVE_AOT, reason="no C compiler or no /proc/cpuinfo: no AOT path")
def test_the_default_path_refuses_a_kernel_wrong_on_both_paths(cache, monkeypatch):
    _perturb(monkeypatch, {"inner", "entry"})
    ins, outs = _graph("both")
    with pytest.raises(jg.KernelCheckError, match="both as an ahead-of-time library and JIT"):
        with pytest.warns(RuntimeWarning, match="the LLVM kernel k_\\w+ was wrong"):
            jg.compile(ins, outs)  # no check=True: the build's own check
    # nothing recorded: the next process checks again
    host = A.host_key()
    name = [f for f in cache.iterdir() if f.suffix == ".py"][0].stem
    assert A.read_manifest(A.paths(str(cache), name, host)[1]) is None


def test_check_argument_and_environment_are_validated(cache, monkeypatch):
    x = jg.vector("x_arg", 2)
    with pytest.raises(TypeError, match="check must be a bool, a number of points"):
        jg.compile([x], jg.sum(x), cache=False, check="yes")
    monkeypatch.setenv("JITGRAD_CHECK", "often")
    with pytest.raises(ValueError, match="JITGRAD_CHECK"):
        jg.compile([x], jg.sum(x), cache=False)


def test_points_are_drawn_inside_the_domain():
    x = jg.vector("x_dom", 3)
    y = jg.scalar("y_dom")
    out = jg.log(x - 0.5) + jg.sqrt(y)  # finite only for x > 0.5 and y >= 0
    pts = C.sample_points([x, y], [out], 3, seed=0)
    assert len(pts) == 3
    assert all(np.isfinite(w).all() for _, want in pts for w in want)
    never = jg.log(-jg.exp(x))
    assert C.sample_points([x], [never], 2) == []
    with pytest.raises(jg.KernelCheckError, match="no input values"):
        jg.compile([x], never, cache=False, check=True)


def test_mismatches_tolerances_and_non_finite_values():
    x = jg.vector("x_tol", 3)
    out = [x * 1.0]
    w = np.array([1.0, 2.0, np.nan])
    assert C.mismatches([w * (1 + 1e-9)], [w], out) == []
    bad = C.mismatches([np.array([1.0, 2.1, 0.0])], [w], out)
    assert bad[0]["index"] == (1,) and bad[0]["count"] == 1
    assert np.isclose(bad[0]["abs_error"], 0.1)
    assert C.mismatches([np.array([1.0, np.inf, 5.0])], [w], out)[0]["index"] == (1,)
    assert C.mismatches([w * (1 + 1e-4)], [w], out, fastmath=True) == []
    assert C.mismatches([w * (1 + 1e-4)], [w], out) != []
    b = [x > 0.0]
    assert (
        C.mismatches([np.array([True, True, True])], [np.array([True, False, True])], b)[0]["count"]
        == 1
    )


def test_check_at_the_callers_points(cache, monkeypatch):
    x = jg.vector("x_pts", 3)
    out = jg.log(x - 10.0)  # a domain no random family reaches
    pts = [(np.array([11.0, 12.0, 13.0]),), (np.array([10.5, 20.0, 30.0]),)]
    k = jg.compile([x], out, cache=False, check=pts)
    assert k.stats["check"] >= 0
    with pytest.raises(ValueError, match="a point has 2 values for 1 inputs"):
        jg.compile([x], out, cache=False, check=[(1.0, 2.0)])
    _perturb(monkeypatch, {"entry"})
    y = jg.vector("y_pts", 3)
    with pytest.raises(jg.KernelCheckError, match=r"y_pts=\[11"):
        jg.compile(
            [y],
            jg.log(y - 10.0) * y,
            cache=False,
            aot=False,
            check=[(np.array([11.0, 12.0, 13.0]),)],
        )

"""The differential tester (tests/difftest.py) in the suite: random graphs and
2 to 7 derivative quantities of each in one kernel, compiled under every
configuration, called twice, against ``jg.evaluate``; then the same cases in a
fresh process, from the cache.

The ``ci`` Hypothesis profile runs a few cases per test (a failure is shrunk
and printed as the program that builds it); the long profile is
``python tests/difftest.py --graphs 2000 --jobs 2 --pack 3 --chunk 20`` (README, "Running the
tests"). ``test_the_tester_finds_the_constant_name_fault`` puts back the
code generator's fault of issue 15 and checks that the tester finds it.
"""

import difftest as D
import numpy as np
import pytest
from hypothesis import given, settings

from jitgrad.codegen import check as C
from jitgrad.codegen import emit as E

_EXAMPLES = settings().max_examples


def _n(fraction, minimum):
    return max(minimum, int(_EXAMPLES * fraction))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("difftest-cache"))
    mp = pytest.MonkeyPatch()
    mp.setenv("JITGRAD_CACHE_DIR", d)
    mp.delenv("JITGRAD_CHECK", raising=False)
    yield d
    mp.undo()


SEEN = []  # the cases run in this process, for the fresh-process test


def _run_all(code):
    problems = []
    for config in D.configs_for(code):
        p, _ = D.run_case(code, config)
        problems += p
    SEEN.append(code)
    assert not problems, "\n".join(problems) + "\n" + code


@settings(max_examples=_n(0.04, 3))
@given(code=D.programs(tag="h"))
def test_random_graphs_agree_under_every_configuration(cache, code):
    _run_all(code)


@settings(max_examples=_n(0.02, 2))
@given(code=D.scalar_programs(tag="hs"))
def test_scalar_programs_agree_under_every_configuration(cache, code):
    _run_all(code)


def test_a_fresh_process_gets_the_same_results_from_the_cache(cache, monkeypatch):
    monkeypatch.delenv("JITGRAD_AOT", raising=False)  # the default path, also in tox env jit
    codes = D._draw_codes(3, seed=7)
    for code in codes:
        _run_all(code)
    report = D.run_fresh(SEEN, cache)
    assert not report["problems"], "\n".join(report["problems"])
    assert report["runs"] == sum(len(D.configs_for(c)) for c in SEEN)
    assert report["hits"] == report["runs"]  # every kernel came from the cache
    assert report["aot_loaded"] >= 1


def test_the_tester_finds_the_constant_name_fault(tmp_path, monkeypatch):
    monkeypatch.delenv("JITGRAD_AOT", raising=False)  # the fault is in the AOT library
    """Before the fix, constants were named by each emission's own counter in a
    table shared by both emissions (``inner`` for the library, ``entry`` for the
    dispatcher), so one emission could rename another's array."""

    def const_name(self, node):
        if id(node) not in self.names:
            self.names[id(node)] = self.fresh("c")
            self.consts[self.names[id(node)]] = np.ascontiguousarray(node.params[0][1].array)
        return self.names[id(node)]

    def index_const(self, array):
        name = self.fresh("c")
        self.consts[name] = np.ascontiguousarray(array)
        return name

    monkeypatch.setattr(E.Emitter, "const_name", const_name)
    monkeypatch.setattr(E.Emitter, "index_const", index_const)
    # and the library's self-check against evaluate (added with the fix) off,
    # or it would catch the fault first and use the JIT kernel
    monkeypatch.setattr(C, "mismatches", lambda *a, **k: [])
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    found = None
    for code in D._draw_codes(120, seed=0):  # the 7th case finds it (about 1 in 50 do)
        if D.configs_for(code)[0] != "default":
            continue
        problems, stats = D.run_case(code, "default")
        if problems:
            found = code, problems, stats
            break
    assert found is not None, "the differential tester did not find the fault"
    assert found[2]["aot"] == "built"  # in the library
    # the long profile's shrinker keeps a failing case with fewer quantities
    small = D.shrink(found[0], "default")
    n_outs = len(D.build(small)[1])
    assert n_outs <= len(D.build(found[0])[1]) and D.run_case(small, "default")[0]


def test_the_long_profile_command_runs_and_counts(capsys):
    """The documented long-profile command, on a window of 3 cases: worker
    processes per chunk, the fresh-process check, and the final counts."""
    rc = D.main(["--graphs", "3", "--first", "3", "--jobs", "2", "--pack", "2", "--chunk", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("cases 3..5 of seed 0: 3 graphs"), summary
    assert "0 disagreements" in summary and "fresh processes:" in summary
    assert out.count(" chunks] ") == 2  # 3 graphs: a pack of 2 and one more, a chunk each

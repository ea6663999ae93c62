"""Compiled kernels (``jg.compile``): outputs against ``jg.evaluate`` for every op
case and its derivatives, batches, float32, ``k.njit`` inside user ``@njit`` code,
the out-buffer form ``k.into``, the disk cache across processes, argument checks,
compile errors, ``k.source`` and ``k.stats``.

Numba's compile time dominates (and grows faster than linearly with the number of
kernel arguments), so kernels are shared: the cases of ``optable.OP_CASES`` are
packed into kernels of at most ``MAX_ARGS`` arguments, inputs renamed
``c{j}_x{i}`` per case, each compiled once per module and compared output by
output. Spare cores compile kernels ahead (from the end of the list: the other
large kernels of the module, then the shared ones) into the module's cache
directory and the main process loads them from there (``JITGRAD_TEST_HELPERS=n``
sets the number of helper processes, 0 for none). The helpers start as soon as
pytest has collected the tests (conftest.py), so they use the spare cores while
the modules before this one run.
The gradient and JVP run on a subset of the smooth cases unless
``JITGRAD_TEST_FULL=1``.

Tolerances: float64 outputs match ``jg.evaluate`` to ``rtol=1e-10`` (not bit for
bit: compiled reductions and small matmuls add in sequential loop order where
NumPy sums pairwise or calls BLAS, and ``exp``, ``sin``, ... come from LLVM's
math library rather than NumPy's own loops); float32 outputs to ``rtol=1e-5``.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from optable import OP_CASES

import jitgrad as jg

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}
ATOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-6}


def assert_matches(got, want, what=""):
    """A kernel output against ``jg.evaluate``: shape and dtype (arrays), values."""
    want = np.asarray(want)
    if isinstance(got, np.ndarray):
        assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
        assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    else:  # 0-d outputs come back as Python floats (or bools)
        assert want.ndim == 0, f"{what}: got scalar {got!r} for shape {want.shape}"
        got = np.asarray(got)
    if want.dtype == np.bool_:
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    dt = np.dtype(np.float32) if want.dtype == np.float32 else np.dtype(np.float64)
    np.testing.assert_allclose(
        np.asarray(got, np.float64),
        np.asarray(want, np.float64),
        rtol=RTOL[dt],
        atol=ATOL[dt],
        err_msg=what,
    )


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """A fresh kernel cache for this module (never the user's): the one the
    helpers started at collection fill, else a new one (and helpers for it)."""
    d = EARLY.get("dir") or str(tmp_path_factory.mktemp("jitgrad-cache"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JITGRAD_CACHE_DIR", d)
        if "helpers" not in EARLY:
            EARLY["helpers"] = start_helpers(d, all_jobs())
        yield d
        stop_helpers()


# ============================================================================ op cases

F64 = [c for c in OP_CASES if c.dtype == "float64"]
# Float64 in and out: the derivative families use float64 weights and tangents.
SMOOTH = [c for c in F64 if c.smooth and c.build(*c.vars()).dtype == np.float64]
# Gradient and JVP: with JITGRAD_TEST_FULL=1 every smooth case; by default (to keep
# Numba's compile time in bounds) one case of each op set and every third case.
FULL = os.environ.get("JITGRAD_TEST_FULL") == "1"
_seen: set = set()
DERIV = []
for _k, _c in enumerate(SMOOTH):
    if FULL or _k % 3 == 0 or _c.ops not in _seen:
        DERIV.append(_c)
    _seen.add(_c.ops)
# Forward over reverse on cases that cover each kind of lowering: elementwise
# chains, broadcasting, reductions, matmul, logsumexp, slices and gathers (whose
# adjoints scatter), concatenate.
HVP_NAMES = {
    "sin",
    "tanh_0d",
    "divide_broadcast",
    "power",
    "prod_axis1",
    "max_axis0",
    "logsumexp_axis1",
    "softmax",
    "mlp_layer",
    "quadratic_form",
    "getitem_slice_2d",
    "getitem_array_rows",
    "take_neg",
    "concatenate_axis1",
    "matmul_batch",
    "norm",
}
HVP = [c for c in SMOOTH if c.name in HVP_NAMES]

# value: the case's output y. deriv: y, the gradient of sum(y * w) for a fixed
# random w and the JVP of y along random tangents, in one graph (they share the
# forward pass). hvp: the HVP of sum(y * w) along random tangents.
FAMILIES = {"value": [c for c in OP_CASES if c not in DERIV], "deriv": DERIV, "hvp": HVP}
MAX_ARGS = 24  # inputs + outputs of one shared kernel


def _nargs(kind, case):
    n = len(case.shapes)
    return {"value": n + 1, "deriv": 3 * n + 2, "hvp": 3 * n}[kind]


def _groups(kind):
    groups, cur, size = [], [], 0
    for c in FAMILIES[kind]:
        if cur and size + _nargs(kind, c) > MAX_ARGS:
            groups.append(cur)
            cur, size = [], 0
        cur.append(c)
        size += _nargs(kind, c)
    return groups + [cur] if cur else groups


GROUPS = {kind: _groups(kind) for kind in FAMILIES}
WHERE = {(kind, c.name): g for kind in GROUPS for g, cs in enumerate(GROUPS[kind]) for c in cs}
VALUE_AT = {c.name: ("deriv" if c in DERIV else "value") for c in OP_CASES}
# In the order the tests first need them (helper processes work from the end).
GROUP_JOBS = list(
    dict.fromkeys(
        [(VALUE_AT[c.name], WHERE[VALUE_AT[c.name], c.name]) for c in OP_CASES]
        + [("hvp", g) for g in range(len(GROUPS["hvp"]))]
    )
)

SEED = 20261126


def build_case(kind, case, j, prefix="c", point=0):
    """Inputs, outputs and values of one case, its vars named ``{prefix}{j}_...``.
    ``point`` picks other input values for the same graph."""
    key = [SEED, list(FAMILIES).index(kind), OP_CASES.index(case)]
    rng = np.random.default_rng(key + [point])
    xs = case.sample(rng)
    vs = [jg.var(f"{prefix}{j}_x{i}", v.shape, v.dtype) for i, v in enumerate(case.vars())]
    y = case.build(*vs)
    if kind == "value":
        return vs, [y], xs
    ts = [jg.var(f"{prefix}{j}_t{i}", v.shape, v.dtype) for i, v in enumerate(vs)]
    dxs = [rng.standard_normal(x.shape) for x in xs]
    # A fixed random weight makes sum(y * w) depend on every entry of y generically.
    f = jg.sum(y * np.random.default_rng(key).standard_normal(y.shape))
    if kind == "deriv":
        return vs + ts, [y, *jg.grad(f, vs), jg.jvp(y, vs, ts)], xs + dxs
    return vs + ts, jg.hvp(f, vs, ts), xs + dxs


def build_group(kind, cases, prefix="c", point=0):
    """One graph for many cases: inputs, outputs, values, ``{name: slice of outputs}``."""
    ins, outs, vals, spans = [], [], [], {}
    for j, case in enumerate(cases):
        i, o, v = build_case(kind, case, j, prefix, point)
        spans[case.name] = slice(len(outs), len(outs) + len(o))
        ins += i
        outs += o
        vals += v
    return ins, outs, vals, spans


def prebuild(jobs, marks):
    """Helper-process body: compile ``jobs`` into the cache until meeting the main
    process, which leaves a marker file per job it starts."""
    for kind, g in jobs:
        if os.path.exists(os.path.join(marks, f"{kind}-{g}")):
            return
        if kind == "extra":
            for ins, outs, opts in EXTRA[g]():
                jg.compile(ins, outs, **opts)
            continue
        ins, outs, _, _ = build_group(kind, GROUPS[kind][g])
        jg.compile(ins, outs)  # the defaults (tox env `jit`: JIT only)


def claim(cache_dir, kind, g):
    """Mark job ``(kind, g)`` as started by the main process: a helper that
    reaches it stops (the main process did the rest of its list)."""
    marks = os.path.join(cache_dir, "marks")
    os.makedirs(marks, exist_ok=True)
    open(os.path.join(marks, f"{kind}-{g}"), "w").close()


# Set by start_early (conftest.py, once the tests are collected): the cache
# directory the helpers fill, and the helper processes.
EARLY: dict = {}


def start_helpers(d, jobs):
    """Helper processes compiling ``jobs`` (from the end) into cache ``d``."""
    os.makedirs(os.path.join(d, "marks"), exist_ok=True)
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        ncpu = os.cpu_count() or 1
    nhelp = int(os.environ.get("JITGRAD_TEST_HELPERS", max(0, min(ncpu - 1, 3))))
    code = "import sys; sys.path.insert(0, {!r}); import test_codegen as t; t.prebuild({!r}, {!r})"
    marks = os.path.join(d, "marks")
    # The environment the module's fixtures give this process: its cache, and
    # JIT only unless a job asks for AOT (conftest.py).
    env = dict(os.environ, JITGRAD_CACHE_DIR=d)
    return [
        subprocess.Popen(
            [sys.executable, "-c", code.format(TESTS_DIR, jobs[::-1][h::nhelp], marks)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        for h in range(nhelp)
        if jobs
    ]


def stop_helpers():
    for p in EARLY.pop("helpers", ()):
        p.kill()
        p.wait()


def start_early(items, tmp_path_factory):
    """Called by conftest.py once the tests are collected: when tests of this
    module are selected, start the helpers on the jobs those tests need."""
    if "helpers" in EARLY:
        return
    mine = [it for it in items if getattr(it, "module", None) is sys.modules[__name__]]
    if not mine:
        return
    EARLY["dir"] = d = str(tmp_path_factory.mktemp("jitgrad-cache"))
    EARLY["helpers"] = start_helpers(d, all_jobs(mine))


def all_jobs(items=None):
    """The helpers' jobs, in the order the tests need them: the shared kernels,
    then the other large kernels of this module (those of the selected ``items``)."""
    jobs = []
    if items is None or any("groups" in it.fixturenames for it in items):
        jobs += GROUP_JOBS
    for name, tests in EXTRA_TESTS.items():
        if items is None or any(it.nodeid.split("::")[-1] in tests for it in items):
            jobs.append(("extra", name))
    return jobs


class Groups:
    """Shared kernels, compiled (or loaded from the cache) on first use."""

    def __init__(self, cache_dir):
        self.results = {}
        self.aot = {}  # (kind, g) -> k.stats["aot"]
        self.cache_dir = cache_dir

    def get(self, kind, g):
        if (kind, g) not in self.results:
            claim(self.cache_dir, kind, g)
            ins, outs, vals, spans = build_group(kind, GROUPS[kind][g])
            try:
                k = jg.compile(ins, outs)  # the defaults (tox env `jit`: JIT only)
                self.aot[kind, g] = k.stats["aot"]
                got = k(*vals)
            except Exception as e:  # reported by each case of the group
                self.results[kind, g] = e
            else:
                want = jg.evaluate(outs, dict(zip(ins, vals)))
                self.results[kind, g] = {
                    name: (list(got[s]), list(want[s])) for name, s in spans.items()
                }
        return self.results[kind, g]


@pytest.fixture(scope="module")
def groups(cache_dir):
    return Groups(cache_dir)


def results_of(groups, kind, case):
    """(kernel outputs, evaluate outputs) of one case in its family's shared kernel."""
    res = groups.get(kind, WHERE[kind, case.name])
    if isinstance(res, Exception):
        # The shared kernel failed: compile this case alone to see whether it is the culprit.
        ins, outs, vals, _ = build_group(kind, [case])
        got = jg.compile(ins, outs, cache=False)(*vals)
        return list(got), jg.evaluate(outs, dict(zip(ins, vals)))
    return res[case.name]


def test_shared_kernels_run_the_default_path(groups):
    """The op-case kernels compile as users get them: every one that can be
    built ahead of time is (under tox env ``jit``, JITGRAD_AOT=0: none)."""
    from jitgrad.codegen import aot as A

    for kind, g in GROUP_JOBS:
        groups.get(kind, g)
    got = [groups.aot[j] for j in GROUP_JOBS if j in groups.aot]
    assert len(got) == len(GROUP_JOBS)
    if os.environ.get("JITGRAD_AOT") == "0":
        assert set(got) == {"off"}
        return
    if A.find_cc() is None or A.host_key() is None:
        pytest.skip("no C compiler or no /proc/cpuinfo: no AOT path on this machine")
    aot = [a for a in got if a in ("built", "loaded")]
    others = [a for a in got if a not in ("built", "loaded")]
    # only kernels that need Numba's runtime (temporaries it allocates, BLAS) stay JIT
    assert all(a.startswith("unsupported: the code allocates") for a in others), others
    assert len(aot) >= 0.75 * len(got), (len(aot), len(got))


@pytest.mark.parametrize("case", OP_CASES, ids=str)
def test_value_matches_evaluate(groups, case):
    got, want = results_of(groups, VALUE_AT[case.name], case)
    assert_matches(got[0], want[0], f"{case.name}: value")


@pytest.mark.parametrize("case", DERIV, ids=str)
def test_grad_and_jvp_match_evaluate(groups, case):
    got, want = results_of(groups, "deriv", case)
    assert len(got) == len(want) == len(case.shapes) + 2
    for q in range(1, len(got) - 1):
        assert_matches(got[q], want[q], f"{case.name}: gradient wrt input {q - 1}")
    assert_matches(got[-1], want[-1], f"{case.name}: jvp")


@pytest.mark.parametrize("case", HVP, ids=str)
def test_hvp_matches_evaluate(groups, case):
    got, want = results_of(groups, "hvp", case)
    assert len(got) == len(want) == len(case.shapes)
    for q, (g, w) in enumerate(zip(got, want)):
        assert_matches(g, w, f"{case.name}: hvp wrt input {q}")


def test_float32_cases_give_float32_arrays(groups):
    """Every op case whose inputs are all float32 gives float32 arrays (a 0-d
    output comes back as a Python float holding a float32 value)."""
    seen = 0
    for c in OP_CASES:
        if set(c.dtypes()) != {"float32"} or c.build(*c.vars()).dtype != np.float32:
            continue
        (got, *_), _ = results_of(groups, VALUE_AT[c.name], c)
        if isinstance(got, np.ndarray):
            assert got.dtype == np.float32, c.name
        else:
            assert float(np.float32(got)) == got, c.name
        seen += 1
    assert seen >= 10


# ============================================================================ batches and float32

BATCH_NAMES = [
    "sin_0d",  # 0-d input and output
    "sum_axis1",
    "matmul_batch_mv",
    "sigmoid_f32",
]


def batch_graph(point=0):
    """Values of a few cases (float32 ones included) and the gradients and JVPs of
    the smooth float64 ones, in one graph; ``point`` picks the input values."""
    by_name = {c.name: c for c in OP_CASES}
    cases = [by_name[n] for n in BATCH_NAMES]
    i1, o1, v1, _ = build_group("value", [c for c in cases if c not in SMOOTH], "v", point)
    i2, o2, v2, _ = build_group("deriv", [c for c in cases if c in SMOOTH], "d", point)
    return i1 + i2, o1 + o2, v1 + v2


B = 3


@pytest.fixture(scope="module")
def batch(cache_dir):
    claim(cache_dir, "extra", "batch")
    ins, outs, _ = batch_graph()
    kb = jg.compile(ins, outs, batch=True)
    k1 = jg.compile(ins, outs)
    points = [batch_graph(b)[2] for b in range(B)]
    stacked = [np.stack([p[i] for p in points]) for i in range(len(ins))]
    return ins, outs, kb, k1, points, kb(*stacked)


def test_batch_equals_single_calls_bitwise(batch):
    """fastmath off: the prange driver runs the very same per-point code."""
    _, outs, _, k1, points, got = batch
    assert len(got) == len(outs)
    for b, vals in enumerate(points):
        single = k1(*vals)
        for j, (gb, g1) in enumerate(zip(got, single)):
            assert gb.shape == (B,) + outs[j].shape
            assert gb.dtype == outs[j].dtype
            np.testing.assert_array_equal(gb[b], g1, err_msg=f"point {b}, output {j}")


def test_batch_matches_evaluate(batch):
    ins, outs, _, _, points, got = batch
    assert any(o.dtype == np.float32 for o in outs)
    for b, vals in enumerate(points):
        want = jg.evaluate(outs, dict(zip(ins, vals)))
        for j, (g, w) in enumerate(zip(got, want)):
            assert_matches(g[b], w, f"point {b}, output {j}")


def test_batch_arguments(batch):
    ins, outs, kb, _, points, _ = batch
    stacked = [np.stack([p[i] for p in points]) for i in range(len(ins))]
    # Without its batch axis, or with another batch size than the first input.
    with pytest.raises(ValueError, match=ins[0].p["name"]):
        kb(points[0][0], *stacked[1:])
    with pytest.raises(ValueError, match=ins[1].p["name"]):
        kb(stacked[0], stacked[1][:2], *stacked[2:])
    with pytest.raises(TypeError):
        kb(*stacked[:-1])
    empty = kb(*[s[:0] for s in stacked])
    assert [e.shape for e in empty] == [(0,) + o.shape for o in outs]


def test_float32_graph_gives_float32_kernel(cache_dir, rng):
    x = jg.var("x", (3,), "float32")
    s = jg.var("s", (), "float32")
    v = jg.var("v", (3,), "float32")
    f = jg.sum(jg.sin(x) * s) + jg.logsumexp(x) + 0.5 * jg.sum(x**2)
    outs = [f, x * s + 1.0, jg.grad(f, x), jg.hvp(f, x, v), jg.grad(f, s)]
    assert all(o.dtype == np.float32 for o in outs)
    k = jg.compile([x, s, v], outs)
    vals = [rng.uniform(-1, 1, 3).astype(np.float32), np.float32(1.5), rng.uniform(-1, 1, 3)]
    vals[2] = vals[2].astype(np.float32)
    got = k(*vals)
    want = jg.evaluate(outs, dict(zip([x, s, v], vals)))
    for j, (g, w) in enumerate(zip(got, want)):
        assert_matches(g, w, f"output {j}")
        if isinstance(g, np.ndarray):
            assert g.dtype == np.float32
        else:  # 0-d: a Python float that holds a float32 value
            assert float(np.float32(g)) == g


# ============================================================================ a small kernel

X0 = np.array([-1.2, 1.0, 0.5, -0.3])
M0 = np.arange(8.0).reshape(2, 4) / 7.0
U0 = np.array([3.0, -1.0, 2.0])


@pytest.fixture(scope="module", params=["jit", "aot"])
def small(cache_dir, request):
    """Rosenbrock value and gradient plus a matrix-vector product; ``u`` is declared
    but unused. Compiled with the (module's) disk cache, JIT only and ahead of
    time (where there is a C compiler: else both are JIT)."""
    x = jg.vector("x", 4)
    a = jg.scalar("a")
    M = jg.matrix("M", 2, 4)
    u = jg.vector("u", 3)
    f = jg.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (a - x[:-1]) ** 2)
    outs = [f, jg.grad(f, x), (M @ x) * a]
    with pytest.MonkeyPatch.context() as mp:  # a cache miss in each mode
        mp.setenv("JITGRAD_CACHE_DIR", os.path.join(cache_dir, request.param))
        k = jg.compile([x, a, M, u], outs, aot=request.param == "aot")
    return k, [x, a, M, u], outs


def call_ref(small, *vals):
    _, ins, outs = small
    with np.errstate(all="ignore"):
        return jg.evaluate(outs, dict(zip(ins, vals)))


def test_small_kernel_matches_evaluate(small):
    k, _, _ = small
    got = k(X0, 1.0, M0, U0)
    assert isinstance(got, tuple) and len(got) == 3
    for g, w in zip(got, call_ref(small, X0, 1.0, M0, U0)):
        assert_matches(g, w)


def test_single_output_is_not_a_tuple(cache_dir):
    x = jg.vector("x", 3)
    k = jg.compile([x], jg.sum(jg.exp(x)))
    assert np.isclose(k(np.zeros(3)), 3.0)
    kv = jg.compile([x], [jg.sum(jg.exp(x))])
    (val,) = kv(np.zeros(3))
    assert val == k(np.zeros(3))


def test_njit_inside_user_njit_loop(small):
    """Gradient descent steps on Rosenbrock, calling ``k.njit`` inside ``@njit``."""
    k, _, _ = small
    kn = k.njit

    @numba.njit
    def descend(x, a, M, u, lr, steps):
        fs = np.empty(steps)
        for i in range(steps):
            f, g, _ = kn(x, a, M, u)
            fs[i] = f
            x = x - lr * g
        return x, fs

    x, fs = descend(X0, 1.0, M0, U0, 1e-3, 40)
    xp, fp = X0, []
    for _ in range(40):
        f, g, _ = k(xp, 1.0, M0, U0)
        fp.append(f)
        xp = xp - 1e-3 * g
    np.testing.assert_allclose(fs, fp, rtol=1e-13)
    np.testing.assert_allclose(x, xp, rtol=1e-13)
    assert fs[-1] < fs[0]


def test_into_writes_given_buffers(small):
    k, _, _ = small
    out = (np.full(1, np.nan), np.full(4, np.nan), np.full(2, np.nan))
    assert k.into(X0, 1.0, M0, U0, out=out) is None
    want = k(X0, 1.0, M0, U0)
    assert out[0][0] == want[0]
    np.testing.assert_array_equal(out[1], want[1])
    np.testing.assert_array_equal(out[2], want[2])
    # Called again, the same buffers get new values.
    k.into(2.0 * X0, 1.0, M0, U0, out=out)
    np.testing.assert_array_equal(out[1], k(2.0 * X0, 1.0, M0, U0)[1])
    # A 0-d output may also go into a 0-d array.
    f0 = np.full((), np.nan)
    k.into(X0, 1.0, M0, U0, out=(f0, out[1], out[2]))
    assert f0.shape == () and f0[()] == want[0]
    if k.aot:  # the C trampoline takes the 0-d buffer itself, without the Python path
        f0[()] = np.nan
        k._aot_into(X0, 1.0, M0, U0, f0, out[1], out[2])
        assert f0[()] == want[0]


@pytest.mark.parametrize(
    ("j", "bad"),
    [
        (0, np.empty((), np.float32)),  # a 0-d buffer must still have the dtype
        (0, np.empty(2)),
        (1, np.empty(5)),
        (1, np.empty((4, 1))),
        (2, np.empty((1, 2))),
        (1, np.empty(4, np.float32)),
        (1, np.empty(8)[::2]),
    ],
    ids=["0d_float32", "0d_long", "short", "extra_axis", "transposed", "float32", "strided"],
)
def test_into_rejects_wrong_buffers(small, j, bad):
    k, _, _ = small
    out = [np.empty(1), np.empty(4), np.empty(2)]
    out[j] = bad
    with pytest.raises(ValueError, match=f"output {j}"):
        k.into(X0, 1.0, M0, U0, out=tuple(out))


def test_into_wrong_number_of_buffers(small):
    k, _, _ = small
    with pytest.raises((TypeError, ValueError)):
        k.into(X0, 1.0, M0, U0, out=(np.empty(1), np.empty(4)))


# ----------------------------------------------------------------------------- argument checks


def test_call_is_numba_dispatch_and_never_respecializes(small):
    """``k(...)`` is the dispatcher of ``entry`` itself (no Python frame); inputs
    that do not match its compiled signature exactly are converted, not compiled
    for."""
    k, ins, outs = small
    if k.aot:  # the trampoline's C function
        assert type(type(k).__call__).__name__ == "builtin_function_or_method"
    else:
        assert type(k).__call__ is k.njit
    want = k(X0, 1.0, M0, U0)
    M_f = np.asfortranarray(M0)
    ro = X0.copy()
    ro.setflags(write=False)
    odd = [
        (X0.tolist(), 1, M0, U0),  # a list, an int
        (ro, np.float64(1.0), M_f, U0.astype(np.float32)),  # read-only, Fortran order, float32
        (np.repeat(X0, 2)[::2], 1.0, M0, U0),  # non-contiguous
    ]
    for args in odd:
        for g, w in zip(k(*args), want):
            np.testing.assert_array_equal(g, w)
    # one signature at most (AOT mode compiles entry only when k.njit is first called)
    assert len(k.njit.overloads) == 1 or (k.aot and not k.njit.overloads)


@pytest.mark.parametrize("n", [0, 3, 5])
def test_wrong_argument_count(small, n):
    k, _, _ = small
    args = [X0, 1.0, M0, U0, U0][:n]
    with pytest.raises(TypeError) as e:
        k(*args)
    for name in ["x", "a", "M", "u"][n:]:  # the missing inputs are named
        assert repr(name) in str(e.value)


@pytest.mark.parametrize(
    ("pos", "bad", "name", "want"),
    [
        (0, np.ones(5), "x", "(4,)"),
        (0, np.ones((4, 1)), "x", "(4,)"),
        (1, np.ones(2), "a", "()"),
        (2, np.ones((4, 2)), "M", "(2, 4)"),
        (3, np.ones(()), "u", "(3,)"),
    ],
)
def test_wrong_shape_names_input_and_shapes(small, pos, bad, name, want):
    k, _, _ = small
    args = [X0, 1.0, M0, U0]
    args[pos] = bad
    with pytest.raises(ValueError) as e:
        k(*args)
    msg = str(e.value)
    assert repr(name) in msg and want in msg and str(tuple(bad.shape)) in msg


@pytest.mark.parametrize(
    ("pos", "bad"),
    [
        (0, "abcd"),
        (0, np.array(["a", "b", "c", "d"])),
        (1, "1.0"),
        (0, X0 + 1j),
        (1, 1 + 2j),
        (0, np.array([1.0, 2.0, 3.0, 4.0], dtype=object)),
        (1, None),
    ],
    ids=["str", "str_array", "str_scalar", "complex", "complex_scalar", "object", "none"],
)
def test_non_numeric_arguments_raise_type_error(small, pos, bad):
    k, _, _ = small
    args = [X0, 1.0, M0, U0]
    args[pos] = bad
    with pytest.raises(TypeError, match=repr(["x", "a", "M", "u"][pos])):
        k(*args)


def test_numbers_lists_and_integer_arrays_convert(small):
    k, _, _ = small
    want = k(np.array([1.0, 2.0, -1.0, 0.0]), 2.0, np.arange(8.0).reshape(2, 4), np.zeros(3))
    for args in [
        ([1, 2, -1, 0], 2, np.arange(8).reshape(2, 4), [0, 0, 0]),
        (np.array([1, 2, -1, 0], np.int32), np.int64(2), np.arange(8.0).reshape(2, 4), (0, 0, 0)),
        (np.array([1, 2, -1, 0], np.float32), np.float32(2), np.arange(8).reshape(2, 4).tolist(),
         np.zeros(3, bool)),
        (np.array([1.0, 2.0, -1.0, 0.0]), np.array(2.0), np.arange(8.0).reshape(2, 4), np.zeros(3)),
    ]:  # fmt: skip
        for g, w in zip(k(*args), want):
            np.testing.assert_array_equal(g, w)


def test_non_contiguous_and_read_only_arrays(small):
    k, _, _ = small
    want = k(X0, 1.0, M0, U0)
    big = np.zeros(8)
    big[::2] = X0
    xs = big[::2]  # strided
    Mf = np.asfortranarray(M0)
    Mt = np.ascontiguousarray(M0.T).T  # a transposed view
    ro = X0.copy()
    ro.setflags(write=False)
    Mro = M0.copy()
    Mro.setflags(write=False)
    for args in [(xs, 1.0, Mf, U0), (ro, 1.0, Mt, U0[::-1][::-1]), (ro, 1.0, Mro, U0)]:
        got = k(*args)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(big[::2], X0)  # inputs untouched


def test_nan_and_inf_propagate(small):
    k, _, _ = small
    x = np.array([np.nan, 1.0, np.inf, -np.inf])
    M = M0.copy()
    M[1, 1] = np.inf
    for args in [(x, 1.0, M0, U0), (X0, np.nan, M0, U0), (X0, np.inf, M, U0), (x, 1.0, M, U0)]:
        got = k(*args)
        want = call_ref(small, *args)
        assert any(not np.isfinite(w).all() for w in want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)  # NaN where NaN, inf where inf


def test_unused_declared_input_is_taken(small):
    k, _, _ = small
    a = k(X0, 1.0, M0, U0)
    b = k(X0, 1.0, M0, -U0)
    for g, w in zip(a, b):
        np.testing.assert_array_equal(g, w)
    with pytest.raises(TypeError):
        k(X0, 1.0, M0)


# ----------------------------------------------------------------------------- compile errors


def test_output_of_undeclared_var_raises():
    x = jg.vector("x", 3)
    y = jg.var("why", (3,))
    with pytest.raises(ValueError, match="why"):
        jg.compile([x], [jg.sum(x * y)], cache=False)


@pytest.mark.parametrize(
    "bad",
    [lambda x: x * 2.0, lambda x: jg.const(np.ones(3)), lambda x: np.ones(3), lambda x: "x"],
    ids=["op_node", "const_node", "array", "str"],
)
def test_non_var_input_raises_type_error(bad):
    x = jg.vector("x", 3)
    with pytest.raises(TypeError):
        jg.compile([x, bad(x)], [jg.sum(x)], cache=False)


# ----------------------------------------------------------------------------- source and stats


def test_source_is_plain_python_with_node_comments(small):
    k, _, _ = small
    tree = ast.parse(k.source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    # jitgrad itself only for run-time support (errors, scalar blocks)
    assert imported <= {"numpy", "numba", "os", "jitgrad"}
    comments = [line.split("#", 1)[1] for line in k.source.splitlines() if "#" in line]
    assert any("sum(" in c for c in comments)
    assert any("@" in c for c in comments)  # the matmul M @ x


def test_stats_record_compile_phases(small):
    k, _, _ = small
    if k.stats.get("llvm") in ("direct", "loops"):  # compiled without Numba
        build = "direct"
    else:
        build = "aot_build" if k.aot else "numba"  # the AOT build compiles inner only
    assert {"hash", "lower", "emit", build, "cache_hit"} <= set(k.stats)
    assert k.stats["cache_hit"] is False
    for key in ("hash", "lower", "emit", build):
        assert isinstance(k.stats[key], float) and k.stats[key] >= 0.0


# ============================================================================ the disk cache

# Built in this process and in fresh subprocesses alike (exec'd in both).
CACHE_GRAPHS = """
import numpy as np
import jitgrad as jg


def cache_graphs():
    x, y = jg.scalars("x y")
    f = jg.sin(x * y) + jg.exp(x) / (1.0 + y**2) + jg.log1p(x**2 * y**2)
    v = jg.vector("v", 5)
    r = jg.sum(100.0 * (v[1:] - v[:-1] ** 2) ** 2 + (1.0 - v[:-1]) ** 2)
    w = jg.vector("w", 3)
    s = jg.sum(jg.softplus(w * np.array([1.0, -2.0, 0.5])))  # constants in an .npz
    z = jg.vector("z", 3)
    t = jg.sum(jg.tanh(z) * np.array([0.25, 3.0, -1.0]))
    d4 = jg.derivative(jg.sin(jg.sin(jg.sin(x * y))), x, order=4)  # a scalar_block
    return {
        "hit": ([x, y], [f] + jg.grad(f, [x, y]), [0.3, -1.2]),
        "block": ([x, y], [d4, f], [0.3, -1.2]),
        "truncated": ([v], [r, jg.grad(r, v)], [np.linspace(-1.0, 1.0, 5)]),
        "garbage": ([w], [s, jg.grad(s, w)], [np.array([0.1, -0.2, 0.3])]),
        "bad_npz": ([z], [t, jg.grad(t, z)], [np.array([0.5, 0.0, -0.7])]),
    }
"""

CHILD = """
import json, os, sys
ns = {}
exec(sys.argv[1], ns)
jg, np = ns["jg"], ns["np"]
cache = os.environ["JITGRAD_CACHE_DIR"]
out = {}
graphs = ns["cache_graphs"]()
for name in sys.argv[2:]:
    ins, outs, vals = graphs[name]
    before = set(os.listdir(cache)) if os.path.isdir(cache) else set()
    k = jg.compile(ins, outs)
    out[name] = {
        "hit": k.stats["cache_hit"],
        "values": [np.asarray(r).tolist() for r in k(*vals)],
        "new_files": sorted(f for f in set(os.listdir(cache)) - before if f.startswith("k_")),
    }
print(json.dumps(out))
"""


def cache_graphs():
    ns = {}
    exec(CACHE_GRAPHS, ns)
    return ns["cache_graphs"]()


def start_child(cache, names):
    env = dict(os.environ, JITGRAD_CACHE_DIR=cache)
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, CACHE_GRAPHS, *names],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def child_result(p):
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def cache_round(tmp_path_factory):
    """Compile every cache graph in one fresh process (all misses), spoil three
    entries, then compile them all again in another fresh process. (Both are
    subprocesses: cache keys cover jitgrad's own source files, which this process
    may have read long before.)"""
    d = str(tmp_path_factory.mktemp("cache-round"))
    graphs = cache_graphs()
    first = child_result(start_child(d, list(graphs)))
    files = {}
    for name, r in first.items():
        assert r["hit"] is False
        files[name] = {}
        for f in r["new_files"]:
            with open(os.path.join(d, f), "rb") as fh:
                files[name][f] = fh.read()
    exts = sorted(os.path.splitext(f)[1] for f in files["bad_npz"])
    # the source and its constants; with a C compiler also the AOT library and manifest
    assert exts in ([".npz", ".py"], [".aot", ".npz", ".py", ".so"])

    def spoil(name, ext, data):
        (f,) = [f for f in files[name] if f.endswith(ext)]
        with open(os.path.join(d, f), "wb") as fh:
            fh.write(data(files[name][f]))

    spoil("truncated", ".py", lambda b: b[: len(b) // 2])
    spoil("garbage", ".py", lambda b: bytes(range(256)) * 4)
    spoil("bad_npz", ".npz", lambda b: b[:100])
    second = child_result(start_child(d, list(graphs)))
    return d, graphs, files, first, second


def test_cache_hit_in_fresh_process(cache_round):
    _, graphs, _, first, second = cache_round
    assert second["hit"]["hit"] is True
    assert second["hit"]["values"] == first["hit"]["values"]
    ins, outs, vals = graphs["hit"]
    for g, w in zip(second["hit"]["values"], jg.evaluate(outs, dict(zip(ins, vals)))):
        assert_matches(np.asarray(g), w)


def test_scalar_block_cache_hit_in_fresh_process(cache_round):
    _, graphs, files, first, second = cache_round
    (src,) = [b for f, b in files["block"].items() if f.endswith(".py")]
    assert b"scalar_block(" in src
    assert second["block"]["hit"] is True
    assert second["block"]["values"] == first["block"]["values"]
    ins, outs, vals = graphs["block"]
    for g, w in zip(second["block"]["values"], jg.evaluate(outs, dict(zip(ins, vals)))):
        assert_matches(np.asarray(g), w)


@pytest.mark.parametrize("name", ["truncated", "garbage", "bad_npz"])
def test_spoiled_cache_entry_is_rebuilt(cache_round, name):
    d, graphs, files, first, second = cache_round
    assert second[name]["hit"] is False
    assert second[name]["values"] == first[name]["values"]
    ins, outs, vals = graphs[name]
    for g, w in zip(second[name]["values"], jg.evaluate(outs, dict(zip(ins, vals)))):
        assert_matches(np.asarray(g), w)
    for f, data in files[name].items():  # the entry is whole again
        with open(os.path.join(d, f), "rb") as fh:
            assert fh.read() == data, f


def test_four_processes_compile_the_same_graph_at_once(tmp_path):
    d = str(tmp_path)
    names = ["garbage"]  # with constants in an .npz beside the source
    procs = [start_child(d, names) for _ in range(4)]
    results = [child_result(p) for p in procs]
    graphs = cache_graphs()
    for name in names:
        assert all(r[name]["values"] == results[0][name]["values"] for r in results)
        ins, outs, vals = graphs[name]
        for g, w in zip(results[0][name]["values"], jg.evaluate(outs, dict(zip(ins, vals)))):
            assert_matches(np.asarray(g), w)
    files = os.listdir(d)
    assert len([f for f in files if f.startswith("k_") and f.endswith(".py")]) == len(names)
    assert not [f for f in files if f.startswith(".tmp")]  # atomic writes leave no debris


def test_unwritable_cache_dir_warns_and_still_works(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            # Root ignores permissions: a cache path under a regular file cannot be made.
            (tmp_path / "file").write_text("not a directory")
            target = tmp_path / "file" / "cache"
        else:
            target = ro / "cache"
        monkeypatch.setenv("JITGRAD_CACHE_DIR", str(target))
        x = jg.vector("x", 3)
        with pytest.warns(RuntimeWarning, match="cache"):
            k = jg.compile([x], [jg.sum(jg.cos(x) * x)])
        np.testing.assert_allclose(
            k(np.arange(3.0))[0], np.sum(np.cos(np.arange(3.0)) * np.arange(3.0))
        )
        assert k.stats["cache_hit"] is False
    finally:
        ro.chmod(0o700)


# ============================================================================ slice gathers
# Adjoints of shifted slices (x[1:], x[:-1], ...) summed into one gradient are written
# as gathers, each output element once, split into interior and edge loops.


def _ros(x, n):
    return jg.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def gather_graphs(dtype="float64"):
    """(inputs, outputs) covering the gather lowering: sizes 1, 2, 3, 7; three shifted
    slices; the local part first or last; step-2 slices (the scatter fallback); a lone
    slice; 2-d slices on both axes; a gather read by later loops."""
    ins, outs = [], []
    for n in (1, 2, 3, 7):
        x, v = jg.vector(f"x{n}", n, dtype), jg.vector(f"v{n}", n, dtype)
        ins += [x, v]
        f = _ros(x, n)  # n = 1: empty slices, a zero gradient
        outs += [jg.grad(f, x), jg.hvp(f, x, v)]
    y = jg.vector("y", 9, dtype)
    ins.append(y)
    # Three slices with different starts; the costly part starts last, then first.
    outs.append(jg.grad(jg.sum(y[2:] * y[1:-1] * y[:-2]), y))
    outs.append(jg.grad(jg.sum(jg.sin(y[1:]) * jg.exp(y[1:]) + y[:-1] ** 2), y))
    outs.append(jg.grad(jg.sum(jg.sin(y[:-3]) * jg.exp(y[:-3]) + y[3:] * y[:-3]), y))
    # Steps: y[::2] + y[1::2] (two step-2 scatters) and a mix with a step-1 slice.
    outs.append(jg.grad(jg.sum(jg.sin(y[::2][:4] * y[1::2])), y))
    outs.append(jg.grad(jg.sum(jg.cos(y[1:] * y[:-1])) + jg.sum(y[::3] ** 2), y))
    # A lone slice (zeros at the edges), a gather read by a later loop.
    outs.append(jg.grad(jg.sum(jg.tanh(y[2:-1])), y))
    g = jg.grad(_ros(y, 9), y)
    outs.append(jg.sum(g * g))
    M = jg.matrix("M", 4, 5, dtype)
    ins.append(M)
    h = jg.sum((M[1:, :] - M[:-1, :] ** 2) ** 2) + jg.sum(jg.sin(M[:, 2:] * M[:, :-2]))
    outs.append(jg.grad(h, M))
    outs.append(jg.grad(jg.sum(M[1:, 1:] * M[:-1, :-1]), M))
    return ins, outs


def _gather_values(ins, dtype, rng):
    vals = []
    for v in ins:
        vals.append(rng.uniform(-1.5, 1.5, v.shape).astype(dtype))
    return vals


GATHER_CASES = {
    "f64": ("float64", {}),
    "f32": ("float32", {}),
    "fastmath": ("float64", {"fastmath": True}),
}


@pytest.mark.parametrize("case", list(GATHER_CASES))
def test_slice_gathers_match_evaluate(cache_dir, case):
    dtype, opts = GATHER_CASES[case]
    claim(cache_dir, "extra", f"gathers-{case}")
    ins, outs = gather_graphs(dtype)
    k = jg.compile(ins, outs, **opts)
    assert "gathered" in k.source
    vals = _gather_values(ins, dtype, np.random.default_rng(7))
    want = jg.evaluate(outs, dict(zip(ins, vals)))
    got = k(*vals)
    for j, (a, b) in enumerate(zip(got, want)):
        if opts.get("fastmath"):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, err_msg=f"output {j}")
        else:
            assert_matches(a, b, f"output {j}")


def gather_batch_graph():
    n = 5000
    x, v = jg.vector("x", n), jg.vector("v", n)
    f = _ros(x, n)
    return n, (x, v), [f, jg.grad(f, x), jg.hvp(f, x, v)]


def test_slice_gathers_batch_and_parallel(cache_dir):
    """batch=True equals single calls bit for bit; parallel=True (a prange interior)
    matches evaluate."""
    claim(cache_dir, "extra", "gathers-batch-parallel")
    n, (x, v), outs = gather_batch_graph()
    rng = np.random.default_rng(3)
    xs, vs = rng.uniform(-1.5, 1.5, (3, n)), rng.standard_normal((3, n))
    kb = jg.compile([x, v], outs, batch=True)
    kp = jg.compile([x, v], outs, parallel=True)
    assert "prange(1, 4999)" in kp.source
    got = kb(xs, vs)
    for b in range(3):
        single = kp(xs[b], vs[b])
        want = jg.evaluate(outs, {x: xs[b], v: vs[b]})
        for j in range(3):
            assert_matches(single[j], want[j], f"parallel output {j}")
            np.testing.assert_allclose(got[j][b], want[j], rtol=1e-10, atol=1e-12)


def test_strided_view_of_shifted_view(cache_dir):
    """A stepped slice read at a shifted index: ``2 * (i + 1)``, not ``2 * i + 1``."""
    x = jg.vector("x", 9)
    y = jg.sin((x[::2] + 1.0)[1:])
    k = jg.compile([x], [y])
    xv = np.arange(9.0)
    assert_matches(k(xv)[0], jg.evaluate(y, {x: xv}))


# ============================================================================ pairwise forms
# Small sums (the 3 coordinates of a distance) computed where they are read, identity
# masks read as selects, negative integer powers sharing one division.


def pairwise_graphs(n, dtype="float64"):
    X = jg.matrix("X", n, 3, dtype)
    eye = np.eye(n, dtype=dtype)
    r2 = jg.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1) + eye
    E = 0.5 * jg.sum((1.0 - eye) * (r2**-6 - r2**-3))
    P = jg.var("P", (2, 2, 2), dtype)
    mixed = np.where(np.eye(n, dtype=bool), 2.0, -0.5).astype(dtype)
    signed = np.eye(n, dtype=dtype) * 0.0
    signed[0, 0] = -0.0
    outs = [
        E,
        -jg.grad(E, X),
        jg.sqrt(r2) * mixed,  # sum read twice (recomputed), a 2 / -0.5 mask
        (r2 + signed) ** -2,  # -0.0 on part of a diagonal: not a uniform diagonal
        jg.sum(X**2, axis=0) * jg.sum(jg.sin(X), axis=1)[:3],  # axis 0 is too long to inline
        jg.sum(jg.exp(P), axis=(1, 2)) + jg.sum(P * P, axis=(0, 2)),  # 4-term sums
        jg.sum(jg.exp(P)) * P,  # a full sum read by a larger loop: stored
        # An (n, n, 2) loop reading an (n, n) loop at its own leading index runs
        # nested inside it; one reading it transposed cannot.
        jg.sum(jg.reshape(jg.exp(-r2), (n, n, 1)) * P[0, 0], axis=(0, 1)),
        jg.sum(jg.reshape(jg.cos(r2).T, (n, n, 1)) * P[1, 1] ** 2, axis=1),
    ]
    return [X, P], outs


PAIRWISE = [(1, "float64"), (4, "float64"), (5, "float32")]


@pytest.mark.parametrize("n, dtype", PAIRWISE)
def test_pairwise_forms_match_evaluate(cache_dir, n, dtype):
    claim(cache_dir, "extra", f"pairwise-{n}-{dtype}")
    ins, outs = pairwise_graphs(n, dtype)
    k = jg.compile(ins, outs)
    if n > 1:
        # the masks are selects, and the loop is split at the diagonal
        assert "if i0 == i1 else" in k.source or "below the diagonal" in k.source
        assert f"np.full(({n}, {n})" not in k.source  # no array of partial sums
        assert "# inner loop over" in k.source
    rng = np.random.default_rng(11)
    vals = [
        (1.2 * np.arange(n * 3).reshape(n, 3) ** 0.7).astype(dtype) + rng.uniform(0, 0.1, (n, 3))
    ]
    vals.append(rng.uniform(-1, 1, (2, 2, 2)).astype(dtype))
    vals = [v.astype(dtype) for v in vals]
    want = jg.evaluate(outs, dict(zip(ins, vals)))
    for j, (a, b) in enumerate(zip(k(*vals), want)):
        assert_matches(a, b, f"output {j}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_diagonal_split_gives_the_same_bits(cache_dir, monkeypatch, dtype):
    """Loops over (n, n) reading identity masks run below, on and above the
    diagonal without selects; the iterations keep their order, so every output
    (energy sums included) is bit for bit the unsplit kernel's. So do the row
    sums of the forces kept in locals over the inner loop (float64 only)."""
    from jitgrad.codegen import emit, ir

    n = 6
    ins, outs = pairwise_graphs(n, dtype)
    outs = outs[:3]  # energy, forces, a 2 / -0.5 mask: one loop nest
    k = jg.compile(ins, outs, cache=False)
    assert "below the diagonal i0 == i1" in k.source and "if i0 == i1 else" not in k.source
    assert ("unrolled" in k.source) == (dtype == "float64")
    monkeypatch.setattr(ir, "SPLIT_MAX_STATEMENTS", 0)
    monkeypatch.setattr(emit._Registers, "MAX_UNROLL", 0)
    plain = jg.compile(ins, outs, cache=False)
    assert "if i0 == i1 else" in plain.source and "below the diagonal" not in plain.source
    assert "unrolled" not in plain.source
    rng = np.random.default_rng(5)
    vals = [
        (2.0 * np.arange(n * 3).reshape(n, 3) ** 0.5 + rng.uniform(0, 0.1, (n, 3))).astype(dtype)
    ]
    vals.append(rng.uniform(-1, 1, (2, 2, 2)).astype(dtype))
    for j, (a, b) in enumerate(zip(k(*vals), plain(*vals))):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), f"output {j}"
    want = jg.evaluate(outs, dict(zip(ins, vals)))
    for j, (a, b) in enumerate(zip(k(*vals), want)):
        assert_matches(a, b, f"output {j}")


# The large kernels of the tests above, for the helpers to compile ahead (in the
# order the tests need them): name -> [(inputs, outputs, compile options)], and
# the tests that compile them.
EXTRA = {
    "batch": lambda: [(*batch_graph()[:2], {"batch": True}), (*batch_graph()[:2], {})],
    **{
        f"gathers-{case}": (
            lambda case=case: [(*gather_graphs(GATHER_CASES[case][0]), GATHER_CASES[case][1])]
        )
        for case in GATHER_CASES
    },
    "gathers-batch-parallel": lambda: [
        (gather_batch_graph()[1], gather_batch_graph()[2], {"batch": True}),
        (gather_batch_graph()[1], gather_batch_graph()[2], {"parallel": True}),
    ],
    **{
        f"pairwise-{n}-{dtype}": (lambda n=n, dtype=dtype: [(*pairwise_graphs(n, dtype), {})])
        for n, dtype in PAIRWISE
    },
}
EXTRA_TESTS = {
    "batch": {
        "test_batch_equals_single_calls_bitwise",
        "test_batch_matches_evaluate",
        "test_batch_arguments",
    },
    **{f"gathers-{case}": {f"test_slice_gathers_match_evaluate[{case}]"} for case in GATHER_CASES},
    "gathers-batch-parallel": {"test_slice_gathers_batch_and_parallel"},
    **{
        f"pairwise-{n}-{dtype}": {f"test_pairwise_forms_match_evaluate[{n}-{dtype}]"}
        for n, dtype in PAIRWISE
    },
}


def test_large_constant_kernel_keeps_the_generated_call():
    """A constant above GLOBAL_CONST_BYTES is an argument of entry_c (Numba cannot
    cache functions with large global arrays): k(...) is then generated Python
    calling entry_c, with the same conversions and errors."""
    from jitgrad.codegen.emit import GLOBAL_CONST_BYTES

    n = GLOBAL_CONST_BYTES // 8 + 100
    w = np.linspace(-1.0, 2.0, n)
    x = jg.vector("x", n)
    f = jg.sum(jg.sin(x) * w)
    k = jg.compile([x], [f, jg.grad(f, x)], cache=False)
    assert type(k).__call__ is not k.njit
    xv = np.linspace(0.0, 1.0, n)
    want = jg.evaluate([f, jg.grad(f, x)], {x: xv})
    for args in [(xv,), (xv.tolist(),), (np.repeat(xv, 2)[::2],)]:
        got = k(*args)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12)
    with pytest.raises(ValueError, match=rf"expected shape \({n},\), got shape \(3,\)"):
        k(np.zeros(3))
    with pytest.raises(TypeError, match="'x'"):
        k()

"""Benchmarks of jitgrad kernels against hand-written Numba, JAX and PyTensor.

Run::

    python benchmarks/run.py [problem ...] [--quick] [--out DIR] [--repeats R] [--fresh-cache]

Problems: ``rosenbrock layers lj scalar2 batch compile`` (default: all). ``compile``
measures the cold compile (``cache=False``) and the warm start from the disk cache
in fresh subprocesses. ``--quick`` runs the small sizes only (a smoke test).

For every problem, size and task the variants (the jitgrad kernel ``k(...)``, the
hand-written Numba function of ``handwritten.py``, JAX ``jit`` when installed)
are called from Python with the same arguments, each returning freshly allocated
outputs. Each variant's inner loop is sized to about 0.1 s; the variants are
timed in turn (interleaved, the order rotating) for ``--repeats`` rounds and the
median time per call is reported. Ratios are ratios of medians from the same run.

Writes ``<out>/results.md`` (the Markdown printed to stdout), ``<out>/results.json``,
``<out>/ratios.png`` (needs matplotlib) and the generated source of every jitgrad
kernel under ``<out>/sources/``. Default ``<out>``: ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
import timeit
from dataclasses import dataclass, field

# Single calls are measured single-threaded: BLAS (used by np.dot inside Numba) gets
# one thread unless the caller asks otherwise. Set before NumPy/SciPy load BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import handwritten as hw  # noqa: E402

import jitgrad as jg  # noqa: E402

try:
    import refs_jax
except ImportError:
    refs_jax = None

try:
    import refs_pytensor
except ImportError:
    refs_pytensor = None

PROBLEMS = ["rosenbrock", "layers", "lj", "scalar2", "batch", "compile"]
SIZES = {
    "rosenbrock": ([2, 100, 10_000, 1_000_000], [2, 100]),
    "layers": ([8, 64, 512], [8]),
    "lj": ([16, 128, 1024], [16]),
    "scalar2": ([1], [1]),
    "batch": ([1_000_000], [10_000]),
}
# Display names of the tasks; the first task of a problem is its function cost.
TASK_LABELS = {
    "lj": {"f": "energy", "f+grad": "energy+forces"},
}


# ----------------------------------------------------------------------------- cases


@dataclass
class Variant:
    fn: object
    args: list
    jax: bool = False


@dataclass
class Case:
    problem: str
    size: str
    task: str
    variants: dict = field(default_factory=dict)  # name -> Variant
    fastmath: bool = False
    rtol: float = 1e-8
    times: dict = field(default_factory=dict)  # name -> median seconds per call
    spread: dict = field(default_factory=dict)  # name -> (min, max) over repeats
    compile_s: float | None = None
    cache_hit: bool | None = None

    @property
    def label(self):
        t = TASK_LABELS.get(self.problem, {}).get(self.task, self.task)
        return t + (" (fastmath)" if self.fastmath else "")


def _kernel(inputs, outputs, **opts):
    k = jg.compile(inputs, outputs, **opts)
    return k


def _add_jax(case: Case, args, key_problem=None, key_task=None):
    if refs_jax is None or case.fastmath:
        return
    fn = refs_jax.make(key_problem or case.problem, key_task or case.task)
    case.variants["JAX"] = Variant(fn, refs_jax.device(args), jax=True)


def _add_pytensor(case: Case, args, key_problem=None, key_task=None):
    if refs_pytensor is None or case.fastmath:
        return
    fn = refs_pytensor.make(key_problem or case.problem, key_task or case.task, args)
    case.variants["PyTensor"] = Variant(fn, refs_pytensor.device(args))


def _jg_case(problem, size, task, inputs, outputs, hand, args, *, fastmath=False, rtol=1e-8):
    t = time.perf_counter()
    k = _kernel(inputs, outputs, fastmath=fastmath)
    case = Case(problem, str(size), task, fastmath=fastmath, rtol=rtol)
    case.compile_s = time.perf_counter() - t
    case.cache_hit = bool(k.stats.get("cache_hit"))
    case.variants["jitgrad"] = Variant(k, list(args))
    case.variants["hand-written"] = Variant(
        hw.fastmath_variant(hand) if fastmath else hand, list(args)
    )
    return case


def rosenbrock_cases(sizes, rng):
    for n in sizes:
        x = jg.vector("x", n)
        v = jg.vector("v", n)
        a, b = x[:-1], x[1:]
        f = jg.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2)
        g = jg.grad(f, x)
        hv = jg.hvp(f, x, v)
        xv = rng.uniform(-1.5, 1.5, n)
        vv = rng.standard_normal(n)
        tasks = [
            ("f", [x], f, hw.ros_f, [xv]),
            ("f+grad", [x], [f, g], hw.ros_fg, [xv]),
            ("f+grad+hvp", [x, v], [f, g, hv], hw.ros_fgh, [xv, vv]),
        ]
        for task, ins, outs, hand, args in tasks:
            case = _jg_case("rosenbrock", n, task, ins, outs, hand, args)
            _add_jax(case, args)
            _add_pytensor(case, args)
            yield case
        if n == 1_000_000:
            ins, outs, hand, args = tasks[2][1:]
            yield _jg_case(
                "rosenbrock", n, "f+grad+hvp", ins, outs, hand, args, fastmath=True, rtol=1e-6
            )


def layers_cases(sizes, rng):
    for n in sizes:
        x, t = jg.vector("x", n), jg.vector("t", n)
        W = [jg.matrix(f"W{i}", n, n) for i in range(3)]
        b = [jg.vector(f"b{i}", n) for i in range(3)]
        y = jg.sum((W[2] @ jg.tanh(W[1] @ jg.tanh(W[0] @ x + b[0]) + b[1]) + b[2] - t) ** 2)
        params = [W[0], b[0], W[1], b[1], W[2], b[2]]
        ins = [x, *params, t]
        args = [rng.standard_normal(n)]
        for _ in range(3):
            args += [rng.standard_normal((n, n)) / np.sqrt(n), 0.1 * rng.standard_normal(n)]
        args.append(rng.standard_normal(n))
        grads = jg.grad(y, params)
        for task, outs, hand in [("f", y, hw.layers_f), ("f+grad", [y, *grads], hw.layers_fg)]:
            case = _jg_case("layers", n, task, ins, outs, hand, args, rtol=1e-7)
            _add_jax(case, args)
            _add_pytensor(case, args)
            yield case
        if n == 512:
            yield _jg_case(
                "layers",
                n,
                "f+grad",
                ins,
                [y, *grads],
                hw.layers_fg,
                args,
                fastmath=True,
                rtol=1e-6,
            )


def lj_positions(n, rng):
    """A jittered cubic lattice of spacing 1.2: no two atoms closer than about 0.9."""
    k = int(np.ceil(n ** (1 / 3)))
    grid = np.stack(np.meshgrid(*[np.arange(k)] * 3, indexing="ij"), -1).reshape(-1, 3)
    return 1.2 * grid[:n] + rng.uniform(-0.1, 0.1, (n, 3))


def lj_cases(sizes, rng):
    for n in sizes:
        X = jg.matrix("X", n, 3)
        eye = np.eye(n)
        r2 = jg.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1) + eye
        E = 0.5 * jg.sum((1.0 - eye) * (r2**-6 - r2**-3))
        F = -jg.grad(E, X)
        args = [lj_positions(n, rng)]
        for task, outs, hand in [("f", E, hw.lj_e), ("f+grad", [E, F], hw.lj_ef)]:
            case = _jg_case("lj", n, task, [X], outs, hand, args, rtol=1e-7)
            _add_jax(case, args)
            _add_pytensor(case, args)
            yield case


def _scalar2_graph():
    x, y = jg.scalars("x y")
    f = jg.sin(x * y) + jg.exp(x) / (1 + y**2) + jg.log1p(x**2 * y**2)
    g = jg.grad(f, [x, y])
    H = jg.hessian(f, [x, y])
    outs = {
        "f": f,
        "f+grad": [f, *g],
        "f+grad+hess": [f, *g, H[0][0], H[0][1], H[1][0], H[1][1]],
    }
    return x, y, outs


def scalar2_cases(sizes, rng):
    x, y, outs = _scalar2_graph()
    args = [0.7, -0.4]
    hands = {"f": hw.s2_f, "f+grad": hw.s2_fg, "f+grad+hess": hw.s2_fgh}
    for task, o in outs.items():
        case = _jg_case("scalar2", "2 scalars", task, [x, y], o, hands[task], args)
        _add_jax(case, args)
        _add_pytensor(case, args)
        yield case


def batch_cases(sizes, rng):
    x, y, outs = _scalar2_graph()
    hands = {"f": hw.s2_batch_f, "f+grad": hw.s2_batch_fg, "f+grad+hess": hw.s2_batch_fgh}
    for B in sizes:
        args = [rng.uniform(-2, 2, B), rng.uniform(-2, 2, B)]
        for task, o in outs.items():
            t = time.perf_counter()
            k = _kernel([x, y], o, batch=True)
            case = Case("batch", f"B={B:.0e}".replace("e+0", "e"), task)
            case.compile_s = time.perf_counter() - t
            case.cache_hit = bool(k.stats.get("cache_hit"))
            case.variants["jitgrad"] = Variant(k, args)
            case.variants["hand-written"] = Variant(hands[task], args)
            _add_jax(case, args, "batch", task)
            _add_pytensor(case, args, "batch", task)
            yield case


MAKERS = {
    "rosenbrock": rosenbrock_cases,
    "layers": layers_cases,
    "lj": lj_cases,
    "scalar2": scalar2_cases,
    "batch": batch_cases,
}


# ----------------------------------------------------------------------------- timing


def _flat(r):
    if isinstance(r, (tuple, list)):
        return [np.asarray(a) for a in r]
    return [np.asarray(r)]


def check(case: Case):
    """All variants give the same outputs as the hand-written one."""
    ref = _flat(case.variants["hand-written"].fn(*case.variants["hand-written"].args))
    for name, var in case.variants.items():
        got = _flat(var.fn(*var.args))
        if len(got) != len(ref):
            raise AssertionError(
                f"{case.problem} {case.size} {case.task}: {name} gives {len(got)} outputs, expected {len(ref)}"
            )
        for j, (a, b) in enumerate(zip(got, ref)):
            a = np.asarray(a, dtype=np.float64)
            scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
            if a.shape != b.shape or not np.allclose(a, b, rtol=case.rtol, atol=case.rtol * scale):
                err = (
                    np.max(np.abs(a - b)) if a.shape == b.shape else f"shape {a.shape} vs {b.shape}"
                )
                raise AssertionError(
                    f"{case.problem} {case.size} {case.task}: {name} output {j} differs from the "
                    f"hand-written kernel (max abs err {err})"
                )


def _timer(var: Variant) -> timeit.Timer:
    names = [f"a{k}" for k in range(len(var.args))]
    call = f"f({', '.join(names)})"
    stmt = f"_block({call})" if var.jax else call
    g = {"f": var.fn, "_block": refs_jax.block if var.jax else None}
    g.update(zip(names, var.args))
    return timeit.Timer(stmt, globals=g)


def _calibrate(timer: timeit.Timer, target: float) -> int:
    n = 1
    while True:
        t = timer.timeit(n)
        if t >= 0.2 * target:
            return max(1, round(n * target / t))
        n *= 10 if t < 0.02 * target else 2


def measure(group: list, repeats: int, target: float):
    """Time every variant of every case in ``group`` (the tasks of one problem
    size), interleaved round by round: the ratios between variants *and* between
    tasks ("task / f") compare medians taken over the same minutes. (Measured one
    case after the other, a slower phase of a shared machine during one task
    showed up as a task / f ratio.)"""
    timers = [(c, k, _timer(v)) for c in group for k, v in c.variants.items()]
    for _, _, t in timers:
        t.timeit(3)  # warm up: first calls, page faults, JAX dispatch caches
    numbers = [_calibrate(t, target) for _, _, t in timers]
    samples = [[] for _ in timers]
    m = len(timers)
    for r in range(repeats):
        for j in range(m):
            i = (j + r) % m
            samples[i].append(timers[i][2].timeit(numbers[i]) / numbers[i])
    for (case, name, _), v in zip(timers, samples):
        case.times[name] = statistics.median(v)
        case.spread[name] = (min(v), max(v))


def grouped(cases):
    """Consecutive cases of the same problem and size, as lists."""
    group = []
    for case in cases:
        if group and (case.problem, case.size) != (group[0].problem, group[0].size):
            yield group
            group = []
        group.append(case)
    if group:
        yield group


# ----------------------------------------------------------------------------- compile and warm start

_BUILD = {
    "rosenbrock n=100 f+grad+hvp": """
x = jg.vector("x", 100)
v = jg.vector("v", 100)
a, b = x[:-1], x[1:]
f = jg.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2)
ins, outs = [x, v], [f, jg.grad(f, x), jg.hvp(f, x, v)]
args = [np.linspace(-1.0, 1.0, 100), np.ones(100)]
""",
    "scalar2 f+grad+hess": """
x, y = jg.scalars("x y")
f = jg.sin(x * y) + jg.exp(x) / (1 + y**2) + jg.log1p(x**2 * y**2)
g = jg.grad(f, [x, y])
H = jg.hessian(f, [x, y])
ins, outs = [x, y], [f, *g, H[0][0], H[0][1], H[1][0], H[1][1]]
args = [0.7, -0.4]
""",
}

# The hand-written kernel of the same task, loaded from Numba's own disk cache in a
# fresh process: the floor for any Numba-based warm start.
_HAND = {
    "rosenbrock n=100 f+grad+hvp": "hw.ros_fgh(np.linspace(-1.0, 1.0, 100), np.ones(100))",
    "scalar2 f+grad+hess": "hw.s2_fgh(0.7, -0.4)",
}

_HAND_CHILD = """
import json, sys, time
import numpy as np
sys.path.insert(0, {here!r})
t0 = time.perf_counter()
import numba
t1 = time.perf_counter()
import handwritten as hw
r = {call}
t2 = time.perf_counter()
print("RESULT " + json.dumps({{"import_numba": t1 - t0, "first": t2 - t0}}))
"""

_CHILD = """
import json, sys, time
import numpy as np
t0 = time.perf_counter()
import jitgrad as jg
t1 = time.perf_counter()
res = {{"import": t1 - t0}}
exec({build!r})
k = jg.compile(ins, outs, cache={cache}, aot={aot})
r = k(*args)
t2 = time.perf_counter()
res["first"] = t2 - t1
res["stats"] = {{a: b for a, b in k.stats.items()}}
res["numba_imported"] = "numba" in sys.modules
if {again}:
    # the same build again in this process: Numba's one-time start-up already paid
    t3 = time.perf_counter()
    exec({build!r})
    k = jg.compile(ins, outs, cache={cache}, aot={aot})
    r = k(*args)
    res["again"] = time.perf_counter() - t3
print("RESULT " + json.dumps(res))
"""


def _child(
    build: str, cache: bool, again: bool, code: str | None = None, aot=None, cache_dir=None
) -> dict:
    """``aot=None``: jitgrad's default (AOT where it can be had)."""
    return child_result(
        code or _CHILD.format(build=build, cache=cache, again=again, aot=aot), cache_dir
    )


def child_result(code: str, cache_dir=None, timeout=None) -> dict:
    """Run ``code`` in a fresh interpreter (jitgrad's default options, the
    kernel cache in ``cache_dir`` when given) and return the dict it printed
    on a ``RESULT`` line; ``RuntimeError`` with its output when there is none."""
    env = dict(os.environ)
    env.pop("JITGRAD_AOT", None)
    if cache_dir:
        env["JITGRAD_CACHE_DIR"] = cache_dir
    p = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=HERE.parent,
        env=env,
        timeout=timeout,
    )
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"benchmark child failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")


def _compiler(stats: dict) -> str:
    """Which compiler made a kernel: jitgrad's LLVM ("direct", "loops") or Numba."""
    how = str(stats.get("llvm", "numba"))
    return how if how in ("direct", "loops") else "numba"


def _compiler_time(stats: dict) -> float:
    """Seconds in the compiler: LLVM (jitgrad's), or Numba and its AOT build."""
    if _compiler(stats) != "numba":
        return stats.get("direct", 0.0) + stats.get("llvm_ir", 0.0)
    return stats.get("numba", 0.0) + stats.get("aot_build", 0.0)


def compile_bench(repeats: int) -> list:
    import shutil
    import tempfile

    rows = []
    for name, build in _BUILD.items():
        cold = [_child(build, cache=False, again=True) for _ in range(max(2, repeats // 2))]
        # cold compiles into a new, empty cache (Numba's object code included), JIT
        # only and by default (AOT); the last default one leaves its cache for the warm starts
        cold_cache, cold_aot, aot_dir = [], [], None
        for _ in range(max(2, repeats // 2)):
            for aot, into in ((False, cold_cache), (None, cold_aot)):
                d = tempfile.mkdtemp(prefix="jitgrad-bench-aot-")
                into.append(_child(build, cache=True, again=False, aot=aot, cache_dir=d))
                if aot is None:
                    if aot_dir:
                        shutil.rmtree(aot_dir, ignore_errors=True)
                    aot_dir = d
                else:
                    shutil.rmtree(d, ignore_errors=True)
        _child(build, cache=True, again=False, aot=False)  # fill the cache (JIT only)
        hand_code = _HAND_CHILD.format(here=str(HERE), call=_HAND[name])
        _child("", False, False, hand_code)  # fill Numba's cache of the hand-written kernel
        warm, hand, warm_aot = [], [], []
        for _ in range(repeats):
            warm.append(_child(build, cache=True, again=False, aot=False))
            warm_aot.append(_child(build, cache=True, again=False, cache_dir=aot_dir))
            hand.append(_child("", False, False, hand_code))
        shutil.rmtree(aot_dir, ignore_errors=True)
        rows.append(
            {
                "name": name,
                "cold_first": statistics.median(r["first"] for r in cold),
                "cold_again": statistics.median(r["again"] for r in cold),
                "cold_numba": statistics.median(_compiler_time(r["stats"]) for r in cold),
                "cold_compiler": _compiler(cold[-1]["stats"]),
                "warm": statistics.median(r["first"] for r in warm),
                "warm_import": statistics.median(r["import"] for r in warm),
                "warm_hit": all(r["stats"].get("cache_hit") for r in warm),
                "warm_stats": warm[-1]["stats"],
                "cold_cache": statistics.median(r["first"] for r in cold_cache),
                "cold_aot": statistics.median(r["first"] for r in cold_aot),
                "cold_aot_build": statistics.median(_compiler_time(r["stats"]) for r in cold_aot),
                "cold_aot_compiler": _compiler(cold_aot[-1]["stats"]),
                "cold_aot_status": cold_aot[-1]["stats"].get("aot"),
                "warm_aot": statistics.median(r["first"] for r in warm_aot),
                "warm_aot_mode": all(r["stats"].get("aot") == "loaded" for r in warm_aot),
                "warm_aot_numba": any(r["numba_imported"] for r in warm_aot),
                "warm_aot_stats": warm_aot[-1]["stats"],
                "hand_warm": statistics.median(r["first"] for r in hand),
                "import_numba": statistics.median(r["import_numba"] for r in hand),
            }
        )
    return rows


# ----------------------------------------------------------------------------- report


def fmt_t(t: float | None) -> str:
    if t is None:
        return "–"
    if t < 1e-6:
        return f"{t * 1e9:.0f} ns"
    if t < 1e-3:
        return f"{t * 1e6:.3g} µs"
    if t < 1:
        return f"{t * 1e3:.3g} ms"
    return f"{t:.3g} s"


def fmt_r(r: float | None) -> str:
    return "–" if r is None else f"{r:.2f}"


def _ratio(a, b):
    return None if a is None or b is None else a / b


def cost_ratios(cases):
    """(problem, size, fastmath) -> time of the first task ("f") per variant."""
    base = {}
    for c in cases:
        if c.task == "f":
            base[c.problem, c.size] = c.times
    out = {}
    for c in cases:
        b = base.get((c.problem, c.size))
        if c.task == "f" or c.fastmath or b is None:
            continue
        out[id(c)] = {k: _ratio(c.times.get(k), b.get(k)) for k in c.times}
    return out


def table(cases) -> str:
    others = [n for n in ("JAX", "PyTensor") if any(n in c.times for c in cases)]
    head = ["problem", "size", "task", "jitgrad", "hand-written", *others, "jitgrad / hand"]
    head += [f"{n} / hand" for n in others]
    head += ["jitgrad task / f", "hand task / f"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    cr = cost_ratios(cases)
    for c in cases:
        t = c.times
        hand = t.get("hand-written")
        r = cr.get(id(c), {})
        cells = [c.problem, c.size, c.label, fmt_t(t.get("jitgrad")), fmt_t(hand)]
        cells += [fmt_t(t.get(n)) for n in others]
        cells.append(fmt_r(_ratio(t.get("jitgrad"), hand)))
        cells += [fmt_r(_ratio(t.get(n), hand)) for n in others]
        cells += [fmt_r(r.get("jitgrad")), fmt_r(r.get("hand-written"))]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def targets(cases, comp) -> list:
    """(target, measured, limit, ok) for each performance target of issue 4."""
    res = []

    def jr(c):
        return _ratio(c.times.get("jitgrad"), c.times.get("hand-written"))

    def add(what, value, limit, fmt=fmt_r):
        if value is not None:
            res.append((what, fmt(value), f"≤ {fmt(limit)}", value <= limit))

    for c in cases:
        where = f"{c.problem} {c.size} {c.label}"
        if c.problem == "scalar2" or (c.problem == "rosenbrock" and c.size == "2"):
            add(f"tiny: jitgrad / hand, {where}", jr(c), 1.5)
        if (c.problem, c.size, c.task) in (
            ("rosenbrock", "1000000", "f+grad+hvp"),
            ("layers", "512", "f+grad"),
        ):
            add(f"large: jitgrad / hand, {where}", jr(c), 1.2)
        if c.problem == "lj" and c.size == "1024" and c.task == "f+grad":
            add(f"LJ forces: jitgrad / hand pair loop, {where}", jr(c), 2.5)
        if c.problem == "batch":
            add(f"batch: jitgrad / hand prange, {where}", jr(c), 1.2)
            if "JAX" in c.times:
                add(
                    f"batch: jitgrad / JAX vmap+jit, {where}",
                    _ratio(c.times["jitgrad"], c.times["JAX"]),
                    1.0,
                )
    cr = cost_ratios(cases)
    for c in cases:
        if c.task == "f+grad" and not c.fastmath and id(c) in cr:
            add(f"grad cost / f cost (jitgrad), {c.problem} {c.size}", cr[id(c)]["jitgrad"], 3.0)
    for row in comp:
        s = lambda v: f"{v:.3f} s"  # noqa: E731
        add(f"cold compile, first kernel in a process: {row['name']}", row["cold_first"], 1.5, s)
        add(f"cold compile, Numba already started: {row['name']}", row["cold_again"], 1.5, s)
        add(f"warm start to first result (default, AOT): {row['name']}", row["warm_aot"], 0.15, s)
    return res


def jg_cache() -> str:
    d = os.environ.get("JITGRAD_CACHE_DIR")
    return f"JITGRAD_CACHE_DIR={d}" if d else "the user's default jitgrad cache"


def machine_notes(load_start) -> str:
    import numba

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    vers = [
        f"Python {platform.python_version()}",
        f"NumPy {np.__version__}",
        f"Numba {numba.__version__}",
        f"jitgrad {jg.__version__}",
    ]
    if refs_jax is not None:
        import jax

        vers.append(f"JAX {jax.__version__}")
    load_end = os.getloadavg()
    try:
        git = ["git", "-C", str(HERE.parent)]
        head = subprocess.run(
            git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        dirty = subprocess.run(
            git + ["status", "--porcelain", "jitgrad"], capture_output=True, text=True
        )
        commit = head.stdout.strip() + (" (jitgrad/ modified)" if dirty.stdout.strip() else "")
    except OSError:
        commit = "unknown"
    return (
        f"- machine: {cpu}, {os.cpu_count()} logical CPUs, Numba threads "
        f"{numba.config.NUMBA_NUM_THREADS}; {platform.system()} {platform.release()}\n"
        f"- load average (1 min) at start {load_start[0]:.2f}, at end {load_end[0]:.2f} "
        "(other processes share the machine: timings are noisy)\n"
        f"- {', '.join(vers)}; jitgrad commit {commit}\n"
        "- single calls are single-threaded (BLAS: OPENBLAS_NUM_THREADS="
        f"{os.environ.get('OPENBLAS_NUM_THREADS')}); the batch rows use all of Numba's threads "
        "(jitgrad and hand-written alike); JAX and PyTensor run with their default threading\n"
        f"- kernel cache: {jg_cache()}\n"
    )


def plot(cases, path) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed: plot skipped (pip install matplotlib)"
    cr = cost_ratios(cases)
    labels = [f"{c.problem} {c.size}\n{c.label}" for c in cases]
    x = np.arange(len(cases))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(10, 0.55 * len(cases)), 9), sharex=True)
    series = [("jitgrad", "jitgrad / hand-written")]
    series += [
        (n, f"{n} / hand-written") for n in ("JAX", "PyTensor") if any(n in c.times for c in cases)
    ]
    w = 0.8 / len(series)
    for j, (name, lab) in enumerate(series):
        vals = [_ratio(c.times.get(name), c.times.get("hand-written")) or np.nan for c in cases]
        ax1.bar(x + (j - (len(series) - 1) / 2) * w, vals, w, label=lab)
    ax1.axhline(1.0, color="k", lw=0.8)
    ax1.set_yscale("log")
    ax1.set_ylabel("time / hand-written Numba")
    ax1.legend()
    ax1.set_title("median time per call, ratio to the hand-written Numba kernel (lower is better)")
    for j, name in enumerate(["jitgrad", "hand-written"]):
        vals = [(cr.get(id(c), {}).get(name)) or np.nan for c in cases]
        ax2.bar(x + (j - 0.5) * 0.4, vals, 0.4, label=name)
    ax2.axhline(3.0, color="r", lw=0.8, ls="--", label="target 3")
    ax2.set_ylabel("task time / f time")
    ax2.legend()
    ax2.set_xticks(x)
    ax2.set_xticklabels(labels, rotation=70, ha="right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"plot written to {path}"


# ----------------------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "problems", nargs="*", metavar="problem", help=f"any of {' '.join(PROBLEMS)} (default: all)"
    )
    ap.add_argument("--quick", action="store_true", help="small sizes only (smoke test)")
    ap.add_argument("--out", default=str(HERE / "results"), help="output folder")
    ap.add_argument(
        "--repeats", type=int, default=None, help="timed rounds per case (default 9, quick 5)"
    )
    ap.add_argument(
        "--fresh-cache",
        action="store_true",
        help="compile into a new, empty kernel cache (JITGRAD_CACHE_DIR), removed afterwards",
    )
    opts = ap.parse_args(argv)
    if opts.fresh_cache:
        import atexit
        import shutil
        import tempfile

        tmp = tempfile.mkdtemp(prefix="jitgrad-bench-cache-")
        os.environ["JITGRAD_CACHE_DIR"] = tmp
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    problems = opts.problems or PROBLEMS
    bad = [p for p in problems if p not in PROBLEMS]
    if bad:
        ap.error(f"unknown problem(s) {' '.join(bad)}; choose from {' '.join(PROBLEMS)}")
    repeats = opts.repeats or (5 if opts.quick else 9)
    target = 0.05 if opts.quick else 0.1
    out = pathlib.Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    t_start = time.perf_counter()

    notes = []
    if refs_jax is None:
        notes.append("JAX not installed: skipped")
    if refs_pytensor is None:
        notes.append("PyTensor not installed: skipped")
    for n in notes:
        print(n, file=sys.stderr)

    rng = np.random.default_rng(0)
    cases = []
    for p in problems:
        if p == "compile":
            continue
        sizes = SIZES[p][1 if opts.quick else 0]
        for group in grouped(MAKERS[p](sizes, rng)):
            for case in group:
                check(case)
            measure(group, repeats, target)
            for case in group:
                cases.append(case)
                print(
                    f"{case.problem:>10} {case.size:>9} {case.label:<24} "
                    + "  ".join(f"{k} {fmt_t(v)}" for k, v in case.times.items()),
                    file=sys.stderr,
                    flush=True,
                )
    comp = []
    if "compile" in problems:
        print("compile: cold compiles and warm starts in subprocesses ...", file=sys.stderr)
        comp = compile_bench(3 if opts.quick else 5)

    cmd = "python benchmarks/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    md = ["# jitgrad benchmarks", "", f"Command: `{cmd.strip()}`", "", machine_notes(load_start)]
    md.append(
        f"Median of {repeats} interleaved rounds; each round times an inner loop of about "
        f"{target} s per variant and task, all the variants and tasks of one problem size "
        "in the same rounds. Every variant is called from Python and allocates its outputs.\n"
    )
    md += [f"- {n}" for n in notes]
    if cases:
        md += ["", "## Run time per call", "", table(cases), ""]
    if comp:
        md += [
            "## Compile time and warm start",
            "",
            "Cold: `cache=False`, in a fresh process, from before building the graph to the "
            "first result; *again*: the same graph built and compiled a second time in that "
            "process (Numba's start-up already paid). Warm: a fresh process, disk cache filled, "
            "from before building the graph to the first result (NumPy imported before; "
            "`import jitgrad` timed separately). Hand-written warm start: a fresh process that "
            "imports Numba and `handwritten.py` and calls the same task's kernel from Numba's "
            "own disk cache (the floor for a Numba-based warm start).",
            "",
            "| graph | cold, first in process | cold, again | of which the compiler (first) | "
            "compiler | warm start, aot=False | "
            "`import jitgrad` | cache hit | hand-written warm start | `import numba` |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in comp:
            md.append(
                f"| {r['name']} | {fmt_t(r['cold_first'])} | {fmt_t(r['cold_again'])} | "
                f"{fmt_t(r['cold_numba'])} | {r['cold_compiler']} | {fmt_t(r['warm'])} | "
                f"{fmt_t(r['warm_import'])} | "
                f"{r['warm_hit']} | {fmt_t(r['hand_warm'])} | {fmt_t(r['import_numba'])} |"
            )
        md += [
            "",
            "By default (AOT: a shared library per kernel in the cache, loaded without Numba "
            "and called through jitgrad's C trampoline). Cold: a fresh process compiling into "
            "a new, empty cache directory, JIT only (`aot=False`) and by default; warm: a "
            "fresh process, cache (and library) filled.",
            "",
            "| graph | cold, aot=False | cold, default | of which the compiler | compiler | "
            "AOT status | warm start, default | loaded without Numba |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in comp:
            md.append(
                f"| {r['name']} | {fmt_t(r['cold_cache'])} | {fmt_t(r['cold_aot'])} | "
                f"{fmt_t(r['cold_aot_build'])} | {r['cold_aot_compiler']} | "
                f"{r['cold_aot_status']} | "
                f"{fmt_t(r['warm_aot'])} | "
                f"{r['warm_aot_mode'] and not r['warm_aot_numba']} |"
            )
        md.append("")
    tg = targets(cases, comp)
    if tg:
        md += [
            "## Performance targets (issue 4)",
            "",
            "| target | measured | limit | |",
            "|---|---|---|---|",
        ]
        for what, val, lim, ok in tg:
            md.append(f"| {what} | {val} | {lim} | {'ok' if ok else '**MISS**'} |")
        md.append("")
    md.append(f"Total benchmark time {time.perf_counter() - t_start:.0f} s.")
    text = "\n".join(md) + "\n"
    print(text)
    (out / "results.md").write_text(text, encoding="utf-8")
    raw = {
        "command": cmd,
        "cases": [
            {
                "problem": c.problem,
                "size": c.size,
                "task": c.task,
                "fastmath": c.fastmath,
                "median_s": c.times,
                "min_max_s": c.spread,
                "jitgrad_compile_s": c.compile_s,
                "jitgrad_cache_hit": c.cache_hit,
            }
            for c in cases
        ],
        "compile": comp,
    }
    (out / "results.json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
    # The generated source of every jitgrad kernel, for reading what it does.
    src = out / "sources"
    src.mkdir(exist_ok=True)
    for c in cases:
        name = f"{c.problem}_{c.size}_{c.task}{'_fastmath' if c.fastmath else ''}"
        name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name) + ".py"
        (src / name).write_text(c.variants["jitgrad"].fn.source, encoding="utf-8")
    if cases:
        print(plot(cases, out / "ratios.png"), file=sys.stderr)


if __name__ == "__main__":
    main()

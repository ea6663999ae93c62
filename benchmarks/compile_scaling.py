"""Compile time against graph size: jitgrad (default and JIT) and ``jax.jit``.

Each case is built and compiled in a fresh interpreter, to its first result:

- ``rosenbrock``: f + gradient + dense Hessian of the extended Rosenbrock
  function, n = 10, 50, 200;
- ``testfn``: f + gradient + Hessian of classic global-optimisation test
  functions (Ackley, Rastrigin, Griewank, ...), n = 10;
- ``sin-nest``: the k-th derivative of ``sin(sin(...sin(x)))`` (7 deep),
  k = 2 .. 10;
- ``euler``: the final angle of a damped pendulum integrated by explicit Euler,
  unrolled over 100 .. 5000 steps, and its gradient with respect to the two
  parameters (JAX gets the same unrolled Python loop, so that both compile the
  same graph).

Columns: ``ops`` (``jg.count_ops`` of the outputs as built), the seconds from
the built graph to the first result for jitgrad's default (cache on, in a new
empty cache whose C call path, built once per cache folder, is made before the
clock: the LLVM compilers of :mod:`jitgrad.codegen.loopjit` and
:mod:`jitgrad.codegen.direct`, or Numba and its ahead-of-time library where
they do not apply), for ``aot=False`` (Numba only, new empty cache) and for ``jax.jit``, and the ratios to JAX. Numba and JAX
are imported, and JAX's CPU backend started, before the clock starts: both
one-time costs are the same for every case. JAX uses float64
(``jax_enable_x64``). Without JAX its columns stay empty.

Run: ``python benchmarks/compile_scaling.py [--quick] [--only FAMILY ...]
[--out DIR]``. Prints a Markdown table; writes ``compile_scaling.json`` and,
with matplotlib, a log-log plot ``compile_scaling.png`` to ``--out``
(default ``benchmarks/results``). The machine's load is printed with the table:
compare ratios from one run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# Test functions in NumPy notation over ``xp`` (jitgrad's or jax.numpy), of x (n,).
TEST_FUNCTIONS = {
    "ackley": "-20.0 * xp.exp(-0.2 * xp.sqrt(xp.sum(x**2) / n)) - xp.exp(xp.sum(xp.cos(2 * pi * x)) / n) + 20.0 + e",
    "rastrigin": "10.0 * n + xp.sum(x**2 - 10.0 * xp.cos(2 * pi * x))",
    "griewank": "1.0 + xp.sum(x**2) / 4000.0 - xp.prod(xp.cos(x / xp.sqrt(idx)))",
    "styblinski_tang": "0.5 * xp.sum(x**4 - 16.0 * x**2 + 5.0 * x)",
    "zakharov": "xp.sum(x**2) + xp.sum(0.5 * idx * x) ** 2 + xp.sum(0.5 * idx * x) ** 4",
    "dixon_price": "(x[0] - 1.0) ** 2 + xp.sum(idx[1:] * (2.0 * x[1:] ** 2 - x[:-1]) ** 2)",
    "trid": "xp.sum((x - 1.0) ** 2) - xp.sum(x[1:] * x[:-1])",
    "levy": "xp.sin(pi * w[0]) ** 2 + xp.sum((w[:-1] - 1.0) ** 2 * (1.0 + 10.0 * xp.sin(pi * w[:-1] + 1.0) ** 2)) + (w[-1] - 1.0) ** 2 * (1.0 + xp.sin(2 * pi * w[-1]) ** 2)",
    "michalewicz": "-xp.sum(xp.sin(x) * xp.sin(idx * x**2 / pi) ** 20)",
    "sum_squares": "xp.sum(idx * x**2)",
    "powell_sum": "xp.sum(xp.abs(x) ** (idx + 1.0))",
    "schwefel_2_22": "xp.sum(xp.abs(x)) + xp.prod(xp.abs(x))",
}


def cases(quick: bool, only) -> list[dict]:
    out = []
    for n in (10, 50) if quick else (10, 50, 200):
        out.append(dict(family="rosenbrock", name=f"rosenbrock n={n}", n=n))
    for name in list(TEST_FUNCTIONS)[: 4 if quick else None]:
        out.append(dict(family="testfn", name=name, n=10))
    for k in (2, 10) if quick else (2, 4, 6, 8, 10):
        out.append(dict(family="sin-nest", name=f"sin-nest d^{k}", k=k))
    for steps in (100, 1000) if quick else (100, 300, 1000, 2000, 5000):
        out.append(dict(family="euler", name=f"euler {steps} steps", steps=steps))
    return [c for c in out if not only or c["family"] in only]


# The case's graph, in jitgrad (xp = jg) or JAX (xp = jnp): defines ``fn(*args)``
# returning the outputs, and ``args``.
_GRAPH = """
import math
import numpy as np
pi, e = math.pi, math.e
case = {case!r}
fam = case["family"]
if fam in ("rosenbrock", "testfn"):
    n = case["n"]
    idx_np = np.arange(1.0, n + 1.0)
    args = [np.linspace(-0.9, 1.1, n)]
    def f_of(x):
        idx = C(idx_np)
        w = 1.0 + (x - 1.0) / 4.0
        if fam == "rosenbrock":
            return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
        return {expr}
    def fn(x):
        return f_of(x), GRAD(f_of, x), HESS(f_of, x)
elif fam == "sin-nest":
    args = [0.3]
    def f_of(x):
        for _ in range(7):
            x = xp.sin(x)
        return x
    def fn(x):
        return (NTH(f_of, x, case["k"]),)
else:
    steps = case["steps"]
    args = [np.array([9.81, 0.3])]
    def f_of(p):
        th, om, dt = 1.0, 0.0, 10.0 / steps
        for _ in range(steps):
            th, om = th + dt * om, om - dt * (p[0] * xp.sin(th) + p[1] * om)
        return th
    def fn(p):
        return f_of(p), GRAD(f_of, p)
"""

_JG = """
import json, os, sys, time
import numpy as np
import numba  # noqa: F401  (imported before the clock, as JAX is)
import jitgrad as jg
xp = jg
C = jg.const
GRAD = lambda f, x: jg.grad(f(x), x)
HESS = lambda f, x: jg.hessian(f(x), x)
def NTH(f, x, k):
    return jg.derivative(f(x), x, order=k)
from jitgrad.codegen import aot as _A, kernel as _K
if {aot} is not False:
    # The C call path is built once per cache folder and Python version (about
    # 0.2 s), before the clock, as JAX's backend is started before it.
    _A.trampoline(_K.cache_dir())
{graph}
t0 = time.perf_counter()
ins = [jg.scalar("x")] if fam == "sin-nest" else [jg.vector("x", len(args[0]))]
outs = list(fn(*ins))
t1 = time.perf_counter()
k = jg.compile(ins, outs, aot={aot}, max_ops=10**6)
r = k(*args)
t2 = time.perf_counter()
print("RESULT " + json.dumps(dict(build=t1 - t0, compile=t2 - t1, ops=jg.count_ops(outs),
      aot=k.stats.get("aot"), llvm=k.stats.get("llvm"), lines=k.source.count(chr(10)),
      values=np.concatenate([np.ravel(v) for v in (r if isinstance(r, tuple) else (r,))]).tolist())))
"""

_JAX = """
import json, sys, time
import numpy as np
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as xp
xp.zeros(1).block_until_ready()  # the backend starts before the clock
C = xp.asarray
GRAD = lambda f, x: jax.grad(f)(x)
HESS = lambda f, x: jax.hessian(f)(x)
def NTH(f, x, k):
    # Forward over forward, as jg.derivative does (k nested jax.grad did not
    # finish for k = 10: the process ended after about 5 minutes).
    g = f
    for _ in range(k):
        g = jax.jacfwd(g)
    return g(x)
{graph}
t0 = time.perf_counter()
r = jax.block_until_ready(jax.jit(fn)(*[xp.asarray(a) for a in args]))
t1 = time.perf_counter()
values = np.concatenate([np.ravel(np.asarray(v)) for v in r]).tolist()
print("RESULT " + json.dumps(dict(compile=t1 - t0, values=values)))
"""


def _run(code: str, cache_dir=None, timeout=1800) -> dict | None:
    """The child's result, or None (said on stderr) when it failed or timed out."""
    from run import child_result

    try:
        return child_result(code, cache_dir, timeout)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        sys.stderr.write(f"case failed: {e}\n")
        return None


def measure(case: dict, repeats: int, jax_ok: bool) -> dict:
    graph = _GRAPH.format(case=case, expr=TEST_FUNCTIONS.get(case["name"], "None"))
    row = dict(case)
    for label, aot in (("default", None), ("jit", False)):
        runs = []
        for _ in range(repeats):
            d = tempfile.mkdtemp(prefix="jitgrad-compile-scaling-")
            try:
                runs.append(_run(_JG.format(graph=graph, aot=aot), cache_dir=d))
            finally:
                shutil.rmtree(d, ignore_errors=True)
        runs = [r for r in runs if r]
        if runs:
            row[label] = statistics.median(r["compile"] for r in runs)
            print(f"    {case['name']}: {label} {row[label]:.3f} s", flush=True)
            row["ops"], row["build"] = runs[-1]["ops"], statistics.median(r["build"] for r in runs)
            row[f"{label}_aot"], row["lines"] = runs[-1]["aot"], runs[-1]["lines"]
            row[f"{label}_llvm"] = runs[-1].get("llvm")
            row["values"] = runs[-1]["values"]
    if jax_ok:
        runs = [r for r in (_run(_JAX.format(graph=graph)) for _ in range(repeats)) if r]
        if runs:
            row["jax"] = statistics.median(r["compile"] for r in runs)
            # The same function: jitgrad's outputs against JAX's.
            mine = row.pop("values", None)
            if mine is not None:
                a, b = np.asarray(mine), np.asarray(runs[-1]["values"])
                scale = np.abs(b).max() if b.size else 0.0
                row["agrees"] = bool(
                    a.shape == b.shape and np.allclose(a, b, rtol=1e-8, atol=1e-8 * scale)
                )
    row.pop("values", None)
    return row


def _ratio(a, b):
    return a / b if a is not None and b else None


def table(rows: list) -> str:
    def f(v, spec):
        return "–" if v is None else format(v, spec)

    head = "| case | ops | lines | build s | default s | jit s | jax s | default/jax | jit/jax | same values |"
    out = [head, "|" + "---|" * 10]
    for r in rows:
        d, j, x = r.get("default"), r.get("jit"), r.get("jax")
        out.append(
            f"| {r['name']} | {r.get('ops', '–')} | {r.get('lines', '–')} | {f(r.get('build'), '.3f')} "
            f"| {f(d, '.2f')} | {f(j, '.2f')} | {f(x, '.2f')} "
            f"| {f(_ratio(d, x), '.2f')} | {f(_ratio(j, x), '.2f')} | {r.get('agrees', '–')} |"
        )
    tf = [r for r in rows if r["family"] == "testfn" and r.get("jax")]
    for label in ("default", "jit"):
        rs = [_ratio(r.get(label), r["jax"]) for r in tf if r.get(label)]
        if rs:
            out.append(
                f"\nTest functions, median {label}/jax: {statistics.median(rs):.2f} ({len(rs)} functions)"
            )
    return "\n".join(out)


def plot(rows: list, path: Path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 5))
    for key, mark in (("default", "o"), ("jit", "s"), ("jax", "^")):
        pts = sorted((r["ops"], r[key]) for r in rows if r.get(key) and r.get("ops"))
        if pts:
            ax.loglog(
                *zip(*pts),
                mark,
                label={
                    "default": "jitgrad (default)",
                    "jit": "jitgrad (aot=False)",
                    "jax": "jax.jit",
                }[key],
            )
    ax.set_xlabel("operation nodes of the outputs")
    ax.set_ylabel("seconds to the first result")
    ax.set_title("Compile time against graph size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few cases of each family")
    ap.add_argument("--only", nargs="*", help="families: rosenbrock testfn sin-nest euler")
    ap.add_argument("--repeats", type=int, default=1, help="fresh processes per case (median)")
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args(argv)
    try:
        import jax  # noqa: F401

        jax_ok = True
    except ImportError:
        jax_ok = False
        print("JAX is not installed: its columns stay empty (pip install jax)")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    rows = []
    for c in cases(a.quick, a.only):
        rows.append(measure(c, a.repeats, jax_ok))
        print(
            f"  {c['name']}: {json.dumps({k: rows[-1].get(k) for k in ('ops', 'default', 'jit', 'jax')})}",
            flush=True,
        )
    load_end = os.getloadavg() if hasattr(os, "getloadavg") else None
    text = table(rows)
    text += f"\n\nLoad average (1 min) at start {load and load[0]:.2f}, at end {load_end and load_end[0]:.2f}, on {os.cpu_count()} CPUs."
    print(text)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compile_scaling.json").write_text(json.dumps(rows, indent=1))
    p = plot(rows, out / "compile_scaling.png")
    if p:
        print(f"plot: {p}")


if __name__ == "__main__":
    main()

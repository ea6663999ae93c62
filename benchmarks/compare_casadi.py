"""Rosenbrock value + gradient per call: jitgrad kernel against CasADi.

CasADi builds the same expression as an SX graph (scalar symbols) and, for
comparison, as an MX graph (matrix symbols); ``casadi.gradient`` differentiates
it in reverse mode and ``casadi.Function`` evaluates it with CasADi's virtual
machine. Every variant is called from Python with a NumPy array and returns
NumPy arrays (CasADi's ``DM`` results are converted, as a user would); one more
column calls the SX function with a ``DM`` argument and keeps the ``DM`` results,
CasADi's own cost without conversions. Prints a
Markdown table of median times per call and the set-up times.

CasADi is optional (``pip install casadi``); without it the script says so and
exits with status 0. Run: ``python benchmarks/compare_casadi.py [--sizes N ...]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import timeit

import numpy as np

import jitgrad as jg


def per_call(fn, repeats=7, target=0.1):
    """Median seconds per call, the inner loop sized to about ``target`` seconds."""
    n = 1
    while True:
        t = timeit.timeit(fn, number=n)
        if t > target / 4 or n > 1_000_000:
            break
        n *= 4
    n = max(1, int(n * target / max(t, 1e-9)))
    return statistics.median(timeit.repeat(fn, number=n, repeat=repeats)) / n


def jitgrad_variant(n):
    t = time.perf_counter()
    x = jg.vector("x", n)
    f = jg.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    k = jg.compile([x], [f, jg.grad(f, x)], cache=False)
    return (lambda a: k(a)), time.perf_counter() - t


def casadi_variant(ca, n, kind):
    t = time.perf_counter()
    x = getattr(ca, kind).sym("x", n)
    f = ca.sum1(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    F = ca.Function("fg", [x], [f, ca.gradient(f, x)])
    setup = time.perf_counter() - t

    def call(a):
        fv, gv = F(a)
        return float(fv), np.asarray(gv).reshape(-1)

    return call, setup, F


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2, 100, 10_000])
    ap.add_argument("--repeats", type=int, default=7)
    opts = ap.parse_args(argv)
    try:
        import casadi as ca
    except ImportError:
        print("CasADi is not installed (pip install casadi): skipped", file=sys.stderr)
        return 0

    print(
        f"CasADi {ca.__version__}, jitgrad {jg.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}; median of {opts.repeats} rounds per call from Python\n"
    )
    print(
        "| n | jitgrad | CasADi SX | CasADi MX | CasADi SX, DM in and out "
        "| CasADi SX / jitgrad | set-up: jitgrad compile, CasADi SX |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for n in opts.sizes:
        a = rng.uniform(-1.0, 1.0, n)
        jgf, jg_setup = jitgrad_variant(n)
        sx, sx_setup, F = casadi_variant(ca, n, "SX")
        mx, _, _ = casadi_variant(ca, n, "MX")
        a_dm = ca.DM(a)
        ref_f, ref_g = jgf(a)
        for other in (sx, mx):
            f2, g2 = other(a)
            assert np.isclose(ref_f, f2) and np.allclose(ref_g, g2), "results differ"
        t_jg, t_sx, t_mx, t_dm = (
            per_call(lambda fn=fn, arg=arg: fn(arg), opts.repeats)
            for fn, arg in ((jgf, a), (sx, a), (mx, a), (F, a_dm))
        )
        print(
            f"| {n} | {fmt(t_jg)} | {fmt(t_sx)} | {fmt(t_mx)} | {fmt(t_dm)} | {t_sx / t_jg:.1f} "
            f"| {jg_setup:.2f} s, {sx_setup:.3f} s |",
            flush=True,
        )
    return 0


def fmt(t):
    if t < 1e-3:
        return f"{t * 1e6:.2f} µs"
    return f"{t * 1e3:.3f} ms"


if __name__ == "__main__":
    sys.exit(main())

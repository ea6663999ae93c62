"""Expression size of derivatives: jitgrad against SymPy.

1. Nested compositions ``f_D = sin(a*f + f**2)``, ``f_0 = x``, for D = 5, 10, 20,
   40: op counts of f and of df/dx (jitgrad's ``count_ops`` after
   ``simplify``, fast and SymPy level) against ``sympy.count_ops(sympy.diff(f,
   x))``, and the time each took. ``f_D`` uses ``f_{D-1}`` twice, so written out
   as a tree it has 2**D copies of x: SymPy's ``count_ops`` counts the tree.
2. The 7-deep ``sin(sin(...sin(x)))`` differentiated k = 1..10 times, the same
   columns; for k = 10 also the compile time and the time per call from
   ``@numba.njit`` code.

SymPy runs in a child process stopped after ``--sympy-timeout`` seconds (shown
as "> T s"). Run: ``python benchmarks/expression_size.py``. Prints Markdown.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import numpy as np

import jitgrad as jg


def nested(D: int):
    x, a = jg.scalars("x a")
    f = x
    for _ in range(D):
        f = jg.sin(a * f + f**2)
    return f, x


def sin_nest(depth: int = 7):
    x = jg.scalar("x")
    f = x
    for _ in range(depth):
        f = jg.sin(f)
    return f, x


# ----------------------------------------------------------------------------- SymPy side


def _sympy_job(kind, n, order, conn):
    import sympy as sp

    x, a = sp.symbols("x a")
    f = x
    for _ in range(n):
        f = sp.sin(a * f + f**2) if kind == "nested" else sp.sin(f)
    t = time.perf_counter()
    d = sp.diff(f, x, order)
    t_diff = time.perf_counter() - t
    conn.send(("diff", t_diff))
    t = time.perf_counter()
    c = sp.count_ops(d)
    conn.send(("done", t_diff, time.perf_counter() - t, int(c)))


def sympy_size(kind: str, n: int, order: int, timeout: float):
    """``(count_ops, seconds for diff, seconds for count_ops)``; None where stopped."""
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_sympy_job, args=(kind, n, order, child))
    p.start()
    deadline = time.monotonic() + timeout
    got = {}
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not parent.poll(left):
            break
        msg = parent.recv()
        got[msg[0]] = msg[1:]
        if msg[0] == "done":
            break
    p.kill()
    p.join()
    if "done" in got:
        t_diff, t_count, c = got["done"]
        return c, t_diff, t_count
    if "diff" in got:
        return None, got["diff"][0], None
    return None, None, None


def fmt_t(t, timeout):
    return f"> {timeout:.0f} s" if t is None else f"{t:.3g} s"


# ----------------------------------------------------------------------------- tables


def table_nested(Ds, sympy_timeout, sympy_level_timeout):
    print("### f_D = sin(a*f + f**2), f_0 = x: df/dx\n")
    print(
        "| D | ops f | ops grad (raw) | ops grad, fast | ops grad, sympy level "
        "| grad/f | jitgrad time (grad + fast + sympy level) "
        "| SymPy count_ops(diff) | SymPy time (diff + count_ops) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for D in Ds:
        f, x = nested(D)
        t = time.perf_counter()
        g = jg.grad(f, x)
        t_grad = time.perf_counter() - t
        t = time.perf_counter()
        fast = jg.simplify(g)
        t_fast = time.perf_counter() - t
        t = time.perf_counter()
        sym = jg.simplify(g, level="sympy", timeout=sympy_level_timeout)
        t_sym = time.perf_counter() - t
        nf, ng = jg.count_ops(f), jg.count_ops(sym)
        # count_ops of the gradient graph alone: f's forward nodes it uses are included.
        c, td, tc = sympy_size("nested", D, 1, sympy_timeout)
        sp_t = None if td is None or tc is None else td + tc
        print(
            f"| {D} | {nf} | {jg.count_ops(g)} | {jg.count_ops(fast)} | {ng} | {ng / nf:.2f} "
            f"| {t_grad:.3f} + {t_fast:.3f} + {t_sym:.2f} s "
            f"| {c if c is not None else '-'} | {fmt_t(sp_t, sympy_timeout)} |"
        )
    print()


def table_sin_nest(orders, sympy_timeout):
    print("### f = sin(sin(...sin(x))) (7 deep): d^k f / dx^k\n")
    print(
        "| k | ops (raw) | ops, fast | jitgrad time (derivative + fast) "
        "| SymPy count_ops(diff) | SymPy time (diff + count_ops) |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    f, x = sin_nest(7)
    last = None
    for k in orders:
        t = time.perf_counter()
        d = jg.derivative(f, x, order=k)
        t_build = time.perf_counter() - t
        t = time.perf_counter()
        s = jg.simplify(d)
        t_fast = time.perf_counter() - t
        last = (k, s, t_build, t_fast)
        c, td, tc = sympy_size("sin", 7, k, sympy_timeout)
        sp_t = None if td is None or tc is None else td + tc
        print(
            f"| {k} | {jg.count_ops(d)} | {jg.count_ops(s)} | {t_build:.3f} + {t_fast:.3f} s "
            f"| {c if c is not None else '-'} | {fmt_t(sp_t, sympy_timeout)} |"
        )
    print()
    return last, x


def compile_and_call(last, x, calls=200_000):
    import numba

    k, s, t_build, t_fast = last
    t = time.perf_counter()
    kern = jg.compile([x], s, simplify=None, cache=False)
    kern(0.3)
    t_compile = time.perf_counter() - t
    kn = kern.njit

    @numba.njit
    def loop(n):
        acc = 0.0
        for i in range(n):
            acc += kn(0.3 + 1e-9 * i)
        return acc

    loop(10)
    t = time.perf_counter()
    loop(calls)
    per_call = (time.perf_counter() - t) / calls
    want = float(jg.evaluate(s, {x: 0.3}))
    got = float(kern(0.3))
    print(f"### k = {k}: build + simplify + compile, and calls from @njit code\n")
    print(
        "| build | simplify (fast) | compile (first call) | total "
        "| per call from @njit | error vs evaluate |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {t_build:.3f} s | {t_fast:.3f} s | {t_compile:.2f} s "
        f"| {t_build + t_fast + t_compile:.2f} s | {per_call * 1e9:.0f} ns | {abs(got - want):.2g} |"
    )
    print()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sympy-timeout", type=float, default=60.0, help="seconds per SymPy case")
    ap.add_argument("--sympy-level-timeout", type=float, default=5.0)
    ap.add_argument("--depths", type=int, nargs="+", default=[5, 10, 20, 40])
    ap.add_argument("--orders", type=int, nargs="+", default=list(range(1, 11)))
    ap.add_argument("--no-compile", action="store_true", help="skip the Numba part")
    args = ap.parse_args(argv)
    np.seterr(all="ignore")
    table_nested(args.depths, args.sympy_timeout, args.sympy_level_timeout)
    last, x = table_sin_nest(args.orders, args.sympy_timeout)
    if not args.no_compile:
        compile_and_call(last, x)


if __name__ == "__main__":
    main()

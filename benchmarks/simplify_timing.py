"""Time ``jg.simplify`` on graphs of 10 000 and 100 000 ops.

Graphs: a scalar chain ``(sin(y) + 0.5) * 0.999`` (no rule applies: the cost of
a pass), a vector chain of depth 100 000, a chain with a rewrite at the bottom
(everything above is rebuilt), and random DAGs with heavy sharing and many rule
matches (seeded). For the random DAGs, also the SymPy level with a budget.

Run: ``python benchmarks/simplify_timing.py``. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import jitgrad as jg


def chain(n):
    x = jg.scalar("x")
    y = x
    for _ in range(n // 3):
        y = (jg.sin(y) + 0.5) * 0.999
    return y, {x: 0.3}


def vector_depth(n):
    v = jg.vector("v", 4)
    y = v
    for _ in range(n // 2):
        y = jg.sin(y) + v
    return y, {v: np.arange(4.0) / 4}


def rebuilt_chain(n):
    x = jg.scalar("x")
    y = jg.log(jg.exp(x)) * 0.5
    for _ in range(n):
        y = jg.sin(y)
    return y, {x: 0.3}


def random_dag(n, seed=1):
    """Sharing (operands drawn from the last 50 nodes) and many rule matches."""
    rng = np.random.default_rng(seed)
    xs = jg.scalars("a b c")
    pool = list(xs)
    unary = [
        jg.sin,
        jg.tanh,
        lambda q: -jg.sin(q),
        jg.cos,
        lambda q: jg.sqrt(q * q),
        lambda q: jg.log(jg.exp(q)),
    ]
    binary = [
        jg.add,
        lambda p, q: p - 0.5 * q,
        jg.multiply,
        lambda p, q: p / (1.0 + q * q),
        lambda p, q: p * q - q * jg.sin(p),
    ]

    def pick(k):
        return pool[-1 - rng.integers(min(len(pool), k))]

    count = 0
    while count < n:
        kind = rng.integers(0, 3)
        if kind == 0:
            node = unary[rng.integers(len(unary))](pick(5))
        elif kind == 1:
            node = binary[rng.integers(len(binary))](pick(5), pick(50))
        else:
            c = float(rng.choice([-3, -2, 2, 3, 0.5]))
            node = jg.tanh(pool[-1] * c + pick(5))
        pool.append(node)
        if len(pool) % 500 == 0:
            count = jg.count_ops(pool[-1])
    return pool[-1], {xs[0]: 0.1, xs[1]: 0.2, xs[2]: 0.3}


def measure(name, build, n, level="fast", timeout=5.0):
    y, env = build(n)
    ops = jg.count_ops(y)
    t = time.perf_counter()
    s = jg.simplify(y, level=level, timeout=timeout)
    dt = time.perf_counter() - t
    with np.errstate(all="ignore"):
        err = float(np.max(np.abs(jg.evaluate(s, env) - jg.evaluate(y, env))))
    label = level if level == "fast" else f"sympy, timeout={timeout:g} s"
    print(f"| {name} | {label} | {ops} | {jg.count_ops(s)} | {dt:.2f} s | {err:.2g} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--sympy-timeouts", type=float, nargs="+", default=[2.0, 5.0])
    args = ap.parse_args(argv)
    print("| graph | level | ops before | ops after | time | max abs difference |")
    print("|---|---|---:|---:|---:|---:|")
    for n in args.sizes:
        measure("scalar chain", chain, n)
        measure("vector chain (depth n/2)", vector_depth, n)
        measure("chain rebuilt from the bottom", rebuilt_chain, n)
        measure("random DAG", random_dag, n)
    for t in args.sympy_timeouts:
        measure("random DAG", random_dag, args.sizes[0], level="sympy", timeout=t)


if __name__ == "__main__":
    main()

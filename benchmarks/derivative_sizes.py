"""Sizes of derivative graphs: op counts of f, grad, hvp and hessian on the test
functions of ``tests/models.py``, op counts of the k-th derivative of
``exp(sin(x))``, and the build time of the 100x100 Rosenbrock Hessian.

Run: ``python benchmarks/derivative_sizes.py``. Prints Markdown tables.
"""

from __future__ import annotations

import itertools
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))

from models import MODELS, make_rosenbrock  # noqa: E402

import jitgrad as jg  # noqa: E402

_fresh = itertools.count()


def _flat(x):
    if isinstance(x, list):
        return [b for item in x for b in _flat(item)]
    return [x]


def _simplified(nodes):
    simplify = getattr(jg, "simplify", None)
    if simplify is None:
        return None
    out = simplify(nodes, level="fast")
    return jg.count_ops(_flat(out))


def _tree_size(node, memo):
    """Op count of ``node`` written out as a tree (no sharing): naive nesting."""
    stack = [node]
    while stack:
        n = stack[-1]
        todo = [i for i in n.inputs if id(i) not in memo]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        memo[id(n)] = (1 if n.op.is_op else 0) + sum(memo[id(i)] for i in n.inputs)
    return memo[id(node)]


def size_table() -> str:
    has_simplify = hasattr(jg, "simplify")
    head = "| function | f | grad | hvp | hessian | grad/f | hvp/f | hessian/f |"
    rule = "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    if has_simplify:
        head += " grad (fast) | hvp (fast) | hessian (fast) |"
        rule += " ---: | ---: | ---: |"
    rows = [head, rule]
    for key in MODELS:
        m = MODELS[key]()
        f = jg.count_ops(m.y)
        g = jg.grad(m.y, m.wrt)
        dirs = [jg.var(f"bench_dir{next(_fresh)}", w.shape) for w in m.wrt]
        hv = jg.hvp(m.y, m.wrt, dirs)
        H = _flat(jg.hessian(m.y, m.wrt))
        cg, ch, cH = jg.count_ops(g), jg.count_ops(hv), jg.count_ops(H)
        row = (
            f"| {m.name} | {f} | {cg} | {ch} | {cH} | {cg / f:.2f} | {ch / f:.2f} | {cH / f:.2f} |"
        )
        if has_simplify:
            row += f" {_simplified(g)} | {_simplified(hv)} | {_simplified(H)} |"
        rows.append(row)
    return "\n".join(rows)


def kth_table(kmax: int = 10) -> str:
    x = jg.scalar("x")
    y = jg.exp(jg.sin(x))
    has_simplify = hasattr(jg, "simplify")
    head = "| k | count_ops | ratio to k-1 | as a tree (no sharing) |"
    rule = "| ---: | ---: | ---: | ---: |"
    if has_simplify:
        head += " after simplify(fast) |"
        rule += " ---: |"
    rows = [head, rule]
    prev = None
    for k in range(1, kmax + 1):
        d = jg.derivative(y, x, order=k)
        c = jg.count_ops(d)
        ratio = "" if prev is None else f"{c / prev:.2f}"
        row = f"| {k} | {c} | {ratio} | {_tree_size(d, {})} |"
        if has_simplify:
            row += f" {_simplified(d)} |"
        rows.append(row)
        prev = c
    return "\n".join(rows)


def hessian_timing(n: int = 100, repeats: int = 5) -> str:
    times = []
    for _ in range(repeats):
        # A fresh var each time: interning must not hand back a previous build.
        m = make_rosenbrock(n, name=f"bench_x{next(_fresh)}")
        t0 = time.perf_counter()
        H = jg.hessian(m.y, m.wrt[0])
        times.append(time.perf_counter() - t0)
    f, cH = jg.count_ops(m.y), jg.count_ops(H)
    best, median = min(times), sorted(times)[len(times) // 2]
    return (
        f"| Rosenbrock n={n} | {H.shape} | {f} | {cH} | {cH / f:.1f} | "
        f"{best * 1e3:.2f} | {median * 1e3:.2f} |"
    )


def main() -> None:
    print("## Op counts of derivative graphs\n")
    print(size_table())
    print("\n## k-th derivative of exp(sin(x))\n")
    print(kth_table())
    print("\n## Hessian build time\n")
    print("| function | shape | f ops | hessian ops | ratio | best ms | median ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    print(hessian_timing())


if __name__ == "__main__":
    main()

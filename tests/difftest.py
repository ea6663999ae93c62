"""The differential tester: random graphs, their derivatives, every backend
configuration, all against ``jg.evaluate``.

A case is a small Python program (text) that builds a random graph with the
public API and then 2 to 7 derivative quantities of it in one list, ``outs``,
over the inputs ``ins``. The program is the reproducer: Hypothesis shrinks the
choices that made it, and a failure prints it. The same text rebuilds the case
in a fresh process, which must get the same results from the cache.

The graphs are biased toward what derivative code contains: shifted and
strided slices (``a[1:] - a[:-1]``, ``a[::2]``, ``a[1::2]``, reversed),
interleaving by stack-then-reshape, pairwise broadcasting (``a[:, None] -
a[None, :]``) with masks (``where`` on comparisons, triangular and identity
constants), chains of matrix products with constants and with other nodes,
reductions over an axis (``sum``, ``max``, ``logsumexp``, ``mean``, with and
without ``keepdims``), concatenation, transposes, reshapes and gathers. Every
value stays bounded (products and sums are squashed by ``tanh``/``sin`` when
their bound grows), and ``log``, ``sqrt`` and division only see operands
bounded away from their poles, so values and derivatives are finite.

The quantities: the graph's value ``y``, ``f = sum(y * W)``, ``grad``,
``vjp``, ``jvp``, ``hvp``, ``hessian`` and ``jacobian`` (where small), and nested
ones: the gradient of a weighted gradient, the JVP of a gradient, the Jacobian
of a Hessian-vector product, and ``derivative(., order=3)`` of a scalar input.
A second generator makes scalar programs (scalar inputs and outputs, long
chains): those are the kernels the direct path (one block of LLVM
instructions, no Numba) compiles.

Configurations (:data:`CONFIGS`): ``default`` (the user's defaults: cache, the
ahead-of-time library wherever it applies), ``jit`` (``aot=False``),
``direct`` (scalar programs on the default path, which takes the direct path
when the kernel is one scalar block), ``nosimplify`` (``simplify=None``),
``batch`` (``batch=True`` over 3 points), ``parallel`` (``parallel=True``) and
``fastmath`` (``fastmath=True``). Each kernel is called twice (the second call
reuses scratch memory) and compared with ``evaluate`` at the same point:
``|k - e| <= rtol * (|e| + scale) + atol`` with ``scale`` the largest ``|e|`` of
that output, ``rtol = atol = 1e-9`` (1e-6 for ``fastmath``).

Long profile (documented in the README)::

    python tests/difftest.py --graphs 2000 --jobs 2 --pack 3 --chunk 20

runs that many graphs under every configuration (graphs that are not scalar
programs packed 3 to a kernel), a fresh worker process per chunk of kernels and
a fresh process per chunk reloading them from the cache, printing the counts
after each chunk and at the end. ``--first N`` starts at case N, so that runs
over disjoint windows (``--first 0 --graphs 1000``, ``--first 1000 --graphs
1000``) add up to one run over cases 0..1999.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
from hypothesis import strategies as st

import jitgrad as jg

CONFIGS = {
    "default": {},
    "jit": {"aot": False},
    "direct": {},
    "nosimplify": {"simplify": None},
    "batch": {"batch": True},
    "parallel": {"parallel": True},
    "fastmath": {"fastmath": True},
}
RTOL = {"fastmath": 1e-6}
BATCH = 3

_UNARY = ["sin", "cos", "tanh", "sigmoid", "square", "negative", "abs", "exptanh", "softplus"]


class _Prog:
    """Draws a program line by line, building its nodes as it goes (shapes and
    value bounds steer the next choices)."""

    def __init__(self, draw, tag):
        self.draw = draw  # strategy -> value: Hypothesis's draw, or _rng_draw
        self.tag = tag
        self.lines = ["import numpy as np, jitgrad as jg"]
        self.ns = {"np": np, "jg": jg}
        self.pool = []  # (name, shape, bound)
        self.inputs = []
        self.n = 0
        self.fast_only = False  # scalar programs: only ops the direct path compiles

    def int(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def pick_of(self, options):
        return self.draw(st.sampled_from(options))

    def line(self, text):
        self.lines.append(text)
        exec(text, self.ns)

    def emit(self, code, bound, keep=True):
        name = f"e{self.n}"
        self.n += 1
        self.line(f"{name} = {code}")
        node = self.ns[name]
        assert isinstance(node, jg.Node), code
        if keep:
            self.pool.append((name, tuple(node.shape), float(bound)))
        return name, tuple(node.shape), float(bound)

    def const(self, shape, lo=-1.0, hi=1.0):
        """A constant array literal (rounded, so the text is exact)."""
        rng = np.random.default_rng(self.int(0, 2**31))
        a = np.round(rng.uniform(lo, hi, shape), 2)
        return f"np.array({a.tolist()!r})", float(np.abs(a).max()) if a.size else 0.0

    def var(self, shape):
        name = f"{self.tag}x{len(self.inputs)}"
        self.line(f"{name} = jg.var({name!r}, {tuple(shape)!r})")
        self.inputs.append(name)
        self.pool.append((name, tuple(shape), 1.0))
        return name

    def pick(self, pred=None):
        c = [p for p in self.pool if pred is None or pred(p)]
        if not c:
            return None
        # mostly the newest (deep graphs), sometimes any (shared subexpressions)
        return c[-1] if self.int(0, 3) else c[self.int(0, len(c) - 1)]

    def squash(self, t):
        name, shape, b = t
        if b <= 4.0:
            return t
        f = "sin" if self.fast_only else self.pick_of(["tanh", "sin"])
        return self.emit(f"jg.{f}({name} * {1.0 / b!r})", 1.0)

    # ------------------------------------------------------------------ steps
    def unary(self):
        name, shape, b = self.pick()
        f = self.pick_of(_UNARY)
        if f == "exptanh":
            return self.emit(f"jg.exp(jg.tanh({name}))", np.e)
        if f == "softplus":
            return self.emit(f"jg.log(1.0 + jg.exp(jg.tanh({name})))", 1.4)
        if f == "square":
            return self.squash(self.emit(f"{name} ** 2", b * b))
        if f == "negative":
            return self.emit(f"(-{name})", b)
        if f == "abs":
            return self.emit(f"abs({name})", b)
        return self.emit(f"jg.{f}({name})", 1.0 if f != "negative" else b)

    def scalar_step(self):
        """One op of those the direct path compiles (see ``scalar_block.FAST``)."""
        a = self.pick()
        f = self.int(0, 8)
        x = a[0]
        if f < 5:
            code = ["jg.sin({})", "jg.cos({})", "jg.exp(jg.sin({}))", "jg.log(1.5 + jg.sin({}))",
                    "jg.sqrt(1.0 + {} ** 2)"][f].format(x)  # fmt: skip
            return self.emit(code, 3.0 if f == 4 else np.e)
        b = self.pick(lambda p: p[0] != x) or a
        if f == 8:
            return self.emit(f"{x} / (1.5 + jg.sin({b[0]}))", a[2] / 0.5)
        op = "+-*"[f - 5]
        return self.squash(
            self.emit(f"({x} {op} {b[0]})", a[2] * b[2] if op == "*" else a[2] + b[2])
        )

    def binary(self):
        a = self.pick()
        op = self.pick_of(["+", "-", "*", "/", "maximum", "where"])
        kind = self.int(0, 2)
        if kind == 0:  # another node, same or broadcastable shape
            b = self.pick(lambda p: _broadcasts(p[1], a[1]) and p[0] != a[0])
            if b is None:
                kind = 1
        if kind == 1:  # a constant of a broadcastable shape
            shape = a[1][len(a[1]) - self.int(0, len(a[1])) :]
            shape = tuple(1 if self.int(0, 3) == 0 else d for d in shape)
            code, cb = self.const(shape)
            b = (code, shape, cb)
        elif kind == 2:
            v = self.pick_of([0.5, 2.0, -1.5, 3.0])
            b = (repr(v), (), abs(v))
        x, y = a[0], b[0]
        if op == "/":
            # a denominator in [0.5, 2.5]
            return self.emit(f"{x} / (1.5 + jg.sin({y}))", a[2] / 0.5)
        if op == "maximum":
            return self.emit(f"jg.maximum({x}, {y})", max(a[2], b[2]))
        if op == "where":
            return self.emit(f"jg.where({x} > {y}, {x}, {y} * 0.5)", max(a[2], b[2]))
        bound = a[2] * b[2] if op == "*" else a[2] + b[2]
        return self.squash(self.emit(f"({x} {op} {y})", bound))

    def slices(self):
        a = self.pick(lambda p: p[1] and p[1][-1] >= 3)
        if a is None:
            return self.unary()
        name, shape, b = a
        pre = ":, " * (len(shape) - 1)
        k = self.int(1, 2)
        form = self.int(0, 3)
        if form == 0:  # a shifted difference, as in Rosenbrock
            return self.emit(f"({name}[{pre}{k}:] - {name}[{pre}:-{k}] ** 2)", b + b * b)
        if form == 1:
            h = shape[-1] // 2
            return self.emit(f"{name}[{pre}::2][{pre}:{h}] * {name}[{pre}1::2]", b * b)
        if form == 2:
            return self.emit(f"{name}[{pre}::-1]", b)
        return self.emit(f"{name}[{pre}{k}:] * 0.5 + {name}[{pre}:-{k}]", 1.5 * b)

    def interleave(self):
        a = self.pick(lambda p: len(p[1]) == 1)
        if a is None:
            return self.unary()
        b = self.pick(lambda p: p[1] == a[1] and p[0] != a[0])
        other = b[0] if b is not None else f"jg.cos({a[0]})"
        n = a[1][0]
        ax = self.pick_of([1, -1, 0])
        return self.emit(
            f"jg.reshape(jg.stack([{a[0]}, {other}], axis={ax}), ({2 * n},))",
            max(a[2], 1.0 if b is None else b[2]),
        )

    def residual(self):
        """A least-squares residual: expressions of the even and odd elements,
        interleaved again by stack-then-reshape (as in Rosenbrock's)."""
        a = self.pick(lambda p: len(p[1]) == 1 and p[1][0] >= 4)
        if a is None:
            return self.interleave()
        name, (n,), b = a
        m = n // 2
        ev, od = f"{name}[0:{2 * m}:2]", f"{name}[1:{2 * m}:2]"
        c = self.pick_of([10.0, 2.0, 0.5])
        first = self.pick_of(
            [f"{c!r} * ({od} - {ev} ** 2)", f"jg.sin({od}) * {ev}", f"{od} - {ev}"]
        )
        second = self.pick_of([f"1.0 - {ev}", f"jg.cos({ev})", f"{od} * 0.5"])
        ax = self.pick_of([1, -1])
        return self.emit(
            f"jg.reshape(jg.stack([{first}, {second}], axis={ax}), ({2 * m},))",
            max(c * (b + b * b), b + 1.0),
        )

    def pairwise(self):
        a = self.pick(lambda p: len(p[1]) == 1 and p[1][0] <= 6)
        if a is None:
            return self.unary()
        name, (n,), b = a
        d = self.emit(f"({name}[:, None] - {name}[None, :])", 2 * b)
        form = self.int(0, 3)
        if form == 0:
            return self.emit(f"jg.where({d[0]} > 0.0, {d[0]}, 0.0)", d[2])
        if form == 1:
            tri = np.tri(n, k=-1).tolist()
            return self.emit(f"{d[0]} * np.array({tri!r})", d[2])
        if form == 2:
            eye = (1.0 - np.eye(n)).tolist()
            return self.emit(f"jg.exp(-{d[0]} ** 2) * np.array({eye!r})", 1.0)
        return self.emit(f"jg.sum(jg.sin({d[0]}) ** 2, axis={self.int(0, 1)})", float(n))

    def matmul(self):
        a = self.pick(lambda p: len(p[1]) in (1, 2))
        if a is None:
            return self.unary()
        name, shape, b = a
        n = shape[-1]
        form = self.int(0, 2)
        if form == 0 or len(shape) == 1:
            m = self.int(1, 4)
            code, cb = self.const((m, shape[0]))
            if self.int(0, 1) and len(shape) == 2:
                code2, cb2 = self.const((n, m + 1))
                return self.squash(
                    self.emit(f"(({code} @ {name}) @ {code2})", cb * b * shape[0] * cb2 * n)
                )
            t = self.emit(f"({code} @ {name})", cb * b * shape[0])
            return self.squash(t)
        other = self.pick(lambda p: len(p[1]) == 2 and p[1][0] == n and p[0] != name)
        if other is not None:
            return self.squash(self.emit(f"({name} @ {other[0]})", b * other[2] * n))
        return self.squash(self.emit(f"({name} @ {name}.T)", b * b * n))

    def reduce(self):
        a = self.pick(lambda p: len(p[1]) >= 1)
        if a is None:
            return self.unary()
        name, shape, b = a
        f = self.pick_of(["sum", "max", "logsumexp", "mean", "min"])
        axis = self.int(-1, len(shape) - 1)
        keep = bool(self.int(0, 1))
        ax = "None" if axis < 0 else str(axis)
        size = int(np.prod(shape)) if axis < 0 else shape[axis]
        bound = {"sum": b * size, "logsumexp": b + np.log(size)}.get(f, b)
        return self.squash(self.emit(f"jg.{f}({name}, axis={ax}, keepdims={keep})", bound))

    def concat(self):
        a = self.pick(lambda p: len(p[1]) >= 1)
        if a is None:
            return self.unary()
        b = self.pick(lambda p: len(p[1]) == len(a[1]) and p[1][1:] == a[1][1:])
        other = b[0] if b is not None else f"jg.sin({a[0]})"
        return self.emit(
            f"jg.concatenate([{a[0]}, {other}], axis=0)", max(a[2], 1.0 if b is None else b[2])
        )

    def restructure(self):
        a = self.pick(lambda p: len(p[1]) >= 1)
        if a is None:
            return self.unary()
        name, shape, b = a
        form = self.int(0, 2)
        if form == 0 and len(shape) == 2:
            return self.emit(f"{name}.T", b)
        size = int(np.prod(shape))
        if form == 1:
            f = next((d for d in (3, 2) if size % d == 0 and size > d), None)
            if f is not None:
                return self.emit(f"jg.reshape({name}, ({f}, {size // f}))", b)
        idx = np.random.default_rng(self.int(0, 99)).integers(0, shape[0], self.int(1, 5))
        return self.emit(f"{name}[np.array({idx.tolist()!r})]", b)

    STEPS = ("unary", "binary", "slices", "interleave", "residual", "pairwise", "matmul")
    STEPS += ("reduce", "residual")
    STEPS += ("concat", "restructure")


def _broadcasts(a, b):
    """Whether shape ``a`` broadcasts to ``b`` (the result keeps ``b``)."""
    if len(a) > len(b):
        return False
    return all(x in (1, y) for x, y in zip(a[::-1], b[::-1]))


def _total(shapes):
    return sum(int(np.prod(s)) for s in shapes)


def _quantities(p: _Prog, y, xs):
    """2 to 7 derivative quantities of ``y`` (a pool entry) w.r.t. the inputs ``xs``."""
    ns = p.ns
    yname, yshape, _ = y
    code, _ = p.const(yshape)
    p.line(f"W = {code}")
    p.line(f"f = jg.sum({yname} * W)")
    cands = ["y", "f"]
    for i, x in enumerate(xs):
        xshape = tuple(ns[x].shape)
        p.line(f"v{i} = jg.var('{p.tag}v{i}', {xshape!r})")
        cands += [f"jg.grad(f, {x})", f"jg.jvp({yname}, {x}, v{i})", f"jg.hvp(f, {x}, v{i})"]
        cands += [f"jg.vjp({yname}, {x}, u)"]
        cands += [f"jg.jvp(jg.grad(f, {x}), {x}, v{i})"]
        size = int(np.prod(xshape))
        if size <= 12:
            cands += [f"jg.hessian(f, {x})"]
        if size * int(np.prod(yshape)) <= 120:
            cands += [f"jg.jacobian({yname}, {x})"]
        if size <= 6:
            cands += [f"jg.jacobian(jg.hvp(f, {x}, v{i}), {x})"]
        if xshape == ():
            cands += [f"jg.derivative(f, {x}, order=3)"]
        for j, z in enumerate(xs):
            if j != i:
                cands += [f"jg.grad(jg.sum(jg.grad(f, {x}) * W{i}), {z})"]
    p.line(f"u = jg.var('{p.tag}u', {yshape!r})")
    for i, x in enumerate(xs):
        code, _ = p.const(tuple(ns[x].shape))
        p.line(f"W{i} = {code}")
    k = p.int(2, 7)
    chosen = []
    for _ in range(k):
        c = cands[p.int(0, len(cands) - 1)]
        chosen.append(yname if c == "y" else c)
    used_v = [f"v{i}" for i in range(len(xs)) if any(f"v{i})" in c for c in chosen)]
    used_u = any(", u)" in c for c in chosen)
    ins = list(xs) + used_v + (["u"] if used_u else [])
    p.line(f"outs = [{', '.join(chosen)}]")
    p.line(f"ins = [{', '.join(ins)}]")


def make_program(draw, tag="d", max_steps=8):
    """A random case drawn by ``draw`` (strategy -> value): its program text
    (``ins`` and ``outs`` at the end)."""
    p = _Prog(draw, tag)
    for _ in range(p.int(1, 3)):
        r = p.int(0, 4)
        if r == 0:
            shape = ()
        elif r < 4:
            shape = (p.int(2, 6),)
        else:
            shape = (p.int(2, 4), 3)
        p.var(shape)
    for _ in range(p.int(1, max_steps)):
        getattr(p, p.pick_of(_Prog.STEPS))()
    last = p.pool[-1]
    if last[0] in p.inputs:
        last = p.unary()
    _quantities(p, last, list(p.inputs))
    return "\n".join(p.lines) + "\n"


def make_scalar_program(draw, tag="s"):
    """A scalar case (scalar inputs and outputs, long chains): direct-path kernels."""
    p = _Prog(draw, tag)
    p.fast_only = True
    xs = [p.var(()) for _ in range(p.int(1, 3))]
    for _ in range(p.int(4, 10)):
        p.scalar_step()
    y = p.pool[-1][0]
    outs = [y] + [f"jg.grad({y}, {x})" for x in xs]
    outs += [f"jg.derivative({y}, {xs[0]}, order={p.int(2, 5)})"]
    if len(xs) > 1:
        outs += [f"jg.grad(jg.grad({y}, {xs[0]}), {xs[1]})"]
    p.line(f"outs = [{', '.join(outs)}]")
    p.line(f"ins = [{', '.join(xs)}]")
    return "\n".join(p.lines) + "\n"


@st.composite
def programs(draw, tag="d", max_steps=8):
    return make_program(draw, tag, max_steps)


@st.composite
def scalar_programs(draw, tag="s"):
    return make_scalar_program(draw, tag)


class _RngDraw:
    """A stand-in for Hypothesis's ``draw`` on ``st.integers`` and
    ``st.sampled_from``, from a seeded generator (the long profile draws
    thousands of cases quickly, each reproducible from its seed)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def __call__(self, strategy):
        text = repr(strategy)
        if text.startswith("integers("):
            lo, hi = (
                int(v)
                for v in text[len("integers(") : -1]
                .replace("min_value=", "")
                .replace("max_value=", "")
                .split(", ")
            )
            return int(self.rng.integers(lo, hi + 1))
        if text.startswith("sampled_from("):
            options = strategy.elements
            return options[int(self.rng.integers(0, len(options)))]
        raise TypeError(f"_RngDraw cannot draw from {text}")


# ----------------------------------------------------------------------------- running


def build(code):
    """``(ins, outs)`` of a program, or of a list of programs packed into one
    kernel (their inputs and outputs one after the other)."""
    if isinstance(code, str):
        code = [code]
    ins, outs = [], []
    for c in code:
        ns = {}
        exec(c, ns)
        ins += [v for v in ns["ins"] if all(v is not w for w in ins)]
        outs += ns["outs"]
    return ins, outs


def point(ins, seed, lead=()):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, lead + tuple(v.shape)) for v in ins]


def _close(got, want, rtol):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    fin = np.isfinite(want)
    if not np.array_equal(fin, np.isfinite(got)):
        return "finite in one, not in the other"
    if not fin.any():
        return None
    scale = float(np.abs(want[fin]).max())
    err = np.abs(np.where(fin, got - want, 0.0))
    lim = rtol * (np.abs(want) + scale) + rtol
    if (err > lim).any():
        at = np.unravel_index(int(np.argmax(err - lim)), want.shape) if want.ndim else ()
        return f"max error {float(err.max()):.3g} at {at}: {got[at]!r} vs {want[at]!r}"
    return None


def run_case(code, config, seed=0):
    """Compile the case under ``config``, call it twice, compare with evaluate.
    Returns ``(problems, stats)``: a list of strings (empty when all agree) and
    the kernel's stats."""
    ins, outs = build(code)
    opts = dict(CONFIGS[config])
    rtol = RTOL.get(config, 1e-9)
    k = jg.compile(ins, outs, **opts)
    problems = []
    if config == "batch":
        pts = point(ins, seed, (BATCH,))
        res = [k(*pts) for _ in range(2)]
        for b in range(BATCH):
            want = jg.evaluate(outs, {v: a[b] for v, a in zip(ins, pts)})
            for call, r in enumerate(res):
                for j, w in enumerate(want):
                    why = _close(r[j][b], w, rtol)
                    if why:
                        problems.append(f"{config}: point {b}, call {call + 1}, output {j}: {why}")
    else:
        args = point(ins, seed)
        args = [a[()] if v.ndim == 0 else a for a, v in zip(args, ins)]
        want = jg.evaluate(outs, dict(zip(ins, args)))
        for call in range(2):
            got = k(*args)
            for j, w in enumerate(want):
                why = _close(got[j], w, rtol)
                if why:
                    problems.append(f"{config}, call {call + 1}, output {j}: {why}")
    return problems, dict(k.stats)


def _text(code):
    return code if isinstance(code, str) else "\n# ----\n".join(code)


def shrink(code, config, seed=0):
    """A smaller case that still fails under ``config`` (the long profile's
    shrinker; in the suite Hypothesis shrinks): the failing program of a
    pack, then as few of its quantities as still fail. Returns the program text."""
    import ast

    def fails(c):
        try:
            return bool(run_case(c, config, seed)[0])
        except Exception:
            return True

    if not isinstance(code, str):
        code = next((c for c in code if fails(c)), None)
        if code is None:
            return None
    lines = code.splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith("outs = ["))
    items = [ast.unparse(e) for e in ast.parse(lines[k]).body[0].value.elts]
    i = 0
    while i < len(items) and len(items) > 1:
        trial = items[:i] + items[i + 1 :]
        text = "\n".join(lines[:k] + [f"outs = [{', '.join(trial)}]"] + lines[k + 1 :]) + "\n"
        if fails(text):
            items, code = trial, text
        else:
            i += 1
    return code


def configs_for(code):
    """The configurations a case runs under: all of them, with ``direct`` in place
    of ``default`` (the same options) for scalar programs (every input and output
    0-d), whose kernels are the ones the direct path can take."""
    rest = [c for c in CONFIGS if c not in ("direct", "default")]
    if not isinstance(code, str):  # packed: direct only if every program is scalar
        scalar = all(configs_for(c)[0] == "direct" for c in code)
        return ["direct" if scalar else "default"] + rest
    ins, outs = build(code)
    scalar = all(v.ndim == 0 for v in ins) and all(o.ndim == 0 for o in outs)
    return ["direct" if scalar else "default"] + rest  # the same options: one of the two


def run_fresh(codes, cache_dir, timeout=900):
    """Run ``codes`` in a fresh interpreter on ``cache_dir`` (which already holds
    their kernels), under every configuration, through :func:`main`'s child
    mode; returns its report."""
    env = dict(os.environ, JITGRAD_CACHE_DIR=cache_dir)
    env.pop("JITGRAD_AOT", None)
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    env["PYTHONPATH"] = os.pathsep.join([root, here, env.get("PYTHONPATH", "")])
    p = subprocess.run(
        [sys.executable, os.path.join(here, "difftest.py"), "--child"],
        input=json.dumps(codes),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise AssertionError(f"fresh process failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")


def _child():
    codes = json.loads(sys.stdin.read())
    report = {"problems": [], "hits": 0, "runs": 0, "aot_loaded": 0}
    for code in codes:
        for config in configs_for(code):
            try:
                problems, stats = run_case(code, config)
            except Exception as e:  # a crash is a finding too
                problems, stats = [f"{config}: {type(e).__name__}: {e}"], {}
            report["runs"] += 1
            report["hits"] += bool(stats.get("cache_hit"))
            report["aot_loaded"] += stats.get("aot") == "loaded"
            report["problems"] += [f"{p}\n{_text(code)}" for p in problems]
    print("RESULT " + json.dumps(report))


def _draw_codes(n, seed, first=0):
    """Cases ``first .. first + n - 1`` of seed ``seed`` (case ``i`` from the
    random seed ``seed * 10**6 + i``, so that runs over disjoint windows add
    up to one longer run): 1 in 5 a scalar program."""
    codes = []
    for i in range(first, first + n):
        draw = _RngDraw(seed * 10**6 + i)
        if draw(st.integers(0, 4)) == 0:
            codes.append(make_scalar_program(draw, tag=f"s{i}_"))
        else:
            codes.append(make_program(draw, tag=f"g{i}_"))
    return codes


def _kernels(codes, pack):
    """The kernels to build, in drawing order: a scalar program alone (the
    direct path's kernels), the others ``pack`` to a kernel, so that a run
    stopped early has covered both kinds alike."""
    out, group = [], []
    for c in codes:
        if configs_for(c)[0] == "direct":
            out.append(c)
        else:
            group.append(c)
            if len(group) == pack:
                out.append(group if pack > 1 else group[0])
                group = []
    if group:
        out.append(group if pack > 1 else group[0])
    return out


_TOTALS = ("cases", "runs", "fresh_runs", "fresh_hits", "scalar", "direct")


def main(argv=None):
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--graphs", type=int, default=2000)
    ap.add_argument("--first", type=int, default=0, help="index of the first case drawn")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes at a time")
    ap.add_argument("--chunk", type=int, default=20, help="kernels per worker process")
    ap.add_argument(
        "--pack", type=int, default=1, help="graphs per kernel (a kernel per graph by default)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="write the cases that failed here (JSON)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        return _child()
    if a.worker:
        return _worker(a.worker)
    t0 = time.time()
    kernels = _kernels(_draw_codes(a.graphs, a.seed, a.first), a.pack)
    chunks = [kernels[i : i + a.chunk] for i in range(0, len(kernels), a.chunk)]
    total = dict.fromkeys(_TOTALS, 0)
    by_config, aot, problems = {}, {}, []

    def add(rep):
        for k in _TOTALS:
            total[k] += rep[k]
        for c, n in rep["by_config"].items():
            by_config[c] = by_config.get(c, 0) + n
        for how, n in rep["aot"].items():
            aot[how] = aot.get(how, 0) + n
        problems.extend(rep["problems"])

    # a fresh worker process per chunk (a process that compiles thousands of
    # kernels keeps them all: Numba never frees its compiled code), a.jobs at a time
    with tempfile.TemporaryDirectory(prefix="jitgrad-difftest-") as tmp:
        todo, running, done = list(enumerate(chunks)), [], 0
        while todo or running:
            while todo and len(running) < a.jobs:
                i, chunk = todo.pop(0)
                spec = os.path.join(tmp, f"chunk{i}.json")
                with open(spec, "w") as f:
                    json.dump({"chunk": chunk, "cache": os.path.join(tmp, f"c{i}")}, f)
                p = subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), "--worker", spec],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                running.append((i, chunk, p))
            time.sleep(0.2)
            for item in [r for r in running if r[2].poll() is not None]:
                running.remove(item)
                i, chunk, p = item
                out = p.stdout.read()
                line = [x for x in out.splitlines() if x.startswith("RESULT ")]
                if p.returncode or not line:  # a crash is a finding too
                    n = sum(1 if isinstance(c, str) else len(c) for c in chunk)
                    add(dict(dict.fromkeys(_TOTALS, 0), cases=n, by_config={}, aot={}, problems=[]))
                    problems.append(
                        f"worker for chunk {i} failed (exit {p.returncode}):\n{out[-3000:]}"
                    )
                else:
                    add(json.loads(line[-1][7:]))
                done += 1
                print(
                    f"[{done}/{len(chunks)} chunks] {total['cases']} graphs, {total['runs']} "
                    f"kernels, {total['fresh_hits']}/{total['fresh_runs']} fresh hits, default "
                    f"path {json.dumps(aot)}, {len(problems)} disagreements, "
                    f"{time.time() - t0:.0f} s",
                    flush=True,
                )
    print(
        f"cases {a.first}..{a.first + a.graphs - 1} of seed {a.seed}: {total['cases']} graphs "
        f"({total['scalar']} scalar programs, {total['direct']} of their kernels compiled by the "
        f"direct path; the others {a.pack} to a kernel), {total['runs']} kernels compiled "
        f"and called twice; kernels per configuration: {json.dumps(by_config)}; the default "
        f"configuration's kernels (stats['aot'] (stats['llvm'])): {json.dumps(aot)}; fresh processes: "
        f"{total['fresh_runs']} kernels, {total['fresh_hits']} cache hits; "
        f"{len(problems)} disagreements; {time.time() - t0:.0f} s"
    )
    if a.out and problems:
        with open(a.out, "w") as f:
            json.dump(problems, f, indent=1)
    for p in problems[:10]:
        print("----\n" + p)
    return 1 if problems else 0


def _worker(spec):
    """One chunk of kernels, each under every configuration, then the fresh-process
    check of the chunk; prints its report as ``RESULT <json>``."""
    import warnings

    with open(spec) as f:
        job = json.load(f)
    os.environ["JITGRAD_CACHE_DIR"] = job["cache"]
    os.environ.pop("JITGRAD_AOT", None)
    warnings.simplefilter("ignore")
    rep = dict.fromkeys(_TOTALS, 0)
    rep["by_config"] = {}
    rep[
        "aot"
    ] = {}  # the default configuration's kernels: stats["aot"] (stats["llvm"]), first words
    rep["problems"] = []
    chunk = job["chunk"]
    for code in chunk:
        rep["cases"] += 1 if isinstance(code, str) else len(code)
        cfgs = configs_for(code)
        rep["scalar"] += "direct" in cfgs
        for config in cfgs:
            try:
                problems, stats = run_case(code, config)
            except Exception as e:  # a crash is a finding too
                problems, stats = [f"{config}: {type(e).__name__}: {e}"], {}
            rep["runs"] += 1
            rep["by_config"][config] = rep["by_config"].get(config, 0) + 1
            rep["direct"] += config == "direct" and "direct" in stats
            if config in ("default", "direct"):
                how = str(stats.get("aot", "?")).split(":")[0]
                how += f" ({str(stats.get('llvm', 'numba')).split(':')[0]})"  # which compiler
                rep["aot"][how] = rep["aot"].get(how, 0) + 1
            if problems:
                small = shrink(code, config)
                problems = [f"{p}\n{_text(code)}" for p in problems]
                if small is not None:
                    problems.append(f"{config}: shrunk to\n{small}")
            rep["problems"] += problems
    try:
        fresh = run_fresh(chunk, job["cache"])
    except Exception as e:  # a fresh process that crashes is a finding too
        fresh = {"runs": 0, "hits": 0, "problems": [f"{type(e).__name__}: {e}"]}
    rep["fresh_runs"] += fresh["runs"]
    rep["fresh_hits"] += fresh["hits"]
    rep["problems"] += ["fresh process: " + p for p in fresh["problems"]]
    print("RESULT " + json.dumps(rep))


if __name__ == "__main__":
    sys.exit(main())

"""The loop IR (``jitgrad.codegen.ir``): its passes keep the values (checked
by running a kernel's emitted ``inner`` as plain Python before and after
them), each pass on small functions, and the hygiene of the generated source
of the benchmark kernels: no dead values, no one-iteration loops, no
``+ 0.0``/``* 1.0``."""

import ast
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.codegen import emit as E
from jitgrad.codegen import ir as IR
from jitgrad.codegen.mathlib import EMIT as MATH

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from compile_scaling import TEST_FUNCTIONS  # noqa: E402


def _benchmark_graphs():
    """The graphs of ``benchmarks/`` (run.py's problems at small sizes and
    compile_scaling.py's): ``(name, inputs, outputs)``."""
    for n in (10, 50):
        x, v = jg.vector("x", n), jg.vector("v", n)
        f = jg.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
        yield f"rosenbrock {n} hessian", [x], [f, jg.grad(f, x), jg.hessian(f, x)]
        yield f"rosenbrock {n} hvp", [x, v], [f, jg.grad(f, x), jg.hvp(f, x, v)]
    n, pi, e = 10, math.pi, math.e
    for name, expr in TEST_FUNCTIONS.items():
        x = jg.vector("x", n)
        idx = np.arange(1.0, n + 1.0)
        w = 1.0 + (x - 1.0) / 4.0
        f = eval(expr, {"xp": jg, "x": x, "n": n, "idx": idx, "w": w, "pi": pi, "e": e})
        yield name, [x], [f, jg.grad(f, x), jg.hessian(f, x)]
    for n in (8, 32):  # plain loops, and BLAS with its transposed views
        x, t = jg.vector("x", n), jg.vector("t", n)
        W = [jg.matrix(f"W{i}", n, n) for i in range(3)]
        b = [jg.vector(f"b{i}", n) for i in range(3)]
        y = jg.sum((W[2] @ jg.tanh(W[1] @ jg.tanh(W[0] @ x + b[0]) + b[1]) + b[2] - t) ** 2)
        params = [W[0], b[0], W[1], b[1], W[2], b[2]]
        yield f"layers {n}", [x, *params, t], [y, *jg.grad(y, params)]
    X = jg.matrix("X", 8, 3)
    eye = np.eye(8)
    r2 = jg.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1) + eye
    E_ = 0.5 * jg.sum((1.0 - eye) * (r2**-6 - r2**-3))
    yield "lennard-jones 8", [X], [E_, -jg.grad(E_, X)]
    x, y = jg.scalars("x y")
    f = jg.sin(x * y) + jg.exp(x) / (1 + y**2) + jg.log1p(x**2 * y**2)
    H = jg.hessian(f, [x, y])
    yield "scalar2", [x, y], [f, *jg.grad(f, [x, y]), H[0][0], H[0][1], H[1][1]]
    s = x
    for _ in range(7):
        s = jg.sin(s)
    for _ in range(4):
        s = jg.grad(s, x)
    yield "sin-nest d^4", [x], [s]
    p = jg.vector("p", 2)
    th, om, dt = 1.0, 0.0, 0.1
    for _ in range(100):
        th, om = th + dt * om, om - dt * (p[0] * jg.sin(th) + p[1] * om)
    yield "euler 100", [p], [th, jg.grad(th, p)]


GRAPHS = list(_benchmark_graphs())


@pytest.mark.parametrize("name,ins,outs", GRAPHS, ids=[g[0] for g in GRAPHS])
def test_generated_source_of_the_benchmark_kernels_is_clean(name, ins, outs):
    k = jg.compile(ins, outs)
    found = IR.hygiene(k.source)
    assert found == [], f"{name}: {found[:5]}"


def test_the_batch_kernel_source_is_clean_too():
    x, y = jg.scalars("x_b y_b")
    f = jg.sin(x * y) + jg.exp(x) / (1 + y**2)
    k = jg.compile([x, y], [f, *jg.grad(f, [x, y])], batch=True)
    assert "def point(" in k.source
    assert IR.hygiene(k.source) == []


def test_hygiene_finds_what_the_passes_remove():
    text = """
def f(x, out):
    s1 = x[0] + 0.0
    s2 = 1.0 * s1
    s3 = s2
    acc = 0.0
    acc += s2
    for i in range(3, 4):
        out[i] = s2
    for i in range(2):
        for j in range(i, i + 1):
            out[j] = s2 / 1.0
"""
    kinds = sorted(k for k, _ in IR.hygiene(text))
    assert kinds == ["dead"] * 3 + ["identity"] * 3 + ["one-trip"] * 2


# ----------------------------------------------------------------------------- values


def _namespace(em):
    """The kernel module's globals (helpers, mathlib, constants), for running
    its functions as plain Python."""
    text = em.module()
    assert not em.blocks  # scalar blocks are Numba intrinsics
    ns = {"_CONSTS": dict(em.consts)}
    exec(text, ns)
    for name in MATH:  # Numba intrinsics too: NumPy's, the same for both texts
        ns[f"jg_{name}"] = getattr(np, name)
    return ns


def _call(fn_text, name, ns, em, args, temps):
    g = dict(ns)
    for tname, shape, dtype in temps:
        g[tname] = np.full(shape, np.nan, dtype)
    exec(fn_text, g)
    outs = [np.full(o.shape or (1,), np.nan, o.dtype) for o in em.outputs]
    g[name](*args, *outs)
    return outs


def _same(a, b):
    """Equal as values, nan where nan: the passes may keep a -0.0 that IEEE's
    ``x + 0.0`` makes +0.0 (see jitgrad.codegen.ir)."""
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


# Graphs without scalar blocks (Numba intrinsics, which plain Python cannot run).
_PLAIN = (
    "rosenbrock",
    "rastrigin",
    "griewank",
    "lennard-jones",
    "trid",
    "styblinski_tang",
    "euler",
)
VALUE_GRAPHS = [g for g in GRAPHS if g[0].split()[0] in _PLAIN]


@pytest.mark.parametrize("name,ins,outs", VALUE_GRAPHS, ids=[g[0] for g in VALUE_GRAPHS])
def test_the_passes_keep_the_values(name, ins, outs, rng):
    em = E.Emitter(ins, outs, cache=False)
    em.tuple_out = True
    raw = em.emit("inner")
    temps = list(em.temps)
    arrays = {a: "f8" for a in em.arg_names + em.out_names + list(em.consts)}
    arrays.update({t: "f8" for t, _, _ in temps})
    fn = IR.optimise(IR.parse(raw, arrays))
    assert fn.name == "inner"
    ns = _namespace(E.Emitter(ins, outs, cache=False))
    for trial in range(3):
        args = []
        for v in ins:
            a = rng.uniform(-1.5, 1.5, v.shape)
            if trial == 2 and v.ndim:  # specials: the folds must not change them
                a.flat[0], a.flat[-1] = np.inf, -0.0
            args.append(float(a) if v.ndim == 0 else a)
        with np.errstate(all="ignore"):
            want = _call(raw, "inner", ns, em, args, temps)
            got = _call(IR.to_python(fn), "inner", ns, em, args, temps)
        for j, (g, w) in enumerate(zip(got, want)):
            assert _same(g, w), (
                name,
                trial,
                j,
                np.argwhere(~((g == w) | (np.isnan(g) & np.isnan(w))))[:3],
            )


# ----------------------------------------------------------------------------- passes


def _run(text, arrays=None):
    fn = IR.optimise(IR.parse(text.strip("\n"), arrays or {}))
    return IR.to_python(fn)


def test_one_iteration_loops_become_their_body_and_empty_ones_go():
    out = _run(
        """
def f(x, out):
    for i0 in range(1):
        out[i0 + 1] = x[i0 - 1]  # note
    for i0 in range(4, 4):
        out[i0] = 1.0
    for i0 in range(3):
        for i1 in range(i0, i0 + 1):
            out[i1] = x[i1 + 2]
""",
        {"x": "f8", "out": "f8"},
    )
    assert "out[1] = x[(-1)]  # note" in out
    assert "range(4, 4)" not in out and "out[i0] = 1.0" not in out
    assert "out[i0] = x[i0 + 2]" in out
    assert out.count("for ") == 1


def test_folds_are_float64_identities_only():
    out = _run(
        """
def f(x, y, out):
    s1 = x[0] * 1.0
    s2 = 1.0 * y[0]
    s3 = x[0] + 0.0
    s4 = 0.0 * x[1]
    s5 = s1 / 1.0 - 0.0
    s6 = y[1] + 0.0
    out[0] = s1 + s2 + s3 + s4 + s5 + s6
""",
        {"x": "f8", "out": "f8"},  # y's type is not known: nothing on it is folded
    )
    assert "s1 = x[0]\n" in out and "s3 = x[0]\n" in out
    assert "s5" not in out and "+ s1) + s6" in out  # s1 / 1.0 - 0.0 is s1, a copy
    assert "s2 = 1.0 * y[0]" in out and "s6 = y[1] + 0.0" in out
    assert "s4 = 0.0 * x[1]" in out  # nan where x[1] is inf: kept


def test_integer_index_arithmetic_folds_and_python_semantics_hold():
    out = _run(
        """
def f(x, out):
    for i0 in range(1):
        out[(i0 + 7) // 2] = x[(i0 - 3) % 4]
"""
    )
    assert "out[3] = x[1]" in out


def test_dead_values_are_found_by_flow_not_by_name():
    out = _run(
        """
def f(x, out):
    for i0 in range(3):
        s1 = x[i0]
        s2 = s1 * 2.0
        out[i0] = s1
    for i0 in range(3):
        s2 = x[i0] * 3.0
        acc = 0.0
        acc += s2
        out[i0] = s2
"""
    )
    assert "s2 = s1 * 2.0" not in out  # rebound before any read
    assert "acc" not in out  # updated, never read
    assert "s2 = x[i0] * 3.0" in out


def test_copies_propagate_until_either_name_is_bound_again():
    out = _run(
        """
def f(x, out):
    acc = 0.0
    for i0 in range(3):
        acc += x[i0]
    s1 = acc
    out[0] = s1
    acc += 1.0
    out[1] = s1
"""
    )
    assert "out[0] = acc" in out
    assert "out[1] = s1" in out and "s1 = acc" in out


def test_the_ir_prints_what_it_parses():
    text = """def f(x, out, t):
    # a note
    acc = 0.0
    for i0 in prange(4):  # a loop
        s1, = blk((x[i0],))
        t[...] = 0.0
        t[i0] += s1 ** 2
        acc += (-s1) * (x[i0] - 1.0)
    out[0] = acc if acc > 0.0 else np.nan
    return"""
    fn = IR.parse(text)
    again = IR.to_python(fn)
    assert ast.dump(ast.parse(again)) == ast.dump(ast.parse(text))
    assert "# a note" in again and "# a loop" in again
    assert ast.dump(IR.to_ast(fn)) == ast.dump(ast.parse(text).body[0])


def test_entry_is_made_from_inner_for_loop_kernels():
    x = jg.vector("x_ent", 5)
    f = jg.sum(jg.sin(x) ** 2)
    k = jg.compile([x], [f, jg.grad(f, x)], cache=False)
    src = k.source
    body = src[src.index("def entry(") :]
    body = body[: body.index("\n\n\n")]
    assert "out0 = " not in body  # the 0-d output is a local, returned by name
    a = np.linspace(-1, 1, 5)
    for g, w in zip(k.njit(a), k(a)):
        np.testing.assert_array_equal(g, w)


def test_common_subexpressions_of_a_loop_body_get_one_name():
    out = _run(
        """
def f(x, t, out):
    for i0 in range(3):
        s1 = (1.0 - x[i0]) * (1.0 - x[i0])
        s2 = s1 - 2.0 * (1.0 - x[i0])
        out[i0 + 1] = s2 + x[i0 + 1]
        s3 = t[i0] * 2.0
        t[i0] = s3
        s4 = t[i0] * 2.0
        out[i0] = s4 + s3
"""
    )
    assert out.count("1.0 - x[i0]") == 1
    assert "x[i0 + 1]" in out  # index arithmetic stays inline
    assert out.count("t[i0] * 2.0") == 2  # t[i0] is stored between the two


def test_a_shared_value_is_not_used_past_a_rebinding():
    out = _run(
        """
def f(x, out):
    for i0 in range(3):
        s1 = x[0] * 3.0
        s5 = s1 * x[1]
        s1 = x[2] * 3.0
        s6 = s1 * x[1]
        out[i0] = s5 + s6
"""
    )
    assert out.count("s1 * x[1]") == 2
    ns = {}
    exec(out, ns)
    a, b = np.array([1.0, 2.0, 3.0]), np.zeros(3)
    ns["f"](a, b)
    assert b.tolist() == [24.0, 24.0, 24.0]

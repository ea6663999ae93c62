"""Derivative transforms: gradient checks per op, kinks, a SymPy oracle,
higher orders by composition, Jacobians/Hessians, graph-size bounds, errors.

Oracles are independent of jitgrad's derivative rules: finite differences of
``jg.evaluate`` (see ``gradcheck.py`` for the step and tolerance argument),
the dot-product identity, ``sympy.diff`` and hand-derived formulas.
"""

from __future__ import annotations

import types

import numpy as np
import pytest
import sympy as sp
from gradcheck import (
    check_jvp,
    check_second_order,
    check_vjp,
    fd_directional,
)
from models import MODELS, make_chain, make_rosenbrock
from optable import OP_CASES

import jitgrad as jg

# ----------------------------------------------------------------------------- helpers


def ev(nodes, env):
    return jg.evaluate(nodes, env)


def fd_jacobian(fun, values):
    """Finite-difference Jacobian of ``fun(list_of_arrays) -> array`` with respect
    to every entry of every input: a list of arrays of shape ``out.shape + x.shape``."""
    out_shape = np.shape(fun(values))
    result = []
    for i, x in enumerate(values):
        J = np.zeros(out_shape + x.shape)
        for idx in np.ndindex(*x.shape):
            e = [np.zeros_like(a) for a in values]
            e[i][idx] = 1.0
            (d,), _ = fd_directional(lambda vs: [fun(vs)], values, e)
            J[(...,) + idx] = d
        result.append(J)
    return result


def assert_close(got, want, rtol=1e-7, atol=1e-9):
    np.testing.assert_allclose(np.asarray(got, float), np.asarray(want, float), rtol, atol)


# ----------------------------------------------------------------------------- per op case


def _float64_output(case):
    return case.build(*case.vars()).dtype == np.float64


# Float64 only: the checker's steps and tolerances are float64 ones. cast_f64_to_f32
# (float64 in, float32 out) is therefore left out too.
F64_CASES = [c for c in OP_CASES if c.dtype == "float64" and _float64_output(c)]
SMOOTH = [c for c in F64_CASES if c.smooth]
# Piecewise constant on their domain (sign, comparisons, casts of comparisons,
# a reduction over an empty axis): the derivative is exactly zero.
NOT_SMOOTH = [c for c in OP_CASES if c.dtype == "float64" and not c.smooth]


@pytest.mark.parametrize("case", SMOOTH, ids=str)
def test_jvp_matches_fd(case, rng):
    check_jvp(case.build, case.sample(rng), rtol=1e-6)


@pytest.mark.parametrize("case", SMOOTH, ids=str)
def test_vjp_dot_product(case, rng):
    check_vjp(case.build, case.sample(rng), rtol=1e-10)


@pytest.mark.parametrize("case", SMOOTH, ids=str)
def test_second_order(case, rng):
    check_second_order(case.build, case.sample(rng), rtol=1e-6)


def _unit_products(fn, x, out_shape, env):
    """``fn(e)`` evaluated for every unit tangent ``e`` of ``x``, stacked on the last axes."""
    cols = []
    for idx in np.ndindex(*x.shape):
        e = np.zeros(x.shape)
        e[idx] = 1.0
        cols.append(ev(fn(e), env))
    if not cols:
        return np.zeros(out_shape + x.shape)
    return np.stack(cols, axis=-1).reshape(out_shape + x.shape)


@pytest.mark.parametrize("case", SMOOTH, ids=str)
def test_batched_jacobian_and_hessian(case, rng):
    """``jacobian``/``hessian`` batch the JVP/HVP graph over unit directions (every
    op's batch rule): they equal one JVP/HVP per unit vector."""
    xs = case.vars()
    y = case.build(*xs)
    env = dict(zip(xs, case.sample(rng)))
    weights = rng.standard_normal(y.shape)
    s = jg.sum(y * weights)
    for x in xs:
        J = jg.jacobian(y, x)
        assert J.shape == y.shape + x.shape
        want = _unit_products(lambda e, x=x: jg.jvp(y, x, e), x, y.shape, env)
        assert_close(ev(J, env), want, rtol=1e-12, atol=1e-12)
        H = jg.hessian(s, x)
        assert H.shape == x.shape + x.shape
        want = _unit_products(lambda e, x=x: jg.hvp(s, x, e), x, x.shape, env)
        assert_close(ev(H, env), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", NOT_SMOOTH, ids=str)
def test_not_smooth_has_exact_zero_derivative(case, rng):
    xs = case.vars()
    y = case.build(*xs)
    values = case.sample(rng)
    env = dict(zip(xs, values))
    tangents = [rng.standard_normal(x.shape) for x in xs]
    u = np.ones(y.shape, bool) if y.dtype == bool else rng.standard_normal(y.shape)
    outs = [jg.jvp(y, xs, tangents)] + jg.vjp(y, xs, u)
    shapes = [y.shape] + [x.shape for x in xs]
    if y.dtype != bool and xs[0].shape == ():
        outs.append(jg.derivative(y, xs[0], order=2))
        shapes.append(y.shape)
    assert len(outs) == len(shapes)
    for d, want_shape in zip(outs, shapes):
        got = ev(d, env)
        assert got.shape == want_shape
        assert not np.any(got), (case.name, got)


# ----------------------------------------------------------------------------- kinks


def test_abs_at_zero_has_derivative_zero():
    x = jg.scalar("x")
    v = jg.vector("v", 3)
    assert ev(jg.grad(jg.abs(x), x), {x: 0.0}) == 0.0
    assert ev(jg.derivative(jg.abs(x), x), {x: 0.0}) == 0.0
    # Away from 0 it is sign(x); elementwise in a vector, including one exact 0.
    g = ev(jg.grad(jg.sum(jg.abs(v)), v), {v: np.array([-2.0, 0.0, 3.0])})
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])
    t = ev(jg.jvp(jg.abs(v), v, np.array([5.0, 7.0, 11.0])), {v: np.array([-2.0, 0.0, 3.0])})
    np.testing.assert_array_equal(t, [-5.0, 0.0, 11.0])


@pytest.mark.parametrize("x0", [-2.5, -1e-300, 0.0, 1e-300, 4.0])
def test_sign_has_derivative_zero(x0):
    x = jg.scalar("x")
    for d in (
        jg.grad(jg.sign(x), x),
        jg.derivative(jg.sign(x), x),
        jg.jvp(jg.sign(x), x, 3.0),
        jg.vjp(jg.sign(x), x, 3.0),
        jg.derivative(jg.sign(x) * x, x, order=2),
    ):
        assert ev(d, {x: x0}) == 0.0


@pytest.mark.parametrize("op", [jg.maximum, jg.minimum])
def test_maximum_minimum_ties_split_half(op):
    x, y = jg.scalars("x y")
    gx, gy = ev(jg.grad(op(x, y), [x, y]), {x: 1.5, y: 1.5})
    assert (gx, gy) == (0.5, 0.5)
    t = ev(jg.jvp(op(x, y), [x, y], [2.0, 6.0]), {x: 1.5, y: 1.5})
    assert t == 4.0
    # maximum(x, x) is x: the halves add up to 1.
    assert ev(jg.grad(op(x, x), x), {x: -0.3}) == 1.0
    # Off the tie, the whole derivative goes to the chosen argument.
    big = 1.0 if op is jg.maximum else 0.0
    gx, gy = ev(jg.grad(op(x, y), [x, y]), {x: 2.0, y: 1.0})
    assert (gx, gy) == (big, 1.0 - big)


def test_maximum_against_constant_relu():
    v = jg.vector("v", 4)
    g = ev(jg.grad(jg.sum(jg.maximum(v, 0.0)), v), {v: np.array([-1.0, 0.0, 2.0, 1e-9])})
    np.testing.assert_array_equal(g, [0.0, 0.5, 1.0, 1.0])


def test_where_derivative_flows_only_to_chosen_branch():
    x, y = jg.scalars("x y")
    f = jg.where(x > y, x * x, 3.0 * y)
    assert [float(a) for a in ev(jg.grad(f, [x, y]), {x: 2.0, y: 1.0})] == [4.0, 0.0]
    assert [float(a) for a in ev(jg.grad(f, [x, y]), {x: 0.0, y: 1.0})] == [0.0, 3.0]
    # The unchosen branch is inf/nan there and must not leak into the derivative.
    v = jg.vector("v", 3)
    safe = jg.where(v > 0.0, jg.log(jg.where(v > 0.0, v, 1.0)), 0.0)
    g = ev(jg.grad(jg.sum(safe), v), {v: np.array([-1.0, 0.0, 4.0])})
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.25])
    t = ev(jg.jvp(f, [x, y], [1.0, 1.0]), {x: 2.0, y: 1.0})
    assert t == 4.0


def test_sqrt_derivative_at_zero_is_inf():
    x = jg.scalar("x")
    assert ev(jg.grad(jg.sqrt(x), x), {x: 0.0}) == np.inf
    assert ev(jg.derivative(jg.sqrt(x), x), {x: 0.0}) == np.inf
    assert ev(jg.grad(jg.sqrt(x), x), {x: 4.0}) == 0.25


@pytest.mark.parametrize("red", [jg.max, jg.min])
def test_max_min_reductions_split_ties_equally(red):
    v = jg.vector("v", 5)
    top = 3.0 if red is jg.max else -3.0
    x0 = np.array([1.0, top, 0.0, top, top])
    g = ev(jg.grad(red(v), v), {v: x0})
    np.testing.assert_array_equal(g, [0.0, 1 / 3, 0.0, 1 / 3, 1 / 3])
    assert ev(jg.jvp(red(v), v, np.arange(5.0)), {v: x0}) == pytest.approx((1 + 3 + 4) / 3)
    M = jg.matrix("M", 2, 3)
    m0 = np.array([[1.0, 2.0, 2.0], [-5.0, -5.0, -5.0]])
    if red is jg.min:
        m0 = -m0
    g = ev(jg.grad(jg.sum(red(M, axis=1) * np.array([1.0, 6.0])), M), {M: m0})
    np.testing.assert_allclose(g, [[0.0, 0.5, 0.5], [2.0, 2.0, 2.0]], rtol=1e-15)


@pytest.mark.parametrize("cmp", [jg.less, jg.less_equal, jg.greater, jg.greater_equal, jg.equal])
def test_comparisons_have_zero_derivative(cmp):
    v = jg.vector("v", 3)
    w = jg.vector("w", 3)
    x0 = {v: np.array([1.0, 2.0, 3.0]), w: np.array([3.0, 2.0, 1.0])}
    as_num = jg.where(cmp(v, w), 1.0, 0.0) * 7.0
    for d in jg.grad(jg.sum(as_num), [v, w]) + [
        jg.jvp(as_num, [v, w], [np.ones(3), np.ones(3)]),
        jg.jvp(cmp(v, w), v, np.ones(3)),
        jg.jacobian(as_num, v),
    ]:
        got = ev(d, x0)
        assert got.shape == d.shape and not np.any(got)


# The value chosen at each kink is stated in the op's record and its function's docstring.
KINK_DOCS = {
    "abs": ("abs", "0"),
    "sign": ("sign", "0"),
    "maximum": ("maximum", "0.5"),
    "minimum": ("minimum", "0.5"),
    "where": ("where", "branch"),
    "sqrt": ("sqrt", "inf"),
    "max": ("max", "equally"),
    "min": ("min", "equally"),
    "less": ("less", "derivative 0"),
    "greater_equal": ("greater_equal", "derivative 0"),
}


@pytest.mark.parametrize("op", list(KINK_DOCS))
def test_kink_choice_is_documented(op):
    from jitgrad.ops import OPS

    fname, phrase = KINK_DOCS[op]
    assert "derivative" in OPS[op].doc.lower() and phrase in OPS[op].doc
    if op not in ("less", "greater_equal"):
        assert phrase in getattr(jg, fname).__doc__


# ----------------------------------------------------------------------------- SymPy oracle

_SP = types.SimpleNamespace(
    exp=sp.exp,
    log=sp.log,
    log1p=lambda x: sp.log(1 + x),
    sin=sp.sin,
    cos=sp.cos,
    tanh=sp.tanh,
    sqrt=sp.sqrt,
    arctan=sp.atan,
    sigmoid=lambda x: 1 / (1 + sp.exp(-x)),
    softplus=lambda x: sp.log(1 + sp.exp(x)),
)

# (name, number of vars, expression in a namespace M, sampling interval for every var)
SYMPY_EXPRS = [
    ("exp*sin", 1, lambda M, x: M.exp(x) * M.sin(x), (-2, 2)),
    ("log(1+x^2)", 1, lambda M, x: M.log(1 + x**2), (-2, 2)),
    ("tanh^3", 1, lambda M, x: M.tanh(x) ** 3, (-2, 2)),
    ("sqrt*log", 1, lambda M, x: M.sqrt(x) * M.log(x), (0.5, 3)),
    ("poly+1/x", 1, lambda M, x: x**5 - 3 * x**2 + 1 / x, (0.5, 2)),
    ("arctan/(1+x^2)", 1, lambda M, x: M.arctan(x) / (1 + x**2), (-2, 2)),
    ("sigmoid", 1, lambda M, x: M.sigmoid(x), (-3, 3)),
    ("x*softplus", 1, lambda M, x: x * M.softplus(x), (-3, 3)),
    ("log1p(x^2)", 1, lambda M, x: M.log1p(x**2), (-2, 2)),
    ("exp(sin)", 1, lambda M, x: M.exp(M.sin(x)), (-3, 3)),
    ("sin(exp(x/2))", 1, lambda M, x: M.sin(M.exp(x / 2)), (-2, 2)),
    ("x^-1.5", 1, lambda M, x: x**-1.5 + M.sqrt(1 + x**2), (0.5, 2)),
    ("x^y", 2, lambda M, x, y: x**y, (0.5, 2)),
    ("xy/(x+y)", 2, lambda M, x, y: x * y / (x + y), (0.5, 2)),
    ("gauss*sin", 2, lambda M, x, y: M.exp(-(x**2) - y**2) * M.sin(x * y), (-1.5, 1.5)),
    ("arctan(y/x)", 2, lambda M, x, y: M.arctan(y / x), (0.5, 2)),
    ("log*tanh", 2, lambda M, x, y: M.log(x**2 + y**2 + 1) * M.tanh(x - y), (-1.5, 1.5)),
    ("norm3", 3, lambda M, x, y, z: M.sqrt(x**2 + y**2 + z**2), (0.5, 2)),
    ("xyz+sin/y", 3, lambda M, x, y, z: x * y * z + M.sin(x * z) / y, (0.5, 2)),
    (
        "softplus+sigmoid",
        3,
        lambda M, x, y, z: M.softplus(x - y * z) + M.sigmoid(z) * x,
        (-1.5, 1.5),
    ),
    ("exp(x log1p y)", 3, lambda M, x, y, z: M.exp(x * M.log1p(y)) / (1 + z**2), (0.5, 1.5)),
    (
        "tanh(sigmoid*softplus)",
        3,
        lambda M, x, y, z: M.tanh(M.sigmoid(x) * M.softplus(y)) * M.cos(z),
        (-1.5, 1.5),
    ),
    ("(x-y)^2 log z", 3, lambda M, x, y, z: (x - y) ** 2 * M.log(z) + x**3 * y, (0.5, 2)),
]


def _sympy_setup(n, expr):
    syms = sp.symbols("x y z")[:n]
    nodes = jg.scalars("x y z")[:n]
    return syms, expr(_SP, *syms), nodes, expr(jg, *nodes)


def _points(rng, n, interval, k=3):
    return rng.uniform(*interval, size=(k, n))


@pytest.mark.parametrize("name,n,expr,interval", SYMPY_EXPRS, ids=[e[0] for e in SYMPY_EXPRS])
def test_sympy_grad_and_hessian(name, n, expr, interval, rng):
    syms, f_sp, xs, f_jg = _sympy_setup(n, expr)
    g_sp = sp.lambdify(syms, [sp.diff(f_sp, s) for s in syms], "numpy")
    h_sp = sp.lambdify(syms, [[sp.diff(f_sp, a, b) for b in syms] for a in syms], "numpy")
    g = jg.grad(f_jg, list(xs))
    H = jg.hessian(f_jg, list(xs))
    assert isinstance(g, list) and len(g) == n
    assert isinstance(H, list) and all(isinstance(r, list) and len(r) == n for r in H)
    for pt in _points(rng, n, interval):
        env = dict(zip(xs, pt))
        assert_close(ev(g, env), g_sp(*pt), rtol=1e-9, atol=1e-12)
        got_h = ev([b for row in H for b in row], env)
        assert_close(np.reshape(got_h, (n, n)), h_sp(*pt), rtol=1e-9, atol=1e-12)


ONE_VAR = [e for e in SYMPY_EXPRS if e[1] == 1]


@pytest.mark.parametrize("name,n,expr,interval", ONE_VAR, ids=[e[0] for e in ONE_VAR])
def test_sympy_derivative_orders(name, n, expr, interval, rng):
    (x_sp,), f_sp, (x,), f_jg = _sympy_setup(1, expr)
    for k in range(1, 5):
        want = sp.lambdify(x_sp, sp.diff(f_sp, x_sp, k), "numpy")
        d = jg.derivative(f_jg, x, order=k)
        for (x0,) in _points(rng, 1, interval):
            assert_close(ev(d, {x: x0}), want(x0), rtol=1e-9, atol=1e-11)
    assert jg.derivative(f_jg, x, order=0) is f_jg


def test_sympy_derivative_of_a_vector_is_elementwise():
    x = jg.scalar("x")
    c = np.array([0.5, -1.0, 2.0])
    y = jg.exp(c * x) * jg.sin(x)
    xs = sp.Symbol("x")
    x0 = 0.7
    got = ev(jg.derivative(y, x, order=3), {x: x0})
    want = [float(sp.diff(sp.exp(ci * xs) * sp.sin(xs), xs, 3).subs(xs, x0)) for ci in c]
    assert_close(got, want, rtol=1e-12)


# ----------------------------------------------------------------------------- k-th derivatives


def test_kth_derivative_of_exp_sin_matches_sympy_and_grows_polynomially():
    x = jg.scalar("x")
    xs = sp.Symbol("x")
    y = jg.exp(jg.sin(x))
    pts = np.array([-2.1, -0.3, 0.4, 1.9])
    counts = []
    d_sp = sp.exp(sp.sin(xs))
    for k in range(1, 11):
        d = jg.derivative(y, x, order=k)
        d_sp = sp.diff(d_sp, xs)
        want = sp.lambdify(xs, d_sp, "numpy")(pts)
        got = np.array([ev(d, {x: p}) for p in pts])
        assert_close(got, want, rtol=1e-10, atol=1e-10 * np.max(np.abs(want)))
        counts.append(jg.count_ops(d))
    # Naive nesting doubles the graph each order (2**10 copies); sharing keeps it
    # polynomial: the growth ratio falls and k=10 over k=5 is below 2**3.
    assert counts[-1] < 2000
    ratios = [b / a for a, b in zip(counts, counts[1:])]
    assert all(r2 <= r1 for r1, r2 in zip(ratios, ratios[1:])), counts
    assert counts[9] < 8 * counts[4], counts


def test_kth_derivative_after_fast_simplify_stays_polynomial():
    x = jg.scalar("x")
    y = jg.exp(jg.sin(x))
    counts = []
    for k in range(1, 11):
        d = jg.derivative(y, x, order=k)
        simple = jg.simplify(d, level="fast")
        assert jg.count_ops(simple) <= jg.count_ops(d)
        assert_close(ev(simple, {x: 0.4}), ev(d, {x: 0.4}), rtol=1e-12, atol=0)
        counts.append(jg.count_ops(simple))
    assert counts[-1] < 2000 and counts[9] < 8 * counts[4], counts


# ----------------------------------------------------------------------------- chain of layers


def test_chain_of_layers_gradient_wrt_everything_in_one_call(rng):
    m = make_chain((3, 4, 5, 2))
    env = m.sample(rng)
    grads = jg.grad(m.y, m.wrt)
    assert isinstance(grads, list) and [g.shape for g in grads] == [w.shape for w in m.wrt]
    got = ev(grads, env)
    values = [env[w] for w in m.wrt]

    def fun(vs):
        return ev(m.y, {**env, **dict(zip(m.wrt, vs))})

    want = fd_jacobian(fun, values)
    assert sum(w.size for w in want) == 3 + 12 + 4 + 20 + 5 + 10 + 2
    for name, g, w in zip(["x", "W0", "b0", "W1", "b1", "W2", "b2"], got, want):
        np.testing.assert_allclose(g, w, rtol=1e-7, atol=1e-9, err_msg=name)


def test_chain_of_layers_against_hand_written_backprop(rng):
    m = make_chain((3, 4, 5, 2))
    env = m.sample(rng)
    x, W0, b0, W1, b1, W2, b2 = (env[v] for v in m.wrt)
    (t,) = (env[v] for v in m.data)
    h0 = np.tanh(W0 @ x + b0)
    h1 = np.tanh(W1 @ h0 + b1)
    r = W2 @ h1 + b2 - t
    g_out = 2 * r
    gW2, gb2 = np.outer(g_out, h1), g_out
    a1 = (W2.T @ g_out) * (1 - h1**2)
    gW1, gb1 = np.outer(a1, h0), a1
    a0 = (W1.T @ a1) * (1 - h0**2)
    gW0, gb0, gx = np.outer(a0, x), a0, W0.T @ a0
    got = ev(jg.grad(m.y, m.wrt), env)
    for g, w in zip(got, [gx, gW0, gb0, gW1, gb1, gW2, gb2]):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------- composition


def _cubic_model():
    """A smooth scalar function of a 3-vector with non-zero third derivatives."""
    x = jg.vector("cx", 3)
    y = jg.sum(jg.sin(x) * jg.exp(0.5 * x[::-1])) + x[0] * x[1] ** 2 * x[2] + jg.log1p(x @ x)
    return x, y


def _cubic_sympy():
    s = sp.symbols("a b c")
    f = (
        sum(sp.sin(s[i]) * sp.exp(sp.Rational(1, 2) * s[2 - i]) for i in range(3))
        + s[0] * s[1] ** 2 * s[2]
        + sp.log(1 + s[0] ** 2 + s[1] ** 2 + s[2] ** 2)
    )
    return s, f


def test_grad_of_grad_element_is_hessian_row(rng):
    x, y = _cubic_model()
    s, f = _cubic_sympy()
    x0 = rng.uniform(-1, 1, 3)
    H = jg.hessian(y, x)
    for i in range(3):
        row = jg.grad(jg.grad(y, x)[i], x)
        got = ev(row, {x: x0})
        assert_close(got, ev(H, {x: x0})[i], rtol=1e-13, atol=1e-14)
        want = [float(sp.diff(f, s[i], s[j]).subs(dict(zip(s, x0)))) for j in range(3)]
        assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_hvp_of_a_grad_component(rng):
    x, y = _cubic_model()
    s, f = _cubic_sympy()
    x0, v0 = rng.uniform(-1, 1, 3), rng.standard_normal(3)
    v = jg.vector("cv", 3)
    g0 = jg.grad(y, x)[0]
    hv = jg.hvp(g0, x, v)  # sum_jk d3f/dx0 dxj dxk v_k
    got = ev(hv, {x: x0, v: v0})
    # Finite differences of the lower order: the Hessian-row-0 graph along v.
    row = jg.grad(g0, x)
    (want,), _ = fd_directional(lambda vs: [ev(row, {x: vs[0]})], [x0], [v0])
    assert_close(got, want, rtol=1e-7, atol=1e-9)
    sub = dict(zip(s, x0))
    exact = [
        sum(float(sp.diff(f, s[0], s[j], s[k]).subs(sub)) * v0[k] for k in range(3))
        for j in range(3)
    ]
    assert_close(got, exact, rtol=1e-10, atol=1e-12)


def test_third_order_product_jvp_of_hvp(rng):
    x, y = _cubic_model()
    x0, v0, w0 = rng.uniform(-1, 1, 3), rng.standard_normal(3), rng.standard_normal(3)
    v, w = jg.vector("cv", 3), jg.vector("cw", 3)
    hv = jg.hvp(y, x, v)
    t3 = jg.jvp(hv, x, w)  # T[x](v, w, .)
    got = ev(t3, {x: x0, v: v0, w: w0})
    (want,), _ = fd_directional(lambda vs: [ev(hv, {x: vs[0], v: v0})], [x0], [w0])
    assert_close(got, want, rtol=1e-7, atol=1e-9)
    # The third derivative is symmetric: swapping v and w gives the same vector.
    swapped = ev(jg.jvp(jg.hvp(y, x, w), x, v), {x: x0, v: v0, w: w0})
    assert_close(got, swapped, rtol=1e-12, atol=1e-13)
    # One order more: the JVP of that graph vs differences of it.
    u0 = rng.standard_normal(3)
    u = jg.vector("cu", 3)
    t4 = jg.jvp(t3, x, u)
    got4 = ev(t4, {x: x0, v: v0, w: w0, u: u0})
    (want4,), _ = fd_directional(lambda vs: [ev(t3, {x: vs[0], v: v0, w: w0})], [x0], [u0])
    assert_close(got4, want4, rtol=1e-6, atol=1e-8)


def test_jacobian_of_hessian_is_the_third_derivative_tensor(rng):
    x, y = _cubic_model()
    s, f = _cubic_sympy()
    x0 = rng.uniform(-1, 1, 3)
    sub = dict(zip(s, x0))
    T = jg.jacobian(jg.hessian(y, x), x)
    assert T.shape == (3, 3, 3)
    want = np.array(
        [
            [[float(sp.diff(f, s[i], s[j], s[k]).subs(sub)) for k in range(3)] for j in range(3)]
            for i in range(3)
        ]
    )
    assert_close(ev(T, {x: x0}), want, rtol=1e-10, atol=1e-12)
    # Fourth order: the Hessian of one Hessian entry.
    T4 = jg.hessian(jg.hessian(y, x)[0, 1], x)
    want4 = np.array(
        [[float(sp.diff(f, s[0], s[1], s[j], s[k]).subs(sub)) for k in range(3)] for j in range(3)]
    )
    assert_close(ev(T4, {x: x0}), want4, rtol=1e-10, atol=1e-12)


def test_hvp_with_list_wrt_matches_hessian_blocks(rng):
    m = make_chain((2, 3, 3, 1))
    env = m.sample(rng)
    ws = m.wrt[:3]
    vs = [jg.var(f"hv_dir{i}", w.shape) for i, w in enumerate(ws)]
    dirs = [rng.standard_normal(w.shape) for w in ws]
    hv = ev(jg.hvp(m.y, ws, vs), {**env, **dict(zip(vs, dirs))})
    H = jg.hessian(m.y, ws)
    for i in range(len(ws)):
        want = sum(
            np.tensordot(ev(H[i][j], env), dirs[j], axes=dirs[j].ndim) for j in range(len(ws))
        )
        assert_close(hv[i], want, rtol=1e-12, atol=1e-13)


# ----------------------------------------------------------------------------- jacobian, hessian


def _vector_function():
    """``R^4 -> R^2`` and ``R^2 -> R^4`` test maps plus their inputs."""
    x4 = jg.vector("jx4", 4)
    y2 = jg.stack([jg.sin(x4[0]) * x4[1] + x4[2] ** 2, jg.exp(x4[3] - x4[0]) * jg.tanh(x4[2])])
    x2 = jg.vector("jx2", 2)
    y4 = jg.concatenate([x2 * x2[::-1], jg.log1p(x2**2) * jg.cos(x2[0])])
    return (x4, y2), (x2, y4)


def _jacobian_by_unit_jvps(y, w, env):
    cols = []
    for idx in np.ndindex(*w.shape):
        e = np.zeros(w.shape)
        e[idx] = 1.0
        cols.append(ev(jg.jvp(y, w, e), env))
    J = np.stack(cols, axis=-1)
    return J.reshape(y.shape + w.shape)


@pytest.mark.parametrize("which", ["reverse (wrt bigger)", "forward (wrt smaller)"])
def test_jacobian_equals_stacked_unit_jvps_and_fd(which, rng):
    (x4, y2), (x2, y4) = _vector_function()
    x, y = (x4, y2) if which.startswith("reverse") else (x2, y4)
    x0 = rng.uniform(-1, 1, x.shape)
    J = jg.jacobian(y, x)
    assert J.shape == y.shape + x.shape
    got = ev(J, {x: x0})
    assert_close(got, _jacobian_by_unit_jvps(y, x, {x: x0}), rtol=1e-14, atol=1e-15)
    (want,) = fd_jacobian(lambda vs: ev(y, {x: vs[0]}), [x0])
    assert_close(got, want, rtol=1e-8, atol=1e-10)
    # grad of one output component is the matching row.
    for i in range(y.shape[0]):
        assert_close(ev(jg.grad(y[i], x), {x: x0}), got[i], rtol=1e-14, atol=1e-15)


def test_jacobian_tensor_shapes_and_list_wrt(rng):
    A = jg.matrix("jA", 2, 3)
    s = jg.scalar("js")
    y = jg.tanh(A * s).T  # (3, 2)
    a0, s0 = rng.standard_normal((2, 3)), 0.7
    env = {A: a0, s: s0}
    JA, Js = jg.jacobian(y, [A, s])
    assert JA.shape == (3, 2, 2, 3) and Js.shape == (3, 2)
    gotA, gots = ev([JA, Js], env)
    wantA, wants = fd_jacobian(lambda vs: ev(y, {A: vs[0], s: vs[1]}), [a0, np.array(s0)])
    assert_close(gotA, wantA, rtol=1e-8, atol=1e-10)
    assert_close(gots, wants, rtol=1e-8, atol=1e-10)
    assert_close(gotA, _jacobian_by_unit_jvps(y, A, env), rtol=1e-14, atol=1e-15)
    # A scalar output: the jacobian is the gradient.
    z = jg.sum(y**2)
    assert_close(ev(jg.jacobian(z, A), env), ev(jg.grad(z, A), env), rtol=1e-14, atol=0)


def test_hessian_of_rosenbrock_is_exact_symmetric_and_small(rng):
    m = make_rosenbrock(100)
    (x,) = m.wrt
    x0 = m.sample(rng)[x]
    H = jg.hessian(m.y, x)
    assert H.shape == (100, 100)
    assert jg.count_ops(H) < 20 * jg.count_ops(m.y)
    got = ev(H, {x: x0})
    # Hand-derived: block diagonal, blocks [[1200 a^2 - 400 b + 2, -400 a], [-400 a, 200]].
    want = np.zeros((100, 100))
    a, b = x0[0::2], x0[1::2]
    i = np.arange(0, 100, 2)
    want[i, i] = 1200 * a**2 - 400 * b + 2
    want[i, i + 1] = want[i + 1, i] = -400 * a
    want[i + 1, i + 1] = 200.0
    assert_close(got, want, rtol=1e-13, atol=1e-10)
    np.testing.assert_array_equal(got, got.T)


@pytest.mark.parametrize("name", ["chain", "logistic", "lennard_jones"])
def test_hessian_symmetric_and_fd_of_grad(name, rng):
    m = MODELS[name]()
    env = m.sample(rng)
    for w in m.wrt[:3]:
        H = jg.hessian(m.y, w)
        assert H.shape == w.shape + w.shape
        got = ev(H, env)
        g = jg.grad(m.y, w)
        (want,) = fd_jacobian(lambda vs, g=g, w=w: ev(g, {**env, w: vs[0]}), [env[w]])
        assert_close(got, want, rtol=1e-7, atol=1e-7 * np.max(np.abs(want)))
        flat = got.reshape(w.size, w.size)
        assert_close(flat, flat.T, rtol=1e-12, atol=1e-12 * np.max(np.abs(flat)))


def test_derivative_wrt_unused_var_is_zeros_of_its_shape():
    x = jg.vector("ux", 3)
    A = jg.matrix("uA", 2, 4)
    s = jg.scalar("us")
    y = jg.sum(jg.sin(x))
    vec = jg.sin(x)
    env = {x: np.array([0.1, 0.2, 0.3])}
    cases = [
        (jg.grad(y, A), (2, 4)),
        (jg.grad(y, [x, A])[1], (2, 4)),
        (jg.vjp(vec, A, np.ones(3)), (2, 4)),
        (jg.jvp(vec, A, np.ones((2, 4))), (3,)),
        (jg.hvp(y, A, np.ones((2, 4))), (2, 4)),
        (jg.jacobian(vec, A), (3, 2, 4)),
        (jg.hessian(y, A), (2, 4, 2, 4)),
        (jg.hessian(y, [x, A])[0][1], (3, 2, 4)),
        (jg.derivative(vec, s, order=3), (3,)),
        (jg.derivative(jg.exp(s) + 1.0, jg.scalar("other"), order=2), ()),
    ]
    for d, shape in cases:
        assert d.shape == shape
        got = ev(d, {**env, s: 1.0})
        assert got.shape == shape and not np.any(got)


def test_derivative_wrt_an_intermediate_node(rng):
    x = jg.vector("ix", 3)
    z = x * x
    y = jg.sum(jg.sin(z) + x * z)
    # Oracle: the same expression with z replaced by a fresh var, x held fixed.
    zz = jg.vector("iz", 3)
    y2 = jg.sum(jg.sin(zz) + x * zz)
    x0 = rng.uniform(-1, 1, 3)
    z0 = x0 * x0
    g = ev(jg.grad(y, z), {x: x0})
    assert_close(g, np.cos(z0) + x0, rtol=1e-14, atol=0)
    (want,) = fd_jacobian(lambda vs: ev(y2, {x: x0, zz: vs[0]}), [z0])
    assert_close(g, want, rtol=1e-8, atol=1e-10)
    # jvp seeded at the intermediate node, and the jacobian of a vector wrt it.
    t0 = rng.standard_normal(3)
    assert_close(ev(jg.jvp(y, z, t0), {x: x0}), np.dot(np.cos(z0) + x0, t0), rtol=1e-13, atol=0)
    J = ev(jg.jacobian(jg.sin(z) * x, z), {x: x0})
    assert_close(J, np.diag(np.cos(z0) * x0), rtol=1e-14, atol=0)
    # With both x and z: a wrt node stands for a perturbation added at that node, so
    # the derivative wrt x is still the total one (through z too), and wrt z the partial.
    gx, gz = ev(jg.grad(y, [x, z]), {x: x0})
    assert_close(gx, 2 * x0 * np.cos(z0) + 3 * z0, rtol=1e-14, atol=1e-15)
    assert_close(gz, g, rtol=0, atol=0)


# ----------------------------------------------------------------------------- graph sizes


@pytest.mark.parametrize("name", list(MODELS))
def test_graph_size_bounds(name):
    m = MODELS[name]()
    f = jg.count_ops(m.y)
    g = jg.count_ops(jg.grad(m.y, m.wrt))
    dirs = [jg.var(f"size_dir{i}", w.shape) for i, w in enumerate(m.wrt)]
    h = jg.count_ops(jg.hvp(m.y, m.wrt, dirs))
    assert f > 0
    assert g <= 4 * f + 10, (f, g)
    assert h <= 10 * f + 20, (f, h)


def test_rosenbrock_hessian_size_does_not_grow_with_n():
    sizes = {}
    for n in (10, 100, 400):
        m = make_rosenbrock(n)
        sizes[n] = (jg.count_ops(m.y), jg.count_ops(jg.hessian(m.y, m.wrt[0])))
    assert sizes[10] == sizes[100] == sizes[400]
    assert sizes[100][1] < 20 * sizes[100][0]


def test_gradient_graph_reuses_forward_nodes():
    x = jg.vector("rx", 3)
    t = jg.tanh(x)
    g = jg.grad(jg.sum(t), x)
    nodes = {id(n) for n in _toposort(g)}
    assert id(t) in nodes  # 1 - tanh(x)**2 shares the forward tanh(x)
    assert jg.count_ops(g) == jg.count_ops([g, t])


def _toposort(node):
    seen, stack, out = set(), [node], []
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        out.append(n)
        stack.extend(n.inputs)
    return out


# ----------------------------------------------------------------------------- errors


def test_grad_of_non_scalar_names_shape():
    A = jg.matrix("eA", 2, 3)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        jg.grad(jg.sin(A), A)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        jg.hvp(jg.sin(A), A, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        jg.hessian(jg.sin(A), A)


@pytest.mark.parametrize("bad", ["x", 3.0, np.ones(3), None, [jg.scalar("ok"), "x"]])
def test_wrt_not_a_node_is_type_error(bad):
    x = jg.vector("ex", 3)
    y = jg.sum(x)
    for call in (
        lambda: jg.grad(y, bad),
        lambda: jg.vjp(jg.sin(x), bad, np.ones(3)),
        lambda: jg.jvp(y, bad, 1.0),
        lambda: jg.jacobian(jg.sin(x), bad),
        lambda: jg.hessian(y, bad),
        lambda: jg.hvp(y, bad, np.ones(3)),
    ):
        with pytest.raises(TypeError):
            call()


def test_wrong_tangent_or_cotangent_shape_names_both_shapes():
    x = jg.vector("ex", 3)
    A = jg.matrix("eA", 2, 3)
    both = r"\(3,\).*\(2, 3\)|\(2, 3\).*\(3,\)"
    with pytest.raises(ValueError, match=both):
        jg.jvp(A @ x, x, np.ones((2, 3)))
    with pytest.raises(ValueError, match=both):
        jg.vjp(A * x, A, np.ones(3))
    with pytest.raises(ValueError, match=r"\(2,\).*\(5,\)|\(5,\).*\(2,\)"):
        jg.vjp(A @ x, x, jg.vector("eu", 5))
    with pytest.raises(ValueError, match=both):
        jg.hvp(jg.sum(A @ x), A, np.ones(3))
    with pytest.raises(ValueError, match=r"\(\).*\(3,\)|\(3,\).*\(\)"):
        jg.jvp(jg.sum(A @ x), [x, jg.scalar("es")], [np.ones(3), np.ones(3)])


def test_derivative_argument_errors():
    x = jg.scalar("dx")
    v = jg.vector("dv", 2)
    with pytest.raises(ValueError, match=r"\(2,\)"):
        jg.derivative(jg.sin(v), v)
    for order in (-1, -5):
        with pytest.raises(ValueError, match="order"):
            jg.derivative(jg.sin(x), x, order=order)
    with pytest.raises((ValueError, TypeError)):
        jg.derivative(jg.sin(x), x, order=1.5)
    with pytest.raises(TypeError):
        jg.derivative(jg.sin(x), 2.0)

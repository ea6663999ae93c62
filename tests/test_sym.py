"""SymPy round trip, textbook derivatives after level="sympy", LaTeX."""

import time

import numpy as np
import pytest
import sympy as sp

import jitgrad as jg
from jitgrad.printing import namespace
from jitgrad.sym import element_symbols

x, y, a = jg.scalars("x y a")
X, Y, A = sp.symbols("x y a")

# Names the printer uses that SymPy spells differently.
_SYMPY_NAMES = {
    "arcsin": sp.asin,
    "arccos": sp.acos,
    "arctan": sp.atan,
    "abs": sp.Abs,
    "sigmoid": lambda u: 1 / (1 + sp.exp(-u)),
    "softplus": lambda u: sp.log(1 + sp.exp(u)),
    "log1p": lambda u: sp.log(1 + u),
    "expm1": lambda u: sp.exp(u) - 1,
    "square": lambda u: u**2,
}


def parse_printed(text: str):
    """The SymPy expression of printed text (temporaries substituted)."""
    env = {"x": X, "y": Y, "a": A, **_SYMPY_NAMES}
    lines = text.split("\n")
    for line in lines[:-1]:
        name, rhs = line.split(" = ", 1)
        env[name] = sp.sympify(rhs, locals=env)
    return sp.sympify(lines[-1], locals=env)


def same(e1, e2) -> bool:
    """SymPy proves e1 == e2, or (where its simplify gives up) they agree numerically."""
    d = e1 - e2
    if sp.simplify(d) == 0 or sp.simplify(d.rewrite(sp.exp)) == 0:
        return True
    syms = sorted(d.free_symbols, key=str)
    f = sp.lambdify(syms, d, "mpmath")
    rng = np.random.default_rng(5)
    return all(abs(f(*rng.uniform(0.2, 0.9, len(syms)))) < 1e-12 for _ in range(5))


# ----------------------------------------------------------------------------- to_sympy


def test_to_sympy_scalar():
    e = jg.to_sympy(x**2 * jg.sin(y) / 2.0 + jg.exp(-x))
    assert e == X**2 * sp.sin(Y) / 2 + sp.exp(-X)
    assert jg.to_sympy(jg.const(0.5) * x) == X / 2  # exact numbers where the float is
    assert jg.to_sympy(x * np.pi) == sp.pi * X
    assert jg.to_sympy(x * 0.1) == X / 10  # the double nearest 1/10 reads as 1/10
    assert jg.to_sympy(x * 0.123456789).args[0] == sp.Float(0.123456789)


def test_to_sympy_tensor_and_symbols():
    v = jg.vector("v", 3)
    W = jg.matrix("W", 2, 3)
    e = jg.to_sympy(W @ v)
    assert isinstance(e, sp.NDimArray) and e.shape == (2,)
    v0, v1, v2 = sp.symbols("v_0 v_1 v_2")
    assert (
        sp.expand(
            e[1] - (sp.Symbol("W_1_0") * v0 + sp.Symbol("W_1_1") * v1 + sp.Symbol("W_1_2") * v2)
        )
        == 0
    )
    s = jg.to_sympy(jg.sum(jg.sin(v)) + jg.max(v) + jg.logsumexp(v))
    assert s.has(sp.Max) and s.has(sp.log)
    H = jg.to_sympy(jg.hessian(v[0] ** 2 * jg.sin(v[1]), v))
    assert H.shape == (3, 3) and sp.simplify(H[0, 1] - 2 * v0 * sp.cos(v1)) == 0


def test_to_sympy_limits():
    big = jg.vector("big", 1000)
    with pytest.raises(ValueError, match="1000 elements, more than max_elements=256"):
        jg.to_sympy(jg.sum(big))
    assert jg.to_sympy(jg.sum(big), max_elements=1000).func == sp.Add
    with pytest.raises(ValueError, match="two different vars are named 'x'"):
        jg.to_sympy(x + jg.sum(jg.vector("x", 2)))


def test_to_sympy_where_and_comparisons():
    e = jg.to_sympy(jg.where(x > y, x, -y))
    assert isinstance(e, sp.Piecewise)
    back = jg.from_sympy(e, {X: x, Y: y})
    for xv, yv in ((1.0, 0.5), (0.2, 0.5)):
        assert jg.evaluate(back, {x: xv, y: yv}) == (xv if xv > yv else -yv)


# ----------------------------------------------------------------------------- from_sympy

_FROM = [
    sp.exp(X) + sp.log(X),
    sp.sin(X) * sp.cos(Y) - sp.tan(X * Y),
    sp.asin(X / 3) + sp.acos(X / 3) * sp.atan(Y),
    sp.sinh(X) + sp.cosh(Y) * sp.tanh(X),
    sp.Abs(X - Y) * sp.sign(X - 2 * Y),
    sp.Max(X, Y, 1) - sp.Min(X, 2 * Y),
    sp.sqrt(X**2 + Y**2) + 1 / sp.sqrt(X),
    X ** sp.Rational(3, 2) + X ** sp.Rational(-1, 3),
    X**Y + Y**-2 + sp.pi * sp.E,
    sp.log(1 + X**2) + sp.log(1 + sp.exp(Y)) + sp.exp(X) - 1,
    1 / (1 + sp.exp(-X)),
    sp.cot(X) + sp.sec(Y) + sp.csc(X + Y),
    sp.Piecewise((X, X > Y), (Y**2, X > 0), (0, True)),
    -(X**2) * sp.sin(Y) / 3,
]


@pytest.mark.parametrize("expr", _FROM, ids=str)
def test_from_sympy_values(expr, rng):
    node = jg.from_sympy(expr, {X: x, Y: y})
    f = sp.lambdify((X, Y), expr, "numpy")
    for _ in range(3):
        xv, yv = rng.uniform(0.2, 0.9, 2)
        np.testing.assert_allclose(jg.evaluate(node, {x: xv, y: yv}), f(xv, yv), rtol=1e-12)


def test_from_sympy_recognises_ops():
    assert str(jg.from_sympy(sp.log(1 + sp.exp(X)))) == "softplus(x)"
    assert str(jg.from_sympy(sp.log(1 + X))) == "log1p(x)"
    assert str(jg.from_sympy(sp.exp(X) - 1)) == "expm1(x)"
    assert str(jg.from_sympy(1 / (1 + sp.exp(-X)))) == "sigmoid(x)"
    assert str(jg.from_sympy(2 * X * sp.sin(Y))) == "2*x*sin(y)"
    assert str(jg.from_sympy(-(X**2) * sp.sin(Y))) == "-x**2*sin(y)"


def test_from_sympy_refuses_unknown_functions():
    for expr, name in [
        (sp.gamma(X), "gamma"),
        (sp.erf(X), "erf"),
        (sp.atan2(Y, X), "atan2"),
        (sp.floor(X), "floor"),
        (sp.Heaviside(X), "Heaviside"),
    ]:
        with pytest.raises(ValueError, match=f"'{name}' has no jitgrad op"):
            jg.from_sympy(expr)
    with pytest.raises(ValueError, match="not a real number"):
        jg.from_sympy(X + sp.I)
    with pytest.raises(ValueError, match="Piecewise"):
        jg.from_sympy(sp.Piecewise((X, X > 0)))
    with pytest.raises(TypeError, match="string"):
        jg.from_sympy("__import__('os')")


def test_from_sympy_mapping_and_dtype():
    z = jg.vector("z", 3, dtype="float32")
    n = jg.from_sympy(sp.sin(X) * 2 + 1, {"x": z})
    assert n.shape == (3,) and n.dtype == np.float32
    c = jg.from_sympy(sp.Integer(3), dtype="float32")
    assert c.dtype == np.float32 and jg.evaluate(c, {}) == 3.0
    free = jg.from_sympy(X + Y)  # symbols not mapped become scalar vars of their names
    assert jg.evaluate(free, {x: 1.0, y: 2.0}) == 3.0


def test_from_sympy_matrix():
    m = jg.from_sympy(sp.Matrix([[X, X * Y], [sp.sin(Y), 2]]), {X: x, Y: y})
    assert m.shape == (2, 2)
    np.testing.assert_allclose(
        jg.evaluate(m, {x: 0.5, y: 2.0}), [[0.5, 1.0], [np.sin(2.0), 2.0]], rtol=1e-15
    )


def test_from_sympy_deep_expression():
    e = X
    for _ in range(100):  # (SymPy itself recurses on much deeper expressions)
        e = sp.sin(e) + 1
    n = jg.from_sympy(e)
    assert jg.count_ops(n) == 200


def test_round_trip(rng):
    v = jg.vector("v", 3)
    graphs = [
        x**2 * jg.sin(y) + jg.exp(-x) / (1.0 + y**2),
        jg.sqrt(jg.abs(x)) - jg.tanh(x * y) + jg.maximum(x, 0.5),
        jg.sigmoid(x) + jg.softplus(y) + jg.log1p(x**2) + jg.expm1(y),
        jg.sum(v * jg.sin(v)) + v[0] * x,
    ]
    for g in graphs:
        e = jg.to_sympy(g)
        assert same(jg.to_sympy(jg.from_sympy(e, {**element_symbols(v)})), e)
        back = jg.from_sympy(e, {X: x, Y: y, **element_symbols(v)})
        env = {x: 0.7, y: -0.4, v: rng.uniform(-1, 1, 3)}
        np.testing.assert_allclose(jg.evaluate(back, env), jg.evaluate(g, env), rtol=1e-12)
    # A tensor round trip through a sympy.Array.
    t = jg.sin(v) * 2.0
    arr = jg.to_sympy(t)
    back = jg.from_sympy(arr, element_symbols(v))
    val = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(jg.evaluate(back, {v: val}), 2 * np.sin(val), rtol=1e-15)


# ----------------------------------------------------------------------------- textbook derivatives

TEXTBOOK = [
    # (jitgrad f, sympy f, exact printed derivative or None)
    (lambda: x**2 * jg.sin(y), X**2 * sp.sin(Y), "2*x*sin(y)"),
    (lambda: x**3, X**3, "3*x**2"),
    (lambda: jg.sin(x) * jg.cos(x), sp.sin(X) * sp.cos(X), "cos(2*x)"),
    (lambda: jg.exp(x) * jg.sin(x), sp.exp(X) * sp.sin(X), "(sin(x) + cos(x))*exp(x)"),
    (lambda: jg.log(x**2 + 1.0), sp.log(X**2 + 1), "2*x/(x**2 + 1)"),
    (lambda: jg.tanh(x), sp.tanh(X), None),
    (lambda: jg.sqrt(x**2 + y**2), sp.sqrt(X**2 + Y**2), "x/sqrt(x**2 + y**2)"),
    (lambda: x * jg.exp(-(x**2)), X * sp.exp(-(X**2)), None),
    (lambda: jg.arctan(x / y), sp.atan(X / Y), None),
    (lambda: jg.sin(x) / x, sp.sin(X) / X, None),
    (lambda: jg.log(jg.sin(x)), sp.log(sp.sin(X)), "1/tan(x)"),
    (lambda: jg.exp(a * x), sp.exp(A * X), "a*exp(a*x)"),
    (lambda: x * jg.log(x) - x, X * sp.log(X) - X, "log(x)"),
    (lambda: 1.0 / (1.0 + x**2), 1 / (1 + X**2), "-2*x/(x**2 + 1)**2"),
    (lambda: jg.sin(x) ** 2, sp.sin(X) ** 2, "sin(2*x)"),
    (lambda: a * x**2 + y * x + 3.0, A * X**2 + Y * X + 3, None),
    (lambda: jg.cosh(x) ** 2 - jg.sinh(x) ** 2, sp.cosh(X) ** 2 - sp.sinh(X) ** 2, "0"),
    (lambda: jg.sigmoid(x), 1 / (1 + sp.exp(-X)), None),
    (lambda: jg.sin(x**2), sp.sin(X**2), "2*x*cos(x**2)"),
]


@pytest.mark.parametrize("case", TEXTBOOK, ids=lambda c: str(c[1]))
def test_textbook_first_derivative(case):
    f, F, text = case
    g = jg.simplify(jg.grad(f(), x), level="sympy")
    want = sp.simplify(sp.diff(F, X))
    printed = str(g)
    assert same(parse_printed(printed), want), printed
    assert same(jg.to_sympy(g), want)
    assert jg.count_ops(g) <= sp.count_ops(want), (printed, want)
    if text is not None:
        assert printed == text


def test_issue_example():
    assert str(jg.simplify(jg.grad(x**2 * jg.sin(y), x), level="sympy")) == "2*x*sin(y)"


def test_small_hessian_prints_as_matrix():
    v = jg.vector("v", 2)
    H = jg.simplify(jg.hessian(v[0] ** 2 * jg.sin(v[1]), v), level="sympy")
    text = str(H)
    assert text.split("\n")[-1].startswith("array([[")
    assert "index_put" not in text
    val = np.array([0.7, 1.3])
    ns = {**namespace(), "v": val}
    lines = text.split("\n")
    for line in lines[:-1]:
        exec(line, ns)
    want = [[2 * np.sin(1.3), 2 * 0.7 * np.cos(1.3)], [2 * 0.7 * np.cos(1.3), -0.49 * np.sin(1.3)]]
    np.testing.assert_allclose(eval(lines[-1], ns), want, rtol=1e-14)
    # Nested lists (hessian with a list of scalars) keep their structure.
    Hl = jg.simplify(jg.hessian(x**2 * jg.sin(y), [x, y]), level="sympy")
    assert [[str(h) for h in row] for row in Hl] == [
        ["2*sin(y)", "2*x*cos(y)"],
        ["2*x*cos(y)", "-x**2*sin(y)"],
    ]


def test_sympy_level_keeps_shape_dtype_and_size(rng):
    z = jg.vector("zz", 4, dtype="float32")
    f = jg.sum(jg.sin(z) * jg.cos(z))
    g = jg.grad(f, z)
    s = jg.simplify(g, level="sympy")
    assert s.shape == (4,) and s.dtype == np.float32
    assert jg.count_ops(s) <= jg.count_ops(jg.simplify(g))
    val = rng.uniform(-1, 1, 4).astype(np.float32)
    np.testing.assert_allclose(jg.evaluate(s, {z: val}), np.cos(2 * val), rtol=1e-5)


def test_sympy_level_timeout_zero_is_valid():
    f = jg.exp(jg.sin(x) * y) / (1.0 + x**2)
    g = jg.grad(f, x)
    s = jg.simplify(g, level="sympy", timeout=0.0)
    assert jg.count_ops(s) <= jg.count_ops(g)
    np.testing.assert_allclose(
        jg.evaluate(s, {x: 0.3, y: 0.8}), jg.evaluate(g, {x: 0.3, y: 0.8}), rtol=1e-12
    )


def test_sympy_level_budget_counts_from_the_start(monkeypatch):
    """The fast pass before SymPy spends the same budget: SymPy gets what is left."""
    import importlib

    simplify_mod = importlib.import_module("jitgrad.simplify")
    sym_mod = importlib.import_module("jitgrad.sym")
    fast = simplify_mod._fast
    calls = []

    def slow_fast(outs, *rest):
        calls.append("fast")
        if len(calls) == 1:
            time.sleep(0.4)
        return fast(outs, *rest)

    def record(outs, timeout):
        calls.append(timeout)
        return outs

    monkeypatch.setattr(simplify_mod, "_fast", slow_fast)
    monkeypatch.setattr(sym_mod, "sympy_pass", record)
    g = jg.grad(jg.exp(jg.sin(x) * y), x)
    jg.simplify(g, level="sympy", timeout=1.0)
    assert calls[0] == "fast" and 0.0 < calls[1] <= 0.6
    calls.clear()
    jg.simplify(g, level="sympy", timeout=0.3)  # the fast pass used it all
    assert calls[1] == 0.0


def test_sympy_level_on_a_large_graph():
    """A 10 000-op graph: only bounded pieces go to SymPy; the result is valid."""
    z = x
    for k in range(2500):
        z = jg.sin(z) * (1.0 + 0.001 * k) + y
    assert jg.count_ops(z) > 7000
    s = jg.simplify(z, level="sympy", timeout=1.0)
    assert jg.count_ops(s) <= jg.count_ops(z)
    np.testing.assert_allclose(
        jg.evaluate(s, {x: 0.3, y: 0.1}), jg.evaluate(z, {x: 0.3, y: 0.1}), rtol=1e-10
    )


# ----------------------------------------------------------------------------- latex


def test_latex_small():
    assert jg.latex(x**2 * jg.sin(y)) == sp.latex(X**2 * sp.sin(Y))
    assert jg.latex(jg.arctan(x) / 2.0) == sp.latex(sp.atan(X) / 2)
    m = jg.latex(jg.stack([jg.stack([x, y]), jg.stack([y, x * 2.0])]))
    assert m.startswith("\\left[\\begin{matrix}")


def test_latex_large_uses_temporaries():
    z = x
    for _ in range(200):
        z = jg.sin(z) * z  # z used twice per level: the tree has 2**200 leaves
    text = jg.latex(z, name="f")
    assert text.startswith("\\begin{aligned}") and text.endswith("\\end{aligned}")
    assert "t_{1} &= " in text and "f &= " in text
    assert len(text) < 200 * 2 * 200


def test_to_sympy_and_latex_refuse_graphs_too_large_for_sympy_quickly():
    """A chain of 10^5 nodes and a flat sum of 10^5 terms: a clear ValueError
    within seconds, never a RecursionError (issue 16)."""
    x = jg.scalar("x_big")
    chain = x
    for _ in range(100_000):
        chain = jg.sin(chain)
    v = jg.vector("v_big", 100_000)
    wide = v[0]
    for i in range(1, 100_000):
        wide = wide + v[i]
    for node in (chain, wide):
        t = time.perf_counter()
        with pytest.raises(
            ValueError, match=r"to_sympy: the graph has \d+ operation nodes, more than max_ops=2000"
        ):
            jg.to_sympy(node, max_elements=100_000)
        with pytest.raises(ValueError, match="latex: the graph has"):
            jg.latex(node, max_elements=100_000)
        assert time.perf_counter() - t < 30
    small = x
    for _ in range(150):
        small = jg.sin(small)
    assert str(jg.to_sympy(small)).count("sin") == 150  # under the limits: converted, printable
    with pytest.raises(ValueError, match="max_depth=200"):
        jg.to_sympy(_deeper(small, 60))


def _deeper(n, k):
    for _ in range(k):
        n = jg.cos(n)
    return n

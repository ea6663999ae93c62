"""Printing: infix text, precedence, shared temporaries, and text that parses back."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optable import OP_CASES

import jitgrad as jg
from jitgrad.printing import namespace


def parse_back(text: str, values: dict):
    """Run printed text: every line but the last is ``name = expr``; eval the last."""
    ns = namespace()
    ns.update(values)
    lines = text.split("\n")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for line in lines[:-1]:
            exec(line, ns)
        return eval(lines[-1], ns)


def check_parse_back(node, values: dict, rtol=1e-12):
    """The printed text of ``node`` evaluates (with NumPy) to what evaluate() gives."""
    text = jg.pretty(node)
    want = jg.evaluate(node, values)
    got = parse_back(text, {v.p["name"]: np.asarray(a) for v, a in values.items()})
    got = np.asarray(got)
    assert got.shape == want.shape, text
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True, err_msg=text)
    return text


# ----------------------------------------------------------------------------- exact text


def test_basic_infix():
    x = jg.vector("x", 3)
    assert str(jg.sin(x) * x + x) == "sin(x)*x + x"
    assert jg.pretty(jg.sin(x) * x + x) == "sin(x)*x + x"
    assert str(x) == "x"
    assert str(jg.exp(-x) / 2.0) == "exp(-x)/2"
    assert str(x * 0.5 - 1.25) == "0.5*x - 1.25"  # constant factor first
    assert str(jg.sum(x)) == "sum(x)"
    assert str(jg.maximum(x, 0.0)) == "maximum(x, 0)"


@pytest.mark.parametrize(
    "build, text",
    [
        (lambda a, b, c: (a + b) * c, "(a + b)*c"),
        (lambda a, b, c: a + b * c, "a + b*c"),
        (lambda a, b, c: a - (b - c), "a - (b - c)"),
        (lambda a, b, c: (a - b) - c, "a - b - c"),
        (lambda a, b, c: a - (b + c), "a - (b + c)"),
        (lambda a, b, c: a / (b * c), "a/(b*c)"),
        (lambda a, b, c: (a / b) * c, "a/b*c"),
        (lambda a, b, c: a / (b / c), "a/(b/c)"),
        (lambda a, b, c: a * (b / c), "a*(b/c)"),
        (lambda a, b, c: -(a + b), "-(a + b)"),
        (lambda a, b, c: -(a * b), "-a*b"),  # the same float as (-a)*b
        (lambda a, b, c: (-a) * b, "-a*b"),
        (lambda a, b, c: a * -b, "a*-b"),
        (lambda a, b, c: a - (-b) * c, "a - -b*c"),
        (lambda a, b, c: (-a) ** 3, "(-a)**3"),
        (lambda a, b, c: (-a) ** b, "(-a)**b"),
        (lambda a, b, c: -(a**b), "-a**b"),
        (lambda a, b, c: -(a**2), "-a**2"),
        (lambda a, b, c: (a + b) ** 2, "(a + b)**2"),
        (lambda a, b, c: (-a) ** 2, "(-a)**2"),
        (lambda a, b, c: a ** (b**c), "a**b**c"),
        (lambda a, b, c: (a**b) ** c, "(a**b)**c"),
        (lambda a, b, c: a ** (-b), "a**-b"),
        (lambda a, b, c: a ** (b * c), "a**(b*c)"),
        (lambda a, b, c: (a * b) ** c, "(a*b)**c"),
        (lambda a, b, c: a**-2.0, "a**-2"),
        (lambda a, b, c: (-2.0) ** a, "(-2)**a"),
        (lambda a, b, c: a * -2.0, "-2*a"),
        (lambda a, b, c: (a + b) * -2.0, "-2*(a + b)"),
        (lambda a, b, c: a - -2.0, "a - -2"),
        (lambda a, b, c: jg.where(a + b > c, a, -c), "where(a + b > c, a, -c)"),
        (lambda a, b, c: jg.equal(a > b, b < c), "(a > b) == (b < c)"),
        (lambda a, b, c: jg.sin(a + b) ** c, "sin(a + b)**c"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_precedence(build, text):
    a, b, c = jg.scalars("a b c")
    node = build(a, b, c)
    assert str(node) == text
    values = {a: 1.3, b: 0.7, c: 1.9}
    # Python parses the text back to the same value.
    check_parse_back(node, values)
    ns = {**namespace(), "a": np.float64(1.3), "b": np.float64(0.7), "c": np.float64(1.9)}
    with np.errstate(invalid="ignore"):  # (-a)**b is nan, as in evaluate
        got = eval(text, ns)
    np.testing.assert_allclose(got, jg.evaluate(node, values), rtol=1e-14)


def test_shared_subexpression_printed_once():
    x = jg.vector("x", 3)
    s = jg.sin(x)
    assert str(s * s + s) == "t1 = sin(x)\nt1*t1 + t1"
    text = str(jg.exp(s + x) * (s + x) + s)
    lines = text.split("\n")
    assert lines[:-1] == ["t1 = sin(x)", "t2 = t1 + x"]
    assert lines[-1] == "exp(t2)*t2 + t1"
    assert sum(line.count("sin(") for line in lines) == 1


def test_temporaries_avoid_var_names():
    t1, x = jg.scalars("t1 x")
    s = jg.sin(x)
    text = str(s * s + t1)
    assert "t1 = " not in text
    check_parse_back(s * s + t1, {t1: 0.3, x: 0.4})


def test_list_printing():
    x = jg.vector("x", 3)
    s = jg.sin(x)
    text = jg.pretty([s * 2.0, jg.cos(x)])
    assert text.split("\n")[-1].startswith("[") and text.endswith("]")
    got = parse_back(text, {"x": np.arange(3.0)})
    np.testing.assert_allclose(got[0], np.sin(np.arange(3.0)) * 2.0)
    np.testing.assert_allclose(got[1], np.cos(np.arange(3.0)))


def test_constants_printed_in_full():
    x = jg.vector("x", 20)
    c = np.linspace(-1.0, 1.0, 20) ** 3
    text = check_parse_back(x * c, {x: np.ones(20)}, rtol=0)
    assert "..." not in text
    m = jg.matrix("m", 2, 2)
    check_parse_back(m + np.array([[1.0, 2.0], [3.0, 4.5]]), {m: np.eye(2)}, rtol=0)
    t = jg.var("t", (2, 1, 2))
    check_parse_back(t * np.arange(4.0).reshape(2, 1, 2) + 0.1, {t: np.ones((2, 1, 2))}, rtol=0)
    check_parse_back(x + np.pi, {x: np.ones(20)}, rtol=0)
    check_parse_back(x * 1e-300 + 1e300, {x: np.ones(20)}, rtol=0)
    check_parse_back(jg.maximum(x, -np.inf), {x: np.ones(20)}, rtol=0)


def test_one_line_per_statement():
    A = jg.matrix("A", 3, 3)
    node = A @ np.arange(9.0).reshape(3, 3) + np.eye(3)
    for line in jg.pretty(node).split("\n")[:-1]:
        assert " = " in line, jg.pretty(node)


# ----------------------------------------------------------------------------- parse back


@pytest.mark.parametrize("case", OP_CASES, ids=str)
def test_parse_back_op_cases(case, rng):
    vs = case.vars()
    node = case.build(*vs)
    xs = case.sample(rng)
    check_parse_back(node, dict(zip(vs, xs)), rtol=max(case.rtol, 1e-12))


_A = jg.vector("a", 3)
_B = jg.scalar("b")
_VALUES = {_A: np.array([0.3, -1.1, 2.0]), _B: np.array(0.7)}
_CONSTS = [-2.0, -0.5, 0.1, 1.0, 2.0, 3.0, np.array([1.5, -0.25, 4.0])]

_UNARY = [jg.sin, jg.exp, jg.tanh, jg.negative, jg.square, jg.abs, jg.sqrt, jg.log, jg.sigmoid]
_BINARY = [
    jg.add,
    jg.subtract,
    jg.multiply,
    jg.divide,
    jg.power,
    jg.maximum,
    lambda x, y: jg.where(x > y, x, y * 2.0),
]


@st.composite
def graphs(draw):
    """A random graph over ``a`` (3,) and ``b`` (), reusing earlier nodes (sharing)."""
    pool = [_A, _B]
    for _ in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(["unary", "binary", "const", "reduce", "index"]))
        x = draw(st.sampled_from(pool))
        if kind == "unary":
            node = draw(st.sampled_from(_UNARY))(x)
        elif kind == "binary":
            node = draw(st.sampled_from(_BINARY))(x, draw(st.sampled_from(pool)))
        elif kind == "const":
            c = draw(st.sampled_from(range(len(_CONSTS))))
            f = draw(st.sampled_from(_BINARY))
            node = f(_CONSTS[c], x) if draw(st.booleans()) else f(x, _CONSTS[c])
        elif kind == "reduce":
            node = draw(st.sampled_from([jg.sum, jg.max, jg.logsumexp, jg.mean]))(x)
        else:
            node = x[::-1] if x.ndim else jg.stack([x, x * 2.0, x])
        pool.append(node)
    return draw(st.sampled_from(pool[2:]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_parse_back_random_graphs(node):
    check_parse_back(node, _VALUES)


# ----------------------------------------------------------------------------- size


def test_text_grows_linearly_chain():
    n = 10_000
    x = jg.scalar("x")
    y = x
    for i in range(n):
        y = jg.sin(y) if i % 2 else y * 1.5
    text = str(y)
    assert len(text) < 200 * n
    check_parse_back(y, {x: 0.3})


def test_text_grows_linearly_shared():
    n = 5_000
    x = jg.vector("x", 2)
    y = x
    for _ in range(n):
        y = jg.tanh(y) * y + x  # y used twice: a temporary per step
    text = str(y)
    assert len(text) < 200 * 3 * n
    assert text.count("\n") >= n - 1
    check_parse_back(y, {x: np.array([0.1, 0.2])})


def test_long_expression_broken_into_lines():
    x = jg.scalar("x")
    y = x
    for i in range(200):
        y = y + float(i + 1)
    text = str(y)
    assert max(len(line) for line in text.split("\n")) < 300
    check_parse_back(y, {x: 0.5})

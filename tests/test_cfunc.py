"""``k.cfunc`` and ``k.low_level_callable()``: scalar kernels as C callbacks for SciPy."""

import ctypes

import numpy as np
import pytest
from scipy import integrate

import jitgrad as jg

x, y, a = jg.scalars("x y a")


@pytest.fixture(scope="module")
def gauss():
    return jg.compile([x, a], jg.exp(-a * x**2), cache=False)


def _call(cf, *values, n=None):
    buf = (ctypes.c_double * max(1, len(values)))(*values)
    return cf.ctypes(len(values) if n is None else n, buf)


def test_values_equal_the_kernel(gauss):
    rng = np.random.default_rng(3)
    for xv, av in rng.uniform(-2, 2, (6, 2)):
        assert _call(gauss.cfunc, xv, av) == gauss(xv, av)
    assert gauss.cfunc is gauss.cfunc  # compiled once
    assert isinstance(gauss.cfunc.address, int) and gauss.cfunc.address


def test_wrong_count_gives_nan(gauss):
    assert np.isnan(_call(gauss.cfunc, 1.0, n=1))
    assert np.isnan(_call(gauss.cfunc, 1.0, 2.0, 3.0))


def test_quad_with_args(gauss):
    for av in (0.5, 2.0):
        value, _ = integrate.quad(gauss.low_level_callable(), -np.inf, np.inf, args=(av,))
        assert abs(value - np.sqrt(np.pi / av)) < 1e-10


def test_nquad_and_a_derivative():
    """A derivative graph as the integrand: the integral of d/dy sin(x*y) over the
    unit square, against SciPy integrating the same formula written in NumPy."""
    k = jg.compile([x, y], [jg.grad(jg.sin(x * y), y)], cache=False)  # a list: a 1-tuple
    got, _ = integrate.nquad(k.low_level_callable(), [[0, 1], [0, 1]])
    want, _ = integrate.nquad(lambda p, q: p * np.cos(p * q), [[0, 1], [0, 1]])
    assert abs(got - want) < 1e-12


def test_no_inputs():
    k = jg.compile([], jg.const(2.5), cache=False)
    assert k.cfunc.ctypes(0, None) == 2.5


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: jg.compile([jg.vector("v", 3)], jg.sum(jg.vector("v", 3))), "input 'v'"),
        (lambda: jg.compile([x, y], [x * y, x + y]), "2 outputs"),
        (lambda: jg.compile([x], jg.stack([x, x])), "its output is float64 of shape (2,)"),
        (lambda: jg.compile([jg.scalar("s", "float32")], jg.scalar("s", "float32") * 2), "float32"),
        (lambda: jg.compile([x, y], x * y, batch=True), "batch kernel"),
    ],
    ids=["vector-input", "two-outputs", "vector-output", "float32", "batch"],
)
def test_refusals(make, words):
    k = make()
    with pytest.raises(ValueError, match="cfunc: a C callback") as e:
        _ = k.cfunc
    assert words in str(e.value)

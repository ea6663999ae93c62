"""jitgrad.scipy.objective: values against jg.evaluate, fixed parameters of any
shape (0-d included), SciPy's trust-ncg reaching the known minimum, and refusals."""

from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.scipy import objective

scipy_optimize = pytest.importorskip("scipy.optimize")


@pytest.fixture(scope="module")
def rosen():
    """Rosenbrock with a 0-d parameter ``a`` (the curvature) and a vector shift."""
    x = jg.vector("x", 4)
    a = jg.scalar("a")
    s = jg.vector("s", 4)
    y = x - s
    f = jg.sum(a * (y[1:] - y[:-1] ** 2) ** 2 + (1.0 - y[:-1]) ** 2)
    params = {a: 100.0, s: np.array([0.0, 0.5, -0.5, 1.0])}
    return x, f, params, objective(f, x, params, cache=False)


def test_values_match_evaluate(rosen, rng):
    x, f, params, obj = rosen
    x0 = rng.normal(size=4)
    p = rng.normal(size=4)
    env = {x: x0, **params}
    assert obj.fun(x0) == pytest.approx(float(jg.evaluate(f, env)), rel=1e-12)
    np.testing.assert_allclose(obj.jac(x0), jg.evaluate(jg.grad(f, x), env), rtol=1e-12)
    want = jg.evaluate(jg.hvp(f, x, jg.const(p)), env)
    np.testing.assert_allclose(obj.hessp(x0, p), want, rtol=1e-12)
    fv, gv = obj.fun_and_jac(x0)
    assert fv == obj.fun(x0) and np.array_equal(gv, obj.jac(x0))


def test_trust_ncg_reaches_the_minimum(rosen):
    x, f, params, obj = rosen
    res = scipy_optimize.minimize(
        obj.fun, np.zeros(4), jac=obj.jac, hessp=obj.hessp, method="trust-ncg", tol=1e-12
    )
    assert res.success
    shift = params[list(params)[1]]
    np.testing.assert_allclose(res.x, 1.0 + shift, atol=1e-6)


def test_missing_param_named():
    x, c = jg.vector("x", 2), jg.scalar("c")
    with pytest.raises(ValueError, match="'c'"):
        objective(jg.sum(c * x * x), x, cache=False)


def test_param_of_wrong_shape_named():
    x, s = jg.vector("x", 2), jg.vector("s", 2)
    with pytest.raises(ValueError, match=r"params\['s'\]: expected shape \(2,\), got \(3,\)"):
        objective(jg.sum((x - s) ** 2), x, {s: np.zeros(3)}, cache=False)


def test_non_scalar_f_refused():
    x = jg.vector("x", 2)
    with pytest.raises(ValueError, match="scalar"):
        objective(x * 2.0, x)

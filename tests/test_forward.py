"""evaluate() against independent NumPy/SciPy oracles, its errors and its numerics."""

import warnings

import numpy as np
import pytest
from optable import OP_CASES

import jitgrad as jg


def _run(case, xs):
    vs = case.vars()
    node = case.build(*vs)
    return node, jg.evaluate(node, dict(zip(vs, xs)))


@pytest.mark.parametrize("case", OP_CASES, ids=str)
def test_evaluate_matches_oracle(case, rng):
    xs = case.sample(rng)
    node, got = _run(case, xs)
    want = np.asarray(case.ref(*(x.copy() for x in xs)))
    assert isinstance(got, np.ndarray)
    assert got.shape == want.shape == node.shape
    assert got.dtype == want.dtype == node.dtype
    if case.exact:
        np.testing.assert_array_equal(got, want, strict=True)
    else:
        # Inputs are O(1), so an absolute error of rtol is as strict as a relative one.
        np.testing.assert_allclose(got, want, rtol=case.rtol, atol=case.rtol)


@pytest.mark.parametrize("case", OP_CASES, ids=str)
def test_evaluate_does_not_modify_inputs(case, rng):
    xs = case.sample(rng)
    copies = [x.copy() for x in xs]
    _run(case, xs)
    for x, c in zip(xs, copies):
        np.testing.assert_array_equal(x, c)


# ----------------------------------------------------------------------------- errors


def test_missing_var_names_it():
    x, y = jg.vector("x", 3), jg.vector("why", 3)
    with pytest.raises(ValueError, match="'why'"):
        jg.evaluate(x + y, {x: np.zeros(3)})


def test_wrong_shape_names_var_and_shapes():
    x = jg.vector("x", 3)
    with pytest.raises(ValueError) as e:
        jg.evaluate(jg.sin(x), {x: np.zeros(4)})
    msg = str(e.value)
    assert "'x'" in msg and "(3,)" in msg and "(4,)" in msg


def test_wrong_shape_0d():
    s = jg.scalar("s")
    with pytest.raises(ValueError, match=r"\(\)"):
        jg.evaluate(s * 2.0, {s: np.zeros(1)})


@pytest.mark.parametrize("key", ["x", 0, None], ids=repr)
def test_non_node_key_is_type_error(key):
    x = jg.vector("x", 3)
    with pytest.raises(TypeError):
        jg.evaluate(x * 2.0, {x: np.zeros(3), key: np.zeros(3)})


def test_non_var_node_key_is_type_error():
    x = jg.vector("x", 3)
    with pytest.raises(TypeError):
        jg.evaluate(x * 2.0, {x + 1.0: np.zeros(3)})


def test_non_numeric_value_is_type_error():
    x = jg.vector("x", 2)
    with pytest.raises(TypeError):
        jg.evaluate(x * 2.0, {x: np.array(["a", "b"])})


def test_unused_vars_are_ignored():
    x, y = jg.vector("x", 3), jg.matrix("unused", 2, 2)
    got = jg.evaluate(x * 2.0, {x: np.arange(3.0), y: np.ones((2, 2))})
    np.testing.assert_array_equal(got, [0.0, 2.0, 4.0])


def test_int_arrays_and_python_numbers_accepted():
    x, s = jg.vector("x", 3), jg.scalar("s")
    got = jg.evaluate(x * s, {x: np.array([1, 2, 3]), s: 2.5})
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [2.5, 5.0, 7.5])
    got = jg.evaluate(s + 1.0, {s: 3})
    assert got.shape == () and got.dtype == np.float64 and got == 4.0
    got = jg.evaluate(x + 0.5, {x: [1.0, 2.0, 3.0]})
    np.testing.assert_array_equal(got, [1.5, 2.5, 3.5])


def test_values_converted_to_var_dtype():
    x32 = jg.vector("x", 3, dtype="float32")
    got = jg.evaluate(x32 * 2.0, {x32: np.array([1.0, 2.0, 3.0])})
    assert got.dtype == np.float32
    got = jg.evaluate(jg.sum(x32), {x32: np.array([1, 2, 3])})
    assert got.dtype == np.float32 and got == 6.0


def test_list_outputs_give_list():
    x = jg.vector("x", 2)
    outs = jg.evaluate([x + 1.0, jg.sum(x), x], {x: np.array([1.0, 2.0])})
    assert isinstance(outs, list) and len(outs) == 3
    np.testing.assert_array_equal(outs[0], [2.0, 3.0])
    assert outs[1] == 3.0 and outs[1].shape == ()
    np.testing.assert_array_equal(outs[2], [1.0, 2.0])
    outs = jg.evaluate((x * 2.0,), {x: np.array([1.0, 2.0])})
    assert isinstance(outs, list) and len(outs) == 1


def test_shared_output_evaluated_once_per_position():
    x = jg.vector("x", 2)
    s = jg.sin(x)
    a, b = jg.evaluate([s, s * s], {x: np.array([0.5, 1.0])})
    np.testing.assert_array_equal(a, np.sin([0.5, 1.0]))
    np.testing.assert_array_equal(b, np.sin([0.5, 1.0]) ** 2)


def test_constant_output():
    c = jg.const([1.0, 2.0])
    np.testing.assert_array_equal(jg.evaluate(c, {}), [1.0, 2.0])
    np.testing.assert_array_equal(jg.evaluate(c + 1.0, {}), [2.0, 3.0])


def test_bad_outputs_type_error():
    x = jg.scalar("x")
    with pytest.raises(TypeError):
        jg.evaluate(1.0, {x: 1.0})
    with pytest.raises(TypeError):
        jg.evaluate([x, 1.0], {x: 1.0})


# ----------------------------------------------------------------------------- numerics


def _eval1(f, value):
    x = jg.var("x", np.shape(value))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return jg.evaluate(f(x), {x: np.asarray(value, dtype=np.float64)})


def test_logsumexp_large_values():
    got = _eval1(jg.logsumexp, [1000.0, 1000.0])
    np.testing.assert_allclose(got, 1000.0 + np.log(2.0), rtol=1e-15)
    got = _eval1(lambda x: jg.logsumexp(x, axis=1), [[-1000.0, -1000.0], [800.0, 0.0]])
    np.testing.assert_allclose(got, [-1000.0 + np.log(2.0), 800.0], rtol=1e-15)


def test_logsumexp_infinities():
    assert _eval1(jg.logsumexp, [-np.inf, -np.inf]) == -np.inf
    assert _eval1(jg.logsumexp, [np.inf, 1.0]) == np.inf
    assert _eval1(jg.logsumexp, [-np.inf, 2.0]) == 2.0


def test_sigmoid_extremes():
    assert _eval1(jg.sigmoid, -800.0) == 0.0
    assert _eval1(jg.sigmoid, 800.0) == 1.0
    assert _eval1(jg.sigmoid, 0.0) == 0.5
    np.testing.assert_allclose(_eval1(jg.sigmoid, -700.0), np.exp(-700.0), rtol=1e-12)


def test_softplus_extremes():
    assert _eval1(jg.softplus, 800.0) == 800.0
    # e^-700 is representable: the result is that tiny positive number, not 0.
    tiny = _eval1(jg.softplus, -700.0)
    assert tiny > 0
    np.testing.assert_allclose(tiny, np.exp(-700.0), rtol=1e-12)
    np.testing.assert_allclose(_eval1(jg.softplus, -30.0), np.exp(-30.0), rtol=1e-12)
    # e^-800 underflows below the smallest subnormal: the correctly rounded result is +0.
    low = _eval1(jg.softplus, -800.0)
    assert low == 0.0 and not np.signbit(low)
    np.testing.assert_allclose(_eval1(jg.softplus, 0.0), np.log(2.0), rtol=1e-15)


def test_log1p_expm1_tiny():
    assert _eval1(jg.log1p, 1e-20) == 1e-20
    assert _eval1(jg.expm1, 1e-20) == 1e-20


def test_float32_extremes():
    x = jg.scalar("x", dtype="float32")
    got = jg.evaluate(
        [jg.sigmoid(x), jg.softplus(x), jg.logsumexp(jg.stack([x, x]))],
        {x: np.float32(80.0)},
    )
    assert got[0] == np.float32(1.0) and got[0].dtype == np.float32
    assert got[1] == np.float32(80.0)
    np.testing.assert_allclose(got[2], 80.0 + np.log(2.0), rtol=1e-6)


def test_nan_and_inf_propagate():
    x = jg.vector("x", 3)
    got = jg.evaluate(jg.exp(x) * 2.0, {x: np.array([np.nan, np.inf, -np.inf])})
    assert np.isnan(got[0]) and got[1] == np.inf and got[2] == 0.0
    got = jg.evaluate(jg.log(x), {x: np.array([-1.0, 0.0, 1.0])})
    assert np.isnan(got[0]) and got[1] == -np.inf and got[2] == 0.0


def test_mean_of_empty_axis_is_nan():
    x = jg.matrix("x", 0, 3)
    got = jg.evaluate(jg.mean(x, axis=0), {x: np.zeros((0, 3))})
    assert got.shape == (3,) and np.all(np.isnan(got))


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_max_min_of_empty_axis_is_error(reduce):
    x = jg.matrix("x", 0, 3)
    with pytest.raises(ValueError, match=reduce):
        getattr(jg, reduce)(x, axis=0)

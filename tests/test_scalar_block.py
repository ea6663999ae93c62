"""Long scalar runs compiled as one ``scalar_block`` (LLVM code written directly):
every elementwise op, float32, constants, several outputs, batches, fastmath, the
out-buffer form, against ``jg.evaluate``. (The disk-cache round trip of a block is
in test_codegen.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.codegen.emit import BLOCK_MIN
from jitgrad.ops.core import OPS
from jitgrad.ops.elementwise import cast


def every_op(a, b):
    """Scalar expressions of ``a`` and ``b`` using every elementwise op, each on
    its domain; returns ``(outputs, ops used)``."""
    u = 0.3 + 0.2 * jg.sigmoid(a)  # in (0.3, 0.5): arcsin, log, sqrt are defined
    v = jg.tanh(b)  # in (-1, 1)
    terms = [
        jg.sin(u),
        jg.cos(v),
        jg.tan(u),
        jg.arcsin(u),
        jg.arccos(v * 0.9),
        jg.arctan(b),
        jg.sinh(v),
        jg.cosh(v),
        jg.exp(v),
        jg.log(u),
        jg.log1p(v * 0.5),
        jg.expm1(v),
        jg.sqrt(u),
        jg.softplus(b),
        jg.abs(b),
        jg.sign(b),
        jg.maximum(a, b),
        jg.minimum(a, b),
        jg.where(a < b, u, v),
        jg.where(a <= b, u, -v),
        jg.where(a > b, u * v, v),
        jg.where(a >= b, u - v, v),
        jg.where(jg.equal(a, b), 2.0, 3.0) * u,
        u**3,
        u**-2,
        u**2.5,
        u**v,
        jg.square(v),
        u / v,
        -u,
        u - v,
        cast(a > b, a.dtype) * u,
    ]
    total = terms[0]
    for t in terms[1:]:
        total = total * 0.5 + t  # a chain, so one run holds them all
    return [total, terms[5], terms[-3]]


def test_every_elementwise_op_is_covered():
    a, b = jg.scalars("a b")
    outs = every_op(a, b)
    from jitgrad.graph import toposort

    used = {n.op.name for n in toposort(outs)}
    missing = {n for n, o in OPS.items() if o.kind == "elementwise"} - used
    assert not missing


@pytest.fixture(scope="module", params=["float64", "float32"])
def kernel(request):
    a = jg.var("a", (), request.param)
    b = jg.var("b", (), request.param)
    outs = every_op(a, b)
    assert jg.count_ops(outs) >= BLOCK_MIN
    k = jg.compile([a, b], outs, simplify=None, cache=False)
    kb = jg.compile([a, b], outs, simplify=None, cache=False, batch=True)
    return a, b, outs, k, kb


POINTS = [(0.7, -0.4), (-1.3, 2.0), (0.5, 0.5), (0.0, -0.0), (2.0, 0.0), (-0.25, 0.25)]


def test_block_in_source(kernel):
    *_, k, kb = kernel
    assert "scalar_block(" in k.source
    assert "= _block1((" in k.source


@pytest.mark.parametrize("point", POINTS)
def test_block_matches_evaluate(kernel, point):
    a, b, outs, k, _ = kernel
    dt = a.dtype
    av, bv = (dt.type(p) for p in point)
    want = jg.evaluate(outs, {a: av, b: bv})
    got = k(av, bv)
    rtol = 1e-5 if dt == np.float32 else 1e-13
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * 1e-2)


def test_block_batch_bit_for_bit(kernel):
    a, b, outs, k, kb = kernel
    dt = a.dtype
    A = np.array([p[0] for p in POINTS], dt)
    B = np.array([p[1] for p in POINTS], dt)
    got = kb(A, B)
    for j, (p, q) in enumerate(zip(A, B)):
        one = k(p, q)
        for g, o in zip(got, one):
            assert g[j].tobytes() == np.asarray(o, g.dtype).tobytes()


def test_block_into(kernel):
    a, b, outs, k, _ = kernel
    dt = a.dtype
    bufs = [np.empty(1, o.dtype) for o in outs]
    k.into(dt.type(0.7), dt.type(-0.4), out=bufs)
    for g, w in zip(bufs, k(dt.type(0.7), dt.type(-0.4))):
        assert g[0] == w


def test_short_runs_stay_plain_python():
    x = jg.scalar("x")
    k = jg.compile([x], [jg.sin(x) * x], cache=False)
    assert "scalar_block" not in k.source


def test_sin_nest_derivative_with_fastmath():
    """The issue's case (lower order): a k-th derivative of a sin nest, plain and
    fastmath, against evaluate."""
    x = jg.scalar("x")
    f = x
    for _ in range(5):
        f = jg.sin(f)
    d = jg.derivative(f, x, order=5)
    want = jg.evaluate(d, {x: 0.3})
    for fm in (False, True):
        k = jg.compile([x], [d], cache=False, fastmath=fm)
        assert "scalar_block(" in k.source
        np.testing.assert_allclose(k(0.3)[0], want, rtol=1e-12 if not fm else 1e-9)

"""``k.into`` with output buffers that overlap inputs or each other, on the
default (ahead-of-time) path and JIT: NumPy's ``out=`` semantics (the results
of separate buffers) for an output overlapping an input, ``ValueError`` for two
outputs in one buffer. Every op family: elementwise, matmul, transpose,
reversed and shifted slices, reductions, gathers, concatenation, derivatives.
"""

import numpy as np
import pytest

import jitgrad as jg

N = 4
A0 = np.arange(1.0, 1.0 + N * N).reshape(N, N) / 7.0
X0 = np.linspace(-1.0, 2.0, N)


def _families():
    A = jg.matrix("A_al", N, N)
    x = jg.vector("x_al", N)
    xs = jg.vector("xs_al", N + 1)
    f = jg.sum(jg.sin(x) * x**2)
    return {
        # name: (input var, output node, how the output buffer aliases the input)
        "elementwise": (x, jg.sin(x) * 2.0 + x, "same"),
        "matmul": (A, A @ A, "same"),
        "transpose": (A, A.T, "same"),
        "reversed": (x, x[::-1] * 2.0, "same"),
        "reversed_rows_plus": (A, A[::-1] + A, "same"),
        "gather": (A, A[np.array([2, 0, 3, 1])] * A, "same"),
        "reduction_into_first_row": (A, jg.sum(A, axis=0, keepdims=True), "first_row"),
        "shifted_concatenate": (xs, jg.concatenate([xs[1:], xs[:1]]) * xs, "same"),
        "shifted_overlap": (xs, xs[1:] - xs[:-1] ** 2, "shifted"),
        "gradient": (x, jg.grad(f, x), "same"),
        "hessian_rows": (A, jg.reshape(jg.hessian(jg.sum(jg.sin(A[0])), A[0]), (N, N)) + A, "same"),
    }


FAMILIES = _families()


def _buffers(how, value):
    """The input array and an output buffer aliasing it as ``how`` says."""
    if how == "same":
        a = value.copy()
        return a, a
    if how == "first_row":
        a = value.copy()
        return a, a[0:1]
    big = np.concatenate([value, [0.0]])  # shifted: out = a[1:] in the same buffer
    a = big[:-1]
    return a, big[1 : len(value)]


@pytest.fixture(scope="module", params=["default", "jit"])
def mode(request, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("JITGRAD_CACHE_DIR", str(tmp_path_factory.mktemp("alias")))
    mp.delenv("JITGRAD_AOT", raising=False)
    yield request.param
    mp.undo()


@pytest.mark.parametrize("name", list(FAMILIES))
def test_output_overlapping_an_input_gives_numpys_out_semantics(mode, name):
    v, y, how = FAMILIES[name]
    k = jg.compile([v], [y], aot=None if mode == "default" else False)
    value = A0 if v.ndim == 2 else (X0 if v.shape == (N,) else np.linspace(-1, 2, N + 1))
    want = jg.evaluate([y], {v: value})[0]
    a, o = _buffers(how, value)
    assert o.shape == y.shape and np.shares_memory(a, o)
    k.into(a, out=(o,))
    np.testing.assert_allclose(o, want, rtol=1e-13, atol=1e-13)
    if mode == "default":
        assert k.aot, k.stats["aot"]


def test_two_outputs_in_one_buffer_are_refused(mode):
    x = jg.vector("x_two", 3)
    k = jg.compile([x], [x * 2.0, jg.sin(x)], aot=None if mode == "default" else False)
    buf = np.empty(3)
    with pytest.raises(ValueError, match="outputs 0 and 1 share memory"):
        k.into(np.ones(3), out=(buf, buf))
    big = np.empty(4)
    with pytest.raises(ValueError, match="outputs 0 and 1 share memory"):
        k.into(np.ones(3), out=(big[:3], big[1:]))
    a, b = np.empty(3), np.empty(3)
    k.into(np.ones(3), out=(a, b))  # separate buffers: the fast path
    assert a.tolist() == [2.0] * 3 and np.allclose(b, np.sin(1.0))

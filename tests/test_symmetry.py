"""Pair arrays: the swap parity of the first two axes, and the rule ``sum_swap``
that turns the column sums of a (anti)symmetric pair array into its row sums.

The oracle is the array itself: wherever :func:`swap_parity` claims a parity,
the evaluated node must equal its transpose (negated for antisymmetric), bit
for bit for the exact ops, and to rounding for the library functions."""

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.graph import toposort
from jitgrad.rewrite.symmetry import swap_parity

N = 5
X = jg.matrix("X", N, 3)
A = jg.matrix("A", N, N)
q = jg.vector("q", N)
EYE = np.eye(N)
_r = np.random.default_rng(11).normal(size=(N, N))
SYM_C, ANTI_C, PLAIN_C = _r + _r.T, _r - _r.T, _r
D = X[:, None, :] - X[None, :, :]
R2 = jg.sum(D**2, axis=-1)

# (name, node, expected parity): 1 symmetric, -1 antisymmetric, 0 not known.
CASES = [
    ("difference", D, -1),
    ("difference_reversed", X[None, :, :] - X[:, None, :], -1),
    ("sum_of_views", X[:, None, :] + X[None, :, :], 1),
    ("product_of_views", X[:, None, :] * X[None, :, :], 1),
    ("maximum_of_views", jg.maximum(X[:, None, :], X[None, :, :]), 1),
    ("quotient_of_views", X[:, None, :] / X[None, :, :], 0),
    ("difference_with_implicit_row", X[:, None, :] - X, -1),
    ("vector_difference", q[:, None] - q[None, :], -1),
    ("vector_difference_implicit", q[:, None] - q, -1),
    ("reshape_views", jg.reshape(q, (N, 1)) - jg.reshape(q, (1, N)), -1),
    ("sliced_views", X[:, None, :2] - X[None, :, :2], -1),
    ("different_columns", X[:, None, :2] - X[None, :, 1:], 0),
    ("different_rows", X[1:, None, :] - X[None, :-1, :], 0),
    ("same_rows", X[1:, None, :] - X[None, 1:, :], -1),
    ("view_times_pair", X[:, None, :] * D, 0),
    ("squared_distance", R2, 1),
    ("sum_trailing", jg.sum(D, axis=-1), -1),
    ("max_of_antisymmetric", jg.max(D, axis=-1), 0),
    ("max_of_symmetric", jg.max(D**2, axis=-1), 1),
    ("sin", jg.sin(D), -1),
    ("tanh", jg.tanh(D), -1),
    ("cos", jg.cos(D), 1),
    ("abs", jg.abs(D), 1),
    ("exp_of_antisymmetric", jg.exp(D), 0),
    ("exp_of_symmetric", jg.exp(-R2), 1),
    ("odd_power", D**3, -1),
    ("negative_odd_power", D**-1, 0),
    ("negative_even_power", D**-2.0, 1),
    ("bool_constant", jg.where(jg.const(PLAIN_C > 0), R2, 0.0), 0),
    ("symmetric_bool_constant", jg.where(jg.const(SYM_C > 0), R2, 0.0), 1),
    ("even_power", D**2.0, 1),
    ("negative_power_of_symmetric", (R2 + EYE) ** -6, 1),
    ("fractional_power", jg.abs(D) ** 0.5, 1),
    ("product_signs", D * D, 1),
    ("scaled_by_symmetric", D * R2[:, :, None], -1),
    ("divided_by_symmetric", D / (R2 + EYE)[:, :, None], -1),
    ("divided_by_antisymmetric", R2[:, :, None] / D, 0),
    ("sum_of_mixed", D + R2[:, :, None], 0),
    ("mask", (1.0 - EYE) * R2, 1),
    ("antisymmetric_constant", ANTI_C * R2, -1),
    ("plain_constant", PLAIN_C * R2, 0),
    ("constants_product", jg.const(ANTI_C) * jg.const(ANTI_C.T), 1),
    ("matrix_variable", A, 0),
    ("matrix_plus_transpose", A + A.T, 1),
    ("matrix_minus_transpose", A - A.T, -1),
    ("transpose_minus_matrix", A.T - A, -1),
    ("gram", A @ A.T, 0),
    ("transposed_symmetric", (A + A.T).T, 1),
    ("transposed_pairs", jg.transpose(D, (1, 0, 2)), -1),
    ("component", D[:, :, 0], -1),
    ("block", D[:2, :2], -1),
    ("offset_block", D[1:, :-1], 0),
    ("reshape_trailing", jg.reshape(R2, (N, N, 1)), 1),
    ("broadcast_trailing", jg.broadcast_to(R2[:, :, None], (N, N, 3)), 1),
    ("broadcast_vector", jg.broadcast_to(q, (N, N)), 0),
    ("where", jg.where(R2 > 1.0, R2, 0.0), 1),
    ("where_antisymmetric", jg.where(R2 > 1.0, D[:, :, 0], 0.0), 0),
    ("float32_cast", jg.cast(D, np.float32), -1),
    ("bool_cast", jg.cast(D, bool), 1),
    ("comparison", D > 0.0, 0),
    ("vector", q, 0),
    ("not_square", X[:, None, :] - X[None, :2, :], 0),
]


# Library functions (NumPy's sin, tanh, pow) may round f(-x) and -f(x) an ulp apart.
_ROUNDED = ("sin", "tanh", "odd_power", "negative_even_power")


def _env(rng):
    return {X: rng.normal(size=(N, 3)), A: rng.normal(size=(N, N)), q: rng.normal(size=N)}


def _check_parity(node, p, env, exact):
    v = np.asarray(jg.evaluate(node, env))
    t = np.swapaxes(v, 0, 1)
    if exact:
        assert np.array_equal(t, p * v), node
    else:
        np.testing.assert_allclose(t, p * v, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("name, node, want", CASES, ids=[c[0] for c in CASES])
def test_parity(name, node, want, rng):
    assert swap_parity(node) == want
    if want:
        _check_parity(node, want, _env(rng), exact=name not in _ROUNDED)


def test_parity_claims_hold_on_random_graphs(rng):
    """Random expression trees over pair arrays: every parity claimed holds
    numerically, and the analysis finds each kind (so the check is not vacuous)."""
    leaves = [D[:, :, 0], R2, A - A.T, A + A.T, A, jg.const(SYM_C), jg.const(ANTI_C)]
    leaves.append(jg.const(PLAIN_C))
    unary = [jg.sin, jg.cos, jg.exp, jg.square, jg.negative, jg.tanh, lambda a: a**3, jg.abs]
    unary.append(lambda a: a.T)
    binary = [jg.add, jg.subtract, jg.multiply, jg.divide, jg.maximum]

    def tree(depth):
        if depth == 0 or rng.random() < 0.2:
            return leaves[rng.integers(len(leaves))]
        if rng.random() < 0.35:
            return unary[rng.integers(len(unary))](tree(depth - 1))
        return binary[rng.integers(len(binary))](tree(depth - 1), tree(depth - 1))

    env = _env(rng)
    seen = {-1: 0, 0: 0, 1: 0}
    for _ in range(300):
        node = tree(3)
        p = swap_parity(node)
        seen[p] += 1
        if p:
            with np.errstate(all="ignore"):
                v = np.asarray(jg.evaluate(node, env))
            t = np.swapaxes(v, 0, 1)
            np.testing.assert_allclose(t, p * v, rtol=1e-12, atol=1e-300, err_msg=str(node))
    assert min(seen.values()) >= 20, seen


def _sums(node):
    return [n for n in toposort([node]) if n.op.name == "sum"]


def _lj(n):
    Xn = jg.matrix("X", n, 3)
    eye = np.eye(n)
    r2 = jg.sum((Xn[:, None, :] - Xn[None, :, :]) ** 2, axis=-1) + eye
    E = 0.5 * jg.sum((1.0 - eye) * (r2**-6 - r2**-3))
    return Xn, E, -jg.grad(E, Xn)


def test_pair_gradient_becomes_one_row_sum(rng):
    """The gradient of a pair energy is row sums minus column sums of an
    antisymmetric array: simplified, it is one row sum (no column sum left)."""
    Xn, E, F = _lj(6)
    before = [s.p["axes"] for s in _sums(F) if s.shape == (6, 3)]
    assert sorted(before) == [(0,), (1,)]
    Fs = jg.simplify(F)
    assert [s.p["axes"] for s in _sums(Fs) if s.shape == (6, 3)] == [(1,)]
    assert jg.count_ops(Fs) < jg.count_ops(F)
    pos = 1.2 * np.arange(18.0).reshape(6, 3) ** 0.5 + rng.uniform(-0.05, 0.05, (6, 3))
    want = jg.evaluate(F, {Xn: pos})
    np.testing.assert_allclose(jg.evaluate(Fs, {Xn: pos}), want, rtol=1e-12)
    # Central differences of the energy: the force is right, not only unchanged.
    h, fd = 1e-6, np.zeros((6, 3))
    for i in range(6):
        for c in range(3):
            e = np.zeros((6, 3))
            e[i, c] = h
            fd[i, c] = -(jg.evaluate(E, {Xn: pos + e}) - jg.evaluate(E, {Xn: pos - e})) / (2 * h)
    np.testing.assert_allclose(jg.evaluate(Fs, {Xn: pos}), fd, rtol=1e-5, atol=1e-8)


def test_column_sum_of_symmetric_becomes_row_sum():
    node = jg.sum(jg.exp(-R2) * (1.0 - EYE), axis=0)
    out = jg.simplify(node)
    assert [s.p["axes"] for s in _sums(out) if s.inputs[0].shape == (N, N)] == [(1,)]
    env = _env(np.random.default_rng(3))
    assert np.array_equal(jg.evaluate(out, env), jg.evaluate(node, env))


@pytest.mark.parametrize(
    "node",
    [
        jg.sum(X[:, None, :] * D, axis=0),  # not (anti)symmetric
        jg.sum(jg.exp(D), axis=0),  # not (anti)symmetric
        jg.sum(D, axis=0),  # antisymmetric alone: the negation would grow the graph
        jg.sum(R2, axis=(0, 1)),  # both axes: nothing to swap
    ],
    ids=["not_symmetric", "exp", "antisymmetric_alone", "both_axes"],
)
def test_other_sums_keep_their_axes(node):
    axes = sorted(s.p["axes"] for s in _sums(node))
    assert sorted(s.p["axes"] for s in _sums(jg.simplify(node))) == axes


def test_compiled_pair_forces_match_evaluate(rng):
    """The kernel of the simplified pair gradient against evaluate of the
    original graph (float64: 1e-12 relative)."""
    Xn, E, F = _lj(7)
    k = jg.compile([Xn], [E, F], cache=False)
    pos = rng.uniform(-2.0, 2.0, (7, 3))
    e, f = k(pos)
    np.testing.assert_allclose(e, jg.evaluate(E, {Xn: pos}), rtol=1e-12)
    np.testing.assert_allclose(f, jg.evaluate(F, {Xn: pos}), rtol=1e-11)
    # No column scatter is left: the forces are accumulated per row.
    assert "axis=0" not in k.source

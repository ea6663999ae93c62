"""jitgrad's own exp/log/log1p/sin/cos (jitgrad.codegen.mathlib): within 1 ulp
of the exact value (mpmath at 300 bits is the oracle), libm's special values,
the same bits in a vectorised loop as alone and under fastmath, and loops over
them vectorise."""

import mpmath
import numba as nb
import numpy as np
import pytest

from jitgrad.codegen import mathlib as M
from jitgrad.codegen import nbmath

mpmath.mp.prec = 300
NAMES = ["exp", "log", "log1p", "sin", "cos"]
ORACLE = {
    "exp": mpmath.exp,
    "log": mpmath.log,
    "log1p": mpmath.log1p,
    "sin": mpmath.sin,
    "cos": mpmath.cos,
}
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
_LOOPS: dict = {}


def loop(name, fastmath=False):
    """A compiled loop ``o[i] = jg_<name>(x[i])`` (shared between tests)."""
    key = (name, bool(fastmath))
    if key not in _LOOPS:
        f = getattr(nbmath, f"jg_{name}")

        @nb.njit(error_model="numpy", fastmath=fastmath)
        def run(x, o):
            for i in range(x.shape[0]):
                o[i] = f(x[i])

        _LOOPS[key] = run
    return _LOOPS[key]


def apply(name, x, fastmath=False):
    x = np.ascontiguousarray(x, dtype=np.float64)
    o = np.empty_like(x)
    loop(name, fastmath)(x, o)
    return o


def _samples(name, rng):
    """Points across each function's whole domain: ordinary, tiny, huge,
    subnormal, near the overflow and underflow limits."""
    u = rng.uniform
    logu = 2.0 ** rng.uniform(-1074, 1023, 400)
    sets = {
        "exp": [u(-2, 2, 400), u(-745.1, 709.78, 400), u(-745.1, -708, 200), u(-1e-9, 1e-9, 100)],
        "log": [u(0, 4, 400), logu, u(0.9, 1.1, 300), u(1e-320, 1e-308, 100)],
        "log1p": [u(-0.999, 4, 400), u(-1e-9, 1e-9, 200), logu, u(-1, -0.5, 300)],
        "sin": [
            u(-4, 4, 400),
            u(-2e6, 2e6, 300),
            logu * rng.choice([-1, 1], 400),
            u(-1e-9, 1e-9, 100),
        ],
    }
    sets["cos"] = sets["sin"]
    return np.concatenate(sets[name])


def _ulp_error(name, xs, ys):
    """|y - f(x)| in units of the last place of the exact f(x), per point."""
    out = []
    for x, y in zip(xs, ys):
        exact = ORACLE[name](mpmath.mpf(float(x)))
        if exact == 0:
            out.append(0.0 if y == 0 else np.inf)
            continue
        e = max(int(mpmath.floor(mpmath.log(abs(exact), 2))), -1022)
        out.append(float(abs(mpmath.mpf(float(y)) - exact) / mpmath.mpf(2) ** (e - 52)))
    return np.array(out)


@pytest.mark.parametrize("name", NAMES)
def test_within_one_ulp_of_the_exact_value(name):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    xs = _samples(name, rng)
    err = _ulp_error(name, xs, apply(name, xs))
    worst = int(np.argmax(err))
    assert err.max() < 1.0, f"{name}({xs[worst]!r}): {err.max():.3f} ulp"


def test_sin_cos_at_the_hardest_argument_reduction():
    # The double closest to a multiple of pi/2 (|r| ~ 2**-61 relative): the
    # reduction must keep ~120 bits of x*2/pi to get r right.
    x = float(mpmath.mpf(6381956970095103) * mpmath.mpf(2) ** 797)
    for name in ("sin", "cos"):
        err = _ulp_error(name, [x, -x], apply(name, [x, -x]))
        assert err.max() < 1.0, (name, err)


@pytest.mark.parametrize("name", NAMES)
def test_agrees_with_numpy_to_one_ulp_on_many_points(name):
    rng = np.random.default_rng(1)
    xs = _samples(name, rng)
    xs = np.concatenate(
        [xs, rng.uniform(-3, 3, 100_000) if name != "log" else rng.uniform(0, 3, 100_000)]
    )
    if name == "log1p":
        xs = xs[xs > -1]
    got, want = apply(name, xs), getattr(np, name)(xs)
    assert np.abs(got.view(np.int64) - want.view(np.int64)).max() <= 1


SPECIAL = np.array(
    [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, -1.5, 5e-324, -5e-324, 2.0**-1022,
     1.7976931348623157e308, -1.7976931348623157e308, 709.78, 709.79, -745.13, -745.14,
     -746.0, 2.0**20, -(2.0**20), np.pi, np.pi / 2]
)  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_special_values_as_numpy(name):
    with np.errstate(all="ignore"):
        want = getattr(np, name)(SPECIAL)
    got = apply(name, SPECIAL)
    for x, g, w in zip(SPECIAL, got, want):
        if np.isnan(w) or np.isnan(g) or np.isinf(w) or w == 0:
            assert g.hex() == w.hex() or (np.isnan(g) and np.isnan(w)), (name, x, g, w)
        else:
            assert abs(int(g.view(np.int64)) - int(w.view(np.int64))) <= 1, (name, x, g, w)


@pytest.mark.parametrize("name", NAMES)
def test_same_bits_alone_in_a_vector_loop_and_under_fastmath(name):
    @nb.njit(error_model="numpy")
    def one(x):
        return getattr_jg(x)

    getattr_jg = getattr(nbmath, f"jg_{name}")
    rng = np.random.default_rng(3)
    xs = np.concatenate([_samples(name, rng)[:300], SPECIAL])
    looped = apply(name, xs)
    fast = apply(name, xs, fastmath=FASTMATH)
    alone = np.array([one(x) for x in xs])
    assert looped.tobytes() == alone.tobytes()
    assert fast.tobytes() == looped.tobytes()
    # every flag, nnan and ninf too: the functions' own instructions keep theirs
    assert apply(name, xs, fastmath=True).tobytes() == looped.tobytes()


def test_loops_vectorise():
    # the point of the module: no libm call in the loop body
    x = np.linspace(0.1, 1, 64)
    apply("sin", x)
    ir = loop("sin").inspect_llvm(loop("sin").signatures[0])
    assert "x double>" in ir  # LLVM vector type: <2 x double>, <4 x double> ...
    assert "@sin(" not in ir and "llvm.sin" not in ir


@mpmath.workprec(1400)
def test_constants_are_the_digits_of_pi_and_ln2():
    assert int(M._TWO_OVER_PI_HEX, 16) == int(
        mpmath.floor(2 / mpmath.pi * mpmath.mpf(2) ** M._TWO_OVER_PI_BITS)
    )
    assert M._LN2_INT == int(mpmath.floor(mpmath.log(2) * mpmath.mpf(2) ** 512))
    pio2 = mpmath.mpf(M.P1) + M.P2 + M.P3 + M.P4
    assert abs(pio2 - mpmath.pi / 2) < mpmath.mpf(2) ** -150
    for p in (M.P1, M.P2, M.P3):  # k*P exact for |k| < 2**20: 33 significant bits
        m, _ = mpmath.frexp(mpmath.mpf(p))
        assert (m * 2**33) == int(m * 2**33)
    assert abs(mpmath.mpf(M.LN2_HI) + M.LN2_LO - mpmath.log(2)) < mpmath.mpf(2) ** -100
    for j in (M.J_MIN, -1, 0, 1, 100, M.J_MAX):
        q = 4 * (j - M.J_MIN)
        got = sum(mpmath.mpf(v) for v in M.REMPI_TABLE[q : q + 4])
        want = mpmath.fmod(2 / mpmath.pi * mpmath.mpf(2) ** j, 4)
        assert abs(got - want) < mpmath.mpf(2) ** -200, j

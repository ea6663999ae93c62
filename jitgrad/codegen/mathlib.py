"""jitgrad's own float64 ``exp``, ``log``, ``log1p``, ``sin`` and ``cos``, written
as LLVM instructions.

libm's functions are calls: a loop that calls one cannot be vectorised (pip's
llvmlite has no vector math library), so a batch of ``sin(x*y) + exp(x)``
runs one point at a time. These versions are straight-line arithmetic on the
value's bits: loads from a constant table, ``fma`` and ``floor``, no call and
no branch that LLVM cannot turn into a select. A loop over them vectorises,
and a value computed in a vector lane is bit for bit the value computed alone:
every instruction is an IEEE operation that LLVM may not reassociate or
contract (even in a ``fastmath`` kernel, see ``_KEEP``). So a batch equals its
single calls exactly, as ``batch=True`` promises.

Accuracy: within 1 ulp of the exact result over the whole float64 range
(tests/test_mathlib.py measures it against mpmath; the largest error seen is
0.91 ulp, for exp), with libm's special values (``exp(-inf) = 0``,
``log(0) = -inf``, ``sin(inf) = nan``, signed zeros ...). Polynomials are
evaluated by Estrin's scheme, for a short dependency chain in scalar code.

The methods are the textbook ones:

``exp``   ``x = k ln2 + r`` with ``|r| <= ln2/2`` (ln2 in two parts, so ``k*LN2_HI``
          is exact); Taylor series of ``exp(r)`` to degree 14; ``2**k`` from the
          exponent bits, in two factors so that results in the subnormal range
          are rounded once.
``log``   ``x = 2**k (1 + f)`` with ``sqrt(2)/2 <= 1 + f < sqrt(2)``; with
          ``s = f/(2 + f)``, ``log(1 + f) = f - (f**2/2 - s (f**2/2 + R(s**2)))``
          where ``R`` is the odd part of ``2 atanh(s)`` past its first term (an
          exact identity; ``f`` and ``f**2/2`` carry the value, the series only a
          correction). ``log1p(x)`` is ``log(u)`` of ``u = 1 + x`` plus the part of
          ``x`` lost in rounding ``u``, ``(x - (u - 1))/u``.
``sin``   ``x = k pi/2 + r`` with ``|r| <= pi/4``, ``r`` as a pair of doubles;
``cos``   Taylor series of ``sin(r)`` and ``cos(r)``, picked and signed by
          ``k mod 4``. For ``|x| < 2**20``, pi/2 in four parts (the first three
          products with ``k`` exact); beyond, ``x (2/pi) mod 4`` from a table of
          the bits of 2/pi that matter at x's exponent, multiplied out exactly
          with ``fma`` (the Payne-Hanek method), so that ``sin(1e300)`` is as
          accurate as ``sin(1)``.

Each function is written once, as a code generator over an llvmlite
``IRBuilder`` (``emit(builder, x)``); :mod:`.nbmath` wraps them as Numba
intrinsics for the generated kernel modules, and :mod:`.scalar_block` and
:mod:`.direct` call them on their own builders.
"""

from __future__ import annotations

import math

import llvmlite.ir as ir

__all__ = ["EMIT", "exp", "log", "log1p", "sin", "cos"]

F64 = ir.DoubleType()
I64 = ir.IntType(64)

# 2/pi to 1280 bits after the point (tests check them against mpmath).
_TWO_OVER_PI_HEX = (
    "a2f9836e4e441529fc2757d1f534ddc0db6295993c439041fe5163abdebbc561"
    "b7246e3a424dd2e006492eea09d1921cfe1deb1cb129a73ee88235f52ebb4484"
    "e99c7026b45f7e413991d639835339f49c845f8bbdf9283b1ff897ffde05980f"
    "ef2f118b5a0a6d1f6d367ecf27cb09b74f463f669e5fea2d7527bac7ebe5f17b"
    "3d0739f78a5292ea6bfb5fb11f8d5d0856033046fc7b6babf0cfbc209af4361d"
)
_TWO_OVER_PI_BITS = 4 * len(_TWO_OVER_PI_HEX)


def _split(num: int, den_log2: int, parts: int, bits: int = 53) -> list[float]:
    """``num / 2**den_log2`` as ``parts`` doubles of ``bits`` significant bits
    each, every one the truncated leading bits of what the earlier ones left."""
    out = []
    for _ in range(parts):
        n = num.bit_length()
        if n == 0:
            out.append(0.0)
            continue
        shift = max(n - bits, 0)
        top = num >> shift
        out.append(math.ldexp(top, shift - den_log2))
        num -= top << shift
    return out


def _pi_over_2_int(bits: int) -> int:
    """floor(pi/2 * 2**bits), from 2/pi's bits by integer division (exact enough:
    the error is below 2**-(1280 - bits - 2))."""
    n = int(_TWO_OVER_PI_HEX, 16)
    return (1 << (_TWO_OVER_PI_BITS + bits)) // n


# pi/2 = P1 + P2 + P3 + P4: P1..P3 have 33 significant bits, so k*P1, k*P2 and
# k*P3 are exact for |k| < 2**20.
_PIO2_INT = _pi_over_2_int(250)
P1, P2, P3 = _split(_PIO2_INT, 250, 3, 33)
P4 = _split(_PIO2_INT - sum(int(math.ldexp(p, 250)) for p in (P1, P2, P3)), 250, 1)[0]
# pi/2 as a pair (for r = f * pi/2 in the large-argument reduction).
PIO2_HI, PIO2_LO = _split(_PIO2_INT, 250, 2)
TWO_OVER_PI = _split(int(_TWO_OVER_PI_HEX, 16), _TWO_OVER_PI_BITS, 1)[0]
SMALL_ARG = 2.0**20  # below: four-part pi/2; from here: the table

# The table: for x = m * 2**j (m a 53-bit integer), only (2/pi * 2**j) mod 4
# matters to x * 2/pi mod 4, since m is an integer. Four doubles per j cover
# 212 bits of it. j runs over the exponents of |x| >= 2**20 (and is clamped).
J_MIN, J_MAX = 20 - 52, 1023 - 52
_N = int(_TWO_OVER_PI_HEX, 16)
REMPI_TABLE = []
for _j in range(J_MIN, J_MAX + 1):
    _den = _TWO_OVER_PI_BITS - _j
    REMPI_TABLE += _split(_N % (1 << (_den + 2)), _den, 4)
del _j, _den, _N


# ln 2 * 2**512, truncated (tests check it against mpmath).
_LN2_INT = int(
    "b17217f7d1cf79abc9e3b39803f2f6af40f343267298b62d8a0d175b8baafa2b"
    "e7b876206debac98559552fb4afa1b10ed2eae35c138214427573b291169b825",
    16,
)
# ln2 = LN2_HI + LN2_LO, LN2_HI with 42 significant bits: k*LN2_HI is exact for |k| < 2**11.
LN2_HI = _split(_LN2_INT, 512, 1, 42)[0]
LN2_LO = _split(_LN2_INT - int(math.ldexp(LN2_HI, 512)), 512, 1)[0]
INV_LN2 = 1.4426950408889634  # 1/ln 2 rounded; k only needs to be near x/ln 2
SHIFT = 6755399441055744.0  # 1.5 * 2**52: v + SHIFT - SHIFT rounds v to an integer
SHIFT_BITS = 0x4338000000000000  # its bits (v + SHIFT's low bits are then v's integer)
EXP_COEFFS = [1.0 / math.factorial(i) for i in range(14, 1, -1)]  # 1/14! ... 1/2!
LOG_COEFFS = [2.0 / (2 * i + 1) for i in range(11, 0, -1)]  # 2/23 ... 2/3
SIN_COEFFS = [(-1.0) ** i / math.factorial(2 * i + 1) for i in range(8, 0, -1)]  # 1/17! .. -1/3!
COS_COEFFS = [(-1.0) ** i / math.factorial(2 * i) for i in range(9, 1, -1)]  # 1/18! .. 1/4!
SQRT_HALF_BITS = 0x3FE6A09E667F3BCD  # the bits of sqrt(2)/2


# Numba's fastmath pass gives every float instruction *without* flags the
# kernel's fast-math flags; ``reassoc`` would fold ``(v + SHIFT) - SHIFT`` to
# ``v`` and the error terms of two_sum to 0. ``afn`` (approximate *functions*)
# changes nothing about these instructions and keeps the pass away.
_KEEP = ("afn",)


class _Emitter:
    """Arithmetic on an IRBuilder, written like the formulas."""

    def __init__(self, b: ir.IRBuilder):
        self.b = b

    def c(self, v: float):
        return ir.Constant(F64, v)

    def i(self, v: int):
        return ir.Constant(I64, v)

    def add(self, x, y):
        return self.b.fadd(x, y, flags=_KEEP)

    def sub(self, x, y):
        return self.b.fsub(x, y, flags=_KEEP)

    def mul(self, x, y):
        return self.b.fmul(x, y, flags=_KEEP)

    def div(self, x, y):
        return self.b.fdiv(x, y, flags=_KEEP)

    def _intr(self, name, *args):
        fnty = ir.FunctionType(F64, [F64] * len(args))
        return self.b.call(self.b.module.declare_intrinsic(name, [F64], fnty), list(args))

    def fma(self, x, y, z):
        return self._intr("llvm.fma", x, y, z)

    def floor(self, x):
        return self._intr("llvm.floor", x)

    def fabs(self, x):
        # by its bits: a call would get the caller's fast-math flags (nnan ...)
        return self.from_bits(self.b.and_(self.bits(x), self.i((1 << 63) - 1)))

    def bits(self, x):
        return self.b.bitcast(x, I64)

    def from_bits(self, n):
        return self.b.bitcast(n, F64)

    def lt(self, x, y):
        return self.b.fcmp_ordered("<", x, y, flags=_KEEP)

    def eq(self, x, y):
        return self.b.fcmp_ordered("==", x, y, flags=_KEEP)

    def unordered_lt(self, x, y):
        """x < y or either is nan."""
        return self.b.fcmp_unordered("<", x, y, flags=_KEEP)

    def sel(self, cond, x, y):
        return self.b.select(cond, x, y)

    def poly(self, z, coeffs):
        """The polynomial with ``coeffs`` (highest degree first) at z, by Estrin's
        scheme: pairs ``a + b z``, then pairs of those with ``z**2``, ``z**4`` ...
        A dependency chain of about log2(degree) multiply-adds instead of Horner's
        degree many: these are latency-bound in scalar code."""
        terms = [self.c(a) for a in reversed(coeffs)]  # lowest degree first
        power = z
        while len(terms) > 1:
            pairs = [
                self.add(terms[q], self.mul(terms[q + 1], power))
                if q + 1 < len(terms)
                else terms[q]
                for q in range(0, len(terms), 2)
            ]
            terms = pairs
            if len(terms) > 1:
                power = self.mul(power, power)
        return terms[0]

    def two_sum(self, a, b):
        """s + e == a + b exactly, s the rounded sum."""
        s = self.add(a, b)
        bb = self.sub(s, a)
        e = self.add(self.sub(a, self.sub(s, bb)), self.sub(b, bb))
        return s, e

    def fast_two_sum(self, a, b):
        """As two_sum, for |a| >= |b|."""
        s = self.add(a, b)
        return s, self.sub(b, self.sub(s, a))

    def round_int(self, v):
        """v rounded to the nearest integer (ties to even), for |v| < 2**51,
        and that integer's low bits as an i64 (its two's complement)."""
        t = self.add(v, self.c(SHIFT))
        return self.sub(t, self.c(SHIFT)), self.b.sub(self.bits(t), self.i(SHIFT_BITS))


def exp(b: ir.IRBuilder, x):
    """exp(x) of a float64 value."""
    e = _Emitter(b)
    kf, k = e.round_int(e.mul(x, e.c(INV_LN2)))
    r = e.sub(e.sub(x, e.mul(kf, e.c(LN2_HI))), e.mul(kf, e.c(LN2_LO)))
    p = e.poly(r, EXP_COEFFS)
    y = e.add(e.c(1.0), e.add(r, e.mul(e.mul(r, r), p)))
    # 2**k as two factors 2**k1 * 2**k2, each a normal number for |k| <= 1100.
    k = b.select(b.icmp_signed(">", k, e.i(1100)), e.i(1100), k)
    k = b.select(b.icmp_signed("<", k, e.i(-1100)), e.i(-1100), k)
    k1 = b.ashr(k, e.i(1))
    k2 = b.sub(k, k1)
    for kk in (k1, k2):
        y = e.mul(y, e.from_bits(b.shl(b.add(kk, e.i(1023)), e.i(52))))
    y = e.sel(e.lt(e.c(709.782712893384), x), e.c(math.inf), y)
    y = e.sel(e.lt(x, e.c(-745.2)), e.c(0.0), y)
    return e.sel(e.b.fcmp_unordered("uno", x, x, flags=_KEEP), x, y)


def _log_core(e: _Emitter, u, k0, c):
    """log(u) + k0*ln2 + c for u > 0 normal and finite, k0 an exponent offset
    (float), c a correction much smaller than the result's ulp."""
    b = e.b
    ix = e.bits(u)
    k = b.ashr(b.sub(ix, e.i(SQRT_HALF_BITS)), e.i(52))
    m = e.from_bits(b.sub(ix, b.shl(k, e.i(52))))
    f = e.sub(m, e.c(1.0))
    s = e.div(f, e.add(e.c(2.0), f))
    z = e.mul(s, s)
    R = e.mul(z, e.poly(z, LOG_COEFFS))
    hfsq = e.mul(e.mul(e.c(0.5), f), f)
    kf = e.add(b.sitofp(k, F64), k0)
    low = e.add(e.mul(kf, e.c(LN2_LO)), c)
    inner = e.sub(hfsq, e.add(e.mul(s, e.add(hfsq, R)), low))
    return e.add(e.mul(kf, e.c(LN2_HI)), e.sub(f, inner))


def log(b: ir.IRBuilder, x):
    """log(x) of a float64 value."""
    e = _Emitter(b)
    sub = e.lt(x, e.c(2.0**-1022))  # subnormal (or zero/negative): scale up first
    u = e.sel(sub, e.mul(x, e.c(2.0**54)), x)
    y = _log_core(e, u, e.sel(sub, e.c(-54.0), e.c(0.0)), e.c(0.0))
    y = e.sel(e.eq(x, e.c(math.inf)), x, y)
    y = e.sel(e.eq(x, e.c(0.0)), e.c(-math.inf), y)
    return e.sel(e.unordered_lt(x, e.c(0.0)), e.c(math.nan), y)


def log1p(b: ir.IRBuilder, x):
    """log(1 + x) of a float64 value, accurate near 0."""
    e = _Emitter(b)
    u = e.add(e.c(1.0), x)
    c = e.div(e.sub(x, e.sub(u, e.c(1.0))), u)
    y = _log_core(e, u, e.c(0.0), c)
    # |x| < 2**-54: log1p(x) rounds to x (keeps -0.0 and subnormals exact).
    y = e.sel(e.lt(e.fabs(x), e.c(2.0**-54)), x, y)
    y = e.sel(e.eq(x, e.c(math.inf)), x, y)
    y = e.sel(e.eq(x, e.c(-1.0)), e.c(-math.inf), y)
    return e.sel(e.unordered_lt(x, e.c(-1.0)), e.c(math.nan), y)


def _table(b: ir.IRBuilder):
    mod = b.module
    name = "jitgrad_rempi_table"
    g = mod.globals.get(name)
    if g is None:
        ty = ir.ArrayType(F64, len(REMPI_TABLE))
        g = ir.GlobalVariable(mod, ty, name=name)
        g.initializer = ir.Constant(ty, [float(v) for v in REMPI_TABLE])
        g.global_constant = True
        g.linkage = "internal"
    return g


def _reduce_small(e: _Emitter, x):
    """(k, r_hi, r_lo) with x = k pi/2 + r_hi + r_lo, for |x| < 2**20."""
    kf, k = e.round_int(e.mul(x, e.c(TWO_OVER_PI)))
    a = e.sub(x, e.mul(kf, e.c(P1)))  # exact
    r1, e1 = e.two_sum(a, e.mul(kf, e.c(-P2)))
    r2, e2 = e.two_sum(r1, e.mul(kf, e.c(-P3)))
    lo = e.sub(e.add(e1, e2), e.mul(kf, e.c(P4)))
    hi, lo = e.fast_two_sum(r2, lo)
    return k, hi, lo


def _rempi_loads(e: _Emitter, ax):
    """x's integer mantissa m and the four table entries for x's exponent (any
    x: the index is clamped, so the loads are always in bounds)."""
    b = e.b
    ix = e.bits(ax)
    j = b.sub(b.lshr(ix, e.i(52)), e.i(1075))
    j = b.select(b.icmp_signed(">", j, e.i(J_MAX)), e.i(J_MAX), j)
    j = b.select(b.icmp_signed("<", j, e.i(J_MIN)), e.i(J_MIN), j)
    m = b.sitofp(b.or_(b.and_(ix, e.i((1 << 52) - 1)), e.i(1 << 52)), F64)  # exact
    base = b.mul(b.sub(j, e.i(J_MIN)), e.i(4))
    table = _table(b)
    g = []
    for q in range(4):
        ptr = b.gep(table, [ir.Constant(ir.IntType(32), 0), b.add(base, e.i(q))], inbounds=True)
        g.append(b.load(ptr))
    return m, g


def _reduce_large(e: _Emitter, m, g):
    """(k, r_hi, r_lo) with ax = k pi/2 + r_hi + r_lo (mod 2 pi), for finite
    ax >= 2**20, from :func:`_rempi_loads`."""
    b = e.b

    def prod_mod4(gq):
        p = e.mul(m, gq)
        err = e.fma(m, gq, b.fneg(p))  # p + err == m * gq exactly
        return e.sub(p, e.mul(e.c(4.0), e.floor(e.mul(p, e.c(0.25))))), err

    p0, e0 = prod_mod4(g[0])
    p1, e1 = prod_mod4(g[1])
    p2 = e.mul(m, g[2])
    e2 = e.fma(m, g[2], b.fneg(p2))
    p3 = e.mul(m, g[3])
    h, lo = e.two_sum(p0, p1)
    k1f, k1 = e.round_int(h)
    h = e.sub(h, k1f)  # exact, |h| <= 1/2: everything after is small
    for t in (e0, e1, p2, e2):
        h, err = e.two_sum(h, t)
        lo = e.add(lo, err)
    fh, fl = e.two_sum(h, e.add(lo, p3))
    k2f, k2 = e.round_int(fh)
    fh, fl = e.fast_two_sum(e.sub(fh, k2f), fl)
    rh = e.mul(fh, e.c(PIO2_HI))
    rl = e.add(
        e.fma(fh, e.c(PIO2_HI), b.fneg(rh)), e.add(e.mul(fh, e.c(PIO2_LO)), e.mul(fl, e.c(PIO2_HI)))
    )
    rh, rl = e.fast_two_sum(rh, rl)
    return b.add(k1, k2), rh, rl


def _sincos(b: ir.IRBuilder, x, want_sin: bool):
    e = _Emitter(b)
    ax = e.fabs(x)
    k_s, h_s, l_s = _reduce_small(e, x)
    # The table loads come first, unconditionally: LLVM then sees a branch
    # around plain arithmetic, which it turns into selects in a vectorised loop
    # (it cannot prove loads under a branch safe to speculate), while scalar
    # code skips the large reduction.
    m, g = _rempi_loads(e, ax)
    small = e.lt(ax, e.c(SMALL_ARG))
    before = b.block
    with b.if_then(b.not_(small)):
        k_l, h_l, l_l = _reduce_large(e, m, g)
        neg = e.lt(x, e.c(0.0))  # x = -(k pi/2 + r) = (-k) pi/2 - r
        k_l = b.select(neg, b.neg(k_l), k_l)
        h_l = e.sel(neg, b.fneg(h_l), h_l)
        l_l = e.sel(neg, b.fneg(l_l), l_l)
        large = b.block

    def merge(ty, v_small, v_large):
        p = b.phi(ty)
        p.add_incoming(v_small, before)
        p.add_incoming(v_large, large)
        return p

    k, hi, lo = merge(I64, k_s, k_l), merge(F64, h_s, h_l), merge(F64, l_s, l_l)
    z = e.mul(hi, hi)
    # sin(hi + lo) ~ hi + hi**3 S(z) + lo (1 - z/2)
    ps = e.poly(z, SIN_COEFFS)
    s = e.add(hi, e.add(e.mul(e.mul(hi, z), ps), e.mul(lo, e.sub(e.c(1.0), e.mul(e.c(0.5), z)))))
    # cos(hi + lo) ~ (1 - z/2) + z**2 C(z) - hi lo, with the rounding of 1 - z/2 kept
    pc = e.poly(z, COS_COEFFS)
    hz = e.mul(e.c(0.5), z)
    w = e.sub(e.c(1.0), hz)
    corr = e.add(e.sub(e.sub(e.c(1.0), w), hz), e.sub(e.mul(e.mul(z, z), pc), e.mul(hi, lo)))
    c = e.add(w, corr)
    if not want_sin:
        k = b.add(k, e.i(1))  # cos(x) = sin(x + pi/2)
    q = b.and_(k, e.i(3))
    odd = b.icmp_signed("!=", b.and_(q, e.i(1)), e.i(0))
    v = e.sel(odd, c, s)
    v = e.sel(b.icmp_signed("!=", b.and_(q, e.i(2)), e.i(0)), b.fneg(v), v)
    if want_sin:
        v = e.sel(e.lt(ax, e.c(2.0**-26)), x, v)  # sin(x) rounds to x (keeps -0.0)
    return e.sel(e.lt(ax, e.c(math.inf)), v, e.sub(x, x))  # inf, nan -> nan


def sin(b: ir.IRBuilder, x):
    """sin(x) of a float64 value."""
    return _sincos(b, x, True)


def cos(b: ir.IRBuilder, x):
    """cos(x) of a float64 value."""
    return _sincos(b, x, False)


#: op name -> code generator ``f(builder, x)`` on one float64 value.
EMIT = {"exp": exp, "log": log, "log1p": log1p, "sin": sin, "cos": cos}

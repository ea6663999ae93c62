"""A gradient checker in the spirit of autograd's ``check_grads``.

Every check builds derivative *graphs* with jitgrad's transforms and compares
what :func:`jitgrad.evaluate` makes of them with an oracle that does not use
any jitgrad derivative rule:

* ``check_jvp``: the JVP graph against central finite differences of the
  function (``evaluate`` only) along a random direction.
* ``check_vjp``: the dot-product test ``<u, J v> == <J^T u, v>`` between the JVP
  and the VJP graph for random ``u`` and ``v`` (exact in real arithmetic).
* ``check_second_order``: the derivative graph differentiated again (JVP of the
  VJP graph against finite differences of the VJP graph, the dot-product test
  on the VJP graph, and for a scalar output the HVP against finite differences
  of the gradient graph plus the symmetry ``<w, H v> == <H w, v>``).

``build(*vars) -> Node`` makes the function from fresh float64 vars of the
shapes of ``inputs``; ``inputs`` is a sequence of arrays (or numbers).

Tolerances (float64 only)
-------------------------
The finite differences use the fourth-order stencil
``(f(x-2h) - 8 f(x-h) + 8 f(x+h) - f(x+2h)) / 12h`` along a direction whose
part for input ``i`` has standard-normal entries times ``s_i = max(1, rms(x_i))``,
with ``h = 1e-4``: the step is relative to the input's scale, so ``x + h v`` is
never lost in rounding. The truncation error is ``h**4 / 30 * f'''''`` (about
``3e-18`` times the fifth derivative along ``v``) and the rounding error about
``1.5 eps |f| / h`` (about ``3e-12 |f|``). Both are four or more orders of
magnitude below the default ``rtol = 1e-6``, which leaves room for functions
whose higher derivatives are large (near poles inside an op's sampling domain).
The comparison is norm-wise, ``max|a - b| <= rtol * max(|a|, |b|) + floor``,
where ``floor = 1e3 * eps * max|f| / h`` is the rounding level of the
difference quotient (about ``2e-9 max|f|``), so exact zeros compare well.
The dot-product tests involve no truncation at all: both sides are the same
sum of products in a different order, so they agree to a few ulps of the sum of
absolute terms; ``rtol`` bounds the difference relative to that sum (the op
tests use ``1e-10``, a factor 1e5 above float64 rounding of a short sum, and a
wrong rule is off by far more). Where terms cancel inside a rule (``g * x / x``
for a product over a size-1 axis) a zero derivative comes out as rounding
noise, so ``1e-12 |u| |v| max(1, |y|)`` is allowed on top.
"""

from __future__ import annotations

import itertools

import numpy as np

import jitgrad as jg

__all__ = ["check_jvp", "check_vjp", "check_second_order", "check_grads", "fd_directional"]

EPS = np.finfo(np.float64).eps
STEP = 1e-4
_fresh = itertools.count()


class _Problem:
    """Fresh vars for ``inputs``, the function built on them, and random directions."""

    def __init__(self, build, inputs, seed=None):
        self.values = [np.asarray(a, dtype=np.float64) for a in inputs]
        tag = next(_fresh)
        self.vars = [jg.var(f"gc{tag}_x{i}", a.shape) for i, a in enumerate(self.values)]
        self.y = build(*self.vars)
        if not isinstance(self.y, jg.Node):
            raise TypeError(f"build must return a jitgrad node, got {type(self.y).__name__}")
        if self.y.dtype != np.float64:
            raise TypeError(f"gradcheck is float64 only, the output has dtype {self.y.dtype}")
        self.rng = np.random.default_rng(seed if seed is not None else 1234 + tag)
        self.scales = [max(1.0, _rms(a)) for a in self.values]
        self.tag = tag

    def env(self, values=None, extra=None):
        d = dict(zip(self.vars, self.values if values is None else values))
        if extra:
            d.update(extra)
        return d

    def direction(self):
        """A random tangent, one array per input, scaled like that input."""
        return [self.rng.standard_normal(a.shape) * s for a, s in zip(self.values, self.scales)]

    def like(self, shape):
        return self.rng.standard_normal(shape)

    def aux(self, name, like):
        """A fresh var of ``like``'s shape (a direction or cotangent input)."""
        return jg.var(f"gc{self.tag}_{name}", like.shape)


def _rms(a):
    return float(np.sqrt(np.mean(a * a))) if a.size else 0.0


def _maxabs(arrays):
    return max((float(np.max(np.abs(a))) for a in arrays if np.size(a)), default=0.0)


def fd_directional(fun, values, direction, h=STEP):
    """Fourth-order central difference of ``fun(list_of_arrays) -> list_of_arrays``
    along ``direction``; returns ``(derivative_list, max|f|)``."""
    coeffs = ((-2, 1.0), (-1, -8.0), (1, 8.0), (2, -1.0))
    total = None
    fmax = 0.0
    for k, c in coeffs:
        shifted = [x + (k * h) * v for x, v in zip(values, direction)]
        outs = [np.asarray(o, dtype=np.float64) for o in fun(shifted)]
        fmax = max(fmax, _maxabs(outs))
        term = [c * o for o in outs]
        total = term if total is None else [t + s for t, s in zip(total, term)]
    return [t / (12.0 * h) for t in total], fmax


def _assert_close(what, got, want, rtol, floor=0.0):
    got = [np.asarray(g, dtype=np.float64) for g in got]
    want = [np.asarray(w, dtype=np.float64) for w in want]
    for g, w in zip(got, want):
        if g.shape != w.shape:
            raise AssertionError(f"{what}: shape {g.shape} != expected {w.shape}")
    if not all(np.all(np.isfinite(a)) for a in got + want):
        raise AssertionError(f"{what}: non-finite values\n got  {got}\n want {want}")
    err = _maxabs([g - w for g, w in zip(got, want)])
    scale = max(_maxabs(got), _maxabs(want))
    bound = rtol * scale + floor
    if not err <= bound:
        raise AssertionError(
            f"{what}: max abs error {err:.3e} > {bound:.3e} (rtol {rtol:g}, scale {scale:.3e})\n"
            f" got  {got}\n want {want}"
        )


def _dot(a, b):
    return float(sum(np.sum(x * y) for x, y in zip(a, b)))


def _absdot(a, b):
    return float(sum(np.sum(np.abs(x * y)) for x, y in zip(a, b)))


def _norm(arrays):
    return float(np.sqrt(sum(np.sum(a * a) for a in arrays)))


def _assert_dot(what, lhs, rhs, mag, rtol, floor=0.0):
    bound = rtol * mag + 1e3 * EPS * mag + floor
    if not abs(lhs - rhs) <= bound or not np.isfinite(lhs) or not np.isfinite(rhs):
        raise AssertionError(f"{what}: {lhs!r} != {rhs!r} (|diff| > {bound:.3e})")


def _jvp_vs_fd(p: _Problem, outs, extra, rtol, what):
    """JVP graph of every node in ``outs`` (functions of p.vars and the fixed
    ``extra`` inputs) vs finite differences of ``outs`` along a random direction."""
    v = p.direction()
    tv = [p.aux(f"t{i}", x) for i, x in enumerate(p.vars)]
    jvps = [jg.jvp(o, p.vars, tv) for o in outs]
    for o, t in zip(outs, jvps):
        if t.shape != o.shape:
            raise AssertionError(f"{what}: jvp has shape {t.shape}, output {o.shape}")
    got = jg.evaluate(jvps, p.env(extra={**extra, **dict(zip(tv, v))}))

    def fun(values):
        return jg.evaluate(list(outs), p.env(values, extra))

    want, fmax = fd_directional(fun, p.values, v)
    _assert_close(what, got, want, rtol, floor=1e3 * EPS * max(fmax, 1e-300) / STEP)


def check_jvp(build, inputs, rtol=1e-6):
    """JVP graph == central finite differences of ``evaluate`` along a random direction."""
    p = _Problem(build, inputs)
    _jvp_vs_fd(p, [p.y], {}, rtol, "jvp vs finite differences")


def _dot_test(p: _Problem, y, extra, rtol, what):
    """``<u, J v> == <J^T u, v>`` for ``y`` as a function of ``p.vars``."""
    v = p.direction()
    u = p.like(y.shape)
    tv = [p.aux(f"t{i}", x) for i, x in enumerate(p.vars)]
    uu = p.aux(f"u{len(extra)}", y)
    jv = jg.jvp(y, p.vars, tv)
    jtu = jg.vjp(y, p.vars, uu)
    if jv.shape != y.shape:
        raise AssertionError(f"{what}: jvp has shape {jv.shape}, output {y.shape}")
    for g, x in zip(jtu, p.vars):
        if g.shape != x.shape:
            raise AssertionError(f"{what}: vjp has shape {g.shape}, wrt {x.shape}")
    vals = jg.evaluate([y, jv] + jtu, p.env(extra={**extra, **dict(zip(tv, v)), uu: u}))
    y_val, jv_val, jtu_val = vals[0], vals[1], vals[2:]
    lhs = _dot([u], [jv_val])
    rhs = _dot(jtu_val, v)
    mag = max(_absdot([u], [jv_val]), _absdot(jtu_val, v))
    # Terms that cancel inside a rule (prod over a size-1 axis: g * x / x) leave
    # rounding noise on a zero derivative: allow 1e-12 of |u| |v| max(1, |y|).
    floor = 1e-12 * _norm([u]) * _norm(v) * max(1.0, _maxabs([y_val]))
    _assert_dot(what, lhs, rhs, mag, rtol, floor)


def check_vjp(build, inputs, rtol=1e-6):
    """Dot-product test ``<u, J v> == <J^T u, v>`` between the JVP and VJP graphs."""
    p = _Problem(build, inputs)
    _dot_test(p, p.y, {}, rtol, "<u, Jv> vs <J^T u, v>")


def check_second_order(build, inputs, rtol=1e-6):
    """Differentiate the derivative graph.

    * JVP of the VJP graph ``x -> J(x)^T u`` vs its finite differences;
    * the dot-product test on each component of the VJP graph;
    * for a scalar output: HVP vs finite differences of the gradient graph,
      and ``<w, H v> == <H w, v>``.
    """
    p = _Problem(build, inputs)
    u = p.like(p.y.shape)
    uu = p.aux("u", p.y)
    g = jg.vjp(p.y, p.vars, uu)
    extra = {uu: u}
    _jvp_vs_fd(p, g, extra, rtol, "jvp of the vjp graph vs finite differences")
    for i, gi in enumerate(g):
        _dot_test(p, gi, extra, rtol, f"dot-product test on vjp component {i}")
    if p.y.shape != ():
        return
    gr = jg.grad(p.y, p.vars)
    v, w = p.direction(), p.direction()
    tv = [p.aux(f"hv{i}", x) for i, x in enumerate(p.vars)]
    tw = [p.aux(f"hw{i}", x) for i, x in enumerate(p.vars)]
    hv = jg.hvp(p.y, p.vars, tv)
    hw = jg.hvp(p.y, p.vars, tw)
    vals = jg.evaluate(hv + hw, p.env(extra={**dict(zip(tv, v)), **dict(zip(tw, w))}))
    hv_val, hw_val = vals[: len(hv)], vals[len(hv) :]

    def fun(values):
        return jg.evaluate(gr, p.env(values))

    want, fmax = fd_directional(fun, p.values, v)
    _assert_close(
        "hvp vs finite differences of the gradient",
        hv_val,
        want,
        rtol,
        floor=1e3 * EPS * max(fmax, 1e-300) / STEP,
    )
    mag = max(_absdot(w, hv_val), _absdot(hw_val, v))
    floor = 1e-12 * _norm(w) * _norm(v) * max(1.0, fmax)
    _assert_dot("<w, Hv> vs <Hw, v>", _dot(w, hv_val), _dot(hw_val, v), mag, rtol, floor)


def check_grads(build, inputs, order=2, rtol=1e-6):
    """All checks up to ``order`` (1 or 2)."""
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    check_jvp(build, inputs, rtol)
    check_vjp(build, inputs, rtol)
    if order >= 2:
        check_second_order(build, inputs, rtol)

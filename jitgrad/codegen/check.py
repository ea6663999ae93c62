"""Kernels checked against :func:`jitgrad.evaluate` (NumPy, the reference).

Two users:

* every ahead-of-time build (:func:`jitgrad.codegen.kernel._aot_selfcheck`)
  compares the new library with ``evaluate`` at one fixed point before it is
  written to the cache, and falls back to the JIT kernel when they disagree;
* ``jg.compile(..., check=True)`` (or ``JITGRAD_CHECK=1``) compares the finished
  kernel with ``evaluate`` of the requested outputs at a few random points and
  raises :class:`KernelCheckError` when they disagree.

Tolerance, per output: an element ``g`` of the kernel agrees with ``w`` from
``evaluate`` when ``|g - w| <= rtol * (|w| + scale) + atol``, where ``scale`` is
the largest finite ``|w|`` of that output. ``rtol`` is ``1e-6`` for float64
(``1e-3`` with ``fastmath``) and ``1e-3`` for float32 (``1e-2`` with
``fastmath``); ``atol`` is ``1e-10`` (float64) or ``1e-4`` (float32). The two
sides round differently (loop order of sums, LLVM's or jitgrad's ``exp`` against
NumPy's), so this does not test the last bits: it catches wiring mistakes,
which give errors of the order of the values themselves. Elements where
``evaluate`` is not finite are not compared; a finite ``w`` with a non-finite
``g`` disagrees. Boolean and integer outputs must be equal.
"""

from __future__ import annotations

import numpy as np

__all__ = ["KernelCheckError", "mismatches", "sample_points", "check_kernel"]


class KernelCheckError(AssertionError):
    """A compiled kernel disagrees with :func:`jitgrad.evaluate`.

    ``mismatches`` holds one dict per output that differs: ``output`` (its
    position), ``shape``, ``index`` (of the largest error), ``kernel`` and
    ``evaluate`` (the values there), ``abs_error`` and ``rel_error``.
    """

    def __init__(self, message, mismatches=()):
        super().__init__(message)
        self.mismatches = list(mismatches)


def _tolerances(dtype, fastmath):
    if np.dtype(dtype) == np.float32:
        return (1e-2 if fastmath else 1e-3), 1e-4
    return (1e-3 if fastmath else 1e-6), 1e-10


def mismatches(got, want, outputs, fastmath=False) -> list:
    """The outputs where ``got`` (kernel results, one per output) disagrees with
    ``want`` (``evaluate``'s), as dicts (see :class:`KernelCheckError`)."""
    bad = []
    for j, (g, w, o) in enumerate(zip(got, want, outputs)):
        w = np.asarray(w)
        g = np.asarray(g)
        if g.shape != w.shape:
            if g.size == w.size:
                g = g.reshape(w.shape)
            else:
                bad.append(
                    dict(output=j, shape=tuple(w.shape), problem=f"shape {g.shape}", index=None)
                )
                continue
        if w.dtype.kind not in "fc":
            diff = np.asarray(g != w)
            if diff.any():
                at = np.unravel_index(int(np.argmax(diff)), w.shape) if w.ndim else ()
                bad.append(
                    dict(
                        output=j,
                        shape=tuple(w.shape),
                        index=tuple(int(i) for i in at),
                        kernel=g[at].item(),
                        evaluate=w[at].item(),
                        abs_error=float("nan"),
                        rel_error=float("nan"),
                        count=int(diff.sum()),
                    )
                )
            continue
        rtol, atol = _tolerances(o.dtype, fastmath)
        g64 = g.astype(np.float64)
        w64 = w.astype(np.float64)
        finite = np.isfinite(w64)
        if not finite.any():
            continue
        scale = float(np.max(np.abs(w64[finite])))
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.where(finite, np.abs(g64 - w64), 0.0)
            err = np.where(finite & ~np.isfinite(g64), np.inf, err)
            limit = rtol * (np.abs(w64) + scale) + atol
        over = finite & ~(err <= limit)
        if not over.any():
            continue
        excess = np.where(over, err / limit, 0.0)
        at = np.unravel_index(int(np.argmax(excess)), w.shape) if w.ndim else ()
        e = float(err[at])
        bad.append(
            dict(
                output=j,
                shape=tuple(w.shape),
                index=tuple(int(i) for i in at),
                kernel=float(g64[at]),
                evaluate=float(w64[at]),
                abs_error=e,
                rel_error=e / scale if scale else float("inf"),
                count=int(over.sum()),
            )
        )
    return bad


def describe(bad, outputs) -> str:
    """One line per output that differs."""
    lines = []
    for m in bad:
        o = outputs[m["output"]]
        head = f"output {m['output']} ({o.op.name}, shape {m['shape']})"
        if m.get("problem"):
            lines.append(f"{head}: kernel gave {m['problem']}")
            continue
        where = f" at index {m['index']}" if m["index"] else ""
        lines.append(
            f"{head}: {m['count']} element(s) differ; largest{where}: kernel {m['kernel']!r}, "
            f"evaluate {m['evaluate']!r} (abs error {m['abs_error']:.3g}, "
            f"relative to the output's largest value {m['rel_error']:.3g})"
        )
    return "\n  ".join(lines)


# Families of input values tried in turn: the point must give finite reference
# values, so log, sqrt, arcsin, 1/x, ... find some of their domain.
_FAMILIES = (
    lambda rng, s: rng.uniform(0.2, 0.8, s),
    lambda rng, s: rng.uniform(-1.0, 1.0, s),
    lambda rng, s: rng.standard_normal(s),
    lambda rng, s: rng.uniform(1.0, 3.0, s),
)


def _draw(rng, v, family):
    if v.dtype == np.bool_:
        a = rng.random(v.shape) < 0.5
    else:
        a = _FAMILIES[family](rng, v.shape).astype(v.dtype)
    return a if v.ndim else a[()]


def sample_points(inputs, outputs, npoints=3, seed=0):
    """``npoints`` input tuples with ``evaluate``'s results there:
    ``[(args, want), ...]``. Points where every output is finite come first;
    points where no output has a finite element are dropped."""
    from ..evaluate import evaluate

    rng = np.random.default_rng(seed)
    full, partial = [], []
    nf = len(_FAMILIES)
    for t in range(8 * max(npoints, 1)):
        # one family for all inputs first, then a family per input
        fams = [t] * len(inputs) if t < nf else rng.integers(0, nf, len(inputs))
        args = [_draw(rng, v, int(f) % nf) for v, f in zip(inputs, fams)]
        with np.errstate(all="ignore"):
            want = evaluate(list(outputs), dict(zip(inputs, args)))
        fin = [np.isfinite(np.asarray(w, dtype=np.float64)) for w in want]
        if all(f.all() for f in fin):
            full.append((args, want))
            if len(full) == npoints:
                break
        elif any(f.any() for f in fin):
            partial.append((args, want))
    return (full + partial)[:npoints]


def check_kernel(kernel, inputs, outputs, npoints=3, seed=0, name="kernel"):
    """Compare ``kernel`` with ``evaluate(outputs)`` at ``npoints`` random points,
    or at the points given (a list of argument tuples, one value per input),
    over one batch of them for a ``batch=True`` kernel. Raises
    :class:`KernelCheckError` naming the outputs that differ; returns the
    number of points compared."""
    if isinstance(npoints, int):
        points = sample_points(inputs, outputs, npoints, seed)
    else:  # the caller's points
        from ..evaluate import evaluate

        points = []
        for args in npoints:
            args = list(args)
            if len(args) != len(inputs):
                raise ValueError(f"check: a point has {len(args)} values for {len(inputs)} inputs")
            with np.errstate(all="ignore"):
                points.append((args, evaluate(list(outputs), dict(zip(inputs, args)))))
    if not points:
        raise KernelCheckError(
            f"check: found no input values where jg.evaluate gives a finite result for {name}"
        )
    fastmath = bool(kernel.options.get("fastmath"))
    if kernel.batch:
        stacked = [np.stack([np.asarray(p[0][q]) for p in points]) for q in range(len(inputs))]
        res = kernel(*stacked)
        res = [res] if kernel._single else list(res)
        runs = [([r[b] for r in res], want) for b, (_, want) in enumerate(points)]
    else:
        runs = []
        for args, want in points:
            with np.errstate(all="ignore"):
                res = kernel(*args)
            runs.append(([res] if kernel._single else list(res), want))
    for b, (got, want) in enumerate(runs):
        bad = mismatches(got, want, outputs, fastmath)
        if bad:
            args = points[b][0]
            shown = ", ".join(
                f"{v.p['name']}={np.array2string(np.asarray(a), precision=4, threshold=8)}"
                for v, a in zip(inputs, args)
            )
            raise KernelCheckError(
                f"check: {name} disagrees with jg.evaluate at {shown}:\n  "
                + describe(bad, outputs),
                bad,
            )
    return len(points)

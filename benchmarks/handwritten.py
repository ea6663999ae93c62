"""Hand-written fused Numba kernels: the practical limit that jitgrad is measured against.

Each function takes the same arguments as the jitgrad kernel of the same problem
and task, allocates its outputs and returns them (a float for a scalar output, a
tuple when there are several), exactly like ``Kernel.__call__``. They are written
the way a person would write them for speed: one pass over the data, derivatives
worked out by hand, no temporaries that a loop can do without, stencils peeled at
the boundaries so that the loop body has no branch, BLAS for large matrix-vector
products and the Lennard-Jones pair loop over ``i < j`` only.

``fastmath_variant(fn)`` gives the same function compiled with the fast-math flags
that ``jg.compile(..., fastmath=True)`` uses (not cached on disk: Numba's cache
index does not tell fast-math flags apart).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba import prange

FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
_OPTS = dict(cache=True, error_model="numpy")


def fastmath_variant(fn):
    """``fn`` recompiled with jitgrad's ``fastmath=True`` flags."""
    return nb.njit(error_model="numpy", fastmath=FASTMATH)(fn.py_func)


# ----------------------------------------------------------------------------- Rosenbrock
# f(x) = sum_{i<n-1} 100 (x[i+1] - x[i]**2)**2 + (1 - x[i])**2


@nb.njit(**_OPTS)
def ros_f(x):
    n = x.shape[0]
    s = 0.0
    for i in range(n - 1):
        a = x[i]
        d = x[i + 1] - a * a
        e = 1.0 - a
        s += 100.0 * d * d + e * e
    return s


@nb.njit(inline="always", **_OPTS)
def _ros_term(x, i):
    """Value of term i and its two partials (wrt x[i] and x[i+1])."""
    a = x[i]
    d = x[i + 1] - a * a
    e = 1.0 - a
    return 100.0 * d * d + e * e, -400.0 * a * d - 2.0 * e, 200.0 * d


@nb.njit(**_OPTS)
def ros_fg(x):
    n = x.shape[0]
    g = np.empty(n)
    if n == 1:
        g[0] = 0.0
        return 0.0, g
    # g[j] = dterm_j/dx_j + dterm_{j-1}/dx_j: the middle loop has no branch and
    # carries no scalar from one iteration to the next.
    f, ga, gb = _ros_term(x, 0)
    g[0] = ga
    for j in range(1, n - 1):
        a = x[j]
        d = x[j + 1] - a * a
        e = 1.0 - a
        p = x[j - 1]
        f += 100.0 * d * d + e * e
        g[j] = -400.0 * a * d - 2.0 * e + 200.0 * (a - p * p)
    p = x[n - 2]
    g[n - 1] = 200.0 * (x[n - 1] - p * p)
    return f, g


@nb.njit(**_OPTS)
def ros_fgh(x, v):
    n = x.shape[0]
    g = np.empty(n)
    hv = np.empty(n)
    if n == 1:
        g[0] = 0.0
        hv[0] = 0.0
        return 0.0, g, hv
    # Term i has Hessian [[1200 a^2 - 400 b + 2, -400 a], [-400 a, 200]] in (x[i], x[i+1]).
    a = x[0]
    b = x[1]
    d = b - a * a
    e = 1.0 - a
    f = 100.0 * d * d + e * e
    g[0] = -400.0 * a * d - 2.0 * e
    hv[0] = (1200.0 * a * a - 400.0 * b + 2.0) * v[0] - 400.0 * a * v[1]
    for j in range(1, n - 1):
        p = x[j - 1]
        a = x[j]
        b = x[j + 1]
        d = b - a * a
        e = 1.0 - a
        f += 100.0 * d * d + e * e
        g[j] = -400.0 * a * d - 2.0 * e + 200.0 * (a - p * p)
        hv[j] = (
            (1200.0 * a * a - 400.0 * b + 202.0) * v[j]
            - 400.0 * a * v[j + 1]
            - 400.0 * p * v[j - 1]
        )
    p = x[n - 2]
    g[n - 1] = 200.0 * (x[n - 1] - p * p)
    hv[n - 1] = 200.0 * v[n - 1] - 400.0 * p * v[n - 2]
    return f, g, hv


# ----------------------------------------------------------------------------- chain of layers
# y = sum((W2 @ tanh(W1 @ tanh(W0 @ x + b0) + b1) + b2 - t)**2), all W square

_BLAS_MIN = 32  # below this width plain loops beat a BLAS call


@nb.njit(inline="always", **_OPTS)
def _affine(W, h, b):
    """W @ h + b."""
    n = W.shape[0]
    if n >= _BLAS_MIN:
        z = np.dot(W, h)
        for i in range(n):
            z[i] += b[i]
        return z
    z = np.empty(n)
    for i in range(n):
        s = b[i]
        for j in range(W.shape[1]):
            s += W[i, j] * h[j]
        z[i] = s
    return z


@nb.njit(inline="always", **_OPTS)
def _tmatvec(W, d):
    """W.T @ d."""
    n = W.shape[1]
    if n >= _BLAS_MIN:
        return np.dot(d, W)
    r = np.zeros(n)
    for i in range(W.shape[0]):
        di = d[i]
        for j in range(n):
            r[j] += di * W[i, j]
    return r


@nb.njit(inline="always", **_OPTS)
def _outer(d, h):
    G = np.empty((d.shape[0], h.shape[0]))
    for i in range(d.shape[0]):
        di = d[i]
        for j in range(h.shape[0]):
            G[i, j] = di * h[j]
    return G


@nb.njit(**_OPTS)
def layers_f(x, W0, b0, W1, b1, W2, b2, t):
    h0 = np.tanh(_affine(W0, x, b0))
    h1 = np.tanh(_affine(W1, h0, b1))
    z = _affine(W2, h1, b2)
    s = 0.0
    for i in range(z.shape[0]):
        r = z[i] - t[i]
        s += r * r
    return s


@nb.njit(**_OPTS)
def layers_fg(x, W0, b0, W1, b1, W2, b2, t):
    h0 = _affine(W0, x, b0)
    for i in range(h0.shape[0]):
        h0[i] = np.tanh(h0[i])
    h1 = _affine(W1, h0, b1)
    for i in range(h1.shape[0]):
        h1[i] = np.tanh(h1[i])
    z = _affine(W2, h1, b2)
    f = 0.0
    gb2 = np.empty(z.shape[0])
    for i in range(z.shape[0]):
        r = z[i] - t[i]
        f += r * r
        gb2[i] = 2.0 * r
    gW2 = _outer(gb2, h1)
    gb1 = _tmatvec(W2, gb2)
    for i in range(gb1.shape[0]):
        gb1[i] *= 1.0 - h1[i] * h1[i]
    gW1 = _outer(gb1, h0)
    gb0 = _tmatvec(W1, gb1)
    for i in range(gb0.shape[0]):
        gb0[i] *= 1.0 - h0[i] * h0[i]
    gW0 = _outer(gb0, x)
    return f, gW0, gb0, gW1, gb1, gW2, gb2


# ----------------------------------------------------------------------------- Lennard-Jones
# E = sum_{i<j} r2**-6 - r2**-3 with r2 = |X[i] - X[j]|**2; forces F = -dE/dX


@nb.njit(**_OPTS)
def lj_e(X):
    n = X.shape[0]
    E = 0.0
    for i in range(n):
        xi, yi, zi = X[i, 0], X[i, 1], X[i, 2]
        for j in range(i + 1, n):
            dx, dy, dz = xi - X[j, 0], yi - X[j, 1], zi - X[j, 2]
            inv = 1.0 / (dx * dx + dy * dy + dz * dz)
            inv3 = inv * inv * inv
            E += inv3 * inv3 - inv3
    return E


@nb.njit(**_OPTS)
def lj_ef(X):
    n = X.shape[0]
    F = np.zeros((n, 3))
    E = 0.0
    for i in range(n):
        xi, yi, zi = X[i, 0], X[i, 1], X[i, 2]
        fx = fy = fz = 0.0
        for j in range(i + 1, n):
            dx, dy, dz = xi - X[j, 0], yi - X[j, 1], zi - X[j, 2]
            inv = 1.0 / (dx * dx + dy * dy + dz * dz)
            inv3 = inv * inv * inv
            E += inv3 * inv3 - inv3
            # -dE/dr2 * 2 (Xi - Xj): the force on atom i from atom j
            c = (12.0 * inv3 - 6.0) * inv3 * inv
            fx += c * dx
            fy += c * dy
            fz += c * dz
            F[j, 0] -= c * dx
            F[j, 1] -= c * dy
            F[j, 2] -= c * dz
        F[i, 0] += fx
        F[i, 1] += fy
        F[i, 2] += fz
    return E, F


# ----------------------------------------------------------------------------- scalar function
# f(x, y) = sin(x y) + exp(x) / (1 + y**2) + log1p(x**2 y**2)


@nb.njit(inline="always", **_OPTS)
def _s2_f(x, y):
    return np.sin(x * y) + np.exp(x) / (1.0 + y * y) + np.log1p(x * x * y * y)


@nb.njit(inline="always", **_OPTS)
def _s2_fg(x, y):
    p = x * y
    s, c = np.sin(p), np.cos(p)
    ex = np.exp(x)
    D = 1.0 / (1.0 + y * y)
    q = p * p
    L = 1.0 / (1.0 + q)
    eD = ex * D
    f = s + eD + np.log1p(q)
    gx = y * c + eD + 2.0 * x * y * y * L
    gy = x * c - 2.0 * y * eD * D + 2.0 * x * x * y * L
    return f, gx, gy


@nb.njit(inline="always", **_OPTS)
def _s2_fgh(x, y):
    p = x * y
    s, c = np.sin(p), np.cos(p)
    ex = np.exp(x)
    D = 1.0 / (1.0 + y * y)
    q = p * p
    L = 1.0 / (1.0 + q)
    eD = ex * D
    eD2 = eD * D
    L2 = L * L
    xx, yy = x * x, y * y
    f = s + eD + np.log1p(q)
    gx = y * c + eD + 2.0 * x * yy * L
    gy = x * c - 2.0 * y * eD2 + 2.0 * xx * y * L
    hxx = -yy * s + eD + 2.0 * yy * L - 4.0 * q * yy * L2
    hxy = c - p * s - 2.0 * y * eD2 + 4.0 * p * L - 4.0 * q * p * L2
    hyy = -xx * s - 2.0 * eD2 + 8.0 * yy * eD2 * D + 2.0 * xx * L - 4.0 * q * xx * L2
    return f, gx, gy, hxx, hxy, hxy, hyy


@nb.njit(**_OPTS)
def s2_f(x, y):
    return _s2_f(x, y)


@nb.njit(**_OPTS)
def s2_fg(x, y):
    return _s2_fg(x, y)


@nb.njit(**_OPTS)
def s2_fgh(x, y):
    return _s2_fgh(x, y)


# ----------------------------------------------------------------------------- batch of points


@nb.njit(parallel=True, **_OPTS)
def s2_batch_f(x, y):
    out = np.empty(x.shape[0])
    for b in prange(x.shape[0]):
        out[b] = _s2_f(x[b], y[b])
    return out


@nb.njit(parallel=True, **_OPTS)
def s2_batch_fg(x, y):
    B = x.shape[0]
    f, gx, gy = np.empty(B), np.empty(B), np.empty(B)
    for b in prange(B):
        f[b], gx[b], gy[b] = _s2_fg(x[b], y[b])
    return f, gx, gy


@nb.njit(parallel=True, **_OPTS)
def s2_batch_fgh(x, y):
    B = x.shape[0]
    f, gx, gy = np.empty(B), np.empty(B), np.empty(B)
    hxx, hxy, hyx, hyy = np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    for b in prange(B):
        f[b], gx[b], gy[b], hxx[b], hxy[b], hyx[b], hyy[b] = _s2_fgh(x[b], y[b])
    return f, gx, gy, hxx, hxy, hyx, hyy

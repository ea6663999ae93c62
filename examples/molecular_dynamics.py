"""Lennard-Jones molecular dynamics: forces are the gradient of the energy.

The energy is written in the dense pairwise form with a mask; jitgrad derives the
forces and compiles energy and forces into one kernel, which a velocity-Verlet
loop calls from inside @njit. Total energy is printed to show it is conserved.

The gradient of the pair sum is "row sums minus column sums" of an array that is
antisymmetric in (i, j); the simplifier sees that (see "Pair arrays" in
docs/concepts.md) and computes each force as one row sum, accumulated in
registers, instead of updating a column of memory for every pair.

Run: python examples/molecular_dynamics.py [--quick]
"""

import sys

import numba
import numpy as np

import jitgrad as jg


def energy(X):
    n = X.shape[0]
    d = X[:, None, :] - X[None, :, :]
    r2 = jg.sum(d * d, axis=-1) + np.eye(n)  # 1 on the diagonal keeps r2 > 0 there
    mask = 1.0 - np.eye(n)
    inv6 = r2**-3
    return 2.0 * jg.sum(mask * (inv6 * inv6 - inv6))  # 4 * sum_{i<j}(r^-12 - r^-6)


def lattice(side, spacing=1.2):
    g = np.arange(side) * spacing
    return np.array([[a, b, c] for a in g for b in g for c in g], dtype=float)


def main(side=3, steps=2000, dt=0.002):
    X0 = lattice(side)
    n = len(X0)
    X = jg.matrix("X", n, 3)
    E = energy(X)
    k = jg.compile([X], [E, -jg.grad(E, X)])
    kernel = k.njit

    @numba.njit
    def verlet(x, v, dt, steps):
        energies = np.empty(steps)
        e, f = kernel(x)
        for s in range(steps):
            v += 0.5 * dt * f
            x += dt * v
            e, f = kernel(x)
            v += 0.5 * dt * f
            energies[s] = e + 0.5 * np.sum(v * v)
        return energies

    rng = np.random.default_rng(1)
    v0 = rng.normal(scale=0.1, size=X0.shape)
    v0 -= v0.mean(axis=0)
    total = verlet(X0.copy(), v0, dt, steps)
    drift = np.abs(total - total[0]).max() / abs(total[0])
    print(
        f"{n} atoms, {steps} steps: total energy {total[0]:.6f} -> {total[-1]:.6f}, "
        f"max relative drift {drift:.2e}"
    )
    return total


if __name__ == "__main__":
    if "--quick" in sys.argv:
        main(side=2, steps=200)
    else:
        main()

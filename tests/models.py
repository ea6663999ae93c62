"""Test functions for the derivative checks and the graph-size bounds.

Each ``make_*`` returns a :class:`Model`: the scalar output, the vars to
differentiate with respect to, the other vars (data) and a sampler of values.
Shared by ``tests/test_derivs.py`` and ``benchmarks/derivative_sizes.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import jitgrad as jg

__all__ = [
    "Model",
    "make_rosenbrock",
    "make_chain",
    "make_logistic",
    "make_lennard_jones",
    "MODELS",
]


@dataclass
class Model:
    name: str
    y: jg.Node
    wrt: list
    data: list = field(default_factory=list)
    sampler: object = None

    def sample(self, rng) -> dict:
        """``{var: array}`` for every var of the model."""
        return self.sampler(rng)


def make_rosenbrock(n: int = 100, name: str | None = None) -> Model:
    """Extended Rosenbrock: ``sum_i 100 (x[2i+1] - x[2i]**2)**2 + (1 - x[2i])**2``
    (``name`` picks the var's name, so repeated builds need not share nodes)."""
    x = jg.vector(name or f"ros{n}_x", n)
    a, b = x[0::2], x[1::2]
    y = jg.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2)
    return Model(f"rosenbrock n={n}", y, [x], sampler=lambda rng: {x: rng.uniform(-1.5, 1.5, n)})


def make_chain(widths=(3, 4, 5, 2)) -> Model:
    """The seed's chain of layers
    ``sum((W2 @ tanh(W1 @ tanh(W0 @ x + b0) + b1) + b2 - t)**2)``."""
    n0, n1, n2, n3 = widths
    x = jg.vector("chain_x", n0)
    W0, b0 = jg.matrix("chain_W0", n1, n0), jg.vector("chain_b0", n1)
    W1, b1 = jg.matrix("chain_W1", n2, n1), jg.vector("chain_b1", n2)
    W2, b2 = jg.matrix("chain_W2", n3, n2), jg.vector("chain_b2", n3)
    t = jg.vector("chain_t", n3)
    y = jg.sum((W2 @ jg.tanh(W1 @ jg.tanh(W0 @ x + b0) + b1) + b2 - t) ** 2)
    wrt = [x, W0, b0, W1, b1, W2, b2]

    def sampler(rng):
        d = {v: rng.standard_normal(v.shape) for v in wrt}
        d[t] = rng.standard_normal(t.shape)
        return d

    return Model("chain of layers", y, wrt, [t], sampler)


def make_logistic(m: int = 6, d: int = 3, k: int = 4) -> Model:
    """A softplus (logistic) loss plus a logsumexp (softmax) term and a ridge penalty."""
    X = jg.matrix("lse_X", m, d)
    lab = jg.vector("lse_lab", m)
    w = jg.vector("lse_w", d)
    W = jg.matrix("lse_W", d, k)
    y = (
        jg.sum(jg.softplus(-lab * (X @ w)))
        + jg.sum(jg.logsumexp(X @ W, axis=1))
        + 0.1 * jg.sum(w * w)
    )

    def sampler(rng):
        return {
            X: rng.standard_normal((m, d)),
            lab: rng.choice([-1.0, 1.0], m),
            w: rng.standard_normal(d),
            W: rng.standard_normal((d, k)),
        }

    return Model("logsumexp/softplus model", y, [w, W], [X, lab], sampler)


def make_lennard_jones(n: int = 5) -> Model:
    """Pairwise Lennard-Jones energy ``sum_{i<j} 4 (r**-12 - r**-6)`` with the
    pairs gathered by ``take``."""
    P = jg.matrix(f"lj{n}_P", n, 3)
    I, J = np.triu_indices(n, 1)
    d = jg.take(P, I, axis=0) - jg.take(P, J, axis=0)
    r2 = jg.sum(d * d, axis=1)
    inv6 = (1.0 / r2) ** 3
    y = jg.sum(4.0 * (inv6**2 - inv6))

    def sampler(rng):
        # A jittered cubic lattice with spacing 1.2: no two atoms closer than ~0.9.
        grid = np.array([(i, j, k) for i in range(3) for j in range(3) for k in range(3)])
        return {P: 1.2 * grid[:n] + rng.uniform(-0.1, 0.1, (n, 3))}

    return Model(f"Lennard-Jones n={n}", y, [P], sampler=sampler)


MODELS = {
    "rosenbrock": lambda: make_rosenbrock(100),
    "chain": make_chain,
    "logistic": make_logistic,
    "lennard_jones": make_lennard_jones,
}

"""The seed's chain of layers, trained by gradient descent entirely inside Numba.

y = sum((W2 @ tanh(W1 @ tanh(W0 @ x + b0) + b1) + b2 - t)**2)

The gradient with respect to every parameter comes from one reverse sweep
(jg.grad with a list); the training loop is an @njit function that calls the
compiled kernel through ``k.njit``.

Run: python examples/layers.py [--quick]
"""

import sys

import numba
import numpy as np

import jitgrad as jg


def build(width):
    x, t = jg.vector("x", width), jg.vector("t", width)
    W = [jg.matrix(f"W{i}", width, width) for i in range(3)]
    b = [jg.vector(f"b{i}", width) for i in range(3)]
    h = jg.tanh(W[0] @ x + b[0])
    h = jg.tanh(W[1] @ h + b[1])
    y = jg.sum((W[2] @ h + b[2] - t) ** 2)
    params = [W[0], b[0], W[1], b[1], W[2], b[2]]
    return x, t, params, y


def main(width=16, steps=2000):
    x, t, params, y = build(width)
    grads = jg.grad(y, params)
    k = jg.compile([x, t, *params], [y, *grads])
    kernel = k.njit

    @numba.njit
    def train(xv, tv, W0, b0, W1, b1, W2, b2, rate, steps):
        losses = np.empty(steps)
        for s in range(steps):
            loss, g0, gb0, g1, gb1, g2, gb2 = kernel(xv, tv, W0, b0, W1, b1, W2, b2)
            losses[s] = loss
            W0 -= rate * g0
            b0 -= rate * gb0
            W1 -= rate * g1
            b1 -= rate * gb1
            W2 -= rate * g2
            b2 -= rate * gb2
        return losses

    rng = np.random.default_rng(0)
    xv = rng.normal(size=width)
    tv = 0.5 * np.tanh(rng.normal(size=width))
    values = [rng.normal(scale=1 / np.sqrt(width), size=p.shape) for p in params]
    losses = train(xv, tv, *values, 0.01, steps)
    print(
        f"width {width}: loss {losses[0]:.4e} -> {losses[-1]:.4e} after {steps} steps inside @njit"
    )
    return losses


if __name__ == "__main__":
    if "--quick" in sys.argv:
        main(width=4, steps=200)
    else:
        main()

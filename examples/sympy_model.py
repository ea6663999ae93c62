"""A SymPy model imported with from_sympy: gradient kernel vs sympy.lambdify.

Run: python examples/sympy_model.py [--quick]
"""

import sys
import timeit

import numpy as np
import sympy as sp

import jitgrad as jg


def main(n_points=100_000):
    # A model written in SymPy: a damped oscillator energy with two parameters.
    t, a, w = sp.symbols("t a w")
    model = sp.exp(-a * t) * sp.cos(w * t) ** 2 + sp.log(1 + (w * t) ** 2) / (1 + a**2)

    # Import it as a jitgrad graph over vectors of points (elementwise) and scalars.
    T = jg.vector("t", n_points)
    A, W = jg.scalars("a w")
    y = jg.from_sympy(model, {t: T, a: A, w: W})
    loss = jg.mean(y)
    k = jg.compile([T, A, W], [loss, *jg.grad(loss, [A, W])])

    # The same value and gradient with sympy.lambdify (NumPy backend).
    f_np = sp.lambdify((t, a, w), model, "numpy")
    da_np = sp.lambdify((t, a, w), sp.diff(model, a), "numpy")
    dw_np = sp.lambdify((t, a, w), sp.diff(model, w), "numpy")

    def by_lambdify(tv, av, wv):
        return f_np(tv, av, wv).mean(), da_np(tv, av, wv).mean(), dw_np(tv, av, wv).mean()

    tv = np.linspace(0.0, 10.0, n_points)
    ours = k(tv, 0.3, 1.7)
    ref = by_lambdify(tv, 0.3, 1.7)
    err = max(abs(float(p) - float(q)) / max(1.0, abs(float(q))) for p, q in zip(ours, ref))

    t_jg = min(timeit.repeat(lambda: k(tv, 0.3, 1.7), number=20, repeat=5)) / 20
    t_np = min(timeit.repeat(lambda: by_lambdify(tv, 0.3, 1.7), number=20, repeat=5)) / 20
    print(
        f"{n_points} points: value and gradient agree to {err:.1e}; "
        f"jitgrad {t_jg * 1e3:.3f} ms, lambdify {t_np * 1e3:.3f} ms ({t_np / t_jg:.1f}x)"
    )
    return err


if __name__ == "__main__":
    main(n_points=1000 if "--quick" in sys.argv else 100_000)

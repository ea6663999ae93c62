"""Higher derivatives and a Taylor polynomial, printed in LaTeX and checked against SymPy.

Run: python examples/taylor.py [--quick]
"""

import math
import sys

import sympy as sp

import jitgrad as jg


def main(order=8):
    x = jg.scalar("x")
    f = jg.exp(jg.sin(x))
    derivs = [f] + [jg.derivative(f, x, order=k) for k in range(1, order + 1)]

    # Readable mathematics: the third derivative after SymPy simplification.
    print("f'''(x) =", jg.latex(jg.simplify(derivs[3], level="sympy")))

    # One kernel evaluates all derivatives at a point.
    k = jg.compile([x], derivs)
    x0 = 0.3
    coeffs = [float(d) / math.factorial(i) for i, d in enumerate(k(x0))]

    # Check against SymPy's own derivatives.
    X = sp.Symbol("x")
    expr = sp.exp(sp.sin(X))
    ref = [float(sp.diff(expr, X, i).subs(X, x0)) / math.factorial(i) for i in range(order + 1)]
    err = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(coeffs, ref))
    print(f"Taylor coefficients at x0 = {x0} (order {order}) agree with SymPy to {err:.1e}")

    h = 0.2
    taylor = sum(c * h**i for i, c in enumerate(coeffs))
    exact = math.exp(math.sin(x0 + h))
    print(
        f"Taylor polynomial at x0 + {h}: {taylor:.12f}, exp(sin(x0 + h)) = {exact:.12f}, "
        f"error {abs(taylor - exact):.1e}"
    )
    return err, abs(taylor - exact)


if __name__ == "__main__":
    main(order=4 if "--quick" in sys.argv else 8)

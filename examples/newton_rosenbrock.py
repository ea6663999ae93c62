"""Newton-CG on the extended Rosenbrock function with exact derivatives.

scipy.optimize.minimize(method="trust-ncg") gets jitgrad's compiled gradient and
Hessian-vector product; the same run with finite-difference gradients (and
finite-difference Hessian products) is shown for comparison.

Run: python examples/newton_rosenbrock.py [--quick]
"""

import sys
import time

import numpy as np
from scipy.optimize import minimize

import jitgrad as jg
from jitgrad.scipy import objective


def rosenbrock(x):
    return jg.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def main(n=1000):
    x = jg.vector("x", n)
    obj = objective(rosenbrock(x), x)
    x0 = np.full(n, -1.2)
    x0[1::2] = 1.0

    t = time.perf_counter()
    exact = minimize(obj.fun, x0, jac=obj.jac, hessp=obj.hessp, method="trust-ncg", tol=1e-10)
    t_exact = time.perf_counter() - t

    # The comparison: SciPy's finite differences for the gradient; trust-ncg then
    # needs Hessian products too, taken as differences of that gradient.
    def fd_grad(z):
        from scipy.optimize import approx_fprime

        return approx_fprime(z, obj.fun, 1.5e-8)

    def fd_hessp(z, p, eps=1e-6):
        return (fd_grad(z + eps * p) - fd_grad(z - eps * p)) / (2 * eps)

    t = time.perf_counter()
    approx = minimize(
        obj.fun,
        x0,
        jac=fd_grad,
        hessp=fd_hessp,
        method="trust-ncg",
        tol=1e-10,
        options={"maxiter": 200},
    )
    t_fd = time.perf_counter() - t

    err_exact = np.abs(exact.x - 1).max()
    err_fd = np.abs(approx.x - 1).max()
    print(f"n = {n}")
    print(
        f"jitgrad derivatives:    {exact.nit:4d} iterations, {t_exact:8.3f} s, max|x - 1| = {err_exact:.1e}"
    )
    print(
        f"finite differences:     {approx.nit:4d} iterations, {t_fd:8.3f} s, max|x - 1| = {err_fd:.1e}"
    )
    return exact, approx


if __name__ == "__main__":
    main(n=20 if "--quick" in sys.argv else 1000)

"""Quick start: build a graph, print its derivatives, compile and evaluate them.

Run: python examples/quickstart.py
"""

import numpy as np

import jitgrad as jg

# 1. Build a graph once: a scalar function of a vector.
x = jg.vector("x", 3)
f = jg.sum(jg.sin(x) * x + x**2)
print("f =", f)

# 2. Derive new graphs: the gradient and a Hessian-vector product.
g = jg.grad(f, x)
v = jg.vector("v", 3)
hv = jg.hvp(f, x, v)
print("grad f =", g)
print("H v =", jg.simplify(hv, level="sympy"))  # simplified by SymPy

# 3. Compile value, gradient and Hessian-vector product into one Numba kernel.
k = jg.compile([x, v], [f, g, hv])
value, grad, hess_v = k(np.array([0.5, 1.0, 2.0]), np.array([1.0, 0.0, 0.0]))
print("f(x) =", value)
print("grad f(x) =", grad)
print("H(x) v =", hess_v)

# 4. The reference NumPy evaluator agrees.
ref = jg.evaluate([f, g, hv], {x: np.array([0.5, 1.0, 2.0]), v: np.array([1.0, 0.0, 0.0])})
assert all(np.allclose(a, b) for a, b in zip((value, grad, hess_v), ref))

"""PyTensor reference implementations (default C backend, float64), imported only when
PyTensor is.

``make(problem, task, args)`` returns a compiled ``pytensor.function`` taking the
same positional arguments as the jitgrad kernel (as NumPy arrays, see
``device``) and returning the same outputs. Input checks are skipped
(``trust_input``), as the benchmark passes arrays of the right type. The batch
problem is written elementwise over vectors of points (PyTensor has no ``vmap``):
the function is separable, so ``grad`` of the sum gives every point's gradient.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt


def device(args):
    return [np.asarray(a, dtype=np.float64) for a in args]


def _rosenbrock(x):
    a, b = x[:-1], x[1:]
    return pt.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2)


def _layers(x, W0, b0, W1, b1, W2, b2, t):
    return pt.sum((W2 @ pt.tanh(W1 @ pt.tanh(W0 @ x + b0) + b1) + b2 - t) ** 2)


def _lj(X):
    eye = pt.eye(X.shape[0])
    r2 = pt.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1) + eye
    return 0.5 * pt.sum((1.0 - eye) * (r2**-6 - r2**-3))


def _scalar2(x, y):
    return pt.sin(x * y) + pt.exp(x) / (1.0 + y**2) + pt.log1p(x**2 * y**2)


def _outputs(problem, task, ins):
    if problem in ("scalar2", "batch"):
        x, y = ins
        f = _scalar2(x, y)
        total = f if problem == "scalar2" else pt.sum(f)
        if task == "f":
            return [f]
        gx, gy = pytensor.grad(total, [x, y])
        if task == "f+grad":
            return [f, gx, gy]
        if problem == "batch":
            hxx, hxy = pytensor.grad(pt.sum(gx), [x, y])
            hyx, hyy = pytensor.grad(pt.sum(gy), [x, y])
        else:
            hxx, hxy = pytensor.grad(gx, [x, y])
            hyx, hyy = pytensor.grad(gy, [x, y])
        return [f, gx, gy, hxx, hxy, hyx, hyy]
    fun = {"rosenbrock": _rosenbrock, "layers": _layers, "lj": _lj}[problem]
    if problem == "rosenbrock" and task == "f+grad+hvp":
        x, v = ins
        f = fun(x)
        g = pytensor.grad(f, x)
        return [f, g, pytensor.grad(pt.sum(g * v), x)]
    f = fun(*ins)
    if task == "f":
        return [f]
    if problem == "layers":
        return [f, *pytensor.grad(f, ins[1:7])]
    if problem == "lj":
        return [f, -pytensor.grad(f, ins[0])]
    return [f, pytensor.grad(f, ins[0])]


def make(problem: str, task: str, args):
    """A compiled PyTensor function for ``problem``/``task`` with inputs shaped like ``args``."""
    ins = [pt.tensor(f"in{k}", dtype="float64", shape=np.shape(a)) for k, a in enumerate(args)]
    outs = _outputs(problem, task, ins)
    fn = pytensor.function(ins, outs if len(outs) > 1 else outs[0])
    fn.trust_input = True
    return fn

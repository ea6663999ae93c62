"""JAX reference implementations (``jax.jit``, float64), imported only when JAX is.

``make(problem, task)`` returns a jitted function taking the same positional
arguments as the jitgrad kernel and returning the same outputs (a tuple when
there are several). ``device(args)`` puts NumPy arguments on the JAX device once,
outside the timed loop.
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402


def device(args):
    return [jax.device_put(jnp.asarray(a)) for a in args]


def block(x):
    return jax.block_until_ready(x)


def _rosenbrock(x):
    a, b = x[:-1], x[1:]
    return jnp.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2)


def _layers(x, W0, b0, W1, b1, W2, b2, t):
    return jnp.sum((W2 @ jnp.tanh(W1 @ jnp.tanh(W0 @ x + b0) + b1) + b2 - t) ** 2)


def _lj(X):
    n = X.shape[0]
    eye = jnp.eye(n, dtype=X.dtype)
    r2 = jnp.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1) + eye
    return 0.5 * jnp.sum((1.0 - eye) * (r2**-6 - r2**-3))


def _scalar2(x, y):
    return jnp.sin(x * y) + jnp.exp(x) / (1.0 + y**2) + jnp.log1p(x**2 * y**2)


def _scalar2_fg(x, y):
    f, (gx, gy) = jax.value_and_grad(_scalar2, argnums=(0, 1))(x, y)
    return f, gx, gy


def _scalar2_fgh(x, y):
    f, gx, gy = _scalar2_fg(x, y)
    (hxx, hxy), (hyx, hyy) = jax.hessian(_scalar2, argnums=(0, 1))(x, y)
    return f, gx, gy, hxx, hxy, hyx, hyy


def _fg(fun, argnums=0):
    vg = jax.value_and_grad(fun, argnums=argnums)

    def fg(*args):
        f, g = vg(*args)
        return (f, *g) if isinstance(g, tuple) else (f, g)

    return fg


def _ros_fgh(x, v):
    (f, g), (_, hv) = jax.jvp(jax.value_and_grad(_rosenbrock), (x,), (v,))
    return f, g, hv


def _lj_ef(X):
    e, g = jax.value_and_grad(_lj)(X)
    return e, -g


_FUNS = {
    ("rosenbrock", "f"): _rosenbrock,
    ("rosenbrock", "f+grad"): _fg(_rosenbrock),
    ("rosenbrock", "f+grad+hvp"): _ros_fgh,
    ("layers", "f"): _layers,
    ("layers", "f+grad"): _fg(_layers, argnums=(1, 2, 3, 4, 5, 6)),
    ("lj", "f"): _lj,
    ("lj", "f+grad"): _lj_ef,
    ("scalar2", "f"): _scalar2,
    ("scalar2", "f+grad"): _scalar2_fg,
    ("scalar2", "f+grad+hess"): _scalar2_fgh,
}


def make(problem: str, task: str):
    """A jitted JAX function for ``problem``/``task``; ``batch`` is ``vmap`` of ``scalar2``."""
    if problem == "batch":
        return jax.jit(jax.vmap(_FUNS["scalar2", task]))
    return jax.jit(_FUNS[problem, task])

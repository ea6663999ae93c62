"""Callables for :func:`scipy.optimize.minimize` from a scalar graph.

SciPy is not a dependency of jitgrad; this module only builds plain callables
that SciPy (or anything else) can use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ad import grad, hvp
from .api import var
from .codegen import compile
from .graph import Node
from .shapes import fmt

__all__ = ["Objective", "objective"]


@dataclass
class Objective:
    """``fun``, ``jac``, ``fun_and_jac`` and ``hessp`` for ``scipy.optimize.minimize``.

    Each takes the flat parameter vector ``x`` (and ``p`` for ``hessp``) and
    returns a float or a new 1-d array; the kernels allocate only their outputs.
    ``fun`` and ``jac`` share one kernel and remember the last point, so SciPy
    calling both at the same ``x`` costs one evaluation.
    """

    fun: object
    jac: object
    fun_and_jac: object
    hessp: object
    kernels: tuple


def objective(f: Node, x: Node, params: dict | None = None, **compile_options) -> Objective:
    """Compile value, gradient and Hessian-vector product of the scalar ``f``
    with respect to the var ``x``.

    Parameters
    ----------
    f : Node
        A 0-d node.
    x : Node
        The var to optimise over (any shape; SciPy sees it flattened).
    params : dict, optional
        ``{var: array}`` for the other vars of ``f``, held fixed.
    **compile_options
        Passed to :func:`jitgrad.compile` (``cache``, ``fastmath``, ...).

    Returns
    -------
    Objective

    Raises
    ------
    ValueError
        If ``f`` is not a scalar, or a var of ``f`` other than ``x`` has no value.

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> from jitgrad.scipy import objective
    >>> from scipy.optimize import minimize
    >>> x = jg.vector("x", 2)
    >>> f = jg.sum((x - jg.const([1.0, 2.0])) ** 2)
    >>> obj = objective(f, x, cache=False)
    >>> res = minimize(obj.fun, np.zeros(2), jac=obj.jac, hessp=obj.hessp, method="trust-ncg")
    >>> np.round(res.x, 6)
    array([1., 2.])
    """
    if not isinstance(f, Node) or f.shape != ():
        raise ValueError(
            f"objective: f must be a scalar node, got shape {fmt(getattr(f, 'shape', None))}"
        )
    if not isinstance(x, Node) or x.op.name != "var":
        raise TypeError("objective: x must be a var node")
    params = dict(params or {})
    others = [v for v in params]
    from .graph import toposort

    for n in toposort([f]):
        if n.op.name == "var" and n is not x and n not in params:
            raise ValueError(
                f"objective: no value given for var {n.p['name']!r} (pass it in params)"
            )
    v = var(f"__p_{x.p['name']}", x.shape, x.dtype)
    g = grad(f, x)
    hv = hvp(f, x, v)
    k_fg = compile([x, *others], [f, g], **compile_options)
    k_hv = compile([x, v, *others], hv, **compile_options)
    fixed = []
    for o in others:
        # np.array, not np.ascontiguousarray: that one turns a 0-d value into shape (1,).
        a = np.array(params[o], dtype=o.dtype, order="C")
        if a.shape != o.shape:
            raise ValueError(
                f"objective: params[{o.p['name']!r}]: expected shape {fmt(o.shape)}, "
                f"got {fmt(a.shape)}"
            )
        fixed.append(a)
    shape = x.shape
    last = {"x": None, "f": None, "g": None}

    def _eval(xf):
        xf = np.asarray(xf, dtype=x.dtype)
        if last["x"] is not None and np.array_equal(last["x"], xf):
            return last["f"], last["g"]
        fv, gv = k_fg(xf.reshape(shape), *fixed)
        last["x"] = xf.copy()
        last["f"], last["g"] = float(fv), gv.reshape(-1)
        return last["f"], last["g"]

    def fun(xf):
        return _eval(xf)[0]

    def jac(xf):
        return _eval(xf)[1]

    def fun_and_jac(xf):
        return _eval(xf)

    def hessp(xf, p):
        xa = np.asarray(xf, dtype=x.dtype).reshape(shape)
        pa = np.asarray(p, dtype=x.dtype).reshape(shape)
        return k_hv(xa, pa, *fixed).reshape(-1)

    return Objective(fun, jac, fun_and_jac, hessp, (k_fg, k_hv))

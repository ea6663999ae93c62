"""Compositions of the two sweeps: hvp, jacobian, hessian, derivative."""

from __future__ import annotations

import itertools

import numpy as np

from .. import progress
from ..api import var
from ..graph import Node
from ..ops.convert import as_node
from ..ops.elementwise import equal, where
from ..ops.structure import broadcast_to, reshape, transpose
from ..shapes import fmt
from .batch import batch
from .common import check_output, vector_for, wrt_list
from .forward import jvp_many, seed_map
from .reverse import grad, vjp_many

__all__ = ["hvp", "jacobian", "hessian", "derivative"]

_fresh = itertools.count()


def _direction(like: Node) -> Node:
    """A private var standing for a direction of ``like``'s shape."""
    return var(f"__dir{next(_fresh)}", like.shape, like.dtype)


def _basis(n: int, shape: tuple, dtype) -> Node:
    """The n unit directions stacked: shape ``(n,) + shape``; built from two
    n-element index constants, never an n*n constant."""
    rows = as_node(np.arange(n, dtype=np.float64).reshape(n, 1))
    cols = as_node(np.arange(n, dtype=np.float64).reshape(1, n))
    eye = where(equal(rows, cols), as_node(1.0, dtype), as_node(0.0, dtype))
    return reshape(eye, (n,) + shape)


def hvp(y, wrt, v):
    """Hessian-vector product of a scalar ``y`` (forward over reverse).

    Parameters
    ----------
    y : Node
        A 0-d node.
    wrt : Node or list of Node
    v : Node or array_like, or a list of them (one per ``wrt``)

    Returns
    -------
    Node or list of Node
        ``H v`` of ``wrt.shape`` (a list when ``wrt`` is a list: block row i is
        ``sum_j H_ij v_j``).

    Raises
    ------
    ValueError
        If ``y`` is not a scalar or a direction has the wrong shape.

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x = jg.vector("x", 2)
    >>> v = jg.vector("v", 2)
    >>> hv = jg.hvp(jg.sum(x ** 3), x, v)
    >>> jg.evaluate(hv, {x: np.array([1.0, 2.0]), v: np.array([1.0, 1.0])})
    array([ 6., 12.])
    """
    y = check_output("hvp", y, scalar=True)
    wrts, single = wrt_list("hvp", wrt)
    vs = [v] if single else v
    if not single and (not isinstance(vs, (list, tuple)) or len(vs) != len(wrts)):
        raise ValueError(f"hvp: v must be a list of {len(wrts)} directions, one per wrt")
    vs = [vector_for("hvp", "the direction v", t, w) for t, w in zip(vs, wrts)]
    gs = grad(y, wrts)
    seeds = seed_map(wrts, vs)
    out = [jvp_many(g, seeds) for g in gs]
    return out[0] if single else out


def _wrt_text(wrts) -> str:
    """``x (3,), W (4, 5)`` for progress reports."""
    return ", ".join(
        (w.p["name"] if w.op.name == "var" else "a node") + f" {fmt(w.shape)}" for w in wrts
    )


def _jacobian_one(y: Node, w: Node, rep=None, label: str = "") -> Node:
    n, m = w.size, y.size
    if n == 0 or m == 0:
        from ..ops.structure import zeros

        return zeros(y.shape + w.shape, y.dtype)
    if n == 1:
        if rep is not None:
            rep.phase(f"{label}forward sweep")
        t = jvp_many(y, {id(w): (w, broadcast_to(as_node(1.0, w.dtype), w.shape))})
        return reshape(t, y.shape + w.shape)
    if m == 1:
        if rep is not None:
            rep.phase(f"{label}reverse sweep")
        (g,) = vjp_many(y, [w], broadcast_to(as_node(1.0, y.dtype), y.shape))
        return reshape(g, y.shape + w.shape)
    if m < n:
        # Reverse mode, one cotangent per output element: rows of J.
        u = _direction(y)
        if rep is not None:
            rep.phase(f"{label}reverse sweep")
        (g,) = vjp_many(y, [w], u)
        if rep is not None:
            rep.phase(f"{label}batch over {m} directions")
        (rows,) = batch([g], {u: _basis(m, y.shape, y.dtype)}, m)
        return reshape(rows, y.shape + w.shape)
    # Forward mode, one tangent per input element: columns of J.
    v = _direction(w)
    if rep is not None:
        rep.phase(f"{label}forward sweep")
    t = jvp_many(y, {id(w): (w, v)})
    if rep is not None:
        rep.phase(f"{label}batch over {n} directions")
    (cols,) = batch([t], {v: _basis(n, w.shape, w.dtype)}, n)
    cols = reshape(cols, (n, m))
    return reshape(transpose(cols), y.shape + w.shape)


def jacobian(y, wrt):
    """Full Jacobian ``dy/dwrt`` of shape ``y.shape + wrt.shape``.

    Built as one JVP graph batched over the n unit directions (forward mode when
    ``wrt`` has no more elements than ``y``, else one batched VJP): the graph size
    does not grow with n, the evaluation cost is about n (or m) products.
    A build that takes longer than about a second reports its phases (see
    :func:`jitgrad.set_progress`).

    Parameters
    ----------
    y : Node
    wrt : Node or list of Node

    Returns
    -------
    Node or list of Node

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x = jg.vector("x", 2)
    >>> J = jg.jacobian(jg.stack([x[0] * x[1], x[0] + x[1]]), x)
    >>> J.shape
    (2, 2)
    >>> jg.evaluate(J, {x: np.array([2.0, 3.0])})
    array([[3., 2.],
           [1., 1.]])
    """
    y = check_output("jacobian", y)
    wrts, single = wrt_list("jacobian", wrt)
    with progress.task(lambda: f"building Jacobian wrt {_wrt_text(wrts)}") as rep:
        out = [
            _jacobian_one(y, w, rep, "" if single else f"block {i}: ") for i, w in enumerate(wrts)
        ]
    return out[0] if single else out


def hessian(y, wrt):
    """Hessian of a scalar ``y``: shape ``wrt.shape + wrt.shape``.

    The Jacobian of the gradient, built as one Hessian-vector product graph
    batched over the n unit directions. A build that takes longer than about a
    second reports its phases (see :func:`jitgrad.set_progress`).

    Parameters
    ----------
    y : Node
        A 0-d node.
    wrt : Node or list of Node
        With a list, the result is the list of lists of blocks ``H[i][j]``.

    Returns
    -------
    Node or list of list of Node

    Raises
    ------
    ValueError
        If ``y`` is not a scalar.

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x, y = jg.scalars("x y")
    >>> H = jg.hessian(x**2 * y, [x, y])
    >>> [[str(h) for h in row] for row in H]
    [['2*y', '2*x'], ['2*x', '0']]
    """
    y = check_output("hessian", y, scalar=True)
    wrts, single = wrt_list("hessian", wrt)
    with progress.task(lambda: f"building Hessian wrt {_wrt_text(wrts)}") as rep:
        rep.phase("gradient (reverse sweep)")
        gs = grad(y, wrts)
        if single:
            return _jacobian_one(gs[0], wrts[0], rep)
        return [
            [_jacobian_one(g, w, rep, f"block ({i}, {j}): ") for j, w in enumerate(wrts)]
            for i, g in enumerate(gs)
        ]


def derivative(y, x, order: int = 1):
    """The ``order``-th derivative of ``y`` with respect to the scalar ``x``.

    Repeated forward-mode differentiation; interning shares every
    subexpression between the orders. A build that takes longer than about a
    second reports each order as it starts (see :func:`jitgrad.set_progress`).

    Parameters
    ----------
    y : Node
        Any shape: the derivative is elementwise.
    x : Node
        A 0-d node.
    order : int
        ``order >= 0`` (0 returns ``y``).

    Returns
    -------
    Node
        Of ``y.shape``.

    Raises
    ------
    ValueError
        If ``x`` is not a scalar or ``order`` is negative.

    Examples
    --------
    >>> import jitgrad as jg
    >>> x = jg.scalar("x")
    >>> print(jg.derivative(x ** 4, x, order=2))
    12*x**2
    """
    y = check_output("derivative", y)
    if not isinstance(x, Node):
        raise TypeError(f"derivative: x must be a node, got {type(x).__name__}")
    if x.shape != ():
        raise ValueError(f"derivative: x must be a scalar (shape ()), got shape {fmt(x.shape)}")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 0:
        raise ValueError(f"derivative: order must be a non-negative integer, got {order!r}")
    one = as_node(1.0, x.dtype)
    d = y
    order = int(order)
    with progress.task(lambda: f"building derivative of order {order}") as rep:
        for k in range(order):
            rep.phase(f"order {k + 1}")
            d = jvp_many(d, {id(x): (x, one)})
    return d

"""Reverse mode: vector-Jacobian products by a reverse sweep over ``OpDef.vjp``.

Adjoints accumulate from the output back to the inputs; a missing adjoint is a
symbolic zero and is never built, so the derivative graph holds only the paths
from ``wrt`` to the output. Gradients with respect to every parameter come out
of the same sweep.
"""

from __future__ import annotations

from ..graph import Node, toposort
from ..ops.convert import as_node
from .common import check_output, conform, depends, vector_for, wrt_list, zero_like

__all__ = ["vjp", "grad", "vjp_many"]


def vjp_many(y: Node, wrts: list, u: Node) -> list:
    """``u^T dy/dw`` for each ``w`` in ``wrts`` (no argument checks)."""
    order = toposort([y])
    dep = depends(order, wrts)
    adj: dict[int, Node] = {}
    if id(y) in dep:
        adj[id(y)] = u
    keep = {id(w) for w in wrts}
    for node in reversed(order):
        g = adj.get(id(node)) if id(node) in keep else adj.pop(id(node), None)
        if g is None or not node.op.is_op:
            continue
        inputs = node.inputs
        if not any(id(i) in dep for i in inputs):
            continue
        cts = node.op.rule("vjp")(g, node, *inputs, **dict(node.params))
        for inp, ct in zip(inputs, cts):
            if ct is None or id(inp) not in dep:
                continue
            ct = conform(ct, inp)
            if ct is None:
                continue
            prev = adj.get(id(inp))
            adj[id(inp)] = ct if prev is None else prev + ct
    return [adj[id(w)] if id(w) in adj else zero_like(w) for w in wrts]


def vjp(y, wrt, u):
    """Vector-Jacobian product ``u^T (dy/dwrt)`` as a new graph (reverse mode).

    Parameters
    ----------
    y : Node
        The output.
    wrt : Node or list of Node
        Vars (or any nodes of the graph) to differentiate with respect to. For
        an intermediate node ``z`` the result is the derivative with respect to
        a perturbation added at ``z``; when both ``x`` and ``z = g(x)`` are in
        ``wrt``, the one for ``x`` is the total derivative (through ``z`` too).
    u : Node or array_like
        The cotangent, of ``y.shape``.

    Returns
    -------
    Node or list of Node
        Of ``wrt.shape`` (a list when ``wrt`` is a list). A ``wrt`` that ``y``
        does not depend on gives zeros of its shape.

    Raises
    ------
    TypeError
        If ``wrt`` or ``y`` is not a node.
    ValueError
        If ``u`` does not have the shape of ``y``.

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x = jg.vector("x", 2)
    >>> u = jg.vector("u", 2)
    >>> g = jg.vjp(x * x, x, u)
    >>> jg.evaluate(g, {x: np.array([1.0, 2.0]), u: np.array([1.0, 1.0])})
    array([2., 4.])
    """
    y = check_output("vjp", y)
    wrts, single = wrt_list("vjp", wrt)
    u = vector_for("vjp", "the cotangent u", u, y)
    out = vjp_many(y, wrts, u)
    return out[0] if single else out


def grad(y, wrt):
    """Gradient of a scalar ``y`` with respect to ``wrt`` (reverse mode).

    Parameters
    ----------
    y : Node
        A 0-d node.
    wrt : Node or list of Node

    Returns
    -------
    Node or list of Node
        Of ``wrt.shape`` each; a list when ``wrt`` is a list.

    Raises
    ------
    ValueError
        If ``y`` is not a scalar (the message gives its shape).
    TypeError
        If ``wrt`` is not a node or a list of nodes.

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x = jg.vector("x", 3)
    >>> g = jg.grad(jg.sum(x ** 3), x)
    >>> print(g)
    3*x**2
    >>> jg.evaluate(g, {x: np.array([1.0, 2.0, 3.0])})
    array([ 3., 12., 27.])
    """
    y = check_output("grad", y, scalar=True)
    wrts, single = wrt_list("grad", wrt)
    out = vjp_many(y, wrts, as_node(1.0, y.dtype))
    return out[0] if single else out

"""Forward mode: Jacobian-vector products by a forward sweep over ``OpDef.jvp``.

Tangents travel with the values from ``wrt`` to the output; a missing tangent is
a symbolic zero. A ``wrt`` that is an intermediate node gets its seed added to
the tangent flowing into it, which makes ``jvp`` the exact transpose of ``vjp``.
"""

from __future__ import annotations

from ..graph import Node, toposort
from .common import check_output, conform, depends, vector_for, wrt_list, zero_like

__all__ = ["jvp", "jvp_many", "seed_map"]


def seed_map(wrts: list, tangents: list) -> dict:
    """``{id(w): (w, tangent)}``; a wrt listed twice gets the sum of its tangents."""
    seeds: dict[int, tuple] = {}
    for w, t in zip(wrts, tangents):
        seeds[id(w)] = (w, t if id(w) not in seeds else seeds[id(w)][1] + t)
    return seeds


def jvp_many(y: Node, seeds: dict) -> Node:
    """Tangent of ``y`` given ``{id(node): tangent}`` seeds (no argument checks)."""
    order = toposort([y])
    dep = depends(order, [s for s, _ in seeds.values()])
    tan: dict[int, Node] = {}
    for node in order:
        if id(node) not in dep:
            continue
        t = None
        inputs = node.inputs
        if node.op.is_op and any(id(i) in tan for i in inputs):
            ts = [tan.get(id(i)) for i in inputs]
            t = conform(node.op.rule("jvp")(ts, node, *inputs, **dict(node.params)), node)
        seed = seeds.get(id(node))
        if seed is not None:
            t = seed[1] if t is None else t + seed[1]
        if t is not None:
            tan[id(node)] = t
    return tan[id(y)] if id(y) in tan else zero_like(y)


def jvp(y, wrt, v):
    """Jacobian-vector product ``(dy/dwrt) v`` as a new graph (forward mode).

    Parameters
    ----------
    y : Node
    wrt : Node or list of Node
    v : Node or array_like, or a list of them
        Tangent(s) of the shapes of ``wrt``.

    Returns
    -------
    Node
        Of ``y.shape``.

    Raises
    ------
    TypeError
        If ``y`` or ``wrt`` is not a node.
    ValueError
        If a tangent does not have the shape of its ``wrt`` (naming both shapes),
        or ``v`` is not a list of the same length as a list ``wrt``.

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x, y = jg.scalars("x y")
    >>> t = jg.jvp(x * y, [x, y], [1.0, 0.0])
    >>> print(t)
    y
    """
    y = check_output("jvp", y)
    wrts, single = wrt_list("jvp", wrt)
    if single:
        vs = [v]
    else:
        if not isinstance(v, (list, tuple)) or len(v) != len(wrts):
            raise ValueError(f"jvp: v must be a list of {len(wrts)} tangents, one per wrt")
        vs = list(v)
    seeds = seed_map(wrts, [vector_for("jvp", "the tangent v", t, w) for w, t in zip(wrts, vs)])
    return jvp_many(y, seeds)

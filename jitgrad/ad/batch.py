"""Batching: the same graph over a leading axis of B directions, via ``OpDef.batch``.

Nodes that do not depend on the batched vars are left as they are and shared;
only the part of the graph downstream of them gains the leading axis. This is
how jacobian and hessian avoid building n copies of a JVP/HVP graph.
"""

from __future__ import annotations

from ..graph import Node, toposort
from ..ops.structure import broadcast_to, reshape


def batch(outputs: list, subs: dict, B: int) -> list:
    """Rewrite ``outputs`` with each var in ``subs`` replaced by a node of shape
    ``(B,) + var.shape``; every output gets the leading axis B."""
    order = toposort(outputs)
    new: dict[int, Node] = {id(v): b for v, b in subs.items()}
    for node in order:
        if id(node) in new or not node.op.is_op:
            continue
        inputs = node.inputs
        if not any(id(i) in new for i in inputs):
            continue
        xs = [new.get(id(i), i) for i in inputs]
        flags = [id(i) in new for i in inputs]
        out = node.op.rule("batch")(xs, flags, node, **dict(node.params))
        want = (B,) + node.shape
        if out.shape != want:  # a fold may return a smaller node
            out = broadcast_to(out, want)
        new[id(node)] = out
    result = []
    for o in outputs:
        b = new.get(id(o))
        if b is None:
            b = broadcast_to(reshape(o, (1,) + o.shape), (B,) + o.shape)
        result.append(b)
    return result

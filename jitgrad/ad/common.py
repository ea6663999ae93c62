"""Argument handling shared by the transforms."""

from __future__ import annotations

import numpy as np

from ..graph import Node, toposort
from ..ops.convert import as_node
from ..ops.core import uniform_value
from ..ops.elementwise import cast
from ..ops.structure import sum_to, zeros
from ..shapes import fmt


def wrt_list(fname: str, wrt):
    """``(list_of_nodes, was_single)``; ``TypeError`` for anything but nodes."""
    if isinstance(wrt, Node):
        return [wrt], True
    if isinstance(wrt, (list, tuple)):
        for w in wrt:
            if not isinstance(w, Node):
                raise TypeError(
                    f"{fname}: wrt must be a node or a list of nodes, got {type(w).__name__}"
                )
        return list(wrt), False
    raise TypeError(f"{fname}: wrt must be a node or a list of nodes, got {type(wrt).__name__}")


def check_output(fname: str, y, scalar: bool = False) -> Node:
    if not isinstance(y, Node):
        raise TypeError(f"{fname}: the output must be a jitgrad node, got {type(y).__name__}")
    if scalar and y.shape != ():
        raise ValueError(
            f"{fname}: the output must be a scalar (shape ()), got shape {fmt(y.shape)}; "
            "use jg.vjp or jg.jacobian for non-scalar outputs"
        )
    return y


def vector_for(fname: str, what: str, value, like: Node) -> Node:
    """A tangent or cotangent for ``like``: a node (or array) of exactly its shape."""
    v = as_node(value, like.dtype, f"{fname}: {what}")
    if v.shape != like.shape:
        raise ValueError(
            f"{fname}: {what} must have shape {fmt(like.shape)} (the shape of {_describe(like)}), "
            f"got shape {fmt(v.shape)}"
        )
    if v.dtype != like.dtype:
        v = cast(v, like.dtype)
    return v


def _describe(n: Node) -> str:
    return f"var {n.p['name']!r}" if n.op.name == "var" else f"the {n.op.name} node"


def depends(order, sources) -> set:
    """Ids of the nodes in ``order`` that depend on any node in ``sources`` (sources included)."""
    dep = {id(s) for s in sources}
    for n in order:
        if id(n) not in dep and any(id(i) in dep for i in n.inputs):
            dep.add(id(n))
    return dep


def conform(t, like: Node):
    """``t`` as a node of ``like``'s shape and dtype; None stays None (symbolic zero)."""
    if t is None:
        return None
    if not isinstance(t, Node):
        t = as_node(t, like.dtype)
    if uniform_value(t) == 0:
        return None
    if t.dtype != like.dtype:
        t = cast(t, like.dtype)
    if t.shape != like.shape:
        t = sum_to(t, like.shape)
    return t


def zero_like(n: Node) -> Node:
    # The derivative of a boolean (comparison) node is a float zero.
    return zeros(n.shape, n.dtype if n.dtype.kind == "f" else np.float64)


__all__ = ["wrt_list", "check_output", "vector_for", "depends", "conform", "zero_like", "toposort"]

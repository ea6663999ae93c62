"""Simplification pipelines.

``"fast"``: the build-time folds of the op table already ran when each node was
built (constant folding, zero/one pruning, canonical constant factors, merged
broadcasts); interning makes common subexpressions shared and only nodes the
outputs reach are kept. This pass rebuilds the graph bottom-up so that folds
which became possible after a transform (for example a tangent that turned out
to be zero) are applied, and keeps the original when the rebuilt graph is not
smaller.
"""

from __future__ import annotations

from .graph import Node, toposort
from .ops.core import make
from .printing import count_ops

__all__ = ["simplify"]

LEVELS = ("fast", "sympy")


def _rebuild(outs: list) -> list:
    new: dict[int, Node] = {}
    for n in toposort(outs):
        if not n.op.is_op:
            new[id(n)] = n
            continue
        ins = tuple(new[id(i)] for i in n.inputs)
        if all(a is b for a, b in zip(ins, n.inputs)):
            new[id(n)] = n
        else:
            new[id(n)] = make(n.op, ins, **dict(n.params))
    return [new[id(o)] for o in outs]


def simplify(nodes, level: str = "fast", timeout: float = 5.0):
    """Equivalent node(s), never larger by :func:`count_ops`.

    Parameters
    ----------
    nodes : Node or list of Node
    level : {"fast", "sympy"}
        ``"fast"``: local rewrites and folds, CSE by interning, dead-code removal.
        ``"sympy"`` is not available yet and raises ``NotImplementedError``.
    timeout : float
        Seconds allowed for the SymPy level.

    Returns
    -------
    Node or list of Node

    Examples
    --------
    >>> import jitgrad as jg
    >>> x = jg.vector("x", 3)
    >>> jg.count_ops(jg.simplify(jg.sin(x) + 0.0))
    1
    """
    if level not in LEVELS:
        raise ValueError(f"simplify: level must be one of {LEVELS}, got {level!r}")
    if level == "sympy":
        raise NotImplementedError("simplify(level='sympy') is not implemented yet")
    single = isinstance(nodes, Node)
    outs = [nodes] if single else list(nodes)
    for o in outs:
        if not isinstance(o, Node):
            raise TypeError(f"simplify: expected nodes, got {type(o).__name__}")
    new = _rebuild(outs)
    if count_ops(new) > count_ops(outs):
        new = outs
    return new[0] if single else new

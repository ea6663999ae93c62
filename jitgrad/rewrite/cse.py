"""Common subexpressions and dead code.

Nodes are interned, so rebuilding a graph bottom-up through
:func:`jitgrad.ops.core.make` merges every pair of structurally equal nodes
(CSE) and applies the build-time folds again; walking from the outputs keeps
only the nodes they reach (dead-code removal).
"""

from __future__ import annotations

from ..graph import Node, toposort
from ..ops.core import make

__all__ = ["rebuild"]


def rebuild(outs: list) -> list:
    """``outs`` rebuilt bottom-up through ``make``: equal nodes merged, folds applied.

    Examples
    --------
    >>> import jitgrad as jg
    >>> from jitgrad.rewrite.cse import rebuild
    >>> x = jg.scalar("x")
    >>> rebuild([x + 1.0]) == [x + 1.0]
    True
    """
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

"""Simplification pipelines.

``"fast"``: the rule tables of :mod:`jitgrad.rewrite.rules` applied to a fixed
point by :func:`jitgrad.rewrite.rewrite` (every node is rebuilt through the op
table, so the build-time folds and interning apply: constant folding, zero/one
pruning, CSE), keeping only the nodes the outputs reach. ``"sympy"``: the fast
level, then SymPy on the maximal elementwise clusters within a time budget
(:func:`jitgrad.sym.sympy_pass`), then the fast level again. Both keep the
original when their result is larger by :func:`count_ops`.
"""

from __future__ import annotations

import time

from . import progress
from .graph import Node
from .printing import count_ops

__all__ = ["simplify"]

LEVELS = ("fast", "sympy")


def _flatten(nodes):
    """The nodes of a node, a list or a list of lists, and how to rebuild the structure."""
    if isinstance(nodes, Node):
        return [nodes], lambda new: new[0]
    items = list(nodes)
    if items and all(isinstance(r, (list, tuple)) for r in items):
        lens = [len(r) for r in items]
        flat = [n for r in items for n in r]

        def restore(new):
            out, k = [], 0
            for n in lens:
                out.append(list(new[k : k + n]))
                k += n
            return out

        return flat, restore
    return items, list


def _fast(outs: list, sizes: dict | None = None) -> list:
    from .rewrite.engine import rewrite_counted
    from .rewrite.rules import DEFAULT

    new, before, after = rewrite_counted(outs, DEFAULT, sizes=sizes)
    if all(a is b for a, b in zip(new, outs)):
        return outs
    if after is None:
        after = count_ops(new)
    return outs if after > before else new


def simplify(nodes, level: str = "fast", timeout: float = 5.0):
    """Equivalent node(s), never larger by :func:`count_ops`.

    Parameters
    ----------
    nodes : Node, list of Node, or list of lists of Node
        The result has the same structure (a Hessian from ``jg.hessian(y, [x, z])``
        can be passed as it is).
    level : {"fast", "sympy"}
        ``"fast"``: the named rewrite rules of :mod:`jitgrad.rewrite.rules` to a
        fixed point (algebraic identities, negation and power canonical forms,
        constant folding, zero/one pruning, column sums of symmetric or
        antisymmetric pair arrays as row sums), CSE by interning, dead-code
        removal. ``"sympy"``: the fast level, then each maximal elementwise
        cluster (scalar expression per element, one symbol per leaf) is handed to
        SymPy and replaced where SymPy's form is no larger (ties go to SymPy's
        canonical form, so results print in textbook order) and agrees with the
        original numerically; see :func:`jitgrad.sym.sympy_pass`.
    timeout : float
        Seconds for the whole call at level ``"sympy"``, counted from its start:
        the fast pass first, then SymPy gets what the fast pass left of the
        budget (none when the fast pass alone used it up). Only the fast pass
        after SymPy's (linear in the graph size, and a fraction of the first)
        runs beyond it.

    Returns
    -------
    Node, list of Node or list of lists of Node

    Raises
    ------
    ValueError
        For an unknown level.

    Notes
    -----
    A simplification that runs longer than about a second reports its passes
    (see :func:`jitgrad.set_progress`).

    The rules are exact in real arithmetic where the original is defined; like
    the build-time fold ``x * 0 -> 0`` they may give the mathematically right
    finite value where the original overflows to inf or nan
    (``x - x -> 0`` also for ``x = inf``). SymPy works over the complex
    numbers, so the SymPy level may likewise give a value where the original
    gave nan outside its real domain (``sqrt(x)**2 -> x``).

    Examples
    --------
    >>> import jitgrad as jg
    >>> x = jg.vector("x", 3)
    >>> jg.count_ops(jg.simplify(jg.sin(x) + 0.0))
    1
    >>> y = jg.scalar("y")
    >>> print(jg.simplify(jg.log(jg.exp(y)) * y - y * y))
    0
    >>> a, b = jg.scalars("a b")
    >>> print(jg.simplify(jg.grad(a**2 * jg.sin(b), a), level="sympy"))
    2*a*sin(b)
    """
    if level not in LEVELS:
        raise ValueError(f"simplify: level must be one of {LEVELS}, got {level!r}")
    if isinstance(nodes, (str, bytes)):
        raise TypeError(f"simplify: expected nodes, got {type(nodes).__name__}")
    outs, restore = _flatten(nodes)
    for o in outs:
        if not isinstance(o, Node):
            raise TypeError(f"simplify: expected nodes, got {type(o).__name__}")
    start = time.monotonic()
    # The op count for the progress report, from the first pass (a report comes from
    # another thread after a second, and counting again would compete with the work).
    sizes: dict = {}

    def describe():
        ops = sizes["before"] if "before" in sizes else count_ops(outs)
        return f"simplifying {ops} ops (level {level!r})"

    with progress.task(describe) as rep:
        rep.phase("fast pass")
        new = _fast(outs, sizes)
        if level == "sympy":
            from .sym import sympy_pass

            rep.phase("sympy pass")
            left = max(0.0, float(timeout) - (time.monotonic() - start))
            candidate = sympy_pass(new, timeout=left)
            rep.phase("fast pass after sympy")
            candidate = _fast(candidate)
            if count_ops(candidate) <= count_ops(new):
                new = candidate
    return restore(new)

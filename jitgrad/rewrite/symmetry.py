"""Pair arrays that are symmetric or antisymmetric in their first two axes.

A node ``G`` of shape ``(n, n, ...)`` is *symmetric* when ``G[j, i] == G[i, j]``
for every ``i, j`` and *antisymmetric* when ``G[j, i] == -G[i, j]``. Pair
functions make them: ``D = X[:, None, :] - X[None, :, :]`` is antisymmetric,
``r2 = sum(D**2, axis=-1)`` and a mask such as ``1 - eye(n)`` are symmetric, and
the gradient of a pair energy ``sum(mask * f(r2))`` is the row sums minus the
column sums of ``c(r2) * D``. For such a ``G`` the sum over the first axis is the
sum over the second, negated if ``G`` is antisymmetric; the rule ``sum_swap``
rewrites the one into the other, so that both become one row sum (a register
accumulator in the generated loop instead of a column of memory updated for
every pair).

:func:`swap_parity` finds the parity from the ops, looking a bounded number of
levels deep: leaves and constants, elementwise ops (odd and even functions,
products, sums, differences of the two broadcast views of one array), sums over
the trailing axes, ``A`` combined with ``A.T``, and the reshapes, slices and
transposes that keep the first two axes. The rewrite is exact in real arithmetic. For arrays built with
arithmetic alone it is exact in floating point too (the same terms are added in
the same order, and negation is exact); an odd library function such as ``sin``
or ``pow`` may round ``f(-x)`` and ``-f(x)`` an ulp apart.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..graph import BOOL, Node
from ..ops.core import uniform_value

__all__ = ["swap_parity", "SYMMETRIC", "ANTISYMMETRIC", "UNKNOWN"]

SYMMETRIC, ANTISYMMETRIC, UNKNOWN = 1, -1, 0

#: How many levels below the node the analysis looks.
MAX_DEPTH = 40

# f(-x) == -f(x) and f(-x) == f(x) (as in the negation rules).
_ODD = frozenset({"negative", "sin", "tan", "arcsin", "arctan", "sinh", "tanh", "cast"})
_EVEN = frozenset({"cos", "cosh", "abs", "square"})
# Binary ops with f(a, b) == f(b, a): applied to the two views X[:, None] and
# X[None, :] of one array they give a symmetric pair array.
_SYMMETRIC_BINARY = frozenset({"add", "multiply", "maximum", "minimum", "equal"})
# Reductions over trailing axes that keep symmetry (sum keeps antisymmetry too).
_REDUCTIONS = frozenset({"sum", "max", "min", "prod", "logsumexp"})


def _full_slice(item, dim: int) -> bool:
    return item == ("s", 0, dim, 1)


def _view(node: Node, rank: int, n: int):
    """How an operand of an elementwise node of rank ``rank`` and leading shape
    ``(n, n)`` varies along the first two axes: ``"free"`` (not at all),
    ``"full"`` (along both), ``("col", key)`` / ``("row", key)`` (only along the
    first / second axis, as the two broadcast views of the data ``key``), or None."""
    pad = (1,) * (rank - node.ndim) + node.shape
    lead = pad[:2]
    if lead == (1, 1):
        return "free"
    if lead == (n, n):
        return "full" if node.ndim == rank else None
    side = "col" if lead == (n, 1) else "row" if lead == (1, n) else None
    if side is None:
        return None
    if node.ndim == rank - 1:
        # Aligned on the right, the operand's own first axis is the second one.
        return ("row", (node, _all_slices(node.shape))) if side == "row" else None
    if node.ndim != rank:
        return None
    name = node.op.name
    if name == "getitem":
        return _getitem_view(node, side)
    if name == "reshape":
        src = node.inputs[0]
        rest = node.shape[:1] + node.shape[2:] if side == "col" else node.shape[1:]
        return (side, (src, ("reshape", rest)))
    return None


def _all_slices(shape) -> tuple:
    return tuple(("s", 0, d, 1) for d in shape)


def _getitem_view(node: Node, side: str):
    """The view ``X[s, None, ...]`` (col) or ``X[None, s, ...]`` (row) as the
    index of ``X`` without the new axis, padded with full slices."""
    src = node.inputs[0]
    items = tuple(node.p["index"])
    at_new, at_slice = (1, 0) if side == "col" else (0, 1)
    if len(items) < 2 or items[at_new] != ("n",) or items[at_slice][0] != "s":
        return None
    kept = items[:at_new] + items[at_new + 1 :]
    used = sum(1 for it in kept if it[0] != "n")
    kept = kept + _all_slices(src.shape[used:])
    return (side, (src, kept))


# Parities are a property of the (interned, immutable) node: each constant's and
# each node's asked for by swap_parity is worked out once per process.
_CONSTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_RESULTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _const_parity(node: Node) -> int:
    p = _CONSTS.get(node)
    if p is None:
        a = node.p["value"].array
        t = np.swapaxes(a, 0, 1)
        p = SYMMETRIC if np.array_equal(t, a) else UNKNOWN
        if p == UNKNOWN and a.dtype != BOOL and np.array_equal(t, -a):
            p = ANTISYMMETRIC
        _CONSTS[node] = p
    return p


def _swapped(a: Node, b: Node) -> bool:
    """``b`` is ``a`` with its first two axes swapped, or the other way round."""
    swap = (1, 0, *range(2, a.ndim))
    for x, y in ((a, b), (b, a)):
        if y.op.name == "transpose" and y.inputs[0] is x and tuple(y.p["axes"]) == swap:
            return True
    return False


def _elementwise(node: Node, memo: dict, depth: int) -> int:
    rank, n = node.ndim, node.shape[0]
    views = [_view(x, rank, n) for x in node.inputs]
    name = node.op.name
    if any(isinstance(v, tuple) for v in views):
        if len(views) != 2 or not all(isinstance(v, tuple) for v in views):
            return UNKNOWN
        (sa, ka), (sb, kb) = views
        if sa == sb or ka[0] is not kb[0] or ka[1] != kb[1]:
            return UNKNOWN
        if name == "subtract":
            return ANTISYMMETRIC
        return SYMMETRIC if name in _SYMMETRIC_BINARY else UNKNOWN
    if any(v is None for v in views):
        return UNKNOWN
    if len(views) == 2 and views == ["full", "full"] and _swapped(*node.inputs):
        # A and swapaxes(A, 0, 1): the same two views of one array, full size.
        if name == "subtract":
            return ANTISYMMETRIC
        if name in _SYMMETRIC_BINARY:
            return SYMMETRIC
    ps = [
        SYMMETRIC if v == "free" else _parity(x, memo, depth - 1)
        for v, x in zip(views, node.inputs)
    ]
    if UNKNOWN in ps:
        return UNKNOWN
    if all(p == SYMMETRIC for p in ps):
        return SYMMETRIC
    if node.dtype == BOOL:  # bool(-x) == bool(x): no sign to flip
        return SYMMETRIC if name == "cast" else UNKNOWN
    if name in _ODD:
        return ps[0]
    if name in _EVEN:
        return SYMMETRIC
    if name == "multiply":
        return ps[0] * ps[1]
    if name == "divide":
        # Not with an antisymmetric divisor: its diagonal is zero.
        return ps[0] if ps[1] == SYMMETRIC else UNKNOWN
    if name in ("add", "subtract"):
        return ps[0] if ps[0] == ps[1] else UNKNOWN
    if name == "power" and views[1] == "free":
        e = uniform_value(node.inputs[1])
        if e is not None and float(e).is_integer():
            if int(e) % 2 == 0:
                return SYMMETRIC
            # Not a negative odd power: the diagonal of an antisymmetric base is 0.
            return ps[0] if e > 0 else UNKNOWN
    return UNKNOWN


def _parity(node: Node, memo: dict, depth: int) -> int:
    if node in memo:
        return memo[node]
    shape = node.shape
    if len(shape) < 2 or shape[0] != shape[1]:
        return UNKNOWN
    if shape[0] == 1:
        return SYMMETRIC
    if depth <= 0:
        return UNKNOWN
    memo[node] = UNKNOWN  # a cycle cannot occur; this only bounds repeated work
    op, ins, name = node.op, node.inputs, node.op.name
    p = UNKNOWN
    if name == "const":
        p = _const_parity(node)
    elif op.kind == "elementwise":
        p = _elementwise(node, memo, depth)
    elif op.kind == "reduce" and name in _REDUCTIONS:
        axes = node.p.get("axes")
        if axes is not None and 0 not in axes and 1 not in axes:
            q = _parity(ins[0], memo, depth - 1)
            p = q if (name == "sum" or q == SYMMETRIC) else UNKNOWN
    elif name == "reshape":
        if ins[0].shape[:2] == shape[:2]:
            p = _parity(ins[0], memo, depth - 1)
    elif name == "broadcast_to":
        v = _view(ins[0], node.ndim, shape[0])
        if v == "free":
            p = SYMMETRIC
        elif v == "full":
            p = _parity(ins[0], memo, depth - 1)
    elif name == "getitem":
        items = tuple(node.p["index"])
        src = ins[0]
        if (
            len(items) >= 2
            and items[0] == items[1]
            and items[0][0] == "s"
            and src.ndim >= 2
            and src.shape[0] == src.shape[1]
        ):
            p = _parity(src, memo, depth - 1)
    elif name == "transpose":
        perm = tuple(node.p["axes"])
        if perm[:2] in ((0, 1), (1, 0)) and perm[2:] == tuple(range(2, node.ndim)):
            p = _parity(ins[0], memo, depth - 1)
    memo[node] = p
    return p


def swap_parity(node: Node) -> int:
    """``1`` if ``node[j, i] == node[i, j]``, ``-1`` if ``node[j, i] == -node[i, j]``
    for all ``i, j`` (the first two axes, of equal length), ``0`` if not known.

    Examples
    --------
    >>> import numpy as np
    >>> import jitgrad as jg
    >>> from jitgrad.rewrite.symmetry import swap_parity
    >>> X = jg.matrix("X", 4, 3)
    >>> D = X[:, None, :] - X[None, :, :]
    >>> swap_parity(D), swap_parity(jg.sum(D**2, axis=-1)), swap_parity(X[:, None, :] * D)
    (-1, 1, 0)
    >>> swap_parity((1.0 - np.eye(4)) * jg.exp(-jg.sum(D**2, axis=-1)))
    1
    """
    p = _RESULTS.get(node)
    if p is None:
        p = _RESULTS[node] = _parity(node, {}, MAX_DEPTH)
    return p

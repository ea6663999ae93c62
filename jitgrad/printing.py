"""Readable infix text for graphs, with shared subexpressions as temporaries.

The text uses NumPy's names, so it can be read back with
``exec``/``eval`` in :func:`namespace` (NumPy plus the few functions NumPy
lacks). Every node used more than once, and every expression that would grow
longer than a line, is printed once as ``tN = ...``; the text grows linearly
with the graph.
"""

from __future__ import annotations

import numpy as np

from .graph import TEXT_PRINTER, Frozen, Node, consumers_count, toposort
from .ops.core import CONST, OPS, VAR

__all__ = ["pretty", "count_ops", "namespace"]

ATOM = 6
PREC_CMP = 1
PREC_MUL = 3
PREC_NEG = 4
PREC_POW = 5
MAX_INLINE = 100  # characters; longer expressions become temporaries
SMALL_ARRAY = 8
LARGE_ARRAY = 64  # constants with more elements print as a shape/dtype summary


def _num(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "True" if v else "False"
    f = float(v)
    if np.isnan(f):
        return "nan"
    if np.isinf(f):
        return "inf" if f > 0 else "-inf"
    if f == int(f) and abs(f) < 1e15:
        return str(int(f))
    return repr(f) if isinstance(v, float) else repr(float(np.float64(v)))


def _const_text(node: Node):
    a = node.params[0][1].array
    if a.ndim == 0:
        t = _num(a.item())
        neg = t.startswith("-")
        return t, (PREC_NEG if neg else ATOM)
    if a.size > LARGE_ARRAY:
        # Too big to read: name its shape and dtype (the text is then not evaluable).
        return f"<constant {a.shape} {a.dtype}>", ATOM
    if a.size == 0:
        # array2string prints every empty array as "[]", losing the shape.
        dt = "" if a.dtype == np.float64 else f", {a.dtype.name}"
        return f"zeros({a.shape}{dt})", ATOM
    inner = np.array2string(
        a, separator=", ", threshold=10**6, floatmode="unique", max_line_width=10**6
    )
    # Rows of a 2-d (or higher) array are separated by newlines: keep one line per statement.
    return f"array({inner.replace(chr(10), '')})", ATOM


def _axes_text(node: Node):
    axes = node.p["axes"]
    if len(axes) == node.inputs[0].ndim:
        return ""
    return f", axis={axes[0] if len(axes) == 1 else axes}"


def _index_text(index) -> str:
    parts = []
    for it in index:
        if it[0] == "n":
            parts.append("None")
        elif it[0] == "i":
            parts.append(str(it[1]))
        else:
            _, start, stop, step = it
            stop_s = "" if stop < 0 else str(stop)
            s = f"{start}:{stop_s}" if step == 1 else f"{start}:{stop_s}:{step}"
            parts.append(s)
    return ", ".join(parts) if parts else "..."


def _paren(text, prec, need):
    return f"({text})" if prec < need else text


def _format(node: Node, args: list) -> tuple:
    """Text and precedence of ``node`` given its inputs' (text, precedence)."""
    op = node.op
    if op.infix is not None:
        sym, prec = op.infix
        if len(args) == 1:  # unary minus
            (t, q) = args[0]
            if q == PREC_MUL and not t.startswith("-"):
                # -(a*b) as -a*b, as in mathematics: (-a)*b is the same float
                # (rounding is symmetric), and the product keeps its precedence.
                return f"-{t}", PREC_MUL
            return f"-{_paren(t, q, PREC_NEG + 1)}", PREC_NEG
        (lt, lp), (rt, rp) = args
        if sym == "**":
            return f"{_paren(lt, lp, PREC_POW + 1)}**{_paren(rt, rp, PREC_NEG)}", PREC_POW
        # Python chains comparisons (a < b == c), so a comparison operand of a
        # comparison needs parentheses on the left too.
        lneed = prec + 1 if prec == PREC_CMP else prec
        # Products and quotients are written tight (2*x*sin(y)), sums spaced.
        sep = sym if sym in ("*", "/") else f" {sym} "
        return f"{_paren(lt, lp, lneed)}{sep}{_paren(rt, rp, prec + 1)}", prec
    texts = [t for t, _ in args]
    text = _TEXT.get(op)
    if text is not None:
        return text(node, args, texts)
    return f"{op.name}({', '.join(texts)})", ATOM


# The text of ops not written ``name(arg, ...)`` nor infix: op record ->
# ``(node, [(text, precedence)], [text]) -> (text, precedence)``.
_TEXT: dict = {}


def _text_of(*names):
    def register(f):
        for name in names:
            _TEXT[OPS[name]] = f
        return f

    return register


@_text_of("getitem")
def _getitem_text(node, args, texts):
    return f"{_paren(args[0][0], args[0][1], ATOM)}[{_index_text(node.p['index'])}]", ATOM


@_text_of("sum", "prod", "max", "min", "logsumexp")
def _reduce_text(node, args, texts):
    return f"{node.op.name}({texts[0]}{_axes_text(node)})", ATOM


@_text_of("reshape", "broadcast_to")
def _shape_text(node, args, texts):
    return f"{node.op.name}({texts[0]}, {node.p['shape']})", ATOM


@_text_of("transpose")
def _transpose_text(node, args, texts):
    return f"transpose({texts[0]}, {node.p['axes']})", ATOM


@_text_of("take")
def _take_text(node, args, texts):
    p = node.p
    return f"take({texts[0]}, {p['indices'].array.tolist()}, axis={p['axis']})", ATOM


@_text_of("take_add")
def _take_add_text(node, args, texts):
    p = node.p
    return (
        f"take_add({texts[0]}, {p['indices'].array.tolist()}, axis={p['axis']}, n={p['n']})",
        ATOM,
    )


@_text_of("index_put")
def _index_put_text(node, args, texts):
    p = node.p
    return f"index_put({texts[0]}, s_[{_index_text(p['index'])}], {p['shape']})", ATOM


@_text_of("concatenate")
def _concatenate_text(node, args, texts):
    return f"concatenate([{', '.join(texts)}], axis={node.p['axis']})", ATOM


@_text_of("square")
def _square_text(node, args, texts):
    return f"{_paren(texts[0], args[0][1], PREC_POW + 1)}**2", PREC_POW


@_text_of("cast")
def _cast_text(node, args, texts):
    return f"astype({texts[0]}, {node.p['dtype'].name})", ATOM


def _cheap(node: Node) -> bool:
    """An element of a var (``v[0]``, ``W[1, 2]``): written where it is used."""
    return (
        node.op is OPS["getitem"]
        and node.inputs[0].op is VAR
        and all(it[0] == "i" for it in node.p["index"])
    )


def _literal(node: Node, texts: dict, entries: dict):
    """Scalars stacked into a small tensor, written ``array([[a, b], [c, d]])``:
    ``reshape(s, (1,))`` of a scalar, a ``concatenate`` of those, and a reshape of
    that concatenation."""
    if node.op is OPS["reshape"]:
        x = node.inputs[0]
        if x.shape == () and node.shape == (1,):
            entries[id(node)] = [texts[id(x)][0]]
            return f"array([{texts[id(x)][0]}])"
        items = entries.get(id(x))
        if items is not None and x.ndim == 1 and node.size <= 4 * SMALL_ARRAY and node.ndim >= 1:
            entries[id(node)] = items
            return f"array({_nest(items, node.shape)})"
        return None
    if node.op is OPS["concatenate"] and node.ndim == 1:
        if all(id(i) in entries and i.ndim == 1 for i in node.inputs):
            items = [t for i in node.inputs for t in entries[id(i)]]
            entries[id(node)] = items
            return f"array([{', '.join(items)}])"
    return None


def _nest(items: list, shape: tuple) -> str:
    if len(shape) == 1:
        return "[" + ", ".join(items) + "]"
    step = len(items) // shape[0]
    return (
        "["
        + ", ".join(_nest(items[k * step : (k + 1) * step], shape[1:]) for k in range(shape[0]))
        + "]"
    )


def pretty(nodes) -> str:
    """Readable text of a node or a list of nodes.

    Shared subexpressions (and long ones) are printed once as temporaries
    ``t1 = ...`` on lines before the result; the last line is the result (a
    list ``[...]`` when ``nodes`` is a list). Names are NumPy's.

    Parameters
    ----------
    nodes : Node or list of Node

    Returns
    -------
    str

    Examples
    --------
    >>> import jitgrad as jg
    >>> x = jg.vector("x", 3)
    >>> print(jg.pretty(jg.sin(x) * x + x))
    sin(x)*x + x
    >>> s = jg.sin(x)
    >>> print(jg.pretty(s * s + s))
    t1 = sin(x)
    t1*t1 + t1
    """
    single = isinstance(nodes, Node)
    outs = [nodes] if single else list(nodes)
    lines, results = render(outs, single)
    lines.append(results[0] if single else "[" + ", ".join(results) + "]")
    return "\n".join(lines)


def render(outs: list, single: bool = False) -> tuple:
    """``(temporary lines, one text per output)``: :func:`pretty` in parts."""
    order = toposort(outs)
    uses = consumers_count(order)
    taken = {n.p["name"] for n in order if n.op is VAR}
    counter = [0]

    def fresh(prefix):
        while True:
            counter[0] += 1
            name = f"{prefix}{counter[0]}"
            if name not in taken:
                taken.add(name)
                return name

    out_ids = {id(o) for o in outs}
    texts: dict[int, tuple] = {}
    entries: dict[int, list] = {}  # array literals: the entry texts, flat
    lines = []
    for node in order:
        if node.op is VAR:
            texts[id(node)] = (node.p["name"], ATOM)
            continue
        if node.op is CONST:
            t = _const_text(node)
            if node.size > SMALL_ARRAY and uses.get(id(node), 0) >= 1:
                name = fresh("c")
                lines.append(f"{name} = {t[0]}")
                t = (name, ATOM)
            texts[id(node)] = t
            continue
        literal = _literal(node, texts, entries)
        if literal is not None:
            texts[id(node)] = (literal, ATOM)
            continue
        t = _format(node, [texts[id(i)] for i in node.inputs])
        if _cheap(node):
            texts[id(node)] = t
            continue
        shared = uses.get(id(node), 0) > 1 or (
            id(node) in out_ids and not single and uses.get(id(node), 0)
        )
        if shared or (len(t[0]) > MAX_INLINE and id(node) not in out_ids):
            name = fresh("t")
            lines.append(f"{name} = {t[0]}")
            t = (name, ATOM)
        texts[id(node)] = t
    return lines, [texts[id(o)][0] for o in outs]


def count_ops(nodes) -> int:
    """Number of operation nodes in the graph (vars and constants count 0;
    a node shared within or across the outputs counts once).

    Examples
    --------
    >>> import jitgrad as jg
    >>> x = jg.vector("x", 3)
    >>> s = jg.sin(x)
    >>> jg.count_ops(s * s + s)
    3
    >>> jg.count_ops([s, s + 1.0])
    2
    """
    outs = [nodes] if isinstance(nodes, Node) else list(nodes)
    for o in outs:
        if not isinstance(o, Node):
            raise TypeError(f"count_ops: expected nodes, got {type(o).__name__}")
    return sum(1 for n in toposort(outs) if n.op.is_op)


def namespace() -> dict:
    """Names that evaluate :func:`pretty` text with NumPy (NumPy plus
    ``sigmoid``, ``softplus``, ``logsumexp``, ``take_add``, ``index_put``, ``astype``)."""
    ns = {k: getattr(np, k) for k in dir(np) if not k.startswith("_")}
    ns.update(
        sigmoid=OPS["sigmoid"].impl,
        softplus=OPS["softplus"].impl,
        logsumexp=lambda x, axis=None: OPS["logsumexp"].impl(
            np.asarray(x),
            tuple(range(np.ndim(x)))
            if axis is None
            else (axis if isinstance(axis, tuple) else (axis,)),
        ),
        take_add=lambda g, idx, axis, n: _take_add(g, idx, axis, n),
        index_put=_index_put,
        astype=lambda x, dt: np.asarray(x).astype(dt),
        array=np.array,
    )
    return ns


def _take_add(g, idx, axis, n):
    return OPS["take_add"].impl(g, Frozen(np.asarray(idx)), axis, n)


def _index_put(g, key, shape):
    out = np.zeros(shape, dtype=np.asarray(g).dtype)
    out[key] = g
    return out


TEXT_PRINTER[0] = pretty  # str(node)

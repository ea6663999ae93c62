"""SymPy round trip, LaTeX, and the SymPy simplification pass.

* :func:`to_sympy`: a node as a SymPy expression (scalar) or a ``sympy.Array`` of
  per-element expressions (small tensor), in symbols named after the vars.
* :func:`from_sympy`: a SymPy expression as a graph; every SymPy function that
  has an op maps to it, any other raises ``ValueError`` naming the function.
* :func:`latex`: LaTeX text, with temporaries for shared subexpressions when the
  graph is large.
* :func:`sympy_pass`: the ``"sympy"`` level of :func:`jitgrad.simplify`.

SymPy is imported when one of these is first called, never by ``import jitgrad``.
"""

from __future__ import annotations

import math
import os
import time
from fractions import Fraction

import numpy as np

from .graph import BOOL, Node, consumers_count, toposort
from .ops.core import CONST, OPS, make, uniform_value

__all__ = ["to_sympy", "from_sympy", "latex", "element_symbols", "sympy_pass", "MAX_ELEMENTS"]

#: The most elements any node may have for :func:`to_sympy` to expand it.
MAX_ELEMENTS = 256
# SymPy builds, hashes and prints its expressions recursively, and flattens a
# sum again at every addition: past these sizes to_sympy would end in a
# RecursionError or take minutes (a chain of 1 000 sin, a flat sum of 3 000
# terms), so it refuses with a ValueError instead (jg.latex and jg.pretty
# write large graphs with temporaries).
MAX_SYMPY_OPS = 2000
MAX_SYMPY_DEPTH = 200
MAX_LATEX_OPS = 10_000
#: Graphs whose expression tree (shared nodes written out) has at most this many
#: ops are written by :func:`latex` as one formula; larger ones use temporaries.
LATEX_INLINE_OPS = 60
#: The SymPy pass hands SymPy expressions of at most this many ops (as a tree).
MAX_CLUSTER_OPS = 120
#: ``sympy.simplify`` itself is tried on expressions of at most this many ops;
#: larger ones get the cheaper steps only.
FULL_SIMPLIFY_OPS = 40
#: Small tensors (at most this many elements) are also tried element by element
#: by the SymPy pass, so a small Hessian becomes a matrix of entries.
SMALL_TENSOR = 16


def _sympy():
    import sympy

    return sympy


# ----------------------------------------------------------------------------- to_sympy


def _number(v):
    """A SymPy number for a float: exact integers and short fractions stay exact."""
    sp = _sympy()
    if isinstance(v, (bool, np.bool_)):
        return sp.true if v else sp.false
    f = float(v)
    if math.isnan(f):
        return sp.nan
    if math.isinf(f):
        return sp.oo if f > 0 else -sp.oo
    if f.is_integer() and abs(f) < 2**53:
        return sp.Integer(int(f))
    if f == math.pi:
        return sp.pi
    if f == math.e:
        return sp.E
    q = Fraction(f).limit_denominator(1000)
    if float(q) == f:
        return sp.Rational(q.numerator, q.denominator)
    return sp.Float(f)


def _wrap(value) -> np.ndarray:
    """``value`` as an object ndarray (0-d for a single expression)."""
    if isinstance(value, np.ndarray):
        return value.astype(object, copy=False)
    a = np.empty((), dtype=object)
    a[()] = value
    return a


def _var_array(node: Node, real: bool) -> np.ndarray:
    sp = _sympy()
    name = node.p["name"]
    kw = {"real": True} if real else {}
    if node.shape == ():
        return _wrap(sp.Symbol(name, **kw))
    out = np.empty(node.shape, dtype=object)
    for idx in np.ndindex(*node.shape):
        out[idx] = sp.Symbol(name + "".join(f"_{i}" for i in idx), **kw)
    return out


def element_symbols(var: Node) -> dict:
    """The SymPy symbols :func:`to_sympy` uses for ``var``, mapped to the nodes of
    its elements: ``{x_0: x[0], x_1: x[1], ...}`` (``{x: x}`` for a scalar).

    Pass the result to :func:`from_sympy` to map per-element expressions back.

    Examples
    --------
    >>> import jitgrad as jg
    >>> from jitgrad.sym import element_symbols
    >>> sorted(str(s) for s in element_symbols(jg.vector("x", 2)))
    ['x_0', 'x_1']
    """
    if not isinstance(var, Node) or var.op.name != "var":
        raise TypeError("element_symbols: expected a var node")
    syms = _var_array(var, False)
    if var.shape == ():
        return {syms[()]: var}
    return {syms[idx]: var[idx] for idx in np.ndindex(*var.shape)}


def _sympify_all(a: np.ndarray) -> np.ndarray:
    sp = _sympy()
    out = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(*a.shape):
        v = a[idx]
        out[idx] = v if isinstance(v, sp.Basic) else sp.sympify(v)
    return out


def _node_array(node: Node, args: list, sp) -> np.ndarray:
    """The object array of ``node`` from its inputs' object arrays."""
    op = node.op
    params = dict(node.params)
    if op.kind == "elementwise":
        f = op.rule("sympy")
        ufunc = np.frompyfunc(lambda *xs: f(sp, *xs, **params), len(args), 1)
        return _wrap(ufunc(*args))
    if op.sympy is not None:
        out = op.sympy(sp, *args, **params)
    else:
        out = op.impl(*args, **params)
    return _sympify_all(_wrap(np.asarray(out, dtype=object)))


def _arrays(outs: list, *, max_elements: int, real: bool, leaves=None, hook=None) -> dict:
    """Object arrays of SymPy expressions for every node the outputs reach.

    ``leaves``: ``{id(node): array}`` for nodes to treat as given; ``hook(node,
    array) -> array`` may replace a node's value after it is computed.
    """
    sp = _sympy()
    vals: dict[int, np.ndarray] = {}
    names: dict[str, Node] = {}
    order = toposort(outs) if leaves is None else _order_stopping(outs, leaves)
    for n in order:
        if leaves is not None and id(n) in leaves:
            vals[id(n)] = leaves[id(n)]
            continue
        if n.size > max_elements:
            raise ValueError(
                f"to_sympy: a node of shape {n.shape} ({n.op.name}) has {n.size} elements, "
                f"more than max_elements={max_elements}; SymPy would see one expression "
                "per element"
            )
        name = n.op.name
        if name == "var":
            other = names.setdefault(n.p["name"], n)
            if other is not n:
                raise ValueError(
                    f"to_sympy: two different vars are named {n.p['name']!r} "
                    f"(shapes {other.shape} and {n.shape}); their symbols would clash"
                )
            a = _var_array(n, real)
        elif n.op is CONST:
            arr = n.params[0][1].array
            a = np.empty(arr.shape, dtype=object)
            for idx in np.ndindex(*arr.shape):
                a[idx] = _number(arr[idx])
        else:
            try:
                a = _node_array(n, [vals[id(i)] for i in n.inputs], sp)
            except NotImplementedError:
                raise
            except (TypeError, ValueError, AttributeError) as e:
                raise ValueError(
                    f"to_sympy: op {name!r} cannot be written per element in SymPy ({e})"
                ) from None
        if a.shape != n.shape:
            a = np.broadcast_to(a, n.shape)
        if hook is not None:
            a = hook(n, a)
        vals[id(n)] = a
    return vals


def _order_stopping(outs, leaves):
    """Topological order of the nodes reachable from ``outs`` without passing ``leaves``."""
    order, seen = [], set()
    for out in outs:
        if id(out) in seen:
            continue
        stack = [(out, False)]
        while stack:
            n, expanded = stack.pop()
            if expanded:
                order.append(n)
                continue
            if id(n) in seen:
                continue
            seen.add(id(n))
            stack.append((n, True))
            if id(n) not in leaves:
                stack.extend((i, False) for i in n.inputs if id(i) not in seen)
    return order


def _result(a: np.ndarray):
    sp = _sympy()
    if a.shape == ():
        return a[()]
    return sp.ImmutableDenseNDimArray(a.tolist(), a.shape)


def to_sympy(
    node: Node,
    *,
    max_elements: int = MAX_ELEMENTS,
    real: bool = False,
    max_ops: int = MAX_SYMPY_OPS,
    max_depth: int = MAX_SYMPY_DEPTH,
):
    """The SymPy expression of ``node``.

    Vars become symbols named after them: a scalar var ``x`` is ``Symbol("x")``;
    a tensor var gives one symbol per element, named with its indices
    (``x_0, x_1`` for a vector, ``W_0_1`` for a matrix; see
    :func:`jitgrad.sym.element_symbols`). Constants become exact numbers where
    the float is an integer or a short fraction (``0.5 -> 1/2``), ``pi`` and
    ``E`` for those floats, else ``Float``.

    Parameters
    ----------
    node : Node
    max_elements : int
        Every node of the graph may have at most this many elements (256 by
        default): SymPy gets one expression per element.
    real : bool
        Declare the symbols real (``Symbol("x", real=True)``).
    max_ops, max_depth : int
        Refuse graphs with more operation nodes (2 000 by default) or a longer
        chain of operations (200) than this: SymPy's own expressions are
        recursive, and its sums are flattened again at every term, so past
        these sizes it fails with a ``RecursionError`` or takes minutes.
        :func:`latex` and :func:`jitgrad.pretty` handle larger graphs.

    Returns
    -------
    sympy.Expr or sympy.Array
        An expression for a 0-d node; a ``sympy.Array`` of ``node.shape`` of
        per-element expressions for a tensor.

    Raises
    ------
    ValueError
        If a node of the graph has more than ``max_elements`` elements, or two
        different vars share a name, or the graph is larger than ``max_ops`` or
        deeper than ``max_depth``.

    Examples
    --------
    >>> import jitgrad as jg
    >>> x, y = jg.scalars("x y")
    >>> jg.to_sympy(x**2 * jg.sin(y) / 2.0)
    x**2*sin(y)/2
    >>> jg.to_sympy(jg.vector("v", 2) * 3.0)
    [3*v_0, 3*v_1]
    """
    if not isinstance(node, Node):
        raise TypeError(f"to_sympy: expected a node, got {type(node).__name__}")
    _check_size("to_sympy", node, max_ops, max_depth)
    vals = _arrays([node], max_elements=max_elements, real=real)
    return _result(vals[id(node)])


def _check_size(what, node, max_ops, max_depth):
    """Refuse (ValueError) a graph too large or too deep for SymPy: counted
    iteratively, in one pass over the graph."""
    order = toposort([node])
    depth: dict[int, int] = {}
    ops = 0
    for n in order:
        d = 0
        for i in n.inputs:
            d = max(d, depth[id(i)])
        if n.op.is_op:
            ops += 1
            d += 1
        depth[id(n)] = d
    if ops > max_ops:
        raise ValueError(
            f"{what}: the graph has {ops} operation nodes, more than max_ops={max_ops} "
            "(SymPy's expressions grow too slowly past that); pass a larger max_ops to try, "
            "or print it with jg.pretty or jg.latex"
        )
    if depth[id(node)] > max_depth:
        raise ValueError(
            f"{what}: the graph is {depth[id(node)]} operations deep, more than "
            f"max_depth={max_depth} (SymPy recurses on expression depth); print it with "
            "jg.pretty or jg.latex"
        )


# ----------------------------------------------------------------------------- from_sympy

# SymPy class name -> (jitgrad function name, reciprocal?)
_FUNCS = {
    "exp": "exp",
    "log": "log",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "asin": "arcsin",
    "acos": "arccos",
    "atan": "arctan",
    "sinh": "sinh",
    "cosh": "cosh",
    "tanh": "tanh",
    "Abs": "abs",
    "sign": "sign",
    "log1p": "log1p",
    "expm1": "expm1",
}
_RECIPROCAL = {
    "cot": "tan",
    "sec": "cos",
    "csc": "sin",
    "coth": "tanh",
    "sech": "cosh",
    "csch": "sinh",
}
_RELATIONAL = {
    "StrictLessThan": "less",
    "LessThan": "less_equal",
    "StrictGreaterThan": "greater",
    "GreaterThan": "greater_equal",
    "Equality": "equal",
}


def _ew(name):
    from .ops import elementwise as ew

    return getattr(ew, name)


def _apply(name: str, *args):
    """The op ``name`` on nodes or Python numbers (numbers are folded with NumPy)."""
    if all(not isinstance(a, Node) for a in args):
        op = OPS[name]
        with np.errstate(all="ignore"):
            v = op.impl(*(np.asarray(a) for a in args))
        v = np.asarray(v)
        return bool(v) if v.dtype == BOOL else float(v)
    return _ew(name)(*args)


def _arith(name, a, b):
    if not isinstance(a, Node) and not isinstance(b, Node):
        with np.errstate(all="ignore"):
            return float(OPS[name].impl(np.float64(a), np.float64(b)))
    return _ew(name)(a, b)


def _product(vals):
    out = None
    for v in vals:
        out = v if out is None else _arith("multiply", out, v)
    return 1.0 if out is None else out


def _is_one_plus(e, sp):
    """``u`` if ``e`` is ``1 + u`` (an Add with the term 1), else None."""
    if isinstance(e, sp.Add) and len(e.args) == 2 and sp.S.One in e.args:
        return e.args[1] if e.args[0] == sp.S.One else e.args[0]
    return None


# SymPy sorts terms for printing recursively: deeper expressions keep SymPy's own order.
_SORT_DEPTH = 100


def _ordered(e, method: str, depth: dict):
    """The terms or factors of ``e`` in SymPy's printing order (its own order
    where sorting would recurse too deep for SymPy)."""
    if depth.get(e, 0) > _SORT_DEPTH:
        return e.args
    try:
        return getattr(e, method)()
    except RecursionError:
        return e.args


def _depths(expr) -> dict:
    """Depth of every subexpression, computed without recursion."""
    depth: dict = {}
    stack = [expr]
    while stack:
        e = stack[-1]
        if e in depth:
            stack.pop()
            continue
        todo = [a for a in e.args if a not in depth]
        if todo:
            stack.extend(todo)
            continue
        depth[e] = 1 + max((depth[a] for a in e.args), default=0)
        stack.pop()
    return depth


def _plan(e, sp, symmap, depth):
    """``(children, combine)``: the SymPy subexpressions to convert first and how
    to build ``e``'s value from theirs; a leaf gives ``((), value)``."""
    if isinstance(e, sp.Symbol):
        node = symmap.get(e)
        if node is None:
            from .api import scalar

            node = scalar(e.name)
        return (), node
    if e is sp.true or e is sp.false:
        return (), bool(e)
    if e.is_Number or e.is_NumberSymbol:
        if e is sp.zoo or e is sp.nan:
            return (), float("nan")
        if e is sp.oo:
            return (), math.inf
        if e is -sp.oo:
            return (), -math.inf
        return (), float(e)
    if isinstance(e, sp.core.numbers.ImaginaryUnit):
        raise ValueError(f"from_sympy: {e} is not a real number (no complex values in jitgrad)")
    name = type(e).__name__
    if isinstance(e, sp.Add):
        # log1p / expm1 are recognised by their callers; exp(u) - 1 here.
        if len(e.args) == 2 and sp.S.NegativeOne in e.args:
            other = e.args[1] if e.args[0] == sp.S.NegativeOne else e.args[0]
            if isinstance(other, sp.exp):
                return (other.args[0],), lambda v: _apply("expm1", v[0])
        terms = _ordered(e, "as_ordered_terms", depth)
        signs, kids = [], []
        for t in terms:
            if t.could_extract_minus_sign():
                signs.append(-1)
                kids.append(-t)
            else:
                signs.append(1)
                kids.append(t)

        def add(vals, signs=signs):
            out = None
            for s, v in zip(signs, vals):
                if out is None:
                    out = v if s > 0 else _apply("negative", v)
                else:
                    out = _arith("add" if s > 0 else "subtract", out, v)
            return out

        return tuple(kids), add
    if isinstance(e, sp.Mul):
        if e.could_extract_minus_sign():
            return (-e,), lambda v: _apply("negative", v[0])
        numer, denom = [], []
        for f in _ordered(e, "as_ordered_factors", depth):
            if f.is_Rational and not f.is_Integer:
                if f.p != 1:
                    numer.append(sp.Integer(f.p))
                denom.append(sp.Integer(f.q))
            elif isinstance(f, sp.Pow) and f.exp.is_Number and f.exp.is_negative:
                denom.append(f.base ** (-f.exp))
            else:
                numer.append(f)
        k = len(numer)

        def mul(vals, k=k):
            top = _product(vals[:k])
            if len(vals) == k:
                return top
            return _arith("divide", top, _product(vals[k:]))

        return tuple(numer + denom), mul
    if isinstance(e, sp.Pow):
        b, x = e.base, e.exp
        if b == sp.E:
            return (x,), lambda v: _apply("exp", v[0])
        if x.is_Number:
            if x == sp.Rational(1, 2):
                return (b,), lambda v: _apply("sqrt", v[0])
            if x == 2:
                return (b,), lambda v: _apply("square", v[0])
            if x == -1:
                u = _is_one_plus(b, sp)
                if u is not None and isinstance(u, sp.exp):
                    # 1/(1 + exp(-w)) is sigmoid(w)
                    return (-u.args[0],), lambda v: _apply("sigmoid", v[0])
                return (b,), lambda v: _arith("divide", 1.0, v[0])
            if x.is_negative:
                return (b ** (-x),), lambda v: _arith("divide", 1.0, v[0])
            xf = float(x)
            return (b,), lambda v: _arith("power", v[0], xf)
        return (b, x), lambda v: _arith("power", v[0], v[1])
    if name == "log":
        (arg,) = e.args
        u = _is_one_plus(arg, sp)
        if u is not None:
            if isinstance(u, sp.exp):
                return (u.args[0],), lambda v: _apply("softplus", v[0])
            return (u,), lambda v: _apply("log1p", v[0])
        return (arg,), lambda v: _apply("log", v[0])
    if name in _FUNCS:
        if len(e.args) != 1:
            raise ValueError(f"from_sympy: {name} with {len(e.args)} arguments has no jitgrad op")
        fn = _FUNCS[name]
        return e.args, lambda v: _apply(fn, v[0])
    if name in _RECIPROCAL:
        fn = _RECIPROCAL[name]
        return e.args, lambda v: _arith("divide", 1.0, _apply(fn, v[0]))
    if name in ("Max", "Min"):
        fn = "maximum" if name == "Max" else "minimum"

        def fold(vals, fn=fn):
            out = vals[0]
            for v in vals[1:]:
                out = _arith(fn, out, v)
            return out

        return tuple(e.args), fold
    if name in _RELATIONAL:
        fn = _RELATIONAL[name]
        return (e.lhs, e.rhs), lambda v: _arith(fn, v[0], v[1])
    if isinstance(e, sp.Piecewise):
        pieces = e.args
        if pieces[-1].cond is not sp.true:
            raise ValueError(
                "from_sympy: a Piecewise without a final (expr, True) branch is undefined "
                "somewhere and has no jitgrad form"
            )
        kids = []
        for p in pieces[:-1]:
            kids.extend((p.cond, p.expr))
        kids.append(pieces[-1].expr)

        def piecewise(vals):
            out = vals[-1]
            for k in range(len(vals) - 3, -1, -2):
                cond, then = vals[k], vals[k + 1]
                if not isinstance(cond, Node):
                    out = then if cond else out
                else:
                    out = _ew("where")(cond, then, out)
            return out

        return tuple(kids), piecewise
    raise ValueError(f"from_sympy: the SymPy function {name!r} has no jitgrad op ({e})")


def _convert(expr, sp, symmap):
    """Iterative post-order conversion with a memo (no recursion on deep expressions)."""
    memo: dict = {}
    stack = [expr]
    plans: dict = {}
    depth = _depths(expr)
    while stack:
        e = stack[-1]
        if e in memo:
            stack.pop()
            continue
        plan = plans.get(e)
        if plan is None:
            plan = plans[e] = _plan(e, sp, symmap, depth)
        kids, combine = plan
        if not kids:
            memo[e] = combine
            stack.pop()
            continue
        todo = [k for k in kids if k not in memo]
        if todo:
            stack.extend(todo)
            continue
        memo[e] = combine([memo[k] for k in kids])
        stack.pop()
    return memo[expr]


def from_sympy(expr, mapping: dict | None = None, *, dtype=None) -> Node:
    """A graph node from a SymPy expression.

    Parameters
    ----------
    expr : sympy.Expr, sympy relational, sympy.Array or sympy.Matrix
        ``Add``, ``Mul``, ``Pow`` (``sqrt``, ``x**2``, ``1/x``), numbers,
        ``pi``, ``E``, ``exp``, ``log`` (``log(1 + u)`` becomes ``log1p``,
        ``log(1 + exp(u))`` ``softplus``), ``sin``, ``cos``, ``tan``, ``asin``,
        ``acos``, ``atan``, ``sinh``, ``cosh``, ``tanh``, ``Abs``, ``sign``,
        ``Max``, ``Min``, ``cot``, ``sec``, ``csc`` (as reciprocals), ``Piecewise``
        with a final ``True`` branch (nested ``where``) and the comparisons
        ``<, <=, >, >=, Eq``. An array or matrix gives a tensor node of its
        shape (its entries must be scalars).
    mapping : dict, optional
        ``{symbol: node}`` (a symbol or its name); symbols not in it become
        scalar vars of the same name.
    dtype : str or numpy.dtype, optional
        The dtype of the result (default: that of the nodes, float64 for a
        number).

    Returns
    -------
    Node

    Raises
    ------
    ValueError
        For a SymPy function with no jitgrad op (the message names it), complex
        numbers, or a Piecewise without an otherwise branch.
    TypeError
        If ``expr`` is not a SymPy object or number (strings are not parsed).

    Examples
    --------
    >>> import sympy, jitgrad as jg
    >>> x = sympy.Symbol("x")
    >>> print(jg.from_sympy(sympy.sin(x)**2 / x + 1))
    1 + sin(x)**2/x
    >>> jg.from_sympy(sympy.gamma(x))
    Traceback (most recent call last):
    ...
    ValueError: from_sympy: the SymPy function 'gamma' has no jitgrad op (gamma(x))
    """
    sp = _sympy()
    from .ops.convert import const
    from .shapes import as_dtype

    if isinstance(expr, (str, bytes)):
        raise TypeError("from_sympy: expected a SymPy expression, got a string (not parsed)")
    symmap = {}
    for k, v in (mapping or {}).items():
        key = sp.Symbol(k) if isinstance(k, str) else k
        if not isinstance(v, Node):
            v = const(v)
        symmap[key] = v
    if isinstance(expr, (sp.MatrixBase, sp.NDimArray)):
        arr = sp.Array(expr)
        shape = tuple(int(d) for d in arr.shape)
        flat = [from_sympy(arr[idx], mapping, dtype=dtype) for idx in np.ndindex(*shape)]
        if any(f.shape != () for f in flat):
            raise ValueError("from_sympy: the entries of an array must be scalar expressions")
        from .ops.structure import reshape, stack

        return reshape(stack(flat), shape)
    if isinstance(expr, (bool, int, float)):
        expr = sp.sympify(expr)
    if not isinstance(expr, sp.Basic):
        raise TypeError(f"from_sympy: expected a SymPy expression, got {type(expr).__name__}")
    out = _convert(expr, sp, symmap)
    if not isinstance(out, Node):
        out = const(out, dtype=None if dtype is None else as_dtype(dtype))
    if dtype is not None and out.dtype != as_dtype(dtype):
        out = _ew("cast")(out, dtype)
    return out


# ----------------------------------------------------------------------------- latex


def _tree_ops(order, cap: int) -> dict:
    """Op count of each node written out as a tree (shared nodes repeated), capped."""
    size: dict[int, int] = {}
    for n in order:
        s = 1 if n.op.is_op else 0
        for i in n.inputs:
            s += size[id(i)]
        size[id(n)] = min(s, cap)
    return size


def _cheap(n: Node) -> bool:
    """Nodes never worth a temporary: an element of a var."""
    return n.op.name == "getitem" and n.inputs[0].op.name == "var"


def latex(
    node: Node,
    *,
    max_elements: int = MAX_ELEMENTS,
    name: str | None = None,
    max_ops: int = MAX_LATEX_OPS,
) -> str:
    """LaTeX for ``node`` (via :func:`to_sympy` and ``sympy.latex``).

    A graph whose expression tree is small is written as one formula; a larger
    scalar graph is written as an ``aligned`` block of temporaries ``t_{k} = ...``
    for its shared subexpressions (and for long chains), the result on the last
    row, so the text grows linearly with the graph.

    Parameters
    ----------
    node : Node
    max_elements : int
        As in :func:`to_sympy`.
    name : str, optional
        Written as ``name =`` before the result when temporaries are used.
    max_ops : int
        Refuse graphs with more operation nodes than this (10 000 by default,
        a few seconds of SymPy printing) with a ``ValueError``.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        As :func:`to_sympy`.

    Examples
    --------
    >>> import jitgrad as jg
    >>> x = jg.scalar("x")
    >>> print(jg.latex(jg.sin(x) ** 2 / x))
    \\frac{\\sin^{2}{\\left(x \\right)}}{x}
    """
    sp = _sympy()
    if not isinstance(node, Node):
        raise TypeError(f"latex: expected a node, got {type(node).__name__}")
    order = toposort([node])
    n_ops = sum(1 for n in order if n.op.is_op)
    if n_ops > max_ops:
        raise ValueError(
            f"latex: the graph has {n_ops} operation nodes, more than max_ops={max_ops}; "
            "pass a larger max_ops to try (SymPy prints about 2 000 a second), "
            "or print it with jg.pretty"
        )
    size = _tree_ops(order, 10 * LATEX_INLINE_OPS)
    if size[id(node)] <= LATEX_INLINE_OPS:
        return sp.latex(_matrix(to_sympy(node, max_elements=max_elements), sp))
    uses = consumers_count(order)
    taken = {n.p["name"] for n in order if n.op.name == "var"}
    temps: set[int] = set()
    inline: dict[int, int] = {}  # ops written inline under each node
    for n in order:
        if not n.op.is_op:
            inline[id(n)] = 0
            continue
        s = 1 + sum(inline[id(i)] for i in n.inputs)
        if n is not node and not _cheap(n) and (uses[id(n)] > 1 or s > 25):
            temps.add(id(n))
            s = 0
        inline[id(n)] = s
    rows: list = []
    counter = [0]
    prefix = "t"
    while any(name_.startswith(prefix + "_") for name_ in taken):
        prefix += "t"

    def hook(n, a):
        # A temporary per element (a scalar has one) that is not already an atom.
        if id(n) not in temps:
            return a
        out = np.empty(a.shape, dtype=object)
        for idx in np.ndindex(*a.shape):
            e = a[idx]
            if isinstance(e, sp.Basic) and not e.is_Atom and not (-e).is_Atom:
                counter[0] += 1
                sym = sp.Symbol(f"{prefix}_{counter[0]}")
                rows.append(f"{sp.latex(sym)} &= {sp.latex(e)}")
                e = sym
            out[idx] = e
        return out

    vals = _arrays([node], max_elements=max_elements, real=False, hook=hook)
    last = sp.latex(_matrix(_result(vals[id(node)]), sp))
    rows.append(f"{name} &= {last}" if name else f"& {last}")
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def _matrix(expr, sp):
    """A 2-d array as a ``Matrix`` (which LaTeX writes as a matrix)."""
    if isinstance(expr, sp.NDimArray) and expr.rank() == 2:
        return sp.Matrix(expr.tolist())
    return expr


# ----------------------------------------------------------------------------- the SymPy pass


def _member(n: Node) -> bool:
    op = n.op
    return op.kind == "elementwise" and op.sympy is not None and op.name != "cast"


class _Unit:
    """A piece of an elementwise cluster handed to SymPy as one task."""

    __slots__ = ("roots", "size", "leaves", "exprs", "whole")

    def __init__(self, roots, size, whole=False):
        self.roots = roots
        self.size = size
        self.whole = whole  # a whole cluster: SymPy's form may replace it at equal size
        self.leaves: list = []
        self.exprs: list = []


def _units(order: list, outs: list, max_ops: int) -> tuple:
    """Maximal elementwise clusters, cut into pieces of at most ``max_ops`` tree ops:
    ``(units, ids of the nodes where clusters are cut)``."""
    uses = consumers_count(order)
    for o in outs:
        uses[id(o)] = uses.get(id(o), 0) + 1
    parent: dict[int, int] = {}

    def find(k):
        root = k
        while parent[root] != root:
            root = parent[root]
        while parent[k] != root:
            parent[k], k = root, parent[k]
        return root

    members = [n for n in order if _member(n)]
    for n in members:
        parent[id(n)] = id(n)
    external: set[int] = {id(o) for o in outs}
    for n in order:
        m = id(n) in parent
        for i in n.inputs:
            if id(i) in parent:
                if m:
                    a, b = find(id(n)), find(id(i))
                    if a != b:
                        parent[a] = b
                else:
                    external.add(id(i))
    clusters: dict[int, list] = {}
    for n in members:
        clusters.setdefault(find(id(n)), []).append(n)
    units = []
    cuts: set[int] = set()
    for nodes in clusters.values():
        ids = {id(n) for n in nodes}
        roots = [n for n in nodes if id(n) in external]
        tree = _cluster_tree(nodes, ids, 10 * max_ops)
        total = sum(tree[id(r)] for r in roots)
        if total <= max_ops:
            if len(nodes) >= 2:
                units.append(_Unit(roots, len(nodes), whole=True))
            continue
        # Cut at shared nodes, then wherever a tree grows past max_ops.
        cut = {id(n) for n in roots} | {id(n) for n in nodes if uses.get(id(n), 0) > 1}
        acc: dict[int, int] = {}
        for n in nodes:
            kids = [i for i in n.inputs if id(i) in ids and id(i) not in cut]
            s = 1 + sum(acc[id(i)] for i in kids)
            for i in sorted(kids, key=lambda i: -acc[id(i)]):
                if s <= max_ops:
                    break
                cut.add(id(i))
                s -= acc[id(i)]
            acc[id(n)] = s
        for n in nodes:
            if id(n) in cut and acc[id(n)] >= 2:
                units.append(_Unit([n], acc[id(n)]))
        cuts |= cut
    return units, cuts


def _cluster_tree(nodes, ids, cap: int) -> dict:
    """Op count of each cluster node written out as a tree over the cluster, capped."""
    size: dict[int, int] = {}
    for n in nodes:
        s = 1
        for i in n.inputs:
            if id(i) in ids:
                s += size[id(i)]
        size[id(n)] = min(s, cap)
    return size


def _unit_exprs(unit: _Unit, sp, cut_ids: set, positive) -> bool:
    """Fill ``unit.exprs`` and ``unit.leaves``; False if SymPy cannot take it."""
    leaves: dict[int, tuple] = {}
    memo: dict[int, object] = {}

    def leaf(n):
        got = leaves.get(id(n))
        if got is None:
            u = uniform_value(n) if n.dtype != BOOL else None
            if u is not None:
                return _number(u)
            kw = {"real": True}
            if n.dtype != BOOL and positive(n):
                kw["positive"] = True
            sym = sp.Symbol(f"_l{len(leaves)}", **kw)
            got = leaves[id(n)] = (sym, n)
        return got[0]

    roots = unit.roots
    root_ids = {id(r) for r in roots}
    stack = [(r, False) for r in roots]
    while stack:
        n, expanded = stack.pop()
        if id(n) in memo:
            continue
        is_member = _member(n) and (id(n) in root_ids or id(n) not in cut_ids)
        if not is_member:
            memo[id(n)] = leaf(n)
            continue
        if not expanded:
            stack.append((n, True))
            stack.extend((i, False) for i in n.inputs if id(i) not in memo)
            continue
        args = [memo[id(i)] for i in n.inputs]
        try:
            memo[id(n)] = n.op.sympy(sp, *args, **dict(n.params))
        except Exception:
            return False
    unit.exprs = [memo[id(r)] for r in roots]
    unit.leaves = list(leaves.values())
    return True


def _jg_count(exprs, syms) -> int:
    """Op count of the graph :func:`from_sympy` builds for ``exprs``."""
    from .api import scalar
    from .printing import count_ops

    mapping = {s: scalar(f"__sympy_leaf_{k}") for k, s in enumerate(syms)}
    return count_ops([from_sympy(e, mapping) for e in exprs])


def _agree(old, new, syms, sp) -> bool:
    """``old`` and ``new`` agree at random points where ``old`` is finite."""
    rng = np.random.default_rng(1234)
    points = [rng.uniform(0.1, 2.0, len(syms)) for _ in range(4)]
    points += [rng.uniform(-2.0, 2.0, len(syms)) for _ in range(4)]
    pos = np.array([bool(s.is_positive) for s in syms], dtype=bool)
    points = [np.where(pos, np.abs(p) + 0.05, p) for p in points]
    try:
        f = sp.lambdify(syms, old, modules="numpy")
        g = sp.lambdify(syms, new, modules="numpy")
    except Exception:
        return False
    checked = 0
    with np.errstate(all="ignore"):
        for p in points:
            try:
                a = complex(f(*p))
                b = complex(g(*p))
            except Exception:
                return False
            if not (math.isfinite(a.real) and a.imag == 0):
                continue
            checked += 1
            if not (abs(b - a) <= 1e-7 * (1 + abs(a))):
                return False
    return checked > 0


def _irrational(exprs, sp) -> int:
    """How many irrational or floating constants (pi, sqrt(2), 0.1) the expressions hold."""
    n = 0
    for e in exprs:
        for a in sp.preorder_traversal(e):
            if isinstance(a, (sp.Float, sp.NumberSymbol)) or (
                isinstance(a, sp.Pow) and a.base.is_Number and not a.exp.is_Integer
            ):
                n += 1
    return n


def _simplify_task(payload):
    """In a worker: the smallest equivalent form of each expression (by jitgrad
    op count), or None where nothing smaller (or equal and different) is found."""
    exprs, syms, limit = payload
    sp = _sympy()
    try:
        base = _jg_count(exprs, syms)
    except ValueError:
        return None
    cands = []
    for step in ("factor_terms", "cancel", "simplify"):
        try:
            if step == "simplify":
                if sum(sp.count_ops(e) for e in exprs) > FULL_SIMPLIFY_OPS:
                    continue
                new = [sp.simplify(e) for e in exprs]
            elif step == "cancel":
                new = [sp.factor_terms(sp.cancel(e)) for e in exprs]
            else:
                new = [sp.factor_terms(e) for e in exprs]
            cands.append((_jg_count(new, syms), _irrational(new, sp), -len(cands), new))
        except Exception:
            continue
    # The round trip alone (SymPy's own canonical form); ties go to the steps above.
    cands.append((base, _irrational(exprs, sp), 1, list(exprs)))
    # Fewest ops; then fewest irrational constants (sqrt(2)*sin(x + pi/4) is not
    # more readable than sin(x) + cos(x)); then the more simplified form.
    cands.sort(key=lambda c: c[:3])
    for count, _, _, new in cands:
        if count > limit:
            break
        if all(_agree(e, n, syms, sp) for e, n in zip(exprs, new)):
            return count, new
    return None


def _pool(n: int):
    import multiprocessing as mp

    # Forked workers start at once and already hold SymPy and jitgrad; where fork
    # does not exist (Windows) they are spawned, which re-imports the main module.
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else "spawn")
    from .progress import no_watcher

    # No thread of ours may run while the workers are forked.
    with no_watcher():
        return ctx.Pool(n)


def sympy_pass(outs: list, timeout: float = 5.0, *, max_ops: int = MAX_CLUSTER_OPS, workers=None):
    """The SymPy level of :func:`jitgrad.simplify` (without the fast passes around it).

    The maximal connected subgraphs of elementwise ops with a SymPy form (one
    scalar expression per element, one real symbol per leaf: vars, constants
    that are not scalars, and the outputs of other ops) are cut into pieces of at
    most ``max_ops`` ops written out as trees (first at shared nodes), and each
    piece goes to SymPy in a worker process: ``factor_terms``, ``cancel`` and,
    for small pieces, ``sympy.simplify``. A piece is replaced by the smallest
    form (by :func:`count_ops` of the graph built back) when it is no larger
    than the piece and agrees with it numerically at random points. Workers are
    stopped at the deadline; pieces not done by then are kept as they are.
    Small tensor outputs (up to 16 elements) are also tried element by element,
    which turns a small Hessian into a matrix of entries.

    The workers are forked processes (spawned where fork does not exist, as on
    Windows: there a script calling this must guard its main code with
    ``if __name__ == "__main__":``, as :mod:`multiprocessing` requires). Where no
    worker process can be started (inside a daemonic process) the graph is
    returned unchanged.

    Parameters
    ----------
    outs : list of Node
    timeout : float
        Seconds in total for the conversion, SymPy and collecting results.
    max_ops : int
        The largest expression tree SymPy is given.
    workers : int, optional
        Worker processes (default: up to 4, at most the number of CPUs).

    Returns
    -------
    list of Node
    """
    deadline = time.monotonic() + max(0.0, float(timeout))
    sp = _sympy()  # its first import counts against the budget too
    from .rewrite.rules import positive

    outs = list(outs)
    order = toposort(outs)
    units, cut_ids = _units(order, outs, max_ops)
    small = [o for o in outs if 1 < o.size <= SMALL_TENSOR]
    if not units and not small:
        return outs
    n = workers or min(4, os.cpu_count() or 1, len(units) + len(small))
    try:
        pool = _pool(max(1, n))
    except (OSError, AssertionError, ValueError):
        return outs  # no worker processes here (a daemon process): nothing is changed
    tasks: list = []
    pending: list = []
    tpending: list = []
    results: dict[int, list] = {}
    tensor_results: dict[int, tuple] = {}
    try:
        # Convert and submit while the workers already run, smallest pieces first,
        # so a large graph spends its budget in SymPy rather than in conversion.
        for o in small:
            if time.monotonic() > deadline:
                break
            t = _tensor_task(o, sp)
            if t is not None:
                tpending.append((o, t, pool.apply_async(_simplify_task, ((t[0], t[1], math.inf),))))
        for u in sorted(units, key=lambda u: u.size):
            if time.monotonic() > deadline:
                break
            if not _unit_exprs(u, sp, cut_ids - {id(r) for r in u.roots}, positive):
                continue
            tasks.append(u)
            payload = (u.exprs, [s for s, _ in u.leaves], u.size - (not u.whole))
            pending.append((u, pool.apply_async(_simplify_task, (payload,))))
        for group in (pending, tpending):
            for item in group:
                ar = item[-1]
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    ar.wait(left)
                except Exception:
                    pass
        for u, ar in pending:
            if ar.ready():
                try:
                    got = ar.get(0)
                except Exception:
                    got = None
                if got is not None and got[0] <= u.size - (not u.whole):
                    results[id(u)] = got[1]
        for o, t, ar in tpending:
            if ar.ready():
                try:
                    got = ar.get(0)
                except Exception:
                    got = None
                if got is not None:
                    tensor_results[id(o)] = (t, got[1])
    finally:
        pool.terminate()
        pool.join()
    return _rebuild(order, outs, tasks, results, tensor_results)


def _tensor_task(o: Node, sp):
    """Per-element expressions of a small tensor output, over per-element symbols."""
    try:
        vals = _arrays([o], max_elements=MAX_ELEMENTS, real=True)
    except (ValueError, NotImplementedError):
        return None
    a = vals[id(o)]
    syms = set()
    for e in a.flat:
        if not isinstance(e, sp.Basic):
            return None
        syms |= e.free_symbols
    exprs = list(a.flat)
    if sum(sp.count_ops(e) for e in exprs) > 4 * MAX_CLUSTER_OPS:
        return None
    syms = sorted(syms, key=str)
    return exprs, syms


def _rebuild(order, outs, tasks, results, tensor_results):
    sp = _sympy()
    from .rewrite.engine import conform

    replace: dict[int, tuple] = {}
    for u in tasks:
        new = results.get(id(u))
        if new is None:
            continue
        for r, e in zip(u.roots, new):
            replace[id(r)] = (e, u.leaves)
    memo: dict[int, Node] = {}
    for n in order:
        if not n.op.is_op:
            memo[id(n)] = n
            continue
        got = replace.get(id(n))
        if got is not None:
            e, leaves = got
            try:
                free = e.free_symbols
                m = from_sympy(e, {s: memo[id(leaf)] for s, leaf in leaves if s in free})
                m = conform(m, n.shape, n.dtype)
            except (ValueError, TypeError):
                m = None
            if m is not None:
                memo[id(n)] = m
                continue
        ins = tuple(memo[id(i)] for i in n.inputs)
        if all(a is b for a, b in zip(ins, n.inputs)):
            memo[id(n)] = n
        else:
            memo[id(n)] = make(n.op, ins, **dict(n.params))
    new_outs = [memo[id(o)] for o in outs]
    if tensor_results:
        from .printing import count_ops

        for k, o in enumerate(outs):
            got = tensor_results.get(id(o))
            if got is None:
                continue
            (exprs, syms), new = got
            mapping = {}
            for s in syms:
                mapping[s] = _element_node(s, order)
            if any(v is None for v in mapping.values()):
                continue
            try:
                entries = sp.ImmutableDenseNDimArray(new, o.shape)
                t = conform(from_sympy(entries, mapping), o.shape, o.dtype)
            except (ValueError, TypeError):
                continue
            if t is not None and count_ops(new_outs[:k] + [t] + new_outs[k + 1 :]) <= count_ops(
                new_outs
            ):
                new_outs[k] = t
    return new_outs


def _element_node(sym, order):
    """The node of the var element a per-element symbol (``x_0_1``) stands for."""
    name = sym.name
    for n in order:
        if n.op.name != "var":
            continue
        vname = n.p["name"]
        if n.shape == () and vname == name:
            return n
        if n.shape and name.startswith(vname + "_"):
            try:
                idx = tuple(int(k) for k in name[len(vname) + 1 :].split("_"))
            except ValueError:
                continue
            if len(idx) == n.ndim and all(0 <= i < d for i, d in zip(idx, n.shape)):
                return n[idx]
    return None

"""The op table: one :class:`OpDef` record holds everything about an op.

Transforms, the evaluator, the printers and the code generator look ops up here
and never test op names. Derivative rules build graphs with the same public
functions users call, so every derivative can be differentiated again.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..graph import Frozen, Node, intern, lookup
from ..shapes import F32, F64, fmt

__all__ = [
    "OpDef",
    "OPS",
    "register",
    "make",
    "remake",
    "leaf_const",
    "scalar_const",
    "uniform_value",
]

#: Constant folding at build time is done only up to this many output elements.
FOLD_MAX_SIZE = 1 << 20


@dataclass(frozen=True, eq=False)
class OpDef:
    """Everything about one op.

    Fields
    ------
    name : the op's name (NumPy's where one exists).
    kind : ``"leaf"``, ``"elementwise"``, ``"reduce"``, ``"structure"`` or ``"linalg"``.
    shape : ``(inputs, **params) -> (shape, dtype)``; raises ``ValueError`` naming
        the op and the shapes.
    impl : NumPy reference ``(*arrays, **params) -> ndarray``.
    vjp : ``(g, out, *inputs, **params) -> [cotangent or None per input]``; a
        cotangent may be of any shape that broadcasts to its input's shape.
    jvp : ``(tangents, out, *inputs, **params) -> tangent or None``; ``tangents``
        holds a node of the input's shape or None (zero) per input.
    fold : ``(*inputs, **params) -> Node or None``: build-time rewrites (x+0 -> x);
        the result may broadcast to the node's shape.
    batch : ``(xs, batched, out, **params) -> Node``: the op applied to inputs of
        which those flagged in ``batched`` carry an extra leading axis B; returns
        a node of shape ``(B,) + out.shape`` (used by jacobian/hessian).
    sympy : ``(sympy_module, *args, **params) -> expr`` for elementwise ops (the
        scalar form); for other ops ``(sympy_module, x, **params) -> array`` on
        object arrays of expressions (ops without it are expanded with ``impl``).
    emit : code-generation template, ``"np.exp({0})"``.
    infix : ``(symbol, precedence)`` for operators printed infix.
    doc : f, f', the domain and the value chosen at kinks.

    ``is_op`` (not a field) is True for operations, False for the leaves.
    """

    name: str
    kind: str
    shape: Callable | None = None
    impl: Callable | None = None
    vjp: Callable | None = None
    jvp: Callable | None = None
    fold: Callable | None = None
    batch: Callable | None = None
    sympy: Callable | None = None
    emit: Any = None
    infix: tuple | None = None
    doc: str = ""
    linear: bool = False
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        # ``is_op``: True for operations, False for leaves (vars, constants). A plain
        # attribute: graph walks test it once per node.
        object.__setattr__(self, "is_op", self.kind != "leaf")

    def rule(self, name: str):
        """The field ``name``, or ``NotImplementedError`` naming op and field."""
        f = getattr(self, name)
        if f is None:
            raise NotImplementedError(f"op {self.name!r} has no {name!r} rule")
        return f

    def __repr__(self):
        return f"<OpDef {self.name}>"


OPS: dict[str, OpDef] = {}


class _Functions:
    """The graph-building functions of the op families, by name (``FN.cast``,
    ``FN.reshape``, ...), for the rules of the other families: derivative
    rules and conversions build graphs with any family's functions, and each
    family registers its own when it is imported (``jitgrad.ops`` imports them
    all), so that no family imports one that imports it back."""

    def __getattr__(self, name):
        raise AttributeError(
            f"no op function {name!r} is registered (jitgrad.ops registers every family)"
        )


#: see :class:`_Functions`
FN = _Functions()


def provide(**functions) -> None:
    """Register an op family's graph-building functions in :data:`FN`."""
    for name, f in functions.items():
        if name in FN.__dict__ and FN.__dict__[name] is not f:
            raise ValueError(f"op function {name!r} registered twice")
        setattr(FN, name, f)


def register(op: OpDef) -> OpDef:
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} is already registered")
    OPS[op.name] = op
    return op


def _const_shape(**params):
    raise AssertionError("constants have no shape rule")


VAR = register(OpDef("var", "leaf", doc="A graph input."))
CONST = register(OpDef("const", "leaf", doc="A constant array."))


def leaf_const(array: np.ndarray) -> Node:
    """The interned constant node holding ``array`` (float64, float32 or bool)."""
    a = np.asarray(array)
    fz = Frozen(a)
    return intern(CONST, (), (("value", fz),), a.shape, a.dtype)


def scalar_const(value: float, dtype=F64) -> Node:
    return leaf_const(np.asarray(value, dtype=dtype))


def uniform_value(node: Node):
    """The single value of every element of ``node`` if it is a (broadcast) constant, else None."""
    op = node.op
    if op is CONST:
        return node.params[0][1].uniform
    if op.name == "broadcast_to" and node.inputs[0].op is CONST:
        return node.inputs[0].params[0][1].uniform
    return None


def _check_node(x, opname: str):
    if not isinstance(x, Node):
        raise TypeError(f"{opname}: expected a jitgrad node, got {type(x).__name__}")


def make(op: OpDef, inputs: tuple, **params) -> Node:
    """Build (or find) the node ``op(*inputs, **params)``.

    Runs the shape rule, the op's build-time ``fold`` and constant folding.
    """
    items = tuple(sorted(params.items())) if params else ()
    node = lookup(op, inputs, items)
    if node is not None:
        return node
    return _build(op, inputs, params, items)


def remake(node: Node, inputs: tuple) -> Node:
    """``node``'s op with ``node``'s parameters on new ``inputs``: :func:`make`
    without rebuilding the parameters (an op node's are sorted already)."""
    op, items = node.op, node.params
    found = lookup(op, inputs, items)
    if found is not None:
        return found
    return _build(op, inputs, dict(items) if items else {}, items)


def _build(op: OpDef, inputs: tuple, params: dict, items: tuple) -> Node:
    """:func:`make` for a node not interned yet (``items``: ``params`` sorted)."""
    shape, dtype = op.shape(inputs, **params)
    if op.kind == "elementwise" and len(inputs) > 1:
        for x in inputs:
            if x.op.name == "broadcast_to":
                stripped = _strip_broadcasts(inputs, shape)
                if stripped is not inputs:
                    return make(op, stripped, **params)
                break
    if op.fold is not None:
        folded = op.fold(*inputs, **params)
        if folded is not None:
            return _conform(folded, shape, dtype)
    if inputs:
        for i in inputs:
            if i.op is not CONST:
                break
        else:
            if _size(shape) <= FOLD_MAX_SIZE and _size(shape) <= builtins.max(
                1, *(i.size for i in inputs)
            ):
                # (Folding must not turn a broadcast into a stored array.)
                with np.errstate(all="ignore"):
                    value = op.impl(*(i.params[0][1].array for i in inputs), **params)
                value = np.asarray(value)
                if value.shape == shape and value.dtype == dtype:
                    return leaf_const(value)
    return intern(op, inputs, items, shape, dtype)


def _strip_broadcasts(inputs, shape):
    """Drop ``broadcast_to`` on operands of an elementwise op where the other
    operands already give the output shape (``broadcast_to(c, s) * x -> c * x``)."""
    out = None
    for k, x in enumerate(inputs):
        if x.op.name != "broadcast_to":
            continue
        inner = x.inputs[0]
        others = [(out or inputs)[j].shape for j in range(len(inputs)) if j != k]
        if _bshape(others + [inner.shape]) == shape:
            out = list(out or inputs)
            out[k] = inner
    return inputs if out is None else tuple(out)


def _bshape(shapes):
    from ..shapes import broadcast

    try:
        return broadcast("", *shapes)
    except ValueError:
        return None


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _conform(node: Node, shape, dtype) -> Node:
    """Cast and broadcast a folded result to the shape and dtype the op promised."""
    if node.dtype != dtype:
        node = FN.cast(node, dtype)
    if node.shape != shape:
        node = FN.broadcast_to(node, shape)
    return node


def float_dtype_of(*nodes) -> np.dtype:
    for n in nodes:
        if n.dtype == F64:
            return F64
    for n in nodes:
        if n.dtype == F32:
            return F32
    return F64


def shape_error(opname: str, *shapes, why: str = "") -> ValueError:
    msg = f"{opname}: incompatible shapes {', '.join(fmt(s) for s in shapes)}"
    if why:
        msg += f" ({why})"
    return ValueError(msg)


def batch_pad(xs, batched, out, **params) -> Node:
    """Batching rule for broadcasting ops: give each batched input the output's
    rank (size-1 axes after the batch axis) so the batch axis lines up."""
    rank = out.ndim
    args = []
    for x, b in zip(xs, batched):
        if b and x.ndim - 1 < rank:
            x = FN.reshape(x, x.shape[:1] + (1,) * (rank - (x.ndim - 1)) + x.shape[1:])
        args.append(x)
    return make(out.op, tuple(args), **params)


def batch_size(xs, batched) -> int:
    return next(x.shape[0] for x, b in zip(xs, batched) if b)


def batch_all(xs, batched, originals) -> list:
    """Every input with the batch axis: unbatched ones are broadcast along it."""
    B = batch_size(xs, batched)
    out = []
    for x, b in zip(xs, batched):
        out.append(x if b else FN.broadcast_to(FN.reshape(x, (1,) + x.shape), (B,) + x.shape))
    return out

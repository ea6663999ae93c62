"""The lowering table: how each op of the op table becomes loop code.

One :class:`Lowering` entry per :class:`~jitgrad.ops.core.OpDef`, keyed by the
record itself (``LOWERING[op]``), as the op table keys everything else about an
op. The scheduler (:mod:`.lower`) and the emitter (:mod:`.emit`) read an op's
loop kind, index map, accumulation and array code from here and never test op
names; a new op is one record in the op table, one entry here and one test case
(``tests/test_lowering.py`` checks that every op has its entry).

Loop kinds (see :mod:`.lower`):

``map``        one value per element of the node's own shape, read from its inputs
               at an index that is a function of the loop index;
``accumulate`` one update per element of the *input's* shape into an output;
``array``      whole-array code once the inputs are complete;
``leaf``       inputs and constants.

Index maps are ``index(em, node, I) -> J``: for a map, the index at which the
node reads its first input when the loop is at ``I`` (elementwise ops broadcast
every input instead, :func:`project`); for an accumulation, the output element
that input element ``I`` updates. Index expressions are strings (``"i0"``,
``"i1 + 2"``) and ``em`` is the emitter, which names index constants.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..ops.core import OPS, OpDef

__all__ = ["Lowering", "LOWERING", "lowering", "loop_kind", "fast_op", "project"]

MAP, ACC, ARRAY, LEAF, ALIAS, VIEW = "map", "accumulate", "array", "leaf", "alias", "view"


@dataclass(frozen=True)
class Lowering:
    """How one op is lowered.

    Fields
    ------
    loop : ``MAP``, ``ACC``, ``ARRAY`` or ``LEAF``, or ``node -> kind`` when it
        depends on the node (a reshape that only adds size-1 axes is a map).
    index : the index map, ``(em, node, I) -> J`` (see the module docstring);
        None for elementwise ops, whose inputs are broadcast.
    init, combine : for accumulations, the identity (``node -> float``) and the
        update statement, ``(target, value) -> str``.
    array : whole-array code, ``(em, node) -> None`` (appends to ``em.lines``);
        for ``ARRAY`` nodes and for free views taken by BLAS.
    llvm : the :mod:`.scalar_block` instruction of an elementwise op on float64
        operands (``"add"`` is an ``fadd``, ``"exp"`` jitgrad's own exp), or None.
    reduction : an accumulation over ``params["axes"]`` (kept in a local when
        the result is 0-d); ``parallel_reduce``: one Numba turns into a parallel
        reduction under ``prange``; ``additive``: the update is ``+=``.
    scatter : an accumulation that writes into a larger array (the adjoint of a
        gather); ``basic_index``: indexed by ``params["index"]`` (ints, slices).
    gathers : reads its input through a constant index array.
    cheap : arithmetic cheap enough to recompute where it is read.
    joins_scatters : adding scatters of one shape accumulates them into one buffer.
    inline_small : a reduction over a few elements may be written out where read.
    int_power : ``x ** k`` with a small integer constant ``k`` is written as
        repeated multiplication.
    blas : reads free views (``x.T``, ``x.reshape``) of its inputs;
        ``blas_view``: ``node -> bool``, whether the node can be such a view.
    """

    loop: str | Callable
    index: Callable | None = None
    init: Callable | None = None
    combine: Callable | None = None
    array: Callable | None = None
    llvm: str | None = None
    reduction: bool = False
    parallel_reduce: bool = False
    additive: bool = False
    scatter: bool = False
    basic_index: bool = False
    gathers: bool = False
    cheap: bool = False
    joins_scatters: bool = False
    inline_small: bool = False
    int_power: bool = False
    blas: bool = False
    blas_view: Callable | None = None


class _Table(dict):
    def __missing__(self, op):
        raise NotImplementedError(f"op {op.name!r} has no lowering")


#: op record -> its lowering (an op without one raises ``NotImplementedError``).
LOWERING: dict[OpDef, Lowering] = _Table()


def lowering(name: str, entry: Lowering) -> Lowering:
    """Register ``entry`` as the lowering of the op ``name`` of the op table."""
    op = OPS[name]
    if op in LOWERING:
        raise ValueError(f"op {name!r} already has a lowering")
    LOWERING[op] = entry
    return entry


def loop_kind(node) -> str:
    """The loop kind of ``node`` (``MAP``, ``ACC``, ``ARRAY`` or ``LEAF``)."""
    k = LOWERING[node.op].loop
    return k if isinstance(k, str) else k(node)


def fast_op(node) -> str | None:
    """The :mod:`.scalar_block` instruction for ``node`` when it has one on float64 values."""
    ins = LOWERING[node.op].llvm
    if ins is None or node.dtype != np.float64:
        return None
    if any(i.dtype != np.float64 for i in node.inputs):
        return None
    return ins


# ----------------------------------------------------------------------------- index maps


def project(inp_shape, out_shape, I):
    """Index of a broadcast operand of shape ``inp_shape`` at output index ``I``."""
    off = len(out_shape) - len(inp_shape)
    return [
        "0" if d == 1 and out_shape[off + k] != 1 else I[off + k] for k, d in enumerate(inp_shape)
    ]


def basic_index(index, I: list) -> list:
    """The input index of a basic index (ints, slices, new axes) at output index I."""
    J, j = [], 0
    for it in index:
        if it[0] == "n":
            j += 1
        elif it[0] == "i":
            J.append(str(it[1]))
        else:
            _, start, _stop, step = it
            J.append(_affine(start, step, I[j]))
            j += 1
    J.extend(I[j:])
    return J


_SHIFTED = re.compile(r"(i\d+)(?: ([+-]) (\d+))?")


def shift(i: str, k: int) -> str:
    """Loop index expression ``i`` (``i0`` or ``i0 + 2``) plus the constant ``k``."""
    m = _SHIFTED.fullmatch(i)
    if m is None:
        return i if k == 0 else f"({i}) + {k}" if k > 0 else f"({i}) - {-k}"
    k += int(m.group(3) or 0) * (-1 if m.group(2) == "-" else 1)
    return m.group(1) if k == 0 else f"{m.group(1)} + {k}" if k > 0 else f"{m.group(1)} - {-k}"


def _affine(start, step, i):
    if step == 1:
        return shift(i, start)
    if not i.isidentifier():
        i = f"({i})"
    if start == 0:
        return f"{step} * {i}"
    return f"{start} + {step} * {i}" if step > 0 else f"{start} - {-step} * {i}"


def _broadcast_index(em, node, I):
    return project(node.inputs[0].shape, node.shape, I)


def _transpose_index(em, node, I):
    J = [None] * node.inputs[0].ndim
    for j, a in enumerate(node.p["axes"]):
        J[a] = I[j]
    return J


def _basic_index(em, node, I):
    return basic_index(node.p["index"], I)


def _gather_index(em, node, I):
    return em.gather_index(node.p["indices"].array, node.p["axis"], I)


def _reshape_index(em, node, I):
    nz = [i for i, d in zip(I, node.shape) if d != 1]
    J, q = [], 0
    for d in node.inputs[0].shape:
        if d == 1:
            J.append("0")
        else:
            J.append(nz[q])
            q += 1
    return J


def _reduce_index(em, node, I):
    axes = node.p["axes"]
    return [i for k, i in enumerate(I) if k not in axes]


def reshape_is_map(node) -> bool:
    """True when a reshape only inserts or removes size-1 axes (an index remap)."""
    (x,) = node.inputs
    return [d for d in x.shape if d != 1] == [d for d in node.shape if d != 1]


# ----------------------------------------------------------------------------- accumulations


def _add_into(target, v):
    return f"{target} += {v}"


def _mul_into(target, v):
    return f"{target} *= {v}"


def _max_into(target, v):
    return f"{target} = {v} if ({v} > {target} or {v} != {v}) else {target}"


def _min_into(target, v):
    return f"{target} = {v} if ({v} < {target} or {v} != {v}) else {target}"


def _store(target, v):
    return f"{target} = {v}"


def _zero(node):
    return 0.0


# ----------------------------------------------------------------------------- the table

for _name in ("var", "const"):
    lowering(_name, Lowering(LEAF))

# Elementwise: the scalar expression is the op record's ``emit`` template.
for _name in (
    "less less_equal greater greater_equal equal where cast expm1 tan arcsin arccos "
    "arctan tanh sinh cosh sigmoid softplus sign maximum minimum"
).split():
    lowering(_name, Lowering(MAP))
lowering("add", Lowering(MAP, llvm="add", cheap=True, joins_scatters=True))
for _name in ("subtract", "multiply", "negative"):
    lowering(_name, Lowering(MAP, llvm=_name, cheap=True))
for _name in ("divide", "square", "sqrt", "abs", "exp", "log", "log1p", "sin", "cos"):
    lowering(_name, Lowering(MAP, llvm=_name))
lowering("power", Lowering(MAP, int_power=True))

# Structure.
lowering(
    "reshape",
    Lowering(
        lambda n: MAP if reshape_is_map(n) else ARRAY,
        index=_reshape_index,
        array=lambda em, n: em.emit_reshape(n),
        blas_view=lambda n: n.inputs[0].ndim > 0,
    ),
)
lowering(
    "transpose",
    Lowering(
        MAP,
        index=_transpose_index,
        array=lambda em, n: em.emit_transpose(n),
        blas_view=lambda n: n.ndim == 2 and n.inputs[0].ndim == 2,
    ),
)
lowering("broadcast_to", Lowering(MAP, index=_broadcast_index))
lowering("getitem", Lowering(MAP, index=_basic_index, basic_index=True))
lowering("take", Lowering(MAP, index=_gather_index, gathers=True))
lowering(
    "index_put",
    Lowering(ACC, index=_basic_index, init=_zero, combine=_store, scatter=True, basic_index=True),
)
lowering(
    "take_add",
    Lowering(ACC, index=_gather_index, init=_zero, combine=_add_into, scatter=True, additive=True),
)
lowering("concatenate", Lowering(ARRAY, array=lambda em, n: em.emit_concatenate(n)))

# Linear algebra.
lowering("matmul", Lowering(ARRAY, array=lambda em, n: em.emit_matmul(n), blas=True))

# Reductions.
_REDUCE = dict(index=_reduce_index, reduction=True)
lowering(
    "sum",
    Lowering(
        ACC,
        init=_zero,
        combine=_add_into,
        parallel_reduce=True,
        additive=True,
        inline_small=True,
        **_REDUCE,
    ),
)
lowering(
    "prod",
    Lowering(ACC, init=lambda n: 1.0, combine=_mul_into, parallel_reduce=True, **_REDUCE),
)
lowering("max", Lowering(ACC, init=lambda n: -np.inf, combine=_max_into, **_REDUCE))
lowering("min", Lowering(ACC, init=lambda n: np.inf, combine=_min_into, **_REDUCE))
lowering("logsumexp", Lowering(ARRAY, array=lambda em, n: em.emit_logsumexp(n)))

del _name

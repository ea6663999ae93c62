"""Lowering: schedule a graph into fused loop nests.

Every op node falls in one of three classes (its entry in the table
:data:`~.lowering.LOWERING` says which):

``map``        one value per element of its own shape, read from its inputs at an
               index that is a function of the loop index (elementwise ops,
               broadcast_to, getitem, transpose, take, reshape that only adds or
               drops size-1 axes);
``accumulate`` one update per element of its *input's* shape into an output
               (sum, prod, max, min; index_put and take_add scatter);
``array``      whole-array code after its inputs are complete (matmul,
               concatenate, logsumexp, general reshape).

Map and accumulate nodes are "loop nodes". Each gets a stage: a loop node can run
in the same loop as an input it reads at the very same index (and of the same
iteration space); any other read needs the input complete, so one stage later.
All loop nodes of one (stage, space) form one fused loop nest; values that never
leave their loop stay scalar locals, the rest get buffers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..graph import Node, consumers_count, toposort
from .lowering import ACC, ALIAS, ARRAY, LEAF, LOWERING, MAP, VIEW, loop_kind

MAX_RECOMPUTE = 3  # arithmetic ops recomputed per read instead of storing a value
SMALL_REDUCE = 4  # sums over at most this many elements are computed where read
MAX_INLINE_REDUCE = 24  # arithmetic ops of such a sum (all its terms together)
MAX_SHIFT_RECOMPUTE = 24  # loop nodes recomputed at shifted indices per slice gather


def node_class(node: Node) -> str:
    """The node's loop kind, from its op's lowering entry."""
    return loop_kind(node)


def space_of(node: Node, cls: str) -> tuple:
    return node.inputs[0].shape if cls == ACC else node.shape


def same_index(node: Node, cls: str, inp: Node, inp_cls: str) -> bool:
    """Does ``node`` read ``inp`` at exactly its own loop index?"""
    if inp_cls != MAP:
        return False
    if cls == MAP:
        return node.op.kind == "elementwise" and inp.shape == node.shape
    if cls == ACC:
        return inp is node.inputs[0]
    return False


@dataclass
class Group:
    stage: int
    space: tuple
    nodes: list = field(default_factory=list)
    gathers: list = field(default_factory=list)  # SliceGather roots written by this loop


@dataclass
class SliceGather:
    """A sum of step-1 slice scatters ``index_put(a_k, s_k) + ...`` (or one of them)
    whose values ``a_k`` all come from one loop: written as a gather, each output
    element once, ``out[j] = sum_k a_k[j - s_k]``, the terms not computed at the
    loop's own index recomputed at the shifted one (no zero fill, no scatter that
    carries a dependence from one iteration to the next)."""

    root: Node  # the add node (or lone index_put) holding the result
    parts: list  # [(index_put node, start of each axis)]
    local: int  # the part read at the loop's own index (output index = i + its starts)


@dataclass
class Schedule:
    order: list  # every node, topological
    cls: dict  # id -> class
    stage: dict  # id -> stage
    steps: list  # ("array", node) | ("loop", Group), in execution order
    buffered: set  # ids of loop nodes that need an array (or 0-d local kept)
    uses: dict
    root_of: dict  # scatter (and add) id -> the add node whose buffer it accumulates into
    gathers: dict = field(default_factory=dict)  # root id -> SliceGather
    gather_of: dict = field(default_factory=dict)  # id of a part's index_put -> its SliceGather


def scatter_sums(order: list, outputs: list) -> dict:
    """Sums of scatters, ``index_put(a, I) + index_put(b, J) + ...``: map each such
    add node, and each scatter it absorbs, to the root add whose buffer they all
    accumulate into (the adjoint of ``x[1:] - x[:-1]`` becomes one pass)."""
    uses = consumers_count(order)
    out_ids = {id(o) for o in outputs}
    is_ss: dict[int, bool] = {}
    for n in order:
        low = LOWERING[n.op]
        if low.scatter:
            is_ss[id(n)] = True
        elif (
            low.joins_scatters
            and all(
                is_ss.get(id(i))
                and i.shape == n.shape
                and i.dtype == n.dtype
                and uses[id(i)] == 1
                and id(i) not in out_ids
                for i in n.inputs
            )
            and n.inputs[0] is not n.inputs[1]
        ):
            is_ss[id(n)] = True
    root_of: dict[int, Node] = {}
    for n in reversed(order):
        if not LOWERING[n.op].joins_scatters or not is_ss.get(id(n)):
            continue
        root = root_of.setdefault(id(n), n)
        for i in n.inputs:
            root_of[id(i)] = root
    return root_of


def matmul_transposes(order: list, outputs: list) -> set:
    """Transposes (2-D) and reshapes read only by matmuls: taken as free views
    (``x.T``, ``x.reshape``) instead of copies."""
    readers: dict[int, list] = {}
    for n in order:
        for i in n.inputs:
            readers.setdefault(id(i), []).append(n)
    out_ids = {id(o) for o in outputs}
    views: set[int] = set()
    for n in reversed(order):  # readers before the nodes they read
        can_view = LOWERING[n.op].blas_view
        shaped = can_view is not None and can_view(n)
        rs = readers.get(id(n), ())
        if (
            shaped
            and id(n) not in out_ids
            and rs
            and all(LOWERING[r.op].blas or id(r) in views for r in rs)
        ):
            views.add(id(n))
    return views


def index_views(order: list, outputs: list, blas_views: set, root_of: dict) -> set:
    """Structural maps (slices, broadcasts, transposes, gathers, size-1 reshapes)
    read only by loop nodes: never stored, their readers index the input directly."""
    readers: dict[int, list] = {}
    for n in order:
        for i in n.inputs:
            readers.setdefault(id(i), []).append(n)
    out_ids = {id(o) for o in outputs}
    # Cheap arithmetic on inputs only (like x[:, None] - x[None, :]) is recomputed
    # where it is read rather than stored: memory traffic costs more than an add.
    cost: dict[int, int] = {}
    for n in order:
        if not n.op.is_op:
            cost[id(n)] = 0
        elif LOWERING[n.op].cheap or (n.op.kind != "elementwise" and node_class(n) == MAP):
            parts = [cost.get(id(i)) for i in n.inputs]
            if all(p is not None for p in parts):
                total = sum(parts) + LOWERING[n.op].cheap
                if total <= MAX_RECOMPUTE:
                    cost[id(n)] = total
    uses = consumers_count(order)
    views: set[int] = set()
    for n in reversed(order):
        if (
            id(n) not in views
            and id(n) not in out_ids
            and _inline_reduction(n, cost, uses)
            and _one_direct_reader(n, readers.get(id(n), ()), blas_views, root_of)
        ):
            # A sum over a few elements (like the 3 coordinates of a distance): readers
            # add its terms up where they read it; its private inputs are never stored.
            views.add(id(n))
            views.update(_private_chain(n.inputs[0], cost, uses))
            continue
        structural = n.op.is_op and n.op.kind != "elementwise" and node_class(n) == MAP
        cheap = LOWERING[n.op].cheap and id(n) in cost
        if (structural or cheap) and id(n) not in out_ids and id(n) not in blas_views:
            ok = True
            for r in readers.get(id(n), ()):
                if id(r) in views:
                    continue
                if id(r) in blas_views or id(r) in root_of or node_class(r) not in (MAP, ACC):
                    ok = False
                    break
            if ok:
                views.add(id(n))
    return views


def _slice_starts(n: Node):
    """The start of each axis of an ``index_put`` made only of step-1 slices, else None."""
    low = LOWERING[n.op]
    if not (low.scatter and low.basic_index) or n.ndim == 0:
        return None
    starts = []
    for it in n.p["index"]:
        if it[0] != "s" or it[3] != 1:
            return None
        starts.append(it[1])
    starts += [0] * (n.ndim - len(starts))
    return tuple(starts)


def slice_gathers(order: list, root_of: dict, cls: dict, group_of: dict) -> dict:
    """Sums of slice scatters (see :class:`SliceGather`) that can be written as gathers:
    every part a step-1 slice ``index_put`` in the same loop, and the loop nodes
    recomputed at shifted indices few (``MAX_SHIFT_RECOMPUTE``)."""
    parts_of: dict[int, list] = {}
    roots: dict[int, Node] = {}
    for n in order:
        if not LOWERING[n.op].scatter or cls.get(id(n)) != ACC:
            continue
        root = root_of.get(id(n), n)
        roots[id(root)] = root
        parts_of.setdefault(id(root), []).append(n)
    out: dict[int, SliceGather] = {}
    for rid, parts in parts_of.items():
        starts = [_slice_starts(p) for p in parts]
        if any(s is None for s in starts):
            continue
        key = group_of.get(id(parts[0]))
        if key is None or any(group_of.get(id(p)) != key for p in parts):
            continue
        # Loop nodes each part's value needs (those are recomputed when it is shifted).
        sizes = []
        for p in parts:
            seen, stack = set(), [p.inputs[0]]
            while stack:
                m = stack.pop()
                if id(m) in seen or cls.get(id(m)) != MAP or group_of.get(id(m)) != key:
                    continue
                seen.add(id(m))
                stack.extend(m.inputs)
            sizes.append(len(seen))
        local = max(range(len(parts)), key=lambda k: sizes[k])
        if sum(sizes) - sizes[local] > MAX_SHIFT_RECOMPUTE:
            continue
        out[rid] = SliceGather(roots[rid], list(zip(parts, starts)), local)
    return out


def _one_direct_reader(n: Node, rs, blas_views, root_of) -> bool:
    """Read by one loop node, once per element of ``n`` (not broadcast: a
    recomputed value must not be recomputed for every element of a larger loop)."""
    if len(rs) != 1:
        return False
    (r,) = rs
    if id(r) in blas_views or id(r) in root_of:
        return False
    c = node_class(r)
    if c == MAP:
        return r.op.kind == "elementwise" and r.shape == n.shape
    return c == ACC and LOWERING[r.op].reduction


def _private_chain(n: Node, cost: dict, uses: dict):
    """Elementwise nodes read only along a chain from ``n`` down to cheap views and
    leaves: a list of their ids, or None when some input is neither."""
    if id(n) in cost:
        return []
    if n.op.kind != "elementwise" or uses[id(n)] != 1:
        return None
    ids = [id(n)]
    for i in n.inputs:
        sub = _private_chain(i, cost, uses)
        if sub is None:
            return None
        ids += sub
    return ids


def _chain_cost(n: Node, cost: dict) -> int:
    if id(n) in cost:
        return cost[id(n)]
    return 1 + sum(_chain_cost(i, cost) for i in n.inputs)


def _inline_reduction(n: Node, cost: dict, uses: dict) -> bool:
    """A sum over at most ``SMALL_REDUCE`` elements of a cheap private expression:
    computed where it is read (no array of partial sums)."""
    if not LOWERING[n.op].inline_small or not n.inputs[0].op.is_op or np.dtype(n.dtype).kind != "f":
        return False
    x = n.inputs[0]
    extent = 1
    for a in n.p["axes"]:
        extent *= x.shape[a]
    if not 1 <= extent <= SMALL_REDUCE or uses[id(x)] != 1:
        return False
    if _private_chain(x, cost, uses) is None:
        return False
    return extent * _chain_cost(x, cost) <= MAX_INLINE_REDUCE


def schedule(outputs: list) -> Schedule:
    order = toposort(outputs)
    cls: dict[int, str] = {}
    stage: dict[int, int] = {}
    root_of = scatter_sums(order, outputs)
    blas_views = matmul_transposes(order, outputs)
    views = index_views(order, outputs, blas_views, root_of)

    def complete(inp) -> int:
        """The first stage at which any node may read ``inp`` at any index."""
        ic = cls[id(inp)]
        if ic == LEAF:
            return 0
        if ic in (VIEW, ARRAY):
            return stage[id(inp)]
        return stage[id(inp)] + 1

    for n in order:
        c = node_class(n)
        if c == MAP and id(n) in root_of:
            c = ALIAS
        elif id(n) in blas_views:
            c = ARRAY  # a free .T / reshape view for BLAS instead of a copy
        elif id(n) in views:
            c = VIEW
        cls[id(n)] = c
        if c == LEAF:
            stage[id(n)] = -1
            continue
        if c == ALIAS:
            stage[id(n)] = max(stage[id(i)] for i in n.inputs)
            continue
        s = 0
        for inp in n.inputs:
            ic = cls[id(inp)]
            if (
                c in (MAP, ACC)
                and same_index(n, c, inp, ic)
                and space_of(inp, ic) == space_of(n, c)
            ):
                need = stage[id(inp)]
            else:
                need = complete(inp)
            s = max(s, need)
        stage[id(n)] = s

    groups: dict[tuple, Group] = {}
    arrays_at: dict[int, list] = {}
    for n in order:
        c = cls[id(n)]
        if c == LEAF:
            continue
        if c == ARRAY:
            arrays_at.setdefault(stage[id(n)], []).append(n)
            continue
        if c in (ALIAS, VIEW):
            continue
        key = (stage[id(n)], space_of(n, c))
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(key[0], key[1])
        g.nodes.append(n)

    # A loop node needs a buffer unless every use is a same-index read in its own group.
    out_ids = {id(o) for o in outputs}
    buffered: set[int] = set()
    group_of = {}
    for g in groups.values():
        for n in g.nodes:
            group_of[id(n)] = (g.stage, g.space)
    for n in order:
        for inp in n.inputs:
            ic = cls[id(inp)]
            if ic not in (MAP, ACC):
                continue
            c = cls[id(n)]
            ok = (
                c in (MAP, ACC)
                and group_of.get(id(n)) == group_of.get(id(inp))
                and same_index(n, c, inp, ic)
            )
            if not ok:
                buffered.add(id(inp))
    for o in outputs:
        if cls[id(o)] in (MAP, ACC):
            buffered.add(id(o))
    buffered |= {id(n) for n in order if cls[id(n)] == ACC}
    _ = out_ids

    gathers = slice_gathers(order, root_of, cls, group_of)
    gather_of = {}
    for sg in gathers.values():
        groups[group_of[id(sg.parts[0][0])]].gathers.append(sg)
        for p, _s in sg.parts:
            gather_of[id(p)] = sg

    steps = []
    max_stage = max(stage.values(), default=-1)
    by_stage: dict[int, list] = {}
    for g in groups.values():
        by_stage.setdefault(g.stage, []).append(g)
    for s in range(0, max_stage + 1):
        for n in arrays_at.get(s, []):
            steps.append(("array", n))
        for g in by_stage.get(s, []):
            steps.append(("loop", g))
    return Schedule(
        order, cls, stage, steps, buffered, consumers_count(order), root_of, gathers, gather_of
    )

"""Structural ops: reshape, transpose, broadcast, indexing, gather, concatenate.

Each linear structural op is paired with its adjoint op (``getitem`` with
``index_put``, ``take`` with ``take_add``), so derivative graphs of any order
stay inside the op table.
"""

from __future__ import annotations

import numpy as np

from ..graph import Frozen, Node
from ..shapes import BOOL, as_shape, fmt, norm_axes, promote, size_of
from .convert import as_node
from .core import FN, OpDef, batch_all, leaf_const, make, provide, register, uniform_value

# ----------------------------------------------------------------------------- helpers


def zeros(shape, dtype=np.float64) -> Node:
    """A zero node of ``shape`` (a broadcast scalar: no big constant is stored)."""
    shape = tuple(shape)
    z = leaf_const(np.zeros((), dtype=dtype))
    return z if shape == () else broadcast_to(z, shape)


def sum_to(x: Node, shape: tuple) -> Node:
    """``x`` summed over the axes that broadcasting added to reach it from
    ``shape``, then broadcast where ``x`` is smaller: a node of ``shape``."""
    if x.shape == shape:
        return x
    if x.ndim < len(shape):
        return broadcast_to(x, shape)
    lead = x.ndim - len(shape)
    tail = x.shape[lead:]
    summed = [i for i, d in enumerate(shape) if d == 1 and tail[i] != 1]
    axes = tuple(range(lead)) + tuple(lead + i for i in summed)
    y = FN.sum(x, axis=axes) if axes else x
    kept = tuple(1 if i in summed else d for i, d in enumerate(tail))
    if y.shape != kept:
        y = reshape(y, kept)
    if kept != shape:
        y = broadcast_to(y, shape)
    return y


def expand_reduced(g: Node, axes: tuple, ndim: int) -> Node:
    """Re-insert the reduced ``axes`` of ``g`` as size-1 dims (keepdims form)."""
    if not axes:
        return g
    shape = list(g.shape)
    for a in sorted(axes):
        shape.insert(a, 1)
    return reshape(g, tuple(shape))


# ----------------------------------------------------------------------------- reshape


def _reshape_shape(inputs, shape):
    (x,) = inputs
    if size_of(shape) != x.size:
        raise ValueError(
            f"reshape: cannot reshape a node of shape {fmt(x.shape)} into shape {fmt(shape)}"
        )
    return shape, x.dtype


def _fold_reshape(x, shape):
    if x.shape == shape:
        return x
    if x.op is RESHAPE:
        return reshape(x.inputs[0], shape)
    u = uniform_value(x)
    if u is not None:
        return broadcast_to(leaf_const(np.asarray(u, dtype=x.dtype)), shape)
    return None


RESHAPE = register(
    OpDef(
        "reshape",
        "structure",
        shape=_reshape_shape,
        impl=lambda x, shape: np.reshape(x, shape),
        vjp=lambda g, out, x, shape: [reshape(g, x.shape)],
        jvp=lambda ts, out, x, shape: reshape(ts[0], shape),
        fold=_fold_reshape,
        batch=lambda xs, bt, out, shape: reshape(xs[0], xs[0].shape[:1] + shape),
        linear=True,
        doc="Same elements in C order, new shape.",
    )
)


def reshape(x, shape) -> Node:
    """``x`` with a new shape (C order); one dimension may be ``-1``.

    Examples
    --------
    >>> import jitgrad as jg
    >>> jg.reshape(jg.vector("x", 6), (2, -1)).shape
    (2, 3)
    """
    x = as_node(x, None, "reshape")
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(
            f"reshape: shape must be an int or a tuple of ints, got {shape!r}"
        ) from None
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) for d in dims):
        raise TypeError(f"reshape: shape must be an int or a tuple of ints, got {shape!r}")
    shape = tuple(int(d) for d in dims)
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: only one dimension can be -1, got {shape}")
    if -1 in shape:
        rest = size_of(d for d in shape if d != -1)
        if rest == 0 or x.size % rest:
            raise ValueError(
                f"reshape: cannot reshape a node of shape {fmt(x.shape)} into shape {fmt(shape)}"
            )
        shape = tuple(x.size // rest if d == -1 else d for d in shape)
    shape = as_shape(shape, "reshape")
    return make(RESHAPE, (x,), shape=shape)


# ----------------------------------------------------------------------------- transpose


def _transpose_shape(inputs, axes):
    (x,) = inputs
    return tuple(x.shape[a] for a in axes), x.dtype


def _fold_transpose(x, axes):
    if axes == tuple(range(len(axes))):
        return x
    u = uniform_value(x)
    if u is not None:
        return broadcast_to(
            leaf_const(np.asarray(u, dtype=x.dtype)), tuple(x.shape[a] for a in axes)
        )
    if x.op is TRANSPOSE:
        inner = x.p["axes"]
        return transpose(x.inputs[0], tuple(inner[a] for a in axes))
    return None


TRANSPOSE = register(
    OpDef(
        "transpose",
        "structure",
        shape=_transpose_shape,
        impl=lambda x, axes: np.transpose(x, axes),
        vjp=lambda g, out, x, axes: [transpose(g, tuple(np.argsort(axes).tolist()))],
        jvp=lambda ts, out, x, axes: transpose(ts[0], axes),
        fold=_fold_transpose,
        batch=lambda xs, bt, out, axes: transpose(xs[0], (0,) + tuple(a + 1 for a in axes)),
        linear=True,
        doc="Permute the axes.",
    )
)


def transpose(x, axes=None) -> Node:
    """Permute the axes of ``x`` (reverse them when ``axes`` is None).

    Examples
    --------
    >>> import jitgrad as jg
    >>> jg.transpose(jg.matrix("A", 2, 3)).shape
    (3, 2)
    """
    x = as_node(x, None, "transpose")
    if axes is None:
        axes = tuple(range(x.ndim))[::-1]
    else:
        try:
            given = tuple(axes)
        except TypeError:
            raise TypeError(f"transpose: axes must be a tuple of ints, got {axes!r}") from None
        if any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in given):
            raise TypeError(f"transpose: axes must be a tuple of ints, got {axes!r}")
        axes = tuple(int(a) for a in given)
        if sorted(a % x.ndim if x.ndim else a for a in axes) != list(range(x.ndim)):
            raise ValueError(
                f"transpose: axes {axes} are not a permutation for shape {fmt(x.shape)}"
            )
        axes = tuple(a % x.ndim for a in axes)
    return make(TRANSPOSE, (x,), axes=axes)


def swap_last(x: Node) -> Node:
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return transpose(x, tuple(axes))


# ----------------------------------------------------------------------------- broadcast_to


def _broadcast_shape(inputs, shape):
    (x,) = inputs
    ok = len(shape) >= x.ndim and all(d == 1 or d == e for d, e in zip(x.shape[::-1], shape[::-1]))
    if not ok:
        raise ValueError(
            f"broadcast_to: cannot broadcast shape {fmt(x.shape)} to shape {fmt(shape)}"
        )
    return shape, x.dtype


def _fold_broadcast(x, shape):
    if x.shape == shape:
        return x
    if x.op is BROADCAST:
        return broadcast_to(x.inputs[0], shape)
    return None


def _batch_broadcast(xs, batched, out, shape):
    x = xs[0]
    pad = len(shape) - (x.ndim - 1)
    x = reshape(x, x.shape[:1] + (1,) * pad + x.shape[1:])
    return broadcast_to(x, x.shape[:1] + shape)


def _batch_index(x, index):
    return (("s", 0, x.shape[0], 1),) + index


BROADCAST = register(
    OpDef(
        "broadcast_to",
        "structure",
        shape=_broadcast_shape,
        impl=lambda x, shape: np.broadcast_to(x, shape),
        vjp=lambda g, out, x, shape: [sum_to(g, x.shape)],
        jvp=lambda ts, out, x, shape: broadcast_to(ts[0], shape),
        fold=_fold_broadcast,
        batch=_batch_broadcast,
        linear=True,
        doc="Repeat along broadcast axes (NumPy rules). Adjoint: sum over those axes.",
    )
)


def broadcast_to(x, shape) -> Node:
    """``x`` broadcast to ``shape`` like ``numpy.broadcast_to``.

    Examples
    --------
    >>> import jitgrad as jg
    >>> jg.broadcast_to(jg.scalar("s"), (2, 3)).shape
    (2, 3)
    """
    x = as_node(x, None, "broadcast_to")
    return make(BROADCAST, (x,), shape=as_shape(shape, "broadcast_to"))


# ----------------------------------------------------------------------------- basic indexing

# A normalised basic index is a tuple of items, one per consumed or added axis:
#   ("i", k)              an integer (k >= 0, in range)
#   ("s", start, stop, step)  a slice with concrete bounds (slice.indices form)
#   ("n",)                a new axis (None)
# Trailing axes not named are taken whole.


def _index_out_shape(shape, index):
    out, ax = [], 0
    for item in index:
        if item[0] == "n":
            out.append(1)
        elif item[0] == "i":
            ax += 1
        else:
            out.append(len(range(item[1], item[2], item[3])))
            ax += 1
    out.extend(shape[ax:])
    return tuple(out)


def _to_numpy_index(index):
    out = []
    for item in index:
        if item[0] == "n":
            out.append(None)
        elif item[0] == "i":
            out.append(item[1])
        else:
            stop = item[2]
            if stop < 0:
                stop = None  # slice.indices gives -1 for "before 0" with negative steps
            out.append(slice(item[1], stop, item[3]))
    return tuple(out)


def _getitem_shape(inputs, index):
    (x,) = inputs
    return _index_out_shape(x.shape, index), x.dtype


def _getitem_impl(x, index):
    return np.asarray(x)[_to_numpy_index(index)]


def _index_put_impl(g, index, shape):
    out = np.zeros(shape, dtype=np.asarray(g).dtype)
    out[_to_numpy_index(index)] = g
    return out


def _fold_getitem(x, index):
    if all(
        it[0] == "s" and it[1] == 0 and it[3] == 1 and it[2] == x.shape[k]
        for k, it in enumerate(index)
    ):
        return x
    u = uniform_value(x)
    if u is not None:
        return broadcast_to(
            leaf_const(np.asarray(u, dtype=x.dtype)), _index_out_shape(x.shape, index)
        )
    return None


GETITEM = register(
    OpDef(
        "getitem",
        "structure",
        shape=_getitem_shape,
        impl=_getitem_impl,
        vjp=lambda g, out, x, index: [index_put(g, index, x.shape)],
        jvp=lambda ts, out, x, index: make(GETITEM, (ts[0],), index=index),
        fold=_fold_getitem,
        batch=lambda xs, bt, out, index: make(GETITEM, (xs[0],), index=_batch_index(xs[0], index)),
        linear=True,
        doc="Basic indexing: ints, slices with steps, None. Adjoint: index_put.",
    )
)


def _index_put_shape(inputs, index, shape):
    (g,) = inputs
    want = _index_out_shape(shape, index)
    if g.shape != want:
        raise ValueError(
            f"index_put: value of shape {fmt(g.shape)} does not fit index of shape {fmt(want)}"
        )
    return shape, g.dtype


def _moves_nothing(index, shape) -> bool:
    """Whether ``index`` holds only new axes and whole step-1 slices: every element
    of ``shape`` is selected, in order (``x[:, None, :]`` is a reshape)."""
    ax = 0
    for it in index:
        if it[0] == "n":
            continue
        if it[0] != "s" or it[1] != 0 or it[3] != 1 or it[2] != shape[ax]:
            return False
        ax += 1
    return True


def _fold_index_put(g, index, shape):
    if uniform_value(g) == 0:
        return zeros(shape, g.dtype)
    if _moves_nothing(index, shape):
        # the adjoint of x[:, None, :] and the like: no zeros to fill, a reshape
        # (which folds to g itself without new axes), and elementwise work on it fuses
        return reshape(g, shape)
    return None


INDEX_PUT = register(
    OpDef(
        "index_put",
        "structure",
        shape=_index_put_shape,
        impl=_index_put_impl,
        vjp=lambda g, out, v, index, shape: [make(GETITEM, (g,), index=index)],
        jvp=lambda ts, out, v, index, shape: index_put(ts[0], index, shape),
        fold=_fold_index_put,
        batch=lambda xs, bt, out, index, shape: index_put(
            xs[0], _batch_index(xs[0], index), xs[0].shape[:1] + shape
        ),
        linear=True,
        doc="Zeros of `shape` with `g` written at a basic index (the adjoint of getitem).",
    )
)


def index_put(g: Node, index: tuple, shape: tuple) -> Node:
    """Zeros of ``shape`` with ``g`` placed at the normalised basic ``index``."""
    return make(INDEX_PUT, (g,), index=index, shape=tuple(shape))


# ----------------------------------------------------------------------------- gather


def _take_shape(inputs, indices, axis):
    (x,) = inputs
    idx = indices.array
    return x.shape[:axis] + idx.shape + x.shape[axis + 1 :], x.dtype


TAKE = register(
    OpDef(
        "take",
        "structure",
        shape=_take_shape,
        impl=lambda x, indices, axis: np.take(x, indices.array, axis=axis),
        vjp=lambda g, out, x, indices, axis: [take_add(g, indices, axis, x.shape[axis])],
        jvp=lambda ts, out, x, indices, axis: make(TAKE, (ts[0],), indices=indices, axis=axis),
        fold=lambda x, indices, axis: None,
        batch=lambda xs, bt, out, indices, axis: make(
            TAKE, (xs[0],), indices=indices, axis=axis + 1
        ),
        linear=True,
        doc="Gather along `axis` with a constant integer index array (numpy.take). Adjoint: take_add.",
    )
)


def _take_add_shape(inputs, indices, axis, n):
    (g,) = inputs
    k = indices.array.ndim
    return g.shape[:axis] + (n,) + g.shape[axis + k :], g.dtype


def _take_add_impl(g, indices, axis, n):
    g = np.asarray(g)
    idx = indices.array
    k = idx.ndim
    out = np.zeros(g.shape[:axis] + (n,) + g.shape[axis + k :], dtype=g.dtype)
    # Move the gathered axes to the front, then scatter-add along axis 0.
    gm = np.moveaxis(g.reshape(g.shape[:axis] + (idx.size,) + g.shape[axis + k :]), axis, 0)
    om = np.moveaxis(out, axis, 0)
    np.add.at(om, idx.reshape(-1), gm)
    return out


TAKE_ADD = register(
    OpDef(
        "take_add",
        "structure",
        shape=_take_add_shape,
        impl=_take_add_impl,
        vjp=lambda g, out, v, indices, axis, n: [make(TAKE, (g,), indices=indices, axis=axis)],
        jvp=lambda ts, out, v, indices, axis, n: take_add(ts[0], indices, axis, n),
        fold=lambda g, indices, axis, n: (
            zeros(_take_add_shape((g,), indices, axis, n)[0], g.dtype)
            if uniform_value(g) == 0
            else None
        ),
        batch=lambda xs, bt, out, indices, axis, n: take_add(xs[0], indices, axis + 1, n),
        linear=True,
        doc="Zeros with `g` added at the gathered positions (the adjoint of take; repeats add up).",
    )
)


def take_add(g: Node, indices: Frozen, axis: int, n: int) -> Node:
    return make(TAKE_ADD, (g,), indices=indices, axis=axis, n=n)


def take(x, indices, axis=None) -> Node:
    """Gather elements of ``x`` along ``axis`` with a constant integer index array.

    Like ``numpy.take``; negative indices count from the end, and an index out of
    range raises ``IndexError`` when the graph is built.

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x = jg.vector("x", 4)
    >>> jg.evaluate(jg.take(x, [3, 0, 0]), {x: np.arange(4.0)})
    array([3., 0., 0.])
    """
    x = as_node(x, None, "take")
    if axis is None:
        if x.ndim != 1:
            x = reshape(x, (x.size,))
        axis = 0
    (axis,) = norm_axes("take", axis, x.ndim)
    if isinstance(indices, Node):
        raise TypeError("take: indices must be a constant integer array, not a node")
    idx = _index_array(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"take: indices must be integers, got dtype {idx.dtype}")
    n = x.shape[axis]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(
            f"take: index out of range for axis {axis} of size {n} (shape {fmt(x.shape)})"
        )
    idx = np.where(idx < 0, idx + n, idx).astype(np.int64)
    return make(TAKE, (x,), indices=Frozen(idx), axis=axis)


def _index_array(k) -> np.ndarray:
    """``k`` as an index array; an empty list is an (empty) integer array, as in NumPy."""
    a = np.asarray(k)
    if a.size == 0 and a.dtype.kind == "f" and not isinstance(k, np.ndarray):
        a = a.astype(np.intp)
    return a


def _norm_basic(shape, key, ndim_used):
    """Normalise ints, slices and None against ``shape``; returns index items."""
    items, ax = [], 0
    for k in key:
        if k is None:
            items.append(("n",))
        elif isinstance(k, slice):
            if ax >= len(shape):
                raise IndexError(f"too many indices for a node of shape {fmt(shape)}")
            start, stop, step = k.indices(shape[ax])
            if not len(range(start, stop, step)):
                # slice.indices can give start -1 for an empty negative-step slice, which
                # NumPy would read as "from the end": store every empty slice as 0:0.
                start, stop, step = 0, 0, 1
            items.append(("s", start, stop, step))
            ax += 1
        else:
            if ax >= len(shape):
                raise IndexError(f"too many indices for a node of shape {fmt(shape)}")
            i = int(k)
            if not -shape[ax] <= i < shape[ax]:
                raise IndexError(f"index {i} is out of bounds for axis {ax} with size {shape[ax]}")
            items.append(("i", i % shape[ax]))
            ax += 1
    return tuple(items)


def getitem(x: Node, key) -> Node:
    """``x[key]`` for ints, slices (with steps), ``None``, ``...`` and one integer array."""
    if not isinstance(key, tuple):
        key = (key,)
    # Expand the ellipsis.
    n_ell = sum(1 for k in key if k is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_ell:
        i = next(j for j, k in enumerate(key) if k is Ellipsis)
        key = key[:i] + (slice(None),) * max(x.ndim - consumed, 0) + key[i + 1 :]
    if consumed > x.ndim:
        raise IndexError(f"too many indices for a node of shape {fmt(x.shape)}: {consumed} given")
    arrays = []
    for pos, k in enumerate(key):
        if isinstance(k, Node):
            raise TypeError("indexing with a node is not supported: indices must be constants")
        if isinstance(k, (list, np.ndarray)):
            a = _index_array(k)
            if a.dtype == BOOL:
                raise TypeError(
                    "boolean mask indexing is not supported (the result shape would not be static)"
                )
            if a.dtype.kind not in "iu":
                raise TypeError(f"index arrays must be integers, got dtype {a.dtype}")
            arrays.append(pos)
        elif not (
            k is None or isinstance(k, slice) or isinstance(k, (int, np.integer))
        ) or isinstance(k, bool):
            raise TypeError(f"invalid index {k!r}: use ints, slices, None, ... or an integer array")
    if not arrays:
        return make(GETITEM, (x,), index=_norm_basic(x.shape, key, x.ndim))
    if len(arrays) > 1:
        raise NotImplementedError(
            "indexing with more than one integer array; use jg.take along each axis"
        )
    pos = arrays[0]
    ints = [j for j, k in enumerate(key) if isinstance(k, (int, np.integer))]
    block = sorted(ints + [pos])
    if ints and block != list(range(block[0], block[-1] + 1)):
        raise NotImplementedError(
            "an integer array separated from integer indices (NumPy moves such axes first); "
            "index in two steps instead"
        )
    # Apply the basic part with a full slice where the array goes, then gather there.
    basic = tuple(slice(None) if j == pos else k for j, k in enumerate(key))
    y = make(GETITEM, (x,), index=_norm_basic(x.shape, basic, x.ndim))
    axis = sum(1 for k in key[:pos] if k is None or isinstance(k, slice))
    return take(y, key[pos], axis=axis)


# ----------------------------------------------------------------------------- concatenate


def _concat_shape(inputs, axis):
    first = inputs[0]
    for x in inputs[1:]:
        if x.ndim != first.ndim or any(
            a != b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != axis
        ):
            raise ValueError(
                f"concatenate: shapes {fmt(first.shape)} and {fmt(x.shape)} differ outside axis {axis}"
            )
    shape = list(first.shape)
    shape[axis] = sum(x.shape[axis] for x in inputs)
    return tuple(shape), _concat_dtype(inputs)


def _concat_dtype(nodes) -> np.dtype:
    # All-boolean stays boolean (as NumPy); promote() alone would give float32 here.
    if all(x.dtype == BOOL for x in nodes):
        return BOOL
    return promote("concatenate", (x.dtype for x in nodes), allow_bool=True)


def _concat_vjp(g, out, *xs, axis):
    cts, start = [], 0
    for x in xs:
        stop = start + x.shape[axis]
        index = tuple(
            ("s", 0, d, 1) if i != axis else ("s", start, stop, 1) for i, d in enumerate(g.shape)
        )
        cts.append(make(GETITEM, (g,), index=index))
        start = stop
    return cts


def _concat_jvp(ts, out, *xs, axis):
    if all(t is None for t in ts):
        return None
    parts = [zeros(x.shape, out.dtype) if t is None else t for t, x in zip(ts, xs)]
    return concatenate(parts, axis=axis)


CONCAT = register(
    OpDef(
        "concatenate",
        "structure",
        shape=_concat_shape,
        impl=lambda *xs, axis: np.concatenate(xs, axis=axis),
        vjp=_concat_vjp,
        jvp=_concat_jvp,
        fold=lambda *xs, axis: xs[0] if len(xs) == 1 else None,
        batch=lambda xs, bt, out, axis: make(
            CONCAT, tuple(batch_all(xs, bt, out.inputs)), axis=axis + 1
        ),
        linear=True,
        doc="Join nodes along an existing axis. Adjoint: the matching slices.",
    )
)


def concatenate(nodes, axis: int = 0) -> Node:
    """Join a sequence of nodes along an existing ``axis``.

    Examples
    --------
    >>> import jitgrad as jg
    >>> jg.concatenate([jg.vector("a", 2), jg.vector("b", 3)]).shape
    (5,)
    """
    nodes = [as_node(n, None, "concatenate") for n in nodes]
    if not nodes:
        raise ValueError("concatenate: need at least one node")
    if any(n.ndim == 0 for n in nodes):
        raise ValueError("concatenate: zero-dimensional nodes cannot be concatenated")
    (axis,) = norm_axes("concatenate", axis, nodes[0].ndim)
    dtype = _concat_dtype(nodes)
    nodes = [n if n.dtype == dtype else FN.cast(n, dtype) for n in nodes]
    return make(CONCAT, tuple(nodes), axis=axis)


def stack(nodes, axis: int = 0) -> Node:
    """Join nodes of equal shape along a new ``axis``.

    Examples
    --------
    >>> import jitgrad as jg
    >>> jg.stack([jg.vector("a", 3), jg.vector("b", 3)], axis=1).shape
    (3, 2)
    """
    nodes = [as_node(n, None, "stack") for n in nodes]
    if not nodes:
        raise ValueError("stack: need at least one node")
    shape = nodes[0].shape
    for n in nodes[1:]:
        if n.shape != shape:
            raise ValueError(
                f"stack: all nodes must have the same shape, got {fmt(shape)} and {fmt(n.shape)}"
            )
    (axis,) = norm_axes("stack", axis, len(shape) + 1)
    new = shape[:axis] + (1,) + shape[axis:]
    return concatenate([reshape(n, new) for n in nodes], axis=axis)


provide(zeros=zeros, broadcast_to=broadcast_to, reshape=reshape)

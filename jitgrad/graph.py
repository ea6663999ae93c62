"""Graph IR: immutable, interned nodes with static shapes and dtypes.

A node is ``(op, inputs, params)`` plus its shape and dtype. Building the same op
on the same inputs with the same parameters twice returns the same object
(hash-consing), so identity is structural equality and common subexpressions are
shared by construction. Every walk over a graph is iterative (no Python
recursion), so graphs of depth 100 000 work.
"""

from __future__ import annotations

import contextlib
import gc
import weakref
from _weakref import _remove_dead_weakref  # what weakref.WeakValueDictionary uses
from collections.abc import Iterable

import numpy as np

__all__ = ["Node", "Frozen", "toposort", "consumers_count", "intern", "gc_paused"]

FLOAT_DTYPES = (np.dtype("float64"), np.dtype("float32"))
BOOL = np.dtype("bool")
F64 = np.dtype("float64")


class Frozen:
    """A read-only NumPy array usable as a hashable node parameter."""

    __slots__ = ("array", "_hash", "uniform")

    def __init__(self, array):
        a = np.array(array, copy=True)
        a.setflags(write=False)
        self.array = a
        self._hash = hash((a.dtype.str, a.shape, a.tobytes()))
        # The common value of all elements (None if they differ or there are none):
        # lets rewrites recognise zeros and ones of any shape cheaply.
        self.uniform = None
        if a.size:
            first = a.flat[0]
            if a.size == 1 or bool(np.all(a == first)):
                self.uniform = first.item()

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        if self is other:
            return True
        return (
            isinstance(other, Frozen)
            and self._hash == other._hash
            and self.array.dtype == other.array.dtype
            and self.array.shape == other.array.shape
            and bool(
                np.array_equal(self.array, other.array, equal_nan=self.array.dtype.kind == "f")
            )
        )

    def __repr__(self):
        return f"Frozen({self.array.tolist()!r})"


#: ``str(node)``: the text printer, set by :mod:`jitgrad.printing` when it is
#: imported (``import jitgrad`` does), so that this module imports nothing of
#: the package.
TEXT_PRINTER = [repr]


class Node:
    """One vertex of a computational graph.

    Nodes are immutable and interned: ``jg.sin(x) is jg.sin(x)``. Arithmetic
    operators, comparisons, indexing, ``.T``, ``.sum`` and ``.reshape`` build
    new nodes (defined in :mod:`jitgrad.api`).

    Attributes
    ----------
    op : OpDef
        The record of the operation (``op.name`` is its name); leaves have the
        ops ``var`` and ``const``.
    inputs : tuple of Node
        The operands.
    params : tuple of (str, value) pairs
        Static parameters of the op (axes, shapes, indices, var names, ...).
    shape : tuple of int
        The static shape.
    dtype : numpy.dtype
        ``float64``, ``float32`` or ``bool``.
    """

    __slots__ = ("op", "inputs", "params", "shape", "dtype", "__weakref__")

    # NumPy must not treat nodes as array-likes: ``array * node`` defers to us.
    __array_ufunc__ = None

    def __setattr__(self, name, value):
        raise AttributeError("jitgrad nodes are immutable")

    def __delattr__(self, name):
        raise AttributeError("jitgrad nodes are immutable")

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def p(self) -> dict:
        """The parameters as a dict."""
        return dict(self.params)

    @property
    def is_leaf(self) -> bool:
        return not self.op.is_op

    def __repr__(self):
        shape = (
            "("
            + ", ".join(str(d) for d in self.shape)
            + ("," if len(self.shape) == 1 else "")
            + ")"
        )
        if self.op.name == "var":
            return f"<Node var {self.p['name']!r} {shape} {self.dtype}>"
        return f"<Node {self.op.name} {shape} {self.dtype}>"

    def __str__(self):
        return TEXT_PRINTER[0](self)

    def __bool__(self):
        raise TypeError(
            "the truth value of a jitgrad node is undefined (graphs are symbolic); "
            "use jg.where(cond, a, b) for data-dependent choices"
        )

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d node")
        return (self[i] for i in range(self.shape[0]))

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d node")
        return self.shape[0]

    def __reduce__(self):
        raise TypeError("jitgrad nodes cannot be pickled directly")

    # Nodes are immutable and interned (one object per distinct node): a copy is
    # the node itself, as for ints and strings, so copy.deepcopy of a structure
    # holding nodes keeps them shared and identical.
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


class _Ref(weakref.ref):
    """A weak reference to an interned node that carries the node's table key
    (as ``weakref.KeyedRef`` does, without its Python-level constructor)."""

    __slots__ = ("key",)


# (op name, inputs, params) -> _Ref to the node: the interning table. Nodes hash
# by identity, so the key hashes cheaply.
_INTERN: dict = {}


def _forget(ref, _table=_INTERN, _remove=_remove_dead_weakref):
    """Called when an interned node dies: drop its entry, unless the key names a
    live node by then (the check and the removal are atomic, as in
    ``weakref.WeakValueDictionary``, so a node interned concurrently stays)."""
    _remove(_table, ref.key)


_new = object.__new__
# The slot setters of Node (faster than object.__setattr__ by name).
_set_op = Node.op.__set__
_set_inputs = Node.inputs.__set__
_set_params = Node.params.__set__
_set_shape = Node.shape.__set__
_set_dtype = Node.dtype.__set__


def intern(op, inputs: tuple, params: tuple, shape: tuple, dtype) -> Node:
    """Return the unique node for ``(op, inputs, params)``, creating it if needed."""
    key = (op.name, inputs, params)
    ref = _INTERN.get(key)
    if ref is not None:
        node = ref()
        if node is not None:
            return node
    node = _new(Node)
    _set_op(node, op)
    _set_inputs(node, inputs)
    _set_params(node, params)
    _set_shape(node, shape)
    _set_dtype(node, dtype)
    ref = _Ref(node, _forget)
    ref.key = key
    _INTERN[key] = ref
    return node


def lookup(op, inputs: tuple, params: tuple):
    """The existing node for ``(op, inputs, params)`` or None."""
    ref = _INTERN.get((op.name, inputs, params))
    return None if ref is None else ref()


def toposort(outputs: Iterable[Node]) -> list[Node]:
    """All nodes reachable from ``outputs``, every node after its inputs.

    Iterative depth-first search, so arbitrarily deep graphs are fine.
    """
    order: list[Node] = []
    done: set = set()  # nodes hash by identity
    append, add = order.append, done.add
    for out in outputs:
        if out in done:
            continue
        # Depth first, inputs in order; a node is appended after all its inputs.
        stack = [(out, iter(out.inputs))]
        push, pop = stack.append, stack.pop
        while stack:
            node, rest = stack[-1]
            for child in rest:
                if child not in done:
                    if child.inputs:
                        push((child, iter(child.inputs)))
                        break
                    add(child)  # a leaf: done at once
                    append(child)
            else:
                pop()
                add(node)
                append(node)
    return order


def consumers_count(order: list[Node]) -> dict[int, int]:
    """How many times each node (by id) is used as an input within ``order``."""
    counts: dict[int, int] = {}
    for node in order:
        for inp in node.inputs:
            counts[id(inp)] = counts.get(id(inp), 0) + 1
    return counts


@contextlib.contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector for a block that builds many nodes.

    Nodes and their input tuples are objects the collector tracks, so a pass that
    builds 10^5 of them sets off several full collections, each a walk over every
    tracked object of the process, while nodes form no reference cycles (reference
    counting frees them): on a 10^5-op graph ``simplify`` spent about a fifth of
    its time there and the collector found nothing. The collector is enabled
    again at the end if it was enabled at the start.

    Examples
    --------
    >>> import gc
    >>> with gc_paused():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

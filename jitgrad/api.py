"""Graph inputs and the operators of :class:`~jitgrad.graph.Node`."""

from __future__ import annotations

import numpy as np

from .graph import Node, intern
from .ops import elementwise as ew
from .ops import linalg, reduce, structure
from .ops.convert import as_node, const
from .ops.core import VAR
from .shapes import as_dtype, as_shape

__all__ = ["var", "scalar", "vector", "matrix", "scalars", "const"]


def var(name: str, shape=(), dtype="float64") -> Node:
    """A graph input.

    Parameters
    ----------
    name : str
        The input's name, used in printing and in ``to_sympy``. Two calls with the
        same name, shape and dtype return the same node.
    shape : tuple of int, optional
        Static shape; ``()`` for a scalar.
    dtype : {"float64", "float32"}, optional

    Returns
    -------
    Node

    Raises
    ------
    TypeError
        If ``name`` is not a string or ``dtype`` is not a float type.
    ValueError
        If ``shape`` has negative dimensions.

    Examples
    --------
    >>> import jitgrad as jg
    >>> jg.var("x", (2, 3))
    <Node var 'x' (2, 3) float64>
    >>> jg.var("x", (2, 3)) is jg.var("x", (2, 3))
    True
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"var: name must be a non-empty string, got {name!r}")
    shape = as_shape(shape, f"var {name!r}: shape")
    try:
        dt = as_dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.kind != "f":
        try:
            shown = np.dtype(dtype).name
        except TypeError:
            shown = repr(dtype)
        raise TypeError(f"var {name!r}: dtype must be float64 or float32, got {shown}")
    return intern(VAR, (), (("dtype", dt.name), ("name", name), ("shape", shape)), shape, dt)


def scalar(name: str, dtype="float64") -> Node:
    """A 0-d input: ``var(name, ())``.

    Examples
    --------
    >>> import jitgrad as jg
    >>> jg.scalar("t").shape
    ()
    """
    return var(name, (), dtype)


def vector(name: str, n: int, dtype="float64") -> Node:
    """A 1-d input of length ``n``: ``var(name, (n,))``.

    Examples
    --------
    >>> import jitgrad as jg
    >>> jg.vector("x", 3).shape
    (3,)
    """
    return var(name, (n,), dtype)


def matrix(name: str, m: int, n: int, dtype="float64") -> Node:
    """A 2-d input of shape ``(m, n)``.

    Examples
    --------
    >>> import jitgrad as jg
    >>> jg.matrix("W", 2, 3).shape
    (2, 3)
    """
    return var(name, (m, n), dtype)


def scalars(names: str, dtype="float64") -> tuple:
    """Several scalar inputs from a space- or comma-separated string, like ``sympy.symbols``.

    Examples
    --------
    >>> import jitgrad as jg
    >>> x, y = jg.scalars("x y")
    >>> x
    <Node var 'x' () float64>
    """
    parts = [p for p in names.replace(",", " ").split() if p]
    return tuple(var(p, (), dtype) for p in parts)


# ----------------------------------------------------------------------------- operators


def _swap(f):
    return lambda self, other: f(other, self)


def _pow(self, other):
    return ew.power(self, other)


def _rpow(self, other):
    return ew.power(other, self)


def _T(self):
    return structure.transpose(self)


def _sum(self, axis=None, keepdims=False):
    return reduce.sum(self, axis=axis, keepdims=keepdims)


def _reshape(self, *shape):
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = shape[0]
    return structure.reshape(self, shape)


def _rmatmul(self, other):
    return linalg.matmul(as_node(other, self.dtype), self)


_T.__doc__ = "The transpose (axes reversed)."
_sum.__doc__ = "Sum over ``axis``; see :func:`jitgrad.sum`."
_reshape.__doc__ = "The same elements in a new shape; see :func:`jitgrad.reshape`."

Node.__add__ = ew.add
Node.__radd__ = _swap(ew.add)
Node.__sub__ = ew.subtract
Node.__rsub__ = _swap(ew.subtract)
Node.__mul__ = ew.multiply
Node.__rmul__ = _swap(ew.multiply)
Node.__truediv__ = ew.divide
Node.__rtruediv__ = _swap(ew.divide)
Node.__pow__ = _pow
Node.__rpow__ = _rpow
Node.__matmul__ = linalg.matmul
Node.__rmatmul__ = _rmatmul
Node.__neg__ = ew.negative
Node.__pos__ = lambda self: self
Node.__abs__ = ew.abs
Node.__lt__ = ew.less
Node.__le__ = ew.less_equal
Node.__gt__ = ew.greater
Node.__ge__ = ew.greater_equal
Node.__getitem__ = structure.getitem
Node.T = property(_T)
Node.sum = _sum
Node.reshape = _reshape
Node.__hash__ = object.__hash__
Node.__eq__ = object.__eq__
Node.__ne__ = object.__ne__

_ = const

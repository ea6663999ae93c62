"""Turning Python numbers, lists and arrays into graph nodes."""

from __future__ import annotations

import numpy as np

from ..graph import Node
from ..shapes import BOOL, F32, F64
from .core import FN, leaf_const

__all__ = ["as_node", "const"]

# Python numbers recur constantly in rules and user code (1.0, 0.5, 2.0): keep their nodes.
_SCALARS: dict = {}


def _array_dtype(a: np.ndarray, what: str) -> np.dtype:
    k = a.dtype.kind
    if k == "b":
        return BOOL
    if k in "iu":
        return F64  # integers promote with floats to float64, as in NumPy
    if k == "f":
        return F32 if a.dtype.itemsize <= 4 else F64
    raise TypeError(
        f"{what}: cannot use an array of dtype {a.dtype} (expected a real number array)"
    )


def const(value, dtype=None) -> Node:
    """A constant node.

    Parameters
    ----------
    value : number, list or numpy.ndarray
        Integers become float64; float16/float32 become float32; booleans stay bool.
    dtype : str or numpy.dtype, optional
        Force ``float64``, ``float32`` or ``bool``.

    Returns
    -------
    Node

    Raises
    ------
    TypeError
        For complex, object or string data.

    Examples
    --------
    >>> import jitgrad as jg
    >>> jg.const([1, 2, 3])
    <Node const (3,) float64>
    >>> jg.const(2.0) is jg.const(2.0)
    True
    """
    if isinstance(value, Node):
        if dtype is not None and value.dtype != np.dtype(dtype):
            return FN.cast(value, dtype)
        return value
    try:
        a = (
            np.asarray(value)
            if not isinstance(value, (str, bytes))
            else np.asarray(value, dtype=object)
        )
    except (ValueError, TypeError) as e:
        raise ValueError(f"const: cannot make an array from {type(value).__name__} ({e})") from None
    dt = _array_dtype(a, "const") if dtype is None else np.dtype(dtype)
    if dt not in (F64, F32, BOOL):
        raise TypeError(f"const: dtype must be float64, float32 or bool, got {dt}")
    if dtype is not None:
        _array_dtype(a, "const")
    return leaf_const(a.astype(dt, copy=False))


def as_node(x, like: np.dtype | None = None, what: str = "operand") -> Node:
    """``x`` as a node; a Python number takes the float dtype ``like`` (NumPy's weak scalars)."""
    if isinstance(x, Node):
        return x
    if isinstance(x, (bool, np.bool_)):
        return leaf_const(np.asarray(bool(x)))
    if isinstance(x, (int, float)) and not isinstance(x, np.generic):
        # Python numbers are weak (they take the node's float dtype); NumPy scalars
        # such as np.float64(1.5) are not (NEP 50): they go through the array path.
        dt = like if like is not None and like.kind == "f" else F64
        key = (float(x), dt)
        node = _SCALARS.get(key)
        if node is None:
            node = leaf_const(np.asarray(x, dtype=dt))
            if len(_SCALARS) < 65536:
                _SCALARS[key] = node
        return node
    if isinstance(x, (np.ndarray, np.generic, list, tuple)):
        try:
            a = np.asarray(x)
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"{what}: cannot make an array from {type(x).__name__} ({e})"
            ) from None
        if a.dtype == object:
            raise TypeError(
                f"{what}: cannot make a node from {type(x).__name__} with non-numeric items"
            )
        return leaf_const(a.astype(_array_dtype(a, what), copy=False))
    raise TypeError(f"{what}: expected a jitgrad node, number or array, got {type(x).__name__}")

"""Static shape helpers: broadcasting, axes, dtype promotion."""

from __future__ import annotations

import numpy as np

F64 = np.dtype("float64")
F32 = np.dtype("float32")
BOOL = np.dtype("bool")
DTYPES = {"float64": F64, "float32": F32, "bool": BOOL}


def fmt(shape) -> str:
    """Shape as NumPy prints it: ``(3,)``, ``()``, ``(2, 3)``."""
    return str(tuple(shape))


def as_shape(shape, what: str = "shape") -> tuple:
    """Validate and normalise a static shape given as an int or a sequence of ints."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"{what} must be a tuple of ints, got {shape!r}") from None
    out = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"{what} must be a tuple of ints, got {shape!r}")
        if d < 0:
            raise ValueError(f"{what} must have non-negative dimensions, got {shape!r}")
        out.append(int(d))
    return tuple(out)


def as_dtype(dtype) -> np.dtype:
    """The node dtype for ``dtype`` (float64, float32 or bool)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float64, float32 or bool, got {dtype!r}") from None
    if dt not in (F64, F32, BOOL):
        raise TypeError(f"dtype must be float64, float32 or bool, got {dt}")
    return dt


def broadcast(opname: str, *shapes) -> tuple:
    """NumPy broadcast of ``shapes``; ``ValueError`` naming the op and all shapes."""
    first = shapes[0] if shapes else ()
    if all(s == first for s in shapes):
        return first
    if len(shapes) == 2:
        # A scalar operand broadcasts to the other: the common case, kept fast.
        if not shapes[1]:
            return first
        if not first:
            return shapes[1]
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(-ndim, 0):
        d = 1
        for s in shapes:
            if len(s) >= -i:
                e = s[i]
                if e == 1:
                    continue
                if d == 1:
                    d = e
                elif e != d:
                    raise ValueError(
                        f"{opname}: shapes {' and '.join(fmt(s) for s in shapes)} "
                        "cannot be broadcast together"
                    )
        out.append(d)
    return tuple(out)


def promote(opname: str, dtypes, allow_bool: bool = False) -> np.dtype:
    """Result dtype of an arithmetic op (NumPy promotion among float32/float64)."""
    dts = list(dtypes)
    if all(d == F64 for d in dts) and dts:
        return F64
    if not allow_bool and any(d == BOOL for d in dts):
        raise TypeError(
            f"{opname}: arithmetic on a boolean node is not defined; "
            "use jg.where(cond, 1.0, 0.0) to turn a condition into numbers"
        )
    return F64 if any(d == F64 for d in dts) else (F32 if dts else F64)


def norm_axes(opname: str, axis, ndim: int) -> tuple:
    """Sorted tuple of non-negative axes for ``axis`` (None, int or tuple of ints)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        axes = (int(axis),)
    else:
        try:
            axes = tuple(axis)
        except TypeError:
            raise TypeError(
                f"{opname}: axis must be None, an int or a tuple of ints, got {axis!r}"
            ) from None
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{opname}: axis must be None, an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ValueError(
                f"{opname}: axis {a} is out of bounds for an array of dimension {ndim}"
            )
        out.append(int(a) % ndim if ndim else int(a))
    if len(set(out)) != len(out):
        raise ValueError(f"{opname}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def reduced_shape(shape: tuple, axes: tuple, keepdims: bool = False) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def size_of(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n

"""Matrix products. The op is ``matmul`` on operands of rank >= 2 (with NumPy's
batch broadcasting); vectors and ``dot`` are reshapes around it."""

from __future__ import annotations

import numpy as np

from ..graph import Node
from ..shapes import broadcast, fmt, promote
from .convert import as_node
from .core import OpDef, batch_pad, make, register, uniform_value
from .structure import reshape, sum_to, swap_last, transpose, zeros


def _matmul_shape(inputs):
    a, b = inputs
    dtype = promote("matmul", (a.dtype, b.dtype))
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(
            f"matmul: shapes {fmt(a.shape)} and {fmt(b.shape)} are not aligned "
            f"({a.shape[-1]} != {b.shape[-2]})"
        )
    try:
        batch = broadcast("matmul", a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(
            f"matmul: batch dimensions of shapes {fmt(a.shape)} and {fmt(b.shape)} cannot be broadcast"
        ) from None
    return batch + (a.shape[-2], b.shape[-1]), dtype


def _matmul_vjp(g, out, a, b):
    return [sum_to(matmul(g, swap_last(b)), a.shape), sum_to(matmul(swap_last(a), g), b.shape)]


def _matmul_jvp(ts, out, a, b):
    ta, tb = ts
    terms = []
    if ta is not None:
        terms.append(matmul(ta, b))
    if tb is not None:
        terms.append(matmul(a, tb))
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


def _fold_matmul(a, b):
    if uniform_value(a) == 0 or uniform_value(b) == 0:
        shape, dtype = _matmul_shape((a, b))
        return zeros(shape, dtype)
    return None


MATMUL = register(
    OpDef(
        "matmul",
        "linalg",
        shape=_matmul_shape,
        impl=np.matmul,
        vjp=_matmul_vjp,
        jvp=_matmul_jvp,
        fold=_fold_matmul,
        batch=batch_pad,
        infix=("@", 3),
        doc="Matrix product of the last two axes, batch axes broadcast. Bilinear.",
    )
)


def matmul(a, b) -> Node:
    """Matrix product ``a @ b`` with NumPy's rules (1-D operands are vectors).

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> A, x = jg.matrix("A", 2, 3), jg.vector("x", 3)
    >>> (A @ x).shape
    (2,)
    >>> jg.evaluate(jg.matmul(x, x), {x: np.array([1.0, 2.0, 3.0])})
    array(14.)
    """
    a = as_node(a, None, "matmul")
    b = as_node(b, a.dtype, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: operands must not be scalars, got shapes {fmt(a.shape)} and {fmt(b.shape)}"
        )
    ka, kb = a.shape[-1], b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        # Checked here so that the message names the user's shapes, not the reshaped ones.
        raise ValueError(
            f"matmul: shapes {fmt(a.shape)} and {fmt(b.shape)} are not aligned ({ka} != {kb})"
        )
    a2 = reshape(a, (1,) + a.shape) if a.ndim == 1 else a
    b2 = reshape(b, b.shape + (1,)) if b.ndim == 1 else b
    out = make(MATMUL, (a2, b2))
    if a.ndim == 1 or b.ndim == 1:
        shape = out.shape
        if a.ndim == 1:
            shape = shape[:-2] + shape[-1:]
        if b.ndim == 1:
            shape = shape[:-1]
        out = reshape(out, shape)
    return out


def dot(a, b) -> Node:
    """``numpy.dot``: a product for scalars, ``matmul`` up to 2-D, else a sum over
    the last axis of ``a`` and the second-to-last of ``b``.

    Examples
    --------
    >>> import jitgrad as jg
    >>> jg.dot(jg.matrix("A", 2, 3), jg.vector("x", 3)).shape
    (2,)
    """
    a = as_node(a, None, "dot")
    b = as_node(b, a.dtype, "dot")
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim <= 2 and b.ndim <= 2:
        return matmul(a, b)
    k = a.shape[-1]
    kb = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if k != kb:
        raise ValueError(
            f"dot: shapes {fmt(a.shape)} and {fmt(b.shape)} are not aligned ({k} != {kb})"
        )
    a2 = reshape(a, (-1, k))
    if b.ndim == 1:
        return reshape(matmul(a2, b), a.shape[:-1])
    perm = (b.ndim - 2,) + tuple(i for i in range(b.ndim) if i != b.ndim - 2)
    b2 = reshape(transpose(b, perm), (k, -1))
    return reshape(matmul(a2, b2), a.shape[:-1] + b.shape[:-2] + b.shape[-1:])

"""Reductions: sum, prod, max, min, logsumexp (ops) and mean (composed).

The ops reduce over a sorted tuple of axes without keepdims; the public
functions add ``keepdims`` by a reshape, so every rule sees one form.
"""

from __future__ import annotations

import numpy as np

from ..graph import Node
from ..shapes import BOOL, fmt, norm_axes, promote, reduced_shape, size_of
from .convert import as_node
from .core import OpDef, make, provide, register, uniform_value
from .elementwise import equal, exp, where
from .structure import broadcast_to, expand_reduced, reshape, zeros


def _batch_reduce(xs, batched, out, axes):
    return make(out.op, (xs[0],), axes=tuple(a + 1 for a in axes))


def _red_shape(name):
    def rule(inputs, axes):
        (x,) = inputs
        promote(name, (x.dtype,))
        if len(set(axes)) != len(axes) or not all(0 <= a < x.ndim for a in axes):
            raise ValueError(f"{name}: axes {tuple(axes)} do not fit an input of shape {x.shape}")
        return reduced_shape(x.shape, axes), x.dtype

    return rule


def _np_axis(x, axes):
    # A full reduction goes through NumPy's axis=None path, so results are bit-identical.
    return None if len(axes) == np.ndim(x) else axes


def _expand(node: Node, x: Node, axes) -> Node:
    """``node`` (reduced shape) broadcast back to ``x.shape``."""
    return broadcast_to(expand_reduced(node, axes, x.ndim), x.shape)


def _object_reduce(x, axes, fn):
    """Reduce an object array of SymPy expressions over ``axes`` with ``fn(*items)``."""
    x = np.asarray(x, dtype=object)
    keep = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, keep + list(axes))
    out_shape = moved.shape[: len(keep)]
    flat = moved.reshape((-1, size_of(moved.shape[len(keep) :])))
    out = np.empty(flat.shape[0], dtype=object)
    for k, row in enumerate(flat):
        out[k] = fn(*row)
    return out.reshape(out_shape)


def _fold_sum(x, axes):
    if not axes:
        return x
    u = uniform_value(x)
    if u is not None:
        n = size_of(x.shape[a] for a in axes)
        return broadcast_to(as_node(u * n, x.dtype), reduced_shape(x.shape, axes))
    return None


SUM = register(
    OpDef(
        "sum",
        "reduce",
        shape=_red_shape("sum"),
        impl=lambda x, axes: np.sum(x, axis=_np_axis(x, axes)),
        vjp=lambda g, out, x, axes: [_expand(g, x, axes)],
        jvp=lambda ts, out, x, axes: sum(ts[0], axis=axes),
        fold=_fold_sum,
        batch=_batch_reduce,
        sympy=lambda sp, x, axes: _object_reduce(x, axes, sp.Add),
        linear=True,
        doc="Sum over axes. Derivative 1 for every element.",
    )
)


def _prod_vjp(g, out, x, axes):
    # d prod / d x_i = prod / x_i: exact away from zeros; an element equal to 0 gives nan.
    return [_expand(g * out, x, axes) / x]


def _prod_jvp(ts, out, x, axes):
    return sum(ts[0] * (_expand(out, x, axes) / x), axis=axes)


PROD = register(
    OpDef(
        "prod",
        "reduce",
        shape=_red_shape("prod"),
        impl=lambda x, axes: np.prod(x, axis=_np_axis(x, axes)),
        vjp=_prod_vjp,
        jvp=_prod_jvp,
        fold=lambda x, axes: x if not axes else None,
        batch=_batch_reduce,
        sympy=lambda sp, x, axes: _object_reduce(x, axes, sp.Mul),
        doc=(
            "Product over axes. Derivative prod(x)/x_i, valid where no element is 0 "
            "(an exact zero gives nan in the derivative)."
        ),
    )
)


def _chooser_rules():
    def weights(out, x, axes):
        # Ties share the derivative equally (as JAX): mask / number of maximal elements.
        mask = where(equal(x, _expand(out, x, axes)), 1.0, 0.0)
        return mask, sum(mask, axis=axes)

    def vjp(g, out, x, axes):
        mask, count = weights(out, x, axes)
        return [mask * _expand(g / count, x, axes)]

    def jvp(ts, out, x, axes):
        mask, count = weights(out, x, axes)
        return sum(ts[0] * mask, axis=axes) / count

    return vjp, jvp


_cv, _cj = _chooser_rules()

MAX = register(
    OpDef(
        "max",
        "reduce",
        shape=_red_shape("max"),
        impl=lambda x, axes: np.max(x, axis=_np_axis(x, axes)),
        vjp=_cv,
        jvp=_cj,
        fold=lambda x, axes: x if not axes else None,
        batch=_batch_reduce,
        sympy=lambda sp, x, axes: _object_reduce(x, axes, sp.Max),
        doc="Largest element over axes. Ties share the derivative equally; empty axes are an error.",
    )
)
MIN = register(
    OpDef(
        "min",
        "reduce",
        shape=_red_shape("min"),
        impl=lambda x, axes: np.min(x, axis=_np_axis(x, axes)),
        vjp=_cv,
        jvp=_cj,
        fold=lambda x, axes: x if not axes else None,
        batch=_batch_reduce,
        sympy=lambda sp, x, axes: _object_reduce(x, axes, sp.Min),
        doc="Smallest element over axes. Ties share the derivative equally; empty axes are an error.",
    )
)


def _logsumexp_impl(x, axes):
    x = np.asarray(x)
    m = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        s = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return np.reshape(s, reduced_shape(x.shape, axes))


def _lse_soft(out, x, axes):
    """softmax(x) = exp(x - out), renormalised by its own sum. ``out`` carries a
    rounding error of about ``|out| eps``; it scales every ``exp(x - out)`` by the
    same factor, which the division removes (without it the gradient at
    ``x ~ 1e12`` is off by 4e-5, and past ``1e16`` it sums to n instead of 1)."""
    p = exp(x - _expand(out, x, axes))
    return p / _expand(sum(p, axis=axes), x, axes)


LOGSUMEXP = register(
    OpDef(
        "logsumexp",
        "reduce",
        shape=_red_shape("logsumexp"),
        impl=_logsumexp_impl,
        vjp=lambda g, out, x, axes: [_expand(g, x, axes) * _lse_soft(out, x, axes)],
        jvp=lambda ts, out, x, axes: sum(ts[0] * _lse_soft(out, x, axes), axis=axes),
        fold=lambda x, axes: x if not axes else None,
        batch=_batch_reduce,
        sympy=lambda sp, x, axes: _object_reduce(
            x, axes, lambda *r: sp.log(sp.Add(*(sp.exp(e) for e in r)))
        ),
        doc=(
            "log(sum(exp(x))) over axes, computed with the maximum subtracted (no overflow: "
            "logsumexp([1000, 1000]) = 1000 + log 2). Derivative softmax(x)."
        ),
    )
)


def _reduce(op, x, axis, keepdims):
    x = as_node(x, None, op.name)
    if x.dtype == BOOL:
        raise TypeError(
            f"{op.name}: cannot reduce a boolean node; use jg.where(cond, 1.0, 0.0) first"
        )
    axes = norm_axes(op.name, axis, x.ndim)
    if op.name in ("max", "min") and any(x.shape[a] == 0 for a in axes):
        raise ValueError(
            f"{op.name}: zero-size axis in a node of shape {fmt(x.shape)} has no identity"
        )
    y = make(op, (x,), axes=axes)
    if keepdims:
        y = expand_reduced(y, axes, x.ndim)
    return y


def sum(x, axis=None, keepdims: bool = False) -> Node:  # noqa: A001
    """Sum of elements over ``axis`` (None: all; int or tuple of ints).

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> A = jg.matrix("A", 2, 3)
    >>> jg.evaluate(jg.sum(A, axis=1), {A: np.ones((2, 3))})
    array([3., 3.])
    """
    return _reduce(SUM, x, axis, keepdims)


def prod(x, axis=None, keepdims: bool = False) -> Node:
    """Product of elements over ``axis``; see the op doc for the derivative at zeros.

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x = jg.vector("x", 3)
    >>> jg.evaluate(jg.prod(x), {x: np.array([1.0, 2.0, 3.0])})
    array(6.)
    """
    return _reduce(PROD, x, axis, keepdims)


def max(x, axis=None, keepdims: bool = False) -> Node:  # noqa: A001
    """Largest element over ``axis``; ties share the derivative equally.

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x = jg.vector("x", 3)
    >>> jg.evaluate(jg.max(x), {x: np.array([1.0, 5.0, 3.0])})
    array(5.)
    """
    return _reduce(MAX, x, axis, keepdims)


def min(x, axis=None, keepdims: bool = False) -> Node:  # noqa: A001
    """Smallest element over ``axis``; ties share the derivative equally.

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x = jg.vector("x", 3)
    >>> jg.evaluate(jg.min(x), {x: np.array([1.0, 5.0, 3.0])})
    array(1.)
    """
    return _reduce(MIN, x, axis, keepdims)


def logsumexp(x, axis=None, keepdims: bool = False) -> Node:
    """``log(sum(exp(x)))`` over ``axis``, computed without overflow.

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x = jg.vector("x", 2)
    >>> jg.evaluate(jg.logsumexp(x), {x: np.array([1000.0, 1000.0])})  # 1000 + log 2
    array(1000.69314718)
    """
    return _reduce(LOGSUMEXP, x, axis, keepdims)


def mean(x, axis=None, keepdims: bool = False) -> Node:
    """Arithmetic mean over ``axis`` (the sum divided by the number of elements).

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x = jg.vector("x", 4)
    >>> jg.evaluate(jg.mean(x), {x: np.arange(4.0)})
    array(1.5)
    """
    x = as_node(x, None, "mean")
    axes = norm_axes("mean", axis, x.ndim)
    n = size_of(x.shape[a] for a in axes)
    s = _reduce(SUM, x, axes, keepdims)
    if n == 0:
        return s / as_node(0.0, x.dtype)  # nan, as NumPy's mean of nothing
    return s / as_node(float(n), x.dtype)


_ = (reshape, zeros)
provide(sum=sum)

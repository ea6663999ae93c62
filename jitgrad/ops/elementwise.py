"""Elementwise ops: arithmetic, comparisons, ``where`` and the math functions.

Each op is one :class:`~jitgrad.ops.core.OpDef` made by :func:`elementwise`
from its NumPy implementation and its partial derivatives. ``vjp`` (``g * d``)
and ``jvp`` (``t * d``) are derived from ``partials``; broadcasting is undone
once by the transforms, not here.
"""

from __future__ import annotations

import numpy as np

from ..graph import Node
from ..shapes import BOOL, F32, F64, as_dtype, broadcast, promote
from .convert import as_node
from .core import FN, OpDef, batch_pad, make, provide, register, uniform_value

# Precedences for infix printing (higher binds tighter), as in Python.
PREC_CMP, PREC_ADD, PREC_MUL, PREC_NEG, PREC_POW, PREC_ATOM = 1, 2, 3, 4, 5, 6


def _ew_shape(name, out_bool=False, allow_bool=False):
    def rule(inputs, **_):
        # Fast path (the common case): one or two operands of one shape and one
        # float dtype give that shape and dtype.
        n = len(inputs)
        if n == 1 or n == 2:
            a = inputs[0]
            dt = a.dtype
            if (dt is F64 or dt is F32) and (
                n == 1 or (inputs[1].dtype is dt and inputs[1].shape == a.shape)
            ):
                return a.shape, BOOL if out_bool else dt
        shape = broadcast(name, *(i.shape for i in inputs))
        dtype = BOOL if out_bool else promote(name, (i.dtype for i in inputs), allow_bool)
        return shape, dtype

    return rule


def _derive_vjp(partials):
    def vjp(g, out, *xs, **params):
        return [None if d is None else g * d for d in partials(out, *xs, **params)]

    return vjp


def _derive_jvp(partials):
    def jvp(ts, out, *xs, **params):
        total = None
        for t, d in zip(ts, partials(out, *xs, **params)):
            if t is None or d is None:
                continue
            term = t * d
            total = term if total is None else total + term
        return total

    return jvp


def elementwise(
    name,
    impl,
    partials=None,
    *,
    sympy=None,
    emit=None,
    infix=None,
    fold=None,
    doc="",
    out_bool=False,
    allow_bool=False,
    vjp=None,
    jvp=None,
    linear=False,
) -> OpDef:
    """Register an elementwise op; ``partials(out, *xs)`` gives d out / d x_i (None = 0)."""
    if partials is not None:
        vjp = vjp or _derive_vjp(partials)
        jvp = jvp or _derive_jvp(partials)
    elif vjp is None and jvp is None:
        # Piecewise-constant or boolean output: derivative zero everywhere it exists.
        def vjp(g, out, *xs, **params):
            return [None] * len(xs)

        def jvp(ts, out, *xs, **params):
            return None

    return register(
        OpDef(
            name,
            "elementwise",
            shape=_ew_shape(name, out_bool, allow_bool),
            impl=impl,
            vjp=vjp,
            jvp=jvp,
            fold=fold,
            batch=batch_pad,
            sympy=sympy,
            emit=emit,
            infix=infix,
            doc=doc,
            linear=linear,
            extra={"partials": partials},
        )
    )


def _is(node, value) -> bool:
    u = uniform_value(node)
    return u is not None and u == value and node.dtype != BOOL


def _value(node):
    """The common value of a non-boolean (broadcast) constant, else None:
    ``_is(node, v)`` is ``_value(node) == v``."""
    u = uniform_value(node)
    return None if u is None or node.dtype == BOOL else u


def _zeros_like_shape(x: Node, y: Node) -> Node:
    return FN.zeros(broadcast("fold", x.shape, y.shape), promote("fold", (x.dtype, y.dtype)))


# ----------------------------------------------------------------------------- arithmetic


def _scalar_const(n):
    return n.op.name == "const" and n.ndim == 0 and n.dtype != BOOL


def _fold_add(x, y):
    if _is(x, 0):
        return y
    if _is(y, 0):
        return x
    if x is y:
        return 2.0 * x  # exact in floating point
    if y.op is NEG:
        return subtract(x, y.inputs[0])  # x + -y -> x - y
    if x.op is NEG:
        return subtract(y, x.inputs[0])  # -x + y -> y - x
    return None


def _fold_sub(x, y):
    if _is(y, 0):
        return x
    if _is(x, 0):
        return negative(y)
    if y.op is NEG:
        return add(x, y.inputs[0])  # x - -y -> x + y
    return None


def _fold_mul(x, y):
    ux, uy = _value(x), _value(y)
    # x*0 -> 0 is the symbolic-zero convention (documented: 0*inf gives 0 here).
    if ux == 0 or uy == 0:
        return _zeros_like_shape(x, y)
    if ux == 1:
        return y
    if uy == 1:
        return x
    if ux == -1:
        return negative(y)
    if uy == -1:
        return negative(x)
    if x.op is NEG and y.op is NEG:
        return x.inputs[0] * y.inputs[0]
    # Canonical form: a scalar constant factor on the left, constants merged.
    cx, cy = _scalar_const(x), _scalar_const(y)
    if cy and not cx:
        return multiply(y, x)
    if cx and y.op is MUL and _scalar_const(y.inputs[0]):
        return multiply(_merge(x, y.inputs[0]), y.inputs[1])
    if cx and y.op is NEG:
        return multiply(negative(x), y.inputs[0])
    return None


def _merge(a, b):
    return multiply(a, b)  # both constants: folded at build time


def _fold_div(x, y):
    if _is(y, 1):
        return x
    if _is(x, 0):
        return _zeros_like_shape(x, y)
    return None


def _fold_neg(x):
    if x.op is NEG:
        return x.inputs[0]
    if x.op is MUL and _scalar_const(x.inputs[0]):
        return multiply(negative(x.inputs[0]), x.inputs[1])  # -(c*z) -> (-c)*z
    if x.op is SUB:
        return subtract(x.inputs[1], x.inputs[0])  # -(a - b) -> b - a
    return None


def _fold_pow(x, y):
    u = uniform_value(y)
    if u is None or y.shape != () and y.size != 1:
        return None
    if u == 1:
        return x
    if u == 2:
        return square(x)
    if u == 0.5:
        return sqrt(x)
    return None


ADD = elementwise(
    "add",
    np.add,
    lambda out, x, y: [1.0, 1.0],
    sympy=lambda sp, x, y: x + y,
    emit="({0} + {1})",
    infix=("+", PREC_ADD),
    fold=_fold_add,
    linear=True,
    vjp=lambda g, out, x, y: [g, g],
    jvp=lambda ts, out, x, y: _add_opt(ts[0], ts[1]),
    doc="x + y. Derivatives 1 and 1.",
)
SUB = elementwise(
    "subtract",
    np.subtract,
    lambda out, x, y: [1.0, -1.0],
    sympy=lambda sp, x, y: x - y,
    emit="({0} - {1})",
    infix=("-", PREC_ADD),
    fold=_fold_sub,
    linear=True,
    vjp=lambda g, out, x, y: [g, negative(g)],
    jvp=lambda ts, out, x, y: _sub_opt(ts[0], ts[1]),
    doc="x - y. Derivatives 1 and -1.",
)
MUL = elementwise(
    "multiply",
    np.multiply,
    lambda out, x, y: [y, x],
    sympy=lambda sp, x, y: x * y,
    emit="({0} * {1})",
    infix=("*", PREC_MUL),
    fold=_fold_mul,
    doc="x * y. Derivatives y and x.",
)
DIV = elementwise(
    "divide",
    np.divide,
    lambda out, x, y: [1.0 / y, negative(out) / y],
    sympy=lambda sp, x, y: x / y,
    emit="({0} / {1})",
    infix=("/", PREC_MUL),
    fold=_fold_div,
    doc="x / y. Derivatives 1/y and -x/y**2 (written -out/y). y = 0 gives inf/nan as NumPy.",
)
NEG = elementwise(
    "negative",
    np.negative,
    lambda out, x: [-1.0],
    sympy=lambda sp, x: -x,
    emit="(-{0})",
    infix=("-", PREC_NEG),
    fold=_fold_neg,
    linear=True,
    vjp=lambda g, out, x: [negative(g)],
    jvp=lambda ts, out, x: negative(ts[0]),
    doc="-x. Derivative -1.",
)


def _pow_partials(out, x, y):
    dx = None if _is_const(x) else y * power(x, y - 1.0)
    dy = None
    if not _is_const(y):
        # d/dy x**y = log(x) x**y; at x = 0 we take 0 (the limit for y > 0), as JAX does.
        safe = where(equal(x, 0.0), 1.0, x)
        dy = where(equal(x, 0.0), 0.0, log(safe) * out)
    return [dx, dy]


def _is_const(n):
    return uniform_value(n) is not None or n.op.name == "const"


POW = elementwise(
    "power",
    np.power,
    _pow_partials,
    sympy=lambda sp, x, y: x**y,
    emit="({0} ** {1})",
    infix=("**", PREC_POW),
    fold=_fold_pow,
    doc=(
        "x ** y. d/dx = y x**(y-1); d/dy = log(x) x**y, taken as 0 where x = 0. "
        "Negative x with non-integer y gives nan as NumPy."
    ),
)


def _add_opt(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _sub_opt(a, b):
    if b is None:
        return a
    if a is None:
        return negative(b)
    return a - b


# ----------------------------------------------------------------------------- comparisons


def _cmp(name, impl, sym, spname):
    return elementwise(
        name,
        impl,
        None,
        sympy=lambda sp, x, y: getattr(sp, spname)(x, y),
        emit="({0} " + sym + " {1})",
        infix=(sym, PREC_CMP),
        out_bool=True,
        doc=f"x {sym} y, a boolean node (for jg.where). Not differentiable: derivative 0.",
    )


LESS = _cmp("less", np.less, "<", "Lt")
LESS_EQ = _cmp("less_equal", np.less_equal, "<=", "Le")
GREATER = _cmp("greater", np.greater, ">", "Gt")
GREATER_EQ = _cmp("greater_equal", np.greater_equal, ">=", "Ge")
EQUAL = _cmp("equal", np.equal, "==", "Eq")


def _where_shape(inputs, **_):
    c, a, b = inputs
    if c.dtype != BOOL:
        raise TypeError(
            f"where: the condition must be a boolean node (a comparison), got dtype {c.dtype}"
        )
    return broadcast("where", c.shape, a.shape, b.shape), promote("where", (a.dtype, b.dtype))


def _where_vjp(g, out, c, a, b):
    return [None, where(c, g, 0.0), where(c, 0.0, g)]


def _where_jvp(ts, out, c, a, b):
    ta, tb = ts[1], ts[2]
    if ta is None and tb is None:
        return None
    return where(c, 0.0 if ta is None else ta, 0.0 if tb is None else tb)


def _fold_where(c, a, b):
    u = uniform_value(c)
    if u is not None:
        return a if u else b
    if a is b:
        return a
    return None


WHERE = register(
    OpDef(
        "where",
        "elementwise",
        shape=_where_shape,
        impl=np.where,
        vjp=_where_vjp,
        jvp=_where_jvp,
        fold=_fold_where,
        batch=batch_pad,
        sympy=lambda sp, c, a, b: sp.Piecewise((a, c), (b, True)),
        emit="({1} if {0} else {2})",
        doc="where(c, a, b): a where c holds, else b. Derivative flows to the chosen branch only.",
    )
)


def _cast_shape(inputs, dtype):
    (x,) = inputs
    return x.shape, dtype


CAST = register(
    OpDef(
        "cast",
        "elementwise",
        shape=_cast_shape,
        impl=lambda x, dtype: np.asarray(x).astype(dtype),
        vjp=lambda g, out, x, dtype: [cast(g, x.dtype) if x.dtype != BOOL else None],
        jvp=lambda ts, out, x, dtype: None if ts[0] is None else cast(ts[0], dtype),
        fold=lambda x, dtype: x if x.dtype == dtype else None,
        batch=batch_pad,
        sympy=lambda sp, x, dtype: x,
        emit=lambda dtype: "np." + dtype.name + "({0})",
        linear=True,
        doc="Convert to another dtype (float64, float32; bool -> 0.0/1.0). Derivative 1.",
    )
)


# ----------------------------------------------------------------------------- unary math


def _unary(name, impl, partial, sp, doc, emit=None):
    return elementwise(
        name,
        impl,
        None if partial is None else (lambda out, x: [partial(out, x)]),
        sympy=sp,
        emit=emit or ("np." + name + "({0})"),
        doc=doc,
    )


def _sigmoid_impl(x):
    # exp(-log(1 + exp(-x))) is accurate for every x and never overflows.
    return np.exp(-np.logaddexp(0, -x))


def _softplus_impl(x):
    return np.logaddexp(0, x)


EXP = _unary(
    "exp", np.exp, lambda out, x: out, lambda sp, x: sp.exp(x), "exp(x); derivative exp(x)."
)
LOG = _unary(
    "log",
    np.log,
    lambda out, x: 1.0 / x,
    lambda sp, x: sp.log(x),
    "log(x) for x > 0; derivative 1/x.",
)
LOG1P = _unary(
    "log1p",
    np.log1p,
    lambda out, x: 1.0 / (1.0 + x),
    lambda sp, x: sp.log(1 + x),
    "log(1 + x) for x > -1, accurate near 0; derivative 1/(1 + x).",
)
EXPM1 = _unary(
    "expm1",
    np.expm1,
    # exp(x), not out + 1: that cancels for x < 0 (7 digits left at x = -20, none at -40).
    lambda out, x: exp(x),
    lambda sp, x: sp.exp(x) - 1,
    "exp(x) - 1, accurate near 0; derivative exp(x).",
)
SQRT = _unary(
    "sqrt",
    np.sqrt,
    lambda out, x: 0.5 / out,
    lambda sp, x: sp.sqrt(x),
    "sqrt(x) for x >= 0; derivative 1/(2 sqrt(x)), which is inf at x = 0 (as NumPy and JAX).",
)
SIN = _unary(
    "sin", np.sin, lambda out, x: cos(x), lambda sp, x: sp.sin(x), "sin(x); derivative cos(x)."
)
COS = _unary(
    "cos",
    np.cos,
    lambda out, x: negative(sin(x)),
    lambda sp, x: sp.cos(x),
    "cos(x); derivative -sin(x).",
)
TAN = _unary(
    "tan",
    np.tan,
    lambda out, x: 1.0 + square(out),
    lambda sp, x: sp.tan(x),
    "tan(x); derivative 1 + tan(x)**2. Poles at pi/2 + k pi.",
)
ARCSIN = _unary(
    "arcsin",
    np.arcsin,
    lambda out, x: 1.0 / sqrt(1.0 - square(x)),
    lambda sp, x: sp.asin(x),
    "arcsin(x) for -1 <= x <= 1; derivative 1/sqrt(1 - x**2), inf at x = +-1.",
)
ARCCOS = _unary(
    "arccos",
    np.arccos,
    lambda out, x: -1.0 / sqrt(1.0 - square(x)),
    lambda sp, x: sp.acos(x),
    "arccos(x) for -1 <= x <= 1; derivative -1/sqrt(1 - x**2), -inf at x = +-1.",
)
ARCTAN = _unary(
    "arctan",
    np.arctan,
    lambda out, x: 1.0 / (1.0 + square(x)),
    lambda sp, x: sp.atan(x),
    "arctan(x); derivative 1/(1 + x**2).",
)
TANH = _unary(
    "tanh",
    np.tanh,
    lambda out, x: 1.0 - square(out),
    lambda sp, x: sp.tanh(x),
    "tanh(x); derivative 1 - tanh(x)**2 (reuses the forward value).",
)
SINH = _unary(
    "sinh",
    np.sinh,
    lambda out, x: cosh(x),
    lambda sp, x: sp.sinh(x),
    "sinh(x); derivative cosh(x).",
)
COSH = _unary(
    "cosh",
    np.cosh,
    lambda out, x: sinh(x),
    lambda sp, x: sp.cosh(x),
    "cosh(x); derivative sinh(x).",
)
SIGMOID = _unary(
    "sigmoid",
    _sigmoid_impl,
    # sigmoid(x) sigmoid(-x), not out (1 - out): 1 - out cancels for large x (7 digits
    # left at x = 20, none past 37), while both factors here are accurate everywhere.
    lambda out, x: out * sigmoid(negative(x)),
    lambda sp, x: 1 / (1 + sp.exp(-x)),
    "1/(1 + exp(-x)), computed without overflow; derivative sigmoid(x) sigmoid(-x) "
    "(= sigmoid(x)(1 - sigmoid(x)), written so that it stays accurate for large x).",
    emit="_sigmoid({0})",
)
SOFTPLUS = _unary(
    "softplus",
    _softplus_impl,
    lambda out, x: sigmoid(x),
    lambda sp, x: sp.log(1 + sp.exp(x)),
    "log(1 + exp(x)), computed without overflow (softplus(800) = 800); derivative sigmoid(x).",
    emit="_softplus({0})",
)
ABS = _unary(
    "abs",
    np.abs,
    lambda out, x: sign(x),
    lambda sp, x: sp.Abs(x),
    "The absolute value of x; derivative sign(x), and 0 at the kink x = 0 (as JAX).",
)
SIGN = _unary(
    "sign",
    np.sign,
    None,
    lambda sp, x: sp.sign(x),
    "sign(x) in {-1, 0, 1} (nan for nan); derivative 0 everywhere, including at 0.",
)
SQUARE = _unary(
    "square",
    np.square,
    lambda out, x: 2.0 * x,
    lambda sp, x: x**2,
    "x**2; derivative 2x.",
    emit="({0} * {0})",
)


def _minmax_partials(cmp):
    def partials(out, x, y):
        # Ties split the derivative evenly (0.5 each), so maximum(x, x) has derivative 1.
        m = where(cmp(x, y), 1.0, where(equal(x, y), 0.5, 0.0))
        return [m, 1.0 - m]

    return partials


MAXIMUM = elementwise(
    "maximum",
    np.maximum,
    _minmax_partials(lambda x, y: greater(x, y)),
    sympy=lambda sp, x, y: sp.Max(x, y),
    emit="_maximum({0}, {1})",
    doc="Elementwise larger of x and y (nan if either is nan). At ties x == y each gets derivative 0.5.",
)
MINIMUM = elementwise(
    "minimum",
    np.minimum,
    _minmax_partials(lambda x, y: less(x, y)),
    sympy=lambda sp, x, y: sp.Min(x, y),
    emit="_minimum({0}, {1})",
    doc="Elementwise smaller of x and y (nan if either is nan). At ties x == y each gets derivative 0.5.",
)


# ----------------------------------------------------------------------------- public functions


def _binary(op, x, y):
    if isinstance(x, Node):
        y = as_node(y, x.dtype, op.name)
    elif isinstance(y, Node):
        x = as_node(x, y.dtype, op.name)
    else:
        x = as_node(x, None, op.name)
        y = as_node(y, x.dtype, op.name)
    if op is MUL and y.op.name == "const" and not y.shape and x.op.name != "const":
        x, y = y, x  # the canonical order (constant factor first), without a second build
    return make(op, (x, y))


def _un(op, x):
    return make(op, (as_node(x, None, op.name),))


def _doc(op, summary, example):
    return f"""{summary}

    {op.doc}

    Parameters
    ----------
    x : Node or array_like

    Returns
    -------
    Node
        Same shape and dtype as ``x``.

    Examples
    --------
    >>> import jitgrad as jg
    >>> x = jg.scalar("x")
    {example}
    """


def add(x, y) -> Node:
    """Elementwise sum ``x + y`` with NumPy broadcasting.

    Examples
    --------
    >>> import jitgrad as jg
    >>> jg.add(jg.vector("x", 3), 1.0).shape
    (3,)
    """
    return _binary(ADD, x, y)


def subtract(x, y) -> Node:
    """Elementwise difference ``x - y``."""
    return _binary(SUB, x, y)


def multiply(x, y) -> Node:
    """Elementwise product ``x * y``."""
    return _binary(MUL, x, y)


def divide(x, y) -> Node:
    """Elementwise quotient ``x / y``."""
    return _binary(DIV, x, y)


def negative(x) -> Node:
    """Elementwise ``-x``."""
    return _un(NEG, x)


def power(x, y) -> Node:
    """Elementwise ``x ** y``.

    ``d/dx = y x**(y-1)``; ``d/dy = log(x) x**y``, taken as 0 where ``x == 0``.

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x = jg.vector("x", 2)
    >>> jg.evaluate(jg.power(x, 3), {x: np.array([2.0, 3.0])})
    array([ 8., 27.])
    """
    return _binary(POW, x, y)


def maximum(x, y) -> Node:
    """Elementwise maximum; at ties each argument gets derivative 0.5.

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x = jg.vector("x", 2)
    >>> jg.evaluate(jg.maximum(x, 0.0), {x: np.array([-1.0, 2.0])})
    array([0., 2.])
    """
    return _binary(MAXIMUM, x, y)


def minimum(x, y) -> Node:
    """Elementwise minimum; at ties each argument gets derivative 0.5.

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x = jg.vector("x", 2)
    >>> jg.evaluate(jg.minimum(x, 0.0), {x: np.array([-1.0, 2.0])})
    array([-1.,  0.])
    """
    return _binary(MINIMUM, x, y)


def less(x, y) -> Node:
    """Boolean node ``x < y`` (for :func:`where`); its derivative is zero."""
    return _binary(LESS, x, y)


def less_equal(x, y) -> Node:
    """Boolean node ``x <= y`` (for :func:`where`); its derivative is zero."""
    return _binary(LESS_EQ, x, y)


def greater(x, y) -> Node:
    """Boolean node ``x > y`` (for :func:`where`); its derivative is zero."""
    return _binary(GREATER, x, y)


def greater_equal(x, y) -> Node:
    """Boolean node ``x >= y`` (for :func:`where`); its derivative is zero."""
    return _binary(GREATER_EQ, x, y)


def equal(x, y) -> Node:
    """Boolean node ``x == y`` (the operator ``==`` on nodes is identity, not this)."""
    return _binary(EQUAL, x, y)


def where(cond, x, y) -> Node:
    """``x`` where ``cond`` holds, else ``y``, broadcasting like ``numpy.where``.

    The derivative flows only into the chosen branch. ``cond`` must be boolean
    (a comparison or a boolean constant).

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x = jg.vector("x", 3)
    >>> jg.evaluate(jg.where(x > 0, x, 0.0), {x: np.array([-1.0, 0.5, 2.0])})
    array([0. , 0.5, 2. ])
    """
    cond = as_node(cond, None, "where")
    if isinstance(x, Node) or not isinstance(y, Node):
        x = as_node(x, None, "where")
        y = as_node(y, x.dtype, "where")
    else:
        y = as_node(y, None, "where")
        x = as_node(x, y.dtype, "where")
    return make(WHERE, (cond, x, y))


def cast(x, dtype) -> Node:
    """``x`` converted to ``dtype`` (float64, float32 or bool).

    Examples
    --------
    >>> import jitgrad as jg
    >>> jg.cast(jg.vector("x", 2), "float32").dtype
    dtype('float32')
    """
    dtype = as_dtype(dtype)
    return make(CAST, (as_node(x, None, "cast"),), dtype=dtype)


def _make_unary(op, example):
    def f(x) -> Node:
        return _un(op, x)

    f.__name__ = f.__qualname__ = op.name
    f.__doc__ = _doc(op, f"Elementwise ``{op.name}(x)``.", example)
    return f


exp = _make_unary(EXP, ">>> jg.evaluate(jg.exp(x), {x: 0.0})\n    array(1.)")
log = _make_unary(LOG, ">>> jg.evaluate(jg.log(x), {x: 1.0})\n    array(0.)")
log1p = _make_unary(LOG1P, ">>> jg.evaluate(jg.log1p(x), {x: 1e-20})\n    array(1.e-20)")
expm1 = _make_unary(EXPM1, ">>> jg.evaluate(jg.expm1(x), {x: 1e-20})\n    array(1.e-20)")
sqrt = _make_unary(SQRT, ">>> jg.evaluate(jg.sqrt(x), {x: 4.0})\n    array(2.)")
sin = _make_unary(SIN, ">>> jg.evaluate(jg.sin(x), {x: 0.0})\n    array(0.)")
cos = _make_unary(COS, ">>> jg.evaluate(jg.cos(x), {x: 0.0})\n    array(1.)")
tan = _make_unary(TAN, ">>> jg.evaluate(jg.tan(x), {x: 0.0})\n    array(0.)")
arcsin = _make_unary(ARCSIN, ">>> jg.evaluate(jg.arcsin(x), {x: 0.0})\n    array(0.)")
arccos = _make_unary(ARCCOS, ">>> jg.evaluate(jg.arccos(x), {x: 1.0})\n    array(0.)")
arctan = _make_unary(ARCTAN, ">>> jg.evaluate(jg.arctan(x), {x: 0.0})\n    array(0.)")
tanh = _make_unary(TANH, ">>> jg.evaluate(jg.tanh(x), {x: 0.0})\n    array(0.)")
sinh = _make_unary(SINH, ">>> jg.evaluate(jg.sinh(x), {x: 0.0})\n    array(0.)")
cosh = _make_unary(COSH, ">>> jg.evaluate(jg.cosh(x), {x: 0.0})\n    array(1.)")
sigmoid = _make_unary(SIGMOID, ">>> jg.evaluate(jg.sigmoid(x), {x: 0.0})\n    array(0.5)")
softplus = _make_unary(SOFTPLUS, ">>> jg.evaluate(jg.softplus(x), {x: 800.0})\n    array(800.)")
abs = _make_unary(ABS, ">>> jg.evaluate(jg.abs(x), {x: -2.0})\n    array(2.)")  # noqa: A001
sign = _make_unary(SIGN, ">>> jg.evaluate(jg.sign(x), {x: -2.0})\n    array(-1.)")
square = _make_unary(SQUARE, ">>> jg.evaluate(jg.square(x), {x: 3.0})\n    array(9.)")

_ = (F32, F64)
provide(cast=cast)

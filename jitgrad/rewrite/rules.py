"""Rule tables: algebra, negation, powers, exp/log/trig, constants.

Every rule is exact in real arithmetic on the domain where the original is
defined; :mod:`tests.test_rewrites` proves each one with SymPy. Two conventions
are shared with the build-time folds (``x * 0 -> 0``): a rule may give the
finite, mathematically right value where the original overflows or gives nan
through an intermediate inf (``x - x -> 0`` for ``x = inf``, ``exp(x) / exp(x)``
where ``exp(x)`` underflows to 0); and rules that would be wrong somewhere
inside the domain carry a guard (``x / x -> 1`` only where ``x`` is known to be
nonzero, ``exp(log x) -> x`` only where ``x >= 0`` is known).

What is known about a node's sign comes from its op (``exp``, ``cosh``,
``sqrt``, ``square``, ``abs``, ``sigmoid``, ``softplus``), from constants, and
from sums and products of such nodes, looked at a few levels deep.
"""

from __future__ import annotations

import math

import numpy as np

from ..graph import BOOL
from ..ops import elementwise as ew
from ..ops.convert import as_node
from ..ops.core import CONST, leaf_const, make, uniform_value
from ..ops.structure import broadcast_to
from .engine import A, AnyOp, B, C, Const, Offset, Op, PowerOf, Rule, RuleSet, Scaled, X, Y, Z
from .symmetry import SYMMETRIC, UNKNOWN, swap_parity

__all__ = [
    "ALGEBRA",
    "NEGATION",
    "POWERS",
    "EXPLOG",
    "CONSTANTS",
    "SYMMETRY",
    "DEFAULT",
    "positive",
    "nonnegative",
    "nonzero",
]

_DEPTH = 4  # how deep the sign analysis looks


# ----------------------------------------------------------------------------- sign facts

_POSITIVE_OPS = frozenset({"exp", "cosh", "sigmoid", "softplus"})
_NONNEG_OPS = frozenset({"sqrt", "square", "abs"})


def _const_value(node):
    u = uniform_value(node)
    if u is None or node.dtype == BOOL:
        return None
    return float(u)


def positive(node, depth: int = _DEPTH) -> bool:
    """True if ``node > 0`` everywhere (in real arithmetic)."""
    v = _const_value(node)
    if v is not None:
        return v > 0
    name = node.op.name
    if name in _POSITIVE_OPS:
        return True
    if depth <= 0:
        return False
    ins = node.inputs
    if name in ("multiply", "divide"):
        return positive(ins[0], depth - 1) and positive(ins[1], depth - 1)
    if name == "add":
        a, b = ins
        return (positive(a, depth - 1) and nonnegative(b, depth - 1)) or (
            nonnegative(a, depth - 1) and positive(b, depth - 1)
        )
    if name in ("sqrt", "log1p"):
        return positive(ins[0], depth - 1)
    if name in ("square", "abs"):
        return nonzero(ins[0], depth - 1)
    if name == "power":
        return positive(ins[0], depth - 1)
    return False


def nonnegative(node, depth: int = _DEPTH) -> bool:
    """True if ``node >= 0`` everywhere (nan aside)."""
    v = _const_value(node)
    if v is not None:
        return v >= 0
    name = node.op.name
    if name in _NONNEG_OPS or name in _POSITIVE_OPS:
        return True
    if depth <= 0:
        return False
    ins = node.inputs
    if name in ("multiply", "divide", "add", "maximum"):
        return nonnegative(ins[0], depth - 1) and nonnegative(ins[1], depth - 1)
    if name == "power":
        e = _const_value(ins[1])
        if e is not None and e.is_integer() and e % 2 == 0:
            return True
        return nonnegative(ins[0], depth - 1)
    return False


def nonzero(node, depth: int = _DEPTH) -> bool:
    """True if ``node != 0`` everywhere."""
    v = _const_value(node)
    if v is not None:
        return v != 0
    if positive(node, depth):
        return True
    if depth <= 0:
        return False
    name = node.op.name
    ins = node.inputs
    if name in ("negative", "square", "abs", "tanh", "sinh", "arctan", "expm1"):
        return nonzero(ins[0], depth - 1)
    if name in ("multiply", "divide"):
        return nonzero(ins[0], depth - 1) and nonzero(ins[1], depth - 1)
    return False


def _integer(v: float) -> bool:
    return float(v).is_integer()


# ----------------------------------------------------------------------------- helpers


def _ones(x):
    return as_node(1.0, x.dtype)  # the engine broadcasts it to the node's shape


def _zeros(x):
    return as_node(0.0, x.dtype)


def _pow(x, e: float):
    """``x ** e`` in its smallest form (``x``, ``square``, ``sqrt``, ``1/x``, 1)."""
    if e == 0:
        return _ones(x)
    if e == -1:
        return ew.divide(1.0, x)
    return ew.power(x, e)


def _powers_combine(a: float, b: float, x) -> bool:
    """``x**a * x**b == x**(a + b)``: both real powers exist (integers or
    ``x >= 0``) and ``x = 0`` does not give ``0 * inf``."""
    if not ((_integer(a) and _integer(b)) or nonnegative(x)):
        return False
    return a * b >= 0 or nonzero(x)


def _not_both_one(a, b, x):
    return not (a == 1.0 and b == 1.0)


# ----------------------------------------------------------------------------- algebra

ALGEBRA = RuleSet(
    "algebra",
    [
        Rule("sub_self", Op("subtract", X, X), lambda x: _zeros(x)),  # x - x -> 0
        Rule(
            "div_self", Op("divide", X, X), lambda x: _ones(x), guard=lambda x: nonzero(x)
        ),  # x / x -> 1  (x != 0 known)
        Rule("max_self", Op("maximum", X, X), lambda x: x),  # maximum(x, x) -> x
        Rule("min_self", Op("minimum", X, X), lambda x: x),  # minimum(x, x) -> x
        Rule(
            "add_like_terms",
            Op("add", Scaled("a", X), Scaled("b", X)),
            lambda a, b, x: ew.multiply(a + b, x),
        ),  # a*x + b*x -> (a + b)*x
        Rule(
            "sub_like_terms",
            Op("subtract", Scaled("a", X), Scaled("b", X)),
            lambda a, b, x: ew.multiply(a - b, x),
        ),  # a*x - b*x -> (a - b)*x
        Rule(
            "add_add_like",
            Op("add", Op("add", Y, Scaled("a", X)), Scaled("b", X)),
            lambda a, b, x, y: y + ew.multiply(a + b, x),
        ),  # (y + a*x) + b*x -> y + (a + b)*x
        Rule(
            "sub_sub_like",
            Op("subtract", Op("subtract", Y, Scaled("a", X)), Scaled("b", X)),
            lambda a, b, x, y: y - ew.multiply(a + b, x),
        ),  # (y - a*x) - b*x -> y - (a + b)*x
        Rule(
            "add_sub_like",
            Op("subtract", Op("add", Y, Scaled("a", X)), Scaled("b", X)),
            lambda a, b, x, y: y + ew.multiply(a - b, x),
        ),  # (y + a*x) - b*x -> y + (a - b)*x
        Rule(
            "sub_add_like",
            Op("add", Op("subtract", Y, Scaled("a", X)), Scaled("b", X)),
            lambda a, b, x, y: y + ew.multiply(b - a, x),
        ),  # (y - a*x) + b*x -> y + (b - a)*x
        Rule(
            "add_factor",
            Op("add", Op("multiply", X, Y), Op("multiply", X, Z)),
            lambda x, y, z: x * (y + z),
        ),  # x*y + x*z -> x*(y + z)
        Rule(
            "sub_factor",
            Op("subtract", Op("multiply", X, Y), Op("multiply", X, Z)),
            lambda x, y, z: x * (y - z),
        ),  # x*y - x*z -> x*(y - z)
        Rule(
            "add_sub_cancel", Op("subtract", Op("add", X, Y), Y), lambda x, y: x
        ),  # (x + y) - y -> x
        Rule(
            "sub_add_cancel", Op("add", Op("subtract", X, Y), Y), lambda x, y: x
        ),  # (x - y) + y -> x
        Rule(
            "sub_sub_cancel", Op("subtract", X, Op("subtract", X, Y)), lambda x, y: y
        ),  # x - (x - y) -> y
        Rule(
            "mul_recip", Op("multiply", X, Op("divide", Const(1), Y)), lambda x, y: x / y
        ),  # x * (1/y) -> x / y
        Rule(
            "div_recip", Op("divide", X, Op("divide", Const(1), Y)), lambda x, y: x * y
        ),  # x / (1/y) -> x * y
        Rule(
            "mul_div_cancel",
            Op("multiply", Op("divide", X, Y), Y),
            lambda x, y: x,
            guard=lambda x, y: nonzero(y),
        ),  # (x / y) * y -> x  (y != 0 known)
        Rule(
            "div_mul_cancel",
            Op("divide", Op("multiply", X, Y), Y),
            lambda x, y: x,
            guard=lambda x, y: nonzero(y),
        ),  # (x * y) / y -> x  (y != 0 known)
        Rule("mul_sign_self", Op("multiply", X, Op("sign", X)), lambda x: ew.abs(x)),
        # x * sign(x) -> abs(x)
        Rule(
            "sum_scaled",
            Op("sum", Op("multiply", C("a"), X), bind="s"),
            lambda a, x, s: ew.multiply(a, _same_op(s, x)),
            guard=lambda a, x, s: x.shape == s.inputs[0].shape,
        ),  # sum(c*x) -> c*sum(x) where c does not broadcast x: sums of x are shared
    ],
)


# ----------------------------------------------------------------------------- negation


_ODD = ("sin", "tan", "arcsin", "arctan", "sinh", "tanh")
_EVEN = ("cos", "cosh", "abs", "square")

NEGATION = RuleSet(
    "negation",
    [
        Rule(
            "mul_neg",
            Op("multiply", Op("negative", X), Y),
            lambda x, y: -(x * y),
            guard=lambda x, y: _const_value(y) is None,
        ),  # (-x) * y -> -(x * y)
        Rule("div_neg_num", Op("divide", Op("negative", X), Y), lambda x, y: -(x / y)),
        # (-x) / y -> -(x / y)
        Rule("div_neg_den", Op("divide", X, Op("negative", Y)), lambda x, y: -(x / y)),
        # x / (-y) -> -(x / y)
        Rule("sub_neg_first", Op("subtract", Op("negative", X), Y), lambda x, y: -(x + y)),
        # (-x) - y -> -(x + y)
        Rule(
            "add_neg_scaled",
            Op("add", X, Op("multiply", C("a"), Y)),
            lambda x, a, y: x - ew.multiply(-a, y),
            guard=lambda x, a, y: a < 0,
        ),  # x + (-c)*y -> x - c*y
        Rule(
            "sub_neg_scaled",
            Op("subtract", X, Op("multiply", C("a"), Y)),
            lambda x, a, y: x + ew.multiply(-a, y),
            guard=lambda x, a, y: a < 0,
        ),  # x - (-c)*y -> x + c*y
        Rule(
            "sum_neg",
            Op("sum", Op("negative", X), bind="s"),
            lambda x, s: -_same_op(s, x),
        ),  # sum(-x) -> -sum(x)
        *[
            Rule(f"{f}_neg", Op(f, Op("negative", X)), lambda x, f=f: -getattr(ew, f)(x))
            for f in _ODD
        ],  # f(-x) -> -f(x) for odd f
        *[
            Rule(f"{f}_neg", Op(f, Op("negative", X)), lambda x, f=f: getattr(ew, f)(x))
            for f in _EVEN
        ],  # f(-x) -> f(x) for even f
    ],
)


def _same_op(node, *inputs):
    """``node``'s op with its parameters on new inputs."""
    return make(node.op, inputs, **dict(node.params))


# ----------------------------------------------------------------------------- powers

POWERS = RuleSet(
    "powers",
    [
        Rule("mul_self", Op("multiply", X, X), lambda x: ew.square(x)),  # x * x -> x**2
        Rule("pow_zero", Op("power", X, Const(0)), lambda x: _ones(x)),  # x**0 -> 1
        Rule("pow_one_base", Op("power", Const(1), X), lambda x: _ones(x)),  # 1**x -> 1
        Rule(
            "pow_pow",
            PowerOf(PowerOf(X, "a", trivial=False), "b", trivial=False),
            lambda x, a, b: _pow(x, a * b),
            guard=lambda x, a, b: _integer(b) and (_integer(a) or nonnegative(x)),
        ),  # (x**a)**b -> x**(a*b)  (b integer; a integer or x >= 0)
        Rule(
            "mul_powers",
            Op("multiply", PowerOf(X, "a"), PowerOf(X, "b")),
            lambda x, a, b: _pow(x, a + b),
            guard=lambda x, a, b: _not_both_one(a, b, x) and _powers_combine(a, b, x),
        ),  # x**a * x**b -> x**(a + b)
        Rule(
            "div_powers",
            Op("divide", PowerOf(X, "a"), PowerOf(X, "b")),
            lambda x, a, b: _pow(x, a - b),
            guard=lambda x, a, b: _powers_combine(a, -b, x),
        ),  # x**a / x**b -> x**(a - b)
        Rule("sqrt_square", Op("sqrt", Op("square", X)), lambda x: ew.abs(x)),
        # sqrt(x**2) -> abs(x)
        Rule(
            "square_sqrt",
            Op("square", Op("sqrt", X)),
            lambda x: x,
            guard=lambda x: nonnegative(x),
        ),  # sqrt(x)**2 -> x  (x >= 0 known)
        Rule("abs_abs", Op("abs", Op("abs", X)), lambda x: ew.abs(x)),  # abs(abs x) -> abs x
        Rule("square_abs", Op("square", Op("abs", X)), lambda x: ew.square(x)),
        # abs(x)**2 -> x**2
        Rule(
            "abs_nonneg", Op("abs", X), lambda x: x, guard=lambda x: nonnegative(x)
        ),  # abs(x) -> x  (x >= 0 known)
    ],
)


# ----------------------------------------------------------------------------- exp, log, trig

EXPLOG = RuleSet(
    "explog",
    [
        Rule("log_exp", Op("log", Op("exp", X)), lambda x: x),  # log(exp x) -> x
        Rule(
            "exp_log", Op("exp", Op("log", X)), lambda x: x, guard=lambda x: nonnegative(x)
        ),  # exp(log x) -> x  (x >= 0 known)
        Rule("log1p_expm1", Op("log1p", Op("expm1", X)), lambda x: x),  # log1p(expm1 x) -> x
        Rule(
            "mul_exp", Op("multiply", Op("exp", X), Op("exp", Y)), lambda x, y: ew.exp(x + y)
        ),  # exp(x) * exp(y) -> exp(x + y)
        Rule(
            "div_exp", Op("divide", Op("exp", X), Op("exp", Y)), lambda x, y: ew.exp(x - y)
        ),  # exp(x) / exp(y) -> exp(x - y)
        Rule(
            "pythagoras",
            Op("add", Op("square", Op("sin", X)), Op("square", Op("cos", X))),
            lambda x: _ones(x),
        ),  # sin(x)**2 + cos(x)**2 -> 1
        Rule(
            "cosh_sinh",
            Op("subtract", Op("square", Op("cosh", X)), Op("square", Op("sinh", X))),
            lambda x: _ones(x),
        ),  # cosh(x)**2 - sinh(x)**2 -> 1
        Rule("sin_div_cos", Op("divide", Op("sin", X), Op("cos", X)), lambda x: ew.tan(x)),
        # sin(x) / cos(x) -> tan(x)
    ],
)


# ----------------------------------------------------------------------------- constants

#: Constant folding in ``simplify`` stores results up to this many elements even
#: where the build-time folds keep a broadcast (``eye == eye.T`` of a 3x3 Hessian).
SMALL_FOLD = 256


_UNIFORM_INPUTS = frozenset({"const", "broadcast_to"})


def _all_uniform(node):
    return all(i.op is CONST or i.op.name == "broadcast_to" for i in node.inputs)


def _all_stored(node):
    return bool(node.inputs) and all(i.op is CONST for i in node.inputs)


def _fold_uniform(node):
    """An elementwise op on constants that are all uniform: one scalar, broadcast."""
    vals = []
    for i in node.inputs:
        u = uniform_value(i)
        if u is None:
            return None
        vals.append(np.asarray(u, dtype=i.dtype))
    with np.errstate(all="ignore"):
        v = np.asarray(node.op.impl(*vals, **dict(node.params)))
    if v.shape != () or v.dtype != node.dtype:
        v = v.astype(node.dtype)
    c = leaf_const(v)
    return c if node.shape == () else broadcast_to(c, node.shape)


def _fold_small(node):
    """Any op on stored constants with a small result: the stored result."""
    if not all(i.op is CONST for i in node.inputs) or node.size > SMALL_FOLD:
        return None
    with np.errstate(all="ignore"):
        v = np.asarray(
            node.op.impl(*(i.params[0][1].array for i in node.inputs), **dict(node.params))
        )
    if v.shape != node.shape or v.dtype != node.dtype:
        return None
    return leaf_const(np.array(v))


CONSTANTS = RuleSet(
    "constants",
    [
        Rule(
            "fold_uniform",
            AnyOp("node", "elementwise", _all_uniform, _UNIFORM_INPUTS),
            _fold_uniform,
        ),
        # f(c1, c2) -> c with c1, c2 uniform constants (any shapes): one broadcast scalar
        Rule("fold_small", AnyOp("node", None, _all_stored, frozenset({"const"})), _fold_small),
        # f(c1, c2) -> c for stored constants when the result has <= 256 elements
        Rule(
            "add_consts",
            Op("add", Offset(X, "a"), B),
            lambda x, a, b: x + (a + b),
        ),  # (x + a) + b -> x + (a + b)
        Rule(
            "sub_consts",
            Op("subtract", Offset(X, "a"), B),
            lambda x, a, b: x + (a - b),
        ),  # (x + a) - b -> x + (a - b)
        Rule(
            "rsub_consts",
            Op("subtract", B, Offset(X, "a")),
            lambda x, a, b: (b - a) - x,
        ),  # b - (x + a) -> (b - a) - x
        Rule(
            "div_scaled",
            Op("divide", Op("multiply", A, X), B),
            lambda a, x, b: ew.multiply(a / b, x),
            guard=lambda a, x, b: b != 0 and math.isfinite(a / b),
        ),  # (a*x) / b -> (a/b)*x
        Rule(
            "div_div_consts",
            Op("divide", Op("divide", X, A), B),
            lambda x, a, b: x / (a * b),
            guard=lambda x, a, b: math.isfinite(a * b) and a * b != 0,
        ),  # (x / a) / b -> x / (a*b)
        Rule(
            "mul_const_div",
            Op("multiply", A, Op("divide", B, X)),
            lambda a, b, x: ew.divide(a * b, x),
            guard=lambda a, b, x: math.isfinite(a * b),
        ),  # a * (b / x) -> (a*b) / x
    ],
)

# ----------------------------------------------------------------------------- pair arrays


def _swapped_sum(x, s):
    """``sum(x, axes)`` with axis 0 summed as axis 1: equal to the original
    (negated for an antisymmetric ``x``); see :mod:`.symmetry`."""
    axes = tuple(sorted(1 if a == 0 else a for a in s.p["axes"]))
    out = make(s.op, (x,), **dict(s.p, axes=axes))
    return out if swap_parity(x) == SYMMETRIC else ew.negative(out)


def _sums_first_axis(x, s) -> bool:
    axes = s.p["axes"]
    return (
        0 in axes
        and 1 not in axes
        and x.ndim >= 2
        and x.shape[0] == x.shape[1] > 1
        and swap_parity(x) != UNKNOWN
    )


SYMMETRY = RuleSet(
    "symmetry",
    [
        Rule("sum_swap", Op("sum", X, bind="s"), _swapped_sum, guard=_sums_first_axis),
        # sum(G, axis=0) -> ±sum(G, axis=1) for G symmetric (+) or antisymmetric (-)
        # in its first two axes: the column sums of a pair array are its row sums
    ],
)

DEFAULT = CONSTANTS + ALGEBRA + NEGATION + POWERS + EXPLOG + SYMMETRY
"""Every table, in the order the rules are tried."""

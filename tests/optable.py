"""The op table: one or more :class:`OpCase` per op, reused by every test family.

Each case builds a small graph with the public API (internal adjoint ops use
their module functions), names the ops it exercises, and carries an independent
NumPy/SciPy oracle, the input shapes and a sampling domain away from poles and
kinks. Forward, printing, derivative and codegen tests parametrize over
``OP_CASES``.

Kinks and ties are avoided by post-processing the uniform samples:

* ``_lattice(gap)`` snaps input ``i`` of ``n`` to ``gap * (k + (i + 1) / (n + 1))``
  for integer ``k``: no value is within ``gap / (n + 1)`` of 0 (abs, sign,
  ``where(x > 0)``, ``maximum(x, 0)``) and two inputs never tie (maximum,
  minimum, comparisons), even under broadcasting. A finite-difference step
  below ``gap / (2 (n + 1))`` never crosses a kink.
* ``_distinct(lo, hi)`` makes all elements of each input distinct, spaced at
  least ``0.5 (hi - lo) / size`` apart (max/min reductions: no ties).
* ``_integers`` rounds to integers so that ``equal`` sees ties on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.special

import jitgrad as jg
from jitgrad.graph import Frozen
from jitgrad.ops import structure as _structure

__all__ = ["OpCase", "OP_CASES", "CASES_BY_NAME"]


@dataclass(frozen=True)
class OpCase:
    """One op (or composite) on concrete shapes, with an independent oracle.

    Fields
    ------
    name : unique id, used as the pytest id.
    ops : names in ``jitgrad.ops.OPS`` that the built graph contains.
    build : ``(*vars) -> Node``.
    ref : ``(*arrays) -> array``, NumPy/SciPy only (never jitgrad code).
    shapes : one input shape per var.
    domain : ``(lo, hi)`` for every input, or one ``(lo, hi)`` per input.
    rtol : tolerance of ``evaluate`` against ``ref``.
    smooth : differentiable on the (post-processed) domain.
    dtype : ``"float64"``/``"float32"``, or one dtype per input.
    exact : the op is a single NumPy call: ``evaluate`` must be bit-identical.
    post : ``(rng, arrays) -> arrays`` applied after uniform sampling.
    """

    name: str
    ops: tuple[str, ...]
    build: Callable
    ref: Callable
    shapes: tuple
    domain: tuple = (-2.0, 2.0)
    rtol: float = 1e-12
    smooth: bool = True
    dtype: str | tuple = "float64"
    exact: bool = False
    post: Callable | None = None

    def dtypes(self) -> list[str]:
        if isinstance(self.dtype, str):
            return [self.dtype] * len(self.shapes)
        return list(self.dtype)

    def domains(self) -> list[tuple[float, float]]:
        if self.domain and isinstance(self.domain[0], tuple):
            return list(self.domain)
        return [self.domain] * len(self.shapes)

    def sample(self, rng) -> list[np.ndarray]:
        """Random inputs in the domain (after ``post``), of the case's dtypes."""
        xs = [
            rng.uniform(lo, hi, size=shape) for shape, (lo, hi) in zip(self.shapes, self.domains())
        ]
        xs = [np.asarray(x, dtype=np.float64) for x in xs]
        if self.post is not None:
            xs = self.post(rng, xs)
        return [np.asarray(x).astype(dt) for x, dt in zip(xs, self.dtypes())]

    def vars(self) -> list:
        return [
            jg.var(f"x{i}", shape, dt)
            for i, (shape, dt) in enumerate(zip(self.shapes, self.dtypes()))
        ]

    def __str__(self):
        return self.name


# ----------------------------------------------------------------------------- samplers


def _lattice(gap: float = 0.25):
    def post(rng, xs):
        n = len(xs)
        return [gap * (np.floor(x / gap) + (i + 1) / (n + 1)) for i, x in enumerate(xs)]

    return post


def _distinct(lo: float = -2.0, hi: float = 2.0):
    def post(rng, xs):
        out = []
        for x in xs:
            n = x.size
            u = (rng.permutation(n) + 0.5 + rng.uniform(-0.25, 0.25, n)) / max(n, 1)
            out.append((lo + (hi - lo) * u).reshape(x.shape))
        return out

    return post


def _integers(rng, xs):
    return [np.round(x) for x in xs]


# ----------------------------------------------------------------------------- oracles

F32 = np.float32


def _f32(f):
    """An oracle computed in float64 and rounded to float32 (for float32 cases)."""
    return lambda *xs: np.asarray(f(*(np.asarray(x, np.float64) for x in xs))).astype(F32)


def _sigmoid(x):
    return scipy.special.expit(x)


def _softplus(x):
    # log(1 + e^x) written directly; accurate on the sampled domain |x| <= 2.
    return np.log1p(np.exp(x))


def _take_add_ref(g, idx, axis, n):
    g = np.asarray(g)
    idx = np.asarray(idx)
    out = np.zeros(g.shape[:axis] + (n,) + g.shape[axis + idx.ndim :], dtype=g.dtype)
    for pos in np.ndindex(*idx.shape):
        src = (slice(None),) * axis + pos
        dst = (slice(None),) * axis + (idx[pos],)
        out[dst] += g[src]
    return out


def _put_ref(g, key, shape):
    out = np.zeros(shape)
    out[key] = g
    return out


def _stack_ref(axis):
    return lambda *xs: np.stack(xs, axis=axis)


# ----------------------------------------------------------------------------- cases

CASES: list[OpCase] = []


def case(name, ops, build, ref, shapes, **kw):
    CASES.append(OpCase(name, tuple(ops), build, ref, tuple(shapes), **kw))


# Unary elementwise: (op, numpy oracle, domain, exact).
_UNARY = [
    ("exp", np.exp, (-2.0, 2.0), True),
    ("log", np.log, (0.1, 3.0), True),
    ("log1p", np.log1p, (-0.9, 2.0), True),
    ("expm1", np.expm1, (-2.0, 2.0), True),
    ("sqrt", np.sqrt, (0.1, 3.0), True),
    ("sin", np.sin, (-3.0, 3.0), True),
    ("cos", np.cos, (-3.0, 3.0), True),
    ("tan", np.tan, (-1.2, 1.2), True),
    ("arcsin", np.arcsin, (-0.9, 0.9), True),
    ("arccos", np.arccos, (-0.9, 0.9), True),
    ("arctan", np.arctan, (-3.0, 3.0), True),
    ("tanh", np.tanh, (-3.0, 3.0), True),
    ("sinh", np.sinh, (-2.0, 2.0), True),
    ("cosh", np.cosh, (-2.0, 2.0), True),
    ("sigmoid", _sigmoid, (-5.0, 5.0), False),
    ("softplus", _softplus, (-2.0, 2.0), False),
    ("square", np.square, (-2.0, 2.0), True),
]

for _name, _ref, _dom, _exact in _UNARY:
    _f = getattr(jg, _name)
    case(_name, [_name], _f, _ref, [(2, 3)], domain=_dom, exact=_exact)
    case(f"{_name}_0d", [_name], _f, _ref, [()], domain=_dom, exact=_exact)

# Shape variants of one unary op: size-1 dims, vectors, empty dims.
case("exp_1x1", ["exp"], jg.exp, np.exp, [(1, 1)], exact=True)
case("exp_vec", ["exp"], jg.exp, np.exp, [(5,)], exact=True)
case("exp_empty", ["exp"], jg.exp, np.exp, [(0,)], exact=True)
case("sin_empty_3d", ["sin"], jg.sin, np.sin, [(2, 0, 3)], exact=True)
case("log_4d", ["log"], jg.log, np.log, [(2, 1, 3, 2)], domain=(0.1, 3.0), exact=True)

# Kinked unary ops, sampled away from 0 on a lattice.
case("abs", ["abs"], jg.abs, np.abs, [(2, 3)], exact=True, post=_lattice())
case("abs_operator", ["abs"], lambda x: abs(x), np.abs, [(4,)], exact=True, post=_lattice())
case("abs_0d", ["abs"], jg.abs, np.abs, [()], exact=True, post=_lattice())
case("sign", ["sign"], jg.sign, np.sign, [(2, 3)], exact=True, smooth=False, post=_lattice())
case("sign_0d", ["sign"], jg.sign, np.sign, [()], exact=True, smooth=False, post=_lattice())
case("negative", ["negative"], lambda x: -x, np.negative, [(2, 3)], exact=True)
case("negative_fn", ["negative"], jg.negative, np.negative, [(3,)], exact=True)
case("negative_empty", ["negative"], lambda x: -x, np.negative, [(0, 2)], exact=True)

# Binary arithmetic, with broadcasting, 0-d, empty and Python-number operands.
_POS = (0.5, 2.0)
_ARITH = [
    ("add", lambda x, y: x + y, np.add, (-2.0, 2.0)),
    ("subtract", lambda x, y: x - y, np.subtract, (-2.0, 2.0)),
    ("multiply", lambda x, y: x * y, np.multiply, (-2.0, 2.0)),
    ("divide", lambda x, y: x / y, np.divide, ((-2.0, 2.0), _POS)),
]
for _name, _op, _ref, _dom in _ARITH:
    case(_name, [_name], _op, _ref, [(2, 3), (2, 3)], domain=_dom, exact=True)
    case(f"{_name}_fn", [_name], getattr(jg, _name), _ref, [(3,), (3,)], domain=_dom, exact=True)
    case(f"{_name}_broadcast", [_name], _op, _ref, [(3, 1), (4,)], domain=_dom, exact=True)
    case(f"{_name}_broadcast_3d", [_name], _op, _ref, [(2, 1, 4), (3, 1)], domain=_dom, exact=True)
    case(f"{_name}_0d", [_name], _op, _ref, [(), ()], domain=_dom, exact=True)
    case(f"{_name}_0d_vec", [_name], _op, _ref, [(), (4,)], domain=_dom, exact=True)
    case(f"{_name}_size1", [_name], _op, _ref, [(1, 3), (2, 1)], domain=_dom, exact=True)
    case(f"{_name}_empty", [_name], _op, _ref, [(0, 3), (3,)], domain=_dom, exact=True)

case("add_const", ["add"], lambda x: x + 1.5, lambda x: x + 1.5, [(3,)], exact=True)
case("add_rconst", ["add"], lambda x: 1.5 + x, lambda x: 1.5 + x, [(3,)], exact=True)
case(
    "add_array_const",
    ["add"],
    lambda x: x + np.array([1.0, -2.0, 0.25]),
    lambda x: x + np.array([1.0, -2.0, 0.25]),
    [(2, 3)],
    exact=True,
)
case("subtract_rconst", ["subtract"], lambda x: 1.0 - x, lambda x: 1.0 - x, [(3,)], exact=True)
case("multiply_const", ["multiply"], lambda x: x * 3.0, lambda x: x * 3.0, [(3,)], exact=True)
case("multiply_rconst", ["multiply"], lambda x: -2.5 * x, lambda x: -2.5 * x, [(2, 2)], exact=True)
case(
    "divide_rconst",
    ["divide"],
    lambda x: 1.0 / x,
    lambda x: 1.0 / x,
    [(3,)],
    domain=_POS,
    exact=True,
)
case("divide_const", ["divide"], lambda x: x / 4.0, lambda x: x / 4.0, [(3,)], exact=True)

# power: positive base; constant exponents also on negative bases.
case(
    "power",
    ["power"],
    lambda x, y: x**y,
    np.power,
    [(2, 3), (2, 3)],
    domain=(_POS, (-2.0, 2.0)),
    exact=True,
)
case(
    "power_fn", ["power"], jg.power, np.power, [(3,), (3,)], domain=(_POS, (-2.0, 2.0)), exact=True
)
case(
    "power_broadcast",
    ["power"],
    lambda x, y: x**y,
    np.power,
    [(3, 1), (4,)],
    domain=(_POS, (-2.0, 2.0)),
    exact=True,
)
case(
    "power_0d",
    ["power"],
    lambda x, y: x**y,
    np.power,
    [(), ()],
    domain=(_POS, (-2.0, 2.0)),
    exact=True,
)
case(
    "power_int_exponent",
    ["power"],
    lambda x: x**3,
    lambda x: np.power(x, 3.0),
    [(2, 3)],
    exact=True,
)
case(
    "power_neg_exponent",
    ["power"],
    lambda x: x**-1.5,
    lambda x: np.power(x, -1.5),
    [(3,)],
    domain=_POS,
    exact=True,
)
case("power_rconst", ["power"], lambda x: 2.0**x, lambda x: np.power(2.0, x), [(3,)], exact=True)

# maximum / minimum: inputs on offset lattices, so never tied (also under broadcasting).
for _name in ("maximum", "minimum"):
    _f, _ref = getattr(jg, _name), getattr(np, _name)
    case(_name, [_name], _f, _ref, [(2, 3), (2, 3)], exact=True, post=_lattice())
    case(f"{_name}_broadcast", [_name], _f, _ref, [(3, 1), (4,)], exact=True, post=_lattice())
    case(f"{_name}_0d", [_name], _f, _ref, [(), ()], exact=True, post=_lattice())
    case(f"{_name}_empty", [_name], _f, _ref, [(0,), (1,)], exact=True, post=_lattice())
case(
    "maximum_relu",
    ["maximum"],
    lambda x: jg.maximum(x, 0.0),
    lambda x: np.maximum(x, 0.0),
    [(2, 3)],
    exact=True,
    post=_lattice(),
)

# Comparisons: boolean outputs (not differentiable), and used inside where().
_CMPS = [
    ("less", lambda x, y: x < y, np.less),
    ("less_equal", lambda x, y: x <= y, np.less_equal),
    ("greater", lambda x, y: x > y, np.greater),
    ("greater_equal", lambda x, y: x >= y, np.greater_equal),
]
for _name, _op, _ref in _CMPS:
    case(_name, [_name], _op, _ref, [(2, 3), (2, 3)], exact=True, smooth=False, post=_lattice())
    case(
        f"{_name}_fn",
        [_name],
        getattr(jg, _name),
        _ref,
        [(3,), (3,)],
        exact=True,
        smooth=False,
        post=_lattice(),
    )
    case(
        f"{_name}_broadcast",
        [_name],
        _op,
        _ref,
        [(3, 1), (4,)],
        exact=True,
        smooth=False,
        post=_lattice(),
    )
# Integers, so that ties (== and the <=/>= boundary) actually occur.
case(
    "equal",
    ["equal"],
    jg.equal,
    np.equal,
    [(4, 5), (4, 5)],
    exact=True,
    smooth=False,
    post=_integers,
)
case(
    "equal_broadcast",
    ["equal"],
    jg.equal,
    np.equal,
    [(4, 1), (5,)],
    exact=True,
    smooth=False,
    post=_integers,
)
case(
    "less_equal_ties",
    ["less_equal"],
    jg.less_equal,
    np.less_equal,
    [(4, 5), (4, 5)],
    exact=True,
    smooth=False,
    post=_integers,
)
case(
    "equal_of_bools",
    ["equal", "greater", "less"],
    lambda x, y: jg.equal(x > 0, y < 0),
    lambda x, y: np.equal(x > 0, y < 0),
    [(2, 3), (2, 3)],
    exact=True,
    smooth=False,
    post=_lattice(),
)

# where: branches differentiable, condition away from its boundary.
case(
    "where",
    ["where", "greater"],
    lambda c, x, y: jg.where(c > 0, x, y),
    lambda c, x, y: np.where(c > 0, x, y),
    [(2, 3), (2, 3), (2, 3)],
    exact=True,
    post=_lattice(),
)
case(
    "where_broadcast",
    ["where", "less"],
    lambda c, x, y: jg.where(c < 0, x, y),
    lambda c, x, y: np.where(c < 0, x, y),
    [(3, 1), (4,), ()],
    exact=True,
    post=_lattice(),
)
case(
    "where_scalar_branch",
    ["where", "greater", "sin"],
    lambda x: jg.where(x > 0.0, jg.sin(x), 0.0),
    lambda x: np.where(x > 0.0, np.sin(x), 0.0),
    [(5,)],
    post=_lattice(),
)
case(
    "where_compare_inputs",
    ["where", "greater_equal"],
    lambda x, y: jg.where(x >= y, x * y, x - y),
    lambda x, y: np.where(x >= y, x * y, x - y),
    [(2, 3), (3,)],
    post=_lattice(),
)
case(
    "where_const_cond",
    ["where"],
    lambda x, y: jg.where(np.array([True, False, True]), x, y),
    lambda x, y: np.where(np.array([True, False, True]), x, y),
    [(2, 3), (3,)],
    exact=True,
)
case(
    "where_empty",
    ["where", "greater"],
    lambda c, x: jg.where(c > 0, x, 1.0),
    lambda c, x: np.where(c > 0, x, 1.0),
    [(0, 3), (3,)],
    exact=True,
    post=_lattice(),
)

# cast: internal op (float64 <-> float32, bool -> float).
case(
    "cast_f64_to_f32",
    ["cast"],
    lambda x: jg.cast(x, "float32"),
    lambda x: x.astype(np.float32),
    [(2, 3)],
    exact=True,
    rtol=1e-6,
)
case(
    "cast_f32_to_f64",
    ["cast"],
    lambda x: jg.cast(x, "float64"),
    lambda x: x.astype(np.float64),
    [(3,)],
    dtype="float32",
    exact=True,
)
case(
    "cast_bool",
    ["cast", "greater"],
    lambda x: jg.cast(x > 0, "float64"),
    lambda x: (x > 0).astype(np.float64),
    [(2, 3)],
    exact=True,
    smooth=False,
    post=_lattice(),
)

# ----------------------------------------------------------------------------- reductions

_RED = [
    ("sum", np.sum, (-2.0, 2.0), None),
    ("prod", np.prod, (0.5, 1.5), None),  # magnitudes near 1: no overflow, no zero
    ("max", np.max, (-2.0, 2.0), _distinct()),
    ("min", np.min, (-2.0, 2.0), _distinct()),
    ("mean", np.mean, (-2.0, 2.0), None),
    ("logsumexp", scipy.special.logsumexp, (-2.0, 2.0), None),
]
for _name, _ref, _dom, _post in _RED:
    _f = getattr(jg, _name)
    _ops = ["sum", "divide"] if _name == "mean" else [_name]
    _exact = _name in ("sum", "prod", "max", "min")
    _kw = dict(domain=_dom, post=_post, exact=_exact)

    def _r(ref=_ref, **axkw):
        return lambda x: ref(x, **axkw)

    case(f"{_name}_all", _ops, _f, _r(), [(3, 4)], **_kw)
    case(f"{_name}_vec", _ops, _f, _r(), [(5,)], **_kw)
    case(f"{_name}_axis0", _ops, lambda x, f=_f: f(x, axis=0), _r(axis=0), [(3, 4)], **_kw)
    case(f"{_name}_axis1", _ops, lambda x, f=_f: f(x, axis=1), _r(axis=1), [(3, 4)], **_kw)
    case(f"{_name}_axis_neg", _ops, lambda x, f=_f: f(x, axis=-1), _r(axis=-1), [(2, 3, 4)], **_kw)
    case(
        f"{_name}_axis_tuple",
        _ops,
        lambda x, f=_f: f(x, axis=(0, 2)),
        _r(axis=(0, 2)),
        [(2, 3, 4)],
        **_kw,
    )
    case(
        f"{_name}_axis1_keepdims",
        _ops + ["reshape"],
        lambda x, f=_f: f(x, axis=1, keepdims=True),
        _r(axis=1, keepdims=True),
        [(3, 4)],
        **_kw,
    )
    case(
        f"{_name}_all_keepdims",
        _ops + ["reshape"],
        lambda x, f=_f: f(x, keepdims=True),
        _r(keepdims=True),
        [(2, 3)],
        **_kw,
    )
    # Over a size-1 axis mean divides by 1, which folds away.
    _ops1 = ["sum"] if _name == "mean" else _ops
    case(f"{_name}_size1", _ops1, lambda x, f=_f: f(x, axis=1), _r(axis=1), [(3, 1)], **_kw)
    # Empty non-reduced dimension: the result is empty too.
    case(f"{_name}_empty_rows", _ops, lambda x, f=_f: f(x, axis=1), _r(axis=1), [(0, 3)], **_kw)

# Reductions over an empty axis: the identities (0 and 1; -inf for logsumexp).
case(
    "sum_empty_axis",
    ["sum"],
    lambda x: jg.sum(x, axis=0),
    lambda x: np.sum(x, axis=0),
    [(0, 3)],
    exact=True,
)
case("sum_empty_all", ["sum"], jg.sum, np.sum, [(2, 0)], exact=True)
case(
    "prod_empty_axis",
    ["prod"],
    lambda x: jg.prod(x, axis=1),
    lambda x: np.prod(x, axis=1),
    [(3, 0)],
    exact=True,
)
case(
    "logsumexp_empty_axis",
    ["logsumexp"],
    lambda x: jg.logsumexp(x, axis=0),
    lambda x: np.full(x.shape[1:], -np.inf),
    [(0, 3)],
    smooth=False,
)
case("sum_method", ["sum"], lambda x: x.sum(axis=1), lambda x: x.sum(axis=1), [(3, 4)], exact=True)
case("sum_method_all", ["sum"], lambda x: x.sum(), lambda x: x.sum(), [(3, 4)], exact=True)
case(
    "prod_signed",
    ["prod"],
    lambda x: jg.prod(x, axis=0),
    lambda x: np.prod(x, axis=0),
    [(3, 4)],
    exact=True,
    post=_lattice(0.5),  # |x| >= 0.25: no zero factor
)

# ----------------------------------------------------------------------------- structure

case(
    "reshape",
    ["reshape"],
    lambda x: jg.reshape(x, (3, 2)),
    lambda x: x.reshape(3, 2),
    [(2, 3)],
    exact=True,
)
case(
    "reshape_infer",
    ["reshape"],
    lambda x: jg.reshape(x, (2, -1)),
    lambda x: x.reshape(2, -1),
    [(6,)],
    exact=True,
)
case(
    "reshape_method",
    ["reshape"],
    lambda x: x.reshape(4, 1, 3),
    lambda x: x.reshape(4, 1, 3),
    [(2, 6)],
    exact=True,
)
case(
    "reshape_method_tuple",
    ["reshape"],
    lambda x: x.reshape((12,)),
    lambda x: x.reshape((12,)),
    [(3, 4)],
    exact=True,
)
case(
    "reshape_to_0d",
    ["reshape"],
    lambda x: jg.reshape(x, ()),
    lambda x: x.reshape(()),
    [(1, 1)],
    exact=True,
)
case(
    "reshape_from_0d",
    ["reshape"],
    lambda x: jg.reshape(x, (1, 1, 1)),
    lambda x: x.reshape(1, 1, 1),
    [()],
    exact=True,
)
case(
    "reshape_empty",
    ["reshape"],
    lambda x: jg.reshape(x, (0, 5)),
    lambda x: x.reshape(0, 5),
    [(2, 0)],
    exact=True,
)

case("transpose_T", ["transpose"], lambda x: x.T, lambda x: x.T, [(2, 3)], exact=True)
case("transpose_fn", ["transpose"], jg.transpose, np.transpose, [(2, 3, 4)], exact=True)
case(
    "transpose_axes",
    ["transpose"],
    lambda x: jg.transpose(x, (1, 2, 0)),
    lambda x: np.transpose(x, (1, 2, 0)),
    [(2, 3, 4)],
    exact=True,
)
case(
    "transpose_neg_axes",
    ["transpose"],
    lambda x: jg.transpose(x, (-1, 0, 1)),
    lambda x: np.transpose(x, (-1, 0, 1)),
    [(2, 3, 4)],
    exact=True,
)
case("transpose_empty", ["transpose"], lambda x: x.T, lambda x: x.T, [(0, 3)], exact=True)

case(
    "broadcast_to",
    ["broadcast_to"],
    lambda x: jg.broadcast_to(x, (2, 3, 4)),
    lambda x: np.broadcast_to(x, (2, 3, 4)),
    [(3, 1)],
    exact=True,
)
case(
    "broadcast_to_0d",
    ["broadcast_to"],
    lambda x: jg.broadcast_to(x, (2, 3)),
    lambda x: np.broadcast_to(x, (2, 3)),
    [()],
    exact=True,
)
case(
    "broadcast_to_empty",
    ["broadcast_to"],
    lambda x: jg.broadcast_to(x, (0, 3)),
    lambda x: np.broadcast_to(x, (0, 3)),
    [(3,)],
    exact=True,
)

# Basic indexing: ints (negative too), slices with steps, None, Ellipsis.
_INDEX = [
    ("int", (1,), (4,)),
    ("int_neg", (-1,), (4,)),
    ("row", (1,), (3, 4)),
    ("int_pair", (1, -2), (3, 4)),
    ("slice", (slice(1, 3),), (5,)),
    ("slice_open", (slice(2, None),), (5,)),
    ("slice_neg_bounds", (slice(-3, -1),), (5,)),
    ("slice_step", (slice(None, None, 2),), (5,)),
    ("slice_reverse", (slice(None, None, -1),), (5,)),
    ("slice_neg_step", (slice(4, 0, -2),), (6,)),
    ("slice_neg_step_open", (slice(3, None, -2),), (6,)),
    ("slice_empty", (slice(2, 2),), (5,)),
    ("slice_empty_reversed", (slice(1, 3, -1),), (5,)),
    ("slice_before_start_neg_step", (slice(-10, None, -1),), (5,)),
    ("slice_past_end", (slice(3, 10),), (5,)),
    ("slice_2d", (slice(None), slice(1, None, 2)), (3, 5)),
    ("slice_int_mixed", (slice(0, 2), -1), (3, 4)),
    ("newaxis", (None,), (4,)),
    ("newaxis_middle", (slice(None), None, 1), (3, 4)),
    ("newaxis_0d", (None,), ()),
    ("ellipsis_last", (Ellipsis, 0), (2, 3, 4)),
    ("ellipsis_first", (0, Ellipsis), (2, 3, 4)),
    ("ellipsis_middle", (1, Ellipsis, slice(None, None, -1)), (2, 3, 4)),
    ("ellipsis_newaxis", (Ellipsis, None), (2, 3)),
    ("int_to_0d", (2,), (5,)),
    ("empty_dim_slice", (slice(None), 1), (0, 3)),
]
for _name, _key, _shape in _INDEX:
    case(
        f"getitem_{_name}",
        ["getitem"],
        lambda x, k=_key: x[k],
        lambda x, k=_key: x[k],
        [_shape],
        exact=True,
    )

# Integer-array gathers: through jg.take and mixed into x[...].
_GATHER = [
    ("array", ([2, 0, 0],), (4,)),
    ("array_neg", ([-1, 0, -2],), (4,)),
    ("array_rows", (np.array([1, 1, 0]),), (3, 4)),
    ("array_2d_index", (np.array([[0, 2], [1, 1]]),), (3,)),
    ("slice_array", (slice(1, None), [0, 2, 2]), (3, 4)),
    ("array_slice", ([2, 0], slice(1, 3)), (3, 4)),
    ("int_array", (0, [1, 2]), (3, 4)),
    ("slice_int_array", (slice(None), 0, [1, -1]), (2, 3, 4)),
    ("newaxis_array", (None, [1, -1]), (4,)),
    ("ellipsis_array", (Ellipsis, [0, 0, 1]), (2, 3)),
    ("array_empty", (np.array([], dtype=np.int64),), (4,)),
]
for _name, _key, _shape in _GATHER:
    # A basic part of only full slices folds away, leaving the take alone.
    _basic = any(not isinstance(k, (list, np.ndarray, type(Ellipsis))) for k in _key)
    case(
        f"getitem_{_name}",
        ["getitem", "take"] if _basic else ["take"],
        lambda x, k=_key: x[k],
        lambda x, k=_key: x[k],
        [_shape],
        exact=True,
    )

case(
    "take",
    ["take"],
    lambda x: jg.take(x, [3, 0, 0]),
    lambda x: np.take(x, [3, 0, 0]),
    [(4,)],
    exact=True,
)
case(
    "take_neg",
    ["take"],
    lambda x: jg.take(x, [-1, -4, 2], axis=1),
    lambda x: np.take(x, [-1, -4, 2], axis=1),
    [(2, 4)],
    exact=True,
)
case(
    "take_2d_indices",
    ["take"],
    lambda x: jg.take(x, np.array([[0, 1], [2, 0]]), axis=0),
    lambda x: np.take(x, np.array([[0, 1], [2, 0]]), axis=0),
    [(3, 2)],
    exact=True,
)
case(
    "take_flat",
    ["take", "reshape"],
    lambda x: jg.take(x, [5, 0, -1]),
    lambda x: np.take(x, [5, 0, -1]),
    [(2, 3)],
    exact=True,
)
case(
    "take_axis_neg",
    ["take"],
    lambda x: jg.take(x, [1, 1], axis=-1),
    lambda x: np.take(x, [1, 1], axis=-1),
    [(2, 2, 3)],
    exact=True,
)

# Adjoint ops (internal): zeros with values written / added at an index.
case(
    "index_put",
    ["index_put"],
    lambda g: _structure.index_put(g, (("s", 1, 3, 1),), (5,)),
    lambda g: _put_ref(g, np.s_[1:3], (5,)),
    [(2,)],
    exact=True,
)
case(
    "index_put_int_step",
    ["index_put"],
    lambda g: _structure.index_put(g, (("i", 2), ("s", 0, 4, 2)), (3, 4)),
    lambda g: _put_ref(g, np.s_[2, 0:4:2], (3, 4)),
    [(2,)],
    exact=True,
)
case(
    "index_put_newaxis",
    ["index_put"],
    lambda g: _structure.index_put(g, (("n",), ("s", 3, 0, -1)), (4, 2)),
    lambda g: _put_ref(g, np.s_[None, 3:0:-1], (4, 2)),
    [(1, 3, 2)],
    exact=True,
)
case(
    "take_add",
    ["take_add"],
    lambda g: _structure.take_add(g, Frozen(np.array([3, 0, 3])), 0, 5),
    lambda g: _take_add_ref(g, np.array([3, 0, 3]), 0, 5),
    [(3,)],
)
case(
    "take_add_axis1_2d_index",
    ["take_add"],
    lambda g: _structure.take_add(g, Frozen(np.array([[0, 2], [2, 2]])), 1, 3),
    lambda g: _take_add_ref(g, np.array([[0, 2], [2, 2]]), 1, 3),
    [(2, 2, 2, 4)],
)

case(
    "concatenate",
    ["concatenate"],
    lambda x, y: jg.concatenate([x, y]),
    lambda x, y: np.concatenate([x, y]),
    [(2,), (3,)],
    exact=True,
)
case(
    "concatenate_axis1",
    ["concatenate"],
    lambda x, y, z: jg.concatenate([x, y, z], axis=1),
    lambda x, y, z: np.concatenate([x, y, z], axis=1),
    [(2, 1), (2, 3), (2, 2)],
    exact=True,
)
case(
    "concatenate_axis_neg",
    ["concatenate"],
    lambda x, y: jg.concatenate([x, y], axis=-1),
    lambda x, y: np.concatenate([x, y], axis=-1),
    [(2, 2, 1), (2, 2, 3)],
    exact=True,
)
case(
    "concatenate_empty_part",
    ["concatenate"],
    lambda x, y: jg.concatenate([x, y], axis=0),
    lambda x, y: np.concatenate([x, y], axis=0),
    [(0, 3), (2, 3)],
    exact=True,
)
case(
    "concatenate_const",
    ["concatenate"],
    lambda x: jg.concatenate([x, np.array([[1.0, 2.0], [3.0, 4.0]])]),
    lambda x: np.concatenate([x, np.array([[1.0, 2.0], [3.0, 4.0]])]),
    [(1, 2)],
    exact=True,
)
case(
    "concatenate_empty_const",
    ["concatenate"],
    lambda x: jg.concatenate([x, np.zeros((0, 3))]),
    lambda x: np.concatenate([x, np.zeros((0, 3))]),
    [(2, 3)],
    exact=True,
)

case(
    "stack",
    ["concatenate", "reshape"],
    lambda x, y: jg.stack([x, y]),
    _stack_ref(0),
    [(3,), (3,)],
    exact=True,
)
case(
    "stack_axis1",
    ["concatenate", "reshape"],
    lambda x, y, z: jg.stack([x, y, z], axis=1),
    _stack_ref(1),
    [(2, 3), (2, 3), (2, 3)],
    exact=True,
)
case(
    "stack_axis_neg",
    ["concatenate", "reshape"],
    lambda x, y: jg.stack([x, y], axis=-1),
    _stack_ref(-1),
    [(2, 3), (2, 3)],
    exact=True,
)
case(
    "stack_0d",
    ["concatenate", "reshape"],
    lambda x, y: jg.stack([x, y, x]),
    lambda x, y: np.stack([x, y, x]),
    [(), ()],
    exact=True,
)

# ----------------------------------------------------------------------------- linear algebra

_MATMUL = [
    ("mm", (2, 3), (3, 4)),
    ("vm", (3,), (3, 4)),
    ("mv", (2, 3), (3,)),
    ("vv", (3,), (3,)),
    ("batch", (2, 3, 4), (2, 4, 5)),
    ("batch_broadcast", (2, 1, 3, 4), (5, 4, 2)),
    ("batch_mv", (2, 3, 4), (4,)),
    ("batch_vm", (4,), (2, 4, 3)),
    ("empty_k", (2, 0), (0, 3)),
    ("empty_rows", (0, 3), (3, 2)),
    ("size1", (1, 3), (3, 1)),
]
for _name, _a, _b in _MATMUL:
    _ops = ["matmul"] + (["reshape"] if len(_a) == 1 or len(_b) == 1 else [])
    case(f"matmul_{_name}", _ops, lambda a, b: a @ b, np.matmul, [_a, _b], exact=_name != "vv")
case("matmul_fn", ["matmul"], jg.matmul, np.matmul, [(2, 3), (3, 2)], exact=True)
case(
    "matmul_rconst",
    ["matmul"],
    lambda x: np.array([[1.0, 2.0], [0.5, -1.0]]) @ x,
    lambda x: np.array([[1.0, 2.0], [0.5, -1.0]]) @ x,
    [(2, 3)],
    exact=True,
)

_DOT = [
    ("scalar", (), (3,), ["multiply"]),
    ("scalar_right", (2, 2), (), ["multiply"]),
    ("1d", (4,), (4,), ["matmul"]),
    ("2d_1d", (2, 4), (4,), ["matmul"]),
    ("1d_2d", (4,), (4, 3), ["matmul"]),
    ("2d", (2, 3), (3, 4), ["matmul"]),
    ("nd_1d", (2, 3, 4), (4,), ["matmul", "reshape"]),
    ("2d_nd", (2, 3), (4, 3, 5), ["matmul", "reshape", "transpose"]),
    ("nd_nd", (2, 3, 4), (5, 4, 2), ["matmul", "reshape", "transpose"]),
]
for _name, _a, _b, _ops in _DOT:
    case(f"dot_{_name}", _ops, jg.dot, np.dot, [_a, _b])

# ----------------------------------------------------------------------------- composites

case(
    "logsumexp_shifted",
    ["logsumexp", "add"],
    lambda x: jg.logsumexp(x + 500.0, axis=1),
    lambda x: scipy.special.logsumexp(x + 500.0, axis=1),
    [(3, 4)],
)
case(
    "softmax",
    ["exp", "subtract", "logsumexp", "reshape"],
    lambda x: jg.exp(x - jg.logsumexp(x, axis=-1, keepdims=True)),
    lambda x: scipy.special.softmax(x, axis=-1),
    [(3, 4)],
)
case(
    "mlp_layer",
    ["matmul", "add", "tanh", "sum"],
    lambda W, x, b: jg.sum(jg.tanh(W @ x + b)),
    lambda W, x, b: np.sum(np.tanh(W @ x + b)),
    [(4, 3), (3,), (4,)],
)
case(
    "quadratic_form",
    ["matmul", "reshape"],
    lambda A, x: x @ A @ x,
    lambda A, x: x @ A @ x,
    [(3, 3), (3,)],
)
case(
    "norm",
    ["sqrt", "sum", "square"],
    lambda x: jg.sqrt(jg.sum(jg.square(x))),
    lambda x: np.linalg.norm(x),
    [(5,)],
)

# ----------------------------------------------------------------------------- float32

_F32 = dict(dtype="float32", rtol=1e-6)
case("exp_f32", ["exp"], jg.exp, np.exp, [(2, 3)], exact=True, **_F32)
case("log_f32", ["log"], jg.log, np.log, [(4,)], domain=(0.1, 3.0), exact=True, **_F32)
case("tanh_f32", ["tanh"], jg.tanh, np.tanh, [(4,)], exact=True, **_F32)
case("sigmoid_f32", ["sigmoid"], jg.sigmoid, _f32(_sigmoid), [(5,)], domain=(-5.0, 5.0), **_F32)
case("softplus_f32", ["softplus"], jg.softplus, _f32(_softplus), [(5,)], **_F32)
case("add_broadcast_f32", ["add"], lambda x, y: x + y, np.add, [(3, 1), (4,)], exact=True, **_F32)
case(
    "mul_pyfloat_f32",
    ["multiply"],
    lambda x: x * 0.1,
    lambda x: x * np.float32(0.1),
    [(3,)],
    exact=True,
    **_F32,
)
case(
    "power_f32",
    ["power"],
    jg.power,
    np.power,
    [(3,), (3,)],
    domain=(_POS, (-2.0, 2.0)),
    exact=True,
    **_F32,
)
case(
    "maximum_f32",
    ["maximum"],
    jg.maximum,
    np.maximum,
    [(3,), (3,)],
    exact=True,
    post=_lattice(),
    **_F32,
)
case(
    "sum_axis0_f32",
    ["sum"],
    lambda x: jg.sum(x, axis=0),
    _f32(lambda x: np.sum(x, axis=0)),
    [(3, 4)],
    **_F32,
)
case("mean_f32", ["sum", "divide"], jg.mean, _f32(np.mean), [(3, 4)], **_F32)
case("logsumexp_f32", ["logsumexp"], jg.logsumexp, _f32(scipy.special.logsumexp), [(3, 4)], **_F32)
case("matmul_f32", ["matmul"], lambda a, b: a @ b, _f32(np.matmul), [(2, 3), (3, 4)], **_F32)
case(
    "where_f32",
    ["where", "greater"],
    lambda c, x: jg.where(c > 0.0, x, -1.0),
    lambda c, x: np.where(c > 0.0, x, np.float32(-1.0)),
    [(3,), (3,)],
    exact=True,
    post=_lattice(),
    **_F32,
)
case(
    "getitem_f32",
    ["getitem"],
    lambda x: x[::-1, 1],
    lambda x: x[::-1, 1],
    [(3, 2)],
    exact=True,
    **_F32,
)
# Mixed precision promotes to float64, as NumPy does.
case(
    "add_mixed_f32_f64",
    ["add"],
    lambda x, y: x + y,
    np.add,
    [(3,), (3,)],
    dtype=("float32", "float64"),
    exact=True,
)
case(
    "concatenate_mixed",
    ["concatenate", "cast"],
    lambda x, y: jg.concatenate([x, y]),
    lambda x, y: np.concatenate([x, y]),
    [(2,), (3,)],
    dtype=("float32", "float64"),
    exact=True,
)

OP_CASES: list[OpCase] = CASES
CASES_BY_NAME: dict[str, OpCase] = {c.name: c for c in OP_CASES}

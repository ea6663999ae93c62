"""Reliability: bad input, dtype promotion, concurrency, scale and numerics.

* Bad input: every mistake below raises a clear exception, of the documented
  type, whose message names the op or the kernel input and what was expected;
  no node, output buffer or kernel is left half-made. NaN and inf are values
  and propagate as in NumPy.
* float32/float64 mixing gives NumPy's result dtype (NEP 50: Python numbers are
  weak, NumPy scalars and arrays are not).
* Concurrency: one kernel (and one batch kernel) called from 8 Python threads
  at once.
* Kernel cache: processes released at once compiling the same graph, the cache
  directory's permissions, a tampered entry never imported (read-only or
  missing directories and truncated or garbage entries are in test_codegen.py).
* Scale: a graph of depth 10 000 through grad, simplify and evaluate, a wide one
  through grad, and a chain with its gradient (about 300 ops) through compile.
  Graphs of 10^5 nodes take seconds to build and differentiate, too long for
  CI; compile time grows faster than linearly with the number of ops (6 s for
  2 300 ops, 27 s for 7 000, 255 s for 23 000 when measured).
* Numerics: log1p, expm1, logsumexp, softplus and sigmoid at extreme inputs, in
  ``evaluate`` and in a kernel, values and first derivatives, against mpmath
  (50 digits): relative error at most 8 ulps (or exact 0/inf where the true
  value under/overflows).
"""

from __future__ import annotations

import threading

import mpmath
import numpy as np
import pytest

import jitgrad as jg

EPS = np.finfo(np.float64).eps

# ----------------------------------------------------------------------------- build time

_x = jg.vector("x", 3)
_s = jg.scalar("s")
_A = jg.matrix("A", 2, 3)
_x32 = jg.vector("x32", 3, "float32")

# (id, call, exception type, text the message must contain)
BAD_BUILD = [
    # ops on things that are not nodes, numbers or real arrays
    (
        "sin_str",
        lambda: jg.sin("a"),
        TypeError,
        "sin: expected a jitgrad node, number or array, got str",
    ),
    (
        "sin_none",
        lambda: jg.sin(None),
        TypeError,
        "sin: expected a jitgrad node, number or array, got NoneType",
    ),
    (
        "sin_complex",
        lambda: jg.sin(1 + 2j),
        TypeError,
        "sin: expected a jitgrad node, number or array, got complex",
    ),
    (
        "sin_dict",
        lambda: jg.exp({}),
        TypeError,
        "exp: expected a jitgrad node, number or array, got dict",
    ),
    (
        "sin_object_array",
        lambda: jg.sin(np.array([object()])),
        TypeError,
        "sin: cannot make a node from ndarray",
    ),
    ("sin_str_list", lambda: jg.sin([1, "a"]), TypeError, "sin: cannot use an array of dtype <U21"),
    (
        "add_str",
        lambda: _x + "a",
        TypeError,
        "add: expected a jitgrad node, number or array, got str",
    ),
    (
        "radd_str",
        lambda: "a" * _x,
        TypeError,
        "multiply: expected a jitgrad node, number or array, got str",
    ),
    (
        "add_none",
        lambda: _x + None,
        TypeError,
        "add: expected a jitgrad node, number or array, got NoneType",
    ),
    (
        "add_complex",
        lambda: _x + 1j,
        TypeError,
        "add: expected a jitgrad node, number or array, got complex",
    ),
    (
        "add_complex_array",
        lambda: _x + np.ones(3, complex),
        TypeError,
        "add: cannot use an array of dtype complex128",
    ),
    ("add_ragged", lambda: _x + [1.0, [2.0]], ValueError, "add: cannot make an array from list"),
    (
        "add_bool_node",
        lambda: _x + (_x > 0),
        TypeError,
        "add: arithmetic on a boolean node is not defined",
    ),
    ("matmul_str", lambda: jg.matmul(_x, "a"), TypeError, "matmul: expected a jitgrad node"),
    (
        "where_float_cond",
        lambda: jg.where(_x, _x, _x),
        TypeError,
        "where: the condition must be a boolean node",
    ),
    ("where_str", lambda: jg.where(_x > 0, "a", _x), TypeError, "where: expected a jitgrad node"),
    (
        "concatenate_str",
        lambda: jg.concatenate(["a"]),
        TypeError,
        "concatenate: expected a jitgrad node",
    ),
    ("stack_none", lambda: jg.stack([_x, None]), TypeError, "stack: expected a jitgrad node"),
    (
        "grad_wrt_str",
        lambda: jg.grad(jg.sin(_s), "a"),
        TypeError,
        "grad: wrt must be a node or a list of nodes, got str",
    ),
    (
        "grad_of_str",
        lambda: jg.grad("a", _s),
        TypeError,
        "grad: the output must be a jitgrad node, got str",
    ),
    ("grad_vector", lambda: jg.grad(_x, _x), ValueError, "grad: the output must be a scalar"),
    ("jvp_tangent_shape", lambda: jg.jvp(_x, _x, np.ones(4)), ValueError, "jvp: "),
    ("const_str", lambda: jg.const("abc"), TypeError, "const: cannot use an array of dtype object"),
    (
        "const_complex",
        lambda: jg.const(1j),
        TypeError,
        "const: cannot use an array of dtype complex128",
    ),
    ("const_none", lambda: jg.const(None), TypeError, "const: cannot use an array of dtype object"),
    (
        "const_ragged",
        lambda: jg.const([1, [2]]),
        ValueError,
        "const: cannot make an array from list",
    ),
    (
        "const_datetime",
        lambda: jg.const(np.datetime64("2020-01-01")),
        TypeError,
        "const: cannot use an array of dtype datetime64",
    ),
    ("var_name", lambda: jg.var(1), TypeError, "var: name must be a non-empty string, got 1"),
    (
        "var_int_dtype",
        lambda: jg.var("v", (2,), "int32"),
        TypeError,
        "var 'v': dtype must be float64 or float32, got int32",
    ),
    (
        "var_bad_dtype",
        lambda: jg.var("v", (2,), "nonsense"),
        TypeError,
        "var 'v': dtype must be float64 or float32, got 'nonsense'",
    ),
    ("var_complex_dtype", lambda: jg.var("v", (2,), "complex128"), TypeError, "got complex128"),
    (
        "var_negative_dim",
        lambda: jg.var("v", (-1,)),
        ValueError,
        "var 'v': shape must have non-negative dimensions",
    ),
    (
        "var_float_dim",
        lambda: jg.var("v", (2.5,)),
        TypeError,
        "var 'v': shape must be a tuple of ints, got (2.5,)",
    ),
    # invalid axes
    (
        "sum_axis_2",
        lambda: jg.sum(_x, axis=2),
        ValueError,
        "sum: axis 2 is out of bounds for an array of dimension 1",
    ),
    ("sum_axis_-2", lambda: jg.sum(_x, axis=-2), ValueError, "sum: axis -2 is out of bounds"),
    (
        "sum_axis_repeated",
        lambda: jg.sum(_A, axis=(0, 0)),
        ValueError,
        "sum: repeated axis in (0, 0)",
    ),
    (
        "sum_axis_float",
        lambda: jg.sum(_A, axis=1.0),
        TypeError,
        "sum: axis must be None, an int or a tuple of ints, got 1.0",
    ),
    (
        "sum_axis_str",
        lambda: jg.sum(_A, axis="a"),
        TypeError,
        "sum: axis must be None, an int or a tuple of ints",
    ),
    (
        "sum_axis_bool",
        lambda: jg.sum(_A, axis=True),
        TypeError,
        "sum: axis must be None, an int or a tuple of ints, got True",
    ),
    (
        "max_axis_5",
        lambda: jg.max(_A, axis=5),
        ValueError,
        "max: axis 5 is out of bounds for an array of dimension 2",
    ),
    (
        "logsumexp_axis",
        lambda: jg.logsumexp(_A, axis=-3),
        ValueError,
        "logsumexp: axis -3 is out of bounds",
    ),
    ("mean_axis", lambda: jg.mean(_A, axis=(0, 2)), ValueError, "mean: axis 2 is out of bounds"),
    (
        "max_empty",
        lambda: jg.max(jg.var("e", (0, 3)), axis=0),
        ValueError,
        "max: zero-size axis in a node of shape (0, 3)",
    ),
    (
        "transpose_repeat",
        lambda: jg.transpose(_A, (0, 0)),
        ValueError,
        "transpose: axes (0, 0) are not a permutation for shape (2, 3)",
    ),
    (
        "transpose_too_many",
        lambda: jg.transpose(_A, (0, 1, 2)),
        ValueError,
        "transpose: axes (0, 1, 2) are not a permutation",
    ),
    (
        "transpose_float",
        lambda: jg.transpose(_A, (1.5, 0)),
        TypeError,
        "transpose: axes must be a tuple of ints, got (1.5, 0)",
    ),
    (
        "transpose_str",
        lambda: jg.transpose(_A, "ab"),
        TypeError,
        "transpose: axes must be a tuple of ints, got 'ab'",
    ),
    (
        "concatenate_axis",
        lambda: jg.concatenate([_A, _A], axis=2),
        ValueError,
        "concatenate: axis 2 is out of bounds",
    ),
    (
        "concatenate_shapes",
        lambda: jg.concatenate([_A, _x]),
        ValueError,
        "concatenate: shapes (2, 3) and (3,) differ outside axis 0",
    ),
    (
        "concatenate_0d",
        lambda: jg.concatenate([_s, _s]),
        ValueError,
        "concatenate: zero-dimensional nodes cannot be concatenated",
    ),
    (
        "stack_axis",
        lambda: jg.stack([_A, _A], axis=3),
        ValueError,
        "stack: axis 3 is out of bounds for an array of dimension 3",
    ),
    (
        "stack_shapes",
        lambda: jg.stack([_x, _A]),
        ValueError,
        "stack: all nodes must have the same shape, got (3,) and (2, 3)",
    ),
    ("take_axis", lambda: jg.take(_A, [0], axis=2), ValueError, "take: axis 2 is out of bounds"),
    # reshape and broadcasting to incompatible sizes
    (
        "reshape_size",
        lambda: jg.reshape(_A, (4,)),
        ValueError,
        "reshape: cannot reshape a node of shape (2, 3) into shape (4,)",
    ),
    (
        "reshape_infer",
        lambda: jg.reshape(_A, (-1, 4)),
        ValueError,
        "reshape: cannot reshape a node of shape (2, 3) into shape (-1, 4)",
    ),
    (
        "reshape_two_-1",
        lambda: jg.reshape(_A, (-1, -1)),
        ValueError,
        "reshape: only one dimension can be -1",
    ),
    (
        "reshape_negative",
        lambda: jg.reshape(_A, (-2, -3)),
        ValueError,
        "reshape must have non-negative dimensions",
    ),
    ("reshape_zero_infer", lambda: jg.reshape(_A, (0, -1)), ValueError, "reshape: cannot reshape"),
    (
        "reshape_float",
        lambda: jg.reshape(_A, (6.0,)),
        TypeError,
        "reshape: shape must be an int or a tuple of ints, got (6.0,)",
    ),
    (
        "reshape_float_method",
        lambda: _A.reshape(6.5),
        TypeError,
        "reshape: shape must be an int or a tuple of ints, got 6.5",
    ),
    (
        "reshape_str",
        lambda: jg.reshape(_A, "ab"),
        TypeError,
        "reshape: shape must be an int or a tuple of ints, got 'ab'",
    ),
    (
        "reshape_none",
        lambda: jg.reshape(_A, None),
        TypeError,
        "reshape: shape must be an int or a tuple of ints, got None",
    ),
    ("reshape_method", lambda: _A.reshape(3, 3), ValueError, "into shape (3, 3)"),
    (
        "broadcast_to",
        lambda: jg.broadcast_to(_x, (3, 2)),
        ValueError,
        "broadcast_to: cannot broadcast shape (3,) to shape (3, 2)",
    ),
    (
        "add_shapes",
        lambda: _x + _A.T,
        ValueError,
        "add: shapes (3,) and (3, 2) cannot be broadcast together",
    ),
    ("matmul_shapes", lambda: _A @ _A, ValueError, "(2, 3)"),
    # constant indices out of range, caught when the graph is built
    ("index_high", lambda: _x[3], IndexError, "index 3 is out of bounds for axis 0 with size 3"),
    ("index_low", lambda: _x[-4], IndexError, "index -4 is out of bounds for axis 0 with size 3"),
    (
        "index_np_int",
        lambda: _x[np.int64(5)],
        IndexError,
        "index 5 is out of bounds for axis 0 with size 3",
    ),
    (
        "index_axis1",
        lambda: _A[:, 3],
        IndexError,
        "index 3 is out of bounds for axis 1 with size 3",
    ),
    (
        "index_ellipsis",
        lambda: _A[..., 3],
        IndexError,
        "index 3 is out of bounds for axis 1 with size 3",
    ),
    (
        "index_too_many",
        lambda: _x[0, 0],
        IndexError,
        "too many indices for a node of shape (3,): 2 given",
    ),
    ("index_0d", lambda: _s[0], IndexError, "too many indices for a node of shape ()"),
    (
        "index_two_ellipses",
        lambda: _A[..., ...],
        IndexError,
        "an index can only have a single ellipsis",
    ),
    ("index_float", lambda: _x[1.0], TypeError, "invalid index 1.0"),
    ("index_str", lambda: _x["a"], TypeError, "invalid index 'a'"),
    ("index_bool", lambda: _x[True], TypeError, "invalid index True"),
    ("index_node", lambda: _x[_x], TypeError, "indexing with a node is not supported"),
    (
        "index_mask",
        lambda: _x[[True, False, True]],
        TypeError,
        "boolean mask indexing is not supported",
    ),
    (
        "index_float_array",
        lambda: _x[[0.5]],
        TypeError,
        "index arrays must be integers, got dtype float64",
    ),
    ("slice_step_0", lambda: _x[::0], ValueError, "slice step cannot be zero"),
    (
        "take_array_high",
        lambda: _x[[0, 3]],
        IndexError,
        "take: index out of range for axis 0 of size 3",
    ),
    (
        "take_array_low",
        lambda: _x[[0, -4]],
        IndexError,
        "take: index out of range for axis 0 of size 3",
    ),
    ("take_array_2d", lambda: _x[np.array([[0], [5]])], IndexError, "take: index out of range"),
    (
        "take_array_axis1",
        lambda: _A[:, [3]],
        IndexError,
        "take: index out of range for axis 1 of size 3 (shape (2, 3))",
    ),
    (
        "take_fn",
        lambda: jg.take(_x, [3]),
        IndexError,
        "take: index out of range for axis 0 of size 3",
    ),
    (
        "take_flat",
        lambda: jg.take(_A, [6]),
        IndexError,
        "take: index out of range for axis 0 of size 6",
    ),
    (
        "take_float",
        lambda: jg.take(_x, 1.5),
        TypeError,
        "take: indices must be integers, got dtype float64",
    ),
    (
        "take_str",
        lambda: jg.take(_x, "a"),
        TypeError,
        "take: indices must be integers, got dtype <U1",
    ),
    (
        "take_node",
        lambda: jg.take(_x, _x),
        TypeError,
        "take: indices must be a constant integer array, not a node",
    ),
]


@pytest.fixture
def interned(monkeypatch):
    """The names of the ops of every node created while the test runs."""
    import jitgrad.ops.core as core

    made = []
    real = core.intern

    def recording(op, *args):
        made.append(op.name)
        return real(op, *args)

    monkeypatch.setattr(core, "intern", recording)
    return made


@pytest.mark.parametrize(
    "call, exc, text", [c[1:] for c in BAD_BUILD], ids=[c[0] for c in BAD_BUILD]
)
def test_bad_build_input(call, exc, text, interned):
    with pytest.raises(exc) as info:
        call()
    assert text in str(info.value)
    # Nothing half-made: operands may have been built (they are valid nodes), but
    # no node of the op that failed.
    opname = text.split(":")[0]
    assert opname not in interned, interned


def test_good_build_edge_cases():
    """Edge cases NumPy accepts are accepted: in-range negative indices, slices
    past the end (clipped, as in NumPy), an empty index list, None."""
    assert _x[-3].shape == ()
    assert _x[5:10].shape == (0,)
    assert _x[[]].shape == (0,)
    assert jg.take(_x, []).shape == (0,)
    assert _s[None].shape == (1,)
    assert jg.min(jg.var("e", (0, 3)), axis=1).shape == (0,)


# ----------------------------------------------------------------------------- dtype promotion


def _numpy_result(op, a, b):
    with np.errstate(all="ignore"):
        return np.asarray(op(a, b)).dtype


_OPERANDS = {
    "python_float": 1.5,
    "python_int": 2,
    "np_float64": np.float64(1.5),
    "np_float32": np.float32(1.5),
    "np_int64": np.int64(2),
    "f64_array": np.full(3, 1.5),
    "f32_array": np.full(3, 1.5, np.float32),
    "f16_array": np.full(3, 1.5, np.float16),
    "int_array": np.full(3, 2),
}
_PROMOTING_OPS = {
    "add": (lambda a, b: a + b, np.add),
    "multiply": (lambda a, b: a * b, np.multiply),
    "divide": (lambda a, b: a / b, np.divide),
    "power": (lambda a, b: a**b, np.power),
    "maximum": (jg.maximum, np.maximum),
    "where": (lambda a, b: jg.where(_x > 0, a, b), lambda a, b: np.where(np.ones(3) > 0, a, b)),
}


@pytest.mark.parametrize("opname", list(_PROMOTING_OPS))
@pytest.mark.parametrize("kind", list(_OPERANDS))
@pytest.mark.parametrize("node_dtype", ["float32", "float64"])
def test_promotion_follows_numpy(opname, kind, node_dtype):
    """A node of ``node_dtype`` combined with each kind of operand (both orders)
    has the dtype NumPy gives an array of that dtype with the same operand."""
    jop, nop = _PROMOTING_OPS[opname]
    node = jg.vector(f"p_{node_dtype}", 3, node_dtype)
    arr = np.full(3, 1.5, node_dtype)
    other = _OPERANDS[kind]
    assert jop(node, other).dtype == _numpy_result(nop, arr, other)
    assert jop(other, node).dtype == _numpy_result(nop, other, arr)


def test_promotion_between_nodes():
    a32, b64 = jg.vector("a32", 3, "float32"), jg.vector("b64", 3)
    f32, f64 = np.ones(3, np.float32), np.ones(3)
    assert (a32 + b64).dtype == (f32 + f64).dtype == np.float64
    assert (a32 @ b64).dtype == np.float64
    assert jg.concatenate([a32, b64]).dtype == np.concatenate([f32, f64]).dtype
    assert jg.stack([a32, a32]).dtype == np.float32
    assert (a32 * a32).dtype == np.float32
    assert jg.grad(jg.sum(a32 * b64), a32).dtype == np.float32  # gradients keep the var's dtype
    assert jg.grad(jg.sum(jg.sigmoid(a32) * 0.5), a32).dtype == np.float32


# ----------------------------------------------------------------------------- kernel arguments


@pytest.fixture(scope="module")
def kern():
    """One kernel over (x (3,), s (), A (2, 3), y32 (3,) float32) with outputs
    that propagate NaN/inf in different ways, and the NumPy functions they match."""
    x, s, A = jg.vector("kx", 3), jg.scalar("ks"), jg.matrix("kA", 2, 3)
    y32 = jg.vector("ky32", 3, "float32")
    outs = [
        jg.sum(x * s),
        A @ x,
        jg.maximum(x, 0.0),
        jg.where(x > 0.0, x, 0.0),
        jg.logsumexp(x),
        y32 * 2.0,
        y32 + x,
        jg.sqrt(x),
    ]
    ref = [
        lambda x, s, A, y: np.sum(x * s),
        lambda x, s, A, y: A @ x,
        lambda x, s, A, y: np.maximum(x, 0.0),
        lambda x, s, A, y: np.where(x > 0.0, x, 0.0),
        None,
        lambda x, s, A, y: y * np.float32(2.0),
        lambda x, s, A, y: y + x,
        lambda x, s, A, y: np.sqrt(x),
    ]
    k = jg.compile([x, s, A, y32], outs, cache=False)
    return k, [x, s, A, y32], outs, ref


_X, _S, _AA, _Y = (
    np.array([0.5, 1.0, 2.0]),
    2.0,
    np.arange(6.0).reshape(2, 3),
    np.ones(3, np.float32),
)

# (id, args, exception, text): every message names the input and, for shapes, the expected shape.
BAD_ARGS = [
    (
        "no_args",
        (),
        TypeError,
        "missing 4 required positional arguments: 'kx', 'ks', 'kA', and 'ky32'",
    ),
    ("too_few", (_X, _S, _AA), TypeError, "missing 1 required positional argument: 'ky32'"),
    # Too many: Numba's dispatcher (the kernel's call path) says so before any check of ours.
    ("too_many", (_X, _S, _AA, _Y, _Y), TypeError, "too many arguments: expected 4, got 5"),
    (
        "shape_long",
        (np.ones(4), _S, _AA, _Y),
        ValueError,
        "input 'kx': expected shape (3,), got shape (4,)",
    ),
    (
        "shape_column",
        (np.ones((3, 1)), _S, _AA, _Y),
        ValueError,
        "input 'kx': expected shape (3,), got shape (3, 1)",
    ),
    (
        "shape_scalar",
        (1.0, _S, _AA, _Y),
        ValueError,
        "input 'kx': expected shape (3,), got shape ()",
    ),
    (
        "scalar_shape",
        (_X, np.ones(1), _AA, _Y),
        ValueError,
        "input 'ks': expected shape (), got shape (1,)",
    ),
    (
        "transposed",
        (_X, _S, _AA.T, _Y),
        ValueError,
        "input 'kA': expected shape (2, 3), got shape (3, 2)",
    ),
    (
        "complex",
        (_X + 1j, _S, _AA, _Y),
        TypeError,
        "input 'kx': expected a real number array of shape (3,), got dtype complex128",
    ),
    (
        "complex_scalar",
        (_X, 1j, _AA, _Y),
        TypeError,
        "input 'ks': expected a real number array of shape (), got dtype complex128",
    ),
    (
        "object",
        (np.array([1.0, None, 3.0]), _S, _AA, _Y),
        TypeError,
        "input 'kx': expected a real number array of shape (3,), got dtype object",
    ),
    (
        "object_numeric",
        (np.array([1.0, 2.0, 3.0], dtype=object), _S, _AA, _Y),
        TypeError,
        "input 'kx': expected a real number array of shape (3,), got dtype object",
    ),
    (
        "str",
        ("abc", _S, _AA, _Y),
        TypeError,
        "input 'kx': expected a real number array of shape (3,), got dtype <U3",
    ),
    (
        "str_array",
        (np.array(["1", "2", "3"]), _S, _AA, _Y),
        TypeError,
        "input 'kx': expected a real number array of shape (3,), got dtype <U1",
    ),
    (
        "str_scalar",
        (_X, "2.0", _AA, _Y),
        TypeError,
        "input 'ks': expected a real number array of shape (), got dtype <U3",
    ),
    (
        "bytes",
        (_X, b"2", _AA, _Y),
        TypeError,
        "input 'ks': expected a real number array of shape (), got dtype |S1",
    ),
    (
        "none",
        (None, _S, _AA, _Y),
        TypeError,
        "input 'kx': expected a real number array of shape (3,), got dtype object",
    ),
    (
        "ragged",
        ([1.0, [2.0, 3.0]], _S, _AA, _Y),
        TypeError,
        "input 'kx': cannot convert list to an array",
    ),
    ("dict", ({}, _S, _AA, _Y), TypeError, "input 'kx': expected a real number array"),
    (
        "datetime",
        (np.array(["2020-01-01"] * 3, dtype="datetime64[D]"), _S, _AA, _Y),
        TypeError,
        "input 'kx': expected a real number array of shape (3,), got dtype datetime64[D]",
    ),
    (
        "node",
        (jg.vector("kx", 3), _S, _AA, _Y),
        TypeError,
        "input 'kx': expected a real number array",
    ),
    (
        "huge_python_int",
        (np.array([2**70, 1, 1], dtype=object), _S, _AA, _Y),
        TypeError,
        "input 'kx'",
    ),
]


@pytest.mark.parametrize("args, exc, text", [c[1:] for c in BAD_ARGS], ids=[c[0] for c in BAD_ARGS])
def test_bad_kernel_arguments(kern, args, exc, text):
    k = kern[0]
    with pytest.raises(exc) as info:
        k(*args)
    assert text in str(info.value)
    # Nothing half-done: the same call through into() leaves the outputs alone.
    if len(args) == 4:
        outs = [np.full((1,) if o.ndim == 0 else o.shape, -7.0, o.dtype) for o in k.outputs]
        with pytest.raises(exc):
            k.into(*args, out=outs)
        assert all(np.all(o == -7.0) for o in outs)
    # ... and the kernel still works.
    assert k(_X, _S, _AA, _Y)[0] == pytest.approx(7.0)


def test_njit_entry_checks_shapes():
    x = jg.vector("oob_x", 3)
    k = jg.compile([x], [x[2] * 2.0, jg.sum(x)], cache=False)
    buf = np.full(100, 7.0)  # reads past the view stay inside this buffer
    for bad in (buf[:1], buf[:5]):
        with pytest.raises(ValueError, match="oob_x"):
            k.njit(bad)


def test_keyword_arguments_by_input_name(kern):
    k = kern[0]
    got = k(_X, _S, kA=_AA, ky32=_Y)
    for a, b in zip(got, k(_X, _S, _AA, _Y)):
        np.testing.assert_array_equal(a, b)
    # An unknown or repeated keyword is refused by Numba's dispatcher (its own wording).
    with pytest.raises(TypeError, match="argument"):
        k(_X, _S, _AA, _Y, kz=1.0)
    with pytest.raises(TypeError, match="argument"):
        k(_X, _S, _AA, kA=_AA, ky32=_Y)
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'kA'"):
        k(_X, _S, ky32=_Y)


def test_too_many_arguments_message(kern):
    with pytest.raises(TypeError, match=r"expected 4, got 5"):
        kern[0](_X, _S, _AA, _Y, _Y)
    # The Python-side path (batch kernels, AOT mode) names the inputs.
    with pytest.raises(TypeError, match=r"4 input\(s\) \(kx, ks, kA, ky32\)"):
        jg.Kernel.__call__(kern[0], _X, _S, _AA, _Y, _Y)


def _check_against(kern, args):
    k, ins, outs, ref = kern
    got = k(*args)
    want = jg.evaluate(outs, dict(zip(ins, args)))
    conv = [np.asarray(a, dtype=v.dtype) for a, v in zip(args, ins)]
    for j, (g, w, o) in enumerate(zip(got, want, outs)):
        g = np.asarray(g)
        assert g.dtype == o.dtype or o.ndim == 0, (j, g.dtype, o.dtype)
        np.testing.assert_allclose(g, w, rtol=1e-12, equal_nan=True, err_msg=f"output {j}")
        if ref[j] is not None:
            with np.errstate(all="ignore"):
                r = ref[j](*conv)
            np.testing.assert_allclose(g, r, rtol=1e-12, equal_nan=True, err_msg=f"output {j}")
    return got


def test_nan_inf_propagate(kern):
    """NaN and inf are values: no exception, results as NumPy's."""
    nan, inf = np.nan, np.inf
    for x in (
        [nan, 1.0, 2.0],
        [inf, 1.0, -2.0],
        [-inf, 0.0, 1.0],
        [nan, inf, -inf],
        [0.0, 0.0, 0.0],
    ):
        for s in (2.0, nan, inf, 0.0):
            _check_against(kern, (np.array(x), s, _AA, _Y))
    got = _check_against(
        kern, (np.array([nan, 1.0, 2.0]), 1.0, _AA, np.array([nan, inf, 1], np.float32))
    )
    assert np.isnan(got[0]) and np.isnan(got[4]) and np.isnan(got[2][0])
    assert got[3][0] == 0.0  # nan > 0 is False, as in NumPy
    got = _check_against(kern, (np.array([inf, 1.0, 2.0]), 1.0, _AA, _Y))
    assert got[4] == inf and got[0] == inf


def test_arguments_converted_like_numpy(kern):
    """Integers, booleans, float16/float32, lists, 0-d arrays, NumPy scalars,
    Fortran-ordered, strided and read-only arrays are converted, not refused."""
    AF = np.asfortranarray(_AA)
    strided = np.arange(12.0).reshape(2, 6)[:, ::2]
    ro = _X.copy()
    ro.setflags(write=False)
    for args in [
        (np.array([1, 2, 3]), 2, _AA, _Y),
        (np.array([True, False, True]), True, _AA, _Y),
        (_X.astype(np.float16), np.float32(2.0), _AA, _Y),
        ([1.0, 2.0, 3.0], np.array(2.0), AF, [1, 2, 3]),
        (ro, np.int64(3), strided, _Y.astype(np.float64)),
        (np.array([2**62, 1, 1]), 2.0, _AA, np.array([1e-50, 1.0, 3.0])),
    ]:
        _check_against(kern, args)


def test_float32_input_takes_float64_like_numpy_assignment(kern):
    """A float64 array for a float32 input is cast as ``astype`` would (1e300 -> inf)."""
    k = kern[0]
    y = np.array([1e300, 0.1, -3.0])
    with np.errstate(over="ignore"):
        want = y.astype(np.float32) * np.float32(2.0)
        got = k(_X, _S, _AA, y)[5]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


@pytest.fixture(scope="module")
def batch_kern():
    x = jg.vector("bx", 5)
    return x, jg.compile([x], [jg.sum(jg.sin(x) * x), jg.exp(x)], cache=False, batch=True)


def test_batch_kernel_bad_arguments(batch_kern):
    x, kb = batch_kern
    with pytest.raises(ValueError, match=r"input 'bx': expected shape \(B,\) \+ \(5,\)"):
        kb(np.ones(5))
    with pytest.raises(
        ValueError, match=r"input 'bx': expected shape \(4, 5\), got shape \(4, 2\)"
    ):
        kb(np.ones((4, 2)))
    with pytest.raises(TypeError, match="input 'bx'"):
        kb(np.ones((4, 5), complex))
    np.testing.assert_allclose(kb(np.ones((4, 5)))[0], np.full(4, 5 * np.sin(1.0)))
    assert kb(np.ones((0, 5)))[0].shape == (0,)


def test_bad_evaluate_inputs():
    x = jg.vector("ex", 3)
    cases = [
        ({x: np.ones(4)}, ValueError, "evaluate: input 'ex' expects shape (3,), got (4,)"),
        (
            {x: np.ones(3) * 1j},
            TypeError,
            "evaluate: input 'ex' must be a real number array, got dtype complex128",
        ),
        ({x: "abc"}, TypeError, "evaluate: input 'ex' must be a real number array, got dtype <U3"),
        (
            {x: np.array([1, None, 2])},
            TypeError,
            "evaluate: input 'ex' must be a real number array, got dtype object",
        ),
        (
            {x: None},
            TypeError,
            "evaluate: input 'ex' must be a real number array, got dtype object",
        ),
        ({x: [1.0, [2.0]]}, TypeError, "evaluate: input 'ex': cannot convert list to an array"),
        ({}, ValueError, "evaluate: no value given for input 'ex' of shape (3,)"),
        ({"ex": np.ones(3)}, TypeError, "evaluate: keys of inputs must be var nodes, got 'ex'"),
    ]
    for env, exc, text in cases:
        with pytest.raises(exc) as info:
            jg.evaluate(x * 2.0, env)
        assert text in str(info.value)


def test_bad_compile_arguments():
    x, s = jg.vector("cx", 3), jg.scalar("cs")
    cases = [
        (lambda: jg.compile([x * 2.0], [x]), TypeError, "compile: inputs must be var nodes"),
        (
            lambda: jg.compile([s], [x * s]),
            ValueError,
            "compile: the outputs depend on input 'cx' of shape (3,), which is not in inputs",
        ),
        (lambda: jg.compile([x], ["a"]), TypeError, "compile: outputs must be nodes, got str"),
        (lambda: jg.compile([x, x], [x * 2.0]), ValueError, "compile: an input is listed twice"),
        (lambda: jg.compile([x], []), ValueError, "compile: need at least one output"),
    ]
    for call, exc, text in cases:
        with pytest.raises(exc) as info:
            call()
        assert text in str(info.value)


# ----------------------------------------------------------------------------- concurrency


def _hammer(fn, n_threads=8, rounds=100):
    """Run ``fn(thread_index, round)`` from ``n_threads`` threads released together."""
    barrier = threading.Barrier(n_threads)
    errors = []

    def work(i):
        try:
            barrier.wait()
            for r in range(rounds):
                fn(i, r)
        except BaseException as e:  # noqa: BLE001 - collected and re-raised below
            errors.append((i, e))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise AssertionError(f"{len(errors)} thread(s) failed, first: {errors[0]!r}")


def test_kernel_from_8_threads(kern):
    """Each thread calls the same kernel with its own inputs (through __call__,
    the generic path and into()) and checks every result."""
    k, ins, outs, _ = kern
    rng = np.random.default_rng(7)
    data = []
    for _ in range(8):
        args = (
            rng.uniform(0.1, 2.0, 3),
            float(rng.uniform(-1, 1)),
            rng.standard_normal((2, 3)),
            rng.standard_normal(3).astype(np.float32),
        )
        data.append((args, jg.evaluate(outs, dict(zip(ins, args)))))

    def call(i, r):
        args, want = data[i]
        if r % 3 == 0:
            got = k(*args)
        elif r % 3 == 1:
            got = k(list(args[0]), np.array(args[1]), args[2].T.copy().T, args[3])
        else:
            got = [np.empty((1,) if o.ndim == 0 else o.shape, o.dtype) for o in k.outputs]
            k.into(*args, out=got)
        for g, w in zip(got, want):
            np.testing.assert_allclose(np.reshape(g, np.shape(w)), w, rtol=1e-12)

    _hammer(call)


def test_batch_kernel_from_8_threads(batch_kern):
    """A batch (prange) kernel from 8 threads, where Numba's threading layer is
    thread-safe (``omp`` or ``tbb``; ``workqueue`` aborts the process on
    concurrent parallel launches, a Numba limitation)."""
    import numba

    x, kb = batch_kern
    X = np.random.default_rng(3).uniform(-1, 1, (64, 5))
    want = (np.sum(np.sin(X) * X, axis=1), np.exp(X))
    kb(X)
    if numba.threading_layer() == "workqueue":
        pytest.skip("Numba's workqueue threading layer is not thread-safe")

    def call(i, r):
        got = kb(X + 0.0)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12)

    _hammer(call, rounds=30)


# ----------------------------------------------------------------------------- cache
# tests/test_codegen.py covers read-only/missing directories, truncated and garbage
# entries and four processes; these add processes released at once, the
# directory's permissions and a tampered entry that must never be imported.

_CACHE_GRAPH = """
import numpy as np, jitgrad as jg
x = jg.vector("cache_x", 4)
f = jg.sum(jg.softplus(x * np.array([1.0, -2.0, 0.5, 3.0])))  # constants in an .npz too
ins, outs, vals = [x], [f, jg.grad(f, x)], [np.array([0.1, -0.2, 0.3, -0.4])]
"""

_CACHE_CHILD = """
import json, os, sys, time
go = sys.argv[2]
ns = {}
exec(sys.argv[1], ns)
while not os.path.exists(go):  # released together
    time.sleep(0.005)
k = ns["jg"].compile(ns["ins"], ns["outs"])
print(json.dumps({"hit": k.stats["cache_hit"], "values": [ns["np"].asarray(r).tolist() for r in k(*ns["vals"])]}))
"""


def _cache_graph():
    ns = {}
    exec(_CACHE_GRAPH, ns)
    return ns["ins"], ns["outs"], ns["vals"]


def test_processes_released_at_once_compile_the_same_graph(tmp_path):
    """Four processes wait for one signal, then all build the same entry at once."""
    import json
    import os
    import subprocess
    import sys

    cache = tmp_path / "cache"
    go = tmp_path / "go"
    env = dict(os.environ, JITGRAD_CACHE_DIR=str(cache))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CACHE_CHILD, _CACHE_GRAPH, str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    go.write_text("go")
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    ins, outs, vals = _cache_graph()
    want = jg.evaluate(outs, dict(zip(ins, vals)))
    for r in results:
        assert r["values"] == results[0]["values"]
    for g, w in zip(results[0]["values"], want):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    files = os.listdir(cache)
    assert len([f for f in files if f.startswith("k_") and f.endswith(".py")]) == 1
    assert not [f for f in files if f.startswith(".tmp")]


def test_cache_directory_is_private(tmp_path, monkeypatch):
    """A new cache directory is created with mode 0o700, its entries 0o600 or stricter."""
    import os
    import stat

    cache = tmp_path / "new" / "cache"
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(cache))
    old = os.umask(0o022)
    try:
        x = jg.vector("priv_x", 3)
        jg.compile([x], [jg.sum(x * np.array([1.0, 2.0, 3.0]))])
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    entries = [f for f in os.listdir(cache) if f.startswith("k_")]
    assert entries
    for f in entries:
        assert stat.S_IMODE(os.stat(cache / f).st_mode) & 0o077 == 0, f


def test_tampered_cache_entry_is_never_imported(tmp_path, monkeypatch):
    """An entry whose contents no longer match the digest in its first line is
    rebuilt, and the tampered code never runs (not even when the process has not
    imported the kernel before)."""
    import os
    import sys

    cache = tmp_path / "cache"
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(cache))
    x = jg.vector("tamper_x", 3)
    outs = [jg.sum(jg.exp(x) * np.array([1.0, -1.0, 2.0]))]
    k = jg.compile([x], outs)
    (src,) = [f for f in os.listdir(cache) if f.startswith("k_") and f.endswith(".py")]
    path = cache / src
    first, _, body = path.read_text().partition("\n")
    marker = tmp_path / "tampered-code-ran"
    path.write_text(f"{first}\nopen({str(marker)!r}, 'w').close()\n{body}")
    # As if in a fresh process: forget the imported module.
    for name in [m for m in sys.modules if m.startswith("jitgrad_kernel_")]:
        del sys.modules[name]
    k2 = jg.compile([x], outs)
    assert not marker.exists()
    assert k2.stats["cache_hit"] is False
    x0 = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(k2(x0), k(x0), rtol=0)
    assert "tampered-code-ran" not in path.read_text()  # the entry was rebuilt
    # The npz of constants is covered by the same digest.
    (npz,) = [f for f in os.listdir(cache) if f.endswith(".npz")]
    with open(cache / npz, "r+b") as fh:
        fh.seek(-8, os.SEEK_END)
        fh.write(b"\x00" * 8)
    for name in [m for m in sys.modules if m.startswith("jitgrad_kernel_")]:
        del sys.modules[name]
    k3 = jg.compile([x], outs)
    assert k3.stats["cache_hit"] is False
    np.testing.assert_allclose(k3(x0), k(x0), rtol=0)


# ----------------------------------------------------------------------------- scale

DEPTH = 10_000


@pytest.fixture(scope="module")
def deep():
    """A vector chain of depth 10 000 (``y = sin(y) * 0.999 + x``), scalar output."""
    x = jg.vector("deep_x", 4)
    y = x
    for _ in range(DEPTH // 3):
        y = jg.sin(y) * 0.999 + x
    return x, jg.sum(y)


def _deep_oracle(x0):
    y = x0.copy()
    for _ in range(DEPTH // 3):
        y = np.sin(y) * 0.999 + x0
    return np.sum(y)


def test_deep_graph_grad_simplify_evaluate(deep):
    x, f = deep
    assert jg.count_ops(f) >= DEPTH - 3
    g = jg.grad(f, x)
    assert g.shape == (4,)
    x0 = np.array([0.1, -0.4, 0.7, 1.2])
    fv, gv = jg.evaluate([f, g], {x: x0})
    np.testing.assert_allclose(fv, _deep_oracle(x0), rtol=1e-12)
    h = 1e-6
    fd = [(_deep_oracle(x0 + h * e) - _deep_oracle(x0 - h * e)) / (2 * h) for e in np.eye(4)]
    np.testing.assert_allclose(gv, fd, rtol=1e-5)
    s = jg.simplify([f, g], level="fast")
    assert jg.count_ops(s) <= jg.count_ops([f, g])
    sv = jg.evaluate(s, {x: x0})
    np.testing.assert_allclose(sv[0], fv, rtol=1e-12)
    np.testing.assert_allclose(sv[1], gv, rtol=1e-10)


def test_wide_graph_grad():
    """1 000 terms of 4 ops each, summed: wide rather than deep."""
    x = jg.vector("wide_x", 8)
    terms = [jg.sum(jg.sin(x * (1.0 + 1e-4 * i))) for i in range(1_000)]
    f = terms[0]
    for t in terms[1:]:
        f = f + t
    g = jg.grad(f, x)
    x0 = np.linspace(-1, 1, 8)
    c = 1.0 + 1e-4 * np.arange(1_000)
    want = np.sum(np.cos(np.outer(c, x0)) * c[:, None], axis=0)
    np.testing.assert_allclose(jg.evaluate(g, {x: x0}), want, rtol=1e-10)


def test_compile_a_chain_and_its_gradient():
    """A chain of 90 ops and its gradient (~210 ops) in one kernel, without simplification
    (compile time grows faster than linearly: see the scale figures in the report)."""
    x = jg.vector("cmp_x", 4)
    y = x
    for _ in range(30):
        y = jg.sin(y) * 0.999 + x
    f = jg.sum(y)
    g = jg.grad(f, x)
    k = jg.compile([x], [f, g], cache=False, simplify=None)
    x0 = np.array([0.1, -0.4, 0.7, 1.2])
    got = k(x0)
    want = jg.evaluate([f, g], {x: x0})
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-10)


# ----------------------------------------------------------------------------- numerics

mpmath.mp.dps = 50
_M = mpmath.mpf

# (name, function, inputs, value oracle, derivative oracle)
EXTREME = {
    "log1p": (
        jg.log1p,
        [1e-20, -1e-20, 1e-300, 5e-324, -0.5, -1 + 2**-52, 1e-5, 1.0, 1e10, 1e300],
        lambda t: mpmath.log1p(t),
        lambda t: 1 / (1 + t),
    ),
    "expm1": (
        jg.expm1,
        [1e-20, -1e-20, 1e-300, 1e-5, -20.0, -40.0, -745.0, -800.0, 20.0, 700.0, 709.0],
        lambda t: mpmath.expm1(t),
        lambda t: mpmath.exp(t),
    ),
    "softplus": (
        jg.softplus,
        [800.0, -800.0, 700.0, -700.0, 40.0, -40.0, 20.0, -20.0, 1e-20, -1e-20, 0.0],
        lambda t: mpmath.log1p(mpmath.exp(t)),
        lambda t: 1 / (1 + mpmath.exp(-t)),
    ),
    "sigmoid": (
        jg.sigmoid,
        [-800.0, 800.0, -745.0, -700.0, 700.0, -40.0, 40.0, 37.0, -30.0, 30.0, 20.0, 1e-20, 0.0],
        lambda t: 1 / (1 + mpmath.exp(-t)),
        lambda t: mpmath.exp(-t) / (1 + mpmath.exp(-t)) ** 2,
    ),
}

# logsumexp of each row, and its gradient (softmax)
LSE_ROWS = [
    [1000.0, 1000.0],
    [-1000.0, -1000.0],
    [1000.0, 0.0],
    [-1000.0, 1000.0],
    [800.0, 799.0],
    [1e12 + 0.25, 1e12 - 0.5],
    [1e17, 1e17],
    [1e308, 1e308],
    [-1e308, 0.0],
    [0.0, -np.inf],
]


def _mp_lse(row):
    finite = [_M(t) for t in row if np.isfinite(t)]
    m = max(finite)
    s = sum(mpmath.exp(t - m) for t in finite)
    return m + mpmath.log(s), [mpmath.exp(_M(t) - m) / s if np.isfinite(t) else _M(0) for t in row]


def _assert_ulps(what, got, want_mp, ulps=8):
    """Relative error <= ``ulps`` eps, where the true value is a normal float64;
    0 (or the smallest subnormals) where it underflows; inf where it overflows."""
    got = np.asarray(got, dtype=np.float64).ravel()
    for g, w in zip(got, want_mp):
        wf = float(w)
        if abs(w) > np.finfo(np.float64).max:
            assert g == np.sign(wf) * np.inf, (what, g, w)
        elif abs(wf) < np.finfo(np.float64).tiny:
            assert abs(g) <= 4 * np.finfo(np.float64).tiny, (what, g, w)
        else:
            rel = abs((_M(float(g)) - w) / w)
            assert rel <= ulps * EPS, (
                f"{what}: got {g!r}, want {mpmath.nstr(w, 20)}, rel. error {float(rel):.3g}"
            )


@pytest.fixture(scope="module")
def extreme_graphs():
    """Values and derivatives of every function of EXTREME and of logsumexp, as
    one list of outputs; the kernel is compiled in the test that needs it."""
    ins, outs, args, refs = [], [], [], []
    for name, (f, pts, fv, fd) in EXTREME.items():
        v = jg.vector(f"num_{name}", len(pts))
        y = f(v)
        outs += [y, jg.grad(jg.sum(y), v)]
        ins.append(v)
        args.append(np.array(pts))
        refs += [
            (f"{name} value", [fv(_M(t)) for t in pts]),
            (f"{name}'", [fd(_M(t)) for t in pts]),
        ]
    # logsumexp of each row of a matrix; the gradient of sum_r(u_r * lse_r) is u_r * softmax_r.
    m = jg.matrix("num_lse", len(LSE_ROWS), 2)
    y = jg.logsumexp(m, axis=1)
    u = np.arange(1.0, len(LSE_ROWS) + 1)
    outs += [y, jg.grad(jg.sum(y * u), m)]
    ins.append(m)
    args.append(np.array(LSE_ROWS))
    rows = [_mp_lse(row) for row in LSE_ROWS]
    refs += [
        (f"logsumexp of {LSE_ROWS}", [val for val, _ in rows]),
        ("its gradient", [c * _M(float(w)) for w, (_, soft) in zip(u, rows) for c in soft]),
    ]
    return ins, outs, args, refs


def test_extreme_inputs_evaluate(extreme_graphs):
    ins, outs, args, refs = extreme_graphs
    got = jg.evaluate(outs, dict(zip(ins, args)))
    for g, (what, want) in zip(got, refs):
        _assert_ulps(what + " (evaluate)", g, want)


def test_extreme_inputs_kernel(extreme_graphs):
    ins, outs, args, refs = extreme_graphs
    k = jg.compile(ins, outs, cache=False)
    got = k(*args)
    for g, (what, want) in zip(got, refs):
        _assert_ulps(what + " (kernel)", g, want)


@pytest.mark.xfail(
    strict=True,
    reason="ops: tanh's derivative is 1 - tanh(x)**2 (it reuses the forward value, see "
    "test_derivs.test_gradient_graph_reuses_forward_nodes), which cancels where |tanh(x)| is "
    "close to 1: relative error 1e-12 at |x| = 5, 2% at 17, 100% past 19",
)
def test_tanh_derivative_accurate_when_saturated():
    pts = [5.0, 10.0, 17.0, -19.5]
    x = jg.vector("sat_x", len(pts))
    g = jg.evaluate(jg.grad(jg.sum(jg.tanh(x)), x), {x: np.array(pts)})
    _assert_ulps("tanh'", g, [1 / mpmath.cosh(_M(t)) ** 2 for t in pts])


def test_extreme_named_cases():
    """The cases named in the issue, spelled out."""
    x = jg.scalar("nx")
    v = jg.vector("nv", 2)
    assert jg.evaluate(jg.logsumexp(v), {v: np.array([1000.0, 1000.0])}) == 1000.0 + np.log(2.0)
    np.testing.assert_array_equal(
        jg.evaluate(jg.grad(jg.logsumexp(v), v), {v: np.array([1000.0, 1000.0])}), [0.5, 0.5]
    )
    assert jg.evaluate(jg.sigmoid(x), {x: -800.0}) == 0.0
    assert jg.evaluate(jg.softplus(x), {x: 800.0}) == 800.0
    assert jg.evaluate(jg.log1p(x), {x: 1e-20}) == 1e-20
    assert jg.evaluate(jg.grad(jg.softplus(x), x), {x: 800.0}) == 1.0
    assert jg.evaluate(jg.grad(jg.sigmoid(x), x), {x: -800.0}) == 0.0
    assert jg.evaluate(jg.grad(jg.log1p(x), x), {x: 1e-20}) == 1.0


def test_compile_refuses_graphs_over_the_size_limit():
    x = jg.vector("limit_x", 3)
    y = x
    for _ in range(12):
        y = jg.sin(y) + 1.0
    with pytest.raises(ValueError, match=r"25 operation nodes, more than max_ops=20"):
        jg.compile([x], jg.sum(y), cache=False, max_ops=20)

"""Graph IR: interning, immutability, attributes, dtypes, build-time errors and folds."""

import numpy as np
import pytest

import jitgrad as jg

# ----------------------------------------------------------------------------- interning


def test_same_op_inputs_params_same_node():
    x, y = jg.vector("x", 3), jg.vector("y", 3)
    assert jg.sin(x) is jg.sin(x)
    assert x + y is x + y
    assert x + y is jg.add(x, y)
    assert x + y is not y + x
    assert jg.sum(x, axis=0) is jg.sum(x, axis=0)
    assert x[1:] is x[1:3]
    assert x[::-1] is x[2::-1]
    assert jg.take(x, [0, -1]) is jg.take(x, np.array([0, 2]))
    assert jg.sin(x) is not jg.cos(x)
    A = jg.matrix("A", 2, 3)
    assert jg.sum(A, axis=0) is not jg.sum(A, axis=1)
    assert jg.sum(A, axis=-1) is jg.sum(A, axis=1)
    assert jg.sum(A, axis=(1, 0)) is jg.sum(A)


def test_intern_table_forgets_dead_nodes():
    """The interning table holds nodes weakly: a node that dies leaves it, and
    the same op built again is a new node, interned again."""
    import gc
    import weakref

    from jitgrad import graph

    x = jg.vector("x_dies", 3)
    s, c = jg.sin(x), jg.cos(x)
    node = s * c
    op, params = node.op, node.params
    dead = weakref.ref(node)
    gc.collect()  # other tests' garbage first, so only this node leaves below
    size = len(graph._INTERN)
    del node
    gc.collect()
    assert dead() is None
    assert graph.lookup(op, (s, c), params) is None
    assert len(graph._INTERN) == size - 1
    again = s * c
    assert graph.lookup(op, (s, c), params) is again and s * c is again


def test_vars_interned_by_name_shape_dtype():
    assert jg.var("x", (3,)) is jg.var("x", (3,))
    assert jg.vector("x", 3) is jg.var("x", (3,), "float64")
    assert jg.scalar("x") is jg.var("x")
    assert jg.scalars("x y")[0] is jg.scalar("x")
    assert jg.var("x", (3,)) is not jg.var("x", (4,))
    assert jg.var("x", (3,)) is not jg.var("x", (3,), "float32")
    assert jg.var("x", (3,)) is not jg.var("y", (3,))


def test_consts_interned_by_value():
    assert jg.const(2.0) is jg.const(2.0)
    assert jg.const(2) is jg.const(2.0)
    assert jg.const([1, 2]) is jg.const(np.array([1.0, 2.0]))
    assert jg.const(np.nan) is jg.const(float("nan"))
    assert jg.const(1.0) is not jg.const(2.0)
    assert jg.const([1.0, 2.0]) is not jg.const([[1.0, 2.0]])
    assert jg.const(1.0) is not jg.const(1.0, dtype="float32")
    # -0.0 and 0.0 differ (1/c tells them apart).
    assert jg.const(0.0) is not jg.const(-0.0)
    x = jg.vector("x", 2)
    assert x * np.array([1.0, 3.0]) is x * jg.const([1.0, 3.0])


def test_scalars_parsing():
    x, y, z = jg.scalars("x y z")
    assert (x.shape, y.dtype, z.op.name) == ((), np.float64, "var")
    assert jg.scalars("a, b") == (jg.scalar("a"), jg.scalar("b"))
    (w,) = jg.scalars("w", dtype="float32")
    assert w.dtype == np.float32


def test_nodes_hashable_and_eq_is_identity():
    x = jg.vector("x", 3)
    d = {x: 1, jg.sin(x): 2}
    assert d[jg.sin(x)] == 2
    assert (x == x) is True
    assert (x == jg.vector("y", 3)) is False


# ----------------------------------------------------------------------------- immutability


def test_nodes_immutable():
    x = jg.vector("x", 3)
    y = jg.sin(x)
    for node in (x, y, jg.const(1.0)):
        with pytest.raises(AttributeError):
            node.shape = (4,)
        with pytest.raises(AttributeError):
            node.new_attribute = 1
        with pytest.raises(AttributeError):
            del node.dtype
    assert y.shape == (3,)
    c = jg.const(np.array([1.0, 2.0]))
    with pytest.raises(ValueError):
        c.params[0][1].array[0] = 5.0


def test_const_copies_its_value():
    a = np.array([1.0, 2.0])
    c = jg.const(a)
    a[0] = 100.0
    x = jg.vector("x", 2)
    np.testing.assert_array_equal(jg.evaluate(x + c, {x: np.zeros(2)}), [1.0, 2.0])


def test_repr_short():
    x = jg.vector("x", 3)
    assert repr(x) == "<Node var 'x' (3,) float64>"
    assert repr(jg.scalar("s", dtype="float32")) == "<Node var 's' () float32>"
    assert repr(jg.matrix("A", 2, 3) @ x) == "<Node reshape (2,) float64>"
    assert repr(jg.sin(x) + x) == "<Node add (3,) float64>"
    y = x
    for _ in range(200):
        y = jg.sin(y) * x
    assert len(repr(y)) < 60


def test_attributes():
    A = jg.var("A", (2, 3, 4), "float32")
    assert (A.shape, A.dtype, A.ndim, A.size) == ((2, 3, 4), np.dtype("float32"), 3, 24)
    s = jg.scalar("s")
    assert (s.shape, s.ndim, s.size) == ((), 0, 1)
    e = jg.var("e", (3, 0))
    assert (e.ndim, e.size) == (2, 0)
    y = jg.sum(A, axis=1)
    assert (y.shape, y.ndim, y.size, y.dtype) == ((2, 4), 2, 8, np.float32)
    assert (A > 0).dtype == np.bool_
    assert len(A) == 2
    with pytest.raises(TypeError):
        len(s)


def test_var_validation():
    with pytest.raises(TypeError):
        jg.var("x", (3,), "int64")
    with pytest.raises(TypeError):
        jg.var("x", (3,), "bool")
    with pytest.raises(TypeError):
        jg.var("", (3,))
    with pytest.raises(TypeError):
        jg.var(3, (3,))
    with pytest.raises(ValueError):
        jg.var("x", (-1,))
    with pytest.raises(TypeError):
        jg.var("x", (2.0,))


# ----------------------------------------------------------------------------- dtypes


def test_float32_with_python_float_stays_float32():
    x = jg.vector("x", 3, dtype="float32")
    for y in (x + 1.5, 2.0 * x, x / 3.0, x**2.5, 1.0 - x, jg.maximum(x, 0.1)):
        assert y.dtype == np.float32
    assert jg.where(x > 0.5, x, 0.0).dtype == np.float32
    assert jg.mean(x).dtype == np.float32


def test_float32_with_float64_promotes():
    x = jg.vector("x", 3, dtype="float32")
    y = jg.vector("y", 3)
    assert (x + y).dtype == np.float64
    assert (y * x).dtype == np.float64
    assert jg.where(x > y, x, y).dtype == np.float64
    assert (x @ y).dtype == np.float64
    assert jg.concatenate([x, y]).dtype == np.float64
    assert (x + np.array([1.0, 2.0, 3.0])).dtype == np.float64
    assert (x + np.array([1.0, 2.0, 3.0], dtype=np.float32)).dtype == np.float32


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shapes", [((), ()), ((3,), (3,)), ((2, 3), (2, 3)), ((2, 3), ())])
def test_elementwise_shape_rule_matches_numpy(shapes, dtype):
    """Every elementwise op's shape rule (which has a fast path for operands of
    one shape and dtype) gives NumPy's result shape and dtype."""
    from jitgrad.ops.core import OPS

    xs = [jg.var(f"sx{k}", s, dtype) for k, s in enumerate(shapes)]
    arrays = [np.full(s, 0.5, dtype) for s in shapes]
    checked = 0
    for op in OPS.values():
        if op.kind != "elementwise" or op.name in ("where", "cast"):
            continue
        arity = op.sympy.__code__.co_argcount - 1  # sympy(sp, *operands)
        if arity == 1 and shapes[0] != shapes[1]:
            continue
        with np.errstate(all="ignore"):
            want = np.asarray(op.impl(*arrays[:arity]))
        shape, dt = op.shape(tuple(xs[:arity]))
        assert (shape, dt) == (want.shape, want.dtype), op.name
        checked += 1
    assert checked >= (30 if shapes[0] == shapes[1] else 10)


def test_arithmetic_on_bool_raises():
    x = jg.vector("x", 3)
    c = x > 0
    with pytest.raises(TypeError):
        c + 1.0
    with pytest.raises(TypeError):
        x * c
    with pytest.raises(TypeError):
        _ = -c
    with pytest.raises(TypeError):
        jg.sin(c)
    with pytest.raises(TypeError):
        jg.sum(c)


def test_where_needs_bool_condition():
    x = jg.vector("x", 3)
    with pytest.raises(TypeError, match="where"):
        jg.where(x, 1.0, 0.0)
    with pytest.raises(TypeError):
        jg.where(np.array([1.0, 0.0, 1.0]), x, 0.0)


def test_bool_concatenate_stays_bool():
    x = jg.vector("x", 3)
    c = jg.concatenate([x > 0, x < 1])
    assert c.dtype == np.bool_
    assert jg.stack([x > 0, x < 1]).dtype == np.bool_
    got = jg.evaluate(jg.where(c, 1.0, 0.0), {x: np.array([-1.0, 0.5, 2.0])})
    np.testing.assert_array_equal(got, [0, 1, 1, 1, 1, 0])


def test_cast_validation():
    x = jg.vector("x", 3)
    with pytest.raises(TypeError):
        jg.cast(x, "int32")
    assert jg.cast(x, "float64") is x
    assert jg.const(np.float32(1.5)).dtype == np.float32
    assert jg.const(1).dtype == np.float64
    with pytest.raises(TypeError):
        jg.const(1 + 2j)


# ----------------------------------------------------------------------------- shape errors


def _shape_error(fn, *shapes, name):
    with pytest.raises(ValueError) as e:
        fn()
    msg = str(e.value)
    assert name in msg, msg
    for s in shapes:
        assert str(tuple(s)) in msg, msg


def test_broadcast_error_names_op_and_shapes():
    x, y = jg.vector("x", 3), jg.vector("y", 4)
    _shape_error(lambda: x + y, (3,), (4,), name="add")
    _shape_error(lambda: x * y, (3,), (4,), name="multiply")
    _shape_error(lambda: jg.maximum(x, y), (3,), (4,), name="maximum")
    _shape_error(lambda: x < y, (3,), (4,), name="less")
    A = jg.matrix("A", 2, 3)
    _shape_error(lambda: A - jg.matrix("B", 3, 2), (2, 3), (3, 2), name="subtract")
    _shape_error(lambda: jg.where(x > 0, x, y), (3,), (4,), name="where")


def test_matmul_errors_name_shapes():
    A, B = jg.matrix("A", 2, 3), jg.matrix("B", 4, 5)
    _shape_error(lambda: A @ B, (2, 3), (4, 5), name="matmul")
    a, b = jg.vector("a", 3), jg.vector("b", 4)
    _shape_error(lambda: a @ b, (3,), (4,), name="matmul")
    _shape_error(lambda: A @ b, (2, 3), (4,), name="matmul")
    _shape_error(lambda: b @ A, (4,), (2, 3), name="matmul")
    P, Q = jg.var("P", (2, 3, 4)), jg.var("Q", (5, 4, 2))
    _shape_error(lambda: P @ Q, (2, 3, 4), (5, 4, 2), name="matmul")
    with pytest.raises(ValueError, match="matmul"):
        jg.scalar("s") @ A
    _shape_error(lambda: jg.dot(A, b), (2, 3), (4,), name="matmul")
    _shape_error(lambda: jg.dot(P, jg.var("R", (3, 2))), (2, 3, 4), (3, 2), name="dot")


@pytest.mark.parametrize("axes", [(0, 1), (2,), (0, 0)], ids=["too_many", "out_of_range", "twice"])
def test_reduction_records_check_their_axes(axes):
    """The op record itself (what rewrites build through) refuses axes that do not
    fit, so a rule's wrong replacement is an error, not a silently wrong node."""
    from jitgrad.ops.core import OPS, make

    with pytest.raises(ValueError, match=r"sum: axes .* shape \(3,\)"):
        make(OPS["sum"], (jg.vector("x", 3),), axes=axes)


def test_reshape_errors():
    x = jg.vector("x", 6)
    _shape_error(lambda: jg.reshape(x, (4,)), (6,), (4,), name="reshape")
    _shape_error(lambda: x.reshape(4, -1), name="reshape")
    with pytest.raises(ValueError):
        x.reshape(-1, -1)


def test_concatenate_and_stack_errors():
    a, b = jg.matrix("a", 2, 3), jg.matrix("b", 2, 4)
    _shape_error(lambda: jg.concatenate([a, b], axis=0), (2, 3), (2, 4), name="concatenate")
    _shape_error(lambda: jg.concatenate([a, jg.vector("v", 3)]), (2, 3), (3,), name="concatenate")
    _shape_error(lambda: jg.stack([a, b]), (2, 3), (2, 4), name="stack")
    with pytest.raises(ValueError):
        jg.concatenate([])
    with pytest.raises(ValueError):
        jg.concatenate([jg.scalar("s"), jg.scalar("t")])
    assert jg.concatenate([a, b], axis=1).shape == (2, 7)


def test_broadcast_to_error():
    x = jg.vector("x", 3)
    _shape_error(lambda: jg.broadcast_to(x, (4,)), (3,), (4,), name="broadcast_to")
    _shape_error(
        lambda: jg.broadcast_to(jg.matrix("A", 2, 3), (3,)), (2, 3), (3,), name="broadcast_to"
    )


def test_invalid_axis():
    A = jg.matrix("A", 2, 3)
    for fn in (jg.sum, jg.prod, jg.max, jg.min, jg.mean, jg.logsumexp):
        with pytest.raises(ValueError, match="axis"):
            fn(A, axis=2)
        with pytest.raises(ValueError, match="axis"):
            fn(A, axis=-3)
        with pytest.raises(ValueError):
            fn(A, axis=(0, 0))
        with pytest.raises(TypeError):
            fn(A, axis=1.0)
    with pytest.raises(ValueError):
        jg.concatenate([A, A], axis=2)
    with pytest.raises(ValueError):
        jg.stack([A, A], axis=3)
    with pytest.raises(ValueError):
        jg.transpose(A, (0, 0))
    with pytest.raises(ValueError):
        jg.transpose(A, (0, 1, 2))
    with pytest.raises(ValueError):
        jg.take(A, [0], axis=2)


# ----------------------------------------------------------------------------- indexing errors


def test_index_out_of_range_at_build_time():
    x, A = jg.vector("x", 3), jg.matrix("A", 2, 3)
    for key in (3, -4, (0, 0), (slice(None), 3), (0, -4), (0, 1, 2)):
        target = x if key in (3, -4) or key == (0, 0) else A
        with pytest.raises(IndexError):
            target[key]
    with pytest.raises(IndexError):
        A[0, 0, 0]
    with pytest.raises(IndexError):
        jg.scalar("s")[0]
    with pytest.raises(IndexError):
        x[..., ...]


def test_take_out_of_range_at_build_time():
    x, A = jg.vector("x", 3), jg.matrix("A", 2, 3)
    with pytest.raises(IndexError):
        jg.take(x, [0, 3])
    with pytest.raises(IndexError):
        jg.take(x, [-4])
    with pytest.raises(IndexError):
        jg.take(A, [2], axis=0)
    with pytest.raises(IndexError):
        x[[0, 5]]
    with pytest.raises(IndexError):
        A[:, [-4, 0]]
    with pytest.raises(TypeError):
        jg.take(x, [0.5])


def test_boolean_mask_index_is_type_error():
    x = jg.vector("x", 3)
    with pytest.raises(TypeError):
        x[np.array([True, False, True])]
    with pytest.raises(TypeError):
        x[[True, False, True]]
    with pytest.raises(TypeError):
        x[x > 0]
    with pytest.raises(TypeError):
        x[1.0]
    with pytest.raises(TypeError):
        x[True]


def test_bool_of_node_raises():
    x = jg.scalar("x")
    with pytest.raises(TypeError):
        bool(x)
    with pytest.raises(TypeError):
        bool(x > 0)
    with pytest.raises(TypeError):
        if x < 1.0:
            pass
    with pytest.raises(TypeError):
        _ = 0.0 < x < 1.0  # chained: needs bool(0.0 < x)


def test_nodes_not_picklable_or_numpy_arrays():
    import pickle

    x = jg.vector("x", 3)
    with pytest.raises(TypeError):
        pickle.dumps(x)
    # NumPy defers to the node's operators instead of making an object array.
    y = np.full(3, 2.0) * x
    assert isinstance(y, jg.Node) and y.op.name == "multiply"
    assert isinstance(np.ones(3) + x, jg.Node)
    assert isinstance(np.ones((2, 3)) @ x, jg.Node)


# ----------------------------------------------------------------------------- build-time folds


def test_identity_folds():
    x = jg.vector("x", 3)
    assert x + 0 is x
    assert 0.0 + x is x
    assert x - 0.0 is x
    assert x * 1 is x
    assert 1.0 * x is x
    assert x / 1.0 is x
    assert x**1 is x
    neg = -x
    assert -neg is x
    assert jg.negative(jg.negative(x)) is x
    assert +x is x
    assert x.reshape(3) is x
    assert jg.transpose(x) is x
    assert x[:] is x
    assert x[...] is x
    assert jg.broadcast_to(x, (3,)) is x
    assert jg.concatenate([x]) is x
    A = jg.matrix("A", 2, 3)
    assert A.T.T is A
    assert jg.sum(jg.scalar("s")) is jg.scalar("s")


def test_fold_keeps_shape_and_dtype():
    x = jg.vector("x", 3)
    y = x + np.zeros((2, 3))
    assert y.shape == (2, 3) and y.dtype == np.float64
    np.testing.assert_array_equal(
        jg.evaluate(y, {x: np.arange(3.0)}), np.tile(np.arange(3.0), (2, 1))
    )
    x32 = jg.vector("x32", 3, dtype="float32")
    y = x32 * np.ones(3)  # float64 ones: the product is float64 even when the multiply folds
    assert y.dtype == np.float64
    np.testing.assert_array_equal(jg.evaluate(y, {x32: np.arange(3.0)}), np.arange(3.0))


def test_other_folds():
    x = jg.vector("x", 3)
    assert x**2 is jg.square(x)
    assert x**0.5 is jg.sqrt(x)
    z = x * 0.0
    assert jg.count_ops(z) <= 1 and z.shape == (3,)
    np.testing.assert_array_equal(jg.evaluate(z, {x: np.ones(3)}), np.zeros(3))
    assert x * -1.0 is -x
    assert jg.where(jg.const(True), x, 2.0 * x) is x
    # index_put at an index that moves no element (new axes, whole slices) is a
    # reshape: the adjoint of A[:, None, :] has no zero fill (and fuses in kernels).
    from jitgrad.graph import toposort
    from jitgrad.ops import structure

    A = jg.matrix("A", 2, 3)
    g = jg.var("g", (2, 1, 3))
    full = (("s", 0, 2, 1), ("n",), ("s", 0, 3, 1))
    put = structure.index_put(g, full, (2, 3))
    assert put.op.name == "reshape" and put.shape == (2, 3)
    gv = np.arange(6.0).reshape(2, 1, 3)
    want = np.zeros((2, 3))
    want[:, None, :] = gv
    np.testing.assert_array_equal(jg.evaluate(put, {g: gv}), want)
    assert structure.index_put(g, full[:2], (2, 3)).op.name == "reshape"  # trailing axis implied
    part = structure.index_put(jg.var("h", (1, 1, 3)), (("s", 1, 2, 1),) + full[1:], (2, 3))
    assert part.op.name == "index_put"  # a partial slice still fills zeros
    dA = jg.grad(jg.sum(jg.sin(A[:, None, :] * 2.0)), A)
    assert all(n.op.name != "index_put" for n in toposort([dA]))
    Av = np.arange(6.0).reshape(2, 3) / 7
    np.testing.assert_allclose(jg.evaluate(dA, {A: Av}), 2.0 * np.cos(2.0 * Av), rtol=1e-15)
    # Constant subgraphs fold to a single constant.
    c = jg.exp(jg.const([0.0, 1.0])) + 1.0
    assert c.op.name == "const"
    np.testing.assert_array_equal(jg.evaluate(c, {}), np.exp([0.0, 1.0]) + 1.0)


# ----------------------------------------------------------------------------- walks


def _toposort_reference(outputs):
    """Depth-first post-order, inputs in order, each node once (the definition)."""
    order, done = [], set()

    def visit(node):  # recursive: small graphs only
        if id(node) in done:
            return
        for i in node.inputs:
            visit(i)
        done.add(id(node))
        order.append(node)

    for o in outputs:
        visit(o)
    return order


def test_toposort_is_the_depth_first_post_order():
    """toposort (iterative) gives exactly the depth-first post-order: rewrite
    passes process nodes in this order, so their results depend on it."""
    from jitgrad.graph import toposort

    rng = np.random.default_rng(3)
    a, b, c = jg.scalars("ta tb tc")
    pool = [a, b, c, jg.const(2.0)]
    for _ in range(300):
        x, y = pool[rng.integers(len(pool))], pool[-1 - rng.integers(min(len(pool), 8))]
        pool.append([jg.add, jg.multiply, jg.maximum][rng.integers(3)](x, y))
        if rng.random() < 0.2:
            pool.append(jg.sin(pool[-1]))
    outs = [pool[-1], pool[-7], a, pool[150], pool[-1]]
    got = toposort(outs)
    assert got == _toposort_reference(outs)
    assert len({id(n) for n in got}) == len(got)
    x = jg.scalar("tx")
    assert toposort([x]) == [x] and toposort([]) == []


def test_gc_paused_restores_the_collector():
    import gc

    from jitgrad.graph import gc_paused

    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left as it was
    finally:
        gc.enable()


# ----------------------------------------------------------------------------- count_ops


def test_count_ops():
    x, y = jg.vector("x", 3), jg.vector("y", 3)
    assert jg.count_ops(x) == 0
    assert jg.count_ops(jg.const([1.0, 2.0])) == 0
    assert jg.count_ops([x, y, jg.const(1.0)]) == 0
    s = jg.sin(x)
    assert jg.count_ops(s) == 1
    assert jg.count_ops(s * s + s) == 3
    assert jg.count_ops(s + x * 2.0) == 3
    assert jg.count_ops([s, s]) == 1
    assert jg.count_ops([s, s + 1.0]) == 2
    assert jg.count_ops([s * y, jg.cos(x) * y, s * y]) == 4
    assert jg.count_ops((s, x)) == 1
    with pytest.raises(TypeError):
        jg.count_ops([s, 1.0])

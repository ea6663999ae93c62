"""The op table covers every op, and every case is well formed."""

import inspect

import numpy as np
import pytest
from optable import CASES_BY_NAME, OP_CASES

import jitgrad as jg
from jitgrad.graph import toposort
from jitgrad.ops import OPS

LEAVES = {"var", "const"}

API_FUNCTIONS = (
    "exp log log1p expm1 sqrt sin cos tan arcsin arccos arctan tanh sinh cosh "
    "sigmoid abs sign maximum minimum where power square "
    "sum prod max min mean dot matmul transpose reshape concatenate stack logsumexp softplus "
    "var scalar vector matrix scalars const evaluate pretty count_ops"
).split()


def test_every_op_has_a_case():
    covered = {op for case in OP_CASES for op in case.ops}
    missing = sorted(set(OPS) - LEAVES - covered)
    assert not missing, f"ops without an OpCase: {missing}"


def test_cases_name_only_registered_ops():
    unknown = {op for case in OP_CASES for op in case.ops} - set(OPS)
    assert not unknown


def test_case_names_unique():
    assert len(CASES_BY_NAME) == len(OP_CASES)


@pytest.mark.parametrize("name", API_FUNCTIONS)
def test_api_function_exists(name):
    assert callable(getattr(jg, name, None)), f"jitgrad.{name} is missing"


@pytest.mark.parametrize("case", OP_CASES, ids=str)
def test_case_is_well_formed(case, rng):
    vs = case.vars()
    assert len(inspect.signature(case.build).parameters) >= len(case.shapes)
    node = case.build(*vs)
    assert isinstance(node, jg.Node)
    # The case really exercises the ops it claims (no build-time fold removed them).
    present = {n.op.name for n in toposort([node])}
    assert set(case.ops) <= present, f"{case.name}: {set(case.ops) - present} folded away"
    # Every input is used, so derivative tests see a dependence on each.
    used = {n for n in toposort([node]) if n.op.name == "var"}
    assert used == set(vs)
    xs = case.sample(rng)
    assert [x.shape for x in xs] == [tuple(s) for s in case.shapes]
    assert [x.dtype for x in xs] == [np.dtype(d) for d in case.dtypes()]
    for x, (lo, hi) in zip(xs, case.domains()):
        # Lattice snapping may move a sample by up to one lattice step (0.5).
        assert np.all(x >= lo - 0.5) and np.all(x <= hi + 0.5)
        assert np.all(np.isfinite(x))


def test_float32_cases_present():
    f32 = [c for c in OP_CASES if c.build(*c.vars()).dtype == np.float32]
    assert len(f32) >= 10
    # A float64 tolerance on a float32 result would make later tests flaky.
    assert all(c.rtol >= 1e-7 for c in f32)


def test_shape_variants_present():
    shapes = [s for c in OP_CASES for s in c.shapes]
    assert () in shapes
    assert any(0 in s for s in shapes)
    assert any(1 in s for s in shapes)

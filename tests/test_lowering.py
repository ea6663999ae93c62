"""The lowering table: every op has an entry, entries are complete for their loop
kind, and the code generator and the printers look ops up instead of testing
their names."""

import ast
import os
import re

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.codegen.lowering import ACC, ARRAY, LEAF, LOWERING, MAP, Lowering, loop_kind
from jitgrad.codegen.scalar_block import FAST
from jitgrad.ops.core import OPS, OpDef

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, "jitgrad")


def test_every_op_has_a_lowering_entry():
    missing = [name for name, op in OPS.items() if op not in LOWERING]
    assert missing == []
    assert set(LOWERING) == set(OPS.values())


@pytest.mark.parametrize("name", sorted(OPS))
def test_an_entry_holds_what_its_loop_kind_needs(name):
    op = OPS[name]
    low = LOWERING[op]
    kinds = {low.loop} if isinstance(low.loop, str) else {MAP, ARRAY}
    if not op.is_op:
        assert kinds == {LEAF}
        return
    if MAP in kinds and op.kind != "elementwise":
        assert low.index is not None, "a structural map needs its index map"
    if op.kind == "elementwise":
        assert kinds == {MAP} and low.index is None and op.emit is not None
    if ACC in kinds:
        assert low.index and low.init and low.combine
    if ARRAY in kinds or low.blas_view is not None:
        assert low.array is not None
    if low.llvm is not None:
        assert low.llvm in FAST and op.kind == "elementwise"
    if low.parallel_reduce or low.inline_small:
        assert ACC in kinds and low.reduction
    if low.additive or low.scatter:
        assert ACC in kinds


def test_an_op_without_an_entry_is_refused_by_name():
    op = OpDef(
        "mystery_op", "elementwise", shape=lambda inputs: (inputs[0].shape, np.dtype("float64"))
    )
    x = jg.vector("x", 2)
    from jitgrad.ops.core import make

    node = make(op, (x,))
    with pytest.raises(NotImplementedError, match="op 'mystery_op' has no lowering"):
        loop_kind(node)
    with pytest.raises(NotImplementedError, match="mystery_op"):
        jg.compile([x], [node], cache=False)


def test_lowering_is_registered_once_per_op():
    from jitgrad.codegen.lowering import lowering

    with pytest.raises(ValueError, match="'sum' already has a lowering"):
        lowering("sum", Lowering(ACC))


# A comparison of an op's name, or the name kept in a variable to compare later.
_NAME_TEST = re.compile(
    r"\bop\.name\s*(==|!=|\bin\b|\bnot\s+in\b)|^\s*(name|kind)\s*=\s*[\w.]*\bop\.name\s*$"
)


def _sources():
    for sub in ("codegen",):
        d = os.path.join(PKG, sub)
        for f in sorted(os.listdir(d)):
            if f.endswith(".py"):
                yield os.path.join(d, f)
    yield os.path.join(PKG, "printing.py")


def test_the_code_generator_and_the_printers_do_not_test_op_names():
    found = []
    for path in _sources():
        for k, line in enumerate(open(path, encoding="utf-8"), 1):
            if _NAME_TEST.search(line.split("#")[0]):
                found.append(f"{os.path.relpath(path, ROOT)}:{k}: {line.strip()}")
    assert found == []


def test_the_name_test_finds_what_it_looks_for():
    # The check above is only as good as its pattern.
    for line in ('if n.op.name == "sum":', 'x.op.name in ("a", "b")', "    name = node.op.name"):
        assert _NAME_TEST.search(line), line
    for line in ('h.update(f"{n.op.name}")', 'raise ValueError(f"op {op.name!r}")'):
        assert not _NAME_TEST.search(line), line


def _imports(top_level_only=False):
    """Every import between jitgrad's modules: {module: {imported module}}; at any
    depth of a module (function-level imports too), or at its top level only."""
    mods = {}
    for dp, _dn, fn in os.walk(PKG):
        for f in fn:
            if f.endswith(".py"):
                p = os.path.join(dp, f)
                name = os.path.relpath(p, ROOT)[:-3].replace(os.sep, ".")
                mods[name.removesuffix(".__init__")] = p
    edges = {m: set() for m in mods}
    for m, p in mods.items():
        base = m.split(".") if p.endswith("__init__.py") else m.split(".")[:-1]
        tree = ast.parse(open(p, encoding="utf-8").read())
        for n in tree.body if top_level_only else ast.walk(tree):
            if isinstance(n, ast.Import):
                targets = [a.name for a in n.names]
            elif isinstance(n, ast.ImportFrom):
                pre = base[: len(base) - (n.level - 1)] if n.level else []
                target = ".".join(pre + ([n.module] if n.module else []))
                subs = [f"{target}.{a.name}" for a in n.names if f"{target}.{a.name}" in mods]
                targets = subs if subs and len(subs) == len(n.names) else [target, *subs]
            else:
                continue
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != m:
                    edges[m].add(t)
    return edges


def _cycles(edges):
    """The strongly connected components of more than one module."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_import_walk_finds_a_cycle_when_there_is_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    edges = _imports()
    assert "jitgrad.codegen.lowering" in edges["jitgrad.codegen.lower"]
    assert "jitgrad.graph" in edges["jitgrad.printing"]


def test_the_code_generator_has_no_import_cycle():
    edges = _imports()
    codegen = {m: {e for e in es if e.startswith("jitgrad.codegen")} for m, es in edges.items()}
    codegen = {m: es for m, es in codegen.items() if m.startswith("jitgrad.codegen")}
    assert _cycles(codegen) == []


def test_no_import_cycle_in_the_package():
    # At any depth: the op families reach one another's functions through the
    # registry jitgrad.ops.core.FN, and str(node) the printer through
    # graph.TEXT_PRINTER, both filled in when the modules are imported.
    assert _cycles(_imports()) == []
    assert _cycles(_imports(top_level_only=True)) == []


def test_the_registries_that_replace_imports_are_filled():
    import jitgrad as jg
    from jitgrad import graph, printing
    from jitgrad.ops.core import FN, provide

    assert graph.TEXT_PRINTER[0] is printing.pretty
    assert str(jg.sin(jg.vector("x_reg", 2))) == "sin(x_reg)"
    for name in ("cast", "zeros", "broadcast_to", "reshape", "sum"):
        assert callable(getattr(FN, name)), name
    with pytest.raises(AttributeError, match="no op function 'nope' is registered"):
        FN.nope  # noqa: B018
    with pytest.raises(ValueError, match="registered twice"):
        provide(cast=lambda x, d: x)

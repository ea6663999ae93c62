"""Emit plain Python source (compiled by Numba) from a :class:`Schedule`.

The module has three functions:

``inner(in..., out...)``  computes every output into caller-owned buffers;
                           0-d inputs are floats, 0-d outputs are 1-element arrays;
``entry(in...)``           allocates the outputs, calls ``inner``, returns them;
``batch(in..., out...)``   a ``prange`` over a leading batch axis calling ``inner``.

Every statement names the graph node it computes, so a person can follow it.
Each function's text is read once into the loop IR (:mod:`.ir`), whose passes
remove dead values and one-iteration loops and fold identities; the module is
printed from the IR, and :mod:`.loopjit` compiles the IR's syntax tree.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import keyword
import re

import numpy as np

from ..graph import Node
from ..ops.core import CONST, VAR
from . import ir as IR
from .helpers import PREAMBLE_HELPERS
from .lower import Schedule, schedule
from .lowering import ACC, ARRAY, LEAF, LOWERING, MAP, VIEW, fast_op, project, shift
from .mathlib import EMIT as MATH
from .scalar_block import FAST

_RESERVED = re.compile(r"(t|s|c|i|p|acc|out|in)\d+|[rcqb]")
SMALL_MATMUL = 4096
GLOBAL_CONST_BYTES = 1 << 14  # larger array constants stop Numba from caching a function
BLOCK_MIN = 48  # scalar runs at least this long become one scalar_block
_BLOCK_DTYPES = (np.dtype("float64"), np.dtype("float32"), np.dtype("bool"))
PARALLEL_MIN = 4096  # outer loop length from which parallel=True uses prange  # m*n*k at or below which matmul is written as plain loops

PREAMBLE_HEAD = """\
import numpy as np
import numba as nb
from numba import prange

from jitgrad.codegen.consts import module_consts as _module_consts
from jitgrad.codegen.errors import InputShapeError
from jitgrad.codegen.nbmath import {mathlib}

_CONSTS = _module_consts(globals())

_OPTS = dict(cache={cache}, error_model="numpy", fastmath={fastmath})
""".replace("{mathlib}", ", ".join(f"jg_{name}" for name in sorted(MATH)))

PREAMBLE = PREAMBLE_HEAD + PREAMBLE_HELPERS


def _literal(value, dtype) -> str:
    if dtype == np.bool_ or isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    f = float(value)
    if np.isnan(f):
        text = "np.nan"
    elif np.isinf(f):
        text = "np.inf" if f > 0 else "-np.inf"
    else:
        text = repr(f)
    if np.dtype(dtype) == np.float32:
        return f"np.float32({text})"
    return text if not text.startswith("-") else f"({text})"


def _dtype_expr(dtype) -> str:
    return "np.bool_" if np.dtype(dtype) == np.bool_ else f"np.{np.dtype(dtype).name}"


def _label(node: Node) -> str:
    """A short description of a node for comments."""
    from ..printing import _format

    args = []
    for i in node.inputs:
        if i.op is VAR:
            args.append((i.p["name"], 6))
        elif i.op is CONST and i.ndim == 0:
            args.append((repr(i.params[0][1].array.item()), 6))
        else:
            args.append((f"<{i.op.name}>", 6))
    try:
        text = _format(node, args)[0]
    except Exception:  # pragma: no cover - comments must never break codegen
        text = node.op.name
    return text if len(text) < 70 else text[:67] + "..."


class _NoTrace(Exception):
    pass


class Emitter:
    def __init__(self, inputs, outputs, *, cache=True, fastmath=False, parallel=False):
        self.parallel = parallel
        self.used_prange = False
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.sched: Schedule = schedule(self.outputs)
        self.cache = cache
        self.fastmath = fastmath
        self.lines: list[str] = []
        self.names: dict[int, str] = {}  # id -> name of the array or scalar holding the value
        self.consts: dict[str, np.ndarray] = {}  # name -> array, for every emission
        self.const_keys: dict[tuple, str] = {}  # (dtype, shape, bytes) -> name
        self.const_ids: dict[int, str] = {}  # id of a const node -> name
        self.blocks: dict[str, str] = {}  # definition -> name of a scalar block
        self.counter = 0
        self._name_inputs()
        self.nested, self.nested_into = self._nest_groups()

    # ------------------------------------------------------------------ names
    def _name_inputs(self):
        used = set()
        self.arg_names = []
        for k, v in enumerate(self.inputs):
            name = v.p["name"]
            ok = (
                name.isidentifier()
                and not keyword.iskeyword(name)
                and name
                not in {
                    "np",
                    "nb",
                    "prange",
                    "inner",
                    "inner_w",
                    "entry",
                    "batch",
                    "abs",
                    "max",
                    "min",
                }
                and not name.startswith("_")
                and not _RESERVED.fullmatch(name)
                and name not in used
            )
            name = name if ok else f"in{k}"
            used.add(name)
            self.arg_names.append(name)
            self.names.setdefault(id(v), name)
        self.out_names = [f"out{j}" for j in range(len(self.outputs))]

    def fresh(self, prefix):
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const_name(self, node: Node) -> str:
        name = self.const_ids.get(id(node))  # the graph keeps its nodes alive
        if name is None:
            name = self.const_ids[id(node)] = self.index_const(node.params[0][1].array)
        return name

    def index_const(self, array) -> str:
        """The name of the module-level constant holding ``array``.

        One table for the whole module, kept across :meth:`emit` calls: ``inner``
        and ``entry`` are emitted from the same schedule but number their
        temporaries apart, so a constant named by the per-emission counter could
        take a name the other emission gave to another array, and one of the two
        functions would read the wrong constant (the ahead-of-time library calls
        ``inner``, Numba's dispatcher ``entry``). Equal arrays share one name.
        """
        a = np.ascontiguousarray(array)
        key = (a.dtype.str, a.shape, a.tobytes())
        name = self.const_keys.get(key)
        if name is None:
            name = f"c{len(self.consts)}"
            self.consts[name] = a
            self.const_keys[key] = name
        return name

    # ------------------------------------------------------------------ reads
    def scalar_of(self, node: Node) -> str:
        """Expression of a 0-d value."""
        if node.op is CONST:
            return _literal(node.params[0][1].array.item(), node.dtype)
        return self.names[id(node)]

    def read(self, inp: Node, index: list, local: dict) -> str:
        """Expression of ``inp`` at ``index`` (strings, one per axis of inp)."""
        if id(inp) in local:
            return local[id(inp)]
        if self.sched.cls[id(inp)] == VIEW:
            # Never stored: recomputed from its inputs at this index.
            if LOWERING[inp.op].inline_small:
                return self.inline_sum(inp, index, local)
            return self.map_expr(inp, index, local)
        if inp.ndim == 0:
            return self.scalar_of(inp)
        if inp.op is CONST:
            u = inp.params[0][1].uniform
            if u is not None:
                return _literal(u, inp.dtype)
            diag = self.diagonal_const(inp)
            if diag is not None:
                # split at the diagonal by the loop IR's pass (ir.split_diagonal)
                on, off = (_literal(v, inp.dtype) for v in diag)
                return f"({on} if {index[0]} == {index[1]} else {off})"
            return f"{self.const_name(inp)}[{', '.join(index)}]"
        return f"{self.names[id(inp)]}[{', '.join(index)}]"

    def inline_sum(self, n: Node, index: list, local: dict) -> str:
        """A sum over a few elements, its terms written out at output ``index``."""
        x = n.inputs[0]
        axes = n.p["axes"]
        terms = []
        for ks in np.ndindex(*[x.shape[a] for a in axes]):
            J, q, r = [], 0, 0
            for a in range(x.ndim):
                if a in axes:
                    J.append(str(ks[r]))
                    r += 1
                else:
                    J.append(index[q])
                    q += 1
            terms.append(self.read(x, J, local))
        expr = f"({' + '.join(terms)})"
        return f"np.float32{expr}" if n.dtype == np.float32 and len(terms) > 1 else expr

    def diagonal_const(self, node: Node):
        """``(on, off)`` for a square 2-d constant that holds ``on`` on its diagonal
        and ``off`` elsewhere (an identity mask): read as a select, not from memory."""
        cache = self.__dict__.setdefault("_diag", {})
        if id(node) not in cache:
            a = node.params[0][1].array
            found = None
            if a.ndim == 2 and a.shape[0] == a.shape[1] >= 2 and a.dtype.kind == "f":
                on, off = a[0, 0], a[0, 1]
                mask = np.eye(a.shape[0], dtype=bool)
                # Equal as values and in the sign of zero (nan never matches).
                if bool(np.all((a[mask] == on) & (np.signbit(a[mask]) == np.signbit(on)))) and bool(
                    np.all((a[~mask] == off) & (np.signbit(a[~mask]) == np.signbit(off)))
                ):
                    found = (on.item(), off.item())
            cache[id(node)] = found
        return cache[id(node)]

    # ------------------------------------------------------------------ index maps
    project = staticmethod(project)

    def map_index(self, node: Node, I: list) -> list:
        """For a map node at index I: the index at which it reads its (first) input."""
        return LOWERING[node.op].index(self, node, I)

    def acc_index(self, node: Node, I: list) -> list:
        """For an accumulate node at input index I: the output index it updates."""
        return LOWERING[node.op].index(self, node, I)

    def gather_index(self, idx, axis: int, I: list) -> list:
        """Index of the gathered axis ``axis`` through the constant index array ``idx``."""
        k = idx.ndim
        if k == 0:
            mid = [str(int(idx))]
        else:
            mid = [f"{self.index_const(idx)}[{', '.join(I[axis : axis + k])}]"]
        return I[:axis] + mid + I[axis + k :]

    # ------------------------------------------------------------------ emission
    def set_scalar_out(self, target: str, value: str) -> str:
        """Statement storing a 0-d output: a 1-element buffer in ``inner``, a local in ``entry``."""
        return f"{target} = {value}" if self.mode == "entry" else f"{target}[0] = {value}"

    def emit(self, mode: str = "inner") -> str:
        """The body of ``inner`` (outputs in caller-owned buffers) or of ``entry``
        (allocates array outputs, keeps scalars as locals, returns them)."""
        self.mode = mode
        self.temps = []  # inner mode: (name, shape, dtype) of each temporary array parameter
        self.block_record = None  # the last scalar block emitted (see _direct_block)
        self.lines = L = []
        self.names = {id(v): n for v, n in zip(self.inputs, self.arg_names)}
        self.counter = 0
        self.written = set()
        sched = self.sched
        if mode == "entry":
            L.append(f"def entry({', '.join(self.arg_names)}):")
            for j, o in enumerate(self.outputs):
                if o.ndim:
                    L.append(
                        f"    out{j} = np.empty({tuple(o.shape)}, dtype={_dtype_expr(o.dtype)})"
                    )
        else:
            L.append(f"def inner({', '.join(self.arg_names + self.out_names)}):")
        out_of = {}
        for j, o in enumerate(self.outputs):
            out_of.setdefault(id(o), j)
        self.out_of = out_of
        for kind, item in sched.steps:
            if kind == "array":
                self.emit_array(item)
            elif id(item) not in self.nested_into:
                self.emit_loop(item)
        # Outputs not written in place: copy (leaves, array results, repeated outputs).
        copied = False
        for j, o in enumerate(self.outputs):
            if j in self.written:
                continue
            copied = True
            self.emit_copy(o, self.out_names[j])
        if mode == "inner":
            self.direct = None if copied else self._direct_block()
        if mode == "entry":
            tail = "," if len(self.outputs) == 1 and self.tuple_out else ""
            L.append(f"    return {', '.join(self.out_names)}{tail}")
        else:
            L.append("    return")
        return "\n".join(L)

    def _direct_block(self):
        """The kernel as one block of LLVM instructions on float64 scalars, for
        :mod:`.direct` (compiled without Numba), or None: ``{"inputs": kernel
        input positions of the block's arguments, "program": [(op, operands)],
        "outputs": [(output position, value index)]}``."""
        rec = self.block_record
        steps = self.sched.steps
        if rec is None or len(steps) != 1 or self.consts:
            return None
        f64 = np.dtype("float64")
        if any(v.ndim or v.dtype != f64 for v in self.inputs):
            return None
        if any(o.ndim or o.dtype != f64 for o in self.outputs):
            return None
        pos = {id(v): q for q, v in enumerate(self.inputs)}
        if any(id(x) not in pos for x in rec["ext"]):
            return None
        for (op, operands), dt in zip(rec["program"], rec["dtypes"]):
            if op not in FAST or dt != "float64":
                return None
            if any(isinstance(x, tuple) and x[2] != "float64" for x in operands):
                return None
        value_of = {id(n): k for n, k in rec["outs"]}
        if any(id(o) not in value_of for o in self.outputs):
            return None
        return {
            "inputs": [pos[id(x)] for x in rec["ext"]],
            "program": rec["program"],
            "outputs": [(j, value_of[id(o)]) for j, o in enumerate(self.outputs)],
        }

    def out_target(self, node: Node):
        """Name of the output buffer this node may be computed in place into, or None."""
        j = self.out_of.get(id(node))
        if j is None:
            return None
        self.written.add(j)
        return self.out_names[j]

    def emit_copy(self, node: Node, out: str):
        L = self.lines
        L.append(f"    # output {out}: {_label(node) if node.op.is_op else node.op.name}")
        if node.ndim == 0:
            L.append(f"    {self.set_scalar_out(out, self.scalar_of(node))}")
            return
        I = [f"i{k}" for k in range(node.ndim)]
        ind = "    "
        for k, d in enumerate(node.shape):
            L.append(f"{ind}for {I[k]} in range({d}):")
            ind += "    "
        L.append(f"{ind}{out}[{', '.join(I)}] = {self.read(node, I, {})}")

    def alloc(self, node: Node, fill=None) -> str:
        """A buffer for ``node`` (the output buffer when it is an output)."""
        target = self.out_target(node)
        if node.ndim == 0:
            name = self.fresh("s")
            self.names[id(node)] = name
            return name
        name = target or self.fresh("t")
        self.names[id(node)] = name
        if target is None:
            self.temp(name, tuple(node.shape), node.dtype, fill)
        elif fill is not None:
            self.lines.append(f"    {name}[...] = {fill}")
        return name

    def temp(self, name: str, shape: tuple, dtype, fill=None):
        """A temporary array ``name``: allocated here in ``entry``; in ``inner`` a
        parameter of ``inner_w`` (the caller's scratch memory, so that ``inner_w``
        needs no allocator: the AOT library's caller provides it)."""
        if self.mode == "inner":
            self.temps.append((name, shape, np.dtype(dtype)))
            if fill is not None:
                self.lines.append(f"    {name}[...] = {fill}")
        elif fill is None:
            self.lines.append(f"    {name} = np.empty({shape}, dtype={_dtype_expr(dtype)})")
        else:
            self.lines.append(f"    {name} = np.full({shape}, {fill}, dtype={_dtype_expr(dtype)})")

    # ------------------------------------------------------------------ nesting
    def _nest_groups(self):
        """Loops over ``space + (k, ...)`` that read an earlier loop over ``space`` only
        at their own leading index (like the forces loop over (N, N, 3) reading a
        pair coefficient of the (N, N) loop): run inside that loop, as an inner loop
        nest, so the coefficient stays a scalar instead of an (N, N) array."""
        sched = self.sched
        loops = [g for kind, g in sched.steps if kind == "loop"]
        nested: dict[int, list] = {}
        into: set[int] = set()
        for g1 in loops:
            if g1.gathers or not g1.space:
                continue
            d1 = len(g1.space)
            members1 = {id(n) for n in g1.nodes}
            for g2 in loops:
                if (
                    id(g2) in into
                    or g2.stage != g1.stage + 1
                    or len(g2.space) <= d1
                    or g2.space[:d1] != g1.space
                    or g2.gathers
                    or any(id(n) in sched.root_of for n in g2.nodes)
                ):
                    continue
                if self._reads_prefix_only(g1, g2, members1):
                    nested.setdefault(id(g1), []).append(g2)
                    into.add(id(g2))
        # Values of an outer loop read only by its own nodes and nested loops stay scalars.
        readers: dict[int, list] = {}
        for n in sched.order:
            for i in n.inputs:
                readers.setdefault(id(i), []).append(n)
        out_ids = {id(o) for o in self.outputs}
        for g1 in loops:
            inner = {id(n) for g2 in nested.get(id(g1), ()) for n in g2.nodes}
            if not inner:
                continue
            own = {id(n) for n in g1.nodes} | inner
            for n in g1.nodes:
                if (
                    id(n) in sched.buffered
                    and sched.cls[id(n)] == MAP
                    and n.ndim
                    and id(n) not in out_ids
                    and self._read_only_by(n, own, readers)
                ):
                    sched.buffered.discard(id(n))
        return nested, into

    def _read_only_by(self, n, own: set, readers: dict) -> bool:
        for r in readers.get(id(n), ()):
            if self.sched.cls[id(r)] == VIEW:
                if not self._read_only_by(r, own, readers):
                    return False
            elif id(r) not in own:
                return False
        return True

    def _reads_prefix_only(self, g1, g2, members1: set) -> bool:
        sched = self.sched
        I = [f"i{k}" for k in range(len(g2.space))]
        prefix = I[: len(g1.space)]
        members2 = {id(n) for n in g2.nodes}
        reads: list = []
        try:
            for n in g2.nodes:
                if sched.cls[id(n)] == ACC:
                    self._trace(n.inputs[0], I, reads)
                elif n.op.kind == "elementwise":
                    for x in n.inputs:
                        self._trace(x, self.project(x.shape, n.shape, I), reads)
                else:
                    if LOWERING[n.op].gathers:
                        return False
                    self._trace(n.inputs[0], self.map_index(n, I), reads)
        except _NoTrace:
            return False
        for src, J in reads:
            c = sched.cls[id(src)]
            if id(src) in members2 or c == LEAF:
                continue
            if id(src) in members1:
                if J != prefix:
                    return False
            elif not (
                sched.stage[id(src)] < g1.stage or (c == ARRAY and sched.stage[id(src)] <= g1.stage)
            ):
                return False
        return True

    def _trace(self, node, I, reads):
        """The stored values a read of ``node`` at index ``I`` touches (through views)."""
        if self.sched.cls[id(node)] != VIEW:
            reads.append((node, list(I)))
            return
        if LOWERING[node.op].gathers:
            raise _NoTrace
        if LOWERING[node.op].inline_small:
            x = node.inputs[0]
            axes = node.p["axes"]
            for ks in np.ndindex(*[x.shape[a] for a in axes]):
                J, q, r = [], 0, 0
                for a in range(x.ndim):
                    if a in axes:
                        J.append(str(ks[r]))
                        r += 1
                    else:
                        J.append(I[q])
                        q += 1
                self._trace(x, J, reads)
            return
        if node.op.kind == "elementwise":
            for x in node.inputs:
                self._trace(x, self.project(x.shape, node.shape, I), reads)
            return
        self._trace(node.inputs[0], self.map_index(node, I), reads)

    def emit_loop(self, g):
        L = self.lines
        space = g.space
        d = len(space)
        if d == 0 and self.block_ok(g):
            self.emit_block(g)
            return
        I = [f"i{k}" for k in range(d)]
        L.append(
            f"    # loop over {space}: "
            + "; ".join(_label(n) for n in g.nodes[:3])
            + (" ..." if len(g.nodes) > 3 else "")
        )
        inner = self.nested.get(id(g), [])
        # Prologue: buffers and accumulators.
        acc_init = {}
        for sg in g.gathers:
            # Written once per element by the gather below: no zero fill.
            self.alloc(sg.root)
            for p, _s in sg.parts:
                self.names[id(p)] = self.names[id(sg.root)]
        for gg in [g, *inner]:
            self.prologue(gg, acc_init)
        if g.gathers:
            self.emit_gather_cells(g, acc_init)
        else:
            ind = "    "
            for k, dim in enumerate(space):
                rng = "prange" if k == 0 and self._parallel_ok(g) else "range"
                self.used_prange = self.used_prange or rng == "prange"
                L.append(f"{ind}for {I[k]} in {rng}({dim}):")
                ind += "    "
            body_start = len(L)
            local = self.emit_body(g, I, ind, acc_init)
            regs = _Registers(self, I, acc_init)
            for g2 in inner:
                I2 = [f"i{k}" for k in range(len(g2.space))]
                if regs.unroll(g2, I2):
                    # A short inner axis, written out: its sums that stay in one
                    # place over the innermost outer loop accumulate in locals.
                    L.append(
                        f"{ind}# inner loop over {g2.space}, unrolled: "
                        + "; ".join(_label(n) for n in g2.nodes[:3])
                        + (" ..." if len(g2.nodes) > 3 else "")
                    )
                    for c in range(g2.space[d]):
                        self.emit_body(g2, I2[:d] + [str(c)], ind, acc_init, dict(local), regs)
                    continue
                L.append(
                    f"{ind}# inner loop over {g2.space}: "
                    + "; ".join(_label(n) for n in g2.nodes[:3])
                    + (" ..." if len(g2.nodes) > 3 else "")
                )
                ind2 = ind
                for k in range(d, len(g2.space)):
                    L.append(f"{ind2}for {I2[k]} in range({g2.space[k]}):")
                    ind2 += "    "
                self.emit_body(g2, I2, ind2, acc_init, dict(local))
            if len(L) == body_start:
                L.append(f"{ind}pass")
            regs.place(body_start - 1)
        for gg in [g, *inner]:
            for n in gg.nodes:
                if id(n) in acc_init:
                    name = self.alloc(n)
                    L.append(f"    {name} = {acc_init[id(n)]}")
                    target = self.out_target(n)
                    if target:
                        L.append(f"    {self.set_scalar_out(target, name)}")

    def prologue(self, g, acc_init: dict):
        """Buffers and accumulators of loop ``g``, before its loop nest."""
        L = self.lines
        sched = self.sched
        for n in g.nodes:
            cls = sched.cls[id(n)]
            if id(n) in sched.gather_of:
                continue
            root = sched.root_of.get(id(n))
            if root is not None:
                # A scatter that adds into a shared buffer (zeroed by its first writer).
                if id(root) not in self.names:
                    self.alloc(root, fill=_literal(0.0, root.dtype))
                self.names[id(n)] = self.names[id(root)]
                continue
            if cls == ACC:
                init = LOWERING[n.op].init(n)
                if n.ndim == 0 and LOWERING[n.op].reduction:
                    a = self.fresh("acc")
                    L.append(f"    {a} = {_literal(init, n.dtype)}")
                    acc_init[id(n)] = a
                else:
                    self.alloc(n, fill=_literal(init, n.dtype))
            elif id(n) in sched.buffered and n.ndim > 0:
                self.alloc(n)

    def emit_body(self, g, I: list, ind: str, acc_init: dict, local=None, regs=None) -> dict:
        """The statements of one iteration of a fused loop at index ``I``; returns the
        locals (node id -> scalar name). Parts of slice gathers are left out."""
        L = self.lines
        sched = self.sched
        local = {} if local is None else local
        for n in g.nodes:
            cls = sched.cls[id(n)]
            if cls == MAP:
                expr = self.map_expr(n, I, local)
                s = self.fresh("s")
                L.append(f"{ind}{s} = {expr}  # {_label(n)}")
                local[id(n)] = s
                if id(n) in sched.buffered:
                    if n.ndim == 0:
                        self.names[id(n)] = s
                        target = self.out_target(n)
                        if target:
                            L.append(f"{ind}{self.set_scalar_out(target, s)}")
                    else:
                        L.append(f"{ind}{self.names[id(n)]}[{', '.join(I)}] = {s}")
            elif id(n) in sched.gather_of:
                continue
            else:
                v = self.read(n.inputs[0], I, local)
                if id(n) in acc_init:
                    a = acc_init[id(n)]
                    L.append(f"{ind}{LOWERING[n.op].combine(a, v)}  # {_label(n)}")
                else:
                    O = self.acc_index(n, I)
                    tgt = f"{self.names[id(n)]}[{', '.join(O)}]"
                    if regs is not None and regs.holds(n, O):
                        r = regs.name(tgt)
                        L.append(f"{ind}{r} += {v}  # {_label(n)}, into {tgt}")
                    elif id(n) in sched.root_of:
                        L.append(f"{ind}{tgt} += {v}  # {_label(n)}, summed")
                    else:
                        L.append(f"{ind}{LOWERING[n.op].combine(tgt, v)}  # {_label(n)}")
        return local

    def emit_gather_cells(self, g, acc_init: dict):
        """A loop whose slice scatters are written as gathers (see ``SliceGather``).

        The loop index ``i`` runs over the loop's space extended to cover every output
        element; gather ``G`` writes ``out[i + c]`` (``c`` the starts of its local part)
        and part ``k`` contributes its value at ``i + c - s_k``. The range splits, axis
        by axis, into cells in which the same parts are valid, each its own loop nest:
        the interior one has no bounds test and no dependence between iterations."""
        L = self.lines
        m = g.space
        d = len(m)
        I = [f"i{k}" for k in range(d)]
        cuts = [{0, m[a]} for a in range(d)]
        for sg in g.gathers:
            c = sg.parts[sg.local][1]
            for a in range(d):
                cuts[a] |= {-c[a], sg.root.shape[a] - c[a]}
                for _p, s in sg.parts:
                    cuts[a] |= {s[a] - c[a], s[a] - c[a] + m[a]}
        spans = []
        for a in range(d):
            pts = sorted(cuts[a])
            spans.append([(lo, hi) for lo, hi in zip(pts, pts[1:]) if lo < hi])
        cells = [[]]
        for a in range(d):
            cells = [cell + [sp] for cell in cells for sp in spans[a]]
        # The largest cell may be a prange (each output element is written once).
        big = max(cells, key=lambda cell: np.prod([hi - lo for lo, hi in cell]), default=None)
        for cell in cells:
            p = [lo for lo, _hi in cell]
            body = all(0 <= p[a] < m[a] for a in range(d))
            writes = []
            for sg in g.gathers:
                c = sg.parts[sg.local][1]
                if not all(0 <= p[a] + c[a] < sg.root.shape[a] for a in range(d)):
                    continue
                shifts = []
                for part, s in sg.parts:
                    sh = [c[a] - s[a] for a in range(d)]
                    if all(0 <= p[a] + sh[a] < m[a] for a in range(d)):
                        shifts.append((part, sh))
                writes.append((sg, c, shifts))
            if not body and not writes:
                continue
            what = ["loop body"] if body else []
            what += [
                f"{self.names[id(sg.root)]} gets {len(sh)} of {len(sg.parts)} slice terms"
                for sg, _c, sh in writes
            ]
            span = " x ".join(f"[{lo}, {hi})" for lo, hi in cell)
            L.append(f"    # {', '.join(I)} in {span}: {'; '.join(what)}")
            ind = "    "
            for a, (lo, hi) in enumerate(cell):
                par = a == 0 and body and cell is big and hi - lo >= PARALLEL_MIN
                rng = "prange" if par and self._parallel_ok(g) else "range"
                self.used_prange = self.used_prange or rng == "prange"
                bounds = f"{hi}" if lo == 0 else f"{lo}, {hi}"
                L.append(f"{ind}for {I[a]} in {rng}({bounds}):")
                ind += "    "
            local = self.emit_body(g, I, ind, acc_init) if body else {}
            shifted: dict[tuple, dict] = {}
            for sg, c, shifts in writes:
                terms = []
                for part, sh in shifts:
                    if not any(sh):
                        terms.append(self.read(part.inputs[0], I, local))
                        continue
                    J = [shift(I[a], sh[a]) for a in range(d)]
                    slocal = shifted.setdefault(tuple(sh), {})
                    terms.append(self.shifted_value(g, part.inputs[0], J, slocal, ind))
                O = [shift(I[a], c[a]) for a in range(d)]
                value = " + ".join(terms) if terms else _literal(0.0, sg.root.dtype)
                if sg.root.dtype == np.float32 and len(terms) > 1:
                    value = f"np.float32({value})"
                L.append(
                    f"{ind}{self.names[id(sg.root)]}[{', '.join(O)}] = {value}"
                    f"  # {_label(sg.root)}, gathered"
                )

    def shifted_value(self, g, node: Node, J: list, slocal: dict, ind: str) -> str:
        """``node`` (read by a slice part) at index ``J`` of loop ``g``: the loop nodes
        it needs are recomputed there (memoised in ``slocal``)."""
        sched = self.sched
        members = {id(n) for n in g.nodes if sched.cls[id(n)] == MAP}
        need, stack = set(), [node]
        while stack:
            n = stack.pop()
            if id(n) in need or id(n) not in members or id(n) in slocal:
                continue
            need.add(id(n))
            stack.extend(n.inputs)
        for n in g.nodes:
            if id(n) in need:
                s = self.fresh("s")
                self.lines.append(
                    f"{ind}{s} = {self.map_expr(n, J, slocal)}  # {_label(n)}, shifted"
                )
                slocal[id(n)] = s
        return self.read(node, J, slocal)

    def block_ok(self, g) -> bool:
        """A long run of scalar elementwise operations: one :mod:`.scalar_block`."""
        if len(g.nodes) < BLOCK_MIN:
            return False
        sched = self.sched
        for n in g.nodes:
            if (
                sched.cls[id(n)] != MAP
                or n.op.kind != "elementwise"
                or id(n) in sched.root_of
                or n.dtype not in _BLOCK_DTYPES
            ):
                return False
        return True

    def emit_block(self, g):
        """``s.., s.. = _blockN((inputs...))``: the run as LLVM code (see scalar_block)."""
        L = self.lines
        sched = self.sched
        index = {id(n): k for k, n in enumerate(g.nodes)}
        ext: dict[int, int] = {}  # id of an outside value -> argument position
        ext_nodes = []
        rows = []
        for n in g.nodes:
            operands = []
            k = _int_exponent(n)
            ins = n.inputs[:1] if k is not None else n.inputs
            for x in ins:
                if id(x) in index:
                    operands.append(("v", index[id(x)]))
                elif x.op is CONST and x.dtype != np.bool_:
                    v = float(x.params[0][1].array.item())
                    operands.append(("c", v, x.dtype.name))
                else:
                    if id(x) not in ext:
                        ext[id(x)] = len(ext_nodes)
                        ext_nodes.append(x)
                    operands.append(("a", ext[id(x)]))
            op = fast_op(n) if k is None else None
            if op is None:
                emit = n.op.rule("emit")
                if callable(emit):
                    emit = emit(**n.p)
                expr = f"({{0}} ** {k})" if k is not None else emit
                if n.dtype == np.float32:
                    expr = f"np.float32({expr})"
                op = "py:" + expr
            rows.append((op, n.dtype.name, operands, n))
        nargs = len(ext_nodes)

        def ref(o):
            if o[0] == "c":
                return repr(("c", o[1], o[2]))
            return str(o[1] if o[0] == "a" else nargs + o[1])

        outs = [n for n in g.nodes if id(n) in sched.buffered]
        text = [
            "scalar_block(",
            f"    inputs={tuple(x.dtype.name for x in ext_nodes)!r},",
            f"    outputs={tuple(nargs + index[id(n)] for n in outs)!r},",
            "    program=(",
        ]
        for k, (op, dt, operands, n) in enumerate(rows):
            args = "".join(", " + ref(o) for o in operands)
            text.append(f"        ({op!r}, {dt!r}{args}),  # v{nargs + k} = {_label(n)}")
        text.append("    ),")
        text.append(")")
        body = "\n".join(text)
        name = self.blocks.get(body)
        if name is None:
            name = self.blocks[body] = f"_block{len(self.blocks) + 1}"
        args = [self.read(x, [], {}) for x in ext_nodes]
        names = []
        for n in outs:
            s = self.fresh("s")
            self.names[id(n)] = s
            names.append(s)
        L.append(
            f"    # {len(rows)} scalar operations in one straight-line block (definition above)"
        )
        tup = ", ".join(args) + ("," if len(args) == 1 else "")
        L.append(f"    {', '.join(names)}{',' if len(names) == 1 else ''} = {name}(({tup}))")
        self.block_record = dict(
            ext=ext_nodes,
            program=[
                (op, [o[1] if o[0] == "a" else nargs + o[1] if o[0] == "v" else o for o in ops])
                for op, _dt, ops, _n in rows
            ],
            dtypes=[dt for _op, dt, _ops, _n in rows],
            outs=[(n, nargs + index[id(n)]) for n in outs],
        )
        for n, s in zip(outs, names):
            target = self.out_target(n)
            if target:
                L.append(f"    {self.set_scalar_out(target, s)}")

    def _parallel_ok(self, g) -> bool:
        """prange is safe when no two iterations write the same place: plain maps,
        and full sums/products (which Numba turns into parallel reductions)."""
        if not self.parallel or not g.space or g.space[0] < PARALLEL_MIN:
            return False
        for n in [n for gg in [g, *self.nested.get(id(g), [])] for n in gg.nodes]:
            if id(n) in self.sched.gather_of:
                continue  # written as a gather: one write per element
            if self.sched.cls[id(n)] == ACC and not (
                n.ndim == 0 and LOWERING[n.op].parallel_reduce
            ):
                return False
        return True

    def map_expr(self, n: Node, I: list, local: dict) -> str:
        op = n.op
        if op.kind == "elementwise":
            args = [self.read(x, self.project(x.shape, n.shape, I), local) for x in n.inputs]
            emit = op.rule("emit")
            if callable(emit):
                emit = emit(**n.p)
            k = _int_exponent(n)
            if k is not None and k < 0:
                # x ** -6 as (1 / x) ** 6: powers of one base share a single division.
                expr = f"(({_literal(1.0, n.dtype)} / {args[0]}) ** {-k})"
            elif k is not None:
                # x ** 6 as repeated multiplication (Numba's integer power), not libm pow.
                expr = f"({args[0]} ** {k})"
            elif LOWERING[op].llvm in MATH and fast_op(n):
                # jitgrad's own float64 exp/log/sin ... (see mathlib): no libm call,
                # so loops over them vectorise.
                expr = f"jg_{LOWERING[op].llvm}({args[0]})"
            else:
                expr = emit.format(*args)
            if n.dtype == np.float32:
                # Round every float32 value as NumPy does (helpers compute in float64).
                expr = f"np.float32({expr})"
            return expr
        J = self.map_index(n, I)
        return self.read(n.inputs[0], J, local)

    def array_name(self, node: Node) -> str:
        if node.op is CONST:
            return self.const_name(node)
        return self.names[id(node)]

    def emit_array(self, n: Node):
        """Whole-array code for ``n`` (its lowering entry's ``array``)."""
        self.lines.append(f"    # {_label(n)}")
        LOWERING[n.op].array(self, n)

    def emit_reshape(self, n: Node):
        L = self.lines
        x = n.inputs[0]
        xn = self.array_name(x)
        if self.mode == "inner":
            # A copy into scratch memory: np.ascontiguousarray would allocate, and
            # reshape's run-time size check raises through Numba's runtime.
            t = self.alloc(n)
            I = [f"i{k}" for k in range(x.ndim)]
            flat = " + ".join(f"{I[k]} * {int(np.prod(x.shape[k + 1 :]))}" for k in range(x.ndim))
            ind = "    "
            for k, dim in enumerate(x.shape):
                L.append(f"{ind}for {I[k]} in range({dim}):")
                ind += "    "
            if x.ndim == 0:
                L.append(f"    {t}[{', '.join(['0'] * n.ndim)}] = {xn}")
                return
            f = self.fresh("p")  # the flat position
            L.append(f"{ind}{f} = {flat}")
            out = []
            for k, dim in enumerate(n.shape):
                stride = int(np.prod(n.shape[k + 1 :]))
                if dim == 1:
                    out.append("0")
                elif k == 0:
                    out.append(f"{f} // {stride}" if stride > 1 else f)
                else:
                    out.append(f"({f} // {stride}) % {dim}" if stride > 1 else f"{f} % {dim}")
            L.append(f"{ind}{t}[{', '.join(out)}] = {xn}[{', '.join(I)}]")
            return
        t = self.fresh("t")
        self.names[id(n)] = t
        L.append(f"    {t} = np.ascontiguousarray({xn}).reshape({tuple(n.shape)})")

    def emit_transpose(self, n: Node):
        """A 2-d transpose read by BLAS: the free view ``x.T``."""
        t = self.fresh("t")
        self.names[id(n)] = t
        self.lines.append(f"    {t} = {self.array_name(n.inputs[0])}.T")

    def emit_concatenate(self, n: Node):
        L = self.lines
        t = self.alloc(n)
        axis = n.p["axis"]
        # Explicit copy loops: slice assignment costs Numba ~1 s of compile time
        # per distinct operand type.
        start = 0
        I = [f"i{k}" for k in range(n.ndim)]
        O = list(I)
        for x in n.inputs:
            O[axis] = I[axis] if start == 0 else f"{I[axis]} + {start}"
            if x.op is CONST and x.params[0][1].uniform is not None:
                v = _literal(x.params[0][1].uniform, n.dtype)
            else:
                v = f"{self.array_name(x)}[{', '.join(I)}]"
            ind = "    "
            for k, dim in enumerate(x.shape):
                L.append(f"{ind}for {I[k]} in range({dim}):")
                ind += "    "
            L.append(f"{ind}{t}[{', '.join(O)}] = {v}")
            start += x.shape[axis]

    def emit_matmul(self, n: Node):
        L = self.lines
        a, b = n.inputs
        an, bn = self.array_name(a), self.array_name(b)
        m, k = a.shape[-2:]
        nn = b.shape[-1]
        dt = _dtype_expr(n.dtype)
        if a.dtype != n.dtype:
            an = f"{an}.astype({dt})"
        if b.dtype != n.dtype:
            bn = f"{bn}.astype({dt})"
        if n.ndim == 2 and m * k * nn > SMALL_MATMUL and k > 1:
            target = self.out_target(n)
            if target:
                self.names[id(n)] = target
                L.append(f"    np.dot({an}, {bn}, {target})")
            else:
                t = self.fresh("t")
                self.names[id(n)] = t
                L.append(f"    {t} = np.dot({an}, {bn})")
            return
        t = self.alloc(n)
        batch = n.shape[:-2]
        B = [f"i{q}" for q in range(len(batch))]
        ind = "    "
        for q, dim in enumerate(batch):
            L.append(f"{ind}for {B[q]} in range({dim}):")
            ind += "    "
        ab = self.project(a.shape[:-2], batch, B)
        bb = self.project(b.shape[:-2], batch, B)
        L.append(f"{ind}for r in range({m}):")
        L.append(f"{ind}    for c in range({nn}):")
        acc = self.fresh("acc")
        L.append(f"{ind}        {acc} = {_literal(0.0, n.dtype)}")
        L.append(f"{ind}        for q in range({k}):")
        ai = ", ".join(ab + ["r", "q"])
        bi = ", ".join(bb + ["q", "c"])
        L.append(f"{ind}            {acc} += {an}[{ai}] * {bn}[{bi}]")
        L.append(f"{ind}        {t}[{', '.join(B + ['r', 'c'])}] = {acc}")

    def emit_logsumexp(self, n: Node):
        L = self.lines
        (x,) = n.inputs
        xn = self.array_name(x)
        axes = n.p["axes"]
        I = [f"i{k}" for k in range(x.ndim)]
        O = [i for k, i in enumerate(I) if k not in axes]
        dt = n.dtype
        m = self.fresh("t")
        s = self.fresh("t")
        oshape = tuple(n.shape)
        if n.ndim == 0:
            mi, si = m, s
            L.append(f"    {m} = {_literal(-np.inf, dt)}")
            L.append(f"    {s} = {_literal(0.0, dt)}")
        else:
            self.temp(m, oshape, dt, "-np.inf")
            self.temp(s, oshape, dt, _literal(0.0, dt))
            mi, si = f"{m}[{', '.join(O)}]", f"{s}[{', '.join(O)}]"

        def loops(body):
            ind = "    "
            for k, dim in enumerate(x.shape):
                L.append(f"{ind}for {I[k]} in range({dim}):")
                ind += "    "
            L.append(f"{ind}{body}")

        v = f"{xn}[{', '.join(I)}]"
        loops(f"{mi} = {v} if ({v} > {mi} or {v} != {v}) else {mi}")
        if n.ndim == 0:
            L.append(f"    if not np.isfinite({m}):")
            L.append(f"        {m} = {_literal(0.0, dt)}")
            loops(f"{si} += np.exp({v} - {mi})")
            name = self.alloc(n)
            L.append(f"    {name} = np.log({s}) + {m}")
            target = self.out_target(n)
            if target:
                L.append(f"    {self.set_scalar_out(target, name)}")
        else:
            # Loops over the output, not array expressions (np.where/np.log on whole
            # arrays cost Numba seconds of compile time each).
            def out_loops(body):
                ind = "    "
                for k, dim in enumerate(n.shape):
                    L.append(f"{ind}for {O[k]} in range({dim}):")
                    ind += "    "
                for line in body:
                    L.append(f"{ind}{line}")

            out_loops([f"if not np.isfinite({mi}):", f"    {mi} = {_literal(0.0, dt)}"])
            loops(f"{si} += np.exp({v} - {mi})")
            t = self.alloc(n)
            out_loops([f"{t}[{', '.join(O)}] = np.log({si}) + {mi}"])

    # ------------------------------------------------------------------ module
    def _ir(self, text: str) -> IR.Function:
        """One emitted function as the loop IR, through its passes
        (:func:`jitgrad.codegen.ir.optimise`)."""
        f64 = np.dtype("float64")
        arrays = {}
        for v, a in zip(self.inputs, self.arg_names):
            if v.ndim and v.dtype == f64:
                arrays[a] = "f8"
        for o, a in zip(self.outputs, self.out_names):
            if o.dtype == f64:
                arrays[a] = "f8"
        for name, a in self.consts.items():
            if a.dtype == f64:
                arrays[name] = "f8"
        for name, _shape, dtype in self.temps:
            if dtype == f64:
                arrays[name] = "f8"
        return IR.optimise(IR.parse(text, arrays))

    def _entry_from(self, inner: IR.Function, temps: list) -> IR.Function:
        """``entry`` from ``inner``'s IR, for kernels of loops only: the output
        and temporary arrays allocated first, 0-d outputs as locals
        (``out0[0]`` becomes ``out0``), and the outputs returned."""
        scalars = {self.out_names[j] for j, o in enumerate(self.outputs) if o.ndim == 0}

        def local(e):
            if type(e) is ast.Subscript and type(e.value) is ast.Name and e.value.id in scalars:
                return ast.Name(e.value.id, ast.Load())
            return None

        def fix(e):
            return IR.rewrite(e, local) if scalars & IR.reads([e]) else e

        def stmts(body):
            out = []
            for s in body:
                if isinstance(s, IR.Loop):
                    out.append(dataclasses.replace(s, body=stmts(s.body)))
                    continue
                if isinstance(s, IR.Other) and isinstance(s.stmt, ast.Return):
                    continue  # inner's own return: entry returns its outputs
                t = getattr(s, "target", None)
                if (
                    isinstance(s, (IR.Store, IR.Update))
                    and type(t) is ast.Subscript
                    and type(t.value) is ast.Name
                    and t.value.id in scalars
                ):
                    name, value = t.value.id, fix(s.value)
                    if isinstance(s, IR.Store):
                        out.append(IR.Let([name], value, s.note))
                    else:
                        out.append(IR.Update(ast.Name(name, ast.Store()), s.op, value, s.note))
                    continue
                if scalars and scalars & IR.reads(IR.expressions(s)):
                    s = copy.copy(s)
                    IR.map_exprs([s], fix)
                out.append(s)
            return out

        body = []
        for name, o in zip(self.out_names, self.outputs):
            if o.ndim:
                body.append(IR.Let([name], IR.allocation(tuple(o.shape), _dtype_expr(o.dtype))))
        for name, shape, dt in temps:
            body.append(IR.Let([name], IR.allocation(tuple(shape), _dtype_expr(dt))))
        body += stmts(inner.body)
        # A 0-d output that copies a name not bound again (out0 = acc1) returns that name.
        returned = {n: n for n in self.out_names}
        last: dict = {}  # name -> the last statement binding it
        binds: dict = {}
        for k, s in enumerate(body):
            for n in IR.bound_names(s):
                last[n] = k
                binds[n] = binds.get(n, 0) + 1
        kept = []
        for k, s in enumerate(body):
            if (
                isinstance(s, IR.Let)
                and s.targets[0] in scalars
                and type(s.value) is ast.Name
                and last.get(s.value.id, -1) < k
                and binds.get(s.targets[0]) == 1
            ):
                returned[s.targets[0]] = s.value.id
                continue
            kept.append(s)
        names = [ast.Name(returned[n], ast.Load()) for n in self.out_names]
        value = names[0] if len(names) == 1 and not self.tuple_out else ast.Tuple(names, ast.Load())
        kept.append(IR.Other(ast.Return(value)))
        return IR.Function("entry", list(self.arg_names), kept)

    def functions(self):
        """``(inner, entry)`` as loop IR, after their passes: the kernel on
        caller-owned buffers, and the function that allocates and returns its
        outputs. Loop-only kernels emit one body: ``entry`` is made from
        ``inner``'s IR."""
        inner_fn = self._ir(self.emit("inner"))
        temps = self.inner_temps = self.temps
        self.inner_prange = self.used_prange
        if any(kind == "array" for kind, _ in self.sched.steps):
            # Whole-array code differs between the two (entry allocates).
            self.used_prange = False
            entry_fn = self._ir(self.emit("entry"))
        else:
            entry_fn = self._entry_from(inner_fn, temps)
        return inner_fn, entry_fn

    def module(self) -> str:
        """The kernel module. Array constants are arguments of the compiled
        functions (Numba cannot cache functions that use large global arrays);
        only ``entry``, the form for the user's own @njit code, reads them as
        globals and is compiled on first use."""
        inner_fn, entry_fn = self.functions()
        temps = self.inner_temps
        inner_prange = self.inner_prange
        cargs = list(self.consts)
        extra = "".join(f", {c}" for c in cargs)
        args = ", ".join(self.arg_names)
        body_lines = IR.print_body(entry_fn.body)
        body = "\n".join([f"def entry_c({', '.join(self.arg_names + cargs)}):", *body_lines])
        params = self.arg_names + self.out_names + cargs
        tnames = [t[0] for t in temps]
        inner_fn.name = "inner_w" if temps else "inner"
        inner_fn.params = params + tnames
        inner = IR.to_python(inner_fn)
        self.kernel_ast = IR.to_ast(inner_fn)
        L = [PREAMBLE.format(cache=bool(self.cache), fastmath=_fm(self.fastmath))]
        for name in cargs:
            L.append(f"{name} = _CONSTS[{name!r}]")
        if self.blocks:
            L.append("from jitgrad.codegen.scalar_block import scalar_block")
            for definition, name in self.blocks.items():
                L += ["", f"{name} = {definition}"]
        L.append(f"_CONST_NAMES = {cargs!r}")
        # inner_w's temporary arrays, after the constants: (shape, dtype string)
        L.append(f"_TEMPS = {[(list(shape), dtype.str) for _, shape, dtype in temps]!r}")
        # what the kernel function needs of Numba's runtime (aot.needs_runtime)
        L.append(f"_RUNTIME = {IR.runtime_call(inner_fn)!r}")
        L += ["", ""]
        L.append("@nb.njit(parallel=True, **_OPTS)" if self.used_prange else "@nb.njit(**_OPTS)")
        L.append(body)
        L += ["", ""]
        big = any(a.nbytes > GLOBAL_CONST_BYTES for a in self.consts.values())
        # ``entry`` checks the shapes (compiled code does not; k.njit is called from
        # user code). Defaults only so that a call from Python with an input
        # missing reaches the kernel's own check, which names it.
        checks = [f"def entry({', '.join(a + '=None' for a in self.arg_names)}):"]
        for v, a in zip(self.inputs, self.arg_names):
            if v.ndim:
                # The message says what came, as the Python-side checks do; the
                # dimensions go as integers (see jitgrad.codegen.errors).
                got = ", ".join(f"{a}.shape[{q}]" for q in range(v.ndim))
                checks.append(f"    if {a}.shape != {tuple(v.shape)}:")
                checks.append(
                    f"        raise InputShapeError(\"input '{_quote(v.p['name'])}': expected shape "
                    f'{tuple(v.shape)}", {got})'
                )
        if big:
            # Large global arrays make a function uncacheable: this one is compiled
            # per process, on first use, and calls entry_c (constants as arguments).
            L.append("@nb.njit(**dict(_OPTS, cache=False))")
            L += checks
            L.append(f"    return entry_c({args}{extra})")
        else:
            # The body itself (constants as globals): what k(...) calls through
            # Numba's dispatcher, compiled once (no entry_c to link and optimise again).
            L.append(
                "@nb.njit(parallel=True, **_OPTS)" if self.used_prange else "@nb.njit(**_OPTS)"
            )
            L += checks
            L += body_lines
        L += ["", ""]
        L.append("@nb.njit(parallel=True, **_OPTS)" if inner_prange else "@nb.njit(**_OPTS)")
        L.append(inner)
        L += ["", ""]
        if temps:
            # inner_w takes its temporary arrays from the caller (the AOT library's
            # caller passes scratch memory); inner allocates them.
            L.append("@nb.njit(**_OPTS)")
            L.append(f"def inner({', '.join(params)}):")
            for name, shape, dtype in temps:
                L.append(f"    {name} = np.empty({shape}, dtype={_dtype_expr(dtype)})")
            L.append(f"    inner_w({', '.join(params + tnames)})")
            L += ["", ""]
        L += self._batch(entry_fn, cargs)
        L.append("")
        return "\n".join(L)

    def _batch(self, entry: IR.Function, cargs: list) -> list:
        """``batch``: a prange over the leading axis. When every input and output
        is a scalar per point, the loop calls an inlined copy of ``entry_c`` on
        scalars, so LLVM sees plain arithmetic and vectorises it across points
        (same instructions per point, so the same bits as single calls);
        otherwise it calls ``inner`` on each point's views."""
        L = []
        first = self.arg_names[0] if self.arg_names else self.out_names[0]
        point = (
            self.arg_names
            and not self.used_prange
            and all(v.ndim == 0 for v in self.inputs)
            and all(o.ndim == 0 for o in self.outputs)
        )
        if point:
            # entry_c's body, returning a tuple
            *rest, ret = entry.body
            assert isinstance(ret, IR.Other) and isinstance(ret.stmt, ast.Return)
            value = ret.stmt.value
            if not isinstance(value, ast.Tuple):
                value = ast.Tuple([value], ast.Load())
            fn = IR.Function("point", self.arg_names + cargs, [*rest, IR.Other(ast.Return(value))])
            lines = IR.to_python(fn).split("\n")
            L.append('@nb.njit(inline="always", **_OPTS)')
            L += lines
            L += ["", ""]
        L.append("@nb.njit(parallel=True, **_OPTS)")
        L.append(f"def batch({', '.join(self.arg_names + self.out_names + cargs)}):")
        L.append(f"    for b in prange({first}.shape[0]):")
        call_args = [f"{a}[b]" for a in self.arg_names]
        if point:
            res = [f"r{j}" for j in range(len(self.outputs))]
            L.append(f"        {', '.join(res)}, = point({', '.join(call_args + cargs)})")
            L += [f"        out{j}[b] = r{j}" for j in range(len(self.outputs))]
            return L
        for j, o in enumerate(self.outputs):
            call_args.append(f"out{j}[b : b + 1]" if o.ndim == 0 else f"out{j}[b]")
        L.append(f"        inner({', '.join(call_args + cargs)})")
        return L

    tuple_out = False


class _Registers:
    """Sums that a loop nest ``for I[0] ... for I[-1]`` adds to one element per
    iteration of its outer loops: the row sums of an (n, n, k) nest with a short
    inner axis k (``t[i0, c] += v`` for every i1). Written out over c, each
    element accumulates in a local across the I[-1] loop and is added once after
    it: no store and reload of the same element in every iteration. The element
    gets no other term in between, so the sum keeps its order and its bits."""

    MAX_UNROLL = 4

    def __init__(self, em, I: list, acc_init: dict):
        self.em, self.I, self.acc_init = em, I, acc_init
        self.names: dict = {}  # target element -> local

    def unroll(self, g2, I2: list) -> bool:
        d = len(self.I)
        if d < 2 or len(g2.space) != d + 1 or g2.space[d] > self.MAX_UNROLL:
            return False
        probe = I2[:d] + ["0"]
        return any(
            self.em.sched.cls[id(n)] == ACC and self.holds(n, self.em.acc_index(n, probe))
            for n in g2.nodes
            if id(n) not in self.em.sched.gather_of
        )

    def holds(self, n, O: list) -> bool:
        sched = self.em.sched
        return (
            LOWERING[n.op].reduction
            and LOWERING[n.op].additive
            and n.dtype == np.float64
            and id(n) not in self.acc_init
            and id(n) not in sched.root_of
            and self.I[-1] not in O
            and all(i in O for i in self.I[:-1])
        )

    def name(self, target: str) -> str:
        if target not in self.names:
            self.names[target] = self.em.fresh("acc")
        return self.names[target]

    def place(self, header: int):
        """Zero the locals before the innermost loop (at line ``header``) and add
        them to their elements after it."""
        if not self.names:
            return
        L = self.em.lines
        head = L[header][: len(L[header]) - len(L[header].lstrip())]
        L[header:header] = [f"{head}{r} = 0.0" for r in self.names.values()]
        L += [f"{head}{t} += {r}" for t, r in self.names.items()]


def _quote(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-. " else "?" for c in name)


def _int_exponent(n: Node):
    """The exponent of ``power(x, k)`` when it is a small integer constant, else None."""
    if not LOWERING[n.op].int_power:
        return None
    e = n.inputs[1]
    if e.op is not CONST:
        return None
    u = e.params[0][1].uniform
    if u is None or u != int(u) or abs(u) > 64:
        return None
    return int(u)


def _fm(fastmath):
    if not fastmath:
        return "False"
    if fastmath is True:
        return "{'reassoc', 'contract', 'nsz', 'arcp'}"
    return repr(set(fastmath))

"""The loop IR of one kernel function, its passes, and its Python printer.

A function is a list of statements over named values:

``Loop``    ``for var in range(start, stop)`` (or ``prange``) over a body;
``Let``     a scalar value bound to one or more names (``s3 = x[i0] * x[i0]``);
``Update``  an accumulation into a name or an array element (``acc1 += s8``);
``Store``   a value written to an array element, or ``a[...] = fill``;
``Other``   any other statement, kept whole (shape checks, calls, ``return``);
``Note``    a comment line.

Expressions are Python :mod:`ast` expressions. The passes (:func:`optimise`)
rewrite the statement lists; none of them edits text:

- the diagonal split of loops that read identity-mask constants;
- one-iteration loops become their body, with the loop index replaced by its
  value and the index arithmetic folded;
- constant folding of integer index arithmetic and of the float64 identities
  ``x * 1.0``, ``1.0 * x``, ``x / 1.0``, ``x - 0.0`` and ``x + 0.0``,
  ``0.0 + x`` (the last two as XLA's simplifier does: they are exact except
  that a ``-0.0`` value stays ``-0.0``, where IEEE's sum would give ``+0.0``);
- common subexpressions of each loop body, named once;
- copy propagation, and dead-value removal by liveness: names that nothing
  reads before they are bound again, and loops left empty.

``0.0 * x`` is kept: it is nan where ``x`` is inf or nan, as
:func:`jitgrad.evaluate` computes it. :func:`to_python` prints a function
from the IR (Python for Numba); :func:`to_ast` gives the syntax tree that
:mod:`.loopjit` compiles to LLVM.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field

__all__ = ["Function", "parse", "optimise", "to_python", "to_ast", "src", "hygiene"]


@dataclass(eq=False)
class Loop:
    var: str
    start: ast.expr
    stop: ast.expr
    body: list
    note: str | None = None
    prange: bool = False


@dataclass(eq=False)
class Let:
    targets: list
    value: ast.expr
    note: str | None = None
    unpack: bool = False  # ``a, b = value`` (and ``a, = value``)


@dataclass(eq=False)
class Update:
    target: ast.expr
    op: ast.operator
    value: ast.expr
    note: str | None = None


@dataclass(eq=False)
class Store:
    target: ast.expr
    value: ast.expr
    note: str | None = None


@dataclass(eq=False)
class Other:
    stmt: ast.stmt
    note: str | None = None


@dataclass(eq=False)
class Note:
    text: str


@dataclass(eq=False)
class Function:
    """``name(params)`` with ``body``. ``arrays`` maps array names to their
    element type and ``scalars`` scalar parameters to theirs (``"f8"``,
    ``"f4"``, ``"i"``, ``"b"``), for the float64 folds."""

    name: str
    params: list
    body: list
    arrays: dict = field(default_factory=dict)
    scalars: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- parse


def _split_comment(line: str):
    """``(code, comment)`` of one emitted line. Emitted statements hold no
    ``#`` outside string literals, and only shape checks hold string literals."""
    if '"' in line or "'" in line:
        return line, None
    k = line.find("#")
    if k < 0:
        return line, None
    return line[:k].rstrip(), line[k + 1 :].strip()


def parse(text: str, arrays=None, scalars=None) -> Function:
    """The IR of one emitted function ``def name(params): ...`` (its comments
    kept as notes)."""
    code, trailing, notes = [], {}, []
    for no, line in enumerate(text.split("\n"), 1):
        stripped = line.lstrip()
        if stripped.startswith("#"):
            notes.append((no, stripped[1:].strip()))
            code.append("")
            continue
        c, comment = _split_comment(line)
        code.append(c)
        if comment:
            trailing[no] = comment
    tree = ast.parse("\n".join(code))
    (fn,) = tree.body
    pending = list(reversed(notes))

    def block(stmts) -> list:
        out = []
        for s in stmts:
            while pending and pending[-1][0] < s.lineno:
                out.append(Note(pending.pop()[1]))
            note = trailing.get(s.lineno)
            out.append(_statement(s, note, block))
        return out

    body = block(fn.body)
    body += [Note(t) for _, t in reversed(pending)]
    return Function(
        fn.name, [a.arg for a in fn.args.args], body, dict(arrays or {}), dict(scalars or {})
    )


def _range(it):
    if (
        isinstance(it, ast.Call)
        and isinstance(it.func, ast.Name)
        and it.func.id in ("range", "prange")
        and not it.keywords
        and 1 <= len(it.args) <= 2
    ):
        a = it.args
        return (ast.Constant(0) if len(a) == 1 else a[0]), a[-1], it.func.id == "prange"
    return None


def _statement(s, note, block):
    if isinstance(s, ast.For) and isinstance(s.target, ast.Name) and not s.orelse:
        r = _range(s.iter)
        if r is not None:
            body = block(s.body)
            body = [b for b in body if not (isinstance(b, Other) and isinstance(b.stmt, ast.Pass))]
            return Loop(s.target.id, r[0], r[1], body, note, r[2])
    if isinstance(s, ast.Assign) and len(s.targets) == 1:
        t = s.targets[0]
        if isinstance(t, ast.Name):
            return Let([t.id], s.value, note)
        if isinstance(t, ast.Tuple) and all(isinstance(e, ast.Name) for e in t.elts):
            return Let([e.id for e in t.elts], s.value, note, unpack=True)
        if isinstance(t, ast.Subscript):
            return Store(t, s.value, note)
    if isinstance(s, ast.AugAssign) and isinstance(s.target, (ast.Name, ast.Subscript)):
        return Update(s.target, s.op, s.value, note)
    return Other(s, note)


# ----------------------------------------------------------------------------- walks


def _exprs(s):
    """The expressions a statement reads (a store's target included: its
    subscript reads the array name and the index)."""
    if isinstance(s, Loop):
        return [s.start, s.stop]
    if isinstance(s, Let):
        return [s.value]
    if isinstance(s, (Update, Store)):
        return [s.target, s.value]
    if isinstance(s, Other):
        return [s.stmt]
    return []


def expressions(s) -> list:
    """The expressions statement ``s`` reads (see :func:`_exprs`)."""
    return _exprs(s)


def bound_names(s) -> set:
    """The names statement ``s`` binds, with the statements it holds."""
    return _binds(s)


def _walk(body):
    for s in body:
        yield s
        if isinstance(s, Loop):
            yield from _walk(s.body)


def _loads(body) -> set:
    names = set()
    for s in _walk(body):
        for e in _exprs(s):
            _names(e, names)
    return names


def map_exprs(body, f):
    """Apply ``f`` to every expression of every statement, in place."""
    for s in _walk(body):
        if isinstance(s, Loop):
            s.start, s.stop = f(s.start), f(s.stop)
        elif isinstance(s, Let):
            s.value = f(s.value)
        elif isinstance(s, (Update, Store)):
            s.target, s.value = f(s.target), f(s.value)
        elif isinstance(s, Other):
            s.stmt = f(s.stmt)


# ----------------------------------------------------------------------------- passes


def rewrite(e, f):
    """``e`` with each subtree ``x`` for which ``f(x)`` is not None replaced by
    it, copying only the nodes above a replacement: expressions may be shared
    between functions (``entry`` is made from ``inner``'s IR)."""
    r = f(e)
    return rewrite_children(e, f) if r is None else r


class _Subst:
    """Loads of ``name`` replaced by ``value`` (copy-on-write, see :func:`rewrite`)."""

    def __init__(self, name, value):
        self.name, self.value = name, value

    def _at(self, n):
        if type(n) is ast.Name and n.id == self.name and type(n.ctx) is ast.Load:
            return copy.deepcopy(self.value)
        return None

    def visit(self, e):
        if self.name not in _reads([e]):
            return e
        return rewrite(e, self._at)


def _same(a, b) -> bool:
    return ast.dump(a) == ast.dump(b)


def _trips(loop: Loop):
    """The loop's trip count when it is known: both bounds integer literals, or
    ``range(e, e + k)``."""
    a, b = loop.start, loop.stop
    if isinstance(a, ast.Constant) and isinstance(b, ast.Constant):
        if isinstance(a.value, int) and isinstance(b.value, int):
            return max(0, b.value - a.value)
    if (
        isinstance(b, ast.BinOp)
        and isinstance(b.op, ast.Add)
        and isinstance(b.right, ast.Constant)
        and isinstance(b.right.value, int)
        and _same(b.left, a)
    ):
        return max(0, b.right.value)
    return None


def drop_short_loops(body: list) -> list:
    """Loops of one iteration become their body (the index replaced by its
    value); loops of none are removed."""
    out = []
    for s in body:
        if not isinstance(s, Loop):
            out.append(s)
            continue
        s.body = drop_short_loops(s.body)
        n = _trips(s)
        if n == 0:
            continue
        if n == 1:
            sub = _Subst(s.var, s.start)
            map_exprs(s.body, sub.visit)
            if s.note:
                out.append(Note(f"{s.var} = {ast.unparse(s.start)}: {s.note}"))
            out += s.body
            continue
        out.append(s)
    return out


def _diagonal_select(e):
    """``{a, b}`` when ``e`` is ``(on if a == b else off)`` over two names with
    literal branches (an identity-mask constant read in a loop), else None."""
    if type(e) is not ast.IfExp or type(e.test) is not ast.Compare:
        return None
    t = e.test
    if len(t.ops) != 1 or type(t.ops[0]) is not ast.Eq:
        return None
    a, b = t.left, t.comparators[0]
    if type(a) is not ast.Name or type(b) is not ast.Name or a.id == b.id:
        return None
    if not _reads([e.body, e.orelse]) <= {"np"}:
        return None
    return frozenset((a.id, b.id))


def _selects(body) -> set:
    pairs = set()
    for s in _walk(body):
        for e in _exprs(s):
            for n in ast.walk(e):
                p = _diagonal_select(n)
                if p is not None:
                    pairs.add(p)
    return pairs


def _with_diagonal(body: list, on: bool) -> list:
    """A copy of ``body`` with each diagonal select replaced by its branch."""

    def pick(e):
        if _diagonal_select(e) is None:
            return None
        return copy.deepcopy(e.body if on else e.orelse)

    out = copy.deepcopy(body)
    map_exprs(out, lambda e: rewrite(e, pick))
    return out


def _size(body) -> int:
    return sum(1 for _ in _walk(body))


SPLIT_MAX_STATEMENTS = 120  # longer loop bodies are not tripled (compile time)


def split_diagonal(body: list, max_statements: int | None = None, outer=()) -> list:
    """Split ``for b in range(n)`` inside ``for a in range(n)`` at ``a == b``
    when its body reads identity-mask constants there (``(on if a == b else
    off)``): below, on and above the diagonal, each with the select replaced
    by its value, so that the long runs have no per-element test and the folds
    remove ``1.0 * x``. The iterations run in the same order, so sums give the
    same bits. Bodies longer than ``max_statements`` are not tripled (compile
    time)."""
    if max_statements is None:
        max_statements = SPLIT_MAX_STATEMENTS
    out = []
    for s in body:
        if not isinstance(s, Loop):
            out.append(s)
            continue
        pairs = _selects(s.body)
        enclosing = {q.var: q for q in outer}
        if len(pairs) == 1 and _size(s.body) <= max_statements:
            (pair,) = pairs
            (a,) = pair - {s.var} if s.var in pair else (None,)
            top = enclosing.get(a)
            if (
                top is not None
                and _is(s.start, 0)
                and _is(top.start, 0)
                and _same(s.stop, top.stop)
                and isinstance(s.stop, ast.Constant)
            ):
                A = ast.Name(a, ast.Load())
                A1 = ast.BinOp(ast.Name(a, ast.Load()), ast.Add(), ast.Constant(1))
                out += [
                    Loop(
                        s.var,
                        ast.Constant(0),
                        A,
                        _with_diagonal(s.body, False),
                        f"below the diagonal {a} == {s.var}",
                        s.prange,
                    ),
                    Loop(s.var, A, A1, _with_diagonal(s.body, True), "on it", s.prange),
                    Loop(
                        s.var,
                        copy.deepcopy(A1),
                        s.stop,
                        _with_diagonal(s.body, False),
                        "above it",
                        s.prange,
                    ),
                ]
                continue
        s.body = split_diagonal(s.body, max_statements, (*outer, s))
        out.append(s)
    return out


_FUNCS_F8 = frozenset(
    "exp log log1p expm1 sqrt sin cos tan arcsin arccos arctan sinh cosh tanh "
    "abs fabs float64".split()
)


class _Types:
    """Element types of expressions, where they are known: ``"f8"`` (float64),
    ``"i"`` (Python int), else None."""

    def __init__(self, fn: Function):
        self.arrays = fn.arrays
        self.names = dict(fn.scalars)
        self.memo = {}  # id -> (expression, type): its names' types are those where it stands

    def of(self, e):
        t = type(e)
        if t is ast.BinOp or t is ast.Call or t is ast.IfExp:
            hit = self.memo.get(id(e))
            if hit is None or hit[0] is not e:
                hit = self.memo[id(e)] = (e, self._of(e))
            return hit[1]
        return self._of(e)

    def _of(self, e):
        if isinstance(e, ast.Constant):
            v = e.value
            if isinstance(v, bool):
                return "b"
            if isinstance(v, int):
                return "i"
            if isinstance(v, float):
                return "f8"
            return None
        if isinstance(e, ast.Name):
            return self.names.get(e.id)
        if isinstance(e, ast.Subscript) and isinstance(e.value, ast.Name):
            return self.arrays.get(e.value.id)
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, (ast.USub, ast.UAdd)):
            return self.of(e.operand)
        if isinstance(e, ast.BinOp):
            a, b = self.of(e.left), self.of(e.right)
            if a == b == "i" and isinstance(e.op, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)):
                return "i"
            if "f8" in (a, b) and {a, b} <= {"f8", "i"}:
                return "f8"
            return None
        if isinstance(e, ast.IfExp):
            a, b = self.of(e.body), self.of(e.orelse)
            return a if a == b else None
        if isinstance(e, ast.Call) and len(e.args) == 1 and not e.keywords:
            f = e.func
            name = None
            if (
                isinstance(f, ast.Attribute)
                and isinstance(f.value, ast.Name)
                and f.value.id == "np"
            ):
                name = f.attr
            elif isinstance(f, ast.Name) and f.id.startswith("jg_"):
                name = f.id[3:]
            if name == "float64":
                return "f8"
            if name in _FUNCS_F8 and self.of(e.args[0]) == "f8":
                return "f8"
        return None


def _is(e, value) -> bool:
    return (
        isinstance(e, ast.Constant)
        and type(e.value) is type(value)
        and e.value == value
        and str(e.value) == str(value)  # 0.0, not -0.0
    )


class _Fold(ast.NodeTransformer):
    def __init__(self, types: _Types):
        self.types = types

    def fold(self, e):
        """``visit``, with the common nodes dispatched by hand."""
        t = type(e)
        if t is ast.Name or t is ast.Constant:
            return e
        if t is ast.BinOp:
            e.left = self.fold(e.left)
            e.right = self.fold(e.right)
            return self.binop(e)
        if t is ast.Subscript:
            e.slice = self.fold(e.slice)
            return e
        if t is ast.Tuple:
            e.elts = [self.fold(x) for x in e.elts]
            return e
        if t is ast.Call and not e.keywords:
            e.args = [self.fold(x) for x in e.args]
            return e
        if t is ast.UnaryOp:
            e.operand = self.fold(e.operand)
            return e
        return self.visit(e)

    def generic_visit(self, node):
        for name, value in ast.iter_fields(node):
            if isinstance(value, list):
                value[:] = [
                    self.fold(x) if isinstance(x, ast.expr) else self.visit(x) for x in value
                ]
            elif isinstance(value, ast.expr):
                setattr(node, name, self.fold(value))
            elif isinstance(value, ast.AST):
                setattr(node, name, self.visit(value))
        return node

    def visit_BinOp(self, e):
        self.generic_visit(e)
        return self.binop(e)

    def binop(self, e):
        a, b, op = e.left, e.right, e.op
        ints = (
            isinstance(a, ast.Constant)
            and isinstance(b, ast.Constant)
            and type(a.value) is int
            and type(b.value) is int
        )
        if ints:
            if isinstance(op, ast.Add):
                return ast.Constant(a.value + b.value)
            if isinstance(op, ast.Sub):
                return ast.Constant(a.value - b.value)
            if isinstance(op, ast.Mult):
                return ast.Constant(a.value * b.value)
            if isinstance(op, (ast.FloorDiv, ast.Mod)) and b.value > 0:
                return ast.Constant(
                    a.value // b.value if isinstance(op, ast.FloorDiv) else a.value % b.value
                )
        t = self.types.of
        if isinstance(op, (ast.Add, ast.Sub)) and _is(b, 0) and t(a) == "i":
            return a
        if isinstance(op, ast.Add) and _is(a, 0) and t(b) == "i":
            return b
        if isinstance(op, ast.Mult):
            if _is(b, 1.0) and t(a) == "f8":
                return a
            if _is(a, 1.0) and t(b) == "f8":
                return b
        if isinstance(op, ast.Div) and _is(b, 1.0) and t(a) == "f8":
            return a
        if isinstance(op, (ast.Add, ast.Sub)) and _is(b, 0.0) and t(a) == "f8":
            return a
        if isinstance(op, ast.Add) and _is(a, 0.0) and t(b) == "f8":
            return b
        return e

    def visit_Compare(self, e):
        self.generic_visit(e)
        if (
            len(e.ops) == 1
            and isinstance(e.left, ast.Constant)
            and isinstance(e.comparators[0], ast.Constant)
            and type(e.left.value) is int
            and type(e.comparators[0].value) is int
        ):
            x, y, op = e.left.value, e.comparators[0].value, e.ops[0]
            table = {ast.Eq: x == y, ast.NotEq: x != y, ast.Lt: x < y, ast.LtE: x <= y}
            table.update({ast.Gt: x > y, ast.GtE: x >= y})
            if type(op) in table:
                return ast.Constant(table[type(op)])
        return e

    def visit_IfExp(self, e):
        self.generic_visit(e)
        if isinstance(e.test, ast.Constant) and type(e.test.value) is bool:
            return e.body if e.test.value else e.orelse
        return e


def _allocates_f8(e) -> bool:
    """``np.empty/zeros/full(..., dtype=np.float64)``."""
    return (
        isinstance(e, ast.Call)
        and isinstance(e.func, ast.Attribute)
        and e.func.attr in ("empty", "zeros", "full")
        and any(k.arg == "dtype" and ast.unparse(k.value) == "np.float64" for k in e.keywords)
    )


def fold(fn: Function):
    """Constant folding (see the module's docstring), in statement order so that
    the type of a name is known where it is read."""
    types = _Types(fn)
    f = _Fold(types)
    fe = f.fold

    def run(body):
        for s in body:
            if isinstance(s, Loop):
                s.start, s.stop = fe(s.start), fe(s.stop)
                types.names[s.var] = "i"
                run(s.body)
            elif isinstance(s, Let):
                s.value = fe(s.value)
                if s.unpack:
                    for name in s.targets:
                        types.names[name] = None
                elif _allocates_f8(s.value):
                    fn.arrays[s.targets[0]] = "f8"
                else:
                    ty = types.of(s.value)
                    name = s.targets[0]
                    if name in types.names and types.names[name] != ty:
                        ty = None
                    types.names[name] = ty
            elif isinstance(s, (Update, Store)):
                s.target, s.value = fe(s.target), fe(s.value)
                if isinstance(s, Update) and isinstance(s.target, ast.Name):
                    # a float64 stays one: acc += v with v float64 or int
                    was = types.names.get(s.target.id)
                    keep = was == "f8" and types.of(s.value) in ("f8", "i")
                    types.names[s.target.id] = "f8" if keep else None
            elif isinstance(s, Other):
                s.stmt = f.visit(s.stmt)

    run(fn.body)


def _binds(s) -> set:
    """The names a statement (with what it holds) binds."""
    out = set()
    for t in _walk([s]):
        if isinstance(t, Loop):
            out.add(t.var)
        elif isinstance(t, Let):
            out.update(t.targets)
        elif isinstance(t, Update) and isinstance(t.target, ast.Name):
            out.add(t.target.id)
        elif isinstance(t, Other):
            for n in ast.walk(t.stmt):
                if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
                    out.add(n.id)
    return out


def propagate_copies(body: list, env=None) -> list:
    """``a = b`` (a name or a literal): the statements after it in the same
    list, and in the loops among them that bind neither, read ``b`` for ``a``
    until either is bound again; the copy itself is left to
    :func:`drop_dead`. One pass in statement order (``env``: the copies in
    force, name -> value)."""
    env = dict(env or {})

    def at(n):
        if type(n) is ast.Name and type(n.ctx) is ast.Load and n.id in env:
            return copy.deepcopy(env[n.id])
        return None

    def sub(e):
        return rewrite(e, at) if env and _reads([e]) & env.keys() else e

    def kill(bound):
        for a in [
            a for a, v in env.items() if a in bound or (type(v) is ast.Name and v.id in bound)
        ]:
            del env[a]

    for s in body:
        if isinstance(s, Loop):
            s.start, s.stop = sub(s.start), sub(s.stop)
            kill(_binds(s))
            s.body = propagate_copies(s.body, env)
            continue
        map_exprs([s], sub)
        kill(_binds(s))
        if isinstance(s, Let) and not s.unpack and isinstance(s.value, (ast.Name, ast.Constant)):
            a = s.targets[0]
            if not (type(s.value) is ast.Name and s.value.id == a):
                env[a] = s.value
    return body


def _names(e, out: set):
    """Add the names ``e`` reads to ``out`` (the common nodes by hand: this runs
    over every statement of kernels of 100 000 ops)."""
    t = type(e)
    if t is ast.Name:
        if type(e.ctx) is ast.Load:
            out.add(e.id)
    elif t is ast.Constant:
        pass
    elif t is ast.BinOp:
        _names(e.left, out)
        _names(e.right, out)
    elif t is ast.Subscript:
        _names(e.value, out)
        _names(e.slice, out)
    elif t is ast.Tuple:
        for x in e.elts:
            _names(x, out)
    elif t is ast.Call:
        _names(e.func, out)
        for x in e.args:
            _names(x, out)
        for k in e.keywords:
            _names(k.value, out)
    elif t is ast.Attribute:
        _names(e.value, out)
    elif t is ast.UnaryOp:
        _names(e.operand, out)
    else:
        for n in ast.walk(e):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                out.add(n.id)


def allocation(shape: tuple, dtype_expr: str) -> ast.expr:
    """``np.empty(shape, dtype=<dtype_expr>)``."""
    return ast.parse(f"np.empty({shape!r}, dtype={dtype_expr})", mode="eval").body


def reads(exprs) -> set:
    """The names the expressions ``exprs`` read."""
    return _reads(exprs)


def _reads(exprs) -> set:
    out = set()
    for e in exprs:
        _names(e, out)
    return out


def _live(body: list, live: set, remove: bool) -> bool:
    """Backward liveness over ``body``: ``live`` (updated in place) holds the
    names read after it and, on return, those read before it. With ``remove``,
    bindings and updates whose names are not read afterwards are dropped, and
    loops left with nothing in them. Returns whether anything was dropped."""
    dropped = False
    keep = []
    for s in reversed(body):
        if isinstance(s, Let):
            if remove and not any(t in live for t in s.targets):
                dropped = True
                continue
            live.difference_update(s.targets)
            live |= _reads([s.value])
        elif isinstance(s, Update) and isinstance(s.target, ast.Name):
            if remove and s.target.id not in live:
                dropped = True
                continue
            live |= _reads([s.value]) | {s.target.id}
        elif isinstance(s, Loop):
            after = set(live)
            start = set(after)
            while True:  # the body's entry liveness, with the next iteration's
                inside = set(start)
                _live(s.body, inside, False)
                inside.discard(s.var)
                grown = after | inside
                if grown == start:
                    break
                start = grown
            end = set(start)
            if remove:
                dropped |= _live(s.body, end, True)
                if all(isinstance(b, Note) for b in s.body):
                    dropped = True
                    continue
            live |= inside | _reads([s.start, s.stop])
        elif isinstance(s, (Update, Store)):
            live |= _reads([s.target, s.value])
        elif isinstance(s, Other):
            live |= _reads([s.stmt])
        keep.append(s)
    if remove:
        body[:] = keep[::-1]
    return dropped


def drop_dead(body: list) -> list:
    """Remove the bindings and updates of names that nothing reads before they
    are bound again, and loops left with nothing in them, until none is left."""
    while _live(body, set(), True):
        pass
    return body


_CSE_NODES = (ast.BinOp, ast.UnaryOp, ast.Call)


def _candidates(e, out: list):
    """The subexpressions of ``e`` that CSE may name, outermost first."""
    if isinstance(e, _CSE_NODES) and not (
        type(e) is ast.UnaryOp and type(e.operand) is ast.Constant
    ):
        out.append(e)
    for child in ast.iter_child_nodes(e):
        if isinstance(child, ast.expr):
            _candidates(child, out)


def _index_only(e, indices: set) -> bool:
    """Integer index arithmetic over loop indices (``i0 + 1``): left inline."""
    for n in ast.walk(e):
        if type(n) is ast.Name:
            if n.id not in indices:
                return False
        elif type(n) is ast.Constant:
            if type(n.value) is not int:
                return False
        elif not isinstance(n, (ast.BinOp, ast.operator, ast.expr_context)):
            return False
    return True


def _stmt_exprs(s) -> list:
    """The expressions of a statement CSE rewrites (a store's index included)."""
    if isinstance(s, Let):
        return [s.value]
    if isinstance(s, (Update, Store)):
        return [s.target, s.value]
    return []


def cse(fn: Function) -> Function:
    """Common subexpressions of the statements of each loop body: a value
    computed more than once (``(1.0 - x[i0]) * (1.0 - x[i0])``) gets a name,
    bound before its first use, while none of the names or arrays it reads is
    bound or stored again. The values are the same operations on the same
    operands, so the same bits."""
    used = set()
    for s in _walk(fn.body):
        used |= _binds(s)
    top = max((int(n[1:]) for n in used if n[:1] == "s" and n[1:].isdigit()), default=0)
    counter = [top]
    indices = {s.var for s in _walk(fn.body) if isinstance(s, Loop)}

    def fresh():
        counter[0] += 1
        return f"s{counter[0]}"

    def block(body: list) -> list:
        counts: dict = {}
        for s in body:
            for e in _stmt_exprs(s):
                found = []
                _candidates(e, found)
                for n in found:
                    k = ast.dump(n)
                    counts[k] = counts.get(k, 0) + 1
        avail: dict = {}  # dump -> (name, names it reads)
        out = []
        for s in body:
            k = None
            if isinstance(s, Loop):
                s.body = block(s.body)
            if isinstance(s, (Let, Update, Store)):
                lets = pending = []

                def name(e, pending=pending):
                    if not isinstance(e, _CSE_NODES) or _index_only(e, indices):
                        return None
                    k = ast.dump(e)
                    if k in avail:
                        return ast.Name(avail[k][0], ast.Load())
                    if counts.get(k, 0) < 2 or (
                        type(e) is ast.UnaryOp and type(e.operand) is ast.Constant
                    ):
                        return None
                    # its other occurrences go: so do the parts they hold
                    found = []
                    _candidates(e, found)
                    for n in found[1:]:
                        kn = ast.dump(n)
                        counts[kn] = counts.get(kn, 0) - (counts[k] - 1)
                    inner = rewrite_children(e, name)
                    v = fresh()
                    pending.append(Let([v], inner, "shared"))
                    avail[k] = (v, _reads([inner]) | _reads([e]))
                    return ast.Name(v, ast.Load())

                if isinstance(s, Let):
                    v = s.value
                    k = ast.dump(v) if isinstance(v, _CSE_NODES) else None
                    if k is not None and k not in avail:
                        s.value = rewrite_children(v, name)
                    else:
                        s.value = rewrite(v, name)
                else:
                    if isinstance(s.target, ast.Subscript):
                        s.target.slice = rewrite(s.target.slice, name)
                    s.value = rewrite(s.value, name)
                out += lets
            out.append(s)
            bound = _binds(s)
            if isinstance(s, (Store, Update)) and isinstance(s.target, ast.Subscript):
                bound = bound | _reads([s.target.value])
            if isinstance(s, Other):
                avail.clear()
            elif bound:
                for k2 in [k2 for k2, (v2, r) in avail.items() if r & bound or v2 in bound]:
                    del avail[k2]
            if (
                isinstance(s, Let)
                and not s.unpack
                and k is not None
                and k not in avail
                and counts.get(k, 0) >= 2
                and s.targets[0] not in _reads([s.value])
            ):
                avail[k] = (s.targets[0], _reads([s.value]))
        return out

    def loops(body):
        for s in body:
            if isinstance(s, Loop):
                s.body = block(s.body)

    loops(fn.body)
    return fn


def rewrite_children(e, f):
    """``e`` with :func:`rewrite` applied to its children only."""
    changed = {}
    for name, v in ast.iter_fields(e):
        if isinstance(v, ast.AST):
            nv = rewrite(v, f)
            if nv is not v:
                changed[name] = nv
        elif isinstance(v, list) and v and isinstance(v[0], ast.AST):
            nv = [rewrite(x, f) if isinstance(x, ast.AST) else x for x in v]
            if any(a is not b for a, b in zip(nv, v)):
                changed[name] = nv
    if not changed:
        return e
    new = copy.copy(e)
    for name, v in changed.items():
        setattr(new, name, v)
    return new


def optimise(fn: Function) -> Function:
    """The passes, in order: the diagonal split, one-iteration loops, folding,
    common subexpressions in loops, copies, dead values."""
    fn.body = split_diagonal(fn.body)
    fn.body = drop_short_loops(fn.body)
    fold(fn)
    cse(fn)
    fn.body = propagate_copies(fn.body)
    fn.body = drop_dead(fn.body)
    return fn


# ----------------------------------------------------------------------------- print


def _line(ind: str, text: str, note) -> str:
    return f"{ind}{text}  # {note}" if note else f"{ind}{text}"


def print_body(body: list, ind: str = "    ") -> list:
    """The lines of a statement list at indentation ``ind``."""
    L = []
    u = src
    for s in body:
        if isinstance(s, Note):
            L.append(f"{ind}# {s.text}")
        elif isinstance(s, Loop):
            rng = "prange" if s.prange else "range"
            bounds = u(s.stop) if _is(s.start, 0) else f"{u(s.start)}, {u(s.stop)}"
            L.append(_line(ind, f"for {s.var} in {rng}({bounds}):", s.note))
            inner = print_body(s.body, ind + "    ")
            if all(line.lstrip().startswith("#") for line in inner):
                inner.append(f"{ind}    pass")
            L += inner
        elif isinstance(s, Let):
            names = ", ".join(s.targets) + ("," if s.unpack and len(s.targets) == 1 else "")
            L.append(_line(ind, f"{names} = {u(s.value)}", s.note))
        elif isinstance(s, Update):
            op = _OPS[type(s.op)]
            L.append(_line(ind, f"{u(s.target)} {op}= {u(s.value)}", s.note))
        elif isinstance(s, Store):
            L.append(_line(ind, f"{u(s.target)} = {u(s.value)}", s.note))
        else:
            text = ast.unparse(s.stmt).split("\n")
            L.append(_line(ind, text[0], s.note))
            L += [ind + t for t in text[1:]]
    return L


def src(e, top: bool = True) -> str:
    """Python source of an expression: binary operations in parentheses (but
    the outermost), so the tree is read back as it was; the common nodes by
    hand, the rest by :func:`ast.unparse`."""
    t = type(e)
    if t is ast.Name:
        return e.id
    if t is ast.BinOp:
        text = f"{src(e.left, False)} {_OPS[type(e.op)]} {src(e.right, False)}"
        return text if top else f"({text})"
    if t is ast.Constant:
        v = e.value
        if type(v) in (int, float) and (v < 0 or str(v).startswith("-")):
            return f"({v!r})"
        return "..." if v is Ellipsis else repr(v)
    if t is ast.Subscript:
        i = e.slice
        if type(i) is ast.Tuple and i.elts:
            index = ", ".join(src(x) for x in i.elts)
        else:
            index = src(i)
        return f"{src(e.value, False)}[{index}]"
    if t is ast.Attribute and type(e.value) is ast.Name:
        return f"{e.value.id}.{e.attr}"
    if t is ast.Call and not e.keywords:
        return f"{src(e.func, False)}({', '.join(src(x) for x in e.args)})"
    if t is ast.UnaryOp and type(e.op) is ast.USub:
        return f"(-{src(e.operand, False)})"
    text = ast.unparse(e)
    return text if top else f"({text})"


_OPS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
}


def to_python(fn: Function) -> str:
    """The function as Python source (no decorator)."""
    lines = [f"def {fn.name}({', '.join(fn.params)}):"]
    body = print_body(fn.body)
    if not any(not line.lstrip().startswith("#") for line in body):
        body.append("    pass")
    return "\n".join(lines + body)


def _stmts(body: list) -> list:
    out = []
    for s in body:
        if isinstance(s, Loop):
            args = [s.stop] if _is(s.start, 0) else [s.start, s.stop]
            it = ast.Call(ast.Name("prange" if s.prange else "range", ast.Load()), args, [])
            inner = _stmts(s.body) or [ast.Pass()]
            out.append(ast.For(ast.Name(s.var, ast.Store()), it, inner, []))
        elif isinstance(s, Let):
            names = [ast.Name(t, ast.Store()) for t in s.targets]
            target = ast.Tuple(names, ast.Store()) if s.unpack else names[0]
            out.append(ast.Assign([target], s.value))
        elif isinstance(s, Update):
            out.append(ast.AugAssign(s.target, s.op, s.value))
        elif isinstance(s, Store):
            out.append(ast.Assign([s.target], s.value))
        elif isinstance(s, Other):
            out.append(s.stmt)
    return out


def to_ast(fn: Function) -> ast.FunctionDef:
    """The function as a Python syntax tree (what :mod:`.loopjit` compiles),
    sharing the IR's expressions."""
    args = ast.arguments([], [ast.arg(p) for p in fn.params], None, [], [], None, [])
    extra = {"type_params": []} if "type_params" in ast.FunctionDef._fields else {}  # 3.12+
    return ast.FunctionDef(fn.name, args, _stmts(fn.body) or [ast.Pass()], [], None, **extra)


_ALLOCATING = frozenset("empty full zeros ones dot ascontiguousarray array copy".split())


def _runtime_call(e):
    """The first call in ``e`` that allocates or calls BLAS, or None (the
    common nodes by hand, as :func:`_names`)."""
    t = type(e)
    if t is ast.Name or t is ast.Constant:
        return None
    if t is ast.Call:
        f = e.func
        if type(f) is ast.Attribute:
            if type(f.value) is ast.Name and f.value.id == "np" and f.attr in _ALLOCATING:
                return e
            if f.attr in ("copy", "astype"):
                return e
    if t is ast.BinOp:
        return _runtime_call(e.left) or _runtime_call(e.right)
    if t is ast.Subscript:
        return _runtime_call(e.value) or _runtime_call(e.slice)
    for child in ast.iter_child_nodes(e):
        found = _runtime_call(child)
        if found is not None:
            return found
    return None


def runtime_call(fn: Function) -> str | None:
    """The first call of ``fn`` that needs Numba's runtime (NRT: it allocates
    an array, or calls BLAS), as source text, or None."""
    for s in _walk(fn.body):
        for e in _exprs(s):
            found = _runtime_call(e)
            if found is not None:
                return ast.unparse(found)
    return None


# ----------------------------------------------------------------------------- checks


def hygiene(text: str) -> list:
    """What the passes should have removed from a function's source: one
    ``(kind, statement)`` per finding, kind ``"dead"`` (a name bound and never
    read), ``"one-trip"`` (a loop of at most one iteration) or ``"identity"``
    (``+ 0.0``, ``- 0.0``, ``* 1.0`` or ``/ 1.0`` on a literal). For tests."""
    tree = ast.parse(text)
    found = []
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        f = parse(ast.unparse(fn))
        loads = _loads(f.body)
        for s in _walk(f.body):
            if isinstance(s, Let) and not any(t in loads for t in s.targets):
                found.append(
                    ("dead", f"{fn.name}: {', '.join(s.targets)} = {ast.unparse(s.value)}")
                )
            if isinstance(s, Update) and isinstance(s.target, ast.Name):
                if s.target.id not in loads:
                    found.append(
                        ("dead", f"{fn.name}: {ast.unparse(s.target)} updated, never read")
                    )
            if isinstance(s, Loop):
                n = _trips(s)
                if n is not None and n <= 1:
                    found.append(
                        (
                            "one-trip",
                            f"{fn.name}: for {s.var} in range({ast.unparse(s.start)}, {ast.unparse(s.stop)})",
                        )
                    )
            for e in _exprs(s):
                for b in ast.walk(e):
                    if not isinstance(b, ast.BinOp):
                        continue
                    add = isinstance(b.op, (ast.Add, ast.Sub))
                    mul = isinstance(b.op, (ast.Mult, ast.Div))
                    hit = add and (
                        _is(b.right, 0.0) or (isinstance(b.op, ast.Add) and _is(b.left, 0.0))
                    )
                    hit = hit or (
                        mul
                        and (_is(b.right, 1.0) or (isinstance(b.op, ast.Mult) and _is(b.left, 1.0)))
                    )
                    if hit:
                        found.append(("identity", f"{fn.name}: {ast.unparse(b)}"))
    return found

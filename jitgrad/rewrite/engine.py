"""Patterns, rules and the fixed-point rewriter.

A rule is data: a name, a pattern over op names, wildcards and constants, a
replacement that builds the new node with the public op functions, and an
optional guard::

    Rule("log_exp", Op("log", Op("exp", X)), lambda x: x)  # log(exp x) -> x

The rewriter walks the graph bottom-up in topological order (no recursion over
the graph), rebuilds every node through :func:`jitgrad.ops.core.make` (so
interning and the build-time folds apply), tries the rules whose pattern is
rooted at the node's op, and repeats whole passes until nothing changes. A
rewrite is applied only if it does not grow the op count, and its result is
cast and broadcast to the shape and dtype of the node it replaces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..graph import BOOL, Node, gc_paused, lookup, toposort
from ..ops.core import remake, uniform_value
from ..ops.elementwise import cast
from ..ops.structure import broadcast_to
from ..shapes import broadcast

__all__ = [
    "Pattern",
    "W",
    "C",
    "Const",
    "Op",
    "AnyOp",
    "PowerOf",
    "Scaled",
    "Offset",
    "Rule",
    "RuleSet",
    "rewrite",
    "rewrite_counted",
    "X",
    "Y",
    "Z",
    "A",
    "B",
]

#: Ops whose two operands may be swapped when matching.
COMMUTATIVE = frozenset({"add", "multiply", "maximum", "minimum", "equal"})

# One node is rewritten at most this many times in a row (a guard against rule cycles).
_MAX_CHAIN = 16
# Nesting of the normalisation of a replacement's new nodes.
_MAX_NEST = 24
# Graphs up to this many ops are rewritten to a fixed point; larger ones until a
# pass removes less than this fraction of their ops.
_SMALL = 5000
_MIN_GAIN = 0.01


# ----------------------------------------------------------------------------- patterns


class Pattern:
    """Base class: ``gen(node, env)`` yields every extension of the bindings
    ``env`` under which the pattern matches ``node`` (commutative ops give two)."""

    #: Op names a node must have for this pattern to match at its root (None: any).
    roots: frozenset | None = None
    #: True if the pattern matches in at most one way (no commutative op inside).
    simple: bool = True

    def gen(self, node: Node, env: dict):  # pragma: no cover - abstract
        raise NotImplementedError

    def one(self, node: Node, env: dict):
        """The first match or None (patterns with one way to match override it)."""
        return next(self.gen(node, env), None)

    def match(self, node: Node, env: dict | None = None):
        """The first bindings under which the pattern matches ``node``, or None."""
        return next(self.gen(node, {} if env is None else env), None)

    def could_match(self, key: tuple) -> bool:
        """False if no node with this ``(op name, input op names...)`` can match."""
        return self.roots is None or key[0] in self.roots


class OneWay(Pattern):
    """A pattern that matches in at most one way: ``one`` does the work."""

    def one(self, node: Node, env: dict):  # pragma: no cover - abstract
        raise NotImplementedError

    def gen(self, node, env):
        out = self.one(node, env)
        if out is not None:
            yield out


def _scalar_value(node: Node):
    """The common value of a non-boolean constant (scalar or broadcast), else None."""
    if node.dtype == BOOL:
        return None
    u = uniform_value(node)
    if u is None:
        return None
    return float(u)


def _bind(env: dict, name: str, value) -> dict:
    out = dict(env)
    out[name] = value
    return out


class W(OneWay):
    """A wildcard: matches any node and binds it to ``name``; a name used twice
    in one pattern must match the same node (nodes are interned, so identity is
    structural equality)."""

    def __init__(self, name: str, pred: Callable | None = None):
        self.name = name
        self.pred = pred

    def direct(self, node):
        return node

    def one(self, node, env):
        bound = env.get(self.name)
        if bound is not None:
            return env if bound is node else None
        if self.pred is None or self.pred(node):
            return _bind(env, self.name, node)
        return None

    def __repr__(self):
        return self.name


_CONST_ROOTS = frozenset({"const", "broadcast_to"})


class C(OneWay):
    """A constant wildcard: a scalar or uniform non-boolean constant; binds its
    value as a Python float."""

    roots = _CONST_ROOTS

    def __init__(self, name: str):
        self.name = name

    def one(self, node, env):
        v = _scalar_value(node)
        if v is None:
            return None
        bound = env.get(self.name)
        if bound is None:
            return _bind(env, self.name, v)
        return env if bound == v else None

    def __repr__(self):
        return self.name


class Const(OneWay):
    """A constant of the given value (any shape, every element equal)."""

    roots = _CONST_ROOTS

    def __init__(self, value: float):
        self.value = float(value)

    def one(self, node, env):
        v = _scalar_value(node)
        return env if v is not None and v == self.value else None

    def __repr__(self):
        return repr(self.value)


class Op(Pattern):
    """``op(*args)`` for the op named ``name``; operands of commutative ops
    (:data:`COMMUTATIVE`) match in either order. ``bind`` binds the matched node
    itself (for replacements that need its parameters)."""

    def __init__(self, name: str, *args: Pattern, bind: str | None = None):
        self.name = name
        self.args = args
        self.bind = bind
        self.roots = frozenset({name})
        self.commutative = name in COMMUTATIVE and len(args) == 2
        # Simple operands: ``one`` needs no generators (it tries both orders of a
        # commutative op); only then, and without commutativity, one way to match.
        self.flat = all(a.simple for a in args)
        self.simple = self.flat and not self.commutative
        # Op names the operands may have: a cheap test on op names before any matching.
        self.need = tuple((i, a.roots) for i, a in enumerate(args) if a.roots is not None)
        # Operands whose wildcard (directly, or as the base of a power or the
        # scaled node) is the same name must give the same node: a cheap test.
        names = [_direct_name(a) for a in args]
        self.same = tuple(
            (i, j)
            for i in range(len(names))
            for j in range(i + 1, len(names))
            if names[i] is not None and names[i] == names[j]
        )

    def _same_ok(self, ins) -> bool:
        args = self.args
        for i, j in self.same:
            if args[i].direct(ins[i]) is not args[j].direct(ins[j]):
                return False
        return True

    def could_match(self, key):
        if key[0] != self.name or len(key) != len(self.args) + 1:
            return False
        need = self.need
        if all(key[i + 1] in names for i, names in need):
            return True
        return self.commutative and all(key[2 - i] in names for i, names in need)

    def gen(self, node, env):
        ins = node.inputs
        if node.op.name != self.name or len(ins) != len(self.args):
            return
        if self.same and not self._same_ok(ins):
            return
        if self.bind is not None:
            env = _bind(env, self.bind, node)
        yield from _gen_all(self.args, ins, 0, env)
        if self.commutative and ins[0] is not ins[1]:
            yield from _gen_all(self.args, ins[::-1], 0, env)

    def one(self, node, env):
        """The first match, without generators where every operand is simple."""
        if not self.flat:
            return next(self.gen(node, env), None)
        started = self.start(node, env)
        if started is None:
            return None
        env, ins = started
        out = _one_all(self.args, ins, env)
        if out is None and self.commutative and ins[0] is not ins[1]:
            out = _one_all(self.args, ins[::-1], env)
        return out

    def start(self, node, env):
        """The first steps of :meth:`gen`, for :meth:`Rule.apply` on a commutative
        op over simple operands: ``(env with bind bound, inputs)`` to match the
        operands against, or None if the node's op, arity or repeated wildcards
        rule a match out."""
        ins = node.inputs
        if node.op.name != self.name or len(ins) != len(self.args):
            return None
        if self.same and not self._same_ok(ins):
            return None
        if self.bind is not None:
            env = _bind(env, self.bind, node)
        return env, ins

    def __repr__(self):
        return f"{self.name}({', '.join(map(repr, self.args))})"


def _direct_name(p):
    """The wildcard name a pattern binds to the node ``p.direct`` gives, or None."""
    if isinstance(p, W):
        return p.name
    if isinstance(p, PowerOf) and isinstance(p.base, W):
        return p.base.name
    if isinstance(p, Scaled) and isinstance(p.x, W):
        return p.x.name
    return None


def _gen_all(pats, nodes, k, env):
    if k == len(pats):
        yield env
        return
    p = pats[k]
    if p.simple:  # at most one way to match: no generator
        e = p.one(nodes[k], env)
        if e is not None:
            yield from _gen_all(pats, nodes, k + 1, e)
        return
    for e in p.gen(nodes[k], env):
        yield from _gen_all(pats, nodes, k + 1, e)


def _one_all(pats, nodes, env):
    for p, n in zip(pats, nodes):
        env = p.one(n, env)
        if env is None:
            return None
    return env


class AnyOp(OneWay):
    """Any op node of the given kind (``"elementwise"``, ...); binds it to ``name``.
    For the few rules written as plain functions (constant folding). ``inputs``:
    op names every input must have; ``pred``: a test of the node."""

    def __init__(
        self,
        name: str,
        kind: str | None = None,
        pred: Callable | None = None,
        inputs: frozenset | None = None,
    ):
        self.name = name
        self.kind = kind
        self.pred = pred
        self.inputs = inputs

    def could_match(self, key):
        from ..ops.core import OPS

        op = OPS.get(key[0])
        if op is None or not op.is_op or (self.kind is not None and op.kind != self.kind):
            return False
        return self.inputs is None or (len(key) > 1 and all(k in self.inputs for k in key[1:]))

    def one(self, node, env):
        if not node.op.is_op or (self.kind is not None and node.op.kind != self.kind):
            return None
        if self.pred is None or self.pred(node):
            return _bind(env, self.name, node)
        return None

    def __repr__(self):
        return f"<{self.kind or 'op'} {self.name}>"


class PowerOf(Pattern):
    """A node seen as ``base ** e`` with a constant ``e`` bound (a float) to
    ``exponent``: ``power(b, c)`` gives ``(b, c)``, ``square(b)`` ``(b, 2)``,
    ``sqrt(b)`` ``(b, 0.5)``, and with ``trivial=True`` any other node ``n``
    gives ``(n, 1)``."""

    _FORMS = {"square": 2.0, "sqrt": 0.5}

    def __init__(self, base: Pattern, exponent: str, trivial: bool = True):
        self.base = base
        self.exponent = exponent
        self.trivial = trivial
        self.simple = base.simple
        self.roots = None if trivial else frozenset({"power", *self._FORMS})

    def direct(self, node):
        return self.split(node)[0]

    def split(self, node):
        name = node.op.name
        if name == "power":
            e = _scalar_value(node.inputs[1])
            if e is not None and node.inputs[1].size == 1:
                return node.inputs[0], e
        elif name in self._FORMS:
            return node.inputs[0], self._FORMS[name]
        return (node, 1.0) if self.trivial else (None, None)

    def gen(self, node, env):
        base, e = self.split(node)
        if base is None:
            return
        for out in self.base.gen(base, env):
            yield _bind(out, self.exponent, e)

    def one(self, node, env):
        if not self.simple:
            return next(self.gen(node, env), None)
        base, e = self.split(node)
        if base is None:
            return None
        out = self.base.one(base, env)
        return None if out is None else _bind(out, self.exponent, e)

    def __repr__(self):
        return f"{self.base!r}**{self.exponent}"


class Scaled(Pattern):
    """A node seen as ``c * x`` with a constant ``c`` bound (a float) to ``coef``:
    ``c * x`` gives ``(c, x)``, ``-x`` gives ``(-1, x)``, any other node ``(1, n)``."""

    def __init__(self, coef: str, x: Pattern):
        self.coef = coef
        self.x = x
        self.simple = x.simple

    def split(self, node):
        name = node.op.name
        if name == "multiply":
            v = _scalar_value(node.inputs[0])
            if v is not None and node.inputs[0].size == 1:
                return v, node.inputs[1]
        elif name == "negative":
            return -1.0, node.inputs[0]
        return 1.0, node

    def direct(self, node):
        return self.split(node)[1]

    def gen(self, node, env):
        c, x = self.split(node)
        for out in self.x.gen(x, env):
            yield _bind(out, self.coef, c)

    def one(self, node, env):
        if not self.simple:
            return next(self.gen(node, env), None)
        c, x = self.split(node)
        out = self.x.one(x, env)
        return None if out is None else _bind(out, self.coef, c)

    def __repr__(self):
        return f"{self.coef}*{self.x!r}"


class Offset(Pattern):
    """A node ``x + c``, ``c + x`` or ``x - c`` with a constant ``c``: binds
    ``c`` (negated for ``x - c``) to ``offset``."""

    roots = frozenset({"add", "subtract"})
    simple = False  # x + c matches c + x as well

    def __init__(self, x: Pattern, offset: str):
        self.x = x
        self.offset = offset

    def gen(self, node, env):
        name = node.op.name
        if name not in ("add", "subtract"):
            return
        a, b = node.inputs
        for x, c, sign in ((a, b, 1.0), (b, a, 1.0)) if name == "add" else ((a, b, -1.0),):
            v = _scalar_value(c)
            if v is None or c.size != 1:
                continue
            for out in self.x.gen(x, env):
                yield _bind(out, self.offset, sign * v)

    def __repr__(self):
        return f"{self.x!r} + {self.offset}"


X, Y, Z = W("x"), W("y"), W("z")
A, B = C("a"), C("b")


# ----------------------------------------------------------------------------- rules


class Rule:
    """A named rewrite ``pattern -> replacement``, applied where ``guard`` holds.

    Parameters
    ----------
    name : str
        Named after what it matches (``"log_exp"``).
    pattern : Pattern
    replacement : callable
        Called with the bindings as keyword arguments; returns the new node (built
        with the public op functions) or None to decline.
    guard : callable, optional
        Called with the bindings; the rule applies only where it returns True.

    Examples
    --------
    >>> import jitgrad as jg
    >>> from jitgrad.rewrite import Op, Rule, RuleSet, X, rewrite
    >>> rules = RuleSet("demo", [Rule("log_exp", Op("log", Op("exp", X)), lambda x: x)])
    >>> x = jg.scalar("x")
    >>> print(rewrite(jg.log(jg.exp(x)) + 1.0, rules))
    x + 1
    """

    __slots__ = ("name", "pattern", "replacement", "guard", "pairwise")

    def __init__(self, name: str, pattern: Pattern, replacement: Callable, guard=None):
        self.name = name
        self.pattern = pattern
        self.replacement = replacement
        self.guard = guard
        # A commutative op over simple operands: at most two matches (both orders).
        self.pairwise = type(pattern) is Op and pattern.flat and pattern.commutative

    def apply(self, node: Node):
        """The replacement for ``node`` (not yet conformed), or None."""
        pattern = self.pattern
        if pattern.simple:
            env = pattern.one(node, {})
            if env is None or (self.guard is not None and not self.guard(**env)):
                return None
            return self.replacement(**env)
        if self.pairwise:
            # Op.gen of a flat commutative op, unrolled: the operands in order,
            # then swapped (unless they are the same node).
            started = pattern.start(node, {})
            if started is None:
                return None
            env0, ins = started
            args = pattern.args
            env = _one_all(args, ins, env0)
            if env is not None and (self.guard is None or self.guard(**env)):
                r = self.replacement(**env)
                if r is not None:
                    return r
            a, b = ins
            if a is b:
                return None
            env = _one_all(args, (b, a), env0)
            if env is not None and (self.guard is None or self.guard(**env)):
                return self.replacement(**env)
            return None
        for env in pattern.gen(node, {}):
            if self.guard is not None and not self.guard(**env):
                continue
            r = self.replacement(**env)
            if r is not None:
                return r
        return None

    def __repr__(self):
        return f"Rule({self.name!r}: {self.pattern!r})"


class RuleSet:
    """A named, ordered table of rules; ``a + b`` is a new set with both.

    Examples
    --------
    >>> from jitgrad.rewrite.rules import ALGEBRA, POWERS
    >>> s = ALGEBRA + POWERS
    >>> len(s) == len(ALGEBRA) + len(POWERS)
    True
    """

    def __init__(self, name: str, rules: Iterable[Rule]):
        self.name = name
        self.rules = tuple(rules)
        names = [r.name for r in self.rules]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"RuleSet {name!r}: duplicate rule names {sorted(dup)}")
        self._index: dict = {}

    def __add__(self, other: RuleSet) -> RuleSet:
        if not isinstance(other, RuleSet):
            return NotImplemented
        return RuleSet(f"{self.name}+{other.name}", self.rules + other.rules)

    def __iter__(self):
        return iter(self.rules)

    def __len__(self):
        return len(self.rules)

    def __getitem__(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)

    def __repr__(self):
        return f"<RuleSet {self.name}: {len(self.rules)} rules>"

    def candidates(self, node: Node) -> tuple:
        """The rules that may match ``node``, by its op and its inputs' ops (cached)."""
        ins = node.inputs
        n = len(ins)
        name = node.op.name
        if n == 1:
            key = (name, ins[0].op.name)
        elif n == 2:
            key = (name, ins[0].op.name, ins[1].op.name)
        elif n == 3:
            key = (name, ins[0].op.name, ins[1].op.name, ins[2].op.name)
        else:
            key = (name,) + (("*",) * n if n else ())
        found = self._index.get(key)
        if found is None:
            if n > 3:
                found = tuple(
                    r
                    for r in self.rules
                    if not isinstance(r.pattern, Op) and r.pattern.could_match(key)
                )
            else:
                found = tuple(r for r in self.rules if r.pattern.could_match(key))
            self._index[key] = found
        return found


# ----------------------------------------------------------------------------- rewriter


def conform(node: Node, shape: tuple, dtype):
    """``node`` cast and broadcast to ``shape`` and ``dtype``, or None if it cannot be."""
    if node.shape != shape:
        try:
            if broadcast("conform", node.shape, shape) != shape:
                return None
        except ValueError:
            return None
    if node.dtype != dtype:
        if dtype == BOOL or node.dtype == BOOL:
            return None
        node = cast(node, dtype)
    if node.shape != shape:
        node = broadcast_to(node, shape)
    return node


class _Pass:
    """One bottom-up pass over a graph.

    Nodes hash by identity, so the tables below are keyed by the nodes themselves
    (which also keeps every node they mention alive).
    """

    def __init__(self, rules: RuleSet, outs: list, order: list, stats: dict | None, stable: set):
        self.rules = rules
        self.order = order  # toposort(outs)
        # How many times each node is used (as an input, or as an output).
        uses: dict[Node, int] = {}
        get = uses.get
        for node in order:
            for i in node.inputs:
                uses[i] = get(i, 0) + 1
        for o in outs:
            uses[o] = get(o, 0) + 1
        self.uses = uses
        self.final: set[Node] = set()  # normalised nodes
        # Nodes of the graph this pass has not reached yet: a replacement that uses
        # one shares it rather than adding it (see growth).
        self.ahead: set[Node] = set(order)
        self.changed = False
        self.stats = stats
        self.nest = 0
        # Nodes no rule matches. Matching depends on the node's structure only, so
        # this holds across passes; a node where a rule matched but was refused for
        # growth is not stable (uses change).
        self.stable = stable
        # The new nodes of the replacement try_rules accepted last (see growth).
        self.accepted_new: list = []

    def run(self, outs):
        memo: dict[Node, Node] = {}
        final = self.final
        stable = self.stable
        uses = self.uses
        normalize = self.normalize
        ahead = self.ahead
        for n in self.order:
            ahead.discard(n)
            if not n.op.is_op:
                memo[n] = n
                final.add(n)
                continue
            old_ins = n.inputs
            for i in old_ins:
                if memo[i] is not i:
                    m = remake(n, tuple([memo[j] for j in old_ins]))
                    if m is not n:
                        self.changed = True
                    break
            else:
                m = n
                if n in stable:  # unchanged and no rule matches: the common case
                    memo[n] = n
                    final.add(n)
                    continue
            new = normalize(m)
            memo[n] = new
            if new is not n:
                # The new node inherits the old one's consumers (for the growth estimate).
                uses[new] = uses.get(new, 0) + uses.get(n, 0)
        return [memo[o] for o in outs]

    def normalize(self, m: Node) -> Node:
        """``m`` with every applicable rule applied (its inputs are normalised)."""
        final = self.final
        if m in final or not m.op.is_op:
            final.add(m)
            return m
        twin = self.commuted(m)
        if twin is not None:
            self.changed = True
            return twin
        stable = self.stable
        for _ in range(_MAX_CHAIN):
            if m in stable:
                break
            r = self.try_rules(m)
            if r is None:
                break
            self.changed = True
            m = self.normalize_new(r, self.accepted_new)
            if m in final:
                return m
        final.add(m)
        return m

    def commuted(self, m: Node):
        """``op(b, a)`` for ``m = op(a, b)`` with a commutative op, when this pass has
        already normalised that node (CSE across operand order: forward mode over
        products builds ``u*v`` and ``v*u`` side by side)."""
        if m.op.name not in COMMUTATIVE or len(m.inputs) != 2:
            return None
        a, b = m.inputs
        if a is b:
            return None
        twin = lookup(m.op, (b, a), m.params)
        if twin is None or twin not in self.final or twin is m:
            return None
        return twin

    def normalize_new(self, r: Node, new: list | None = None) -> Node:
        """Normalise the nodes of a replacement that are not normalised yet
        (``new``: those nodes, ``_new_nodes(r, self.final)``, if known)."""
        final = self.final
        if r in final:
            return r
        if new is None:
            new = _new_nodes(r, final)
        if self.nest >= _MAX_NEST:
            final.update(new)
            return r
        self.nest += 1
        try:
            uses = self.uses
            memo: dict[Node, Node] = {}
            for n in new:
                ins = n.inputs
                if memo:
                    ins = tuple([memo.get(i, i) for i in ins])
                m = remake(n, ins) if ins != n.inputs else n
                for i in m.inputs:
                    uses[i] = uses.get(i, 0) + 1
                out = self.normalize(m) if m.op.is_op else m
                memo[n] = out
                final.add(out)
            return memo.get(r, r)
        finally:
            self.nest -= 1

    def try_rules(self, m: Node):
        refused = False
        for rule in self.rules.candidates(m):
            try:
                r = rule.apply(m)
            except (ValueError, TypeError):
                # A replacement whose shapes or dtypes do not fit this node: not applicable.
                continue
            if r is None or r is m:
                continue
            r = conform(r, m.shape, m.dtype)
            if r is None or r is m:
                continue
            grows, new = self.growth(m, r)
            if grows > 0:
                refused = True
                continue
            if self.stats is not None:
                self.stats[rule.name] = self.stats.get(rule.name, 0) + 1
            self.accepted_new = new
            return r
        if not refused:
            self.stable.add(m)
        return None

    def growth(self, m: Node, r: Node) -> tuple:
        """Op nodes added by the replacement minus op nodes that die with ``m``, and
        the replacement's new nodes (``_new_nodes(r, self.final)``)."""
        final, ahead = self.final, self.ahead
        new = _new_nodes(r, final)
        added = 0
        for n in new:
            if n.op.is_op and n not in ahead:
                added += 1
        if added == 0:
            return -1, new
        # m dies; so do the inputs of m (recursively) used by m alone that r does not use
        # (r uses its new nodes and their inputs).
        keep = {r}
        for n in new:
            keep.add(n)
            keep.update(n.inputs)
        uses = self.uses
        removed = 1
        stack = list(m.inputs)
        seen = set()
        while stack:
            n = stack.pop()
            if n in seen or not n.op.is_op or n in keep:
                continue
            seen.add(n)
            if uses.get(n, 0) <= 1:
                removed += 1
                if len(seen) < 32:
                    stack.extend(n.inputs)
        return added - removed, new


def _new_nodes(r: Node, final: set) -> list:
    """The nodes reachable from ``r`` that are not in ``final``, inputs first."""
    if r in final:
        return []
    order, stack, seen = [], [(r, False)], set()
    while stack:
        n, expanded = stack.pop()
        if expanded:
            order.append(n)
            continue
        if n in seen or n in final:
            continue
        seen.add(n)
        stack.append((n, True))
        for i in n.inputs:
            if i not in seen and i not in final:
                stack.append((i, False))
    return order


def rewrite(nodes, rules: RuleSet, max_passes: int = 8, stats: dict | None = None):
    """Apply ``rules`` to a fixed point.

    Parameters
    ----------
    nodes : Node or list of Node
    rules : RuleSet
    max_passes : int
        Whole-graph passes at most. Each pass applies the rules bottom-up, also
        to the nodes that its own rewrites create; a rule refused because a node
        it would remove is still shared may apply in the next pass. Graphs of up
        to 5000 ops are rewritten to a fixed point; on larger ones passes stop
        once a pass removes less than 1% of the ops.
    stats : dict, optional
        Filled with ``{rule name: times applied}``.

    Returns
    -------
    Node or list of Node
        Equivalent node(s); every rewrite applied keeps the op count from growing.

    Examples
    --------
    >>> import jitgrad as jg
    >>> from jitgrad.rewrite import rewrite
    >>> from jitgrad.rewrite.rules import DEFAULT
    >>> x = jg.scalar("x")
    >>> print(rewrite(jg.log(jg.exp(x)) * x, DEFAULT))
    x**2
    """
    single = isinstance(nodes, Node)
    outs = [nodes] if single else list(nodes)
    outs = rewrite_counted(outs, rules, max_passes, stats)[0]
    return outs[0] if single else outs


def rewrite_counted(outs: list, rules: RuleSet, max_passes: int = 8, stats=None, sizes=None):
    """:func:`rewrite` on a list: ``(new outputs, ops before, ops after or None)``;
    ``sizes`` (a dict), if given, gets ``"before"`` as soon as that is counted."""
    with gc_paused():  # the passes build nodes by the 10^5 and no reference cycles
        return _rewrite_counted(outs, rules, max_passes, stats, sizes)


def _rewrite_counted(outs, rules, max_passes, stats, sizes):
    stable: set[Node] = set()
    first = before = after = None
    for _ in range(max_passes):
        order = toposort(outs)
        size = 0
        for n in order:
            if n.op.is_op:
                size += 1
        if first is None:
            first = size
            if sizes is not None:
                sizes["before"] = size
        # A pass costs time linear in the graph; on a large graph the passes after
        # the first mostly move negations a step further, so stop when they pay little.
        if before is not None and size > _SMALL and before - size < _MIN_GAIN * size:
            after = size
            break
        before = size
        p = _Pass(rules, outs, order, stats, stable)
        outs = p.run(outs)
        if not p.changed:
            after = size
            break
    return outs, first, after

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

from ..graph import BOOL, Node, consumers_count, toposort
from ..ops.core import make, uniform_value

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


# ----------------------------------------------------------------------------- patterns


class Pattern:
    """Base class: ``match(node, env)`` returns the extended bindings or None."""

    #: Op names a node must have for this pattern to match at its root (None: any).
    roots: frozenset | None = None

    def match(self, node: Node, env: dict):  # pragma: no cover - abstract
        raise NotImplementedError


def _scalar_value(node: Node):
    """The common value of a non-boolean constant (scalar or broadcast), else None."""
    if node.dtype == BOOL:
        return None
    u = uniform_value(node)
    if u is None:
        return None
    return float(u)


class W(Pattern):
    """A wildcard: matches any node and binds it to ``name``; a name used twice
    in one pattern must match the same node (nodes are interned, so identity is
    structural equality)."""

    def __init__(self, name: str, pred: Callable | None = None):
        self.name = name
        self.pred = pred

    def match(self, node, env):
        bound = env.get(self.name)
        if bound is not None:
            return env if bound is node else None
        if self.pred is not None and not self.pred(node):
            return None
        env = dict(env)
        env[self.name] = node
        return env

    def __repr__(self):
        return self.name


class C(Pattern):
    """A constant wildcard: a scalar or uniform non-boolean constant; binds its
    value as a Python float."""

    def __init__(self, name: str):
        self.name = name

    def match(self, node, env):
        v = _scalar_value(node)
        if v is None:
            return None
        bound = env.get(self.name)
        if bound is not None:
            return env if bound == v else None
        env = dict(env)
        env[self.name] = v
        return env

    def __repr__(self):
        return self.name


class Const(Pattern):
    """A constant of the given value (any shape, every element equal)."""

    def __init__(self, value: float):
        self.value = float(value)

    def match(self, node, env):
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

    def match(self, node, env):
        if node.op.name != self.name or len(node.inputs) != len(self.args):
            return None
        if self.bind is not None:
            env = dict(env)
            env[self.bind] = node
        out = _match_all(self.args, node.inputs, env)
        if out is None and self.commutative:
            out = _match_all(self.args, node.inputs[::-1], env)
        return out

    def __repr__(self):
        return f"{self.name}({', '.join(map(repr, self.args))})"


def _match_all(pats, nodes, env):
    for p, n in zip(pats, nodes):
        env = p.match(n, env)
        if env is None:
            return None
    return env


class AnyOp(Pattern):
    """Any op node of the given kind (``"elementwise"``, ...); binds it to ``name``.
    For the few rules written as plain functions (constant folding)."""

    def __init__(self, name: str, kind: str | None = None):
        self.name = name
        self.kind = kind

    def match(self, node, env):
        if not node.op.is_op or (self.kind is not None and node.op.kind != self.kind):
            return None
        env = dict(env)
        env[self.name] = node
        return env

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
        self.roots = None if trivial else frozenset({"power", *self._FORMS})

    def split(self, node):
        name = node.op.name
        if name == "power":
            e = _scalar_value(node.inputs[1])
            if e is not None and node.inputs[1].size == 1:
                return node.inputs[0], e
        elif name in self._FORMS:
            return node.inputs[0], self._FORMS[name]
        return (node, 1.0) if self.trivial else (None, None)

    def match(self, node, env):
        base, e = self.split(node)
        if base is None:
            return None
        env = self.base.match(base, env)
        if env is None:
            return None
        env = dict(env)
        env[self.exponent] = e
        return env

    def __repr__(self):
        return f"{self.base!r}**{self.exponent}"


class Scaled(Pattern):
    """A node seen as ``c * x`` with a constant ``c`` bound (a float) to ``coef``:
    ``c * x`` gives ``(c, x)``, ``-x`` gives ``(-1, x)``, any other node ``(1, n)``."""

    def __init__(self, coef: str, x: Pattern):
        self.coef = coef
        self.x = x

    def match(self, node, env):
        c, x = 1.0, node
        name = node.op.name
        if name == "multiply":
            v = _scalar_value(node.inputs[0])
            if v is not None and node.inputs[0].size == 1:
                c, x = v, node.inputs[1]
        elif name == "negative":
            c, x = -1.0, node.inputs[0]
        env = self.x.match(x, env)
        if env is None:
            return None
        env = dict(env)
        env[self.coef] = c
        return env

    def __repr__(self):
        return f"{self.coef}*{self.x!r}"


class Offset(Pattern):
    """A node ``x + c``, ``c + x`` or ``x - c`` with a constant ``c``: binds
    ``c`` (negated for ``x - c``) to ``offset``."""

    roots = frozenset({"add", "subtract"})

    def __init__(self, x: Pattern, offset: str):
        self.x = x
        self.offset = offset

    def match(self, node, env):
        name = node.op.name
        if name not in ("add", "subtract"):
            return None
        a, b = node.inputs
        for x, c, sign in ((a, b, 1.0), (b, a, 1.0)) if name == "add" else ((a, b, -1.0),):
            v = _scalar_value(c)
            if v is None or c.size != 1:
                continue
            out = self.x.match(x, env)
            if out is not None:
                out = dict(out)
                out[self.offset] = sign * v
                return out
        return None

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

    __slots__ = ("name", "pattern", "replacement", "guard")

    def __init__(self, name: str, pattern: Pattern, replacement: Callable, guard=None):
        self.name = name
        self.pattern = pattern
        self.replacement = replacement
        self.guard = guard

    def apply(self, node: Node):
        """The replacement for ``node`` (not yet conformed), or None."""
        env = self.pattern.match(node, {})
        if env is None:
            return None
        if self.guard is not None and not self.guard(**env):
            return None
        return self.replacement(**env)

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
        self._index = None

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

    def index(self):
        """Rules by root op name, plus the rules that may match any op."""
        if self._index is None:
            by_op: dict[str, list] = {}
            anywhere = []
            for r in self.rules:
                roots = r.pattern.roots
                if roots is None:
                    anywhere.append(r)
                else:
                    for name in roots:
                        by_op.setdefault(name, []).append(r)
            self._index = ({k: tuple(v) for k, v in by_op.items()}, tuple(anywhere))
        return self._index


# ----------------------------------------------------------------------------- rewriter


def conform(node: Node, shape: tuple, dtype):
    """``node`` cast and broadcast to ``shape`` and ``dtype``, or None if it cannot be."""
    from ..ops.elementwise import cast
    from ..ops.structure import broadcast_to
    from ..shapes import broadcast

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
    """One bottom-up pass over a graph."""

    def __init__(self, rules: RuleSet, outs: list, stats: dict | None):
        self.by_op, self.anywhere = rules.index()
        self.order = toposort(outs)
        self.uses = consumers_count(self.order)
        for o in outs:
            self.uses[id(o)] = self.uses.get(id(o), 0) + 1
        self.final: dict[int, Node] = {}  # normalised nodes (kept alive: ids stay valid)
        self.changed = False
        self.stats = stats
        self.nest = 0

    def run(self, outs):
        memo: dict[int, Node] = {}
        final = self.final
        for n in self.order:
            if not n.op.is_op:
                memo[id(n)] = n
                final[id(n)] = n
                continue
            ins = tuple(memo[id(i)] for i in n.inputs)
            if any(a is not b for a, b in zip(ins, n.inputs)):
                m = make(n.op, ins, **dict(n.params))
                if m is not n:
                    self.changed = True
            else:
                m = n
            new = self.normalize(m)
            memo[id(n)] = new
            if new is not n:
                # The new node inherits the old one's consumers (for the growth estimate).
                self.uses[id(new)] = self.uses.get(id(new), 0) + self.uses.get(id(n), 0)
        return [memo[id(o)] for o in outs]

    def normalize(self, m: Node) -> Node:
        """``m`` with every applicable rule applied (its inputs are normalised)."""
        final = self.final
        if id(m) in final or not m.op.is_op:
            final[id(m)] = m
            return m
        for _ in range(_MAX_CHAIN):
            r = self.try_rules(m)
            if r is None:
                break
            self.changed = True
            m = self.normalize_new(r)
            if id(m) in final:
                return m
        final[id(m)] = m
        return m

    def normalize_new(self, r: Node) -> Node:
        """Normalise the nodes of a replacement that are not normalised yet."""
        final = self.final
        if id(r) in final:
            return r
        if self.nest >= _MAX_NEST:
            for n in _new_nodes(r, final):
                final[id(n)] = n
            return r
        self.nest += 1
        try:
            memo: dict[int, Node] = {}
            for n in _new_nodes(r, final):
                ins = tuple(memo.get(id(i), i) for i in n.inputs)
                m = make(n.op, ins, **dict(n.params)) if ins != n.inputs else n
                for i in m.inputs:
                    self.uses[id(i)] = self.uses.get(id(i), 0) + 1
                memo[id(n)] = self.normalize(m) if m.op.is_op else m
                final[id(memo[id(n)])] = memo[id(n)]
            return memo.get(id(r), r)
        finally:
            self.nest -= 1

    def try_rules(self, m: Node):
        cands = self.by_op.get(m.op.name, ())
        if self.anywhere:
            cands = cands + self.anywhere
        for rule in cands:
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
            if self.growth(m, r) > 0:
                continue
            if self.stats is not None:
                self.stats[rule.name] = self.stats.get(rule.name, 0) + 1
            return r
        return None

    def growth(self, m: Node, r: Node) -> int:
        """Op nodes added by the replacement minus op nodes that die with ``m``."""
        final = self.final
        added = sum(1 for n in _new_nodes(r, final) if n.op.is_op)
        if added == 0:
            return -1
        # m dies; so do the inputs of m (recursively) used by m alone that r does not use.
        keep = _reachable_ids(r, final)
        removed = 1
        stack = list(m.inputs)
        seen = set()
        while stack:
            n = stack.pop()
            if id(n) in seen or not n.op.is_op or id(n) in keep:
                continue
            seen.add(id(n))
            if self.uses.get(id(n), 0) <= 1:
                removed += 1
                if len(seen) < 32:
                    stack.extend(n.inputs)
        return added - removed


def _new_nodes(r: Node, final: dict) -> list:
    """The nodes reachable from ``r`` that are not in ``final``, inputs first."""
    if id(r) in final:
        return []
    order, stack, seen = [], [(r, False)], set()
    while stack:
        n, expanded = stack.pop()
        if expanded:
            order.append(n)
            continue
        if id(n) in seen or id(n) in final:
            continue
        seen.add(id(n))
        stack.append((n, True))
        for i in n.inputs:
            if id(i) not in seen and id(i) not in final:
                stack.append((i, False))
    return order


def _reachable_ids(r: Node, final: dict) -> set:
    """Ids of the nodes the replacement uses directly: its new nodes and their inputs."""
    ids = {id(r)}
    for n in _new_nodes(r, final):
        ids.add(id(n))
        ids.update(id(i) for i in n.inputs)
    return ids


def rewrite(nodes, rules: RuleSet, max_passes: int = 8, stats: dict | None = None):
    """Apply ``rules`` to a fixed point.

    Parameters
    ----------
    nodes : Node or list of Node
    rules : RuleSet
    max_passes : int
        Whole-graph passes at most (each pass already applies rules to the nodes
        that earlier rewrites of the same pass created).
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
    for _ in range(max_passes):
        p = _Pass(rules, outs, stats)
        outs = p.run(outs)
        if not p.changed:
            break
    return outs[0] if single else outs

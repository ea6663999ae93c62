"""Command line: ``python -m jitgrad diff "EXPR" --wrt x y [--order K | --hessian] [--latex]``.

Prints the simplified derivatives of an expression in SymPy syntax. The text is
parsed with :mod:`ast` and a whitelist (numbers, names, ``+ - * / **`` and ``^``
as SymPy's power, unary minus, comparisons inside ``where``, and calls of the
functions below); nothing is ever evaluated with ``eval`` or ``sympify``.
Errors in the expression or the arguments exit with status 2 and a one-line
message on stderr.
"""

from __future__ import annotations

import argparse
import ast
import io
import math
import re
import sys
import tokenize

__all__ = ["main", "parse_expression", "FUNCTIONS"]

#: Functions the expression may call: the API's elementwise functions, and SymPy's
#: spellings of the same (asin, Abs, Max, ln, ...). name -> (jitgrad function, arity)
FUNCTIONS = {
    **{
        f: (f, 1)
        for f in (
            "exp log log1p expm1 sqrt sin cos tan arcsin arccos arctan tanh sinh cosh "
            "sigmoid abs sign square softplus"
        ).split()
    },
    "maximum": ("maximum", 2),
    "minimum": ("minimum", 2),
    "power": ("power", 2),
    "where": ("where", 3),
    "asin": ("arcsin", 1),
    "acos": ("arccos", 1),
    "atan": ("arctan", 1),
    "Abs": ("abs", 1),
    "ln": ("log", 1),
    "Max": ("maximum", -2),
    "Min": ("minimum", -2),
}
CONSTANTS = {"pi": math.pi, "E": math.e}

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_BINOPS = {
    ast.Add: "add",
    ast.Sub: "subtract",
    ast.Mult: "multiply",
    ast.Div: "divide",
    ast.Pow: "power",
}
_CMPOPS = {
    ast.Lt: "less",
    ast.LtE: "less_equal",
    ast.Gt: "greater",
    ast.GtE: "greater_equal",
    ast.Eq: "equal",
}


class UsageError(Exception):
    """A problem with the expression or the arguments: exit status 2."""


def parse_expression(text: str):
    """Build the graph of a SymPy-syntax expression.

    Parameters
    ----------
    text : str

    Returns
    -------
    (Node, dict)
        The expression and its variables by name (scalar float64 vars).

    Raises
    ------
    UsageError
        For a syntax error, an unknown function, or any construct outside the
        whitelist (attribute access, subscripts, keywords, strings, ...).

    Examples
    --------
    >>> from jitgrad.__main__ import parse_expression
    >>> f, names = parse_expression("x^2*sin(y)")
    >>> print(f)
    x**2*sin(y)
    >>> sorted(names)
    ['x', 'y']
    >>> parse_expression("__import__('os').system('id')")
    Traceback (most recent call last):
    ...
    jitgrad.__main__.UsageError: unsupported syntax in the expression: attribute access (.system)
    """
    text = _xor_to_pow(text.strip())
    names: dict = {}
    terms = _long_sum_terms(text)
    if terms is not None:
        # a long flat sum (a polynomial, a sum of 10**4 terms): each term parsed on
        # its own (Python's parser recurses once per "+") and summed as a balanced
        # tree, so the graph is as deep as the largest term plus log2 of the count
        pos = [_parse_term(t, names) for sign, t in terms if sign > 0]
        neg = [_parse_term(t, names) for sign, t in terms if sign < 0]
        out = _balanced(pos, "add") if pos else None
        if neg:
            out = (
                _call("negative", _balanced(neg, "add"))
                if out is None
                else _call("subtract", out, _balanced(neg, "add"))
            )
        return _finish(out, names)
    return _finish(_parse_term(text, names), names)


def _finish(out, names):
    import jitgrad as jg

    if not isinstance(out, jg.Node):
        out = jg.const(out)
    if out.dtype == bool:
        raise UsageError("the expression is a comparison, not a number")
    return out, names


def _balanced(items, op):
    """``items`` combined by the binary ``op`` as a balanced tree (depth log2 n)."""
    items = list(items)
    while len(items) > 1:
        nxt = [_call(op, items[i], items[i + 1]) for i in range(0, len(items) - 1, 2)]
        if len(items) % 2:
            nxt.append(items[-1])
        items = nxt
    return items[0]


#: A sum of at least this many top-level terms is parsed term by term.
LONG_SUM = 64


#: The tokens a long sum may hold: numbers, names, the arithmetic operators,
#: parentheses and commas (a term with anything else goes to :func:`ast.parse`
#: whole). Matched here rather than by :mod:`tokenize`, whose C tokenizer in
#: Python 3.12.1 copies the whole line per token (gigabytes for 10**4 terms).
_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_]\w*)|(?P<op>\*\*|[-+*/(),]))"
)


def _long_sum_terms(text: str):
    """``[(sign, term_text), ...]`` when ``text`` is a sum of at least
    :data:`LONG_SUM` top-level terms made of names, numbers, calls and
    ``+ - * / **`` only; else None (the whole text goes to :func:`ast.parse`)."""
    import keyword

    if text.count("+") + text.count("-") < LONG_SUM - 1:
        return None
    terms, start, sign, depth, operand_before = [], 0, 1, 0, False
    pos, end = 0, len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None:
            return None
        pos = m.end()
        if m.group("name") is not None:
            if keyword.iskeyword(m.group("name")):
                return None
            operand_before = True
            continue
        if m.group("num") is not None:
            operand_before = True
            continue
        op = m.group("op")
        depth += op == "("
        depth -= op == ")"
        if depth < 0:
            return None
        if depth == 0 and op in "+-" and operand_before:
            terms.append((sign, text[start : m.start("op")]))
            start, sign = pos, 1 if op == "+" else -1
        operand_before = op == ")"
    terms.append((sign, text[start:end]))
    if len(terms) < LONG_SUM or depth != 0 or any(not t.strip() for _, t in terms):
        return None
    return [(sg, t.strip()) for sg, t in terms]


def _parse_term(text: str, names: dict):
    """The graph of one expression (or term) ``text``; new variables go into ``names``."""
    import jitgrad as jg

    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise UsageError(f"syntax error in the expression: {e.msg}") from None
    except RecursionError:
        raise UsageError("the expression is nested too deeply") from None
    except (ValueError, MemoryError):
        raise UsageError("the expression cannot be parsed") from None

    def fail(what):
        raise UsageError(f"unsupported syntax in the expression: {what}")

    def build(node):
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                fail(f"the constant {v!r}")
            try:
                return float(v)
            except OverflowError:
                digits = str(v)
                raise UsageError(
                    f"the number {digits[:12]}... ({len(digits)} digits) is too large "
                    f"for float64 (largest about 1.8e308)"
                ) from None
        if isinstance(node, ast.Name):
            name = node.id
            if name in CONSTANTS:
                return CONSTANTS[name]
            if name in FUNCTIONS:
                fail(f"'{name}' is a function; call it as {name}(...)")
            if not _NAME.match(name):
                fail(f"the name {name!r} (names are letters, digits and _)")
            if name not in names:
                names[name] = jg.scalar(name)
            return names[name]
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                fail(f"the operator {type(node.op).__name__}")
            return _call(op, build(node.left), build(node.right))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return _call("negative", build(node.operand))
            if isinstance(node.op, ast.UAdd):
                return build(node.operand)
            fail(f"the operator {type(node.op).__name__}")
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in _CMPOPS:
                fail("a chained or unsupported comparison")
            return _call(_CMPOPS[type(node.ops[0])], build(node.left), build(node.comparators[0]))
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                if isinstance(node.func, ast.Attribute):
                    fail(f"attribute access (.{node.func.attr})")
                fail("a call of something that is not a function name")
            fname = node.func.id
            if fname not in FUNCTIONS:
                raise UsageError(f"unknown function '{fname}' in the expression")
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                fail(f"keyword or starred arguments in {fname}(...)")
            target, arity = FUNCTIONS[fname]
            n = len(node.args)
            if (arity > 0 and n != arity) or (arity < 0 and n < -arity):
                want = arity if arity > 0 else f"at least {-arity}"
                raise UsageError(f"{fname}() takes {want} argument(s), got {n}")
            args = [build(a) for a in node.args]
            if target in ("maximum", "minimum") and len(args) > 2:
                out = args[0]
                for a in args[1:]:
                    out = _call(target, out, a)
                return out
            return _call(target, *args)
        if isinstance(node, ast.Attribute):
            fail(f"attribute access (.{node.attr})")
        fail(type(node).__name__.lower())

    try:
        return build(tree.body)
    except RecursionError:
        raise UsageError("the expression is nested too deeply") from None


def _xor_to_pow(text: str) -> str:
    """``^`` as ``**``, token by token (as SymPy's parser does), so ``x^2 + 1``
    keeps the precedence of a power; strings and comments are not touched."""
    if "^" not in text:
        return text
    if len(text) > 10_000:  # see _TOKEN: tokenize's cost grows with the line squared
        return text.replace("^", "**")
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return text  # ast.parse reports the syntax error
    out = [
        (tok.type, "**")
        if tok.type == tokenize.OP and tok.string == "^"
        else (tok.type, tok.string)
        for tok in toks
    ]
    return tokenize.untokenize(out)


def _call(name, *args):
    import jitgrad as jg

    try:
        return getattr(jg, name)(*args)
    except (TypeError, ValueError) as e:
        raise UsageError(f"{name}: {e}") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="jitgrad",
        description="Symbolic derivatives with jitgrad: simplified, readable, or LaTeX.",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    d = sub.add_parser(
        "diff",
        help="derivatives of an expression",
        description=(
            "Print the simplified derivatives of EXPR (SymPy syntax: + - * / ** ^, "
            f"numbers, pi, E, and the functions {', '.join(sorted(FUNCTIONS))})."
        ),
    )
    d.add_argument("expr", metavar="EXPR")
    d.add_argument("--wrt", nargs="+", required=True, metavar="VAR", help="variables")
    g = d.add_mutually_exclusive_group()
    g.add_argument("--order", type=int, default=1, metavar="K", help="K-th derivatives")
    g.add_argument("--hessian", action="store_true", help="the Hessian matrix")
    d.add_argument("--latex", action="store_true", help="print LaTeX")
    d.add_argument("--timeout", type=float, default=5.0, help="seconds for SymPy (default 5)")
    return p


_DIFF_OPTIONS = ("--wrt", "--order", "--hessian", "--latex", "--timeout", "--help", "-h")
_WITH_VALUE = ("--order", "--timeout")


def _is_option(tok: str) -> bool:
    """Whether argparse would read ``tok`` as one of diff's options (abbreviations
    and ``--opt=value`` included)."""
    if tok == "-h" or tok == "--":
        return True
    if not tok.startswith("--"):
        return False
    head = tok.split("=", 1)[0]
    return any(o.startswith(head) for o in _DIFF_OPTIONS if o.startswith("--"))


def _expression_last(argv: list) -> list:
    """``argv`` with an expression that starts with ``-`` (``"-x**2"``), which
    argparse would take for an option, moved behind ``--``."""
    if len(argv) < 2 or argv[0] != "diff" or "--" in argv:
        return argv
    rest = argv[1:]
    for i, tok in enumerate(rest):
        if i and rest[i - 1] in _WITH_VALUE:
            continue
        if tok.startswith("-") and not _is_option(tok):
            return ["diff"] + rest[:i] + rest[i + 1 :] + ["--", tok]
    return argv


def _lhs(name: str, order: int, latex: bool) -> str:
    if latex:
        if order == 1:
            return f"\\frac{{\\partial f}}{{\\partial {name}}}"
        return f"\\frac{{\\partial^{{{order}}} f}}{{\\partial {name}^{{{order}}}}}"
    return f"d/d{name}" if order == 1 else f"d^{order}/d{name}^{order}"


def _diff(args) -> list:
    import jitgrad as jg

    f, names = parse_expression(args.expr)
    for w in args.wrt:
        if w not in names:
            raise UsageError(f"'{w}' does not appear in the expression")
    if not 1 <= args.order <= 20:
        raise UsageError(f"--order must be between 1 and 20, got {args.order}")
    wrt = [names[w] for w in args.wrt]
    if args.hessian:
        H = jg.simplify(jg.hessian(f, wrt), level="sympy", timeout=args.timeout)
        if args.latex:
            import sympy

            m = sympy.Matrix([[jg.to_sympy(h) for h in row] for row in H])
            return [f"H = {sympy.latex(m)}"]
        flat = [h for row in H for h in row]
        from .printing import render

        lines, texts = render(flat)
        n = len(wrt)
        rows = ["[" + ", ".join(texts[i * n : (i + 1) * n]) + "]" for i in range(n)]
        pad = " " * len("H = [")
        return lines + ["H = [" + (",\n" + pad).join(rows) + "]"]
    ds = [jg.derivative(f, w, order=args.order) for w in wrt]
    ds = jg.simplify(ds, level="sympy", timeout=args.timeout)
    if args.latex:
        return [f"{_lhs(w, args.order, True)} = {jg.latex(d)}" for w, d in zip(args.wrt, ds)]
    from .printing import render

    lines, texts = render(ds)
    return lines + [f"{_lhs(w, args.order, False)} = {t}" for w, t in zip(args.wrt, texts)]


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0, or 2 for a usage error).

    Examples
    --------
    >>> from jitgrad.__main__ import main
    >>> main(["diff", "x**2*sin(y)", "--wrt", "x", "y"])
    d/dx = 2*x*sin(y)
    d/dy = x**2*cos(y)
    0
    """
    args = _parser().parse_args(_expression_last(sys.argv[1:] if argv is None else list(argv)))
    try:
        out = _diff(args)
    except UsageError as e:
        sys.stderr.write(f"jitgrad: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # an internal failure: still one line, no traceback
        sys.stderr.write(f"jitgrad: internal error: {type(e).__name__}: {e}\n")
        return 1
    for line in out:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

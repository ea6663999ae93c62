"""Loop kernels compiled to LLVM without Numba.

Numba types and lowers a kernel statement by statement; for the fused loops
jitgrad writes that is most of a compile (0.9 s of 0.95 s for the Rosenbrock
Hessian with n = 50). Yet the kernel function ``inner`` (or ``inner_w``, which
takes its temporary arrays from the caller) uses a small, fixed part of the
language: ``for`` over ``range``, scalar assignments and updates, reads and
writes of arrays of static shape at integer indices, arithmetic, comparisons,
``x if c else y``, jitgrad's own math functions (:mod:`.mathlib`), the module's
helpers (``_sigmoid`` ...) and its scalar blocks (:mod:`.scalar_block`). This
module compiles exactly that part into one LLVM function with the AOT calling
convention (``void jitgrad_kernel(void **args)``: a pointer per input, output,
constant and temporary, in ``inner_w``'s order; see :mod:`.aot`), which
llvmlite optimises at O3 for the host CPU as it does for :mod:`.direct`.

Every construct keeps the meaning Numba gives it (NumPy's error model: a
division by zero is inf or nan; Python's floor division and modulo; negative
indices count from the end; ``x ** k`` for an integer literal ``k`` by
repeated squaring). Anything outside that part raises :class:`Unsupported`,
and the kernel is compiled by Numba as before: float32 and complex values,
whole-array code (BLAS, reshape copies), ``fastmath``, allocation.

The kernel's Python module is still written; ``k.njit`` comes from Numba on
first use. Whether a kernel compiled here is right is checked when it is built
(against :func:`jitgrad.evaluate`) and by the differential tester.
"""

from __future__ import annotations

import ast
import re

import numpy as np

from .mathlib import EMIT

SYMBOL = "jitgrad_kernel"

#: NumPy functions of one float64 that are one libm call (as Numba lowers them).
LIBM = {
    "exp": "exp",
    "log": "log",
    "log1p": "log1p",
    "expm1": "expm1",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "tanh": "tanh",
    "sinh": "sinh",
    "cosh": "cosh",
}
#: Instructions of jitgrad's math functions inlined into straight-line code;
#: further calls there go to one out-of-line copy.
INLINE_BUDGET = 20000
_INT_OPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul"}
_FLOAT_OPS = {ast.Add: "fadd", ast.Sub: "fsub", ast.Mult: "fmul"}
_KINDS = {np.dtype("float64"): "f", np.dtype("int64"): "i", np.dtype("bool"): "b"}


class Unsupported(Exception):
    """The kernel uses something this compiler does not (Numba compiles it)."""


def _ir():
    import llvmlite.ir as ir

    return ir


class _Array:
    def __init__(self, ptr, shape, kind):
        self.ptr, self.shape, self.kind = ptr, tuple(shape), kind


def _scopes(fn):
    """Names assigned once by a plain assignment and read only inside the loop
    nest that assigns them: these are SSA values; every other local lives in a
    stack slot (LLVM's mem2reg turns the slots into registers)."""
    defs = {}
    reads = []  # (statement or expression, scope) whose reads are checked

    def walk(stmts, scope):
        for s in stmts:
            if isinstance(s, ast.For):
                reads.append((s.iter, scope))
                walk(s.body, scope + (id(s),))
                continue
            if isinstance(s, ast.If):
                reads.append((s.test, scope))
                walk(s.body, scope + (id(s),))
                walk(s.orelse, scope + (id(s), 1))
                continue
            reads.append((s, scope))
            targets = []
            if isinstance(s, ast.Assign):
                targets = s.targets
            elif isinstance(s, ast.AugAssign):
                targets = [s.target]
                if isinstance(s.target, ast.Name):
                    defs.setdefault(s.target.id, []).append(None)  # updated: a slot
            for t in targets:
                for n in ast.walk(t) if isinstance(t, ast.Tuple) else (t,):
                    if isinstance(n, ast.Name):
                        defs.setdefault(n.id, []).append(scope)

    walk(fn.body, ())
    ssa = {name for name, ds in defs.items() if len(ds) == 1 and ds[0] is not None}
    # A name assigned inside a loop (or branch) and read outside it needs a slot.
    inner = {name: defs[name][0] for name in ssa if defs[name][0]}
    if inner:
        for node, scope in reads:
            for n in ast.walk(node):
                if isinstance(n, ast.Name) and n.id in inner:
                    d = inner[n.id]
                    if scope[: len(d)] != d:
                        ssa.discard(n.id)
    return ssa, set(defs)


class _Compiler:
    def __init__(self, module_ast: ast.Module):
        ir = _ir()
        self.ir = ir
        self.f64, self.i64, self.i1, self.i8 = (
            ir.DoubleType(),
            ir.IntType(64),
            ir.IntType(1),
            ir.IntType(8),
        )
        self.mod = ir.Module(name="jitgrad_loops")
        self.funcs = {}
        self.blocks = {}
        for s in module_ast.body:
            if isinstance(s, ast.FunctionDef):
                self.funcs[s.name] = s
            elif (
                isinstance(s, ast.Assign)
                and len(s.targets) == 1
                and isinstance(s.targets[0], ast.Name)
                and isinstance(s.value, ast.Call)
                and isinstance(s.value.func, ast.Name)
                and s.value.func.id == "scalar_block"
            ):
                kw = {k.arg: ast.literal_eval(k.value) for k in s.value.keywords}
                self.blocks[s.targets[0].id] = kw
        self.helpers = {}  # name -> llvm function
        self.declared = {}
        self.math_fns = {}  # (name, inline) -> (llvm function, its instruction count)
        self.depth = 0  # loops around the statement being compiled
        self.inlined = 0  # instructions of math functions inlined outside loops

    # ------------------------------------------------------------ values
    def const(self, kind, value):
        ir = self.ir
        if kind == "f":
            return (ir.Constant(self.f64, float(value)), "f")
        if kind == "i":
            return (ir.Constant(self.i64, int(value)), "i")
        return (ir.Constant(self.i1, 1 if value else 0), "b")

    def to(self, v, kind):
        val, k = v
        if k == kind:
            return val
        b = self.b
        if kind == "f":
            if k == "i":
                return b.sitofp(val, self.f64)
            return b.uitofp(val, self.f64)
        if kind == "i" and k == "b":
            return b.zext(val, self.i64)
        if kind == "b":
            if k == "f":
                return b.fcmp_unordered("!=", val, self.ir.Constant(self.f64, 0.0))
            return b.icmp_signed("!=", val, self.ir.Constant(self.i64, 0))
        raise Unsupported(f"a {k} value where an int is needed")

    def libm(self, name, nargs=1):
        fn = self.declared.get(name)
        if fn is None:
            ir = self.ir
            ty = ir.FunctionType(self.f64, [self.f64] * nargs)
            fn = self.declared[name] = ir.Function(self.mod, ty, name=name)
        return fn

    def call_math(self, name, x):
        """jitgrad's own ``name`` (:mod:`.mathlib`) of the float64 ``x``: one
        function per module, inlined in loops (where LLVM vectorises it) and in
        straight-line code up to :data:`INLINE_BUDGET` instructions, called
        beyond (a long unrolled body would otherwise give LLVM hundreds of
        thousands of instructions to optimise; the values are the same)."""
        inline = self.depth > 0 or self.inlined < INLINE_BUDGET
        key = (name, inline)
        got = self.math_fns.get(key)
        if got is None:
            ir = self.ir
            fn = ir.Function(
                self.mod, ir.FunctionType(self.f64, [self.f64]), name=f"jg.{name}.{int(inline)}"
            )
            fn.linkage = "internal"
            fn.attributes.add("alwaysinline" if inline else "noinline")
            b = ir.IRBuilder(fn.append_basic_block("entry"))
            b.ret(EMIT[name](b, fn.args[0]))
            size = sum(len(blk.instructions) for blk in fn.blocks)
            got = self.math_fns[key] = (fn, size)
        if inline and self.depth == 0:
            self.inlined += got[1]
        return self.b.call(got[0], [x])

    def intrinsic(self, name):
        fn = self.declared.get(name)
        if fn is None:
            fn = self.declared[name] = self.mod.declare_intrinsic(name, [self.f64])
        return fn

    # ------------------------------------------------------------ kernel
    def kernel(self, fname, params):
        """``params``: for each parameter of ``fname``, ``("scalar", kind)`` or
        ``("array", shape, kind)``, in the order of the ``void **`` argument."""
        ir = self.ir
        fn_ast = self.funcs.get(fname)
        if fn_ast is None:
            raise Unsupported(f"no function {fname}")
        names = [a.arg for a in fn_ast.args.args]
        if len(names) != len(params):
            raise Unsupported("parameters do not match")
        i8pp = self.i8.as_pointer().as_pointer()
        fn = ir.Function(self.mod, ir.FunctionType(ir.VoidType(), [i8pp]), name=SYMBOL)
        self.fn = fn
        self.entry = fn.append_basic_block("entry")
        body = fn.append_basic_block("body")
        self.b = ir.IRBuilder(body)
        env = {}
        for q, (name, p) in enumerate(zip(names, params)):
            raw = self.b.load(self.b.gep(fn.args[0], [ir.Constant(self.i64, q)]))
            if p[0] == "scalar":
                ptr = self.b.bitcast(raw, self.elem(p[1]).as_pointer())
                env[name] = self.load_elem(ptr, p[1])
            else:
                ptr = self.b.bitcast(raw, self.elem(p[2]).as_pointer())
                env[name] = _Array(ptr, p[1], p[2])
        self.ssa, self.assigned = _scopes(fn_ast)
        self.slots = {}
        self.stmts(fn_ast.body, env)
        if not self.b.block.is_terminated:
            self.b.ret_void()
        ir.IRBuilder(self.entry).branch(body)
        return str(self.mod)

    def elem(self, kind):
        return {"f": self.f64, "i": self.i64, "b": self.i8}[kind]

    def load_elem(self, ptr, kind):
        v = self.b.load(ptr)
        if kind == "b":
            return (self.b.icmp_unsigned("!=", v, self.ir.Constant(self.i8, 0)), "b")
        return (v, kind)

    def store_elem(self, ptr, kind, v):
        if kind == "b":
            self.b.store(self.b.zext(self.to(v, "b"), self.i8), ptr)
        elif kind == "i" and v[1] == "f":
            raise Unsupported("a float stored into an integer array")
        else:
            self.b.store(self.to(v, kind), ptr)

    # ------------------------------------------------------------ statements
    def stmts(self, stmts, env):
        for s in stmts:
            if self.b.block.is_terminated:
                return
            self.stmt(s, env)

    def stmt(self, s, env):
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant):
            return  # a docstring
        if isinstance(s, ast.Pass):
            return
        if isinstance(s, ast.Return):
            if s.value is not None:
                raise Unsupported("return with a value in the kernel")
            self.b.ret_void()
            return
        if isinstance(s, ast.For):
            return self.loop(s, env)
        if isinstance(s, ast.Assign):
            if len(s.targets) != 1:
                raise Unsupported("chained assignment")
            t = s.targets[0]
            if isinstance(t, ast.Tuple):
                vals = self.call_block(s.value, env)
                if len(vals) != len(t.elts):
                    raise Unsupported("a block returning the wrong number of values")
                for e, v in zip(t.elts, vals):
                    self.assign(e, v, env)
                return
            if (
                isinstance(t, ast.Subscript)
                and isinstance(t.slice, ast.Constant)
                and t.slice.value is Ellipsis
            ):
                return self.fill(t, self.expr(s.value, env), env)
            return self.assign(t, self.expr(s.value, env), env)
        if isinstance(s, ast.AugAssign):
            cur = self.expr(_as_load(s.target), env)
            v = self.binop(s.op, cur, self.expr(s.value, env))
            return self.assign(s.target, v, env)
        if isinstance(s, ast.If):
            return self.branch(s, env)
        raise Unsupported(f"statement {type(s).__name__}")

    def assign(self, t, v, env):
        if isinstance(t, ast.Name):
            name = t.id
            if name in self.ssa:
                env[name] = v
                return
            slot = self.slots.get(name)
            if slot is None:
                ty = self.f64 if v[1] == "f" else self.i64 if v[1] == "i" else self.i1
                slot = ir_alloca(self, ty)
                self.slots[name] = (slot, v[1])
            elif slot[1] != v[1]:
                raise Unsupported(f"{name} changes type")
            self.b.store(v[0], self.slots[name][0])
            return
        if isinstance(t, ast.Subscript):
            arr, ptr = self.element(t, env)
            self.store_elem(ptr, arr.kind, v)
            return
        raise Unsupported(f"assignment to {type(t).__name__}")

    def fill(self, t, v, env):
        arr = env.get(t.value.id) if isinstance(t.value, ast.Name) else None
        if not isinstance(arr, _Array):
            raise Unsupported("fill of something not an array")
        size = int(np.prod(arr.shape))
        self.counted(size, lambda i: self.store_elem(self.b.gep(arr.ptr, [i]), arr.kind, v))

    def counted(self, stop, body, start=None):
        """A loop ``for i in range(start, stop)`` (i64 values) calling ``body(i)``."""
        ir, b = self.ir, self.b
        start = ir.Constant(self.i64, 0) if start is None else start
        stop = ir.Constant(self.i64, stop) if isinstance(stop, int) else stop
        pre = b.block
        head = self.fn.append_basic_block("head")
        loop = self.fn.append_basic_block("loop")
        done = self.fn.append_basic_block("done")
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(self.i64)
        i.add_incoming(start, pre)
        b.cbranch(b.icmp_signed("<", i, stop), loop, done)
        b.position_at_end(loop)
        body(i)
        if not b.block.is_terminated:
            nxt = b.add(i, ir.Constant(self.i64, 1))
            i.add_incoming(nxt, b.block)
            b.branch(head)
        b.position_at_end(done)

    def loop(self, s, env):
        if s.orelse or not isinstance(s.target, ast.Name):
            raise Unsupported("for loop form")
        it = s.iter
        if not (
            isinstance(it, ast.Call)
            and isinstance(it.func, ast.Name)
            and it.func.id == "range"
            and 1 <= len(it.args) <= 2
            and not it.keywords
        ):
            raise Unsupported("a loop not over range(stop) or range(start, stop)")
        bounds = [self.to(self.int_expr(a, env), "i") for a in it.args]
        start, stop = (None, bounds[0]) if len(bounds) == 1 else bounds
        var = s.target.id
        if var in self.assigned:
            raise Unsupported(f"loop variable {var} also assigned")

        def body(i):
            inner = dict(env)
            inner[var] = (i, "i")
            self.stmts(s.body, inner)
            # slots persist; SSA values defined inside stay inside (see _scopes)

        self.depth += 1
        self.counted(stop, body, start)
        self.depth -= 1

    def branch(self, s, env):
        cond = self.to(self.expr(s.test, env), "b")
        with self.b.if_else(cond) as (then, otherwise):
            with then:
                self.stmts(s.body, dict(env))
            with otherwise:
                self.stmts(s.orelse, dict(env))

    def int_expr(self, e, env):
        v = self.expr(e, env)
        if v[1] == "f":
            raise Unsupported("a float index or bound")
        return v

    def element(self, sub, env):
        if not isinstance(sub.value, ast.Name):
            raise Unsupported("subscript of an expression")
        arr = env.get(sub.value.id)
        if not isinstance(arr, _Array):
            raise Unsupported(f"subscript of {sub.value.id}, not an array")
        idx = sub.slice.elts if isinstance(sub.slice, ast.Tuple) else [sub.slice]
        if len(idx) != len(arr.shape):
            raise Unsupported("an index that is not one integer per axis")
        ir, b = self.ir, self.b
        flat = None
        stride = 1
        for e, dim in reversed(list(zip(idx, arr.shape))):
            if isinstance(e, ast.Slice):
                raise Unsupported("a slice")
            v = self.to(self.int_expr(e, env), "i")
            if isinstance(v, ir.Constant):
                k = int(v.constant)
                v = ir.Constant(self.i64, k + dim if k < 0 else k)
            else:  # a negative index counts from the end, as in Numba
                neg = b.icmp_signed("<", v, ir.Constant(self.i64, 0))
                v = b.select(neg, b.add(v, ir.Constant(self.i64, dim)), v)
            term = v if stride == 1 else b.mul(v, ir.Constant(self.i64, stride))
            flat = term if flat is None else b.add(flat, term)
            stride *= dim
        if flat is None:
            flat = ir.Constant(self.i64, 0)
        return arr, b.gep(arr.ptr, [flat], inbounds=True)

    # ------------------------------------------------------------ expressions
    def expr(self, e, env):
        b = self.b
        if isinstance(e, ast.Constant):
            v = e.value
            if isinstance(v, bool):
                return self.const("b", v)
            if isinstance(v, int):
                return self.const("i", v)
            if isinstance(v, float):
                return self.const("f", v)
            raise Unsupported(f"constant {v!r}")
        if isinstance(e, ast.Name):
            if e.id in self.slots:
                slot, kind = self.slots[e.id]
                return (b.load(slot), kind)
            v = env.get(e.id)
            if v is None:
                raise Unsupported(f"name {e.id}")
            if isinstance(v, _Array):
                raise Unsupported(f"array {e.id} used as a value")
            return v
        if isinstance(e, ast.Attribute):
            if isinstance(e.value, ast.Name) and e.value.id == "np":
                known = {"inf": np.inf, "nan": np.nan, "pi": np.pi, "e": np.e}
                if e.attr in known:
                    return self.const("f", known[e.attr])
            raise Unsupported(f"attribute {ast.unparse(e)}")
        if isinstance(e, ast.Subscript):
            arr, ptr = self.element(e, env)
            return self.load_elem(ptr, arr.kind)
        if isinstance(e, ast.BinOp):
            if isinstance(e.op, ast.Pow):
                return self.power(e, env)
            return self.binop(e.op, self.expr(e.left, env), self.expr(e.right, env))
        if isinstance(e, ast.UnaryOp):
            v = self.expr(e.operand, env)
            if isinstance(e.op, ast.USub):
                if v[1] == "f":
                    return (b.fneg(v[0]), "f")
                return (b.neg(self.to(v, "i")), "i")
            if isinstance(e.op, ast.UAdd):
                return v
            if isinstance(e.op, ast.Not):
                return (b.not_(self.to(v, "b")), "b")
            raise Unsupported("unary operator")
        if isinstance(e, ast.Compare):
            if len(e.ops) != 1:
                raise Unsupported("a chained comparison")
            return self.compare(e.ops[0], self.expr(e.left, env), self.expr(e.comparators[0], env))
        if isinstance(e, ast.BoolOp):
            vals = [self.expr(x, env) for x in e.values]
            if any(v[1] != "b" for v in vals):
                raise Unsupported("and/or of values that are not bools")
            acc = vals[0][0]
            for v in vals[1:]:
                acc = b.and_(acc, v[0]) if isinstance(e.op, ast.And) else b.or_(acc, v[0])
            return (acc, "b")
        if isinstance(e, ast.IfExp):
            c = self.to(self.expr(e.test, env), "b")
            x, y = self.expr(e.body, env), self.expr(e.orelse, env)
            kind = x[1] if x[1] == y[1] else "f"
            if kind == "f" and "b" in (x[1], y[1]) and x[1] != y[1]:
                raise Unsupported("a select between a bool and a number")
            return (b.select(c, self.to(x, kind), self.to(y, kind)), kind)
        if isinstance(e, ast.Call):
            return self.call(e, env)
        raise Unsupported(f"expression {type(e).__name__}")

    def binop(self, op, x, y):
        b, ir = self.b, self.ir
        if isinstance(op, ast.Div):
            return (b.fdiv(self.to(x, "f"), self.to(y, "f")), "f")
        ints = x[1] != "f" and y[1] != "f"
        if ints:
            xi, yi = self.to(x, "i"), self.to(y, "i")
            if type(op) in _INT_OPS:
                return (getattr(b, _INT_OPS[type(op)])(xi, yi), "i")
            if isinstance(op, (ast.FloorDiv, ast.Mod)):
                if not (isinstance(yi, ir.Constant) and int(yi.constant) > 0):
                    raise Unsupported("integer // or % by something not a positive literal")
                # Python's floor semantics for a positive divisor.
                q = b.sdiv(xi, yi)
                r = b.srem(xi, yi)
                fix = b.icmp_signed("<", r, ir.Constant(self.i64, 0))
                if isinstance(op, ast.FloorDiv):
                    return (b.select(fix, b.sub(q, ir.Constant(self.i64, 1)), q), "i")
                return (b.select(fix, b.add(r, yi), r), "i")
            raise Unsupported("integer operator")
        if type(op) not in _FLOAT_OPS:
            raise Unsupported("float operator")  # // and % on floats: left to Numba
        return (getattr(b, _FLOAT_OPS[type(op)])(self.to(x, "f"), self.to(y, "f")), "f")

    def power(self, e, env):
        b = self.b
        x = self.expr(e.left, env)
        r = e.right
        if isinstance(r, ast.Constant) and type(r.value) is int and r.value >= 0 and x[1] == "f":
            # Numba's float ** int: exponentiation by squaring from 1.0.
            k, base = r.value, x[0]
            acc = self.const("f", 1.0)[0]
            while k:
                if k & 1:
                    acc = b.fmul(acc, base)
                k >>= 1
                if k:
                    base = b.fmul(base, base)
            return (acc, "f")
        y = self.expr(r, env)
        if y[1] != "f" or x[1] != "f":
            raise Unsupported("a power that is not float ** float or float ** int literal")
        return (b.call(self.libm("pow", 2), [x[0], y[0]]), "f")

    def compare(self, op, x, y):
        b = self.b
        sym = {
            ast.Eq: "==",
            ast.NotEq: "!=",
            ast.Lt: "<",
            ast.LtE: "<=",
            ast.Gt: ">",
            ast.GtE: ">=",
        }
        s = sym.get(type(op))
        if s is None:
            raise Unsupported("comparison operator")
        if x[1] == "f" or y[1] == "f":
            xf, yf = self.to(x, "f"), self.to(y, "f")
            if s == "!=":
                return (b.fcmp_unordered("!=", xf, yf), "b")
            return (b.fcmp_ordered(s, xf, yf), "b")
        return (b.icmp_signed(s, self.to(x, "i"), self.to(y, "i")), "b")

    def call(self, e, env):
        b = self.b
        if e.keywords:
            raise Unsupported("a call with keywords")
        f = e.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "np":
            name = f.attr
            args = [self.expr(a, env) for a in e.args]
            if name == "float64" and len(args) == 1:
                return (self.to(args[0], "f"), "f")
            if name in ("isfinite", "isnan", "isinf") and len(args) == 1 and args[0][1] == "f":
                x = args[0][0]
                if name == "isnan":
                    return (b.fcmp_unordered("!=", x, x), "b")
                ax = b.call(self.intrinsic("llvm.fabs"), [x])
                inf = self.const("f", np.inf)[0]
                if name == "isinf":
                    return (b.fcmp_ordered("==", ax, inf), "b")
                return (b.fcmp_ordered("!=", ax, inf), "b")  # false for nan and +-inf
            if len(args) != 1 or args[0][1] == "b":
                raise Unsupported(f"np.{name} of these arguments")
            x = self.to(args[0], "f")
            if name in LIBM:
                return (b.call(self.libm(LIBM[name]), [x]), "f")
            if name == "sqrt":
                return (b.call(self.intrinsic("llvm.sqrt"), [x]), "f")
            if name == "abs":
                return (b.call(self.intrinsic("llvm.fabs"), [x]), "f")
            if name == "sign":
                one, zero = self.const("f", 1.0)[0], self.const("f", 0.0)[0]
                s = b.select(b.fcmp_ordered("==", x, zero), zero, x)  # 0 stays 0, nan stays nan
                s = b.select(b.fcmp_ordered("<", x, zero), b.fneg(one), s)
                return (b.select(b.fcmp_ordered(">", x, zero), one, s), "f")
            raise Unsupported(f"np.{name}")
        if not isinstance(f, ast.Name):
            raise Unsupported("a call of an expression")
        name = f.id
        if name.startswith("jg_") and name[3:] in EMIT:
            (x,) = [self.expr(a, env) for a in e.args]
            return (self.call_math(name[3:], self.to(x, "f")), "f")
        if name in ("max", "min") and len(e.args) >= 2:
            args = [self.expr(a, env) for a in e.args]
            kind = "f" if any(a[1] == "f" for a in args) else "i"
            res = self.to(args[0], kind)
            for a in args[1:]:
                v = self.to(a, kind)
                # Python's max: the first of the largest; a nan first stays.
                better = self.compare(
                    ast.Gt() if name == "max" else ast.Lt(), (v, kind), (res, kind)
                )
                res = b.select(better[0], v, res)
            return (res, kind)
        if name == "abs" and len(e.args) == 1:
            x = self.expr(e.args[0], env)
            if x[1] != "f":
                raise Unsupported("abs of an integer")
            return (b.call(self.intrinsic("llvm.fabs"), [x[0]]), "f")
        if name in self.funcs and name.startswith("_"):
            args = [self.to(self.expr(a, env), "f") for a in e.args]
            return (b.call(self.helper(name, len(args)), args), "f")
        raise Unsupported(f"a call of {name}")

    def call_block(self, e, env):
        """``_blockN((a, b, ...))``: the block's program, row by row."""
        if not (
            isinstance(e, ast.Call)
            and isinstance(e.func, ast.Name)
            and e.func.id in self.blocks
            and len(e.args) == 1
            and isinstance(e.args[0], ast.Tuple)
        ):
            raise Unsupported("a tuple assignment that is not a scalar block call")
        blk = self.blocks[e.func.id]
        ok = {"float64": "f", "bool": "b"}
        vals = []
        for a, dt in zip(e.args[0].elts, blk["inputs"]):
            if dt not in ok:
                raise Unsupported(f"a block input of {dt}")
            vals.append((self.to(self.expr(a, env), ok[dt]), ok[dt]))
        from .scalar_block import FAST, fast_instruction

        for row in blk["program"]:
            op, dt, operands = row[0], row[1], row[2:]
            if dt not in ok:
                raise Unsupported(f"a block value of {dt}")
            xs = []
            for x in operands:
                if isinstance(x, tuple):
                    if x[2] not in ok:
                        raise Unsupported(f"a block constant of {x[2]}")
                    xs.append(self.const(ok[x[2]], x[1]))
                else:
                    xs.append(vals[x])
            if op in EMIT and dt == "float64" and all(k == "f" for _, k in xs):
                vals.append((self.call_math(op, xs[0][0]), "f"))
            elif op in FAST and dt == "float64" and all(k == "f" for _, k in xs):
                vals.append((fast_instruction(self.b, op, [v for v, _ in xs]), "f"))
            elif op.startswith("py:"):
                names = [f"_a{k}" for k in range(len(xs))]
                tree = ast.parse(op[3:].format(*names), mode="eval").body
                v = self.expr(tree, dict(env, **dict(zip(names, xs))))
                vals.append((self.to(v, ok[dt]), ok[dt]))
            else:
                raise Unsupported(f"block instruction {op}")
        return [vals[k] for k in blk["outputs"]]

    def helper(self, name, nargs):
        """A helper of the kernel module (``_sigmoid`` ...), compiled once as an
        inlined function of float64 arguments."""
        fn = self.helpers.get(name)
        if fn is not None:
            return fn
        ir = self.ir
        node = self.funcs[name]
        params = [a.arg for a in node.args.args]
        if len(params) != nargs:
            raise Unsupported(f"{name} called with {nargs} arguments")
        fn = ir.Function(self.mod, ir.FunctionType(self.f64, [self.f64] * nargs), name=name)
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline")
        saved = (self.b, self.fn, self.entry, self.ssa, self.assigned, self.slots)
        try:
            self.fn = fn
            self.entry = fn.append_basic_block("entry")
            body = fn.append_basic_block("body")
            self.b = ir.IRBuilder(body)
            (self.ssa, self.assigned), self.slots = _scopes(node), {}
            env = {p: (a, "f") for p, a in zip(params, fn.args)}
            self.helper_stmts(node.body, env)
            if not self.b.block.is_terminated:
                raise Unsupported(f"{name} does not end in return")
            ir.IRBuilder(self.entry).branch(body)
        finally:
            self.b, self.fn, self.entry, self.ssa, self.assigned, self.slots = saved
        self.helpers[name] = fn
        return fn

    def helper_stmts(self, stmts, env):
        for s in stmts:
            if self.b.block.is_terminated:
                return
            if isinstance(s, ast.Return):
                if s.value is None:
                    raise Unsupported("a helper returning nothing")
                self.b.ret(self.to(self.expr(s.value, env), "f"))
            elif isinstance(s, ast.If):
                cond = self.to(self.expr(s.test, env), "b")
                then = self.fn.append_basic_block("then")
                other = self.fn.append_basic_block("else")
                self.b.cbranch(cond, then, other)
                self.b.position_at_end(then)
                self.helper_stmts(s.body, dict(env))
                if not self.b.block.is_terminated:
                    raise Unsupported("a helper branch that does not return")
                self.b.position_at_end(other)
                self.helper_stmts(s.orelse, dict(env))  # then the statements after the if
            else:
                self.stmt(s, env)


def ir_alloca(c: _Compiler, ty):
    """A stack slot in the function's entry block (where mem2reg finds it)."""
    ir = c.ir
    return ir.IRBuilder(c.entry).alloca(ty)


def _as_load(t):
    if isinstance(t, ast.Name):
        return ast.Name(id=t.id, ctx=ast.Load())
    if isinstance(t, ast.Subscript):
        return ast.Subscript(value=t.value, slice=t.slice, ctx=ast.Load())
    raise Unsupported("update of something that is not a name or an element")


def _kind(dtype):
    k = _KINDS.get(np.dtype(dtype))
    if k is None:
        raise Unsupported(f"values of {np.dtype(dtype)}")
    return k


def ir_text(
    body: str, inputs, outputs, consts: dict, temps: list, fastmath=False, kernel=None
) -> str:
    """The LLVM module of a kernel from its module ``body`` (the emitter's
    text): ``inner_w`` when the kernel has temporary arrays ``temps`` (``(shape,
    dtype)`` each), else ``inner``. ``kernel``: that function's syntax tree
    from the loop IR (:func:`jitgrad.codegen.ir.to_ast`), which spares parsing
    it. Raises :class:`Unsupported`."""
    if fastmath:
        raise Unsupported("fastmath (Numba's flags)")
    fname = "inner_w" if temps else "inner"
    try:
        tree = ast.parse(_wanted(body, None if kernel is not None else fname))
    except SyntaxError as e:  # pragma: no cover - our own text
        raise Unsupported(f"unparsable kernel: {e}") from None
    if kernel is not None:
        if kernel.name != fname:
            raise Unsupported(f"the loop IR holds {kernel.name}, not {fname}")
        tree.body.append(kernel)
    params = []
    for v in inputs:
        params.append(
            ("scalar", _kind(v.dtype)) if v.ndim == 0 else ("array", v.shape, _kind(v.dtype))
        )
    for o in outputs:
        params.append(("array", o.shape or (1,), _kind(o.dtype)))
    for a in consts.values():
        a = np.asarray(a)
        if a.ndim == 0 or not a.flags.c_contiguous:
            raise Unsupported("a constant that is not a C-contiguous array")
        params.append(("array", a.shape, _kind(a.dtype)))
    for shape, dtype in temps:
        params.append(("array", tuple(shape), _kind(dtype)))
    c = _Compiler(tree)
    return c.kernel(fname, params)


_TOP = re.compile(r"^(?=[A-Za-z_@#])", re.M)  # a closing bracket continues
_WANTED = re.compile(r"def (_\w+)\(|_block\d+ = scalar_block\(")


def _wanted(body: str, fname: str) -> str:
    """The top-level statements of ``body`` the compiler reads: the function
    ``fname``, the helpers and the scalar blocks (the module also holds
    ``entry`` and ``entry_c``, each another copy of the loops, which would
    double the parse)."""
    keep = []
    starts = [m.start() for m in _TOP.finditer(body)] + [len(body)]
    for a, b in zip(starts, starts[1:]):
        chunk = body[a:b]
        if (fname and chunk.startswith(f"def {fname}(")) or _WANTED.match(chunk):
            keep.append(chunk)
    return "".join(keep)

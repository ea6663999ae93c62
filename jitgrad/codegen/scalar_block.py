"""Long runs of scalar operations, lowered to LLVM IR directly.

Numba types and lowers every statement of a function on its own, at about a
millisecond each: a k-th derivative written as 2 000 scalar statements takes
seconds to compile. A *block* is such a run given to Numba as one call of an
``@intrinsic`` whose code generator writes the LLVM instructions itself
(``fadd``, ``fmul``, jitgrad's ``sin`` of :mod:`.mathlib` ...): one call to type, and a
few microseconds per operation to lower. Operations without a single LLVM
instruction (``tanh``, comparisons, integer powers, the helpers of the kernel
module) are compiled by Numba once per kind and called, so every operation keeps
the meaning it has in ordinary kernel code.

The generated kernel module defines each block as data, one row per graph
node, commented with the node it computes::

    _block1 = scalar_block(
        inputs=("float64",),
        outputs=(3,),
        program=(
            ("sin", "float64", 0),  # s1 = sin(x)
            ...
        ),
    )

and calls it as ``s7, s9 = _block1((x,))``. A row is ``(op, dtype, *operands)``;
an operand is the index of an earlier value (the inputs first, then one value
per row) or ``("c", value, dtype)``, a constant. ``op`` is an instruction name
below or ``"py:<expression>"``, an expression over ``{0}``, ``{1}`` ... written
as in the rest of the module.
"""

from __future__ import annotations

import numpy as np

from .mathlib import EMIT

__all__ = ["scalar_block"]

#: Ops written as one LLVM instruction on float64 operands.
BINARY = {"add": "fadd", "subtract": "fsub", "multiply": "fmul", "divide": "fdiv"}
#: Ops written as a call to an LLVM intrinsic on one float64 operand.
INTRINSIC = {"sqrt": "llvm.sqrt", "abs": "llvm.fabs"}
#: Ops written as jitgrad's own instruction sequences (see :mod:`.mathlib`).
MATH = EMIT
FAST = frozenset(BINARY) | frozenset(INTRINSIC) | frozenset(MATH) | {"negative", "square"}

_PY_FUNCS: dict = {}  # (expression, arity) -> function (stable code objects for Numba's cache)


_HELPERS: dict = {}


def _helpers() -> dict:
    """The kernel module's helper functions (``_sigmoid`` ...), compiled in memory."""
    if not _HELPERS:
        import numba as nb

        from .helpers import PREAMBLE_HELPERS

        env = {"np": np, "nb": nb, "_OPTS": dict(cache=False, error_model="numpy")}
        exec(PREAMBLE_HELPERS, env)  # noqa: S102 - our own fixed source
        _HELPERS.update(env)
    return _HELPERS


def _py_func(expr: str, arity: int):
    key = (expr, arity)
    f = _PY_FUNCS.get(key)
    if f is None:
        names = [f"a{k}" for k in range(arity)]
        src = f"def _f({', '.join(names)}):\n    return {expr.format(*names)}\n"
        env = dict(_helpers())
        exec(src, env)  # noqa: S102 - expressions come from the op table's emit templates
        f = _PY_FUNCS[key] = env["_f"]
    return f


_COMPILED: dict = {}  # (expression, signature, fastmath) -> Numba compile result


def _call_py(context, builder, expr: str, sig, args):
    """Call ``expr`` compiled by Numba (once per expression, signature and
    fastmath setting) with the kernel module's options: NumPy's error model (a
    division by zero gives inf, never an exception) and the caller's fastmath."""
    from numba.core import compiler
    from numba.core.cpu_options import FastMathOptions

    fm = context.fastmath
    fm_key = frozenset(fm.flags) if isinstance(fm, FastMathOptions) else bool(fm)
    key = (expr, sig, fm_key)
    cres = _COMPILED.get(key)
    if cres is None:
        flags = compiler.Flags()
        flags.error_model = "numpy"
        if fm:
            flags.fastmath = fm
        f = _py_func(expr, len(sig.args))
        cres = context.compile_subroutine(builder, f, sig, flags=flags, caching=False)
        _COMPILED[key] = cres
    context.active_code_library.add_linking_library(cres.library)
    return context.call_internal(builder, cres.fndesc, sig, args)


def scalar_block(inputs: tuple, outputs: tuple, program: tuple):
    """A Numba intrinsic computing ``program`` from a tuple of scalars.

    Parameters
    ----------
    inputs : tuple of str
        Dtype names of the inputs (``"float64"``, ``"float32"``, ``"bool"``).
    outputs : tuple of int
        Indices of the values returned, as a tuple.
    program : tuple of rows
        See the module docstring.

    Returns
    -------
    numba intrinsic
        Called from Numba code as ``block((a, b, ...))``.
    """
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic
    from numba.np.numpy_support import from_dtype

    dtypes = [np.dtype(d) for d in inputs] + [np.dtype(row[1]) for row in program]
    nargs = len(inputs)

    def nb_type(dt):
        return types.boolean if dt == np.bool_ else from_dtype(dt)

    ret = types.Tuple([nb_type(dtypes[k]) for k in outputs])

    @intrinsic
    def block(typingctx, args):
        if not isinstance(args, types.BaseTuple) or len(args) != nargs:
            return None

        def codegen(context, builder, sig, llargs):
            return _lower(context, builder, sig.args[0], llargs[0])

        return ret(args), codegen

    def _lower(context, builder, argty, tup):
        vals = []
        for k, (v, t) in enumerate(zip(cgutils.unpack_tuple(builder, tup, nargs), argty)):
            vals.append(context.cast(builder, v, t, nb_type(dtypes[k])))

        def operand(x):
            if isinstance(x, tuple):
                dt = np.dtype(x[2])
                return context.get_constant(nb_type(dt), dt.type(x[1]))
            return vals[x]

        def operand_type(x):
            return nb_type(np.dtype(x[2]) if isinstance(x, tuple) else dtypes[x])

        for row in program:
            op, dt, ops = row[0], np.dtype(row[1]), row[2:]
            args = [operand(x) for x in ops]
            if op in FAST:
                v = fast_instruction(builder, op, args)
            else:
                s = nb_type(dt)(*[operand_type(x) for x in ops])
                v = _call_py(context, builder, op[3:], s, args)
            vals.append(v)
        out = [vals[k] for k in outputs]
        return context.make_tuple(builder, ret, out)

    return block


def fast_instruction(builder, op: str, args: list):
    """The LLVM instructions of a ``FAST`` row on float64 values: the one
    lowering of those ops, for scalar blocks and for :mod:`.direct` kernels
    (whose values must be the same bits)."""
    if op in BINARY:
        return getattr(builder, BINARY[op])(args[0], args[1])
    if op in INTRINSIC:
        f64 = args[0].type
        return builder.call(builder.module.declare_intrinsic(INTRINSIC[op], [f64]), args)
    if op in MATH:
        return MATH[op](builder, args[0])
    if op == "negative":
        return builder.fneg(args[0])
    if op == "square":
        return builder.fmul(args[0], args[0])
    raise ValueError(f"not a FAST operation: {op}")

"""Kernels that are one straight-line block of scalar operations, compiled
without Numba.

A high-order derivative of a scalar function is typically a single
:mod:`.scalar_block`: thousands of ``fadd``/``fmul``/``sin`` (:mod:`.mathlib`) instructions
between a few scalar inputs and outputs. When every operation of the block is
one LLVM instruction (``FAST`` in :mod:`.scalar_block`), jitgrad writes the
whole kernel as an LLVM function with the AOT calling convention (``void
jitgrad_kernel(void **args)``, see :mod:`.aot`) and compiles it with llvmlite
alone: no ``import numba``, no type inference, no first-compile start-up of
Numba's registries (about 0.6 s of a cold compile). The instructions are the
ones the scalar block's Numba lowering writes, so the values are the same.
``k.njit`` (for the user's own ``@njit`` code) still comes from Numba, compiled
on its first use.
"""

from __future__ import annotations

import numpy as np

from .scalar_block import fast_instruction

SYMBOL = "jitgrad_kernel"


def ir_text(n_inputs: int, n_outputs: int, block: dict) -> str:
    """The LLVM module of a kernel that is one block: ``block`` is the
    emitter's :attr:`~.emit.Emitter.direct` (inputs: kernel input positions of
    the block's arguments; program: its rows; outputs: ``(output position,
    value index)``)."""
    import llvmlite.ir as ir

    f64 = ir.DoubleType()
    i8p = ir.IntType(8).as_pointer()
    mod = ir.Module(name="jitgrad_direct")
    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [i8p.as_pointer()]), name=SYMBOL)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    args = fn.args[0]

    def slot(q):
        p = b.load(b.gep(args, [ir.Constant(ir.IntType(64), q)]))
        return b.bitcast(p, f64.as_pointer())

    vals = [b.load(slot(q)) for q in block["inputs"]]
    for op, operands in block["program"]:
        xs = [ir.Constant(f64, float(x[1])) if isinstance(x, tuple) else vals[x] for x in operands]
        v = fast_instruction(b, op, xs)  # the scalar block's own lowering
        vals.append(v)
    for j, k in block["outputs"]:
        b.store(vals[k], slot(n_inputs + j))
    b.ret_void()
    return str(mod)


_ENGINES = []  # in-memory kernels of this process: their code must stay


def jit(text: str) -> int:
    """Compile the module in memory (MCJIT, host CPU, O3); the kernel's address."""
    import llvmlite.binding as llvm

    # MCJIT places code and data anywhere in memory: the JIT code model (as
    # Numba's own), not 32-bit absolute addresses to the constant tables.
    target_machine = host_target_machine(reloc="default", codemodel="jitdefault")
    mod = optimized(text, target_machine)
    engine = llvm.create_mcjit_compiler(mod, target_machine)
    engine.finalize_object()
    _ENGINES.append(engine)
    return engine.get_function_address(SYMBOL)


def host_target_machine(reloc: str, codemodel: str = "default"):
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    cpu = llvm.get_host_cpu_name()
    features = llvm.get_host_cpu_features().flatten()
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=cpu, features=features, opt=3, reloc=reloc, codemodel=codemodel
    )


def optimized(text: str, target_machine):
    """The parsed module after LLVM's O3 pipeline for ``target_machine``."""
    import llvmlite.binding as llvm

    mod = llvm.parse_assembly(text)
    mod.verify()
    run_o3(mod, target_machine)
    return mod


def run_o3(mod, target_machine):
    """LLVM's O3 module pipeline for ``target_machine``, in place."""
    import llvmlite.binding as llvm

    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pb = llvm.create_pass_builder(target_machine, pto)
    pb.getModulePassManager().run(mod, pb)


def check(nodes, inputs, call) -> str | None:
    """Why the compiled kernel ``call`` (inputs -> outputs) is wrong, or None:
    its values at a point against :func:`jitgrad.evaluate` (loosely: the two
    round differently; this catches wiring mistakes, not the last bits)."""
    from ..evaluate import evaluate

    point = [0.3 + 0.1 * q for q in range(len(inputs))]
    want = evaluate(list(nodes), dict(zip(inputs, point)))
    got = call(*point)
    got = got if isinstance(got, tuple) else (got,)
    for j, (g, w) in enumerate(zip(got, want)):
        w = float(w)
        if not (np.isfinite(w) and np.isfinite(g)):
            continue
        if abs(g - w) > 1e-6 * max(1.0, abs(w)):
            return f"self-check: output {j} is {g!r}, evaluate gives {w!r}"
    return None

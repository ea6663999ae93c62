"""The functions of :mod:`.mathlib` as Numba intrinsics, for the generated
kernel modules: ``jg_sin(x)`` and so on, on one float64 value (other real
numbers are converted to float64 first, as ``np.sin`` does).

>>> import numba as nb
>>> import numpy as np
>>> from jitgrad.codegen.nbmath import jg_exp, jg_sin
>>> @nb.njit
... def f(x):
...     return jg_sin(x) + jg_exp(x)
>>> bool(abs(f(0.5) - (np.sin(0.5) + np.exp(0.5))) < 1e-15)
True
"""

from __future__ import annotations

from numba import types
from numba.extending import intrinsic

from . import mathlib


def _make(name: str):
    emit = mathlib.EMIT[name]

    def typer(typingctx, x):
        if not isinstance(x, (types.Float, types.Integer, types.Boolean)):
            return None
        sig = types.float64(x)

        def codegen(context, builder, sig, args):
            v = context.cast(builder, args[0], sig.args[0], types.float64)
            return emit(builder, v)

        return sig, codegen

    typer.__name__ = f"jg_{name}"
    typer.__qualname__ = f"jg_{name}"
    return intrinsic(typer)


# One Numba intrinsic per function of the mathlib: jg_exp, jg_log, jg_log1p, jg_sin, jg_cos.
for _name in mathlib.EMIT:
    globals()[f"jg_{_name}"] = _make(_name)
__all__ = [f"jg_{_name}" for _name in mathlib.EMIT]
del _name

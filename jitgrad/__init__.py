"""jitgrad: symbolic derivatives of static computational graphs, compiled by Numba.

Build a graph once with NumPy-style functions, derive new graphs from it, print
them as readable math and evaluate them.

>>> import numpy as np, jitgrad as jg
>>> x = jg.vector("x", 3)
>>> y = jg.sum(jg.sin(x) * x)
>>> print(y)
sum(sin(x)*x)
"""

from . import api as _api  # noqa: F401  (installs the Node operators)
from .ad import derivative, grad, hessian, hvp, jacobian, jvp, vjp
from .api import const, matrix, scalar, scalars, var, vector
from .codegen import Kernel, KernelCheckError, compile
from .evaluate import evaluate
from .graph import Node
from .ops.elementwise import (
    abs,
    add,
    arccos,
    arcsin,
    arctan,
    cast,
    cos,
    cosh,
    divide,
    equal,
    exp,
    expm1,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log1p,
    maximum,
    minimum,
    multiply,
    negative,
    power,
    sigmoid,
    sign,
    sin,
    sinh,
    softplus,
    sqrt,
    square,
    subtract,
    tan,
    tanh,
    where,
)
from .ops.linalg import dot, matmul
from .ops.reduce import logsumexp, max, mean, min, prod, sum
from .ops.structure import broadcast_to, concatenate, reshape, stack, take, transpose
from .printing import count_ops, pretty
from .progress import set_progress
from .simplify import simplify
from .sym import from_sympy, latex, to_sympy

__version__ = "0.1.0"

__all__ = [
    "Kernel",
    "KernelCheckError",
    "Node",
    "abs",
    "add",
    "arccos",
    "arcsin",
    "arctan",
    "broadcast_to",
    "cast",
    "compile",
    "concatenate",
    "const",
    "cos",
    "cosh",
    "count_ops",
    "derivative",
    "divide",
    "dot",
    "equal",
    "evaluate",
    "exp",
    "expm1",
    "from_sympy",
    "grad",
    "greater",
    "greater_equal",
    "hessian",
    "hvp",
    "jacobian",
    "jvp",
    "latex",
    "less",
    "less_equal",
    "log",
    "log1p",
    "logsumexp",
    "matmul",
    "matrix",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "multiply",
    "negative",
    "power",
    "pretty",
    "prod",
    "reshape",
    "scalar",
    "scalars",
    "set_progress",
    "sigmoid",
    "sign",
    "simplify",
    "sin",
    "sinh",
    "softplus",
    "sqrt",
    "square",
    "stack",
    "subtract",
    "sum",
    "take",
    "tan",
    "tanh",
    "to_sympy",
    "transpose",
    "var",
    "vector",
    "vjp",
    "where",
]

"""Derivative transforms: graph -> graph."""

from .derived import derivative, hessian, hvp, jacobian
from .forward import jvp
from .reverse import grad, vjp

__all__ = ["vjp", "grad", "jvp", "hvp", "jacobian", "hessian", "derivative"]

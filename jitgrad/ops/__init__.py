"""The op table and the graph-building functions, one module per family."""

from . import elementwise, linalg, reduce, structure  # noqa: F401  (registers every op)
from .core import OPS, OpDef

__all__ = ["OPS", "OpDef"]

"""Code generation: lower graphs to fused loops, emit Python source, compile with Numba."""

from .check import KernelCheckError
from .kernel import Kernel, cache_dir, compile

__all__ = ["Kernel", "KernelCheckError", "compile", "cache_dir"]

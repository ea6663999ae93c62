"""Code generation: lower graphs to fused loops, emit Python source, compile with Numba."""

from .kernel import Kernel, cache_dir, compile

__all__ = ["Kernel", "compile", "cache_dir"]

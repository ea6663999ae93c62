"""Where a kernel module finds its array constants."""

from __future__ import annotations

import os

import numpy as np


def module_consts(g: dict) -> dict:
    """The array constants of the kernel module whose globals are ``g``: those
    its caller put there as ``_CONSTS`` (a module executed in memory), else
    those of the ``.npz`` file beside the module's file (the cache's), else
    none. The module is the same text in all three cases."""
    if "_CONSTS" in g:
        return g["_CONSTS"]
    f = g.get("__file__")
    if f:
        path = os.path.splitext(f)[0] + ".npz"
        if os.path.exists(path):
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
    return {}

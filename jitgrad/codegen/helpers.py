"""The helper functions every kernel module defines (``_sigmoid`` ...), as source.

Shared by :mod:`.emit`, which writes them at the top of each module, and
:mod:`.scalar_block`, which compiles them once in memory for the operations of a
block that call them.
"""

PREAMBLE_HELPERS = """

@nb.njit(inline="always", **_OPTS)
def _sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + np.exp(-x))
    e = np.exp(x)
    return e / (1.0 + e)


@nb.njit(inline="always", **_OPTS)
def _softplus(x):
    # log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))
    return max(x, 0.0) + np.log1p(np.exp(-abs(x)))


@nb.njit(inline="always", **_OPTS)
def _maximum(a, b):
    # NumPy's maximum: nan if either is nan
    return a if (a >= b or a != a) else b


@nb.njit(inline="always", **_OPTS)
def _minimum(a, b):
    return a if (a <= b or a != a) else b
"""

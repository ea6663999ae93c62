"""Reference evaluation: a NumPy interpreter over the op table."""

from __future__ import annotations

import numpy as np

from .graph import Node, consumers_count, toposort
from .shapes import fmt

__all__ = ["evaluate"]


def _outputs_list(outputs):
    if isinstance(outputs, Node):
        return [outputs], True
    if isinstance(outputs, (list, tuple)):
        for o in outputs:
            if not isinstance(o, Node):
                raise TypeError(f"evaluate: outputs must be nodes, got {type(o).__name__}")
        return list(outputs), False
    raise TypeError(
        f"evaluate: outputs must be a node or a list of nodes, got {type(outputs).__name__}"
    )


def _bind(node: Node, value) -> np.ndarray:
    name = node.p["name"]
    try:
        a = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise TypeError(
            f"evaluate: input {name!r}: cannot convert {type(value).__name__} to an array ({e})"
        ) from None
    if a.dtype.kind not in "biuf":
        raise TypeError(
            f"evaluate: input {name!r} must be a real number array, got dtype {a.dtype}"
        )
    if a.shape != node.shape:
        raise ValueError(
            f"evaluate: input {name!r} expects shape {fmt(node.shape)}, got {fmt(a.shape)}"
        )
    return a.astype(node.dtype, copy=False)


def evaluate(outputs, inputs: dict):
    """Evaluate nodes with NumPy (no compilation): the reference semantics.

    Parameters
    ----------
    outputs : Node or list of Node
    inputs : dict
        ``{var: array}``. Values are converted to the var's dtype like NumPy
        would; vars the outputs do not use are ignored.

    Returns
    -------
    numpy.ndarray or list of numpy.ndarray
        One array per output (0-d arrays for scalars); a list when ``outputs``
        is a list or tuple.

    Raises
    ------
    TypeError
        If a key is not a var node or a value is not numeric.
    ValueError
        If a var the outputs need is missing or has the wrong shape.

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x = jg.vector("x", 3)
    >>> jg.evaluate(x * 2.0 + 1.0, {x: np.array([0.0, 1.0, 2.0])})
    array([1., 3., 5.])
    """
    outs, single = _outputs_list(outputs)
    if not isinstance(inputs, dict):
        raise TypeError(
            f"evaluate: inputs must be a dict {{var: array}}, got {type(inputs).__name__}"
        )
    for k in inputs:
        if not isinstance(k, Node) or k.op.name != "var":
            raise TypeError(f"evaluate: keys of inputs must be var nodes, got {k!r}")
    order = toposort(outs)
    remaining = consumers_count(order)
    keep = {id(o) for o in outs}
    values: dict[int, np.ndarray] = {}
    for node in order:
        op = node.op
        if op.name == "var":
            if node not in inputs:
                raise ValueError(
                    f"evaluate: no value given for input {node.p['name']!r} of shape {fmt(node.shape)}"
                )
            values[id(node)] = _bind(node, inputs[node])
            continue
        if op.name == "const":
            values[id(node)] = node.params[0][1].array
            continue
        args = [values[id(i)] for i in node.inputs]
        with np.errstate(all="ignore"):
            values[id(node)] = np.asarray(op.impl(*args, **dict(node.params))).astype(
                node.dtype, copy=False
            )
        for i in node.inputs:
            # Free intermediate values as soon as their last consumer has run.
            k = id(i)
            remaining[k] -= 1
            if remaining[k] == 0 and k not in keep:
                del values[k]
    results = [values[id(o)] for o in outs]
    return results[0] if single else results

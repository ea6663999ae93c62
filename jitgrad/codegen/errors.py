"""Exceptions raised from compiled kernel code.

Numba can raise an exception with run-time integer arguments cheaply, but
building a message string in compiled code pulls in its whole string support
(seconds of compile time). So compiled code raises :class:`InputShapeError`
with the constant part of the message and the received dimensions as integers,
and the message is formatted in Python when it is shown.
"""

from __future__ import annotations

__all__ = ["InputShapeError"]


class InputShapeError(ValueError):
    """A kernel input of the wrong shape: ``InputShapeError(text, *dims)``.

    Examples
    --------
    >>> str(InputShapeError("input 'x': expected shape (3,)", 4))
    "input 'x': expected shape (3,), got shape (4,)"
    """

    def __str__(self):
        if not self.args or not isinstance(self.args[0], str):
            return super().__str__()
        text, *dims = self.args
        got = "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"
        return f"{text}, got shape {got}"

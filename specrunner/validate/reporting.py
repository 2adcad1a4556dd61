"""How the checks report a problem, and how they quote the user's values in it.

- ``Add``: the callback every check reports through: a JSON path, a message, ``key=True`` to point
  at the mapping key rather than its value, and a severity. ``validate.manifest`` turns each call
  into a ``Diagnostic`` at the path's ``file:line:col``.
- ``short``, ``kind``, ``clip_part``: values, type names and path parts as messages show them; a
  quoted value or a path part is clipped to 60 characters.
- ``close_matches``, ``did_you_mean``: "did you mean" hints, skipped for absurd words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from specrunner.core.diagnostics import PathT, Severity

MAX_HINT_CHARS = 100  # no longer word is "close" to a key or placeholder name


class Add(Protocol):
    def __call__(
        self, path: PathT, message: str, /, *, key: bool = False, severity: Severity = "error"
    ) -> None: ...


def kind(value: Any) -> str:
    """The manifest's word for the type of ``value``: mapping, list, string, integer, ..."""
    return {
        dict: "mapping",
        list: "list",
        str: "string",
        int: "integer",
        float: "number",
        bool: "boolean",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def short(v: Any) -> str:
    """``repr(v)``, clipped to 60 characters."""
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def clip_part(part: str | int) -> str | int:
    """A JSON path part (or a placeholder name) clipped to 60 characters."""
    return part[:57] + "..." if isinstance(part, str) and len(part) > 60 else part


def close_matches(word: str, options: Sequence[str], n: int = 1, cutoff: float = 0.6) -> list[str]:
    """difflib's hint, skipped for absurd words: it indexes every character of ``word`` first."""
    if len(word) > MAX_HINT_CHARS:
        return []
    import difflib  # only for a hint: a valid manifest never needs one

    return difflib.get_close_matches(word, options, n=n, cutoff=cutoff)


def did_you_mean(word: str, options: list[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``options``, or nothing."""
    close = close_matches(word, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""

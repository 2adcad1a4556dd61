"""Lock entries for tests: a record written as its JSON form (fields left out take the codec's defaults)."""

from __future__ import annotations

from typing import Any

from specrunner.core.record import LockEntry
from specrunner.statefile.checks import from_record


def entry(rec: dict[str, Any] | None = None, **fields: Any) -> LockEntry:
    """The LockEntry of a record's JSON form (``rec`` updated with ``fields``); a bad one fails the test."""
    out = from_record({**(rec or {}), **fields})
    assert not isinstance(out, str), out
    return out

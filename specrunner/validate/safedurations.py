"""``time`` and ``interval`` read from a document that may be hostile: every failure is a DurationError.

``core.durations`` parses what the schema's pattern lets through; a hostile text that matches it can
still escape as ValueError (``int()`` of a 5,000-digit hour) or decimal.Overflow. The schema errors
and the semantic checks word a bad duration with the DurationError raised here; the typed build
converts the durations the checks accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from specrunner.core import durations
from specrunner.validate.reporting import short

MAX_DURATION_CHARS = 40


def _duration(fn: Callable[[Any], int], value: Any) -> int:
    """``durations.*`` with every failure as a DurationError."""
    if isinstance(value, str) and len(value) > MAX_DURATION_CHARS:
        raise durations.DurationError(f"{short(value)} is too long to be a duration")
    try:
        return fn(value)
    except durations.DurationError:
        raise
    except (ValueError, ArithmeticError):
        raise durations.DurationError(f"cannot read {short(value)} as a duration") from None


def time_ms(value: Any) -> int:
    """A rule's ``time`` in milliseconds."""
    return _duration(durations.time_ms, value)


def interval_s(value: Any) -> int:
    """A rule's ``interval`` in seconds."""
    return _duration(durations.interval_s, value)

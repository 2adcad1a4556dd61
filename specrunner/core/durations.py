"""Parsing the manifest's time values into the API's units (Time: ms, Interval: s)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_CLOCK = re.compile(r"^\s*(\d+):([0-5]\d):([0-5]\d)(?:\.(\d{1,3}))?\s*$")
_BARE = re.compile(r"^\s*(\d+)\s*$")
_MS_PER = {"ms": Decimal(1), "s": Decimal(1000), "m": Decimal(60_000), "h": Decimal(3_600_000)}


class DurationError(ValueError):
    pass


def to_ms(value: int | str, *, bare_unit: str) -> Decimal:
    """A duration in milliseconds. A bare number is in ``bare_unit`` ("ms" or "s")."""
    if isinstance(value, bool):
        raise DurationError("expected a duration such as 5s, 1500ms or 00:01:30")
    if isinstance(value, int):
        if value < 0:
            raise DurationError("must not be negative")
        return Decimal(value) * _MS_PER[bare_unit]
    if not isinstance(value, str):
        raise DurationError("expected a duration such as 5s, 1500ms or 00:01:30")
    if m := _BARE.match(value):
        return Decimal(m.group(1)) * _MS_PER[bare_unit]
    if m := _UNIT.match(value):
        try:
            return Decimal(m.group(1)) * _MS_PER[m.group(2)]
        except InvalidOperation:  # pragma: no cover - the regex only admits decimals
            raise DurationError("not a number") from None
    if m := _CLOCK.match(value):
        h, mi, s, frac = m.groups()
        ms = (int(h) * 3600 + int(mi) * 60 + int(s)) * 1000 + int((frac or "0").ljust(3, "0"))
        return Decimal(ms)
    raise DurationError(f"cannot read {value!r} as a duration; write e.g. 5s, 1500ms, 2m, 1h or 00:01:30.500")


def time_ms(value: int | str) -> int:
    """MTS ``Time``: whole milliseconds; a bare integer is already in ms."""
    ms = to_ms(value, bare_unit="ms")
    if ms != ms.to_integral_value():
        raise DurationError(f"{value!r} is not a whole number of milliseconds")
    return int(ms)


def interval_s(value: int | str) -> int:
    """MTS ``Interval``: whole seconds; a bare integer is already in seconds."""
    ms = to_ms(value, bare_unit="s")
    if ms % 1000:
        raise DurationError(
            f"{value!r} is not a whole number of seconds; the service's Interval is in whole seconds"
        )
    return int(ms // 1000)


def format_ms(ms: int) -> str:
    """A short human form: 0s, 5s, 1.5s, 2m30s, 1h2m."""
    if ms % 1000:
        return f"{ms / 1000:g}s"
    s = ms // 1000
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s or not (h or m) else "")
    return out


_PARTS = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_seconds(value: str | float | int) -> float:
    """A command-line wait in seconds: ``90``, ``90s``, ``1.5s``, ``500ms``, ``5m``, ``1h``, ``1m30s``,
    ``00:01:30``. A bare number is in seconds. Refuses negatives and anything else with an example."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise DurationError("must not be negative")
        return float(value)
    text = str(value).strip().lower()
    try:
        if _BARE.match(text) or re.fullmatch(r"\d+\.\d+", text):
            return float(text)
        if _CLOCK.match(text):
            return float(to_ms(text, bare_unit="s")) / 1000
        if text and _PARTS.sub("", text) == "":
            return sum(float(Decimal(n) * _MS_PER[u]) for n, u in _PARTS.findall(text)) / 1000
    except (DurationError, InvalidOperation):
        pass
    raise DurationError(f"cannot read {value!r} as a duration; write e.g. 90, 90s, 500ms, 5m, 1h or 1m30s")

"""Capture points: the times (ms) at which a ``SnapshotConfig`` takes its snapshots.

The rules are described with the frame cutter (:mod:`~specrunner.engine.frames`).
"""

from __future__ import annotations

import math
from fractions import Fraction

from specrunner.engine.errors import VideoContentBad
from specrunner.engine.scale import round_half_up
from specrunner.engine.spec import SnapshotSpec

DEFAULT_INTERVAL_MS = 10_000
"""``Interval`` when ``Num`` is set and ``Interval`` is not (MTS default: 10 s)."""


def capture_points(spec: SnapshotSpec, duration_ms: int) -> list[int]:
    """The times (ms, ascending) at which ``spec`` takes snapshots of a ``duration_ms`` video.

    A ``Time`` at or past the end: a single intra snapshot takes the nearest keyframe (the FAQ); a
    multi-snapshot job keeps its first point (the last frame, or the nearest keyframe) and drops the
    later ones, "the actual number of snapshots is returned" (Num, parameter details page); a single
    ``normal`` snapshot raises VideoContentBad (no frame is shown at that time).
    """
    start = spec.time_ms
    single = not spec.is_async or spec.num == 1
    if start >= duration_ms and start >= 0 and (not single or spec.frame_type == "intra"):
        return [start]
    if start >= duration_ms:
        raise VideoContentBad(f"snapshot time {start} ms is past the end of the video ({duration_ms} ms)")
    if start < 0:
        raise ValueError("time_ms must not be negative")
    if spec.num is not None and spec.num <= 0:
        raise ValueError("num must be positive")
    if spec.interval_s is not None and spec.interval_s < 0:
        raise ValueError("interval_s must not be negative")
    if not spec.is_async or spec.num == 1:
        return [start]
    if spec.interval_s == 0:
        return _spread(start, duration_ms, spec.num) if spec.num else [start]
    interval_ms = DEFAULT_INTERVAL_MS if spec.interval_s is None else spec.interval_s * 1000
    count = spec.num if spec.num is not None else math.ceil((duration_ms - start) / interval_ms) + 1
    points = (start + round_half_up(k * interval_ms) for k in range(count))
    return dedupe([point for point in points if point < duration_ms])


def dedupe(values: list[int]) -> list[int]:
    """Drop consecutive repeats (the points are sorted, so these are all the repeats)."""
    return [value for position, value in enumerate(values) if position == 0 or values[position - 1] != value]


def _spread(start: int, duration_ms: int, num: int) -> list[int]:
    """``num`` points evenly over ``[start, duration_ms)`` (duplicates from rounding dropped)."""
    span = duration_ms - start
    points = [start + round_half_up(Fraction(position * span, num)) for position in range(num)]
    return dedupe([point for point in points if point < duration_ms])

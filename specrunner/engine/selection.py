"""Which decoded frames a snapshot job takes: the frame shown at each point (``normal``) or the nearest
keyframe (``intra``), with black-frame filtering of the first snapshot (BlackLevel's rule,
:func:`~specrunner.core.mtsrules.black_lead_in_filtered`: at ``Time=0`` a single snapshot always skips
a black lead-in; several snapshots do when BlackLevel is set).

The rules are described with the frame cutter (:mod:`~specrunner.engine.frames`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from av.video.frame import VideoFrame

from specrunner.core.mtsrules import black_lead_in_filtered
from specrunner.engine.decode import Reader, StreamInfo, pts
from specrunner.engine.errors import VideoContentBad
from specrunner.engine.points import dedupe
from specrunner.engine.scale import round_half_up, to_image
from specrunner.engine.spec import SnapshotSpec

DEFAULT_PIXEL_BLACK_THRESHOLD = 70
"""Luma below which a pixel counts as black when ``PixelBlackThreshold`` is not set."""

LEAD_IN_BLACK_LEVEL = 100
"""A single snapshot at ``Time=0`` always skips black frames and ignores BlackLevel: a frame counts as
black when all of its pixels are below the threshold (BlackLevel 100, "only pure black" in the docs)."""

BLACK_SCAN_MS = 5_000
"""Black-frame filtering looks for a non-black first snapshot within this many ms of the start."""

_BLACK_PROBE_WIDTH = 160


def cut_normal(
    reader: Reader, info: StreamInfo, spec: SnapshotSpec, points: list[int]
) -> Iterator[VideoFrame]:
    """The frame displayed at each point (the first one possibly replaced by a non-black frame)."""
    for number, point in enumerate(points):
        frame = reader.frame_at(info.to_pts(point))
        if number == 0 and _filters_black(spec):
            frame = _first_non_black_frame(reader, frame, info, spec)
        yield frame


def cut_intra(
    reader: Reader, info: StreamInfo, spec: SnapshotSpec, points: list[int]
) -> Iterator[VideoFrame]:
    """The keyframe nearest to each point, each keyframe once (``reader.index`` must be read)."""
    keys = reader.index.keys if reader.index is not None else []
    if not keys:
        raise VideoContentBad("the video has no keyframes")
    chosen = dedupe([_nearest(keys, info, point) for point in points])
    first = reader.frame_at(chosen[0])
    if _filters_black(spec):
        first = _first_non_black_keyframe(reader, first, keys, info, spec)
    yield first
    for key in chosen[1:]:
        if key != pts(first):
            yield reader.frame_at(key)


def _first_non_black_frame(
    reader: Reader, frame: VideoFrame, info: StreamInfo, spec: SnapshotSpec
) -> VideoFrame:
    """``frame`` or, if it is black, the first later non-black frame of the first 5 s."""
    candidate: VideoFrame | None = frame
    while candidate is not None and info.to_ms(pts(candidate)) < BLACK_SCAN_MS:
        if not _is_black(candidate, spec):
            return candidate
        candidate = reader.advance()
    return frame


def _first_non_black_keyframe(
    reader: Reader, frame: VideoFrame, keys: list[int], info: StreamInfo, spec: SnapshotSpec
) -> VideoFrame:
    """``frame`` or, if it is black, the first later non-black keyframe of the first 5 s."""
    if not _is_black(frame, spec):
        return frame
    later = keys[bisect.bisect_right(keys, pts(frame)) :]
    for key in later:
        if info.to_ms(key) >= BLACK_SCAN_MS:
            break
        candidate = reader.frame_at(key)
        if not _is_black(candidate, spec):
            return candidate
    return frame


def _nearest(keys: list[int], info: StreamInfo, time_ms: int) -> int:
    """The keyframe pts closest to ``time_ms`` (``keys`` sorted); the earlier one on a tie."""
    position = bisect.bisect_right(keys, info.to_pts(time_ms))
    neighbours = keys[max(0, position - 1) : position + 1]
    return min(neighbours, key=lambda key: (info.distance(key, time_ms), key))


def _filters_black(spec: SnapshotSpec) -> bool:
    return black_lead_in_filtered(spec.time_ms, _single(spec), spec.black_level, spec.num)


def _single(spec: SnapshotSpec) -> bool:
    return not spec.is_async or spec.num == 1


def _is_black(frame: VideoFrame, spec: SnapshotSpec) -> bool:
    """At least ``black_level`` percent of the pixels have a luma below the threshold (a single
    snapshot ignores BlackLevel: only a black frame, ``LEAD_IN_BLACK_LEVEL``, is skipped)."""
    threshold = spec.pixel_black_threshold
    threshold = DEFAULT_PIXEL_BLACK_THRESHOLD if threshold is None else threshold
    level = LEAD_IN_BLACK_LEVEL if _single(spec) or spec.black_level is None else spec.black_level
    width = min(frame.width, _BLACK_PROBE_WIDTH)
    height = max(1, round_half_up(frame.height * width / frame.width))
    histogram = to_image(frame, (width, height)).convert("L").histogram()
    dark = sum(histogram[: max(0, min(256, threshold))])
    return dark * 100 >= level * sum(histogram)

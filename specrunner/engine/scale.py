"""Picture sizes and scaling: the output size of a snapshot or a sprite cell, and swscale conversion."""

from __future__ import annotations

import math
from fractions import Fraction

from av.video.frame import VideoFrame
from PIL import Image

from specrunner.engine.spec import SnapshotSpec


def round_half_up(value: float | Fraction) -> int:
    """The nearest integer, halves rounded up (``round`` would round them to even)."""
    return math.floor(value + Fraction(1, 2)) if isinstance(value, Fraction) else math.floor(value + 0.5)


def fit(width: int | None, height: int | None, source: tuple[int, int]) -> tuple[int, int]:
    """``width`` x ``height``; with one side only, the other follows ``source``'s aspect ratio
    (rounded, at least 1 px); with neither, ``source`` itself."""
    source_width, source_height = source
    if width and height:
        return width, height
    if width:
        return width, max(1, round_half_up(width * source_height / source_width))
    if height:
        return max(1, round_half_up(height * source_width / source_height)), height
    return source_width, source_height


def output_size(spec: SnapshotSpec, source_width: int, source_height: int) -> tuple[int, int]:
    """The snapshot size: ``Width``/``Height``, the missing side following the source aspect ratio."""
    return fit(spec.width, spec.height, (source_width, source_height))


def to_image(frame: VideoFrame, size: tuple[int, int]) -> Image.Image:
    """Scale and convert with swscale: area averaging to shrink (no aliasing), bicubic otherwise."""
    width, height = size
    shrinking = width < frame.width and height < frame.height
    interpolation = "AREA" if shrinking else "BICUBIC"
    # PyAV's stub leaves to_image unannotated; it returns a PIL image.
    image: Image.Image = frame.to_image(  # type: ignore[no-untyped-call]
        width=width, height=height, interpolation=interpolation, threads=0
    )
    return image

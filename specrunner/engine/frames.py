"""The local engine's frame cutter: real JPG snapshots from real videos, with MTS semantics.

Given a :class:`~specrunner.engine.spec.SnapshotSpec`, :func:`cut` decodes exactly the frames the
service would take and returns them as RGB images at the output size, plus the tiled sprites.

Semantics (MTS ``SnapshotConfig``, see ``/work/shared/mts-api.md`` sections 1.1 and 1.4):

- Capture points (:func:`capture_points`): sync mode or ``Num == 1``: one point at ``Time``.
  ``Interval`` only: every interval from ``Time`` to the end. ``Num`` only: ``Interval`` is 10 s.
  ``Interval == 0``: ``Num`` points spread evenly over ``[Time, duration)``. Points at or past the end
  of the video are dropped, so the result (Count) can be shorter than ``Num``. A ``Time`` at or past
  the end fails with ``InvalidParameter.ResourceContentBad`` (not even one snapshot fits), except for a
  single ``intra`` snapshot, which takes the nearest (i.e. the last) keyframe, as the snapshot FAQ says.
- ``FrameType == "normal"``: the frame displayed at ``t``, i.e. the last frame with pts <= t (the
  first frame if ``t`` precedes it). ``Frame.time_ms`` is that frame's pts, floored to the ms.
- ``FrameType == "intra"``: the keyframe nearest to ``t`` (absolute distance, the earlier one on a
  tie). Points are sorted, so points that share a keyframe are consecutive: each keyframe is emitted
  once only, and Count can be lower than ``Num`` (the FAQ: points without a keyframe of their own are
  skipped).
- Black-frame filtering (``BlackLevel`` / ``PixelBlackThreshold``, default threshold 70): only when
  ``BlackLevel`` is set, ``Time == 0`` and ``Num > 1``. A frame is black when at least ``BlackLevel``
  percent of its pixels have a luma below the threshold. If the first snapshot is black, later frames
  of the first 5 s are tried (the following keyframes in ``intra`` mode, the following frames in
  ``normal`` mode) and the first non-black one is taken; if all are black, the original stays. The
  other snapshots are not filtered and keep their positions; ``Frame.index`` is the capture order.
- Output size: ``Width`` and/or ``Height``; with one side only, the other follows the source aspect
  ratio (rounded, at least 1 px); with neither, the source size.

Efficiency: a single ``normal`` frame never decodes the whole video: the cutter seeks to the keyframe
before the point and decodes forward to it. With several points, or in ``intra`` mode, the frame and
keyframe positions are first read by demuxing once (no decoding); the decoder then keeps going
forward, and seeks only when the keyframe it would land on skips at least ``_SEEK_COST_FRAMES``
frames (a seek restarts the decoder's pipeline). So dense sequences decode straight through, sparse
ones and ``intra`` snapshots jump from keyframe to keyframe. Scaling and RGB conversion use
ffmpeg's swscale; frames are converted as soon as they are taken (no decoded frames pile up).
"""

from __future__ import annotations

import bisect
import hashlib
import io
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction

import av
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from PIL import Image, ImageColor

from specrunner.engine.spec import SnapshotSpec, TileSpec

DEFAULT_INTERVAL_MS = 10_000
"""``Interval`` when ``Num`` is set and ``Interval`` is not (MTS default: 10 s)."""

DEFAULT_PIXEL_BLACK_THRESHOLD = 70
"""Luma below which a pixel counts as black when ``PixelBlackThreshold`` is not set."""

BLACK_SCAN_MS = 5_000
"""Black-frame filtering looks for a non-black first snapshot within this many ms of the start."""

_BLACK_PROBE_WIDTH = 160
_SEEK_COST_FRAMES = 8
"""A seek restarts the decoder (frame threads, B-frame reordering): worth it past this many frames."""


# --------------------------------------------------------------------------------------- errors


class VideoError(Exception):
    """A snapshot cannot be taken from this file. ``code`` is the MTS error code to report."""

    code = "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class VideoNotFound(VideoError):
    """The input file does not exist."""

    code = "InvalidParameter.ResourceNotFound"


class VideoContentBad(VideoError):
    """Not a video, no video stream, undecodable, or the config does not fit the file."""

    code = "InvalidParameter.ResourceContentBad"


class SnapshotTimeout(VideoError):
    """The deadline passed while cutting."""

    code = "SnapshotTimeOut"


# ------------------------------------------------------------------------------------- results


@dataclass
class Frame:
    """One snapshot: ``index`` is 1-based in capture order, ``time_ms`` the frame's real pts."""

    index: int
    time_ms: int
    image: Image.Image


@dataclass
class SnapshotResult:
    """Everything a snapshot job produced from one input file."""

    frames: list[Frame]
    sprites: list[Image.Image]
    duration_ms: int
    source_width: int
    source_height: int


@dataclass(frozen=True)
class _StreamInfo:
    """Timing facts of the video stream: ``start`` (pts of the start) and the time base."""

    duration_ms: int
    width: int
    height: int
    start: int
    time_base: Fraction

    def to_pts(self, time_ms: int) -> int:
        """The largest pts whose presentation time is <= ``time_ms`` (relative to the start)."""
        return self.start + math.floor(Fraction(time_ms, 1000) / self.time_base)

    def to_ms(self, pts: int) -> int:
        return math.floor((pts - self.start) * self.time_base * 1000)

    def distance(self, pts: int, time_ms: int) -> Fraction:
        return abs((pts - self.start) * self.time_base - Fraction(time_ms, 1000))


# ---------------------------------------------------------------------------------- public API


def probe(path: str | os.PathLike[str]) -> tuple[int, int, int]:
    """Return ``(duration_ms, width, height)`` of the first video stream of ``path``."""
    with _open_video(path) as (container, stream):
        info = _stream_info(container, stream, None)
    return info.duration_ms, info.width, info.height


def capture_points(spec: SnapshotSpec, duration_ms: int) -> list[int]:
    """The times (ms, ascending) at which ``spec`` takes snapshots of a ``duration_ms`` video.

    Raises VideoContentBad if ``spec.time_ms`` is at or past the end (no snapshot can be taken),
    except for a single intra snapshot (the nearest keyframe is taken: the FAQ).
    """
    start = spec.time_ms
    single = not spec.is_async or spec.num == 1
    if start >= duration_ms and single and spec.frame_type == "intra" and start >= 0:
        # The snapshot FAQ: a keyframe snapshot at a time past the end returns the nearest keyframe.
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
    points = (start + _round_half_up(k * interval_ms) for k in range(count))
    return _dedupe([point for point in points if point < duration_ms])


def cut(path: str | os.PathLike[str], spec: SnapshotSpec, *, deadline: float | None = None) -> SnapshotResult:
    """Take the snapshots ``spec`` asks for from the video at ``path``.

    ``deadline`` is a :func:`time.monotonic` value; past it, SnapshotTimeout is raised.
    """
    with _open_video(path) as (container, stream):
        _check_deadline(deadline)
        info = _stream_info(container, stream, deadline)
        points = capture_points(spec, info.duration_ms)
        size = output_size(spec, info.width, info.height)
        stream.codec_context.thread_type = "SLICE" if spec.frame_type == "intra" else "AUTO"
        reader = _Reader(container, stream, deadline)
        if spec.frame_type == "intra" or len(points) > 1:
            reader.index = _read_index(container, stream, deadline)
        cutter = _cut_intra if spec.frame_type == "intra" else _cut_normal
        frames = [
            Frame(index=number, time_ms=info.to_ms(_pts(frame)), image=_to_image(frame, size))
            for number, frame in enumerate(cutter(reader, info, spec, points), start=1)
        ]
    sprites = build_sprites(frames, spec.tile) if spec.tile is not None else []
    return SnapshotResult(frames, sprites, info.duration_ms, info.width, info.height)


def output_size(spec: SnapshotSpec, source_width: int, source_height: int) -> tuple[int, int]:
    """The snapshot size: ``Width``/``Height``, the missing side following the source aspect ratio."""
    if spec.width and spec.height:
        return spec.width, spec.height
    if spec.width:
        return spec.width, max(1, _round_half_up(spec.width * source_height / source_width))
    if spec.height:
        return max(1, _round_half_up(spec.height * source_width / source_height)), spec.height
    return source_width, source_height


def build_sprites(frames: list[Frame], tile: TileSpec) -> list[Image.Image]:
    """Tile ``frames`` row-major into sprites of ``tile.lines`` x ``tile.columns`` cells.

    Every sprite, the last one included, has the full size; empty cells show the background.
    Raises ValueError for an unknown colour.
    """
    if not frames:
        return []
    cell = _cell_size(frames[0].image.size, tile)
    colour = _background_colour(tile.color, len(frames))
    per_sprite = tile.lines * tile.columns
    return [
        _build_sprite(frames[first : first + per_sprite], tile, cell, colour)
        for first in range(0, len(frames), per_sprite)
    ]


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """Encode ``image`` as a baseline JPEG."""
    buffer = io.BytesIO()
    (image if image.mode == "RGB" else image.convert("RGB")).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


# ------------------------------------------------------------------------------ opening / info


@contextmanager
def _open_video(path: str | os.PathLike[str]) -> Iterator[tuple[InputContainer, VideoStream]]:
    """Open ``path`` and yield its first video stream; av and OS errors become VideoContentBad."""
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise VideoNotFound(f"input file not found: {name}")
    try:
        container = av.open(name, mode="r")
    except (av.FFmpegError, OSError) as exc:
        raise VideoContentBad(f"not a readable media file: {name} ({exc})") from None
    try:
        with _av_errors(name):
            yield container, _video_stream(container, name)
    finally:
        container.close()


def _video_stream(container: InputContainer, name: str) -> VideoStream:
    """The first real video stream (cover art in audio files does not count)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise VideoContentBad(f"no video stream in {name}")


@contextmanager
def _av_errors(name: str) -> Iterator[None]:
    try:
        yield
    except (av.FFmpegError, OSError) as exc:
        raise VideoContentBad(f"cannot decode {name}: {exc}") from None


def _stream_info(container: InputContainer, stream: VideoStream, deadline: float | None) -> _StreamInfo:
    if stream.codec_context is None:
        raise VideoContentBad("no decoder is available for the video codec")
    width, height = stream.codec_context.width, stream.codec_context.height
    if not width or not height or stream.time_base is None:
        raise VideoContentBad("the video stream has no picture size or time base")
    time_base = Fraction(stream.time_base)
    start = stream.start_time if stream.start_time is not None else 0
    seconds = _duration_seconds(container, stream, time_base, deadline)
    duration_ms = _round_half_up(seconds * 1000)
    if duration_ms <= 0:
        raise VideoContentBad("the video has no duration")
    return _StreamInfo(duration_ms, width, height, start, time_base)


def _duration_seconds(
    container: InputContainer, stream: VideoStream, time_base: Fraction, deadline: float | None
) -> Fraction:
    if stream.duration:
        return stream.duration * time_base
    if container.duration:
        return Fraction(container.duration, av.time_base)
    return _scan_duration(container, stream, time_base, deadline)


def _scan_duration(
    container: InputContainer, stream: VideoStream, time_base: Fraction, deadline: float | None
) -> Fraction:
    """Duration from the packets, for containers that do not state it (e.g. raw streams)."""
    first: int | None = None
    end = 0
    for packet in container.demux(stream):
        _check_deadline(deadline)
        if packet.pts is None:
            continue
        first = packet.pts if first is None else min(first, packet.pts)
        end = max(end, packet.pts + (packet.duration or 0))
    container.seek(0)  # back to the beginning (a global seek to 0 is exact on every demuxer tried)
    return Fraction(0) if first is None else (end - first) * time_base


@dataclass(frozen=True)
class _Index:
    """Sorted pts of every frame and of every keyframe of the stream."""

    frames: list[int]
    keys: list[int]

    def frames_between(self, after: int, before: int) -> int:
        """How many frames have a pts strictly between ``after`` and ``before``."""
        return max(0, bisect.bisect_left(self.frames, before) - bisect.bisect_right(self.frames, after))

    def key_at_or_before(self, pts: int) -> int | None:
        position = bisect.bisect_right(self.keys, pts)
        return self.keys[position - 1] if position else None


def _read_index(container: InputContainer, stream: VideoStream, deadline: float | None) -> _Index:
    """Demux the stream once (no decoding) to learn where its frames and keyframes are."""
    frames: list[int] = []
    keys: list[int] = []
    for number, packet in enumerate(container.demux(stream)):
        if number % 256 == 0:
            _check_deadline(deadline)
        if packet.pts is None:
            continue
        frames.append(packet.pts)
        if packet.is_keyframe:
            keys.append(packet.pts)
    return _Index(sorted(set(frames)), sorted(set(keys)))


# ----------------------------------------------------------------------------------- decoding


class _Reader:
    """Forward decoder over one stream that seeks only when that saves decoding."""

    def __init__(self, container: InputContainer, stream: VideoStream, deadline: float | None) -> None:
        self.index: _Index | None = None
        self.current: VideoFrame | None = None
        self._container = container
        self._stream = stream
        self._deadline = deadline
        self._frames: Iterator[VideoFrame] | None = None
        self._pending: VideoFrame | None = None
        self._exhausted = False

    def frame_at(self, target: int) -> VideoFrame:
        """The last frame with pts <= ``target`` (the first frame after a seek if none)."""
        if self._should_seek(target):
            self._seek(target)
        while True:
            upcoming = self.peek()
            if upcoming is None or (self.current is not None and _pts(upcoming) > target):
                break
            self.advance()
            if _pts(upcoming) >= target:
                break
        if self.current is None:
            raise VideoContentBad("no frame could be decoded")
        return self.current

    def peek(self) -> VideoFrame | None:
        """The next frame in presentation order, without consuming it; None at the end."""
        if self._pending is None and not self._exhausted and self._frames is not None:
            _check_deadline(self._deadline)
            self._pending = next(self._frames, None)
            self._exhausted = self._pending is None
        return self._pending

    def advance(self) -> VideoFrame | None:
        """Consume the next frame (it becomes :attr:`current`)."""
        upcoming = self.peek()
        self._pending = None
        if upcoming is not None:
            self.current = upcoming
        return upcoming

    def _should_seek(self, target: int) -> bool:
        """Seek back if needed; seek forward only if that skips more frames than a seek costs."""
        if self._frames is None or self.current is None or _pts(self.current) > target:
            return True
        if self.index is None:
            return False
        position = _pts(self.current)
        landing = self.index.key_at_or_before(target)
        if landing is None or landing <= position:
            return False
        return self.index.frames_between(position, landing) >= _SEEK_COST_FRAMES

    def _seek(self, target: int) -> None:
        """Position the decoder before ``target``.

        Some demuxers (MPEG-TS: it seeks by dts) land after the requested time; then seek again
        further back, doubling the step, and finally rewind to the very beginning of the file.
        """
        start = self._stream.start_time or 0
        time_base = self._stream.time_base
        assert time_base is not None  # _stream_info refused a stream without one
        step = max(1, math.ceil(1 / time_base))
        back = 0
        while True:
            position = max(start, target - back)
            self._seek_exactly(position)
            first = self.peek()
            if first is not None and _pts(first) <= target:
                return
            if position <= start:
                break
            back = step if back == 0 else back * 2
        self._rewind()

    def _rewind(self) -> None:
        self._container.seek(0)
        self._restart()

    def _seek_exactly(self, pts: int) -> None:
        self._container.seek(pts, stream=self._stream, backward=True, any_frame=False)
        self._restart()

    def _restart(self) -> None:
        self._frames = self._container.decode(self._stream)
        self._pending = None
        self.current = None
        self._exhausted = False


def _cut_normal(
    reader: _Reader, info: _StreamInfo, spec: SnapshotSpec, points: list[int]
) -> Iterator[VideoFrame]:
    for number, point in enumerate(points):
        frame = reader.frame_at(info.to_pts(point))
        if number == 0 and _filters_black(spec):
            frame = _first_non_black_frame(reader, frame, info, spec)
        yield frame


def _first_non_black_frame(
    reader: _Reader, frame: VideoFrame, info: _StreamInfo, spec: SnapshotSpec
) -> VideoFrame:
    """``frame`` or, if it is black, the first later non-black frame of the first 5 s."""
    candidate: VideoFrame | None = frame
    while candidate is not None and info.to_ms(_pts(candidate)) < BLACK_SCAN_MS:
        if not _is_black(candidate, spec):
            return candidate
        candidate = reader.advance()
    return frame


def _cut_intra(
    reader: _Reader, info: _StreamInfo, spec: SnapshotSpec, points: list[int]
) -> Iterator[VideoFrame]:
    keys = reader.index.keys if reader.index is not None else []
    if not keys:
        raise VideoContentBad("the video has no keyframes")
    chosen = _dedupe([_nearest(keys, info, point) for point in points])
    first = reader.frame_at(chosen[0])
    if _filters_black(spec):
        first = _first_non_black_keyframe(reader, first, keys, info, spec)
    yield first
    for key in chosen[1:]:
        if key != _pts(first):
            yield reader.frame_at(key)


def _first_non_black_keyframe(
    reader: _Reader, frame: VideoFrame, keys: list[int], info: _StreamInfo, spec: SnapshotSpec
) -> VideoFrame:
    """``frame`` or, if it is black, the first later non-black keyframe of the first 5 s."""
    if not _is_black(frame, spec):
        return frame
    later = keys[bisect.bisect_right(keys, _pts(frame)) :]
    for key in later:
        if info.to_ms(key) >= BLACK_SCAN_MS:
            break
        candidate = reader.frame_at(key)
        if not _is_black(candidate, spec):
            return candidate
    return frame


def _nearest(keys: list[int], info: _StreamInfo, time_ms: int) -> int:
    """The keyframe pts closest to ``time_ms`` (``keys`` sorted); the earlier one on a tie."""
    position = bisect.bisect_right(keys, info.to_pts(time_ms))
    neighbours = keys[max(0, position - 1) : position + 1]
    return min(neighbours, key=lambda key: (info.distance(key, time_ms), key))


def _filters_black(spec: SnapshotSpec) -> bool:
    return spec.black_level is not None and spec.time_ms == 0 and spec.num is not None and spec.num > 1


def _is_black(frame: VideoFrame, spec: SnapshotSpec) -> bool:
    """At least ``black_level`` percent of the pixels have a luma below the threshold."""
    threshold = spec.pixel_black_threshold
    threshold = DEFAULT_PIXEL_BLACK_THRESHOLD if threshold is None else threshold
    width = min(frame.width, _BLACK_PROBE_WIDTH)
    height = max(1, _round_half_up(frame.height * width / frame.width))
    histogram = _to_image(frame, (width, height)).convert("L").histogram()
    dark = sum(histogram[: max(0, min(256, threshold))])
    return dark * 100 >= (spec.black_level or 0) * sum(histogram)


def _to_image(frame: VideoFrame, size: tuple[int, int]) -> Image.Image:
    """Scale and convert with swscale: area averaging to shrink (no aliasing), bicubic otherwise."""
    width, height = size
    shrinking = width < frame.width and height < frame.height
    interpolation = "AREA" if shrinking else "BICUBIC"
    # PyAV's stub leaves to_image unannotated; it returns a PIL image.
    image: Image.Image = frame.to_image(  # type: ignore[no-untyped-call]
        width=width, height=height, interpolation=interpolation, threads=0
    )
    return image


# -------------------------------------------------------------------------------------- sprites


def _cell_size(frame_size: tuple[int, int], tile: TileSpec) -> tuple[int, int]:
    frame_width, frame_height = frame_size
    if tile.cell_width and tile.cell_height:
        return tile.cell_width, tile.cell_height
    if tile.cell_width:
        return tile.cell_width, max(1, _round_half_up(tile.cell_width * frame_height / frame_width))
    if tile.cell_height:
        return max(1, _round_half_up(tile.cell_height * frame_width / frame_height)), tile.cell_height
    return frame_width, frame_height


def _background_colour(color: str, frame_count: int) -> tuple[int, int, int]:
    """``color`` as RGB; "random" is derived from the frame count so outputs are reproducible."""
    if color.strip().lower() == "random":
        digest = hashlib.sha256(f"specrunner-tile-{frame_count}".encode()).digest()
        return digest[0], digest[1], digest[2]
    red, green, blue = ImageColor.getrgb(color.strip())[:3]
    return red, green, blue


def sprite_size(tile: TileSpec, cell: tuple[int, int]) -> tuple[int, int]:
    """The pixel size of one sprite with ``cell``-sized cells."""
    cell_width, cell_height = cell
    width = 2 * tile.margin + tile.columns * cell_width + (tile.columns - 1) * tile.padding
    height = 2 * tile.margin + tile.lines * cell_height + (tile.lines - 1) * tile.padding
    return width, height


def _build_sprite(
    frames: list[Frame], tile: TileSpec, cell: tuple[int, int], colour: tuple[int, int, int]
) -> Image.Image:
    sprite = Image.new("RGB", sprite_size(tile, cell), colour)
    cell_width, cell_height = cell
    for position, frame in enumerate(frames):
        line, column = divmod(position, tile.columns)
        left = tile.margin + column * (cell_width + tile.padding)
        top = tile.margin + line * (cell_height + tile.padding)
        image = frame.image
        if image.size != cell:
            image = image.resize(cell, Image.Resampling.BICUBIC)
        sprite.paste(image if image.mode == "RGB" else image.convert("RGB"), (left, top))
    return sprite


# ---------------------------------------------------------------------------------------- helpers


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise SnapshotTimeout("the snapshot took longer than its deadline")


def _pts(frame: VideoFrame) -> int:
    if frame.pts is not None:
        return frame.pts
    return frame.dts if frame.dts is not None else 0


def _dedupe(values: list[int]) -> list[int]:
    """Drop consecutive repeats (the points are sorted, so these are all the repeats)."""
    return [value for position, value in enumerate(values) if position == 0 or values[position - 1] != value]


def _spread(start: int, duration_ms: int, num: int) -> list[int]:
    """``num`` points evenly over ``[start, duration_ms)`` (duplicates from rounding dropped)."""
    span = duration_ms - start
    points = [start + _round_half_up(Fraction(position * span, num)) for position in range(num)]
    return _dedupe([point for point in points if point < duration_ms])


def _round_half_up(value: float | Fraction) -> int:
    return math.floor(value + Fraction(1, 2)) if isinstance(value, Fraction) else math.floor(value + 0.5)

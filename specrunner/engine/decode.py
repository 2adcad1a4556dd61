"""Reading a video with PyAV: opening it, its timing facts, its frame index, and a seeking decoder.

A single frame never needs the whole video decoded: :class:`Reader` seeks to the keyframe before the
point and decodes forward to it. With an :class:`Index` (the frame and keyframe positions, read by
demuxing once, no decoding) the decoder keeps going forward and seeks only when the keyframe it would
land on skips at least ``SEEK_COST_FRAMES`` frames (a seek restarts the decoder's pipeline). So dense
sequences decode straight through, sparse ones jump from keyframe to keyframe. av and OS errors
become :class:`~specrunner.engine.errors.VideoContentBad`; a passed deadline, SnapshotTimeout.
"""

from __future__ import annotations

import bisect
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

from specrunner.engine.errors import SnapshotTimeout, VideoContentBad, VideoNotFound
from specrunner.engine.scale import round_half_up

SEEK_COST_FRAMES = 8
"""A seek restarts the decoder (frame threads, B-frame reordering): worth it past this many frames."""


@dataclass(frozen=True)
class StreamInfo:
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


@dataclass(frozen=True)
class Index:
    """Sorted pts of every frame and of every keyframe of the stream."""

    frames: list[int]
    keys: list[int]

    def frames_between(self, after: int, before: int) -> int:
        """How many frames have a pts strictly between ``after`` and ``before``."""
        return max(0, bisect.bisect_left(self.frames, before) - bisect.bisect_right(self.frames, after))

    def key_at_or_before(self, pts: int) -> int | None:
        position = bisect.bisect_right(self.keys, pts)
        return self.keys[position - 1] if position else None


# ------------------------------------------------------------------------------ opening / info


@contextmanager
def open_video(path: str | os.PathLike[str]) -> Iterator[tuple[InputContainer, VideoStream]]:
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


def stream_info(container: InputContainer, stream: VideoStream, deadline: float | None) -> StreamInfo:
    if stream.codec_context is None:
        raise VideoContentBad("no decoder is available for the video codec")
    width, height = stream.codec_context.width, stream.codec_context.height
    if not width or not height or stream.time_base is None:
        raise VideoContentBad("the video stream has no picture size or time base")
    time_base = Fraction(stream.time_base)
    start = stream.start_time if stream.start_time is not None else 0
    seconds = _duration_seconds(container, stream, time_base, deadline)
    duration_ms = round_half_up(seconds * 1000)
    if duration_ms <= 0:
        raise VideoContentBad("the video has no duration")
    return StreamInfo(duration_ms, width, height, start, time_base)


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
        check_deadline(deadline)
        if packet.pts is None:
            continue
        first = packet.pts if first is None else min(first, packet.pts)
        end = max(end, packet.pts + (packet.duration or 0))
    container.seek(0)  # back to the beginning (a global seek to 0 is exact on every demuxer tried)
    return Fraction(0) if first is None else (end - first) * time_base


def read_index(container: InputContainer, stream: VideoStream, deadline: float | None) -> Index:
    """Demux the stream once (no decoding) to learn where its frames and keyframes are."""
    frames: list[int] = []
    keys: list[int] = []
    for number, packet in enumerate(container.demux(stream)):
        if number % 256 == 0:
            check_deadline(deadline)
        if packet.pts is None:
            continue
        frames.append(packet.pts)
        if packet.is_keyframe:
            keys.append(packet.pts)
    return Index(sorted(set(frames)), sorted(set(keys)))


# ----------------------------------------------------------------------------------- decoding


class Reader:
    """Forward decoder over one stream that seeks only when that saves decoding."""

    def __init__(self, container: InputContainer, stream: VideoStream, deadline: float | None) -> None:
        self.index: Index | None = None
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
            if upcoming is None or (self.current is not None and pts(upcoming) > target):
                break
            self.advance()
            if pts(upcoming) >= target:
                break
        if self.current is None:
            raise VideoContentBad("no frame could be decoded")
        return self.current

    def peek(self) -> VideoFrame | None:
        """The next frame in presentation order, without consuming it; None at the end."""
        if self._pending is None and not self._exhausted and self._frames is not None:
            check_deadline(self._deadline)
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
        if self._frames is None or self.current is None or pts(self.current) > target:
            return True
        if self.index is None:
            return False
        position = pts(self.current)
        landing = self.index.key_at_or_before(target)
        if landing is None or landing <= position:
            return False
        return self.index.frames_between(position, landing) >= SEEK_COST_FRAMES

    def _seek(self, target: int) -> None:
        """Position the decoder before ``target``.

        Some demuxers (MPEG-TS: it seeks by dts) land after the requested time; then seek again
        further back, doubling the step, and finally rewind to the very beginning of the file.
        """
        start = self._stream.start_time or 0
        time_base = self._stream.time_base
        assert time_base is not None  # stream_info refused a stream without one
        step = max(1, math.ceil(1 / time_base))
        back = 0
        while True:
            position = max(start, target - back)
            self._seek_exactly(position)
            first = self.peek()
            if first is not None and pts(first) <= target:
                return
            if position <= start:
                break
            back = step if back == 0 else back * 2
        self._rewind()

    def _rewind(self) -> None:
        self._container.seek(0)
        self._restart()

    def _seek_exactly(self, position: int) -> None:
        self._container.seek(position, stream=self._stream, backward=True, any_frame=False)
        self._restart()

    def _restart(self) -> None:
        self._frames = self._container.decode(self._stream)
        self._pending = None
        self.current = None
        self._exhausted = False


def check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise SnapshotTimeout("the snapshot took longer than its deadline")


def pts(frame: VideoFrame) -> int:
    """The frame's presentation time stamp (its dts if it has none, else 0)."""
    if frame.pts is not None:
        return frame.pts
    return frame.dts if frame.dts is not None else 0

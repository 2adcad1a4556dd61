"""The local engine's frame cutter: real JPG snapshots from real videos, with MTS semantics.

Given a :class:`~specrunner.engine.spec.SnapshotSpec`, :func:`cut` decodes exactly the frames the
service would take and returns them as RGB images at the output size, plus the tiled sprites. The
pieces: capture points (:mod:`~specrunner.engine.points`), decoding and seeking
(:mod:`~specrunner.engine.decode`), choosing frames (:mod:`~specrunner.engine.selection`), sizes and
scaling (:mod:`~specrunner.engine.scale`), sprites (:mod:`~specrunner.engine.sprites`).

Semantics (MTS ``SnapshotConfig``, see ``/work/shared/mts-api.md`` sections 1.1 and 1.4):

- Capture points (:func:`~specrunner.engine.points.capture_points`): sync mode or ``Num == 1``: one
  point at ``Time``. ``Interval`` only: every interval from ``Time`` to the end. ``Num`` only:
  ``Interval`` is 10 s.
  ``Interval == 0``: ``Num`` points spread evenly over ``[Time, duration)``. Points at or past the end
  of the video are dropped, so the result (Count) can be shorter than ``Num``. A ``Time`` at or past
  the end: a multi-snapshot job takes one snapshot (the last frame, or the nearest keyframe) and drops
  the later points (Count 1); a single ``intra`` snapshot takes the nearest (i.e. the last) keyframe, as
  the snapshot FAQ says; a single ``normal`` snapshot fails with ``InvalidParameter.ResourceContentBad``.
- ``FrameType == "normal"``: the frame displayed at ``t``, i.e. the last frame with pts <= t (the
  first frame if ``t`` precedes it). ``Frame.time_ms`` is that frame's pts, floored to the ms.
- ``FrameType == "intra"``: the keyframe nearest to ``t`` (absolute distance, the earlier one on a
  tie). Points are sorted, so points that share a keyframe are consecutive: each keyframe is emitted
  once only, and Count can be lower than ``Num`` (the FAQ: points without a keyframe of their own are
  skipped).
- Black-frame filtering (``BlackLevel`` / ``PixelBlackThreshold``, default threshold 70): at ``Time ==
  0`` only; a single snapshot (sync or ``Num == 1``) always, ignoring BlackLevel (a frame all of whose
  pixels are below the threshold is black); ``Num > 1`` when ``BlackLevel`` is set (a frame is black
  when at least ``BlackLevel`` percent of its pixels have a luma below the threshold). If the first
  snapshot is black, later frames of the first 5 s are tried (the following keyframes in ``intra`` mode,
  the following frames in ``normal`` mode) and the first non-black one is taken; if all are black, the
  original stays. The other snapshots are not filtered and keep their positions; ``Frame.index`` is the
  capture order.
- Output size: ``Width`` and/or ``Height``; with one side only, the other follows the source aspect
  ratio (rounded, at least 1 px); with neither, the source size.

Efficiency: a single ``normal`` frame never decodes the whole video: the cutter seeks to the keyframe
before the point and decodes forward to it. With several points, or in ``intra`` mode, the frame and
keyframe positions are first read by demuxing once (no decoding); the decoder then keeps going
forward, and seeks only when the keyframe it would land on skips at least ``decode.SEEK_COST_FRAMES``
frames (a seek restarts the decoder's pipeline). So dense sequences decode straight through, sparse
ones and ``intra`` snapshots jump from keyframe to keyframe. Scaling and RGB conversion use
ffmpeg's swscale; frames are converted as soon as they are taken (no decoded frames pile up).
"""

from __future__ import annotations

import os

from specrunner.engine.decode import Reader, check_deadline, open_video, pts, read_index, stream_info
from specrunner.engine.points import capture_points
from specrunner.engine.results import Frame, SnapshotResult
from specrunner.engine.scale import output_size, to_image
from specrunner.engine.selection import cut_intra, cut_normal
from specrunner.engine.spec import SnapshotSpec
from specrunner.engine.sprites import build_sprites


def probe(path: str | os.PathLike[str]) -> tuple[int, int, int]:
    """Return ``(duration_ms, width, height)`` of the first video stream of ``path``."""
    with open_video(path) as (container, stream):
        info = stream_info(container, stream, None)
    return info.duration_ms, info.width, info.height


def cut(path: str | os.PathLike[str], spec: SnapshotSpec, *, deadline: float | None = None) -> SnapshotResult:
    """Take the snapshots ``spec`` asks for from the video at ``path``.

    ``deadline`` is a :func:`time.monotonic` value; past it, SnapshotTimeout is raised.
    """
    with open_video(path) as (container, stream):
        check_deadline(deadline)
        info = stream_info(container, stream, deadline)
        points = capture_points(spec, info.duration_ms)
        size = output_size(spec, info.width, info.height)
        stream.codec_context.thread_type = "SLICE" if spec.frame_type == "intra" else "AUTO"
        reader = Reader(container, stream, deadline)
        if spec.frame_type == "intra" or len(points) > 1:
            reader.index = read_index(container, stream, deadline)
        cutter = cut_intra if spec.frame_type == "intra" else cut_normal
        frames = [
            Frame(index=number, time_ms=info.to_ms(pts(frame)), image=to_image(frame, size))
            for number, frame in enumerate(cutter(reader, info, spec, points), start=1)
        ]
    sprites = build_sprites(frames, spec.tile) if spec.tile is not None else []
    return SnapshotResult(frames, sprites, info.duration_ms, info.width, info.height)

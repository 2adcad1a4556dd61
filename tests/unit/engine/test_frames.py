"""Tests of the frame cutter against real generated videos (no mocks).

Every generated frame carries its own index (see :mod:`specrunner.testing.video`), so each test reads
the index back from the JPEG-encoded output and compares it with the frame the service would take.
"""

from __future__ import annotations

import io
import math
import time
from pathlib import Path

import av
import pytest
from PIL import Image

from specrunner.engine.errors import SnapshotTimeout, VideoContentBad, VideoNotFound
from specrunner.engine.frames import cut, probe
from specrunner.engine.jpeg import encode_jpeg
from specrunner.engine.points import capture_points
from specrunner.engine.results import Frame
from specrunner.engine.spec import SnapshotSpec, TileSpec
from specrunner.engine.sprites import build_sprites
from specrunner.testing.video import make_video, read_stamp

FPS = 25
GOP = 20
WIDTH, HEIGHT = 160, 120
DURATION_MS = 6000
BLACK_LEAD_S = 1.5
OTHER_CONTAINERS = ("mkv", "ts")  # no stream duration; MPEG-TS starts at 1.4 s and seeks by dts


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    plain, black = root / "plain.mp4", root / "black.mp4"
    make_video(plain, duration_s=DURATION_MS / 1000, fps=FPS, width=WIDTH, height=HEIGHT, gop=GOP)
    make_video(black, duration_s=4, fps=FPS, width=WIDTH, height=HEIGHT, gop=GOP, black_lead_s=BLACK_LEAD_S)
    paths = {"plain": plain, "black": black}
    for extension in OTHER_CONTAINERS:
        paths[extension] = root / f"plain.{extension}"
        make_video(paths[extension], duration_s=3, fps=FPS, width=WIDTH, height=HEIGHT, gop=GOP)
    return paths


def stamp(frame: Frame) -> int:
    """The index stamped in ``frame``, read back after a real JPEG round trip at quality 75."""
    return read_stamp(Image.open(io.BytesIO(encode_jpeg(frame.image, quality=75))))


def expected_index(time_ms: int) -> int:
    return math.floor(time_ms * FPS / 1000)


def nearest_keyframe(time_ms: int, duration_ms: int = DURATION_MS) -> int:
    keys = range(0, duration_ms * FPS // 1000, GOP)
    return min(keys, key=lambda key: (abs(key * 1000 / FPS - time_ms), key))


# ------------------------------------------------------------------------------ capture points

S = SnapshotSpec


@pytest.mark.parametrize(
    ("spec", "duration_ms", "expected"),
    [
        pytest.param(S(time_ms=1500), 6000, [1500], id="sync"),
        pytest.param(S(time_ms=0), 6000, [0], id="sync-at-zero"),
        pytest.param(S(time_ms=100, num=1, interval_s=2), 6000, [100], id="num-1-ignores-interval"),
        pytest.param(S(time_ms=500, interval_s=2), 6000, [500, 2500, 4500], id="interval-to-end"),
        pytest.param(S(time_ms=0, interval_s=2), 6000, [0, 2000, 4000], id="interval-end-excluded"),
        pytest.param(S(time_ms=0, interval_s=0.5, num=3), 6000, [0, 500, 1000], id="interval-num"),
        pytest.param(S(time_ms=0, interval_s=1.5), 4000, [0, 1500, 3000], id="fractional-interval"),
        pytest.param(S(time_ms=0, num=3), 25000, [0, 10000, 20000], id="num-default-10s"),
        pytest.param(S(time_ms=0, num=5), 25000, [0, 10000, 20000], id="num-past-end-dropped"),
        pytest.param(S(time_ms=1000, interval_s=2, num=10), 6000, [1000, 3000, 5000], id="dropped"),
        pytest.param(S(time_ms=0, interval_s=0, num=4), 6000, [0, 1500, 3000, 4500], id="spread"),
        pytest.param(S(time_ms=1000, interval_s=0, num=3), 2000, [1000, 1333, 1667], id="spread-round"),
        pytest.param(S(time_ms=0, interval_s=0, num=1), 6000, [0], id="spread-num-1"),
        pytest.param(S(time_ms=5, interval_s=0, num=4), 7, [5, 6], id="spread-dedupe"),
        pytest.param(S(time_ms=300, interval_s=0), 6000, [300], id="spread-without-num"),
    ],
)
def test_capture_points(spec: SnapshotSpec, duration_ms: int, expected: list[int]) -> None:
    assert capture_points(spec, duration_ms) == expected


@pytest.mark.parametrize(
    "spec",
    [
        SnapshotSpec(time_ms=6000, frame_type="normal"),
        SnapshotSpec(time_ms=7000, num=1, frame_type="normal"),
    ],
    ids=["sync-normal", "single-normal"],
)
def test_capture_points_time_past_the_end(spec: SnapshotSpec) -> None:
    with pytest.raises(VideoContentBad, match="past the end"):
        capture_points(spec, 6000)


@pytest.mark.parametrize(
    "spec",
    [
        SnapshotSpec(time_ms=6000, interval_s=1),
        SnapshotSpec(time_ms=9000, interval_s=1, num=5, frame_type="normal"),
        SnapshotSpec(time_ms=6000, num=3),
    ],
    ids=["interval", "num-normal", "num-intra"],
)
def test_a_multi_snapshot_job_past_the_end_keeps_one_point(spec: SnapshotSpec) -> None:
    # Num (parameter details page): points past the end are dropped and the real count is returned.
    assert capture_points(spec, 6000) == [spec.time_ms]


# ----------------------------------------------------------------------------------- the video


def test_probe(videos: dict[str, Path]) -> None:
    assert probe(videos["plain"]) == (DURATION_MS, WIDTH, HEIGHT)


def test_generated_video_is_small_and_keyed(tmp_path: Path) -> None:
    path = tmp_path / "ten.mp4"
    make_video(path, duration_s=10, gop=25)
    assert path.stat().st_size < 1_000_000
    assert probe(path) == (10_000, 320, 240)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [packet for packet in container.demux(stream) if packet.pts is not None]
        keys = [packet.pts * stream.time_base for packet in packets if packet.is_keyframe]
    assert keys == list(range(10))


def test_read_stamp_rejects_a_black_picture() -> None:
    with pytest.raises(ValueError):
        read_stamp(Image.new("RGB", (64, 48)))


# -------------------------------------------------------------------------------- normal frames


@pytest.mark.parametrize("time_ms", [0, 39, 40, 41, 799, 800, 1234, 3999, 5990])
def test_normal_takes_the_exact_frame(videos: dict[str, Path], time_ms: int) -> None:
    result = cut(videos["plain"], SnapshotSpec(time_ms=time_ms, frame_type="normal"))
    [frame] = result.frames
    assert stamp(frame) == expected_index(time_ms)
    assert frame.time_ms == expected_index(time_ms) * 1000 // FPS
    assert frame.index == 1
    assert frame.image.mode == "RGB"
    assert frame.image.size == (WIDTH, HEIGHT)
    assert (result.duration_ms, result.source_width, result.source_height) == (DURATION_MS, WIDTH, HEIGHT)
    assert result.sprites == []


@pytest.mark.parametrize(
    "spec",
    [
        SnapshotSpec(time_ms=10, interval_s=0.12, num=40, frame_type="normal", width=64),
        SnapshotSpec(time_ms=300, interval_s=1.3, frame_type="normal", width=64),
        SnapshotSpec(time_ms=0, interval_s=0.04, frame_type="normal", width=64),
        SnapshotSpec(time_ms=0, interval_s=0, num=7, frame_type="normal", width=64),
    ],
    ids=["dense", "sparse", "every-frame", "spread"],
)
def test_normal_sequences_take_the_exact_frames(videos: dict[str, Path], spec: SnapshotSpec) -> None:
    points = capture_points(spec, DURATION_MS)
    result = cut(videos["plain"], spec)
    assert [frame.index for frame in result.frames] == list(range(1, len(points) + 1))
    assert [stamp(frame) for frame in result.frames] == [expected_index(point) for point in points]


def test_num_interval_width(videos: dict[str, Path]) -> None:
    spec = SnapshotSpec(time_ms=0, interval_s=1, num=5, width=320, frame_type="normal")
    result = cut(videos["plain"], spec)
    assert [frame.time_ms for frame in result.frames] == [0, 1000, 2000, 3000, 4000]
    assert [frame.image.size for frame in result.frames] == [(320, 240)] * 5
    assert [stamp(frame) for frame in result.frames] == [0, 25, 50, 75, 100]


def test_points_past_the_end_are_dropped(videos: dict[str, Path]) -> None:
    result = cut(videos["plain"], SnapshotSpec(time_ms=2000, interval_s=3, num=5, frame_type="normal"))
    assert [frame.time_ms for frame in result.frames] == [2000, 5000]


@pytest.mark.parametrize(
    ("width", "height", "size"),
    [(None, 60, (80, 60)), (100, None, (100, 75)), (50, 50, (50, 50)), (None, None, (WIDTH, HEIGHT))],
)
def test_output_size(
    videos: dict[str, Path], width: int | None, height: int | None, size: tuple[int, int]
) -> None:
    result = cut(videos["plain"], SnapshotSpec(time_ms=1000, width=width, height=height))
    assert result.frames[0].image.size == size


@pytest.mark.parametrize("extension", OTHER_CONTAINERS)
@pytest.mark.parametrize("frame_type", ["normal", "intra"])
def test_other_containers(videos: dict[str, Path], extension: str, frame_type: str) -> None:
    assert probe(videos[extension]) == (3000, WIDTH, HEIGHT)
    spec = SnapshotSpec(time_ms=0, interval_s=0.36, frame_type=frame_type, width=64)
    points = capture_points(spec, 3000)
    frames = cut(videos[extension], spec).frames
    if frame_type == "normal":
        expected = [expected_index(point) for point in points]
    else:
        expected = list(dict.fromkeys(nearest_keyframe(point, 3000) for point in points))
    assert [stamp(frame) for frame in frames] == expected
    assert [frame.time_ms for frame in frames] == [index * 1000 // FPS for index in expected]
    [single] = cut(videos[extension], SnapshotSpec(time_ms=1600, frame_type=frame_type)).frames
    assert stamp(single) == 40


# --------------------------------------------------------------------------------- intra frames


@pytest.mark.parametrize("time_ms", [0, 100, 399, 400, 401, 1000, 2500, 5900])
def test_intra_takes_the_nearest_keyframe(videos: dict[str, Path], time_ms: int) -> None:
    [frame] = cut(videos["plain"], SnapshotSpec(time_ms=time_ms, frame_type="intra")).frames
    index = stamp(frame)
    assert index % GOP == 0
    assert index == nearest_keyframe(time_ms)
    assert frame.time_ms == index * 1000 // FPS


def test_intra_sequence_skips_repeated_keyframes(videos: dict[str, Path]) -> None:
    spec = SnapshotSpec(time_ms=0, interval_s=0.3, num=10, frame_type="intra")
    result = cut(videos["plain"], spec)
    expected = list(dict.fromkeys(nearest_keyframe(point) for point in capture_points(spec, DURATION_MS)))
    assert [stamp(frame) for frame in result.frames] == expected
    assert len(result.frames) < 10
    assert [frame.index for frame in result.frames] == list(range(1, len(expected) + 1))


def test_intra_is_the_default(videos: dict[str, Path]) -> None:
    [frame] = cut(videos["plain"], SnapshotSpec(time_ms=1000)).frames
    assert stamp(frame) == nearest_keyframe(1000)


# ---------------------------------------------------------------------------------------- tiles


def frames_of(count: int, size: tuple[int, int] = (40, 30)) -> list[Frame]:
    return [Frame(index=i + 1, time_ms=i * 1000, image=Image.new("RGB", size, "white")) for i in range(count)]


def test_tile_sizes(videos: dict[str, Path]) -> None:
    tile = TileSpec(lines=2, columns=3)
    spec = SnapshotSpec(time_ms=0, interval_s=1, num=6, width=64, frame_type="normal", tile=tile)
    result = cut(videos["plain"], spec)
    assert [sprite.size for sprite in result.sprites] == [(3 * 64, 2 * 48)]
    seven = build_sprites(frames_of(7, (64, 48)), tile)
    assert [sprite.size for sprite in seven] == [(192, 96), (192, 96)]
    assert seven[1].getpixel((100, 10)) == (0, 0, 0)  # an empty cell of the last sprite
    assert seven[1].getpixel((10, 10)) == (255, 255, 255)


def test_tile_cells_are_in_order(videos: dict[str, Path]) -> None:
    tile = TileSpec(lines=2, columns=3)
    spec = SnapshotSpec(time_ms=0, interval_s=1, num=6, width=64, frame_type="normal", tile=tile)
    [sprite] = cut(videos["plain"], spec).sprites
    corners = [(column * 64, line * 48) for line in range(2) for column in range(3)]
    cells = [sprite.crop((left, top, left + 64, top + 48)) for left, top in corners]
    assert [read_stamp(cell) for cell in cells] == [0, 25, 50, 75, 100, 125]


def test_tile_margin_padding_colour() -> None:
    tile = TileSpec(lines=2, columns=2, margin=5, padding=3, color="#ff0000")
    [sprite] = build_sprites(frames_of(3), tile)
    assert sprite.size == (2 * 5 + 2 * 40 + 3, 2 * 5 + 2 * 30 + 3)
    assert sprite.getpixel((2, 2)) == (255, 0, 0)  # margin
    assert sprite.getpixel((5 + 40 + 1, 20)) == (255, 0, 0)  # padding between columns
    assert sprite.getpixel((5 + 10, 5 + 10)) == (255, 255, 255)  # first cell
    assert sprite.getpixel((5 + 40 + 3 + 10, 5 + 30 + 3 + 10)) == (255, 0, 0)  # the empty last cell


def test_tile_cell_size() -> None:
    [sprite] = build_sprites(frames_of(2), TileSpec(lines=1, columns=2, cell_width=20))
    assert sprite.size == (40, 15)
    [sprite] = build_sprites(frames_of(2), TileSpec(lines=1, columns=2, cell_width=10, cell_height=50))
    assert sprite.size == (20, 50)


def test_tile_colours() -> None:
    [named] = build_sprites(frames_of(1), TileSpec(lines=1, columns=2, color="Blue"))
    assert named.getpixel((60, 10)) == (0, 0, 255)
    first = build_sprites(frames_of(1), TileSpec(lines=1, columns=2, color="random"))[0].getpixel((60, 10))
    again = build_sprites(frames_of(1), TileSpec(lines=1, columns=2, color="random"))[0].getpixel((60, 10))
    assert first == again
    with pytest.raises(ValueError):
        build_sprites(frames_of(1), TileSpec(color="no-such-colour"))
    assert build_sprites([], TileSpec()) == []


# ---------------------------------------------------------------------------------- black frames


def test_black_level_skips_the_black_lead_normal(videos: dict[str, Path]) -> None:
    spec = SnapshotSpec(time_ms=0, interval_s=1, num=3, frame_type="normal", black_level=90)
    frames = cut(videos["black"], spec).frames
    first_lit = round(BLACK_LEAD_S * FPS)
    assert stamp(frames[0]) == first_lit
    assert frames[0].time_ms == first_lit * 1000 // FPS
    with pytest.raises(ValueError):
        stamp(frames[1])  # 1 s: still black, only the first snapshot is filtered
    assert stamp(frames[2]) == 50


def test_black_level_skips_the_black_lead_of_an_interval_only_job(videos: dict[str, Path]) -> None:
    # An Interval alone takes every interval to the end: a multi-snapshot job, whose first snapshot
    # BlackLevel filters (validate accepts black_level there, so the engine must not ignore it).
    spec = SnapshotSpec(time_ms=0, interval_s=1, frame_type="normal", black_level=90)
    frames = cut(videos["black"], spec).frames
    assert stamp(frames[0]) == round(BLACK_LEAD_S * FPS)
    assert len(frames) > 2


def test_black_level_skips_the_black_lead_intra(videos: dict[str, Path]) -> None:
    spec = SnapshotSpec(
        time_ms=0, interval_s=2.5, num=2, frame_type="intra", black_level=100, pixel_black_threshold=20
    )
    frames = cut(videos["black"], spec).frames
    assert [stamp(frame) for frame in frames] == [40, 60]


def test_black_level_first_keyframe_is_not_repeated(videos: dict[str, Path]) -> None:
    # 0 s -> keyframe 0 (black) -> advanced to keyframe 40; 2 s is nearest to keyframe 40 too (tie).
    spec = SnapshotSpec(
        time_ms=0, interval_s=2, num=2, frame_type="intra", black_level=100, pixel_black_threshold=20
    )
    assert [stamp(frame) for frame in cut(videos["black"], spec).frames] == [40]


@pytest.mark.parametrize(
    "spec",
    [
        SnapshotSpec(time_ms=0, interval_s=1, num=3, frame_type="normal"),
        SnapshotSpec(time_ms=40, interval_s=1, num=3, frame_type="normal", black_level=90),
        SnapshotSpec(time_ms=40, frame_type="normal"),
    ],
    ids=["no-level", "time-not-zero", "sync-not-zero"],
)
def test_black_level_applies_only_at_zero(videos: dict[str, Path], spec: SnapshotSpec) -> None:
    first = cut(videos["black"], spec).frames[0]
    with pytest.raises(ValueError):
        stamp(first)


@pytest.mark.parametrize(
    "spec",
    [
        SnapshotSpec(time_ms=0, num=1, frame_type="normal"),
        SnapshotSpec(time_ms=0, num=1, frame_type="normal", black_level=30),
        SnapshotSpec(time_ms=0, frame_type="normal"),
        SnapshotSpec(time_ms=0, frame_type="normal", black_level=100),
    ],
    ids=["num-1", "num-1-level-ignored", "sync", "sync-level-ignored"],
)
def test_a_single_snapshot_at_zero_always_skips_a_black_lead_in(
    videos: dict[str, Path], spec: SnapshotSpec
) -> None:
    # BlackLevel (parameter details page): "Time=0, Num=1: black frames are always filtered; the
    # parameter has no effect". A clip opening on black gets a lit cover.
    (first,) = cut(videos["black"], spec).frames
    assert stamp(first) == round(BLACK_LEAD_S * FPS)


def test_a_single_intra_snapshot_at_zero_skips_black_keyframes(videos: dict[str, Path]) -> None:
    (first,) = cut(videos["black"], SnapshotSpec(time_ms=0, frame_type="intra")).frames
    assert stamp(first) == 40  # keyframe 0 is black; keyframe 20 (0.8 s) too; 40 (1.6 s) is lit


# ---------------------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VideoNotFound) as caught:
        cut(tmp_path / "nope.mp4", SnapshotSpec())
    assert caught.value.code == "InvalidParameter.ResourceNotFound"
    with pytest.raises(VideoNotFound):
        probe(tmp_path / "nope.mp4")


@pytest.mark.parametrize(
    "content", [b"", b"this is not a video, just some text\n" * 20], ids=["empty", "text"]
)
def test_not_a_video(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fake.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoContentBad) as caught:
        cut(path, SnapshotSpec())
    assert caught.value.code == "InvalidParameter.ResourceContentBad"
    with pytest.raises(VideoContentBad):
        probe(path)


def test_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "sound.wav"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame(format="s16", layout="mono", samples=800)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate, frame.pts = 8000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(VideoContentBad, match="no video stream"):
        cut(path, SnapshotSpec())


def test_time_past_the_end(videos: dict[str, Path]) -> None:
    with pytest.raises(VideoContentBad, match="past the end"):
        cut(videos["plain"], SnapshotSpec(time_ms=DURATION_MS, frame_type="normal"))


@pytest.mark.parametrize(
    "spec",
    [SnapshotSpec(time_ms=DURATION_MS + 5000), SnapshotSpec(time_ms=DURATION_MS, num=1)],
    ids=["sync", "num-1"],
)
def test_a_single_intra_snapshot_past_the_end_takes_the_last_keyframe(
    videos: dict[str, Path], spec: SnapshotSpec
) -> None:
    # The snapshot FAQ: the service returns the nearest keyframe.
    result = cut(videos["plain"], spec)
    (frame,) = result.frames
    last_key = ((DURATION_MS - 1) // (GOP * 1000 // FPS)) * (GOP * 1000 // FPS)
    assert frame.time_ms == last_key


def test_deadline_in_the_past(videos: dict[str, Path]) -> None:
    with pytest.raises(SnapshotTimeout) as caught:
        cut(videos["plain"], SnapshotSpec(time_ms=1000), deadline=time.monotonic() - 1)
    assert caught.value.code == "SnapshotTimeOut"


def test_encode_jpeg() -> None:
    data = encode_jpeg(Image.new("RGB", (8, 8), "green"))
    assert data[:2] == b"\xff\xd8"
    assert Image.open(io.BytesIO(data)).format == "JPEG"

"""Synthetic test videos whose frames encode their own index.

:func:`make_video` writes a short video in which frame ``i`` (presentation time ``i / fps``) carries
``i`` twice:

- machine-readable: the top third of the picture is a row of :data:`BANDS` vertical bands, each
  fully black or fully white. Band 0 is always white (a marker, so an all-black picture is rejected),
  bands 1..15 are the bits of ``i``, most significant bit first. Bands survive JPEG at quality 75
  and downscaling to 64 px wide; :func:`read_stamp` decodes them;
- human-readable: below the bands, a colourful gradient with a moving square and the frame number
  and time drawn with PIL's default font, so whoever opens an output JPG sees which frame it is.

``black_lead_s`` makes the first seconds completely black (for black-frame filtering tests).
"""

from __future__ import annotations

import os
from fractions import Fraction

import av
from PIL import Image, ImageDraw, ImageFont

BANDS = 16
"""Number of vertical bands in the stamp: one white marker band followed by the index bits."""

INDEX_BITS = BANDS - 1
MAX_INDEX = (1 << INDEX_BITS) - 1

_DARK_MAX = 80
_LIGHT_MIN = 175


def make_video(
    path: str | os.PathLike[str],
    *,
    duration_s: float = 10.0,
    fps: int = 25,
    width: int = 320,
    height: int = 240,
    gop: int = 25,
    codec: str = "libx264",
    black_lead_s: float = 0.0,
) -> None:
    """Write a video of ``duration_s`` seconds; frame ``i`` has pts ``i`` in time base ``1/fps``.

    A keyframe is forced every ``gop`` frames (and only there, for libx264). The container is chosen
    from the file extension (``.mp4``, ``.mkv``, ...); the pixel format is yuv420p.
    """
    count = round(duration_s * fps)
    if count < 1:
        raise ValueError("duration_s * fps must be at least 1 frame")
    if count - 1 > MAX_INDEX:
        raise ValueError(f"at most {MAX_INDEX + 1} frames can be stamped")
    black_frames = round(black_lead_s * fps)
    background = _background(width, height)
    with av.open(os.fspath(path), mode="w") as container:
        stream = _add_stream(container, codec, fps=fps, width=width, height=height, gop=gop)
        for index in range(count):
            image = (
                Image.new("RGB", (width, height))
                if index < black_frames
                else _draw_frame(background, index, fps)
            )
            # PyAV's stub leaves from_image unannotated; it returns a VideoFrame.
            rgb: av.VideoFrame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
            frame = rgb.reformat(format="yuv420p")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def read_stamp(image: Image.Image) -> int:
    """Return the frame index stamped into ``image`` (possibly resized and JPEG-compressed).

    Raises ValueError if the bands cannot be read (e.g. a black frame or a foreign picture).
    """
    gray = image.convert("L")
    width, height = gray.size
    top, bottom = height // 12, max(height // 12 + 1, height * 3 // 12)
    bits: list[int] = []
    for band in range(BANDS):
        left = band * width / BANDS
        right = (band + 1) * width / BANDS
        inner_left = int(left + (right - left) * 0.3)
        inner_right = max(inner_left + 1, int(right - (right - left) * 0.3))
        mean = _mean(gray.crop((inner_left, top, inner_right, bottom)))
        if mean <= _DARK_MAX:
            bits.append(0)
        elif mean >= _LIGHT_MIN:
            bits.append(1)
        else:
            raise ValueError(f"stamp band {band} is neither black nor white (mean luma {mean:.0f})")
    if bits[0] != 1:
        raise ValueError("no stamp: the marker band is not white")
    value = 0
    for bit in bits[1:]:
        value = (value << 1) | bit
    return value


def _add_stream(
    container: av.container.OutputContainer, codec: str, *, fps: int, width: int, height: int, gop: int
) -> av.video.stream.VideoStream:
    options = {"x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0", "preset": "veryfast"}
    stream = container.add_stream(codec, rate=fps, options=options if codec == "libx264" else {})
    if not isinstance(stream, av.video.stream.VideoStream):
        raise ValueError(f"{codec!r} is not a video codec")
    stream.width = width
    stream.height = height
    stream.pix_fmt = "yuv420p"
    stream.time_base = Fraction(1, fps)
    stream.codec_context.time_base = Fraction(1, fps)
    stream.codec_context.gop_size = gop
    return stream


def _background(width: int, height: int) -> Image.Image:
    """A static colourful gradient (red left to right, green top to bottom, blue the opposite)."""
    horizontal = Image.linear_gradient("L").rotate(90).resize((width, height))
    vertical = Image.linear_gradient("L").resize((width, height))
    inverse = Image.eval(vertical, lambda v: 255 - v)
    return Image.merge("RGB", (horizontal, vertical, inverse))


def _draw_frame(background: Image.Image, index: int, fps: int) -> Image.Image:
    image = background.copy()
    width, height = image.size
    draw = ImageDraw.Draw(image)
    _draw_bands(draw, index, width, height)
    body_top = height // 3
    side = max(4, height // 6)
    travel = max(1, width - side)
    x = (index * 4) % (2 * travel)
    x = x if x < travel else 2 * travel - x
    y = body_top + (height - body_top - side) // 2
    draw.rectangle((x, y, x + side - 1, y + side - 1), fill=(255, 255, 0), outline=(0, 0, 0))
    label = f"#{index}  t={index / fps:.3f}s"
    font = ImageFont.load_default()
    draw.rectangle((2, body_top + 2, width - 3, body_top + 16), fill=(0, 0, 0))
    draw.text((4, body_top + 3), label, fill=(255, 255, 255), font=font)
    return image


def _draw_bands(draw: ImageDraw.ImageDraw, index: int, width: int, height: int) -> None:
    bits = [1] + [(index >> shift) & 1 for shift in range(INDEX_BITS - 1, -1, -1)]
    for band, bit in enumerate(bits):
        left = round(band * width / BANDS)
        right = round((band + 1) * width / BANDS) - 1
        colour = (255, 255, 255) if bit else (0, 0, 0)
        draw.rectangle((left, 0, right, height // 3 - 1), fill=colour)


def _mean(image: Image.Image) -> float:
    histogram = image.histogram()
    total = sum(histogram)
    return sum(value * count for value, count in enumerate(histogram)) / max(1, total)

"""Encoding snapshots and sprites as JPEG files."""

from __future__ import annotations

import io

from PIL import Image


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """Encode ``image`` as a baseline JPEG."""
    buffer = io.BytesIO()
    (image if image.mode == "RGB" else image.convert("RGB")).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()

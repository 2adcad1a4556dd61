"""What the frame cutter produces from one input file: the snapshots and the tiled sprites."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image


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

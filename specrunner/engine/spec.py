"""Decoded, typed snapshot parameters, as the engine's frame cutter consumes them.

The engine receives MTS-shaped JSON (every value a string) and converts it to these types once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TileSpec:
    """TileOut: sprite tiling. ``cell_width``/``cell_height`` None = the snapshot output size."""

    lines: int = 10
    columns: int = 10
    cell_width: int | None = None
    cell_height: int | None = None
    margin: int = 0
    padding: int = 0
    color: str = "black"  # a colour keyword, "#rrggbb", or "random"
    keep_cells: bool = True
    cell_sel_step: int | None = None  # CellSelStep: tile every n-th snapshot (None: each one)


@dataclass(frozen=True)
class SnapshotSpec:
    """SnapshotConfig minus the output locations.

    - ``time_ms``: start time in milliseconds (MTS ``Time``).
    - ``interval_s``: seconds between snapshots (MTS ``Interval``); None = not set,
      0 = spread evenly over the rest of the video.
    - ``num``: number of snapshots (MTS ``Num``); None = not set.
      Sync mode (neither set): one frame at ``time_ms``. Interval set, Num not: every interval to the end.
      Num set, Interval not: Interval defaults to 10 s. Num == 1 ignores Interval.
    - ``width``/``height``: output size in px; one side only keeps the aspect ratio; neither = source size.
    - ``frame_type``: "intra" (nearest keyframe) or "normal" (the exact frame at that time).
    - ``black_level`` / ``pixel_black_threshold``: black-frame filtering of the first snapshot
      (applies only when time_ms == 0 and several snapshots are taken; scans the first 5 s).
    """

    time_ms: int = 0
    interval_s: float | None = None
    num: int | None = None
    width: int | None = None
    height: int | None = None
    frame_type: str = "intra"
    black_level: int | None = None
    pixel_black_threshold: int | None = None
    tile: TileSpec | None = None

    @property
    def is_async(self) -> bool:
        return self.interval_s is not None or self.num is not None

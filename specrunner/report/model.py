"""What a contact sheet shows, as plain data: a :class:`Report` of :class:`Section` (one per rule) of
:class:`Card` (one per job) of :class:`Shot` (one per output object).

:mod:`.build` fills it in from a manifest and a state; :mod:`.html` renders it. Neither imports the
other's internals: this module is the contract between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from specrunner.core.record import STATUSES as STATUSES  # the order cards appear in

GENERATOR = "specrunner report"


@dataclass
class Shot:
    """One output object: a snapshot (``cell``) or a tiled sprite (``sprite``)."""

    kind: str  # "cell" | "sprite"
    object: str  # "bucket/key"
    index: int | None = None  # {Count} / {TileCount}, 1-based
    time_ms: int | None = None
    approx: bool = False
    label: str = ""  # the caption: "2s", "≈ 5s", "sprite 1 of 2"
    detail: str = ""  # sprites: the grid and the frames it holds
    file: Path | None = None  # the local file, when there is one
    src: str | None = None  # its copy, relative to the report folder (set by write_report)
    width: int | None = None
    height: int | None = None

    @property
    def uri(self) -> str:
        return f"oss://{self.object}"


@dataclass
class Card:
    key: str
    rule_id: str
    input_id: str
    input_ref: str  # "bucket/object"
    status: str  # one of STATUSES
    mode: str = ""
    count: int | None = None
    tile_count: int | None = None
    code: str = ""
    message: str = ""
    job_id: str | None = None
    duration_ms: int | None = None
    shots: list[Shot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # outputs the state lists that are not on disk


@dataclass
class Section:
    rule_id: str
    description: str
    cards: list[Card] = field(default_factory=list)
    in_manifest: bool = True


@dataclass
class Report:
    title: str
    manifest: str
    backend: str
    state: str
    sections: list[Section]
    local_images: bool  # the images are files next to the page (else the page lists OSS objects)
    generated: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    banner: list[str] = field(default_factory=list)  # preview notes, shown above the summary
    samples: list[tuple[str, str, str]] = field(default_factory=list)  # (input id, object, what it used)

    @property
    def cards(self) -> list[Card]:
        return [c for s in self.sections for c in s.cards]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for c in self.cards:
            out[c.status] += 1
        return out


def format_time(ms: int | None, approx: bool = False) -> str:
    if ms is None:
        return "?"
    if ms < 60_000:
        text = f"{ms / 1000:.3f}".rstrip("0").rstrip(".") + " s"
    else:
        m, rest = divmod(ms, 60_000)
        h, m = divmod(m, 60)
        secs = f"{rest / 1000:06.3f}".rstrip("0").rstrip(".")
        text = (f"{h}:{m:02d}:" if h else f"{m}:") + (secs if "." in secs else secs.zfill(2))
    return ("≈ " if approx else "") + text

"""The typed manifest: what validation hands to every later stage. Pure data, frozen.

Built only from a document that passed validation (``validate/build.py``); nothing here reads a
file or checks a rule. Durations are already in the API's units (``time_ms``, ``interval_s``).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

# --------------------------------------------------------------------------------------------
# The typed model (built only from a document that passed validation)

# Frozen, slotted, keyword-only dataclasses: typed (mypy --strict checks every use), immutable and
# cheap. The document they are built from has already passed the JSON Schema and the semantic checks,
# so nothing is validated (or coerced) again here: ``validate/build.py::build_manifest`` passes every
# field in its final type. ``evolve`` is the one way to derive a changed copy.
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    backend: Literal["local", "aliyun"] = "local"
    root: str = "./oss"
    region: str | None = None
    endpoint: str | None = None
    pipeline_id: str | None = None
    qps_submit: float = 50.0
    qps_query: float = 100.0
    sync_timeout: float = 6.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Input:
    id: str
    object: str
    bucket: str
    location: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Discovery:
    """An input entry listed at plan time: every object under ``prefix`` matching ``match``."""

    index: int  # position in `inputs`, for messages
    prefix: str
    match: str
    bucket: str
    location: str

    def matches(self, key: str) -> bool:
        return key.startswith(self.prefix) and fnmatch.fnmatchcase(key[len(self.prefix) :], self.match)


@dataclass(frozen=True, slots=True, kw_only=True)
class Tile:
    lines: int = 10
    columns: int = 10
    cell_width: int | None = None
    cell_height: int | None = None
    margin: int = 0
    padding: int = 0
    color: str = "black"
    keep_cells: bool = True
    cell_sel_step: int | None = None
    output: str
    bucket: str
    location: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    id: str
    time_ms: int = 0
    interval_s: int | None = None
    num: int | None = None
    width: int | None = None
    height: int | None = None
    frame_type: Literal["intra", "normal"] | None = None
    black_level: int | None = None
    pixel_black_threshold: int | None = None
    format: Literal["vtt"] | None = None
    sub_out_is_spt_frag: bool | None = None
    output: str
    output_bucket: str
    output_location: str
    pipeline_id: str | None = None
    user_data: str | None = None
    tile: Tile | None = None
    inputs: tuple[str, ...] | None = None
    mode: Literal["auto", "sync", "async"] = "auto"
    mts: tuple[tuple[str, Any], ...] = ()

    @property
    def multi(self) -> bool:
        """More than one snapshot per job (so {Count} is needed)."""
        return (self.num is not None and self.num > 1) or (self.num is None and self.interval_s is not None)

    def applies_to(self, input_id: str) -> bool:
        return self.inputs is None or any(fnmatch.fnmatchcase(input_id, g) for g in self.inputs)


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteState:
    """The manifest's `state:` block: the state, its journal and its lock in an OSS bucket."""

    backend: Literal["oss"] = "oss"
    bucket: str
    key: str
    location: str | None = None


@dataclass(frozen=True, slots=True)
class Moved:
    """One `moved:` entry: two rule ids, or two job keys (``core.moves`` applies them)."""

    source: str
    dest: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    path: str  # as given by the user (for messages)
    base_dir: str  # absolute folder of the manifest (relative paths resolve against it)
    target: Target
    pipeline_id: str | None
    inputs: tuple[Input, ...]
    rules: tuple[Rule, ...]
    discoveries: tuple[Discovery, ...] = ()
    state: RemoteState | None = None
    name: str | None = None  # the explicit `name:`: the manifest's identity in its state (its owner)
    variables: tuple[tuple[str, Any], ...] = ()  # the `variables:` values used, by name (in plans)
    moved: tuple[Moved, ...] = ()  # the `moved:` entries, in order (``core.moves``)


def evolve(obj: _T, **changes: Any) -> _T:
    """A copy of a model object with ``changes`` (``dataclasses.replace``)."""
    return replace(obj, **changes)  # type: ignore[type-var]

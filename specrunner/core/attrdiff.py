"""What changed between two MTS requests, in the manifest's own terms. Pure code.

Invariants:
- Attributes are named as the manifest names them (``time``, ``output``, ``tile.lines``), never by
  their API path; values are in the manifest's units (``5s``, not ``5000``), object keys decoded
  (``covers/{FileName}.jpg``, not ``covers%2F%7BFileName%7D.jpg``).
- Nothing is cut: every changed attribute is one :class:`AttrDiff`, whole values.
- A request recorded with URL-encoded object keys (every lock file so far) and one with plain keys
  compare equal when they send the same thing: keys are decoded on both sides before comparing.
- A tile added or removed as a whole is one ``tile`` entry; a changed tile is one entry per attribute.
- :func:`plain_keys` is how a request is recorded in the lock file: object keys as the user wrote
  them, except a key that contains ``%``, which stays URL-encoded. So ``unquote`` of a recorded key
  is always the user's key, for new lock files and for every one written before (all encoded).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from specrunner.core.durations import format_ms

# SnapshotConfig's scalar keys and the rule attribute each one is written as in the manifest.
CONFIG_ATTRIBUTES = {
    "Interval": "interval",
    "Num": "num",
    "Width": "width",
    "Height": "height",
    "FrameType": "frame_type",
    "BlackLevel": "black_level",
    "PixelBlackThreshold": "pixel_black_threshold",
    "Format": "format",
}
_FILES = {
    "OutputFile": ("output", "output_bucket", "output_location"),
    "TileOutputFile": ("tile.output", "tile.bucket", "tile.location"),
}
_TILE = {
    "Lines": "lines",
    "Columns": "columns",
    "CellWidth": "cell_width",
    "CellHeight": "cell_height",
    "Margin": "margin",
    "Padding": "padding",
    "Color": "color",
    "IsKeepCellPic": "keep_cells",
    "CellSelStep": "cell_sel_step",
}


@dataclass(frozen=True)
class AttrDiff:
    """One changed attribute: ``before`` / ``after`` are None when unset, a dict for a whole tile."""

    attribute: str
    before: Any
    after: Any
    api: str  # where it lives in the request, for people who read the MTS docs

    def lines(self) -> list[str]:
        """The diff for a terminal: a whole tile added or removed gets one line per attribute."""
        whole = self.before if self.after is None else self.after
        if self.attribute != "tile" or not isinstance(whole, Mapping):
            return [self.text()]
        verb = "added" if self.before is None else "removed"
        head = f"tile: {verb} {whole.get('lines', '?')}x{whole.get('columns', '?')}"
        return [head] + [f"  {k}: {show(v)}" for k, v in whole.items() if k not in ("lines", "columns")]

    def text(self) -> str:
        if self.attribute == "tile" and self.before is None:
            return f"tile: added {_tile_text(self.after)}"
        if self.attribute == "tile" and self.after is None:
            return f"tile: removed (was {_tile_text(self.before)})"
        return f"{self.attribute}: {show(self.before)} -> {show(self.after)}"

    def to_json(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "before": self.before, "after": self.after, "api": self.api}


def plain_keys(request: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``request`` with its object keys decoded (see the module docstring for ``%``)."""

    def walk(value: Any, key: str) -> Any:
        if isinstance(value, Mapping):
            return {k: walk(v, k) for k, v in value.items()}
        if key == "Object" and isinstance(value, str):
            plain = unquote(value)
            return plain if "%" not in plain else value
        return value

    out: dict[str, Any] = walk(request, "")
    return out


# id(sub-object of a request) -> (that object, pinned so its id is not reused; its plain_keys copy)
_PLAIN: dict[int, tuple[Mapping[str, Any], dict[str, Any]]] = {}


def plain_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """``plain_keys(request)``, decoding each sub-object (the Input, the SnapshotConfig) once.

    Requests are read-only and the jobs of a rule share one SnapshotConfig object, those of an input
    one Input (``core.jobs.expand``): their decoded copies are shared the same way, so they must not
    be modified either.
    """
    out: dict[str, Any] = {}
    for key, value in request.items():
        if isinstance(value, Mapping):
            hit = _PLAIN.get(id(value))
            if hit is None or hit[0] is not value:
                if len(_PLAIN) >= 65536:
                    _PLAIN.clear()
                hit = _PLAIN[id(value)] = (value, plain_keys(value))
            out[key] = hit[1]
        else:
            out[key] = plain_keys({key: value})[key]
    return out


def show(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        plain = value and all(c.isalnum() or c in "._-:" for c in value)
        return value if plain else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _tile_text(tile: Mapping[str, Any]) -> str:
    rest = [f"{k} {show(v)}" for k, v in tile.items() if k not in ("lines", "columns")]
    return f"{tile.get('lines', '?')}x{tile.get('columns', '?')}" + (f", {', '.join(rest)}" if rest else "")


def _num(v: Any) -> Any:
    if isinstance(v, str) and v.isdigit():
        return int(v)
    if isinstance(v, str) and v in ("true", "false"):
        return v == "true"
    return v


def _decode(v: Any) -> Any:
    return unquote(v) if isinstance(v, str) else v


def attributes(request: Mapping[str, Any], user_data: str | None = None) -> dict[str, tuple[Any, str]]:
    """The request flattened into ``{attribute: (value in manifest terms, api path)}``."""
    out: dict[str, tuple[Any, str]] = {}
    inp = request.get("Input")
    if isinstance(inp, Mapping):
        for key, name in (
            ("Object", "input.object"),
            ("Bucket", "input.bucket"),
            ("Location", "input.location"),
        ):
            if key in inp:
                out[name] = (_decode(inp[key]) if key == "Object" else inp[key], f"Input.{key}")
    if request.get("PipelineId"):
        out["pipeline_id"] = (request["PipelineId"], "PipelineId")
    cfg = request.get("SnapshotConfig")
    if not isinstance(cfg, Mapping):
        cfg = {}
    for key, value in cfg.items():
        api = f"SnapshotConfig.{key}"
        if key == "Time":
            try:
                out["time"] = (format_ms(int(value)), api)
            except (TypeError, ValueError):
                out["time"] = (value, api)
        elif key == "Interval":
            out["interval"] = (f"{value}s" if str(value).isdigit() else value, api)
        elif key in CONFIG_ATTRIBUTES:
            out[CONFIG_ATTRIBUTES[key]] = (_num(value), api)
        elif key in _FILES and isinstance(value, Mapping):
            obj, bucket, location = _FILES[key]
            out[obj] = (_decode(value.get("Object")), f"{api}.Object")
            out[bucket] = (value.get("Bucket"), f"{api}.Bucket")
            out[location] = (value.get("Location"), f"{api}.Location")
        elif key == "TileOut" and isinstance(value, Mapping):
            for k, v in value.items():
                out[f"tile.{_TILE.get(k, k)}"] = (_num(v), f"{api}.{k}")
        elif key == "SubOut" and isinstance(value, Mapping) and "IsSptFrag" in value:
            out["sub_out.is_spt_frag"] = (_num(value["IsSptFrag"]), f"{api}.IsSptFrag")
        else:
            out[f"mts.{key}"] = (value, api)
    if user_data:
        out["user_data"] = (user_data, "UserData")
    return out


_TILE_ORDER = (
    "lines",
    "columns",
    "cell_width",
    "cell_height",
    "margin",
    "padding",
    "color",
    "keep_cells",
    "cell_sel_step",
    "output",
    "bucket",
    "location",
)


def _tile(attrs: Mapping[str, tuple[Any, str]]) -> dict[str, Any] | None:
    t = {k[5:]: v for k, (v, _) in attrs.items() if k.startswith("tile.")}
    order = sorted(t, key=lambda k: (_TILE_ORDER.index(k) if k in _TILE_ORDER else len(_TILE_ORDER), k))
    return {k: t[k] for k in order} or None


def diff(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    old_user_data: str | None = None,
    new_user_data: str | None = None,
) -> list[AttrDiff]:
    """Every attribute that differs between two requests, in a stable order (manifest order first)."""
    a, b = attributes(old, old_user_data), attributes(new, new_user_data)
    out: list[AttrDiff] = []
    ta, tb = _tile(a), _tile(b)
    whole_tile = (ta is None) != (tb is None)
    if whole_tile:
        out.append(AttrDiff("tile", ta, tb, "SnapshotConfig.TileOut"))
    for name in _order(set(a) | set(b)):
        if whole_tile and name.startswith("tile."):
            continue
        va, vb = a.get(name, (None, ""))[0], b.get(name, (None, ""))[0]
        if va != vb:
            out.append(AttrDiff(name, va, vb, (b.get(name) or a.get(name) or (None, ""))[1]))
    return out


_FIRST = (
    "input.object",
    "input.bucket",
    "input.location",
    "time",
    "interval",
    "num",
    "width",
    "height",
    "frame_type",
    "output",
    "output_bucket",
    "output_location",
)


def _order(names: set[str]) -> list[str]:
    return sorted(names, key=lambda n: (_FIRST.index(n) if n in _FIRST else len(_FIRST), n))

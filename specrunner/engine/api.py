"""The service API's values as the engine reads and writes them: JSON parameters, object locations,
``SnapshotConfig``, output name templates, job states and times.

Requests carry JSON strings with URL-encoded object keys; answers are AliyunSnapshotJob dicts whose
scalars are all strings. A value the service would refuse raises :class:`ServiceError` with its code.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from specrunner.engine.colours import colour_problem
from specrunner.engine.errors import ServiceError
from specrunner.engine.spec import SnapshotSpec, TileSpec

_PLACEHOLDER_RE = re.compile(r"\{(ObjectPrefix|FileName|ExtName|SnapshotTime|Count|TileCount)\}")
STATES = ("Submitted", "Snapshoting", "Success", "Fail")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


def parse_time(value: str, name: str) -> datetime:
    try:
        return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise ServiceError("InvalidParameter.Format", f"{name} must be UTC YYYY-MM-DDThh:mm:ssZ") from None


def loads_obj(text: Any, name: str) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        raise ServiceError("InvalidParameter.JsonFormatInvalid", f"{name} is not valid JSON") from None
    if not isinstance(value, dict):
        raise ServiceError("InvalidParameter.JsonObjectFormatInvalid", f"{name} must be a JSON object")
    return value


def _int(cfg: dict[str, Any], key: str, lo: int, hi: int | None = None) -> int | None:
    if key not in cfg or cfg[key] in (None, ""):
        return None
    try:
        v = int(str(cfg[key]))
    except ValueError:
        raise ServiceError("InvalidParameter.NumberFormatInvalid", f"{key} must be an integer") from None
    if v < lo or (hi is not None and v > hi):
        rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ServiceError("InvalidParameter.OutOfRange", f"{key} {v} is out of range {rng}")
    return v


def object_location(obj: dict[str, Any], name: str) -> tuple[str, str, str]:
    for k in ("Bucket", "Location", "Object"):
        if not isinstance(obj.get(k), str) or not obj.get(k):
            raise ServiceError("InvalidParameter.NullValue", f"{name}.{k} is required")
    return obj["Bucket"], obj["Location"], unquote(obj["Object"])


def parse_config(cfg: dict[str, Any]) -> SnapshotSpec:
    """SnapshotConfig (strings) -> SnapshotSpec, checking ranges as the service does."""
    if "Time" not in cfg:
        raise ServiceError("InvalidParameter.NullValue", "SnapshotConfig.Time is required")
    frame_type = str(cfg.get("FrameType") or "intra").lower()
    if frame_type not in ("intra", "normal"):
        raise ServiceError("InvalidParameter", f"FrameType must be intra or normal, got {cfg['FrameType']!r}")
    tile = None
    if "TileOut" in cfg:
        t = cfg["TileOut"] if isinstance(cfg["TileOut"], dict) else loads_obj(cfg["TileOut"], "TileOut")
        if "TileOutputFile" not in cfg:
            raise ServiceError("InvalidParameter.NullValue", "TileOutputFile is required with TileOut")
        problem = colour_problem(str(t.get("Color") or "black"))
        if problem:
            raise ServiceError("InvalidParameter", f"TileOut.Color: {problem}")
        tile = TileSpec(
            lines=_int(t, "Lines", 1, 10000) or 10,
            columns=_int(t, "Columns", 1, 10000) or 10,
            cell_width=_int(t, "CellWidth", 8, 4096),
            cell_height=_int(t, "CellHeight", 8, 4096),
            margin=_int(t, "Margin", 0, 4096) or 0,
            padding=_int(t, "Padding", 0, 4096) or 0,
            color=str(t.get("Color") or "black"),
            keep_cells=str(t.get("IsKeepCellPic", "true")).lower() != "false",
            cell_sel_step=_int(t, "CellSelStep", 1, 10000),
        )
    interval = _int(cfg, "Interval", 0)
    return SnapshotSpec(
        time_ms=_int(cfg, "Time", 0) or 0,
        interval_s=float(interval) if interval is not None else None,
        num=_int(cfg, "Num", 1),
        width=_int(cfg, "Width", 8, 4096),
        height=_int(cfg, "Height", 8, 4096),
        frame_type=frame_type,
        black_level=_int(cfg, "BlackLevel", 30, 100),
        pixel_black_threshold=_int(cfg, "PixelBlackThreshold", 0, 255),
        tile=tile,
    )


def fill(template: str, input_key: str, **values: str) -> str:
    """An output name: ``template``'s placeholders filled from ``input_key`` and ``values``."""
    slash = input_key.rfind("/")
    prefix, name = input_key[: slash + 1], input_key[slash + 1 :]
    dot = name.rfind(".")
    stem, ext = (name[:dot], name[dot + 1 :]) if dot > 0 else (name, "")
    table = {"ObjectPrefix": prefix, "FileName": stem, "ExtName": ext, **values}
    return _PLACEHOLDER_RE.sub(lambda m: table.get(m.group(1), m.group(0)), template)

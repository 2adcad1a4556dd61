"""The emulator's documented rules and documented answer shapes (MTS side).

- :func:`check_submit` refuses a SubmitSnapshotJob the documentation forbids, with the code the error
  code list gives: UserData rules, the buckets' region against the endpoint's, object keys of 1 to
  1,023 bytes, ``{TileCount}`` in the tile object of an async job whose Num is not 1 (definitions in
  ``specrunner.core.mtsrules``, with their sources).
- :func:`lean` cuts a job down to what the documented sample answers carry (SubmitSnapshotJob and
  QuerySnapshotJobList pages): ``Id, State, Code, Message, SnapshotConfig, PipelineId, UserData,
  CreationTime`` and nothing else: no ``Count``, no ``TileCount``, no ``Input``. Clients must not
  depend on the optional fields; ``--answers documented`` serves these.

Invariants: checks only read the request; ``lean`` returns a new dict and never mutates the stored job.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from specrunner.core.mtsrules import (
    key_length_problem,
    region_mismatch,
    tile_count_problem,
    user_data_problem,
)
from specrunner.engine.errors import ServiceError

DOCUMENTED_FIELDS = (
    "Id",
    "State",
    "Code",
    "Message",
    "SnapshotConfig",
    "PipelineId",
    "UserData",
    "CreationTime",
)
ANSWER_STYLES = ("full", "documented")


def _obj(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def check_submit(params: dict[str, str], region: str | None) -> None:
    """Raise ServiceError for what the documentation forbids in a SubmitSnapshotJob."""
    user_data = params.get("UserData")
    if user_data:
        problem = user_data_problem(user_data)
        if problem:
            code = "InvalidParameter.OutOfRange" if problem.startswith("is ") else "InvalidParameter"
            raise ServiceError(code, f"UserData {problem}")
    inp, cfg = _obj(params.get("Input")), _obj(params.get("SnapshotConfig"))
    places = [("Input", inp)]
    for name in ("OutputFile", "TileOutputFile"):
        if isinstance(cfg.get(name), dict):
            places.append((name, cfg[name]))
    for name, place in places:
        obj = place.get("Object")
        if isinstance(obj, str):
            problem = key_length_problem(unquote(obj))
            if problem:
                raise ServiceError("InvalidParameter.ObjectKeyInvalid", f"{name}.Object: {problem}")
        loc = place.get("Location")
        if region and isinstance(loc, str):
            problem = region_mismatch(loc, region)
            if problem:
                raise ServiceError("InvalidParameter.LocationInvalid", f"{name}.{problem}")
    tile = cfg.get("TileOutputFile")
    if isinstance(tile, dict) and isinstance(tile.get("Object"), str):
        is_async = cfg.get("Interval") not in (None, "") or cfg.get("Num") not in (None, "")
        try:
            num = int(cfg["Num"]) if cfg.get("Num") not in (None, "") else None
        except (TypeError, ValueError):
            num = None
        problem = tile_count_problem(is_async, num, unquote(tile["Object"]))
        if problem:
            raise ServiceError("InvalidParameter", problem)


def lean(job: dict[str, Any]) -> dict[str, Any]:
    """The job as the documented sample answers show it."""
    return {k: job[k] for k in DOCUMENTED_FIELDS if k in job}

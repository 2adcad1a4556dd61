"""The emulator's documented rules and documented answer shapes (MTS side).

- :func:`check_submit` refuses a SubmitSnapshotJob the documentation forbids, with the code the error
  code list gives: UserData rules, the buckets' region against the endpoint's, object keys of 1 to
  1,023 bytes, ``{Count}`` in the output and ``{TileCount}`` in the tile object of an async job whose
  Num is not 1 (an Interval alone included; definitions in ``specrunner.core.mtsrules``, with their
  sources).
  A PipelineId must be 32 characters ``[a-f0-9]`` (``InvalidParameter.UUIDFormatInvalid``); a
  ``TimeArray`` is refused (``InvalidParameter.NotSupported``): no page documents it as a request
  parameter (``mtsrules.TIME_ARRAY_RULE``, the words ``validate`` uses too).
- :func:`shown_job` and :func:`shaped_query` give the answers in the style asked for (``ANSWER_STYLES``):

  - ``full``: every field, lists wrapped as the SDK models have them;
  - ``documented``: the SubmitSnapshotJob and QuerySnapshotJobList pages' sample answers (English,
    2014): ``Id, State, Code, Message, SnapshotConfig, PipelineId, UserData, CreationTime`` and
    nothing else (no ``Count``, ``TileCount`` or ``Input``), lists wrapped
    (``{"SnapshotJob": [...]}``, ``{"String": [...]}``);
  - ``documented-2021``: the 2021 revisions' samples: every field, lists flat (``"SnapshotJobList":
    [...]``, ``"NonExistSnapshotJobIds": [...]``) and a failed job's code in its bare form
    (``ResourceContentBad``, as that Submit sample writes it; ``core.codes.bare_code``).

  A job with a PipelineId carries ``MNSMessageResult`` (``MessageId``, ``ErrorCode``, ``ErrorMessage``)
  once it is final: the pages say a pipeline's message is sent when the job completes.

Invariants: checks only read the request; answers are new dicts, the stored job is never mutated.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from specrunner.core.codes import bare_code
from specrunner.core.mtsrules import (
    TIME_ARRAY_RULE,
    count_problem,
    key_length_problem,
    pipeline_id_problem,
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
ANSWER_STYLES = ("full", "documented", "documented-2021")


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
    pipeline = params.get("PipelineId")
    if pipeline:
        problem = pipeline_id_problem(pipeline)
        if problem:
            raise ServiceError("InvalidParameter.UUIDFormatInvalid", f"PipelineId {problem}")
    inp, cfg = _obj(params.get("Input")), _obj(params.get("SnapshotConfig"))
    if "TimeArray" in cfg:
        raise ServiceError("InvalidParameter.NotSupported", f"SnapshotConfig.TimeArray: {TIME_ARRAY_RULE}")
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
    is_async = cfg.get("Interval") not in (None, "") or cfg.get("Num") not in (None, "")
    try:
        num = int(cfg["Num"]) if cfg.get("Num") not in (None, "") else None
    except (TypeError, ValueError):
        num = None
    out = cfg.get("OutputFile")
    if isinstance(out, dict) and isinstance(out.get("Object"), str):
        problem = count_problem(is_async, num, unquote(out["Object"]))
        if problem:
            raise ServiceError("InvalidParameter", problem)
    tile = cfg.get("TileOutputFile")
    if isinstance(tile, dict) and isinstance(tile.get("Object"), str):
        problem = tile_count_problem(is_async, num, unquote(tile["Object"]))
        if problem:
            raise ServiceError("InvalidParameter", problem)


def lean(job: dict[str, Any]) -> dict[str, Any]:
    """The job as the documented (2014) sample answers show it."""
    return {k: job[k] for k in DOCUMENTED_FIELDS if k in job}


def shown_job(job: dict[str, Any], style: str, fail_with: str | None = None) -> dict[str, Any]:
    """One job as the answer style shows it (a new dict), with its pipeline's message once final;
    ``fail_with``: answered ``State: Fail`` with that code (an injected failure)."""
    shown = dict(job)
    if fail_with:
        shown.update(State="Fail", Code=fail_with, Message=f"{fail_with} (an injected failure)")
    if shown.get("PipelineId") and shown.get("State") in ("Success", "Fail"):
        shown["MNSMessageResult"] = {
            "MessageId": str(shown["Id"]).upper(),
            "ErrorCode": "",
            "ErrorMessage": "",
        }
    if style == "documented":
        return lean(shown)
    if style == "documented-2021" and shown.get("Code"):
        shown["Code"] = bare_code(str(shown["Code"]))
    return shown


def shaped_query(out: dict[str, Any], style: str) -> dict[str, Any]:
    """A QuerySnapshotJobList answer (wrapped lists) in the answer style's list shape (a new dict)."""
    if style != "documented-2021":
        return out
    flat = dict(out)
    if isinstance(out.get("SnapshotJobList"), dict):
        flat["SnapshotJobList"] = list(out["SnapshotJobList"].get("SnapshotJob") or [])
    if isinstance(out.get("NonExistSnapshotJobIds"), dict):
        flat["NonExistSnapshotJobIds"] = list(out["NonExistSnapshotJobIds"].get("String") or [])
    return flat

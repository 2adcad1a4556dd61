"""What a valid record is, field by field: the checks of a job line's fields, of a rule's config, and
of a whole record (its JSON form: format 1 files, lines kept whole, journals), and the LockEntry of a
whole record. A state file is read by these checks alone: anything odd is named, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from specrunner.core.jobstates import FINAL_STATES, RUNNING_STATES
from specrunner.core.record import OPTIONAL_FIELDS, RECORD_FIELDS, LockEntry

CONFIG_KEYS = frozenset({"mode", "rule", "request", "user_data", "fallback"})


def _str(v: Any) -> str | None:
    return None if isinstance(v, str) else "must be a string"


def _count(v: Any) -> str | None:
    return (
        None
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0
        else "must be a non-negative integer"
    )


def _state(v: Any) -> str | None:
    return None if v in _STATES else f"{v!r} is not one of Submitted, Snapshoting, Success, Fail"


def _tile_count(v: Any) -> str | None:
    return None if v is None else _count(v)


def _outputs(v: Any) -> str | None:
    ok = isinstance(v, list) and all(isinstance(o, str) for o in v)
    return None if ok else "must be a list of strings"


def _seen(v: Any) -> str | None:
    if not isinstance(v, list):
        return _NOT_SEEN
    for p in v:  # a loop, not all() over a generator: checked for every job of a state, on every plan
        if not (isinstance(p, list) and len(p) == 2 and type(p[0]) is int and p[0] >= 0):
            return _NOT_SEEN
        if not (isinstance(p[1], str) and p[1]):
            return _NOT_SEEN
    return None


_NOT_SEEN = "must be a list of [size, ETag] pairs"


def _utc(v: Any) -> str | None:
    if type(v) is str and v in _UTC_SEEN:  # few distinct times in a state (one per refresh): checked once
        return None
    if isinstance(v, str) and _ISO.fullmatch(v):
        if len(_UTC_SEEN) < 4096:
            _UTC_SEEN.add(v)
        return None
    return "must be a UTC time YYYY-MM-DDThh:mm:ssZ"


_UTC_SEEN: set[str] = set()


def _etag(v: Any) -> str | None:
    return None if isinstance(v, str) and v else "must be a non-empty string"


def seen_pairs(v: Any) -> tuple[tuple[int, str], ...] | None:
    """The ``seen`` of a checked record as the entry holds it."""
    return None if v is None else tuple((n, e) for n, e in v)


def _intent(v: Any) -> str | None:
    if not (isinstance(v, dict) and isinstance(v.get("tag"), str) and v["tag"]):
        return "must be an object with a `tag`"
    for k in ("since", "last"):
        if (k in v or k == "since") and not (isinstance(v.get(k), str) and _ISO.fullmatch(v[k])):
            return f"`{k}` must be a UTC time YYYY-MM-DDThh:mm:ssZ"
    return None


def _any(v: Any) -> str | None:
    return None


def _true(v: Any) -> str | None:
    return None if v is True else "must be true"


_STATES = frozenset({"Submitted", "Snapshoting", "Success", "Fail"})

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")

# Every field of a job line and its check (the full record built from it needs no further check).
FIELD_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "config": _str,
    "input": _str,
    "job_id": _str,
    "state": _state,
    "code": _str,
    "message": _str,
    "count": _count,
    "tile_count": _tile_count,
    "outputs": _outputs,
    "fingerprint": _str,
    "intent": _intent,
    "attempts": _count,
    "seen": _seen,
    "seen_at": _utc,
    "input_etag": _etag,
    "encoded": _true,
    "record": _any,
}


def check_config(cfg: Any) -> str | None:
    if not isinstance(cfg, dict):
        return "a config must be an object"
    unknown = set(cfg) - CONFIG_KEYS
    if unknown:
        return f"unknown field(s) {sorted(unknown)}"
    if cfg.get("mode") not in ("sync", "async"):
        return "`mode` must be sync or async"
    if not isinstance(cfg.get("rule"), str):
        return "`rule` must be a string"
    req = cfg.get("request")
    if not (isinstance(req, dict) and isinstance(req.get("Input"), dict)):
        return "`request` must be an object with an `Input` object"
    for k in ("user_data", "fallback"):
        if k in cfg and not isinstance(cfg[k], str):
            return f"`{k}` must be a string"
    return None


_RECORD_KEYS = frozenset((*RECORD_FIELDS, *OPTIONAL_FIELDS))


def check_record(rec: Any) -> str | None:
    """What is wrong with a whole record (its JSON form), or None."""
    if not isinstance(rec, dict):
        return "a job record must be an object"
    unknown = set(rec) - _RECORD_KEYS
    if unknown:
        return f"unknown field(s) {sorted(unknown)}"
    if not isinstance(rec.get("fingerprint"), str):
        return "`fingerprint` must be a string"
    if rec.get("job_id") is not None and not isinstance(rec["job_id"], str):
        return "`job_id` must be a string or null"
    st = rec.get("state")
    if st is not None and st not in (*RUNNING_STATES, *FINAL_STATES):
        return f"`state` {st!r} is not one of Submitted, Snapshoting, Success, Fail"
    if rec.get("mode") not in ("sync", "async"):
        return "`mode` must be sync or async"
    intent = rec.get("intent")
    if intent is not None:
        problem = _intent(intent)
        if problem:
            return f"`intent` {problem}" if problem.startswith("must") else f"`intent.{problem[1:]}"
    for k in ("code", "message", "input", "rule", "user_data", "fallback"):
        if rec.get(k) is not None and not isinstance(rec[k], str):
            return f"`{k}` must be a string"
    if rec.get("request") is not None and not isinstance(rec["request"], dict):
        return "`request` must be an object"
    for k in ("count", "tile_count", "attempts"):
        v = rec.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            return f"`{k}` must be a non-negative integer"
    if rec.get("outputs") is not None and _outputs(rec["outputs"]):
        return "`outputs` must be a list of strings"
    for k in ("seen", "seen_at", "input_etag"):
        if rec.get(k) is not None and FIELD_CHECKS[k](rec[k]):
            return f"`{k}` {FIELD_CHECKS[k](rec[k])}"
    return None


def from_record(rec: Any) -> LockEntry | str:
    """The entry of a whole record (format 1, a line kept whole, a journal line), or what is wrong."""
    problem = check_record(rec)
    if problem:
        return problem
    return LockEntry(
        rec["fingerprint"],
        rec["mode"],
        rec.get("input") or "",
        rec.get("rule") or "",
        rec.get("request") or {},
        rec.get("job_id"),
        rec.get("state"),
        rec.get("code") or "",
        rec.get("message") or "",
        rec.get("count"),
        rec.get("tile_count"),
        tuple(rec.get("outputs") or ()),
        rec.get("user_data"),
        rec.get("fallback"),
        rec.get("intent"),
        rec.get("attempts"),
        seen_pairs(rec.get("seen")),
        rec.get("seen_at"),
        rec.get("input_etag"),
    )

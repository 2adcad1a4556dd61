"""The state's ``retired`` list (``core.retired``) in the lock file and in journals.

In the lock file it is a top-level list after ``jobs``, one line per object, sorted by object, and
absent when empty (a lock file without retired objects keeps its bytes)::

      "retired": [
        {"etag": "9B2C...", "job": "videos/a.mp4::poster", "job_id": "5f1e...", "object": "media-out/a.jpg"}

``etag`` (when the object was listed after it was written) lets prune refuse an object rewritten since.
      ]

In a journal (local or in OSS) each change is one line: ``{"op": "retire", "object", "job",
"job_id"?, "etag"?}`` and ``{"op": "unretire", "object"}``, written before the put or delete that caused it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from specrunner.core.canonical import canonical_line
from specrunner.core.retired import Retired

FIELDS = frozenset({"object", "job", "job_id", "etag"})


def as_json(r: Retired) -> dict[str, Any]:
    out: dict[str, Any] = {"job": r.job, "object": r.object}
    if r.job_id is not None:
        out["job_id"] = r.job_id
    if r.etag is not None:
        out["etag"] = r.etag
    return out


def check(value: Any) -> Retired | str:
    """A retired entry from its JSON form, or what is wrong with it."""
    if not isinstance(value, dict):
        return "a retired entry must be an object"
    unknown = set(value) - FIELDS
    if unknown:
        return f"unknown field(s) {sorted(unknown)} in a retired entry"
    obj, job, job_id = value.get("object"), value.get("job"), value.get("job_id")
    if not isinstance(obj, str) or not valid_object(obj):
        return "a retired entry's `object` must be bucket/key"
    if not isinstance(job, str) or not job:
        return "a retired entry's `job` must be a job key"
    if job_id is not None and not (isinstance(job_id, str) and job_id):
        return "a retired entry's `job_id` must be a string"
    etag = value.get("etag")
    if etag is not None and not (isinstance(etag, str) and etag and "\n" not in etag):
        return "a retired entry's `etag` must be a string"
    return Retired(obj, job, job_id, etag)


def valid_object(obj: str) -> bool:
    bucket, _, key = obj.partition("/")
    return bool(bucket) and bool(key) and "\n" not in obj


def decode(value: Any) -> dict[str, Retired] | str:
    """The lock file's ``retired`` list, keyed by object, or what is wrong with it."""
    if not isinstance(value, list):
        return "`retired` must be a list of objects"
    out: dict[str, Retired] = {}
    for i, item in enumerate(value):
        r = check(item)
        if isinstance(r, str):
            return f"$.retired[{i}]: {r}"
        if r.object in out:
            return f"$.retired[{i}]: the object {r.object} is listed twice"
        out[r.object] = r
    return out


def encode(retired: Mapping[str, Retired]) -> str:
    """The ``retired`` member of the lock file (after ``jobs``), or "" when there is none."""
    if not retired:
        return ""
    lines = [
        "    " + json.dumps(as_json(retired[o]), sort_keys=True, ensure_ascii=False) for o in sorted(retired)
    ]
    return ',\n  "retired": [\n' + ",\n".join(lines) + "\n  ]"


def retire_line(r: Retired) -> bytes:
    return canonical_line({"op": "retire", **as_json(r)})


def unretire_line(obj: str) -> bytes:
    return canonical_line({"op": "unretire", "object": obj})


def replay(entry: Mapping[str, Any], retired: dict[str, Retired]) -> bool:
    """Apply a journal line to ``retired`` if it is a retire or unretire line (else False)."""
    op = entry.get("op")
    if op == "retire":
        r = check({k: v for k, v in entry.items() if k != "op"})
        if isinstance(r, str):
            return False
        retired[r.object] = r
        return True
    if op == "unretire" and isinstance(entry.get("object"), str) and set(entry) == {"op", "object"}:
        retired.pop(entry["object"], None)
        return True
    return False


def difference(old: Mapping[str, Retired], new: Mapping[str, Retired]) -> bytes:
    """Journal lines that turn ``old`` into ``new`` (a journal's carry-over)."""
    out = [unretire_line(o) for o in sorted(old) if o not in new]
    out += [retire_line(new[o]) for o in sorted(new) if old.get(o) != new[o]]
    return b"".join(out)

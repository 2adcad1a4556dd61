"""The emulator's OSS object API: what remote state needs, over the emulator's folders.

Routes (path-style ``/<bucket>/<key>``, as oss2 addresses IP and localhost endpoints; signature V1
checked by the emulator exactly as for ListObjectsV2):

- ``PUT`` PutObject; with ``x-oss-forbid-overwrite: true`` an existing key answers 409
  ``FileAlreadyExists`` (any value other than ``true``/``false`` is 400 ``InvalidArgument``).
- ``GET`` GetObject (``Range: bytes=a-b`` / ``a-`` answered 206), ``HEAD`` HeadObject (404 without a
  body when absent; ``x-oss-object-type``, ``x-oss-next-append-position`` for appendable objects).
- ``DELETE`` DeleteObject: 204 whether or not the key existed.
- ``POST ?append&position=N`` AppendObject: position 0 creates an Appendable object; a position other
  than the current length is 409 ``PositionNotEqualToLength`` (with ``x-oss-next-append-position``);
  appending to a Normal object is 409 ``ObjectNotAppendable``.

Invariants: objects are files under ``<root>/<bucket>/<key>`` (the bucket folder must exist: else 404
``NoSuchBucket``); every check-and-write (forbid-overwrite, append position) happens under one lock,
and files are replaced atomically, so two racing creates never both succeed. Every request is
journaled like an MTS call (action, bucket, key, status, code; never the Authorization header) and gets
the emulator's latency; ``oss_error_rate`` answers 503 before doing anything, ``oss_drop_rate`` does
the write and then closes the connection without an answer (both attributes of the Emulator, 0 unless
set).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

if TYPE_CHECKING:
    from specrunner.emulator.server import Emulator

log = logging.getLogger("specrunner.emulator.server")
_write_lock = threading.Lock()
_appendable: set[Path] = set()  # objects created by AppendObject (the emulator's object metadata)


class OssError(Exception):
    """An OSS error answer: ``<Error><Code/><Message/><RequestId/><HostId/>...</Error>`` with its status."""

    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message, self.extra = status, code, message, extra


def journal_entry(method: str, action: str, rid: str, params: dict[str, Any]) -> dict[str, Any]:
    """One OSS call's line in the emulator's journal (status and code are filled in when answered)."""
    return {
        "ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "method": method,
        "action": action,
        "status": None,
        "code": "",
        "request_id": rid,
        "job_id": None,
        "user_data": None,
        "ids": 0,
        "params": params,
    }


@dataclass
class ObjectAnswer:
    status: int
    body: bytes
    request_id: str
    code: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


def is_object_request(method: str, path: str) -> bool:
    """An object operation (the bucket listing stays with the server)."""
    bucket, _, key = path.lstrip("/").partition("/")
    return bool(bucket and key) and method in ("GET", "PUT", "HEAD", "DELETE", "POST")


def _object_path(emu: Emulator, bucket: str, key: str) -> Path:

    if not bucket or "/" in bucket or bucket in (".", ".."):
        raise OssError(400, "InvalidBucketName", "The specified bucket is not valid.", BucketName=bucket)
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts) or len(key.encode("utf-8")) > 1023:
        raise OssError(400, "InvalidObjectName", "The specified object is not valid.")
    if not (emu.root / bucket).is_dir():
        raise OssError(404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=bucket)
    return emu.root / bucket / Path(*parts)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.oss-{uuid.uuid4().hex}")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _etag(data: bytes) -> str:
    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest().upper() + '"'


def _meta(path: Path, data: bytes) -> dict[str, str]:
    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    h = {
        "ETag": _etag(data),
        "x-oss-object-type": "Appendable" if path in _appendable else "Normal",
        "Last-Modified": modified,
    }
    if path in _appendable:
        h["x-oss-next-append-position"] = str(len(data))
    return h


def handle_object(
    emu: Emulator, method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes
) -> ObjectAnswer:
    """Answer one OSS object request."""

    started = time.monotonic()
    rid = uuid.uuid4().hex[:24].upper()
    params = parse_qsl(query, keep_blank_values=True)
    pdict = dict(params)
    raw_bucket, _, raw_key = path.lstrip("/").partition("/")
    bucket, key = unquote(raw_bucket), unquote(raw_key)
    lower = {k.lower(): v for k, v in headers}
    action = {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(
        method, "AppendObject" if "append" in pdict else "PostObject"
    )
    journaled = {"bucket": bucket, "key": key, **{k: v for k, v in pdict.items() if k == "position"}}
    entry = journal_entry(method, action, rid, journaled)
    if lower.get("x-oss-forbid-overwrite"):
        entry["params"]["forbid_overwrite"] = lower["x-oss-forbid-overwrite"]
    host = lower.get("host", "") or f"{emu.host}:{emu.port}"
    if emu.latency_ms:
        time.sleep(emu.latency_ms / 1000.0)
    answer: ObjectAnswer
    try:
        emu._oss_authenticate(method, bucket, key, params, headers)
        if emu._chance(float(getattr(emu, "oss_error_rate", 0.0))):
            raise OssError(503, "ServiceUnavailable", "Please reduce your request rate.")
        answer = _dispatch(emu, method, action, bucket, key, pdict, lower, body, rid)
        if method in ("PUT", "POST", "DELETE") and emu._chance(float(getattr(emu, "oss_drop_rate", 0.0))):
            answer.drop = True  # done, but the client never hears about it
    except OssError as e:
        body_out = emu._oss_error(e, rid, host, bucket).encode("utf-8") if method != "HEAD" else b""
        extra = {k: v for k, v in e.extra.items() if k.startswith("x-oss-")}
        answer = ObjectAnswer(e.status, body_out, rid, e.code, headers=extra)
    except Exception:  # a bug in the emulator: answer as the service would
        log.exception("emulator: internal error (OSS object)")
        err = OssError(500, "InternalError", "We encountered an internal error. Please try again.")
        answer = ObjectAnswer(500, emu._oss_error(err, rid, host, bucket).encode("utf-8"), rid, err.code)
    entry["status"] = None if answer.drop else answer.status
    entry["code"] = "" if answer.drop else answer.code
    if answer.drop:
        entry["dropped"] = True
    entry["ms"] = round((time.monotonic() - started) * 1000, 1)
    if emu.journal is not None:
        emu.journal.add(entry)
    return answer


def _dispatch(
    emu: Emulator,
    method: str,
    action: str,
    bucket: str,
    key: str,
    p: dict[str, str],
    h: dict[str, str],
    body: bytes,
    rid: str,
) -> ObjectAnswer:

    path = _object_path(emu, bucket, key)
    if method == "PUT":
        forbid = h.get("x-oss-forbid-overwrite", "false").lower()
        if forbid not in ("true", "false"):
            raise OssError(
                400,
                "InvalidArgument",
                "x-oss-forbid-overwrite must be true or false.",
                ArgumentName="x-oss-forbid-overwrite",
                ArgumentValue=forbid,
            )
        with _write_lock:
            if forbid == "true" and path.is_file():
                raise OssError(
                    409,
                    "FileAlreadyExists",
                    "The object you specified already exists and can not be overwritten.",
                )
            _write(path, body)
            _appendable.discard(path)
        return ObjectAnswer(200, b"", rid, headers={"ETag": _etag(body)})
    if method == "POST":
        if "append" not in p:
            raise OssError(501, "NotImplemented", f"The emulator does not serve {action}.")
        try:
            position = int(p.get("position", ""))
        except ValueError:
            raise OssError(
                400,
                "InvalidArgument",
                "position must be a non-negative integer.",
                ArgumentName="position",
                ArgumentValue=p.get("position", ""),
            ) from None
        with _write_lock:
            exists = path.is_file()
            current = path.read_bytes() if exists else b""
            if exists and path not in _appendable:
                raise OssError(409, "ObjectNotAppendable", "The object is not appendable.")
            if position != len(current):
                raise OssError(
                    409,
                    "PositionNotEqualToLength",
                    "Position is not equal to file length.",
                    **{"x-oss-next-append-position": str(len(current))},
                )
            data = current + body
            _write(path, data)
            _appendable.add(path)
        return ObjectAnswer(
            200, b"", rid, headers={"x-oss-next-append-position": str(len(data)), "ETag": _etag(data)}
        )
    if method == "DELETE":
        with _write_lock:
            try:
                path.unlink()
            except (FileNotFoundError, IsADirectoryError):
                pass
            _appendable.discard(path)
        return ObjectAnswer(204, b"", rid)
    # GET / HEAD
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise OssError(404, "NoSuchKey", "The specified key does not exist.", Key=key) from None
    meta = _meta(path, data)
    if method == "HEAD":
        return ObjectAnswer(200, b"", rid, headers={**meta, "Content-Length": str(len(data))})
    rng = h.get("range", "")
    if rng.startswith("bytes="):
        a, _, b = rng[6:].partition("-")
        try:
            start = int(a)
            end = int(b) if b else len(data) - 1
        except ValueError:
            start, end = 0, len(data) - 1
        if start < len(data):
            end = min(end, len(data) - 1)
            return ObjectAnswer(
                206,
                data[start : end + 1],
                rid,
                headers={**meta, "Content-Range": f"bytes {start}-{end}/{len(data)}"},
            )
    return ObjectAnswer(200, data, rid, headers=meta)

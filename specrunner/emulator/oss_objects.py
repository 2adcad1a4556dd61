"""The emulator's OSS object calls: what remote state needs, over the root's bucket folders.

Routes (path-style ``/<bucket>/<key>``, as oss2 addresses IP and localhost endpoints; signature V1,
``emulator/oss_auth.py``):

- ``PUT`` PutObject; with ``x-oss-forbid-overwrite: true`` an existing key answers 409
  ``FileAlreadyExists`` (any value other than ``true``/``false`` is 400 ``InvalidArgument``).
- ``GET`` GetObject (``Range: bytes=a-b`` / ``a-`` answered 206), ``HEAD`` HeadObject (404 without a
  body when absent; ``x-oss-object-type``, ``x-oss-next-append-position`` for appendable objects).
- ``DELETE`` DeleteObject: 204 whether or not the key existed (403 ``AccessDenied`` under the faults'
  ``delete_deny``). DeleteMultipleObjects (``POST /<bucket>/?delete``) is ``oss_batchdelete``'s; it
  deletes each key as this does (:func:`remove_object`).
- ``POST ?append&position=N`` AppendObject: position 0 creates an Appendable object; a position other
  than the current length is 409 ``PositionNotEqualToLength`` (with ``x-oss-next-append-position``);
  appending to a Normal object is 409 ``ObjectNotAppendable``.

Sub-resources other than ``append``/``position`` and ``HEAD ?objectMeta`` (GetObjectMeta, oss2's
``object_exists``) -- ``?acl``, ``?tagging``, ... -- and CopyObject (``x-oss-copy-source``) are not
served: 501 ``NotImplemented``, nothing written (they used to be taken for a Put of the empty body).
Where objects live and which keys are refused: ``emulator/oss_store.py``.

Invariants: every check-and-write (forbid-overwrite, append position) happens under one lock, and
files are replaced atomically, so two racing creates never both succeed. AppendObject writes the type
record before it creates the data, PutObject and DeleteObject drop it after writing or deleting the
data, so a record without data (a crash between the two) is ignored and a later append at position 0
or Put sets it right. Every request is journaled like an MTS call (action, bucket, key, status, code;
never the Authorization header) and gets the faults' latency; ``oss_error_rate`` answers 503 before
doing anything, ``oss_drop_rate`` does the write and then closes the connection without an answer.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, unquote

from specrunner.emulator.journal import journal_entry
from specrunner.emulator.oss_auth import authenticate
from specrunner.emulator.oss_protocol import (
    OSS_SUBRESOURCES,
    OssAnswer,
    OssError,
    OssSite,
    error_xml,
    journaled,
)
from specrunner.emulator.oss_store import (
    invalid_key,
    object_path,
    object_type,
    set_appendable,
    set_normal,
    write_file,
)

log = logging.getLogger(__name__)
_write_lock = threading.Lock()


def delete_denied() -> OssError:
    """A key under the faults' ``delete_deny``: a RAM policy denying oss:DeleteObject there."""
    return OssError(403, "AccessDenied", "You have no right to delete this object (no oss:DeleteObject).")


# The sub-resources an object request may carry; any other one is answered 501 (response-* aside).
_SERVED_PARAMS = frozenset(("append", "position", "security-token"))


def is_object_request(method: str, path: str) -> bool:
    """An object operation (a path with a bucket and a key); the rest is the bucket listing's."""
    bucket, _, key = path.lstrip("/").partition("/")
    return bool(bucket and key) and method in ("GET", "PUT", "HEAD", "DELETE", "POST")


def _etag(data: bytes) -> str:
    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest().upper() + '"'


def _meta(mtime: float, data: bytes, kind: str) -> dict[str, str]:
    modified = datetime.fromtimestamp(mtime, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    h = {"ETag": _etag(data), "x-oss-object-type": kind, "Last-Modified": modified}
    if kind == "Appendable":
        h["x-oss-next-append-position"] = str(len(data))
    return h


def handle_object(
    site: OssSite, method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes
) -> OssAnswer:
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
    if method == "HEAD" and "objectMeta" in pdict:
        action = "GetObjectMeta"  # answered as HeadObject (a superset of its headers)
    fields = {"bucket": bucket, "key": key, **{k: v for k, v in pdict.items() if k == "position"}}
    entry = journal_entry(method, action, rid, fields)
    if lower.get("x-oss-forbid-overwrite"):
        entry["params"]["forbid_overwrite"] = lower["x-oss-forbid-overwrite"]
    host = lower.get("host", "") or site.host
    faults = site.faults
    faults.delay()
    answer: OssAnswer
    try:
        authenticate(method, bucket, key, params, headers, site.keys)
        if faults.chance(faults.oss_error_rate):
            raise OssError(503, "ServiceUnavailable", "Please reduce your request rate.")
        if method == "DELETE" and faults.deletes_denied(bucket, key):
            raise delete_denied()
        answer = _serve(site.root, method, action, bucket, key, pdict, lower, body, rid)
        answer.content_type = "application/octet-stream"
        if method in ("PUT", "POST", "DELETE") and faults.chance(faults.oss_drop_rate):
            answer.drop = True  # done, but the client never hears about it
    except OssError as e:
        body_out = error_xml(e, rid, host, bucket).encode("utf-8") if method != "HEAD" else b""
        extra = {k: v for k, v in e.extra.items() if k.startswith("x-oss-")}
        answer = OssAnswer(e.status, body_out, rid, e.code, headers=extra)
    except Exception:  # a bug in the emulator: answer as the service would
        log.exception("emulator: internal error (OSS object)")
        err = OssError(500, "InternalError", "We encountered an internal error. Please try again.")
        answer = OssAnswer(500, error_xml(err, rid, host, bucket).encode("utf-8"), rid, err.code)
    return journaled(site, entry, answer, started)


def _serve(
    root: Path,
    method: str,
    action: str,
    bucket: str,
    key: str,
    p: dict[str, str],
    h: dict[str, str],
    body: bytes,
    rid: str,
) -> OssAnswer:
    """One authenticated object call (every answer here is a success: failures are OssErrors)."""
    path = object_path(root, bucket, key)
    served = _SERVED_PARAMS | {"objectMeta"} if method == "HEAD" else _SERVED_PARAMS  # GetObjectMeta
    unserved = sorted(k for k in p if k in OSS_SUBRESOURCES and k not in served)
    unserved = [k for k in unserved if not k.startswith("response-")]
    if unserved:  # ?acl, ?tagging, ...: never taken for a plain object call (a Put would clobber data)
        raise OssError(501, "NotImplemented", f"The emulator does not serve the ?{unserved[0]} sub-resource.")
    if method == "PUT" and "x-oss-copy-source" in h:  # not a Put of the empty body
        raise OssError(501, "NotImplemented", "The emulator does not serve CopyObject.")
    if method == "PUT":
        return _put(root, bucket, key, path, h, body, rid)
    if method == "POST":
        if "append" not in p:
            raise OssError(501, "NotImplemented", f"The emulator does not serve {action}.")
        return _append(root, bucket, key, path, p, body, rid)
    if method == "DELETE":
        remove_object(root, bucket, key, path)
        return OssAnswer(204, b"", rid)
    return _read(root, method, bucket, key, path, h, rid)


def remove_object(root: Path, bucket: str, key: str, path: Path | None = None) -> None:
    """Delete ``bucket``/``key`` (its file and its type record); an absent key is no error. A
    bucket or key OSS would refuse raises its OssError (``oss_store.object_path``)."""
    path = object_path(root, bucket, key) if path is None else path
    with _write_lock:
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            pass
        set_normal(root, bucket, key)


def _put(
    root: Path, bucket: str, key: str, path: Path, h: dict[str, str], body: bytes, rid: str
) -> OssAnswer:
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
        write_file(path, body)
        set_normal(root, bucket, key)  # PutObject replaces an Appendable object with a Normal one
    return OssAnswer(200, b"", rid, headers={"ETag": _etag(body)})


def _append(
    root: Path, bucket: str, key: str, path: Path, p: dict[str, str], body: bytes, rid: str
) -> OssAnswer:
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
        try:
            current, exists = path.read_bytes(), True
        except FileNotFoundError:
            current, exists = b"", False
        except (IsADirectoryError, NotADirectoryError):
            raise invalid_key("The emulator cannot store this object as a file.") from None
        if exists and object_type(root, bucket, key) != "Appendable":
            raise OssError(409, "ObjectNotAppendable", "The object is not appendable.")
        if position != len(current):
            raise OssError(
                409,
                "PositionNotEqualToLength",
                "Position is not equal to file length.",
                **{"x-oss-next-append-position": str(len(current))},
            )
        if not exists:
            set_appendable(root, bucket, key)  # first: a record without data is ignored
        data = current + body
        write_file(path, data)
    return OssAnswer(
        200, b"", rid, headers={"x-oss-next-append-position": str(len(data)), "ETag": _etag(data)}
    )


def _read(
    root: Path, method: str, bucket: str, key: str, path: Path, h: dict[str, str], rid: str
) -> OssAnswer:
    """GetObject (a ``Range`` answered 206) and HeadObject."""
    try:
        with open(path, "rb") as f:  # bytes and time from one open file: a concurrent delete is a 404
            mtime = os.fstat(f.fileno()).st_mtime
            data = f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise OssError(404, "NoSuchKey", "The specified key does not exist.", Key=key) from None
    meta = _meta(mtime, data, object_type(root, bucket, key))
    if method == "HEAD":
        return OssAnswer(200, b"", rid, headers={**meta, "Content-Length": str(len(data))})
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
            return OssAnswer(
                206,
                data[start : end + 1],
                rid,
                headers={**meta, "Content-Range": f"bytes {start}-{end}/{len(data)}"},
            )
    return OssAnswer(200, data, rid, headers=meta)

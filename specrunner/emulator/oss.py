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

Buckets and keys are checked as OSS does before anything is read or written: a bucket name is 3-63
characters of lowercase letters, digits and hyphens, starting and ending with a letter or a digit (else
400 ``InvalidBucketName``), so the emulator's own folders (``<root>/.mts``, the engine's job store, and
``<root>/.oss-meta``) are never buckets; a key is 1-1023 bytes without NUL or backslash, not starting
with ``/``, without an empty, ``.`` or ``..`` segment, and must resolve (symlinks followed) inside its
bucket folder and outside the emulator's own folders (else 400 ``InvalidObjectName``). Sub-resources
other than ``append``/``position`` and ``HEAD ?objectMeta`` (GetObjectMeta, oss2's ``object_exists``)
-- ``?acl``, ``?tagging``, ... -- and CopyObject (``x-oss-copy-source``) are not served: 501
``NotImplemented``, nothing written (they used to be taken for a Put of the empty body).

Invariants: objects are files under ``<root>/<bucket>/<key>`` (the bucket folder must exist: else 404
``NoSuchBucket``); every check-and-write (forbid-overwrite, append position) happens under one lock,
and files are replaced atomically, so two racing creates never both succeed. An object's type outlives
the emulator: each Appendable object has a record ``<root>/.oss-meta/<bucket>/<hh>/<sha256(key)>.json``
(``{"bucket", "key", "type": "Appendable"}``, written atomically; ``hh`` is the digest's first two hex
digits); no record means Normal. AppendObject writes the record before it creates the data, PutObject
and DeleteObject drop it after writing or deleting the data, so a record without data (a crash between
the two) is ignored and a later append at position 0 or Put sets it right. Every request is
journaled like an MTS call (action, bucket, key, status, code; never the Authorization header) and gets
the emulator's latency; ``oss_error_rate`` answers 503 before doing anything, ``oss_drop_rate`` does
the write and then closes the connection without an answer (both attributes of the Emulator, 0 unless
set).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
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

# OSS: the sub-resources that take part in the V1 string to sign (oss2.auth.ProviderAuth's set; the
# server's signature check uses it, the object calls refuse those they do not serve).
OSS_SUBRESOURCES = frozenset(
    (
        "response-content-type",
        "response-content-language",
        "response-cache-control",
        "logging",
        "response-content-encoding",
        "acl",
        "uploadId",
        "uploads",
        "partNumber",
        "group",
        "link",
        "delete",
        "website",
        "location",
        "objectInfo",
        "objectMeta",
        "response-expires",
        "response-content-disposition",
        "cors",
        "lifecycle",
        "restore",
        "qos",
        "referer",
        "stat",
        "bucketInfo",
        "append",
        "position",
        "security-token",
        "live",
        "comp",
        "status",
        "vod",
        "startTime",
        "endTime",
        "x-oss-process",
        "symlink",
        "callback",
        "callback-var",
        "tagging",
        "encryption",
        "versions",
        "versioning",
        "versionId",
        "policy",
        "requestPayment",
        "x-oss-traffic-limit",
        "qosInfo",
        "asyncFetch",
        "x-oss-request-payer",
        "sequential",
        "inventory",
        "inventoryId",
        "continuation-token",
        "worm",
        "wormId",
        "wormExtend",
        "replication",
        "replicationLocation",
        "replicationProgress",
        "transferAcceleration",
        "cname",
        "metaQuery",
        "x-oss-ac-source-ip",
        "x-oss-ac-subnet-mask",
        "x-oss-ac-vpc-id",
        "x-oss-ac-forward-allow",
        "resourceGroup",
        "style",
        "styleName",
        "x-oss-async-process",
        "regionList",
        "x-oss-write-get-object-response",
        "bucketArchiveDirectRead",
        "httpsConfig",
        "redundancyTransition",
        "x-oss-target-redundancy-type",
        "x-oss-redundancy-transition-taskid",
        "accessPoint",
        "accessPointPolicy",
        "publicAccessBlock",
        "x-oss-access-point-name",
        "requesterQosInfo",
        "qosRequester",
        "resourcePoolInfo",
        "resourcePool",
        "resourcePoolBuckets",
    )
)

ENGINE_DIR = ".mts"  # the MTS engine's job store under the root (engine/service.py)
META_DIR = ".oss-meta"  # the object types: one record per Appendable object
NAME_MAX = 255  # a key segment is a file name
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
# The sub-resources an object request may carry; any other one is answered 501 (response-* aside).
_SERVED_PARAMS = frozenset(("append", "position", "security-token"))


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


def valid_bucket_name(bucket: str) -> bool:
    """OSS's rule: 3-63 characters of ``a-z 0-9 -``, starting and ending with a letter or a digit."""
    return bool(_BUCKET_RE.fullmatch(bucket))


def _invalid_key(message: str = "The specified object is not valid.") -> OssError:
    return OssError(400, "InvalidObjectName", message)


def _object_path(emu: Emulator, bucket: str, key: str) -> Path:
    """The file of ``bucket``/``key``, resolved; refused unless it is inside its bucket folder."""
    if not valid_bucket_name(bucket):
        raise OssError(400, "InvalidBucketName", "The specified bucket is not valid.", BucketName=bucket)
    parts = key.split("/")
    if (
        "\x00" in key
        or "\\" in key
        or any(p in ("", ".", "..") for p in parts)  # also a leading "/" and a trailing one
        or len(key.encode("utf-8", "surrogateescape")) > 1023
    ):
        raise _invalid_key()
    if any(len(p.encode("utf-8", "surrogateescape")) > NAME_MAX for p in parts):
        raise _invalid_key(
            f"The emulator cannot store this object: a key segment longer than {NAME_MAX} bytes "
            "is no file name."
        )
    root = emu.root.resolve()
    base = root / bucket
    if not base.is_dir():
        raise OssError(404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=bucket)
    outside = _invalid_key("The specified object is not valid (it resolves outside its bucket).")
    try:
        real_base = base.resolve()
        path = (real_base / Path(*parts)).resolve()
        own = [(root / ENGINE_DIR).resolve(), (root / META_DIR).resolve()]
    except (OSError, RuntimeError):  # a symlink loop
        raise outside from None
    if real_base not in path.parents or any(path == d or d in path.parents for d in own):
        raise outside
    return path


def _record_path(root: Path, bucket: str, key: str) -> Path:
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    return root.resolve() / META_DIR / bucket / digest[:2] / f"{digest}.json"


def object_type(root: Path, bucket: str, key: str) -> str:
    """``Appendable`` if the object was created by AppendObject (and not replaced since), else ``Normal``."""
    try:
        record = json.loads(_record_path(root, bucket, key).read_bytes())
    except (OSError, ValueError):
        return "Normal"
    ok = isinstance(record, dict) and record.get("type") == "Appendable" and record.get("key") == key
    return "Appendable" if ok else "Normal"


def _set_appendable(root: Path, bucket: str, key: str) -> None:
    record = json.dumps({"bucket": bucket, "key": key, "type": "Appendable"}, ensure_ascii=False)
    _write(_record_path(root, bucket, key), record.encode("utf-8"))


def _set_normal(root: Path, bucket: str, key: str) -> None:
    _record_path(root, bucket, key).unlink(missing_ok=True)


def _write(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically (a short temp name: a long key's name stays within NAME_MAX)."""
    tmp = path.with_name(f".oss-{uuid.uuid4().hex}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if e.errno not in (errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG):
            raise  # ENOSPC, EACCES, ...: not the key's fault
        # e.g. "a/b" next to the object "a": fine on OSS, impossible on a file system
        raise _invalid_key(f"The emulator cannot store this object as a file: {e.strerror or e}.") from None


def _etag(data: bytes) -> str:
    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest().upper() + '"'


def _meta(mtime: float, data: bytes, kind: str) -> dict[str, str]:
    modified = datetime.fromtimestamp(mtime, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    h = {"ETag": _etag(data), "x-oss-object-type": kind, "Last-Modified": modified}
    if kind == "Appendable":
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
    if method == "HEAD" and "objectMeta" in pdict:
        action = "GetObjectMeta"  # answered as HeadObject (a superset of its headers)
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
    served = _SERVED_PARAMS | {"objectMeta"} if method == "HEAD" else _SERVED_PARAMS  # GetObjectMeta
    unserved = sorted(k for k in p if k in OSS_SUBRESOURCES and k not in served)
    unserved = [k for k in unserved if not k.startswith("response-")]
    if unserved:  # ?acl, ?tagging, ...: never taken for a plain object call (a Put would clobber data)
        raise OssError(501, "NotImplemented", f"The emulator does not serve the ?{unserved[0]} sub-resource.")
    if method == "PUT" and "x-oss-copy-source" in h:  # not a Put of the empty body
        raise OssError(501, "NotImplemented", "The emulator does not serve CopyObject.")
    root = emu.root
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
            _set_normal(root, bucket, key)  # PutObject replaces an Appendable object with a Normal one
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
            try:
                current, exists = path.read_bytes(), True
            except FileNotFoundError:
                current, exists = b"", False
            except (IsADirectoryError, NotADirectoryError):
                raise _invalid_key("The emulator cannot store this object as a file.") from None
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
                _set_appendable(root, bucket, key)  # first: a record without data is ignored
            data = current + body
            _write(path, data)
        return ObjectAnswer(
            200, b"", rid, headers={"x-oss-next-append-position": str(len(data)), "ETag": _etag(data)}
        )
    if method == "DELETE":
        with _write_lock:
            try:
                path.unlink()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                pass
            _set_normal(root, bucket, key)
        return ObjectAnswer(204, b"", rid)
    # GET / HEAD
    try:
        with open(path, "rb") as f:  # bytes and time from one open file: a concurrent delete is a 404
            mtime = os.fstat(f.fileno()).st_mtime
            data = f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise OssError(404, "NoSuchKey", "The specified key does not exist.", Key=key) from None
    meta = _meta(mtime, data, object_type(root, bucket, key))
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

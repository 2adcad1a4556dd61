"""OSS objects on disk: where an object's file is, its type record, and atomic writes.

Objects are files under ``<root>/<bucket>/<key>`` (the bucket folder must exist: else 404
``NoSuchBucket``). Buckets and keys are checked as OSS does before anything is read or written: a
bucket name is 3-63 characters of lowercase letters, digits and hyphens, starting and ending with a
letter or a digit (else 400 ``InvalidBucketName``), so the emulator's own folders (``<root>/.mts``,
the engine's job store, and ``<root>/.oss-meta``) are never buckets; a key is 1-1023 bytes without
NUL or backslash, not starting with ``/``, without an empty, ``.`` or ``..`` segment, and must
resolve (symlinks followed) inside its bucket folder and outside the emulator's own folders (else
400 ``InvalidObjectName``).

An object's type outlives the emulator: each Appendable object has a record
``<root>/.oss-meta/<bucket>/<hh>/<sha256(key)>.json`` (``{"bucket", "key", "type": "Appendable"}``,
written atomically; ``hh`` is the digest's first two hex digits); no record (or one for another key)
means Normal.

Invariants: files are replaced atomically (a temp file, then ``os.replace``); a key the file system
cannot hold (below an object, over a folder, a segment over 255 bytes) is 400 ``InvalidObjectName``,
never a 500.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import uuid
from pathlib import Path

from specrunner.emulator.oss_protocol import OssError, valid_bucket_name

ENGINE_DIR = ".mts"  # the MTS engine's job store under the root (engine/records.py)
META_DIR = ".oss-meta"  # the object types: one record per Appendable object
NAME_MAX = 255  # a key segment is a file name


def invalid_key(message: str = "The specified object is not valid.") -> OssError:
    return OssError(400, "InvalidObjectName", message)


def object_path(root: Path, bucket: str, key: str) -> Path:
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
        raise invalid_key()
    if any(len(p.encode("utf-8", "surrogateescape")) > NAME_MAX for p in parts):
        raise invalid_key(
            f"The emulator cannot store this object: a key segment longer than {NAME_MAX} bytes "
            "is no file name."
        )
    root = root.resolve()
    base = root / bucket
    if not base.is_dir():
        raise OssError(404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=bucket)
    outside = invalid_key("The specified object is not valid (it resolves outside its bucket).")
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


def set_appendable(root: Path, bucket: str, key: str) -> None:
    record = json.dumps({"bucket": bucket, "key": key, "type": "Appendable"}, ensure_ascii=False)
    write_file(_record_path(root, bucket, key), record.encode("utf-8"))


def set_normal(root: Path, bucket: str, key: str) -> None:
    _record_path(root, bucket, key).unlink(missing_ok=True)


def write_file(path: Path, data: bytes) -> None:
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
        raise invalid_key(f"The emulator cannot store this object as a file: {e.strerror or e}.") from None

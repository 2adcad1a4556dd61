"""The engine's object storage: buckets as folders under a root, objects as files.

Every path is checked to stay inside its bucket; a key the file system cannot hold is refused with
the service's ``InvalidParameter.ObjectKeyInvalid``.
"""

from __future__ import annotations

import errno
import os
import re
import threading
from pathlib import Path

from specrunner.engine.errors import ServiceError

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
NAME_MAX = 255  # bytes per path segment on the local file system (OSS keys have no such limit)


class ObjectStore:
    """Buckets as folders. Every path is checked to stay inside its bucket."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def path(self, bucket: str, key: str) -> Path:
        self.check(bucket, key)
        base = (self.root / bucket).resolve()
        p = (base / key).resolve()
        if base != p and base not in p.parents:
            raise ServiceError("InvalidParameter.ObjectKeyInvalid", f"object key {key!r} escapes its bucket")
        return p

    def check(self, bucket: str, key: str) -> None:
        """The bucket name's and the key's own rules (no file system access)."""
        # fullmatch: `$` would also accept a trailing newline ("media-out\n" -> a new folder)
        if not isinstance(bucket, str) or not _BUCKET_RE.fullmatch(bucket):
            raise ServiceError("InvalidParameter.BucketNameInvalid", f"invalid bucket name {bucket!r}")
        if (
            not isinstance(key, str)
            or not key
            or "\x00" in key
            or key.startswith("/")
            or "\\" in key
            or any(part in ("..", ".") for part in key.split("/"))
            or len(key.encode()) > 1024
        ):
            raise ServiceError("InvalidParameter.ObjectKeyInvalid", f"invalid object key {key[:200]!r}")
        if any(len(part.encode()) > NAME_MAX for part in key.split("/")):
            raise ServiceError(
                "InvalidParameter.ObjectKeyInvalid",
                f"object key {key[:60]!r}... has a segment longer than {NAME_MAX} bytes, which the "
                "local engine cannot store as a file name",
            )

    def write(self, bucket: str, key: str, data: bytes) -> None:
        p = self.path(bucket, key)
        # A short temp name: ".{name}.part-..." overflowed NAME_MAX for names near 255 bytes.
        tmp = p.with_name(f".part-{os.getpid()}-{threading.get_ident()}")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, p)
        except OSError as e:
            try:
                tmp.unlink()
            except OSError:
                pass
            if e.errno not in (errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG):
                raise  # ENOSPC, EACCES, ...: not the key's fault
            # e.g. "a.jpg/b.jpg" after "a.jpg": fine on OSS, impossible on a file system
            raise ServiceError(
                "InvalidParameter.ObjectKeyInvalid",
                f"the local engine cannot store object {bucket}/{key}: {e.strerror or e}",
            ) from None

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        """Object keys in ``bucket`` starting with ``prefix``, sorted (like ListObjectsV2)."""
        if not isinstance(bucket, str) or not _BUCKET_RE.fullmatch(bucket):
            raise ServiceError("InvalidParameter.BucketNameInvalid", f"invalid bucket name {bucket!r}")
        base = self.root / bucket
        if not base.is_dir():
            return []
        keys = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):
                    continue
                key = os.path.relpath(os.path.join(dirpath, name), base).replace(os.sep, "/")
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

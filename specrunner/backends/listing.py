"""Objects as a listing sees them: key, size and ETag, from OSS ListObjectsV2 or the local engine's folders.

``Listed`` is one object. ``ObjectsLister`` is ``lister(bucket, location, prefix, until) -> [Listed]`` in
key order (``until``: the caller needs nothing past that key, so paging may stop there).

The local engine has no ETag: its content fingerprint is what OSS gives a simple upload, the upper-case
MD5 hex of the bytes, so a state means the same on both. Hashing every output and input at every plan
would cost their whole size: :class:`LocalObjects` keeps the fingerprints it computed in
``<root>/.specrunner/etags.json`` keyed by (key, size, mtime, ctime, inode), as OSS computes an ETag once per
upload; a file whose size, times or inode changed is hashed again. The cache is written
atomically and only when it changed; a damaged one is ignored (hashed again).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from specrunner.core.errors import SpecrunnerError
from specrunner.engine.errors import ServiceError
from specrunner.engine.objects import ObjectStore

CACHE = Path(".specrunner") / "etags.json"


class Listed(NamedTuple):
    key: str
    size: int
    etag: str


ObjectsLister = Callable[[str, str, str, "str | None"], list[Listed]]


def md5_etag(path: Path) -> str:
    """The upper-case MD5 hex of a file's bytes (OSS's ETag of a simple upload)."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest().upper()


class LocalObjects:
    """The local engine's buckets (folders under ``root``) listed with sizes and fingerprints."""

    def __init__(self, root: Path) -> None:
        self.store = ObjectStore(root)
        self.cache_path = self.store.root / CACHE
        self._lock = threading.Lock()
        self._folders: dict[tuple[str, str], Path] = {}  # (bucket, folder) -> resolved, for this run
        self._cache: dict[str, list[int | str]] | None = None
        self._dirty = False

    def _load(self) -> dict[str, list[int | str]]:
        if self._cache is None:
            try:
                data = json.loads(self.cache_path.read_bytes())
                self._cache = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                self._cache = {}
        return self._cache

    def etag(self, bucket: str, key: str) -> Listed | None:
        """One object as listed, or None when it does not exist. A file that cannot be read (no
        permission, a bucket that is a file, a link loop) raises: it is not known to be missing."""
        try:
            path = self._path(bucket, key)
        except ServiceError:
            return None  # a name no object can have
        except (OSError, RuntimeError) as e:  # resolving: a link loop, an unreadable folder
            raise self._unreadable(bucket, key, e) from None
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            self._bucket_is_a_folder(bucket)
            return None
        except OSError as e:
            raise self._unreadable(bucket, key, e) from None
        if not stat.S_ISREG(st.st_mode):
            return None
        ident = f"{bucket}/{key}"
        # ctime and inode too: a rewrite that keeps size and mtime (cp -p, touch -r) is hashed again
        stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        with self._lock:
            hit = self._load().get(ident)
        if isinstance(hit, list) and len(hit) == 5 and hit[:4] == stamp:
            return Listed(key, st.st_size, str(hit[4]))
        try:
            etag = md5_etag(path)
        except OSError as e:
            raise self._unreadable(bucket, key, e) from None
        with self._lock:
            self._load()[ident] = [*stamp, etag]
            self._dirty = True
        return Listed(key, st.st_size, etag)

    def _path(self, bucket: str, key: str) -> Path:
        """``store.path`` (inside its bucket, links resolved) with each folder resolved once: a plan
        looks at thousands of objects in a few folders. A link as the last part is resolved alone."""
        self.store.check(bucket, key)
        folder, _, name = key.rpartition("/")
        real = self._folders.get((bucket, folder))
        if real is None:
            base = (self.store.root / bucket).resolve()
            real = (base / folder).resolve() if folder else base
            if real != base and base not in real.parents:
                raise ServiceError(
                    "InvalidParameter.ObjectKeyInvalid", f"object key {key!r} escapes its bucket"
                )
            self._folders[(bucket, folder)] = real
        path = real / name
        if path.is_symlink():
            return self.store.path(bucket, key)
        return path

    def _bucket_is_a_folder(self, bucket: str) -> None:
        base = self.store.root / bucket
        if base.exists() and not base.is_dir():
            raise SpecrunnerError(
                f"cannot list {bucket}/: the bucket {bucket} is not a folder ({base} is a file)"
            )

    def _unreadable(self, bucket: str, key: str, e: BaseException) -> SpecrunnerError:
        why = getattr(e, "strerror", None) or str(e) or type(e).__name__
        return SpecrunnerError(f"cannot list {bucket}/{key}: {why} (in {self.store.root / bucket})")

    def __call__(self, bucket: str, location: str, prefix: str, until: str | None = None) -> list[Listed]:
        self._bucket_is_a_folder(bucket)
        try:
            keys = self.store.list(bucket, prefix)
        except ServiceError as e:
            raise SpecrunnerError(f"cannot list {bucket}/{prefix}: {e.message}") from None
        out = []
        for k in keys:
            if until is not None and k > until:
                break
            item = self.etag(bucket, k)
            if item is not None:
                out.append(item)
        return out

    def lookup(self, bucket: str, keys: list[str]) -> list[Listed]:
        """Just these objects (those that exist), in key order: no folder walked, nothing else hashed."""
        found = (self.etag(bucket, k) for k in sorted(keys))
        return [o for o in found if o is not None]

    def close(self) -> None:
        self.save()

    def save(self) -> None:
        """Write the fingerprints computed since loading (atomically; best effort)."""
        with self._lock:
            if not self._dirty or self._cache is None:
                return
            data = json.dumps(self._cache, sort_keys=True, separators=(",", ":")).encode("utf-8")
            self._dirty = False
        tmp = self.cache_path.with_name(f".etags-{os.getpid()}-{threading.get_ident()}")
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, self.cache_path)
        except OSError:  # a cache: never worth failing a command over
            try:
                tmp.unlink()
            except OSError:
                pass

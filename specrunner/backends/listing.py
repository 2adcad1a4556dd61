"""Objects as a listing sees them: key, size and ETag, from OSS ListObjectsV2 or the local engine's folders.

``Listed`` is one object. ``ObjectsLister`` is ``lister(bucket, location, prefix, until) -> [Listed]`` in
key order (``until``: the caller needs nothing past that key, so paging may stop there).

The local engine has no ETag: its content fingerprint is what OSS gives a simple upload, the upper-case
MD5 hex of the bytes, so a state means the same on both. Hashing every output and input at every plan
would cost their whole size: :class:`LocalObjects` keeps the fingerprints it computed in
``<root>/.specrunner/etags.json`` keyed by (key, size, mtime_ns), as OSS computes an ETag once per
upload; a file whose size or modification time changed is hashed again. The cache is written
atomically and only when it changed; a damaged one is ignored (hashed again).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

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
        """One object as listed, or None when it does not exist."""
        try:
            path = self.store.path(bucket, key)
            st = path.stat()
        except (OSError, ServiceError):
            return None
        if not path.is_file():
            return None
        ident = f"{bucket}/{key}"
        with self._lock:
            hit = self._load().get(ident)
        if isinstance(hit, list) and len(hit) == 3 and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return Listed(key, st.st_size, str(hit[2]))
        try:
            etag = md5_etag(path)
        except OSError:
            return None
        with self._lock:
            self._load()[ident] = [st.st_size, st.st_mtime_ns, etag]
            self._dirty = True
        return Listed(key, st.st_size, etag)

    def __call__(self, bucket: str, location: str, prefix: str, until: str | None = None) -> list[Listed]:
        try:
            keys = self.store.list(bucket, prefix)
        except ServiceError as e:
            from specrunner.core.errors import SpecrunnerError

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

"""Backends and their registry: ``local`` (the embedded engine) and ``aliyun`` (Alibaba Cloud MTS)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from specrunner.backends.base import MAX_QUERY_IDS, Backend, RemoteJob
from specrunner.backends.listing import Listed, LocalObjects, ObjectsLister
from specrunner.core.errors import SpecrunnerError
from specrunner.core.model import Manifest
from specrunner.engine.errors import ServiceError
from specrunner.engine.objects import ObjectStore

# Each backend (and its SDK, or PyAV for the local engine) is imported only when a manifest names it.


def _local(manifest: Manifest, workers: int) -> Backend:
    from specrunner.backends.local import LocalBackend

    root = Path(manifest.base_dir) / manifest.target.root
    return LocalBackend(root, sync_timeout=manifest.target.sync_timeout, workers=workers)


def _aliyun(manifest: Manifest, workers: int) -> Backend:
    from specrunner.backends.aliyun import AliyunBackend

    return AliyunBackend.from_target(manifest.target, workers=workers)


BACKENDS: dict[str, Callable[[Manifest, int], Backend]] = {"local": _local, "aliyun": _aliyun}

Lister = Callable[[str, str, str], list[str]]  # (bucket, location, prefix) -> sorted object keys


def open_lister(manifest: Manifest) -> Lister:
    """Object listing for input discovery: folders on the local engine, OSS ListObjectsV2 on the cloud."""
    if manifest.target.backend == "local":
        store = ObjectStore(Path(manifest.base_dir) / manifest.target.root)

        def list_local(bucket: str, location: str, prefix: str) -> list[str]:
            try:
                return store.list(bucket, prefix)
            except ServiceError as e:
                raise SpecrunnerError(f"cannot list {bucket}/{prefix}: {e.message}") from None

        return list_local
    from specrunner.backends.oss import oss_lister

    return oss_lister(manifest.target)


def open_objects_lister(manifest: Manifest) -> ObjectsLister:
    """Objects with their sizes and ETags (the refresh, outputs recorded): the local engine's folders
    (its fingerprint: the content's MD5, as OSS's ETag), or OSS ListObjectsV2 on the cloud."""
    if manifest.target.backend == "local":
        return LocalObjects(Path(manifest.base_dir) / manifest.target.root)
    from specrunner.backends.oss import OssObjects, oss_lister

    return OssObjects(oss_lister(manifest.target))


def open_backend(manifest: Manifest, *, workers: int = 8) -> Backend:
    return BACKENDS[manifest.target.backend](manifest, workers)


__all__ = [
    "BACKENDS",
    "MAX_QUERY_IDS",
    "Backend",
    "Listed",
    "Lister",
    "ObjectsLister",
    "RemoteJob",
    "open_backend",
    "open_lister",
    "open_objects_lister",
]

"""Backends and their registry: ``local`` (the embedded engine) and ``aliyun`` (Alibaba Cloud MTS)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..manifest import Manifest
from .base import MAX_QUERY_IDS, Backend, RemoteJob


def _local(manifest: Manifest, workers: int) -> Backend:
    from .local import LocalBackend

    root = Path(manifest.base_dir) / manifest.target.root
    return LocalBackend(root, sync_timeout=manifest.target.sync_timeout, workers=workers)


def _aliyun(manifest: Manifest, workers: int) -> Backend:
    from .aliyun import AliyunBackend

    return AliyunBackend.from_target(manifest.target, workers=workers)


BACKENDS: dict[str, Callable[[Manifest, int], Backend]] = {"local": _local, "aliyun": _aliyun}


def open_backend(manifest: Manifest, *, workers: int = 8) -> Backend:
    return BACKENDS[manifest.target.backend](manifest, workers)


__all__ = ["BACKENDS", "MAX_QUERY_IDS", "Backend", "RemoteJob", "open_backend"]

"""Deleting output objects (``specrunner prune``): files of a bucket folder, or OSS objects.

Both deleters take ``bucket/key`` names and report each object that is gone (deleted now, or already
absent: deleting is idempotent, so a prune that died after its deletes and before recording them is
finished by the next one), and the errors of the others.

- :class:`LocalDeleter` (the local engine): a file inside ``<root>/<bucket>/`` only. A key the engine
  would refuse, a symbolic link anywhere on the way (the bucket folder itself included) and a folder
  are refused, never followed nor removed; folders left empty are removed up to the bucket folder.
- :class:`OssDeleter` (aliyun): ``DeleteObject`` through the one oss2 client factory (``ossclient``),
  the one error map (``osserrors``: AccessDenied names ``oss:DeleteObject`` and the bucket) and the
  one retry policy (``ossretry.STATE``). A refusal that dooms every other call too (credentials,
  access denied, an unreachable endpoint) stops the deletions that have not started.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from specrunner.core.errors import BackendError, CredentialsError, PermanentBackendError, SpecrunnerError

WORKERS = 8


@dataclass
class Deleted:
    """What a deleter did: the objects now gone, and the first errors (object, error) of the others."""

    gone: list[str] = field(default_factory=list)
    failed: list[tuple[str, SpecrunnerError]] = field(default_factory=list)
    stopped: bool = False  # a refusal stopped the deletions not yet started


class Deleter(Protocol):
    def delete(self, objects: Sequence[str]) -> Deleted: ...

    def close(self) -> None: ...


def _run(objects: Sequence[str], one: Callable[[str], None], workers: int) -> Deleted:
    """``one(object)`` for each object, ``workers`` at a time; a fatal error stops the rest."""
    out = Deleted()
    lock = threading.Lock()
    stop = threading.Event()

    def task(obj: str) -> None:
        if stop.is_set():
            return
        try:
            one(obj)
        except SpecrunnerError as e:
            with lock:
                out.failed.append((obj, e))
            if _fatal(e):
                stop.set()
            return
        with lock:
            out.gone.append(obj)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="prune") as pool:
        list(pool.map(task, objects))
    out.stopped = stop.is_set()
    out.gone.sort()
    out.failed.sort(key=lambda f: f[0])
    return out


def _fatal(e: SpecrunnerError) -> bool:
    if isinstance(e, CredentialsError):
        return True
    return isinstance(e, BackendError) and e.code in ("AccessDenied", "EndpointUnreachable", "NoSuchBucket")


class LocalDeleter:
    """Files inside ``<root>/<bucket>/``, never outside, never through a symbolic link."""

    def __init__(self, root: Path, workers: int = WORKERS) -> None:
        from specrunner.engine.objects import ObjectStore

        self.store = ObjectStore(root)
        self.root = self.store.root
        self.workers = workers

    def delete(self, objects: Sequence[str]) -> Deleted:
        return _run(objects, self._one, self.workers)

    def _one(self, obj: str) -> None:
        from specrunner.engine.errors import ServiceError

        bucket, _, key = obj.partition("/")

        def refuse(why: str) -> PermanentBackendError:
            return PermanentBackendError(f"refusing to delete {obj}: {why}", code="Refused")

        try:
            self.store.path(bucket, key)  # the engine's own checks of the bucket name and the key
        except ServiceError as e:
            raise refuse(e.message) from None
        base = self.root / bucket
        path = base
        for part in key.split("/"):
            if path.is_symlink():
                raise refuse(f"{path} is a symbolic link (prune deletes only files inside {base})")
            path = path / part
        if path.is_symlink():
            raise refuse(f"{path} is a symbolic link (prune deletes only files inside {base})")
        if path.is_dir():
            raise refuse(f"{path} is a folder, not an object")
        try:
            path.unlink()
        except FileNotFoundError:
            return  # already gone: what prune wanted
        except OSError as e:
            raise PermanentBackendError(
                f"cannot delete {obj} ({path}): {e.strerror or e}", code="DeleteFailed"
            ) from None
        parent = path.parent
        while parent != base and base in parent.parents:
            try:
                parent.rmdir()  # only when empty
            except OSError:
                break
            parent = parent.parent

    def close(self) -> None:
        pass


class OssDeleter:
    """``DeleteObject`` per object (answered 204 whether or not it existed), ``workers`` at a time."""

    def __init__(self, locations: Mapping[str, str], default_location: str, workers: int = WORKERS) -> None:
        from specrunner.backends.credentials import resolve_credentials
        from specrunner.backends.ossclient import OssClients

        self.credential = resolve_credentials()
        self.clients = OssClients(self.credential)
        self.locations = dict(locations)
        self.default_location = default_location
        self.workers = workers
        self._lock = threading.Lock()

    def delete(self, objects: Sequence[str]) -> Deleted:
        return _run(objects, self._one, self.workers)

    def _one(self, obj: str) -> None:
        from specrunner.backends.ossclient import endpoint_for
        from specrunner.backends.osserrors import OssCall, oss_error
        from specrunner.backends.ossretry import STATE

        bucket, _, key = obj.partition("/")
        ep = endpoint_for(self.locations.get(bucket, self.default_location))
        with self._lock:  # the client cache is shared
            client = self.clients.bucket(bucket, ep)
        call = OssCall(
            ep,
            bucket,
            f"oss://{obj}",
            self.credential,
            action="delete",
            doing="deleting",
            permission="oss:DeleteObject",
            answer="answer",
            check_location="the rule's output location",
            check_bucket="the rule's output bucket and location",
        )
        try:
            STATE.call(lambda: client.delete_object(key), lambda e: oss_error(e, call))
        except PermanentBackendError as e:
            if e.http_status == 404 and e.code == "NoSuchKey":
                return  # already gone
            raise

    def close(self) -> None:
        self.clients.close()


def output_locations(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """bucket -> location, from (bucket, location) pairs (the first one named wins)."""
    out: dict[str, str] = {}
    for bucket, location in pairs:
        if bucket and location:
            out.setdefault(bucket, location)
    return out

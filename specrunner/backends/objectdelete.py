"""Deleting output objects (``specrunner prune``): files of a bucket folder, or OSS objects.

Both deleters take ``bucket/key`` names and report each object that is gone (deleted now, or already
absent: deleting is idempotent, so a prune that died after its deletes and before recording them is
finished by the next one), and each of the others with its error.

- :class:`LocalDeleter` (the local engine): a file inside ``<root>/<bucket>/`` only. A key the engine
  would refuse, a key with an empty segment (``a//b``: a folder path reads it as ``a/b``, another
  object), a symbolic link anywhere on the way (the bucket folder itself included) and a folder
  are refused, never followed nor removed; folders left empty are removed up to the bucket folder.
- :class:`OssDeleter` (aliyun): ``DeleteMultipleObjects`` (oss2 ``Bucket.batch_delete_objects``),
  one call per bucket and at most 1,000 keys (and 2 MB of XML) at a time (:func:`batches`), through
  the one oss2 client factory (``ossclient``), the one error map (``osserrors``: AccessDenied names
  ``oss:DeleteObject``, the permission DeleteMultipleObjects needs, and the bucket) and the one retry
  policy (``ossretry.STATE``: a retried call is safe, an absent key counts as deleted). oss2 sends the
  verbose mode (it offers no quiet one): the answer lists every key deleted. Each key it lists is
  gone; each key it does not list is reported not deleted (:func:`confirmed`), so it stays recorded;
  a call that fails as a whole reports each of its keys with that error. A key the XML body cannot
  carry intact (:func:`xml_safe`: a control character XML 1.0 has no form for, which fails the whole
  call with MalformedXML, or a ``\r``, which XML parsers read as ``\n``, so that another object would
  be deleted) is deleted on its own with DeleteObject, its key in the URL.

A refusal that dooms every other call too (credentials, access denied, an unreachable endpoint, a
missing bucket) stops the calls that have not started; their objects are neither gone nor failed
(``Deleted.stopped``): they stay recorded, and the error says how many were deleted.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar
from xml.sax.saxutils import escape as xml_escape

from specrunner.core.errors import BackendError, CredentialsError, PermanentBackendError, SpecrunnerError

WORKERS = 8
MAX_KEYS = 1000  # DeleteMultipleObjects: keys per call (more: MalformedXML)
MAX_BODY = 2 * 1024 * 1024  # ... and bytes of XML per call (more: MalformedXML)
_ENTRY = len("<Object><Key></Key></Object>")
_HEAD = len('<?xml version="1.0" encoding="utf-8"?><Delete><Quiet>false</Quiet></Delete>')
# Not XML 1.0's Char production, or a \r (a parser reads a raw \r, and \r\n, as \n).
_NOT_XML = re.compile("[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

T = TypeVar("T")


@dataclass
class Deleted:
    """What a deleter did: the objects now gone, and the others that failed, each with its error."""

    gone: list[str] = field(default_factory=list)
    failed: list[tuple[str, SpecrunnerError]] = field(default_factory=list)
    stopped: bool = False  # a refusal stopped the deletions not yet started
    interrupted: bool = False  # Ctrl-C: the calls in flight ended, no other started


class Deleter(Protocol):
    def delete(self, objects: Sequence[str]) -> Deleted: ...

    def close(self) -> None: ...


def _run(tasks: Sequence[T], do: Callable[[T], Deleted], workers: int) -> Deleted:
    """``do(task)`` for each task, ``workers`` at a time; a fatal error stops the tasks not started, so
    does Ctrl-C (``interrupted``: what the tasks in flight did is still reported, for the caller to
    record before it stops)."""
    out = Deleted()
    lock = threading.Lock()
    stop = threading.Event()

    def task(t: T) -> None:
        if stop.is_set():
            return
        got = do(t)
        with lock:
            out.gone.extend(got.gone)
            out.failed.extend(got.failed)
        if any(_fatal(e) for _, e in got.failed):
            stop.set()

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="prune") as pool:
        try:
            list(pool.map(task, tasks))
        except KeyboardInterrupt:  # map cancelled the tasks not started; the pool waits for the others
            out.interrupted = True
    out.stopped = stop.is_set()
    out.gone.sort()
    out.failed.sort(key=lambda f: f[0])
    return out


def _each(one: Callable[[str], None]) -> Callable[[str], Deleted]:
    """One object's delete as a task of :func:`_run`: gone, or failed with its error."""

    def do(obj: str) -> Deleted:
        try:
            one(obj)
        except SpecrunnerError as e:
            return Deleted(failed=[(obj, e)])
        return Deleted(gone=[obj])

    return do


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
        return _run(objects, _each(self._one), self.workers)

    def _one(self, obj: str) -> None:
        from specrunner.engine.errors import ServiceError

        bucket, _, key = obj.partition("/")

        def refuse(why: str) -> PermanentBackendError:
            return PermanentBackendError(f"refusing to delete {obj}: {why}", code="Refused")

        try:
            self.store.path(bucket, key)  # the engine's own checks of the bucket name and the key
        except ServiceError as e:
            raise refuse(e.message) from None
        if "" in key.split("/"):  # a folder path has no empty segment: it would be another object's file
            same = "/".join(part for part in key.split("/") if part)
            raise refuse(f"on the local engine it is the file of {bucket}/{same}, another object")
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


def xml_safe(name: str) -> bool:
    """``name`` arrives intact in a DeleteMultipleObjects body (oss2 writes it as XML text)."""
    return _NOT_XML.search(name) is None


def batches(objects: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``bucket/key`` names as DeleteMultipleObjects calls: (bucket, keys), sorted, each call at most
    :data:`MAX_KEYS` keys and :data:`MAX_BODY` bytes of request XML."""
    by_bucket: dict[str, list[str]] = {}
    for obj in sorted(set(objects)):
        bucket, _, key = obj.partition("/")
        by_bucket.setdefault(bucket, []).append(key)
    calls: list[tuple[str, list[str]]] = []
    for bucket, keys in by_bucket.items():
        chunk: list[str] = []
        size = _HEAD
        for key in keys:
            n = _ENTRY + len(xml_escape(key).encode("utf-8", "surrogateescape"))
            if chunk and (len(chunk) == MAX_KEYS or size + n > MAX_BODY):
                calls.append((bucket, chunk))
                chunk, size = [], _HEAD
            chunk.append(key)
            size += n
        if chunk:
            calls.append((bucket, chunk))
    return calls


def confirmed(bucket: str, keys: Sequence[str], result: Any) -> Deleted:
    """What one DeleteMultipleObjects answer (oss2's ``BatchDeleteObjectsResult``, verbose mode) says
    of ``keys``: each key it lists as deleted is gone, each other key failed, with its own error."""
    listed = set(getattr(result, "deleted_keys", None) or ())
    rid = getattr(result, "request_id", None) or None
    out = Deleted()
    for key in keys:
        if key in listed:
            out.gone.append(f"{bucket}/{key}")
            continue
        err = PermanentBackendError(
            f"cannot delete oss://{bucket}/{key}: OSS did not delete it (its DeleteMultipleObjects "
            f"answer{f' {rid}' if rid else ''} does not list it as deleted): check the bucket's "
            "retention policy and that this RAM identity may oss:DeleteObject it",
            code="NotDeleted",
            request_id=rid,
        )
        out.failed.append((f"{bucket}/{key}", err))
    return out


class OssDeleter:
    """DeleteMultipleObjects per bucket and batch of keys (:func:`batches`), ``workers`` calls at a time."""

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
        alone = sorted({o for o in objects if not xml_safe(o)})
        calls = batches([o for o in objects if xml_safe(o)])
        calls += [(o.partition("/")[0], [o.partition("/")[2]]) for o in alone]
        return _run(calls, self._batch, self.workers)

    def _batch(self, call: tuple[str, list[str]]) -> Deleted:
        """One DeleteMultipleObjects call, or the DeleteObject of a key no XML body can carry."""
        from specrunner.backends.ossclient import endpoint_for
        from specrunner.backends.osserrors import OssCall, oss_error
        from specrunner.backends.ossretry import STATE

        bucket, keys = call
        names = [f"{bucket}/{k}" for k in keys]
        try:
            ep = endpoint_for(self.locations.get(bucket, self.default_location))
            with self._lock:  # the client cache is shared
                client = self.clients.bucket(bucket, ep)
        except SpecrunnerError as e:
            return Deleted(failed=[(n, e) for n in names])
        others = f" and {len(keys) - 1} other object(s)" if len(keys) > 1 else ""
        where = OssCall(
            ep,
            bucket,
            f"oss://{names[0]}{others}",
            self.credential,
            action="delete",
            doing="deleting",
            permission="oss:DeleteObject",
            answer="answer",
            check_location="the rule's output location",
            check_bucket="the rule's output bucket and location",
        )
        alone = len(keys) == 1 and not xml_safe(keys[0])
        try:
            if alone:  # DeleteObject answers 204 for an absent key too: gone once it answers
                STATE.call(lambda: client.delete_object(keys[0]), lambda e: oss_error(e, where))
                return Deleted(gone=names)
            result = STATE.call(lambda: client.batch_delete_objects(keys), lambda e: oss_error(e, where))
        except SpecrunnerError as e:  # the call failed as a whole: each of its keys with that error
            return Deleted(failed=[(n, e) for n in names])
        return confirmed(bucket, keys, result)

    def close(self) -> None:
        self.clients.close()


def output_locations(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """bucket -> location, from (bucket, location) pairs (the first one named wins)."""
    out: dict[str, str] = {}
    for bucket, location in pairs:
        if bucket and location:
            out.setdefault(bucket, location)
    return out

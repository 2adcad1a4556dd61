"""The few OSS object calls remote state makes, each bounded and exact.

The client comes from the one OSS client factory (``backends.ossclient``), errors from the one OSS
error map (``backends.osserrors``), retries from the one OSS retry policy (``backends.ossretry.STATE``):
5xx, throttling, lost answers and unreadable answers are retried (8 attempts, exponential backoff
from 0.1 s, each wait at most 2 s: at most 7.1 s of waiting per call, so nothing here spins). On top
of the map, the errors a call expects (a missing key, ``FileAlreadyExists``,
``PositionNotEqualToLength`` -> ``Moved``, ``ObjectNotAppendable`` -> ``NotAppendable``) are
results, and the rest become StateError / CredentialsError / StateWriteError. A create or an append
retried after an attempt whose answer was lost checks the object's bytes, so its own earlier
success is never taken for someone else's write. Safety rests only on the two atomic primitives (a
forbid-overwrite create, an append at an exact position); a listing is used only to find *more*
than the probes found.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PosixPath
from typing import TYPE_CHECKING, Any

from specrunner.core.canonical import canonical_line
from specrunner.core.errors import (
    BackendError,
    CredentialsError,
    PermanentBackendError,
    SpecrunnerError,
    StateError,
    StateWriteError,
)
from specrunner.core.secrets import redact

if TYPE_CHECKING:
    from specrunner.backends.ossretry import OssRetry


class OssPath(PosixPath):
    """``oss://bucket/key`` where a state path is printed (it is never opened as a file)."""

    def __str__(self) -> str:
        return "oss://" + super().__str__()[len("oss:/") :]


@dataclass(frozen=True)
class OssState:
    bucket: str
    key: str
    location: str | None = None

    @property
    def url(self) -> str:
        return f"oss://{self.bucket}/{self.key}"

    @property
    def path(self) -> Path:
        return OssPath(f"oss:/{self.bucket}/{self.key}")

    def lock_key(self, gen: int) -> str:
        return f"{self.key}.lock/{gen:012d}"

    def lease_key(self, gen: int) -> str:
        return self.lock_key(gen) + ".lease"

    def journal_key(self, gen: int) -> str:
        return f"{self.key}.journal/{gen:012d}"

    @property
    def head_key(self) -> str:
        return f"{self.key}.head"


def parse_url(value: str | Path) -> OssState | None:
    """``oss://B/K`` (also as a Path has mangled it: ``oss:/B/K``) -> OssState; anything else: None."""
    s = str(value)
    if not s.startswith("oss:/"):
        return None
    rest = s[len("oss:") :].lstrip("/")
    bucket, _, key = rest.partition("/")
    if not bucket or not key or key.endswith("/"):
        raise StateError(
            f"--state oss://{rest}: write oss://BUCKET/KEY, e.g. oss://team-state/specrunner/m.lock.json"
        )
    return OssState(bucket, key)


def line(obj: dict[str, Any]) -> bytes:
    """One JSON line, canonical (sorted keys, no spaces)."""
    return canonical_line(obj)


class Moved(Exception):
    """An append found the object at another length (``next_position``): someone else wrote."""

    def __init__(self, next_position: int) -> None:
        super().__init__(f"position moved to {next_position}")
        self.next_position = next_position


class NotAppendable(Exception):
    """An append met a Normal object (written by PutObject or a copy tool, not by AppendObject)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class ObjectInfo:
    """What HeadObject says of an object: enough to tell whether it changed."""

    kind: str  # Appendable | Normal | ...
    length: int
    etag: str

    @property
    def appendable(self) -> bool:
        return self.kind == "Appendable"


@dataclass(frozen=True)
class Refusal:
    """A call's non-transient error, for the caller that expects some (a missing key, an occupied
    key, a moved append position): the mapped error, the server's message, the answer's headers."""

    error: BackendError
    message: str
    headers: Mapping[str, str]

    @property
    def code(self) -> str:
        return self.error.code

    @property
    def status(self) -> int:
        return self.error.http_status or 0

    @property
    def missing(self) -> bool:
        """404 on an object (not on the bucket)."""
        return self.status == 404 and self.code != "NoSuchBucket"


class Objects:
    """The OSS calls of one state, retried and bounded (see the module docstring)."""

    def __init__(self, loc: OssState, retry: OssRetry | None = None) -> None:
        """``retry``: the policy of every call (default ``ossretry.STATE``)."""
        # Imported here, not at module level: this module is imported with the state backends, and
        # a run on a local state (plan, validate) must not load oss2, tenacity or the backends.
        from specrunner.backends.credentials import resolve_credentials
        from specrunner.backends.ossclient import (
            ENDPOINT_ENV,
            OssClients,
            endpoint_configured,
            endpoint_for,
        )
        from specrunner.backends.osserrors import OssCall, oss_error
        from specrunner.backends.ossretry import STATE

        self.loc = loc
        self.retry = retry or STATE
        if not endpoint_configured() and not loc.location:
            raise StateError(
                f"{loc.url}: no OSS location for the state bucket",
                hint=f"add `location: oss-cn-...` to the manifest's state: block (or set {ENDPOINT_ENV})",
            )
        try:
            ep = endpoint_for(loc.location or "")
        except SpecrunnerError as e:
            raise StateError(f"{loc.url}: {e}") from None
        self.endpoint = ep.url
        cred = resolve_credentials()
        self.secrets = [s for s in (cred.access_key_secret, cred.security_token) if s]
        self.clients = OssClients(cred)
        try:
            self.bucket = self.clients.bucket(loc.bucket, ep)
        except PermanentBackendError as e:
            raise StateError(f"{loc.url}: {e}") from None
        call = OssCall(
            ep,
            loc.bucket,
            loc.url,
            cred,
            action="reach",
            doing="on",
            permission="oss:GetObject, oss:PutObject, oss:DeleteObject and oss:ListObjects",
            answer="answer",
            check_location="the state's location",
            check_bucket="the state's bucket and location",
        )
        self._translate: Callable[[Exception], BackendError] = lambda e: oss_error(e, call)
        self.requests = 0  # calls made (each attempt counts)

    # ------------------------------------------------------------------ one call, retried

    def _call(
        self, what: str, fn: Callable[[], Any], *, ok: Callable[[Refusal, int], Any] | None = None
    ) -> Any:
        """``fn()`` under the retry policy; ``ok(refusal, attempt)`` turns an expected OSS error into a
        result (or raises)."""
        attempt = 0
        last: list[Exception] = []  # the SDK's exception of the last attempt

        def once() -> Any:
            nonlocal attempt
            attempt += 1
            self.requests += 1
            return fn()

        def translate(e: Exception) -> BackendError:
            last[:] = [e]
            return self._translate(e)

        try:
            return self.retry.call(once, translate)
        except BackendError as err:
            if err.transient:
                code = err.code if err.http_status else ""
                raise StateWriteError(
                    f"{self.loc.url}: {what} failed {attempt} times (OSS at "
                    f"{self.endpoint}: {code or 'no answer'})",
                    hint="check the network and OSS; rerun: the journal is replayed",
                ) from None
            raw = last[0] if last else None
            refusal = Refusal(
                err,
                self.redact(" ".join(str(getattr(raw, "message", "") or "").split()))[:200],
                getattr(raw, "headers", None) or {},
            )
            if ok is not None:
                return ok(refusal, attempt)
            raise self.error(what, refusal) from None

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def error(self, what: str, r: Refusal) -> SpecrunnerError:
        where = f"{self.loc.url} (OSS at {self.endpoint})"
        if isinstance(r.error, CredentialsError):
            return CredentialsError(
                f"{where} refused the credentials ({r.code}) on {what}",
                hint="check ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET (or the profile)",
            )
        if r.code == "NoSuchBucket":
            return StateError(
                f"{where}: the bucket {self.loc.bucket} does not exist",
                hint="create it, or fix the manifest's state: block / --state",
            )
        if r.code == "AccessDenied":
            return StateError(
                f"{where}: access denied on {what}",
                hint=f"grant oss:GetObject, oss:PutObject, oss:DeleteObject and oss:ListObjects on "
                f"{self.loc.bucket}/{self.loc.key}*",
            )
        if not r.status:  # no HTTP answer: TLS, a request the SDK refused
            return StateError(f"{where}: {what} failed: {r.error}")
        msg = r.message
        return StateError(
            f"{where}: {what} failed: {r.code or 'HTTP'} ({r.status}){': ' + msg if msg else ''}"
        )

    # ------------------------------------------------------------------ the calls

    def get(self, key: str) -> bytes | None:
        """The object's bytes (None: absent)."""

        def missing(r: Refusal, attempt: int) -> None:
            if r.missing:
                return None
            raise self.error(f"reading {key}", r)

        data = self._call(f"reading {key}", lambda: self.bucket.get_object(key).read(), ok=missing)
        return data if isinstance(data, bytes) else None

    def get_typed(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and its type (Appendable, Normal) from one GetObject; None: absent."""

        def missing(r: Refusal, attempt: int) -> None:
            if r.missing:
                return None
            raise self.error(f"reading {key}", r)

        def fn() -> tuple[bytes, str]:
            r = self.bucket.get_object(key)
            return r.read(), str(getattr(r, "object_type", "") or "Normal")

        got = self._call(f"reading {key}", fn, ok=missing)
        return got if isinstance(got, tuple) else None

    def head(self, key: str) -> ObjectInfo | None:
        def missing(r: Refusal, attempt: int) -> None:
            if r.missing:
                return None
            raise self.error(f"looking up {key}", r)

        def fn() -> ObjectInfo:
            r = self.bucket.head_object(key)
            return ObjectInfo(
                str(getattr(r, "object_type", "") or r.headers.get("x-oss-object-type", "") or "Normal"),
                int(r.content_length or 0),
                str(r.etag or ""),
            )

        info = self._call(f"looking up {key}", fn, ok=missing)
        return info if isinstance(info, ObjectInfo) else None

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def put(self, key: str, data: bytes) -> None:
        self._call(f"writing {key}", lambda: self.bucket.put_object(key, data))

    def delete(self, key: str) -> None:
        self._call(f"deleting {key}", lambda: self.bucket.delete_object(key))

    def create(self, key: str, data: bytes) -> bool:
        """Create-if-absent. False: the key exists (and holds other bytes than ours)."""

        def exists(r: Refusal, attempt: int) -> bool:
            if r.code != "FileAlreadyExists":
                raise self.error(f"creating {key}", r)
            return attempt > 1 and self.get(key) == data  # our own earlier attempt, its answer lost

        return bool(
            self._call(
                f"creating {key}",
                lambda: (
                    self.bucket.put_object(key, data, headers={"x-oss-forbid-overwrite": "true"}) and True
                ),
                ok=exists,
            )
        )

    def append(self, key: str, position: int, data: bytes) -> int:
        """Append at exactly ``position``; returns the next position. Raises Moved (someone else
        wrote there) or NotAppendable (a Normal object)."""

        def moved(r: Refusal, attempt: int) -> int:
            if r.code == "ObjectNotAppendable":
                raise NotAppendable(key)
            if r.code != "PositionNotEqualToLength":
                raise self.error(f"appending to {key}", r)
            if attempt > 1:
                current = self.get(key) or b""
                if current[position : position + len(data)] == data:
                    return position + len(data)  # our own earlier attempt, its answer lost
                raise Moved(len(current))
            nxt = r.headers.get("x-oss-next-append-position")
            raise Moved(int(nxt) if nxt and str(nxt).isdigit() else -1)

        return int(
            self._call(
                f"appending to {key}",
                lambda: self.bucket.append_object(key, position, data).next_position,
                ok=moved,
            )
        )

    def keys_after(self, prefix: str, start_after: str, limit: int = 100) -> list[str] | None:
        """Up to ``limit`` keys under ``prefix`` sorted after ``start_after``, from one listing page;
        None when listing is not allowed (the caller falls back to probes)."""

        def denied(r: Refusal, attempt: int) -> None:
            if r.code == "AccessDenied" or r.status == 403:
                return None
            raise self.error(f"listing {prefix}", r)

        def fn() -> list[str]:
            r = self.bucket.list_objects_v2(prefix=prefix, start_after=start_after, max_keys=limit)
            return [o.key for o in r.object_list]

        keys = self._call(f"listing {prefix}", fn, ok=denied)
        return keys if isinstance(keys, list) else None

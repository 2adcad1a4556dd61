"""The few OSS object calls remote state makes, each bounded and exact.

Every call is retried on 5xx, throttling and lost answers (``ATTEMPTS`` times, exponential backoff
capped at 2 s: at most ~8 s per call, so nothing here spins). A create or an append retried after an
attempt whose answer was lost checks the object's bytes, so its own earlier success is never taken
for someone else's write. Safety rests only on the two atomic primitives (a forbid-overwrite create,
an append at an exact position); a listing is used only to find *more* than the probes found.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PosixPath
from typing import Any

from specrunner.core.canonical import canonical_line
from specrunner.core.errors import CredentialsError, SpecrunnerError, StateError, StateWriteError
from specrunner.core.secrets import redact

ATTEMPTS = 8
BACKOFF = 0.1


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


class Objects:
    """The OSS calls of one state, retried and bounded (see the module docstring)."""

    def __init__(self, loc: OssState) -> None:
        import oss2

        from specrunner.backends.aliyun import resolve_credentials
        from specrunner.backends.oss import ENDPOINT_ENV, endpoint_for, silence_sdk_logs

        self.loc = loc
        if not (os.environ.get(ENDPOINT_ENV) or "").strip() and not loc.location:
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
        silence_sdk_logs()
        auth: Any = (
            oss2.StsAuth(cred.access_key_id, cred.access_key_secret, cred.security_token)
            if cred.security_token
            else oss2.Auth(cred.access_key_id, cred.access_key_secret)
        )
        session = oss2.Session()
        if ep.host in ("127.0.0.1", "localhost", "::1"):
            session.session.trust_env = False
        try:
            self.bucket = oss2.Bucket(
                auth, ep.url, loc.bucket, session=session, connect_timeout=(5, 30), enable_crc=False
            )
        except oss2.exceptions.ClientError:
            raise StateError(f"{loc.url}: {loc.bucket!r} is not a valid OSS bucket name") from None
        self.requests = 0  # calls made (each attempt counts)

    # ------------------------------------------------------------------ one call, retried

    def _call(self, what: str, fn: Callable[[], Any], *, ok: Callable[[Any, int], Any] | None = None) -> Any:
        """``fn()``; ``ok(exc, attempt)`` turns an expected OSS error into a result (or raises)."""
        import oss2

        delay = BACKOFF
        for attempt in range(1, ATTEMPTS + 1):
            self.requests += 1
            try:
                return fn()
            except oss2.exceptions.OssError as e:
                status = int(getattr(e, "status", 0) or 0)
                code = str(getattr(e, "code", "") or "")
                transient = (
                    isinstance(e, oss2.exceptions.RequestError)
                    or status >= 500
                    or status == 429
                    or code.startswith("Throttling")
                    or status < 0
                )
                if not transient:
                    if ok is not None:
                        return ok(e, attempt)
                    raise self.error(what, e) from None
                if attempt == ATTEMPTS:
                    raise StateWriteError(
                        f"{self.loc.url}: {what} failed {ATTEMPTS} times (OSS at "
                        f"{self.endpoint}: {code or 'no answer'})",
                        hint="check the network and OSS; rerun: the journal is replayed",
                    ) from None
            time.sleep(min(delay, 2.0))
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def error(self, what: str, e: Any) -> SpecrunnerError:
        code = self.redact(str(getattr(e, "code", "") or ""))
        status = int(getattr(e, "status", 0) or 0)
        where = f"{self.loc.url} (OSS at {self.endpoint})"
        if code in ("SignatureDoesNotMatch", "InvalidAccessKeyId") or code.startswith("InvalidSecurityToken"):
            return CredentialsError(
                f"{where} refused the credentials ({code}) on {what}",
                hint="check ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET (or the profile)",
            )
        if code == "NoSuchBucket":
            return StateError(
                f"{where}: the bucket {self.loc.bucket} does not exist",
                hint="create it, or fix the manifest's state: block / --state",
            )
        if code == "AccessDenied":
            return StateError(
                f"{where}: access denied on {what}",
                hint=f"grant oss:GetObject, oss:PutObject, oss:DeleteObject and oss:ListObjects on "
                f"{self.loc.bucket}/{self.loc.key}*",
            )
        msg = self.redact(" ".join(str(getattr(e, "message", "") or "").split()))[:200]
        return StateError(f"{where}: {what} failed: {code or 'HTTP'} ({status}){': ' + msg if msg else ''}")

    # ------------------------------------------------------------------ the calls

    def get(self, key: str) -> bytes | None:
        """The object's bytes (None: absent)."""

        def missing(e: Any, attempt: int) -> None:
            if int(getattr(e, "status", 0) or 0) == 404 and getattr(e, "code", "") != "NoSuchBucket":
                return None
            raise self.error(f"reading {key}", e)

        data = self._call(f"reading {key}", lambda: self.bucket.get_object(key).read(), ok=missing)
        return data if isinstance(data, bytes) else None

    def get_typed(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and its type (Appendable, Normal) from one GetObject; None: absent."""

        def missing(e: Any, attempt: int) -> None:
            if int(getattr(e, "status", 0) or 0) == 404 and getattr(e, "code", "") != "NoSuchBucket":
                return None
            raise self.error(f"reading {key}", e)

        def fn() -> tuple[bytes, str]:
            r = self.bucket.get_object(key)
            return r.read(), str(getattr(r, "object_type", "") or "Normal")

        got = self._call(f"reading {key}", fn, ok=missing)
        return got if isinstance(got, tuple) else None

    def head(self, key: str) -> ObjectInfo | None:
        def missing(e: Any, attempt: int) -> None:
            if int(getattr(e, "status", 0) or 0) == 404 and getattr(e, "code", "") != "NoSuchBucket":
                return None
            raise self.error(f"looking up {key}", e)

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

        def exists(e: Any, attempt: int) -> bool:
            if getattr(e, "code", "") != "FileAlreadyExists":
                raise self.error(f"creating {key}", e)
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

        def moved(e: Any, attempt: int) -> int:
            code = getattr(e, "code", "")
            if code == "ObjectNotAppendable":
                raise NotAppendable(key)
            if code != "PositionNotEqualToLength":
                raise self.error(f"appending to {key}", e)
            if attempt > 1:
                current = self.get(key) or b""
                if current[position : position + len(data)] == data:
                    return position + len(data)  # our own earlier attempt, its answer lost
                raise Moved(len(current))
            nxt = (getattr(e, "headers", {}) or {}).get("x-oss-next-append-position")
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

        def denied(e: Any, attempt: int) -> None:
            if getattr(e, "code", "") == "AccessDenied" or int(getattr(e, "status", 0) or 0) == 403:
                return None
            raise self.error(f"listing {prefix}", e)

        def fn() -> list[str]:
            r = self.bucket.list_objects_v2(prefix=prefix, start_after=start_after, max_keys=limit)
            return [o.key for o in r.object_list]

        keys = self._call(f"listing {prefix}", fn, ok=denied)
        return keys if isinstance(keys, list) else None

"""Remote state in OSS: the lock file, its journal and the lock, correct between machines.

A state ``oss://B/K`` is a set of objects beside the key ``K`` (``K`` itself is never written):

``K.lock/<g>``        the lock of generation ``g`` (1, 2, ...; 12 digits), created with
                      ``x-oss-forbid-overwrite: true``: {id, operation, who, pid, created, lease, expires}.
``K.lock/<g>.lease``  the holder's renewals ({id, expires}) and its release ({released: true}).
``K.head``            a hint: the latest generation (finding it never relies on the hint or a listing:
                      generations are probed upward with HeadObject until one is absent).
``K.journal/<g>``     an appendable object, the state as generation ``g`` left it: a header line and
                      the lock file's bytes as the codec wrote them (the *block*), then journal lines
                      (the intent before every Submit, the job id after it), then ``commit`` blocks,
                      and finally the seal line written by the next holder. Once the next holder's
                      journal carries its content, it is deleted (see ``_forget_journal``).

Invariants:

- Exactly one holder per generation: a generation exists once its lock object was created, and a
  forbid-overwrite create succeeds for one caller only. A waiter creates ``g + 1`` only after lock
  ``g`` was released or its lease expired (``SPECRUNNER_LOCK_LEASE`` seconds, default 60).
- Fencing: the holder of ``N`` seals every journal below it (an append at the journal's current end,
  or a seal-only journal where there was none) before it reads the state. Appends need the exact
  position, so once sealed, a holder that lost its lock (paused, partitioned) can never add to its
  journal again: its next intent fails and it submits nothing more. The state as of ``N`` is the
  newest journal with a header, which is exactly what the holder of ``N`` read after sealing.
- Every Submit follows its intent, appended to OSS (group commit: concurrent intents share one
  append). A holder whose lease cannot be renewed stops submitting before it runs out
  (``before_submit``), a quarter of the lease early.
- ``state pull`` of a state committed by a run or pushed returns the block's bytes unchanged, so
  local -> OSS -> local is byte-identical.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PosixPath
from typing import Any

from specrunner import __version__
from specrunner.core.errors import CredentialsError, LockError, SpecrunnerError, StateError, StateWriteError
from specrunner.statefile.lockfile import Decoder, check_config
from specrunner.statefile.state import (
    StateDoc,
    StateStore,
    check_record,
    decode_state,
    default_state_path,
    encode_state,
    read_state,
)

LEASE_ENV = "SPECRUNNER_LOCK_LEASE"
DEFAULT_LEASE = 60.0
ATTEMPTS = 8
BACKOFF = 0.1
TICK = 0.2  # the holder's heartbeat: flush job ids, renew the lease when due


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

    def journal_key(self, gen: int) -> str:
        return f"{self.key}.journal/{gen:012d}"


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


def _manifest_block(manifest_path: Path) -> dict[str, Any]:
    """The manifest's `state:` and `defaults:` blocks, read leniently (commands like `show` do not
    validate the manifest; a broken one is reported by the commands that do)."""
    import re

    import yaml

    try:
        text = manifest_path.read_text(encoding="utf-8")
        if not re.search(r"^state\s*:", text, re.M):  # no need to parse a large manifest
            return {}
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def locate(manifest_path: str | Path, state: str | Path | None) -> Path | OssState:
    """Where the state of ``manifest_path`` is: ``--state`` (a file or oss://B/K), else the
    manifest's `state:` block, else the local file beside the manifest."""
    mpath = Path(manifest_path)
    remote = parse_url(state) if state is not None else None
    if state is not None and remote is None:
        return Path(state)
    data = _manifest_block(mpath)
    block: dict[str, Any] | None = data["state"] if isinstance(data.get("state"), dict) else None
    defaults: dict[str, Any] = data["defaults"] if isinstance(data.get("defaults"), dict) else {}
    if remote is None:
        if block is None or block.get("backend") != "oss" or not block.get("bucket") or not block.get("key"):
            return default_state_path(mpath)
        remote = OssState(str(block["bucket"]), str(block["key"]))
    location = None
    if block is not None and block.get("bucket") == remote.bucket and isinstance(block.get("location"), str):
        location = block["location"]
    elif isinstance(defaults.get("location"), str):
        location = defaults["location"]
    return OssState(remote.bucket, remote.key, location)


def resolve(manifest: Any, manifest_path: Path, state: str | Path | None) -> Path | OssState:
    """``locate`` for a loaded manifest (its `state:` block as validated)."""
    remote = parse_url(state) if state is not None else None
    if state is not None and remote is None:
        return Path(state)
    block = manifest.state
    if remote is None:
        if block is None:
            return default_state_path(manifest_path)
        remote = OssState(block.bucket, block.key)
    location = block.location if block is not None and block.bucket == remote.bucket else None
    if location is None:
        location = next((i.location for i in (*manifest.inputs, *manifest.discoveries) if i.location), None)
    return OssState(remote.bucket, remote.key, location)


def lease_seconds() -> float:
    raw = os.environ.get(LEASE_ENV, "").strip()
    if not raw:
        return DEFAULT_LEASE
    try:
        v = float(raw)
    except ValueError:
        v = -1.0
    if not 1.0 <= v <= 3600.0:
        raise LockError(f"{LEASE_ENV}={raw!r}: the lock lease must be a number of seconds in [1, 3600]")
    return v


def _now_iso(t: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if t is None else t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # pragma: no cover - no user name in some containers
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


# ------------------------------------------------------------------------------------ OSS objects


class Moved(Exception):
    """An append found the object at another length (``next_position``): someone else wrote."""

    def __init__(self, next_position: int) -> None:
        super().__init__(f"position moved to {next_position}")
        self.next_position = next_position


class Objects:
    """The few OSS calls the state makes, retried (5xx, throttling, no answer) and made exact:
    a create or an append retried after an attempt whose answer was lost checks the object's bytes,
    so its own earlier success is never taken for someone else's write."""

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
        self._secrets = [s for s in (cred.access_key_secret, cred.security_token) if s]
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

    # ------------------------------------------------------------------ one call, retried

    def _call(self, what: str, fn: Callable[[], Any], *, ok: Callable[[Any, int], Any] | None = None) -> Any:
        """``fn()``; ``ok(exc)`` turns an expected OSS error into a result (or re-raises)."""
        import oss2

        delay = BACKOFF
        for attempt in range(1, ATTEMPTS + 1):
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
                    raise self._error(what, e) from None
                if attempt == ATTEMPTS:
                    raise StateWriteError(
                        f"{self.loc.url}: {what} failed {ATTEMPTS} times (OSS at "
                        f"{self.endpoint}: {code or 'no answer'})",
                        hint="check the network and OSS; rerun: the journal is replayed",
                    ) from None
            time.sleep(min(delay, 2.0))
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, what: str, e: Any) -> SpecrunnerError:
        code = str(getattr(e, "code", "") or "")
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
                hint=f"grant oss:GetObject, oss:PutObject, oss:DeleteObject on "
                f"{self.loc.bucket}/{self.loc.key}*",
            )
        msg = " ".join(str(getattr(e, "message", "") or "").split())[:200]
        for s in self._secrets:
            msg = msg.replace(s, "***")
        return StateError(f"{where}: {what} failed: {code or 'HTTP'} ({status}){': ' + msg if msg else ''}")

    # ------------------------------------------------------------------ the calls

    def get(self, key: str) -> bytes | None:
        def missing(e: Any, attempt: int) -> None:
            if int(getattr(e, "status", 0) or 0) == 404 and getattr(e, "code", "") != "NoSuchBucket":
                return None
            raise self._error(f"reading {key}", e)

        data = self._call(f"reading {key}", lambda: self.bucket.get_object(key).read(), ok=missing)
        return data if isinstance(data, bytes) else None

    def exists(self, key: str) -> bool:
        def missing(e: Any, attempt: int) -> bool:
            if int(getattr(e, "status", 0) or 0) == 404:
                return False
            raise self._error(f"looking up {key}", e)

        return bool(
            self._call(f"looking up {key}", lambda: self.bucket.head_object(key) and True, ok=missing)
        )

    def put(self, key: str, data: bytes) -> None:
        self._call(f"writing {key}", lambda: self.bucket.put_object(key, data))

    def delete(self, key: str) -> None:
        self._call(f"deleting {key}", lambda: self.bucket.delete_object(key))

    def create(self, key: str, data: bytes) -> bool:
        """Create-if-absent. False: the key exists (and holds other bytes than ours)."""

        def exists(e: Any, attempt: int) -> bool:
            if getattr(e, "code", "") != "FileAlreadyExists":
                raise self._error(f"creating {key}", e)
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
        """Append at exactly ``position``; returns the next position or raises Moved."""

        def moved(e: Any, attempt: int) -> int:
            code = getattr(e, "code", "")
            if code not in ("PositionNotEqualToLength", "ObjectNotAppendable"):
                raise self._error(f"appending to {key}", e)
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


# ------------------------------------------------------------------------------------ journals


def _line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def _block(kind: dict[str, Any], data: bytes) -> bytes:
    return _line({**kind, "bytes": len(data)}) + data + b"\n"


@dataclass
class Journal:
    """One generation's journal, parsed."""

    header: dict[str, Any] | None = None
    block: bytes = b""  # the newest lock file bytes in it (b"": no state yet)
    base: StateDoc | None = None  # the block, decoded
    doc: StateDoc | None = None  # the block plus the journal lines after it
    after: int = 0  # journal lines after the newest block
    sealed: bool = False
    length: int = 0


def parse_journal(data: bytes, loc: OssState, gen: int) -> Journal:
    j = Journal(length=len(data))
    where = f"{loc.url} ({loc.journal_key(gen)})"
    hint = "the journal of another run is damaged; move the object away to drop that run's changes"
    pos = 0
    jobs: dict[str, dict[str, Any]] = {}
    configs: dict[str, dict[str, Any]] = {}  # journal format 2: a rule config line before its first put
    decoder = Decoder(configs)
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise StateError(f"{where}: a journal record without its end at byte {pos}", hint=hint)
        try:
            rec = json.loads(data[pos:nl])
        except (ValueError, RecursionError):
            raise StateError(f"{where}: a corrupt journal record at byte {pos}", hint=hint) from None
        if not isinstance(rec, dict):
            raise StateError(f"{where}: a corrupt journal record at byte {pos}", hint=hint)
        pos = nl + 1
        if "journal" in rec or "commit" in rec:
            n = rec.get("bytes")
            if not isinstance(n, int) or n < 0 or pos + n + 1 > len(data):
                raise StateError(f"{where}: a state block without its bytes at byte {pos}", hint=hint)
            block = data[pos : pos + n]
            pos += n + 1
            if "journal" in rec:
                if j.header is not None:
                    raise StateError(f"{where}: two journal headers", hint=hint)
                j.header = rec
            j.block = block
            if block:
                j.base = decode_state(block, loc.path)
            else:
                lineage = rec.get("lineage")
                if not isinstance(lineage, str) or not lineage:
                    raise StateError(f"{where}: a journal header without a lineage", hint=hint)
                j.base = None
            jobs = dict(j.base.jobs) if j.base else {}
            j.after = 0
        elif "sealed_by" in rec:
            j.sealed = True
        elif (
            rec.get("op") == "config"
            and isinstance(rec.get("rule"), str)
            and isinstance(rec.get("id"), str)
            and check_config(rec.get("config")) is None
        ):
            configs.setdefault(rec["rule"], {})[rec["id"]] = rec["config"]  # what later compact puts use
        elif rec.get("op") == "put" and isinstance(rec.get("key"), str) and "entry" in rec:
            full = decoder.record(rec["key"], rec["entry"])
            if isinstance(full, str) or check_record(full) is not None:
                raise StateError(f"{where}: an invalid journal record at byte {pos}", hint=hint)
            jobs[rec["key"]] = full
            j.after += 1
        elif (
            rec.get("op") == "put"
            and isinstance(rec.get("key"), str)
            and check_record(rec.get("record")) is None
        ):
            jobs[rec["key"]] = rec["record"]
            j.after += 1
        elif rec.get("op") == "del" and isinstance(rec.get("key"), str):
            jobs.pop(rec["key"], None)
            j.after += 1
        else:
            raise StateError(f"{where}: an invalid journal record at byte {pos}", hint=hint)
    if j.header is not None:
        lineage = j.base.lineage if j.base else str(j.header["lineage"])
        serial = j.base.serial if j.base else 0
        j.doc = StateDoc(lineage, serial, jobs)
    return j


def latest_generation(objs: Objects) -> int:
    loc = objs.loc
    hint = objs.get(f"{loc.key}.head")
    try:
        g = int(hint.decode()) if hint else 0
    except ValueError:
        g = 0
    # The hint never runs ahead (it is written after its generation exists); were lock objects deleted
    # by hand, the gap left would only hold a sealed empty journal: safety never rests on the hint.
    while objs.exists(loc.lock_key(g + 1)):
        g += 1
    return g


def read_journals(objs: Objects, top: int) -> tuple[int, Journal] | None:
    """The newest journal with a header at or below generation ``top`` (read-only)."""
    for g in range(top, 0, -1):
        data = objs.get(objs.loc.journal_key(g))
        if data is None:
            continue
        j = parse_journal(data, objs.loc, g)
        if j.header is not None:
            return g, j
    return None


def read_newest(objs: Objects) -> tuple[int, Journal] | None:
    """The newest journal with a header. A journal is deleted only once a newer generation exists:
    if one appeared while reading, read again from it."""
    for _ in range(5):
        top = latest_generation(objs)
        found = read_journals(objs, top)
        if not objs.exists(objs.loc.lock_key(top + 1)):
            return found
    return found


def read_remote(loc: OssState, objs: Objects | None = None) -> StateDoc | None:
    """The state as the newest generation left it (committed plus journaled), without locking."""
    objs = objs or Objects(loc)
    found = read_newest(objs)
    if found is None:
        return None
    doc = found[1].doc
    return doc if doc is not None and (found[1].block or doc.jobs) else None


def pull(loc: OssState) -> bytes | None:
    """The current lock file: the newest block's own bytes when nothing was journaled after it."""
    objs = Objects(loc)
    found = read_newest(objs)
    if found is None:
        return None
    j = found[1]
    if j.after == 0:
        return j.block or None
    assert j.doc is not None
    return encode_state(j.doc.to_json()) if j.doc.jobs or j.block else None


# ------------------------------------------------------------------------------------ the lock


@dataclass
class LockView:
    gen: int
    info: dict[str, Any]
    lease: dict[str, Any] | None

    @property
    def expires(self) -> float:
        for src in (self.lease or {}, self.info):
            v = src.get("expires_unix")
            if isinstance(v, (int, float)):
                return float(v)
        return 0.0

    @property
    def released(self) -> bool:
        return bool(self.lease and self.lease.get("released"))

    def live(self) -> bool:
        return not self.released and time.time() < self.expires

    def describe(self) -> str:
        from specrunner.statefile.locking import describe

        left = self.expires - time.time()
        when = f"in {left:.0f} s" if left >= 0 else f"{-left:.0f} s ago"
        return f"{describe(self.info)}; its lease expires at {_now_iso(self.expires)} ({when}) unless renewed"


def _json(data: bytes | None) -> dict[str, Any] | None:
    try:
        v = json.loads(data) if data else None
    except ValueError:
        return None
    return v if isinstance(v, dict) else None


def read_lock(objs: Objects, gen: int) -> LockView | None:
    if gen <= 0:
        return None
    lease: list[bytes | None] = []
    t = threading.Thread(
        target=lambda: lease.append(objs.get(objs.loc.lock_key(gen) + ".lease")), daemon=True
    )
    t.start()  # both reads at once: one round trip instead of two
    try:
        info = _json(objs.get(objs.loc.lock_key(gen))) or {}
    finally:
        t.join()
    if not lease:  # the read failed: read it here, to raise its error
        lease.append(objs.get(objs.loc.lock_key(gen) + ".lease"))
    return LockView(gen, info, _json(lease[0]))


@dataclass
class OssLock:
    """The lock of generation ``gen``, held by this process, renewed by a heartbeat thread."""

    objs: Objects
    gen: int
    info: dict[str, Any]
    lease: float
    stale_cleaned: dict[str, Any] | None = None
    previous: list[bytes | None] = field(default_factory=list)  # journal gen - 1, read during the create
    valid_until: float = 0.0  # monotonic: the lease as this holder knows it, from its last renewal
    lost: str | None = None  # why this holder may no longer write
    on_tick: Callable[[], None] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="state-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        next_renew = time.monotonic() + self.lease / 4
        while not self._stop.wait(TICK):
            if self.on_tick is not None:
                try:
                    self.on_tick()
                except Exception:  # the writer sees its own errors; the heartbeat goes on
                    pass
            if time.monotonic() >= next_renew and self.lost is None:
                try:
                    self.renew()
                    next_renew = time.monotonic() + self.lease / 4
                except Exception:  # retried on the next beat; the lease runs out meanwhile
                    next_renew = time.monotonic() + 1.0

    def renew(self) -> None:
        sent = time.monotonic()
        expires = time.time() + self.lease
        self.objs.put(
            self.objs.loc.lock_key(self.gen) + ".lease",
            _line({"id": self.info["id"], "expires": _now_iso(expires), "expires_unix": expires}),
        )
        self.valid_until = sent + self.lease

    def check(self) -> None:
        """Raise unless this holder may still write and submit (a quarter of the lease to spare)."""
        if self.lost is None and time.monotonic() > self.valid_until - self.lease / 4:
            self.lost = f"could not renew the lock on {self.objs.loc.url} within its lease ({self.lease:g} s)"
        if self.lost is not None:
            raise StateWriteError(
                f"{self.lost}: this run stopped submitting",
                hint="rerun: the next run replays what this one recorded and finds its submitted jobs",
            )

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.lost is None:
            try:
                self.objs.put(
                    self.objs.loc.lock_key(self.gen) + ".lease",
                    _line(
                        {
                            "id": self.info["id"],
                            "released": True,
                            "expires": _now_iso(),
                            "expires_unix": time.time(),
                        }
                    ),
                )
            except SpecrunnerError:  # the lease runs out by itself
                pass
        self.lost = self.lost or "the lock was released"

    def __enter__(self) -> OssLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(objs: Objects, operation: str, *, timeout: float = 0.0, force_id: str | None = None) -> OssLock:
    """Take generation g + 1 once generation g is released or its lease expired (or is the lock
    ``force_id``); exactly one of any number of racing callers creates it. Raises LockError naming
    the holder."""
    loc = objs.loc
    lease = lease_seconds()
    deadline = time.monotonic() + max(0.0, timeout)
    g = latest_generation(objs)
    probed = True
    while True:
        while not probed and objs.exists(loc.lock_key(g + 1)):
            g += 1
        probed = False
        view = read_lock(objs, g)
        if view is not None and view.live() and not (force_id and view.info.get("id") == force_id):
            if time.monotonic() >= deadline:
                raise LockError(
                    f"the state {loc.url} is locked by {view.describe()}",
                    hint="wait for that run to finish, or retry with --lock-timeout 5m; a dead "
                    "holder stops blocking when its lease expires; `specrunner force-unlock "
                    "LOCK_ID` releases it at once",
                )
            time.sleep(
                min(1.0, max(0.05, deadline - time.monotonic()), max(0.05, view.expires - time.time()))
            )
            continue
        expires = time.time() + lease
        info = {
            "id": str(uuid.uuid4()),
            "operation": operation,
            "who": _who(),
            "pid": os.getpid(),
            "created": _now_iso(),
            "version": __version__,
            "generation": g + 1,
            "lease_seconds": lease,
            "expires": _now_iso(expires),
            "expires_unix": expires,
        }
        sent = time.monotonic()
        previous: list[bytes | None] = []  # read at the same time: the first thing a new holder needs

        def read_previous(gen: int = g, previous: list[bytes | None] = previous) -> None:
            try:
                previous.append(objs.get(loc.journal_key(gen)))
            except SpecrunnerError:  # read again after the create
                pass

        reader = threading.Thread(target=read_previous, daemon=True)
        if g > 0:
            reader.start()
        try:
            created = objs.create(loc.lock_key(g + 1), _line(info))
        finally:
            if g > 0:
                reader.join()
        if created:
            break
    stale = view.info if view is not None and not view.released else None
    lock = OssLock(objs, g + 1, info, lease, stale_cleaned=stale, previous=previous, valid_until=sent + lease)

    def hint() -> None:
        try:
            objs.put(f"{loc.key}.head", str(lock.gen).encode())
        except SpecrunnerError:  # only a hint
            pass

    threading.Thread(target=hint, name="state-hint", daemon=True).start()
    lock.start()
    return lock


def force_unlock(loc: OssState, lock_id: str) -> dict[str, Any]:
    """Take the lock ``lock_id`` over at once and release it: the takeover seals the holder's journal,
    so even a live holder is fenced off (its next write fails and it stops submitting)."""
    objs = Objects(loc)
    view = read_lock(objs, latest_generation(objs))
    if view is None or not view.live():
        raise LockError(f"the state {loc.url} is not locked")
    if view.info.get("id") != lock_id:
        raise LockError(
            f"lock id {lock_id!r} does not match the current lock {view.info.get('id')!r}",
            hint="copy the id from the error that names the holder",
        )
    lock, store = open_run(loc, "force-unlock", force_id=lock_id)
    store.close()
    lock.release()
    return view.info


# ------------------------------------------------------------------------------------ the store


def seal_below(
    objs: Objects, gen: int, previous: list[bytes | None] | None = None
) -> tuple[int, Journal] | None:
    """Seal every journal below ``gen`` down to the newest one with a header, and return that one:
    from here on no older holder can add to it. ``previous``: journal ``gen - 1`` as read a moment
    ago (if stale, the sealing append misses its position and the journal is read again)."""
    seal = _line({"sealed_by": gen})
    early = list(previous or [])
    for g in range(gen - 1, 0, -1):
        key = objs.loc.journal_key(g)
        while True:
            data = early.pop() if early else objs.get(key)
            if data is None:
                try:
                    objs.append(key, 0, seal)
                    break  # a generation that never wrote: now it never will
                except Moved:
                    continue
            j = parse_journal(data, objs.loc, g)
            if not j.sealed:
                try:
                    objs.append(key, len(data), seal)
                except Moved:
                    continue  # its holder appended meanwhile: read again
            if j.header is not None:
                return g, j
            break
    return None


class _Pending:
    """Journal lines not yet appended to OSS (the StateStore writes its lines here)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


class OssStore(StateStore):
    """A StateStore whose journal is ``K.journal/<gen>`` in OSS (group commit: one append carries
    every line written since the last one) and whose commit is a block appended to it."""

    def __init__(
        self, objs: Objects, lock: OssLock, doc: StateDoc, committed: StateDoc | None, position: int
    ) -> None:
        super().__init__(objs.loc.path, doc, committed)
        self.objs = objs
        self.lock = lock
        self._key = objs.loc.journal_key(lock.gen)
        self._position = position
        self._pending = _Pending()
        self._journal = self._pending
        self._last_flush = time.monotonic()
        lock.on_tick = self._tick

    def _open_journal(self) -> None:
        self._journal = self._pending

    def _tick(self) -> None:
        if self._written > self._synced and self._broken is None:
            self._sync(self._written)

    batch_intents = True  # the executor writes intents ahead, many per append

    def flush_durable(self) -> None:
        """Everything written so far is in OSS when this returns."""
        self._sync(self._written)

    def before_submit(self) -> None:
        self.lock.check()

    def _push(self, data: bytes) -> None:
        try:
            self._position = self.objs.append(self._key, self._position, data)
        except Moved:
            self.lock.lost = (
                f"another run took over the lock on {self.objs.loc.url} (this run's lease expired)"
            )
            raise StateWriteError(
                f"{self.lock.lost}: this run stopped submitting",
                hint="what it recorded before is kept; rerun to resume",
            ) from None
        self.bytes_written += len(data)

    def _sync(self, pos: int) -> None:
        with self._sync_lock:
            if self._synced >= pos:
                return
            try:
                self.lock.check()
                with self._lock:
                    target = self._written
                    data = self._pending.take()
                if data:
                    self._push(data)
            except StateWriteError as e:
                self._broken = OSError(str(e))
                raise
            self._synced = max(self._synced, target)

    def commit(self) -> bool:
        with self._lock:
            if (self._committed is None and not self.doc.jobs) or self._unchanged():
                return False
        with self._sync_lock:
            if self._broken is not None:
                raise self._dump_errored(self._broken)
            with self._lock:
                serial = self.doc.serial + 1
                doc = StateDoc(self.doc.lineage, serial, dict(self.doc.jobs))
                target = self._written
                pending = self._pending.take()
            data = encode_state(doc.to_json())
            self.lock.check()
            self._push(pending + _block({"commit": serial}, data))  # one append: lines, then the block
            self._synced = max(self._synced, target)
            with self._lock:
                self.doc.serial = serial
                self._committed = doc
                self._committed_data = data
        return True

    def _drop_journal(self) -> None:
        self._entries = 0

    def _dump_errored(self, err: OSError) -> StateWriteError:
        """After a failed append nothing more is written: what was appended before is the state."""
        return StateWriteError(
            f"{err}",
            hint="rerun: the next run replays what this one recorded in OSS and finds the jobs it submitted",
        )

    def close(self) -> None:
        try:
            if self._broken is None:
                self._sync(self._written)
        except SpecrunnerError:
            pass


def _forget_journal(objs: Objects, gen: int) -> None:
    """Delete journal ``gen`` (best effort, in the background): everything in it is now in the new
    generation's journal. Safe for fencing: it had a header, so its holder can only append past
    position 0, which fails on a missing object as on a sealed one. Journals that never got a header
    (sealed empty) and lock objects are kept: re-creating either would revive an old generation."""

    def run() -> None:
        try:
            objs.delete(objs.loc.journal_key(gen))
        except SpecrunnerError:
            pass

    threading.Thread(target=run, name="state-gc", daemon=True).start()


def open_run(
    loc: OssState, operation: str, lock_timeout: float = 0.0, *, force_id: str | None = None
) -> tuple[OssLock, OssStore]:
    """Lock, fence the older generations, and start this generation's journal."""
    objs = Objects(loc)
    lock = acquire(objs, operation, timeout=lock_timeout, force_id=force_id)
    try:
        found = seal_below(objs, lock.gen, lock.previous)
        j = found[1] if found is not None else Journal()
        doc = j.doc or StateDoc(str(uuid.uuid4()), 0, {})
        header = {"journal": 2, "generation": lock.gen, "lock": lock.info["id"], "lineage": doc.lineage}
        data = _block(header, j.block)
        committed = j.base
        base_jobs = committed.jobs if committed else {}
        for k in sorted(set(base_jobs) | set(doc.jobs)):  # what the previous run journaled
            if k not in doc.jobs:
                data += _line({"op": "del", "key": k})
            elif base_jobs.get(k) != doc.jobs[k]:
                data += _line({"op": "put", "key": k, "record": doc.jobs[k]})
        try:
            position = objs.append(loc.journal_key(lock.gen), 0, data)
        except Moved:
            raise LockError(f"lost the lock on {loc.url} before starting (its lease expired)") from None
        store = OssStore(objs, lock, StateDoc(doc.lineage, doc.serial, dict(doc.jobs)), committed, position)
        store.bytes_written = len(data)
        if found is not None:
            _forget_journal(objs, found[0])
    except BaseException:
        lock.release()
        raise
    return lock, store


def push(
    loc: OssState, data: bytes, source: Path, *, force: bool = False, lock_timeout: float = 0.0
) -> StateDoc:
    """Replace the remote lock file by ``data`` (a lock file's bytes), under the lock."""
    new = decode_state(data, source)
    objs = Objects(loc)
    lock = acquire(objs, "state push", timeout=lock_timeout)
    try:
        found = seal_below(objs, lock.gen)
        cur = found[1].doc if found is not None else None
        if cur is not None and (found is not None and (found[1].block or cur.jobs)) and not force:
            if cur.lineage != new.lineage:
                raise StateError(
                    f"{source} belongs to another state (lineage {new.lineage}) than {loc.url} "
                    f"(lineage {cur.lineage})",
                    hint="push it elsewhere, or pass --force",
                )
            if new.serial < cur.serial or (new.serial == cur.serial and new.jobs != cur.jobs):
                raise StateError(
                    f"{source} (serial {new.serial}) is older than {loc.url} (serial {cur.serial})",
                    hint="`specrunner state pull` the newer one first, or pass --force",
                )
        header = {"journal": 2, "generation": lock.gen, "lock": lock.info["id"], "lineage": new.lineage}
        try:
            objs.append(loc.journal_key(lock.gen), 0, _block(header, data))
        except Moved:
            raise LockError(f"lost the lock on {loc.url} before pushing (its lease expired)") from None
        if found is not None:
            _forget_journal(objs, found[0])
    finally:
        lock.release()
    return new


# ------------------------------------------------------------------------------------ either kind


def read_any(where: Path | OssState) -> StateDoc | None:
    return read_remote(where) if isinstance(where, OssState) else read_state(where)

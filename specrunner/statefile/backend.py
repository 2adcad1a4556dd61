"""One state interface: where a manifest's state lives and what a run writes through.

Two protocols, each with two implementations here (a local file, an OSS prefix) and an in-memory
one in the tests (``tests/fakes.py``):

- :class:`StateBackend`: a state's home. It reads the state (``read``), opens a locked, journaled
  run on it (``open_run``), moves its lock file bytes (``pull`` / ``push``), repairs it and breaks
  its lock. :func:`locate` alone decides which home a manifest's state has; nothing else in the
  package tests for a kind of state.
- :class:`JobStore`: the journaled store a run writes job entries through: ``put`` / ``delete``
  (journaled; ``durable``: synced before it returns; with ``retire_outputs`` the objects a dropped
  or replaced record named and no longer does go to the state's ``retired`` list, in the same
  journal write), ``unretire``, ``flush_durable``, the before-submit gate
  (``before_submit`` / ``submitted`` / ``lost``: the remote lease, see ``lease.py``), ``commit``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from specrunner.core.errors import StateError
from specrunner.core.record import LockEntry
from specrunner.statefile.doc import (
    StateDoc,
    check_replaceable,
    decode_state,
    default_state_path,
    encode_state,
)
from specrunner.statefile.files import atomic_write, backup_path, journal_path, state_signature
from specrunner.statefile.journal import read_state
from specrunner.statefile.state import StateStore, repair_local

if TYPE_CHECKING:
    from specrunner.core.model import Manifest
    from specrunner.statefile.ossobjects import OssState


class Lock(Protocol):
    """A held state lock: who holds it (``info``: id, who, operation, since) and the dead holder's
    lock it replaced, if any (``stale_cleaned``)."""

    info: dict[str, Any]
    stale_cleaned: dict[str, Any] | None

    def release(self) -> None: ...


class JobStore(Protocol):
    """What a run reads and writes the state through (see the module docstring)."""

    doc: StateDoc
    bytes_written: int
    #: Whether the executor writes the intents of many submissions ahead in one durable write
    #: (a remote journal: one append instead of one per job).
    batch_intents: bool
    #: Whether a put or delete that drops objects a record named retires them (apply, prune).
    retire_outputs: bool

    @property
    def jobs(self) -> dict[str, LockEntry]: ...

    def get(self, key: str) -> LockEntry | None: ...

    def items(self) -> Iterator[tuple[str, LockEntry]]: ...

    def put(self, key: str, record: LockEntry, *, durable: bool = False) -> None: ...

    def delete(self, key: str, *, durable: bool = False) -> None: ...

    def unretire(self, objects: list[str], *, durable: bool = False) -> None: ...

    def flush_durable(self) -> None: ...

    def before_submit(self) -> None: ...

    def submitted(self) -> None: ...

    def lost(self) -> str | None: ...

    def dirty(self) -> bool: ...

    def commit(self) -> bool: ...

    def close(self) -> None: ...


@dataclass
class OpenRun:
    """A run opened on a state: its lock, its store, and whether the state existed before."""

    lock: Lock
    store: JobStore
    existed: bool


class StateBackend(Protocol):
    """A state's home (see the module docstring)."""

    @property
    def path(self) -> Path:
        """The state's local path (a remote state: the path its URL names, for messages and run files)."""
        ...

    @property
    def label(self) -> str:
        """The state as people name it: a file path or an ``oss://`` URL."""
        ...

    @property
    def shared(self) -> bool:
        """A state other machines use (in OSS): always checked against its owner."""
        ...

    def signature(self) -> Any:
        """What changes when the state changes (None: not tracked; the state is read again)."""
        ...

    def read(self) -> StateDoc | None: ...

    def open_run(
        self,
        operation: str,
        lock_timeout: float = 0.0,
        *,
        manifest: Path | None = None,
        known: StateDoc | None = None,
        known_signature: Any = None,
    ) -> OpenRun: ...

    def pull(self) -> bytes | None: ...

    def push(self, data: bytes, source: Path, *, force: bool, lock_timeout: float) -> None: ...

    def repair(self, lock_timeout: float = 0.0, *, manifest: Path | None = None) -> dict[str, Any]: ...

    def force_unlock(self, lock_id: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LocalBackend:
    """The lock file beside (or named for) the manifest, its journal and its flock lock."""

    path: Path

    @property
    def label(self) -> str:
        return str(self.path)

    @property
    def shared(self) -> bool:
        return False

    def signature(self) -> Any:
        return state_signature(self.path)

    def read(self) -> StateDoc | None:
        return read_state(self.path)

    def open_run(
        self,
        operation: str,
        lock_timeout: float = 0.0,
        *,
        manifest: Path | None = None,
        known: StateDoc | None = None,
        known_signature: Any = None,
    ) -> OpenRun:
        from specrunner.statefile import locking

        lock = locking.acquire(self.path, operation, timeout=lock_timeout, manifest=manifest)
        try:
            store = StateStore.open(self.path, known=known, known_signature=known_signature)
        except BaseException:
            lock.release()
            raise
        return OpenRun(lock, store, self.path.exists())

    def pull(self) -> bytes | None:
        if journal_path(self.path).exists():
            doc = read_state(self.path)
            return encode_state(doc) if doc is not None else None
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StateError(f"{self.path}: cannot read the state file: {e.strerror or e}") from None

    def push(self, data: bytes, source: Path, *, force: bool, lock_timeout: float) -> None:
        """Replace the lock file by ``data`` under the lock (the replaced one becomes the backup);
        refuses another lineage or an older serial unless ``force``."""
        where = self.path
        new = decode_state(data, source)
        from specrunner.statefile import locking

        with locking.acquire(where, "state push", timeout=lock_timeout):
            store = StateStore.open(where)
            cur = store.doc
            exists = where.exists() or bool(cur.jobs)
            store.close()
            if exists and not force:
                check_replaceable(cur, new, source, str(where))
            if where.exists():  # the version replaced, as a run's commit keeps it
                atomic_write(backup_path(where), where.read_bytes())
            atomic_write(where, data)
            try:
                journal_path(where).unlink()
            except FileNotFoundError:
                pass

    def repair(self, lock_timeout: float = 0.0, *, manifest: Path | None = None) -> dict[str, Any]:
        from specrunner.statefile import locking

        lock = locking.acquire(self.path, "state repair", timeout=lock_timeout, manifest=manifest)
        try:
            return repair_local(self.path)
        finally:
            lock.release()

    def force_unlock(self, lock_id: str) -> dict[str, Any]:
        from specrunner.statefile import locking

        return locking.force_unlock(self.path, lock_id)


@dataclass(frozen=True)
class OssBackend:
    """A state in OSS (``state: {backend: oss}`` or ``--state oss://B/K``): its journals and lease."""

    loc: OssState

    @property
    def path(self) -> Path:
        return self.loc.path

    @property
    def label(self) -> str:
        return self.loc.url

    @property
    def shared(self) -> bool:
        return True

    def signature(self) -> Any:
        return None

    def read(self) -> StateDoc | None:
        from specrunner.statefile import remotejournal

        return remotejournal.read_remote(self.loc)

    def open_run(
        self,
        operation: str,
        lock_timeout: float = 0.0,
        *,
        manifest: Path | None = None,
        known: StateDoc | None = None,
        known_signature: Any = None,
    ) -> OpenRun:
        from specrunner.statefile import remote

        lock, store = remote.open_run(self.loc, operation, lock_timeout, manifest=manifest)
        return OpenRun(lock, store, store.existed())

    def pull(self) -> bytes | None:
        from specrunner.statefile import remotejournal

        return remotejournal.pull(self.loc)

    def push(self, data: bytes, source: Path, *, force: bool, lock_timeout: float) -> None:
        from specrunner.statefile import remote

        remote.push(self.loc, data, source, force=force, lock_timeout=lock_timeout)

    def repair(self, lock_timeout: float = 0.0, *, manifest: Path | None = None) -> dict[str, Any]:
        from specrunner.statefile import remote

        return remote.repair(self.loc, lock_timeout=lock_timeout, manifest=manifest)

    def force_unlock(self, lock_id: str) -> dict[str, Any]:
        from specrunner.statefile import remote

        return remote.force_unlock(self.loc, lock_id)


def locate(
    manifest_path: str | Path, state: str | Path | None = None, manifest: Manifest | None = None
) -> StateBackend:
    """Where the state of ``manifest_path`` lives: ``--state`` (a file, or ``oss://BUCKET/KEY``), else
    the manifest's ``state:`` block, else ``<manifest dir>/<stem>.lock.json``. ``manifest``: the
    manifest as loaded (else its ``state:`` block is read leniently from the file: commands like
    ``show`` do not validate it). The one place that decides; an OSS location falls back on the
    block's, then on the inputs' region."""
    mpath = Path(manifest_path)
    if manifest is not None and state is None and manifest.state is None:
        return LocalBackend(default_state_path(mpath))  # the usual case: no OSS module loaded
    # The OSS state's modules (its lease, journals) are loaded only for a state in OSS.
    from specrunner.statefile.ossobjects import OssState, parse_url

    url = parse_url(state) if state is not None else None
    if state is not None and url is None:
        return LocalBackend(Path(state))
    if manifest is not None:
        block = manifest.state
        if url is None:
            if block is None:
                return LocalBackend(default_state_path(mpath))
            url = OssState(block.bucket, block.key)
        location = block.location if block is not None and block.bucket == url.bucket else None
        if location is None:
            located = [i.location for i in manifest.inputs if i.location]
            located += [d.location for d in manifest.discoveries if d.location]
            location = located[0] if located else None
        return OssBackend(OssState(url.bucket, url.key, location))
    data = manifest_block(mpath, parse=url is not None)
    from specrunner.validate.variables import unresolved

    raw: dict[str, Any] | None = data["state"] if isinstance(data.get("state"), dict) else None
    defaults: dict[str, Any] = data["defaults"] if isinstance(data.get("defaults"), dict) else {}
    missing = unresolved(raw) if url is None and raw is not None else []
    if missing:
        name = missing[0]
        declared = isinstance(data.get("variables"), dict) and name in data["variables"]
        raise StateError(
            f"{_reference_place(mpath, name)}: its state: block uses ${{var.{name}}}, "
            + (
                "which has no value here"
                if declared
                else "which the manifest's variables: block does not declare"
            ),
            hint=f"give it: `--var {name}=...` (or in a --var-file, or as SPECRUNNER_VAR_{name} in the "
            "environment)"
            if declared
            else f"declare it under `variables:` ({name}: {{type: string}}); `specrunner validate {mpath}` "
            "checks every reference",
        )
    if url is None:
        if raw is None or raw.get("backend") != "oss" or not raw.get("bucket") or not raw.get("key"):
            return LocalBackend(default_state_path(mpath))
        url = OssState(str(raw["bucket"]), str(raw["key"]))
    loc = None
    if raw is not None and raw.get("bucket") == url.bucket and isinstance(raw.get("location"), str):
        loc = raw["location"]
    elif isinstance(defaults.get("location"), str):
        loc = defaults["location"]
    return OssBackend(OssState(url.bucket, url.key, loc))


def _reference_place(manifest_path: Path, name: str) -> str:
    """``file:line:col`` of the first ``${var.NAME}`` in the manifest's top-level ``state:`` block
    (just the file when it cannot be found: the block may be a flow mapping on one line, too)."""
    import re

    try:
        lines = manifest_path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return str(manifest_path)
    inside = False
    for number, line in enumerate(lines, 1):
        if re.match(r"[^\s#]", line):  # a top-level key starts or ends the block
            inside = bool(re.match(r"state\s*:", line))
        column = line.find("${var." + name + "}") if inside else -1
        if column >= 0:
            return f"{manifest_path}:{number}:{column + 1}"
    return str(manifest_path)


def manifest_block(manifest_path: Path, *, parse: bool = False) -> dict[str, Any]:
    """The manifest's `state:` and `defaults:` blocks, read leniently (commands like `show` do not
    validate the manifest; a broken one is reported by the commands that do). Without a `state:`
    block the file is not parsed unless ``parse`` (an ``oss://`` URL given: its location is wanted)."""
    import re

    import yaml

    from specrunner.validate.variables import lenient

    try:
        text = manifest_path.read_text(encoding="utf-8")
        if not parse and not re.search(r"^state\s*:", text, re.M):  # no need to parse a large manifest
            return {}
        data = yaml.safe_load(text)
        return lenient(data) if isinstance(data, dict) else {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):  # nested too deeply: as broken
        return {}

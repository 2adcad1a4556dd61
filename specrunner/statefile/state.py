"""The lock-style state file: model, codec, and durable storage.

File format (``<manifest>.lock.json``), version 2 (the codec is ``codec.py``)::

    {
      "version": 2,
      "lineage": "<uuid, set once>",
      "manifest": "specs/site.yaml",                          # the owner (absent in older files)
      "serial": 7,                                            # +1 on every change
      "configs": {"<rule id>": {"<config id>": {<what its jobs share>}}},
      "jobs": {
        "<input id>::<rule id>": {<what is the job's own>},   # one line per job, sorted by key
      }
    }

Version 1 (every record whole, ``{"jobs", "lineage", "serial", "version": 1}``) is still read; it is
rewritten as version 2 on the next write, with a one-line notice on stderr. A newer version is refused.
In memory every job is a :class:`core.record.LockEntry`, whatever the version read.

Deterministic bytes: sorted keys, two-space indent, a trailing newline, no run timestamps, no
hostnames, no absolute paths, no secrets. A rerun that changes nothing does not rewrite the file.

Durability: every change is first appended to ``<state>.journal`` (JSON lines, fsynced before any
call that depends on it), then the journal is compacted into the lock file (temp file in the same
folder + fsync + ``os.replace``, previous version kept as ``<state>.backup``). Loading replays the
journal, so a crash at any instant loses nothing; total state I/O of a run is O(jobs). The journal
(format 2) stores compact job lines too, each rule config once per journal before the first line
using it; format 1 journals (whole records) are still replayed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from specrunner.core.canonical import canonical_bytes, canonical_line
from specrunner.core.errors import StateError, StateWriteError
from specrunner.core.record import LockEntry
from specrunner.statefile.codec import Decoder, Encoder, check_config, encode, from_record

STATE_VERSION = 2
JOURNAL_VERSION = 2


def default_state_path(manifest_path: str | Path) -> Path:
    p = Path(manifest_path)
    return p.with_name(p.stem + ".lock.json")


def encode_state(doc: StateDoc) -> bytes:
    """The lock file bytes (format 2) of ``doc``."""
    return encode(doc.lineage, doc.serial, doc.jobs, doc.owner)


class StateDoc:
    """One version of the state: its lineage, serial, owner and every job's full record.

    Read from a format 2 file, the records are decoded from their compact lines on first use of
    ``jobs`` (``compact`` holds the lines until then): a no-op plan compares the lines with the
    manifest directly (``ops.planning``) and never builds a million records.

    ``owner`` is the manifest the state belongs to (the lock file's ``manifest`` field: its ``name:``,
    else its path in its git repository, see ``statefile.owner``); None in states written before
    owners were recorded. It is not part of ``digest``: it says whose jobs these are, not what they are.
    """

    __slots__ = ("_jobs", "compact", "format_version", "lineage", "owner", "serial")

    def __init__(
        self,
        lineage: str,
        serial: int,
        jobs: dict[str, LockEntry] | None = None,
        format_version: int = STATE_VERSION,  # of the file it was read from
        *,
        compact: CompactLines | None = None,
        owner: str | None = None,
    ) -> None:
        self.lineage = lineage
        self.serial = serial
        self.owner = owner
        self.format_version = format_version
        self._jobs = jobs if jobs is not None or compact is not None else {}
        self.compact = compact if jobs is None else None

    @property
    def jobs(self) -> dict[str, LockEntry]:
        if self._jobs is None:
            assert self.compact is not None
            self._jobs = self.compact.decode_all()
            self.compact = None
        return self._jobs

    @jobs.setter
    def jobs(self, value: dict[str, LockEntry]) -> None:
        self._jobs, self.compact = value, None

    def job_count(self) -> int:
        """How many jobs the state records, without decoding their lines."""
        return len(self._jobs) if self._jobs is not None else len(self.compact.lines) if self.compact else 0

    def __repr__(self) -> str:
        return (
            f"StateDoc(lineage={self.lineage!r}, serial={self.serial}, owner={self.owner!r}, "
            f"format_version={self.format_version})"
        )

    def digest(self) -> str:
        """Identifies this version of the state (a saved plan records it): sha256 over the lineage, the
        serial and every record, each as canonical JSON. Not the file's bytes: encoding the lock file
        costs far more than hashing what it holds, and the content is what a saved plan depends on."""
        import hashlib

        h = hashlib.sha256(canonical_bytes([self.lineage, self.serial]))
        for key in sorted(self.jobs):
            h.update(canonical_bytes([key, self.jobs[key].to_record()]))
        return "sha256:" + h.hexdigest()


def check_replaceable(cur: StateDoc, new: StateDoc, source: Path, label: str) -> None:
    """``state push`` replaces a state only by a newer version of itself (``--force`` skips this)."""
    if cur.lineage != new.lineage:
        raise StateError(
            f"{source} belongs to another state (lineage {new.lineage}) than {label} (lineage {cur.lineage})",
            hint="push it elsewhere, or pass --force",
        )
    if new.serial < cur.serial or (new.serial == cur.serial and new.jobs != cur.jobs):
        raise StateError(
            f"{source} (serial {new.serial}) is older than {label} (serial {cur.serial})",
            hint="`specrunner state pull` the newer one first, or pass --force",
        )


def new_state() -> StateDoc:
    import uuid

    return StateDoc(lineage=str(uuid.uuid4()), serial=0, jobs={})


def _restore_hint(path: Path, data: bytes = b"") -> str:
    backup = backup_path(path)
    if backup.exists():
        return f"the previous version is in {backup}; inspect it and copy it over {path.name} to restore"
    ids = data.count(b'"job_id"')
    return (
        f"restore it from git (`git log -p -- {path.name}`) or fix it by hand; moving it away starts "
        f"from an empty state and submits again every job it recorded (about {ids} with a job id, "
        "counted from its text)"
    )


_V2_FIELDS = ("configs", "manifest")  # top-level fields of format 2 beside version, lineage, serial, jobs


def decode_state(data: bytes, path: Path) -> StateDoc:
    """Parse and check a state file. Never guesses: anything odd is a StateError."""
    hint = _restore_hint(path, data)
    if not data.strip():
        raise StateError(f"{path}: the state file is empty (truncated?)", hint=hint)
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise StateError(f"{path}: the state file is not UTF-8 text", hint=hint) from None
    except json.JSONDecodeError as e:
        raise StateError(
            f"{path}:{e.lineno}:{e.colno}: the state file is not valid JSON ({e.msg})", hint=hint
        ) from None
    except (ValueError, RecursionError) as e:  # a 5,000-digit number; arrays nested 100,000 deep
        why = "nested too deeply" if isinstance(e, RecursionError) else "a number is too long"
        raise StateError(f"{path}: the state file is not valid JSON ({why})", hint=hint) from None
    if not isinstance(doc, dict):
        raise StateError(f"{path}: the state file must be a JSON object", hint=hint)
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise StateError(f"{path}: the state file has no valid `version`", hint=hint)
    if version > STATE_VERSION:
        raise StateError(
            f"{path}: state format version {version} is newer than this specrunner supports "
            f"({STATE_VERSION}); upgrade specrunner",
            hint=f"upgrade specrunner to read it; or, if the file was edited by hand, {hint}",
        )
    if version < 1:
        raise StateError(f"{path}: unknown state format version {version}", hint=hint)
    lineage, serial, jobs = doc.get("lineage"), doc.get("serial"), doc.get("jobs")
    if not isinstance(lineage, str) or not lineage:
        raise StateError(f"{path}: the state file has no valid `lineage`", hint=hint)
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        raise StateError(f"{path}: the state file has no valid `serial`", hint=hint)
    if not isinstance(jobs, dict):
        raise StateError(f"{path}: `jobs` must be an object keyed by job key", hint=hint)
    extra = set(doc) - {"version", "lineage", "serial", "jobs", *(_V2_FIELDS if version >= 2 else ())}
    if extra:
        raise StateError(f"{path}: unknown top-level field(s) {sorted(extra)} in the state file", hint=hint)
    owner = doc.get("manifest")
    if owner is not None and not (isinstance(owner, str) and owner and "\n" not in owner):
        raise StateError(
            f"{path}: `manifest` (the manifest that owns the state) must be a one-line string", hint=hint
        )
    if version >= 2:  # job lines are checked as they are decoded (see StateDoc.jobs)
        compact = CompactLines(doc.get("configs"), jobs, path, hint)
        return StateDoc(lineage=lineage, serial=serial, format_version=version, compact=compact, owner=owner)
    entries: dict[str, LockEntry] = {}
    for key, rec in jobs.items():
        entry = from_record(rec)
        if isinstance(entry, str):
            raise StateError(f"{path}: $.jobs[{json.dumps(key)}]: {entry}", hint=hint)
        entries[key] = entry
    return StateDoc(lineage=lineage, serial=serial, jobs=entries, format_version=version)


class CompactLines:
    """The job lines of a format 2 file, as parsed, with the configs they name; decoded on demand."""

    __slots__ = ("configs", "decoder", "hint", "lines", "path")

    def __init__(self, configs: Any, lines: dict[str, Any], path: Path, hint: str) -> None:
        if not isinstance(configs, dict) or not all(isinstance(v, dict) for v in configs.values()):
            raise StateError(
                f"{path}: `configs` must be an object of rule ids to objects of configs", hint=hint
            )
        self.configs: dict[str, dict[str, Any]] = configs
        self.lines = lines
        self.path = path
        self.hint = hint
        self.decoder = Decoder(configs)

    def record(self, key: str) -> LockEntry:
        """The entry of job ``key`` (a StateError if its line is not valid)."""
        rec = self.decoder.record(key, self.lines[key])
        if isinstance(rec, str):
            where = "" if rec.startswith("$.") else f"$.jobs[{json.dumps(key)}]: "
            raise StateError(f"{self.path}: {where}{rec}", hint=self.hint)
        return rec

    def decode_all(self) -> dict[str, LockEntry]:
        record = self.record
        return {key: record(key) for key in self.lines}


def read_state(path: Path, committed: StateDoc | bool | None = False) -> StateDoc | None:
    """The committed state plus any journal left by an unfinished run (read-only).

    ``committed``: the lock file already read by the caller (None: there is none), so that it is
    read and parsed once only.
    """
    doc_or_new = (
        _read_lock_file(path)
        if committed is False
        else (committed if isinstance(committed, StateDoc) else None)
    )
    jpath = journal_path(path)
    if jpath.exists():
        base = doc_or_new or new_state()
        replayed = _replay(jpath, base, path)
        if replayed is not None:
            return replayed
    return doc_or_new


def repair_local(path: Path) -> dict[str, Any]:
    """``state repair`` of a local state (the caller holds its lock): replay the journal passing over
    unreadable lines, write the result as the lock file, keep the damaged journal beside it."""
    committed = _read_lock_file(path)
    jpath = journal_path(path)
    counts: list[int] = []
    doc = _replay(jpath, committed or new_state(), path, salvage=counts) if jpath.exists() else None
    doc = doc or committed or new_state()
    store = StateStore(path, StateDoc(doc.lineage, doc.serial, dict(doc.jobs), owner=doc.owner), committed)
    kept_journal = None
    if jpath.exists():
        kept_journal = jpath.with_name(jpath.name + ".damaged")
        data = jpath.read_bytes()
        atomic_write(kept_journal, data)
    changed = store.commit()  # writes the lock file if anything changed, then drops the journal
    store.close()
    return {
        "jobs": len(doc.jobs),
        "job_ids": sum(1 for r in doc.jobs.values() if r.job_id),
        "kept": counts[0] if counts else 0,
        "skipped": counts[1] if counts else 0,
        "changed": changed,
        "damaged_copy": str(kept_journal) if kept_journal else None,
    }


def _read_lock_file(path: Path) -> StateDoc | None:
    real = state_file(path)  # a dangling link is an error, not "no state yet"
    try:
        data = real.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise StateError(f"{path}: is a directory, not a state file; pass a file path to --state") from None
    except OSError as e:
        raise StateError(f"{path}: cannot read the state file: {e.strerror or e}") from None
    return decode_state(data, path)


def state_signature(path: Path) -> tuple[Any, ...]:
    """What identifies a version of the state files: (inode, size, mtime) of the lock file and journal."""
    sig: list[Any] = []
    for p in (path, journal_path(path)):
        try:
            st = p.stat()
            sig.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            sig.append(None)
    return tuple(sig)


def state_file(path: Path) -> Path:
    """The file that holds the state named ``path``: ``path`` itself, or the final target when it is
    a symbolic link (say to a persistent volume). The lock file is written through the link, and
    every file beside the state (journal, lock, backup, temp files, errored dumps) sits beside the
    target, where the next run that follows the link finds it. A dangling link or a loop is a
    StateError: read as "no state yet", it would resubmit every job."""
    if not os.path.islink(path):
        return path
    try:
        return Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        target = Path(os.path.realpath(path))
        raise StateError(
            f"{path}: the state file is a symbolic link to {_link_text(path)}, which does not exist",
            hint=f"mount or restore {target} (the state it holds is needed to not resubmit jobs); to "
            f"start a new state there, run once with `--state {target}`, or remove the link",
        ) from None
    except OSError as e:  # ELOOP: a loop of links
        raise StateError(
            f"{path}: the state file is a symbolic link that cannot be followed "
            f"({e.strerror or e}: a loop of links?)",
            hint=f"point the link at the state file (`ln -sfn TARGET {path}`), or remove it",
        ) from None


def _link_text(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:  # pragma: no cover - replaced meanwhile
        return "a missing file"


def journal_path(state_path: Path) -> Path:
    """``<state>.journal``, beside the file the state really is (``state_file``)."""
    real = state_file(state_path)
    return real.with_name(real.name + ".journal")


def backup_path(state_path: Path) -> Path:
    """``<state>.backup``: the previous version of the lock file, beside it (``state_file``)."""
    real = state_file(state_path)
    return real.with_name(real.name + ".backup")


def _journal_hint(jpath: Path, salvage: tuple[int, int] | None = None) -> str:
    """The way out of a damaged journal: the repair that keeps every readable record comes first."""
    kept, skipped = salvage if salvage is not None else (0, 0)
    counts = (
        f"the {kept} readable records, passing over {skipped} unreadable one(s)"
        if salvage
        else ("every readable record")
    )
    return (
        f"run `specrunner state repair MANIFEST`: it keeps {counts} (a job whose only record is "
        "unreadable is looked up by its tag if its intent survived); moving the journal away instead "
        f"drops all {kept or 'its'} records: the jobs they recorded would be submitted again"
    )


def _salvage_counts(jpath: Path, base: StateDoc, state_path: Path) -> tuple[int, int] | None:
    counts: list[int] = []
    try:
        _replay(jpath, base, state_path, salvage=counts)
    except StateError:
        return None
    return (counts[0], counts[1]) if len(counts) == 2 else None


def _damaged(jpath: Path, where: str, what: str, base: StateDoc, state_path: Path) -> StateError:
    return StateError(f"{where}: {what}", hint=_journal_hint(jpath, _salvage_counts(jpath, base, state_path)))


def _replay(
    jpath: Path, base: StateDoc, state_path: Path, *, salvage: list[int] | None = None
) -> StateDoc | None:
    """Apply a journal to ``base``. Returns None if the journal is stale (already compacted).
    ``salvage`` (``state repair``): pass over unreadable lines; [kept, skipped] is appended to it."""
    try:
        lines = jpath.read_bytes().split(b"\n")
    except OSError as e:
        raise StateError(f"{jpath}: cannot read the state journal: {e.strerror or e}") from None
    if not lines or not lines[0].strip():
        return None
    try:
        header = json.loads(lines[0])
    except (ValueError, RecursionError):  # the header is written atomically: a broken one is damage
        if salvage is not None:  # repair: take it as extending the lock file as it is
            header = {"journal": JOURNAL_VERSION, "lineage": base.lineage, "base_serial": base.serial}
        else:
            raise StateError(
                f"{jpath}:1: the state journal's header is not valid JSON", hint=_journal_hint(jpath)
            ) from None
    if not isinstance(header, dict) or header.get("journal") not in (1, JOURNAL_VERSION):
        raise StateError(
            f"{jpath}: not a specrunner state journal",
            hint="move it away if it does not belong to this state",
        )
    lineage, base_serial = header.get("lineage"), header.get("base_serial")
    if not isinstance(lineage, str) or not isinstance(base_serial, int) or isinstance(base_serial, bool):
        raise StateError(
            f"{jpath}:1: the state journal's header has no valid lineage and base_serial",
            hint=_journal_hint(jpath),
        )
    if lineage != base.lineage and base.serial != 0:
        raise StateError(
            f"{jpath}: the journal belongs to another state (lineage {lineage}), not to "
            f"{state_path} (lineage {base.lineage})",
            hint="move it away if it does not belong to this state",
        )
    if base_serial > base.serial:
        # The lock file went backwards (an older copy or the backup put in its place, or deleted):
        # replaying onto it or ignoring the journal would both forget jobs.
        now = f"is at serial {base.serial}" if state_path.exists() else "is missing"
        raise StateError(
            f"{jpath}: the journal extends lock file serial {base_serial}, but {state_path} {now}: "
            "the lock file was replaced by an older copy or deleted",
            hint=f"put the newer {state_path.name} back "
            "(the journal is replayed onto it automatically, nothing is lost); moving the journal away "
            f"instead drops its {sum(1 for x in lines[1:] if x.strip())} records and every job the "
            f"lock file recorded after serial {base.serial}: those jobs would be submitted again",
        )
    if base_serial < base.serial:
        return None  # written against an older lock file: already compacted
    jobs = dict(base.jobs)
    configs: dict[str, dict[str, Any]] = {}
    dec = Decoder(configs)
    kept = skipped = 0
    for n, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except (ValueError, RecursionError):  # JSONDecodeError, a cut multi-byte character, ...
            if n == len(lines) or all(not x.strip() for x in lines[n:]):
                break  # a torn last line from a crash mid-write: it was never acknowledged
            if salvage is not None:
                skipped += 1
                continue
            raise _damaged(jpath, f"{jpath}:{n}", "corrupt journal line", base, state_path) from None
        op = entry.get("op") if isinstance(entry, dict) else None
        key = entry.get("key") if isinstance(entry, dict) else None
        if op == "put" and isinstance(key, str) and "entry" in entry:
            rec = dec.record(key, entry["entry"])
            if isinstance(rec, str):
                if salvage is not None:
                    skipped += 1
                    continue
                raise _damaged(jpath, f"{jpath}:{n}", "invalid journal entry", base, state_path)
            jobs[key] = rec
        elif (
            op == "config"
            and isinstance(entry.get("rule"), str)
            and isinstance(entry.get("id"), str)
            and check_config(entry.get("config")) is None
        ):
            configs.setdefault(entry["rule"], {})[entry["id"]] = entry["config"]
        elif (
            op == "put"
            and isinstance(key, str)
            and isinstance(whole := from_record(entry.get("record")), LockEntry)
        ):
            jobs[key] = whole
        elif op == "del" and isinstance(key, str):
            jobs.pop(key, None)
        elif salvage is not None:
            skipped += 1
            continue
        else:
            raise _damaged(jpath, f"{jpath}:{n}", "invalid journal entry", base, state_path)
        kept += 1
    if salvage is not None:
        salvage.extend((kept, skipped))
    return StateDoc(
        lineage=lineage, serial=base.serial, jobs=jobs, format_version=base.format_version, owner=base.owner
    )


def _raw_or_encoded(path: Path, doc: StateDoc) -> bytes:
    """The lock file's bytes as they are on disk (the backup is a copy), else as we would write them."""
    try:
        return path.read_bytes()
    except OSError:
        return encode_state(doc)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` by a file holding ``data`` (temp file + fsync + rename). A symbolic link is
    written through: its target is replaced, in the target's folder, and the link stays."""
    import threading

    if os.path.islink(path):
        path = Path(os.path.realpath(path))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


class StateStore:
    """The state of one run: in-memory records, a durable journal, compaction into the lock file.

    Thread-safe. ``put``/``delete`` append to the journal; with ``durable=True`` the call returns
    only once the entry is on disk (concurrent callers share one fsync).
    """

    def __init__(
        self, path: Path, doc: StateDoc, committed: StateDoc | None, *, compact_every: int = 0
    ) -> None:
        self.path = path  # as the user gave it: what messages name
        # The file it really is (the target of a symlink), resolved once: the lock file is written
        # there and its journal, backup and temp files sit beside it.
        self.file = state_file(path)
        self.doc = doc
        if doc.owner is None and committed is not None:  # a journal never changes the owner
            doc.owner = committed.owner
        # The lock file as committed: compared as data (an encode of 100,000 records costs seconds)
        # and encoded only when a backup of it has to be written.
        self._committed: StateDoc | None = (
            StateDoc(committed.lineage, committed.serial, dict(committed.jobs), owner=committed.owner)
            if committed
            else None
        )
        self._committed_data: bytes | None = None
        import threading

        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._journal: Any = None
        self._written = 0
        self._synced = 0
        self._entries = 0
        self._backed_up = False
        self.bytes_written = 0  # total state I/O of this store (journal + lock files + backups)
        self._compact_every = compact_every
        self._broken: OSError | None = None
        self._dumped: Path | None = None  # this store's errored dump, rewritten by each later one
        self._dump_lock = threading.Lock()
        # A lock file of an older format is rewritten in the current one on the next write.
        self._upgrade_from = (
            committed.format_version
            if committed is not None and committed.format_version < STATE_VERSION
            else None
        )
        self._enc = Encoder()
        self._journal_configs: set[tuple[str, str]] = set()  # the configs written to this journal

    #: Whether the executor writes many submissions' intents ahead in one durable write (``OssStore``).
    batch_intents = False

    @classmethod
    def open(cls, path: Path, *, known: StateDoc | None = None, known_signature: Any = None) -> StateStore:
        """Open the state for writing. ``known``/``known_signature``: the state as read earlier (e.g.
        for planning) and the file signature taken before that read; reused when the files are
        unchanged since, instead of parsing a large lock file twice."""
        if (
            known_signature is not None
            and known_signature == state_signature(path)
            and not journal_path(path).exists()
        ):
            committed: StateDoc | None = known
            doc = known or new_state()
            return cls(path, StateDoc(doc.lineage, doc.serial, dict(doc.jobs)), committed)
        committed = _read_lock_file(path)
        doc = read_state(path, committed) or new_state()
        if committed is not None and doc.lineage != committed.lineage:  # pragma: no cover - guarded in replay
            raise StateError(f"{path}: journal and lock file disagree on lineage")
        store = cls(path, StateDoc(doc.lineage, doc.serial, dict(doc.jobs)), committed)
        return store

    @property
    def jobs(self) -> dict[str, LockEntry]:
        return self.doc.jobs

    def get(self, key: str) -> LockEntry | None:
        with self._lock:
            return self.doc.jobs.get(key)

    def items(self) -> Iterator[tuple[str, LockEntry]]:
        with self._lock:
            snapshot = list(self.doc.jobs.items())
        return iter(snapshot)

    def put(self, key: str, record: LockEntry, *, durable: bool = False) -> None:
        self._append(key, record, durable)

    def delete(self, key: str, *, durable: bool = False) -> None:
        self._append(key, None, durable)

    def _journal_line(self, key: str, record: LockEntry | None) -> bytes:
        """The journal line(s) of a put or a delete: a config line first when this journal lacks it."""
        if record is None:
            return canonical_line({"op": "del", "key": key})
        rule, cid, compact = self._enc.line(key, record)
        pre = b""
        if rule is not None and cid is not None:
            if (rule, cid) not in self._journal_configs:
                self._journal_configs.add((rule, cid))
                cfg = self._enc.configs[rule][cid]
                pre = canonical_line({"op": "config", "rule": rule, "id": cid, "config": cfg})
            return pre + canonical_line({"op": "put", "key": key, "entry": compact})
        return canonical_line({"op": "put", "key": key, **compact})

    def _append(self, key: str, record: LockEntry | None, durable: bool) -> None:
        with self._lock:
            if record is None:
                if key not in self.doc.jobs:
                    return
                self.doc.jobs.pop(key)
            else:
                if self.doc.jobs.get(key) == record:
                    return
                self.doc.jobs[key] = record
            if self._broken is not None:  # after a failed write nothing more goes to the journal
                raise self._dump_errored(self._broken)
            try:
                self._open_journal()
                line = self._journal_line(key, record)
                self._journal.write(line)
                self._journal.flush()
            except OSError as e:
                self._broken = e
                raise self._dump_errored(e) from None
            self._written += len(line)
            self.bytes_written += len(line)
            self._entries += 1
            pos = self._written
            compact = self._compact_every and self._entries >= self._compact_every
        if durable:
            self._sync(pos)
        if compact:
            self.commit()

    def _open_journal(self) -> None:
        """Start a fresh journal whose first line names the lock file serial it extends.

        Records replayed from an older journal (a crashed run) and not yet in the lock file are
        written into the new journal *before* it replaces the old one, in one atomic step: a crash at
        any instant leaves either the old journal or the new one, never neither.
        """
        if self._journal is not None:
            return
        jpath = journal_path(self.file)
        header = {"journal": JOURNAL_VERSION, "lineage": self.doc.lineage, "base_serial": self.doc.serial}
        self._journal_configs = set()
        data = (json.dumps(header, sort_keys=True) + "\n").encode() + self._carry_over()
        tmp = jpath.with_name(jpath.name + ".new")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, jpath)
        _fsync_dir(jpath.parent)
        self._journal = open(jpath, "ab")  # noqa: SIM115 - kept open for appends; _close_journal() closes it
        self._written = self._synced = 0
        self.bytes_written += len(data)

    def _committed_jobs(self) -> dict[str, Any]:
        return self._committed.jobs if self._committed is not None else {}

    def _unchanged(self) -> bool:
        c = self._committed
        return (
            c is not None
            and c.lineage == self.doc.lineage
            and c.serial == self.doc.serial
            and c.owner == self.doc.owner  # `state claim` changes the owner only
            and c.jobs == self.doc.jobs
        )

    def _carry_over(self) -> bytes:
        """Journal lines for every difference between the lock file and the in-memory state."""
        committed = self._committed_jobs()
        lines = []
        for k in sorted(set(committed) | set(self.doc.jobs)):
            if k not in self.doc.jobs:
                lines.append(self._journal_line(k, None))
            elif committed.get(k) != self.doc.jobs[k]:
                lines.append(self._journal_line(k, self.doc.jobs[k]))
        return b"".join(lines)

    def _sync(self, pos: int) -> None:
        with self._sync_lock:
            if self._synced >= pos:
                return
            with self._lock:
                target = self._written
                fd = self._journal.fileno()
            try:
                os.fsync(fd)
            except OSError as e:
                raise self._dump_errored(e) from None
            self._synced = max(self._synced, target)

    def flush_durable(self) -> None:
        """Everything written so far is durable (fsynced; in OSS: appended) when this returns."""
        if self._journal is not None:
            self._sync(self._written)

    def existed(self) -> bool:
        """Whether a committed state was there when the store was opened."""
        return self._committed is not None

    def before_submit(self) -> None:
        """The gate, called immediately before a Submit is written (after every wait): raises
        LeaseLost when this run may no longer submit (a remote lock whose lease it cannot confirm).
        Every call that returns is followed by one ``submitted()`` once that Submit returned."""

    def submitted(self) -> None:
        """A Submit that passed ``before_submit`` returned (answered or failed)."""

    def lost(self) -> str | None:
        """Why this run may no longer submit (a remote lock it lost), or None."""
        return None

    def dirty(self) -> bool:
        with self._lock:
            return not self._unchanged()

    def commit(self) -> bool:
        """Compact: write the lock file if anything changed, then drop the journal. Returns changed."""
        with self._lock:
            if self._committed is not None:
                unchanged = self._unchanged()
            else:
                unchanged = False
                if not self.doc.jobs:  # nothing recorded: do not create an empty state file
                    self._drop_journal()
                    return False
            if unchanged:
                self._drop_journal()
                return False
            self.doc.serial += 1
            data = encode_state(self.doc)
            try:
                if self._committed is not None and not self._backed_up:
                    backup = backup_path(self.file)
                    old = self._committed_data or _raw_or_encoded(self.file, self._committed)
                    atomic_write(backup, old)
                    self.bytes_written += len(old)
                    self._backed_up = True
                atomic_write(self.file, data)
            except OSError as e:
                self.doc.serial -= 1
                raise self._dump_errored(e) from None
            self.bytes_written += len(data)
            self._committed = StateDoc(
                self.doc.lineage, self.doc.serial, dict(self.doc.jobs), owner=self.doc.owner
            )
            self._committed_data = data
            self._drop_journal()
            if self._upgrade_from is not None:
                import sys

                print(
                    f"note: {self.path}: state format {self._upgrade_from} upgraded to {STATE_VERSION} "
                    "(older specrunner versions cannot read it; the previous file is "
                    f"{backup_path(self.file) if self.file != self.path else self.path.name + '.backup'})",
                    file=sys.stderr,
                )
                self._upgrade_from = None
            return True

    def _close_journal(self) -> None:
        if self._journal is not None:
            try:
                self._journal.close()
            except OSError:  # a failed flush after ENOSPC: the state is in the errored dump
                pass
            self._journal = None

    def _drop_journal(self) -> None:
        self._close_journal()
        try:
            journal_path(self.file).unlink()
        except FileNotFoundError:
            pass
        self._entries = 0

    def close(self) -> None:
        with self._lock:
            self._close_journal()

    def _dump_errored(self, err: OSError) -> StateWriteError:
        """Like Terraform's errored.tfstate: put the state somewhere, and say how to restore it.

        The dump is a private file (mode 0600, created exclusively: a file or a symlink already at
        its name is never followed nor overwritten) beside the state, else in the current folder,
        else in a per-user folder (``$XDG_STATE_HOME/specrunner``, ``~/.local/state/specrunner``),
        else in a new private temp folder; never at a fixed name in a folder others can write to.
        """
        import shlex

        data = encode_state(self.doc)
        with self._dump_lock:
            # A later failure of the same run updates its dump (one file, the latest state); a dump
            # left by an earlier run is never overwritten.
            dumped = _rewrite_private(self._dumped, data) if self._dumped is not None else None
            if dumped is None:
                dumped = _dump_new(self.file, data)
            self._dumped = dumped
        if dumped is not None:
            where = f"the current state was dumped to {dumped} (readable by you only)"
            restore = (
                "free space or fix permissions, then "
                f"`cp {shlex.quote(str(dumped))} {shlex.quote(str(self.path))}` and rerun"
            )
        else:
            where = "dumping it to an errored file failed too (no space anywhere?)"
            restore = "free space, then rerun: the journal is replayed automatically"
        return StateWriteError(
            f"writing the state {self.path} failed: {err.strerror or err}; {where}", hint=restore
        )


def _dump_new(state: Path, data: bytes) -> Path | None:
    """A new private dump of ``data`` (see ``StateStore._dump_errored``), or None if none could be made."""
    import tempfile

    name = state.name + ".errored"
    for folder in _dump_folders(state.parent):
        dumped = _write_private(folder, name, data)
        if dumped is not None:
            return dumped
    try:
        scratch = Path(tempfile.mkdtemp(prefix="specrunner-errored-"))  # 0700, a new name
    except OSError:
        return None
    dumped = _write_private(scratch, name, data)
    if dumped is None:
        try:
            scratch.rmdir()
        except OSError:  # pragma: no cover
            pass
    return dumped


def _rewrite_private(path: Path, data: bytes) -> Path | None:
    """Replace this run's dump at ``path`` by a new private file holding ``data`` (renamed over it:
    whatever is at ``path`` is replaced, never followed). None if that failed."""
    new = _write_private(path.parent, path.name, data)
    if new is None:
        return None
    try:
        os.replace(new, path)
    except OSError:
        return new
    return path


def _shared(folder: Path) -> bool:
    """Whether others may create files in ``folder`` (world-writable, like /tmp)."""
    try:
        return bool(os.stat(folder).st_mode & 0o002)
    except OSError:
        return True


def _dump_folders(state_folder: Path) -> Iterator[Path]:
    """Where an errored dump may go, best first (the per-user folder is made only when reached)."""
    yield state_folder
    try:
        cwd = Path.cwd()
    except OSError:  # the current folder was deleted
        cwd = None
    if cwd is not None and cwd != state_folder and not _shared(cwd):
        yield cwd
    private = _user_state_folder()
    if private is not None:
        yield private


def _user_state_folder() -> Path | None:
    """``$XDG_STATE_HOME/specrunner`` (else ``~/.local/state/specrunner``), mode 0700, ours."""
    import stat

    base = os.environ.get("XDG_STATE_HOME", "")
    try:
        root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
        folder = root / "specrunner"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(folder)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            return None
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(folder, 0o700)
        return folder
    except (OSError, RuntimeError):  # RuntimeError: no home folder
        return None


def _write_private(folder: Path, name: str, data: bytes) -> Path | None:
    """Write ``data`` to a new file ``folder/name`` (mode 0600), or ``name.<time>-<random>`` when that
    name is taken or ``folder`` is shared. None if the folder cannot take it (the file is removed)."""
    import errno
    import secrets
    import time

    names = [] if _shared(folder) else [name]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    names += [f"{name}.{stamp}-{secrets.token_hex(4)}" for _ in range(4)]
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for candidate in names:
        path = folder / candidate
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as e:
            if e.errno in (errno.EEXIST, errno.ELOOP):  # taken (a file, a planted symlink): another name
                continue
            return None
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            try:
                os.unlink(path)
            except OSError:  # pragma: no cover
                pass
            return None
        return path
    return None

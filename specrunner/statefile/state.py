"""The journaled store of a local state: what one run writes, durable at every instant.

Every change is first appended to ``<state>.journal`` (JSON lines, fsynced before any call that
depends on it), then the journal is compacted into the lock file (temp file in the same folder +
fsync + ``os.replace``, previous version kept as ``<state>.backup``). Loading replays the journal
(``journal.py``), so a crash at any instant loses nothing; total state I/O of a run is O(jobs). The
journal (format 2) stores compact job lines, each rule config once per journal before the first
line using it. A write that fails (a full disk) dumps the records privately (``files.py``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from specrunner.core.canonical import canonical_line
from specrunner.core.errors import StateError, StateWriteError
from specrunner.core.record import LockEntry
from specrunner.core.retired import retirements
from specrunner.statefile import retired as retired_codec
from specrunner.statefile.codec import Encoder
from specrunner.statefile.doc import STATE_VERSION, StateDoc, encode_state, new_state
from specrunner.statefile.files import (
    _dump_new,
    _fsync_dir,
    _rewrite_private,
    atomic_write,
    backup_path,
    journal_path,
    state_file,
    state_signature,
)
from specrunner.statefile.journal import (
    JOURNAL_VERSION,
    _raw_or_encoded,
    _read_lock_file,
    _replay,
    read_state,
)


def repair_local(path: Path) -> dict[str, Any]:
    """``state repair`` of a local state (the caller holds its lock): replay the journal passing over
    unreadable lines, write the result as the lock file, keep the damaged journal beside it."""
    committed = _read_lock_file(path)
    jpath = journal_path(path)
    counts: list[int] = []
    doc = _replay(jpath, committed or new_state(), path, salvage=counts) if jpath.exists() else None
    doc = doc or committed or new_state()
    store = StateStore(path, doc.copy(), committed)
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


def _fresh(doc: StateDoc) -> StateDoc:
    """The store's own copy of ``doc``; its owner comes from the lock file (a journal never changes it)."""
    return StateDoc(doc.lineage, doc.serial, dict(doc.jobs), retired=dict(doc.retired))


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
        self._committed: StateDoc | None = committed.copy() if committed else None
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
    #: Whether a put or delete that drops objects a record named retires them (``core.retired``):
    #: set by ``apply`` and ``prune``; ``state rm`` / ``mv`` / ``import`` leave it off.
    retire_outputs = False

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
            return cls(path, _fresh(doc), committed)
        committed = _read_lock_file(path)
        doc = read_state(path, committed) or new_state()
        if committed is not None and doc.lineage != committed.lineage:  # pragma: no cover - guarded in replay
            raise StateError(f"{path}: journal and lock file disagree on lineage")
        store = cls(path, _fresh(doc), committed)
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

    def unretire(self, objects: list[str], *, durable: bool = False) -> None:
        """Take ``objects`` out of the retired list (deleted by ``prune``, or named again), journaled."""
        with self._lock:
            gone = [o for o in objects if o in self.doc.retired]
            for o in gone:
                del self.doc.retired[o]
            if not gone:
                return
            pos = self._write(lambda: b"".join(retired_codec.unretire_line(o) for o in gone))
        if durable:
            self._sync(pos)

    def _retire(self, key: str, prior: LockEntry | None, record: LockEntry | None) -> bytes:
        """The retired list's changes (applied, and as journal lines) when ``record`` replaces ``prior``."""
        retired = self.doc.retired
        if not self.retire_outputs and not retired:
            return b""
        gone, named = retirements(key, prior, record)
        out = [retired_codec.unretire_line(o) for o in named if retired.pop(o, None) is not None]
        if self.retire_outputs:
            for r in gone:
                retired[r.object] = r
                out.append(retired_codec.retire_line(r))
        return b"".join(out)

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
            prior = self.doc.jobs.get(key)
            if record is None:
                if key not in self.doc.jobs:
                    return
                self.doc.jobs.pop(key)
            else:
                if prior == record:
                    return
                self.doc.jobs[key] = record
            # Retire lines first: a journal torn between them and the put still names every object.
            # Applied before the journal opens, so a fresh journal's carry-over holds them too.
            retire = self._retire(key, prior, record)
            pos = self._write(lambda: retire + self._journal_line(key, record))
            compact = self._compact_every and self._entries >= self._compact_every
        if durable:
            self._sync(pos)
        if compact:
            self.commit()

    def _write(self, make: Callable[[], bytes]) -> int:
        """Append the line(s) ``make()`` gives (once the journal is open: a config line is written
        once per journal) to the journal; the caller holds the lock. Returns the position it ends at."""
        if self._broken is not None:  # after a failed write nothing more goes to the journal
            raise self._dump_errored(self._broken)
        try:
            self._open_journal()
            line = make()
            self._journal.write(line)
            self._journal.flush()
        except OSError as e:
            self._broken = e
            raise self._dump_errored(e) from None
        self._written += len(line)
        self.bytes_written += len(line)
        self._entries += 1
        return self._written

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
            and c.retired == self.doc.retired
        )

    def _carry_over(self) -> bytes:
        """Journal lines for every difference between the lock file and the in-memory state."""
        committed = self._committed_jobs()
        before = self._committed.retired if self._committed is not None else {}
        lines = [retired_codec.difference(before, self.doc.retired)]  # before the records dropping them
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
                if not self.doc.jobs and not self.doc.retired:  # nothing recorded: no empty state file
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
            self._committed = self.doc.copy()
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
        from specrunner.core.shellwords import path

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
            restore = f"free space or fix permissions, then `cp {path(dumped)} {path(self.path)}` and rerun"
        else:
            where = "dumping it to an errored file failed too (no space anywhere?)"
            restore = "free space, then rerun: the journal is replayed automatically"
        return StateWriteError(
            f"writing the state {self.path} failed: {err.strerror or err}; {where}", hint=restore
        )

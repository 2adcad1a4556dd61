"""Remote state in OSS: the lock file, its journal and the lock, correct between machines.

A state ``oss://B/K`` is a set of objects beside the key ``K`` (``K`` itself is never written); the
lock (``K.lock/<g>``, ``K.lock/<g>.lease``, ``K.head``) is ``statefile.lease``:

``K.journal/<g>``     an appendable object, the state as generation ``g`` left it: a header line and
                      the lock file's bytes as the codec wrote them (the *block*), then journal lines
                      (the intent before every Submit, the job id after it), then ``commit`` blocks,
                      and finally the seal line written by the next holder. It is deleted once a
                      newer generation has *committed* a state that carries its content.

Invariants:

- Exactly one holder per generation, and at most one holder that may submit at any instant (the
  lease's gate, ``statefile.lease``).
- Fencing: the holder of ``N`` seals every journal below it (an append at the journal's current end,
  or a seal-only journal where there was none) before it reads the state. Appends need the exact
  position, so once sealed, a holder that lost its lock (paused, partitioned) can never add to its
  journal again. The state as of ``N`` is the newest journal with a header, which is exactly what the
  holder of ``N`` read after sealing.
- Nothing starts over silently: a journal that is not appendable (restored by a copy tool), damaged,
  or missing although its run wrote it, and a head or lock objects edited by hand, stop every
  command with an error naming the object; ``specrunner state repair`` keeps every job id that can be
  read and continues above the newest generation.
- Every Submit follows its intent, appended to OSS (group commit: concurrent intents share one
  append).
- ``state pull`` of a state committed by a run or pushed returns the block's bytes unchanged, so
  local -> OSS -> local is byte-identical.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specrunner.core.errors import LockError, SpecrunnerError, StateError, StateWriteError
from specrunner.core.record import LockEntry
from specrunner.statefile.checks import check_config, from_record
from specrunner.statefile.codec import Decoder
from specrunner.statefile.doc import StateDoc, check_replaceable, decode_state, encode_state
from specrunner.statefile.lease import (
    DEFAULT_LEASE,
    LEASE_ENV,
    LeaseView,
    OssLock,
    acquire,
    latest_generation,
    lease_seconds,
    read_lock,
    repair_hint,
)
from specrunner.statefile.lease import force_unlock as _revoke
from specrunner.statefile.ossobjects import Moved, NotAppendable, Objects, OssPath, OssState, line, parse_url
from specrunner.statefile.state import StateStore

__all__ = [
    "DEFAULT_LEASE",
    "LEASE_ENV",
    "LeaseView",
    "Objects",
    "OssLock",
    "OssPath",
    "OssState",
    "acquire",
    "force_unlock",
    "latest_generation",
    "lease_seconds",
    "open_run",
    "parse_url",
    "pull",
    "push",
    "read_lock",
    "read_remote",
    "repair",
]

_line = line
SEAL_ATTEMPTS = 20  # a journal that keeps moving while it is sealed: someone else is writing to it


def manifest_block(manifest_path: Path, *, parse: bool = False) -> dict[str, Any]:
    """The manifest's `state:` and `defaults:` blocks, read leniently (commands like `show` do not
    validate the manifest; a broken one is reported by the commands that do). Without a `state:`
    block the file is not parsed unless ``parse`` (an ``oss://`` URL given: its location is wanted)."""
    import re

    import yaml

    try:
        text = manifest_path.read_text(encoding="utf-8")
        if not parse and not re.search(r"^state\s*:", text, re.M):  # no need to parse a large manifest
            return {}
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


# ------------------------------------------------------------------------------------ journals


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
    records: int = 0  # records read
    skipped: int = 0  # unreadable records passed over (salvage only)


class _Damaged(Exception):
    def __init__(self, what: str, pos: int) -> None:
        super().__init__(what)
        self.what, self.pos = what, pos


def parse_journal(data: bytes, loc: OssState, gen: int, *, salvage: bool = False) -> Journal:
    """Parse one journal. A damaged one raises StateError naming the object, the byte and what
    ``state repair`` would keep; ``salvage`` (that repair) passes over unreadable records instead."""
    try:
        return _parse(data, loc, gen, salvage)
    except _Damaged as e:
        where = f"{loc.url} ({loc.journal_key(gen)})"
        kept = _parse(data, loc, gen, True)
        keys = len(kept.doc.jobs) if kept.doc is not None else 0
        raise StateError(
            f"{where}: {e.what} at byte {e.pos}: the journal of a run is damaged",
            hint=f"run `specrunner state repair MANIFEST`: it keeps the {kept.records} readable records "
            f"({keys} jobs with what they recorded) and passes over {kept.skipped} unreadable one(s); "
            "a job whose only record is unreadable is looked up by its tag if its intent survived, "
            f"else submitted again (at most {kept.skipped}). Do not delete the object: that drops "
            "every job it recorded",
        ) from None


def _parse(data: bytes, loc: OssState, gen: int, salvage: bool) -> Journal:
    j = Journal(length=len(data))
    pos = 0
    jobs: dict[str, LockEntry] = {}
    configs: dict[str, dict[str, Any]] = {}  # journal format 2: a rule config line before its first put
    decoder = Decoder(configs)
    while pos < len(data):
        start = pos
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl
        try:
            if nl < 0:
                raise _Damaged("a journal record without its end", start)
            try:
                rec = json.loads(data[pos:nl])
            except (ValueError, RecursionError):
                raise _Damaged("a corrupt journal record", start) from None
            if not isinstance(rec, dict):
                raise _Damaged("a corrupt journal record", start)
            pos = nl + 1
            if "journal" in rec or "commit" in rec:
                n = rec.get("bytes")
                if not isinstance(n, int) or n < 0 or pos + n + 1 > len(data):
                    raise _Damaged("a state block without its bytes", start)
                block = data[pos : pos + n]
                try:
                    base = decode_state(block, loc.path) if block else None
                except StateError:
                    raise _Damaged("an unreadable state block", start) from None
                if base is None:
                    lineage = rec.get("lineage")
                    if not isinstance(lineage, str) or not lineage:
                        raise _Damaged("a journal header without a lineage", start)
                if "journal" in rec:
                    if j.header is not None:
                        raise _Damaged("two journal headers", start)
                    j.header = rec
                pos += n + 1
                j.block, j.base = block, base
                jobs = dict(base.jobs) if base else {}
                j.after = 0
            elif "sealed_by" in rec:
                j.sealed = True
            elif (
                rec.get("op") == "config"
                and isinstance(rec.get("rule"), str)
                and isinstance(rec.get("id"), str)
                and check_config(rec.get("config")) is None
            ):
                configs.setdefault(rec["rule"], {})[rec["id"]] = rec["config"]  # what later puts use
            elif rec.get("op") == "put" and isinstance(rec.get("key"), str) and "entry" in rec:
                full = decoder.record(rec["key"], rec["entry"])
                if isinstance(full, str):
                    raise _Damaged("an invalid journal record", start)
                jobs[rec["key"]] = full
                j.after += 1
            elif (
                rec.get("op") == "put"
                and isinstance(rec.get("key"), str)
                and isinstance(whole := from_record(rec.get("record")), LockEntry)
            ):
                jobs[rec["key"]] = whole
                j.after += 1
            elif rec.get("op") == "del" and isinstance(rec.get("key"), str):
                jobs.pop(rec["key"], None)
                j.after += 1
            else:
                raise _Damaged("an invalid journal record", start)
            j.records += 1
        except _Damaged:
            if not salvage:
                raise
            j.skipped += 1
            pos = end + 1
    if j.header is not None:
        lineage = j.base.lineage if j.base else str(j.header["lineage"])
        serial = j.base.serial if j.base else 0
        j.doc = StateDoc(lineage, serial, jobs, owner=j.base.owner if j.base else None)
    return j


def _wrote_journal(objs: Objects, gen: int) -> bool:
    """Whether generation ``gen``'s holder said (in its lease) that it started its journal."""
    view = read_lock(objs, gen)
    return view is not None and any(x.get("journal") for x in view.lines)


def _missing(objs: Objects, gen: int) -> StateError:
    key = objs.loc.journal_key(gen)
    return StateError(
        f"{objs.loc.url}: the journal {key} is missing, although its run wrote it (deleted or moved "
        "by hand?): every job it recorded would be submitted again",
        hint=f"put the object back (OSS versioning, a backup) as it was; or, to go on without it, "
        f"{repair_hint().removeprefix('run ')} -- the jobs only that journal recorded are then lost",
    )


def read_journals(objs: Objects, top: int) -> tuple[int, Journal] | None:
    """The newest journal with a header at or below generation ``top`` (read-only)."""
    for g in range(top, 0, -1):
        data = objs.get(objs.loc.journal_key(g))
        if data is None:
            if _wrote_journal(objs, g):
                raise _missing(objs, g)
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
    return encode_state(j.doc) if j.doc.jobs or j.block else None


# ------------------------------------------------------------------------------------ the store


def seal_below(
    objs: Objects, gen: int, previous: list[bytes | None] | None = None, *, repair: bool = False
) -> tuple[int, Journal] | None:
    """Seal every journal below ``gen`` down to the newest one with a header, and return that one:
    from here on no older holder can add to it. ``previous``: journal ``gen - 1`` as read a moment
    ago (if stale, the sealing append misses its position and the journal is read again).

    A journal that is not appendable (a Normal object: restored by a copy tool) cannot be appended
    to by anyone, so it is sealed as it is; it is still an error unless ``repair``: its bytes may be
    older than what its run wrote."""
    loc = objs.loc
    seal = _line({"sealed_by": gen})
    early = list(previous or [])
    for g in range(gen - 1, 0, -1):
        key = loc.journal_key(g)
        for _ in range(SEAL_ATTEMPTS):
            data = early.pop() if early else objs.get(key)
            if data is None:
                if _wrote_journal(objs, g):
                    if not repair:
                        raise _missing(objs, g)
                    break
                try:
                    objs.append(key, 0, seal)
                    break  # a generation that never wrote: now it never will
                except Moved:
                    continue
                except NotAppendable:
                    data = objs.get(key) or b""
            j = parse_journal(data, loc, g, salvage=repair)
            if not j.sealed:
                try:
                    objs.append(key, len(data), seal)
                except Moved:
                    continue  # its holder appended meanwhile: read again
                except NotAppendable:
                    if not repair:
                        raise StateError(
                            f"{loc.url}: the journal {key} is a Normal object, not an Appendable one "
                            "(written by PutObject or restored by a copy tool, not by specrunner): "
                            "its bytes may be older than what its run recorded",
                            hint=f"{repair_hint()}; it reads the object as it is "
                            f"({len(data)} bytes, {len(j.doc.jobs) if j.doc else 0} jobs)",
                        ) from None
            if j.header is not None:
                return g, j
            break
        else:
            raise LockError(
                f"{loc.url}: the journal {key} changed {SEAL_ATTEMPTS} times while this run sealed it: "
                "another process keeps writing to it",
                hint="stop the other process (an older specrunner, a sync tool), then rerun",
            )
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
        self,
        objs: Objects,
        lock: OssLock,
        doc: StateDoc,
        committed: StateDoc | None,
        position: int,
        replaced: tuple[int, ...] = (),
    ) -> None:
        super().__init__(objs.loc.path, doc, committed)
        self.objs = objs
        self.lock = lock
        self._key = objs.loc.journal_key(lock.gen)
        self._position = position
        self._pending = _Pending()
        self._journal = self._pending
        self._replaced = replaced  # older journals this one carries: deleted after its first commit
        lock.on_tick = self._tick

    def _open_journal(self) -> None:
        self._journal = self._pending

    def _tick(self) -> None:
        if self._written > self._synced and self._broken is None:
            self._sync(self._written)

    batch_intents = True  # the executor writes intents ahead, many per append

    def before_submit(self) -> None:
        """The gate, immediately before a Submit is written: raises LeaseLost unless this run's
        lease is confirmed with a margin to spare; counts the Submit in flight until ``submitted``."""
        self.lock.enter()

    def submitted(self) -> None:
        self.lock.leave()

    def lost(self) -> str | None:
        return self.lock.lost

    def _push(self, data: bytes) -> None:
        # No lease check here: the exact position is the fence (a sealed journal refuses the append),
        # and job ids of Submits that were in flight when the lease lapsed are worth keeping.
        try:
            self._position = self.objs.append(self._key, self._position, data)
        except (Moved, NotAppendable):
            self.lock.lose(f"another run took over the lock on {self.objs.loc.url} (this run's lease lapsed)")
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
            nothing = (self._committed is None and not self.doc.jobs) or self._unchanged()
        if nothing:
            if self._broken is None and self._synced >= self._written:
                self._forget_replaced()  # this journal's header already carries all of them, durably
            return False
        with self._sync_lock:
            if self._broken is not None:
                raise self._dump_errored(self._broken)
            with self._lock:
                serial = self.doc.serial + 1
                doc = StateDoc(self.doc.lineage, serial, dict(self.doc.jobs), owner=self.doc.owner)
                target = self._written
                pending = self._pending.take()
            data = encode_state(doc)
            self._push(pending + _block({"commit": serial}, data))  # one append: lines, then the block
            self._synced = max(self._synced, target)
            with self._lock:
                self.doc.serial = serial
                self._committed = doc
                self._committed_data = data
        self._forget_replaced()
        return True

    def _forget_replaced(self) -> None:
        replaced, self._replaced = self._replaced, ()
        for g in replaced:  # a newer state is committed: the journals it carries are no longer needed
            _forget_journal(self.objs, g)

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
    """Delete journal ``gen`` (best effort, in the background): a newer generation has committed a
    state that carries everything in it. Safe for fencing: it had a header, so its holder can only
    append past position 0, which fails on a missing object as on a sealed one. Journals that never
    got a header (sealed empty) and lock objects are kept: re-creating either would revive an old
    generation."""

    def run() -> None:
        try:
            objs.delete(objs.loc.journal_key(gen))
        except SpecrunnerError:
            pass

    threading.Thread(target=run, name="state-gc", daemon=True).start()


def _start(objs: Objects, lock: OssLock, found: tuple[int, Journal] | None) -> tuple[OssStore, bytes]:
    """This generation's journal: a header, the state it starts from, the lines not yet committed."""
    loc = objs.loc
    j = found[1] if found is not None else Journal()
    doc = j.doc or StateDoc(str(uuid.uuid4()), 0, {})
    header: dict[str, Any] = {
        "journal": 2,
        "generation": lock.gen,
        "lock": lock.info["id"],
        "lineage": doc.lineage,
    }
    replaced: tuple[int, ...] = ()
    if found is not None:
        header["from"] = found[0]
        prior = (j.header or {}).get("from")
        replaced = (found[0], prior) if isinstance(prior, int) and 0 < prior < found[0] else (found[0],)
    data = _block(header, j.block)
    committed = j.base
    base_jobs = committed.jobs if committed else {}
    for k in sorted(set(base_jobs) | set(doc.jobs)):  # what the previous run journaled
        if k not in doc.jobs:
            data += _line({"op": "del", "key": k})
        elif base_jobs.get(k) != doc.jobs[k]:
            data += _line({"op": "put", "key": k, "record": doc.jobs[k].to_record()})
    try:
        position = objs.append(loc.journal_key(lock.gen), 0, data)
    except (Moved, NotAppendable):
        raise LockError(f"lost the lock on {loc.url} before starting (its lease lapsed)") from None
    lock.mark_journal()
    start = StateDoc(doc.lineage, doc.serial, dict(doc.jobs), owner=doc.owner)
    store = OssStore(objs, lock, start, committed, position, replaced)
    store.bytes_written = len(data)
    return store, data


def open_run(
    loc: OssState, operation: str, lock_timeout: float = 0.0, *, repair: bool = False
) -> tuple[OssLock, OssStore]:
    """Lock, fence the older generations, and start this generation's journal."""
    objs = Objects(loc)
    lock = acquire(objs, operation, timeout=lock_timeout, repair=repair)
    try:
        found = seal_below(objs, lock.gen, lock.previous, repair=repair)
        store, _ = _start(objs, lock, found)
    except BaseException:
        lock.release()
        raise
    return lock, store


def repair(loc: OssState, lock_timeout: float = 0.0) -> dict[str, Any]:
    """``state repair``: take the lock above every generation found (a head or lock objects deleted
    by hand), read every journal as it is (a Normal object, a damaged one: its readable records),
    and commit the result as the new state. Keeps every job id that can be read."""
    objs = Objects(loc)
    lock = acquire(objs, "state repair", timeout=lock_timeout, repair=True)
    try:
        found = seal_below(objs, lock.gen, lock.previous, repair=True)
        store, _ = _start(objs, lock, found)
        j = found[1] if found is not None else None
        store.commit()
        store.close()
        with_ids = sum(1 for r in store.doc.jobs.values() if r.job_id)
        return {
            "generation": lock.gen,
            "from": found[0] if found is not None else None,
            "jobs": len(store.doc.jobs),
            "job_ids": with_ids,
            "skipped": j.skipped if j is not None else 0,
        }
    finally:
        lock.release()


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
            check_replaceable(cur, new, source, loc.url)
        header: dict[str, Any] = {
            "journal": 2,
            "generation": lock.gen,
            "lock": lock.info["id"],
            "lineage": new.lineage,
        }
        try:
            objs.append(loc.journal_key(lock.gen), 0, _block(header, data))
        except (Moved, NotAppendable):
            raise LockError(f"lost the lock on {loc.url} before pushing (its lease lapsed)") from None
        lock.mark_journal()
        if found is not None:  # the pushed block is committed as written: older journals can go
            _forget_journal(objs, found[0])
    finally:
        lock.release()
    return new


def force_unlock(loc: OssState, lock_id: str) -> dict[str, Any]:
    """Revoke the lock ``lock_id`` and release it once its holder can no longer submit (it says it
    stopped, or one full lease passed on this machine's clock): safe against a live holder."""
    return _revoke(Objects(loc), lock_id)

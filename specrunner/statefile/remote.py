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

import threading
import uuid
from pathlib import Path
from typing import Any

from specrunner.core.errors import LockError, SpecrunnerError, StateError, StateWriteError
from specrunner.statefile import retired as retired_codec
from specrunner.statefile.doc import StateDoc, check_replaceable, decode_state, encode_state
from specrunner.statefile.lease import OssLock, acquire
from specrunner.statefile.lease import force_unlock as _revoke
from specrunner.statefile.leaseview import repair_hint
from specrunner.statefile.ossobjects import Moved, NotAppendable, Objects, OssState, line
from specrunner.statefile.remotejournal import (
    Journal,
    block,
    missing,
    parse_journal,
    wrote_journal,
)
from specrunner.statefile.state import StateStore

_line = line
SEAL_ATTEMPTS = 20  # a journal that keeps moving while it is sealed: someone else is writing to it


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
                if wrote_journal(objs, g):
                    if not repair:
                        raise missing(objs, g)
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
            empty = not self.doc.jobs and not self.doc.retired
            nothing = (self._committed is None and empty) or self._unchanged()
        if nothing:
            if self._broken is None and self._synced >= self._written:
                self._forget_replaced()  # this journal's header already carries all of them, durably
            return False
        with self._sync_lock:
            if self._broken is not None:
                raise self._dump_errored(self._broken)
            with self._lock:
                serial = self.doc.serial + 1
                doc = self.doc.copy()
                doc.serial = serial
                target = self._written
                pending = self._pending.take()
            data = encode_state(doc)
            self._push(pending + block({"commit": serial}, data))  # one append: lines, then the block
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
    data = block(header, j.block)
    committed = j.base
    base_jobs = committed.jobs if committed else {}
    data += retired_codec.difference(committed.retired if committed else {}, doc.retired)
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
    start = doc.copy()
    store = OssStore(objs, lock, start, committed, position, replaced)
    store.bytes_written = len(data)
    return store, data


def open_run(
    loc: OssState,
    operation: str,
    lock_timeout: float = 0.0,
    *,
    repair: bool = False,
    manifest: Path | None = None,
) -> tuple[OssLock, OssStore]:
    """Lock, fence the older generations, and start this generation's journal. ``manifest``: named in
    the hint of a "locked by" error, so that its force-unlock command works when pasted."""
    objs = Objects(loc)
    lock = acquire(objs, operation, timeout=lock_timeout, repair=repair, manifest=manifest)
    try:
        found = seal_below(objs, lock.gen, lock.previous, repair=repair)
        store, _ = _start(objs, lock, found)
    except BaseException:
        lock.release()
        raise
    return lock, store


def repair(loc: OssState, lock_timeout: float = 0.0, manifest: Path | None = None) -> dict[str, Any]:
    """``state repair``: take the lock above every generation found (a head or lock objects deleted
    by hand), read every journal as it is (a Normal object, a damaged one: its readable records),
    and commit the result as the new state. Keeps every job id that can be read."""
    objs = Objects(loc)
    lock = acquire(objs, "state repair", timeout=lock_timeout, repair=True, manifest=manifest)
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
            objs.append(loc.journal_key(lock.gen), 0, block(header, data))
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

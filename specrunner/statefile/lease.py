"""The lock of a remote state: a lease that holds without trusting any machine's wall clock.

Objects beside the state key ``K``:

``K.lock/<g>``        generation ``g``'s lock, created with ``x-oss-forbid-overwrite: true`` (one
                      creator per generation): {id, operation, who, pid, created, lease_seconds, ...}.
``K.lock/<g>.lease``  an *appendable* object: the holder's renewals (one line each), and the lines
                      others append to fence it (``lapsed``, ``revoked``), the holder's own
                      ``stopped`` (after a revocation) and ``released``.
``K.head``            a hint: the newest generation (checked: it must name an existing lock).

The rules, and why they give at most one sender at a time (see the README's "Exactly once"):

- **The holder's gate.** Before every Submit (after every wait: rate limiter, backoff, connection
  pool; immediately before the request is written) the holder checks that its last *confirmed*
  renewal was sent less than ``lease - margin`` ago, measured on ``CLOCK_BOOTTIME`` (keeps counting
  through suspend), and that nobody fenced it. ``margin`` is a quarter of the lease.
- **Takeover from observation only.** A waiter takes generation ``g + 1`` when ``g`` was released,
  stopped or marked lapsed, or when it has itself watched the lease object unchanged for a full lease
  on its own suspend-proof clock; it then appends ``lapsed`` at the exact length it watched (a renewal
  that landed meanwhile makes that append fail, and the waiting starts over). The holder's last
  renewal was sent before the first of those reads, so its gate closed at least ``margin`` before the
  takeover. Wall clocks only decide whether a waiter without ``--lock-timeout`` waits to confirm a
  lapse or fails at once.
- **force-unlock revokes, then waits.** It appends ``revoked`` (the holder's next renewal fails, so it
  stops and appends ``stopped`` once its in-flight Submits returned), then waits for that ``stopped``
  or for one full lease on its own clock, whichever comes first, before it marks the lock released.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specrunner import __version__
from specrunner.core import shellwords
from specrunner.core.errors import LeaseLost, LockError, SpecrunnerError
from specrunner.statefile.leaseview import (
    LEASE_FORMAT,
    MARGIN,
    LeaseView,
    clock,
    latest_generation,
    lease_seconds,
    now_iso,
    read_lock,
)
from specrunner.statefile.locking import who
from specrunner.statefile.ossobjects import Moved, NotAppendable, Objects, line

TICK = 0.2  # the holder's heartbeat: flush job ids, renew the lease when due
NOTE_EVERY = 10.0  # a waiting loop says what it waits for at least this often
WATCH_EVERY = 1.0  # the holder looks at its lease object this often: a revocation stops it at once


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------ holding a lock


@dataclass
class OssLock:
    """The lock of generation ``gen``, held by this process, renewed by a heartbeat thread."""

    objs: Objects
    gen: int
    info: dict[str, Any]
    lease: float
    stale_cleaned: dict[str, Any] | None = None
    previous: list[bytes | None] = field(default_factory=list)  # journal gen - 1, read during the create
    valid_until: float = 0.0  # on clock(): the send time of the last confirmed renewal + the lease
    position: int = 0  # the lease object's length after our last append
    lost: str | None = None  # why this holder may no longer submit
    revoked: bool = False
    journal: bool = False  # this holder started its journal (said in every renewal from then on)
    on_tick: Callable[[], None] | None = None
    in_flight: int = 0  # Submits past the gate and not yet returned
    _acked: bool = False
    _mu: threading.RLock = field(default_factory=threading.RLock)
    _renew_mu: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def margin(self) -> float:
        return self.lease * MARGIN

    def start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="state-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        next_renew = clock() + self.lease / 4
        next_look = clock() + WATCH_EVERY
        while not self._stop.wait(TICK):
            if self.lost is None and clock() >= next_look:  # fenced (force-unlock)? stop at once
                next_look = clock() + WATCH_EVERY
                try:
                    with self._renew_mu:  # not while our own renewal is under way
                        seen = self.objs.head(self.objs.loc.lease_key(self.gen))
                        if seen is None or seen.length != self.position or not seen.appendable:
                            self._fenced()
                except Exception:  # the renewal finds out too
                    pass
            if self.on_tick is not None:
                try:
                    self.on_tick()
                except Exception:  # the writer sees its own errors; the heartbeat goes on
                    pass
            if self.lost is None and clock() >= next_renew:
                try:
                    self.renew()
                    next_renew = clock() + self.lease / 4
                except Exception:  # retried soon; the gate closes by itself meanwhile
                    next_renew = clock() + min(1.0, self.lease / 8)
            if self.revoked:
                self._ack()

    def _renewal(self) -> bytes:
        rec: dict[str, Any] = {"seq": self.position, "expires_unix": round(time.time() + self.lease, 3)}
        if self.journal:
            rec["journal"] = True
        return line(rec)

    def renew(self) -> None:
        with self._renew_mu:
            if self.lost is not None:
                return
            sent = clock()
            try:
                self.position = self.objs.append(
                    self.objs.loc.lease_key(self.gen), self.position, self._renewal()
                )
            except (Moved, NotAppendable):
                self._fenced()
                return
            with self._mu:
                if self.lost is None:
                    self.valid_until = sent + self.lease

    def mark_journal(self) -> None:
        """Say in the lease that this generation's journal exists: from then on its absence is an
        error (deleted by hand), never a generation that simply never wrote."""
        self.journal = True
        try:
            self.renew()
        except SpecrunnerError:  # said again by the next renewal
            pass

    def _fenced(self) -> None:
        """Our renewal did not land: someone wrote to our lease object. Find out who."""
        view = read_lock(self.objs, self.gen)
        why = "its lease object was changed by another process"
        if view is not None and view.revoked is not None:
            r = view.revoked
            why = f"force-unlock by {r.get('who', '?')} revoked it"
            self.revoked = True
        elif view is not None and view.lapsed:
            why = "another run found its lease lapsed (this run was paused or cut off) and took over"
        self.lose(f"lost the lock on {self.objs.loc.url}: {why}")

    def lose(self, why: str) -> None:
        with self._mu:
            if self.lost is None:
                self.lost = why

    def check(self) -> None:
        """The gate: raise LeaseLost unless a Submit may leave now (``margin`` to spare)."""
        if self.lost is None and clock() >= self.valid_until - self.margin:
            self.lose(
                f"lost the lock on {self.objs.loc.url}: its lease ({self.lease:g} s) could not be "
                "confirmed in time (the run was paused, or OSS did not answer)"
            )
        if self.lost is not None:
            raise LeaseLost(self.lost, hint="rerun: the next run finds every job this one submitted")

    def enter(self) -> None:
        """The gate for one Submit about to be written: check, and count it in flight."""
        with self._mu:
            self.check()
            self.in_flight += 1

    def leave(self) -> None:
        with self._mu:
            self.in_flight -= 1
        if self.revoked:
            self._ack()

    def _ack(self) -> None:
        """After a revocation: once no Submit is in flight, say so (force-unlock waits for it)."""
        with self._mu:
            if self._acked or self.in_flight > 0:
                return
            self._acked = True
        key = self.objs.loc.lease_key(self.gen)
        for _ in range(3):
            got = self.objs.get_typed(key)
            if got is None:
                return
            try:
                self.objs.append(key, len(got[0]), line({"stopped": True, "at": now_iso()}))
                return
            except Moved:
                continue
            except (NotAppendable, SpecrunnerError):
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.lost is None:
            try:
                done = line({"released": True, "at": now_iso()})
                self.objs.append(self.objs.loc.lease_key(self.gen), self.position, done)
            except (Moved, NotAppendable, SpecrunnerError):  # fenced meanwhile, or OSS down: it lapses
                pass
        elif self.revoked:
            try:
                self._ack()
            except SpecrunnerError:
                pass
        self.lose("the lock was released")

    def __enter__(self) -> OssLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# ------------------------------------------------------------------------------------ taking a lock


class _Watch:
    """What a waiter has seen of one generation's lease, on its own clock."""

    def __init__(self) -> None:
        self.gen = -1
        self.sig: Any = None
        self.since = 0.0
        self.changed = False  # a renewal was seen: the holder is alive

    def see(self, view: LeaseView, now: float) -> float:
        """Record ``view``; returns how long the lease has been seen unchanged."""
        if view.gen != self.gen:
            self.gen, self.sig, self.since, self.changed = view.gen, view.signature, now, False
        elif view.signature != self.sig:
            self.sig, self.since, self.changed = view.signature, now, True
        return now - self.since


def force_unlock_command(url: str, lock_id: str, manifest: Path | None) -> str:
    """``specrunner force-unlock MANIFEST LOCK_ID --state URL`` that works when pasted (the state named
    by its URL, whatever the manifest's `state:` block says; MANIFEST left to fill in when unknown)."""
    m = shellwords.path(manifest) if manifest is not None else "MANIFEST"
    return f"specrunner force-unlock {m} {shellwords.quote(lock_id)} --state {shellwords.quote(url)}"


def acquire(
    objs: Objects,
    operation: str,
    *,
    timeout: float = 0.0,
    repair: bool = False,
    notify: Callable[[str], None] = _stderr,
    manifest: Path | None = None,
) -> OssLock:
    """Take generation g + 1 once generation g is takeable (see the module docstring); exactly one of
    any number of racing callers creates it. Raises LockError naming the holder."""
    loc = objs.loc
    lease = lease_seconds()
    started = clock()
    deadline = started + max(0.0, timeout)
    noted = started
    g = latest_generation(objs, repair=repair)
    watch = _Watch()
    view: LeaseView | None = None
    watched: float | None = None  # how long this waiter saw the lease unchanged before taking over
    said = False
    while True:
        view = read_lock(objs, g)
        if view is not None and not view.takeable:
            now = clock()
            unchanged = watch.see(view, now)
            if unchanged < view.lease:
                # Not seen lapsing (yet). The wall clock only says whether to wait to find out.
                expired = time.time() >= view.expires
                confirming = expired and not watch.changed
                if now >= deadline and not confirming:
                    renewed = (
                        f"; this runner saw it renew {now - watch.since:.0f} s ago" if watch.changed else ""
                    )
                    skew = (
                        " (its lease looks expired by this machine's clock, yet it renews: the two "
                        "clocks disagree)"
                        if expired and watch.changed
                        else ""
                    )
                    raise LockError(
                        f"the state {loc.url} is locked by {view.describe()}{renewed}{skew}",
                        hint="wait for that run to finish, or retry with --lock-timeout 5m; a holder "
                        "that is gone stops blocking one lease after its last renewal; "
                        f"`{force_unlock_command(loc.url, str(view.info.get('id', 'LOCK_ID')), manifest)}` "
                        "stops a live holder safely (it waits until the holder can no longer submit)",
                    )
                if not said or now - noted >= NOTE_EVERY:  # at once, then every NOTE_EVERY seconds
                    said, noted = True, now
                    left = view.lease - unchanged
                    notify(
                        f"note: waiting for the lock held by {view.describe()}, on {loc.url}: "
                        f"taken over if its lease stays unrenewed {left:.0f} s more"
                    )
                time.sleep(min(1.0, max(0.05, view.lease / 8)))
                while objs.exists(loc.lock_key(g + 1)):  # someone else took over meanwhile
                    g += 1
                continue
            # Seen unchanged for a full lease: its holder's gate closed a margin ago. Fence it: a
            # renewal that lands meanwhile makes this append fail, and the watch starts over.
            watched = round(unchanged, 1)
            if view.data is not None and view.kind == "Appendable":
                try:
                    objs.append(
                        loc.lease_key(g),
                        len(view.data),
                        line({"lapsed": True, "seen_unchanged_s": round(unchanged, 1), "by": who()}),
                    )
                except Moved:
                    watched = None
                    continue
                except NotAppendable:
                    pass
            elif view.data is None:
                try:  # a holder that never started its lease: it never will
                    objs.append(loc.lease_key(g), 0, line({"lapsed": True, "by": who()}))
                except Moved:
                    watched = None
                    continue
                except NotAppendable:
                    pass
        lock = _create(objs, g, operation, lease)
        if lock is None:  # another waiter won generation g + 1
            g += 1
            while objs.exists(loc.lock_key(g + 1)):
                g += 1
            continue
        break
    stale = view.info if view is not None and not view.released else None
    if stale is not None and watched is not None:
        stale = {**stale, "unrenewed_s": watched}
    lock.stale_cleaned = stale
    return lock


def _create(objs: Objects, g: int, operation: str, lease: float) -> OssLock | None:
    loc = objs.loc
    expires = time.time() + lease
    info = {
        "id": str(uuid.uuid4()),
        "operation": operation,
        "who": who(),
        "pid": os.getpid(),
        "created": now_iso(),
        "version": __version__,
        "generation": g + 1,
        "lease_seconds": lease,
        "lease_format": LEASE_FORMAT,
        "margin_seconds": lease * MARGIN,
        "expires": now_iso(expires),
        "expires_unix": round(expires, 3),
    }
    sent = clock()
    previous: list[bytes | None] = []  # read at the same time: the first thing a new holder needs

    def read_previous() -> None:
        try:
            previous.append(objs.get(loc.journal_key(g)))
        except SpecrunnerError:  # read again after the create
            pass

    reader = threading.Thread(target=read_previous, daemon=True)
    if g > 0:
        reader.start()
    try:
        created = objs.create(loc.lock_key(g + 1), line(info))
    finally:
        if g > 0:
            reader.join()
    if not created:
        return None
    lock = OssLock(objs, g + 1, info, lease, previous=previous, valid_until=sent + lease)
    try:
        lock.position = objs.append(loc.lease_key(g + 1), 0, lock._renewal())
    except (Moved, NotAppendable):
        lock.lose(f"lost the lock on {loc.url} before starting (its lease was fenced)")
        raise LockError(f"lost the lock on {loc.url} before starting: rerun") from None

    def hint() -> None:
        try:
            objs.put(loc.head_key, str(lock.gen).encode())
        except SpecrunnerError:  # only a hint
            pass

    threading.Thread(target=hint, name="state-hint", daemon=True).start()
    lock.start()
    return lock


def force_unlock(objs: Objects, lock_id: str, *, notify: Callable[[str], None] = _stderr) -> dict[str, Any]:
    """Revoke the lock ``lock_id`` and mark it released once its holder can no longer submit: when
    the holder says it stopped, or after one full lease of this process's own clock."""
    loc = objs.loc
    g = latest_generation(objs)
    view = read_lock(objs, g)
    if view is None or view.takeable:
        raise LockError(f"the state {loc.url} is not locked")
    if view.info.get("id") != lock_id:
        raise LockError(
            f"lock id {lock_id!r} does not match the current lock {view.info.get('id')!r}",
            hint="copy the id from the error that names the holder",
        )
    seen = clock()  # the holder's newest renewal was sent before this read
    for _ in range(20):
        if view.kind != "Appendable" or view.data is None:
            break  # an older version's lease or none yet: wait out the lease below
        try:
            objs.append(
                loc.lease_key(g),
                len(view.data),
                line({"revoked": True, "who": who(), "pid": os.getpid(), "at": now_iso()}),
            )
            break
        except Moved:  # it renewed just now
            view = read_lock(objs, g) or view
            seen = clock()
        except NotAppendable:
            break
    else:
        raise LockError(f"could not revoke the lock on {loc.url}: its lease changed 20 times in a row")
    until = seen + view.lease
    notify(
        f"note: revoked the lock of {view.describe()}; waiting until it can no longer submit: "
        f"it says it stopped, or its lease ({view.lease:g} s) runs out on this machine's clock"
    )
    noted = clock()
    while clock() < until:
        cur = read_lock(objs, g)
        if cur is None or cur.stopped or cur.released:
            break
        if clock() - noted >= NOTE_EVERY:
            noted = clock()
            notify(f"note: still waiting for the holder to stop ({until - noted:.0f} s at most)")
        time.sleep(min(1.0, max(0.05, until - clock())))
    for _ in range(20):
        got = objs.get_typed(loc.lease_key(g))
        try:
            objs.append(loc.lease_key(g), len(got[0]) if got else 0, line({"released": True, "by": who()}))
            break
        except Moved:
            continue
        except NotAppendable:
            objs.put(loc.lease_key(g), line({"released": True, "by": who()}))
            break
    return view.info

"""The remote lock's rules against the emulator's OSS API over real HTTP (oss2): the gate before each
Submit, takeover from observation only (never from a wall clock), bounded loops, and damaged or
hand-edited states refused with `state repair` as the way out, which keeps every job id."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oss2
import pytest

from specrunner.apply.executor import Executor, Options
from specrunner.apply.ratelimit import RetryPolicy, TokenBucket
from specrunner.core.errors import LeaseLost, LockError, StateError
from specrunner.core.plan import Change, Plan
from specrunner.core.record import LockEntry
from specrunner.emulator.server import Emulator
from specrunner.statefile import lease, leaseview
from specrunner.statefile.doc import new_state
from specrunner.statefile.lease import acquire
from specrunner.statefile.ossobjects import Objects, OssState
from specrunner.statefile.remote import open_run, repair
from specrunner.statefile.remotejournal import read_remote
from specrunner.statefile.state import StateStore
from specrunner.testing.crash import AK, SECRET, manifest
from tests.fakes import FakeBackend
from tests.helpers import state_emulator
from tests.records import entry

BUCKET = "team-state"
LOC = OssState(BUCKET, "ci/m.lock.json", "oss-cn-hangzhou")


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with state_emulator(tmp_path / "oss", BUCKET, monkeypatch, lease="2") as e:
        yield e


def bucket(emu: Emulator) -> Any:
    return oss2.Bucket(oss2.Auth(AK, SECRET), emu.url, BUCKET)


def rec(job_id: str | None = None, tag: str | None = None) -> LockEntry:
    r: dict[str, Any] = {"fingerprint": "f", "mode": "sync"}
    if job_id:
        r.update(state="Success", job_id=job_id)
    else:
        r["intent"] = {"tag": tag or "sr-0000000000000001", "since": "2026-01-01T00:00:00Z"}
    return entry(r)


def seeded(n: int = 3) -> int:
    """A state with ``n`` jobs and a run that journaled more and died (its journal not committed).

    The runs here hold the shortest lease allowed (1 s; nothing races them, and their appends are
    fenced by position, not by the lease), so the next holder waits one second for the dead one."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(leaseview.LEASE_ENV, "1")
        lock, store = open_run(LOC, "apply")
        for i in range(n):
            store.put(f"a{i}::r", rec(f"J{i}"), durable=True)
        store.commit()
        lock.release()
        lock, store = open_run(LOC, "apply")
        store.put("b::r", rec(tag="sr-00000000000000bb"), durable=True)
        store.put("c::r", rec("JC"), durable=True)
        store.close()
        lock._stop.set()  # dies without releasing: the next holder waits one lease
        lock.lose("killed")
    return lock.gen


# ------------------------------------------------------------------------------------ the gate


class _GatedStore(StateStore):
    """A local store whose lease is lost while a submitter sleeps on the rate limiter."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, new_state(), None)
        self.gone = False
        self.in_flight = 0

    def before_submit(self) -> None:
        if self.gone:
            raise LeaseLost("lost the lock: paused past the lease")
        self.in_flight += 1

    def submitted(self) -> None:
        self.in_flight -= 1

    def lost(self) -> str | None:
        return "paused" if self.gone else None


def test_the_gate_runs_after_the_rate_limiter_wait_not_before(tmp_path: Path) -> None:
    """A holder frozen while its threads wait on the Submit rate limiter sends nothing on waking."""
    from specrunner.core.jobs import expand
    from specrunner.validate.manifest import load_manifest

    m = tmp_path / "m.yaml"
    m.write_text(manifest(6))
    jobs = [j for j in expand(load_manifest(m)) if j.key.endswith("::poster")]
    store = _GatedStore(tmp_path / "m.lock.json")
    slept: list[float] = []

    def pause(seconds: float) -> None:  # the wait on the limiter: the lease lapses meanwhile
        slept.append(seconds)
        store.gone = True

    bucket = TokenBucket(1.0, burst=2, sleep=pause)
    backend = FakeBackend()
    ex = Executor(
        backend,
        store,
        Options(parallelism=1, wait=False, timeout=None, retry=RetryPolicy(zero_wait=True)),
        submit_bucket=bucket,
    )
    plan = Plan([Change(j.key, "create", "new", j.mode, j) for j in jobs])
    summary = ex.run(plan)
    assert slept, "the limiter made a submitter wait"
    assert len(backend.submits) == 2  # the burst went out before the pause; nothing after it
    assert isinstance(ex.lease_lost, LeaseLost)
    assert store.in_flight == 0
    assert sum(1 for r in summary.results.values() if r.job_id) == 2


def test_the_gate_is_checked_on_the_sdk_path_after_the_connection_and_nothing_is_sent(
    emu: Emulator,
) -> None:
    from specrunner.backends import open_backend
    from specrunner.core.jobs import expand
    from specrunner.validate.manifest import load_manifest

    folder = Path(emu.root).parent / "m"
    folder.mkdir()
    (folder / "m.yaml").write_text(manifest(1))
    loaded = load_manifest(folder / "m.yaml")
    backend = open_backend(loaded)
    request = next(iter(expand(loaded))).request

    def shut() -> None:
        raise LeaseLost("lost the lock")

    try:
        with pytest.raises(LeaseLost):
            backend.submit(request, "sr-0123456789abcdef", shut)
        assert not [r for r in emu.requests() if r["action"] == "SubmitSnapshotJob"]
        job = backend.submit(request, "sr-0123456789abcdef", lambda: None)  # the connection is fine
        assert job.id
    finally:
        backend.close()


# ------------------------------------------------------------------------------------ takeover


def test_a_live_holder_whose_clock_says_expired_is_never_taken_over(emu: Emulator) -> None:
    """The holder's own expiry, on its wall clock, is 100 s in the past to the waiter (skew): the
    waiter watches, sees renewals, and refuses; it takes over only once renewals stop."""
    lock, store = open_run(LOC, "apply")
    orig = lock._renewal

    def skewed() -> bytes:
        r = json.loads(orig())
        r["expires_unix"] -= 100.0
        return (json.dumps(r) + "\n").encode()

    lock._renewal = skewed  # type: ignore[method-assign]
    lock.renew()
    started = time.monotonic()
    with pytest.raises(LockError, match="clocks disagree"):
        acquire(Objects(LOC), "apply", timeout=3.0)
    assert time.monotonic() - started >= 3.0
    store.before_submit()  # still the holder: nothing took its lock
    store.submitted()
    lock._stop.set()  # now it stops renewing (frozen): taken over one lease later
    assert lock._thread is not None
    lock._thread.join()
    t0 = time.monotonic()
    new = acquire(Objects(LOC), "apply", timeout=10.0)
    assert new.gen == lock.gen + 1 and time.monotonic() - t0 >= 2.0 * 0.9
    with pytest.raises(LeaseLost):  # the frozen holder wakes up: its gate is shut
        store.before_submit()
    from specrunner.statefile.ossobjects import Moved

    with pytest.raises(Moved):  # a late renewal is fenced off too
        Objects(LOC).append(LOC.lease_key(lock.gen), lock.position, b'{"seq":99}\n')
    new.release()


def test_a_waiter_without_lock_timeout_confirms_a_dead_holder_by_watching(emu: Emulator) -> None:
    lock, _ = open_run(LOC, "apply")
    lock._stop.set()  # killed: no more renewals, never released
    assert lock._thread is not None
    lock._thread.join()
    time.sleep(2.2)  # its lease has expired by every clock
    notes: list[str] = []
    t0 = time.monotonic()
    new = acquire(Objects(LOC), "apply", timeout=0.0, notify=notes.append)
    waited = time.monotonic() - t0
    assert 1.8 <= waited < 6.0, waited  # one lease of its own observation, no more
    # The words of the local lock's line, so one grep finds both: who holds it, then where.
    assert notes and "waiting for the lock held by apply (lock id " in notes[0], notes
    assert new.stale_cleaned is not None
    new.release()
    lock2 = acquire(Objects(LOC), "apply")  # released: taken at once
    lock2.release()


# ------------------------------------------------------------------------------------ damage


@pytest.mark.parametrize("head", ["-1", "3000", "99999999", "abc", "", "1e3"])
def test_an_implausible_head_is_an_error_in_few_requests_and_repair_keeps_the_jobs(
    emu: Emulator, head: str
) -> None:
    seeded()
    bucket(emu).put_object("ci/m.lock.json.head", head.encode())
    objs = Objects(LOC)
    with pytest.raises(StateError, match=r"m\.lock\.json\.head.*names no lock") as e:
        acquire(objs, "apply", timeout=5)
    assert "state repair" in (e.value.hint or "")
    assert objs.requests < 10
    got = repair(LOC, lock_timeout=5)
    assert got["job_ids"] == 4
    doc = read_remote(LOC)
    assert doc is not None and {"a0::r", "a1::r", "a2::r", "b::r", "c::r"} <= set(doc.jobs)


def test_deleted_lock_objects_and_head_are_an_error_never_a_new_lineage(emu: Emulator) -> None:
    seeded()
    before = read_remote(LOC)
    assert before is not None
    b = bucket(emu)
    for o in oss2.ObjectIteratorV2(b, prefix="ci/m.lock.json.lock/"):
        b.delete_object(o.key)
    b.delete_object("ci/m.lock.json.head")
    with pytest.raises(StateError, match=r"journal .* exists but no lock") as e:
        open_run(LOC, "apply", 5)
    assert "state repair" in (e.value.hint or "")
    with pytest.raises(StateError):
        read_remote(LOC)  # plan refuses too
    repair(LOC, lock_timeout=5)
    after = read_remote(LOC)
    assert after is not None and after.lineage == before.lineage and after.jobs == before.jobs


def test_a_journal_restored_as_a_normal_object_stops_at_once_and_repair_reads_it(emu: Emulator) -> None:
    gen = seeded()
    b = bucket(emu)
    key = LOC.journal_key(gen)
    data = b.get_object(key).read()
    b.delete_object(key)
    b.put_object(key, data)  # what a copy tool does
    assert b.head_object(key).object_type == "Normal"
    objs = Objects(LOC)
    lk = acquire(objs, "apply", timeout=10)
    from specrunner.statefile.remote import seal_below

    with pytest.raises(StateError, match="Normal object") as e:
        seal_below(objs, lk.gen)
    lk.release()
    assert "state repair" in (e.value.hint or "")
    assert objs.requests < 40
    repair(LOC, lock_timeout=10)
    doc = read_remote(LOC)
    assert doc is not None and doc.jobs["c::r"].job_id == "JC" and doc.jobs["b::r"].intent


def test_a_damaged_journal_names_the_byte_and_repair_keeps_every_readable_record(
    emu: Emulator, tmp_path: Path
) -> None:
    gen = seeded()
    path = tmp_path / "oss" / BUCKET / LOC.journal_key(gen)
    data = path.read_bytes()
    pos = data.index(b'"key":"b::r"')
    path.write_bytes(data[:pos] + b"\x00\x01garbage" + data[pos + 9 :])  # same length, still appendable
    with pytest.raises(StateError, match="at byte") as e:
        read_remote(LOC)
    hint = e.value.hint or ""
    assert "state repair" in hint and "move" not in hint.split("Do not")[0]
    assert "passes over 1 unreadable" in hint
    got = repair(LOC, lock_timeout=10)
    assert got["skipped"] == 1
    doc = read_remote(LOC)
    assert doc is not None and doc.jobs["c::r"].job_id == "JC" and "b::r" not in doc.jobs


def test_a_journal_deleted_by_hand_is_missed_not_skipped(emu: Emulator) -> None:
    gen = seeded()
    bucket(emu).delete_object(LOC.journal_key(gen))
    with pytest.raises(StateError, match="is missing, although its run wrote it"):
        read_remote(LOC)


def test_older_journals_are_kept_until_a_newer_state_is_committed(emu: Emulator) -> None:
    gen = seeded()
    b = bucket(emu)
    lock, store = open_run(LOC, "apply", 10)
    assert b.object_exists(LOC.journal_key(gen))  # replayed, not yet committed over: kept
    store.commit()
    deadline = time.monotonic() + 5
    while b.object_exists(LOC.journal_key(gen)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not b.object_exists(LOC.journal_key(gen))
    lock.release()


def test_force_unlock_of_a_frozen_holder_waits_one_lease_on_its_own_clock(emu: Emulator) -> None:
    lock, store = open_run(LOC, "apply")
    lock._stop.set()  # frozen: neither renews nor answers
    assert lock._thread is not None
    lock._thread.join()
    notes: list[str] = []
    t0 = time.monotonic()
    lease.force_unlock(Objects(LOC), lock.info["id"], notify=notes.append)
    assert 1.8 <= time.monotonic() - t0 < 6.0
    assert any("revoked" in n for n in notes)
    with pytest.raises(LeaseLost):
        store.before_submit()  # woken up later: its gate is shut
    new = acquire(Objects(LOC), "apply")  # released: taken at once
    new.release()


def test_ten_runners_after_a_force_unlock_one_wins(emu: Emulator) -> None:
    lock, _ = open_run(LOC, "apply")
    lease.force_unlock(Objects(LOC), lock.info["id"], notify=lambda _: None)
    winners: list[Any] = []
    start = threading.Barrier(10)

    def go() -> None:
        objs = Objects(LOC)
        start.wait()
        try:
            winners.append(acquire(objs, "apply"))
        except LockError:
            pass

    ts = [threading.Thread(target=go) for _ in range(10)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(winners) == 1
    winners[0].release()
    lock.release()

"""Remote state in OSS, against the emulator's OSS object API over real HTTP (oss2, signature V1):
the lock (create-if-absent, lease, exactly one winner among racing waiters, fencing of a paused
holder), every state command on oss://B/K, pull/push byte-identical, two runners on one state,
a SIGKILLed holder, and the crash harness on ephemeral runners."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import oss2
import pytest

from specrunner.core.errors import LockError, StateWriteError
from specrunner.emulator.server import Emulator
from specrunner.statefile.lease import acquire
from specrunner.statefile.leaseview import read_lock
from specrunner.statefile.ossobjects import Objects, OssState
from specrunner.statefile.remote import open_run
from specrunner.statefile.remotejournal import read_remote
from specrunner.testing.crash import AK, SECRET, Figures, _env, manifest, run
from tests.helpers import cli_run, state_emulator
from tests.records import entry

BUCKET = "team-state"
LOC = OssState(BUCKET, "ci/m.lock.json", "oss-cn-hangzhou")
STATE_BLOCK = f"state: {{backend: oss, bucket: {BUCKET}, key: ci/m.lock.json, location: oss-cn-hangzhou}}\n"


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with state_emulator(tmp_path / "oss", BUCKET, monkeypatch) as e:
        yield e


def remote_manifest(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "m.yaml"
    path.write_text(manifest(n).replace("inputs:\n", STATE_BLOCK + "inputs:\n", 1))
    return path


# ------------------------------------------------------------------------------------ the emulator


def test_emulator_serves_the_object_api_the_state_needs(emu: Emulator) -> None:
    b = oss2.Bucket(oss2.Auth(AK, SECRET), emu.url, BUCKET)
    b.put_object("k", b"one", headers={"x-oss-forbid-overwrite": "true"})
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.put_object("k", b"two", headers={"x-oss-forbid-overwrite": "true"})
    assert (e.value.status, e.value.code) == (409, "FileAlreadyExists")
    assert b.get_object("k").read() == b"one"
    assert b.append_object("j", 0, b"ab").next_position == 2
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.append_object("j", 0, b"cd")  # a racer at the same position loses
    assert e.value.code == "PositionNotEqualToLength"
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.append_object("k", 3, b"x")
    assert e.value.code == "ObjectNotAppendable"
    assert b.head_object("j").object_type == "Appendable"
    b.delete_object("j")
    assert not b.object_exists("j")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        oss2.Bucket(oss2.Auth(AK, "wrong"), emu.url, BUCKET).get_object("k")
    assert e.value.code == "SignatureDoesNotMatch"
    actions = [r["action"] for r in emu.requests()]
    assert actions[:3] == ["PutObject", "PutObject", "GetObject"] and "AppendObject" in actions


def test_emulator_oss_faults_apply_to_object_calls(emu: Emulator) -> None:
    emu.faults.oss_error_rate = 1.0
    b = oss2.Bucket(oss2.Auth(AK, SECRET), emu.url, BUCKET)
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.put_object("k", b"x")
    assert e.value.status == 503
    emu.faults.oss_error_rate, emu.faults.oss_drop_rate = 0.0, 1.0
    with pytest.raises(oss2.exceptions.RequestError):
        b.put_object("k", b"x")  # done, answer dropped
    emu.faults.oss_drop_rate = 0.0
    assert b.get_object("k").read() == b"x"
    assert any(r.get("dropped") and r["action"] == "PutObject" for r in emu.requests())


# ------------------------------------------------------------------------------------ commands


def test_every_state_command_works_on_oss_and_pull_push_round_trips_bytes(
    emu: Emulator, tmp_path: Path
) -> None:
    m = remote_manifest(tmp_path / "runner")
    cli_run("apply", m, "-q", "--auto-approve", code=0)
    assert not list((tmp_path / "runner").glob("*.lock.json*"))  # nothing local
    out = cli_run("show", m, code=0)
    assert "6 jobs (6 Success)" in out.output  # type: ignore[attr-defined]
    assert "No changes" in cli_run("plan", m, code=0).output  # type: ignore[attr-defined]
    # local -> OSS -> local, byte for byte
    local = tmp_path / "local" / "m.yaml"
    local.parent.mkdir()
    local.write_text(manifest(3))
    cli_run("apply", local, "-q", "--auto-approve", code=0)
    original = (tmp_path / "local" / "m.lock.json").read_bytes()
    other = OssState(BUCKET, "moved/m.lock.json")
    cli_run("state", "push", local, local.with_name("m.lock.json"), "--state", other.url, code=0)
    pulled = cli_run("state", "pull", local, "--state", other.url, code=0).stdout_bytes  # type: ignore
    assert pulled == original
    back = tmp_path / "back.lock.json"
    back.write_bytes(pulled)
    cli_run("state", "push", local, back, "--state", str(tmp_path / "new.lock.json"), code=0)
    assert (tmp_path / "new.lock.json").read_bytes() == original
    # another lineage, or an older serial: refused unless --force
    res = cli_run("state", "push", m, local.with_name("m.lock.json"), code=1)
    assert "another state" in res.output  # type: ignore[attr-defined]
    cli_run("state", "push", m, local.with_name("m.lock.json"), "--force", code=0)
    doc = json.loads(original)
    doc["serial"] = 0
    older = tmp_path / "older.json"
    older.write_text(json.dumps(doc))
    assert "older" in cli_run("state", "push", m, older, code=1).output  # type: ignore[attr-defined]
    # state rm / list / refresh / retry on the remote state
    cli_run("state", "rm", m, "v/000.mp4::poster", code=0)
    assert "v/000.mp4::poster" not in cli_run("state", "list", m, code=0).output  # type: ignore
    cli_run("refresh", m, code=0)
    cli_run("retry", m, "-q", code=0)
    res = cli_run("apply", m, "-q", "--auto-approve", code=0)
    assert "1 created" in res.output  # type: ignore[attr-defined]


def test_state_url_without_a_location_says_what_to_add(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = tmp_path / "m.yaml"
    m.write_text(manifest(1).replace("defaults: {location: oss-cn-shanghai, ", "defaults: {"))
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    res = cli_run("show", m, "--state", "oss://b-1/k")
    assert res.exit_code == 1  # type: ignore[attr-defined]
    assert "no OSS location" in res.output  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------ the lock


def test_ten_waiters_racing_for_an_expired_lock_exactly_one_wins_and_the_old_holder_is_fenced(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECRUNNER_LOCK_LEASE", "1")
    old_lock, old = open_run(LOC, "apply")
    old.put("a::r", entry(fingerprint="f", mode="sync", state="Success", job_id="J1"), durable=True)
    # The old holder is paused: no renewals (and its own clock check is passed, as if it paused right
    # after checking), until its lease has expired.
    old_lock._stop.set()
    assert old_lock._thread is not None
    old_lock._thread.join()
    old_lock.valid_until = float("inf")
    view = read_lock(Objects(LOC), old_lock.gen)
    assert view is not None
    time.sleep(max(0.0, view.expires - time.time()) + 0.1)

    winners: list[object] = []
    losers: list[str] = []
    start = threading.Barrier(10)

    def waiter() -> None:
        objs = Objects(LOC)
        start.wait()
        try:
            winners.append(acquire(objs, "apply"))
        except LockError as e:
            losers.append(str(e))

    threads = [threading.Thread(target=waiter) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(losers) == 9, losers
    assert all("locked by apply" in m and "lease expires at" in m for m in losers)
    winner = winners[0]
    assert winner.gen == old_lock.gen + 1  # type: ignore[attr-defined]
    winner.release()  # type: ignore[attr-defined]

    new_lock, new = open_run(LOC, "apply")  # seals the older journals, reads the state
    assert new.get("a::r") is not None  # what the old holder journaled is kept
    # The old holder wakes up: it can neither journal an intent nor commit over the new holder.
    with pytest.raises(StateWriteError, match="took over"):
        old.put(
            "b::r",
            entry(
                {"fingerprint": "f", "mode": "sync", "intent": {"tag": "t", "since": "2026-01-01T00:00:00Z"}}
            ),
            durable=True,
        )
    with pytest.raises(StateWriteError):
        old.before_submit()
    with pytest.raises(StateWriteError):
        old.commit()
    new.put("c::r", entry(fingerprint="f", mode="sync", state="Success", job_id="J3"), durable=True)
    new.commit()
    new_lock.release()
    doc = read_remote(LOC)
    assert doc is not None and sorted(doc.jobs) == ["a::r", "c::r"]


def test_a_holder_that_cannot_renew_stops_submitting_before_its_lease_ends(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECRUNNER_LOCK_LEASE", "1")
    lock, store = open_run(LOC, "apply")
    store.before_submit()  # held and renewed
    emu.faults.oss_error_rate = 1.0  # OSS unreachable: no renewal succeeds
    deadline = time.monotonic() + 5
    with pytest.raises(StateWriteError, match="could not be confirmed"):
        while time.monotonic() < deadline:
            store.before_submit()
            time.sleep(0.05)
    emu.faults.oss_error_rate = 0.0
    lock.release()


# ------------------------------------------------------------------------------------ runners


def _popen(cwd: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "specrunner", *args],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_two_runners_on_one_remote_state_exactly_one_applies(tmp_path: Path) -> None:
    (tmp_path / "oss" / BUCKET).mkdir(parents=True)
    with Emulator(tmp_path / "oss", {AK: SECRET}, simulate=True, simulate_seconds=3, latency_ms=10) as e:
        env = {**_env(e.url), "SPECRUNNER_OSS_ENDPOINT": e.url}
        a, b = remote_manifest(tmp_path / "a", 4), remote_manifest(tmp_path / "b", 4)
        procs = [
            _popen(a.parent, env, "apply", "m.yaml", "-q", "--auto-approve"),
            _popen(b.parent, env, "apply", "m.yaml", "-q", "--auto-approve"),
        ]
        results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
        codes = sorted(r[0] for r in results)
        assert codes == [0, 1], results
        loser = next(r for r in results if r[0] == 1)
        assert "is locked by apply" in loser[2] and "lease expires at" in loser[2] and "@" in loser[2]
        submits = [r for r in e.requests() if r["action"] == "SubmitSnapshotJob"]
        assert len(submits) == 8  # one runner's jobs, once
        # with --lock-timeout the second one waits, then finds nothing to do
        procs = [
            _popen(a.parent, env, "apply", "m.yaml", "-q", "--auto-approve", "--lock-timeout", "60"),
            _popen(b.parent, env, "apply", "m.yaml", "-q", "--auto-approve", "--lock-timeout", "60"),
        ]
        assert [p.wait(timeout=120) for p in procs] == [0, 0]
        assert len([r for r in e.requests() if r["action"] == "SubmitSnapshotJob"]) == 8


@pytest.mark.slow
def test_a_sigkilled_holder_blocks_the_next_runner_for_one_lease_of_watching(tmp_path: Path) -> None:
    (tmp_path / "oss" / BUCKET).mkdir(parents=True)
    lease = 3.0
    with Emulator(tmp_path / "oss", {AK: SECRET}, simulate=True, simulate_seconds=30, latency_ms=10) as e:
        env = {**_env(e.url), "SPECRUNNER_OSS_ENDPOINT": e.url, "SPECRUNNER_LOCK_LEASE": str(lease)}
        first = remote_manifest(tmp_path / "first", 2)
        proc = _popen(first.parent, env, "apply", "m.yaml", "-q", "--auto-approve")
        lock_dir = tmp_path / "oss" / BUCKET / "ci" / "m.lock.json.lock"
        deadline = time.monotonic() + 60
        while not (lock_dir.is_dir() and any(lock_dir.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # it is submitting and waiting on its async jobs now
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at = time.time()
        second = remote_manifest(tmp_path / "second", 2)
        res = subprocess.run(
            [sys.executable, "-m", "specrunner", "apply", "m.yaml", "-q", "--auto-approve"],
            cwd=second.parent,
            env=env,
            text=True,
            capture_output=True,
        )
        if time.time() - killed_at < lease:  # still within the dead holder's lease: refused, named
            assert res.returncode == 1 and "lease expires at" in res.stderr, res.stderr
        # past the lease, without any --lock-timeout, the lock is taken over
        time.sleep(max(0.0, killed_at + lease + 0.5 - time.time()))
        res = subprocess.run(
            [sys.executable, "-m", "specrunner", "apply", "m.yaml", "-q", "--auto-approve", "--no-wait"],
            cwd=second.parent,
            env=env,
            text=True,
            capture_output=True,
        )
        assert res.returncode in (0, 4), res.stderr
        # taken over once this runner itself watched the dead holder's lease stay unrenewed for a lease
        assert "took over the lock of" in res.stderr and "stayed unrenewed" in res.stderr, res.stderr
        assert "waiting for the lock" in res.stderr  # it said what it waited for
        submits = [r for r in e.requests() if r["action"] == "SubmitSnapshotJob"]
        keys = [(r["params"]["Input"], r["params"]["SnapshotConfig"]) for r in submits if r.get("job_id")]
        assert len(keys) == len(set(keys)) == 4  # nothing submitted twice


@pytest.mark.slow
@pytest.mark.timeout(300)  # about 90 s alone on two cores
def test_crash_harness_on_ephemeral_runners_with_state_in_oss(tmp_path: Path) -> None:
    total = Figures()
    seed = 200
    while total.kills < 20:
        fig = run(tmp_path / f"seed{seed}", kills=8, seed=seed, n_inputs=150, latency_ms=20, remote=True)
        assert fig.finished
        assert fig.created == fig.jobs, fig
        assert (fig.duplicates, fig.lost, fig.corrupt) == (0, 0, 0), fig
        for k in ("kills", "runs", "created", "duplicates", "lost", "corrupt"):
            setattr(total, k, getattr(total, k) + getattr(fig, k))
        seed += 1
    print(
        f"\nremote crash harness: {total.kills} kills, {total.runs} runs, {total.duplicates} duplicates, "
        f"{total.lost} lost job ids, {total.corrupt} unreadable states"
    )


def test_every_submit_follows_its_intent_durable_in_oss(tmp_path: Path) -> None:
    """From the emulator's journal: the append that carried a job's intent (its tag) had been answered
    before that job's Submit arrived, even with intents written ahead in batches."""
    import re
    from datetime import datetime

    (tmp_path / "oss" / BUCKET).mkdir(parents=True)
    with Emulator(tmp_path / "oss", {AK: SECRET}, simulate=True, latency_ms=5) as e:
        env = {**_env(e.url), "SPECRUNNER_OSS_ENDPOINT": e.url}
        m = remote_manifest(tmp_path / "runner", 15)
        res = subprocess.run(
            [sys.executable, "-m", "specrunner", "apply", "m.yaml", "-q", "--auto-approve", "-p", "4"],
            cwd=m.parent,
            env=env,
            text=True,
            capture_output=True,
        )
        assert res.returncode == 0, res.stderr
        entries = e.requests()
    journal = (tmp_path / "oss" / BUCKET / "ci" / "m.lock.json.journal" / f"{1:012d}").read_bytes()

    def t(entry: dict[str, object], end: bool = False) -> float:
        start = datetime.strptime(str(entry["ts"]), "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
        return start + (float(entry["ms"]) / 1000 if end else 0.0)  # type: ignore[arg-type]

    appends = sorted(
        (int(x["params"]["position"]), x)
        for x in entries  # type: ignore[index]
        if x["action"] == "AppendObject"
        and x["status"] == 200
        and str(x["params"]["key"]).endswith(f"{1:012d}")
    )  # type: ignore[index]
    submits = [x for x in entries if x["action"] == "SubmitSnapshotJob"]
    assert len(submits) == 30
    for s in submits:
        tag = re.search(r"sr-[0-9a-f]{16}", str(s["user_data"]))
        assert tag is not None
        offset = journal.find(tag.group(0).encode())
        assert offset > 0
        carrier = [a for pos, a in appends if pos <= offset][-1]
        assert t(carrier, end=True) <= t(s), (carrier, s)


def test_force_unlock_of_a_live_holder_revokes_it_and_waits_until_it_stopped(
    emu: Emulator, tmp_path: Path
) -> None:
    lock, store = open_run(LOC, "apply")
    m = remote_manifest(tmp_path / "runner")
    res = cli_run("apply", m, "-q", "--auto-approve", "--state", LOC.url, code=1)
    assert lock.info["id"] in res.output  # type: ignore[attr-defined]  # named, to force-unlock
    # The hint is a command that works when pasted: the operator follows it literally below.
    hinted = re.search(r"`(specrunner force-unlock [^`]+)`", res.output)  # type: ignore[attr-defined]
    assert hinted is not None, res.output  # type: ignore[attr-defined]
    pasted = shlex.split(hinted.group(1))[1:]
    assert pasted == ["force-unlock", str(m), lock.info["id"], "--state", LOC.url], pasted
    cli_run("force-unlock", m, "wrong-id", "--state", LOC.url, code=1)
    store.before_submit()  # a Submit in flight: force-unlock must wait for it to return
    done = threading.Event()

    def unlock() -> None:
        cli_run(*pasted, code=0)
        done.set()

    t = threading.Thread(target=unlock)
    started = time.monotonic()
    t.start()
    deadline = time.monotonic() + 10
    while lock.lost is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock.lost is not None and "revoked" in lock.lost  # the live holder noticed at once
    with pytest.raises(StateWriteError, match="revoked"):
        store.before_submit()  # the gate is shut: nothing more is sent
    time.sleep(1.0)
    assert not done.is_set()  # still waiting: one Submit has not returned yet
    store.submitted()
    t.join(timeout=30)
    assert done.is_set() and time.monotonic() - started < 30  # well within the 60 s lease
    cli_run("apply", m, "-q", "--auto-approve", "--state", LOC.url, code=0)
    with pytest.raises(StateWriteError, match="stopped submitting"):  # its journal is sealed too
        store.put(
            "a::r",
            entry(fingerprint="f", mode="sync", state="Success", job_id="J"),
            durable=True,
        )
    lock.release()

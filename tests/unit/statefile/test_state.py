"""The state store: deterministic bytes, atomic writes with a backup, the journal, O(n) I/O, locking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from specrunner.core.errors import LockError, StateError
from specrunner.statefile import locking
from specrunner.statefile.doc import encode_state
from specrunner.statefile.files import journal_path
from specrunner.statefile.journal import read_state
from specrunner.statefile.state import StateStore
from tests.conftest import REPO
from tests.records import entry


def rec(i: int, **kw) -> dict:
    r = {
        "fingerprint": f"sha256:{i:064x}",
        "mode": "async",
        "job_id": f"{i:032x}",
        "state": "Success",
        "code": "",
        "message": "",
        "count": 1,
        "outputs": [f"b/o/{i}.jpg"],
    }
    r.update(kw)
    return entry(r)


def test_encoding_is_deterministic_and_sorted(tmp_path: Path) -> None:
    path = tmp_path / "s.lock.json"
    a = StateStore.open(path)
    for i in (3, 1, 2):
        a.put(f"k{i}", rec(i))
    a.commit()
    data = path.read_bytes()
    assert data.endswith(b"}\n") and b"  " in data
    doc = json.loads(data)
    assert list(doc) == ["version", "lineage", "serial", "configs", "jobs"]
    assert list(doc["jobs"]) == ["k1", "k2", "k3"]
    assert data == encode_state(read_state(path))  # type: ignore[union-attr]
    assert doc["serial"] == 1 and doc["version"] == 2
    # Same content again: no write, no serial bump, no backup.
    b = StateStore.open(path)
    for i in (1, 2, 3):
        b.put(f"k{i}", rec(i))
    assert b.commit() is False
    assert path.read_bytes() == data
    assert not path.with_name(path.name + ".backup").exists()


def test_backup_keeps_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "s.lock.json"
    s = StateStore.open(path)
    s.put("k", rec(1))
    s.commit()
    v1 = path.read_bytes()
    s = StateStore.open(path)
    s.put("k", rec(1, state="Fail"))
    s.commit()
    assert path.with_name(path.name + ".backup").read_bytes() == v1
    assert json.loads(path.read_bytes())["serial"] == 2


def test_journal_is_replayed_after_a_crash(tmp_path: Path) -> None:
    """A child process journals two records and is killed before compaction: nothing is lost."""
    path = tmp_path / "s.lock.json"
    s = StateStore.open(path)
    s.put("base", rec(0))
    s.commit()
    code = f"""
import os, sys
sys.path.insert(0, {str(REPO)!r})
from specrunner.statefile.state import StateStore
from specrunner.core.record import LockEntry
s = StateStore.open(__import__('pathlib').Path({str(path)!r}))
s.put('a', {rec(1)!r}, durable=True)
s.put('b', {rec(2, state="Snapshoting")!r}, durable=True)
s.delete('base', durable=True)
os._exit(9)   # no commit, no cleanup: like SIGKILL
"""
    subprocess.run([sys.executable, "-c", code], check=False)
    assert journal_path(path).exists()
    doc = read_state(path)
    assert doc is not None and set(doc.jobs) == {"a", "b"}
    # The next run carries the replayed changes over and compacts them.
    s = StateStore.open(path)
    assert set(s.jobs) == {"a", "b"}
    s.put("c", rec(3))
    s.commit()
    assert set(json.loads(path.read_text())["jobs"]) == {"a", "b", "c"}
    assert not journal_path(path).exists()


def test_torn_last_journal_line_is_ignored_but_a_corrupt_middle_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "s.lock.json"
    s = StateStore.open(path)
    s.put("a", rec(1), durable=True)
    s.put("b", rec(2), durable=True)
    s.close()
    j = journal_path(path)
    data = j.read_bytes()
    j.write_bytes(data[:-20])  # the last line torn mid-write
    doc = read_state(path)
    assert doc is not None and set(doc.jobs) == {"a"}
    lines = data.split(b"\n")
    lines[1] = b"{garbage"
    j.write_bytes(b"\n".join(lines))
    with pytest.raises(StateError, match="corrupt journal line"):
        read_state(path)


def test_state_io_is_linear_in_the_number_of_jobs(tmp_path: Path) -> None:
    """10,000 jobs, each recorded 3 times (intent, id, outcome): total bytes / final size stays small."""
    path = tmp_path / "s.lock.json"
    s = StateStore.open(path)
    for i in range(10_000):
        s.put(
            f"k{i:05d}",
            rec(i, job_id=None, state=None, intent={"tag": f"sr-{i:016x}", "since": "2026-11-22T00:00:00Z"}),
        )
        s.put(f"k{i:05d}", rec(i, state="Submitted"))
        s.put(f"k{i:05d}", rec(i))
    s.commit()
    ratio = s.bytes_written / path.stat().st_size
    assert ratio < 10, ratio


def test_newer_version_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.lock.json"
    path.write_text(json.dumps({"version": 99, "lineage": "x", "serial": 1, "jobs": {}}))
    before = path.read_bytes()
    with pytest.raises(StateError, match="newer than this specrunner"):
        StateStore.open(path)
    assert path.read_bytes() == before


def test_lock_is_exclusive_names_the_holder_and_dies_with_its_process(tmp_path: Path) -> None:
    state = tmp_path / "s.lock.json"
    held = locking.acquire(state, "apply")
    with pytest.raises(LockError) as e:
        locking.acquire(state, "apply")
    assert held.info["id"] in str(e.value) and f"pid {os.getpid()}" in str(e.value)
    held.release()
    locking.acquire(state, "apply").release()
    # A process that dies holding the lock never blocks the next run.
    code = f"""
import os, sys, time
sys.path.insert(0, {str(REPO)!r})
from specrunner.statefile import locking
import pathlib
l = locking.acquire(pathlib.Path({str(state)!r}), 'apply')
print(l.info['id'], flush=True)
os.kill(os.getpid(), 9)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    dead_id = out.stdout.strip()
    assert dead_id
    lock = locking.acquire(state, "apply")
    assert lock.stale_cleaned and lock.stale_cleaned["id"] == dead_id  # reported, not mistaken for live
    lock.release()


def test_force_unlock_refuses_a_wrong_id_and_a_live_holder(tmp_path: Path) -> None:
    state = tmp_path / "s.lock.json"
    held = locking.acquire(state, "apply")
    with pytest.raises(LockError, match="does not match"):
        locking.force_unlock(state, "wrong")
    with pytest.raises(LockError, match="live process"):
        locking.force_unlock(state, held.info["id"])
    held.release()
    # Lock info left behind with no holder (e.g. a network file system): force-unlock removes it.
    lp = locking.lock_path(state)
    lp.write_text(json.dumps({"id": "abc", "pid": 999999, "who": "x@y", "operation": "apply"}))
    with pytest.raises(LockError):
        locking.force_unlock(state, "nope")
    assert locking.force_unlock(state, "abc")["id"] == "abc"
    assert not lp.exists()


def test_a_recovery_run_killed_right_after_its_first_write_keeps_the_crashed_runs_records(
    tmp_path: Path,
) -> None:
    """Regression (found by the crash harness): a run that replays a crashed run's journal and is
    killed right after its own first journal write must not lose the replayed records."""
    path = tmp_path / "s.lock.json"
    s = StateStore.open(path)
    s.put("base", rec(0))
    s.commit()
    prelude = (
        f"import os, sys, pathlib\nsys.path.insert(0, {str(REPO)!r})\n"
        "from specrunner.statefile.state import StateStore\nfrom specrunner.core.record import LockEntry\n"
        f"s = StateStore.open(pathlib.Path({str(path)!r}))\n"
    )
    first = (
        prelude + "".join(f"s.put('a{i}', {rec(i)!r}, durable=True)\n" for i in range(1, 6)) + "os._exit(9)\n"
    )
    # Die the instant the new journal replaces the old one (the window the bug lived in).
    die_on_replace = (
        "_replace = os.replace\n"
        "def replace(a, b):\n    _replace(a, b)\n"
        "    if str(b).endswith('.journal'): os._exit(9)\n"
        "os.replace = replace\n"
    )
    second = (
        prelude.replace("from specrunner", die_on_replace + "from specrunner")
        + f"s.put('b', {rec(9)!r}, durable=True)\nos._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", first], check=False)
    subprocess.run([sys.executable, "-c", second], check=False)
    doc = read_state(path)
    assert doc is not None and {"base", "a1", "a2", "a3", "a4", "a5"} <= set(doc.jobs)

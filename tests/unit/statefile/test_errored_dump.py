"""The emergency dump of the state when writing it failed: a private file (0600) at a new name, that
never follows a planted symlink nor overwrites a file, and never sits at a fixed name in a shared /tmp."""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from specrunner.core.errors import StateWriteError
from specrunner.core.record import LockEntry
from specrunner.statefile.doc import StateDoc, decode_state
from specrunner.statefile.state import StateStore
from tests.records import entry

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def rec(i: int) -> LockEntry:
    return entry(
        {
            "fingerprint": f"sha256:{i:064x}",
            "mode": "sync",
            "job_id": f"{i:032x}",
            "state": "Success",
            "code": "",
            "message": "",
            "count": 1,
            "outputs": [f"b/o/{i}.jpg"],
        }
    )


def _doc() -> StateDoc:
    return StateDoc("lineage-1", 4, {f"k{i}": rec(i) for i in range(3)})


def store_with_jobs(path: Path) -> StateStore:
    store = StateStore.open(path)
    for i in range(3):
        store.put(f"k{i}", rec(i))
    return store


def dumped_to(err: StateWriteError) -> Path:
    m = re.search(r"the current state was dumped to (\S+) \(readable by you only\)", err.message)
    assert m, err.message
    path = Path(m.group(1))
    assert f"cp {path} " in (err.hint or ""), err.hint
    return path


def assert_private_dump(path: Path, store: StateStore) -> None:
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert set(decode_state(path.read_bytes(), path).jobs) == set(store.jobs)


@pytest.fixture
def shared_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A world-writable sticky folder like /tmp, used as the temp folder of this test."""
    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    return shared


def test_a_symlink_planted_at_the_dump_name_is_not_followed(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    planted = folder / "s.lock.json.errored"
    planted.symlink_to(victim)
    store = store_with_jobs(folder / "s.lock.json")

    err = store._dump_errored(ENOSPC)

    assert victim.read_text() == "precious\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert planted.is_symlink() and os.readlink(planted) == str(victim)
    path = dumped_to(err)
    assert path.parent == folder and path.name.startswith("s.lock.json.errored.") and path != planted
    assert_private_dump(path, store)
    assert "No space left on device" in err.message
    store.close()


def test_a_run_updates_its_own_dump_and_never_overwrites_an_earlier_runs(tmp_path: Path) -> None:
    store = store_with_jobs(tmp_path / "s.lock.json")
    first = dumped_to(store._dump_errored(ENOSPC))
    assert first == tmp_path / "s.lock.json.errored"
    assert_private_dump(first, store)
    store.put("k9", rec(9))  # a later failure of the same run: the same file, the latest state
    assert dumped_to(store._dump_errored(ENOSPC)) == first
    assert_private_dump(first, store)
    before = first.read_bytes()
    store.close()

    again = store_with_jobs(tmp_path / "s.lock.json")  # the next run fails too: a dump of its own
    second = dumped_to(again._dump_errored(ENOSPC))
    assert second != first and second.parent == tmp_path and first.read_bytes() == before
    assert re.fullmatch(r"s\.lock\.json\.errored\.\d{8}T\d{6}Z-[0-9a-f]{8}", second.name), second.name
    assert_private_dump(second, again)
    again.close()


def test_without_the_state_folder_the_dump_goes_to_a_private_per_user_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_tmp: Path
) -> None:
    """The state's folder vanished mid-run (a real failure: the journal cannot be created); the
    current folder is a shared one: the dump goes to $XDG_STATE_HOME/specrunner, made 0700."""
    folder = tmp_path / "state"
    folder.mkdir()
    store = StateStore.open(folder / "s.lock.json")
    shutil.rmtree(folder)
    monkeypatch.chdir(shared_tmp)
    (shared_tmp / "s.lock.json.errored").symlink_to(tmp_path / "victim")  # never used, never followed
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))

    with pytest.raises(StateWriteError) as ei:
        store.put("k0", rec(0))

    path = dumped_to(ei.value)
    assert path == tmp_path / "xdg" / "specrunner" / "s.lock.json.errored"
    assert stat.S_IMODE(os.lstat(path.parent).st_mode) == 0o700
    assert_private_dump(path, store)
    assert not (tmp_path / "victim").exists() and sorted(p.name for p in shared_tmp.iterdir()) == [
        "s.lock.json.errored"
    ]
    store.close()


def test_the_per_user_folder_defaults_to_home_and_is_made_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_tmp: Path
) -> None:
    home = tmp_path / "home"
    (home / ".local" / "state" / "specrunner").mkdir(parents=True, mode=0o755)
    (home / ".local" / "state" / "specrunner").chmod(0o755)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.chdir(shared_tmp)
    store = StateStore(tmp_path / "gone" / "s.lock.json", _doc(), None)
    path = dumped_to(store._dump_errored(ENOSPC))
    assert path.parent == home / ".local" / "state" / "specrunner"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert_private_dump(path, store)


def test_with_no_folder_of_its_own_the_dump_goes_to_a_new_private_temp_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_tmp: Path
) -> None:
    """Nowhere else to go: a fresh folder made by mkdtemp (0700, a random name) in the temp folder,
    never ``<tmp>/<name>.errored``, where another user may have planted a link."""
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(not_a_folder))
    monkeypatch.setenv("HOME", str(not_a_folder))
    monkeypatch.chdir(shared_tmp)
    planted = shared_tmp / "s.lock.json.errored"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    planted.symlink_to(victim)
    store = StateStore(tmp_path / "gone" / "s.lock.json", _doc(), None)

    path = dumped_to(store._dump_errored(ENOSPC))

    assert path.parent.parent == shared_tmp and path.parent.name.startswith("specrunner-errored-")
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert_private_dump(path, store)
    assert victim.read_text() == "precious\n" and planted.is_symlink()


def test_a_linked_state_is_dumped_beside_its_target(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    target = volume / "state.json"
    target.write_bytes(b"")  # the link must not dangle
    link = tmp_path / "work" / "m.lock.json"
    link.parent.mkdir()
    link.symlink_to(target)
    store = StateStore(link, _doc(), None)
    err = store._dump_errored(ENOSPC)
    path = dumped_to(err)
    assert path == volume / "state.json.errored"
    assert f"writing the state {link} failed" in err.message and f"cp {path} {link}" in (err.hint or "")
    assert_private_dump(path, store)

"""A state knows its manifest (issue 20): two manifests pointed at one state (the same ``--state`` file,
the same ``state:`` key in OSS) no longer plan each other's jobs as forgotten; the second one is refused
before anything is planned, naming both, until ``state claim``. The local default state follows its
manifest when both are renamed; a state written before owners were recorded is adopted. The real CLI,
real videos on the local engine, the emulator's OSS and MTS for the remote state."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from specrunner.emulator.server import Emulator
from specrunner.statefile.doc import decode_state
from specrunner.statefile.owner import git_root
from specrunner.testing.crash import manifest
from tests.conftest import HEADER, Workspace
from tests.helpers import both, cli_run, state_emulator

A = (
    HEADER
    + 'inputs: [videos/a.mp4, videos/b.mp4]\nrules:\n  - {id: poster, time: 1s, output: "p/{FileName}.jpg"}\n'
)
B = HEADER + 'inputs: [videos/a.mp4]\nrules:\n  - {id: cover, time: 2s, output: "c/{FileName}.jpg"}\n'


def owner_of(path: Path) -> str | None:
    return decode_state(path.read_bytes(), path).owner


@pytest.fixture
def two(ws: Workspace, video_4s: Path) -> Workspace:
    """a.yaml and b.yaml side by side at the root of a git repository, over the same videos."""
    (ws.dir / ".git").mkdir(exist_ok=True)
    ws.add_video(video_4s, "videos/a.mp4")
    ws.add_video(video_4s, "videos/b.mp4")
    (ws.dir / "a.yaml").write_text(A)
    (ws.dir / "b.yaml").write_text(B)
    return ws


def test_a_second_manifest_on_one_state_file_is_refused_until_it_claims_the_state(
    two: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = two
    monkeypatch.chdir(ws.dir)
    shared = ws.dir / "shared.lock.json"
    ws.cli("apply", "a.yaml", "--state", "shared.lock.json", code=0)
    assert json.loads(shared.read_text())["manifest"] == "a.yaml"
    before = shared.read_bytes()
    # Every command that plans or writes refuses b.yaml, before anything is planned as forgotten.
    for args in (
        ["plan", "b.yaml"],
        ["plan", "b.yaml", "--format", "json"],
        ["apply", "b.yaml", "--auto-approve"],
        ["retry", "b.yaml"],
        ["refresh", "b.yaml"],
        ["import", "b.yaml", "videos/a.mp4::cover", "0" * 32],
        ["state", "mv", "b.yaml", "videos/a.mp4::poster", "videos/a.mp4::cover"],
        ["state", "rm", "b.yaml", "videos/a.mp4::poster"],
    ):
        r = ws.cli(*args, "--state", "shared.lock.json", code=1)
        err, out = r.stderr, r.stdout
        if "json" in args:  # the same error, as the one JSON document on stdout (no plan in it)
            doc = json.loads(r.stdout)
            assert doc["kind"] == "specrunner-error" and err == "", args
            err, out = f"{doc['message']}\nhint: {doc['hint']}", ""
        assert "the state shared.lock.json belongs to the manifest 'a.yaml', not to b.yaml" in err, args
        assert "its 2 jobs would be planned as forgotten" in err, (args, err)
        assert "`specrunner state claim b.yaml --state shared.lock.json`" in err, (args, err)
        assert "forget" not in out and "Traceback" not in r.output, args
        assert shared.read_bytes() == before, args  # 0 jobs forgotten, nothing written
    assert not (ws.oss / "media-out" / "c").exists()  # nothing submitted
    # Reading is not refused.
    r = ws.cli("show", "b.yaml", "--state", shared, code=0)
    assert "owned by the manifest 'a.yaml'" in r.stdout
    # b.yaml takes the state over on purpose: only the owner changes, under the lock.
    r = ws.cli("state", "claim", "b.yaml", "--state", "shared.lock.json", code=0)
    assert "previous owner: 'a.yaml'" in r.stdout and "'b.yaml'" in r.stdout
    old, new = decode_state(before, shared), decode_state(shared.read_bytes(), shared)
    assert (new.owner, new.serial, new.lineage, new.jobs) == ("b.yaml", old.serial + 1, old.lineage, old.jobs)
    r = ws.cli("state", "claim", "b.yaml", "--state", "shared.lock.json", code=0)
    assert "already" in r.stdout and new.serial == decode_state(shared.read_bytes(), shared).serial
    r = ws.cli("plan", "b.yaml", "--state", "shared.lock.json", code=0)
    assert "1 to create" in r.stdout and "2 to forget" in r.stdout  # now b's plan, as asked
    # ... and it is a.yaml's turn to be refused.
    r = ws.cli("plan", "a.yaml", "--state", "shared.lock.json", code=1)
    assert "belongs to the manifest 'b.yaml', not to a.yaml" in r.stderr


def test_a_name_is_the_owner_and_keeps_the_state_when_the_manifest_moves(
    two: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = two
    monkeypatch.chdir(ws.dir)
    shared = ws.dir / "shared.lock.json"
    ws.cli("apply", "a.yaml", "--state", shared, code=0)
    # Adding `name:` keeps the state (it was this file's); the next write records the name.
    (ws.dir / "a.yaml").write_text("name: team/posters\n" + A.replace("time: 1s", "time: 3s"))
    ws.cli("apply", "a.yaml", "--state", shared, code=0)
    assert owner_of(shared) == "team/posters"
    # The named manifest moved to another folder and file name: still the owner.
    (ws.dir / "moved").mkdir()
    os.replace(ws.dir / "a.yaml", ws.dir / "moved" / "posters.yaml")
    (ws.dir / "moved" / "oss").symlink_to(ws.oss)
    r = ws.cli("plan", "moved/posters.yaml", "--state", shared, "--detailed-exitcode", code=0)
    assert "No changes" in r.stdout
    # Another manifest claiming the same name is that manifest, by its author's choice: accepted.
    (ws.dir / "b.yaml").write_text("name: team/other\n" + B)
    r = ws.cli("plan", "b.yaml", "--state", shared, code=1)
    assert "belongs to the manifest 'team/posters', not to b.yaml ('team/other')" in r.stderr


def test_in_a_git_repository_the_owner_is_the_path_from_its_root(
    two: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = two  # at the root of a repository (the fixture made ws.dir/.git)
    (ws.dir / "specs").mkdir()
    os.replace(ws.dir / "a.yaml", ws.dir / "specs" / "a.yaml")
    (ws.dir / "specs" / "oss").symlink_to(ws.oss)
    monkeypatch.chdir(ws.dir / "specs")
    ws.cli("apply", "a.yaml", code=0)
    assert owner_of(ws.dir / "specs" / "a.lock.json") == "specs/a.yaml"
    monkeypatch.chdir(ws.dir)  # the same id from anywhere
    r = ws.cli("plan", "specs/a.yaml", "--state", ws.dir / "specs" / "a.lock.json", code=0)
    assert "No changes" in r.stdout


def test_the_local_default_state_follows_its_manifest_and_an_old_state_is_adopted(
    two: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = two
    monkeypatch.chdir(ws.dir)
    ws.cli("apply", "a.yaml", code=0)
    assert owner_of(ws.dir / "a.lock.json") == "a.yaml"
    # Both files renamed together: no refusal, and a no-op stays a no-op, byte for byte.
    os.replace(ws.dir / "a.yaml", ws.dir / "site.yaml")
    os.replace(ws.dir / "a.lock.json", ws.dir / "site.lock.json")
    before = (ws.dir / "site.lock.json").read_bytes()
    r = ws.cli("plan", "site.yaml", "--detailed-exitcode", code=0)
    assert "No changes" in r.stdout
    ws.cli("apply", "site.yaml", code=0)
    assert (ws.dir / "site.lock.json").read_bytes() == before
    # The next write records the new owner.
    (ws.dir / "site.yaml").write_text(A.replace("time: 1s", "time: 2s"))
    ws.cli("apply", "site.yaml", code=0)
    assert owner_of(ws.dir / "site.lock.json") == "site.yaml"

    # A state written before owners were recorded: adopted by the manifest that uses it.
    shared = ws.dir / "old.lock.json"
    data = (ws.dir / "site.lock.json").read_text()
    shared.write_text("".join(ln for ln in data.splitlines(keepends=True) if '"manifest"' not in ln))
    assert owner_of(shared) is None
    before = shared.read_bytes()
    ws.cli("apply", "site.yaml", "--state", shared, code=0)  # nothing to do: nothing written
    assert shared.read_bytes() == before
    ws.cli("state", "rm", "site.yaml", "videos/a.mp4::poster", "--state", shared, code=0)  # a write
    assert owner_of(shared) == "site.yaml"
    r = ws.cli("plan", "b.yaml", "--state", shared, code=1)
    assert "belongs to the manifest 'site.yaml', not to b.yaml" in r.stderr


def test_state_push_refuses_another_manifests_lock_file_unless_forced(
    two: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = two
    monkeypatch.chdir(ws.dir)
    ws.cli("apply", "a.yaml", code=0)
    target = ws.dir / "pushed.lock.json"
    r = ws.cli("state", "push", "b.yaml", "a.lock.json", "--state", "pushed.lock.json", code=1)
    assert "a.lock.json is the state of the manifest 'a.yaml', not of b.yaml" in r.stderr
    assert "push with --force, then `specrunner state claim b.yaml --state pushed.lock.json`" in r.stderr
    assert not target.exists()
    ws.cli("state", "push", "b.yaml", "a.lock.json", "--state", target, "--force", code=0)
    assert target.read_bytes() == (ws.dir / "a.lock.json").read_bytes()
    ws.cli("plan", "b.yaml", "--state", target, code=1)
    ws.cli("state", "claim", "b.yaml", "--state", target, code=0)
    ws.cli("plan", "b.yaml", "--state", target, code=0)
    # Its own lock file pushes as before.
    ws.cli("state", "push", "a.yaml", "a.lock.json", "--state", ws.dir / "copy.lock.json", code=0)


def test_claim_needs_a_state(two: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(two.dir)
    r = two.cli("state", "claim", "b.yaml", "--state", "none.lock.json", code=1)
    assert "no state at none.lock.json yet: nothing to claim" in r.stderr


# ------------------------------------------------------------------------------------ state in OSS

BUCKET = "team-state"
STATE_BLOCK = (
    f"state: {{backend: oss, bucket: {BUCKET}, key: ci/shared.lock.json, location: oss-cn-hangzhou}}\n"
)


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with state_emulator(tmp_path / "oss", BUCKET, monkeypatch) as e:
        yield e


def remote(folder: Path, name: str, n: int, rule: str = "") -> Path:
    """An aliyun manifest ``name`` with its state in OSS, at the key every one of them shares."""
    folder.mkdir(parents=True, exist_ok=True)
    text = manifest(n).replace("inputs:\n", STATE_BLOCK + "inputs:\n", 1)
    if rule:
        text = text.split("rules:\n")[0] + "rules:\n" + rule
    path = folder / name
    path.write_text(text)
    return path


def submits(emu: Emulator) -> int:
    return sum(1 for r in emu.requests() if r.get("action") == "SubmitSnapshotJob")


def test_a_second_manifest_on_one_remote_state_is_refused_and_submits_nothing(
    emu: Emulator, tmp_path: Path
) -> None:
    for runner in ("runner-a", "runner-b"):  # each runner a checkout of its own repository
        (tmp_path / runner / ".git").mkdir(parents=True)
    a = remote(tmp_path / "runner-a", "site-a.yaml", 3)
    b = remote(
        tmp_path / "runner-b", "site-b.yaml", 2, '  - {id: cover, time: 2s, output: "c/{FileName}.jpg"}\n'
    )
    cli_run("apply", a, "-q", "--auto-approve", code=0)
    sent = submits(emu)
    assert sent == 6
    url = f"oss://{BUCKET}/ci/shared.lock.json"
    for args in (["plan", b], ["apply", b, "-q", "--auto-approve"], ["refresh", b], ["retry", b]):
        res = cli_run(*args, code=1)
        err = res.stderr
        assert f"the state {url} belongs to the manifest 'site-a.yaml', not to {b}" in err, (args, err)
        assert "its 6 jobs would be planned as forgotten" in err and "state claim" in err
    assert submits(emu) == sent  # nothing submitted, nothing forgotten
    assert "No changes" in cli_run("plan", a, code=0).output
    res = cli_run("state", "claim", b, code=0)
    assert "previous owner: 'site-a.yaml'" in res.output
    assert "6 to forget" in cli_run("plan", b, code=0).output
    assert "belongs to the manifest 'site-b.yaml'" in cli_run("plan", a, code=1).stderr


def test_the_fast_path_refuses_a_remote_state_of_another_manifest_as_the_cli_does(
    emu: Emulator, tmp_path: Path
) -> None:
    a = remote(tmp_path / "runner", "site-a.yaml", 2)
    remote(tmp_path / "runner", "site-b.yaml", 1)
    cli_run("apply", a, "-q", "--auto-approve", code=0)
    code, out, err = both(tmp_path / "runner", "plan", "site-b.yaml")  # both() checks the fast path ran
    assert code == 1 and out == ""
    assert "belongs to the manifest 'site-a.yaml', not to site-b.yaml" in err and "hint:" in err
    code, out, _ = both(tmp_path / "runner", "plan", "site-a.yaml")
    assert code == 0 and "No changes" in out


def test_two_manifests_known_by_the_same_file_name_only_are_still_told_apart(
    ws: Workspace, video_4s: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside a git repository and without `name:`, a/m.yaml and b/m.yaml share the owner id
    'm.yaml'; the second is refused all the same (it would forget every job), and cannot claim the
    state until it has a `name:`."""
    if git_root(ws.dir) is not None:  # pragma: no cover - a temp folder inside a repository
        pytest.skip(f"{ws.dir} is inside a git repository")
    ws.add_video(video_4s, "videos/a.mp4")
    ws.add_video(video_4s, "videos/b.mp4")
    monkeypatch.chdir(ws.dir)
    for folder, text in (("a", A), ("b", B)):
        (ws.dir / folder).mkdir()
        (ws.dir / folder / "m.yaml").write_text(text.replace("root: ./oss", "root: ../oss", 1))
    shared = ws.dir / "shared.lock.json"
    ws.cli("apply", "a/m.yaml", "--state", shared, code=0)
    before = shared.read_bytes()
    r = ws.cli("apply", "b/m.yaml", "--state", shared, "--auto-approve", code=1)
    assert "would forget all 2 jobs" in r.stderr and "another manifest's state" in r.stderr, r.stderr
    assert shared.read_bytes() == before and not (ws.oss / "media-out" / "c").exists()
    r = ws.cli("state", "claim", "b/m.yaml", "--state", shared, code=1)
    assert "known by its file name only" in r.stderr and "name:" in r.stderr
    ws.cli("apply", "a/m.yaml", "--state", shared, code=0)  # its own manifest: unchanged, applies
    (ws.dir / "b" / "m.yaml").write_text("name: team/b\n" + (ws.dir / "b" / "m.yaml").read_text())
    ws.cli("state", "claim", "b/m.yaml", "--state", shared, code=0)  # now on purpose, by name
    assert owner_of(shared) == "team/b"

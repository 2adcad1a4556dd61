"""`specrunner prune` end to end: real files on the local engine, real oss2 DeleteMultipleObjects calls
to the emulator (local and remote state), a SIGKILL between the deletes and their record, a denied
delete, objects a bucket will not let go of (each reported, each kept recorded), and the refusal to
delete anything the state does not name."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from specrunner.backends import ossclient
from specrunner.emulator import Emulator
from specrunner.statefile.doc import decode_state
from specrunner.validate.schema import load_schema
from tests.conftest import HEADER, TESTS, Workspace
from tests.helpers import DenyingProxy, on_a_terminal, serving

MANIFEST = (
    HEADER
    + """\
inputs: [videos/a.mp4, videos/b.mp4]
rules:
  - {id: poster, time: 1s, width: 80, output: "posters/{FileName}.jpg"}
  - {id: seq, time: 0, num: 2, interval: 1, width: 80, output: "seq/{FileName}/{Count}.jpg"}
"""
)


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def retired(path: Path) -> list[str]:
    return sorted(decode_state(path.read_bytes(), path).retired)


def applied(ws: Workspace, video: Path, manifest: str = MANIFEST) -> None:
    ws.add_video(video, "videos/a.mp4")
    ws.add_video(video, "videos/b.mp4")
    ws.write(manifest)
    ws.cli("apply", ws.manifest, code=0)


def test_a_changed_output_template_is_applied_then_pruned(ws: Workspace, video_4s: Path) -> None:
    applied(ws, video_4s)
    out = ws.oss / "media-out"
    before = files(out)
    mine = out / "posters" / "mine.jpg"  # an object the state does not name: never touched
    mine.write_bytes(b"not specrunner's")
    ws.write(MANIFEST.replace('"posters/{FileName}.jpg"', '"covers/{FileName}.jpg"'))
    r = ws.cli("apply", ws.manifest, code=0)
    assert (
        "2 objects that only replaced or forgotten jobs named stay in the bucket, recorded in the state: "
        f"`specrunner prune {ws.manifest}` deletes them." in r.stdout
    )
    assert retired(ws.state) == ["media-out/posters/a.jpg", "media-out/posters/b.jpg"]
    jsonschema.Draft202012Validator(load_schema("state.v2.json")).validate(json.loads(ws.state.read_text()))
    text = ws.state.read_text()
    assert text.index('"jobs"') < text.index('"retired"')

    r = ws.cli("prune", ws.manifest, "--dry-run", "--detailed-exitcode", code=2)
    job_a = ws.jobs()  # the replaced jobs' ids are in the retired list, not in the records any more
    assert r.stdout.startswith("Prune: 2 objects to delete.\n")
    # each object on its own line, where it comes from under it when the line would pass 80 columns
    assert "  - delete media-out/posters/a.jpg\n      (from videos/a.mp4::poster, job " in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80, r.stdout
    assert job_a["videos/a.mp4::poster"]["job_id"] not in r.stdout
    assert files(out) == sorted([*before, "covers/a.jpg", "covers/b.jpg", "posters/mine.jpg"])

    r = ws.cli("prune", ws.manifest, code=0)  # the local engine never asks, as apply
    assert "Deleted 2 of 2 objects." in r.stdout and f"State written to {ws.state}." in r.stdout
    assert files(out) == sorted(
        [
            *(f for f in before if not f.startswith("posters/")),
            "covers/a.jpg",
            "covers/b.jpg",
            "posters/mine.jpg",
        ]
    )
    assert b'"retired"' not in ws.state.read_bytes()
    runs = [json.loads(p.read_text()) for p in (ws.dir / ".specrunner" / "runs").glob("*.json")]
    prune_run = next(d for d in runs if d["kind"] == "specrunner-prune-run")
    assert prune_run["deleted"] == ["media-out/posters/a.jpg", "media-out/posters/b.jpg"]
    r = ws.cli("prune", ws.manifest, "--dry-run", "--detailed-exitcode", code=0)
    assert r.stdout.startswith("Nothing to prune")
    settled = ws.state.read_bytes()
    ws.cli("prune", ws.manifest, code=0)
    assert ws.state.read_bytes() == settled


def test_a_replacement_writing_the_same_objects_retires_nothing(ws: Workspace, video_4s: Path) -> None:
    applied(ws, video_4s)
    ws.write(MANIFEST.replace("width: 80", "width: 96"))
    r = ws.cli("apply", ws.manifest, code=0)
    assert "4 replaced" in r.stdout
    assert b'"retired"' not in ws.state.read_bytes()  # no churn in the lock file


def test_a_forgotten_input_is_pruned_and_its_records_forgotten(ws: Workspace, video_4s: Path) -> None:
    applied(ws, video_4s)
    out = ws.oss / "media-out"
    ws.write(MANIFEST.replace("[videos/a.mp4, videos/b.mp4]", "[videos/a.mp4]"))
    r = ws.cli("prune", ws.manifest, "--dry-run", code=0)
    assert r.stdout.splitlines()[:4] == [  # the summary wrapped at 80 columns
        "Prune: 3 objects to delete, 2 records of jobs no longer in the manifest to",
        "forget.",
        "",
        "Outputs of jobs no longer in the manifest (3):",
    ]
    r = ws.cli("prune", ws.manifest, "--target", "videos/b.mp4", code=0)
    assert "Forgot 2 records of jobs no longer in the manifest." in r.stdout
    assert not any(f.startswith(("posters/b", "seq/b")) for f in files(out))
    assert "posters/a.jpg" in files(out)
    assert sorted(ws.jobs()) == ["videos/a.mp4::poster", "videos/a.mp4::seq"]
    assert ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0)


def test_an_input_forgotten_by_apply_leaves_its_objects_retired_for_prune(
    ws: Workspace, video_4s: Path
) -> None:
    applied(ws, video_4s)
    ws.write(MANIFEST.replace("[videos/a.mp4, videos/b.mp4]", "[videos/a.mp4]"))
    ws.cli("apply", ws.manifest, code=0)
    assert retired(ws.state) == [
        "media-out/posters/b.jpg",
        "media-out/seq/b/00001.jpg",
        "media-out/seq/b/00002.jpg",
    ]
    r = ws.cli("prune", ws.manifest, code=0)
    assert "Left behind by replaced or forgotten jobs (3):" in r.stdout
    assert not (ws.oss / "media-out" / "seq" / "b").exists()  # emptied folders go too


def test_a_lock_file_written_before_plans_as_a_noop_and_stays_byte_identical(
    ws: Workspace, tmp_path: Path
) -> None:
    demo = TESTS.parent / "specs"
    shutil.copyfile(demo / "demo.yaml", ws.dir / "demo.yaml")
    shutil.copytree(demo / "oss", ws.oss)
    shutil.rmtree(ws.oss / "media-out", ignore_errors=True)
    ws.cli("apply", ws.dir / "demo.yaml", code=0)  # the objects, as that run wrote them
    before = TESTS / "fixtures" / "prune" / "demo-before-retired.lock.json"
    lock = ws.dir / "demo.lock.json"
    shutil.copyfile(before, lock)
    ws.cli("plan", ws.dir / "demo.yaml", "--detailed-exitcode", code=0)
    # (with the refresh, the first apply over a lock file written before records what it verified:
    # tests/system/test_refresh_buckets.py; here the retired list alone is under test)
    r = ws.cli("apply", ws.dir / "demo.yaml", "--refresh=false", code=0)
    assert "State unchanged" in r.stdout
    ws.cli("prune", ws.dir / "demo.yaml", "--dry-run", "--detailed-exitcode", code=0)
    ws.cli("prune", ws.dir / "demo.yaml", code=0)
    assert lock.read_bytes() == before.read_bytes()


def test_prune_refuses_links_and_paths_outside_the_bucket(
    ws: Workspace, video_4s: Path, tmp_path: Path
) -> None:
    applied(ws, video_4s)
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"keep me")
    posters = ws.oss / "media-out" / "posters"
    (posters / "b.jpg").unlink()
    (posters / "b.jpg").symlink_to(outside)  # resolves out of the bucket
    same = ws.oss / "media-out" / "seq" / "a" / "same.jpg"  # the poster's bytes: its ETag unchanged
    same.write_bytes((posters / "a.jpg").read_bytes())
    (posters / "a.jpg").unlink()
    (posters / "a.jpg").symlink_to(same)  # stays inside
    ws.write(MANIFEST.replace('"posters/{FileName}.jpg"', '"covers/{FileName}.jpg"'))
    ws.cli("apply", ws.manifest, code=0)
    r = ws.cli("prune", ws.manifest, code=1)
    error = next(ln for ln in r.output.splitlines() if ln.startswith("error:"))
    assert error.startswith("error: refusing to delete media-out/posters/a.jpg: ")
    assert "is a symbolic link (prune deletes only files inside" in error
    assert "(1 other delete(s) failed too); prune deleted 0 of 2 objects" in error
    assert outside.read_bytes() == b"keep me" and same.exists()
    assert (posters / "a.jpg").is_symlink() and (posters / "b.jpg").is_symlink()
    assert retired(ws.state) == ["media-out/posters/a.jpg", "media-out/posters/b.jpg"]  # kept for later
    r = ws.cli("prune", ws.manifest, "--target", "videos/b.mp4", code=1)
    assert (
        "refusing to delete media-out/posters/b.jpg: object key 'posters/b.jpg' escapes its bucket"
        in r.output
    )


def killed_after_deleting(ws: Workspace, deleter: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a process that SIGKILLs itself once ``deleter`` has deleted, before the record."""
    kill = (
        "import os, signal, sys\n"
        "from specrunner.backends import objectdelete\n"
        f"cls = objectdelete.{deleter}\n"
        "real = cls.delete\n"
        "def delete_then_die(self, objects):\n"
        "    assert real(self, objects).gone\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "cls.delete = delete_then_die\n"
        "sys.argv = ['specrunner', *sys.argv[1:]]\n"
        "from specrunner.cli.main import main\n"
        "main()\n"
    )
    return subprocess.run([sys.executable, "-c", kill, *args], cwd=ws.dir, capture_output=True, text=True)


def test_a_prune_killed_between_its_deletes_and_their_record_is_finished_by_the_next(
    ws: Workspace, video_4s: Path
) -> None:
    applied(ws, video_4s)
    ws.write(
        MANIFEST.replace("[videos/a.mp4, videos/b.mp4]", "[videos/a.mp4]").replace(
            '"posters/{FileName}.jpg"', '"covers/{FileName}.jpg"'
        )
    )
    ws.cli("apply", ws.manifest, "--target", "poster", code=0)  # a's poster replaced: its old one retired
    p = killed_after_deleting(ws, "LocalDeleter", "prune", str(ws.manifest))
    assert p.returncode == -9, p.stderr
    assert not (ws.oss / "media-out" / "posters").exists()  # deleted, but not recorded
    r = ws.cli("prune", ws.manifest, "--dry-run", code=0)
    assert r.stdout.startswith("Prune: 4 objects to delete.")  # the forgotten records moved to retired
    r = ws.cli("prune", ws.manifest, code=0)
    assert "Deleted 4 of 4 objects." in r.stdout  # already gone counts as deleted
    assert b'"retired"' not in ws.state.read_bytes()
    assert sorted(ws.jobs()) == ["videos/a.mp4::poster", "videos/a.mp4::seq"]


# ------------------------------------------------------------------------------------ OSS (emulator)

KEY, SECRET = "LTAIprune000001", "prune-secret"
CLOUD = MANIFEST.replace(
    "target: {backend: local, root: ./oss}", "target: {backend: aliyun, region: cn-shanghai}"
)
REMOTE = CLOUD + "state: {backend: oss, bucket: team-state, key: ci/m.lock.json, location: oss-cn-hangzhou}\n"


@pytest.fixture
def cloud(ws: Workspace, video_4s: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.add_video(video_4s, "videos/b.mp4")
    (ws.oss / "team-state").mkdir(parents=True)
    with Emulator(ws.oss, {KEY: SECRET}, journal=ws.dir / "emulator.jsonl") as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv(ossclient.ENDPOINT_ENV, em.url)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        yield em


def deletes(em: Emulator) -> list[str]:
    """The output objects deleted through the emulator: by DeleteMultipleObjects (prune's one call per
    batch; the state in OSS never deletes from media-out), checked to be the only kind."""
    found = [e for e in em.requests() if e["params"].get("bucket") == "media-out"]
    assert not [e for e in found if e["action"] == "DeleteObject"]
    calls = [e for e in found if e["action"] == "DeleteMultipleObjects" and e["status"] == 200]
    return sorted(f"media-out/{key}" for e in calls for key in e["objects"])


@pytest.mark.parametrize("manifest", [CLOUD, REMOTE], ids=["local-state", "state-in-oss"])
def test_prune_deletes_oss_objects_through_oss2_after_approval(
    ws: Workspace, cloud: Emulator, manifest: str
) -> None:
    ws.write(manifest)
    ws.cli("apply", ws.manifest, "--auto-approve", code=0)
    ws.write(manifest.replace('"posters/{FileName}.jpg"', '"covers/{FileName}.jpg"'))
    ws.cli("apply", ws.manifest, "--auto-approve", code=0)
    r = ws.cli("prune", ws.manifest, code=1)  # no terminal to ask on, as apply on aliyun
    assert "refusing to delete 2 object(s) on aliyun without approval: no terminal to ask on" in r.output
    assert f"specrunner prune {ws.manifest} --auto-approve" in r.output
    assert deletes(cloud) == [] and (ws.oss / "media-out" / "posters" / "a.jpg").exists()
    r = ws.cli("prune", ws.manifest, "--auto-approve", code=0)
    assert "Deleted 2 of 2 objects." in r.stdout
    assert deletes(cloud) == ["media-out/posters/a.jpg", "media-out/posters/b.jpg"]
    assert not (ws.oss / "media-out" / "posters" / "a.jpg").exists()
    assert (ws.oss / "media-out" / "covers" / "a.jpg").exists()
    pulled = ws.cli("state", "pull", ws.manifest, code=0).stdout
    assert '"retired"' not in pulled and json.loads(pulled)["jobs"]
    r = ws.cli("prune", ws.manifest, "--dry-run", "--detailed-exitcode", code=0)
    assert r.stdout.startswith("Nothing to prune")


def test_a_denied_delete_is_one_error_and_keeps_the_objects_recorded(
    ws: Workspace, cloud: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.write(CLOUD)
    ws.cli("apply", ws.manifest, "--auto-approve", code=0)
    ws.write(CLOUD.replace('"posters/{FileName}.jpg"', '"covers/{FileName}.jpg"'))
    ws.cli("apply", ws.manifest, "--auto-approve", code=0)
    # a RAM policy without oss:DeleteObject: OSS refuses each DeleteMultipleObjects call as a whole
    with serving(DenyingProxy(cloud.url, method="POST")) as proxy:
        monkeypatch.setenv(ossclient.ENDPOINT_ENV, proxy.url)
        r = ws.cli("prune", ws.manifest, "--auto-approve", code=1)
        assert proxy.denied == 1  # one call for both objects; AccessDenied is not retried
    monkeypatch.setenv(ossclient.ENDPOINT_ENV, cloud.url)
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, r.output
    assert "grant this RAM identity oss:DeleteObject on bucket media-out" in errors[0]
    assert "prune deleted 0 of 2 objects" in errors[0] and "Traceback" not in r.output
    assert f"then run `specrunner prune {ws.manifest}` again" in r.output
    assert retired(ws.state) == ["media-out/posters/a.jpg", "media-out/posters/b.jpg"]
    assert (ws.oss / "media-out" / "posters" / "a.jpg").exists()
    r = ws.cli("prune", ws.manifest, "--auto-approve", code=0)  # granted: the next prune finishes
    assert "Deleted 2 of 2 objects." in r.stdout
    assert files(ws.oss / "media-out" / "posters") == []


def test_objects_the_bucket_will_not_delete_are_reported_each_and_stay_recorded(
    ws: Workspace, cloud: Emulator
) -> None:
    ws.write(CLOUD)
    ws.cli("apply", ws.manifest, "--auto-approve", code=0)
    ws.write(CLOUD.replace("[videos/a.mp4, videos/b.mp4]", "[videos/a.mp4]"))
    # a RAM policy denying oss:DeleteObject under seq/b/: OSS deletes the rest of the call
    cloud.faults.delete_deny = frozenset({"media-out/seq/b/"})
    r = ws.cli("prune", ws.manifest, "--auto-approve", code=1)
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, r.output
    assert errors[0].startswith("error: cannot delete oss://media-out/seq/b/00001.jpg: OSS did not delete it")
    assert "(1 other delete(s) failed too); prune deleted 1 of 3 objects" in errors[0]
    assert deletes(cloud) == [  # one call for the three objects
        "media-out/posters/b.jpg",
        "media-out/seq/b/00001.jpg",
        "media-out/seq/b/00002.jpg",
    ]
    assert not (ws.oss / "media-out" / "posters" / "b.jpg").exists()
    assert retired(ws.state) == ["media-out/seq/b/00001.jpg", "media-out/seq/b/00002.jpg"]
    assert sorted(ws.jobs()) == ["videos/a.mp4::poster", "videos/a.mp4::seq"]  # the forget is recorded

    doc = json.loads(ws.cli("prune", ws.manifest, "--auto-approve", "--format", "json", code=1).stdout)
    assert (doc["kind"], doc["exit_code"], doc["deleted"]) == ("specrunner-prune", 1, [])
    assert [f["object"] for f in doc["failed"]] == ["media-out/seq/b/00001.jpg", "media-out/seq/b/00002.jpg"]
    assert all("OSS did not delete it" in f["error"] for f in doc["failed"])
    assert doc["error"]["message"].endswith("prune deleted 0 of 2 objects")
    assert retired(ws.state) == ["media-out/seq/b/00001.jpg", "media-out/seq/b/00002.jpg"]

    cloud.faults.delete_deny = frozenset()  # the policy fixed: the next prune finishes
    r = ws.cli("prune", ws.manifest, "--auto-approve", code=0)
    assert "Deleted 2 of 2 objects." in r.stdout and b'"retired"' not in ws.state.read_bytes()
    assert not list((ws.oss / "media-out" / "seq" / "b").rglob("*.jpg"))


def test_on_a_terminal_prune_asks_as_apply_does(ws: Workspace, cloud: Emulator) -> None:
    ws.write(CLOUD)
    ws.cli("apply", ws.manifest, "--auto-approve", code=0)
    ws.write(CLOUD.replace("[videos/a.mp4, videos/b.mp4]", "[videos/a.mp4]"))
    code, out = on_a_terminal(ws, "no", "prune", "m.yaml")
    assert code == 1, out
    assert out.index("- delete media-out/posters/b.jpg") < out.index(
        "Do you want to delete these objects on aliyun?"
    )
    assert "3 objects will be deleted; this cannot be undone." in out
    assert "prune cancelled: the answer was not 'yes'; nothing was deleted" in out
    assert deletes(cloud) == [] and len(ws.jobs()) == 4
    code, out = on_a_terminal(ws, "yes", "prune", "m.yaml")
    assert code == 0, out
    assert "Deleted 3 of 3 objects." in out and len(ws.jobs()) == 2
    assert deletes(cloud) == [
        "media-out/posters/b.jpg",
        "media-out/seq/b/00001.jpg",
        "media-out/seq/b/00002.jpg",
    ]


def test_prune_as_json(ws: Workspace, cloud: Emulator) -> None:
    ws.write(CLOUD)
    ws.cli("apply", ws.manifest, "--auto-approve", code=0)
    ws.write(CLOUD.replace("[videos/a.mp4, videos/b.mp4]", "[videos/a.mp4]"))
    doc = json.loads(ws.cli("prune", ws.manifest, "--dry-run", "--format", "json", code=0).stdout)
    assert doc["kind"] == "specrunner-prune" and doc["dry_run"] is True
    assert doc["summary"] == {"delete": 3, "kept": 0, "forget": 2}
    assert (
        doc["deletions"][0]["source"] == "forgotten" and doc["deletions"][0]["job"] == "videos/b.mp4::poster"
    )
    r = ws.cli("prune", ws.manifest, "--format", "json", code=1)  # JSON cannot ask
    assert "JSON / markdown output cannot ask" in r.output and deletes(cloud) == []
    doc = json.loads(ws.cli("prune", ws.manifest, "--format", "json", "--auto-approve", code=0).stdout)
    assert doc["dry_run"] is False and len(doc["deleted"]) == 3 and doc["failed"] == []


def test_a_prune_killed_with_its_state_in_oss_is_finished_by_the_next(
    ws: Workspace, cloud: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECRUNNER_LOCK_LEASE", "2")
    ws.write(REMOTE)
    ws.cli("apply", ws.manifest, "--auto-approve", code=0)
    ws.write(REMOTE.replace("[videos/a.mp4, videos/b.mp4]", "[videos/a.mp4]"))
    p = killed_after_deleting(ws, "OssDeleter", "prune", str(ws.manifest), "--auto-approve")
    assert p.returncode == -9, p.stderr
    assert deletes(cloud) == [
        "media-out/posters/b.jpg",
        "media-out/seq/b/00001.jpg",
        "media-out/seq/b/00002.jpg",
    ]
    r = ws.cli("prune", ws.manifest, "--dry-run", code=0)  # the forgotten records' outputs, now retired
    assert r.stdout.startswith("Prune: 3 objects to delete.") and "Left behind by" in r.stdout
    r = ws.cli("prune", ws.manifest, "--auto-approve", "--lock-timeout", "30s", code=0)
    assert "Deleted 3 of 3 objects." in r.stdout
    pulled = json.loads(ws.cli("state", "pull", ws.manifest, code=0).stdout)
    assert "retired" not in pulled and sorted(pulled["jobs"]) == ["videos/a.mp4::poster", "videos/a.mp4::seq"]


def test_a_rename_by_moved_retires_nothing(ws: Workspace, video_4s: Path) -> None:
    applied(ws, video_4s)
    ws.write(MANIFEST.replace("{id: poster,", "{id: cover,") + "moved:\n  - {from: poster, to: cover}\n")
    r = ws.cli("apply", ws.manifest, code=0)
    assert "prune" not in r.stdout
    assert b'"retired"' not in ws.state.read_bytes()
    assert sorted(ws.jobs()) == [
        "videos/a.mp4::cover",
        "videos/a.mp4::seq",
        "videos/b.mp4::cover",
        "videos/b.mp4::seq",
    ]
    assert ws.cli("prune", ws.manifest, "--dry-run", code=0).stdout.startswith("Nothing to prune")

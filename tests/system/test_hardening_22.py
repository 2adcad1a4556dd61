"""Issue 22 attacked as an operator or a hostile file would: hand-edited lock files, folders that are
not what they seem, objects rewritten behind specrunner's back. Real files, real subprocesses."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from specrunner.backends import ossclient
from specrunner.emulator import Emulator
from specrunner.statefile.doc import decode_state
from tests.conftest import HEADER, Workspace

MANIFEST = (
    HEADER
    + """\
inputs: [videos/a.mp4]
rules:
  - {id: poster, time: 1s, width: 80, output: "posters/{FileName}.jpg"}
"""
)

KEY, SECRET = "LTAIharden00001", "harden-secret"
CLOUD = MANIFEST.replace(
    "target: {backend: local, root: ./oss}", "target: {backend: aliyun, region: cn-shanghai}"
).replace("[videos/a.mp4]", "[videos/a.mp4, videos/b.mp4]")


@pytest.fixture
def cloud(ws: Workspace, video_4s: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """The emulator serving MTS and OSS (real oss2 calls), two inputs uploaded."""
    ws.add_video(video_4s, "videos/a.mp4")
    ws.add_video(video_4s, "videos/b.mp4")
    with Emulator(ws.oss, {KEY: SECRET}) as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv(ossclient.ENDPOINT_ENV, em.url)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        yield em


def deletes(em: Emulator) -> list[str]:
    """The objects prune deleted (its DeleteMultipleObjects calls)."""
    return sorted(
        f"{e['params']['bucket']}/{key}"
        for e in em.requests()
        if e["action"] == "DeleteMultipleObjects" and e["status"] == 200
        for key in e["objects"]
    )


def applied(ws: Workspace, video: Path, manifest: str = MANIFEST) -> None:
    ws.add_video(video, "videos/a.mp4")
    ws.write(manifest)
    ws.cli("apply", ws.manifest, code=0)


def add_retired(state: Path, *entries: dict[str, str]) -> None:
    """A hand edit: ``entries`` appended to the lock file's retired list (made when absent)."""
    doc = json.loads(state.read_text())
    items = [*doc.get("retired", []), *entries]
    lines = ",\n".join(
        "    " + json.dumps(e, sort_keys=True) for e in sorted(items, key=lambda e: e["object"])
    )
    text = state.read_text()
    head = text[: text.index(',\n  "retired"')] if '"retired"' in text else text.rstrip()[:-1].rstrip()
    state.write_text(head + ',\n  "retired": [\n' + lines + "\n  ]\n}\n")
    assert decode_state(state.read_bytes(), state).retired  # still a valid lock file


def test_prune_never_deletes_an_input_a_hand_edited_retired_list_names(ws: Workspace, video_4s: Path) -> None:
    applied(ws, video_4s)
    source = ws.oss / "media-in" / "videos" / "a.mp4"
    original = source.read_bytes()
    add_retired(
        ws.state,
        {"job": "x::y", "object": "media-in/videos/a.mp4"},
        {"job": "x::y", "object": "media-out/posters/../../media-in/videos/a.mp4"},
    )
    r = ws.cli("prune", ws.manifest, "--dry-run", code=0)
    assert "= keep media-in/videos/a.mp4 (from x::y): an input of the manifest" in " ".join(r.stdout.split())
    r = ws.cli("prune", ws.manifest, code=1)  # the `..` key is refused, the input kept
    assert source.read_bytes() == original
    assert "refusing to delete media-out/posters/../../media-in/videos/a.mp4" in r.output
    ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0)  # the input and its job are untouched
    assert sorted(decode_state(ws.state.read_bytes(), ws.state).retired) == [
        "media-out/posters/../../media-in/videos/a.mp4"
    ]
    assert os.path.exists(ws.out("posters/a.jpg"))


def test_a_bucket_folder_that_is_a_file_is_one_refresh_error_never_a_replacement(
    ws: Workspace, video_4s: Path
) -> None:
    applied(ws, video_4s)
    before = ws.state.read_bytes()
    bucket = ws.oss / "media-out"
    bucket.rename(ws.oss / "moved-away")
    bucket.write_bytes(b"")  # the bucket's folder is now a file
    for cmd in (("plan", "--detailed-exitcode"), ("apply",)):
        r = ws.cli(*cmd[:1], ws.manifest, *cmd[1:], code=1)
        errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1, r.output
        assert "bucket media-out" in errors[0] and "nothing was planned" in errors[0]
        assert "--refresh=false" in r.output
        assert "replace" not in r.stdout and "Traceback" not in r.output
    r = ws.cli("plan", ws.manifest, "--format", "json", code=1)  # the same error, as one JSON document
    doc = json.loads(r.stdout)
    assert doc["kind"] == "specrunner-error" and r.stderr == ""
    assert "bucket media-out" in doc["message"] and "nothing was planned" in doc["message"]
    assert "--refresh=false" in doc["hint"]
    assert ws.state.read_bytes() == before
    ws.cli("plan", ws.manifest, "--refresh=false", "--detailed-exitcode", code=0)


def test_an_output_rewritten_with_its_size_and_mtime_kept_is_found_changed(
    ws: Workspace, video_4s: Path
) -> None:
    applied(ws, video_4s)
    poster = ws.out("posters/a.jpg")
    ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0)  # fingerprints cached
    st = poster.stat()
    data = poster.read_bytes()
    poster.write_bytes(bytes(b ^ 0xFF for b in data[:64]) + data[64:])  # other bytes, same size
    os.utime(poster, ns=(st.st_atime_ns, st.st_mtime_ns))  # as `cp -p` or `touch -r` would
    assert poster.stat().st_size == st.st_size and poster.stat().st_mtime_ns == st.st_mtime_ns
    r = ws.cli("plan", ws.manifest, "--detailed-exitcode", code=2)
    assert "output changed: posters/a.jpg" in r.stdout
    os.utime(poster)  # a touch alone (same bytes as now) changes nothing more
    ws.cli("apply", ws.manifest, code=0)
    before = ws.state.read_bytes()
    os.utime(poster)
    ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0)
    ws.cli("apply", ws.manifest, code=0)
    assert ws.state.read_bytes() == before


def test_prune_keeps_an_object_rewritten_since_specrunner_wrote_it(ws: Workspace, video_4s: Path) -> None:
    applied(ws, video_4s)
    ws.write(MANIFEST.replace('"posters/{FileName}.jpg"', '"covers/{FileName}.jpg"'))
    ws.cli("apply", ws.manifest, code=0)
    entry = json.loads(ws.state.read_text())["retired"][0]
    assert entry["object"] == "media-out/posters/a.jpg" and len(entry["etag"]) == 32  # its MD5 then
    poster = ws.out("posters/a.jpg")
    poster.write_bytes(b"the team's own poster, same name")  # re-created by hand with other bytes
    r = ws.cli("prune", ws.manifest, "--dry-run", "--detailed-exitcode", code=0)
    assert r.stdout.startswith("Prune: 0 objects to delete, 1 kept.")
    assert "= keep media-out/posters/a.jpg (from videos/a.mp4::poster, job " in " ".join(r.stdout.split())
    assert f"changed since specrunner wrote it (ETag {entry['etag']}, now " in " ".join(r.stdout.split())
    ws.cli("prune", ws.manifest, code=0)
    assert poster.read_bytes() == b"the team's own poster, same name"
    assert [e["object"] for e in json.loads(ws.state.read_text())["retired"]] == ["media-out/posters/a.jpg"]

    # a forgotten job's output rewritten by hand is kept too; the other job's objects are deleted
    covers = MANIFEST.replace('"posters/{FileName}.jpg"', '"covers/{FileName}.jpg"')
    ws.add_video(video_4s, "videos/b.mp4")
    ws.write(covers.replace("[videos/a.mp4]", "[videos/a.mp4, videos/b.mp4]"))
    ws.cli("apply", ws.manifest, code=0)
    ws.out("covers/a.jpg").write_bytes(b"edited")
    ws.write(covers.replace("[videos/a.mp4]", "[videos/c.mp4]"))
    r = ws.cli("prune", ws.manifest, code=0)
    assert "= keep media-out/covers/a.jpg (from videos/a.mp4::poster" in " ".join(r.stdout.split())
    assert "Deleted 1 of 1 object." in r.stdout
    assert ws.out("covers/a.jpg").read_bytes() == b"edited" and not ws.out("covers/b.jpg").exists()
    assert poster.exists()


def test_a_saved_plan_refused_after_the_buckets_changed_says_so(ws: Workspace, video_4s: Path) -> None:
    applied(ws, video_4s)
    poster = ws.out("posters/a.jpg")
    kept = poster.read_bytes()
    poster.unlink()
    saved = ws.oss.parent / "plan.json"
    ws.cli("plan", ws.manifest, "--out", saved, code=0)
    poster.write_bytes(kept)  # the output came back (restored from a backup) before the apply
    before = ws.state.read_bytes()
    r = ws.cli("apply", saved, code=1)
    error = next(ln for ln in r.output.splitlines() if ln.startswith("error:"))
    assert error.startswith(
        "error: the saved plan is stale: videos/a.mp4::poster was planned `replace` and would be `noop` now"
    )
    assert "the buckets' outputs or inputs changed since it was made" in error
    assert "hint: make a new plan, `specrunner plan " in r.output and "m.yaml --out plan.json`" in r.output
    assert ws.state.read_bytes() == before
    ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0)


def test_on_aliyun_prune_compares_etags_through_oss_and_a_denied_listing_deletes_nothing(
    ws: Workspace, cloud: Emulator
) -> None:
    ws.write(CLOUD)
    ws.cli("apply", ws.manifest, "--auto-approve", code=0)
    ws.write(CLOUD.replace('"posters/{FileName}.jpg"', '"covers/{FileName}.jpg"'))
    ws.cli("apply", ws.manifest, "--auto-approve", code=0)
    assert all(e.get("etag") for e in json.loads(ws.state.read_text())["retired"])
    (ws.oss / "media-out" / "posters" / "a.jpg").write_bytes(b"a poster a person made")
    before = ws.state.read_bytes()
    cloud.faults.deny_list = frozenset({"media-out"})
    r = ws.cli("prune", ws.manifest, "--auto-approve", code=1)
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "prune cannot check the objects it would delete" in errors[0], r.output
    assert "media-out" in errors[0] and "nothing was deleted" in errors[0]
    assert deletes(cloud) == [] and ws.state.read_bytes() == before
    cloud.faults.deny_list = frozenset()
    r = ws.cli("prune", ws.manifest, "--auto-approve", code=0)
    assert "= keep media-out/posters/a.jpg" in " ".join(
        r.stdout.split()
    ) and "changed since specrunner wrote it" in " ".join(r.stdout.split())
    assert "Deleted 1 of 1 object." in r.stdout
    assert deletes(cloud) == ["media-out/posters/b.jpg"]
    assert (ws.oss / "media-out" / "posters" / "a.jpg").read_bytes() == b"a poster a person made"


def test_refresh_false_with_a_space_is_understood_as_with_an_equals_sign(
    ws: Workspace, video_4s: Path
) -> None:
    applied(ws, video_4s)
    ws.out("posters/a.jpg").unlink()
    before = ws.state.read_bytes()
    r = ws.cli("plan", ws.manifest, "--refresh", "false", "--detailed-exitcode", code=0)
    assert "No changes" in r.stdout
    ws.cli("apply", ws.manifest, "--refresh", "false", code=0)
    assert ws.state.read_bytes() == before and not ws.out("posters/a.jpg").exists()
    r = ws.cli("plan", "--refresh", "true", ws.manifest, "--detailed-exitcode", code=2)
    assert "output missing: posters/a.jpg" in r.stdout

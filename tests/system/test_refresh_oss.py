"""The refresh on the cloud backend: the real oss2 client against the emulator's ListObjectsV2 (issue 22).

Listing by prefix (never a HEAD per object), a listing denied (403 AccessDenied) or unreachable (one
error naming the bucket, oss:ListObjects and --refresh=false; nothing planned), simulated jobs writing
real objects, and answers without Count whose later points fall past the end of the clip.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from specrunner.emulator.server import Emulator
from tests.conftest import Workspace, read_jobs
from tests.helpers import free_port

KEY, SECRET = "LTAIrefresh0001", "refresh-secret-0001"
MANIFEST = """\
version: 1
target: {backend: aliyun, region: cn-shanghai}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs: [%s]
rules:
  - {id: p, time: 1s, output: "p/{FileName}.jpg"}
  - {id: s, time: 0, num: 3, interval: 1, output: "s/{FileName}/{Count}.jpg"}
"""


def setup(ws: Workspace, monkeypatch: pytest.MonkeyPatch, em: Emulator, n: int = 3) -> None:
    for i in range(n):
        f = ws.oss / "media-in" / "v" / f"c{i:03d}.mp4"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"clip %d" % i)
    ws.write(MANIFEST % ", ".join(f"v/c{i:03d}.mp4" for i in range(n)))
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
    monkeypatch.setenv("SPECRUNNER_OSS_ENDPOINT", em.url)


def calls(em: Emulator, action: str) -> int:
    return sum(1 for e in em.requests() if e["action"] == action)


def test_simulated_jobs_write_their_objects_and_the_refresh_lists_by_prefix(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Emulator(ws.oss, {KEY: SECRET}, simulate=True) as em:
        setup(ws, monkeypatch, em, n=30)
        ws.cli("apply", ws.manifest, "--auto-approve", code=0)
        jobs = read_jobs(ws.state)
        for rec in jobs.values():  # every recorded output is an object the simulated job wrote
            for ref, (size, etag) in zip(rec["outputs"], rec["seen"], strict=True):
                data = (ws.oss / ref).read_bytes()
                assert size == len(data) and etag == hashlib.md5(data).hexdigest().upper()
            assert rec["input_etag"] == hashlib.md5((ws.oss / rec["input"]).read_bytes()).hexdigest().upper()
        lists, heads = calls(em, "ListObjectsV2"), calls(em, "HeadObject") + calls(em, "GetObjectMeta")
        out = ws.cli(
            "plan", ws.manifest, "--detailed-exitcode", "-v", code=0
        ).output  # -v: said when all is well
        assert "No changes" in out and "120 output(s) and 60 input(s)" in out, out
        # 120 outputs under 2 prefixes, 30 inputs under 1: one call per prefix, no HEAD at all
        assert calls(em, "ListObjectsV2") - lists == 3
        assert calls(em, "HeadObject") + calls(em, "GetObjectMeta") == heads
        (ws.oss / "media-out" / "s" / "c007" / "00002.jpg").unlink()
        out = ws.cli("plan", ws.manifest, "--detailed-exitcode", code=2).output
        assert "v/c007.mp4::s" in out and "output missing: s/c007/00002.jpg" in out, out
        ws.cli("apply", ws.manifest, "--auto-approve", code=0)
        assert (ws.oss / "media-out" / "s" / "c007" / "00002.jpg").is_file()


@pytest.mark.parametrize("how", ["denied", "unreachable"])
def test_a_listing_that_cannot_be_made_is_one_error_and_plans_nothing(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    with Emulator(ws.oss, {KEY: SECRET}, simulate=True) as em:
        setup(ws, monkeypatch, em)
        ws.cli("apply", ws.manifest, "--auto-approve", code=0)
        before = ws.state.read_bytes()
        submits = calls(em, "SubmitSnapshotJob")
        if how == "denied":
            em.faults.deny_list = frozenset({"media-out"})
        else:
            monkeypatch.setenv("SPECRUNNER_OSS_ENDPOINT", f"http://127.0.0.1:{free_port()}")
        for cmd in (("plan",), ("plan", "--format", "json"), ("apply", "--auto-approve")):
            r = ws.cli(*cmd[:1], ws.manifest, *cmd[1:], code=1)
            if "json" in cmd:  # the same error, as the one JSON document on stdout
                doc = json.loads(r.stdout)
                assert doc["kind"] == "specrunner-error" and r.stderr == ""
                text = f"error: {doc['message']}\nhint: {doc['hint']}"
            else:
                text = r.output
            errors = [ln for ln in text.splitlines() if ln.startswith("error:")]
            assert len(errors) == 1, text
            assert "Plan:" not in text and "to replace" not in text and '"changes"' not in text
            assert "oss://media-" in text and "oss:ListObjects" in text and "--refresh=false" in text
            if how == "denied":
                assert "media-out" in text and "AccessDenied" in text
        assert ws.state.read_bytes() == before and calls(em, "SubmitSnapshotJob") == submits
        out = ws.cli("plan", ws.manifest, "--refresh=false", "--detailed-exitcode", code=0).output
        assert "No changes" in out


def test_without_count_a_multi_snapshot_job_past_the_end_records_exactly_what_exists(
    ws: Workspace, video_4s: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(
        "version: 1\ntarget: {backend: aliyun, region: cn-shanghai}\n"
        "defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}\n"
        "inputs: [videos/a.mp4]\nrules:\n"
        '  - {id: many, time: 0, num: 8, interval: 1s, output: "s/{FileName}/{Count}.jpg"}\n'
    )
    with Emulator(ws.oss, {KEY: SECRET}, answers="documented", region="cn-shanghai") as em:
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv("SPECRUNNER_OSS_ENDPOINT", em.url)
        ws.cli("apply", ws.manifest, "--auto-approve", code=0)
        rec = read_jobs(ws.state)["videos/a.mp4::many"]
        folder = ws.oss / "media-out" / "s" / "a"
        on_disk = sorted(f"media-out/s/a/{p.name}" for p in folder.iterdir())
        assert 1 < len(on_disk) < 8 and rec["outputs"] == on_disk and rec["count"] == len(on_disk)
        assert [s[0] for s in rec["seen"]] == [(ws.oss / o).stat().st_size for o in on_disk]
        assert "No changes" in ws.cli("plan", ws.manifest, code=0).output


def test_the_contact_sheet_marks_missing_outputs_and_show_says_what_was_verified_and_when(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    with Emulator(ws.oss, {KEY: SECRET}, simulate=True) as em:
        setup(ws, monkeypatch, em)
        ws.cli("apply", ws.manifest, "--auto-approve", code=0)
        (ws.oss / "media-out" / "p" / "c001.jpg").unlink()
        out = ws.dir / "sheet"
        ws.cli("report", ws.manifest, "--out", out, code=0)
        html = (out / "index.html").read_text()
        doc = json.loads(ws.cli("show", ws.manifest, "--format", "json", code=0).output)
    assert "1 output listed in the state is not in the bucket" in html and "1 missing, 0 changed" in html
    assert '<li class="missing"><span class="mono">oss://media-out/p/c001.jpg' in html
    assert html.count("<b>missing</b>") == 1
    jobs = {j["key"]: j for j in doc["jobs"]}
    job = jobs["v/c001.mp4::s"]
    assert job["verified_at"].endswith("Z") and job["input_etag"]
    assert [s["object"] for s in job["seen"]] == job["outputs"] and all(s["size"] > 0 for s in job["seen"])

"""Input discovery on OSS end to end: `plan` / `apply` of a `backend: aliyun` manifest whose
`{prefix, match}` entry is expanded through the emulator's ListObjectsV2 (the real CLI, oss2, the SDK).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from specrunner.backends import ossclient
from specrunner.emulator import Emulator
from specrunner.testing.video import make_video
from tests.conftest import Workspace
from tests.helpers import listings, put_file

KEY, SECRET = "LTAIossdiscovery1", "oss-secret-do-not-leak"


MANIFEST = """\
version: 1
target: {backend: aliyun, region: cn-shanghai}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs:
  - videos/2025/old.mp4
  - {prefix: videos/2026/, match: "*.mp4"}
rules:
  - {id: p, time: 1s, width: 80, output: "p/{ObjectPrefix}{FileName}.jpg"}
"""
DISCOVERED = ["videos/2026/a.mp4", "videos/2026/b clip.mp4", "videos/2026/sub/ü 日本.mp4"]


@pytest.fixture(scope="module")
def video_2s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("videos") / "two.mp4"
    make_video(path, duration_s=2, fps=25, width=160, height=120, gop=25)
    return path


@pytest.fixture
def cloud(ws: Workspace, video_2s: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    for key in DISCOVERED + ["videos/2025/old.mp4", "videos/2025/skipped.mp4"]:
        ws.add_video(video_2s, key)
    put_file(ws.oss, "media-in", "videos/2026/notes.txt")
    put_file(ws.oss, "media-in", "videos/2026/c.MP4")  # fnmatchcase: *.mp4 does not match
    ws.write(MANIFEST)
    with Emulator(ws.oss, {KEY: SECRET}, journal=ws.dir / "emulator.jsonl") as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv(ossclient.ENDPOINT_ENV, em.url)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        yield em


def test_plan_and_apply_discover_inputs_through_the_emulator(ws: Workspace, cloud: Emulator) -> None:
    r = ws.cli("plan", ws.manifest, code=0)
    assert "Discovered 3 inputs in media-in/videos/2026/ matching *.mp4 (inputs[1])." in r.stdout
    assert "Plan: 4 to create" in r.stdout
    lists = listings(cloud)
    assert lists and all(
        e["status"] == 200 and e["params"]["bucket"] == "media-in" and e["params"]["prefix"] == "videos/2026/"
        for e in lists
    )
    plan = json.loads(ws.cli("plan", ws.manifest, "--format", "json", code=0).stdout)
    assert plan["discovery"] == [
        {"index": 1, "bucket": "media-in", "prefix": "videos/2026/", "match": "*.mp4", "found": 3}
    ]
    assert sorted(c["key"] for c in plan["changes"]) == sorted(
        f"{k}::p" for k in DISCOVERED + ["videos/2025/old.mp4"]
    )

    ws.cli("apply", ws.manifest, "--auto-approve", code=0)
    out = ws.oss / "media-out"
    jpgs = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert jpgs == sorted(f"p/{k[: -len('.mp4')]}.jpg" for k in DISCOVERED + ["videos/2025/old.mp4"])
    submits = [e for e in cloud.requests() if e["action"] == "SubmitSnapshotJob"]
    assert sorted(unquote(json.loads(e["params"]["Input"])["Object"]) for e in submits) == sorted(
        DISCOVERED + ["videos/2025/old.mp4"]
    )
    # A new matching object shows up in the next plan; the applied ones are unchanged.
    ws.add_video(ws.oss / "media-in" / "videos/2026/a.mp4", "videos/2026/new.mp4")
    r = ws.cli("plan", ws.manifest, code=0)
    assert "Discovered 4 inputs in media-in/videos/2026/ matching *.mp4 (inputs[1])." in r.stdout
    assert "Plan: 1 to create" in r.stdout
    text = (ws.dir / "emulator.jsonl").read_text()
    assert SECRET not in text and KEY not in text


def test_plan_with_a_wrong_secret_fails_in_one_line(
    ws: Workspace, cloud: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "wrong-secret-abc")
    r = ws.cli("plan", ws.manifest)
    assert r.exit_code != 0
    assert "refused the signature (SignatureDoesNotMatch)" in r.stderr
    assert "wrong-secret-abc" not in r.output and SECRET not in r.output
    assert not [e for e in cloud.requests() if e["action"] == "SubmitSnapshotJob"]


def test_plan_with_a_missing_bucket_names_it(ws: Workspace, cloud: Emulator) -> None:
    ws.write(
        MANIFEST.replace(
            '{prefix: videos/2026/, match: "*.mp4"}',
            '{prefix: videos/2026/, match: "*.mp4", bucket: media-gone}',
        )
    )
    r = ws.cli("plan", ws.manifest)
    assert r.exit_code != 0
    assert "oss://media-gone/videos/2026/" in r.stderr and "NoSuchBucket" in r.stderr

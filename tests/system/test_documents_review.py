"""Review of issue 23 (faithful to the documents, round 2): what an attack against the emulator's
documented answer styles found, each pinned by a test that failed before its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from specrunner.emulator.server import Emulator
from tests.conftest import Workspace
from tests.system.test_documents import KEY, MANIFEST, SECRET


def test_an_ambiguous_import_does_not_advise_the_placeholder_the_rule_already_has(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented answers carry no Input and repeat the output template as sent: a rule writing
    p/{FileName}.jpg for two inputs cannot be told apart by its answer, and adding {FileName} (which it
    has) would change nothing; the hint gives the ways out that work."""
    with Emulator(ws.oss, {KEY: SECRET}, simulate=True, answers="documented") as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv("SPECRUNNER_OSS_ENDPOINT", em.url)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        ws.write(MANIFEST)
        ws.cli("apply", ws.manifest, "--auto-approve", code=0)
        job_id = ws.jobs()["videos/a.mp4::p"]["job_id"]
        ws.cli("state", "rm", ws.manifest, "videos/a.mp4::p", code=0)
        r = ws.cli("import", ws.manifest, "videos/a.mp4::p", job_id, code=1)
        assert "'p/{FileName}.jpg' fits 2 jobs" in r.stderr
        assert "repeats the output template" in r.stderr
        hint = r.stderr.split("hint:", 1)[1]
        assert "{FileName}" not in hint
        assert "import it where the answer carries Input" in hint
        assert "--target videos/a.mp4::p" in hint


@pytest.mark.parametrize("backend", ["local", "emulator-documented"])
def test_the_recorded_vtt_index_is_the_object_written_when_count_names_a_folder(
    ws: Workspace, video_4s: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """``v/{FileName}/{Count}/pic.jpg``: the index goes next to the first snapshot, v/a/00001/a.vtt; the
    lock file named v/a/{Count}/a.vtt, an object that does not exist, and left the real one unrecorded
    (a prune would never delete it)."""
    ws.add_video(video_4s, "videos/a.mp4")
    target = "{backend: local, root: ./oss}"
    if backend != "local":
        target = "{backend: aliyun, region: cn-shanghai}"
        em = Emulator(ws.oss, {KEY: SECRET}, answers="documented").__enter__()
        for name in ("SPECRUNNER_MTS_ENDPOINT", "SPECRUNNER_OSS_ENDPOINT"):
            monkeypatch.setenv(name, em.url)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    try:
        ws.write(
            f"""
            version: 1
            target: {target}
            defaults: {{location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}}
            inputs: [videos/a.mp4]
            rules:
              - id: v
                time: 0
                interval: 1s
                num: 2
                format: vtt
                output: "v/{{FileName}}/{{Count}}/pic.jpg"
            """
        )
        ws.cli("apply", ws.manifest, "--auto-approve", code=0)
        recorded = sorted(ws.jobs()["videos/a.mp4::v"]["outputs"])
        written = sorted(
            "media-out/" + p.relative_to(ws.oss / "media-out").as_posix()
            for p in (ws.oss / "media-out").rglob("*")
            if p.is_file()
        )
        assert (
            recorded
            == written
            == [
                "media-out/v/a/00001/a.vtt",
                "media-out/v/a/00001/pic.jpg",
                "media-out/v/a/00002/pic.jpg",
            ]
        )
    finally:
        if backend != "local":
            em.__exit__(None, None, None)

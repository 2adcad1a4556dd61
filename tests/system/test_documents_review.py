"""Review of issue 23 (faithful to the documents, round 2): what an attack against the emulator's
documented answer styles found, each pinned by a test that failed before its fix."""

from __future__ import annotations

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

"""Issue 23, faithful to the documents (round 2), on the real wire: the real SDK and the CLI against
``specrunner emulator`` in each documented answer style, the corpus (``tests/fixtures/mts-docs``)
served and read back, import from answers without Input, and lock files written before."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from specrunner.backends.aliyun import AliyunBackend
from specrunner.core import codes
from specrunner.core.errors import PermanentBackendError, TransientBackendError
from specrunner.emulator.server import Emulator
from tests.conftest import REPO, Workspace, read_jobs
from tests.helpers import put_outputs

DOCS = REPO / "tests" / "fixtures" / "mts-docs"
UPGRADE = REPO / "tests" / "fixtures" / "upgrade"
CODES: list[dict[str, Any]] = json.loads((DOCS / "codes.json").read_text())["codes"]
KEY, SECRET = "dAK", "d-secret"
PIPE = "88c6ca184c0e47098a5b665e2a126797"
REQUEST = {
    "Input": {"Bucket": "media-in", "Location": "oss-cn-shanghai", "Object": "videos%2Fa.mp4"},
    "SnapshotConfig": {
        "OutputFile": {"Bucket": "media-out", "Location": "oss-cn-shanghai", "Object": "p%2Fa.jpg"},
        "Time": "0",
        "FrameType": "intra",
    },
}


@pytest.fixture(params=["documented", "documented-2021"])
def styled(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Emulator]:
    with Emulator(tmp_path / "root", {KEY: SECRET}, simulate=True, answers=request.param) as e:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", e.url)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        yield e


def backend() -> AliyunBackend:
    from types import SimpleNamespace

    return AliyunBackend.from_target(
        SimpleNamespace(region="cn-shanghai", endpoint=None, pipeline_id=None), workers=1
    )


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DOCS / name).read_text())
    return data


# ------------------------------------------------------------------ 2. both answer shapes, served and read


def test_each_answer_style_has_the_documented_shape_and_is_read(styled: Emulator) -> None:
    b = backend()
    job = b.submit({**REQUEST, "PipelineId": PIPE}, "sr-0000000000000d01")
    found, missing = b.query([job.id, "0" * 32])
    assert [j.id for j in found] == [job.id] and missing == ["0" * 32]
    raw = found[0].raw
    since = datetime.now(UTC) - timedelta(minutes=5)
    looked_up = b.find_by_tag("sr-0000000000000d01", pipeline_id=PIPE, since=since)
    assert looked_up is not None and looked_up.id == job.id  # listing mode reads the same shape
    if styled.actions.answers == "documented":  # the 2014 pages' samples: these fields, lists wrapped
        assert set(raw) == set(sample("query-2014-en.json")["SnapshotJobList"]["SnapshotJob"][0])
    else:  # the 2021 pages' samples: every field (MNSMessageResult too), lists flat
        assert set(raw) == set(sample("query-2021-cn.json")["SnapshotJobList"][0])
        assert raw["MNSMessageResult"]["ErrorCode"] == ""
    b.close()


def test_the_query_answer_has_the_style_s_list_shape_on_the_wire(styled: Emulator) -> None:
    from aliyunsdkcore.client import AcsClient

    from specrunner.backends.mtsrequests import query_request

    b = backend()
    job = b.submit(REQUEST, "sr-0000000000000d02")
    b.close()
    client = AcsClient(KEY, SECRET, "cn-shanghai", auto_retry=False, proxy={"http": None, "https": None})
    req = query_request([job.id, "f" * 32])
    req.set_endpoint(styled.url.removeprefix("http://"))
    body = json.loads(client.do_action_with_exception(req))
    if styled.actions.answers == "documented-2021":  # as the 2021 Query page's sample
        assert [j["Id"] for j in body["SnapshotJobList"]] == [job.id]
        assert body["NonExistSnapshotJobIds"] == ["f" * 32]
    else:  # as the older page and the SDK models
        assert [j["Id"] for j in body["SnapshotJobList"]["SnapshotJob"]] == [job.id]
        assert body["NonExistSnapshotJobIds"] == {"String": ["f" * 32]}


def test_arrays_stay_arrays_in_answers(styled: Emulator) -> None:
    b = backend()
    cfg = {**REQUEST["SnapshotConfig"], "NewFeature": {"PointList": [1000, 2000]}}
    job = b.submit({**REQUEST, "SnapshotConfig": cfg}, "sr-0000000000000d05")
    (found,), _ = b.query([job.id])
    assert found.raw["SnapshotConfig"]["NewFeature"] == {"PointList": [1000, 2000]}
    assert found.raw["SnapshotConfig"]["Time"] == "0"  # scalars stay strings
    b.close()


# ------------------------------------------------------------------ the corpus's codes, served and classified


def test_every_documented_code_is_served_and_classified(styled: Emulator) -> None:
    b = backend()
    job = b.submit(REQUEST, "sr-0000000000000d03")
    for entry in CODES:
        code = entry["code"]
        if "*" in code:  # a masked sample code: classified in the unit corpus test, never served
            continue
        styled.faults.job_code = code
        (failed,), _ = b.query([job.id])
        assert failed.state == "Fail"
        if styled.actions.answers == "documented-2021":
            assert failed.code == codes.bare_code(code)  # as the 2021 samples write it
        assert codes.classify(failed.code) == entry["job"], code
        styled.faults.job_code = None
        if "api" in entry:
            styled.faults.answer_error = (code, entry["status"])
            expected = PermanentBackendError if entry["api"] == codes.PERMANENT else TransientBackendError
            with pytest.raises(expected) as caught:
                b.query([job.id])
            assert caught.value.code == code
            styled.faults.answer_error = None
    b.close()


# ------------------------------------------------------------------ 8, 3, 10: what the emulator refuses


def test_the_emulator_refuses_what_the_documents_forbid(styled: Emulator) -> None:
    b = backend()
    cfg = REQUEST["SnapshotConfig"]
    bad = [
        ({**REQUEST, "PipelineId": "not-a-uuid"}, "InvalidParameter.UUIDFormatInvalid"),
        ({**REQUEST, "SnapshotConfig": {**cfg, "Interval": "1"}}, "InvalidParameter"),  # no {Count}
        (
            {**REQUEST, "SnapshotConfig": {**cfg, "TimeArray": {"TimePointList": [1000, 2000]}}},
            "InvalidParameter.NotSupported",
        ),
    ]
    for request, code in bad:
        with pytest.raises(PermanentBackendError) as caught:
            b.submit(request, "sr-0000000000000d04")
        assert caught.value.code == code
    b.close()


# ------------------------------------------------------------------ 7. import from answers without Input

MANIFEST = """\
version: 1
target: {backend: aliyun, region: cn-shanghai}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs: [videos/a.mp4, videos/b.mp4]
rules:
  - {id: p, time: 1s, output: "p/{FileName}.jpg"}
  - {id: only-a, time: 1s, output: "a/cover.jpg", inputs: [videos/a.mp4]}
"""


def test_import_without_input_matches_by_output_and_refuses_only_when_ambiguous(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Emulator(ws.oss, {KEY: SECRET}, simulate=True, answers="documented") as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv("SPECRUNNER_OSS_ENDPOINT", em.url)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        ws.write(MANIFEST)
        ws.cli("apply", ws.manifest, "--auto-approve", code=0)
        jobs = ws.jobs()
        for key in ("videos/a.mp4::only-a", "videos/a.mp4::p"):
            ws.cli("state", "rm", ws.manifest, key, code=0)
        only = jobs["videos/a.mp4::only-a"]["job_id"]
        r = ws.cli("import", ws.manifest, "videos/a.mp4::only-a", only, code=0)  # its output is its own
        assert f"Imported videos/a.mp4::only-a -> {only} (Success)" in r.stdout
        r = ws.cli("import", ws.manifest, "videos/a.mp4::p", jobs["videos/a.mp4::p"]["job_id"], code=1)
        assert "names no Input" in r.stderr and "videos/b.mp4::p" in r.stderr and "--target" in r.stderr
        r = ws.cli("import", ws.manifest, "videos/b.mp4::only-a", only, code=1)
        assert "no job" in r.stderr  # only-a has no job for b
        # MTS may answer the output resolved for the input ({FileName} filled in): then it is a's alone
        p_id = jobs["videos/a.mp4::p"]["job_id"]
        sim = em._sim
        assert sim is not None
        sim._jobs[p_id].job["SnapshotConfig"]["OutputFile"]["Object"] = "p%2Fa.jpg"
        r = ws.cli("import", ws.manifest, "videos/a.mp4::p", p_id, code=0)
        assert f"Imported videos/a.mp4::p -> {p_id} (Success)" in r.stdout
        r = ws.cli("import", ws.manifest, "videos/b.mp4::p", p_id, code=1)  # a's output is not b's
        assert "does not match" in r.stderr and "SnapshotConfig.OutputFile" in r.stderr


def test_import_without_input_follows_the_tag_specrunner_sent(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A submission whose answer was lost (its record holds the UserData tag it sent): the job carrying
    that tag is the key's, even where its output alone would fit several jobs."""
    with Emulator(ws.oss, {KEY: SECRET}, simulate=True, answers="documented") as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv("SPECRUNNER_OSS_ENDPOINT", em.url)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        ws.write(MANIFEST)
        ws.cli("apply", ws.manifest, "--auto-approve", code=0)
        records = read_jobs(ws.state)
        lock = json.loads(ws.state.read_text())
        p_id = records["videos/a.mp4::p"]["job_id"]
        sim = em._sim
        assert sim is not None
        tag = sim._jobs[p_id].job["UserData"]
        # the record as a crash right after the Submit left it: an intent with its tag, no job id
        records["videos/a.mp4::p"].update(
            job_id=None,
            state=None,
            count=None,
            tile_count=None,
            outputs=[],
            intent={"tag": tag, "since": "2026-12-07T00:00:00Z"},
        )
        ws.state.write_text(
            json.dumps({"version": 1, "lineage": lock["lineage"], "serial": lock["serial"], "jobs": records})
        )
        r = ws.cli("import", ws.manifest, "videos/b.mp4::p", p_id, code=1)  # b's record has no such tag
        assert "names no Input" in r.stderr
        r = ws.cli("import", ws.manifest, "videos/a.mp4::p", p_id, code=0)
        assert f"Imported videos/a.mp4::p -> {p_id} (Success)" in r.stdout


# ------------------------------------------------------------------ lock files written before this change


# documents: written by main at 1b011f2 (before issue 23); vtt-folders: by main at 732f774 (before its
# review: a .vtt recorded under a {Count} folder, an interval-only black_level)
@pytest.mark.parametrize("stem", ["documents", "vtt-folders"])
def test_a_lock_file_written_before_plans_as_a_no_op(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, stem: str
) -> None:
    shutil.copytree(REPO / "specs" / "oss" / "media-in", ws.dir / "oss" / "media-in")
    for name in (f"{stem}.yaml", f"{stem}.lock.json"):
        shutil.copyfile(UPGRADE / name, ws.dir / name)
    before = (ws.dir / f"{stem}.lock.json").read_bytes()
    put_outputs(ws.dir / f"{stem}.lock.json", ws.dir / "oss")  # the buckets hold what it names
    monkeypatch.chdir(ws.dir)
    r = ws.cli("plan", f"{stem}.yaml", "--detailed-exitcode", code=0)
    assert "No changes" in r.output
    assert (ws.dir / f"{stem}.lock.json").read_bytes() == before


def test_a_lock_file_with_a_time_array_is_refused_and_kept(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("timearray.yaml", "timearray.lock.json"):
        shutil.copyfile(UPGRADE / name, ws.dir / name)
    before = (ws.dir / "timearray.lock.json").read_bytes()
    monkeypatch.chdir(ws.dir)
    r = ws.cli("plan", "timearray.yaml", code=1)
    assert "no MTS page documents it as a SubmitSnapshotJob parameter" in r.output
    assert "one rule per time point" in r.output
    assert (ws.dir / "timearray.lock.json").read_bytes() == before


# ------------------------------------------------------------------ 6. the WebVTT index is an output


def test_a_vtt_job_records_its_index_among_its_outputs(ws: Workspace, video_4s: Path) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(
        """
        version: 1
        target: {backend: local, root: ./oss}
        defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
        inputs: [videos/a.mp4]
        rules:
          - {id: v, time: 0, interval: 1s, num: 3, format: vtt, output: "v/{FileName}/{Count}.jpg"}
        """
    )
    ws.cli("apply", ws.manifest, "--auto-approve", code=0)
    outputs = ws.jobs()["videos/a.mp4::v"]["outputs"]
    assert "media-out/v/a/a.vtt" in outputs and ws.out("v/a/a.vtt").exists()
    assert [o for o in outputs if o.endswith(".jpg")] == [f"media-out/v/a/0000{i}.jpg" for i in (1, 2, 3)]
    r = ws.cli("outputs", ws.manifest, code=0)
    assert "v/a/a.vtt" in r.stdout


# ------------------------------------------------------------------ review: import hints, the .vtt index


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

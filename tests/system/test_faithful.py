"""Faithful to the documented service: each rule the documentation states, checked on the real wire
(the real SDK against the emulator or a scripted server) or on the pure code that decides it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from specrunner.apply.ratelimit import RetryPolicy
from specrunner.backends.aliyun import AliyunBackend
from specrunner.cli.main import cli
from specrunner.core.errors import PermanentBackendError, TransientBackendError, UncertainSubmitError
from specrunner.core.jobs import expand
from specrunner.core.plan import make_plan
from specrunner.validate.manifest import check_document
from specrunner.validate.yamlload import load
from tests.conftest import REPO, Workspace, read_jobs
from tests.helpers import serving
from tests.records import entry

KEY, SECRET = "LTAIfaithful01", "faithful-secret-0001"
REQUEST = {
    "Input": {"Bucket": "media-in", "Location": "oss-cn-shanghai", "Object": "videos%2Fa.mp4"},
    "SnapshotConfig": {
        "OutputFile": {
            "Bucket": "media-out",
            "Location": "oss-cn-shanghai",
            "Object": "p%2F%7BFileName%7D.jpg",
        },
        "Time": "0",
        "FrameType": "intra",
    },
}


def model(text: str) -> Any:
    data, marks = load(text)
    m, diags = check_document(data, marks, "m.yaml", Path("/tmp/m.yaml"))
    assert m is not None, [d.render() for d in diags]
    return m


def lock_jobs(path: Path) -> dict[str, Any]:
    """The job records of a lock file, through the project's reader when it has one."""
    try:
        from tests.conftest import read_jobs  # type: ignore[attr-defined]
    except ImportError:
        return dict(json.loads(path.read_text())["jobs"])
    return dict(read_jobs(path))


def diagnostics(text: str) -> list[str]:
    data, marks = load(text)
    _, diags = check_document(data, marks, "m.yaml", Path("/tmp/m.yaml"))
    return [d.render() for d in diags]


HEAD = """
version: 1
defaults: {location: oss-cn-shanghai, input_bucket: in-b, output_bucket: out-b}
inputs: [v/a.mp4]
"""


# ------------------------------------------------------------------ 1. mts: nested values go out as JSON


def test_mts_nested_values_go_out_as_json() -> None:
    m = model(
        HEAD
        + """rules:
  - {id: r, time: 1s, output: "p/{FileName}.jpg",
     mts: {NewFeature: {PointList: [1000, 2000]}, Extra: 3}}
"""
    )
    (job,) = expand(m)
    cfg = job.request["SnapshotConfig"]
    assert cfg["NewFeature"] == {"PointList": [1000, 2000]}
    assert cfg["Extra"] == "3"  # scalars stay strings, as every documented SnapshotConfig scalar
    # On the wire (SnapshotConfig travels as a JSON string): an array, not the Python text "[1000, 2000]".
    assert '"PointList":[1000,2000]' in json.dumps(cfg, separators=(",", ":"))


# ------------------------------------------------------------------ 7. FrameType always explicit


def test_frame_type_is_always_sent() -> None:
    m = model(
        HEAD
        + """rules:
  - {id: a, time: 1s, output: "a/{FileName}.jpg"}
  - {id: n, time: 1s, frame_type: normal, output: "n/{FileName}.jpg"}
"""
    )
    frame = {j.rule_id: j.request["SnapshotConfig"]["FrameType"] for j in expand(m)}
    assert frame == {"a": "intra", "n": "normal"}
    assert {j.rule_id: j.summary.split()[-1] for j in expand(m)} == {"a": "keyframes", "n": "frames"}


# ------------------------------------------------------------------ no paid surprise on upgrade


@pytest.mark.parametrize(
    "manifest,lock",
    [
        ("demo.yaml", "demo.lock.json"),
        ("demo-aliyun.yaml", "demo-aliyun.lock.json"),
        ("mts.yaml", "mts.lock.json"),
    ],
)
def test_a_lock_file_of_the_previous_version_plans_as_a_no_op(
    ws: Workspace, manifest: str, lock: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixtures = REPO / "tests" / "fixtures" / "upgrade"
    shutil.copytree(REPO / "specs" / "oss" / "media-in", ws.dir / "oss" / "media-in")
    shutil.copytree(REPO / "specs" / "oss" / "other-in", ws.dir / "oss" / "other-in")
    src = fixtures / manifest if (fixtures / manifest).exists() else REPO / "specs" / manifest
    shutil.copyfile(src, ws.dir / manifest)
    shutil.copyfile(fixtures / lock, ws.dir / lock)
    before = (ws.dir / lock).read_bytes()
    monkeypatch.chdir(ws.dir)
    # The buckets hold what the lock file names (the plan refreshes against them).
    for rec in read_jobs(ws.dir / lock).values():
        for out in rec["outputs"]:
            (ws.dir / "oss" / out).parent.mkdir(parents=True, exist_ok=True)
            (ws.dir / "oss" / out).write_bytes(b"a frame")
    from specrunner.emulator import Emulator

    with Emulator(ws.dir / "oss", {KEY: SECRET}, simulate=True) as em:
        for k, v in (("ACCESS_KEY_ID", KEY), ("ACCESS_KEY_SECRET", SECRET)):
            monkeypatch.setenv(f"ALIBABA_CLOUD_{k}", v)
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv("SPECRUNNER_OSS_ENDPOINT", em.url)
        r = ws.cli("plan", manifest, "--detailed-exitcode")
        assert not [e for e in em.requests() if e["action"] != "ListObjectsV2"]
    assert r.exit_code == 0, r.output
    assert "No changes" in r.output
    assert (ws.dir / lock).read_bytes() == before
    # and the requests today's version sends do differ from the recorded ones (FrameType, mts arrays)
    m = model((ws.dir / manifest).read_text().replace("root: ./oss", "root: " + str(ws.dir / "oss")))
    recorded = json.loads(before)["jobs"]
    assert any(j.request != recorded[j.key]["request"] for j in expand(m))
    entries = {k: entry(rec) for k, rec in recorded.items()}
    assert all(not c.submits for c in make_plan(expand(m), entries).changes)


# ------------------------------------------------------------------ a scripted server


class _Scripted(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.server.hits += 1  # type: ignore[attr-defined]
        status, body = self.server.answer  # type: ignore[attr-defined]
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadingHTTPServer]:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.hits = 0  # type: ignore[attr-defined]
    monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    with serving(server):
        yield server


def aliyun_backend() -> AliyunBackend:
    from types import SimpleNamespace

    return AliyunBackend.from_target(SimpleNamespace(region="cn-shanghai", endpoint=None), workers=2)


# ------------------------------------------------------------------ 5. error codes from one table


def test_snapshot_timeout_as_a_5xx_is_not_retried(scripted: ThreadingHTTPServer) -> None:
    scripted.answer = (
        503,
        {
            "RequestId": "r",
            "Code": "SnapshotTimeOut",  # type: ignore[attr-defined]
            "Message": "The snapshot timed out.",
        },
    )
    b = aliyun_backend()
    with pytest.raises(PermanentBackendError) as ei:
        for attempt in RetryPolicy(zero_wait=True).retrying():
            with attempt:
                b.submit(REQUEST, "sr-0000000000000001")
    assert ei.value.code == "SnapshotTimeOut" and "async" in str(ei.value)
    assert scripted.hits == 1  # type: ignore[attr-defined]


def test_transient_network_error_is_retried(scripted: ThreadingHTTPServer) -> None:
    scripted.answer = (
        400,
        {
            "RequestId": "r",
            "Code": "TransientNetWorkError",  # type: ignore[attr-defined]
            "Message": "download failed",
        },
    )
    b = aliyun_backend()
    with pytest.raises(TransientBackendError) as ei:
        for attempt in RetryPolicy(zero_wait=True, attempts=3).retrying():
            with attempt:
                b.submit(REQUEST, "sr-0000000000000001")
    assert not isinstance(ei.value, UncertainSubmitError)
    assert scripted.hits == 3  # type: ignore[attr-defined]


# ------------------------------------------------------------------ 6. unknown states, eventual consistency


def test_an_unknown_state_does_not_fail_its_batch(scripted: ThreadingHTTPServer) -> None:
    scripted.answer = (
        200,
        {
            "RequestId": "r",
            "SnapshotJobList": {
                "SnapshotJob": [  # type: ignore[attr-defined]
                    {"Id": "a" * 32, "State": "Analyzing", "Code": "", "Message": ""},
                    {"Id": "b" * 32, "State": "Success", "Code": "", "Message": ""},
                ]
            },
        },
    )
    jobs, missing = aliyun_backend().query(["a" * 32, "b" * 32])
    assert {j.id[0]: j.state for j in jobs} == {"a": "Snapshoting", "b": "Success"} and missing == []
    assert "Analyzing" in jobs[0].message


def _aliyun_workspace(ws: Workspace, video: Path, manifest: str) -> dict[str, str]:
    ws.add_video(video, "videos/a.mp4")
    ws.add_video(video, "videos/launch day.mp4", bucket="other-in")
    ws.write(manifest)
    return {"ALIBABA_CLOUD_ACCESS_KEY_ID": KEY, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET}


ALIYUN_ONE = """\
version: 1
target: {backend: aliyun, region: cn-shanghai}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs: [videos/a.mp4]
rules:
  - {id: s, time: 0, num: 2, interval: 1s, output: "s/{FileName}/{Count}.jpg"}
"""


def test_a_job_unknown_right_after_its_submit_is_not_failed(
    ws: Workspace, video_4s: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from specrunner.emulator import Emulator

    for k, v in _aliyun_workspace(ws, video_4s, ALIYUN_ONE).items():
        monkeypatch.setenv(k, v)
    with Emulator(ws.oss, {KEY: SECRET}, not_found_seconds=0.6) as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        r = ws.cli("apply", ws.manifest, "--auto-approve")
        missed = [e for e in em.requests() if e["action"] == "QuerySnapshotJobList"]
    assert r.exit_code == 0, r.output
    rec = lock_jobs(ws.state)["videos/a.mp4::s"]
    assert rec["state"] == "Success" and rec["count"] == 2, rec
    assert len(missed) >= 1


# ------------------------------------------------------------------ 2. outputs without Count; the lean demo


def test_the_demo_against_documented_answers_records_every_output(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from specrunner.emulator import Emulator

    shutil.copytree(REPO / "specs" / "oss" / "media-in", ws.oss / "media-in")
    shutil.copytree(REPO / "specs" / "oss" / "other-in", ws.oss / "other-in")
    shutil.copyfile(REPO / "specs" / "demo-aliyun.yaml", ws.manifest)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    with Emulator(ws.oss, {KEY: SECRET}, answers="documented", region="cn-shanghai") as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv("SPECRUNNER_OSS_ENDPOINT", em.url)  # no Count: the outputs are listed
        r = ws.cli("apply", ws.manifest, "--auto-approve")
        answers = [e for e in em.requests() if e["status"] == 200]
    assert r.exit_code == 0, r.output
    assert answers
    jobs = lock_jobs(ws.state)
    assert len(jobs) == 5 and all(j["state"] == "Success" for j in jobs.values())
    outputs = {k: j["outputs"] for k, j in jobs.items()}
    assert outputs["launch::poster"] == ["media-out/posters/launch day.jpg"]
    assert len(outputs["launch::thumbs"]) == 5 and len(outputs["videos/intro.mp4::thumbs"]) == 5
    assert len(outputs["videos/intro.mp4::storyboard"]) == 21  # 20 cells + 1 sprite
    for out in (o for outs in outputs.values() for o in outs):
        assert (ws.oss / out).is_file(), out  # every recorded output exists


def test_without_count_the_lock_file_names_exactly_the_objects_that_exist(
    ws: Workspace, video_4s: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answers without Count (the documented samples), points past the end of a 4 s clip: the lock
    file names exactly the objects that exist, neither the Num asked for nor nothing."""
    from specrunner.emulator import Emulator

    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(
        "version: 1\ntarget: {backend: aliyun, region: cn-shanghai}\n"
        "defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}\n"
        "inputs: [videos/a.mp4]\nrules:\n"
        '  - {id: many, time: 0, num: 8, interval: 1s, output: "s/{FileName}/{Count}.jpg"}\n'
        '  - {id: every, time: 0, interval: 1s, output: "e/{FileName}/{Count}.jpg"}\n'
    )
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    with Emulator(ws.oss, {KEY: SECRET}, answers="documented", region="cn-shanghai") as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv("SPECRUNNER_OSS_ENDPOINT", em.url)
        ws.cli("apply", ws.manifest, "--auto-approve", code=0)
    jobs = lock_jobs(ws.state)
    for key, folder in (("videos/a.mp4::many", "s/a"), ("videos/a.mp4::every", "e/a")):
        on_disk = sorted(f"media-out/{folder}/{p.name}" for p in (ws.oss / "media-out" / folder).iterdir())
        assert 1 < len(on_disk) < 8, on_disk  # the clip is 4 s: points past its end were dropped
        assert jobs[key]["outputs"] == on_disk and jobs[key]["count"] == len(on_disk), (key, jobs[key])


def test_documented_answers_carry_no_count(tmp_path: Path) -> None:
    from specrunner.emulator import Emulator

    (tmp_path / "media-in" / "v").mkdir(parents=True)
    (tmp_path / "media-in" / "v" / "a.mp4").write_bytes(b"x")
    with Emulator(tmp_path, {KEY: SECRET}, simulate=True, answers="documented") as em:
        from specrunner.emulator.mts_protocol import Answer  # noqa: F401 - the module under test

        b = _v1_backend(em.url)
        job = b.submit(REQUEST, "sr-0000000000000001")
        jobs, _ = b.query([job.id])
    assert set(job.raw) == {
        "Id",
        "State",
        "Code",
        "Message",
        "SnapshotConfig",
        "PipelineId",
        "UserData",
        "CreationTime",
    }
    assert jobs[0].count is None and jobs[0].state == "Success" and "Input" not in jobs[0].raw


def _v1_backend(url: str) -> AliyunBackend:
    from specrunner.backends.credentials import Credential
    from specrunner.backends.endpoints import parse_endpoint

    return AliyunBackend(
        region="cn-shanghai",
        endpoint=parse_endpoint(url, "test"),
        credential=Credential(KEY, SECRET, None, "test", "id", "secret"),
    )


# ------------------------------------------------------------------ the emulator enforces the documentation


@pytest.mark.parametrize(
    "change,code,needle",
    [
        ({"UserData": "-starts-with-hyphen"}, "InvalidParameter", "UserData starts with"),
        ({"UserData": "has_underscore"}, "InvalidParameter", "contains '_'"),
        ({"UserData": "x" * 1025}, "InvalidParameter.OutOfRange", "1025 bytes"),
        (
            {"Input": {"Bucket": "media-in", "Location": "oss-cn-beijing", "Object": "v%2Fa.mp4"}},
            "InvalidParameter.LocationInvalid",
            "not in the MTS region cn-shanghai",
        ),
        (
            {"Input": {"Bucket": "media-in", "Location": "oss-cn-shanghai", "Object": "v%2F" + "k" * 1022}},
            "InvalidParameter.ObjectKeyInvalid",
            "1,023 bytes",
        ),
        (
            {
                "SnapshotConfig": {
                    **REQUEST["SnapshotConfig"],
                    "Num": "4",
                    "OutputFile": {
                        "Bucket": "media-out",
                        "Location": "oss-cn-shanghai",
                        "Object": "p%2F%7BCount%7D.jpg",
                    },
                    "TileOutputFile": {
                        "Bucket": "media-out",
                        "Location": "oss-cn-shanghai",
                        "Object": "sprite.jpg",
                    },
                    "TileOut": {"Lines": "2", "Columns": "2"},
                }
            },
            "InvalidParameter",
            "{TileCount}",
        ),
    ],
    ids=["ud-hyphen", "ud-underscore", "ud-long", "region", "key-length", "tilecount"],
)
def test_the_emulator_refuses_what_the_documentation_forbids(
    tmp_path: Path, change: dict[str, Any], code: str, needle: str
) -> None:
    from specrunner.emulator import Emulator

    (tmp_path / "media-in" / "v").mkdir(parents=True)
    (tmp_path / "media-in" / "v" / "a.mp4").write_bytes(b"x")
    request = {**REQUEST, **{k: v for k, v in change.items() if k != "UserData"}}
    with Emulator(tmp_path, {KEY: SECRET}, simulate=True, region="cn-shanghai") as em:
        b = _v1_backend(em.url)
        with pytest.raises(PermanentBackendError) as ei:
            b.submit(request, change.get("UserData", "sr-0000000000000001"))
        b.submit(REQUEST, "ok-中文-sr-0000000000000001")  # the documented request passes
    assert ei.value.code == code and needle in str(ei.value), str(ei.value)


# ------------------------------------------------------------------ 3, 4, 7: what validate checks


ALIYUN_HEAD = """
version: 1
target: {backend: aliyun, region: cn-shanghai}
defaults: {location: oss-cn-shanghai, input_bucket: in-b, output_bucket: out-b}
inputs: [v/a.mp4]
"""


@pytest.mark.parametrize(
    "user_data,needle",
    [
        ("has space", "contains ' '"),
        ("-dash-first", "starts with '-'"),
        ("under_score", "contains '_'"),
        ("x" * 1005, "the limit is 1004"),
    ],
)
def test_user_data_rules_at_validate_time(user_data: str, needle: str) -> None:
    diags = diagnostics(
        HEAD + f"rules:\n  - {{id: r, time: 1s, output: 'p/{{FileName}}.jpg', user_data: '{user_data}'}}\n"
    )
    hits = [d for d in diags if "$.rules[0].user_data" in d and needle in d]
    assert hits and ("letters, digits and hyphens" in hits[0] or "bytes" in hits[0]), diags


def test_user_data_allowed_forms() -> None:
    for ud in ("campaign-2024", "中文-ok", "A1"):
        model(HEAD + f"rules:\n  - {{id: r, time: 1s, output: 'p/{{FileName}}.jpg', user_data: '{ud}'}}\n")


def test_buckets_must_be_in_the_mts_region() -> None:
    diags = diagnostics(
        ALIYUN_HEAD.replace("defaults: {location: oss-cn-shanghai", "defaults: {location: oss-cn-beijing")
        + "rules:\n  - {id: r, time: 1s, output: 'p/{FileName}.jpg'}\n"
    )
    assert any(
        "$.defaults.location: location oss-cn-beijing is not in the MTS region cn-shanghai" in d
        for d in diags
    ), diags
    # the local engine has no region: no such rule there
    model(
        HEAD.replace("oss-cn-shanghai", "oss-cn-beijing")
        + "rules:\n  - {id: r, time: 1s, output: 'p/x.jpg'}\n"
    )


def test_object_keys_have_1_to_1023_bytes() -> None:
    ok = "k" * 1019 + ".mp4"  # 1,023 bytes
    model(HEAD.replace("[v/a.mp4]", f"[{ok}]") + "rules:\n  - {id: r, time: 1s, output: 'p/x.jpg'}\n")
    diags = diagnostics(
        HEAD.replace("[v/a.mp4]", f"[{'k' * 1020}.mp4]")
        + "rules:\n  - {id: r, time: 1s, output: 'p/x.jpg'}\n"
    )
    assert any("1 to 1,023 bytes" in d and "1,024" in d for d in diags), diags


def test_interval_zero_warns_on_aliyun_and_strict_refuses(ws: Workspace) -> None:
    text = (
        ALIYUN_HEAD
        + "rules:\n  - {id: r, time: 0, interval: 0, num: 5, output: 's/{FileName}/{Count}.jpg'}\n"
    )
    diags = diagnostics(text)
    assert any("$.rules[0].interval: warning: interval 0" in d for d in diags), diags
    assert not any("interval 0" in d for d in diagnostics(HEAD + text.split("\n", 5)[5]))  # local: no warning
    ws.write(text)
    ws.cli("validate", ws.manifest, code=0)
    r = ws.cli("validate", ws.manifest, "--strict", code=1)
    assert "interval 0" in r.output


@pytest.mark.parametrize(
    "fix,needle",
    [
        (
            ("region: cn-shanghai", "region: cn-shangai"),
            "$.target.region: 'cn-shangai' is not an MTS region; did you mean 'cn-shanghai'?",
        ),
        (
            ("location: oss-cn-shanghai", "location: oss-cn-shanghia"),
            "$.defaults.location: 'oss-cn-shanghia' is not an OSS region; did you mean 'oss-cn-shanghai'?",
        ),
    ],
)
def test_regions_and_locations_are_real_ones(fix: tuple[str, str], needle: str) -> None:
    diags = diagnostics(
        ALIYUN_HEAD.replace(*fix) + "rules:\n  - {id: r, time: 1s, output: 'p/{FileName}.jpg'}\n"
    )
    assert any(needle in d and "warning" not in d for d in diags), diags


def test_aliyun_inputs_cannot_be_checked_offline(tmp_path: Path) -> None:
    text = ALIYUN_HEAD + "rules:\n  - {id: r, time: 1s, output: 'p/{FileName}.jpg'}\n"
    diags = diagnostics(text)
    assert any(
        "$.inputs: note: backend aliyun: whether the input object exists in OSS cannot be checked "
        "offline" in d
        for d in diags
    ), diags
    # a note, not a warning: --strict still accepts an otherwise clean aliyun manifest
    path = tmp_path / "m.yaml"
    path.write_text(text)
    r = CliRunner().invoke(cli, ["validate", str(path), "--strict"])
    assert r.exit_code == 0, r.output


LOCAL = """\
version: 1
target: {backend: local, root: ./oss}
defaults: {location: oss-cn-shanghai, input_bucket: media-inn, output_bucket: media-out}
inputs: [videos/a.mp4, videos/b.mp4]
rules:
  - {id: p, time: 1s, output: "p/{FileName}.jpg"}
"""


def test_local_inputs_are_checked(ws: Workspace, video_4s: Path) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(LOCAL)
    r = ws.cli("validate", ws.manifest, code=1)
    assert (
        "m.yaml:3:53: $.defaults.input_bucket: input bucket 'media-inn' does not exist: no folder "
        "./oss/media-inn; did you mean 'media-in'?"
    ) in r.output, r.output
    ws.cli("plan", ws.manifest, code=1)  # nothing is planned, nothing paid for
    ws.write(LOCAL.replace("media-inn", "media-in"))
    r = ws.cli("validate", ws.manifest, code=0)
    assert "$.inputs[1]: warning: input media-in/videos/b.mp4 does not exist under ./oss" in r.output, (
        r.output
    )
    assert "videos/a.mp4" not in r.output
    ws.cli("validate", ws.manifest, "--strict", code=1)


# ----------------------------------------------------- 9. init: a schema line that works for a pip user


def test_init_points_editors_at_a_schema_that_exists_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    from typer.testing import CliRunner

    from specrunner.cli.main import cli
    from specrunner.validate.schema import schema_text

    monkeypatch.chdir(tmp_path)  # outside the checkout, as after `pip install specrunner`
    r = CliRunner().invoke(cli, ["init", "site.yaml"])
    assert r.exit_code == 0, r.output
    first = (tmp_path / "site.yaml").read_text().splitlines()[0]
    m = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert m and "://" not in m[1], first  # no network, no domain nobody serves
    target = (tmp_path / m[1]).resolve()
    assert target.is_file() and target.read_text() == schema_text()
    assert "manifest.v1.json (the schema, for editors)" in r.output
    # a second manifest reuses the copy and never overwrites it
    target.write_text("{}")
    r = CliRunner().invoke(cli, ["init", "other.yaml"])
    assert r.exit_code == 0 and target.read_text() == "{}" and "schema" not in r.output.split("Next")[0]


def test_init_for_aliyun_offers_a_remote_state_that_validates_once_uncommented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from specrunner.cli.main import cli
    from specrunner.statefile.backend import OssBackend, locate
    from specrunner.validate.manifest import load_manifest

    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["init", "site.yaml", "--backend", "aliyun"]).exit_code == 0
    text = (tmp_path / "site.yaml").read_text()
    assert "# state:\n#   backend: oss\n" in text and "#   key: specrunner/site.lock.json\n" in text
    assert load_manifest(tmp_path / "site.yaml").state is None  # commented: the local file until chosen
    lines = text.split("\n")
    start = lines.index("# state:")
    lines[start : start + 5] = [ln[2:] for ln in lines[start : start + 5]]  # uncomment the block
    (tmp_path / "site.yaml").write_text("\n".join(lines))
    assert CliRunner().invoke(cli, ["validate", "site.yaml"]).exit_code == 0
    where = locate(tmp_path / "site.yaml", None, load_manifest(tmp_path / "site.yaml"))
    assert isinstance(where, OssBackend) and where.label == "oss://my-team-state/specrunner/site.lock.json"


def test_a_success_without_count_records_what_is_listed_never_num() -> None:
    from specrunner.apply.outcomes import outcome_record
    from specrunner.backends.base import RemoteJob

    jobs = {
        j.rule_id: j
        for j in expand(
            model(
                HEAD
                + """rules:
  - {id: one, time: 1s, output: "p/{FileName}.jpg"}
  - {id: many, time: 0, num: 3, interval: 1s, output: "s/{FileName}/{Count}.jpg"}
"""
            )
        )
    }
    lean = {"Id": "a" * 32, "State": "Success", "Code": "", "Message": ""}  # as the documented samples
    one = outcome_record(jobs["one"], RemoteJob.from_api(lean))
    assert (one.count, one.outputs) == (1, ("out-b/p/a.jpg",))
    # A count the answer did not give is never invented from Num: without a listing, no outputs.
    many = outcome_record(jobs["many"], RemoteJob.from_api(lean))
    assert (many.count, many.outputs) == (None, ())
    # With one, exactly the objects the job wrote (points past the end of the clip were dropped).
    bucket: dict[str, list[str]] = {
        "out-b": ["s/a/00001.jpg", "s/a/00002.jpg", "s/a/notes.txt", "s/ab/00003.jpg"]
    }
    calls: list[tuple[str, str, str]] = []

    def lister(b: str, location: str, prefix: str) -> list[str]:
        calls.append((b, location, prefix))
        return sorted(k for k in bucket[b] if k.startswith(prefix))

    many = outcome_record(jobs["many"], RemoteJob.from_api(lean), lister)
    assert (many.count, many.outputs) == (2, ("out-b/s/a/00001.jpg", "out-b/s/a/00002.jpg"))
    assert calls == [("out-b", "oss-cn-shanghai", "s/a/")]  # one listing of the job's own prefix

    def down(b: str, location: str, prefix: str) -> list[str]:
        raise OSError("unreachable")

    assert outcome_record(jobs["many"], RemoteJob.from_api(lean), down).outputs == ()  # never guessed

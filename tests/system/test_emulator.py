"""The emulator's protocol conformance, seen through the real SDK over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.auth.signers.sts_token_signer import StsTokenSigner
from aliyunsdkcore.client import AcsClient
from aliyunsdkmts.request.v20140618.QuerySnapshotJobListRequest import QuerySnapshotJobListRequest
from aliyunsdkmts.request.v20140618.SubmitSnapshotJobRequest import SubmitSnapshotJobRequest

from specrunner.emulator import Emulator
from specrunner.emulator.signature import signature
from specrunner.testing.video import read_stamp

KEY, SECRET = "testAK0001", "emulator-secret-value"
INPUT = {"Bucket": "media-in", "Location": "oss-cn-shanghai", "Object": "videos%2Fa.mp4"}


def config(num: int | None = 2, **extra: str) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "OutputFile": {
            "Bucket": "media-out",
            "Location": "oss-cn-shanghai",
            "Object": "out%2F%7BCount%7D.jpg" if num else "out%2Fone.jpg",
        },
        "Time": "0",
        **extra,
    }
    if num:
        cfg["Num"] = str(num)
    return cfg


def client(secret: str = SECRET, key: str = KEY, token: str | None = None) -> AcsClient:
    c = AcsClient(
        key,
        secret,
        region_id="cn-shanghai",
        auto_retry=False,
        timeout=10,
        proxy={"http": None, "https": None},
    )
    if token:
        c._signer = StsTokenSigner(StsTokenCredential(key, secret, token))
    return c


def submit(
    em: Emulator,
    c: AcsClient,
    *,
    user_data: str = "ud",
    cfg: dict[str, Any] | None = None,
    pipeline: str | None = None,
) -> dict[str, Any]:
    req = SubmitSnapshotJobRequest()
    req.set_endpoint(em.url.removeprefix("http://"))
    req.set_Input(json.dumps(INPUT))
    req.set_SnapshotConfig(json.dumps(cfg or config()))
    req.set_UserData(user_data)
    if pipeline:
        req.set_PipelineId(pipeline)
    return json.loads(c.do_action_with_exception(req))


def query(em: Emulator, c: AcsClient, ids: list[str] | None = None, **listing: Any) -> dict[str, Any]:
    req = QuerySnapshotJobListRequest()
    req.set_endpoint(em.url.removeprefix("http://"))
    if ids is not None:
        req.set_SnapshotJobIds(",".join(ids))
    for k, v in listing.items():
        getattr(req, f"set_{k}")(v)
    return json.loads(c.do_action_with_exception(req))


def send(url: str, method: str = "POST") -> tuple[int, dict[str, Any]]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, method=method), timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def signed_url(
    em: Emulator,
    params: dict[str, str],
    *,
    secret: str = SECRET,
    method: str = "POST",
    when: datetime | None = None,
    nonce: str | None = None,
) -> str:
    p = {
        "Version": "2014-06-18",
        "Format": "JSON",
        "AccessKeyId": KEY,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureType": "",
        "SignatureNonce": nonce or os.urandom(16).hex(),
        "Timestamp": (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **params,
    }
    p["Signature"] = signature(method, p, secret)
    return f"{em.url}/?{urlencode(p)}"


def all_strings(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and all_strings(v) for k, v in value.items())
    if isinstance(value, list):
        return all(all_strings(v) for v in value)
    return isinstance(value, str)


@pytest.fixture
def em(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(tmp_path / "root", {KEY: SECRET}, simulate=True, journal=tmp_path / "journal.jsonl") as e:
        yield e


# ------------------------------------------------------------------------------ authentication


def test_wrong_secret_is_a_server_exception_with_the_message_the_sdk_parses(em: Emulator) -> None:
    with pytest.raises(ServerException) as ei:  # not IndexError: the message has the ':' the SDK splits on
        submit(em, client(secret="not-the-secret"))
    # The SDK recognises its own string to sign in our message and rewrites the code.
    assert ei.value.error_code == "InvalidAccessKeySecret"
    assert ei.value.http_status == 400
    assert ei.value.request_id
    status, body = send(signed_url(em, {"Action": "QuerySnapshotJobList"}, secret="wrong"))
    assert status == 400 and body["Code"] == "SignatureDoesNotMatch"
    assert body["Message"].startswith(
        "Specified signature is not matched with our calculation. "
        "server string to sign is:POST&%2F&AccessKeyId%3D"
    )
    assert set(body) == {"RequestId", "HostId", "Code", "Message"}
    assert not any(e["job_id"] for e in em.requests())


def test_unknown_key_is_404(em: Emulator) -> None:
    with pytest.raises(ServerException) as ei:
        submit(em, client(key="LTAInobodyknows"))
    assert (ei.value.error_code, ei.value.http_status) == ("InvalidAccessKeyId.NotFound", 404)


def test_timestamp_skew_and_format(em: Emulator) -> None:
    old = datetime.now(UTC) - timedelta(minutes=16)
    status, body = send(signed_url(em, {"Action": "QuerySnapshotJobList"}, when=old))
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Expired")
    status, body = send(
        signed_url(em, {"Action": "QuerySnapshotJobList"}, when=datetime.now(UTC) + timedelta(minutes=16))
    )
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Expired")
    status, body = send(
        signed_url(em, {"Action": "QuerySnapshotJobList"}, when=datetime.now(UTC) - timedelta(minutes=14))
    )
    assert status == 200
    url = signed_url(em, {"Action": "QuerySnapshotJobList"}).replace("Timestamp=", "Timestamp=x")
    assert send(url)[1]["Code"] == "InvalidTimeStamp.Format"


def test_nonce_reuse_is_refused(em: Emulator) -> None:
    c = client()
    seen: list[Any] = []
    c.session.hooks["response"].append(lambda r, *a, **k: seen.append(r.request))
    query(em, c, ["a"])
    replay = seen[0]
    status, body = send(replay.url, method=replay.method)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")
    # A fresh nonce (the SDK makes one per call) is fine.
    assert query(em, c, ["a"])["NonExistSnapshotJobIds"] == {"String": ["a"]}


def test_sts_token_is_accepted_and_never_journaled(em: Emulator, tmp_path: Path) -> None:
    token = "CAIS-very-secret-sts-token-value"
    job = submit(em, client(token=token), user_data="ud-sts")["SnapshotJob"]
    assert job["UserData"] == "ud-sts"
    entry = em.requests()[-1]
    assert entry["sts"] is True and "SecurityToken" not in entry["params"]
    text = (tmp_path / "journal.jsonl").read_text()
    assert token not in text and SECRET not in text and KEY not in text and "Signature=" not in text


# ------------------------------------------------------------------------------ protocol


def test_unknown_action_version_and_missing_params(em: Emulator) -> None:
    status, body = send(signed_url(em, {"Action": "SubmitJobs"}))
    assert (status, body["Code"]) == (404, "InvalidApi.NotFound")
    status, body = send(signed_url(em, {"Action": "QuerySnapshotJobList", "Version": "2017-01-01"}))
    assert (status, body["Code"]) == (404, "InvalidApi.NotFound")
    status, body = send(signed_url(em, {"Action": "SubmitSnapshotJob", "Input": json.dumps(INPUT)}))
    assert (status, body["Code"]) == (400, "MissingParameter") and '"SnapshotConfig"' in body["Message"]
    url = signed_url(em, {"Action": "QuerySnapshotJobList"})
    no_sig = [(k, v) for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True) if k != "Signature"]
    status, body = send(f"{em.url}/?{urlencode(no_sig)}")
    assert (status, body["Code"]) == (400, "MissingParameter")


def test_engine_errors_keep_their_code(em: Emulator) -> None:
    with pytest.raises(ServerException) as ei:
        submit(
            em,
            client(),
            cfg={
                "OutputFile": {"Bucket": "media-out", "Location": "oss-cn-shanghai", "Object": "x.jpg"},
                "Time": "0",
                "Num": "3",
            },
        )
    assert (ei.value.error_code, ei.value.http_status) == ("InvalidParameter", 400)
    assert "{Count}" in ei.value.message


def test_more_than_10_ids_is_refused(em: Emulator) -> None:
    c = client()
    with pytest.raises(ServerException) as ei:
        query(em, c, [f"{i:032x}" for i in range(11)])
    assert (ei.value.error_code, ei.value.http_status) == ("InvalidParameter", 400)
    r = query(em, c, [f"{i:032x}" for i in range(10)])
    assert len(r["NonExistSnapshotJobIds"]["String"]) == 10
    assert em.requests()[-2]["ids"] == 11 and em.requests()[-1]["ids"] == 10


def test_non_exist_ids_only_when_non_empty(em: Emulator) -> None:
    c = client()
    jid = submit(em, c)["SnapshotJob"]["Id"]
    r = query(em, c, [jid])
    assert "NonExistSnapshotJobIds" not in r
    assert [j["Id"] for j in r["SnapshotJobList"]["SnapshotJob"]] == [jid]
    r = query(em, c, [jid, "f" * 32])
    assert r["NonExistSnapshotJobIds"] == {"String": ["f" * 32]}


def test_simulated_jobs_move_submitted_snapshoting_success(tmp_path: Path) -> None:
    with Emulator(tmp_path, {KEY: SECRET}, simulate=True, simulate_seconds=0.3) as em:
        c = client()
        job = submit(em, c, cfg=config(num=4))["SnapshotJob"]
        assert job["State"] == "Submitted"
        assert query(em, c, [job["Id"]])["SnapshotJobList"]["SnapshotJob"][0]["State"] == "Snapshoting"
        time.sleep(0.35)
        done = query(em, c, [job["Id"]])["SnapshotJobList"]["SnapshotJob"][0]
        assert (done["State"], done["Count"]) == ("Success", "4")
        sync = submit(em, c, cfg=config(num=None))["SnapshotJob"]
        assert (sync["State"], sync["Count"]) == ("Success", "1")
        assert all_strings(done) and all_strings(sync)


def test_real_engine_answers_with_strings_only_and_writes_jpgs(tmp_path: Path, video_4s: Path) -> None:
    root = tmp_path / "root"
    (root / "media-in" / "videos").mkdir(parents=True)
    shutil.copyfile(video_4s, root / "media-in" / "videos" / "a.mp4")
    with Emulator(root, {KEY: SECRET}) as em:
        c = client()
        sync = submit(em, c, cfg=config(num=None, Width="80"))
        assert sync["SnapshotJob"]["State"] == "Success" and sync["SnapshotJob"]["Count"] == "1"
        job = submit(em, c, cfg=config(num=3, Interval="1", FrameType="normal"))["SnapshotJob"]
        em.drain(30)
        r = query(em, c, [job["Id"], sync["SnapshotJob"]["Id"]])
    assert all_strings(sync) and all_strings(r)
    states = {j["Id"]: (j["State"], j["Count"]) for j in r["SnapshotJobList"]["SnapshotJob"]}
    assert states[job["Id"]] == ("Success", "3")
    from PIL import Image

    for i in range(3):
        with Image.open(root / "media-out" / "out" / f"{i + 1:05d}.jpg") as im:
            assert im.format == "JPEG" and read_stamp(im) == i * 25
    with Image.open(root / "media-out" / "out" / "one.jpg") as im:
        assert im.size == (80, 60)


def test_listing_mode_pages_and_filters(em: Emulator) -> None:
    c = client()
    ids = [
        submit(em, c, user_data=f"ud-{i}", pipeline="a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1" if i % 2 else None)[
            "SnapshotJob"
        ]["Id"]
        for i in range(7)
    ]
    now = datetime.now(UTC)
    window = {
        "StartOfJobCreatedTimeRange": (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "EndOfJobCreatedTimeRange": (now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    pages, token = [], None
    while True:
        extra = {"NextPageToken": token} if token else {}
        r = query(em, c, MaximumPageSize=3, **window, **extra)
        pages.append([j["Id"] for j in r["SnapshotJobList"]["SnapshotJob"]])
        token = r.get("NextPageToken")
        if not token:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(p for page in pages for p in page) == sorted(ids)
    r = query(em, c, PipelineId="a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", MaximumPageSize=300)
    assert {j["UserData"] for j in r["SnapshotJobList"]["SnapshotJob"]} == {"ud-1", "ud-3", "ud-5"}
    past = {
        "StartOfJobCreatedTimeRange": "2001-01-01T00:00:00Z",
        "EndOfJobCreatedTimeRange": "2001-01-02T00:00:00Z",
    }
    assert query(em, c, **past)["SnapshotJobList"]["SnapshotJob"] == []
    assert len(query(em, c, State="Success")["SnapshotJobList"]["SnapshotJob"]) == 7  # simulate_seconds=0
    for bad in (
        {"MaximumPageSize": 301},
        {"State": "Done"},
        {"NextPageToken": "nope"},
        {"StartOfJobCreatedTimeRange": "yesterday"},
    ):
        with pytest.raises(ServerException) as ei:
            query(em, c, **bad)
        assert ei.value.http_status == 400 and ei.value.error_code.startswith("InvalidParameter")


# ------------------------------------------------------------------------------ fault injection


def test_throttling_at_low_qps_does_nothing_for_refused_requests(tmp_path: Path) -> None:
    with Emulator(
        tmp_path, {KEY: SECRET}, simulate=True, throttle_submit_qps=2, throttle_query_qps=1000
    ) as em:
        c = client()
        outcomes = []
        for i in range(6):
            try:
                submit(em, c, user_data=f"t-{i}")
                outcomes.append("ok")
            except ServerException as e:
                outcomes.append((e.error_code, e.http_status))
        assert outcomes[:2] == ["ok", "ok"]
        assert ("Throttling.User", 400) in outcomes
        created = [e for e in em.requests() if e["job_id"]]
        assert len(created) == outcomes.count("ok")
        listed = query(em, c, MaximumPageSize=300)["SnapshotJobList"]["SnapshotJob"]
        assert len(listed) == outcomes.count("ok")
        time.sleep(0.6)  # the bucket refills at 2/s
        submit(em, c, user_data="later")


def test_5xx_injection_happens_before_anything(tmp_path: Path) -> None:
    with Emulator(tmp_path, {KEY: SECRET}, simulate=True, error_rate=1.0, seed=1) as em:
        c = client()
        codes = set()
        for _ in range(8):
            with pytest.raises(ServerException) as ei:
                submit(em, c)
            codes.add((ei.value.error_code, ei.value.http_status))
        assert codes == {("InternalError", 500), ("ServiceUnavailable", 503)}
        assert not any(e["job_id"] for e in em.requests())
    with Emulator(tmp_path, {KEY: SECRET}, simulate=True, error_rate=0.5, seed=7) as em:
        c = client()
        ok = 0
        for _ in range(40):
            try:
                submit(em, c)
                ok += 1
            except ServerException as e:
                assert e.http_status >= 500
        assert 8 <= ok <= 32
        assert len([e for e in em.requests() if e["job_id"]]) == ok


def test_dropped_answers_create_the_job(tmp_path: Path) -> None:
    with Emulator(tmp_path, {KEY: SECRET}, simulate=True, drop_rate=1.0) as em:
        c = client()
        with pytest.raises(ClientException) as ei:
            submit(em, c, user_data="ud-dropped-sr-00000000000000aa")
        assert ei.value.get_error_code() == "SDK.HttpError"
        (entry,) = em.requests()
        assert entry["dropped"] is True and entry["status"] is None and entry["job_id"]
        r = query(em, c, [entry["job_id"]])  # queries are never dropped
        assert r["SnapshotJobList"]["SnapshotJob"][0]["UserData"] == "ud-dropped-sr-00000000000000aa"


def test_latency_is_added(tmp_path: Path) -> None:
    with Emulator(tmp_path, {KEY: SECRET}, simulate=True, latency_ms=150) as em:
        t = time.monotonic()
        query(em, client(), ["a"])
        assert time.monotonic() - t >= 0.15


def test_journal_has_every_request_and_no_secret(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    with Emulator(tmp_path / "root", {KEY: SECRET}, simulate=True, journal=journal) as em:
        submit(em, client(), user_data="ud-1")
        with pytest.raises(ServerException):
            submit(em, client(secret="wrong-secret-xyz"))
        query(em, client(), ["a", "b"])
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [(e["action"], e["status"], e["code"]) for e in lines] == [
        ("SubmitSnapshotJob", 200, ""),
        ("SubmitSnapshotJob", 400, "SignatureDoesNotMatch"),
        ("QuerySnapshotJobList", 200, ""),
    ]
    assert lines[0]["user_data"] == "ud-1" and lines[0]["job_id"] and lines[2]["ids"] == 2
    text = journal.read_text()
    for secret in (SECRET, "wrong-secret-xyz", KEY):
        assert secret not in text
    assert all("Signature" not in e["params"] and "AccessKeyId" not in e["params"] for e in lines)


def test_emulator_command_serves_until_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "specrunner",
            "emulator",
            "--root",
            str(tmp_path / "root"),
            "--port",
            "0",
            "--key",
            f"{KEY}:{SECRET}",
            "--simulate",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line.startswith("MTS emulator listening on http://127.0.0.1:")
        assert SECRET not in line
        url = line.split()[4]
        em = Emulator.__new__(Emulator)  # only .url is used by query()
        em.host, em.port = "127.0.0.1", int(url.rsplit(":", 1)[1])
        assert query(em, client(), ["a"])["NonExistSnapshotJobIds"] == {"String": ["a"]}
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
        assert p.returncode == 0, err
        assert SECRET not in out + err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_emulator_command_needs_keys(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from specrunner.cli.main import cli

    r = CliRunner().invoke(cli, ["emulator", "--root", str(tmp_path), "--port", "0"])
    assert r.exit_code == 1 and "--key ID:SECRET" in r.output
    r = CliRunner().invoke(cli, ["emulator", "--root", str(tmp_path), "--key", "no-colon"])
    assert r.exit_code == 1 and "ID:SECRET" in r.output

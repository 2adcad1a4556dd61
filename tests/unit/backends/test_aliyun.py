"""AliyunBackend through the real SDK over real HTTP: against the emulator, a closed port, odd servers."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from specrunner.backends import aliyun
from specrunner.backends.aliyun import AliyunBackend
from specrunner.backends.credentials import resolve_credentials
from specrunner.backends.endpoints import parse_endpoint, proxies_for
from specrunner.core.errors import (
    BackendError,
    CredentialsError,
    PermanentBackendError,
    TransientBackendError,
    UncertainSubmitError,
)
from specrunner.emulator import Emulator
from tests.helpers import free_port, serving

KEY, SECRET = "LTAItestkey0001", "backend-secret-value-0001"
REQUEST = {
    "Input": {"Bucket": "media-in", "Location": "oss-cn-shanghai", "Object": "videos%2Fa%20b.mp4"},
    "SnapshotConfig": {
        "OutputFile": {
            "Bucket": "media-out",
            "Location": "oss-cn-shanghai",
            "Object": "t%2F%7BFileName%7D%2F%7BCount%7D.jpg",
        },
        "Time": "0",
        "Interval": "1",
        "Num": "3",
    },
}


def target(endpoint: str | None = None, region: str | None = "cn-shanghai") -> Any:
    return SimpleNamespace(region=region, endpoint=endpoint, pipeline_id=None)


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)


@pytest.fixture
def em(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, creds: None) -> Iterator[Emulator]:
    with Emulator(tmp_path / "root", {KEY: SECRET}, simulate=True) as e:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", e.url)
        yield e


def backend(**kw: Any) -> AliyunBackend:
    return AliyunBackend.from_target(target(**kw), workers=4)


def no_secret(e: BaseException, *secrets: str) -> None:
    text = str(e) + repr(e.args) + str(getattr(e, "hint", ""))
    for s in (SECRET, *secrets):
        assert s not in text
    assert "\n" not in str(e)


# ------------------------------------------------------------------------------ the three calls


def test_submit_query_find_by_tag(em: Emulator) -> None:
    b = backend()
    since = datetime.now(UTC)
    job = b.submit(REQUEST, "mine-sr-00000000000000a1")
    assert job.state == "Submitted" and len(job.id) == 32 and job.user_data == "mine-sr-00000000000000a1"
    other = b.submit({**REQUEST, "PipelineId": "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"}, "sr-00000000000000b2")
    jobs, missing = b.query([job.id, other.id, "0" * 32])
    assert {j.id: (j.state, j.count) for j in jobs} == {job.id: ("Success", 3), other.id: ("Success", 3)}
    assert missing == ["0" * 32]
    jobs, missing = b.query([job.id])
    assert missing == [] and jobs[0].id == job.id
    assert b.find_by_tag("sr-00000000000000a1", pipeline_id=None, since=since).id == job.id
    assert (
        b.find_by_tag("sr-00000000000000b2", pipeline_id="a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", since=since).id
        == other.id
    )
    assert (
        b.find_by_tag("sr-00000000000000b2", pipeline_id="b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2", since=since)
        is None
    )
    assert b.find_by_tag("sr-00000000000000ff", pipeline_id=None, since=since) is None
    # Object keys travel URL-encoded inside the JSON, exactly as built by jobs.py.
    sent = json.loads(em.requests()[0]["params"]["Input"])
    assert sent["Object"] == "videos%2Fa%20b.mp4"
    assert em.requests()[0]["params"]["Input"] == json.dumps(REQUEST["Input"], separators=(",", ":"))
    listing = [e for e in em.requests() if e["action"] == "QuerySnapshotJobList" and e["ids"] == 0]
    p = listing[0]["params"]
    assert p["MaximumPageSize"] == "300"
    start = datetime.strptime(p["StartOfJobCreatedTimeRange"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    end = datetime.strptime(p["EndOfJobCreatedTimeRange"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert timedelta(minutes=4) < since - start <= timedelta(minutes=5, seconds=1)
    assert timedelta(minutes=4) < end - datetime.now(UTC) <= timedelta(minutes=5)
    b.close()


def test_find_by_tag_follows_next_page_token(em: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aliyun, "LISTING_PAGE_SIZE", 2)
    b = backend()
    since = datetime.now(UTC)
    jobs = {f"sr-{i:016x}": b.submit(REQUEST, f"ud-sr-{i:016x}").id for i in range(1, 7)}
    assert b.find_by_tag("sr-00000000000000ff", pipeline_id=None, since=since) is None
    pages = [e["params"] for e in em.requests() if e["action"] == "QuerySnapshotJobList"]
    assert len(pages) == 3  # 6 jobs, 2 per page: every page was read
    assert "NextPageToken" not in pages[0] and "NextPageToken" in pages[1] and "NextPageToken" in pages[2]
    for tag, jid in jobs.items():
        assert b.find_by_tag(tag, pipeline_id=None, since=since).id == jid


def test_query_takes_at_most_10_ids(em: Emulator) -> None:
    with pytest.raises(AssertionError):
        backend().query([f"{i:032x}" for i in range(11)])


# ------------------------------------------------------------------------------ error translation


def test_wrong_secret_is_a_clear_credentials_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Emulator(tmp_path, {KEY: "the-real-secret"}, simulate=True) as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        b = backend()
        for call in (lambda: b.submit(REQUEST, "x"), lambda: b.query(["a"])):
            with pytest.raises(CredentialsError) as ei:
                call()
            assert "secret is wrong" in str(ei.value) and "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in str(ei.value)
            assert not ei.value.transient
            no_secret(ei.value, "the-real-secret", "string to sign is:", "POST&")
        assert not any(e["job_id"] for e in em.requests())


def test_unknown_key_is_a_clear_credentials_error(em: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIunknownkey99")
    with pytest.raises(CredentialsError) as ei:
        backend().submit(REQUEST, "x")
    assert ei.value.code == "InvalidAccessKeyId.NotFound" and ei.value.http_status == 404
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in str(ei.value) and "LTAIunknownkey99" not in str(ei.value)
    no_secret(ei.value)


def test_unreachable_endpoint_is_transient_not_uncertain(
    monkeypatch: pytest.MonkeyPatch, creds: None
) -> None:
    monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    b = backend()
    with pytest.raises(TransientBackendError) as ei:
        b.submit(REQUEST, "x")
    assert not isinstance(ei.value, UncertainSubmitError)  # the request never left: safe to resend
    assert "connection refused" in str(ei.value) and "SPECRUNNER_MTS_ENDPOINT" in str(ei.value)
    assert ei.value.code == "EndpointUnreachable"
    no_secret(ei.value)
    with pytest.raises(TransientBackendError):
        b.query(["a"])


def test_dropped_answer_is_uncertain_and_the_job_is_found_by_tag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, creds: None
) -> None:
    with Emulator(tmp_path, {KEY: SECRET}, simulate=True, drop_rate=1.0) as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        b = backend()
        since = datetime.now(UTC)
        with pytest.raises(UncertainSubmitError) as ei:
            b.submit(REQUEST, "ud-sr-00000000000000dd")
        assert "may exist" in str(ei.value) and ei.value.code == "NoAnswer"
        found = b.find_by_tag("sr-00000000000000dd", pipeline_id=None, since=since)
        assert found is not None and found.id == em.requests()[0]["job_id"]


def test_read_timeout_on_submit_is_uncertain_on_query_transient(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, creds: None
) -> None:
    with Emulator(tmp_path, {KEY: SECRET}, simulate=True, latency_ms=600) as em:
        b = AliyunBackend(
            region="cn-shanghai",
            endpoint=parse_endpoint(em.url, "test"),
            credential=resolve_credentials(),
            read_timeout=0.2,
        )
        with pytest.raises(UncertainSubmitError) as ei:
            b.submit(REQUEST, "x")
        assert "read timeout" in str(ei.value)
        with pytest.raises(TransientBackendError) as ei2:
            b.query(["a"])
        assert not isinstance(ei2.value, UncertainSubmitError)


def test_throttling_is_transient_and_marked_throttled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, creds: None
) -> None:
    with Emulator(tmp_path, {KEY: SECRET}, simulate=True, throttle_submit_qps=1, throttle_query_qps=1) as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        b = backend()
        b.submit(REQUEST, "x")
        with pytest.raises(TransientBackendError) as ei:
            b.submit(REQUEST, "y")
        assert not isinstance(ei.value, UncertainSubmitError)  # refused: nothing was created
        assert ei.value.throttled and ei.value.code == "Throttling.User"
        b.query(["a"])
        with pytest.raises(TransientBackendError) as ei:
            b.query(["a"])
        assert ei.value.throttled


def test_5xx_on_submit_is_uncertain_on_query_transient(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, creds: None
) -> None:
    with Emulator(tmp_path, {KEY: SECRET}, simulate=True, error_rate=1.0, seed=3) as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        b = backend()
        with pytest.raises(UncertainSubmitError) as ei:
            b.submit(REQUEST, "x")
        assert ei.value.http_status in (500, 503) and not ei.value.throttled
        with pytest.raises(TransientBackendError) as ei2:
            b.query(["a"])
        assert not isinstance(ei2.value, UncertainSubmitError)
        with pytest.raises(TransientBackendError):
            b.find_by_tag("sr-x", pipeline_id=None, since=datetime.now(UTC))


class _Odd(BaseHTTPRequestHandler):
    """A server that answers every request with ``server.answer`` = (status, content type, body)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *a: Any) -> None:
        pass

    def do_POST(self) -> None:
        status, ctype, body = self.server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def odd(monkeypatch: pytest.MonkeyPatch, creds: None) -> Iterator[ThreadingHTTPServer]:
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _Odd)) as server:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        yield server


J = "application/json"


def answer(server: ThreadingHTTPServer, status: int, ctype: str, body: bytes) -> None:
    server.answer = (status, ctype, body)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "answer",
    [
        (200, J, b'{"RequestId":"r","Code":"Throttling","Message":"in a 200"}'),
        (200, J, b""),
        (200, "text/html", b"<html>hello</html>"),
        (200, J, b'{"RequestId":"r"}'),
        (200, J, b'{"RequestId":"r","SnapshotJob":{"Id":""}}'),
    ],
    ids=["code-in-200", "empty", "html", "no-job", "job-without-id"],
)
def test_200_without_a_job(odd: ThreadingHTTPServer, answer: tuple[int, str, bytes]) -> None:
    odd.answer = answer  # type: ignore[attr-defined]
    b = backend()
    with pytest.raises(UncertainSubmitError):
        b.submit(REQUEST, "x")
    if answer[2] != b'{"RequestId":"r","SnapshotJob":{"Id":""}}':
        with pytest.raises(TransientBackendError) as ei:
            b.query(["a"])
        assert not isinstance(ei.value, UncertainSubmitError)


def test_sdk_index_error_and_html_5xx_are_translated(odd: ThreadingHTTPServer) -> None:
    # The SDK runs Message.split(':')[1] on a 400 SignatureDoesNotMatch: IndexError without a ':'.
    answer(odd, 400, J, b'{"RequestId":"r","Code":"SignatureDoesNotMatch","Message":"no colon here"}')
    b = backend()
    with pytest.raises(UncertainSubmitError) as ei:
        b.submit(REQUEST, "x")
    assert "IndexError" in str(ei.value)
    with pytest.raises(TransientBackendError):
        b.query(["a"])
    answer(odd, 502, "text/html", b"<html>bad gateway</html>")
    with pytest.raises(UncertainSubmitError) as ei:
        b.submit(REQUEST, "x")
    assert ei.value.http_status == 502
    answer(odd, 403, J, b'{"RequestId":"r","Code":"Forbidden.RAM","Message":"User not authorized."}')
    with pytest.raises(PermanentBackendError) as ei3:
        b.query(["a"])
    assert "permission denied" in str(ei3.value) and not isinstance(ei3.value, CredentialsError)
    # MTS itself not authorised on the bucket: the fix is on the bucket's side, not the caller's RAM
    body = b'{"RequestId":"r","Code":"PermissionDenied.ResourceAccess","Message":"no access to bucket"}'
    answer(odd, 403, J, body)
    with pytest.raises(PermanentBackendError) as ei4:
        b.submit(REQUEST, "x")
    assert "AliyunMTSDefaultRole" in str(ei4.value) and "grant this RAM identity" not in str(ei4.value)
    answer(odd, 400, J, b'{"RequestId":"r","Code":"InvalidParameter.JsonFormatInvalid","Message":"bad"}')
    with pytest.raises(PermanentBackendError) as ei3:
        b.submit(REQUEST, "x")
    assert str(ei3.value) == "InvalidParameter.JsonFormatInvalid: bad"
    answer(
        odd,
        400,
        J,
        (
            b'{"RequestId":"r","Code":"SignatureDoesNotMatch","Message":"Specified signature is not '
            b'matched with our calculation. server string to sign is:POST&%2F&SecurityToken%3Dtok"}'
        ),
    )
    with pytest.raises(CredentialsError) as ei4:
        b.query(["a"])
    assert "SecurityToken" not in str(ei4.value) and "POST&" not in str(ei4.value)


def test_sdk_loggers_stay_quiet(
    em: Emulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "wrong")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CredentialsError):
        backend().submit(REQUEST, "x")
    assert not [r for r in caplog.records if r.name.startswith("aliyunsdkcore")]


# ------------------------------------------------------------------------------ endpoint and proxies


def test_endpoint_precedence_and_forms(monkeypatch: pytest.MonkeyPatch, creds: None) -> None:
    b = backend()
    assert b.endpoint.url == "https://mts.cn-shanghai.aliyuncs.com"
    b = backend(endpoint="https://mts.cn-beijing.aliyuncs.com")
    assert b.endpoint.url == "https://mts.cn-beijing.aliyuncs.com"
    monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", "http://127.0.0.1:8765")
    b = backend(endpoint="https://mts.cn-beijing.aliyuncs.com")
    assert (b.endpoint.scheme, b.endpoint.netloc, b.endpoint.loopback) == ("http", "127.0.0.1:8765", True)
    assert parse_endpoint("mts.example.com:8443", "t").url == "https://mts.example.com:8443"
    assert parse_endpoint("localhost:9", "t").loopback and parse_endpoint("http://[::1]:9", "t").loopback
    assert not parse_endpoint("https://mts.cn-shanghai.aliyuncs.com", "t").loopback
    for bad in (
        "ftp://x",
        "http://",
        "http://h/path",
        "http://h:99999",
        "https://user@evil.example",
        "http://h#x",
    ):
        with pytest.raises(PermanentBackendError):
            parse_endpoint(bad, "SPECRUNNER_MTS_ENDPOINT")


def test_proxies_are_ignored_for_loopback(em: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, dead)
    b = backend()
    job = b.submit(REQUEST, "via-no-proxy")
    assert b.query([job.id])[0][0].id == job.id


def test_proxies_used_for_remote_hosts_unless_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    remote = parse_endpoint("https://mts.cn-shanghai.aliyuncs.com", "t")
    assert proxies_for(remote) is None  # the SDK then uses HTTPS_PROXY
    monkeypatch.setenv("NO_PROXY", ".aliyuncs.com")
    assert proxies_for(remote) == {"http": None, "https": None}


# ------------------------------------------------------------------------------ credentials


def test_alibaba_cloud_env_wins_over_aliyun_env(em: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # The V1 signer would let ALIYUN_* override a credential object: the chosen one must really be used.
    monkeypatch.setenv("ALIYUN_ACCESS_KEY_ID", "LTAIother")
    monkeypatch.setenv("ALIYUN_ACCESS_KEY_SECRET", "other-secret")
    assert backend().submit(REQUEST, "x").state == "Submitted"


def test_aliyun_env_is_used_second(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Emulator(tmp_path, {"LTAIold": "old-secret"}, simulate=True) as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv("ALIYUN_ACCESS_KEY_ID", "LTAIold")
        monkeypatch.setenv("ALIYUN_ACCESS_KEY_SECRET", "old-secret")
        b = backend()
        assert b.credential.source == "ALIYUN_ACCESS_KEY_ID"
        b.submit(REQUEST, "x")
        monkeypatch.setenv("ALIYUN_ACCESS_KEY_SECRET", "bad")
        with pytest.raises(CredentialsError) as ei:
            backend().submit(REQUEST, "x")
        assert "ALIYUN_ACCESS_KEY_SECRET" in str(ei.value)


def test_sts_token_is_sent_even_with_aliyun_env_set(em: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "CAISsts-token-value-123"
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", token)
    monkeypatch.setenv("ALIYUN_ACCESS_KEY_ID", "LTAIother")
    monkeypatch.setenv("ALIYUN_ACCESS_KEY_SECRET", "other-secret")
    b = backend()
    urls: list[str] = []
    make = b.client._make_http_response  # the signed request, whichever connection then carries it

    def record(*a: Any, **k: Any) -> Any:
        resp = make(*a, **k)
        urls.append(resp.get_url())
        return resp

    monkeypatch.setattr(b.client, "_make_http_response", record)
    b.submit(REQUEST, "x")
    assert em.requests()[-1]["sts"] is True and em.requests()[-1]["status"] == 200
    assert "SecurityToken=CAISsts-token-value-123" in urls[0] and f"AccessKeyId={KEY}" in urls[0]
    assert token not in repr(b.credential) and SECRET not in repr(b.credential)


def write_profile(home: Path, doc: dict[str, Any]) -> None:
    (home / ".aliyun").mkdir(parents=True, exist_ok=True)
    (home / ".aliyun" / "config.json").write_text(json.dumps(doc))


def test_cli_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    write_profile(
        home,
        {
            "current": "work",
            "profiles": [
                {
                    "name": "default",
                    "mode": "AK",
                    "access_key_id": "LTAIdefault",
                    "access_key_secret": "s-default",
                },
                {"name": "work", "mode": "AK", "access_key_id": KEY, "access_key_secret": SECRET},
                {
                    "name": "sts",
                    "mode": "StsToken",
                    "access_key_id": "STS.key",
                    "access_key_secret": "s-sts",
                    "sts_token": "tok-1",
                },
                {"name": "role", "mode": "RamRoleArn", "access_key_id": "a", "access_key_secret": "b"},
            ],
        },
    )
    with Emulator(tmp_path / "root", {KEY: SECRET, "STS.key": "s-sts"}, simulate=True) as em:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        b = backend()
        assert "profile 'work'" in b.credential.source
        b.submit(REQUEST, "x")
        monkeypatch.setenv("ALIBABA_CLOUD_PROFILE", "sts")
        b = backend()
        assert b.credential.security_token == "tok-1"
        b.submit(REQUEST, "x")
        assert em.requests()[-1]["sts"] is True
    monkeypatch.setenv("ALIBABA_CLOUD_PROFILE", "role")
    with pytest.raises(CredentialsError) as ei:
        backend()
    assert "RamRoleArn" in str(ei.value) and "\n" not in str(ei.value)
    monkeypatch.setenv("ALIBABA_CLOUD_PROFILE", "nope")
    with pytest.raises(CredentialsError, match="'nope'"):
        backend()


def test_missing_credentials_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CredentialsError) as ei:
        backend()
    msg = str(ei.value)
    assert "\n" not in msg
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in msg and "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in msg
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
    with pytest.raises(CredentialsError, match="ALIBABA_CLOUD_ACCESS_KEY_SECRET is not"):
        backend()


def test_errors_are_backend_errors_with_codes(em: Emulator) -> None:
    b = backend()
    bad = {**REQUEST, "SnapshotConfig": {**REQUEST["SnapshotConfig"], "Num": "0"}}
    with pytest.raises(PermanentBackendError) as ei:
        b.submit(bad, "x")
    assert isinstance(ei.value, BackendError) and ei.value.code == "InvalidParameter.OutOfRange"
    assert ei.value.http_status == 400 and ei.value.request_id


def test_ipv6_loopback_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, creds: None) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        em = Emulator(tmp_path, {KEY: SECRET}, simulate=True, host="::1").start()
    except OSError:
        pytest.skip("cannot bind ::1")
    try:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", em.url)
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        b = backend()
        assert b.endpoint.loopback
        assert b.submit(REQUEST, "v6").state == "Submitted"
    finally:
        em.stop()


def test_https_is_really_used_for_an_https_endpoint(em: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # "host:port" means https; the emulator speaks plain HTTP, so the TLS handshake must fail.
    # (The SDK compares the protocol with `is`: an equal but distinct "https" string would send plain HTTP.)
    monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", "".join(["127.0.0.1:", str(em.port)]))
    b = backend()
    assert b.endpoint.scheme == "https"
    with pytest.raises(PermanentBackendError) as ei:
        b.query(["a"])
    assert "http://host:port" in str(ei.value)
    assert em.requests() == []

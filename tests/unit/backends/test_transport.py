"""The kept-alive transport of the aliyun backend, over real sockets: what it sends is what the SDK's
own transport sends, it reuses one connection, and it never sends on a connection the server closed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from specrunner.backends.aliyun import AliyunBackend

KEY, SECRET = "LTAItestkey0001", "transport-secret-0001"
REQUEST = {
    "Input": {"Bucket": "media-in", "Location": "oss-cn-shanghai", "Object": "videos%2Fa%20b.mp4"},
    "SnapshotConfig": {
        "OutputFile": {"Bucket": "media-out", "Location": "oss-cn-shanghai", "Object": "t%2F%7BCount%7D.jpg"},
        "Time": "0",
        "Num": "2",
    },
}
LIST = b'{"RequestId":"r","SnapshotJobList":{"SnapshotJob":[]}}'
JOB = b'{"RequestId":"r","SnapshotJob":{"Id":"0123456789abcdef0123456789abcdef","State":"Submitted"}}'


class _Recorder(BaseHTTPRequestHandler):
    """Answers every Submit with a submitted job, every query with an empty list; records the client
    port, path and headers. With ``server.hang_up`` it closes the connection after each answer
    without announcing it (as an idle timeout on a load balancer does)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *a: Any) -> None:
        pass

    def do_POST(self) -> None:
        server: Any = self.server
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        server.seen.append((self.client_address[1], self.path, dict(self.headers.items())))
        body = LIST if "Action=QuerySnapshotJobList" in self.path else JOB
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if server.hang_up:
            self.close_connection = True


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    srv: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    srv.daemon_threads = True
    srv.seen, srv.hang_up = [], False
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", f"http://127.0.0.1:{srv.server_address[1]}")
    monkeypatch.delenv("SPECRUNNER_MTS_TRANSPORT", raising=False)
    yield srv
    srv.shutdown()
    srv.server_close()


def backend() -> AliyunBackend:
    return AliyunBackend.from_target(SimpleNamespace(region="cn-shanghai", endpoint=None), workers=4)


_VARYING = {"Signature", "SignatureNonce", "Timestamp"}


def _shape(path: str, headers: dict[str, str]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The request minus what differs between any two signed requests (nonce, time, signature)."""
    params = [(k, "*" if k in _VARYING else v) for k, v in parse_qsl(urlsplit(path).query)]
    return params, {k.lower(): v for k, v in headers.items()}


def test_the_same_request_as_the_sdks_own_transport(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = backend()
    assert fast.transport is not None
    fast.submit(REQUEST, "ud-1")
    fast.query(["a", "b"])
    monkeypatch.setenv("SPECRUNNER_MTS_TRANSPORT", "sdk")
    sdk = backend()
    assert sdk.transport is None
    sdk.submit(REQUEST, "ud-1")
    sdk.query(["a", "b"])
    (_, p1, h1), (_, p2, h2), (_, p3, h3), (_, p4, h4) = server.seen
    assert _shape(p1, h1) == _shape(p3, h3)
    assert _shape(p2, h2) == _shape(p4, h4)
    assert "UserData=ud-1" in p1 and "specrunner/" in h1["User-Agent"]


def test_one_connection_is_kept_alive(server: Any) -> None:
    b = backend()
    for i in range(5):
        b.submit(REQUEST, f"ud-{i}")
    assert len({port for port, _, _ in server.seen}) == 1


def test_a_connection_the_server_closed_is_not_used(server: Any) -> None:
    server.hang_up = True
    b = backend()
    for i in range(4):
        # Each answer is followed by a close the client was not told about: a Submit sent on that
        # connection would get no answer (an uncertain Submit). A fresh connection is used instead.
        b.submit(REQUEST, f"ud-{i}")
        threading.Event().wait(0.05)  # the server's FIN arrives
    assert len(server.seen) == 4 and len({port for port, _, _ in server.seen}) == 4


def test_proxies_and_the_switch_select_the_sdks_transport(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    assert backend().transport is not None  # a loopback endpoint never goes through a proxy
    monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", "https://mts.cn-shanghai.aliyuncs.com")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert backend().transport is None  # the SDK's transport speaks to the proxy
    monkeypatch.setenv("NO_PROXY", ".aliyuncs.com")
    assert backend().transport is not None
    monkeypatch.setenv("SPECRUNNER_MTS_TRANSPORT", "sdk")
    assert backend().transport is None

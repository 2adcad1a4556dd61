"""The kept-alive transport of the aliyun backend, over real sockets: what it sends is what the SDK's
own transport sends, it reuses one connection, and it never sends on a connection the server closed."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from specrunner.backends.aliyun import AliyunBackend
from specrunner.core.errors import PermanentBackendError, TransientBackendError, UncertainSubmitError
from tests.helpers import serving

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
    srv.seen, srv.hang_up = [], False
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", f"http://127.0.0.1:{srv.server_address[1]}")
    monkeypatch.delenv("SPECRUNNER_MTS_TRANSPORT", raising=False)
    with serving(srv):
        yield srv


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
    assert backend().transport is not None  # the SDK reads HTTPS_PROXY for an https endpoint, only it
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert backend().transport is None  # the SDK's transport speaks to the proxy
    monkeypatch.setenv("NO_PROXY", ".aliyuncs.com")
    assert backend().transport is not None
    monkeypatch.setenv("SPECRUNNER_MTS_TRANSPORT", "sdk")
    assert backend().transport is None


# ------------------------------------------------------------------ framing, over a raw socket


class RawServer:
    """Answers each request (read up to its blank line; ours carry no body) with ``answer``: the raw
    bytes, written in pieces of ``piece`` bytes; closes the connection after it when ``close``."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.answer = b""
        self.piece = 1 << 16
        self.close = False
        self.connections = 0
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def stop(self) -> None:
        """Wakes the accept loop (a plain close would leave it blocked in accept()) and closes."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                self.requests.append(head)
                for i in range(0, len(self.answer), self.piece):
                    conn.sendall(self.answer[i : i + self.piece])
                if self.close:
                    return


@pytest.fixture
def raw(monkeypatch: pytest.MonkeyPatch) -> Iterator[RawServer]:
    srv = RawServer()
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", f"http://127.0.0.1:{srv.port}")
    monkeypatch.delenv("SPECRUNNER_MTS_TRANSPORT", raising=False)
    yield srv
    srv.stop()


def chunked(body: bytes, size: int = 7) -> bytes:
    parts = [
        b"%x;ext=1\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\nX-Trailer: t\r\n\r\n"


@pytest.mark.parametrize(
    "framing",
    ["length", "chunked", "byte-by-byte", "interim-100", "http10-until-close", "close-after"],
)
def test_answers_in_every_framing_are_read(raw: RawServer, framing: str) -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    raw.answer = {
        "length": ok + b"Content-Length: %d\r\n\r\n%s" % (len(JOB), JOB),
        "chunked": ok + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(JOB),
        "byte-by-byte": ok + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(JOB, 5),
        "interim-100": b"HTTP/1.1 100 Continue\r\n\r\n"
        + ok
        + b"Content-Length: %d\r\n\r\n%s" % (len(JOB), JOB),
        "http10-until-close": b"HTTP/1.0 200 OK\r\n\r\n" + JOB,
        "close-after": ok + b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(JOB), JOB),
    }[framing]
    raw.piece = 1 if framing == "byte-by-byte" else 1 << 16
    raw.close = framing in ("http10-until-close", "close-after")
    b = backend()
    for i in range(3):
        assert b.submit(REQUEST, f"ud-{i}").id == "0123456789abcdef0123456789abcdef"
    assert raw.connections == (3 if raw.close else 1)  # kept alive unless the server said otherwise
    assert (
        raw.requests[0].startswith(b"POST /?") and f"Host: 127.0.0.1:{raw.port}".encode() in raw.requests[0]
    )


def test_an_error_answer_in_chunks_is_the_sdks_server_error(raw: RawServer) -> None:
    err = b'{"RequestId":"r","Code":"InvalidParameter.JsonFormatInvalid","Message":"bad"}'
    raw.answer = b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(err)
    with pytest.raises(PermanentBackendError) as ei:
        backend().submit(REQUEST, "x")
    assert str(ei.value) == "InvalidParameter.JsonFormatInvalid: bad" and ei.value.http_status == 400


@pytest.mark.parametrize("cut", [b"", b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"Req', b"HTTP/1.1 2"])
def test_an_answer_cut_short_makes_the_submit_uncertain(raw: RawServer, cut: bytes) -> None:
    raw.answer, raw.close = cut, True
    b = backend()
    with pytest.raises(UncertainSubmitError) as ei:
        b.submit(REQUEST, "x")
    assert ei.value.code == "NoAnswer"
    with pytest.raises(TransientBackendError) as e2:
        b.query(["a"])
    assert not isinstance(e2.value, UncertainSubmitError) and e2.value.code == "NoAnswer"


@pytest.mark.parametrize(
    "answer",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        # A server's own bytes must never read as a failure that proves nothing was sent.
        b"connection refused\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: Failed to establish a new connection\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nconnect timeout=\r\n",
        b"SSL: hello\r\n\r\n",
    ],
)
def test_garbage_instead_of_an_answer_is_uncertain(raw: RawServer, answer: bytes) -> None:
    raw.answer, raw.close = answer, True
    with pytest.raises(UncertainSubmitError) as ei:
        backend().submit(REQUEST, "x")
    assert ei.value.code == "NoAnswer"


# ------------------------------------------------------------------ TLS, as against the real service


@pytest.fixture
def tls_server(tmp_path: Path, server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The recording server behind TLS with a fresh self-signed certificate for localhost."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    class TlsServer(ThreadingHTTPServer):
        # The handshake runs in each connection's own thread, never in the accept loop: a client
        # that stalls or fails its handshake can never block serve_forever (and so shutdown()).
        def get_request(self) -> tuple[Any, Any]:
            sock, addr = self.socket.accept()
            return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

        def finish_request(self, request: Any, client_address: Any) -> None:
            try:
                request.settimeout(10)
                request.do_handshake()
            except (OSError, ssl.SSLError):
                return
            super().finish_request(request, client_address)

    srv: Any = TlsServer(("127.0.0.1", 0), _Recorder)
    srv.seen, srv.hang_up = [], False
    monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", f"https://localhost:{srv.server_address[1]}")
    srv.cert = cert
    with serving(srv):
        yield srv


def test_tls_is_verified_against_the_ca_bundle_and_kept_alive(
    tls_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ALIBABA_CLOUD_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(PermanentBackendError) as ei:  # not trusted: the SDK's CA file lacks it
        backend().submit(REQUEST, "x")
    assert "certificate verification failed" in str(ei.value) and tls_server.seen == []
    # The SDK's session sends with an explicit `verify`: REQUESTS_CA_BUNDLE plays no part there, nor here.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_server.cert))
    for transport in ("", "sdk"):
        monkeypatch.setenv("SPECRUNNER_MTS_TRANSPORT", transport)
        with pytest.raises(PermanentBackendError, match="certificate verification failed"):
            backend().submit(REQUEST, "x")
    monkeypatch.delenv("SPECRUNNER_MTS_TRANSPORT")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    assert tls_server.seen == []
    monkeypatch.setenv("ALIBABA_CLOUD_CA_BUNDLE", str(tls_server.cert))
    tls_server.seen.clear()
    b = backend()
    assert b.transport is not None
    for i in range(3):
        b.submit(REQUEST, f"ud-{i}")
    b.query(["a"])
    assert len(tls_server.seen) == 4 and len({port for port, _, _ in tls_server.seen}) == 1
    assert tls_server.seen[0][2]["Host"] == f"localhost:{tls_server.server_address[1]}"


def test_memoized_quoting_signs_exactly_as_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    from aliyunsdkcore.auth.composer import rpc_signature_composer as composer
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcore.utils import parameter_helper
    from aliyunsdkmts.request.v20140618.SubmitSnapshotJobRequest import SubmitSnapshotJobRequest

    from specrunner.backends import transport

    monkeypatch.setattr(composer, "urlencode", urllib.parse.urlencode)  # the SDK's own
    monkeypatch.setattr(parameter_helper, "get_uuid", lambda: "fixed-nonce")
    monkeypatch.setattr(parameter_helper, "get_iso_8061_date", lambda: "2026-11-25T23:00:00Z")
    client = AcsClient(KEY, SECRET, "cn-shanghai", auto_retry=False)

    def signed() -> tuple[str, str]:
        req = SubmitSnapshotJobRequest()
        req.set_Input('{"Bucket":"in","Object":"a b+c*d~e%2F\u00e9\u6f22.mp4"}')
        req.set_SnapshotConfig(json.dumps(REQUEST["SnapshotConfig"]))
        req.set_UserData("ud-1 *~")
        req.set_endpoint("127.0.0.1:1")
        resp = client._make_http_response("127.0.0.1:1", req, 10, 5)
        return resp.get_url(), req.string_to_sign

    before = signed()
    transport.memoize_sdk_quoting()
    assert composer.urlencode is transport._urlencode
    assert signed() == before and signed() == before  # the second time from the memo


# ------------------------------------------------------------------ never left, or maybe received


SDK = "HTTPSConnectionPool(host='mts.cn-shanghai.aliyuncs.com', port=443): Max retries exceeded with url: /"


@pytest.mark.parametrize(
    "via_sdk, message, verdict",
    [
        # Proven not sent: the connection was never opened (urllib3's words and ours alike).
        (
            True,
            SDK + " (Caused by NewConnectionError('x: Failed to establish a new connection: "
            "[Errno 111] Connection refused'))",
            "never left",
        ),
        (False, "Failed to establish a new connection: [Errno 104] Connection reset by peer", "never left"),
        (
            True,
            SDK + " (Caused by ConnectTimeoutError(x, 'Connection to h timed out. (connect timeout=5)'))",
            "never left",
        ),
        (
            True,
            SDK + " (Caused by ProxyError('Cannot connect to proxy.', NewConnectionError('x: Failed to "
            "establish a new connection: [Errno 111] Connection refused')))",
            "never left",
        ),
        (False, "SSLError([SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] handshake failure)", "never left"),
        # Maybe received: urllib3 calls any socket error through a proxy "Cannot connect to proxy".
        (True, SDK + " (Caused by ProxyError('Cannot connect to proxy.', OSError(0, 'Error')))", "uncertain"),
        (
            True,
            SDK + " (Caused by ProxyError('Cannot connect to proxy.', "
            "RemoteDisconnected('Remote end closed connection without response')))",
            "uncertain",
        ),
        # The SDK's session calls a TLS error while reading the answer an SSLError too.
        (
            True,
            SDK + " (Caused by SSLError(SSLError(1, '[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] "
            "decryption failed or bad record mac')))",
            "uncertain",
        ),
        # A server's bytes inside an error after the request left decide nothing.
        (True, "('Connection aborted.', BadStatusLine('connection refused'))", "uncertain"),
        (True, "('Connection aborted.', BadStatusLine('Failed to establish a new connection'))", "uncertain"),
        (True, "HTTPConnectionPool(host='h', port=80): Read timed out. (read timeout=10)", "uncertain"),
        # Certificates are checked in the handshake: refused for good, never resent.
        (
            True,
            SDK + " (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] "
            "certificate verify failed')))",
            "permanent",
        ),
    ],
)
def test_a_submit_is_resent_only_when_it_provably_never_left(
    server: Any, monkeypatch: pytest.MonkeyPatch, via_sdk: bool, message: str, verdict: str
) -> None:
    from aliyunsdkcore.acs_exception.exceptions import ClientException

    monkeypatch.setenv("SPECRUNNER_MTS_TRANSPORT", "sdk" if via_sdk else "")
    b = backend()
    assert (b.transport is None) == via_sdk
    sent = ClientException("SDK.HttpError", message)
    err = b.errors.client(sent, submit=True, own_transport=b.transport is not None)
    got = (
        "uncertain"
        if isinstance(err, UncertainSubmitError)
        else "permanent"
        if isinstance(err, PermanentBackendError)
        else "never left"
        if err.code == "EndpointUnreachable"
        else type(err).__name__
    )
    assert got == verdict, (message, err)

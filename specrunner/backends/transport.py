"""Send the SDK's signed MTS requests over kept-alive connections.

``aliyunsdkcore`` builds and signs every request (``AcsClient._make_http_response``: the same
method, URL with its signature, headers and User-Agent as ``do_action_with_exception``), and
judges every answer (``AcsClient._get_server_exception``: the same ServerException for any status
outside 2xx). Only the hop in between differs: the SDK's vendored ``requests`` session costs more
CPU than building and signing the request. Here ``http.client`` opens the connection (TCP; TLS
with verification and SNI) and the request and its answer are framed directly on it (HTTP/1.1:
the answer delimited by Content-Length, chunked, or the end of the connection; 1xx answers
skipped); the connection is pooled and reused while the server keeps it open.

Invariants:
- What reaches the service is what the SDK's session would send: same request line, the same
  headers (the SDK's, plus Host, Accept, Connection and Content-Length as the session adds them);
  no redirect is followed (the SDK sends ``allow_redirects=False``: a 3xx is an error answer).
- Errors look like the SDK's: a transport failure raises ``ClientException(SDK.HttpError, text)``
  whose text names the phase the way urllib3 does: "Failed to establish a new connection" /
  "connect timeout=" / an SSLError before the request left; "Read timed out" / "Connection
  aborted" once it may have left (a cut-short or unparsable answer included). The backend
  classifies these texts.
- A connection the server closed while idle in the pool is detected before reuse (as urllib3
  does) and replaced: nothing is sent on it. A connection with unread bytes after an answer, or
  that the server asked to close, is never reused.
- Used only when no proxy applies (a loopback or NO_PROXY endpoint, or no ``*_proxy`` variable):
  otherwise, or with ``SPECRUNNER_MTS_TRANSPORT=sdk``, the SDK's own transport is used.
- The SDK's RPC signer gets a memoized ``urllib.parse.urlencode`` (``memoize_sdk_quoting``): the
  same function with its default ``quote_plus`` memoized, so every signature and URL is the same.
- TLS verifies as the SDK's session does: against ``ALIBABA_CLOUD_CA_BUNDLE``, else
  ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``, else the SDK's bundled CA file.
"""

from __future__ import annotations

import functools
import http.client
import os
import select
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from aliyunsdkcore.acs_exception import error_code
from aliyunsdkcore.acs_exception.exceptions import ClientException
from aliyunsdkcore.client import AcsClient

TRANSPORT_ENV = "SPECRUNNER_MTS_TRANSPORT"

# quote_plus is a pure function: memoized, it returns what it always returns. The SDK's RPC signer
# percent-encodes every parameter twice per request (string to sign, then URL); a rule's
# SnapshotConfig and an input's Input are the same long strings for many requests.
_quote_plus = functools.lru_cache(maxsize=4096)(urllib.parse.quote_plus)


def _urlencode(
    query: Any,
    doseq: bool = False,
    safe: str = "",
    encoding: str | None = None,
    errors: str | None = None,
    quote_via: Callable[..., str] = urllib.parse.quote_plus,
) -> str:
    """``urllib.parse.urlencode`` itself, its default quoting memoized."""
    if quote_via is urllib.parse.quote_plus:
        quote_via = _quote_plus
    return urllib.parse.urlencode(query, doseq, safe, encoding, errors, quote_via)


def memoize_sdk_quoting() -> None:
    """Give the SDK's RPC signer the memoized ``urlencode`` (the same output: the signer runs
    unchanged). Only when it uses the standard library's own, as aliyunsdkcore 2.16 does."""
    from aliyunsdkcore.auth.composer import rpc_signature_composer as composer

    if getattr(composer, "urlencode", None) is urllib.parse.urlencode:
        composer.urlencode = _urlencode


# What the SDK's requests session adds to every request besides the SDK's own headers.
_SESSION_HEADERS = {"Accept": "*/*", "Connection": "keep-alive"}


def _ssl_context(verify: Any) -> ssl.SSLContext:
    """The SDK's verification: ``verify`` (its ``get_verify()``), else ALIBABA_CLOUD_CA_BUNDLE, else the
    SDK's bundled CA file (its session sends with an explicit ``verify``, so REQUESTS_CA_BUNDLE and
    CURL_CA_BUNDLE play no part). Python 3.13's default context adds VERIFY_X509_STRICT, which the
    SDK's urllib3 does not: it is taken off, so a private CA accepted by the SDK is accepted here."""
    value = verify if verify is not None else os.environ.get("ALIBABA_CLOUD_CA_BUNDLE", True)
    if value is False:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if value is True:
        from aliyunsdkcore.vendored.requests.certs import where

        value = where()
    path = str(value)
    ctx = (
        ssl.create_default_context(capath=path)
        if os.path.isdir(path)
        else ssl.create_default_context(cafile=path)
    )
    ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return ctx


IDLE_REUSE = 4.0  # seconds an idle connection is reused (well below the usual server keep-alive timeouts)
_MAX_HEAD = 65536  # bytes of a status line + headers, as http.client allows per line
_MAX_HEADERS = 100


class _Lost(Exception):
    """The connection failed while the request was out: worded as urllib3 words it ("Connection aborted")."""


class _Link:
    """One connection: ``http.client`` opens it (TCP, TLS with verification and SNI); the request and
    its answer are framed here (HTTP/1.1: Content-Length, chunked, or until close; 1xx skipped)."""

    __slots__ = ("buf", "conn", "idle_since")

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self.conn = conn
        self.buf = bytearray()
        self.idle_since = 0.0

    def host_header(self) -> str:
        """What http.client sends as Host: the port only when it is not the scheme's default."""
        conn = self.conn
        host = f"[{conn.host}]" if ":" in conn.host else conn.host
        return host if conn.port == conn.default_port else f"{host}:{conn.port}"

    def dropped(self) -> bool:
        """True when the server closed (or wrote to) this idle connection: it cannot carry a request."""
        sock = self.conn.sock
        if sock is None or self.buf:
            return True
        try:
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    def _fill(self, started: bool) -> None:
        sock = self.conn.sock
        assert sock is not None
        data = sock.recv(65536)
        if not data:
            raise _Lost(
                "IncompleteRead('the answer was cut short')"
                if started
                else "RemoteDisconnected('Remote end closed connection without response')"
            )
        self.buf += data

    def _line(self, started: bool = True) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            if len(self.buf) > _MAX_HEAD:
                raise _Lost("LineTooLong('an answer line is too long')")
            self._fill(started or bool(self.buf))
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return line

    def _exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill(True)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def exchange(self, head: bytes, body: bytes) -> tuple[int, bytes, bool]:
        """Send one request, read its answer: (status, body, whether the connection can be reused)."""
        sock = self.conn.sock
        assert sock is not None
        sock.sendall(head + body if body else head)
        while True:
            status_line = self._line(started=False)
            version, _, rest = status_line.partition(b" ")
            code = rest[:3]
            if not version.startswith(b"HTTP/") or len(code) != 3 or not code.isdigit():
                raise _Lost("BadStatusLine('the answer has no HTTP status line')")  # never its bytes
            headers: dict[bytes, bytes] = {}
            while line := self._line():
                if len(headers) >= _MAX_HEADERS:
                    raise _Lost("HTTPException('got more than 100 headers')")
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                headers[name] = headers[name] + b"," + value.strip() if name in headers else value.strip()
            status = int(code)
            if not (100 <= status < 200) or status == 101:
                break  # an interim answer (100 Continue) is followed by the real one
        tokens = {t.strip() for t in headers.get(b"connection", b"").lower().split(b",")}
        keep = (version == b"HTTP/1.1" and b"close" not in tokens) or (
            version == b"HTTP/1.0" and b"keep-alive" in tokens
        )
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            parts = []
            while size := _number(self._line().split(b";", 1)[0], 16, "chunk size"):
                parts.append(self._exactly(size))
                self._exactly(2)  # the CRLF after the chunk
            while self._line():  # trailers, up to the empty line
                pass
            data = b"".join(parts)
        elif status in (204, 304) or status == 101:
            data = b""
        elif b"content-length" in headers:
            length = _number(headers[b"content-length"], 10, "Content-Length")
            data = self._exactly(length)
        else:  # delimited by the end of the connection
            keep = False
            try:
                while True:
                    self._fill(True)
            except _Lost:
                pass
            data, self.buf = bytes(self.buf), bytearray()
        return status, data, keep and not self.buf


def _number(raw: bytes, base: int, what: str) -> int:
    """A non-negative number of the answer's framing; a malformed one is worded without its bytes (a
    server's text must never read as one of the phrases that classify a failure)."""
    text = raw.strip()
    try:
        value = int(text, base) if text and text.isascii() and text.isalnum() else -1
    except ValueError:
        value = -1
    if value < 0:
        raise _Lost(f"HTTPException('a malformed {what}')")
    return value


class KeepAliveTransport:
    """Thread-safe: each call takes a connection from the pool (or opens one) and returns it after
    the answer was read in full."""

    def __init__(
        self,
        client: AcsClient,
        *,
        scheme: str,
        netloc: str,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        self.client = client
        self.netloc = netloc
        self.https = scheme == "https"
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._ssl = _ssl_context(client.get_verify()) if self.https else None
        self._idle: list[_Link] = []
        self._lock = threading.Lock()
        self._closed = False
        self._host = self._new().host_header()  # not connected: only its host and port are read

    def _new(self) -> _Link:
        if self._ssl is not None:
            return _Link(
                http.client.HTTPSConnection(self.netloc, timeout=self.connect_timeout, context=self._ssl)
            )
        return _Link(http.client.HTTPConnection(self.netloc, timeout=self.connect_timeout))

    def _take(self) -> _Link:
        while True:
            with self._lock:
                link = self._idle.pop() if self._idle else None
            if link is None:
                return self._new()
            # A server may close an idle connection at any moment, also just after the check below:
            # a request on it then fails as maybe-received (a lookup, never a blind resend). Links idle
            # longer than IDLE_REUSE are not risked at all.
            if time.monotonic() - link.idle_since < IDLE_REUSE and not link.dropped():
                return link
            link.conn.close()

    def _connect(self, conn: http.client.HTTPConnection) -> None:
        """Open the connection (TCP, TLS): nothing of the request has left when this fails."""
        try:
            conn.connect()
        except TimeoutError:
            conn.close()
            raise ClientException(
                error_code.SDK_HTTP_ERROR,
                f"Connection to {self.netloc} timed out. (connect timeout={self.connect_timeout})",
            ) from None
        except ssl.SSLError as e:
            conn.close()
            raise ClientException(error_code.SDK_HTTP_ERROR, f"SSLError({e})") from None
        except OSError as e:
            conn.close()
            raise ClientException(
                error_code.SDK_HTTP_ERROR, f"Failed to establish a new connection: {e}"
            ) from None
        assert conn.sock is not None
        conn.sock.settimeout(self.read_timeout)

    def do_action(self, request: Any, gate: Callable[[], None] | None = None) -> bytes:
        """``AcsClient.do_action_with_exception`` for an RPC request with its endpoint set."""
        client = self.client
        request.set_accept_format("JSON")
        request.add_header("Accept-Encoding", "identity")
        resp = client._make_http_response(self.netloc, request, self.read_timeout, self.connect_timeout)
        body = resp.get_body() or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        lines = [f"{resp.get_method()} {resp.get_url()} HTTP/1.1", f"Host: {self._host}"]
        headers = {**_SESSION_HEADERS, **resp.get_headers()}
        headers.pop("Content-Length", None)
        for name, value in headers.items():
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(body)}")
        if any("\r" in line or "\n" in line for line in lines):
            raise ClientException(error_code.SDK_HTTP_ERROR, "Invalid header: a value holds a line break")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict")
        link = self._take()
        if link.conn.sock is None:
            self._connect(link.conn)
        if gate is not None:  # the last check, after every wait, immediately before the write
            try:
                gate()
            except BaseException:
                self._give_back(link)
                raise
        try:
            status, data, keep = link.exchange(head, body)
        except TimeoutError:
            link.conn.close()
            raise ClientException(
                error_code.SDK_HTTP_ERROR,
                f"HTTPConnectionPool(host={self.netloc!r}): Read timed out. "
                f"(read timeout={self.read_timeout})",
            ) from None
        except ssl.SSLError:
            # Not worded as an SSLError: that would read as a failed handshake (nothing sent), and
            # the request may have left.
            link.conn.close()
            raise ClientException(
                error_code.SDK_HTTP_ERROR, "('Connection aborted.', 'a TLS error after the request was sent')"
            ) from None
        except _Lost as e:
            link.conn.close()
            raise ClientException(error_code.SDK_HTTP_ERROR, f"('Connection aborted.', {e})") from None
        except (OSError, ValueError) as e:  # a reset, a broken pipe: the OS's words, never the server's
            link.conn.close()
            words = e.strerror if isinstance(e, OSError) and e.strerror else "a malformed answer"
            raise ClientException(
                error_code.SDK_HTTP_ERROR, f"('Connection aborted.', {type(e).__name__}({words!r}))"
            ) from None
        with self._lock:
            pooled = keep and not self._closed
            if pooled:
                link.idle_since = time.monotonic()
                self._idle.append(link)
        if not pooled:
            link.conn.close()
        if not 200 <= status < 300:  # the SDK's own verdict (it returns None for any 2xx)
            exc = client._get_server_exception(status, data, self.netloc, request.string_to_sign)
            if exc is not None:
                raise exc
        return data

    def _give_back(self, link: _Link) -> None:
        """An unused connection (nothing was written on it) goes back to the pool."""
        with self._lock:
            if not self._closed:
                link.idle_since = time.monotonic()
                self._idle.append(link)
                return
        link.conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for link in idle:
            link.conn.close()


def keep_alive_allowed(no_proxy: bool, scheme: str = "https") -> bool:
    """The kept-alive transport is used unless the SDK would send through a proxy (it reads
    HTTPS_PROXY / https_proxy for an https endpoint, HTTP_PROXY / http_proxy for http; ``no_proxy``:
    the backend gave it none) or SPECRUNNER_MTS_TRANSPORT=sdk."""
    if os.environ.get(TRANSPORT_ENV, "").strip().lower() == "sdk":
        return False
    if no_proxy:
        return True
    name = "HTTPS_PROXY" if scheme == "https" else "HTTP_PROXY"
    return not (os.environ.get(name) or os.environ.get(name.lower()))

"""Send the SDK's signed MTS requests over kept-alive ``http.client`` connections.

``aliyunsdkcore`` builds and signs every request (``AcsClient._make_http_response``: the same
method, URL with its signature, headers and User-Agent as ``do_action_with_exception``), and
judges every answer (``AcsClient._get_server_exception``: the same ServerException for any status
outside 2xx). Only the hop in between differs: the SDK's vendored ``requests`` session costs about
twice the CPU of the request itself; here the signed request goes over a pooled, kept-alive
``http.client`` connection (one per concurrent caller, reused while the server keeps it open).

Invariants:
- What reaches the service is what the SDK would send: same method, path + query, headers; no
  redirect is followed (the SDK sends ``allow_redirects=False``: a 3xx is an error answer).
- Errors look like the SDK's: a transport failure raises ``ClientException(SDK.HttpError, text)``
  whose text names the phase the way urllib3 does: "Failed to establish a new connection" /
  "connect timeout=" / an SSLError before the request left; "Read timed out" / "Connection
  aborted" / "Connection reset" once it may have left. The backend classifies these texts.
- A connection the server closed while idle in the pool is detected before reuse (as urllib3
  does) and replaced: nothing is sent on it.
- Used only when no proxy applies (a loopback or NO_PROXY endpoint, or no ``*_proxy`` variable):
  otherwise, or with ``SPECRUNNER_MTS_TRANSPORT=sdk``, the SDK's own transport is used.
- TLS verifies against ``ALIBABA_CLOUD_CA_BUNDLE`` when set, else the SDK's bundled CA file, as
  the SDK does.
"""

from __future__ import annotations

import http.client
import os
import select
import ssl
import threading
from typing import Any

from aliyunsdkcore.acs_exception import error_code
from aliyunsdkcore.acs_exception.exceptions import ClientException
from aliyunsdkcore.client import AcsClient

TRANSPORT_ENV = "SPECRUNNER_MTS_TRANSPORT"
# What the SDK's requests session adds to every request besides the SDK's own headers.
_SESSION_HEADERS = {"Accept": "*/*", "Connection": "keep-alive"}


def _ssl_context(verify: Any) -> ssl.SSLContext:
    """The SDK's verification: ``verify`` (its ``get_verify()``), else ALIBABA_CLOUD_CA_BUNDLE, else
    its bundled CA file."""
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
    if os.path.isdir(path):
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path)


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """True when the server closed (or wrote to) this idle connection: it cannot carry a request."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


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
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _new(self) -> http.client.HTTPConnection:
        if self._ssl is not None:
            return http.client.HTTPSConnection(self.netloc, timeout=self.connect_timeout, context=self._ssl)
        return http.client.HTTPConnection(self.netloc, timeout=self.connect_timeout)

    def _take(self) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._new()
            if not _dropped(conn):
                return conn
            conn.close()

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

    def do_action(self, request: Any) -> bytes:
        """``AcsClient.do_action_with_exception`` for an RPC request with its endpoint set."""
        client = self.client
        request.set_accept_format("JSON")
        request.add_header("Accept-Encoding", "identity")
        resp = client._make_http_response(self.netloc, request, self.read_timeout, self.connect_timeout)
        headers = {**_SESSION_HEADERS, **resp.get_headers()}
        conn = self._take()
        if conn.sock is None:
            self._connect(conn)
        try:
            conn.request(resp.get_method(), resp.get_url(), body=resp.get_body(), headers=headers)
            answer = conn.getresponse()
            status, body = answer.status, answer.read()
        except TimeoutError:
            conn.close()
            raise ClientException(
                error_code.SDK_HTTP_ERROR,
                f"HTTPConnectionPool(host={self.netloc!r}): Read timed out. "
                f"(read timeout={self.read_timeout})",
            ) from None
        except ssl.SSLError:
            # Not worded as an SSLError: that would read as a failed handshake (nothing sent), and
            # the request may have left.
            conn.close()
            raise ClientException(
                error_code.SDK_HTTP_ERROR, "('Connection aborted.', 'a TLS error after the request was sent')"
            ) from None
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise ClientException(
                error_code.SDK_HTTP_ERROR, f"('Connection aborted.', {type(e).__name__}({e!s}))"
            ) from None
        if answer.will_close or conn.sock is None:
            conn.close()
        else:
            with self._lock:
                self._idle.append(conn)
        if not 200 <= status < 300:  # the SDK's own verdict (it returns None for any 2xx)
            exc = client._get_server_exception(status, body, self.netloc, request.string_to_sign)
            if exc is not None:
                raise exc
        return bytes(body)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def keep_alive_allowed(no_proxy: bool) -> bool:
    """The kept-alive transport is used unless a proxy applies or SPECRUNNER_MTS_TRANSPORT=sdk."""
    if os.environ.get(TRANSPORT_ENV, "").strip().lower() == "sdk":
        return False
    if no_proxy:
        return True
    import urllib.request

    return not urllib.request.getproxies_environment()

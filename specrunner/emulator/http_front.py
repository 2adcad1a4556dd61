"""The emulator's HTTP front: it reads a request, hands it to the MTS or the OSS side, writes the answer.

- Any path other than ``/``, or an ``Authorization: OSS ...`` header, is an OSS request: an object
  call (``/<bucket>/<key>``, ``emulator/oss_objects.py``), DeleteMultipleObjects (``POST
  /<bucket>/?delete``, ``emulator/oss_batchdelete.py``) or another bucket request (ListObjectsV2,
  ``emulator/oss_listing.py``); OSS answers carry ``Date``, ``Content-Type``, their own headers,
  ``Content-Length`` and ``x-oss-request-id``, and no body for HEAD.
- Everything else is an MTS RPC request (``emulator/mts_endpoint.py``): the query string's
  parameters, plus a form-encoded POST body's; answers are compact UTF-8 JSON with
  ``x-acs-request-id``.
- A dropped answer closes the connection without a byte.

Invariants: HTTP/1.1 keep-alive (the SDKs' pooled sessions expect it), Nagle off; the request line
is never logged (it carries AccessKeyId and SecurityToken); ``stop`` also ends idle keep-alive
connections (:meth:`FrontServer.close_connections`).
"""

from __future__ import annotations

import email.utils
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from specrunner.emulator.mts_protocol import Answer
from specrunner.emulator.oss_batchdelete import is_batch_delete
from specrunner.emulator.oss_objects import is_object_request
from specrunner.emulator.oss_protocol import OssAnswer

log = logging.getLogger(__name__)


class Site(Protocol):
    """What the front serves: the emulator's three kinds of request."""

    def handle_mts(
        self,
        method: str,
        path: str,
        items: list[tuple[str, str]],
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> Answer: ...

    def handle_oss_object(
        self, method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes
    ) -> OssAnswer: ...

    def handle_oss_listing(
        self, method: str, path: str, query: str, headers: list[tuple[str, str]]
    ) -> OssAnswer: ...

    def handle_oss_batch_delete(
        self, path: str, query: str, headers: list[tuple[str, str]], body: bytes
    ) -> OssAnswer: ...


class FrontServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its open connections (to end them at stop)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], site: Site) -> None:
        self.site = site
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:  # pragma: no cover - transport noise
        log.debug("emulator: error while serving %s", client_address, exc_info=True)


class _FrontServer6(FrontServer):
    address_family = socket.AF_INET6


def front_server(host: str, port: int, site: Site) -> FrontServer:
    """A bound server for ``site`` (IPv6 if ``host`` has a colon); ``serve_forever`` serves it."""
    return (_FrontServer6 if ":" in host else FrontServer)((host, port), site)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's pooled session expects
    server_version = "mts-emulator/1.0"
    sys_version = ""
    timeout = 30  # idle keep-alive connections end after this
    disable_nagle_algorithm = True  # small answers must not wait for a delayed ACK
    server: FrontServer

    def log_message(self, format: str, *args: Any) -> None:
        # The default logs the request line, which carries AccessKeyId and SecurityToken: never.
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:  # OSS objects (remote state)
        self._serve("PUT")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        headers = list(self.headers.items())
        site = self.server.site
        if split.path not in ("", "/") or (self.headers.get("Authorization") or "").startswith("OSS "):
            if is_object_request(method, split.path):
                oss = site.handle_oss_object(method, split.path, split.query, headers, body)
            elif is_batch_delete(method, split.path, split.query):
                oss = site.handle_oss_batch_delete(split.path, split.query, headers, body)
            else:
                oss = site.handle_oss_listing(method, split.path, split.query, headers)
            self._answer_oss(method, oss)
            return
        params = parse_qsl(split.query, keep_blank_values=True)
        ctype = (self.headers.get("Content-Type") or "").lower()
        if body and ctype.startswith("application/x-www-form-urlencoded"):
            params += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        answer = site.handle_mts(method, split.path or "/", params, headers, body)
        if answer.drop:  # the job exists; the client never hears about it
            self._hang_up()
            return
        data = json.dumps(answer.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-acs-request-id", str(answer.body.get("RequestId", "")))
        self.end_headers()
        self.wfile.write(data)

    def _answer_oss(self, method: str, answer: OssAnswer) -> None:
        if answer.drop:  # the write is done; the client never hears about it
            self._hang_up()
            return
        self.send_response(answer.status)
        self.send_header("Date", email.utils.formatdate(usegmt=True))
        self.send_header("Content-Type", answer.content_type)
        for k, v in answer.headers.items():
            if k != "Content-Length":
                self.send_header(k, v)
        self.send_header("Content-Length", answer.headers.get("Content-Length", str(len(answer.body))))
        self.send_header("x-oss-request-id", answer.request_id)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(answer.body)

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

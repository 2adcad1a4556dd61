"""The MTS emulator: an HTTP server that speaks the MTS RPC protocol over the local engine.

What it does, as the service does (see the research notes, sections 2-5):

- ``POST`` or ``GET`` on ``/``; every parameter in the query string (form-encoded body parameters of a
  POST are accepted too and take part in the signature); ``Version=2014-06-18``; JSON answers.
- Signature v1 (HMAC-SHA1) checked against the configured keys; STS requests (``SecurityToken``) are
  accepted for a configured AccessKeyId. ``Timestamp`` more than 15 minutes off is refused, and so is a
  ``SignatureNonce`` seen in the last 15 minutes.
- Errors are non-2xx answers with a ``{RequestId, HostId, Code, Message}`` body; SignatureDoesNotMatch
  carries the server's string to sign in the exact format the SDK parses.
- Every scalar in an answer is a string; State is spelled ``Snapshoting``; at most 10 ids per query;
  ``NonExistSnapshotJobIds`` only when non-empty; listing mode with filters and paging.

For tests and benchmarks it injects faults (latency, throttling per action at a QPS, 5xx at a rate,
dropped Submit answers: the job is created, then the connection is closed without an answer) and
journals every request as one JSON line, without signatures, key ids or tokens.

``simulate=True`` keeps an in-memory job table instead of running the engine: inputs are validated as
the service does but no video is decoded; async jobs go Submitted -> Snapshoting -> Success after
``simulate_seconds`` with Count = Num (or 1). It is for benchmarks of the runner itself.

The same server also answers OSS ListObjectsV2 (for input discovery), so SPECRUNNER_OSS_ENDPOINT can be
the same URL as SPECRUNNER_MTS_ENDPOINT: a ``GET /<bucket>/?list-type=2`` (path-style, as oss2 addresses
IP and localhost endpoints) lists the files under ``<root>/<bucket>/``, with ``prefix``,
``continuation-token``, ``max-keys`` (default 100, at most 1000), ``delimiter``, ``start-after``,
``fetch-owner`` and ``encoding-type=url``; answers and errors are OSS's XML. Requests are checked with
OSS signature V1 (``Authorization: OSS <AccessKeyId>:<Signature>``, HMAC-SHA1 over the verb, Content-MD5,
Content-Type, Date, the ``x-oss-*`` headers and the resource with its sub-resources, as oss2 signs);
``x-oss-security-token`` is accepted for a configured AccessKeyId. Any path other than ``/`` (or an
``OSS`` Authorization header) is an OSS request; object calls (``/<bucket>/<key>``: Put with
forbid-overwrite, Get, Head, Delete, Append, for remote state) are served by ``emulator/oss.py``; other
OSS operations are refused (501 NotImplemented). Latency applies to OSS requests too; the MTS faults
(throttling, 5xx, drops) are for the MTS actions, object calls have their own (``oss_error_rate``,
``oss_drop_rate``).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import json
import logging
import math
import os
import random
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape as xml_escape

from specrunner.emulator import acs3, documented, signature
from specrunner.emulator.oss import (
    OSS_SUBRESOURCES,
    OssError,
    journal_entry,
    object_type,
    valid_bucket_name,
)
from specrunner.engine.service import (
    TIME_FORMAT,
    ServiceError,
    SnapshotService,
    fill,
    list_page,
    loads_obj,
    object_location,
    parse_config,
    utc_now,
)

log = logging.getLogger(__name__)

VERSION = "2014-06-18"
ACTIONS = ("SubmitSnapshotJob", "QuerySnapshotJobList")
MAX_QUERY_IDS = 10
SKEW_SECONDS = 15 * 60
NONCE_TTL = 15 * 60 + 60
SIGNATURE_MISMATCH = "Specified signature is not matched with our calculation. server string to sign is:"
_HIDDEN_PARAMS = ("Signature", "AccessKeyId", "SecurityToken")
_REQUIRED = ("AccessKeyId", "Signature", "SignatureMethod", "SignatureNonce", "SignatureVersion", "Timestamp")

OSS_MAX_KEYS = 1000
OSS_DEFAULT_MAX_KEYS = 100
OSS_OWNER_ID = "1000000000000000"  # the emulator's one account
# Query parameters never written to the journal (presigned URLs carry them).
_OSS_HIDDEN_PARAMS = (
    "Signature",
    "OSSAccessKeyId",
    "security-token",
    "x-oss-signature",
    "x-oss-credential",
    "x-oss-security-token",
)


class ApiError(Exception):
    """An error answer: ``code`` and ``message`` as the service spells them, with its HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


def _missing(name: str) -> ApiError:
    return ApiError(
        "MissingParameter",
        f'The input parameter "{name}" that is mandatory for processing this request is not supplied.',
    )


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    drop: bool = False


@dataclass
class OssAnswer:
    status: int
    body: bytes
    request_id: str
    code: str = ""


@dataclass
class _OssListing:
    entries: list[tuple[str, bool]] = field(default_factory=list)  # (key or common prefix, is a prefix)
    truncated: bool = False


def oss_string_to_sign(
    method: str, headers: Iterable[tuple[str, str]], bucket: str, key: str, params: Iterable[tuple[str, str]]
) -> str:
    """OSS signature V1's string to sign, as oss2 (``ProviderAuth``) computes it::

        VERB \n Content-MD5 \n Content-Type \n Date \n CanonicalizedOSSHeaders CanonicalizedResource

    Date is ``x-oss-date`` if sent, else ``Date``; the headers are the ``x-oss-*`` ones, lowercased,
    sorted, one ``name:value\n`` each; the resource is ``/bucket/key`` (``/`` without a bucket) plus the
    sub-resources among the query parameters, sorted, ``?k=v&k2`` (a parameter without a value alone).
    """
    lower: dict[str, str] = {}
    oss_headers: list[tuple[str, str]] = []
    for k, v in headers:
        lk = k.lower()
        lower.setdefault(lk, v)
        if lk.startswith("x-oss-"):
            oss_headers.append((lk, v))
    oss_headers.sort(key=lambda kv: kv[0])
    canon_headers = "".join(f"{k}:{v}\n" for k, v in oss_headers)
    sub = sorted(((k, v) for k, v in params if k in OSS_SUBRESOURCES), key=lambda kv: kv[0])
    resource = f"/{bucket}/{key}" if bucket else "/"
    if sub:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in sub)
    date = lower.get("x-oss-date") or lower.get("date", "")
    return "\n".join(
        [
            method.upper(),
            lower.get("content-md5", ""),
            lower.get("content-type", ""),
            date,
            canon_headers + resource,
        ]
    )


def oss_sign(string_to_sign: str, secret: str) -> str:
    """base64(HMAC-SHA1(secret, string_to_sign)), UTF-8 throughout."""
    digest = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _oss_token(name: str) -> str:
    """An opaque continuation token: where the next page starts (after ``name``)."""
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii").rstrip("=")


def _oss_untoken(token: str) -> str:
    bad = OssError(
        400,
        "InvalidArgument",
        "The continuation-token is invalid.",
        ArgumentName="continuation-token",
        ArgumentValue=token[:200],
    )
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in token):
        raise bad
    try:
        name = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        raise bad from None
    if not name:
        raise bad
    return name


def _xml(tag: str, text: Any) -> str:
    return f"<{tag}>{xml_escape(str(text))}</{tag}>"


def stringify(value: Any) -> Any:
    """Every scalar a string, as the service answers (booleans as true/false, None as "")."""
    if isinstance(value, dict):
        return {str(k): stringify(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [stringify(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


class RateLimiter:
    """A non-blocking token bucket: ``try_acquire()`` is False when over the limit."""

    def __init__(self, qps: float) -> None:
        self.rate = float(qps)
        self.capacity = max(1.0, self.rate)
        self._tokens = self.capacity
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class NonceCache:
    """SignatureNonces seen in the last ``ttl`` seconds, per AccessKeyId."""

    def __init__(self, ttl: float = NONCE_TTL) -> None:
        self.ttl = ttl
        self._seen: dict[tuple[str, str], float] = {}
        self._order: deque[tuple[float, tuple[str, str]]] = deque()
        self._lock = threading.Lock()

    def use(self, key_id: str, nonce: str) -> bool:
        """Record the nonce; False if it was already used."""
        now = time.monotonic()
        k = (key_id, nonce)
        with self._lock:
            while self._order and self._order[0][0] <= now:
                _, old = self._order.popleft()
                if self._seen.get(old, math.inf) <= now:
                    del self._seen[old]
            if k in self._seen:
                return False
            self._seen[k] = now + self.ttl
            self._order.append((now + self.ttl, k))
            return True


class Journal:
    """Every request as a dict in memory, and as one JSON line in ``path`` if given."""

    def __init__(self, path: Path | None) -> None:
        self.path = Path(path) if path else None
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def add(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True)
        with self._lock:
            self._entries.append(entry)
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(json.dumps(e)) for e in self._entries]

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: Emulator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(*args, **kwargs)

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


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's pooled session expects
    server_version = "mts-emulator/1.0"
    sys_version = ""
    timeout = 30  # idle keep-alive connections end after this
    disable_nagle_algorithm = True  # small answers must not wait for a delayed ACK
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        # The default logs the request line, which carries AccessKeyId and SecurityToken: never.
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:  # OSS objects (remote state), served by emulator/oss.py
        self._serve("PUT")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        if split.path not in ("", "/") or (self.headers.get("Authorization") or "").startswith("OSS "):
            self._serve_oss(method, split.path, split.query, body)
            return
        params = parse_qsl(split.query, keep_blank_values=True)
        ctype = (self.headers.get("Content-Type") or "").lower()
        if body and ctype.startswith("application/x-www-form-urlencoded"):
            params += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        answer = self.server.emulator.handle(
            method, split.path or "/", params, self.headers.get("Host"), list(self.headers.items()), body
        )
        if answer.drop:
            # The job exists; the client never hears about it.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        data = json.dumps(answer.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-acs-request-id", str(answer.body.get("RequestId", "")))
        self.end_headers()
        self.wfile.write(data)

    def _serve_oss(self, method: str, path: str, query: str, body: bytes = b"") -> None:
        from specrunner.emulator.oss import handle_object, is_object_request

        if is_object_request(method, path):
            obj = handle_object(self.server.emulator, method, path, query, list(self.headers.items()), body)
            if obj.drop:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            self.send_response(obj.status)
            self.send_header("Date", email.utils.formatdate(usegmt=True))
            self.send_header(
                "Content-Type", "application/octet-stream" if obj.status < 300 else "application/xml"
            )
            for k, v in obj.headers.items():
                if k != "Content-Length":
                    self.send_header(k, v)
            self.send_header("Content-Length", obj.headers.get("Content-Length", str(len(obj.body))))
            self.send_header("x-oss-request-id", obj.request_id)
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(obj.body)
            return
        answer = self.server.emulator.handle_oss(method, path, query, list(self.headers.items()))
        self.send_response(answer.status)
        self.send_header("Date", email.utils.formatdate(usegmt=True))
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("x-oss-request-id", answer.request_id)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(answer.body)


@dataclass
class _SimJob:
    job: dict[str, Any]
    created: float
    is_async: bool
    count: int
    tiled: bool


class Emulator:
    """The emulator, as a Python object: ``start()`` serves on a background thread, ``stop()`` ends it.

    ``keys`` maps AccessKeyId -> AccessKeySecret. ``url`` is ``http://host:port`` once started;
    ``requests()`` returns the journal entries. Usable as a context manager.
    """

    def __init__(
        self,
        root: Path,
        keys: dict[str, str],
        *,
        latency_ms: float = 0,
        throttle_submit_qps: float | None = None,
        throttle_query_qps: float | None = None,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        seed: int | None = None,
        journal: Path | None = None,
        simulate: bool = False,
        simulate_seconds: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        sync_timeout: float = 6.0,
        region: str | None = None,
        answers: str = "full",
        not_found_seconds: float = 0.0,
    ) -> None:
        if not keys:
            raise ValueError("the emulator needs at least one AccessKeyId -> secret")
        for name, rate in (("error_rate", error_rate), ("drop_rate", drop_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        self.root = Path(root)
        self._keys = dict(keys)
        self.latency_ms = latency_ms
        self.error_rate = error_rate
        self.drop_rate = drop_rate
        self.simulate = simulate
        self.simulate_seconds = simulate_seconds
        self.host, self.port = host, port
        self.sync_timeout = sync_timeout
        # The documented rules (emulator/documented.py): the endpoint's region (None: the request's
        # RegionId), the answer style ("documented": as lean as the documented samples), and how long
        # a new job id stays unknown to QuerySnapshotJobList (eventual consistency).
        if answers not in documented.ANSWER_STYLES:
            raise ValueError(f"answers must be one of {', '.join(documented.ANSWER_STYLES)}")
        self.region = region
        self.answers = answers
        self.not_found_seconds = not_found_seconds
        self._born: dict[str, float] = {}
        self._limits = {
            "SubmitSnapshotJob": RateLimiter(throttle_submit_qps) if throttle_submit_qps else None,
            "QuerySnapshotJobList": RateLimiter(throttle_query_qps) if throttle_query_qps else None,
        }
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._nonces = NonceCache()
        self._journal_path = journal
        self.journal: Journal | None = None
        self._service: SnapshotService | None = None
        self._sim: dict[str, _SimJob] = {}
        self._sim_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._etags: dict[tuple[str, int, int], str] = {}
        self._etag_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.simulate:
            self._service = SnapshotService(self.root, sync_timeout=self.sync_timeout)
        self.journal = Journal(self._journal_path)
        self._server = (_Server6 if ":" in self.host else _Server)((self.host, self.port), _Handler)
        self._server.emulator = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="mts-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._service is not None:
            self._service.close()
        if self.journal is not None:
            self.journal.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def service(self) -> SnapshotService | None:
        return self._service

    def requests(self) -> list[dict[str, Any]]:
        return self.journal.entries() if self.journal is not None else []

    def drain(self, timeout: float = 60.0) -> None:
        """Wait for the engine's async work (real mode)."""
        if self._service is not None:
            self._service.drain(timeout)

    # ------------------------------------------------------------------ one request

    def _chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._rng_lock:
            return self._rng.random() < rate

    def handle(
        self,
        method: str,
        path: str,
        items: list[tuple[str, str]],
        host: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> Answer:
        """Answer one request (the HTTP layer is in ``_Handler``). ``headers`` and ``body`` are needed
        for requests signed with ACS3-HMAC-SHA256 (the newer SDKs), whose action travels in a header."""
        started = time.monotonic()
        rid = str(uuid.uuid4()).upper()
        params: dict[str, str] = {}
        for k, v in items:
            params[k] = v
        v3 = None
        auth = next((v for k, v in headers or [] if k.lower() == "authorization"), None)
        if headers is not None and acs3.is_acs3(auth):
            v3 = (list(items), list(headers), body)
            params.setdefault("Action", next((v for k, v in headers if k.lower() == "x-acs-action"), ""))
        region = params.get("RegionId") or "cn-shanghai"
        entry: dict[str, Any] = {
            "ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "method": method,
            "action": params.get("Action", ""),
            "status": None,
            "code": "",
            "request_id": rid,
            "job_id": None,
            "user_data": params.get("UserData"),
            "ids": 0,
            "params": {k: v for k, v in params.items() if k not in _HIDDEN_PARAMS},
        }
        if "SecurityToken" in params:
            entry["sts"] = True
        if params.get("SnapshotJobIds"):
            entry["ids"] = len([s for s in params["SnapshotJobIds"].split(",") if s.strip()])
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000.0)
        try:
            answer = self._handle(method, path, params, rid, entry, v3)
        except ApiError as e:
            answer = Answer(
                e.status,
                {
                    "RequestId": rid,
                    "HostId": f"mts.{region}.aliyuncs.com",
                    "Code": e.code,
                    "Message": e.message,
                },
            )
        except Exception:  # a bug in the emulator or the engine: answer as the service would
            log.exception("emulator: internal error")
            answer = Answer(
                500,
                {
                    "RequestId": rid,
                    "HostId": f"mts.{region}.aliyuncs.com",
                    "Code": "InternalError",
                    "Message": "The request processing has failed due to some unknown error.",
                },
            )
        entry["status"] = None if answer.drop else answer.status
        entry["code"] = "" if answer.drop else str(answer.body.get("Code", ""))
        if answer.drop:
            entry["dropped"] = True
        entry["ms"] = round((time.monotonic() - started) * 1000, 1)
        if self.journal is not None:
            self.journal.add(entry)
        return answer

    def _handle(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        rid: str,
        entry: dict[str, Any],
        v3: tuple[list[tuple[str, str]], list[tuple[str, str]], bytes] | None = None,
    ) -> Answer:
        if path.rstrip("/") != "":
            raise ApiError(
                "InvalidApi.NotFound", "Specified api is not found, please check your url and method.", 404
            )
        if v3 is not None:  # ACS3-HMAC-SHA256 in headers: checked here, then the same actions
            params.update(
                acs3.authenticate(
                    method, path, v3[0], v3[1], v3[2], self._keys, self._nonces.use, ApiError, SKEW_SECONDS
                )
            )
            entry["signature"] = acs3.ALGORITHM
            if "SecurityToken" in params:
                entry["sts"] = True
            return self._dispatch(params, rid, entry)
        action = params.get("Action")
        if not action:
            raise _missing("Action")
        if action not in ACTIONS or params.get("Version") != VERSION:
            raise ApiError(
                "InvalidApi.NotFound", "Specified api is not found, please check your url and method.", 404
            )
        for name in _REQUIRED:
            if name not in params:
                raise _missing(name)
        self._check_timestamp(params["Timestamp"])
        secret = self._keys.get(params["AccessKeyId"])
        if secret is None:
            raise ApiError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
        if params["SignatureMethod"] != signature.SIGNATURE_METHOD:
            raise ApiError("InvalidSignatureMethod", "Specified signature method is not supported.", 400)
        if params["SignatureVersion"] != signature.SIGNATURE_VERSION:
            raise ApiError(
                "IncompleteSignature", "The request signature does not conform to Aliyun standards.", 400
            )
        ok, sts = signature.verify(method, params, secret, params["Signature"])
        if not ok:
            raise ApiError("SignatureDoesNotMatch", SIGNATURE_MISMATCH + sts, 400)
        if not self._nonces.use(params["AccessKeyId"], params["SignatureNonce"]):
            raise ApiError("SignatureNonceUsed", "Specified signature nonce was used already.", 400)
        return self._dispatch(params, rid, entry)

    def _dispatch(self, params: dict[str, str], rid: str, entry: dict[str, Any]) -> Answer:
        """An authenticated request: throttling, injected faults, then the action."""
        action = params.get("Action", "")
        if action not in ACTIONS or params.get("Version") != VERSION:
            raise ApiError(
                "InvalidApi.NotFound", "Specified api is not found, please check your url and method.", 404
            )
        limiter = self._limits.get(action)
        if limiter is not None and not limiter.try_acquire():
            raise ApiError("Throttling.User", "Request was denied due to user flow control.", 400)
        if self._chance(self.error_rate):
            if self._chance(0.5):
                raise ApiError(
                    "InternalError",
                    "The request processing has failed due to some unknown error, exception or failure.",
                    500,
                )
            raise ApiError(
                "ServiceUnavailable", "The request has failed due to a temporary failure of the server.", 503
            )
        try:
            if action == "SubmitSnapshotJob":
                body = self._submit(params, rid)
                entry["job_id"] = body["SnapshotJob"]["Id"]
                return Answer(200, body, drop=self._chance(self.drop_rate))
            return Answer(200, self._query(params, rid))
        except ServiceError as e:
            raise ApiError(e.code, e.message, e.status) from None

    @staticmethod
    def _check_timestamp(value: str) -> None:
        try:
            ts = datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise ApiError(
                "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.", 400
            ) from None
        if abs(time.time() - ts.timestamp()) > SKEW_SECONDS:
            raise ApiError("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.", 400)

    # ------------------------------------------------------------------ the two actions

    def _submit(self, params: dict[str, str], rid: str) -> dict[str, Any]:
        for name in ("Input", "SnapshotConfig"):
            if not params.get(name):
                raise _missing(name)
        pipeline = params.get("PipelineId") or None
        user_data = params.get("UserData")
        documented.check_submit(params, self.region or params.get("RegionId") or None)
        if self.simulate:
            job = self._sim_submit(params["Input"], params["SnapshotConfig"], pipeline, user_data)
        else:
            assert self._service is not None
            job = self._service.submit_snapshot_job(
                params["Input"], params["SnapshotConfig"], pipeline, user_data
            )
        if self.not_found_seconds > 0:
            with self._sim_lock:
                self._born[str(job["Id"])] = time.monotonic()
        shown = documented.lean(job) if self.answers == "documented" else job
        return {"RequestId": rid, "SnapshotJob": stringify(shown)}

    def _documented_view(self, out: dict[str, Any]) -> dict[str, Any]:
        """A query answer, lean if asked, with jobs younger than ``not_found_seconds`` not found yet."""
        lst = out.get("SnapshotJobList")
        jobs = lst.get("SnapshotJob") if isinstance(lst, dict) else None
        if not isinstance(jobs, list):
            return out
        kept, unborn = [], []
        now = time.monotonic()
        for job in jobs:
            born = self._born.get(str(job.get("Id")))
            if born is not None and now - born < self.not_found_seconds:
                unborn.append(str(job["Id"]))
                continue
            kept.append(documented.lean(job) if self.answers == "documented" else job)
        out["SnapshotJobList"] = {"SnapshotJob": kept}
        if unborn:
            missing = (out.get("NonExistSnapshotJobIds") or {}).get("String") or []
            out["NonExistSnapshotJobIds"] = {"String": [*missing, *unborn]}
        return out

    def _query(self, params: dict[str, str], rid: str) -> dict[str, Any]:
        ids = [s.strip() for s in (params.get("SnapshotJobIds") or "").split(",") if s.strip()]
        if len(ids) > MAX_QUERY_IDS:
            raise ApiError(
                "InvalidParameter", f"SnapshotJobIds takes at most {MAX_QUERY_IDS} ids, got {len(ids)}."
            )
        size_s = params.get("MaximumPageSize")
        size = None
        if size_s not in (None, ""):
            try:
                size = int(size_s)
            except ValueError:
                raise ApiError(
                    "InvalidParameter.NumberFormatInvalid", "MaximumPageSize must be an integer."
                ) from None
        filters: dict[str, Any] = dict(
            page_token=params.get("NextPageToken") or None,
            max_page_size=size,
            state=params.get("State") or None,
            start=params.get("StartOfJobCreatedTimeRange") or None,
            end=params.get("EndOfJobCreatedTimeRange") or None,
            pipeline_id=params.get("PipelineId") or None,
        )
        if self.simulate:
            out = self._sim_query(ids, rid, **filters)
        else:
            assert self._service is not None
            out = self._service.query_snapshot_job_list(ids or None, **filters)
            out["RequestId"] = rid
        out = self._documented_view(out)
        if not (out.get("NonExistSnapshotJobIds") or {}).get("String"):
            out.pop("NonExistSnapshotJobIds", None)
        answer: dict[str, Any] = stringify(out)
        return answer

    # ------------------------------------------------------------------ simulation

    def _sim_submit(
        self, input: str, config: str, pipeline: str | None, user_data: str | None
    ) -> dict[str, Any]:
        from specrunner.engine.service import ObjectStore

        inp = loads_obj(input, "Input")
        cfg = loads_obj(config, "SnapshotConfig")
        in_bucket, in_loc, in_key = object_location(inp, "Input")
        store = ObjectStore(self.root)
        store.path(in_bucket, in_key)
        if "OutputFile" not in cfg or not isinstance(cfg["OutputFile"], dict):
            raise ServiceError("InvalidParameter.NullValue", "SnapshotConfig.OutputFile is required")
        out_bucket, _, out_key = object_location(cfg["OutputFile"], "OutputFile")
        if not out_key.lower().endswith(".jpg"):
            raise ServiceError("InvalidParameter", "OutputFile.Object must be a .jpg")
        spec = parse_config(cfg)
        store.path(out_bucket, fill(out_key, in_key, Count="00001", SnapshotTime="0"))
        if spec.num not in (None, 1) and "{Count}" not in out_key:
            raise ServiceError("InvalidParameter", "OutputFile.Object must contain {Count} when Num != 1")
        if user_data is not None and len(user_data.encode()) > 1024:
            raise ServiceError("InvalidParameter.OutOfRange", "UserData is longer than 1024 bytes")
        count = spec.num or 1
        job = {
            "Id": uuid.uuid4().hex,
            "State": "Submitted",
            "Code": "",
            "Message": "",
            "Count": "0",
            "TileCount": "0",
            "UserData": user_data or "",
            "PipelineId": pipeline or "",
            "CreationTime": utc_now(),
            "Input": {"Bucket": in_bucket, "Location": in_loc, "Object": inp["Object"]},
            "SnapshotConfig": cfg,
        }
        sim = _SimJob(job, time.monotonic(), spec.is_async, count, spec.tile is not None)
        if not spec.is_async:
            self._sim_finish(sim)
        with self._sim_lock:
            self._sim[str(job["Id"])] = sim
        return dict(job)

    def _sim_finish(self, sim: _SimJob) -> None:
        sim.job.update(
            State="Success",
            Code="",
            Message="",
            Count=str(sim.count),
            TileCount=str(sim.count if sim.tiled else 0),
        )

    def _sim_view(self, sim: _SimJob) -> dict[str, Any]:
        if sim.job["State"] not in ("Success", "Fail"):
            if time.monotonic() - sim.created >= self.simulate_seconds:
                self._sim_finish(sim)
            else:
                sim.job["State"] = "Snapshoting"
        view: dict[str, Any] = json.loads(json.dumps(sim.job))
        return view

    def _sim_query(
        self,
        ids: list[str],
        rid: str,
        *,
        page_token: str | None,
        max_page_size: int | None,
        state: str | None,
        start: str | None,
        end: str | None,
        pipeline_id: str | None,
    ) -> dict[str, Any]:
        with self._sim_lock:
            if ids:
                found, missing = [], []
                for jid in ids:
                    sim = self._sim.get(jid)
                    if sim is None:
                        missing.append(jid)
                    else:
                        found.append(self._sim_view(sim))
                out: dict[str, Any] = {"RequestId": rid, "SnapshotJobList": {"SnapshotJob": found}}
                if missing:
                    out["NonExistSnapshotJobIds"] = {"String": missing}
                return out
            jobs = [self._sim_view(s) for s in self._sim.values()]
        return list_page(
            jobs,
            rid,
            page_token=page_token,
            max_page_size=max_page_size,
            state=state,
            start=start,
            end=end,
            pipeline_id=pipeline_id,
        )

    # ------------------------------------------------------------------ OSS: ListObjectsV2

    def handle_oss(self, method: str, path: str, query: str, headers: list[tuple[str, str]]) -> OssAnswer:
        """Answer one OSS request (path-style ``/<bucket>/<key>``); XML bodies, OSS's error shapes."""
        started = time.monotonic()
        rid = uuid.uuid4().hex[:24].upper()
        params = parse_qsl(query, keep_blank_values=True)
        pdict = dict(params)
        bucket, _, key = path.lstrip("/").partition("/")
        bucket, key = unquote(bucket), unquote(key)
        if not bucket:
            action = "ListBuckets"
        elif key:
            action = {"GET": "GetObject", "PUT": "PutObject", "POST": "PostObject"}.get(method, method)
        elif method == "GET":
            action = "ListObjectsV2" if "list-type" in pdict else "ListObjects"
        else:
            action = method
        shown = {k: v for k, v in pdict.items() if k not in _OSS_HIDDEN_PARAMS}
        shown["bucket"] = bucket
        if key:
            shown["key"] = key
        entry = journal_entry(method, action, rid, shown)
        if any(k.lower() == "x-oss-security-token" for k, _ in headers) or "security-token" in pdict:
            entry["sts"] = True
        host = next((v for k, v in headers if k.lower() == "host"), "") or f"{self.host}:{self.port}"
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000.0)
        try:
            self._oss_authenticate(method, bucket, key, params, headers)
            if bucket and not valid_bucket_name(bucket):
                raise OssError(
                    400, "InvalidBucketName", "The specified bucket is not valid.", BucketName=bucket
                )
            if action != "ListObjectsV2":
                raise OssError(
                    501,
                    "NotImplemented",
                    f"The emulator serves OSS ListObjectsV2 "
                    f"(GET /<bucket>/?list-type=2) and object calls only, not {action}.",
                )
            if pdict.get("list-type") != "2":
                raise OssError(
                    400,
                    "InvalidArgument",
                    "list-type must be 2.",
                    ArgumentName="list-type",
                    ArgumentValue=pdict.get("list-type", ""),
                )
            body = self._oss_list(bucket, pdict, entry)
            answer = OssAnswer(200, body.encode("utf-8"), rid)
        except OssError as e:
            answer = OssAnswer(e.status, self._oss_error(e, rid, host, bucket).encode("utf-8"), rid, e.code)
        except Exception:  # a bug in the emulator: answer as the service would
            log.exception("emulator: internal error (OSS)")
            bug = OssError(500, "InternalError", "We encountered an internal error. Please try again.")
            answer = OssAnswer(500, self._oss_error(bug, rid, host, bucket).encode("utf-8"), rid, bug.code)
        entry["status"], entry["code"] = answer.status, answer.code
        entry["ms"] = round((time.monotonic() - started) * 1000, 1)
        if self.journal is not None:
            self.journal.add(entry)
        return answer

    @staticmethod
    def _oss_error(e: OssError, rid: str, host: str, bucket: str) -> str:
        host_id = f"{bucket}.{host}" if bucket and e.code != "NoSuchBucket" else host
        parts = [
            _xml("Code", e.code),
            _xml("Message", e.message),
            _xml("RequestId", rid),
            _xml("HostId", host_id),
        ]
        parts += [_xml(k, v) for k, v in e.extra.items()]
        return '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  ' + "\n  ".join(parts) + "\n</Error>\n"

    def _oss_authenticate(
        self,
        method: str,
        bucket: str,
        key: str,
        params: list[tuple[str, str]],
        headers: list[tuple[str, str]],
    ) -> None:
        lower = {k.lower(): v for k, v in headers}
        auth = lower.get("authorization", "")
        if not auth:
            raise OssError(
                403, "AccessDenied", "You have no right to access this object because of bucket acl."
            )
        scheme, _, cred = auth.partition(" ")
        key_id, sep, given = cred.strip().rpartition(":")
        if scheme != "OSS" or not sep or not key_id or not given:
            raise OssError(
                400,
                "InvalidArgument",
                "Authorization header is invalid (the emulator verifies "
                "signature V1: Authorization: OSS <AccessKeyId>:<Signature>).",
                ArgumentName="Authorization",
                ArgumentValue=scheme,
            )
        when = lower.get("x-oss-date") or lower.get("date") or ""
        try:
            ts = email.utils.parsedate_to_datetime(when)
        except (TypeError, ValueError, IndexError):
            ts = None
        if ts is None:
            raise OssError(403, "AccessDenied", "OSS authentication requires a valid Date.")
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        if abs(time.time() - ts.timestamp()) > SKEW_SECONDS:
            raise OssError(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
                RequestTime=when,
                ServerTime=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            )
        secret = self._keys.get(key_id)
        if secret is None:
            raise OssError(
                403,
                "InvalidAccessKeyId",
                "The OSS Access Key Id you provided does not exist in our records.",
                OSSAccessKeyId=key_id,
            )
        sts = oss_string_to_sign(method, headers, bucket, key, params)
        if not hmac.compare_digest(oss_sign(sts, secret).encode(), given.encode("utf-8", "replace")):
            raise OssError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the "
                "signature you provided. Check your key and signing method.",
                OSSAccessKeyId=key_id,
                SignatureProvided=given,
                StringToSign=sts,
                StringToSignBytes=" ".join(f"{b:02x}" for b in sts.encode("utf-8")),
            )

    def _oss_list(self, bucket: str, p: dict[str, str], entry: dict[str, Any]) -> str:
        from specrunner.engine.service import ObjectStore

        prefix = p.get("prefix", "")
        delimiter = p.get("delimiter", "")
        start_after = p.get("start-after", "")
        token = p.get("continuation-token", "")
        encoding = p.get("encoding-type", "")
        if encoding not in ("", "url"):
            raise OssError(
                400,
                "InvalidArgument",
                "The encoding-type must be url.",
                ArgumentName="encoding-type",
                ArgumentValue=encoding,
            )
        raw_max = p.get("max-keys", "")
        try:
            max_keys = OSS_DEFAULT_MAX_KEYS if raw_max == "" else int(raw_max)
        except ValueError:
            max_keys = -1
        if not 1 <= max_keys <= OSS_MAX_KEYS:
            raise OssError(
                400,
                "InvalidArgument",
                f"max-keys must be an integer in [1, {OSS_MAX_KEYS}].",
                ArgumentName="max-keys",
                ArgumentValue=raw_max,
            )
        for name, value in (("prefix", prefix), ("delimiter", delimiter), ("start-after", start_after)):
            if len(value.encode("utf-8")) > 1024:
                raise OssError(
                    400, "InvalidArgument", f"{name} is longer than 1024 bytes.", ArgumentName=name
                )
        store = ObjectStore(self.root)
        try:
            store.path(bucket, "x")  # validates the bucket name
        except ServiceError:
            raise OssError(
                400, "InvalidBucketName", "The specified bucket is not valid.", BucketName=bucket
            ) from None
        if not (store.root / bucket).is_dir():
            raise OssError(404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=bucket)
        after = _oss_untoken(token) if token else start_after
        listing = _OssListing()
        for k in store.list(bucket, prefix):
            name, is_prefix = k, False
            if delimiter:
                i = k.find(delimiter, len(prefix))
                if i >= 0:
                    name, is_prefix = k[: i + len(delimiter)], True
            if after and name <= after:
                continue
            if listing.entries and listing.entries[-1][0] == name:
                continue  # the rest of a common prefix
            if len(listing.entries) == max_keys:
                listing.truncated = True
                break
            listing.entries.append((name, is_prefix))

        def enc(value: str) -> str:
            return quote(value, safe="") if encoding == "url" else value

        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            "<ListBucketResult>",
            _xml("Name", bucket),
            _xml("Prefix", enc(prefix)),
        ]
        if token:
            out.append(_xml("ContinuationToken", token))
        if start_after:
            out.append(_xml("StartAfter", enc(start_after)))
        out.append(_xml("MaxKeys", max_keys))
        if delimiter:
            out.append(_xml("Delimiter", enc(delimiter)))
        if encoding:
            out.append(_xml("EncodingType", encoding))
        out.append(_xml("IsTruncated", "true" if listing.truncated else "false"))
        if listing.truncated:
            out.append(_xml("NextContinuationToken", enc(_oss_token(listing.entries[-1][0]))))
        owner = p.get("fetch-owner") == "true"
        count = 0
        for name, is_prefix in listing.entries:
            if is_prefix:
                continue
            try:
                path = store.path(bucket, name)  # a symlink out of the bucket is no object
                st = path.stat()
                etag = self._oss_etag(path, st)
            except (FileNotFoundError, ServiceError):  # deleted since the walk, or resolving out: not listed
                continue
            modified = datetime.fromtimestamp(st.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            item = [
                _xml("Key", enc(name)),
                _xml("LastModified", modified),
                _xml("ETag", f'"{etag}"'),
                _xml("Type", object_type(self.root, bucket, name)),
                _xml("Size", st.st_size),
                _xml("StorageClass", "Standard"),
            ]
            if owner:
                item.append(f"<Owner>{_xml('ID', OSS_OWNER_ID)}{_xml('DisplayName', OSS_OWNER_ID)}</Owner>")
            out.append("<Contents>" + "".join(item) + "</Contents>")
            count += 1
        for name, is_prefix in listing.entries:
            if is_prefix:
                out.append("<CommonPrefixes>" + _xml("Prefix", enc(name)) + "</CommonPrefixes>")
                count += 1
        entry["keys"] = count
        out.append(_xml("KeyCount", count))
        out.append("</ListBucketResult>")
        return "\n".join(out) + "\n"

    def _oss_etag(self, path: Path, st: os.stat_result) -> str:
        """The object's MD5 in upper-case hex, as OSS's ETag of a simple upload (cached per file version)."""
        ident = (str(path), st.st_size, st.st_mtime_ns)
        with self._etag_lock:
            cached = self._etags.get(ident)
        if cached is None:
            h = hashlib.md5(usedforsecurity=False)
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            cached = h.hexdigest().upper()
            with self._etag_lock:
                self._etags[ident] = cached
        return cached

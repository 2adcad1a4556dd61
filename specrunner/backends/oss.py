"""Input discovery on OSS: ListObjectsV2 through the ``oss2`` SDK (signature V1).

``oss_lister(target)`` returns ``list_objects(bucket, location, prefix) -> sorted keys``, the lister
``specrunner.ops.context.discover_inputs`` expands ``{prefix, match}`` input entries with. It is the only
module that imports ``oss2``; everything the SDK raises is translated into the project's errors:

- CredentialsError: a wrong AccessKey secret (SignatureDoesNotMatch), an unknown AccessKey ID
  (InvalidAccessKeyId), a refused STS token;
- PermanentBackendError: NoSuchBucket, AccessDenied, a clock off by more than 15 minutes, TLS
  certificate failures, invalid bucket names or endpoints, any other 4xx; the message names the bucket
  and the prefix being listed;
- TransientBackendError: 5xx, throttling, transport errors, unreadable answers. A listing is a read, so
  transient errors are retried here (``attempts``, with backoff) before they are raised.

Messages never carry the secret or the STS token. The SDK's loggers are silenced (its debug output
has the request headers, token included).

Credentials: the same chain as the MTS backend (``aliyun.resolve_credentials``): an STS token signs
with ``oss2.StsAuth``, else ``oss2.Auth`` (both signature V1, which the emulator verifies).

Endpoint: ``SPECRUNNER_OSS_ENDPOINT`` (e.g. ``http://127.0.0.1:8765``) if set, else
``https://{location}.aliyuncs.com`` for each entry's location (e.g. ``oss-cn-shanghai``). The
emulator (``specrunner emulator``) serves OSS ListObjectsV2 and MTS on the same port, so
SPECRUNNER_OSS_ENDPOINT can be the same URL as SPECRUNNER_MTS_ENDPOINT. IP and localhost endpoints
are addressed path-style (``/<bucket>/``, as oss2 does for them), others virtual-host style.

Proxies: loopback endpoints never go through HTTP(S)_PROXY (the session ignores the environment);
other endpoints follow the environment as requests does (NO_PROXY included).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import oss2
from oss2 import exceptions as oss_exc

from specrunner.backends.aliyun import (
    _IN_FLIGHT,
    _NEVER_LEFT,
    Credential,
    Endpoint,
    mask,
    resolve_credentials,
)
from specrunner.core.errors import (
    BackendError,
    CredentialsError,
    PermanentBackendError,
    TransientBackendError,
)
from specrunner.core.secrets import redact

ENDPOINT_ENV = "SPECRUNNER_OSS_ENDPOINT"
PAGE_SIZE = 1000  # the most ListObjectsV2 returns per page
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
ATTEMPTS = 3
BACKOFF = 0.5  # seconds before the 2nd attempt, doubled for each next one

_LOCATION_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_SECRET_CODES = {"SignatureDoesNotMatch", "InvalidAccessKeySecret"}
_KEY_ID_CODES = {"InvalidAccessKeyId", "InvalidAccessKeyId.NotFound", "InvalidAccessKeyId.Inactive"}
_TOKEN_CODES = {
    "InvalidSecurityToken",
    "SecurityTokenExpired",
    "InvalidSecurityToken.Expired",
    "InvalidSecurityToken.Malformed",
    "InvalidSecurityToken.MismatchWithAccessKey",
}
_TRANSIENT_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "Throttling"}

Lister = Callable[[str, str, str], list[str]]


def silence_sdk_logs() -> None:
    """oss2 logs request headers (the STS token among them) at DEBUG and errors at INFO: never."""
    for name in ["oss2"] + [n for n in logging.root.manager.loggerDict if n.startswith("oss2.")]:
        lg = logging.getLogger(name)
        lg.setLevel(logging.CRITICAL + 1)
        lg.propagate = False


silence_sdk_logs()


def parse_endpoint(value: str, source: str) -> Endpoint:
    """``http(s)://host[:port]`` (no path): the OSS endpoint; a bare host means https."""
    from urllib.parse import urlsplit

    v = value.strip()
    if "://" not in v:
        v = "https://" + v
    bad = PermanentBackendError(
        f"{source}: invalid OSS endpoint {value!r}: use https://host or http://host:port",
        code="InvalidEndpoint",
    )
    try:
        parts = urlsplit(v)
        host = parts.hostname or ""
        _ = parts.port  # validates the port
    except ValueError:
        raise bad from None
    if (
        parts.scheme.lower() not in ("http", "https")
        or not host
        or parts.path not in ("", "/")
        or parts.query
    ):
        raise bad
    return Endpoint(parts.scheme.lower(), parts.netloc, host)


def endpoint_for(location: str, env: Mapping[str, str] | None = None) -> Endpoint:
    env = os.environ if env is None else env
    override = (env.get(ENDPOINT_ENV) or "").strip()
    if override:
        return parse_endpoint(override, ENDPOINT_ENV)
    if not isinstance(location, str) or not _LOCATION_RE.fullmatch(location):
        raise PermanentBackendError(
            f"invalid OSS location {location!r}: use a region such as oss-cn-shanghai "
            f"(or set {ENDPOINT_ENV})",
            code="InvalidLocation",
        )
    return Endpoint("https", f"{location}.aliyuncs.com", f"{location}.aliyuncs.com")


class OssLister:
    """``lister(bucket, location, prefix)``: every object key under ``prefix``, sorted, all pages."""

    def __init__(
        self,
        credential: Credential,
        *,
        page_size: int = PAGE_SIZE,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        if not 1 <= page_size <= PAGE_SIZE:
            raise ValueError(f"page_size must be in [1, {PAGE_SIZE}]")
        silence_sdk_logs()  # again: SDK modules imported since may have added loggers
        self.credential = credential
        self.page_size = page_size
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.timeout = (connect_timeout, read_timeout)
        if credential.security_token:
            self.auth: Any = oss2.StsAuth(
                credential.access_key_id, credential.access_key_secret, credential.security_token
            )  # signature V1
        else:
            self.auth = oss2.Auth(credential.access_key_id, credential.access_key_secret)  # signature V1
        self._sessions: dict[bool, oss2.Session] = {}
        self._buckets: dict[tuple[str, str], oss2.Bucket] = {}

    # ------------------------------------------------------------------ the lister

    def __call__(self, bucket: str, location: str, prefix: str) -> list[str]:
        ep = endpoint_for(location)
        where = f"oss://{bucket}/{prefix}"
        client = self._bucket(bucket, ep, where)
        keys: list[str] = []
        token = ""
        seen: set[str] = set()
        while True:
            result = self._page(client, ep, where, bucket, prefix, token)
            keys.extend(o.key for o in result.object_list)
            if not result.is_truncated:
                break
            token = result.next_continuation_token or ""
            if not token or token in seen:
                raise TransientBackendError(
                    f"cannot list {where}: OSS at {ep.url} answered a truncated page "
                    "without a new continuation token",
                    code="BadAnswer",
                )
            seen.add(token)
        return sorted(set(keys))

    def close(self) -> None:
        for s in self._sessions.values():
            try:
                s.session.close()
            except Exception:  # pragma: no cover
                pass

    # ------------------------------------------------------------------ one request

    def _session(self, ep: Endpoint) -> oss2.Session:
        s = self._sessions.get(ep.loopback)
        if s is None:
            s = oss2.Session()
            if ep.loopback:
                # HTTP(S)_PROXY must not capture a local emulator: ignore the environment entirely.
                s.session.trust_env = False
            self._sessions[ep.loopback] = s
        return s

    def _bucket(self, bucket: str, ep: Endpoint, where: str) -> oss2.Bucket:
        key = (bucket, ep.url)
        client = self._buckets.get(key)
        if client is None:
            try:
                client = oss2.Bucket(
                    self.auth,
                    ep.url,
                    bucket,
                    session=self._session(ep),
                    connect_timeout=self.timeout,
                    enable_crc=False,
                )
            except oss_exc.ClientError:
                raise PermanentBackendError(
                    f"cannot list {where}: {bucket!r} is not a valid OSS bucket name "
                    "(3-63 characters: lowercase letters, digits, hyphens)",
                    code="InvalidBucketName",
                ) from None
            self._buckets[key] = client
        return client

    def _page(
        self, client: oss2.Bucket, ep: Endpoint, where: str, bucket: str, prefix: str, token: str
    ) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                return client.list_objects_v2(
                    prefix=prefix, continuation_token=token, max_keys=self.page_size
                )
            except Exception as e:  # translated below, never leaked
                err = self._translate(e, ep, where, bucket)
            if not err.transient or attempt >= self.attempts:
                raise err from None
            time.sleep(self.backoff * (2 ** (attempt - 1)))

    # ------------------------------------------------------------------ errors

    def _clean(self, text: object) -> str:
        text = " ".join(str(text or "").split())
        return redact(text, (self.credential.access_key_secret, self.credential.security_token))[:300]

    def _translate(self, e: Exception, ep: Endpoint, where: str, bucket: str) -> BackendError:
        c = self.credential
        oss = f"OSS at {ep.url}"
        if isinstance(e, oss_exc.RequestError):  # transport: nothing came back
            msg = str(getattr(e, "exception", "") or e)
            if re.search(r"certificate verify failed|CERTIFICATE_VERIFY_FAILED", msg):
                return PermanentBackendError(
                    f"cannot list {where}: TLS certificate verification failed for {oss}: "
                    f"fix the endpoint ({ENDPOINT_ENV}) or the CA bundle "
                    "(REQUESTS_CA_BUNDLE)",
                    code="SSLError",
                )
            if re.search(r"WRONG_VERSION_NUMBER|unknown protocol|record layer failure", msg):
                return PermanentBackendError(
                    f"cannot list {where}: the TLS handshake with {oss} failed (the "
                    "endpoint does not speak https?): for a plain-HTTP endpoint write "
                    "http://host:port",
                    code="SSLError",
                )
            for rx, why in _NEVER_LEFT:
                if rx.search(msg):
                    return TransientBackendError(
                        f"cannot list {where}: cannot reach {oss}: {why}; check "
                        f"{ENDPOINT_ENV} / the input's location and the network",
                        code="EndpointUnreachable",
                    )
            why = next((w for rx, w in _IN_FLIGHT if rx.search(msg)), "a transport error")
            return TransientBackendError(
                f"cannot list {where}: no answer from {oss} ({why})", code="NoAnswer"
            )
        if isinstance(e, oss_exc.ClientError):
            return PermanentBackendError(
                f"cannot list {where}: the OSS SDK refused the request: "
                f"{self._clean(getattr(e, 'body', '') or e)}",
                code="ClientError",
            )
        if not isinstance(e, oss_exc.OssError):  # the answer could not be parsed (XML, dates, ...)
            return TransientBackendError(
                f"cannot list {where}: {oss} answered with an unreadable listing ({type(e).__name__})",
                code="BadAnswer",
            )
        status = int(getattr(e, "status", 0) or 0)
        code = self._clean(getattr(e, "code", ""))
        rid = getattr(e, "request_id", None) or None
        kw: dict[str, Any] = {"code": code, "http_status": status, "request_id": rid}
        msg = self._clean(getattr(e, "message", ""))
        if status >= 500 or status == 429 or code in _TRANSIENT_CODES or code.startswith("Throttling"):
            return TransientBackendError(
                f"cannot list {where}: {oss}: {code or 'error'} (HTTP {status})"
                + (f": {msg}" if msg else ""),
                **kw,
            )
        if code in _SECRET_CODES:
            return CredentialsError(
                f"{oss} refused the signature ({code}) listing {where}: the AccessKey secret "
                f"is wrong, check {c.secret_hint}",
                **kw,
            )
        if code in _KEY_ID_CODES:
            state = "is disabled" if code.endswith("Inactive") else "does not exist"
            return CredentialsError(
                f"{oss}: the AccessKey ID {mask(c.access_key_id)} {state} ({code}) listing "
                f"{where}: check {c.id_hint}",
                **kw,
            )
        if code in _TOKEN_CODES or code.startswith(("InvalidSecurityToken", "SecurityToken")):
            return CredentialsError(
                f"{oss}: the STS security token was refused ({code}) listing {where}: get a "
                "fresh token and set ALIBABA_CLOUD_SECURITY_TOKEN (with its AccessKey pair)",
                **kw,
            )
        if code == "NoSuchBucket":
            return PermanentBackendError(
                f"cannot list {where}: the bucket {bucket} does not exist at {ep.url} "
                "(NoSuchBucket): check the input entry's bucket and location",
                **kw,
            )
        if code == "AccessDenied":
            return PermanentBackendError(
                f"cannot list {where}: access denied (AccessDenied): grant this RAM "
                f"identity oss:ListObjects on bucket {bucket}" + (f"; {msg}" if msg else ""),
                **kw,
            )
        if code == "RequestTimeTooSkewed":
            return PermanentBackendError(
                f"{oss} refused the request time ({code}) listing {where}: set this "
                "machine's clock right (it must be within 15 minutes of UTC)",
                **kw,
            )
        what = f"{code} (HTTP {status})" if code else f"HTTP {status}"
        return PermanentBackendError(
            f"cannot list {where}: {oss}: {what}" + (f": {msg}" if msg else ""), **kw
        )


def oss_lister(target: Any = None, **options: Any) -> OssLister:
    """The OSS lister for a manifest's target (credentials from the environment / aliyun CLI profile)."""
    return OssLister(resolve_credentials(), **options)


__all__ = ["ENDPOINT_ENV", "OssLister", "endpoint_for", "oss_lister"]

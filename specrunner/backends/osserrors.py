"""The OSS error map: whatever an ``oss2`` call raises, as the project's errors (``core.errors``).

One function, ``oss_error``, for every OSS user (input discovery and the remote state):

- TransientBackendError: 5xx, HTTP 429 and throttling, InternalError / ServiceUnavailable / SlowDown /
  RequestTimeout, transport errors (code EndpointUnreachable when the request provably never left:
  connection refused, name resolution, connect timeout; code NoAnswer when it may have: read
  timeout, connection reset; for a write, NoAnswer means it may have happened, and so may a 5xx), and
  answers that could not be read (code BadAnswer). These are the errors ``ossretry`` retries.
- CredentialsError: a wrong AccessKey secret (SignatureDoesNotMatch), an unknown or disabled AccessKey
  ID (InvalidAccessKeyId), a refused STS token;
- PermanentBackendError: NoSuchBucket, AccessDenied, a clock off by more than 15 minutes, TLS
  certificate failures, an endpoint that does not speak TLS, requests oss2 itself refuses, any other
  4xx (404 NoSuchKey, 409 FileAlreadyExists / PositionNotEqualToLength / ObjectNotAppendable, ...).
  Callers that expect one of these (a missing key, an occupied key, a moved append position) read
  ``code`` and ``http_status``; the remote state does (``statefile.ossobjects``).

Messages name the object (``where``) and the endpoint, never the secret or the STS token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oss2 import exceptions as oss_exc

from specrunner.backends.credentials import Credential, mask
from specrunner.backends.endpoints import Endpoint
from specrunner.backends.netfailures import CERTIFICATE_FAILED, NOT_TLS, in_flight, never_left
from specrunner.backends.ossclient import ENDPOINT_ENV
from specrunner.core.errors import (
    BackendError,
    CredentialsError,
    PermanentBackendError,
    TransientBackendError,
)
from specrunner.core.secrets import redact

SECRET_CODES = {"SignatureDoesNotMatch", "InvalidAccessKeySecret"}
KEY_ID_CODES = {"InvalidAccessKeyId", "InvalidAccessKeyId.NotFound", "InvalidAccessKeyId.Inactive"}
TOKEN_CODES = {
    "InvalidSecurityToken",
    "SecurityTokenExpired",
    "InvalidSecurityToken.Expired",
    "InvalidSecurityToken.Malformed",
    "InvalidSecurityToken.MismatchWithAccessKey",
}
TRANSIENT_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "Throttling"}


@dataclass(frozen=True)
class OssCall:
    """What an OSS call was doing, for its error messages: ``cannot {action} {where}``,
    ``{doing} {where}``; ``permission`` is what AccessDenied asks to grant."""

    endpoint: Endpoint
    bucket: str
    where: str  # oss://bucket/prefix-or-key
    credential: Credential
    action: str = "list"
    doing: str = "listing"
    permission: str = "oss:ListObjects"
    answer: str = "listing"  # what an unreadable answer is called
    check_location: str = "the input's location"  # what to check when the endpoint is unreachable
    check_bucket: str = "the input entry's bucket and location"  # ... when the bucket does not exist

    def clean(self, text: object) -> str:
        """A server text made safe to show: one line, no secret, no token, at most 300 characters."""
        text = " ".join(str(text or "").split())
        return redact(text, (self.credential.access_key_secret, self.credential.security_token))[:300]


def is_transient_status(status: int, code: str) -> bool:
    return status >= 500 or status == 429 or code in TRANSIENT_CODES or code.startswith("Throttling")


def oss_error(e: BaseException, call: OssCall) -> BackendError:
    """The project's error for ``e``, raised by an oss2 call (or while reading its answer)."""
    failed = f"cannot {call.action} {call.where}"
    oss = f"OSS at {call.endpoint.url}"
    if isinstance(e, oss_exc.RequestError):  # transport: nothing came back
        msg = str(getattr(e, "exception", "") or e)
        if CERTIFICATE_FAILED.search(msg):
            return PermanentBackendError(
                f"{failed}: TLS certificate verification failed for {oss}: "
                f"fix the endpoint ({ENDPOINT_ENV}) or the CA bundle (REQUESTS_CA_BUNDLE)",
                code="SSLError",
            )
        if NOT_TLS.search(msg):
            return PermanentBackendError(
                f"{failed}: the TLS handshake with {oss} failed (the endpoint does not speak "
                "https?): for a plain-HTTP endpoint write http://host:port",
                code="SSLError",
            )
        why = never_left(msg)
        if why:
            return TransientBackendError(
                f"{failed}: cannot reach {oss}: {why}; check {ENDPOINT_ENV} / "
                f"{call.check_location} and the network",
                code="EndpointUnreachable",
            )
        why = in_flight(msg) or "a transport error"
        return TransientBackendError(f"{failed}: no answer from {oss} ({why})", code="NoAnswer")
    if isinstance(e, oss_exc.ClientError):
        return PermanentBackendError(
            f"{failed}: the OSS SDK refused the request: {call.clean(getattr(e, 'body', '') or e)}",
            code="ClientError",
        )
    status = int(getattr(e, "status", 0) or 0) if isinstance(e, oss_exc.OssError) else 0
    if status <= 0:  # the answer could not be read (XML, dates, CRC, a cut-short body, ...)
        return TransientBackendError(
            f"{failed}: {oss} answered with an unreadable {call.answer} ({type(e).__name__})",
            code="BadAnswer",
        )
    return _server_error(e, status, call, failed, oss)


def _server_error(e: BaseException, status: int, call: OssCall, failed: str, oss: str) -> BackendError:
    c = call.credential
    code = call.clean(getattr(e, "code", ""))
    rid = getattr(e, "request_id", None) or None
    kw: dict[str, Any] = {"code": code, "http_status": status, "request_id": rid}
    msg = call.clean(getattr(e, "message", ""))
    during = f"{call.doing} {call.where}"
    if is_transient_status(status, code):
        return TransientBackendError(
            f"{failed}: {oss}: {code or 'error'} (HTTP {status})" + (f": {msg}" if msg else ""), **kw
        )
    if code in SECRET_CODES:
        return CredentialsError(
            f"{oss} refused the signature ({code}) {during}: the AccessKey secret is wrong, "
            f"check {c.secret_hint}",
            **kw,
        )
    if code in KEY_ID_CODES:
        state = "is disabled" if code.endswith("Inactive") else "does not exist"
        return CredentialsError(
            f"{oss}: the AccessKey ID {mask(c.access_key_id)} {state} ({code}) {during}: check {c.id_hint}",
            **kw,
        )
    if code in TOKEN_CODES or code.startswith(("InvalidSecurityToken", "SecurityToken")):
        return CredentialsError(
            f"{oss}: the STS security token was refused ({code}) {during}: get a fresh token and "
            "set ALIBABA_CLOUD_SECURITY_TOKEN (with its AccessKey pair)",
            **kw,
        )
    if code == "NoSuchBucket":
        return PermanentBackendError(
            f"{failed}: the bucket {call.bucket} does not exist at {call.endpoint.url} "
            f"(NoSuchBucket): check {call.check_bucket}",
            **kw,
        )
    if code == "AccessDenied":
        return PermanentBackendError(
            f"{failed}: access denied (AccessDenied): grant this RAM identity "
            f"{call.permission} on bucket {call.bucket}" + (f"; {msg}" if msg else ""),
            **kw,
        )
    if code == "RequestTimeTooSkewed":
        return PermanentBackendError(
            f"{oss} refused the request time ({code}) {during}: set this machine's clock right "
            "(it must be within 15 minutes of UTC)",
            **kw,
        )
    what = f"{code} (HTTP {status})" if code else f"HTTP {status}"
    return PermanentBackendError(f"{failed}: {oss}: {what}" + (f": {msg}" if msg else ""), **kw)

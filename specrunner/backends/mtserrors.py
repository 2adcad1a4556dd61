"""The MTS error map: everything the V1 SDK raises, as the project's errors (``core.errors``).

The class of a service error code comes from one table, ``specrunner.core.codes`` (documented codes,
with the rule for unknown ones):

- TransientBackendError: throttling, InternalError, UnknownError, ServiceUnavailable, any 5xx whose
  code is not known to be permanent (SnapshotTimeOut is), TransientNetWorkError,
  SignatureNonceUsed, transport errors of queries (code NoAnswer), and transport errors that provably
  happened before the request left (connection refused, name resolution, connect timeout: code
  EndpointUnreachable, safe to resend even for a Submit);
- UncertainSubmitError: a Submit that may have created the job without us hearing about it (read
  timeout, connection reset / closed without an answer, a 5xx);
- PermanentBackendError (CredentialsError for bad credentials): everything else, with a message that
  says what to fix. Messages never carry the secret or the STS token.
"""

from __future__ import annotations

import re
from typing import Any

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException

from specrunner.backends.credentials import MISSING_CREDENTIALS, Credential, mask
from specrunner.backends.endpoints import Endpoint
from specrunner.backends.netfailures import CERTIFICATE_FAILED, CONNECTING, NOT_TLS, in_flight, never_left
from specrunner.core.codes import classify
from specrunner.core.errors import (
    BackendError,
    CredentialsError,
    PermanentBackendError,
    TransientBackendError,
    UncertainSubmitError,
)
from specrunner.core.secrets import redact

ENDPOINT_ENV = "SPECRUNNER_MTS_ENDPOINT"

_SECRET_CODES = {"SignatureDoesNotMatch", "InvalidAccessKeySecret", "IncompleteSignature"}
_KEY_ID_CODES = {"InvalidAccessKeyId.NotFound", "InvalidAccessKeyId", "InvalidAccessKeyId.Inactive"}


class MtsErrors:
    """The error map of one backend: its endpoint (named in messages) and its credential (masked,
    redacted)."""

    def __init__(self, endpoint: Endpoint, credential: Credential) -> None:
        self.endpoint = endpoint
        self.credential = credential

    @property
    def where(self) -> str:
        return f"MTS at {self.endpoint.url}"

    def clean(self, text: str) -> str:
        """A server message made safe to show: one line, no string to sign, no secret, no token."""
        text = " ".join(str(text or "").split())
        cut = re.search(r"string to sign", text, re.I)
        if cut:
            text = text[: cut.start()].rstrip(" .:") + " (string to sign omitted)"
        return self.redact(text)[:300]

    def redact(self, text: str) -> str:
        """``text`` without the AccessKey secret or the STS token, in any form (``core.secrets``)."""
        return redact(text, (self.credential.access_key_secret, self.credential.security_token))

    def server(self, e: ServerException, submit: bool) -> BackendError:
        code = self.redact(str(e.get_error_code() or ""))
        status = e.get_http_status()
        rid = e.get_request_id()
        kw: dict[str, Any] = {"code": code, "http_status": status, "request_id": rid}
        where = self.where
        throttled = code.startswith("Throttling") or status == 429
        # One table decides (specrunner.core.codes): e.g. SnapshotTimeOut is permanent even as a 5xx (the FAQ
        # advises async mode, not a retry); TransientNetWorkError is transient whatever its status.
        kind = classify(code, status)
        if code == "SnapshotTimeOut":
            return PermanentBackendError(
                f"SnapshotTimeOut: {self.clean(e.get_error_msg())} (a sync "
                "snapshot took more than about 6 s; not retried: use async mode)",
                **kw,
            )
        if kind != "permanent":
            if submit and kind == "uncertain":
                return UncertainSubmitError(
                    f"{where}: {code} (HTTP {status}) on Submit; the job may exist and "
                    "will be looked up by its tag",
                    **kw,
                )
            if throttled:
                return TransientBackendError(f"{where}: throttled ({code}); slowing down", **kw)
            return TransientBackendError(
                f"{where}: {code} (HTTP {status}): {self.clean(e.get_error_msg())}", **kw
            )
        c = self.credential
        if code in _SECRET_CODES:
            return CredentialsError(
                f"{where} refused the signature ({code}): the AccessKey secret is wrong, "
                f"check {c.secret_hint}",
                **kw,
            )
        if code in _KEY_ID_CODES:
            state = "is disabled" if code.endswith("Inactive") else "does not exist"
            return CredentialsError(
                f"{where}: the AccessKey ID {mask(c.access_key_id)} {state} ({code}): check {c.id_hint}", **kw
            )
        if code.startswith(("InvalidSecurityToken", "SecurityToken")):
            return CredentialsError(
                f"{where}: the STS security token was refused ({code}): get a fresh token "
                "and set ALIBABA_CLOUD_SECURITY_TOKEN (with its AccessKey pair)",
                **kw,
            )
        if code.startswith("InvalidTimeStamp"):
            return PermanentBackendError(
                f"{where} refused the request time ({code}): set this machine's clock "
                "right (it must be within 15 minutes of UTC)",
                **kw,
            )
        if code in ("PermissionDenied.ResourceAccess", "ResourceAccess"):
            return PermanentBackendError(
                f"{where}: MTS itself may not read or write the bucket ({code}): add the bucket to MTS "
                "(the console's storage settings) or grant the MTS service role (AliyunMTSDefaultRole) "
                "access to it; the caller's RAM permissions are not the cause; "
                f"{self.clean(e.get_error_msg())}",
                **kw,
            )
        if (
            code.startswith("Forbidden")
            or code in ("NoPermission", "InvalidIdentity.ServiceDisabled")
            or status == 403
        ):
            return PermanentBackendError(
                f"{where}: permission denied ({code}): grant this RAM identity MTS access "
                f"(e.g. AliyunMTSFullAccess) and check that MTS is activated; "
                f"{self.clean(e.get_error_msg())}",
                **kw,
            )
        if code == "InvalidApi.NotFound":
            return PermanentBackendError(
                f"{where} does not serve MTS 2014-06-18 ({code}): check the endpoint "
                f"and region ({ENDPOINT_ENV} / target.endpoint / target.region)",
                **kw,
            )
        return PermanentBackendError(f"{code}: {self.clean(e.get_error_msg())}", **kw)

    def client(self, e: ClientException, submit: bool, *, own_transport: bool) -> BackendError:
        code = self.redact(str(e.get_error_code() or ""))
        msg = str(e.get_error_msg() or "")
        where = self.where
        if code == "SDK.HttpError":
            if CERTIFICATE_FAILED.search(msg):
                return PermanentBackendError(
                    f"{where}: TLS certificate verification failed: fix the endpoint or "
                    "set ALIBABA_CLOUD_CA_BUNDLE to your CA bundle",
                    code="SDK.SSLError",
                )
            # Whether the request may have left decides whether a Submit may be resent: a failure is
            # "never left" only when its wording proves it (and never on the strength of words a
            # server could have sent: the in-flight phrases are checked first).
            left = in_flight(msg)
            if left and "connection aborted" not in msg.lower() and CONNECTING.search(msg):
                left = None  # e.g. a reset while connecting: the connect phase's own words
            if left is None:
                if NOT_TLS.search(msg):
                    return PermanentBackendError(
                        f"{where}: the TLS handshake failed (the endpoint does not speak https?): "
                        "for a plain-HTTP "
                        "endpoint write http://host:port",
                        code="SDK.SSLError",
                    )
                if re.search(r"SSLError|SSL:", msg):
                    # Our transport words only a failed handshake so (nothing was sent); the SDK's
                    # session also calls a TLS error while reading the answer an SSLError.
                    if own_transport or not submit:
                        return TransientBackendError(
                            f"cannot reach {where}: the TLS handshake failed", code="EndpointUnreachable"
                        )
                    left = "a TLS error"
                elif re.search(r"cannot connect to proxy", msg, re.I) and not re.search(
                    r"NewConnectionError|failed to establish|connect timeout", msg, re.I
                ):
                    # urllib3 calls every socket error on a proxied connection "Cannot connect to
                    # proxy", also one after the request was sent through it.
                    left = "the proxy connection failed"
                elif why := never_left(msg):
                    return TransientBackendError(
                        f"cannot reach {where}: {why}; "
                        f"check {ENDPOINT_ENV} / target.endpoint and the network",
                        code="EndpointUnreachable",
                    )
            why = left or "a transport error"
            if submit:
                return UncertainSubmitError(
                    f"{where}: the Submit got no answer ({why}); the job may exist and "
                    "will be looked up by its tag",
                    code="NoAnswer",
                )
            return TransientBackendError(f"{where}: no answer ({why})", code="NoAnswer")
        if code == "SDK.InvalidCredential":
            return CredentialsError(MISSING_CREDENTIALS, code=code)
        return PermanentBackendError(f"{where}: {code}: {self.clean(msg)}", code=code)

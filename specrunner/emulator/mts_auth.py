"""Who may call an MTS action: signature v1 in the query, or ACS3-HMAC-SHA256 in headers.

- Signature v1 (HMAC-SHA1, ``emulator/signature.py``) is checked against the configured keys, after
  the mandatory parameters, the ``Timestamp`` (more than 15 minutes off is refused), the AccessKeyId,
  ``SignatureMethod`` and ``SignatureVersion``; a mismatch carries the server's string to sign in the
  exact format the SDK parses. STS requests (``SecurityToken``) are accepted for a configured
  AccessKeyId.
- ACS3-HMAC-SHA256 (the newer Tea/OpenAPI SDKs) is checked by ``emulator/acs3.py``.
- Either way a ``SignatureNonce`` seen in the last 15 minutes (per AccessKeyId) is refused.

Invariants: every failure is an :class:`ApiError` in the service's codes, checked in the service's
order; a nonce is recorded only once the signature matched.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from datetime import UTC, datetime

from specrunner.emulator import acs3, signature
from specrunner.emulator.mts_protocol import ApiError, missing
from specrunner.engine.api import TIME_FORMAT

SKEW_SECONDS = 15 * 60
NONCE_TTL = 15 * 60 + 60
SIGNATURE_MISMATCH = "Specified signature is not matched with our calculation. server string to sign is:"
REQUIRED = ("AccessKeyId", "Signature", "SignatureMethod", "SignatureNonce", "SignatureVersion", "Timestamp")


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


def check_timestamp(value: str) -> None:
    try:
        ts = datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ApiError(
            "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.", 400
        ) from None
    if abs(time.time() - ts.timestamp()) > SKEW_SECONDS:
        raise ApiError("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.", 400)


def verify_v1(method: str, params: dict[str, str], keys: dict[str, str], nonces: NonceCache) -> None:
    """Check a signature v1 request (its action and version already known to be served)."""
    for name in REQUIRED:
        if name not in params:
            raise missing(name)
    check_timestamp(params["Timestamp"])
    secret = keys.get(params["AccessKeyId"])
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
    if not nonces.use(params["AccessKeyId"], params["SignatureNonce"]):
        raise ApiError("SignatureNonceUsed", "Specified signature nonce was used already.", 400)


def verify_acs3(
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    body: bytes,
    keys: dict[str, str],
    nonces: NonceCache,
) -> dict[str, str]:
    """Check an ACS3-HMAC-SHA256 request; the RPC parameters it stands for (see ``acs3.authenticate``)."""
    return acs3.authenticate(method, path, query, headers, body, keys, nonces.use, ApiError, SKEW_SECONDS)

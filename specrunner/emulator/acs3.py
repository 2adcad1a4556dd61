"""Signature V3 (``ACS3-HMAC-SHA256`` in headers), as the newer Tea/OpenAPI SDKs sign by default.

``alibabacloud-tea-openapi`` (``Utils.get_authorization``) builds, for an RPC action such as
SubmitSnapshotJob::

    canonical = METHOD \\n PATH \\n CANONICAL_QUERY \\n CANONICAL_HEADERS \\n SIGNED_HEADERS \\n PAYLOAD_HASH
    sts       = "ACS3-HMAC-SHA256" \\n hex(sha256(canonical))
    Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<a;b;c>,
                   Signature=hex(hmac_sha256(secret, sts))        (one line on the wire)

- CANONICAL_QUERY: the query parameters sorted by name, ``name=pct(value)`` joined by ``&``
  (``pct`` keeps only ``A-Za-z0-9_.-~``);
- CANONICAL_HEADERS: each signed header, lowercased, ``name:value`` (trimmed; repeated values sorted
  and joined with ``,``) and a newline; SIGNED_HEADERS: their names joined by ``;``;
- PAYLOAD_HASH: the ``x-acs-content-sha256`` header, which must equal hex(sha256(body)).

The action and version travel in ``x-acs-action`` / ``x-acs-version``, the time in ``x-acs-date``
(``YYYY-MM-DDThh:mm:ssZ``), the nonce in ``x-acs-signature-nonce``, an STS token in
``x-acs-security-token``. Invariant: nothing here trusts a header that is not signed, except
``Authorization`` itself; every failure is an :class:`ApiError` in the service's codes. Stdlib only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

ALGORITHM = "ACS3-HMAC-SHA256"
_AUTH_RE = re.compile(
    r"^ACS3-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]*),"
    r"\s*Signature=([0-9a-f]+)$"
)
MUST_SIGN = (
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
)


def is_acs3(authorization: str | None) -> bool:
    return bool(authorization) and str(authorization).startswith("ACS3-")


def _pct(value: str) -> str:
    return quote(value, safe="~")


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{_pct(k)}={_pct(v)}" for k, v in sorted(params, key=lambda kv: kv[0]))


def canonical_headers(headers: Iterable[tuple[str, str]], signed: list[str]) -> str:
    values: dict[str, list[str]] = {}
    for k, v in headers:
        values.setdefault(k.lower(), []).append(v.strip())
    return "".join(f"{name}:{','.join(sorted(values.get(name, [])))}\n" for name in signed)


def string_to_sign(
    method: str,
    path: str,
    params: Iterable[tuple[str, str]],
    headers: Iterable[tuple[str, str]],
    signed: list[str],
    payload_hash: str,
) -> str:
    canonical = "\n".join(
        [
            method.upper(),
            path or "/",
            canonical_query(params),
            canonical_headers(headers, signed),
            ";".join(signed),
            payload_hash,
        ]
    )
    return ALGORITHM + "\n" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def sign(sts: str, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), sts.encode("utf-8"), hashlib.sha256).hexdigest()


def authenticate(
    method: str,
    path: str,
    params: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    body: bytes,
    keys: dict[str, str],
    use_nonce: Callable[[str, str], bool],
    error: Callable[..., Exception],
    skew_seconds: float,
) -> dict[str, str]:
    """Check one ACS3 request; return the RPC parameters it stands for (query + Action, Version,
    AccessKeyId, and SecurityToken if sent). Raises ``error(code, message, status)``."""
    lower: dict[str, str] = {}
    for k, v in headers:
        lower.setdefault(k.lower(), v)
    m = _AUTH_RE.match((lower.get("authorization") or "").strip())
    if m is None:
        raise error(
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards "
            f"(expected {ALGORITHM} Credential=...,SignedHeaders=...,Signature=...).",
            400,
        )
    key_id, signed_s, given = m.groups()
    signed = signed_s.split(";") if signed_s else []
    if signed != sorted(set(signed)) or any(h not in signed for h in MUST_SIGN):
        raise error(
            "IncompleteSignature",
            "SignedHeaders must be sorted and include " + ", ".join(MUST_SIGN) + ".",
            400,
        )
    for name in MUST_SIGN:
        if not lower.get(name):
            raise error(
                "MissingParameter",
                f'The input parameter "{name}" that is mandatory for processing '
                "this request is not supplied.",
                400,
            )
    payload_hash = lower["x-acs-content-sha256"]
    if hashlib.sha256(body).hexdigest() != payload_hash.lower():
        raise error("IncompleteSignature", "x-acs-content-sha256 does not match the request body.", 400)
    try:
        ts = datetime.strptime(lower["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise error(
            "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.", 400
        ) from None
    if abs(datetime.now(UTC).timestamp() - ts.timestamp()) > skew_seconds:
        raise error("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.", 400)
    secret = keys.get(key_id)
    if secret is None:
        raise error("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
    sts = string_to_sign(method, path, params, headers, signed, payload_hash)
    if not hmac.compare_digest(sign(sts, secret), given):
        raise error(
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation. "
            "server string to sign is:" + sts.replace("\n", "\\n"),
            400,
        )
    if not use_nonce(key_id, lower["x-acs-signature-nonce"]):
        raise error("SignatureNonceUsed", "Specified signature nonce was used already.", 400)
    out: dict[str, Any] = dict(params)
    out.update(Action=lower["x-acs-action"], Version=lower["x-acs-version"], AccessKeyId=key_id)
    if lower.get("x-acs-security-token"):
        out["SecurityToken"] = lower["x-acs-security-token"]
    return out

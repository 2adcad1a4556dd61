"""Who may call OSS: signature V1 (``Authorization: OSS <AccessKeyId>:<Signature>``), as oss2 signs.

The signature is HMAC-SHA1 over the verb, Content-MD5, Content-Type, the date, the ``x-oss-*``
headers and the resource with its sub-resources (:func:`string_to_sign`). A request is refused, in
this order, with OSS's codes:

- no Authorization header: 403 ``AccessDenied``;
- another scheme or a malformed credential (e.g. ``OSS4-HMAC-SHA256``): 400 ``InvalidArgument``;
- no valid ``x-oss-date`` / ``Date``: 403 ``AccessDenied``; more than 15 minutes off: 403
  ``RequestTimeTooSkewed``;
- an unknown AccessKeyId: 403 ``InvalidAccessKeyId``;
- a wrong signature: 403 ``SignatureDoesNotMatch``, with the server's string to sign (and its bytes).

``x-oss-security-token`` (STS) is accepted for a configured AccessKeyId. Stdlib only; pure but for
the clock.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from specrunner.emulator.oss_protocol import OSS_SUBRESOURCES, OssError

SKEW_SECONDS = 15 * 60


def string_to_sign(
    method: str, headers: Iterable[tuple[str, str]], bucket: str, key: str, params: Iterable[tuple[str, str]]
) -> str:
    """OSS signature V1's string to sign, as oss2 (``ProviderAuth``) computes it::

        VERB \\n Content-MD5 \\n Content-Type \\n Date \\n CanonicalizedOSSHeaders CanonicalizedResource

    Date is ``x-oss-date`` if sent, else ``Date``; the headers are the ``x-oss-*`` ones, lowercased,
    sorted, one ``name:value\\n`` each; the resource is ``/bucket/key`` (``/`` without a bucket) plus the
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


def sign(string_to_sign: str, secret: str) -> str:
    """base64(HMAC-SHA1(secret, string_to_sign)), UTF-8 throughout."""
    digest = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def authenticate(
    method: str,
    bucket: str,
    key: str,
    params: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    keys: dict[str, str],
) -> None:
    """Check one request (``bucket`` and ``key`` decoded); raise :class:`OssError` if refused."""
    lower = {k.lower(): v for k, v in headers}
    auth = lower.get("authorization", "")
    if not auth:
        raise OssError(403, "AccessDenied", "You have no right to access this object because of bucket acl.")
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
    secret = keys.get(key_id)
    if secret is None:
        raise OssError(
            403,
            "InvalidAccessKeyId",
            "The OSS Access Key Id you provided does not exist in our records.",
            OSSAccessKeyId=key_id,
        )
    sts = string_to_sign(method, headers, bucket, key, params)
    if not hmac.compare_digest(sign(sts, secret).encode(), given.encode("utf-8", "replace")):
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

"""Signature v1 of the Alibaba Cloud RPC protocol (HMAC-SHA1), as aliyun-python-sdk-core computes it.

::

    canon = "&".join(pct(k) + "=" + pct(v) for k, v in sorted(params))   # every param but Signature
    sts   = METHOD + "&" + pct("/") + "&" + pct(canon)
    sig   = base64(HMAC_SHA1(key=secret + "&", msg=sts))

``pct`` is RFC 3986 percent-encoding of the UTF-8 bytes, with only ``A-Z a-z 0-9 - _ . ~`` left as
they are (so a space is ``%20``, ``*`` is ``%2A``, ``~`` stays). Stdlib only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import quote

SIGNATURE_METHOD = "HMAC-SHA1"
SIGNATURE_VERSION = "1.0"

Params = Mapping[str, str] | Iterable[tuple[str, str]]


def pct(value: str) -> str:
    """RFC 3986 percent-encoding of ``value``'s UTF-8 bytes (unreserved: ``A-Za-z0-9-_.~``)."""
    return quote(value, safe="-_.~")


def _items(params: Params) -> list[tuple[str, str]]:
    items = params.items() if isinstance(params, Mapping) else params
    return [(str(k), str(v)) for k, v in items if k != "Signature"]


def canonical_query(params: Params) -> str:
    """The canonicalized query string: every parameter except Signature, sorted by name."""
    return "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(_items(params)))


def string_to_sign(method: str, params: Params) -> str:
    return f"{method.upper()}&{pct('/')}&{pct(canonical_query(params))}"


def sign(sts: str, secret: str) -> str:
    """base64(HMAC-SHA1(secret + "&", sts))."""
    digest = hmac.new((secret + "&").encode("utf-8"), sts.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature(method: str, params: Params, secret: str) -> str:
    return sign(string_to_sign(method, params), secret)


def verify(method: str, params: Params, secret: str, given: str) -> tuple[bool, str]:
    """(does ``given`` match, the server's string to sign)."""
    sts = string_to_sign(method, params)
    return hmac.compare_digest(sign(sts, secret).encode(), given.encode("utf-8", "replace")), sts

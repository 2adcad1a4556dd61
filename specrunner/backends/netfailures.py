"""What a transport failure's wording says about the request: did it ever leave this machine?

Shared by the MTS and the OSS error maps. The texts are urllib3's (and ``transport``'s, which words
its failures the same way): ``NEVER_LEFT`` proves the request was not sent (safe to resend even a
write), ``IN_FLIGHT`` says it may have been (a write may have happened).
"""

from __future__ import annotations

import re

# Transport errors raised before the request could leave this machine: safe to resend a Submit.
NEVER_LEFT = (
    (re.compile(r"connection refused|errno 111\b|winerror 10061", re.I), "connection refused"),
    (
        re.compile(
            r"name or service not known|nodename nor servname|temporary failure in name resolution"
            r"|getaddrinfo failed|no address associated|name resolution",
            re.I,
        ),
        "the host name does not resolve",
    ),
    (re.compile(r"connect timeout=|connecttimeout", re.I), "connecting timed out"),
    (
        re.compile(r"no route to host|network is unreachable|host is unreachable", re.I),
        "no route to the host",
    ),
    (re.compile(r"cannot connect to proxy", re.I), "cannot connect to the proxy"),
    (re.compile(r"failed to establish a new connection", re.I), "cannot connect"),
)
# The wording of a failure to open the connection (urllib3's NewConnectionError, and ours).
CONNECTING = re.compile(r"failed to establish a new connection", re.I)
IN_FLIGHT = (
    (re.compile(r"read timed out|read timeout", re.I), "no answer within the read timeout"),
    (
        re.compile(r"remote end closed connection|remotedisconnected|connection aborted", re.I),
        "the connection was closed without an answer",
    ),
    (re.compile(r"connection reset|errno 104\b|broken pipe", re.I), "the connection was reset"),
)

# TLS failures that no retry fixes.
CERTIFICATE_FAILED = re.compile(r"certificate verify failed|CERTIFICATE_VERIFY_FAILED")
NOT_TLS = re.compile(r"WRONG_VERSION_NUMBER|unknown protocol|record layer failure")


def never_left(msg: str) -> str | None:
    """Why the request provably never left (``msg`` is the transport error's text), or None."""
    return next((why for rx, why in NEVER_LEFT if rx.search(msg)), None)


def in_flight(msg: str) -> str | None:
    """Why the request may have left without an answer coming back, or None."""
    return next((why for rx, why in IN_FLIGHT if rx.search(msg)), None)

"""The OSS side's shapes, as OSS spells them: errors, answers, the sub-resources, bucket names.

- An error is an :class:`OssError` (status, code, message, extra fields), answered as
  ``<Error><Code/><Message/><RequestId/><HostId/>...</Error>`` (:func:`error_xml`); the HostId is
  ``<bucket>.<host>`` (the bare host for NoSuchBucket or without a bucket).
- An :class:`OssAnswer` is a status, a body, headers and a Content-Type, or a dropped answer (the
  work is done, then the connection is closed).
- ``OSS_SUBRESOURCES``: the query parameters that take part in signature V1's string to sign.
- A bucket name is 3-63 characters of ``a-z 0-9 -``, starting and ending with a letter or a digit.
- An :class:`OssSite` is what a request is served against: the root folder (one subfolder per
  bucket), the keys, the faults, the journal and the host for HostId.

Invariants: nothing here does I/O; the handlers answer every OSS failure with an OssError.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from specrunner.emulator.faults import Faults
from specrunner.emulator.journal import Journal

# The sub-resources that take part in the V1 string to sign (oss2.auth.ProviderAuth's set; the
# signature check uses it, the object calls refuse those they do not serve).
OSS_SUBRESOURCES = frozenset(
    (
        "response-content-type",
        "response-content-language",
        "response-cache-control",
        "logging",
        "response-content-encoding",
        "acl",
        "uploadId",
        "uploads",
        "partNumber",
        "group",
        "link",
        "delete",
        "website",
        "location",
        "objectInfo",
        "objectMeta",
        "response-expires",
        "response-content-disposition",
        "cors",
        "lifecycle",
        "restore",
        "qos",
        "referer",
        "stat",
        "bucketInfo",
        "append",
        "position",
        "security-token",
        "live",
        "comp",
        "status",
        "vod",
        "startTime",
        "endTime",
        "x-oss-process",
        "symlink",
        "callback",
        "callback-var",
        "tagging",
        "encryption",
        "versions",
        "versioning",
        "versionId",
        "policy",
        "requestPayment",
        "x-oss-traffic-limit",
        "qosInfo",
        "asyncFetch",
        "x-oss-request-payer",
        "sequential",
        "inventory",
        "inventoryId",
        "continuation-token",
        "worm",
        "wormId",
        "wormExtend",
        "replication",
        "replicationLocation",
        "replicationProgress",
        "transferAcceleration",
        "cname",
        "metaQuery",
        "x-oss-ac-source-ip",
        "x-oss-ac-subnet-mask",
        "x-oss-ac-vpc-id",
        "x-oss-ac-forward-allow",
        "resourceGroup",
        "style",
        "styleName",
        "x-oss-async-process",
        "regionList",
        "x-oss-write-get-object-response",
        "bucketArchiveDirectRead",
        "httpsConfig",
        "redundancyTransition",
        "x-oss-target-redundancy-type",
        "x-oss-redundancy-transition-taskid",
        "accessPoint",
        "accessPointPolicy",
        "publicAccessBlock",
        "x-oss-access-point-name",
        "requesterQosInfo",
        "qosRequester",
        "resourcePoolInfo",
        "resourcePool",
        "resourcePoolBuckets",
    )
)

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


class OssError(Exception):
    """An OSS error answer: ``<Error><Code/><Message/><RequestId/><HostId/>...</Error>`` with its status."""

    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message, self.extra = status, code, message, extra


@dataclass
class OssAnswer:
    """One OSS answer; ``headers`` are sent as they are (a ``Content-Length`` among them wins)."""

    status: int
    body: bytes
    request_id: str
    code: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    content_type: str = "application/xml"


@dataclass(frozen=True)
class OssSite:
    """What OSS requests are served against, while the emulator runs."""

    root: Path
    keys: dict[str, str]
    faults: Faults
    journal: Journal
    host: str  # host:port, for the HostId of a request without a Host header


def valid_bucket_name(bucket: str) -> bool:
    """OSS's rule: 3-63 characters of ``a-z 0-9 -``, starting and ending with a letter or a digit."""
    return bool(_BUCKET_RE.fullmatch(bucket))


def xml(tag: str, text: Any) -> str:
    """``<tag>text</tag>``, the text escaped."""
    return f"<{tag}>{xml_escape(str(text))}</{tag}>"


def error_xml(e: OssError, rid: str, host: str, bucket: str) -> str:
    """The body of an error answer."""
    host_id = f"{bucket}.{host}" if bucket and e.code != "NoSuchBucket" else host
    parts = [
        xml("Code", e.code),
        xml("Message", e.message),
        xml("RequestId", rid),
        xml("HostId", host_id),
    ]
    parts += [xml(k, v) for k, v in e.extra.items()]
    return '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  ' + "\n  ".join(parts) + "\n</Error>\n"


def check_encoding(value: str) -> None:
    """``encoding-type`` as OSS takes it: absent, or ``url``."""
    if value not in ("", "url"):
        raise OssError(
            400,
            "InvalidArgument",
            "The encoding-type must be url.",
            ArgumentName="encoding-type",
            ArgumentValue=value,
        )


def journaled(site: OssSite, entry: dict[str, Any], answer: OssAnswer, started: float) -> OssAnswer:
    """``answer``, its outcome recorded in ``entry`` (a dropped answer has none) and journaled."""
    entry["status"] = None if answer.drop else answer.status
    entry["code"] = "" if answer.drop else answer.code
    if answer.drop:
        entry["dropped"] = True
    entry["ms"] = round((time.monotonic() - started) * 1000, 1)
    site.journal.add(entry)
    return answer

"""The emulator's OSS DeleteMultipleObjects: ``POST /<bucket>/?delete`` with an XML body, as the OSS
API reference describes it (and oss2's ``Bucket.batch_delete_objects`` sends it).

The request: ``<Delete><Quiet>true|false</Quiet><Object><Key>k</Key></Object>...</Delete>``, signed
with signature V1 over ``/<bucket>/?delete`` (``emulator/oss_auth.py``), optionally
``encoding-type=url`` (the answer's keys URL-encoded, ``<EncodingType>url</EncodingType>``). Checked
in the order OSS documents, with its codes:

- no ``Content-MD5``: 400 ``MissingArgument``; one that is not the body's (base64 of its MD5): 400
  ``InvalidDigest``; nothing is deleted before the body is known to be the one sent;
- a body over 2 MB, more than 1,000 objects (or none), XML that is not such a ``Delete`` (an
  ``Object`` without a ``Key``, a ``Quiet`` other than ``true`` / ``false``, a DOCTYPE): 400
  ``MalformedXML``;
- a bucket that does not exist: 404 ``NoSuchBucket``.

Each key is then deleted as DeleteObject deletes it (``oss_objects.remove_object``); a key that does
not exist counts as deleted, as OSS documents. The answer (200, ``application/xml``) lists, in the
request's order, ``<Deleted><Key/></Deleted>`` for each deleted key (verbose mode, the default) and
``<Error><Key/><Code/><Message/></Error>`` for each key that could not be deleted; in quiet mode only
the errors, and no body at all when there are none. The OSS documents say what quiet mode returns
("only the objects whose delete failed") but not the shape of a per-key error: S3's, which OSS's
API follows, is used. oss2 reads only the ``Deleted`` keys.

A key cannot be deleted when the faults' ``delete_deny`` names it (``bucket/prefix``: a RAM policy
denying ``oss:DeleteObject`` there: ``AccessDenied``) or when OSS would refuse it as a key
(``InvalidObjectName``). The faults' ``oss_error_rate`` answers 503 before anything is done,
``oss_drop_rate`` deletes and then closes the connection without an answer. Journaled as
``DeleteMultipleObjects`` with the bucket, the keys asked for (``objects``) and how many were deleted.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl, quote, unquote

from specrunner.emulator.journal import journal_entry
from specrunner.emulator.oss_auth import authenticate
from specrunner.emulator.oss_objects import delete_denied, remove_object
from specrunner.emulator.oss_protocol import (
    OssAnswer,
    OssError,
    OssSite,
    check_encoding,
    error_xml,
    journaled,
    valid_bucket_name,
    xml,
)

log = logging.getLogger(__name__)

MAX_OBJECTS = 1000  # per request (the OSS API reference)
MAX_BODY = 2 * 1024 * 1024  # bytes of XML per request


def is_batch_delete(method: str, path: str, query: str) -> bool:
    """``POST /<bucket>/?delete``: a bucket (no key) and the ``delete`` sub-resource."""
    bucket, _, key = path.lstrip("/").partition("/")
    names = {k for k, _ in parse_qsl(query, keep_blank_values=True)}
    return method == "POST" and bool(bucket) and not key and "delete" in names


def _malformed(why: str) -> OssError:
    return OssError(
        400,
        "MalformedXML",
        f"The XML you provided was not well-formed or did not validate against our published schema ({why}).",
    )


def parse_delete(body: bytes) -> tuple[list[str], bool]:
    """The keys (in order) and the quiet flag of a ``Delete`` body; ``MalformedXML`` otherwise."""
    if len(body) > MAX_BODY:
        raise _malformed(f"the body is over {MAX_BODY} bytes")
    if b"<!DOCTYPE" in body.upper():
        raise _malformed("a DOCTYPE")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise _malformed("not XML") from None
    if root.tag != "Delete":
        raise _malformed("the root element is not Delete")
    quiet = (root.findtext("Quiet") or "false").strip()
    if quiet not in ("true", "false"):
        raise _malformed("Quiet must be true or false")
    keys: list[str] = []
    for obj in root.findall("Object"):
        key = obj.findtext("Key")
        if not key:
            raise _malformed("an Object without a Key")
        keys.append(key)
    if not keys or len(keys) > MAX_OBJECTS:
        raise _malformed(f"{len(keys)} objects: a request deletes 1 to {MAX_OBJECTS}")
    return keys, quiet == "true"


def _check_digest(headers: dict[str, str], body: bytes) -> None:
    given = headers.get("content-md5")
    if not given:
        raise OssError(400, "MissingArgument", "Missing Some Required Arguments.", ArgumentName="Content-MD5")
    if given != base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode("ascii"):
        raise OssError(400, "InvalidDigest", "The Content-MD5 you specified was invalid.", ContentMD5=given)


def handle_batch_delete(
    site: OssSite, path: str, query: str, headers: list[tuple[str, str]], body: bytes
) -> OssAnswer:
    """Answer one DeleteMultipleObjects request."""
    started = time.monotonic()
    rid = uuid.uuid4().hex[:24].upper()
    params = parse_qsl(query, keep_blank_values=True)
    pdict = dict(params)
    bucket = unquote(path.lstrip("/").partition("/")[0])
    lower = {k.lower(): v for k, v in headers}
    entry = journal_entry("POST", "DeleteMultipleObjects", rid, {"bucket": bucket})
    host = lower.get("host", "") or site.host
    site.faults.delay()
    try:
        authenticate("POST", bucket, "", params, headers, site.keys)
        if not valid_bucket_name(bucket):
            raise OssError(400, "InvalidBucketName", "The specified bucket is not valid.", BucketName=bucket)
        if site.faults.chance(site.faults.oss_error_rate):
            raise OssError(503, "ServiceUnavailable", "Please reduce your request rate.")
        encoding = pdict.get("encoding-type", "")
        check_encoding(encoding)
        _check_digest(lower, body)
        keys, quiet = parse_delete(body)
        entry["objects"] = keys
        entry["params"]["quiet"] = quiet
        if not (site.root / bucket).is_dir():
            raise OssError(404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=bucket)
        answer = _delete_all(site, bucket, keys, quiet=quiet, url=encoding == "url", rid=rid, entry=entry)
        if site.faults.chance(site.faults.oss_drop_rate):
            answer.drop = True  # done, but the client never hears about it
    except OssError as e:
        answer = OssAnswer(e.status, error_xml(e, rid, host, bucket).encode("utf-8"), rid, e.code)
    except Exception:  # a bug in the emulator: answer as the service would
        log.exception("emulator: internal error (OSS DeleteMultipleObjects)")
        bug = OssError(500, "InternalError", "We encountered an internal error. Please try again.")
        answer = OssAnswer(500, error_xml(bug, rid, host, bucket).encode("utf-8"), rid, bug.code)
    return journaled(site, entry, answer, started)


def _delete_all(
    site: OssSite, bucket: str, keys: list[str], *, quiet: bool, url: bool, rid: str, entry: dict[str, object]
) -> OssAnswer:
    """Delete each key; the answer lists what was deleted (unless quiet) and what was not."""

    def enc(key: str) -> str:
        return quote(key, safe="") if url else key

    items: list[str] = []
    deleted = 0
    for key in keys:
        try:
            if site.faults.deletes_denied(bucket, key):
                raise delete_denied()
            remove_object(site.root, bucket, key)
        except OssError as e:
            items.append(
                "<Error>"
                + xml("Key", enc(key))
                + xml("Code", e.code)
                + xml("Message", e.message)
                + "</Error>"
            )
            continue
        deleted += 1
        if not quiet:
            items.append("<Deleted>" + xml("Key", enc(key)) + "</Deleted>")
    entry["deleted"] = deleted
    if quiet and not items:
        return OssAnswer(200, b"", rid)
    head = [xml("EncodingType", "url")] if url else []
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult>\n'
        + "\n".join([*head, *items])
        + "\n</DeleteResult>\n"
    )
    return OssAnswer(200, text.encode("utf-8"), rid)

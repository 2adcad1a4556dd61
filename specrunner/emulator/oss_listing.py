"""OSS ListObjectsV2 over the root's bucket folders (input discovery), and the refusal of other calls.

A ``GET /<bucket>/?list-type=2`` (path-style, as oss2 addresses IP and localhost endpoints) lists
the files under ``<root>/<bucket>/``, with ``prefix``, ``continuation-token`` (opaque: where the next
page starts), ``max-keys`` (default 100, at most 1000), ``delimiter`` (common prefixes),
``start-after``, ``fetch-owner`` and ``encoding-type=url``; answers and errors are OSS's XML. Each
object has its ``LastModified``, its MD5 as ``ETag`` (as OSS's ETag of a simple upload), its
``Type`` (Normal or Appendable, ``emulator/oss_store.py``) and ``Size``.

Every other request that is not an object call (``emulator/oss_objects.py``) -- ListBuckets,
ListObjects (V1), bucket calls -- is refused: 501 ``NotImplemented``. Signature V1 is checked first
(``emulator/oss_auth.py``).

Invariants: keys are listed sorted, each once, a common prefix once; files and folders whose name
starts with a dot (temp files, the emulator's own folders) are never listed, nor is a file that
vanishes during the walk or resolves out of its bucket (a symlink); presigned-URL credentials in
the query are never journaled; the ETag cache is keyed by the file's path, size and mtime.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import stat
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from specrunner.emulator.journal import journal_entry
from specrunner.emulator.oss_auth import authenticate
from specrunner.emulator.oss_protocol import (
    OssAnswer,
    OssError,
    OssSite,
    check_encoding,
    error_xml,
    valid_bucket_name,
    xml,
)
from specrunner.emulator.oss_store import META_DIR, object_type
from specrunner.engine.errors import ServiceError
from specrunner.engine.objects import ObjectStore

log = logging.getLogger(__name__)

MAX_KEYS = 1000
DEFAULT_MAX_KEYS = 100
OWNER_ID = "1000000000000000"  # the emulator's one account
# Query parameters never written to the journal (presigned URLs carry them).
HIDDEN_PARAMS = (
    "Signature",
    "OSSAccessKeyId",
    "security-token",
    "x-oss-signature",
    "x-oss-credential",
    "x-oss-security-token",
)


class EtagCache:
    """Objects' MD5s in upper-case hex, as OSS's ETag of a simple upload (one per file version)."""

    def __init__(self) -> None:
        self._etags: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()

    def etag(self, path: Path, st: os.stat_result) -> str:
        ident = (str(path), st.st_size, st.st_mtime_ns)
        with self._lock:
            cached = self._etags.get(ident)
        if cached is None:
            h = hashlib.md5(usedforsecurity=False)
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            cached = h.hexdigest().upper()
            with self._lock:
                self._etags[ident] = cached
        return cached


@dataclass
class _Listing:
    entries: list[tuple[str, bool]] = field(default_factory=list)  # (key or common prefix, is a prefix)
    truncated: bool = False


def continuation_token(name: str) -> str:
    """An opaque continuation token: where the next page starts (after ``name``)."""
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii").rstrip("=")


def token_name(token: str) -> str:
    """The name a continuation token stands for; 400 ``InvalidArgument`` if it is none of ours."""
    bad = OssError(
        400,
        "InvalidArgument",
        "The continuation-token is invalid.",
        ArgumentName="continuation-token",
        ArgumentValue=token[:200],
    )
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in token):
        raise bad
    try:
        name = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        raise bad from None
    if not name:
        raise bad
    return name


def handle_listing(
    site: OssSite, etags: EtagCache, method: str, path: str, query: str, headers: list[tuple[str, str]]
) -> OssAnswer:
    """Answer one OSS request that is not an object call (path-style ``/<bucket>/``)."""
    started = time.monotonic()
    rid = uuid.uuid4().hex[:24].upper()
    params = parse_qsl(query, keep_blank_values=True)
    pdict = dict(params)
    bucket, _, key = path.lstrip("/").partition("/")
    bucket, key = unquote(bucket), unquote(key)
    if not bucket:
        action = "ListBuckets"
    elif key:
        action = {"GET": "GetObject", "PUT": "PutObject", "POST": "PostObject"}.get(method, method)
    elif method == "GET":
        action = "ListObjectsV2" if "list-type" in pdict else "ListObjects"
    else:
        action = method
    shown = {k: v for k, v in pdict.items() if k not in HIDDEN_PARAMS}
    shown["bucket"] = bucket
    if key:
        shown["key"] = key
    entry = journal_entry(method, action, rid, shown)
    if any(k.lower() == "x-oss-security-token" for k, _ in headers) or "security-token" in pdict:
        entry["sts"] = True
    host = next((v for k, v in headers if k.lower() == "host"), "") or site.host
    site.faults.delay()
    try:
        authenticate(method, bucket, key, params, headers, site.keys)
        if bucket and not valid_bucket_name(bucket):
            raise OssError(400, "InvalidBucketName", "The specified bucket is not valid.", BucketName=bucket)
        if action != "ListObjectsV2":
            raise OssError(
                501,
                "NotImplemented",
                f"The emulator serves OSS ListObjectsV2 "
                f"(GET /<bucket>/?list-type=2) and object calls only, not {action}.",
            )
        if bucket in site.faults.deny_list:
            raise OssError(
                403,
                "AccessDenied",
                "You have no right to access this bucket (no oss:ListObjects).",
                BucketName=bucket,
            )
        if pdict.get("list-type") != "2":
            raise OssError(
                400,
                "InvalidArgument",
                "list-type must be 2.",
                ArgumentName="list-type",
                ArgumentValue=pdict.get("list-type", ""),
            )
        body = list_bucket(site.root, etags, bucket, pdict, entry)
        answer = OssAnswer(200, body.encode("utf-8"), rid)
    except OssError as e:
        answer = OssAnswer(e.status, error_xml(e, rid, host, bucket).encode("utf-8"), rid, e.code)
    except Exception:  # a bug in the emulator: answer as the service would
        log.exception("emulator: internal error (OSS)")
        bug = OssError(500, "InternalError", "We encountered an internal error. Please try again.")
        answer = OssAnswer(500, error_xml(bug, rid, host, bucket).encode("utf-8"), rid, bug.code)
    entry["status"], entry["code"] = answer.status, answer.code
    entry["ms"] = round((time.monotonic() - started) * 1000, 1)
    site.journal.add(entry)
    return answer


def _keys(store: ObjectStore, bucket: str, prefix: str) -> list[str]:
    """The keys under ``prefix``, sorted: only the prefix's folder is walked (a refresh lists many
    prefixes of one large bucket), and only the subfolders a key under ``prefix`` can be in."""
    folder = prefix[: prefix.rfind("/") + 1]
    if any(part in ("", ".", "..") for part in folder.split("/")[:-1]) or "\\" in folder:
        return store.list(bucket, prefix)  # an odd prefix: the plain walk (it matches nothing odd)
    base = store.root / bucket
    start = base / folder if folder else base
    if not start.is_dir():
        return []
    if folder and start.resolve() != base.resolve() / folder.rstrip("/"):  # a symlink on the way
        return store.list(bucket, prefix)
    keys: list[str] = []
    for dirpath, dirnames, filenames in os.walk(start):
        rel = os.path.relpath(dirpath, base).replace(os.sep, "/")
        head = "" if rel == "." else rel + "/"
        dirnames[:] = [
            d
            for d in dirnames
            if not d.startswith(".")
            and ((head + d + "/").startswith(prefix) or prefix.startswith(head + d + "/"))
        ]
        keys.extend(head + n for n in filenames if not n.startswith(".") and (head + n).startswith(prefix))
    return sorted(keys)


def list_bucket(root: Path, etags: EtagCache, bucket: str, p: dict[str, str], entry: dict[str, Any]) -> str:
    """The ListObjectsV2 answer's XML for the query ``p``; ``entry["keys"]`` gets the KeyCount."""
    prefix = p.get("prefix", "")
    delimiter = p.get("delimiter", "")
    start_after = p.get("start-after", "")
    token = p.get("continuation-token", "")
    encoding = p.get("encoding-type", "")
    check_encoding(encoding)
    raw_max = p.get("max-keys", "")
    try:
        max_keys = DEFAULT_MAX_KEYS if raw_max == "" else int(raw_max)
    except ValueError:
        max_keys = -1
    if not 1 <= max_keys <= MAX_KEYS:
        raise OssError(
            400,
            "InvalidArgument",
            f"max-keys must be an integer in [1, {MAX_KEYS}].",
            ArgumentName="max-keys",
            ArgumentValue=raw_max,
        )
    for name, value in (("prefix", prefix), ("delimiter", delimiter), ("start-after", start_after)):
        if len(value.encode("utf-8")) > 1024:
            raise OssError(400, "InvalidArgument", f"{name} is longer than 1024 bytes.", ArgumentName=name)
    store = ObjectStore(root)
    try:
        store.path(bucket, "x")  # validates the bucket name
    except ServiceError:
        raise OssError(
            400, "InvalidBucketName", "The specified bucket is not valid.", BucketName=bucket
        ) from None
    if not (store.root / bucket).is_dir():
        raise OssError(404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=bucket)
    after = token_name(token) if token else start_after
    listing = _Listing()
    for k in _keys(store, bucket, prefix):
        name, is_prefix = k, False
        if delimiter:
            i = k.find(delimiter, len(prefix))
            if i >= 0:
                name, is_prefix = k[: i + len(delimiter)], True
        if after and name <= after:
            continue
        if listing.entries and listing.entries[-1][0] == name:
            continue  # the rest of a common prefix
        if len(listing.entries) == max_keys:
            listing.truncated = True
            break
        listing.entries.append((name, is_prefix))

    def enc(value: str) -> str:
        return quote(value, safe="") if encoding == "url" else value

    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<ListBucketResult>",
        xml("Name", bucket),
        xml("Prefix", enc(prefix)),
    ]
    if token:
        out.append(xml("ContinuationToken", token))
    if start_after:
        out.append(xml("StartAfter", enc(start_after)))
    out.append(xml("MaxKeys", max_keys))
    if delimiter:
        out.append(xml("Delimiter", enc(delimiter)))
    if encoding:
        out.append(xml("EncodingType", encoding))
    out.append(xml("IsTruncated", "true" if listing.truncated else "false"))
    if listing.truncated:
        out.append(xml("NextContinuationToken", enc(continuation_token(listing.entries[-1][0]))))
    owner = p.get("fetch-owner") == "true"
    count = 0
    base = store.root / bucket
    typed = (root.resolve() / META_DIR / bucket).is_dir()  # any Appendable object in this bucket
    for name, is_prefix in listing.entries:
        if is_prefix:
            continue
        try:
            path = base / name  # reached by the walk through real folders: only the file may be a link
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                path = store.path(bucket, name)  # a symlink out of the bucket is no object
                st = path.stat()
            etag = etags.etag(path, st)
        except (OSError, ServiceError):  # deleted since the walk, or resolving out: not listed
            continue
        modified = datetime.fromtimestamp(st.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        item = [
            xml("Key", enc(name)),
            xml("LastModified", modified),
            xml("ETag", f'"{etag}"'),
            xml("Type", object_type(root, bucket, name) if typed else "Normal"),
            xml("Size", st.st_size),
            xml("StorageClass", "Standard"),
        ]
        if owner:
            item.append(f"<Owner>{xml('ID', OWNER_ID)}{xml('DisplayName', OWNER_ID)}</Owner>")
        out.append("<Contents>" + "".join(item) + "</Contents>")
        count += 1
    for name, is_prefix in listing.entries:
        if is_prefix:
            out.append("<CommonPrefixes>" + xml("Prefix", enc(name)) + "</CommonPrefixes>")
            count += 1
    entry["keys"] = count
    out.append(xml("KeyCount", count))
    out.append("</ListBucketResult>")
    return "\n".join(out) + "\n"

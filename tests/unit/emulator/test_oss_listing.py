"""The emulator's ListObjectsV2, through the real oss2 client and as raw XML: prefix, delimiter,
max-keys, continuation tokens, start-after, encoding-type=url, fetch-owner, the errors, and what is
never listed. (The discovery lister on top of it: tests/unit/backends/test_oss.py.)"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oss2
import pytest

from specrunner.emulator.oss_listing import EtagCache, continuation_token, list_bucket, token_name
from specrunner.emulator.oss_protocol import OssError
from specrunner.emulator.server import Emulator
from tests.unit.emulator.conftest import AK, SECRET, bucket, raw

MEDIA = "media-in"
KEYS = ["a/1.mp4", "a/2.mp4", "a/b/3.mp4", "b/4.mp4", "c.txt", "d/x y+é&<.mp4"]
NEVER_LISTED = [".hidden", "a/.part-123", ".cache/z.mp4"]  # dot files and folders: temp files, own folders


@pytest.fixture
def media(root: Path) -> Path:
    for key in KEYS + NEVER_LISTED:
        p = root / MEDIA / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(key.encode())
    return root


@pytest.fixture
def em(media: Path) -> Iterator[Emulator]:
    with Emulator(media, {AK: SECRET}, simulate=True) as e:
        yield e


def keys(result: Any) -> list[str]:
    return [o.key for o in result.object_list]


def listing(e: Emulator, **query: str) -> ET.Element:
    status, code, data = raw(e, "GET", MEDIA, "", query={"list-type": "2", **query})
    assert (status, code) == (200, ""), data
    return ET.fromstring(data)


def error(e: Emulator, bucket_name: str = MEDIA, **query: str) -> tuple[int, str]:
    status, code, _ = raw(e, "GET", bucket_name, "", query=query)
    return status, code


# ------------------------------------------------------------------------------------ what is listed


def test_everything_sorted_with_etag_size_and_type(em: Emulator) -> None:
    b = bucket(em, MEDIA)
    result = b.list_objects_v2()
    assert keys(result) == sorted(KEYS) and not result.is_truncated
    for o in result.object_list:
        assert o.etag == hashlib.md5(o.key.encode()).hexdigest().upper()
        assert (o.size, o.type, o.storage_class) == (len(o.key.encode()), "Normal", "Standard")
    b.append_object("e/journal", 0, b"ab")
    (appended,) = b.list_objects_v2(prefix="e/").object_list
    assert (appended.key, appended.type, appended.size) == ("e/journal", "Appendable", 2)


def test_prefix(em: Emulator) -> None:
    b = bucket(em, MEDIA)
    assert keys(b.list_objects_v2(prefix="a/")) == ["a/1.mp4", "a/2.mp4", "a/b/3.mp4"]
    assert keys(b.list_objects_v2(prefix="a/b")) == ["a/b/3.mp4"]
    assert keys(b.list_objects_v2(prefix="zzz")) == []


def test_delimiter_gives_common_prefixes(em: Emulator) -> None:
    b = bucket(em, MEDIA)
    top = b.list_objects_v2(delimiter="/")
    assert (keys(top), top.prefix_list) == (["c.txt"], ["a/", "b/", "d/"])
    inner = b.list_objects_v2(prefix="a/", delimiter="/")
    assert (keys(inner), inner.prefix_list) == (["a/1.mp4", "a/2.mp4"], ["a/b/"])
    root = listing(em, delimiter="/")
    assert root.findtext("Delimiter") == "/" and root.findtext("KeyCount") == "4"  # objects + prefixes


def test_max_keys_pages_with_continuation_tokens(em: Emulator) -> None:
    b = bucket(em, MEDIA)
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = b.list_objects_v2(max_keys=2, continuation_token=token)
        pages += 1
        assert len(page.object_list) <= 2
        seen += keys(page)
        if not page.is_truncated:
            break
        token = page.next_continuation_token
        assert token
    assert (seen, pages) == (sorted(KEYS), 3)
    assert [o.key for o in oss2.ObjectIteratorV2(b, max_keys=1)] == sorted(KEYS)
    # common prefixes count as entries of a page, each listed once
    prefixes = [p for p in oss2.ObjectIteratorV2(b, delimiter="/", max_keys=1) if p.is_prefix()]
    assert [p.key for p in prefixes] == ["a/", "b/", "d/"]


def test_max_keys_bounds(em: Emulator) -> None:
    assert listing(em).findtext("MaxKeys") == "100"  # the default
    assert listing(em, **{"max-keys": "1000"}).findtext("MaxKeys") == "1000"
    for bad in ("0", "1001", "-1", "two"):
        assert error(em, **{"list-type": "2", "max-keys": bad}) == (400, "InvalidArgument"), bad


def test_start_after(em: Emulator) -> None:
    b = bucket(em, MEDIA)
    assert keys(b.list_objects_v2(start_after="a/2.mp4")) == [
        "a/b/3.mp4",
        "b/4.mp4",
        "c.txt",
        "d/x y+é&<.mp4",
    ]
    assert listing(em, **{"start-after": "c"}).findtext("StartAfter") == "c"
    # a continuation token wins over start-after
    page = listing(em, **{"start-after": "c", "continuation-token": continuation_token("a/1.mp4")})
    assert page.findall("Contents")[0].findtext("Key") == "a/2.mp4"


def test_continuation_tokens_are_opaque_and_checked(em: Emulator) -> None:
    for name in ("a/1.mp4", "d/x y+é&<.mp4", "-_"):
        token = continuation_token(name)
        assert token.isascii() and "=" not in token and "/" not in token
        assert token_name(token) == name
    for bad in ("not a token!", "", "%%%"):
        with pytest.raises(OssError) as err:
            token_name(bad)
        assert (err.value.status, err.value.code) == (400, "InvalidArgument")
    assert error(em, **{"list-type": "2", "continuation-token": "!!"}) == (400, "InvalidArgument")


def test_url_encoding_and_odd_keys(em: Emulator) -> None:
    page = listing(em, prefix="d/", **{"encoding-type": "url"})
    assert page.findtext("EncodingType") == "url"
    assert page.findtext("Prefix") == "d%2F"
    assert page.findtext("Contents/Key") == "d%2Fx%20y%2B%C3%A9%26%3C.mp4"
    plain = listing(em, prefix="d/")
    assert plain.findtext("Contents/Key") == "d/x y+é&<.mp4"  # XML-escaped on the wire, intact here
    assert keys(bucket(em, MEDIA).list_objects_v2(prefix="d/")) == ["d/x y+é&<.mp4"]  # oss2 decodes


def test_fetch_owner(em: Emulator) -> None:
    assert listing(em).find("Contents/Owner") is None
    owner = listing(em, **{"fetch-owner": "true"}).find("Contents/Owner")
    assert owner is not None and owner.findtext("ID") == owner.findtext("DisplayName") != ""


# ------------------------------------------------------------------------------------ errors


def test_errors(em: Emulator) -> None:
    assert error(em, "no-such-bucket", **{"list-type": "2"}) == (404, "NoSuchBucket")
    assert error(em, "Bad_Bucket", **{"list-type": "2"}) == (400, "InvalidBucketName")
    assert error(em, **{"list-type": "1"}) == (400, "InvalidArgument")
    assert error(em, **{"list-type": "2", "encoding-type": "base64"}) == (400, "InvalidArgument")
    assert error(em, **{"list-type": "2", "prefix": "p" * 1025}) == (400, "InvalidArgument")
    assert error(em) == (501, "NotImplemented")  # ListObjects (V1)
    assert raw(em, "PUT", MEDIA, "")[:2] == (501, "NotImplemented")  # PutBucket
    with pytest.raises(oss2.exceptions.ServerError) as err:
        oss2.Service(oss2.Auth(AK, SECRET), em.url).list_buckets()
    assert (err.value.status, err.value.code) == (501, "NotImplemented")


def test_listings_are_journaled_without_credentials(em: Emulator) -> None:
    sts = bucket(em, MEDIA, auth=oss2.StsAuth(AK, SECRET, "CAIS-token-not-journaled"))
    assert keys(sts.list_objects_v2(prefix="a/", delimiter="/")) == ["a/1.mp4", "a/2.mp4"]
    (entry,) = em.requests()
    assert (entry["action"], entry["status"], entry["keys"], entry["sts"]) == ("ListObjectsV2", 200, 3, True)
    assert entry["params"]["prefix"] == "a/" and entry["params"]["bucket"] == MEDIA
    assert "CAIS-token-not-journaled" not in str(entry) and AK not in str(entry)


# ------------------------------------------------------------------------------------ the function itself


def test_list_bucket_directly(media: Path) -> None:
    entry: dict[str, Any] = {}
    xml = list_bucket(media, EtagCache(), MEDIA, {"prefix": "a/", "delimiter": "/", "max-keys": "2"}, entry)
    page = ET.fromstring(xml)
    assert [c.findtext("Key") for c in page.findall("Contents")] == ["a/1.mp4", "a/2.mp4"]
    assert page.findtext("IsTruncated") == "true" and entry["keys"] == 2
    token = page.findtext("NextContinuationToken") or ""
    assert token_name(token) == "a/2.mp4"
    rest = ET.fromstring(
        list_bucket(
            media, EtagCache(), MEDIA, {"prefix": "a/", "delimiter": "/", "continuation-token": token}, entry
        )
    )
    assert [p.findtext("Prefix") for p in rest.findall("CommonPrefixes")] == ["a/b/"]
    assert rest.findtext("IsTruncated") == "false" and rest.find("NextContinuationToken") is None


def test_etags_follow_the_file(media: Path) -> None:
    etags = EtagCache()
    path = media / MEDIA / "c.txt"
    first = etags.etag(path, path.stat())
    assert first == hashlib.md5(b"c.txt").hexdigest().upper()
    path.write_bytes(b"changed, and longer")
    assert etags.etag(path, path.stat()) == hashlib.md5(b"changed, and longer").hexdigest().upper()

"""Input discovery on OSS: the real oss2 client against the emulator's ListObjectsV2 (the lister,
credentials, endpoints, errors). `plan` / `apply` through it: tests/system/test_oss_discovery.py.
"""

from __future__ import annotations

import hashlib
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import oss2
import pytest
import requests

from specrunner.backends import ossclient
from specrunner.backends.credentials import resolve_credentials
from specrunner.backends.oss import OssLister, oss_lister
from specrunner.backends.ossclient import endpoint_for
from specrunner.core.errors import CredentialsError, PermanentBackendError, TransientBackendError
from specrunner.emulator import Emulator, oss_auth, oss_listing
from tests.helpers import listings, put_file

KEY, SECRET = "LTAIossdiscovery1", "oss-secret-do-not-leak"
TOKEN = "CAIS-oss-sts-token-do-not-leak"
LOC = "oss-cn-shanghai"

ODD_KEYS = [
    "videos/2026/c d.mp4",
    "videos/2026/x+y.mp4",
    "videos/2026/100%.mp4",
    "videos/2026/a&b <c>.mp4",
    "videos/2026/é ü/日本 語.mp4",
    "videos/2026/~tilde'quote\".mp4",
]
PLAIN_KEYS = [f"videos/2026/clip{i:02d}.mp4" for i in range(7)] + [
    "videos/2026/sub/deep.mp4",
    "videos/2026/notes.txt",
]
OTHER_KEYS = ["videos/2025/old.mp4", "videos/20260.mp4", "audio/2026/a.mp3"]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ossclient.ENDPOINT_ENV, raising=False)


@pytest.fixture
def em(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    root = tmp_path / "root"
    for k in PLAIN_KEYS + ODD_KEYS + OTHER_KEYS:
        put_file(root, "media-in", k)
    (root / "empty-bucket").mkdir(parents=True)
    with Emulator(root, {KEY: SECRET}, simulate=True, journal=tmp_path / "journal.jsonl") as e:
        monkeypatch.setenv(ossclient.ENDPOINT_ENV, e.url)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        yield e


def lister(**options: Any) -> OssLister:
    return oss_lister(None, **options)


def raw(
    em: Emulator, bucket: str, params: dict[str, str], *, auth: Any = None, date: str | None = None
) -> tuple[int, ET.Element, requests.Response]:
    """A ListObjectsV2 request signed by oss2's own signer, sent without the SDK's parsing."""
    url = f"{em.url}/{bucket}/"
    req = oss2.http.Request("GET", url, params=params)
    (auth or oss2.Auth(KEY, SECRET))._sign_request(req, bucket, "")
    headers = {k: v for k, v in req.headers.items() if v is not None}
    if date is not None:
        headers["date"] = date
    s = requests.Session()
    s.trust_env = False
    r = s.get(url, params=req.params, headers=headers, timeout=10)
    return r.status_code, ET.fromstring(r.content), r


def v2(**extra: str) -> dict[str, str]:
    return {"list-type": "2", "encoding-type": "url", "max-keys": "100", **extra}


# ------------------------------------------------------------------------------ the lister through oss2


def test_listing_pages_through_every_key_under_the_prefix(em: Emulator) -> None:
    keys = lister(page_size=3)("media-in", LOC, "videos/2026/")
    expected = sorted(PLAIN_KEYS + ODD_KEYS)
    assert keys == expected
    pages = listings(em)
    assert len(pages) == -(-len(expected) // 3) > 1
    assert all(p["status"] == 200 and p["params"]["max-keys"] == "3" for p in pages)
    assert pages[0]["params"]["continuation-token"] == ""
    tokens = [p["params"]["continuation-token"] for p in pages[1:]]
    assert all(tokens) and len(set(tokens)) == len(tokens)
    assert sum(p["keys"] for p in pages) == len(expected)


def test_prefix_filters_and_odd_keys_round_trip(em: Emulator) -> None:
    ls = lister(page_size=2)
    assert ls("media-in", LOC, "videos/2026/sub/") == ["videos/2026/sub/deep.mp4"]
    assert ls("media-in", LOC, "videos/2025/") == ["videos/2025/old.mp4"]
    assert ls("media-in", LOC, "videos/2026") == sorted(PLAIN_KEYS + ODD_KEYS + ["videos/20260.mp4"])
    assert ls("media-in", LOC, "videos/2026/é ü/") == ["videos/2026/é ü/日本 語.mp4"]
    assert ls("media-in", LOC, "nothing/here/") == []
    assert ls("empty-bucket", LOC, "") == []
    for k in ODD_KEYS:
        assert ls("media-in", LOC, k) == [k]
    assert ls("media-in", LOC, "") == sorted(PLAIN_KEYS + ODD_KEYS + OTHER_KEYS)


def test_delimiter_gives_common_prefixes_once_across_pages(em: Emulator) -> None:
    b = oss2.Bucket(oss2.Auth(KEY, SECRET), em.url, "media-in")
    seen: list[str] = []
    prefixes: list[str] = []
    for obj in oss2.ObjectIteratorV2(b, prefix="videos/", delimiter="/", max_keys=1):
        (prefixes if obj.is_prefix() else seen).append(obj.key)
    assert prefixes == ["videos/2025/", "videos/2026/"] and seen == ["videos/20260.mp4"]
    r = b.list_objects_v2(prefix="videos/2026/", delimiter="/", max_keys=1000)
    assert r.prefix_list == ["videos/2026/sub/", "videos/2026/é ü/"]
    assert "videos/2026/sub/deep.mp4" not in [o.key for o in r.object_list]


def test_the_answer_is_oss_xml(em: Emulator, tmp_path: Path) -> None:
    data = b"not really a video"
    put_file(em.root, "media-in", "videos/2026/c d.mp4", data)
    status, root, r = raw(em, "media-in", v2(prefix="videos/2026/c", **{"max-keys": "1"}))
    assert status == 200 and r.headers["Content-Type"] == "application/xml"
    assert len(r.headers["x-oss-request-id"]) == 24
    assert root.tag == "ListBucketResult"
    text = {c.tag: c.text for c in root if c.tag != "Contents"}
    assert text["Name"] == "media-in" and text["Prefix"] == "videos%2F2026%2Fc"
    assert (text["MaxKeys"], text["EncodingType"], text["IsTruncated"], text["KeyCount"]) == (
        "1",
        "url",
        "true",
        "1",
    )
    assert text["NextContinuationToken"] and "ContinuationToken" not in text
    (contents,) = root.findall("Contents")
    assert [c.tag for c in contents] == ["Key", "LastModified", "ETag", "Type", "Size", "StorageClass"]
    assert contents.findtext("Key") == "videos%2F2026%2Fc%20d.mp4"
    assert contents.findtext("ETag") == '"' + hashlib.md5(data).hexdigest().upper() + '"'
    assert contents.findtext("Size") == str(len(data))
    assert (contents.findtext("Type"), contents.findtext("StorageClass")) == ("Normal", "Standard")
    assert contents.findtext("LastModified").endswith(".000Z")
    # The second page echoes the token and ends the listing.
    _, page2, _ = raw(
        em,
        "media-in",
        v2(prefix="videos/2026/c", **{"max-keys": "1", "continuation-token": text["NextContinuationToken"]}),
    )
    assert page2.findtext("ContinuationToken") == text["NextContinuationToken"]
    assert [c.findtext("Key") for c in page2.findall("Contents")] == ["videos%2F2026%2Fclip00.mp4"]
    assert page2.findtext("NextContinuationToken") != text["NextContinuationToken"]
    _, last, _ = raw(em, "media-in", v2(prefix="videos/2026/c d"))
    assert last.findtext("IsTruncated") == "false" and last.find("NextContinuationToken") is None
    assert last.findtext("KeyCount") == "1"
    # Without encoding-type the names are plain XML text.
    _, plain, _ = raw(em, "media-in", {"list-type": "2", "prefix": "videos/2026/a&b"})
    assert plain.find("EncodingType") is None and plain.findtext("MaxKeys") == "100"
    assert plain.findtext("Contents/Key") == "videos/2026/a&b <c>.mp4"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"max-keys": "0"}, "InvalidArgument"),
        ({"max-keys": "1001"}, "InvalidArgument"),
        ({"max-keys": "ten"}, "InvalidArgument"),
        ({"encoding-type": "base64"}, "InvalidArgument"),
        ({"continuation-token": "%%%"}, "InvalidArgument"),
        ({"list-type": "3"}, "InvalidArgument"),
    ],
)
def test_bad_parameters_are_refused(em: Emulator, params: dict[str, str], code: str) -> None:
    status, root, _ = raw(em, "media-in", v2(**params))
    assert (status, root.findtext("Code")) == (400, code)
    ok, _, _ = raw(em, "media-in", v2(**{"max-keys": "1000"}))
    assert ok == 200


def test_other_oss_operations_are_refused_clearly(em: Emulator) -> None:
    b = oss2.Bucket(oss2.Auth(KEY, SECRET), em.url, "media-in")
    with pytest.raises(oss2.exceptions.ServerError) as ei:
        b.list_objects(prefix="videos/")  # ListObjects (v1)
    assert (ei.value.status, ei.value.code) == (501, "NotImplemented") and "ListObjectsV2" in ei.value.message
    with pytest.raises(oss2.exceptions.ServerError) as ei:
        b.get_bucket_info()  # bucket calls other than the listing (object calls serve remote state)
    assert ei.value.code == "NotImplemented"


def test_no_such_bucket(em: Emulator) -> None:
    with pytest.raises(PermanentBackendError) as ei:
        lister()("media-nope", LOC, "videos/2026/")
    e = ei.value
    assert type(e) is PermanentBackendError and not e.transient
    assert (e.code, e.http_status) == ("NoSuchBucket", 404) and e.request_id
    msg = str(e)
    assert "\n" not in msg and "oss://media-nope/videos/2026/" in msg and "NoSuchBucket" in msg
    assert "does not exist" in msg
    status, root, _ = raw(em, "media-nope", v2())
    assert status == 404
    assert [c.tag for c in root][:4] == ["Code", "Message", "RequestId", "HostId"]
    assert (root.findtext("Code"), root.findtext("BucketName")) == ("NoSuchBucket", "media-nope")
    with pytest.raises(PermanentBackendError, match="not a valid OSS bucket name"):
        lister()("Bad_Bucket", LOC, "")


def test_wrong_secret_and_unknown_key_are_credentials_errors(
    em: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "not-the-secret-xyz")
    with pytest.raises(CredentialsError) as ei:
        lister()("media-in", LOC, "videos/2026/")
    assert (ei.value.code, ei.value.http_status) == ("SignatureDoesNotMatch", 403)
    msg = str(ei.value)
    assert "secret is wrong" in msg and "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in msg
    assert "oss://media-in/videos/2026/" in msg
    assert "not-the-secret-xyz" not in msg and SECRET not in msg and "\n" not in msg
    status, root, _ = raw(em, "media-in", v2(), auth=oss2.Auth(KEY, "wrong"))
    assert (status, root.findtext("Code")) == (403, "SignatureDoesNotMatch")
    assert root.findtext("StringToSign").startswith("GET\n\n\n")
    assert root.findtext("StringToSign").endswith("\n/media-in/")

    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAInobodyknows")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    with pytest.raises(CredentialsError) as ei:
        lister()("media-in", LOC, "videos/2026/")
    assert ei.value.code == "InvalidAccessKeyId" and "does not exist" in str(ei.value)
    assert "LTAInobodyknows" not in str(ei.value)  # masked
    assert not any(e["status"] == 200 for e in listings(em))


def test_sts_token_is_sent_accepted_and_never_journaled_or_shown(
    em: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN)
    assert lister()("media-in", LOC, "videos/2026/sub/") == ["videos/2026/sub/deep.mp4"]
    assert listings(em)[-1]["sts"] is True
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "wrong-secret")
    with pytest.raises(CredentialsError) as ei:
        lister()("media-in", LOC, "videos/")
    assert TOKEN not in str(ei.value)  # the server's StringToSign carries the token: never in the message
    text = (tmp_path / "journal.jsonl").read_text()
    for secret in (TOKEN, SECRET, "wrong-secret", KEY, "Authorization", "OSS " + KEY):
        assert secret not in text


def test_request_time_and_anonymous_requests(em: Emulator) -> None:
    status, root, _ = raw(em, "media-in", v2(), date=formatdate(1_000_000_000, usegmt=True))
    assert (status, root.findtext("Code")) == (403, "RequestTimeTooSkewed")
    status, root, _ = raw(em, "media-in", v2(), auth=oss2.AnonymousAuth())
    assert (status, root.findtext("Code")) == (403, "AccessDenied")
    ls = lister()
    ls.auth = oss2.AnonymousAuth()
    with pytest.raises(PermanentBackendError) as ei:
        ls("media-in", LOC, "videos/2026/")
    assert ei.value.code == "AccessDenied" and type(ei.value) is PermanentBackendError
    assert "oss://media-in/videos/2026/" in str(ei.value) and "oss:ListObjects" in str(ei.value)


def test_server_errors_are_transient_and_retried(em: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    real = oss_listing.list_bucket
    failures = {"left": 2}

    def flaky(*a: Any, **k: Any) -> str:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise RuntimeError("boom")
        return real(*a, **k)

    monkeypatch.setattr(oss_listing, "list_bucket", flaky)
    assert lister(backoff=0)("media-in", LOC, "videos/2026/sub/") == ["videos/2026/sub/deep.mp4"]
    assert [e["status"] for e in listings(em)] == [500, 500, 200]
    failures["left"] = 10
    with pytest.raises(TransientBackendError) as ei:
        lister(backoff=0, attempts=2)("media-in", LOC, "videos/")
    assert (ei.value.code, ei.value.http_status) == ("InternalError", 500)
    assert "oss://media-in/videos/" in str(ei.value)


def test_unreachable_endpoint_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(ossclient.ENDPOINT_ENV, f"http://127.0.0.1:{port}")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    with pytest.raises(TransientBackendError) as ei:
        lister(backoff=0, attempts=1)("media-in", LOC, "videos/")
    assert ei.value.code == "EndpointUnreachable" and "connection refused" in str(ei.value)


def test_loopback_endpoints_ignore_proxy_variables(em: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert lister()("media-in", LOC, "videos/2025/") == ["videos/2025/old.mp4"]


def test_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    assert endpoint_for("oss-cn-shanghai", env={}).url == "https://oss-cn-shanghai.aliyuncs.com"
    assert (
        endpoint_for("oss-cn-shanghai", env={"SPECRUNNER_OSS_ENDPOINT": "http://127.0.0.1:8765"}).url
        == "http://127.0.0.1:8765"
    )
    assert (
        endpoint_for("x", env={"SPECRUNNER_OSS_ENDPOINT": "oss.example.com"}).url == "https://oss.example.com"
    )
    for bad_location in ("evil.com/#", "", "OSS-CN"):
        with pytest.raises(PermanentBackendError, match="invalid OSS location"):
            endpoint_for(bad_location, env={})
    with pytest.raises(PermanentBackendError, match="invalid OSS endpoint"):
        endpoint_for(LOC, env={"SPECRUNNER_OSS_ENDPOINT": "ftp://host/path"})


def test_missing_credentials_fail_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CredentialsError, match="no Alibaba Cloud credentials"):
        oss_lister(None)


@pytest.mark.parametrize("token", [None, TOKEN])
def test_the_emulator_string_to_sign_is_oss2s(token: str | None) -> None:
    """Sub-resources, x-oss-* headers, Content-Type / MD5: the emulator signs what oss2 signs."""
    auth = oss2.StsAuth("AKID", "sk", token) if token else oss2.Auth("AKID", "sk")
    params = {"list-type": "2", "prefix": "a b/é", "continuation-token": "tok", "acl": "", "max-keys": "5"}
    req = oss2.http.Request(
        "GET",
        "http://127.0.0.1/bkt/",
        params=params,
        headers={
            "Content-Type": "text/plain",
            "Content-MD5": "abc==",
            "x-oss-meta-Z": "1",
            "X-OSS-Meta-a": "two",
        },
    )
    auth._sign_request(req, "bkt", "")
    given = req.headers["authorization"].rsplit(":", 1)[1]
    headers = [(k, v) for k, v in req.headers.items() if v is not None]
    sts = oss_auth.string_to_sign("GET", headers, "bkt", "", list(params.items()))
    token_header = f"x-oss-security-token:{token}\n" if token else ""
    assert sts.endswith(f"x-oss-meta-a:two\nx-oss-meta-z:1\n{token_header}/bkt/?acl&continuation-token=tok")
    assert oss_auth.sign(sts, "sk") == given
    assert oss_auth.sign(sts, "other") != given


def test_credentials_come_from_the_shared_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIYUN_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("ALIYUN_ACCESS_KEY_SECRET", SECRET)
    ls = oss_lister(None)
    assert ls.credential == resolve_credentials()
    assert isinstance(ls.auth, oss2.Auth)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN)
    assert isinstance(oss_lister(None).auth, oss2.StsAuth)

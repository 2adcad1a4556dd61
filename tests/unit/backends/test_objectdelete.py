"""prune's OSS deletes: DeleteMultipleObjects batches (at most 1,000 keys and 2 MB of the XML oss2
sends), the per-key reading of a real oss2 answer object, and ``OssDeleter`` with the real oss2
client against the emulator: few calls for many objects, each key the bucket keeps reported with
its own error, a call refused as a whole reported for each of its keys, a fatal refusal stopping
the calls not started, and a key no XML body carries intact deleted on its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import oss2
import pytest
import requests
from oss2 import xml_utils

from specrunner.backends import ossclient
from specrunner.backends.objectdelete import MAX_BODY, MAX_KEYS, OssDeleter, batches, confirmed
from specrunner.core.errors import PermanentBackendError
from specrunner.emulator import Emulator

KEY, SECRET = "LTAIdelete0001", "delete-secret"
OUT = "media-out"


def test_batches_group_by_bucket_sort_and_cap_keys() -> None:
    objects = [f"{OUT}/k/{i:05d}.jpg" for i in range(2500)] + ["other-b/x.jpg", f"{OUT}/k/00001.jpg"]
    calls = batches(list(reversed(objects)))
    assert [(b, len(keys)) for b, keys in calls] == [(OUT, 1000), (OUT, 1000), (OUT, 500), ("other-b", 1)]
    assert calls[0][1][:2] == ["k/00000.jpg", "k/00001.jpg"]  # sorted, each key once
    assert sum(len(keys) for _, keys in calls) == 2501


def test_batches_keep_the_xml_oss2_sends_under_2_mb() -> None:
    # 1,000-byte keys of `&`: each is 5,000 bytes once escaped, so 1,000 of them would be 5 MB
    objects = [f"{OUT}/{i:04d}{'&' * 996}" for i in range(1000)]
    calls = batches(objects)
    assert len(calls) > 2 and all(len(keys) < MAX_KEYS for _, keys in calls)
    for _, keys in calls:
        assert len(xml_utils.to_batch_delete_objects_request(keys, False)) <= MAX_BODY
    assert sorted(k for _, keys in calls for k in keys) == sorted(o.partition("/")[2] for o in objects)


def answer(body: bytes, request_id: str = "REQ1") -> oss2.models.BatchDeleteObjectsResult:
    """oss2's own result object for an HTTP answer with ``body``, parsed by oss2's own parser."""
    raw = requests.models.Response()
    raw.status_code = 200
    raw.headers.update({"x-oss-request-id": request_id, "Content-Type": "application/xml"})
    raw._content = body
    result = oss2.models.BatchDeleteObjectsResult(oss2.http.Response(raw))
    return xml_utils.parse_batch_delete_objects(result, body)


def test_each_key_of_a_real_oss2_answer_is_gone_or_failed_on_its_own() -> None:
    body = (
        b"<?xml version='1.0' encoding='UTF-8'?><DeleteResult><EncodingType>url</EncodingType>"
        b"<Deleted><Key>a%2F1.jpg</Key></Deleted><Deleted><Key>%C3%A9%20%26.jpg</Key></Deleted>"
        b"<Error><Key>locked%2Fb.jpg</Key><Code>AccessDenied</Code><Message>no</Message></Error>"
        b"</DeleteResult>"
    )
    keys = ["a/1.jpg", "locked/b.jpg", "é &.jpg", "locked/c.jpg"]
    got = confirmed(OUT, keys, answer(body))
    assert got.gone == [f"{OUT}/a/1.jpg", f"{OUT}/é &.jpg"]
    assert [o for o, _ in got.failed] == [f"{OUT}/locked/b.jpg", f"{OUT}/locked/c.jpg"]
    for obj, err in got.failed:
        assert isinstance(err, PermanentBackendError) and err.code == "NotDeleted"
        assert str(err).startswith(f"cannot delete oss://{obj}: OSS did not delete it")
        assert err.request_id == "REQ1" and "oss:DeleteObject" in str(err)
    assert confirmed(OUT, keys, answer(b"")).gone == []  # an answer listing nothing deleted nothing


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    (tmp_path / "oss" / OUT).mkdir(parents=True)
    with Emulator(tmp_path / "oss", {KEY: SECRET}) as em:
        monkeypatch.setenv(ossclient.ENDPOINT_ENV, em.url)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        yield em


def stored(em: Emulator) -> list[str]:
    base = em.root / OUT
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())


def calls(em: Emulator, action: str) -> list[dict[str, object]]:
    return [e for e in em.requests() if e["action"] == action]


def test_thousands_of_objects_take_one_call_per_thousand(cloud: Emulator) -> None:
    keys = [f"seq/{i // 100}/{i:05d}.jpg" for i in range(2345)]
    for k in keys:
        (cloud.root / OUT / k).parent.mkdir(parents=True, exist_ok=True)
        (cloud.root / OUT / k).write_bytes(b"x")
    d = OssDeleter({OUT: "oss-cn-shanghai"}, "oss-cn-shanghai")
    try:
        got = d.delete([f"{OUT}/{k}" for k in keys] + [f"{OUT}/never-there.jpg"])
    finally:
        d.close()
    assert (len(got.gone), got.failed, got.stopped) == (2346, [], False)
    assert stored(cloud) == []
    batch = calls(cloud, "DeleteMultipleObjects")
    assert sorted(len(e["objects"]) for e in batch) == [346, 1000, 1000]  # type: ignore[arg-type]
    assert calls(cloud, "DeleteObject") == []


def test_keys_the_bucket_keeps_are_each_reported_and_the_rest_deleted(cloud: Emulator) -> None:
    for k in ("posters/a.jpg", "locked/b.jpg", "locked/c.jpg"):
        (cloud.root / OUT / k).parent.mkdir(parents=True, exist_ok=True)
        (cloud.root / OUT / k).write_bytes(b"x")
    cloud.faults.delete_deny = frozenset({f"{OUT}/locked/"})
    d = OssDeleter({}, "oss-cn-shanghai")
    try:
        got = d.delete([f"{OUT}/posters/a.jpg", f"{OUT}/locked/b.jpg", f"{OUT}/locked/c.jpg"])
    finally:
        d.close()
    assert got.gone == [f"{OUT}/posters/a.jpg"] and not got.stopped
    assert [o for o, _ in got.failed] == [f"{OUT}/locked/b.jpg", f"{OUT}/locked/c.jpg"]
    rid = calls(cloud, "DeleteMultipleObjects")[0]["request_id"]
    assert all(e.code == "NotDeleted" and e.request_id == rid for _, e in got.failed)
    assert stored(cloud) == ["locked/b.jpg", "locked/c.jpg"]


def test_a_refused_call_fails_each_of_its_keys_and_stops_the_calls_not_started(cloud: Emulator) -> None:
    (cloud.root / OUT / "a.jpg").write_bytes(b"x")
    d = OssDeleter({}, "oss-cn-shanghai", workers=1)
    try:  # "gone-bucket" sorts first: its call is refused (NoSuchBucket), media-out's never made
        got = d.delete(["gone-bucket/x.jpg", "gone-bucket/y.jpg", f"{OUT}/a.jpg"])
    finally:
        d.close()
    assert got.gone == [] and got.stopped
    assert [o for o, _ in got.failed] == ["gone-bucket/x.jpg", "gone-bucket/y.jpg"]
    (err,) = {id(e): e for _, e in got.failed}.values()  # one error, named for each of its keys
    assert err.code == "NoSuchBucket" and "oss://gone-bucket/x.jpg and 1 other object(s)" in str(err)
    assert stored(cloud) == ["a.jpg"] and len(calls(cloud, "DeleteMultipleObjects")) == 1


def test_keys_xml_cannot_carry_are_deleted_one_by_one_and_nothing_else_is(cloud: Emulator) -> None:
    # XML 1.0 has no form for \x01 or U+FFFE (OSS answers the whole call MalformedXML), and its
    # parsers read a raw \r as \n: in a DeleteMultipleObjects body "c\rr.jpg" would delete "c\nr.jpg"
    unsafe = ["c\rr.jpg", "c\x01d.jpg", "u\ufffe.jpg", "a\r\nb.jpg"]
    safe = ["ok.jpg", "tab\there.jpg", "l\nf.jpg", "&<>'\"%.jpg"]
    bystanders = ["c\nr.jpg", "a\nb.jpg"]
    for k in unsafe + safe + bystanders:
        (cloud.root / OUT / k).write_bytes(b"x")
    d = OssDeleter({}, "oss-cn-shanghai")
    try:
        got = d.delete([f"{OUT}/{k}" for k in unsafe + safe])
    finally:
        d.close()
    assert (got.failed, got.stopped) == ([], False)
    assert got.gone == sorted(f"{OUT}/{k}" for k in unsafe + safe)
    assert stored(cloud) == sorted(bystanders)  # nothing the caller did not name
    batch = calls(cloud, "DeleteMultipleObjects")
    assert [sorted(e["objects"]) for e in batch] == [sorted(safe)]  # type: ignore[arg-type]
    assert sorted(e["params"]["key"] for e in calls(cloud, "DeleteObject")) == sorted(unsafe)


def test_a_key_refused_one_by_one_fails_alone(cloud: Emulator) -> None:
    for k in ("locked/c\x01.jpg", "free/c\x01.jpg", "free/ok.jpg"):
        (cloud.root / OUT / k).parent.mkdir(parents=True, exist_ok=True)
        (cloud.root / OUT / k).write_bytes(b"x")
    cloud.faults.delete_deny = frozenset({f"{OUT}/locked/"})
    d = OssDeleter({}, "oss-cn-shanghai", workers=1)
    try:
        got = d.delete([f"{OUT}/free/c\x01.jpg", f"{OUT}/free/ok.jpg", f"{OUT}/locked/c\x01.jpg"])
    finally:
        d.close()
    assert [o for o, _ in got.failed] == [f"{OUT}/locked/c\x01.jpg"]
    assert got.failed[0][1].code == "AccessDenied"
    assert f"{OUT}/locked/c\x01.jpg" not in got.gone
    assert stored(cloud) == ["locked/c\x01.jpg"]

"""The emulator's OSS object calls, through the real oss2 client (raw signed HTTP where oss2 would not
send the request): Put / Get / Head / Delete, forbid-overwrite, AppendObject's positions and errors,
the type records on disk, the injected faults and the journal. The reference is OSS's behaviour as
remote state relies on it (PutObject with ``x-oss-forbid-overwrite``, AppendObject, HeadObject)."""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import oss2
import pytest

from specrunner.emulator import oss_store
from specrunner.emulator.oss_protocol import OssError
from specrunner.emulator.server import Emulator
from tests.unit.emulator.conftest import BUCKET, bucket, raw, raw_answer


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest().upper()


def records(root: Path) -> list[dict[str, str]]:
    return [json.loads(p.read_bytes()) for p in sorted((root / oss_store.META_DIR).rglob("*.json"))]


# ------------------------------------------------------------------------------- put / get / head / delete


def test_put_get_head_delete(emu: Emulator, root: Path) -> None:
    b = bucket(emu)
    data = b'{"a": 1}'
    put = b.put_object("dir/k.json", data)
    assert (put.status, put.etag) == (200, md5(data))
    assert (root / BUCKET / "dir" / "k.json").read_bytes() == data  # an object is a file
    got = b.get_object("dir/k.json")
    assert (got.status, got.read(), got.headers["ETag"]) == (200, data, f'"{md5(data)}"')
    head = b.head_object("dir/k.json")
    assert (head.status, head.content_length, head.etag, head.object_type) == (200, 8, put.etag, "Normal")
    assert abs(head.last_modified - time.time()) < 60
    assert "x-oss-next-append-position" not in head.headers
    assert b.object_exists("dir/k.json")  # HEAD ?objectMeta

    b.put_object("dir/k.json", b"replaced")  # a plain put overwrites
    assert b.get_object("dir/k.json").read() == b"replaced"

    assert b.delete_object("dir/k.json").status == 204
    assert b.delete_object("dir/k.json").status == 204  # whether or not the key existed
    assert not b.object_exists("dir/k.json")
    with pytest.raises(oss2.exceptions.NoSuchKey) as err:
        b.get_object("dir/k.json")
    assert (err.value.status, err.value.details["Key"]) == (404, "dir/k.json")
    with pytest.raises(oss2.exceptions.NotFound) as head_err:
        b.head_object("dir/k.json")
    assert head_err.value.status == 404


def test_head_of_a_missing_key_is_404_without_a_body(emu: Emulator) -> None:
    status, data, headers = raw_answer(emu, "HEAD", BUCKET, "absent")
    assert (status, data, headers["Content-Length"]) == (404, b"", "0")


def test_get_ranges(emu: Emulator) -> None:
    b = bucket(emu)
    b.put_object("r", b"0123456789")
    part = b.get_object("r", byte_range=(2, 4))
    assert (part.status, part.read(), part.headers["Content-Range"]) == (206, b"234", "bytes 2-4/10")
    tail = b.get_object("r", byte_range=(7, None))
    assert (tail.status, tail.read()) == (206, b"789")
    beyond = b.get_object("r", byte_range=(3, 99))  # the end is cut to the object's
    assert (beyond.status, beyond.read(), beyond.headers["Content-Range"]) == (
        206,
        b"3456789",
        "bytes 3-9/10",
    )
    outside = b.get_object("r", byte_range=(20, 30))  # an unsatisfiable range: the whole object, 200
    assert (outside.status, outside.read()) == (200, b"0123456789")


def test_keys_with_spaces_and_unicode_round_trip(emu: Emulator, root: Path) -> None:
    b = bucket(emu)
    key = "runs/a b+c/日本 é%.json"
    b.put_object(key, b"x")
    assert b.get_object(key).read() == b"x"
    assert (root / BUCKET / "runs" / "a b+c" / "日本 é%.json").is_file()


# ------------------------------------------------------------------------------------ forbid-overwrite


def test_forbid_overwrite_creates_once(emu: Emulator) -> None:
    b = bucket(emu)
    forbid = {"x-oss-forbid-overwrite": "true"}
    assert b.put_object("lock", b"first", headers=forbid).status == 200
    with pytest.raises(oss2.exceptions.ServerError) as err:
        b.put_object("lock", b"second", headers=forbid)
    assert (err.value.status, err.value.code) == (409, "FileAlreadyExists")
    assert b.get_object("lock").read() == b"first"
    assert b.put_object("lock", b"third", headers={"x-oss-forbid-overwrite": "false"}).status == 200
    assert b.get_object("lock").read() == b"third"


def test_forbid_overwrite_takes_only_true_or_false(emu: Emulator, root: Path) -> None:
    status, data, _ = raw_answer(
        emu, "PUT", BUCKET, "k", body=b"x", headers={"x-oss-forbid-overwrite": "yes"}
    )
    error = ET.fromstring(data)
    assert (status, error.findtext("Code")) == (400, "InvalidArgument")
    assert (error.findtext("ArgumentName"), error.findtext("ArgumentValue")) == (
        "x-oss-forbid-overwrite",
        "yes",
    )
    assert not (root / BUCKET / "k").exists()


def test_racing_forbid_overwrite_creates_have_one_winner(emu: Emulator) -> None:
    outcomes: dict[int, str] = {}

    def create(i: int) -> None:
        try:
            bucket(emu).put_object("race", f"w{i}".encode(), headers={"x-oss-forbid-overwrite": "true"})
            outcomes[i] = "won"
        except oss2.exceptions.ServerError as e:
            outcomes[i] = e.code

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, o in outcomes.items() if o == "won"]
    assert len(winners) == 1 and sorted(outcomes.values()).count("FileAlreadyExists") == 7
    assert bucket(emu).get_object("race").read() == f"w{winners[0]}".encode()


# ------------------------------------------------------------------------------------ AppendObject


def test_append_positions(emu: Emulator) -> None:
    b = bucket(emu)
    first = b.append_object("j", 0, b"ab")
    assert (first.next_position, first.etag) == (2, md5(b"ab"))
    assert b.append_object("j", 2, b"cde").next_position == 5
    head = b.head_object("j")
    assert (head.object_type, head.headers["x-oss-next-append-position"]) == ("Appendable", "5")
    for wrong in (0, 4, 6):
        with pytest.raises(oss2.exceptions.ServerError) as err:
            b.append_object("j", wrong, b"x")
        assert (err.value.status, err.value.code) == (409, "PositionNotEqualToLength")
        assert err.value.headers["x-oss-next-append-position"] == "5"
    assert b.get_object("j").read() == b"abcde"


def test_a_first_append_must_be_at_position_0(emu: Emulator, root: Path) -> None:
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket(emu).append_object("new", 3, b"x")
    assert (err.value.code, err.value.headers["x-oss-next-append-position"]) == (
        "PositionNotEqualToLength",
        "0",
    )
    assert not (root / BUCKET / "new").exists() and records(root) == []


def test_appending_to_a_normal_object_is_refused(emu: Emulator) -> None:
    b = bucket(emu)
    b.put_object("plain", b"abc")
    for position in (0, 3):
        with pytest.raises(oss2.exceptions.ServerError) as err:
            b.append_object("plain", position, b"x")
        assert (err.value.status, err.value.code) == (409, "ObjectNotAppendable")
    assert b.get_object("plain").read() == b"abc"


def test_append_needs_an_integer_position_and_post_needs_append(emu: Emulator) -> None:
    status, code, _ = raw(emu, "POST", BUCKET, "j", query={"append": "", "position": "two"}, body=b"x")
    assert (status, code) == (400, "InvalidArgument")
    status, code, _ = raw(emu, "POST", BUCKET, "j", body=b"x")  # PostObject (a form upload)
    assert (status, code) == (501, "NotImplemented")


def test_racing_appends_at_one_position_have_one_winner(emu: Emulator) -> None:
    bucket(emu).append_object("log", 0, b"head;")
    codes: list[str] = []
    lock = threading.Lock()

    def append(i: int) -> None:
        try:
            bucket(emu).append_object("log", 5, f"w{i};".encode())
            code = "ok"
        except oss2.exceptions.ServerError as e:
            code = e.code
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=append, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == ["PositionNotEqualToLength"] * 7 + ["ok"]
    assert len(bucket(emu).get_object("log").read()) == len(b"head;w0;")


# ------------------------------------------------------------------------------------ type records


def test_type_records_follow_append_put_and_delete(emu: Emulator, root: Path) -> None:
    b = bucket(emu)
    b.append_object("t", 0, b"a")
    assert records(root) == [{"bucket": BUCKET, "key": "t", "type": "Appendable"}]
    b.put_object("t", b"n")  # a Put makes it Normal
    assert records(root) == [] and b.head_object("t").object_type == "Normal"
    b.delete_object("t")
    b.append_object("t", 0, b"a")
    b.delete_object("t")  # a Delete drops the record with the data
    assert records(root) == []


def test_type_records_directly(tmp_path: Path) -> None:
    (tmp_path / BUCKET).mkdir()
    assert oss_store.object_type(tmp_path, BUCKET, "k") == "Normal"
    oss_store.set_appendable(tmp_path, BUCKET, "k")
    assert oss_store.object_type(tmp_path, BUCKET, "k") == "Appendable"
    assert oss_store.object_type(tmp_path, BUCKET, "other") == "Normal"
    (record,) = (tmp_path / oss_store.META_DIR).rglob("*.json")
    assert record.relative_to(tmp_path).parts[:3] == (oss_store.META_DIR, BUCKET, record.name[:2])
    record.write_text(json.dumps({"bucket": BUCKET, "key": "not-k", "type": "Appendable"}))
    assert oss_store.object_type(tmp_path, BUCKET, "k") == "Normal"  # a record for another key
    record.write_text("{torn")
    assert oss_store.object_type(tmp_path, BUCKET, "k") == "Normal"  # an unreadable record
    oss_store.set_appendable(tmp_path, BUCKET, "k")
    oss_store.set_normal(tmp_path, BUCKET, "k")
    oss_store.set_normal(tmp_path, BUCKET, "k")  # twice: no error
    assert oss_store.object_type(tmp_path, BUCKET, "k") == "Normal"


def test_object_paths_directly(tmp_path: Path) -> None:
    (tmp_path / BUCKET).mkdir()
    assert (
        oss_store.object_path(tmp_path, BUCKET, "a/b.json") == (tmp_path / BUCKET / "a" / "b.json").resolve()
    )
    for bad_bucket, code in (("No_Such", "InvalidBucketName"), ("absent", "NoSuchBucket")):
        with pytest.raises(OssError) as err:
            oss_store.object_path(tmp_path, bad_bucket, "k")
        assert err.value.code == code
    with pytest.raises(OssError) as err:
        oss_store.object_path(tmp_path, BUCKET, "a/../../x")
    assert (err.value.status, err.value.code) == (400, "InvalidObjectName")


# ------------------------------------------------------------------------------------ faults and journal


def test_oss_error_rate_answers_503_and_writes_nothing(emu: Emulator, root: Path) -> None:
    emu.faults.oss_error_rate = 1.0
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket(emu).put_object("k", b"x")
    assert (err.value.status, err.value.code) == (503, "ServiceUnavailable")
    assert not (root / BUCKET / "k").exists()
    emu.faults.oss_error_rate = 0.0
    assert bucket(emu).put_object("k", b"x").status == 200


def test_oss_drop_rate_writes_then_hangs_up(emu: Emulator, root: Path) -> None:
    emu.faults.oss_drop_rate = 1.0
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        raw_answer(emu, "PUT", BUCKET, "k", body=b"done")
    assert (root / BUCKET / "k").read_bytes() == b"done"  # the write happened
    assert raw(emu, "GET", BUCKET, "k")[0] == 200  # reads are never dropped
    (entry,) = [e for e in emu.requests() if e["action"] == "PutObject"]
    assert (entry["status"], entry["code"], entry["dropped"]) == (None, "", True)


def test_object_calls_are_journaled_without_credentials(emu: Emulator) -> None:
    b = bucket(emu, auth=oss2.StsAuth("objAK", "obj-secret", "CAIS-token-not-journaled"))
    b.put_object("k", b"x", headers={"x-oss-forbid-overwrite": "true"})
    b.append_object("j", 0, b"a")
    b.object_exists("k")
    b.head_object("k")
    b.get_object("k").read()
    b.delete_object("k")
    entries = emu.requests()
    assert [(e["method"], e["action"], e["status"]) for e in entries] == [
        ("PUT", "PutObject", 200),
        ("POST", "AppendObject", 200),
        ("HEAD", "GetObjectMeta", 200),
        ("HEAD", "HeadObject", 200),
        ("GET", "GetObject", 200),
        ("DELETE", "DeleteObject", 204),
    ]
    assert entries[0]["params"] == {"bucket": BUCKET, "key": "k", "forbid_overwrite": "true"}
    assert entries[1]["params"] == {"bucket": BUCKET, "key": "j", "position": "0"}
    text = json.dumps(entries)
    assert "CAIS-token-not-journaled" not in text and "objAK" not in text and "Authorization" not in text

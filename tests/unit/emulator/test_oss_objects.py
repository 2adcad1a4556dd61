"""The emulator's OSS object API on disk: object types outlive a restart, bucket names are checked as OSS
checks them, and no request reaches a file outside its bucket (the engine's job store, the type records,
a symlink's target)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import oss2
import pytest

from specrunner.emulator.oss_store import META_DIR
from specrunner.emulator.server import Emulator
from tests.unit.emulator.conftest import AK, BUCKET, SECRET, bucket, raw

JOB_ID = "0123456789abcdef0123456789abcdef"


# ------------------------------------------------------------------------------------ object types


def test_appendable_objects_stay_appendable_across_a_restart(root: Path) -> None:
    with Emulator(root, {AK: SECRET}, simulate=True) as e:
        b = bucket(e)
        assert b.append_object("ci/journal", 0, b"ab").next_position == 2
        assert b.append_object("ci/journal", 2, b"cd").next_position == 4
        b.put_object("ci/normal", b"n")
        port = e.port
    records = list((root / META_DIR).rglob("*.json"))
    assert [json.loads(r.read_bytes()) for r in records] == [
        {"bucket": BUCKET, "key": "ci/journal", "type": "Appendable"}
    ]
    with Emulator(root, {AK: SECRET}, simulate=True, port=port) as e:  # a new process, same folder
        b = bucket(e)
        head = b.head_object("ci/journal")
        assert (head.object_type, head.headers["x-oss-next-append-position"]) == ("Appendable", "4")
        assert b.append_object("ci/journal", 4, b"ef").next_position == 6
        assert b.get_object("ci/journal").read() == b"abcdef"
        with pytest.raises(oss2.exceptions.ServerError) as err:
            b.append_object("ci/journal", 4, b"xx")
        assert (err.value.code, err.value.headers["x-oss-next-append-position"]) == (
            "PositionNotEqualToLength",
            "6",
        )
        assert b.head_object("ci/normal").object_type == "Normal"
        with pytest.raises(oss2.exceptions.ServerError) as err:
            b.append_object("ci/normal", 1, b"x")
        assert err.value.code == "ObjectNotAppendable"
        listed = {o.key: o.type for o in b.list_objects_v2(prefix="ci/").object_list}
        assert listed == {"ci/journal": "Appendable", "ci/normal": "Normal"}
        # PutObject over an Appendable object makes it Normal, and that too outlives a restart
        b.put_object("ci/journal", b"replaced")
        assert b.head_object("ci/journal").object_type == "Normal"
    with Emulator(root, {AK: SECRET}, simulate=True) as e:
        b = bucket(e)
        assert b.head_object("ci/journal").object_type == "Normal"
        with pytest.raises(oss2.exceptions.ServerError) as err:
            b.append_object("ci/journal", 8, b"x")
        assert err.value.code == "ObjectNotAppendable"
        # DeleteObject drops the type; an append at 0 creates an Appendable object again
        b.delete_object("ci/journal")
        assert not list((root / META_DIR).rglob("*.json"))
        assert b.append_object("ci/journal", 0, b"new").next_position == 3
        assert b.head_object("ci/journal").object_type == "Appendable"


def test_a_type_record_without_its_object_is_ignored(emu: Emulator, root: Path) -> None:
    b = bucket(emu)
    b.append_object("j", 0, b"ab")
    (root / BUCKET / "j").unlink()  # as if the emulator died between the record and the data
    assert not b.object_exists("j")
    b.put_object("j", b"plain")
    assert b.head_object("j").object_type == "Normal"
    with pytest.raises(oss2.exceptions.ServerError) as err:
        b.append_object("j", 5, b"x")
    assert err.value.code == "ObjectNotAppendable"


def test_type_records_are_never_objects(emu: Emulator, root: Path) -> None:
    b = bucket(emu)
    b.append_object("j", 0, b"ab")
    assert [o.key for o in b.list_objects_v2().object_list] == ["j"]
    record = next((root / META_DIR).rglob("*.json")).relative_to(root).as_posix()
    status, code, _ = raw(emu, "GET", META_DIR, record.partition("/")[2])
    assert (status, code) == (400, "InvalidBucketName")
    status, code, _ = raw(emu, "GET", BUCKET, "../" + record)
    assert (status, code) == (400, "InvalidObjectName")


# ------------------------------------------------------------------------------------ bucket names


@pytest.mark.parametrize(
    "name",
    [".mts", ".oss-meta", "ab", "a" * 64, "Team-state", "-team", "team-", "team_state", "te.am", "..", "a/b"],
)
def test_invalid_bucket_names_are_400_invalid_bucket_name(emu: Emulator, root: Path, name: str) -> None:
    before = sorted(root.rglob("*"))
    for method, query in (
        ("GET", None),
        ("HEAD", None),
        ("PUT", None),
        ("POST", {"append": "", "position": "0"}),
    ):
        status, code, _ = raw(emu, method, name, "jobs/x.json", query=query, body=b"x")
        assert status == 400, (method, name)
        assert code == ("" if method == "HEAD" else "InvalidBucketName")
    status, code, _ = raw(emu, "GET", name, "", query={"list-type": "2"})
    assert (status, code) == (400, "InvalidBucketName")
    assert sorted(root.rglob("*")) == before  # nothing written


def test_the_engines_job_store_is_out_of_reach(emu: Emulator, root: Path) -> None:
    job = root / ".mts" / "jobs" / f"{JOB_ID}.json"
    assert job.parent.is_dir()  # the engine made it
    job.write_text(json.dumps({"Id": JOB_ID, "State": "Success"}))
    before = job.read_bytes()
    key = f"jobs/{JOB_ID}.json"
    assert raw(emu, "GET", ".mts", key)[:2] == (400, "InvalidBucketName")
    assert raw(emu, "PUT", ".mts", key, body=b"{}")[:2] == (400, "InvalidBucketName")
    assert raw(emu, "DELETE", ".mts", key)[:2] == (400, "InvalidBucketName")
    assert raw(emu, "GET", BUCKET, f"../.mts/{key}")[:2] == (400, "InvalidObjectName")
    assert raw(emu, "PUT", BUCKET, f"a/../../.mts/{key}", body=b"{}")[:2] == (400, "InvalidObjectName")
    # a bucket folder that is a symlink into the store does not open it either
    (root / "sneaky").symlink_to(root / ".mts", target_is_directory=True)
    assert raw(emu, "GET", "sneaky", key)[:2] == (400, "InvalidObjectName")
    assert raw(emu, "PUT", "sneaky", key, body=b"{}")[:2] == (400, "InvalidObjectName")
    assert raw(emu, "DELETE", "sneaky", key)[:2] == (400, "InvalidObjectName")
    assert job.read_bytes() == before


# ------------------------------------------------------------------------------------ keys


@pytest.mark.parametrize(
    "key",
    [
        "../escaped",
        "a/../../escaped",
        "./x",
        "a/./x",
        "a//b",
        "/abs",
        "a\\b",
        "a\x00b",
        "dir/",
        "x" * 256,
        "é" * 600,
    ],
)
def test_keys_that_would_leave_the_bucket_are_refused(emu: Emulator, root: Path, key: str) -> None:
    for method, query in (
        ("PUT", None),
        ("POST", {"append": "", "position": "0"}),
        ("GET", None),
        ("DELETE", None),
    ):
        status, code, _ = raw(emu, method, BUCKET, key, query=query, body=b"x")
        assert (status, code) == (400, "InvalidObjectName"), (method, key)
    assert sorted(p.name for p in root.iterdir()) == [".mts", BUCKET]
    assert not any((root / BUCKET).iterdir())


def test_symlinks_do_not_lead_out_of_the_bucket(emu: Emulator, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (root / BUCKET / "file-link").symlink_to(outside / "secret")
    (root / BUCKET / "dir-link").symlink_to(outside, target_is_directory=True)
    (root / BUCKET / "inside").write_bytes(b"in")
    (root / BUCKET / "ok-link").symlink_to(root / BUCKET / "inside")
    for key in ("file-link", "dir-link/secret", "dir-link/new"):
        for method, query in (("GET", None), ("PUT", None), ("POST", {"append": "", "position": "6"})):
            status, code, _ = raw(emu, method, BUCKET, key, query=query, body=b"x")
            assert (status, code) == (400, "InvalidObjectName"), (method, key)
        raw(emu, "DELETE", BUCKET, key)
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_bytes() == b"secret"
    b = bucket(emu)
    assert b.get_object("ok-link").read() == b"in"  # a link that stays inside is fine
    # the listing neither fails on a link out nor lists it
    assert sorted(o.key for o in b.list_objects_v2().object_list) == ["inside", "ok-link"]


def test_a_key_the_file_system_cannot_hold_is_400_not_500(emu: Emulator) -> None:
    b = bucket(emu)
    b.put_object("a", b"file")
    with pytest.raises(oss2.exceptions.ServerError) as err:
        b.put_object("a/b", b"x")  # below an object
    assert (err.value.status, err.value.code) == (400, "InvalidObjectName")
    with pytest.raises(oss2.exceptions.ServerError) as err:
        b.append_object("a/b", 0, b"x")
    assert (err.value.status, err.value.code) == (400, "InvalidObjectName")
    b.put_object("d/x", b"x")
    with pytest.raises(oss2.exceptions.ServerError) as err:
        b.put_object("d", b"x")  # a folder on disk
    assert (err.value.status, err.value.code) == (400, "InvalidObjectName")
    assert b.get_object("a").read() == b"file"


# ------------------------------------------------------------------------------------ unserved calls


def test_unserved_sub_resources_and_copy_object_write_nothing(emu: Emulator, root: Path) -> None:
    b = bucket(emu)
    b.put_object("k", b"data")
    with pytest.raises(oss2.exceptions.ServerError) as err:
        b.put_object_acl("k", oss2.OBJECT_ACL_PRIVATE)
    assert (err.value.status, err.value.code) == (501, "NotImplemented")
    with pytest.raises(oss2.exceptions.ServerError) as err:
        b.copy_object(BUCKET, "k", "copy")
    assert (err.value.status, err.value.code) == (501, "NotImplemented")
    with pytest.raises(oss2.exceptions.ServerError) as err:
        b.get_object_acl("k")
    assert err.value.status == 501
    assert b.get_object("k").read() == b"data"
    assert not (root / BUCKET / "copy").exists()
    assert b.object_exists("k") and not b.object_exists("copy")  # HEAD ?objectMeta is served
    assert os.listdir(root / BUCKET) == ["k"]

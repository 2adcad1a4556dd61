"""The emulator's DeleteMultipleObjects (``POST /<bucket>/?delete``) through the real oss2 client
(``Bucket.batch_delete_objects``), and raw signed HTTP for what oss2 never sends (quiet mode, a missing
or wrong Content-MD5, bodies that are no ``Delete``): the documented checks and codes, the per-key
answer, a key the bucket will not delete, the journal."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path

import oss2
import pytest

from specrunner.emulator.server import Emulator
from tests.unit.emulator.conftest import BUCKET, bucket, raw, raw_answer

ODD = ["a/1.jpg", "b c/2+3.jpg", "é/日本 &<x>.jpg", "100%.jpg"]


def put(root: Path, *keys: str) -> None:
    for key in keys:
        (root / BUCKET / key).parent.mkdir(parents=True, exist_ok=True)
        (root / BUCKET / key).write_bytes(b"jpg")


def left(root: Path) -> list[str]:
    base = root / BUCKET
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())


def delete_body(*keys: str, quiet: bool = False) -> bytes:
    objects = "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
    return f"<Delete><Quiet>{str(quiet).lower()}</Quiet>{objects}</Delete>".encode()


def md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def post(emu: Emulator, body: bytes, *, digest: str | None = "auto", **query: str) -> tuple[int, bytes]:
    headers = {} if digest is None else {"Content-MD5": md5(body) if digest == "auto" else digest}
    status, data, _ = raw_answer(
        emu, "POST", BUCKET, "", query={"delete": "", **query}, body=body, headers=headers
    )
    return status, data


def code(data: bytes) -> str:
    return ET.fromstring(data).findtext("Code") or ""


def test_oss2_deletes_a_batch_and_reads_every_key_back(emu: Emulator, root: Path) -> None:
    put(root, *ODD, "keep.jpg")
    result = bucket(emu).batch_delete_objects([*ODD, "never-there.jpg"])
    assert result.status == 200 and result.request_id
    # verbose (oss2's only mode), in the request's order; an absent key counts as deleted, as OSS says
    assert result.deleted_keys == [*ODD, "never-there.jpg"]
    assert left(root) == ["keep.jpg"]
    (entry,) = [e for e in emu.requests() if e["action"] == "DeleteMultipleObjects"]
    assert (entry["status"], entry["objects"], entry["deleted"]) == (200, [*ODD, "never-there.jpg"], 5)
    assert entry["params"] == {"bucket": BUCKET, "quiet": False}


def test_the_answer_url_encodes_keys_when_asked(emu: Emulator, root: Path) -> None:
    put(root, "é/a b.jpg")
    status, data = post(emu, delete_body("é/a b.jpg"), **{"encoding-type": "url"})
    answer = ET.fromstring(data)
    assert status == 200 and answer.tag == "DeleteResult"
    assert answer.findtext("EncodingType") == "url"
    assert answer.findtext("Deleted/Key") == "%C3%A9%2Fa%20b.jpg"
    status, data = post(emu, delete_body("x"), **{"encoding-type": "base64"})
    assert (status, code(data)) == (400, "InvalidArgument")


def test_quiet_mode_answers_nothing_when_all_is_deleted_and_only_the_failures_else(
    emu: Emulator, root: Path
) -> None:
    put(root, "a.jpg", "locked/b.jpg", "c.jpg")
    status, data = post(emu, delete_body("a.jpg", quiet=True))
    assert (status, data) == (200, b"")
    emu.faults.delete_deny = frozenset({f"{BUCKET}/locked/"})
    status, data = post(emu, delete_body("locked/b.jpg", "c.jpg", quiet=True))
    answer = ET.fromstring(data)
    assert status == 200 and answer.findall("Deleted") == []
    (error,) = answer.findall("Error")
    assert (error.findtext("Key"), error.findtext("Code")) == ("locked/b.jpg", "AccessDenied")
    assert left(root) == ["locked/b.jpg"]


def test_a_key_the_bucket_will_not_delete_is_left_out_of_deleted(emu: Emulator, root: Path) -> None:
    put(root, "out/a.jpg", "locked/b.jpg")
    emu.faults.delete_deny = frozenset({f"{BUCKET}/locked/"})
    result = bucket(emu).batch_delete_objects(["locked/b.jpg", "out/a.jpg"])
    assert result.deleted_keys == ["out/a.jpg"]  # oss2 reads the Deleted keys only
    assert left(root) == ["locked/b.jpg"]
    status, data = post(emu, delete_body("locked/b.jpg"))  # the verbose answer's error entry
    assert status == 200 and ET.fromstring(data).findtext("Error/Code") == "AccessDenied"
    with pytest.raises(oss2.exceptions.AccessDenied):  # DeleteObject refuses it too
        bucket(emu).delete_object("locked/b.jpg")


def test_content_md5_is_required_and_checked_before_anything_is_deleted(emu: Emulator, root: Path) -> None:
    put(root, "a.jpg")
    status, data = post(emu, delete_body("a.jpg"), digest=None)
    assert (status, code(data)) == (400, "MissingArgument")
    status, data = post(emu, delete_body("a.jpg"), digest=md5(b"another body"))
    assert (status, code(data)) == (400, "InvalidDigest")
    assert left(root) == ["a.jpg"]


def test_at_most_1000_keys_per_request(emu: Emulator, root: Path) -> None:
    keys = [f"k/{i:04d}.jpg" for i in range(1001)]
    put(root, *keys)
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket(emu).batch_delete_objects(keys)
    assert (err.value.status, err.value.code) == (400, "MalformedXML")
    assert len(left(root)) == 1001  # nothing deleted
    assert len(bucket(emu).batch_delete_objects(keys[:1000]).deleted_keys) == 1000
    assert left(root) == ["k/1000.jpg"]


@pytest.mark.parametrize(
    "body",
    [
        b"<Delete><Quiet>false</Quiet></Delete>",  # no object
        b"<Delete><Quiet>maybe</Quiet><Object><Key>a</Key></Object></Delete>",
        b"<Delete><Object><VersionId>v</VersionId></Object></Delete>",  # an Object without a Key
        b"<Remove><Object><Key>a</Key></Object></Remove>",
        b"not xml at all",
        b'<!DOCTYPE d [<!ENTITY e "a">]><Delete><Object><Key>&e;</Key></Object></Delete>',
        delete_body("x" * 1000) * 2200,  # over 2 MB
    ],
    ids=["empty", "bad-quiet", "no-key", "not-delete", "not-xml", "doctype", "over-2mb"],
)
def test_a_body_that_is_no_delete_request_is_malformed_xml(emu: Emulator, root: Path, body: bytes) -> None:
    put(root, "a")
    status, data = post(emu, body)
    assert (status, code(data)) == (400, "MalformedXML")
    assert left(root) == ["a"]


def test_a_missing_bucket_and_a_wrong_signature_are_refused(emu: Emulator, root: Path) -> None:
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        bucket(emu, "no-such-bucket").batch_delete_objects(["a"])
    put(root, "a")
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket(emu, auth=oss2.Auth("objAK", "wrong")).batch_delete_objects(["a"])
    assert err.value.code == "SignatureDoesNotMatch" and left(root) == ["a"]


def test_other_bucket_posts_are_still_not_served(emu: Emulator) -> None:
    status, error_code, _ = raw(emu, "POST", BUCKET, "", query={"cors": ""})
    assert (status, error_code) == (501, "NotImplemented")

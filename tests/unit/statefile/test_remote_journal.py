"""The remote store's journal format, as bytes (no OSS): what ``remotejournal.parse_journal`` reads back.

A generation's journal is JSON lines in one appendable object: a header carrying the state it
starts from (a lock file block of ``bytes`` length), then config and put/del lines, commit blocks,
and a ``sealed_by`` line once a newer generation fenced it. These tests build journals the way the
store writes them and check what is read back, and that damage is named, never guessed around.
"""

from __future__ import annotations

import json

import pytest

from specrunner.core.errors import StateError
from specrunner.statefile.codec import Encoder
from specrunner.statefile.doc import StateDoc, encode_state
from specrunner.statefile.ossobjects import OssState
from specrunner.statefile.remotejournal import parse_journal
from tests.records import entry

LOC = OssState("state-b", "team/site.lock.json", "oss-cn-shanghai")
LINEAGE = "11111111-2222-4333-8444-555555555555"


def line(obj: dict[str, object]) -> bytes:
    return (json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n").encode()


def block(kind: dict[str, object], data: bytes) -> bytes:
    return line({**kind, "bytes": len(data)}) + data + b"\n"


def rec(job_id: str | None, tag: str = "sr-00000000000000aa") -> dict[str, object]:
    r: dict[str, object] = {
        "fingerprint": "sha256:" + "0" * 64,
        "mode": "sync",
        "input": "b/v.mp4",
        "rule": "r",
    }
    if job_id:
        r.update(state="Success", job_id=job_id, count=1)
    else:
        r["intent"] = {"tag": tag, "since": "2026-12-07T10:00:00Z"}
    return r


def base_state() -> bytes:
    return encode_state(StateDoc(LINEAGE, 3, {"a::r": entry(rec("JA"))}))


def header(gen: int = 2, state: bytes = b"") -> bytes:
    return block({"journal": 2, "generation": gen, "lock": "L", "lineage": LINEAGE}, state)


def test_a_journal_is_its_starting_state_plus_the_lines_after_it() -> None:
    data = (
        header(state=base_state())
        + line({"op": "put", "key": "b::r", "record": rec(None)})
        + line({"op": "put", "key": "c::r", "record": rec("JC")})
        + line({"op": "del", "key": "a::r"})
    )
    j = parse_journal(data, LOC, 2)
    assert j.base is not None and j.base.serial == 3 and set(j.base.jobs) == {"a::r"}
    assert j.doc is not None and j.doc.lineage == LINEAGE and j.doc.serial == 3
    assert set(j.doc.jobs) == {"b::r", "c::r"}
    assert j.doc.jobs["c::r"].job_id == "JC" and j.doc.jobs["b::r"].interrupted
    assert (j.after, j.records, j.sealed, j.skipped) == (3, 4, False, 0)


def test_compact_lines_name_a_config_written_once_before_them() -> None:
    enc = Encoder()
    e = entry(
        rec("JX"), request={"Input": {"Bucket": "b", "Object": "v.mp4"}, "SnapshotConfig": {"Time": "5"}}
    )
    rule, cid, compact = enc.line("x::r", e)
    assert rule == "r" and cid is not None
    data = (
        header()
        + line({"op": "config", "rule": rule, "id": cid, "config": enc.configs[rule][cid]})
        + line({"op": "put", "key": "x::r", "entry": compact})
    )
    j = parse_journal(data, LOC, 2)
    assert j.doc is not None and j.doc.jobs["x::r"] == e  # the same entry, decoded from its line


def test_a_commit_block_is_the_new_base_and_a_seal_is_read() -> None:
    committed = encode_state(StateDoc(LINEAGE, 4, {"c::r": entry(rec("JC"))}))
    data = (
        header(state=base_state())
        + line({"op": "put", "key": "c::r", "record": rec("JC")})
        + block({"commit": 4}, committed)
        + line({"sealed_by": 3})
    )
    j = parse_journal(data, LOC, 2)
    assert j.block == committed and j.base is not None and j.base.serial == 4
    assert j.after == 0 and j.sealed and j.doc is not None and set(j.doc.jobs) == {"c::r"}


@pytest.mark.parametrize(
    "tail, what",
    [
        (b'{"op":"put","key":"b::r"', "without its end"),  # torn: the append was cut
        (b"{garbage\n", "corrupt journal record"),
        (b'["a list"]\n', "corrupt journal record"),
        (line({"op": "put", "key": "b::r", "record": {"mode": "sync"}}), "invalid journal record"),
        (line({"op": "rename", "key": "b::r"}), "invalid journal record"),
        (block({"journal": 2, "lineage": LINEAGE}, b""), "two journal headers"),
        (line({"commit": 5, "bytes": 10_000}), "without its bytes"),
    ],
)
def test_damage_is_named_with_its_byte_and_repair_keeps_the_rest(tail: bytes, what: str) -> None:
    good = header(state=base_state()) + line({"op": "put", "key": "c::r", "record": rec("JC")})
    after = line({"op": "put", "key": "d::r", "record": rec("JD")}) if tail.endswith(b"\n") else b""
    data = good + tail + after
    with pytest.raises(StateError) as e:
        parse_journal(data, LOC, 2)
    msg = str(e.value)
    assert what in msg and f"at byte {len(good)}" in msg and LOC.journal_key(2) in msg
    assert "state repair" in (e.value.hint or "") and "Do not delete" in (e.value.hint or "")
    salvaged = parse_journal(data, LOC, 2, salvage=True)
    assert salvaged.skipped >= 1 and salvaged.doc is not None
    assert salvaged.doc.jobs["c::r"].job_id == "JC"  # every readable record before the damage is kept


def test_a_header_without_state_or_lineage_is_damage() -> None:
    with pytest.raises(StateError, match="without a lineage"):
        parse_journal(block({"journal": 2, "generation": 2}, b""), LOC, 2)
    with pytest.raises(StateError, match="unreadable state block"):
        parse_journal(header(state=b"{not a lock file}"), LOC, 2)

"""The state's ``retired`` list on disk: in the lock file (sorted, one line per object, absent when
empty so older lock files keep their bytes), in the local journal (replayed after a crash) and in a
remote journal (parsed back); a bad entry is one error naming its place."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from specrunner.core.errors import StateError
from specrunner.core.retired import Retired
from specrunner.statefile.doc import StateDoc, decode_state, encode_state
from specrunner.statefile.files import journal_path
from specrunner.statefile.journal import read_state
from specrunner.statefile.ossobjects import OssState
from specrunner.statefile.remotejournal import parse_journal
from specrunner.statefile.state import StateStore
from tests.conftest import TESTS
from tests.records import entry

BEFORE = TESTS / "fixtures" / "prune" / "demo-before-retired.lock.json"
LINEAGE = "11111111-2222-4333-8444-555555555555"


def done(job_id: str, *outputs: str) -> dict[str, object]:
    return {
        "fingerprint": "sha256:" + "0" * 64,
        "mode": "sync",
        "input": "in/v.mp4",
        "rule": "r",
        "state": "Success",
        "job_id": job_id,
        "count": len(outputs),
        "outputs": list(outputs),
    }


def test_a_lock_file_written_before_re_encodes_to_its_own_bytes() -> None:
    data = BEFORE.read_bytes()
    doc = decode_state(data, BEFORE)
    assert doc.retired == {} and b"retired" not in data
    assert encode_state(doc) == data


def test_retired_objects_are_one_sorted_line_each_after_the_jobs_and_read_back() -> None:
    retired = {
        "out/b.jpg": Retired("out/b.jpg", "v::r", "J1"),
        "out/a b.jpg": Retired("out/a b.jpg", "w::r", None),
    }
    doc = StateDoc(LINEAGE, 2, {"v::r": entry(done("J2", "out/c.jpg"))}, retired=retired)
    data = encode_state(doc)
    text = data.decode()
    assert text.endswith(
        '  "retired": [\n'
        '    {"job": "w::r", "object": "out/a b.jpg"},\n'
        '    {"job": "v::r", "job_id": "J1", "object": "out/b.jpg"}\n'
        "  ]\n}\n"
    )
    back = decode_state(data, Path("x.lock.json"))
    assert back.retired == retired and back.jobs == doc.jobs
    assert json.loads(data)["retired"][1]["object"] == "out/b.jpg"  # valid JSON
    assert encode_state(back) == data
    assert back.digest() != StateDoc(LINEAGE, 2, dict(doc.jobs)).digest()


@pytest.mark.parametrize(
    ("retired", "said"),
    [
        ({"job": "v::r"}, "$.retired[0]: a retired entry's `object` must be bucket/key"),
        ({"job": "v::r", "object": "nokey"}, "`object` must be bucket/key"),
        ({"object": "b/k"}, "`job` must be a job key"),
        ({"job": "v::r", "object": "b/k", "size": 3}, "unknown field(s) ['size']"),
        ("b/k", "a retired entry must be an object"),
    ],
)
def test_a_bad_retired_entry_is_one_error_naming_its_place(
    retired: object, said: str, tmp_path: Path
) -> None:
    doc = json.loads(BEFORE.read_bytes())
    doc["retired"] = [retired]
    path = tmp_path / "m.lock.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(StateError) as ei:
        decode_state(path.read_bytes(), path)
    assert said in str(ei.value) and str(path) in str(ei.value)


def test_a_retired_object_listed_twice_is_refused(tmp_path: Path) -> None:
    doc = json.loads(BEFORE.read_bytes())
    doc["retired"] = [{"job": "a::r", "object": "b/k"}, {"job": "c::r", "object": "b/k"}]
    with pytest.raises(StateError, match=r"\$\.retired\[1\]: the object b/k is listed twice"):
        decode_state(json.dumps(doc).encode(), tmp_path / "m.lock.json")


def store(path: Path, *, retire: bool = True) -> StateStore:
    s = StateStore.open(path)
    s.retire_outputs = retire
    return s


def test_a_replacement_journals_its_retired_objects_and_a_crash_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "m.lock.json"
    s = store(path)
    s.put("v::r", entry(done("J1", "out/a.jpg", "out/b.jpg")))
    s.commit()
    s.close()
    s = store(path)
    s.put("v::r", entry(done("J2", "out/b.jpg")), durable=True)
    s.close()  # a crash: the journal is not compacted
    lines = [json.loads(x) for x in journal_path(path).read_text().splitlines()[1:]]
    retire = next(i for i, x in enumerate(lines) if x.get("op") == "retire")
    put = next(i for i, x in enumerate(lines) if x.get("op") == "put")
    assert retire < put  # named before the record that drops it is replaced
    assert lines[retire] == {"op": "retire", "object": "out/a.jpg", "job": "v::r", "job_id": "J1"}
    replayed = read_state(path)
    assert replayed is not None and replayed.retired == {"out/a.jpg": Retired("out/a.jpg", "v::r", "J1")}
    s = store(path)  # the next run carries it over and compacts it
    s.unretire(["out/none.jpg"])
    assert s.commit()
    assert decode_state(path.read_bytes(), path).retired == replayed.retired


def test_unretire_is_journaled_and_a_record_naming_an_object_again_takes_it_out(tmp_path: Path) -> None:
    path = tmp_path / "m.lock.json"
    s = store(path)
    s.put("v::r", entry(done("J1", "out/a.jpg")))
    s.put("w::r", entry(done("J3", "out/w.jpg")))
    s.delete("v::r")
    s.commit()
    assert set(decode_state(path.read_bytes(), path).retired) == {"out/a.jpg"}
    s.put("v::r", entry(done("J2", "out/a.jpg")))  # named again
    s.unretire(["out/w.jpg"])
    s.close()
    assert read_state(path).retired == {}  # type: ignore[union-attr]
    s = store(path)
    s.delete("w::r")
    s.unretire(["out/w.jpg"], durable=True)
    s.close()
    doc = read_state(path)
    assert doc is not None and doc.retired == {} and set(doc.jobs) == {"v::r"}


def test_without_retire_outputs_a_dropped_record_retires_nothing(tmp_path: Path) -> None:
    path = tmp_path / "m.lock.json"
    s = store(path, retire=False)  # state rm / state mv: the user said "forget these"
    s.put("v::r", entry(done("J1", "out/a.jpg")))
    s.commit()
    s.delete("v::r")
    s.commit()
    s.close()
    assert b"retired" not in path.read_bytes()


def test_a_state_of_retired_objects_only_is_written(tmp_path: Path) -> None:
    path = tmp_path / "m.lock.json"
    shutil.copyfile(BEFORE, path)
    s = store(path)
    for key in list(s.jobs):
        s.delete(key)
    assert s.commit()
    doc = decode_state(path.read_bytes(), path)
    assert doc.jobs == {} and len(doc.retired) == 33


def line(obj: dict[str, object]) -> bytes:
    return (json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n").encode()


def test_a_remote_journal_carries_retire_lines() -> None:
    loc = OssState("state-b", "team/site.lock.json", "oss-cn-shanghai")
    base = encode_state(StateDoc(LINEAGE, 3, {}, retired={"out/x.jpg": Retired("out/x.jpg", "x::r", "J0")}))
    data = (
        line({"journal": 2, "generation": 2, "lock": "L", "lineage": LINEAGE, "bytes": len(base)})
        + base
        + b"\n"
        + line({"op": "retire", "object": "out/a.jpg", "job": "v::r", "job_id": "J1"})
        + line({"op": "unretire", "object": "out/x.jpg"})
    )
    j = parse_journal(data, loc, 2)
    assert j.base is not None and set(j.base.retired) == {"out/x.jpg"}
    assert j.doc is not None and j.doc.retired == {"out/a.jpg": Retired("out/a.jpg", "v::r", "J1")}
    assert j.after == 2
    with pytest.raises(StateError, match="damaged"):
        parse_journal(data + line({"op": "retire", "object": "nokey", "job": "v::r"}), loc, 2)

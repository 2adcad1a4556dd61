"""A state knows its manifest (issue 20): the owner id of a manifest (``name:``, else its path in its git
repository, else its file name), the lock file's ``manifest`` field (codec round trip; older files
without it decode and re-encode byte for byte), and the store: the owner is written with a change,
never as the only reason to write, except by ``state claim``."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from specrunner.core.errors import StateError
from specrunner.core.record import LockEntry
from specrunner.statefile.codec import encode
from specrunner.statefile.doc import decode_state, encode_state
from specrunner.statefile.files import journal_path
from specrunner.statefile.journal import read_state
from specrunner.statefile.owner import (
    Owner,
    foreign_state,
    git_root,
    is_default_state,
    manifest_owner,
    path_id,
    read_name,
)
from specrunner.statefile.state import StateStore
from specrunner.validate.manifest import load_manifest
from specrunner.validate.schema import load_schema
from tests.conftest import HEADER, TESTS
from tests.records import entry

MANIFEST = HEADER + 'inputs: [v/a.mp4]\nrules:\n  - {id: p, time: 1s, output: "p/{FileName}.jpg"}\n'


def rec(i: int) -> LockEntry:
    return entry(
        {
            "fingerprint": f"sha256:{i:064x}",
            "mode": "async",
            "job_id": f"{i:032x}",
            "state": "Success",
            "code": "",
            "message": "",
            "count": 1,
            "outputs": [f"b/o/{i}.jpg"],
        }
    )


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder in no git repository."""
    if git_root(tmp_path) is not None:  # pragma: no cover - a temp folder inside a repository
        pytest.skip(f"{tmp_path} is inside a git repository")
    return tmp_path


# ------------------------------------------------------------------------------------ the owner id


def test_the_owner_is_the_name_else_the_path_in_the_repository_else_the_file_name(
    outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = outside / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "specs" / "team").mkdir(parents=True)
    m = repo / "specs" / "team" / "site.yaml"
    m.write_text(MANIFEST)
    assert git_root(m.parent) == repo
    assert path_id(m) == "specs/team/site.yaml"
    assert manifest_owner(m, None) == Owner("specs/team/site.yaml", "specs/team/site.yaml")
    assert manifest_owner(m, "site") == Owner("site", "specs/team/site.yaml")
    # The same id however the path is given: relative, with `..`, from another working folder.
    monkeypatch.chdir(repo / "specs")
    assert path_id(Path("team/site.yaml")) == path_id(Path("../specs/team/../team/site.yaml"))
    assert path_id(Path("team/site.yaml")) == "specs/team/site.yaml"
    # A `.git` file (a worktree, a submodule) marks a repository root too; the nearest one counts.
    (repo / "specs" / "team" / ".git").write_text("gitdir: ../../.git/modules/team\n")
    assert path_id(m) == "site.yaml"
    # Outside any repository: the file name.
    lone = outside / "elsewhere" / "site.yaml"
    lone.parent.mkdir()
    lone.write_text(MANIFEST)
    assert path_id(lone) == "site.yaml" and manifest_owner(lone, None).id == "site.yaml"


def test_a_name_also_accepts_the_state_of_its_own_path_and_no_owner_at_all() -> None:
    named = Owner("site", "specs/site.yaml")
    assert named.accepts("site") and named.accepts("specs/site.yaml") and named.accepts(None)
    assert not named.accepts("specs/other.yaml") and not named.accepts("other")
    plain = Owner("specs/site.yaml", "specs/site.yaml")
    assert plain.accepts("specs/site.yaml") and not plain.accepts("site")


def test_name_is_read_from_the_manifest_strictly_and_leniently(outside: Path) -> None:
    m = outside / "m.yaml"
    m.write_text("name: team/site-1\n" + MANIFEST)
    assert load_manifest(m).name == "team/site-1"
    assert read_name(m) == "team/site-1"
    m.write_text(MANIFEST)
    assert load_manifest(m).name is None and read_name(m) is None
    for bad in ("name: '-x'\n", "name: [1]\n", "name: 'a b'\n", "name: [\n"):
        m.write_text(bad + MANIFEST)
        assert read_name(m) is None, bad  # the commands that validate say what is wrong
    assert read_name(outside / "missing.yaml") is None


def test_the_local_default_state_is_the_lock_file_beside_the_manifest(tmp_path: Path) -> None:
    m = tmp_path / "specs" / "site.yaml"
    assert is_default_state(m, tmp_path / "specs" / "site.lock.json")
    assert is_default_state(m, tmp_path / "specs" / "x" / ".." / "site.lock.json")
    assert not is_default_state(m, tmp_path / "specs" / "other.lock.json")
    assert not is_default_state(m, tmp_path / "site.lock.json")


def test_the_refusal_names_the_state_both_manifests_and_the_ways_out() -> None:
    e = foreign_state(
        "oss://b/k.lock.json", "specs/a.yaml", "specs/b.yaml", Owner("site-b", "specs/b.yaml"), jobs=20
    )
    assert isinstance(e, StateError) and e.exit_code == 1
    assert str(e) == (
        "the state oss://b/k.lock.json belongs to the manifest 'specs/a.yaml', not to specs/b.yaml "
        "('site-b'): refused before planning (its 20 jobs would be planned as forgotten)"
    )
    assert e.hint is not None
    assert "`specrunner state claim specs/b.yaml`" in e.hint and "its own `state:` key" in e.hint
    e = foreign_state(
        "s.json", "a.yaml", "my b.yaml", Owner("my b.yaml", "my b.yaml"), jobs=1, state_arg="s.json"
    )
    assert "not to my b.yaml: " in str(e) and "its 1 job would" in str(e)
    assert e.hint is not None and "`specrunner state claim 'my b.yaml' --state s.json`" in e.hint


# ------------------------------------------------------------------------------------ the codec


def test_the_owner_is_a_top_level_field_of_the_lock_file_and_round_trips() -> None:
    jobs = {f"v/{i}.mp4::p": rec(i) for i in range(3)}
    data = encode("lin", 4, jobs, "specs/site.yaml")
    lines = data.decode().splitlines()
    assert lines[:5] == [
        "{",
        '  "version": 2,',
        '  "lineage": "lin",',
        '  "manifest": "specs/site.yaml",',
        '  "serial": 4,',
    ]
    doc = json.loads(data)
    assert list(doc) == ["version", "lineage", "manifest", "serial", "configs", "jobs"]
    jsonschema.Draft202012Validator(load_schema("state.v2.json")).validate(doc)
    back = decode_state(data, Path("x"))
    assert (back.owner, back.lineage, back.serial, back.jobs) == ("specs/site.yaml", "lin", 4, jobs)
    assert encode_state(back) == data
    assert "owner='specs/site.yaml'" in repr(back) and back.job_count() == 3
    # Not part of the digest (what a saved plan depends on): whose jobs, not what they are.
    assert back.digest() == decode_state(encode("lin", 4, jobs), Path("x")).digest()


def test_a_lock_file_without_owner_still_decodes_and_re_encodes_byte_for_byte() -> None:
    jobs = {f"v/{i}.mp4::p": rec(i) for i in range(3)}
    old = encode("lin", 2, jobs)  # what every earlier version wrote
    assert b'"manifest"' not in old
    doc = decode_state(old, Path("x"))
    assert doc.owner is None and doc.jobs == jobs
    assert encode_state(doc) == old
    jsonschema.Draft202012Validator(load_schema("state.v2.json")).validate(json.loads(old))
    # The format 1 file of the fixtures too.
    v1 = (TESTS / "fixtures" / "demo-v1.lock.json").read_bytes()
    assert decode_state(v1, Path("x")).owner is None


@pytest.mark.parametrize("value", ["", 7, None, ["a"], "a\nb"])
def test_a_bad_owner_is_refused_with_the_file_named(value: object) -> None:
    doc = json.loads(encode("lin", 1, {"v/0.mp4::p": rec(0)}, "x"))
    doc["manifest"] = value
    data = json.dumps(doc).encode()
    if value is None:  # null: no owner recorded
        assert decode_state(data, Path("s.lock.json")).owner is None
        return
    with pytest.raises(StateError, match=r"s\.lock\.json: `manifest` .* must be a one-line string"):
        decode_state(data, Path("s.lock.json"))


def test_a_format_1_file_has_no_owner_field() -> None:
    doc = json.loads((TESTS / "fixtures" / "demo-v1.lock.json").read_bytes())
    doc["manifest"] = "demo.yaml"
    with pytest.raises(StateError, match=r"unknown top-level field\(s\) \['manifest'\]"):
        decode_state(json.dumps(doc).encode(), Path("x"))


# ------------------------------------------------------------------------------------ the store


def test_the_owner_is_kept_by_the_journal_and_written_with_changes_only(tmp_path: Path) -> None:
    path = tmp_path / "s.lock.json"
    path.write_bytes(encode("lin", 1, {"k::p": rec(1)}, "a.yaml"))
    store = StateStore.open(path)
    assert store.doc.owner == "a.yaml"
    store.put("k2::p", rec(2), durable=True)
    store.close()  # a crash before compaction: the journal is replayed onto the lock file
    assert journal_path(path).exists()
    replayed = read_state(path)
    assert replayed is not None and replayed.owner == "a.yaml" and set(replayed.jobs) == {"k::p", "k2::p"}
    store = StateStore.open(path)
    assert store.doc.owner == "a.yaml" and store.commit() is True
    written = decode_state(path.read_bytes(), path)
    assert (written.owner, written.serial) == ("a.yaml", 2)
    # Nothing changed: no write, whatever the owner.
    before = path.read_bytes()
    store = StateStore.open(path)
    assert store.commit() is False and path.read_bytes() == before
    # The owner alone is a change when set on purpose (`state claim`): one write, serial + 1.
    store = StateStore.open(path)
    store.doc.owner = "b.yaml"
    assert store.dirty() and store.commit() is True
    claimed = decode_state(path.read_bytes(), path)
    assert (claimed.owner, claimed.serial, claimed.jobs) == ("b.yaml", 3, written.jobs)

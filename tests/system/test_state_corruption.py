"""Hostile state files (issue 5, part 3): truncated, corrupt, wrong version, other lineage, a serial going
backwards, edited by hand into an invalid shape.

The state is a real one: two applies on the local engine (the second one changes a rule, so a
``.backup`` exists). For every corruption, ``plan``, ``apply`` and ``show`` through the CLI each give
one clear error that names the state file (and the ``.backup``), exit 1, print no traceback, and leave
the state, its backup and its journal byte for byte as they were.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from specrunner.core.errors import StateError
from specrunner.statefile.doc import decode_state
from specrunner.statefile.files import journal_path
from specrunner.statefile.journal import read_state
from tests.conftest import HEADER, Workspace

MANIFEST = (
    HEADER.replace("{", "{{").replace("}", "}}")
    + """\
inputs:
  - videos/a.mp4
rules:
  - id: poster
    time: 1s
    width: {width}
    output: posters/{{FileName}}.jpg
  - id: thumb
    time: 2s
    width: 80
    output: thumbs/{{FileName}}.jpg
"""
)


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory, video_4s: Path) -> dict[str, bytes]:
    """A real state after two applies (the second replaces a job, so the first is kept as .backup)."""
    ws = Workspace(tmp_path_factory.mktemp("applied"))
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(MANIFEST.format(width=160))
    ws.cli("apply", ws.manifest, code=0)
    ws.write(MANIFEST.format(width=120))
    ws.cli("apply", ws.manifest, code=0)
    backup = ws.state.with_name(ws.state.name + ".backup")
    assert backup.exists() and not journal_path(ws.state).exists()
    return {
        "state": ws.state.read_bytes(),
        "backup": backup.read_bytes(),
        "manifest": ws.manifest.read_bytes(),
        "video": (ws.oss / "media-in" / "videos" / "a.mp4").read_bytes(),
    }


@pytest.fixture
def setup(ws: Workspace, applied: dict[str, bytes]) -> Workspace:
    """A workspace holding the applied manifest, its input video, state and backup."""
    (ws.oss / "media-in" / "videos").mkdir(parents=True)
    (ws.oss / "media-in" / "videos" / "a.mp4").write_bytes(applied["video"])
    ws.manifest.write_bytes(applied["manifest"])
    ws.state.write_bytes(applied["state"])
    backup(ws).write_bytes(applied["backup"])
    return ws


def backup(ws: Workspace) -> Path:
    return ws.state.with_name(ws.state.name + ".backup")


def files(ws: Workspace) -> dict[str, bytes | None]:
    """Every state-related file beside the lock file, byte for byte."""
    out: dict[str, bytes | None] = {}
    for p in (ws.state, backup(ws), journal_path(ws.state), ws.state.with_name(ws.state.name + ".errored")):
        out[p.name] = p.read_bytes() if p.exists() else None
    return out


def doc(applied: dict[str, bytes]) -> dict[str, Any]:
    return json.loads(applied["state"])


def encode(d: Any) -> bytes:
    return (json.dumps(d, indent=2, sort_keys=True) + "\n").encode()


def edit(applied: dict[str, bytes], change: Callable[[dict[str, Any]], Any]) -> bytes:
    d = doc(applied)
    change(d)
    return encode(d)


def first_job(d: dict[str, Any]) -> dict[str, Any]:
    return d["jobs"][sorted(d["jobs"])[0]]


def assert_refused(ws: Workspace, *, names: list[str], mention: str | None = None) -> None:
    """plan, apply and show each fail once, clearly, naming ``names``, and change no file."""
    before = files(ws)
    for command in ("plan", "apply", "show"):
        r = ws.cli(command, ws.manifest)
        out = r.stdout + r.stderr
        assert r.exit_code == 1, (command, r.exit_code, out)
        assert "Traceback" not in out, (command, out)
        errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, (command, r.stderr)
        for name in names:
            assert name in r.stderr, (command, name, r.stderr)
        if mention:
            assert mention in r.stderr, (command, mention, r.stderr)
        assert files(ws) == before, f"{command} changed a state file"
    assert not (ws.dir / ".specrunner" / "runs").exists() or not list(
        (ws.dir / ".specrunner" / "runs").iterdir()
    )


# --------------------------------------------------------------------------------------------
# The lock file


def test_every_truncation_is_refused_in_process(tmp_path: Path, applied: dict[str, bytes]) -> None:
    data = applied["state"]
    path = tmp_path / "m.lock.json"
    backup_path = tmp_path / "m.lock.json.backup"
    backup_path.write_bytes(applied["backup"])
    for n in range(len(data) - 1):  # all but the trailing newline (whose loss leaves valid JSON)
        path.write_bytes(data[:n])
        with pytest.raises(StateError) as e:
            read_state(path)
        assert str(path) in e.value.message
        assert str(backup_path) in (e.value.hint or ""), (n, e.value.hint)
        assert path.read_bytes() == data[:n]
    path.write_bytes(data[:-1])
    assert read_state(path) is not None


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99])
def test_truncated_state_is_refused_by_plan_apply_show(
    setup: Workspace, applied: dict[str, bytes], fraction: float
) -> None:
    data = applied["state"]
    setup.state.write_bytes(data[: int(len(data) * fraction)])
    assert_refused(setup, names=[str(setup.state), str(backup(setup))])


CORRUPT: dict[str, Callable[[dict[str, bytes]], bytes]] = {
    "not JSON": lambda a: b"this is not json\n",
    "trailing garbage": lambda a: a["state"] + b"}\n",
    "a byte flipped": lambda a: a["state"].replace(b'"serial"', b"\"serial'", 1),
    "JSON list": lambda a: b"[]\n",
    "JSON string": lambda a: b'"state"\n',
    "null": lambda a: b"null\n",
    "not UTF-8": lambda a: a["state"].replace(b"poster", b"p\xffster", 1),
    "NUL bytes": lambda a: b"\x00" * 64,
    "UTF-16": lambda a: a["state"].decode().encode("utf-16"),
    "deeply nested": lambda a: b"[" * 100_000 + b"]" * 100_000,
    "huge serial": lambda a: re.sub(rb'"serial": \d+', b'"serial": ' + b"9" * 5000, a["state"], count=1),
    "NaN serial": lambda a: edit(a, lambda d: d.update(serial=float("nan"))),
    "version 0": lambda a: edit(a, lambda d: d.update(version=0)),
    "version 3": lambda a: edit(a, lambda d: d.update(version=3)),
    'version "1"': lambda a: edit(a, lambda d: d.update(version="1")),
    "version missing": lambda a: edit(a, lambda d: d.pop("version")),
    "lineage missing": lambda a: edit(a, lambda d: d.pop("lineage")),
    "serial -1": lambda a: edit(a, lambda d: d.update(serial=-1)),
    "unknown top-level field": lambda a: edit(a, lambda d: d.update(outputs=[])),
    "jobs as list": lambda a: edit(a, lambda d: d.update(jobs=list(d["jobs"].values()))),
    "job record a string": lambda a: edit(a, lambda d: d["jobs"].update({sorted(d["jobs"])[0]: "done"})),
    "job record with unknown field": lambda a: edit(a, lambda d: first_job(d).update(owner="me")),
    'state "Done"': lambda a: edit(a, lambda d: first_job(d).update(state="Done")),
    "count -1": lambda a: edit(a, lambda d: first_job(d).update(count=-1)),
    "count true": lambda a: edit(a, lambda d: first_job(d).update(count=True)),
    "config missing": lambda a: edit(a, lambda d: first_job(d).pop("config")),
    "config unknown": lambda a: edit(a, lambda d: first_job(d).update(config="0123456789")),
    "fingerprint a number": lambda a: edit(a, lambda d: first_job(d).update(fingerprint=7)),
    "mode in a job line": lambda a: edit(a, lambda d: first_job(d).update(mode="fast")),
    "config mode wrong": lambda a: edit(
        a, lambda d: [c.update(mode="fast") for r in d["configs"].values() for c in r.values()]
    ),
    "configs missing": lambda a: edit(a, lambda d: d.pop("configs")),
    "outputs not strings": lambda a: edit(a, lambda d: first_job(d).update(outputs=[1, 2])),
    "job_id a number": lambda a: edit(a, lambda d: first_job(d).update(job_id=42)),
    "intent without tag": lambda a: edit(a, lambda d: first_job(d).update(intent={"at": 1})),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_state_is_refused_by_plan_apply_show(
    setup: Workspace, applied: dict[str, bytes], case: str
) -> None:
    setup.state.write_bytes(CORRUPT[case](applied))
    assert_refused(setup, names=[str(setup.state), str(backup(setup))])


def test_corrupt_state_without_a_backup_says_how_to_start_over(
    setup: Workspace, applied: dict[str, bytes]
) -> None:
    backup(setup).unlink()
    setup.state.write_bytes(applied["state"][:100])
    assert_refused(setup, names=[str(setup.state)], mention="submits again every job it recorded")


def test_newer_version_says_upgrade(setup: Workspace, applied: dict[str, bytes]) -> None:
    setup.state.write_bytes(CORRUPT["version 3"](applied))
    assert_refused(setup, names=[str(setup.state), str(backup(setup))], mention="upgrade specrunner")


def test_state_path_is_a_directory(setup: Workspace) -> None:
    setup.state.unlink()
    setup.state.mkdir()
    for command in ("plan", "apply", "show"):
        r = setup.cli(command, setup.manifest, code=1)
        assert "is a directory" in r.stderr and "Traceback" not in r.output


def test_no_traceback_through_the_real_entry_point(setup: Workspace, applied: dict[str, bytes]) -> None:
    setup.state.write_bytes(CORRUPT["deeply nested"](applied))
    before = files(setup)
    for command in ("plan", "apply", "show"):
        p = subprocess.run(
            [sys.executable, "-m", "specrunner", command, str(setup.manifest)],
            cwd=setup.dir,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == 1, (command, p.stderr)
        assert "Traceback" not in p.stderr + p.stdout
        assert p.stderr.startswith("error: ") and str(setup.state) in p.stderr, p.stderr
    assert files(setup) == before


# --------------------------------------------------------------------------------------------
# The journal


def journal(ws: Workspace, header: dict[str, Any], lines: list[bytes]) -> Path:
    jp = journal_path(ws.state)
    jp.write_bytes(json.dumps(header, sort_keys=True).encode() + b"\n" + b"".join(lines))
    return jp


def put(key: str, record: dict[str, Any]) -> bytes:
    return (
        json.dumps(
            {"op": "put", "key": key, "record": record}, sort_keys=True, separators=(",", ":")
        ).encode()
        + b"\n"
    )


def header_for(applied: dict[str, bytes], **over: Any) -> dict[str, Any]:
    d = doc(applied)
    return {"journal": 1, "lineage": d["lineage"], "base_serial": d["serial"], **over}


def records(applied: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    """The full job records of the applied state (the file stores them compactly)."""
    return decode_state(applied["state"], Path("applied.lock.json")).jobs


def a_record(applied: dict[str, bytes]) -> tuple[str, dict[str, Any]]:
    jobs = records(applied)
    key = sorted(jobs)[0]
    return key, jobs[key].to_record()


def test_journal_of_another_lineage_is_refused(setup: Workspace, applied: dict[str, bytes]) -> None:
    key, rec = a_record(applied)
    jp = journal(setup, header_for(applied, lineage="00000000-0000-4000-8000-000000000000"), [put(key, rec)])
    assert_refused(setup, names=[str(jp)], mention="another state")


def test_serial_going_backwards_is_refused(setup: Workspace, applied: dict[str, bytes]) -> None:
    """The journal extends serial N+1, the lock file is at N: the lock file was replaced by an older copy
    (e.g. the backup restored by hand). Replaying onto it, or ignoring the journal, would lose jobs."""
    key, rec = a_record(applied)
    rec["job_id"] = "f" * 32
    serial = doc(applied)["serial"]
    jp = journal(setup, header_for(applied, base_serial=serial + 1), [put(key, rec)])
    assert_refused(setup, names=[str(jp), str(setup.state)], mention=f"serial {serial + 1}")


def test_journal_without_its_lock_file_is_refused(setup: Workspace, applied: dict[str, bytes]) -> None:
    """The lock file was deleted but a journal extending it remains: starting empty would forget its jobs."""
    key, rec = a_record(applied)
    jp = journal(setup, header_for(applied), [put(key, rec)])
    setup.state.unlink()
    for command in ("plan", "apply", "show"):
        r = setup.cli(command, setup.manifest, code=1)
        assert str(jp) in r.stderr and "is missing" in r.stderr and "Traceback" not in r.output
    assert not setup.state.exists()


def test_stale_journal_from_an_older_serial_is_ignored(setup: Workspace, applied: dict[str, bytes]) -> None:
    """A crash between writing the lock file and deleting the journal: the journal is already in it."""
    key, rec = a_record(applied)
    serial = doc(applied)["serial"]
    journal(setup, header_for(applied, base_serial=serial - 1), [put(key, {**rec, "job_id": "e" * 32})])
    state = read_state(setup.state)
    assert state is not None and state.serial == serial
    assert state.jobs == records(applied)
    r = setup.cli("plan", setup.manifest, code=0)
    assert "No changes" in r.stdout or "0 to create" in r.stdout, r.stdout


def test_torn_last_journal_line_is_tolerated(setup: Workspace, applied: dict[str, bytes]) -> None:
    key, rec = a_record(applied)
    good = put(key, {**rec, "job_id": "a" * 32})
    torn = put(key, {**rec, "job_id": "b" * 32})[:-20]
    journal(setup, header_for(applied), [good, torn])
    state = read_state(setup.state)
    assert state is not None and state.jobs[key].job_id == "a" * 32  # replayed minus the torn line
    before = files(setup)
    r = setup.cli("show", setup.manifest, code=0)
    assert "Traceback" not in r.output
    setup.cli("plan", setup.manifest, code=0)
    assert files(setup) == before  # reading never rewrites


@pytest.mark.parametrize(
    "bad",
    [
        b"{not json\n",
        b"[1, 2]\n",
        b'"put"\n',
        b"42\n",
        b'{"op": "put", "key": 7}\n',
        b'{"op": "put", "key": "k", "record": {"state": "Done"}}\n',
        b'{"op": "zap"}\n',
        b'{"op": "del", "key": ["a"]}\n',
        b"\xff\xfe{}\n",
    ],
    ids=["not-json", "list", "string", "number", "int-key", "bad-record", "bad-op", "list-key", "not-utf8"],
)
def test_corrupt_middle_journal_line_is_an_error(
    setup: Workspace, applied: dict[str, bytes], bad: bytes
) -> None:
    key, rec = a_record(applied)
    jp = journal(setup, header_for(applied), [put(key, rec), bad, put(key, {**rec, "job_id": "c" * 32})])
    assert_refused(setup, names=[f"{jp}:3"])


def test_the_hint_for_a_damaged_journal_is_a_repair_that_keeps_every_readable_record(
    setup: Workspace, applied: dict[str, bytes]
) -> None:
    """Following the printed hint never drops a job id the journal holds in a readable record."""
    jobs = records(applied)
    k1, k2 = sorted(jobs)[:2]
    journal(
        setup,
        header_for(applied),
        [
            put(k1, {**jobs[k1].to_record(), "job_id": "c" * 32}),
            b"{garbage\n",
            put(k2, {**jobs[k2].to_record(), "job_id": "d" * 32}),
        ],
    )
    r = setup.cli("plan", setup.manifest, code=1)
    assert "specrunner state repair" in r.stderr and "2 readable records" in r.stderr, r.stderr
    assert "passing over 1 unreadable" in r.stderr
    fixed = setup.cli("state", "repair", setup.manifest, code=0)
    assert "1 unreadable record(s) passed over" in fixed.stdout, fixed.stdout
    state = read_state(setup.state)
    assert state is not None
    assert state.jobs[k1].job_id == "c" * 32 and state.jobs[k2].job_id == "d" * 32
    assert not journal_path(setup.state).exists()
    damaged = journal_path(setup.state).with_name(journal_path(setup.state).name + ".damaged")
    assert b"{garbage" in damaged.read_bytes()  # nothing is thrown away
    setup.cli("plan", setup.manifest, code=0)


@pytest.mark.parametrize(
    "head",
    [
        b"{torn",
        b"[]",
        b'{"journal": 2}',
        b'{"journal": 1, "lineage": "x"}',
        b'{"journal": 1, "base_serial": "1"}',
        b"\xff",
    ],
    ids=["torn", "list", "version-2", "no-serial", "serial-string", "not-utf8"],
)
def test_corrupt_journal_header_is_an_error(setup: Workspace, applied: dict[str, bytes], head: bytes) -> None:
    """The header is written atomically (temp file + rename): a broken one is damage, not a crash."""
    key, rec = a_record(applied)
    jp = journal_path(setup.state)
    jp.write_bytes(head + b"\n" + put(key, {**rec, "job_id": "d" * 32}))
    assert_refused(setup, names=[str(jp)])


def test_decode_state_never_raises_anything_but_state_error(
    applied: dict[str, bytes], tmp_path: Path
) -> None:
    path = tmp_path / "s.lock.json"
    samples = [c(applied) for c in CORRUPT.values()] + [applied["state"][:n] for n in range(0, 400, 7)]
    for data in samples:
        try:
            decode_state(data, path)
        except StateError:
            pass

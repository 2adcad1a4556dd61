"""The lock file format 2 (issue 14): one line per job, rule configs stored once, lossless, byte-stable;
format 1 read, planned and upgraded on the next write; a newer format refused.

Real files and the real CLI; the demo's format 1 lock file in ``fixtures/`` was written by the format 1
code (before this format existed).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from specrunner.apply.outcomes import outcome_record
from specrunner.backends.base import RemoteJob
from specrunner.core.jobs import expand
from specrunner.core.model import evolve
from specrunner.core.record import LockEntry
from specrunner.core.record import job_entry as job_record
from specrunner.statefile.checks import from_record
from specrunner.statefile.codec import encode
from specrunner.statefile.doc import decode_state, encode_state
from specrunner.statefile.files import journal_path
from specrunner.statefile.journal import read_state
from specrunner.statefile.state import StateStore
from specrunner.validate.manifest import load_manifest
from specrunner.validate.schema import load_schema
from tests.conftest import REPO, TESTS

FIXTURE = TESTS / "fixtures" / "demo-v1.lock.json"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The demo (manifest + local buckets) with the format 1 lock file its apply wrote."""
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    shutil.copyfile(FIXTURE, tmp_path / "specs" / "demo.lock.json")
    return tmp_path / "specs"


def run(cwd: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "specrunner", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    return r


def test_demo_v1_lock_is_read_planned_as_noop_and_upgraded_on_the_next_write(demo: Path) -> None:
    v1 = (demo / "demo.lock.json").read_bytes()
    assert json.loads(v1)["version"] == 1
    jsonschema.Draft202012Validator(load_schema("state.v1.json")).validate(json.loads(v1))
    # (the fixture's outputs are not in the demo's buckets: the refresh would replace them)
    r = run(demo, "plan", "demo.yaml", "--refresh=false")
    said = " ".join(r.stdout.split())  # the summary wraps at the terminal's width (80 without one)
    assert "0 to create, 0 to replace, 0 to retry, 0 to resume, 0 to forget, 5 unchanged" in said, r.stdout
    run(
        demo, "apply", "demo.yaml", "--refresh=false"
    )  # nothing to do: nothing written, the file stays format 1
    assert (demo / "demo.lock.json").read_bytes() == v1
    assert "upgraded" not in run(demo, "show", "demo.yaml").stderr
    # The next write (a job leaves the state) upgrades the file, with one line saying so.
    r = run(demo, "state", "rm", "demo.yaml", "launch::poster")
    notes = [line for line in r.stderr.splitlines() if "upgraded" in line]
    assert len(notes) == 1 and "state format 1 upgraded to 2" in notes[0], r.stderr
    v2 = (demo / "demo.lock.json").read_bytes()
    doc = json.loads(v2)
    assert doc["version"] == 2 and doc["serial"] == json.loads(v1)["serial"] + 1
    jsonschema.Draft202012Validator(load_schema("state.v2.json")).validate(doc)
    assert (demo / "demo.lock.json.backup").read_bytes() == v1
    # Every other record reads back exactly as it was in format 1.
    before = decode_state(v1, demo / "x").jobs
    del before["launch::poster"]
    assert decode_state(v2, demo / "x").jobs == before
    # One line per job, and what the jobs of a rule share is stored once.
    assert v2.count(b'"Object": "posters%2F%7BFileName%7D.jpg"') == 1
    job_lines = [ln for ln in v2.decode().splitlines() if "::" in ln]
    assert len(job_lines) == 4 and all(ln.startswith('    "') and '"config": ' in ln for ln in job_lines)
    # The recreated job is planned and applied; then nothing changes, byte for byte.
    assert "1 to create" in run(demo, "plan", "demo.yaml").stdout
    run(demo, "apply", "demo.yaml")
    once = (demo / "demo.lock.json").read_bytes()
    run(demo, "apply", "demo.yaml")
    assert (demo / "demo.lock.json").read_bytes() == once
    assert "upgraded" not in run(demo, "plan", "demo.yaml").stderr


def test_a_newer_format_is_refused_and_left_alone(demo: Path) -> None:
    path = demo / "demo.lock.json"
    doc = json.loads(path.read_bytes())
    doc["version"] = 3
    path.write_text(json.dumps(doc))
    before = path.read_bytes()
    r = run(demo, "plan", "demo.yaml", code=1)
    assert "newer than this specrunner supports (2)" in r.stderr
    assert path.read_bytes() == before


def records(n_inputs: int) -> dict[str, LockEntry]:
    """Full records as the executor writes them, for the demo's rules over ``n_inputs`` inputs."""
    m = load_manifest(REPO / "specs" / "demo.yaml")
    extra = [
        evolve(m.inputs[0], id=f"videos/v{i:05d}.mp4", object=f"videos/v{i:05d}.mp4") for i in range(n_inputs)
    ]
    m = evolve(m, inputs=(*m.inputs, *extra))
    out: dict[str, LockEntry] = {}
    for i, job in enumerate(expand(m)):
        cnt = int(job.request["SnapshotConfig"].get("Num", "1"))
        tiles = cnt if "TileOut" in job.request["SnapshotConfig"] else 0
        if i % 7 == 3:  # a failed job
            out[job.key] = job_record(
                job, job_id=f"{i:032x}", state="Fail", code="InvalidParameter", message="bad input"
            )
        elif i % 7 == 5:  # an interrupted submission
            out[job.key] = job_record(job, {"tag": f"sr-{i:016x}", "since": "2026-11-25T10:00:00Z"})
        else:
            remote = RemoteJob(
                id=f"{i:032x}", state="Success", code="", message="", count=cnt, tile_count=tiles, raw={}
            )
            out[job.key] = outcome_record(job, remote)
    return out


def test_encoding_is_lossless_sorted_and_one_line_per_job() -> None:
    jobs = records(30)
    data = encode("lin", 4, jobs)
    assert decode_state(data, Path("x")).jobs == jobs
    assert encode("lin", 4, dict(reversed(list(jobs.items())))) == data
    lines = data.decode().splitlines()
    job_lines = [ln for ln in lines if ln.startswith('    "') and "::" in ln]
    assert [json.loads("{" + ln.rstrip(",") + "}").popitem()[0] for ln in job_lines] == sorted(jobs)
    doc = json.loads(data)
    assert sum(len(c) for c in doc["configs"].values()) == 3  # one config per rule
    jsonschema.Draft202012Validator(load_schema("state.v2.json")).validate(doc)
    # A record that cannot be derived from its config is kept whole, still losslessly.
    odd = jobs[sorted(jobs)[0]].evolve(outputs=("elsewhere/x.jpg",), fingerprint="sha256:" + "0" * 64)
    weird = {**jobs, "k::poster": odd.evolve(rule="thumbs"), sorted(jobs)[0]: odd}
    back = decode_state(encode("lin", 4, weird), Path("x")).jobs
    assert back == weird


def test_a_successful_single_frame_job_costs_under_200_bytes() -> None:
    jobs = {k: r for k, r in records(200).items() if k.endswith("::poster") and r.state == "Success"}
    data = encode("lin", 1, jobs)
    lines = [ln for ln in data.decode().splitlines() if "::poster" in ln]
    assert len(lines) == len(jobs)
    assert max(len(ln.encode()) + 1 for ln in lines) <= 200, max(lines, key=len)


def test_a_lock_entry_round_trips_through_its_whole_record_form() -> None:
    for entry in records(3).values():
        rec = entry.to_record()
        assert from_record(rec) == entry
        assert from_record(json.loads(json.dumps(rec))) == entry  # as a journal or a format 1 file has it
        assert entry.fingerprint.startswith("sha256:") and entry.mode in ("sync", "async")
    assert from_record({"mode": "sync"}) == "`fingerprint` must be a string"
    assert "intent.since" in str(from_record({"fingerprint": "x", "mode": "sync", "intent": {"tag": "t"}}))


def test_journal_lines_are_compact_and_replayed(tmp_path: Path) -> None:
    path = tmp_path / "s.lock.json"
    jobs = records(20)
    store = StateStore.open(path)
    for k, rec in jobs.items():
        store.put(k, rec)
    store.close()  # a crash before compaction
    journal = journal_path(path).read_bytes()
    assert json.loads(journal.splitlines()[0])["journal"] == 2
    assert journal.count(b'"op":"config"') == 3 and journal.count(b"SnapshotConfig") == 3  # once per rule
    state = read_state(path)
    assert state is not None and state.jobs == jobs
    store = StateStore.open(path)
    assert store.commit() is True
    assert decode_state(path.read_bytes(), path).jobs == jobs
    assert path.read_bytes() == encode_state(read_state(path))  # type: ignore[union-attr]

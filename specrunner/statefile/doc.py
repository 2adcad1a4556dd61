"""One version of the state (:class:`StateDoc`) and the lock file it is read from and written as.

File format (``<manifest>.lock.json``), version 2 (the codec is ``codec.py``)::

    {
      "version": 2,
      "lineage": "<uuid, set once>",
      "manifest": "specs/site.yaml",                          # the owner (absent in older files)
      "serial": 7,                                            # +1 on every change
      "configs": {"<rule id>": {"<config id>": {<what its jobs share>}}},
      "jobs": {
        "<input id>::<rule id>": {<what is the job's own>},   # one line per job, sorted by key
      },
      "retired": [{"job", "job_id", "object"}, ...]           # absent when empty (``retired.py``)
    }

Version 1 (every record whole, ``{"jobs", "lineage", "serial", "version": 1}``) is still read; it is
rewritten as version 2 on the next write, with a one-line notice on stderr. A newer version is refused.
In memory every job is a :class:`core.record.LockEntry`, whatever the version read.

Deterministic bytes: sorted keys, two-space indent, a trailing newline, no run timestamps, no
hostnames, no absolute paths, no secrets. A rerun that changes nothing does not rewrite the file.

Durability: every change is first appended to ``<state>.journal`` (JSON lines, fsynced before any
call that depends on it), then the journal is compacted into the lock file (temp file in the same
folder + fsync + ``os.replace``, previous version kept as ``<state>.backup``). Loading replays the
journal, so a crash at any instant loses nothing; total state I/O of a run is O(jobs). The journal
(format 2) stores compact job lines too, each rule config once per journal before the first line
using it; format 1 journals (whole records) are still replayed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from specrunner.core.canonical import canonical_bytes
from specrunner.core.errors import StateError
from specrunner.core.record import LockEntry
from specrunner.core.retired import Retired
from specrunner.statefile import retired as retired_codec
from specrunner.statefile.checks import from_record
from specrunner.statefile.codec import Decoder, encode
from specrunner.statefile.files import backup_path

STATE_VERSION = 2


def default_state_path(manifest_path: str | Path) -> Path:
    p = Path(manifest_path)
    return p.with_name(p.stem + ".lock.json")


def encode_state(doc: StateDoc) -> bytes:
    """The lock file bytes (format 2) of ``doc``: its ``retired`` list after ``jobs``, when not empty."""
    data = encode(doc.lineage, doc.serial, doc.jobs, doc.owner)
    tail = retired_codec.encode(doc.retired)
    if not tail:
        return data
    assert data.endswith(b"\n}\n")
    return data[:-3] + tail.encode("utf-8") + b"\n}\n"


class StateDoc:
    """One version of the state: its lineage, serial, owner and every job's full record.

    Read from a format 2 file, the records are decoded from their compact lines on first use of
    ``jobs`` (``compact`` holds the lines until then): a no-op plan compares the lines with the
    manifest directly (``ops.planning``) and never builds a million records.

    ``owner`` is the manifest the state belongs to (the lock file's ``manifest`` field: its ``name:``,
    else its path in its git repository, see ``statefile.owner``); None in states written before
    owners were recorded. It is not part of ``digest``: it says whose jobs these are, not what they are.

    ``retired``: objects no record names any more, left by forgotten or replaced jobs, keyed by
    ``bucket/key`` (``core.retired``), until ``specrunner prune`` deletes them.
    """

    __slots__ = ("_jobs", "compact", "format_version", "lineage", "owner", "retired", "serial")

    def __init__(
        self,
        lineage: str,
        serial: int,
        jobs: dict[str, LockEntry] | None = None,
        format_version: int = STATE_VERSION,  # of the file it was read from
        *,
        compact: CompactLines | None = None,
        owner: str | None = None,
        retired: dict[str, Retired] | None = None,
    ) -> None:
        self.lineage = lineage
        self.serial = serial
        self.owner = owner
        self.retired: dict[str, Retired] = retired if retired is not None else {}
        self.format_version = format_version
        self._jobs = jobs if jobs is not None or compact is not None else {}
        self.compact = compact if jobs is None else None

    @property
    def jobs(self) -> dict[str, LockEntry]:
        if self._jobs is None:
            assert self.compact is not None
            self._jobs = self.compact.decode_all()
            self.compact = None
        return self._jobs

    @jobs.setter
    def jobs(self, value: dict[str, LockEntry]) -> None:
        self._jobs, self.compact = value, None

    def copy(self) -> StateDoc:
        """Another version to change: the same lineage, serial, owner, records and retired objects."""
        return StateDoc(
            self.lineage, self.serial, dict(self.jobs), owner=self.owner, retired=dict(self.retired)
        )

    def job_count(self) -> int:
        """How many jobs the state records, without decoding their lines."""
        return len(self._jobs) if self._jobs is not None else len(self.compact.lines) if self.compact else 0

    def __repr__(self) -> str:
        return (
            f"StateDoc(lineage={self.lineage!r}, serial={self.serial}, owner={self.owner!r}, "
            f"format_version={self.format_version})"
        )

    def digest(self) -> str:
        """Identifies this version of the state (a saved plan records it): sha256 over the lineage, the
        serial and every record, each as canonical JSON. Not the file's bytes: encoding the lock file
        costs far more than hashing what it holds, and the content is what a saved plan depends on."""
        import hashlib

        h = hashlib.sha256(canonical_bytes([self.lineage, self.serial]))
        for key in sorted(self.jobs):
            h.update(canonical_bytes([key, self.jobs[key].to_record()]))
        for obj in sorted(self.retired):  # none: the digest of a state written before retired objects
            h.update(canonical_bytes(["retired", retired_codec.as_json(self.retired[obj])]))
        return "sha256:" + h.hexdigest()


def check_replaceable(cur: StateDoc, new: StateDoc, source: Path, label: str) -> None:
    """``state push`` replaces a state only by a newer version of itself (``--force`` skips this)."""
    if cur.lineage != new.lineage:
        raise StateError(
            f"{source} belongs to another state (lineage {new.lineage}) than {label} (lineage {cur.lineage})",
            hint="push it elsewhere, or pass --force",
        )
    if new.serial < cur.serial or (
        new.serial == cur.serial and (new.jobs != cur.jobs or new.retired != cur.retired)
    ):
        raise StateError(
            f"{source} (serial {new.serial}) is older than {label} (serial {cur.serial})",
            hint="`specrunner state pull MANIFEST` the newer one first, or pass --force",
        )


def new_state() -> StateDoc:
    import uuid

    return StateDoc(lineage=str(uuid.uuid4()), serial=0, jobs={})


def _restore_hint(path: Path, data: bytes = b"") -> str:
    backup = backup_path(path)
    if backup.exists():
        return f"the previous version is in {backup}; inspect it and copy it over {path.name} to restore"
    ids = data.count(b'"job_id"')
    return (
        f"restore it from git (`git log -p -- {path.name}`) or fix it by hand; moving it away starts "
        f"from an empty state and submits again every job it recorded (about {ids} with a job id, "
        "counted from its text)"
    )


# top-level fields of format 2 beside version, lineage, serial, jobs
_V2_FIELDS = ("configs", "manifest", "retired")


def decode_state(data: bytes, path: Path) -> StateDoc:
    """Parse and check a state file. Never guesses: anything odd is a StateError."""
    hint = _restore_hint(path, data)
    if not data.strip():
        raise StateError(f"{path}: the state file is empty (truncated?)", hint=hint)
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise StateError(f"{path}: the state file is not UTF-8 text", hint=hint) from None
    except json.JSONDecodeError as e:
        raise StateError(
            f"{path}:{e.lineno}:{e.colno}: the state file is not valid JSON ({e.msg})", hint=hint
        ) from None
    except (ValueError, RecursionError) as e:  # a 5,000-digit number; arrays nested 100,000 deep
        why = "nested too deeply" if isinstance(e, RecursionError) else "a number is too long"
        raise StateError(f"{path}: the state file is not valid JSON ({why})", hint=hint) from None
    if not isinstance(doc, dict):
        raise StateError(f"{path}: the state file must be a JSON object", hint=hint)
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise StateError(f"{path}: the state file has no valid `version`", hint=hint)
    if version > STATE_VERSION:
        raise StateError(
            f"{path}: state format version {version} is newer than this specrunner supports "
            f"({STATE_VERSION}); upgrade specrunner",
            hint=f"upgrade specrunner to read it; or, if the file was edited by hand, {hint}",
        )
    if version < 1:
        raise StateError(f"{path}: unknown state format version {version}", hint=hint)
    lineage, serial, jobs = doc.get("lineage"), doc.get("serial"), doc.get("jobs")
    if not isinstance(lineage, str) or not lineage:
        raise StateError(f"{path}: the state file has no valid `lineage`", hint=hint)
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        raise StateError(f"{path}: the state file has no valid `serial`", hint=hint)
    if not isinstance(jobs, dict):
        raise StateError(f"{path}: `jobs` must be an object keyed by job key", hint=hint)
    extra = set(doc) - {"version", "lineage", "serial", "jobs", *(_V2_FIELDS if version >= 2 else ())}
    if extra:
        raise StateError(f"{path}: unknown top-level field(s) {sorted(extra)} in the state file", hint=hint)
    owner = doc.get("manifest")
    if owner is not None and not (isinstance(owner, str) and owner and "\n" not in owner):
        raise StateError(
            f"{path}: `manifest` (the manifest that owns the state) must be a one-line string", hint=hint
        )
    retired = retired_codec.decode(doc["retired"]) if "retired" in doc else {}
    if isinstance(retired, str):
        raise StateError(f"{path}: {retired}", hint=hint)
    if version >= 2:  # job lines are checked as they are decoded (see StateDoc.jobs)
        compact = CompactLines(doc.get("configs"), jobs, path, hint)
        return StateDoc(
            lineage=lineage,
            serial=serial,
            format_version=version,
            compact=compact,
            owner=owner,
            retired=retired,
        )
    entries: dict[str, LockEntry] = {}
    for key, rec in jobs.items():
        entry = from_record(rec)
        if isinstance(entry, str):
            raise StateError(f"{path}: $.jobs[{json.dumps(key)}]: {entry}", hint=hint)
        entries[key] = entry
    return StateDoc(lineage=lineage, serial=serial, jobs=entries, format_version=version)


class CompactLines:
    """The job lines of a format 2 file, as parsed, with the configs they name; decoded on demand."""

    __slots__ = ("configs", "decoder", "hint", "lines", "path")

    def __init__(self, configs: Any, lines: dict[str, Any], path: Path, hint: str) -> None:
        if not isinstance(configs, dict) or not all(isinstance(v, dict) for v in configs.values()):
            raise StateError(
                f"{path}: `configs` must be an object of rule ids to objects of configs", hint=hint
            )
        self.configs: dict[str, dict[str, Any]] = configs
        self.lines = lines
        self.path = path
        self.hint = hint
        self.decoder = Decoder(configs)

    def record(self, key: str) -> LockEntry:
        """The entry of job ``key`` (a StateError if its line is not valid)."""
        rec = self.decoder.record(key, self.lines[key])
        if isinstance(rec, str):
            where = "" if rec.startswith("$.") else f"$.jobs[{json.dumps(key)}]: "
            raise StateError(f"{self.path}: {where}{rec}", hint=self.hint)
        return rec

    def decode_all(self) -> dict[str, LockEntry]:
        record = self.record
        return {key: record(key) for key in self.lines}

"""Reading a local state: the lock file plus the journal an unfinished run left, replayed onto it.

A journal names the lock file serial it extends (its header); one that extends an older serial was
compacted already and is ignored, one that extends a newer serial (the lock file went backwards) or
another lineage is refused, naming the way out. A torn last line (a crash mid-write) was never
acknowledged and is dropped; damage anywhere else is an error whose hint is ``state repair``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from specrunner.core.errors import StateError
from specrunner.core.record import LockEntry
from specrunner.statefile import retired as retired_codec
from specrunner.statefile.checks import check_config, from_record
from specrunner.statefile.codec import Decoder
from specrunner.statefile.doc import StateDoc, decode_state, encode_state, new_state
from specrunner.statefile.files import journal_path, state_file

JOURNAL_VERSION = 2


def read_state(path: Path, committed: StateDoc | bool | None = False) -> StateDoc | None:
    """The committed state plus any journal left by an unfinished run (read-only).

    ``committed``: the lock file already read by the caller (None: there is none), so that it is
    read and parsed once only.
    """
    doc_or_new = (
        _read_lock_file(path)
        if committed is False
        else (committed if isinstance(committed, StateDoc) else None)
    )
    jpath = journal_path(path)
    if jpath.exists():
        base = doc_or_new or new_state()
        replayed = _replay(jpath, base, path)
        if replayed is not None:
            return replayed
    return doc_or_new


def _read_lock_file(path: Path) -> StateDoc | None:
    real = state_file(path)  # a dangling link is an error, not "no state yet"
    try:
        data = real.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise StateError(f"{path}: is a directory, not a state file; pass a file path to --state") from None
    except OSError as e:
        raise StateError(f"{path}: cannot read the state file: {e.strerror or e}") from None
    return decode_state(data, path)


def _journal_hint(jpath: Path, salvage: tuple[int, int] | None = None) -> str:
    """The way out of a damaged journal: the repair that keeps every readable record comes first."""
    kept, skipped = salvage if salvage is not None else (0, 0)
    counts = (
        f"the {kept} readable records, passing over {skipped} unreadable one(s)"
        if salvage
        else ("every readable record")
    )
    return (
        f"run `specrunner state repair MANIFEST`: it keeps {counts} (a job whose only record is "
        "unreadable is looked up by its tag if its intent survived); moving the journal away instead "
        f"drops all {kept or 'its'} records: the jobs they recorded would be submitted again"
    )


def _salvage_counts(jpath: Path, base: StateDoc, state_path: Path) -> tuple[int, int] | None:
    counts: list[int] = []
    try:
        _replay(jpath, base, state_path, salvage=counts)
    except StateError:
        return None
    return (counts[0], counts[1]) if len(counts) == 2 else None


def _damaged(jpath: Path, where: str, what: str, base: StateDoc, state_path: Path) -> StateError:
    return StateError(f"{where}: {what}", hint=_journal_hint(jpath, _salvage_counts(jpath, base, state_path)))


def _replay(
    jpath: Path, base: StateDoc, state_path: Path, *, salvage: list[int] | None = None
) -> StateDoc | None:
    """Apply a journal to ``base``. Returns None if the journal is stale (already compacted).
    ``salvage`` (``state repair``): pass over unreadable lines; [kept, skipped] is appended to it."""
    try:
        lines = jpath.read_bytes().split(b"\n")
    except OSError as e:
        raise StateError(f"{jpath}: cannot read the state journal: {e.strerror or e}") from None
    if not lines or not lines[0].strip():
        return None
    try:
        header = json.loads(lines[0])
    except (ValueError, RecursionError):  # the header is written atomically: a broken one is damage
        if salvage is not None:  # repair: take it as extending the lock file as it is
            header = {"journal": JOURNAL_VERSION, "lineage": base.lineage, "base_serial": base.serial}
        else:
            raise StateError(
                f"{jpath}:1: the state journal's header is not valid JSON", hint=_journal_hint(jpath)
            ) from None
    if not isinstance(header, dict) or header.get("journal") not in (1, JOURNAL_VERSION):
        raise StateError(
            f"{jpath}: not a specrunner state journal",
            hint="move it away if it does not belong to this state",
        )
    lineage, base_serial = header.get("lineage"), header.get("base_serial")
    if not isinstance(lineage, str) or not isinstance(base_serial, int) or isinstance(base_serial, bool):
        raise StateError(
            f"{jpath}:1: the state journal's header has no valid lineage and base_serial",
            hint=_journal_hint(jpath),
        )
    if lineage != base.lineage and base.serial != 0:
        raise StateError(
            f"{jpath}: the journal belongs to another state (lineage {lineage}), not to "
            f"{state_path} (lineage {base.lineage})",
            hint="move it away if it does not belong to this state",
        )
    if base_serial > base.serial:
        # The lock file went backwards (an older copy or the backup put in its place, or deleted):
        # replaying onto it or ignoring the journal would both forget jobs.
        now = f"is at serial {base.serial}" if state_path.exists() else "is missing"
        raise StateError(
            f"{jpath}: the journal extends lock file serial {base_serial}, but {state_path} {now}: "
            "the lock file was replaced by an older copy or deleted",
            hint=f"put the newer {state_path.name} back "
            "(the journal is replayed onto it automatically, nothing is lost); moving the journal away "
            f"instead drops its {sum(1 for x in lines[1:] if x.strip())} records and every job the "
            f"lock file recorded after serial {base.serial}: those jobs would be submitted again",
        )
    if base_serial < base.serial:
        return None  # written against an older lock file: already compacted
    jobs = dict(base.jobs)
    retired = dict(base.retired)
    configs: dict[str, dict[str, Any]] = {}
    dec = Decoder(configs)
    kept = skipped = 0
    for n, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except (ValueError, RecursionError):  # JSONDecodeError, a cut multi-byte character, ...
            if n == len(lines) or all(not x.strip() for x in lines[n:]):
                break  # a torn last line from a crash mid-write: it was never acknowledged
            if salvage is not None:
                skipped += 1
                continue
            raise _damaged(jpath, f"{jpath}:{n}", "corrupt journal line", base, state_path) from None
        op = entry.get("op") if isinstance(entry, dict) else None
        key = entry.get("key") if isinstance(entry, dict) else None
        if op == "put" and isinstance(key, str) and "entry" in entry:
            rec = dec.record(key, entry["entry"])
            if isinstance(rec, str):
                if salvage is not None:
                    skipped += 1
                    continue
                raise _damaged(jpath, f"{jpath}:{n}", "invalid journal entry", base, state_path)
            jobs[key] = rec
        elif (
            op == "config"
            and isinstance(entry.get("rule"), str)
            and isinstance(entry.get("id"), str)
            and check_config(entry.get("config")) is None
        ):
            configs.setdefault(entry["rule"], {})[entry["id"]] = entry["config"]
        elif (
            op == "put"
            and isinstance(key, str)
            and isinstance(whole := from_record(entry.get("record")), LockEntry)
        ):
            jobs[key] = whole
        elif op == "del" and isinstance(key, str):
            jobs.pop(key, None)
        elif isinstance(entry, dict) and retired_codec.replay(entry, retired):
            pass
        elif salvage is not None:
            skipped += 1
            continue
        else:
            raise _damaged(jpath, f"{jpath}:{n}", "invalid journal entry", base, state_path)
        kept += 1
    if salvage is not None:
        salvage.extend((kept, skipped))
    return StateDoc(
        lineage=lineage,
        serial=base.serial,
        jobs=jobs,
        format_version=base.format_version,
        owner=base.owner,
        retired=retired,
    )


def _raw_or_encoded(path: Path, doc: StateDoc) -> bytes:
    """The lock file's bytes as they are on disk (the backup is a copy), else as we would write them."""
    try:
        return path.read_bytes()
    except OSError:
        return encode_state(doc)

"""Reading a remote state: its journals in OSS (``K.journal/<g>``), parsed and checked.

A generation's journal is JSON lines in one appendable object: a header carrying the state it
starts from (a lock file *block*: a line giving its length, then its bytes), config and put/del
lines, ``commit`` blocks, and a ``sealed_by`` line once a newer generation fenced it. The state is
the newest journal with a header. Damage is named with its object and byte, never skipped: the way
out is ``specrunner state repair`` (``salvage``), which keeps every readable record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from specrunner.core.errors import StateError
from specrunner.core.record import LockEntry
from specrunner.core.retired import Retired
from specrunner.statefile import retired as retired_codec
from specrunner.statefile.checks import check_config, from_record
from specrunner.statefile.codec import Decoder
from specrunner.statefile.doc import StateDoc, decode_state, encode_state
from specrunner.statefile.leaseview import latest_generation, read_lock, repair_hint
from specrunner.statefile.ossobjects import Objects, OssState, line


def block(kind: dict[str, Any], data: bytes) -> bytes:
    return line({**kind, "bytes": len(data)}) + data + b"\n"


@dataclass
class Journal:
    """One generation's journal, parsed."""

    header: dict[str, Any] | None = None
    block: bytes = b""  # the newest lock file bytes in it (b"": no state yet)
    base: StateDoc | None = None  # the block, decoded
    doc: StateDoc | None = None  # the block plus the journal lines after it
    after: int = 0  # journal lines after the newest block
    sealed: bool = False
    length: int = 0
    records: int = 0  # records read
    skipped: int = 0  # unreadable records passed over (salvage only)


class _Damaged(Exception):
    def __init__(self, what: str, pos: int) -> None:
        super().__init__(what)
        self.what, self.pos = what, pos


def parse_journal(data: bytes, loc: OssState, gen: int, *, salvage: bool = False) -> Journal:
    """Parse one journal. A damaged one raises StateError naming the object, the byte and what
    ``state repair`` would keep; ``salvage`` (that repair) passes over unreadable records instead."""
    try:
        return _parse(data, loc, gen, salvage)
    except _Damaged as e:
        where = f"{loc.url} ({loc.journal_key(gen)})"
        kept = _parse(data, loc, gen, True)
        keys = len(kept.doc.jobs) if kept.doc is not None else 0
        raise StateError(
            f"{where}: {e.what} at byte {e.pos}: the journal of a run is damaged",
            hint=f"run `specrunner state repair MANIFEST`: it keeps the {kept.records} readable records "
            f"({keys} jobs with what they recorded) and passes over {kept.skipped} unreadable one(s); "
            "a job whose only record is unreadable is looked up by its tag if its intent survived, "
            f"else submitted again (at most {kept.skipped}). Do not delete the object: that drops "
            "every job it recorded",
        ) from None


def _parse(data: bytes, loc: OssState, gen: int, salvage: bool) -> Journal:
    j = Journal(length=len(data))
    pos = 0
    jobs: dict[str, LockEntry] = {}
    retired: dict[str, Retired] = {}
    configs: dict[str, dict[str, Any]] = {}  # journal format 2: a rule config line before its first put
    decoder = Decoder(configs)
    while pos < len(data):
        start = pos
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl
        try:
            if nl < 0:
                raise _Damaged("a journal record without its end", start)
            try:
                rec = json.loads(data[pos:nl])
            except (ValueError, RecursionError):
                raise _Damaged("a corrupt journal record", start) from None
            if not isinstance(rec, dict):
                raise _Damaged("a corrupt journal record", start)
            pos = nl + 1
            if "journal" in rec or "commit" in rec:
                n = rec.get("bytes")
                if not isinstance(n, int) or n < 0 or pos + n + 1 > len(data):
                    raise _Damaged("a state block without its bytes", start)
                block = data[pos : pos + n]
                try:
                    base = decode_state(block, loc.path) if block else None
                except StateError:
                    raise _Damaged("an unreadable state block", start) from None
                if base is None:
                    lineage = rec.get("lineage")
                    if not isinstance(lineage, str) or not lineage:
                        raise _Damaged("a journal header without a lineage", start)
                if "journal" in rec:
                    if j.header is not None:
                        raise _Damaged("two journal headers", start)
                    j.header = rec
                pos += n + 1
                j.block, j.base = block, base
                jobs = dict(base.jobs) if base else {}
                retired = dict(base.retired) if base else {}
                j.after = 0
            elif "sealed_by" in rec:
                j.sealed = True
            elif (
                rec.get("op") == "config"
                and isinstance(rec.get("rule"), str)
                and isinstance(rec.get("id"), str)
                and check_config(rec.get("config")) is None
            ):
                configs.setdefault(rec["rule"], {})[rec["id"]] = rec["config"]  # what later puts use
            elif rec.get("op") == "put" and isinstance(rec.get("key"), str) and "entry" in rec:
                full = decoder.record(rec["key"], rec["entry"])
                if isinstance(full, str):
                    raise _Damaged("an invalid journal record", start)
                jobs[rec["key"]] = full
                j.after += 1
            elif (
                rec.get("op") == "put"
                and isinstance(rec.get("key"), str)
                and isinstance(whole := from_record(rec.get("record")), LockEntry)
            ):
                jobs[rec["key"]] = whole
                j.after += 1
            elif rec.get("op") == "del" and isinstance(rec.get("key"), str):
                jobs.pop(rec["key"], None)
                j.after += 1
            elif retired_codec.replay(rec, retired):
                j.after += 1
            else:
                raise _Damaged("an invalid journal record", start)
            j.records += 1
        except _Damaged:
            if not salvage:
                raise
            j.skipped += 1
            pos = end + 1
    if j.header is not None:
        lineage = j.base.lineage if j.base else str(j.header["lineage"])
        serial = j.base.serial if j.base else 0
        j.doc = StateDoc(lineage, serial, jobs, owner=j.base.owner if j.base else None, retired=retired)
    return j


def wrote_journal(objs: Objects, gen: int) -> bool:
    """Whether generation ``gen``'s holder said (in its lease) that it started its journal."""
    view = read_lock(objs, gen)
    return view is not None and any(x.get("journal") for x in view.lines)


def missing(objs: Objects, gen: int) -> StateError:
    key = objs.loc.journal_key(gen)
    return StateError(
        f"{objs.loc.url}: the journal {key} is missing, although its run wrote it (deleted or moved "
        "by hand?): every job it recorded would be submitted again",
        hint=f"put the object back (OSS versioning, a backup) as it was; or, to go on without it, "
        f"{repair_hint().removeprefix('run ')} -- the jobs only that journal recorded are then lost",
    )


def read_journals(objs: Objects, top: int) -> tuple[int, Journal] | None:
    """The newest journal with a header at or below generation ``top`` (read-only)."""
    for g in range(top, 0, -1):
        data = objs.get(objs.loc.journal_key(g))
        if data is None:
            if wrote_journal(objs, g):
                raise missing(objs, g)
            continue
        j = parse_journal(data, objs.loc, g)
        if j.header is not None:
            return g, j
    return None


def read_newest(objs: Objects) -> tuple[int, Journal] | None:
    """The newest journal with a header. A journal is deleted only once a newer generation exists:
    if one appeared while reading, read again from it."""
    for _ in range(5):
        top = latest_generation(objs)
        found = read_journals(objs, top)
        if not objs.exists(objs.loc.lock_key(top + 1)):
            return found
    return found


def read_remote(loc: OssState, objs: Objects | None = None) -> StateDoc | None:
    """The state as the newest generation left it (committed plus journaled), without locking."""
    objs = objs or Objects(loc)
    found = read_newest(objs)
    if found is None:
        return None
    doc = found[1].doc
    return doc if doc is not None and (found[1].block or doc.jobs) else None


def pull(loc: OssState) -> bytes | None:
    """The current lock file: the newest block's own bytes when nothing was journaled after it."""
    objs = Objects(loc)
    found = read_newest(objs)
    if found is None:
        return None
    j = found[1]
    if j.after == 0:
        return j.block or None
    assert j.doc is not None
    return encode_state(j.doc) if j.doc.jobs or j.block else None

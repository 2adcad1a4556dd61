"""The entries a run records: a submission's tag (it travels in UserData: a lost answer or a crashed run
is resolved by looking the tag up) and a job's entry as the service reports it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from specrunner.backends.base import RemoteJob
from specrunner.core.jobs import Job, expected_outputs, implied_count
from specrunner.core.mtsrules import tile_cells, vtt_object
from specrunner.core.record import LockEntry, job_entry
from specrunner.core.templates import object_parts


def new_tag() -> str:
    return "sr-" + uuid.uuid4().hex[:16]


def compose_user_data(user_data: str | None, tag: str) -> str:
    return f"{user_data}-{tag}" if user_data else tag


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


#: (bucket, location, prefix) -> the object keys under it, sorted (``backends.open_lister``).
ObjectLister = Callable[[str, str, str], list[str]]


def outcome_record(job: Job, remote: RemoteJob, lister: ObjectLister | None = None) -> LockEntry:
    """The state record of ``job`` as the service reports it (outputs listed once it succeeded).

    Count and TileCount are optional in answers (the documented samples omit them). A single snapshot
    is known from the request. Otherwise a count the answer did not give is never invented from the
    Num asked for (points past the end of the video are dropped, an Interval alone yields as many as
    the video allows): the objects really written are listed from the output prefix with ``lister``,
    and without one (or when the listing fails) the outputs stay unknown (count None, none recorded)."""
    outputs: list[str] = []
    count = remote.count
    if remote.state == "Success":
        tile = job.request["SnapshotConfig"].get("TileOut")
        per = int(tile["Lines"]) * int(tile["Columns"]) if tile else None
        keep = tile is None or tile.get("IsKeepCellPic", "true") != "false"
        if count is None and implied_count(job.request) == 1:
            count = 1
        if count is None:
            listed = listed_outputs(job, lister, keep)
            if listed is not None:
                outputs, count = listed
        else:
            step = _int_or_none(tile.get("CellSelStep")) if tile else None
            cells = remote.tile_count if remote.tile_count is not None else tile_cells(count, step)
            outputs = expected_outputs(job.output_template, job.tile_template, count, cells, keep, per)
        if outputs and str(job.request["SnapshotConfig"].get("Format", "")).lower() == "vtt":
            outputs = sorted({*outputs, _vtt_output(job)})  # the WebVTT index, next to the first snapshot
    return job_entry(
        job,
        job_id=remote.id,
        state=remote.state,
        code=remote.code,
        message=remote.message,
        count=count,
        tile_count=remote.tile_count,
        outputs=outputs,
    )


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _vtt_output(job: Job) -> str:
    """``bucket/folder/{FileName}.vtt`` of a ``Format: vtt`` job (``core.mtsrules.vtt_object``)."""
    input_object = job.input_ref.partition("/")[2]
    return vtt_object(job.output_template, object_parts(input_object)[1])


def listed_outputs(
    job: Job, lister: ObjectLister | None, keep_cells: bool
) -> tuple[list[str], int | None] | None:
    """The objects ``job`` wrote, as found under its output prefixes, and its snapshot count (the
    cells found; None when cells are not kept); None when they cannot be listed."""
    if lister is None:
        return None
    cfg = job.request["SnapshotConfig"]
    found: list[str] = []
    cells: int | None = None
    wanted = [(job.output_template, cfg.get("OutputFile") or {}, True)]
    if job.tile_template is not None:
        wanted.append((job.tile_template, cfg.get("TileOutputFile") or {}, False))
    for template, where, is_cells in wanted:
        if is_cells and not keep_cells and job.tile_template is not None:
            continue
        bucket, _, object_template = template.partition("/")
        prefix = object_template.split("{", 1)[0]
        pattern = _template_re(object_template)
        try:
            keys = lister(bucket, str(where.get("Location") or ""), prefix)
        except Exception:  # no listing: the outputs stay unknown, never guessed
            return None
        matched = [f"{bucket}/{k}" for k in keys if pattern.fullmatch(k)]
        found += matched
        if is_cells:
            cells = len(matched)
    return sorted(set(found)), cells


def _template_re(template: str) -> re.Pattern[str]:
    """The objects a resolved output template yields: {Count} / {TileCount} as 5 digits (as MTS numbers
    them), {SnapshotTime} as digits."""
    parts = re.split(r"(\{Count\}|\{TileCount\}|\{SnapshotTime\})", template)
    out = [
        r"\d{5}" if p in ("{Count}", "{TileCount}") else r"\d+" if p == "{SnapshotTime}" else re.escape(p)
        for p in parts
    ]
    return re.compile("".join(out))

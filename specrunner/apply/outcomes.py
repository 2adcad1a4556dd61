"""The entries a run records: a submission's tag (it travels in UserData: a lost answer or a crashed run
is resolved by looking the tag up) and a job's entry as the service reports it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from specrunner.backends.base import RemoteJob
from specrunner.core.jobs import Job, expected_outputs, implied_count
from specrunner.core.record import LockEntry, job_entry


def new_tag() -> str:
    return "sr-" + uuid.uuid4().hex[:16]


def compose_user_data(user_data: str | None, tag: str) -> str:
    return f"{user_data}-{tag}" if user_data else tag


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def outcome_record(job: Job, remote: RemoteJob) -> LockEntry:
    """The state record of ``job`` as the service reports it (outputs listed once it succeeded)."""
    outputs: list[str] = []
    count = remote.count
    if remote.state == "Success":
        tile = job.request["SnapshotConfig"].get("TileOut")
        per = int(tile["Lines"]) * int(tile["Columns"]) if tile else None
        keep = tile is None or tile.get("IsKeepCellPic", "true") != "false"
        # Count and TileCount are optional in answers (the documented samples omit them): a single
        # snapshot is known from the request; otherwise Num is what was asked for (at most that many).
        implied = implied_count(job.request)
        if count is None and implied == 1:
            count = 1
        shots = count if count is not None else implied or 0
        cells = remote.tile_count if remote.tile_count is not None else shots
        outputs = expected_outputs(job.output_template, job.tile_template, shots, cells, keep, per)
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

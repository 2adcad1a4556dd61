"""Simulate mode (``specrunner emulator --simulate``): an in-memory job table instead of the engine.

Inputs are validated as the service does (the input key, the output template, ``{Count}`` when Num is
not 1, UserData's length) but no video is decoded and nothing is written: a synchronous job is a
Success at once; an async job is Submitted, then Snapshoting, then a Success ``seconds`` after its
Submit, with Count = Num (or 1) and TileCount = Count for a tiled job. It is for benchmarks of the
runner itself, whose jobs need no real input files.

Invariants: the table is shared by every request under one lock and lives as long as the emulator
object (a restart of the same object keeps it); answers are copies, never the stored jobs.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specrunner.engine.service import (
    ObjectStore,
    ServiceError,
    fill,
    list_page,
    loads_obj,
    object_location,
    parse_config,
    utc_now,
)


@dataclass
class _SimJob:
    job: dict[str, Any]
    created: float
    is_async: bool
    count: int
    tiled: bool


def _finish(sim: _SimJob) -> None:
    sim.job.update(
        State="Success",
        Code="",
        Message="",
        Count=str(sim.count),
        TileCount=str(sim.count if sim.tiled else 0),
    )


class SimulatedJobs:
    """A job store (as ``engine.service.SnapshotService`` is one) whose jobs only pretend to run."""

    def __init__(self, root: Path, seconds: float) -> None:
        self.root = Path(root)
        self.seconds = seconds
        self._jobs: dict[str, _SimJob] = {}
        self._lock = threading.Lock()

    def submit_snapshot_job(
        self, input: Any, snapshot_config: Any, pipeline_id: str | None = None, user_data: str | None = None
    ) -> dict[str, Any]:
        inp = loads_obj(input, "Input")
        cfg = loads_obj(snapshot_config, "SnapshotConfig")
        in_bucket, in_loc, in_key = object_location(inp, "Input")
        store = ObjectStore(self.root)
        store.path(in_bucket, in_key)
        if "OutputFile" not in cfg or not isinstance(cfg["OutputFile"], dict):
            raise ServiceError("InvalidParameter.NullValue", "SnapshotConfig.OutputFile is required")
        out_bucket, _, out_key = object_location(cfg["OutputFile"], "OutputFile")
        if not out_key.lower().endswith(".jpg"):
            raise ServiceError("InvalidParameter", "OutputFile.Object must be a .jpg")
        spec = parse_config(cfg)
        store.path(out_bucket, fill(out_key, in_key, Count="00001", SnapshotTime="0"))
        if spec.num not in (None, 1) and "{Count}" not in out_key:
            raise ServiceError("InvalidParameter", "OutputFile.Object must contain {Count} when Num != 1")
        if user_data is not None and len(user_data.encode()) > 1024:
            raise ServiceError("InvalidParameter.OutOfRange", "UserData is longer than 1024 bytes")
        count = spec.num or 1
        job = {
            "Id": uuid.uuid4().hex,
            "State": "Submitted",
            "Code": "",
            "Message": "",
            "Count": "0",
            "TileCount": "0",
            "UserData": user_data or "",
            "PipelineId": pipeline_id or "",
            "CreationTime": utc_now(),
            "Input": {"Bucket": in_bucket, "Location": in_loc, "Object": inp["Object"]},
            "SnapshotConfig": cfg,
        }
        sim = _SimJob(job, time.monotonic(), spec.is_async, count, spec.tile is not None)
        if not spec.is_async:
            _finish(sim)
        with self._lock:
            self._jobs[str(job["Id"])] = sim
        return dict(job)

    def query_snapshot_job_list(
        self,
        ids: list[str] | None = None,
        *,
        page_token: str | None = None,
        max_page_size: int | None = None,
        state: str | None = None,
        start: str | None = None,
        end: str | None = None,
        pipeline_id: str | None = None,
    ) -> dict[str, Any]:
        rid = uuid.uuid4().hex.upper()
        with self._lock:
            if ids:
                found, missing = [], []
                for jid in ids:
                    sim = self._jobs.get(jid)
                    if sim is None:
                        missing.append(jid)
                    else:
                        found.append(self._view(sim))
                out: dict[str, Any] = {"RequestId": rid, "SnapshotJobList": {"SnapshotJob": found}}
                if missing:
                    out["NonExistSnapshotJobIds"] = {"String": missing}
                return out
            jobs = [self._view(s) for s in self._jobs.values()]
        return list_page(
            jobs,
            rid,
            page_token=page_token,
            max_page_size=max_page_size,
            state=state,
            start=start,
            end=end,
            pipeline_id=pipeline_id,
        )

    def _view(self, sim: _SimJob) -> dict[str, Any]:
        """The job as it stands now (moved on if its time has come)."""
        if sim.job["State"] not in ("Success", "Fail"):
            if time.monotonic() - sim.created >= self.seconds:
                _finish(sim)
            else:
                sim.job["State"] = "Snapshoting"
        view: dict[str, Any] = json.loads(json.dumps(sim.job))
        return view

"""Simulate mode (``specrunner emulator --simulate``): an in-memory job table instead of the engine.

Inputs are validated as the service does (by the engine's ``JobTable``: the input key, the output
template, ``{Count}`` when Num is not 1, UserData's length) but no video is decoded: a synchronous
job is a Success at once; an async job is Submitted, then Snapshoting, then a Success ``seconds``
after its Submit, with Count = Num (or 1) and TileCount the cells of a tiled job (every
``CellSelStep``-th snapshot). When it succeeds, its output objects are written into the OSS store (a
few bytes each, naming the job and the frame; named as the engine names them), so a refresh finds
what the job wrote. It is for benchmarks of the runner itself, whose jobs need no real input files.

Invariants: the table is shared by every request under one lock and lives as long as the emulator
object (a restart of the same object keeps it); answers are copies, never the stored jobs.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from specrunner.core.mtsrules import tile_cells
from specrunner.engine.api import fill, object_location
from specrunner.engine.errors import ServiceError
from specrunner.engine.jobtable import JobTable
from specrunner.engine.objects import ObjectStore
from specrunner.engine.spec import SnapshotSpec


@dataclass
class _SimJob:
    job: dict[str, Any]
    created: float
    is_async: bool
    count: int
    tiled: bool
    cell_sel_step: int | None = None


def _finish(sim: _SimJob, store: ObjectStore | None = None) -> None:
    if store is not None:
        _write(store, sim)
    sim.job.update(
        State="Success",
        Code="",
        Message="",
        Count=str(sim.count),
        TileCount=str(tile_cells(sim.count, sim.cell_sel_step) if sim.tiled else 0),
    )


def _write(store: ObjectStore, sim: _SimJob) -> None:
    """The finished job's objects: each frame (unless tiled without keeping cells) and each sprite."""
    cfg, job_id = sim.job["SnapshotConfig"], sim.job["Id"]
    in_key = unquote(str(sim.job["Input"]["Object"]))
    try:
        bucket, _, tpl = object_location(cfg["OutputFile"], "OutputFile")
        tile = cfg.get("TileOut") if sim.tiled else None
        if tile is None or str(tile.get("IsKeepCellPic", "true")).lower() != "false":
            for i in range(1, sim.count + 1):
                key = fill(tpl, in_key, Count=f"{i:05d}", SnapshotTime="0")
                store.write(bucket, key, f"simulated {job_id} frame {i}\n".encode())
        if tile is not None:
            per = int(tile.get("Lines", 10)) * int(tile.get("Columns", 10))
            t_bucket, _, t_tpl = object_location(cfg["TileOutputFile"], "TileOutputFile")
            cells = tile_cells(sim.count, sim.cell_sel_step)
            for i in range(1, -(-cells // per) + 1):
                key = fill(t_tpl, in_key, TileCount=f"{i:05d}", Count=f"{i:05d}", SnapshotTime="0")
                store.write(t_bucket, key, f"simulated {job_id} sprite {i}\n".encode())
    except (ServiceError, KeyError, TypeError, ValueError, OSError):  # a bucket not there: nothing written
        return


class SimulatedJobs(JobTable):
    """A job table (as ``engine.service.SnapshotService`` is one) whose jobs only pretend to run."""

    def __init__(self, root: Path, seconds: float) -> None:
        self.root = Path(root)
        super().__init__(ObjectStore(self.root))
        self.seconds = seconds
        self._jobs: dict[str, _SimJob] = {}
        self._lock = threading.Lock()

    def _accept(self, job: dict[str, Any], spec: SnapshotSpec) -> dict[str, Any]:
        step = spec.tile.cell_sel_step if spec.tile is not None else None
        sim = _SimJob(job, time.monotonic(), spec.is_async, spec.num or 1, spec.tile is not None, step)
        if not spec.is_async:
            _finish(sim, self.store)
        with self._lock:
            self._jobs[str(job["Id"])] = sim
        return dict(job)

    def _find(self, jid: str) -> dict[str, Any] | None:
        with self._lock:
            sim = self._jobs.get(jid)
            return None if sim is None else self._view(sim)

    def _all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._view(s) for s in self._jobs.values()]

    def _view(self, sim: _SimJob) -> dict[str, Any]:
        """The job as it stands now (moved on if its time has come)."""
        if sim.job["State"] not in ("Success", "Fail"):
            if time.monotonic() - sim.created >= self.seconds:
                _finish(sim, self.store)
            else:
                sim.job["State"] = "Snapshoting"
        view: dict[str, Any] = json.loads(json.dumps(sim.job))
        return view

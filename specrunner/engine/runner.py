"""Running one snapshot job: cut its snapshots from the input file, write its outputs, set its outcome."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote

from specrunner.core.mtsrules import tile_cells
from specrunner.engine.api import parse_config
from specrunner.engine.errors import ServiceError, VideoError
from specrunner.engine.frames import cut
from specrunner.engine.objects import ObjectStore
from specrunner.engine.outputs import write_outputs


def run_job(store: ObjectStore, job: dict[str, Any], deadline: float | None) -> None:
    """Cut the snapshots of ``job`` and set its final State/Code/Count (in place).

    ``deadline`` is a :func:`time.monotonic` value (None: no limit); past it the job fails with
    ``SnapshotTimeOut``.
    """
    cfg = job["SnapshotConfig"]
    try:
        spec = parse_config(cfg)
        in_key = unquote(job["Input"]["Object"])
        src = store.path(job["Input"]["Bucket"], in_key)
        result = cut(src, spec, deadline=deadline)
        write_outputs(store, job, spec, result, in_key)
    except VideoError as e:
        # The service names the object, never a path on this machine (the message goes into lock files).
        message = str(e)
        if "src" in locals():
            message = message.replace(os.fspath(src), f"{job['Input']['Bucket']}/{in_key}")
        job.update(State="Fail", Code=e.code, Message=message, Count="0", TileCount="0")
        return
    except ServiceError as e:
        job.update(State="Fail", Code=e.code, Message=e.message, Count="0", TileCount="0")
        return
    except OSError as e:  # writing the outputs failed (disk full, permissions): the service's InternalError
        job.update(
            State="Fail",
            Code="InternalError",
            Message=f"writing the snapshots failed: {e.strerror or e}",
            Count="0",
            TileCount="0",
        )
        return
    job.update(
        State="Success",
        Code="",
        Message="",
        Count=str(len(result.frames)),
        TileCount=str(tile_cells(len(result.frames), spec.tile.cell_sel_step) if spec.tile else 0),
    )

"""SubmitSnapshotJob and QuerySnapshotJobList over a table of jobs, whatever keeps the table.

:class:`JobTable` checks a Submit as the service does (the input and output keys, the output template,
``{Count}`` when an async job's Num is not 1, UserData's length), makes the new job's record, and
answers queries by id or in listing mode (:func:`list_page`). What happens to a job, and where its
record lives, is its subclass's: the engine's :class:`~specrunner.engine.service.SnapshotService` cuts
real snapshots and keeps records in files; the emulator's simulation keeps them in memory and only
pretends to run them.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from typing import Any

from specrunner.core.mtsrules import count_problem
from specrunner.engine.api import STATES, fill, loads_obj, object_location, parse_config, parse_time, utc_now
from specrunner.engine.errors import ServiceError
from specrunner.engine.objects import ObjectStore
from specrunner.engine.spec import SnapshotSpec

MAX_QUERY_IDS = 10
"""SnapshotJobIds takes at most this many ids."""


class JobTable(ABC):
    """The two MTS snapshot actions; subclasses keep the jobs (``_accept``, ``_find``, ``_all``)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def submit_snapshot_job(
        self, input: Any, snapshot_config: Any, pipeline_id: str | None = None, user_data: str | None = None
    ) -> dict[str, Any]:
        inp = loads_obj(input, "Input")
        cfg = loads_obj(snapshot_config, "SnapshotConfig")
        in_bucket, in_loc, in_key = object_location(inp, "Input")
        self.store.path(in_bucket, in_key)  # validates the key
        if "OutputFile" not in cfg or not isinstance(cfg["OutputFile"], dict):
            raise ServiceError("InvalidParameter.NullValue", "SnapshotConfig.OutputFile is required")
        out_bucket, _, out_key = object_location(cfg["OutputFile"], "OutputFile")
        if not out_key.lower().endswith(".jpg"):
            raise ServiceError("InvalidParameter", "OutputFile.Object must be a .jpg")
        spec = parse_config(cfg)
        self.store.path(out_bucket, fill(out_key, in_key, Count="00001", SnapshotTime="0"))
        problem = count_problem(spec.is_async, spec.num, out_key)  # an Interval alone takes several too
        if problem:
            raise ServiceError("InvalidParameter", problem)
        if user_data is not None and len(user_data.encode()) > 1024:
            raise ServiceError("InvalidParameter.OutOfRange", "UserData is longer than 1024 bytes")
        job: dict[str, Any] = {
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
        return self._accept(job, spec)

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
        if ids:
            if len(ids) > MAX_QUERY_IDS:
                raise ServiceError("InvalidParameter", f"SnapshotJobIds takes at most {MAX_QUERY_IDS} ids")
            found, missing = [], []
            for jid in ids:
                job = self._find(jid)
                if job is None:
                    missing.append(jid)
                else:
                    found.append(job)
            out: dict[str, Any] = {"RequestId": rid, "SnapshotJobList": {"SnapshotJob": found}}
            if missing:
                out["NonExistSnapshotJobIds"] = {"String": missing}
            return out
        return list_page(
            self._all(),
            rid,
            page_token=page_token,
            max_page_size=max_page_size,
            state=state,
            start=start,
            end=end,
            pipeline_id=pipeline_id,
        )

    @abstractmethod
    def _accept(self, job: dict[str, Any], spec: SnapshotSpec) -> dict[str, Any]:
        """Take the new (valid) ``job`` into the table; return Submit's answer."""

    @abstractmethod
    def _find(self, jid: str) -> dict[str, Any] | None:
        """The job with id ``jid`` as a query answers it (a copy), or None."""

    @abstractmethod
    def _all(self) -> list[dict[str, Any]]:
        """Every job as a query answers it (copies), in any order."""


def list_page(
    jobs: list[dict[str, Any]],
    rid: str,
    *,
    page_token: str | None,
    max_page_size: Any,
    state: str | None,
    start: str | None,
    end: str | None,
    pipeline_id: str | None,
) -> dict[str, Any]:
    """QuerySnapshotJobList's listing mode over ``jobs``: filters, newest first, NextPageToken paging."""
    try:
        size = 30 if max_page_size in (None, "") else int(max_page_size)
    except (TypeError, ValueError):
        raise ServiceError(
            "InvalidParameter.NumberFormatInvalid", "MaximumPageSize must be an integer"
        ) from None
    if not 1 <= size <= 300:
        raise ServiceError("InvalidParameter.OutOfRange", "MaximumPageSize must be in [1, 300]")
    if state and state not in STATES:
        raise ServiceError("InvalidParameter", f"State must be one of {', '.join(STATES)}")
    lo = parse_time(start, "StartOfJobCreatedTimeRange") if start else None
    hi = parse_time(end, "EndOfJobCreatedTimeRange") if end else None
    selected = []
    for job in jobs:
        created = parse_time(job["CreationTime"], "CreationTime")
        if (
            (state and job["State"] != state)
            or (pipeline_id and job.get("PipelineId") != pipeline_id)
            or (lo and created < lo)
            or (hi and created > hi)
        ):
            continue
        selected.append(job)
    selected.sort(key=lambda j: (j["CreationTime"], j["Id"]), reverse=True)  # newest first
    offset = 0
    if page_token:
        offset = next((i for i, j in enumerate(selected) if j["Id"] == page_token), -1)
        if offset < 0:
            raise ServiceError("InvalidParameter", "NextPageToken is invalid or expired")
    out: dict[str, Any] = {
        "RequestId": rid,
        "SnapshotJobList": {"SnapshotJob": selected[offset : offset + size]},
    }
    if offset + size < len(selected):
        out["NextPageToken"] = selected[offset + size]["Id"]
    return out

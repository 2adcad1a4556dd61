"""The two MTS actions, SubmitSnapshotJob and QuerySnapshotJobList, over a job store.

The job store is the local engine (``engine/service.py``: real snapshots) or the simulation
(``emulator/mts_simulate.py``); both are the engine's ``JobTable`` (``engine/jobtable.py``) and
answer its ``submit_snapshot_job`` / ``query_snapshot_job_list``. On top of the store this module
applies what the service does to the request and the answer:

- ``Input`` and ``SnapshotConfig`` are mandatory, and the documented rules are checked
  (``emulator/documented.py``) against the endpoint's region (``region``; None: the request's
  ``RegionId``);
- at most 10 ids per query; ``MaximumPageSize`` must be an integer; listing mode with its filters;
- ``answers``: the answer style (``emulator/documented.py``): ``full``, ``documented`` (the 2014 sample
  answers' fields only, lists wrapped) or ``documented-2021`` (lists flat, bare job codes);
- a job younger than ``not_found_seconds`` is reported in ``NonExistSnapshotJobIds`` by queries
  (eventual consistency); ``NonExistSnapshotJobIds`` is answered only when non-empty;
- every scalar in an answer is a string.

Invariants: the store's errors are :class:`ServiceError` (turned into API errors by the caller); the
store's answers are never answered as they are: the caller's RequestId replaces the store's.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from specrunner.emulator import documented
from specrunner.emulator.mts_protocol import MAX_QUERY_IDS, ApiError, missing, stringify
from specrunner.engine.jobtable import JobTable


class MtsActions:
    """The actions' rules; the job store is given per call (it exists only while the emulator runs)."""

    def __init__(self, *, region: str | None, answers: str, not_found_seconds: float) -> None:
        if answers not in documented.ANSWER_STYLES:
            raise ValueError(f"answers must be one of {', '.join(documented.ANSWER_STYLES)}")
        self.region = region
        self.answers = answers
        self.not_found_seconds = not_found_seconds
        self.job_code: str | None = None  # every job answered failed with this code (Faults.job_code)
        self._born: dict[str, float] = {}  # job id -> when it was submitted (with not_found_seconds)
        self._lock = threading.Lock()

    def submit(self, jobs: JobTable, params: dict[str, str], rid: str) -> dict[str, Any]:
        for name in ("Input", "SnapshotConfig"):
            if not params.get(name):
                raise missing(name)
        pipeline = params.get("PipelineId") or None
        user_data = params.get("UserData")
        documented.check_submit(params, self.region or params.get("RegionId") or None)
        job = jobs.submit_snapshot_job(params["Input"], params["SnapshotConfig"], pipeline, user_data)
        if self.not_found_seconds > 0:
            with self._lock:
                self._born[str(job["Id"])] = time.monotonic()
        shown = documented.shown_job(job, self.answers, self.job_code)
        return {"RequestId": rid, "SnapshotJob": stringify(shown)}

    def query(self, jobs: JobTable, params: dict[str, str], rid: str) -> dict[str, Any]:
        ids = [s.strip() for s in (params.get("SnapshotJobIds") or "").split(",") if s.strip()]
        if len(ids) > MAX_QUERY_IDS:
            raise ApiError(
                "InvalidParameter", f"SnapshotJobIds takes at most {MAX_QUERY_IDS} ids, got {len(ids)}."
            )
        size_s = params.get("MaximumPageSize")
        size = None
        if size_s not in (None, ""):
            try:
                size = int(size_s)
            except ValueError:
                raise ApiError(
                    "InvalidParameter.NumberFormatInvalid", "MaximumPageSize must be an integer."
                ) from None
        out = jobs.query_snapshot_job_list(
            ids or None,
            page_token=params.get("NextPageToken") or None,
            max_page_size=size,
            state=params.get("State") or None,
            start=params.get("StartOfJobCreatedTimeRange") or None,
            end=params.get("EndOfJobCreatedTimeRange") or None,
            pipeline_id=params.get("PipelineId") or None,
        )
        out["RequestId"] = rid
        out = self._documented_view(out)
        if not (out.get("NonExistSnapshotJobIds") or {}).get("String"):
            out.pop("NonExistSnapshotJobIds", None)
        answer: dict[str, Any] = stringify(documented.shaped_query(out, self.answers))
        return answer

    def _documented_view(self, out: dict[str, Any]) -> dict[str, Any]:
        """A query answer, lean if asked, with jobs younger than ``not_found_seconds`` not found yet."""
        lst = out.get("SnapshotJobList")
        jobs = lst.get("SnapshotJob") if isinstance(lst, dict) else None
        if not isinstance(jobs, list):
            return out
        kept, unborn = [], []
        now = time.monotonic()
        for job in jobs:
            born = self._born.get(str(job.get("Id")))
            if born is not None and now - born < self.not_found_seconds:
                unborn.append(str(job["Id"]))
                continue
            kept.append(documented.shown_job(job, self.answers, self.job_code))
        out["SnapshotJobList"] = {"SnapshotJob": kept}
        if unborn:
            missing_ids = (out.get("NonExistSnapshotJobIds") or {}).get("String") or []
            out["NonExistSnapshotJobIds"] = {"String": [*missing_ids, *unborn]}
        return out

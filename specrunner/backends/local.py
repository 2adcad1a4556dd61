"""The local backend: the embedded engine, called in-process (no HTTP, no credentials)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from specrunner.backends.base import MAX_QUERY_IDS, RemoteJob
from specrunner.core.codes import classify
from specrunner.core.errors import PermanentBackendError, TransientBackendError
from specrunner.engine.api import TIME_FORMAT
from specrunner.engine.errors import ServiceError
from specrunner.engine.service import SnapshotService


def service_error(e: ServiceError) -> PermanentBackendError | TransientBackendError:
    transient = classify(e.code, e.status) != "permanent"
    cls = TransientBackendError if transient else PermanentBackendError
    return cls(f"{e.code}: {e.message}", code=e.code, http_status=e.status)


class LocalBackend:
    name = "local"
    not_found_grace = 0.0  # the local engine is consistent: a job exists as soon as Submit returns
    uncertain_grace = 0.0  # and a Submit that returned did all it will do

    def __init__(self, root: Path, *, sync_timeout: float = 6.0, workers: int | None = None) -> None:
        self.root = Path(root)
        self.service = SnapshotService(self.root, sync_timeout=sync_timeout, workers=workers)

    def submit(
        self, request: dict[str, Any], user_data: str, gate: Callable[[], None] | None = None
    ) -> RemoteJob:
        if gate is not None:
            gate()
        try:
            job = self.service.submit_snapshot_job(
                json.dumps(request["Input"]),
                json.dumps(request["SnapshotConfig"]),
                request.get("PipelineId"),
                user_data,
            )
        except ServiceError as e:
            raise service_error(e) from None
        except OSError as e:  # the engine's own records could not be written
            raise TransientBackendError(
                f"the local engine could not record the job: {e.strerror or e}", code="InternalError"
            ) from None
        return RemoteJob.from_api(job)

    def query(self, ids: Sequence[str]) -> tuple[list[RemoteJob], list[str]]:
        assert len(ids) <= MAX_QUERY_IDS
        try:
            r = self.service.query_snapshot_job_list(list(ids))
        except ServiceError as e:
            raise service_error(e) from None
        jobs = [RemoteJob.from_api(j) for j in r["SnapshotJobList"]["SnapshotJob"]]
        return jobs, list(r.get("NonExistSnapshotJobIds", {}).get("String", []))

    def find_by_tag(self, tag: str, *, pipeline_id: str | None, since: datetime) -> RemoteJob | None:
        start = (since - timedelta(minutes=5)).strftime(TIME_FORMAT)
        token = None
        while True:
            try:
                r = self.service.query_snapshot_job_list(
                    None, page_token=token, max_page_size=300, start=start, pipeline_id=pipeline_id
                )
            except ServiceError as e:
                raise service_error(e) from None
            for job in r["SnapshotJobList"]["SnapshotJob"]:
                if tag in (job.get("UserData") or ""):
                    return RemoteJob.from_api(job)
            token = r.get("NextPageToken")
            if not token:
                return None

    def close(self) -> None:
        self.service.close()

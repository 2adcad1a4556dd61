"""The Backend interface: the two MTS snapshot actions, as the executor sees them.

Both backends (the embedded local engine and Alibaba Cloud MTS) implement it, so the executor
cannot tell them apart. Requests and responses are MTS-shaped: ``request`` is
``{"Input": {...}, "SnapshotConfig": {...}, "PipelineId"?: str}`` with URL-encoded object keys,
and a job is the service's ``AliyunSnapshotJob`` (every scalar a string).

Errors are the project's own (``specrunner.core.errors``): TransientBackendError (retry),
UncertainSubmitError (a Submit whose answer was lost: look it up before resubmitting) and
PermanentBackendError.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from specrunner.core.errors import TransientBackendError
from specrunner.core.jobstates import KNOWN_STATES

MAX_QUERY_IDS = 10  # QuerySnapshotJobList takes at most 10 ids per call

# A job id the service calls non-existent right after its Submit may not have reached the query side
# yet (eventual consistency): it is failed as JobNotFound only once this many seconds have passed.
NOT_FOUND_GRACE = 30.0


@dataclass(frozen=True)
class RemoteJob:
    """One AliyunSnapshotJob, decoded."""

    id: str
    state: str  # Submitted | Snapshoting | Success | Fail (an unknown state is read as Snapshoting)
    code: str = ""
    message: str = ""
    count: int | None = None
    tile_count: int | None = None
    user_data: str = ""
    creation_time: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, job: dict[str, Any]) -> RemoteJob:

        def num(v: Any) -> int | None:
            try:
                n = int(v) if v not in (None, "") else None
            except (TypeError, ValueError):
                return None
            return n if n is not None and 0 <= n <= 1_000_000 else None

        if not isinstance(job, dict) or not job.get("Id") or not job.get("State"):
            raise TransientBackendError("the service answered with a job that has no Id or State")
        state, message = str(job["State"]), str(job.get("Message") or "")
        if state not in KNOWN_STATES:
            # e.g. "Analyzing" (listed on the English data types page): not final as far as we know.
            # This job is polled again like a running one; the other jobs of its batch are unaffected.
            message = message or f"the service reports State {state[:40]!r}; still waiting for it to finish"
            state = "Snapshoting"
        return cls(
            id=str(job["Id"]),
            state=state,
            code=str(job.get("Code") or ""),
            message=message,
            count=num(job.get("Count")),
            tile_count=num(job.get("TileCount")),
            user_data=str(job.get("UserData") or ""),
            creation_time=str(job.get("CreationTime") or ""),
            raw=job,
        )


class Backend(Protocol):
    name: str
    #: Seconds after an uncertain Submit (its answer lost) before a lookup that misses the job proves
    #: it absent: the request may still be in the service's hands until its read timeout.
    uncertain_grace: float
    #: Seconds a just-submitted job may be unknown to Query (the service's eventual consistency).
    not_found_grace: float

    def submit(
        self, request: dict[str, Any], user_data: str, gate: Callable[[], None] | None = None
    ) -> RemoteJob:
        """SubmitSnapshotJob. Sync jobs come back final; async ones Submitted.

        ``gate`` is called immediately before the request is written (after any wait of the
        backend's own: a connection, a handshake); whatever it raises is raised unchanged, and
        nothing is sent."""
        ...

    def query(self, ids: Sequence[str]) -> tuple[list[RemoteJob], list[str]]:
        """QuerySnapshotJobList by ids (at most MAX_QUERY_IDS): (jobs found, ids that do not exist)."""
        ...

    def find_by_tag(self, tag: str, *, pipeline_id: str | None, since: datetime) -> RemoteJob | None:
        """Listing mode: the job created since ``since`` whose UserData carries ``tag``, if any."""
        ...

    def close(self) -> None: ...

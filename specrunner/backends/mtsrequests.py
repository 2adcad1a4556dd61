"""Building the V1 SDK's MTS requests: SubmitSnapshotJob, QuerySnapshotJobList by ids and by time.

Input and SnapshotConfig are compact JSON (``separators=(",", ":")``, UTF-8 kept), as the emulator
and the conformance tests expect them; the endpoint and protocol are set when the request is sent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aliyunsdkmts.request.v20140618.QuerySnapshotJobListRequest import QuerySnapshotJobListRequest
from aliyunsdkmts.request.v20140618.SubmitSnapshotJobRequest import SubmitSnapshotJobRequest


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def submit_request(request: dict[str, Any], user_data: str) -> SubmitSnapshotJobRequest:
    req = SubmitSnapshotJobRequest()
    req.set_Input(_compact(request["Input"]))
    req.set_SnapshotConfig(_compact(request["SnapshotConfig"]))
    if request.get("PipelineId"):
        req.set_PipelineId(request["PipelineId"])
    if user_data:
        req.set_UserData(user_data)
    return req


def query_request(ids: Sequence[str]) -> QuerySnapshotJobListRequest:
    req = QuerySnapshotJobListRequest()
    req.set_SnapshotJobIds(",".join(ids))
    return req


def listing_request(
    start: str, end: str, *, pipeline_id: str | None, page_size: int, token: str | None
) -> QuerySnapshotJobListRequest:
    """One page of the jobs created between ``start`` and ``end`` (UTC, ``YYYY-MM-DDThh:mm:ssZ``)."""
    req = QuerySnapshotJobListRequest()
    req.set_StartOfJobCreatedTimeRange(start)
    req.set_EndOfJobCreatedTimeRange(end)
    if pipeline_id:
        req.set_PipelineId(pipeline_id)
    req.set_MaximumPageSize(page_size)
    if token:
        req.set_NextPageToken(token)
    return req

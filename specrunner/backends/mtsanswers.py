"""Reading MTS answers: the JSON body of a 200, the jobs in it, the ids it says do not exist.

A 200 that is not a JSON object, or that carries an error ``Code``, is not trusted: for a Submit
the job may exist (UncertainSubmitError: it is looked up by its tag), for a query it is retried
(TransientBackendError, code BadAnswer). A job's Code and Message (recorded in the lock file and the
run file) could echo the request, so they are redacted.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, cast

from specrunner.backends.base import RemoteJob
from specrunner.core.errors import TransientBackendError, UncertainSubmitError

Redact = Callable[[str], str]


def answer_body(raw: Any, *, submit: bool, where: str) -> dict[str, Any]:
    """The body of a 200 answer as a JSON object, or the error it stands for."""
    try:
        body = json.loads(raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw)
    except (ValueError, TypeError, UnicodeDecodeError):
        body = None
    bad = None
    if not isinstance(body, dict):
        bad = "an empty or non-JSON body"
    elif body.get("Code"):
        bad = f"error {body.get('Code')}"
    if bad:
        rid = body.get("RequestId") if isinstance(body, dict) else None
        if submit:
            raise UncertainSubmitError(
                f"{where}: the service answered 200 with {bad} to a Submit; "
                "the job may exist and will be looked up by its tag",
                code="BadAnswer",
                http_status=200,
                request_id=rid,
            )
        raise TransientBackendError(
            f"{where}: the service answered 200 with {bad}",
            code="BadAnswer",
            http_status=200,
            request_id=rid,
        )
    return cast(dict[str, Any], body)  # json.loads is untyped; any non-dict body raised above


def submitted_job(body: dict[str, Any], redact: Redact, where: str) -> RemoteJob:
    """The job a Submit's answer carries; none: the job may exist all the same."""
    job = body.get("SnapshotJob")
    if not isinstance(job, dict) or not job.get("Id") or not job.get("State"):
        raise UncertainSubmitError(
            f"{where}: the service answered the Submit without a job; it may exist and will be "
            "looked up by its tag",
            code="NoJobInAnswer",
            http_status=200,
            request_id=body.get("RequestId"),
        )
    return remote_job(job, redact)


def listed_jobs(body: dict[str, Any], redact: Redact) -> list[RemoteJob]:
    lst = body.get("SnapshotJobList")
    jobs = lst.get("SnapshotJob") if isinstance(lst, dict) else None
    if jobs is None:
        if "SnapshotJobList" in body or "NonExistSnapshotJobIds" in body:
            return []
        raise TransientBackendError(
            "the service answered 200 without a job list",
            code="BadAnswer",
            http_status=200,
            request_id=body.get("RequestId"),
        )
    if isinstance(jobs, dict):  # a single job, as some XML->JSON gateways render lists of one
        jobs = [jobs]
    return [remote_job(j, redact) for j in jobs]


def missing_ids(body: dict[str, Any]) -> list[str]:
    ne = body.get("NonExistSnapshotJobIds")
    ids = ne.get("String") if isinstance(ne, dict) else None
    if isinstance(ids, str):
        return [ids]
    return [str(i) for i in ids or []]


def remote_job(job: dict[str, Any], redact: Redact) -> RemoteJob:
    """A job from the service's answer, its Code and Message redacted."""
    remote = RemoteJob.from_api(job)
    code, message = redact(remote.code), redact(remote.message)
    if (code, message) == (remote.code, remote.message):
        return remote
    return dataclasses.replace(remote, code=code, message=message)

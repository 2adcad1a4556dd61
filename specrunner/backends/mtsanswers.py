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
    """The jobs of a QuerySnapshotJobList answer, in either documented shape: wrapped as the SDK models
    and the older pages show it (``{"SnapshotJob": [...]}``, one job possibly unwrapped by an XML to
    JSON gateway) or flat as the 2021 page's sample (``[...]``). No list at all is an empty answer
    only when the answer names missing ids instead; anything else is a bad answer, retried."""
    lst = body.get("SnapshotJobList")
    jobs: Any = None
    if isinstance(lst, list):
        jobs = lst
    elif isinstance(lst, dict):
        jobs = lst.get("SnapshotJob", [] if not lst else None)
        if isinstance(jobs, dict):  # a single job, as some XML->JSON gateways render lists of one
            jobs = [jobs]
    elif lst is None and "NonExistSnapshotJobIds" in body:
        jobs = []
    if not isinstance(jobs, list) or not all(isinstance(j, dict) for j in jobs):
        raise _bad_answer(body, "without a job list in a documented shape")
    return [remote_job(j, redact) for j in jobs]


def missing_ids(body: dict[str, Any]) -> list[str]:
    """The ids a QuerySnapshotJobList answer calls non-existent: wrapped (``{"String": [...]}``, one id
    possibly unwrapped) or flat (``[...]``, the 2021 page); absent when every id exists."""
    ne = body.get("NonExistSnapshotJobIds")
    ids = ne.get("String", [] if not ne else None) if isinstance(ne, dict) else ne
    if isinstance(ids, str):
        return [ids]
    if ids is None and "NonExistSnapshotJobIds" not in body:
        return []
    if not isinstance(ids, list) or not all(isinstance(i, str | int) for i in ids):
        raise _bad_answer(body, "with NonExistSnapshotJobIds in no documented shape")
    return [str(i) for i in ids]


def _bad_answer(body: dict[str, Any], what: str) -> TransientBackendError:
    return TransientBackendError(
        f"the service answered 200 {what}",
        code="BadAnswer",
        http_status=200,
        request_id=body.get("RequestId"),
    )


def remote_job(job: dict[str, Any], redact: Redact) -> RemoteJob:
    """A job from the service's answer, its Code and Message redacted."""
    remote = RemoteJob.from_api(job)
    code, message = redact(remote.code), redact(remote.message)
    if (code, message) == (remote.code, remote.message):
        return remote
    return dataclasses.replace(remote, code=code, message=message)

"""Finding the job an uncertain Submit may have created, by the tag its UserData carries.

A Submit whose answer was lost (a timeout, a reset connection) or an intent left by a crashed run may
or may not have created a job. The tag specrunner put in the job's UserData finds it
(QuerySnapshotJobList's listing mode, ``Backend.find_by_tag``). A miss is proof of absence only once
the service has had its read timeout (``grace``) to finish creating the job: until then, look again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from specrunner.apply.ratelimit import TokenBucket, metered
from specrunner.backends.base import Backend, RemoteJob
from specrunner.core.errors import UncertainSubmitError


def lookup_by_tag(
    backend: Backend,
    query_bucket: TokenBucket | None,
    stop: threading.Event,
    sleep: Callable[[float], None],
    tag: str,
    pipeline: str | None,
    since: datetime,
    uncertain_at: float,
    grace: float,
) -> RemoteJob | None:
    """The job carrying ``tag``, or None once ``grace`` seconds passed since ``uncertain_at`` (a
    monotonic time) without it. Interrupted before that (``stop``): :class:`UncertainSubmitError`,
    so the caller keeps the intent and the next run looks again."""
    while True:
        found = metered(query_bucket, lambda: backend.find_by_tag(tag, pipeline_id=pipeline, since=since))
        remaining = grace - (time.monotonic() - uncertain_at)
        if found is not None or remaining <= 0:
            return found
        if stop.is_set():
            # Interrupted: a miss is not yet proof of absence, so keep the intent for the next run.
            raise UncertainSubmitError(
                "interrupted before the job could be looked up by its tag; the next run looks it up"
            )
        if sleep is time.sleep:
            stop.wait(min(remaining, 2.0))
        else:
            sleep(min(remaining, 2.0))

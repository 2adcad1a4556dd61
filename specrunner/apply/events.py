"""What the executor reports while it runs: a closed union of small, frozen event types.

The executor emits them in this order per job: ``Submitting`` -> ``Submitted`` (or ``Adopted`` when
an interrupted submission was found by its tag) -> ``Finished``; or ``Failed`` when the job could
not be submitted (or failed at once). ``Retry`` reports a retried call, ``Start`` opens the run,
``Poll`` / ``PollError`` / ``Timeout`` report the polling rounds. Events only describe: the state
file is written before an event is emitted, and nothing a listener does can change the run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Start:
    total: int  # jobs in the plan
    submit: int  # jobs this run will submit (or recover by tag)
    poll: int  # known job ids this run will only poll


@dataclass(frozen=True, slots=True)
class Submitting:
    key: str


@dataclass(frozen=True, slots=True)
class Submitted:
    key: str
    job_id: str
    state: str  # the service's state in the Submit answer (sync jobs come back final)
    adopted: bool  # found by its tag after an uncertain Submit, not created by this call


@dataclass(frozen=True, slots=True)
class Adopted:
    key: str
    job_id: str  # an interrupted submission's job, found by its tag


@dataclass(frozen=True, slots=True)
class Retry:
    key: str | None  # None: a query round
    error: str


@dataclass(frozen=True, slots=True)
class Failed:
    key: str
    code: str
    message: str
    permanent: bool  # the same request would fail again (not resubmitted by the next apply)


@dataclass(frozen=True, slots=True)
class Finished:
    key: str
    job_id: str
    state: str  # Success | Fail
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Poll:
    pending: int  # jobs still running after this round


@dataclass(frozen=True, slots=True)
class PollError:
    error: str


@dataclass(frozen=True, slots=True)
class Timeout:
    pending: int  # jobs left running when --timeout ran out


Event = Start | Submitting | Submitted | Adopted | Retry | Failed | Finished | Poll | PollError | Timeout

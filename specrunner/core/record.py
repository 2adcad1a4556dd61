"""The lock record: one job of the state as specrunner records it. Pure data, documented field by field.

Like Terraform's state types, this is the contract between apply (which writes records), the planner
(which compares them with the manifest's jobs) and the lock file codec (which stores them compactly,
``statefile/lockfile.py``). In memory a record is the plain ``dict`` form (``LockEntry.to_record``),
which is what the state file's JSON holds; :class:`LockEntry` is its typed, documented view.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from specrunner.core.attrdiff import plain_request

if TYPE_CHECKING:
    from specrunner.core.jobs import Job

# The fields every record has (the others are optional: user_data, fallback, intent, attempts).
RECORD_FIELDS = (
    "fingerprint",
    "mode",
    "input",
    "rule",
    "request",
    "job_id",
    "state",
    "code",
    "message",
    "count",
    "tile_count",
    "outputs",
)


@dataclass(frozen=True, slots=True)
class LockEntry:
    """One job of the state, as recorded (the typed view of a job record; the file stores it compactly).

    Like Terraform's ``states.ResourceInstanceObject``: what specrunner knows about one job, enough to
    plan without calling the service.
    """

    #: ``sha256:<hex>`` of the request and the user's UserData that were (or are being) sent; the
    #: planner compares it with the manifest's job to decide between ``noop`` and ``replace``.
    fingerprint: str
    #: ``sync`` (SubmitSnapshotJob answers with the frames) or ``async`` (a job to poll).
    mode: str
    #: The input as ``bucket/object`` (plain, for people); its request Input is derived from it.
    input: str
    #: The rule id (the part of the job key after ``::``).
    rule: str
    #: The exact MTS request: ``{"Input": {...}, "SnapshotConfig": {...}, "PipelineId"?: str}``.
    request: Mapping[str, Any]
    #: The service's job id; None until the service accepted a submission.
    job_id: str | None = None
    #: The service's state: Submitted, Snapshoting (running), Success, Fail (final); None before.
    state: str | None = None
    #: The service's error code when the job (or its submission) failed, else "".
    code: str = ""
    #: The service's error message when the job failed, else "".
    message: str = ""
    #: Frames the service reports as written (its ``Count``); None until known.
    count: int | None = None
    #: Cells tiled into sprites (the service's ``TileCount``); 0 when untiled, None until known.
    tile_count: int | None = None
    #: Every object a successful job wrote (``bucket/key``), sorted; [] unless ``state`` is Success.
    outputs: tuple[str, ...] = ()
    #: The user's own UserData (the run tag is added when sending), when the rule sets one.
    user_data: str | None = None
    #: Why an ``auto`` single-frame job runs async (e.g. ``SnapshotTimeOut``), when it does.
    fallback: str | None = None
    #: A submission in flight: ``{"tag": <UserData tag>, "since": <UTC>, "last"?: <UTC>}``; a job with
    #: an intent and no job id is recovered by looking the tag up before submitting again.
    intent: Mapping[str, str] | None = None
    #: Submissions attempted (older state files only).
    attempts: int | None = None
    #: Every other field of the record, kept as read (none today).
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> LockEntry:
        """The typed view of a (checked) job record."""
        known = {k: rec[k] for k in rec if k in _ENTRY_FIELDS}
        if "outputs" in known:
            known["outputs"] = tuple(known["outputs"])
        return cls(**known, extra={k: v for k, v in rec.items() if k not in _ENTRY_FIELDS})

    def to_record(self) -> dict[str, Any]:
        """The record as the executor writes it (optional fields only when set)."""
        rec: dict[str, Any] = {k: getattr(self, k) for k in RECORD_FIELDS}
        rec["outputs"] = list(self.outputs)
        for k in _OPTIONAL_FIELDS:
            if getattr(self, k) is not None:
                rec[k] = getattr(self, k)
        rec.update(self.extra)
        return rec


_OPTIONAL_FIELDS = ("user_data", "fallback", "intent", "attempts")
_ENTRY_FIELDS = frozenset((*RECORD_FIELDS, *_OPTIONAL_FIELDS))


def job_record(job: Job, intent: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """The state record of ``job``; ``fields`` fill in what the service said."""
    rec: dict[str, Any] = {
        "fingerprint": job.fingerprint,
        "mode": job.mode,
        "input": job.input_ref,
        "rule": job.rule_id,
        "request": plain_request(job.request),
        "job_id": None,
        "state": None,
        "code": "",
        "message": "",
        "count": None,
        "tile_count": None,
        "outputs": [],
    }
    if job.user_data:
        rec["user_data"] = job.user_data
    if job.fallback:
        rec["fallback"] = job.fallback
    if intent:
        rec["intent"] = intent
    rec.update(fields)
    return rec

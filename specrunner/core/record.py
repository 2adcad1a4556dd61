"""The lock record: one job of the state as specrunner records it. Typed, documented field by field.

Like Terraform's state types, :class:`LockEntry` is the contract between apply (which writes entries),
the planner (which compares them with the manifest's jobs), the readers (``state list/show``, the
report, the run results) and the lock file codec (``statefile/codec.py`` with ``statefile/checks.py``),
which alone converts between an entry and its JSON forms (the compact job line, the whole record of
format 1 and of journals). In memory the state holds ``dict[str, LockEntry]``; nothing outside the
codec reads a record as a dict.

An entry is never changed once built: a new outcome is a new entry (:meth:`LockEntry.evolve`). It is
a slotted class, not a frozen one, because a million of them are built when a whole lock file is
decoded, and a frozen dataclass pays ``object.__setattr__`` per field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from specrunner.core.attrdiff import plain_request
from specrunner.core.jobstates import FINAL_STATES, RUNNING_STATES

if TYPE_CHECKING:
    from specrunner.core.jobs import Job

# What a recorded job amounts to, for people (the report, `state list`): decided here only.
Status = Literal["Success", "Fail", "Running", "Interrupted", "Not run"]
STATUSES: tuple[Status, ...] = ("Fail", "Interrupted", "Running", "Not run", "Success")

# The fields every record has, in the order of the record's JSON form (the others are optional).
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
OPTIONAL_FIELDS = ("user_data", "fallback", "intent", "attempts", "seen", "seen_at", "input_etag")

#: What a listing says of one object: (size in bytes, ETag as OSS gives it: the upper-case MD5 hex of
#: a simple upload; the local engine's content fingerprint is that same MD5).
Seen = tuple[int, str]


@dataclass(slots=True)
class LockEntry:
    """One job of the state, as recorded (the file stores it compactly, see ``statefile/codec.py``).

    Like Terraform's ``states.ResourceInstanceObject``: what specrunner knows about one job, enough to
    plan without calling the service. Read-only by convention: build a changed copy with ``evolve``.
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
    #: Entries decoded from one config share its SnapshotConfig object: never change it in place.
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
    #: Every object a successful job wrote (``bucket/key``), sorted; () unless ``state`` is Success.
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
    #: What the buckets held of ``outputs`` when they were listed, output by output (same order):
    #: (size, ETag). None: never listed (a state written before outputs were verified), then a refresh
    #: checks only that they exist, and the next apply records them.
    seen: tuple[Seen, ...] | None = None
    #: When ``seen`` was listed (UTC ``YYYY-MM-DDThh:mm:ssZ``); set with ``seen``.
    seen_at: str | None = None
    #: The input's ETag (OSS) or content fingerprint (the local engine: the same MD5) when the job was
    #: submitted; None when unknown (older states): the input is then not compared.
    input_etag: str | None = None

    @property
    def status(self) -> Status:
        """What this job amounts to: its final state, Running, Interrupted (a submission in flight
        whose answer was never recorded) or Not run (refused before the service accepted it)."""
        st = self.state
        if st in FINAL_STATES:
            return st  # type: ignore[return-value]  # "Success" | "Fail"
        if st in RUNNING_STATES:
            return "Running"
        return "Interrupted" if self.intent else "Not run"

    @property
    def interrupted(self) -> bool:
        """A submission was sent (or about to be) and no job id came back: look it up by its tag."""
        return bool(self.intent) and not self.job_id

    @property
    def shown_state(self) -> str | None:
        """The state column of ``state list``: the service's state, "interrupted", or None."""
        return self.state or ("interrupted" if self.intent else None)

    def evolve(self, **changes: Any) -> LockEntry:
        """A copy with ``changes`` (the entry itself is never changed)."""
        return replace(self, **changes)

    def to_record(self) -> dict[str, Any]:
        """The record's JSON form (every field of ``RECORD_FIELDS``, optional fields only when set)."""
        rec: dict[str, Any] = {
            "fingerprint": self.fingerprint,
            "mode": self.mode,
            "input": self.input,
            "rule": self.rule,
            "request": self.request,
            "job_id": self.job_id,
            "state": self.state,
            "code": self.code,
            "message": self.message,
            "count": self.count,
            "tile_count": self.tile_count,
            "outputs": list(self.outputs),
        }
        if self.user_data is not None:
            rec["user_data"] = self.user_data
        if self.fallback is not None:
            rec["fallback"] = self.fallback
        if self.intent is not None:
            rec["intent"] = self.intent
        if self.attempts is not None:
            rec["attempts"] = self.attempts
        if self.seen is not None:
            rec["seen"] = [list(s) for s in self.seen]
        if self.seen_at is not None:
            rec["seen_at"] = self.seen_at
        if self.input_etag is not None:
            rec["input_etag"] = self.input_etag
        return rec

    def observed(self) -> list[tuple[str, Seen | None]]:
        """Each output with what its last listing saw of it (None: existence only, never listed)."""
        seen = self.seen
        if seen is None or len(seen) != len(self.outputs):
            return [(o, None) for o in self.outputs]
        return list(zip(self.outputs, seen, strict=True))


def job_entry(job: Job, intent: Mapping[str, str] | None = None, **fields: Any) -> LockEntry:
    """The entry of ``job`` before (or, with ``fields`` from the service's answer, after) it ran."""
    if "outputs" in fields:
        fields["outputs"] = tuple(fields["outputs"])
    if fields.get("seen") is not None:
        fields["seen"] = tuple((int(n), str(e)) for n, e in fields["seen"])
    return LockEntry(
        fingerprint=job.fingerprint,
        mode=job.mode,
        input=job.input_ref,
        rule=job.rule_id,
        request=plain_request(job.request),
        user_data=job.user_data or None,
        fallback=job.fallback or None,
        intent=intent or None,
        **fields,
    )

"""The planner: desired jobs vs the state file -> one action per job, with a reason. Pure code.

The plan is data, and apply obeys only the data: ``Change.action`` decides what happens,
``Change.reason`` only explains it to people, and ``Change.diff`` lists what changed attribute by
attribute in the manifest's terms (``attrdiff``), never cut.

A job whose last run failed with a *permanent* code (``codes.classify``) and whose request is
unchanged gets the action ``failed``: it is not a change, apply does not resubmit it, and
``retry`` (``only_failed``) forces it. Transient and uncertain failures are still ``retry``.

``--target`` / ``--exclude`` patterns that match no job key, input id or rule id are refused
(:class:`TargetError`, naming the pattern and the closest keys): a typo must not read as "no changes".
"""

from __future__ import annotations

import fnmatch
import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from specrunner.core import shellwords
from specrunner.core.attrdiff import AttrDiff, diff
from specrunner.core.codes import PERMANENT, classify
from specrunner.core.errors import SpecrunnerError
from specrunner.core.jobs import Job, split_key
from specrunner.core.jobstates import RUNNING_STATES
from specrunner.core.record import LockEntry

# What apply does with a job. The executor obeys this alone (never the prior record):
#   create / replace / retry: submit (a new tag each time)
#   poll:    a known job id that is still running: query it, never submit
#   recover: an interrupted submission (an intent with no job id): look the job up by its tag and
#            adopt it; submit (with the same tag) only if the service has no such job
#   forget:  drop from the state; failed: keep the failure (permanent code, same request); noop
#   moved:   a `moved:` entry renames the record (the same request): renamed in the state, no submit
#            (a moved job whose request changed keeps its own action, with ``moved_from`` set)
Action = Literal["create", "noop", "replace", "poll", "recover", "retry", "forget", "moved", "failed"]
ACTIONS: tuple[Action, ...] = (
    "create",
    "replace",
    "retry",
    "poll",
    "recover",
    "forget",
    "moved",
    "failed",
    "noop",
)
# How people see them: "resume" groups poll and recover (the plan's summary line, JSON "action").
Shown = Literal["create", "noop", "replace", "resume", "retry", "forget", "moved", "failed"]
SHOWN: tuple[Shown, ...] = ("create", "replace", "retry", "resume", "forget", "moved", "failed", "noop")
_SHOWN_AS: dict[str, Shown] = {"poll": "resume", "recover": "resume"}
SYMBOLS = {
    "create": "+",
    "replace": "-/+",
    "retry": "↻",
    "resume": "~",
    "poll": "~",
    "recover": "~",
    "forget": ".",
    "moved": "→",
    "failed": "!",
    "noop": " ",
}
SUBMITTING: tuple[Action, ...] = ("create", "replace", "retry")
NOT_CHANGES: tuple[Action, ...] = ("noop", "failed")


def shown(action: str) -> Shown:
    """The name people see for an action ("poll" and "recover" are both shown as "resume")."""
    # Callers hold an Action as str (executor's JobResult); any action but poll/recover is its own Shown.
    return _SHOWN_AS.get(action, action)  # type: ignore[arg-type]


class TargetError(SpecrunnerError):
    """A --target / --exclude pattern matches nothing."""


@dataclass(frozen=True)
class Change:
    key: str
    action: Action
    reason: str
    mode: str  # sync | async (of the job that will run, or the recorded one for forget/poll)
    job: Job | None  # the desired job (None for forget)
    prior: LockEntry | None = field(default=None, compare=False)  # the job as the state records it
    diff: tuple[AttrDiff, ...] = field(default=(), compare=False)  # replace: what changed
    moved_from: str | None = None  # a `moved:` entry: the key the state records the job under

    @property
    def submits(self) -> bool:
        return self.action in SUBMITTING

    @property
    def shown(self) -> Shown:
        return shown(self.action)


class Unchanged(Protocol):
    """Jobs known to be up to date whose changes are built only when asked for (``Plan.changes``)."""

    def __len__(self) -> int: ...

    def changes(self) -> list[Change]:
        """Their ``noop`` changes (job and prior record built), sorted by key."""
        ...


class Plan:
    """One change per job, sorted by key.

    ``unchanged`` (optional) holds up-to-date jobs as a count, built into ``noop`` changes only when
    something lists them (``changes``, ``by_action("noop")``): the summary of a million-job no-op plan
    costs nothing per job. ``active`` is every other change.
    """

    __slots__ = ("_all", "_unchanged", "active")

    def __init__(self, changes: Iterable[Change] = (), unchanged: Unchanged | None = None) -> None:
        self.active: tuple[Change, ...] = tuple(changes)
        self._unchanged = unchanged if unchanged is not None and len(unchanged) else None
        self._all: tuple[Change, ...] | None = self.active if self._unchanged is None else None

    @property
    def changes(self) -> tuple[Change, ...]:
        if self._all is None:
            assert self._unchanged is not None
            merged = heapq.merge(self.active, self._unchanged.changes(), key=lambda c: c.key)
            self._all = tuple(merged)
        return self._all

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plan) and self.changes == other.changes

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Plan({self.counts()})"

    def by_action(self, action: Action | Shown) -> list[Change]:
        """Changes with this action; "resume" gives both poll and recover changes."""
        pool = self.changes if action == "noop" else self.active
        return [c for c in pool if c.action == action or c.shown == action]

    def groups(self, *, unchanged: bool = False) -> Iterator[tuple[Shown, list[Change]]]:
        """(shown action, its changes) in the order plans show them, empty ones left out; ``noop`` only
        with ``unchanged`` (a million up-to-date changes are built only when something lists them)."""
        for action in SHOWN:
            if action == "noop" and not unchanged:
                continue
            changes = self.by_action(action)
            if changes:
                yield action, changes

    def counts(self) -> dict[str, int]:
        """Changes per shown action (the summary line), plus "poll" and "recover" apart."""
        out: dict[str, int] = dict.fromkeys(SHOWN, 0)
        out.update(poll=0, recover=0)
        for c in self.active:
            out[c.shown] += 1
            if c.shown != c.action:
                out[c.action] += 1
        if self._unchanged is not None:
            out["noop"] += len(self._unchanged)
        if not out["moved"]:  # only plans with `moved:` changes count them (the others read as before)
            del out["moved"]
        return out

    def recorded(self) -> int:
        """How many changes concern a job the state records (every unchanged one does)."""
        n = sum(1 for c in self.active if c.prior is not None)
        return n + (len(self._unchanged) if self._unchanged is not None else 0)

    def __len__(self) -> int:
        return len(self.active) + (len(self._unchanged) if self._unchanged is not None else 0)

    @property
    def has_changes(self) -> bool:
        return any(c.action not in NOT_CHANGES for c in self.active)


def _diff_request(prior: LockEntry, job: Job) -> tuple[str, tuple[AttrDiff, ...]]:
    """What changed between the recorded request and the job's, as a reason and per attribute."""
    old = prior.request
    if not old:
        return "the rule or input changed", ()
    diffs = tuple(diff(old, job.request, old_user_data=prior.user_data, new_user_data=job.user_data))
    if not diffs:
        return "the request changed", ()
    return "; ".join(d.text() for d in diffs), diffs


def _match(key: str, globs: Iterable[str]) -> bool:
    """Whether a glob matches ``key``, its input id or its rule id."""
    iid, rid = split_key(key)
    return any(
        fnmatch.fnmatchcase(key, g) or fnmatch.fnmatchcase(iid, g) or fnmatch.fnmatchcase(rid, g)
        for g in globs
    )


def _check_globs(keys: list[str], flag: str, globs: Iterable[str]) -> None:
    """A glob that matches nothing is refused (a typo must not read as "no changes")."""
    for g in globs:
        if not any(_match(k, [g]) for k in keys):
            raise TargetError(
                f"{flag} {g!r} matches no job key, input id or rule id" + _closest(g, keys),
                hint=keys_hint(),
            )


def keys_hint(manifest: str | None = None) -> str:
    """The hint for a glob or key that names no job: the command that lists the keys (``MANIFEST``
    until the CLI fills in the one given)."""
    m = "MANIFEST" if manifest is None else shellwords.path(manifest)
    return f"job keys are <input id>::<rule id>; `specrunner plan {m}` lists them"


def select(keys: Iterable[str], targets: Iterable[str] = (), excludes: Iterable[str] = ()) -> set[str]:
    """Job keys matching ``--target`` globs (by job key, input id or rule id) minus ``--exclude``."""
    targets, excludes = list(targets), list(excludes)
    if not targets and not excludes:
        return set(keys)
    keys = list(keys)
    _check_globs(keys, "--target", targets)
    _check_globs(keys, "--exclude", excludes)
    return {k for k in keys if (not targets or _match(k, targets)) and not _match(k, excludes)}


def _closest(pattern: str, keys: list[str]) -> str:
    import difflib

    names = sorted(set(keys) | {p for k in keys for p in split_key(k)})
    close = difflib.get_close_matches(pattern, names, n=3, cutoff=0.5)
    if not close:
        return "" if names else " (the manifest and the state have no jobs)"
    return "; closest: " + ", ".join(close)


def make_plan(
    jobs: Iterable[Job],
    state_jobs: Mapping[str, LockEntry],
    *,
    targets: Iterable[str] = (),
    excludes: Iterable[str] = (),
    only_failed: bool = False,
    replace: Iterable[str] = (),
    moved: Mapping[str, str] | None = None,
    drift: Mapping[str, str] | None = None,
) -> Plan:
    """One change per selected job. ``replace`` (``--replace`` globs, by job key, input id or rule
    id): those jobs of the manifest are submitted again whatever the state says (Terraform's
    ``-replace``); a glob that matches no job of the manifest is refused. ``moved``: job key -> the
    key the state records it under (``core.moves.apply_moved``; ``state_jobs`` is the renamed view).
    ``drift``: state key -> why the buckets no longer hold what it recorded (the refresh), see
    ``decide``."""
    desired = {j.key: j for j in jobs}
    all_keys = set(desired) | set(state_jobs)
    selected = select(all_keys, targets, excludes)
    replace = tuple(replace)
    if replace:
        _check_globs(sorted(desired), "--replace", replace)
    changes = []
    for key in sorted(selected):
        prior = state_jobs.get(key)
        job = desired.get(key)
        drifted = drift.get(moved[key] if moved and key in moved else key) if drift else None
        change = decide(key, job, prior, force_failed=only_failed, drift=drifted)
        if job is not None and prior is not None and replace and _match(key, replace):
            change = forced(key, job, prior, change)
        if moved and key in moved:
            change = moved_change(change, moved[key])
        if only_failed and change.action != "retry" and not (drifted and change.submits):
            continue  # (a failed job whose input changed is replaced: retry runs it too)
        changes.append(change)
    return Plan(tuple(changes))


def moved_change(decided: Change, source: str) -> Change:
    """The change of a job a `moved:` entry renames: ``moved`` when it is otherwise up to date (the
    record is renamed, nothing is submitted), else its own action, saying where it moved from."""
    if decided.action == "noop":
        reason = f"moved from {source}: renamed in the state, nothing submitted"
        return Change(
            decided.key, "moved", reason, decided.mode, decided.job, decided.prior, moved_from=source
        )
    return Change(
        decided.key,
        decided.action,
        f"moved from {source}; {decided.reason}",
        decided.mode,
        decided.job,
        decided.prior,
        decided.diff,
        moved_from=source,
    )


def forced(key: str, job: Job, prior: LockEntry, decided: Change) -> Change:
    """The change of a job named by ``--replace``: submitted again whatever its state (a changed
    request keeps its attribute diff; a job still running is left to finish, as for any replace)."""
    if decided.action == "replace":
        return Change(
            key,
            "replace",
            decided.reason + " (and --replace)",
            decided.mode,
            decided.job,
            prior,
            decided.diff,
        )
    what = "replaced on request (--replace)"
    if prior.state in RUNNING_STATES and prior.job_id:
        what += f"; job {prior.job_id} is still {prior.state}: it is left to finish"
    run = decided.job or job
    return Change(key, "replace", what, run.mode, run, prior)


def decide(
    key: str,
    job: Job | None,
    prior: LockEntry | None,
    *,
    force_failed: bool = False,
    drift: str | None = None,
) -> Change:
    """The change of one job. ``drift``: why the buckets no longer hold what the finished job recorded
    (an output missing or changed, its input changed; ``ops.refresh``): the job is replaced, a failed
    one too (planned again without ``retry``)."""
    if job is None:
        assert prior is not None
        return Change(
            key,
            "forget",
            "no longer in the manifest: dropped from the state, nothing deleted",
            prior.mode,
            None,
            prior,
        )
    if prior is None:
        return Change(key, "create", f"new job: {job.summary}", job.mode, job, None)

    # A single-frame auto job that timed out in sync mode runs (and stays) async.
    if job.auto_mode and job.single_frame and prior.mode == "async" and prior.fallback:
        job = job.as_async(prior.fallback)

    state, job_id = prior.state, prior.job_id
    same = job.matches(prior.fingerprint)  # also a lock file written by an earlier version
    if prior.interrupted:
        if same:
            return Change(
                key,
                "recover",
                "interrupted submission: look the job up by its tag, submit only if it is absent",
                job.mode,
                job,
                prior,
            )
        what, diffs = _diff_request(prior, job)
        return Change(
            key,
            "replace",
            "interrupted submission, and the job changed since: " + what,
            job.mode,
            job,
            prior,
            diffs,
        )
    if not same:
        what, diffs = _diff_request(prior, job)
        if state in RUNNING_STATES:
            what += f" (job {job_id} is still {state}; it is left to finish)"
        return Change(key, "replace", what, job.mode, job, prior, diffs)
    if drift and state in ("Success", "Fail"):
        return Change(key, "replace", drift, job.mode, job, prior)
    if state == "Success":
        return Change(key, "noop", "up to date", job.mode, job, prior)
    if state in RUNNING_STATES and job_id:
        return Change(key, "poll", f"job {job_id} is {state}: poll it, never resubmit", job.mode, job, prior)
    if state == "Fail" or not job_id:
        code = prior.code or "unknown error"
        if code == "SnapshotTimeOut" and job.mode == "sync" and job.auto_mode:
            job = job.as_async("SnapshotTimeOut")
            return Change(
                key,
                "retry",
                "sync snapshot timed out (SnapshotTimeOut): retrying in async "
                "mode (Num=1), as the service advises",
                job.mode,
                job,
                prior,
            )
        what = "last submit was refused" if not job_id else "last run failed"
        if not force_failed and classify(code) == PERMANENT:
            return Change(
                key,
                "failed",
                f"{what}: {code}, which the same request meets again; not "
                "resubmitted (change the rule or the input, or force it with retry)",
                job.mode,
                job,
                prior,
            )
        return Change(key, "retry", f"{what}: {code}", job.mode, job, prior)
    return Change(key, "retry", f"unknown recorded state {state!r}", job.mode, job, prior)  # pragma: no cover

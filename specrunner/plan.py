"""The planner: desired jobs vs the state file -> one action per job, with a reason. Pure code.

The plan is data, and apply obeys only the data: ``Change.action`` decides what happens,
``Change.reason`` only explains it to people.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .jobs import Job, split_key
from .state import RUNNING_STATES

Action = Literal["create", "noop", "replace", "resume", "retry", "forget"]
ACTIONS: tuple[Action, ...] = ("create", "replace", "retry", "resume", "forget", "noop")
SYMBOLS = {"create": "+", "replace": "-/+", "retry": "↻", "resume": "~", "forget": ".", "noop": " "}
SUBMITTING: tuple[Action, ...] = ("create", "replace", "retry")


@dataclass(frozen=True)
class Change:
    key: str
    action: Action
    reason: str
    mode: str  # sync | async (of the job that will run, or the recorded one for forget/resume)
    job: Job | None  # the desired job (None for forget)
    prior: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def submits(self) -> bool:
        return self.action in SUBMITTING


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]

    def by_action(self, action: Action) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    def counts(self) -> dict[str, int]:
        out = {a: 0 for a in ACTIONS}
        for c in self.changes:
            out[c.action] += 1
        return out

    @property
    def has_changes(self) -> bool:
        return any(c.action != "noop" for c in self.changes)


def _diff_request(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> str:
    """A short human description of what changed between two recorded requests."""
    if not isinstance(old, Mapping):
        return "the rule or input changed"
    changes: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k), b.get(k), f"{path}.{k}" if path else k)
        elif a != b:
            changes.append(f"{path}: {_fmt(a)} -> {_fmt(b)}")

    walk(old, new, "")
    if not changes:
        return "UserData changed"
    more = f" (+{len(changes) - 3} more)" if len(changes) > 3 else ""
    return "; ".join(changes[:3]) + more


def _fmt(v: Any) -> str:
    if v is None:
        return "(unset)"
    s = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return s if len(s) <= 40 else s[:37] + "..."


def select(keys: Iterable[str], targets: Iterable[str] = (), excludes: Iterable[str] = ()) -> set[str]:
    """Job keys matching ``--target`` globs (by job key, input id or rule id) minus ``--exclude``."""
    targets, excludes = list(targets), list(excludes)
    if not targets and not excludes:
        return set(keys)

    def match(key: str, globs: list[str]) -> bool:
        iid, rid = split_key(key)
        return any(fnmatch.fnmatchcase(key, g) or fnmatch.fnmatchcase(iid, g) or fnmatch.fnmatchcase(rid, g)
                   for g in globs)

    return {k for k in keys if (not targets or match(k, targets)) and not match(k, excludes)}


def make_plan(jobs: Iterable[Job], state_jobs: Mapping[str, Mapping[str, Any]], *,
              targets: Iterable[str] = (), excludes: Iterable[str] = (),
              only_failed: bool = False) -> Plan:
    desired = {j.key: j for j in jobs}
    all_keys = set(desired) | set(state_jobs)
    selected = select(all_keys, targets, excludes)
    changes = []
    for key in sorted(selected):
        prior = state_jobs.get(key)
        job = desired.get(key)
        change = _decide(key, job, prior)
        if only_failed and change.action != "retry":
            continue
        changes.append(change)
    return Plan(tuple(changes))


def _decide(key: str, job: Job | None, prior: Mapping[str, Any] | None) -> Change:
    if job is None:
        assert prior is not None
        return Change(key, "forget", "no longer in the manifest: dropped from the state, nothing deleted",
                      prior.get("mode", "?"), None, prior)
    if prior is None:
        return Change(key, "create", f"new job: {job.summary}", job.mode, job, None)

    # A single-frame auto job that timed out in sync mode runs (and stays) async.
    if job.auto_mode and job.single_frame and prior.get("mode") == "async" and prior.get("fallback"):
        job = job.as_async(prior["fallback"])

    state, job_id, intent = prior.get("state"), prior.get("job_id"), prior.get("intent")
    same = job.matches(prior.get("fingerprint"))  # also a lock file written by an earlier version
    if intent and not job_id:
        if same:
            return Change(key, "resume", "interrupted submission: look the job up by its tag, submit only "
                          "if it is absent", job.mode, job, prior)
        return Change(key, "replace", "interrupted submission, and the job changed since: "
                      + _diff_request(prior.get("request"), job.request), job.mode, job, prior)
    if not same:
        what = _diff_request(prior.get("request"), job.request)
        if state in RUNNING_STATES:
            what += f" (job {job_id} is still {state}; it is left to finish)"
        return Change(key, "replace", what, job.mode, job, prior)
    if state == "Success":
        return Change(key, "noop", "up to date", job.mode, job, prior)
    if state in RUNNING_STATES and job_id:
        return Change(key, "resume", f"job {job_id} is {state}: poll it, never resubmit", job.mode, job, prior)
    if state == "Fail" or not job_id:
        code = prior.get("code") or "unknown error"
        if code == "SnapshotTimeOut" and job.mode == "sync" and job.auto_mode:
            job = job.as_async("SnapshotTimeOut")
            return Change(key, "retry", "sync snapshot timed out (SnapshotTimeOut): retrying in async "
                          "mode (Num=1), as the service advises", job.mode, job, prior)
        what = "last submit was refused" if not job_id else "last run failed"
        return Change(key, "retry", f"{what}: {code}", job.mode, job, prior)
    return Change(key, "retry", f"unknown recorded state {state!r}", job.mode, job, prior)  # pragma: no cover

"""Planning against a lock file as read: rule by rule, from the compact job lines, no record built.

``make_plan`` (``core.plan``) decides job by job from full records. For a format 2 lock file read as
is (no journal replayed, records not yet decoded), :func:`plan_jobs` gets the same plan far cheaper:

- Per rule (and input location), the config a successful job of today's manifest would be recorded
  with is built once, from one real job (``core.record.job_entry`` + ``codec.rule_config``), and
  its id computed. It is used only if the lock file holds exactly that config and a line naming it
  decodes to that job's fingerprint (checked once per group): the shortcut proves itself or is off.
- A job line that names that config, names the job's input, says ``Success``, carries nothing else
  than the plain fields of a finished job (no intent, no stored fingerprint, no encoded key) and
  passes the codec's field checks is ``noop``: exactly what ``decide`` concludes from its full
  record. Its change is built only if something lists it (``Plan.changes``).
- Every other job (new, changed, running, failed, odd, invalid) goes through ``decide`` with its
  full record, as in ``make_plan``; an invalid line raises the same StateError there.

Invariant: ``plan_jobs(jobs, state) == make_plan(jobs, state.jobs)`` for every manifest and state
(``tests/unit/ops/test_planning.py`` checks it on the cases where the shortcut applies and where not).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from specrunner.core.jobs import Job, JobSet, RuleJobs, job_key
from specrunner.core.model import Input, Moved
from specrunner.core.moves import apply_moved, pending
from specrunner.core.plan import Change, Plan, decide, make_plan
from specrunner.core.record import job_entry
from specrunner.statefile.checks import FIELD_CHECKS
from specrunner.statefile.codec import config_id, rule_config
from specrunner.statefile.doc import CompactLines, StateDoc

# The fields of a finished job's line the shortcut reads past (anything else: the full decision).
_PLAIN = frozenset(
    {
        "config",
        "input",
        "job_id",
        "state",
        "count",
        "tile_count",
        "outputs",
        "code",
        "message",
        "seen",
        "seen_at",
        "input_etag",
    }
)
_USUAL = frozenset({"config", "input", "job_id", "state", "count"})
_VERIFIED = ("seen", "seen_at", "input_etag")
_USUAL_VERIFIED = _USUAL | frozenset(_VERIFIED)
seen_ok, utc_ok, etag_ok = (FIELD_CHECKS[k] for k in _VERIFIED)
_UNSET = object()


def plan_jobs(
    jobs: Sequence[Job],
    state: StateDoc | None,
    *,
    targets: Iterable[str] = (),
    excludes: Iterable[str] = (),
    only_failed: bool = False,
    replace: Iterable[str] = (),
    moved: Sequence[Moved] = (),
    manifest: str = "MANIFEST",
    drift: Mapping[str, str] | None = None,
) -> Plan:
    """The plan of ``jobs`` against ``state`` (``make_plan``'s, computed rule by rule when it can be).
    ``moved``: the manifest's `moved:` entries, planned against the state as they rename it (an entry
    the state no longer needs costs a look at its keys only). ``drift`` (the refresh's findings, job
    key -> reason): those jobs are decided from their records."""
    compact = state.compact if state is not None else None
    targets, excludes, replace = tuple(targets), tuple(excludes), tuple(replace)
    if state is not None and moved and pending(compact.lines if compact is not None else state.jobs, moved):
        view, origin = apply_moved(state.jobs, moved, {j.key for j in jobs}, manifest)
        return make_plan(
            jobs,
            view,
            targets=targets,
            excludes=excludes,
            only_failed=only_failed,
            replace=replace,
            moved=origin,
            drift=drift,
        )
    if compact is None or not isinstance(jobs, JobSet) or targets or excludes or only_failed or replace:
        return make_plan(
            jobs,
            state.jobs if state is not None else {},
            targets=targets,
            excludes=excludes,
            only_failed=only_failed,
            replace=replace,
            drift=drift,
        )
    return _grouped(jobs, compact, drift or {})


class _Settled:
    """The up-to-date jobs found by the shortcut: per rule, the indexes of its inputs."""

    def __init__(self, compact: CompactLines) -> None:
        self.compact = compact
        self.groups: list[tuple[RuleJobs, list[Input], array[int]]] = []
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def changes(self) -> list[Change]:
        out = []
        record = self.compact.record
        for build, inputs, idx in self.groups:
            for i in idx:
                job = build.job(inputs[i])
                out.append(Change(job.key, "noop", "up to date", job.mode, job, record(job.key)))
        out.sort(key=lambda c: c.key)
        return out


def _grouped(jobs: JobSet, compact: CompactLines, drift: Mapping[str, str]) -> Plan:
    lines = compact.lines
    get = lines.get
    active: list[Change] = []
    settled = _Settled(compact)
    found = 0  # desired jobs the lock file has a line for
    every = jobs.manifest.inputs
    # Per input, once: the head of its job keys, the input as a record names it, and its location.
    facts = [(f"{inp.id}::", f"{inp.bucket}/{inp.object}", inp.location) for inp in every]
    position = {inp.id: i for i, inp in enumerate(every)}
    for rule, inputs in jobs.groups():
        build = jobs.rule_jobs(rule)
        rid = rule.id
        mine = facts if len(inputs) == len(every) else [facts[position[inp.id]] for inp in inputs]
        cids: dict[str, Any] = {}  # input location -> the config id of today's jobs (None: no shortcut)
        loc_now, cid = None, None
        idx: array[int] = array("I")
        for i, (head, ref, loc) in enumerate(mine):
            key = head + rid
            entry = get(key)
            if entry is None:
                active.append(decide(key, build.job(inputs[i]), None))
                continue
            found += 1
            if loc != loc_now:
                loc_now = loc
                if loc not in cids:
                    cids[loc] = _config_of(build.job(inputs[i]), compact)
                cid = cids[loc]
            if drift and key in drift:
                active.append(decide(key, build.job(inputs[i]), compact.record(key), drift=drift[key]))
                continue
            if type(entry) is dict and cid is not None:
                if entry.keys() == _USUAL:  # the usual line, checked inline (a million of them)
                    count = entry["count"]
                    if (
                        entry["config"] == cid
                        and entry["input"] == ref
                        and entry["state"] == "Success"
                        and type(entry["job_id"]) is str
                        and type(count) is int
                        and count >= 0
                    ):
                        idx.append(i)
                        continue
                elif entry.keys() == _USUAL_VERIFIED:  # the usual line since outputs are verified
                    count = entry["count"]
                    if (
                        entry["config"] == cid
                        and entry["input"] == ref
                        and entry["state"] == "Success"
                        and type(entry["job_id"]) is str
                        and type(count) is int
                        and count >= 0
                        and seen_ok(entry["seen"]) is None
                        and utc_ok(entry["seen_at"]) is None
                        and etag_ok(entry["input_etag"]) is None
                    ):
                        idx.append(i)
                        continue
                elif (
                    entry.get("config") == cid
                    and entry.get("input") == ref
                    and entry.get("state") == "Success"
                    and _valid_plain(entry)
                ):
                    idx.append(i)
                    continue
            active.append(decide(key, build.job(inputs[i]), compact.record(key)))
        if idx:
            settled.groups.append((build, inputs, idx))
            settled.n += len(idx)
    if found != len(lines):  # lines of jobs no longer in the manifest: forget
        desired = {job_key(inp.id, rule.id) for rule, inputs in jobs.groups() for inp in inputs}
        active.extend(decide(key, None, compact.record(key)) for key in lines if key not in desired)
    active.sort(key=lambda c: c.key)
    return Plan(active, settled)


def _config_of(job: Job, compact: CompactLines) -> str | None:
    """The id of the config ``job`` is recorded with, if the lock file holds it and it derives ``job``'s
    fingerprint; None turns the shortcut off for the group (each job is then decided from its record)."""
    cfg = rule_config(job_entry(job, job_id="-", state="Success"))
    if cfg is None:
        return None
    cid = config_id(cfg)
    stored: Mapping[str, Any] = compact.configs.get(job.rule_id) or {}
    if stored.get(cid) != cfg:
        return None
    back = compact.decoder.record(job.key, {"config": cid, "input": job.input_ref, "state": "Success"})
    if isinstance(back, str) or back.fingerprint != job.fingerprint:
        return None
    return cid


def _valid_plain(entry: dict[str, Any]) -> bool:
    """Whether a ``Success`` line naming the right config and input holds only a finished job's plain
    fields, each valid (the checks of ``checks.FIELD_CHECKS``, inlined for the fields every such line
    has)."""
    if not entry.keys() <= _PLAIN:
        return False
    g = entry.get
    count, tiles, outputs = g("count", 0), g("tile_count"), g("outputs")
    return (
        type(g("job_id", "")) is str
        and type(count) is int
        and count >= 0
        and (tiles is None or (type(tiles) is int and tiles >= 0))
        and (outputs is None or FIELD_CHECKS["outputs"](outputs) is None)
        and type(g("code", "")) is str
        and type(g("message", "")) is str
        and ("seen" not in entry or seen_ok(entry["seen"]) is None)
        and ("seen_at" not in entry or utc_ok(entry["seen_at"]) is None)
        and ("input_etag" not in entry or etag_ok(entry["input_etag"]) is None)
    )

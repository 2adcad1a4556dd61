"""The refresh: the recorded outputs and inputs compared with the buckets, as Terraform's plan refreshes.

Before planning (``plan``, ``apply`` and a saved plan's apply; ``--refresh=false`` skips it), every
recorded job that finished is checked against what the buckets hold now:

- a successful job's outputs: each must still exist; one whose size and ETag were recorded must still
  have them. A missing or changed output makes the job ``replace`` (``output missing: posters/a.jpg``);
- the input of a finished job (Success or Fail) whose ETag was recorded at submission: another ETag
  makes the job ``replace`` (``input changed: ...``), a failed one included (it is planned again without
  ``retry``). An input that is gone is not a change (the job's outputs still stand).

What older states lack is only checked as far as it can be: outputs without a recorded ETag for
existence, inputs without one not at all; ``apply`` then records what it saw (``Refresh.record``)
without submitting anything, so a state written before this check plans as a no-op.

Cost: objects are listed by prefix, never one HEAD per object. The keys to look at are grouped per
bucket under the static part of their rule's output template (inputs: their folder), prefixes that lie
under another are merged into it, and each group is listed in chunks of up to 1,000 wanted keys (from
just before the chunk's first key, stopping after its last): about one ListObjectsV2 page per 1,000
objects plus one per prefix, the chunks concurrently (``WORKERS``) within ``LIST_QPS``.

A listing that could not be made (no network, no ``oss:ListObjects`` permission, a 5xx that outlasted
its retries, a bucket that does not exist) is one :class:`RefreshError` naming the bucket, the
permission and ``--refresh=false``: never "missing", never a replacement.

Reading the lock file as parsed: only lines of finished jobs are decoded, without their fingerprints
(``Decoder.record(light=True)``): a no-op plan still builds no job and hashes no request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from specrunner.core.errors import SpecrunnerError
from specrunner.core.plan import TargetError, select
from specrunner.core.record import LockEntry, Seen
from specrunner.ops.listpace import InFlight, Pace
from specrunner.ops.refreshscan import FINISHED as _FINISHED
from specrunner.ops.refreshscan import decoded, finished, scan, settle, where
from specrunner.ops.refreshscan import folder as _folder
from specrunner.ops.refreshscan import group_of as _group
from specrunner.statefile.doc import StateDoc

if TYPE_CHECKING:  # a plan with nothing to check never loads the backends (nor their SDKs)
    from specrunner.backends.listing import Listed, ObjectsLister

CHUNK = 1000  # wanted keys per listing call (one ListObjectsV2 page when they are dense)
WORKERS = 16  # listing calls in flight
LIST_QPS = 500.0  # listing calls per second, well within OSS's rate for one account
SHOWN = 3  # keys named in a reason before "and N more"


class RefreshError(SpecrunnerError):
    """A listing the refresh needed could not be made: nothing is planned from a guess."""


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Refresh:
    """What a refresh found: replacements with their reasons, and what ``apply`` records."""

    at: str
    enabled: bool = True
    drift: dict[str, str] = field(default_factory=dict)  # job key -> reason (the job is replaced)
    # job key -> (the job id it was seen with, the fields apply records: seen, seen_at, input_etag)
    record: dict[str, tuple[str | None, dict[str, Any]]] = field(default_factory=dict)
    jobs: int = 0  # finished jobs checked
    outputs: int = 0  # outputs checked
    inputs: int = 0  # inputs compared
    listings: int = 0  # listing calls made
    missing: int = 0
    changed: int = 0
    inputs_changed: int = 0
    open_seconds: float = 0.0  # opening the lister (the OSS SDK's import), for benchmarks
    list_seconds: float = 0.0  # the listing calls' wall time (concurrent), for benchmarks
    wait_seconds: float = 0.0  # wall time while a listing call was in flight (not a pacing slot's wait)
    missing_outputs: dict[str, list[str]] = field(default_factory=dict)  # job key -> bucket/key
    changed_outputs: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The refresh in the JSON documents (plan, apply): what was verified, and when."""
        return {
            "enabled": self.enabled,
            "at": self.at if self.enabled else None,
            "jobs_checked": self.jobs,
            "outputs_checked": self.outputs,
            "inputs_compared": self.inputs,
            "listings": self.listings,
            "outputs_missing": self.missing,
            "outputs_changed": self.changed,
            "inputs_changed": self.inputs_changed,
            "replaced": len(self.drift),
            "to_record": len(self.record),
        }

    def line(self, *, verbose: bool = False) -> str | None:
        """One line for the text plan: what the refresh found (None when it found nothing to say,
        unless ``verbose``; None when nothing was checked)."""
        if not self.enabled or not self.jobs:
            return None
        if not (verbose or self.missing or self.changed or self.inputs_changed or self.record):
            return None
        found = []
        if self.missing:
            found.append(f"{self.missing} output(s) missing")
        if self.changed:
            found.append(f"{self.changed} output(s) changed")
        if self.inputs_changed:
            found.append(f"{self.inputs_changed} input(s) changed")
        text = (
            f"Refreshed {self.jobs} finished job(s) against the buckets: {self.outputs} output(s) and "
            f"{self.inputs} input(s) in {self.listings} listing(s); "
            + (", ".join(found) if found else "all as recorded")
            + "."
        )
        if self.record:
            text += f" {len(self.record)} job(s) get their verification recorded by the next apply."
        return text


# ------------------------------------------------------------------------------------------ what to check


@dataclass
class _Job:
    key: str
    rec: LockEntry
    templates: list[tuple[str, str, str]]  # (bucket, location, static prefix) of its output templates
    input_loc: str


def _where(rec: LockEntry) -> tuple[list[tuple[str, str, str]], str]:
    """(bucket, location, static prefix) of each output template of ``rec``, and its input's location."""
    return where(rec.request)


_Call = tuple[str, str, str, "str | None", "str | None", list[str]]


class _Wanted:
    """Keys to look at, per (bucket, location), each under a group prefix."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], dict[str, set[str]]] = {}

    def add(self, bucket: str, location: str, prefix: str, key: str) -> None:
        if not key.startswith(prefix):
            prefix = _folder(key)
        self.group(bucket, location, prefix).add(key)

    def group(self, bucket: str, location: str, prefix: str) -> set[str]:
        """The keys to look at under ``prefix`` (each must start with it)."""
        return self.keys.setdefault((bucket, location), {}).setdefault(prefix, set())

    def calls(self, chunked: bool) -> list[_Call]:
        """(bucket, location, prefix, start key, last key, the wanted keys) per listing call."""
        out: list[_Call] = []
        for (bucket, loc), groups in sorted(self.keys.items()):
            merged: dict[str, set[str]] = {}
            for prefix in sorted(groups):  # a prefix under another one is listed with it
                top = next((p for p in merged if prefix.startswith(p)), None)
                merged.setdefault(top if top is not None else prefix, set()).update(groups[prefix])
            for prefix, keys in merged.items():
                ordered = sorted(keys)
                if not chunked:
                    out.append((bucket, loc, prefix, None, None, ordered))
                    continue
                for i in range(0, len(ordered), CHUNK):
                    part = ordered[i : i + CHUNK]
                    out.append((bucket, loc, prefix, part[0], part[-1], part))
        return out


# ------------------------------------------------------------------------------------------ the refresh


def refresh_state(
    state: StateDoc | None,
    lister: Callable[[], ObjectsLister],
    *,
    targets: Iterable[str] = (),
    excludes: Iterable[str] = (),
    known_inputs: dict[str, tuple[int, str]] | None = None,
    chunked: bool = True,
    check_inputs: bool = True,
) -> Refresh:
    """Check every finished job of ``state`` (the selected ones) against the buckets. ``lister`` opens
    the object lister on first need (no finished job: no listing, no credentials). ``known_inputs``:
    inputs already listed by discovery (``bucket/key`` -> (size, ETag)), not listed again."""
    out = Refresh(at=now_utc())
    if state is None or not state.job_count():
        return out
    keys = _selected(state, targets, excludes)
    todo: list[_Job] = []
    wanted = _Wanted()
    known = known_inputs or {}
    compact = state.compact
    if compact is not None:  # the usual lines read as parsed (``refreshscan``), the others decoded
        quick, other = scan(compact, keys, wanted.group, lambda ref: check_inputs and ref not in known)
        records = decoded(state, other)
    else:
        quick, records = [], finished(state, keys)
    for key, rec in records:
        templates, in_loc = _where(rec)
        job = _Job(key, rec, templates, in_loc)
        todo.append(job)
        if rec.state == "Success":
            for ref in rec.outputs:
                if "{" in ref:  # a name only the service knows ({SnapshotTime}): not checked
                    continue
                bucket, _, obj = ref.partition("/")
                loc, static = _group(templates, bucket, obj, in_loc)
                wanted.add(bucket, loc, static, obj)
        if check_inputs and rec.input not in known:
            bucket, _, obj = rec.input.partition("/")
            wanted.add(bucket, in_loc, _folder(obj), obj)
    if not todo and not quick:
        return out
    found = _list_all(wanted, lister, out, chunked)
    for ref, v in known.items():
        b, _, k = ref.partition("/")
        found[(b, k)] = v
    (out.jobs, out.outputs, out.inputs), again = settle(quick, found)
    if again:  # outputs or input not as recorded: compared from their records, in the file's order
        todo.extend(_Job(key, rec, *_where(rec)) for key, rec in decoded(state, again))
        order = {key: i for i, key in enumerate(compact.lines if compact is not None else ())}
        todo.sort(key=lambda job: order.get(job.key, -1))
    for job in todo:
        _compare(job, found, out)
    return out


def _selected(state: StateDoc, targets: Iterable[str], excludes: Iterable[str]) -> set[str] | None:
    targets, excludes = tuple(targets), tuple(excludes)
    if not targets and not excludes:
        return None
    lines = state.compact.lines if state.compact is not None else state.jobs
    try:
        return select(list(lines), targets, excludes)
    except TargetError:
        return None  # the plan refuses the glob with the manifest's keys in its hint


def _list_all(
    wanted: _Wanted, open_lister: Callable[[], ObjectsLister], out: Refresh, chunked: bool
) -> dict[tuple[str, str], Seen]:
    calls = wanted.calls(chunked)
    if not calls:
        return {}
    t0 = time.monotonic()
    try:
        lister = open_lister()
    except Exception as e:  # no credentials, no SDK: no listing at all
        raise listing_error(calls[0][0], calls[0][2], e) from None
    t1 = time.monotonic()
    out.open_seconds += t1 - t0
    pace = Pace(LIST_QPS)

    lookup = getattr(lister, "lookup", None)  # the local engine: the wanted files only

    def one(call: _Call) -> list[Listed]:
        bucket, loc, prefix, first, last, keys = call
        try:
            if callable(lookup):
                found: list[Listed] = lookup(bucket, keys)
                return found
            if first is None:
                return lister(bucket, loc, prefix, None)
            after = first[:-1] if len(first) > len(prefix) else None
            return [o for o in _after(lister, bucket, loc, prefix, after, last) if o.key >= first]
        except Exception as e:
            if getattr(e, "code", None) == "NoSuchBucket":  # a definite answer: nothing is there
                return []
            raise listing_error(bucket, prefix, e, local=callable(lookup)) from None

    flight = InFlight()

    def paced(call: _Call) -> list[Listed]:
        if not callable(lookup):  # the rate is OSS's; the local engine's folders have none
            pace.wait()
        with flight:
            return one(call)

    from concurrent.futures import ThreadPoolExecutor  # loaded when something is listed

    found: dict[tuple[str, str], Seen] = {}
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(calls))) as pool:
        for call, listed in zip(calls, pool.map(paced, calls), strict=True):
            out.listings += 1
            for o in listed:
                found[(call[0], o.key)] = (o.size, o.etag)
    out.list_seconds += time.monotonic() - t1
    out.wait_seconds += flight.seconds
    close = getattr(lister, "close", None)
    if callable(close):
        close()
    return found


def _after(
    lister: ObjectsLister, bucket: str, loc: str, prefix: str, after: str | None, last: str | None
) -> list[Listed]:
    start = getattr(lister, "start_after", None)
    if callable(start) and after is not None:
        result: list[Listed] = start(bucket, loc, prefix, after, last)
        return result
    return lister(bucket, loc, prefix, last)


def listing_error(bucket: str, prefix: str, e: BaseException, *, local: bool = False) -> RefreshError:
    why = (str(e) or type(e).__name__).rstrip(".")
    head = f"cannot list oss://{bucket}/{prefix}: "
    why = why[len(head) :] if why.startswith(head) else why  # the lister's own words, said once
    if local:  # the local engine's bucket folder: no permission to grant, a folder to fix
        return RefreshError(
            f"cannot refresh: reading bucket {bucket} (the local engine's folder) failed: {why}. "
            "The recorded outputs cannot be checked; nothing was planned",
            hint=f"make the folder of bucket {bucket} readable (a folder, not a file), or plan without "
            "checking the buckets: --refresh=false",
        )
    return RefreshError(
        f"cannot refresh: listing oss://{bucket}/{prefix} failed: {why}. Checking the recorded outputs "
        f"needs oss:ListObjects on bucket {bucket!r}; nothing was planned",
        hint=f"grant oss:ListObjects on {bucket} (or fix the network), or plan without checking the "
        "buckets: --refresh=false",
    )


def _named(keys: list[str], what: str) -> str:
    more = f" (and {len(keys) - SHOWN} more)" if len(keys) > SHOWN else ""
    return f"{what}: " + ", ".join(keys[:SHOWN]) + more


def _compare(job: _Job, found: dict[tuple[str, str], Seen], out: Refresh) -> None:
    rec = job.rec
    out.jobs += 1
    reasons: list[str] = []
    fields: dict[str, Any] = {}
    bucket, _, obj = rec.input.partition("/")
    now_in = found.get((bucket, obj))
    if rec.input_etag is not None and now_in is not None:
        out.inputs += 1
        if now_in[1] != rec.input_etag:
            out.inputs_changed += 1
            reasons.append(f"input changed: {rec.input} (ETag {rec.input_etag} -> {now_in[1]})")
    elif rec.input_etag is None and now_in is not None:
        fields["input_etag"] = now_in[1]
    if rec.state == "Success":
        missing: list[str] = []
        changed: list[str] = []
        seen: list[Seen] = []
        unnamed = any("{" in ref for ref in rec.outputs)
        for ref, was in rec.observed():
            if "{" in ref:
                continue
            b, _, k = ref.partition("/")
            now = found.get((b, k))
            out.outputs += 1
            if now is None:
                missing.append(k)
            elif was is not None and tuple(was) != now:
                changed.append(k)
            else:
                seen.append(now)
        out.missing += len(missing)
        out.changed += len(changed)
        if missing:
            out.missing_outputs[job.key] = [r for r in rec.outputs if r.partition("/")[2] in missing]
        if changed:
            out.changed_outputs[job.key] = [r for r in rec.outputs if r.partition("/")[2] in changed]
        if missing:
            reasons.append(_named(missing, "output missing"))
        if changed:
            reasons.append(_named(changed, "output changed"))
        if not missing and not changed and rec.outputs and rec.seen is None and not unnamed:
            fields["seen"] = tuple(seen)
            fields["seen_at"] = out.at
    if reasons:
        out.drift[job.key] = "; ".join(reasons)
    elif fields:
        out.record[job.key] = (rec.job_id, fields)


# ------------------------------------------------------------------------------------------ apply's part


def record_verified(
    store: Any,
    refreshed: Refresh | None,
    finished_now: Iterable[str],
    lister: Callable[[], ObjectsLister],
    *,
    chunked: bool,
) -> int:
    """Record in ``store`` (a ``JobStore``) what was verified: the refresh's findings for jobs this run
    left alone (a state written before outputs were verified), then the outputs of the jobs that
    finished in this run, listed now (one listing per prefix, not per job). A listing that fails here
    records nothing (the next refresh does it); nothing is ever submitted. Returns the jobs recorded."""
    n = 0
    for key, (job_id, fields) in (refreshed.record if refreshed is not None else {}).items():
        cur = store.get(key)
        if cur is not None and cur.job_id == job_id and cur.state in _FINISHED:
            todo = {k: v for k, v in fields.items() if getattr(cur, k) is None}
            if todo.get("seen") is not None and cur.seen is not None:  # pragma: no cover - raced
                continue
            if todo:
                store.put(key, cur.evolve(**todo))
                n += 1
    fresh = {}
    for key in finished_now:
        cur = store.get(key)
        if cur is not None and cur.state == "Success" and cur.seen is None and cur.outputs:
            fresh[key] = cur
    if not fresh:
        return n
    try:
        found = refresh_state(StateDoc("-", 0, jobs=fresh), lister, chunked=chunked, check_inputs=False)
    except RefreshError:
        return n
    for key, (job_id, fields) in found.record.items():
        cur = store.get(key)
        if cur is not None and cur.job_id == job_id:
            store.put(key, cur.evolve(**{k: v for k, v in fields.items() if getattr(cur, k) is None}))
            n += 1
    return n


def input_fingerprints(
    refs: dict[str, str],
    known: dict[str, tuple[int, str]],
    lister: Callable[[], ObjectsLister],
    *,
    chunked: bool,
) -> dict[str, str]:
    """The ETags of the inputs about to be submitted (``refs``: "bucket/key" -> location), listed by
    prefix (discovery's listing when it saw them): recorded at submission, compared by later refreshes.
    A listing that fails leaves its inputs without one (then they are not compared)."""
    out = {ref: known[ref][1] for ref in refs if ref in known}
    with suppress(RefreshError):  # then those inputs are recorded without one
        out.update(current_etags({r: v for r, v in refs.items() if r not in out}, lister, chunked=chunked))
    return out


def current_etags(
    refs: dict[str, str], lister: Callable[[], ObjectsLister], *, chunked: bool
) -> dict[str, str]:
    """The ETag of each object of ``refs`` ("bucket/key" -> location) that exists, listed by prefix;
    a listing that cannot be made raises :class:`RefreshError`."""
    wanted = _Wanted()
    for ref, loc in refs.items():
        bucket, _, obj = ref.partition("/")
        wanted.add(bucket, loc, _folder(obj), obj)
    found = _list_all(wanted, lister, Refresh(at=""), chunked)
    return {f"{b}/{k}": etag for (b, k), (_, etag) in found.items() if f"{b}/{k}" in refs}

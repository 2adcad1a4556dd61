"""The state's records one by one: listed as rows (``show``, ``state list``), removed (``state rm``),
imported from an existing job (``import``).

Invariants: ``state rm`` and ``import`` work under the state's lock and delete or submit nothing in
MTS or OSS; an imported job must exist and match its rule's request; ``state rm`` refuses a state
another manifest owns, as ``context.check_owner`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

from specrunner.apply.outcomes import outcome_record
from specrunner.backends import Backend, open_backend
from specrunner.backends.base import RemoteJob
from specrunner.core import shellwords
from specrunner.core.errors import SpecrunnerError
from specrunner.core.jobs import Job
from specrunner.core.plan import keys_hint, select
from specrunner.core.record import LockEntry
from specrunner.core.templates import resolve_template
from specrunner.ops.context import Context
from specrunner.ops.execute import lazy_lister
from specrunner.ops.run import Run
from specrunner.statefile.backend import JobStore, StateBackend
from specrunner.statefile.doc import StateDoc
from specrunner.statefile.owner import foreign_state, is_default_state, manifest_owner, read_name
from specrunner.validate.reporting import did_you_mean


def state_rows(doc: StateDoc | None) -> list[dict[str, Any]]:
    if doc is None:
        return []
    rows = []
    for key in sorted(doc.jobs):
        r = doc.jobs[key]
        rows.append(
            {
                "key": key,
                "job_id": r.job_id,
                "state": r.shown_state,
                "mode": r.mode,
                "count": r.count,
                "code": r.code,
                "message": r.message,
                "outputs": list(r.outputs),
                # what was verified and when: the outputs as listed after the job finished (size,
                # ETag) and the input's ETag at submission; None in states written before
                "verified_at": r.seen_at,
                "seen": [{"object": o, "size": v[0], "etag": v[1]} for o, v in r.observed() if v] or None,
                "input_etag": r.input_etag,
            }
        )
    return rows


def output_rows(
    doc: StateDoc | None, targets: tuple[str, ...] = (), excludes: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Every object the recorded jobs produced (``outputs``): bucket, key, the job and its state,
    sorted by job key then object; ``targets`` / ``excludes`` select jobs as ``plan --target`` does
    (a glob that matches no recorded job is refused)."""
    if doc is None:
        return []
    jobs = doc.jobs
    keys = select(jobs, targets, excludes) if targets or excludes else set(jobs)
    rows = []
    for key in sorted(keys):
        e = jobs[key]
        for obj, seen in e.observed():
            bucket, _, name = obj.partition("/")
            row: dict[str, Any] = {"bucket": bucket, "key": name, "job": key, "state": e.state}
            if seen is not None:  # as listed after the job finished
                row.update(size=seen[0], etag=seen[1], verified_at=e.seen_at)
            rows.append(row)
    return rows


def _decoded(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (unquote(v) if k == "Object" and isinstance(v, str) else _decoded(v))
            for k, v in value.items()
            if k != "RoleArn"
        }
    return value


def import_job(
    ctx: Context, key: str, job_id: str, *, lock_timeout: float = 0.0, backend: Backend | None = None
) -> LockEntry:
    """Adopt an existing job into the state after checking it exists and matches the manifest."""
    # Imported here: ``show`` and ``state list`` use this module and never load the executor (nor tenacity).

    desired = {j.key: j for j in ctx.jobs}
    if key not in desired:
        raise SpecrunnerError(
            f"no job {key!r} in {ctx.manifest_path}{did_you_mean(key, list(desired))}",
            hint=keys_hint(str(ctx.manifest_path)),
        )
    job = desired[key]
    run = Run(ctx, "import", lock_timeout)
    try:
        be = backend or open_backend(ctx.manifest, workers=1)
        try:
            found, missing = be.query([job_id])
        finally:
            if backend is None:
                be.close()
        if missing or not found:
            raise SpecrunnerError(f"job {job_id} does not exist on the {ctx.manifest.target.backend} backend")
        remote = found[0]
        prior = run.store.jobs.get(key)
        tag = (prior.intent or {}).get("tag") if prior is not None else None
        _check_match(ctx, key, job, remote, tag, desired)
        rec = outcome_record(job, remote, lazy_lister(ctx.manifest))
        run.store.put(key, rec, durable=True)
    finally:
        run.close()
    return rec


_OUTPUTS = ("OutputFile", "TileOutputFile")


def _config_diffs(want: dict[str, Any], got: dict[str, Any], input_object: str | None) -> list[str]:
    """The SnapshotConfig entries that differ (decoded). An output Object may come back as the template
    sent or resolved for the job's input ({FileName} and the like filled in): both match. With
    ``input_object`` None, output Objects are not compared."""
    if "FrameType" not in want and str(got.get("FrameType", "intra")).lower() == "intra":
        got = {k: v for k, v in got.items() if k != "FrameType"}  # the service's default, echoed back
    diffs = []
    for k in sorted(set(want) | set(got)):
        w, g = want.get(k), got.get(k)
        if (
            k in _OUTPUTS
            and isinstance(w, dict)
            and isinstance(g, dict)
            and {**w, "Object": ""} == {**g, "Object": ""}
            and (input_object is None or _same_object(w, g, input_object))
        ):
            continue
        if w != g:
            diffs.append(f"SnapshotConfig.{k}")
    return diffs


def _same_object(want: dict[str, Any], got: dict[str, Any], input_object: str) -> bool:
    sent = str(want.get("Object", ""))
    return got.get("Object") in (sent, resolve_template(sent, input_object))


def _jobs_yielding(desired: dict[str, Job], got_cfg: dict[str, Any]) -> list[str]:
    """The keys of the jobs whose request yields ``got_cfg`` (outputs resolved for each one's input).
    The jobs of a rule share one SnapshotConfig: it is decoded and compared once per rule."""
    rules: dict[str, dict[str, Any] | None] = {}
    fits = []
    for k, j in desired.items():
        if j.rule_id not in rules:
            want = _decoded(j.request["SnapshotConfig"])
            rules[j.rule_id] = None if _config_diffs(want, got_cfg, None) else want
        want = rules[j.rule_id]
        if want is None:
            continue
        obj = _input_object(j)
        if all(
            _same_object(want[name], got_cfg[name], obj)
            for name in _OUTPUTS
            if isinstance(want.get(name), dict) and isinstance(got_cfg.get(name), dict)
        ):
            fits.append(k)
    return sorted(fits)


def _input_object(job: Job) -> str:
    return job.input_ref.partition("/")[2]


def _check_match(
    ctx: Context, key: str, job: Job, remote: RemoteJob, tag: str | None, desired: dict[str, Job]
) -> None:
    """Refuse a job that is not ``key``'s. Its Input decides when the answer carries one (the
    documented sample answers do not); otherwise the UserData tag specrunner sent for ``key`` does,
    or else its output: the job is ``key``'s when ``key`` is the only job of the manifest whose request
    yields that output (the template as sent, or resolved for the job's input)."""
    raw = remote.raw
    job_id = remote.id
    got_cfg = _decoded(raw.get("SnapshotConfig", {}))
    diffs = _config_diffs(_decoded(job.request["SnapshotConfig"]), got_cfg, _input_object(job))
    got_input = {k: (raw.get("Input") or {}).get(k) for k in ("Bucket", "Location", "Object")}
    if any(got_input.values()):
        if _decoded(job.request["Input"]) != _decoded(got_input):
            diffs.insert(0, "Input")
    elif not diffs and not (tag and tag in remote.user_data):
        fits = _jobs_yielding(desired, got_cfg)
        if fits != [key]:
            out = unquote(str((got_cfg.get("OutputFile") or {}).get("Object", "")))
            others = [k for k in fits if k != key]
            shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
            # An output that already names its input ({FileName}) came back as the template: no
            # manifest change can tell these jobs apart, so the hint does not suggest one.
            echoed = resolve_template(out, "a/b.c") != out
            raise SpecrunnerError(
                f"job {job_id}'s answer names no Input (as the documented sample answers), and its "
                f"output {out!r} fits {len(fits)} jobs of {ctx.manifest_path} ({key}, {shown}): which "
                "input it read cannot be told"
                + (" (the answer repeats the output template, not the object written)" if echoed else ""),
                hint=(
                    "import it where the answer carries Input"
                    + ("" if echoed else ", or give the rule an output that differs per input ({FileName})")
                    + f"; else `specrunner apply {shellwords.path(ctx.manifest_path)} --target "
                    f"{shellwords.quote(shellwords.literal_glob(key))}` submits that job again"
                ),
            )
    if diffs:
        raise SpecrunnerError(
            f"job {job_id} does not match {key}: {', '.join(diffs)} differ",
            hint="import only jobs created with the same parameters as the rule",
        )


def _claim_for_write(
    store: JobStore, where: StateBackend, manifest: Path | None, state_arg: str | None
) -> None:
    """For a state verb that does not load the manifest (``state rm``): refuse a state another
    manifest owns, as ``check_owner`` does, else record this manifest as the owner of the write."""
    if manifest is None:
        return
    owner = manifest_owner(manifest, read_name(manifest))
    recorded = store.doc.owner
    if (where.shared or not is_default_state(manifest, where.path)) and not owner.accepts(recorded):
        assert recorded is not None
        raise foreign_state(
            where.label, recorded, str(manifest), owner, jobs=len(store.jobs), state_arg=state_arg
        )
    store.doc.owner = owner.id


def state_remove(
    where: StateBackend,
    keys: list[str],
    *,
    lock_timeout: float = 0.0,
    manifest: Path | None = None,
    state_arg: str | None = None,
) -> list[str]:
    """``state rm``: drop the records of ``keys`` under the state's lock (nothing is deleted in MTS/OSS)."""
    opened = where.open_run("state rm", lock_timeout, manifest=manifest)
    store = opened.store
    try:
        _claim_for_write(store, where, manifest, state_arg)
        missing = [k for k in keys if k not in store.jobs]
        if missing:
            raise SpecrunnerError(
                f"not in the state: {', '.join(missing)}",
                # MANIFEST: the CLI names the manifest (and its --state) given (``cli.errors.pasteable``)
                hint="`specrunner state list MANIFEST` shows the keys",
            )
        for k in keys:
            store.delete(k, durable=True)
        store.commit()
    finally:
        store.close()
        opened.lock.release()
    return keys

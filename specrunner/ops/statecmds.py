"""State verbs beyond list / rm: ``state mv`` (rename without resubmitting), ``state claim`` (take
ownership after a move or rename) and ``state show KEY``.

Invariants:
- ``state mv`` runs under the state lock, bumps the serial once, and moves records only: nothing
  is submitted or deleted in MTS or OSS.
- A record moves only to a job key the manifest has, that the state does not hold yet, and whose
  request is the one recorded (same fingerprint): a rename can never hide a change that would
  otherwise be a ``replace``. Either every record named moves, or none does.
- OLD / NEW are job keys (``<input id>::<rule id>``), or a rule id, or an input id: renaming a rule
  (or an input) moves every record of it.
- ``state claim`` changes the owner only (the manifest the state belongs to, ``statefile.owner``),
  under the state lock, bumping the serial; it writes nothing when the manifest owns the state already.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from specrunner.core import shellwords
from specrunner.core.attrdiff import attributes, diff, show
from specrunner.core.errors import SpecrunnerError, StateError
from specrunner.core.jobs import Job
from specrunner.core.moves import expand, renamed, taken
from specrunner.core.record import LockEntry
from specrunner.ops.context import Context
from specrunner.ops.run import Run
from specrunner.statefile.backend import JobStore
from specrunner.statefile.doc import StateDoc


def _closest(word: str, options: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, options, n=3, cutoff=0.5)
    return f"; closest: {', '.join(close)}" if close else ""


def plan_moves(jobs: Mapping[str, LockEntry], old: str, new: str) -> list[tuple[str, str]]:
    """The (from, to) key pairs that ``state mv OLD NEW`` means for the records in ``jobs``."""
    return expand(jobs.keys(), old, new)


def move_records(store: JobStore, moves: Iterable[tuple[str, str]]) -> None:
    """Rename records in the journaled store (each step durable, so a crash loses none): ``state mv``
    and the ``moved:`` entries an apply carries out."""
    for src, dst in moves:
        record = store.get(src)
        if record is None:  # pragma: no cover - the callers planned against this very store
            continue
        store.delete(src, durable=True)
        store.put(dst, renamed(record, dst), durable=True)


def _same_request(rec: LockEntry, job: Job) -> bool:
    if rec.fingerprint == job.fingerprint:
        return True
    fallback = rec.fallback
    return bool(fallback) and job.single_frame and rec.fingerprint == job.as_async(str(fallback)).fingerprint


def state_move(ctx: Context, old: str, new: str, *, lock_timeout: float = 0.0) -> list[tuple[str, str]]:
    """Rename records (see the module docstring); returns the moves made."""
    desired = {j.key: j for j in ctx.jobs}
    run = Run(ctx, "state mv", lock_timeout)
    try:
        jobs = run.store.jobs
        moves = plan_moves(jobs, old, new)
        for src, dst in moves:
            if dst in jobs:
                raise taken(src, dst, str(ctx.manifest_path))
            job = desired.get(dst)
            if job is None:
                raise SpecrunnerError(
                    f"cannot move {src} to {dst}: {ctx.manifest_path} has no job {dst}"
                    + _closest(dst, sorted(desired)),
                    hint="rename the rule or input in the manifest first, then move its records",
                )
            rec = jobs[src]
            if not _same_request(rec, job):
                changed = diff(
                    rec.request, job.request, old_user_data=rec.user_data, new_user_data=job.user_data
                )
                what = "; ".join(d.text() for d in changed) or "the request changed"
                raise SpecrunnerError(
                    f"cannot move {src} to {dst}: the request differs ({what}); a rename would hide a change",
                    hint=f"`specrunner plan {shellwords.path(ctx.manifest_path)}` shows it as a replace",
                )
        move_records(run.store, moves)
    except BaseException:
        run.close(commit=False)
        raise
    run.close()
    return moves


def state_claim(ctx: Context, *, lock_timeout: float = 0.0) -> tuple[str | None, str, bool]:
    """Record ``ctx``'s manifest as the owner of its state (after a move or rename on purpose), under
    the state's lock; nothing else changes. Returns (previous owner, new owner, written)."""
    assert ctx.owner is not None
    if ctx.owner.weak:
        raise StateError(
            f"{ctx.manifest_path} is known by its file name only ({ctx.owner.id!r}: no `name:`, not in a "
            "git repository), which another manifest of that name shares: it cannot claim a state",
            hint="give it a `name:` (a top-level field, e.g. `name: team/site`), then claim again",
        )
    run = Run(ctx, "state claim", lock_timeout)
    try:
        if ctx.state is None:
            where = ctx.state_label
            raise SpecrunnerError(
                f"no state at {where} yet: nothing to claim",
                hint=f"the first `specrunner apply {shellwords.path(ctx.manifest_path)}` records its owner",
            )
        previous = run.store.doc.owner
        run.store.doc.owner = ctx.owner.id
    except BaseException:
        run.close(commit=False)
        raise
    return previous, ctx.owner.id, run.close()


def record_text(key: str, rec: LockEntry) -> str:
    """One record for people: every field, whole; the request in the manifest's terms."""
    lines = [f"# {key}"]
    for name in (
        "job_id",
        "state",
        "mode",
        "code",
        "message",
        "count",
        "tile_count",
        "input",
        "rule",
        "fingerprint",
        "fallback",
        "user_data",
    ):
        value = getattr(rec, name)
        if value not in (None, ""):
            lines.append(f"{name:<12} = {show(value)}")
    if rec.intent:
        lines.append(f"{'intent':<12} = {json.dumps(rec.intent, sort_keys=True)}")
    outputs = rec.outputs
    lines.append(f"{'outputs':<12} = [" + ("" if outputs else "]"))
    if outputs:
        lines.extend(f"    {show(o)}," for o in outputs)
        lines.append("]")
    req = rec.request
    if req:
        lines.append("request (in the manifest's terms):")
        for name, (value, api) in attributes(req).items():
            lines.append(f"    {name} = {show(value)}    # {api}")
    return "\n".join(lines)


def find_record(doc: StateDoc | None, key: str, manifest: str = "MANIFEST") -> LockEntry:
    jobs = doc.jobs if doc else {}
    if key not in jobs:
        raise SpecrunnerError(
            f"{key!r} is not in the state" + _closest(key, sorted(jobs)),
            hint=f"`specrunner state list {shellwords.path(manifest)}` lists the keys",
        )
    return jobs[key]

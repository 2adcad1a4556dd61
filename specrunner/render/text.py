"""Rendering plans, runs and state for people (text) and scripts (JSON). Pure string building."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from specrunner.core.jobs import split_key
from specrunner.core.plan import SYMBOLS, Plan

if TYPE_CHECKING:  # annotations only: rendering a plan never loads the executor (tenacity, SDK glue)
    from specrunner.apply.results import RunSummary

_TITLES = {
    "create": "to create",
    "replace": "to replace",
    "retry": "to retry",
    "resume": "to resume",
    "forget": "to forget",
    "moved": "to move",
    "failed": "failed (not resubmitted)",
    "noop": "unchanged",
}


def plan_summary_line(plan: Plan) -> str:
    c = plan.counts()
    parts = [f"{c[a]} {_TITLES[a]}" for a in ("create", "replace", "retry", "resume", "forget")]
    if c.get("moved"):
        parts.append(f"{c['moved']} {_TITLES['moved']}")
    if c["failed"]:
        parts.append(f"{c['failed']} {_TITLES['failed']}")
    return f"Plan: {', '.join(parts)}, {c['noop']} unchanged."


def _retry_command(plan: Plan, manifest: str | None) -> str:
    failed = plan.by_action("failed")
    target = f" --target {shlex.quote(failed[0].key)}" if len(failed) == 1 else ""
    return f"specrunner retry {shlex.quote(manifest or 'MANIFEST')}{target}"


def plan_text(
    plan: Plan, *, show_unchanged: bool = False, recovery: str | None = None, manifest: str | None = None
) -> str:
    """The plan for people: a summary line, then one block per action; a replaced job lists every
    changed attribute on its own line in the manifest's terms, nothing cut."""
    lines = [plan_summary_line(plan)]
    if recovery:
        lines.append(recovery)
    c = plan.counts()
    if not plan.has_changes:
        lines.append("")
        if c["failed"]:
            n = c["failed"]
            lines.append(
                f"No changes to submit. {n} job{'s' if n != 1 else ''} failed with an error the same "
                f"request meets again, so apply leaves {'them' if n != 1 else 'it'} as recorded."
            )
        else:
            lines.append("No changes. The state matches the manifest.")
    for action, changes in plan.groups(unchanged=show_unchanged):
        lines.append("")
        lines.append(f"{SYMBOLS[action]} {action} ({len(changes)}):")
        width = max(len(ch.key) for ch in changes)
        for ch in changes:
            if ch.diff:
                names = ", ".join(d.attribute for d in ch.diff)
                head = (
                    "interrupted submission, and the job changed since"
                    if ch.reason.startswith("interrupted")
                    else "changed"
                )
                extra = ch.reason[ch.reason.index(" (job ") :] if " (job " in ch.reason else ""
                lines.append(
                    f"  {SYMBOLS[action]:>3} {ch.key:<{width}}  {ch.mode:<5}  {head}: {names}{extra}"
                )
                lines.extend(f"        {line}" for d in ch.diff for line in d.lines())
            else:
                lines.append(f"  {SYMBOLS[action]:>3} {ch.key:<{width}}  {ch.mode:<5}  {ch.reason}")
    if c["failed"]:
        lines.append("")
        lines.append(f"To resubmit the failed jobs anyway: {_retry_command(plan, manifest)}")
    if c["forget"]:
        lines.append("")
        lines.append(forget_warning(plan, manifest))
    return "\n".join(lines)


def forget_warning(plan: Plan, manifest: str | None = None) -> str:
    """The call-out for a plan that drops records (a glob typo can drop them all); when a created job
    sends exactly what a forgotten one did (a renamed rule or input), the ``state mv`` that keeps it."""
    n, total = plan.counts()["forget"], plan.recorded()
    share = f"{n} of the {total} jobs recorded" if total else f"{n} jobs"
    text = (
        f"Warning: this plan forgets {share}: their records leave the state (their outputs stay "
        "in the bucket, nothing is deleted). Check the manifest's inputs and rules if that is not "
        "what you meant."
    )
    created = {ch.job.fingerprint: ch.key for ch in plan.by_action("create") if ch.job is not None}
    renamed = [
        (ch.key, created[fp])
        for ch in plan.by_action("forget")
        if ch.prior and (fp := ch.prior.fingerprint) in created
    ]
    if renamed:
        old, new = renamed[0]
        (oi, orule), (ni, nrule) = split_key(old), split_key(new)
        a, b = (orule, nrule) if oi == ni else (oi, ni) if orule == nrule else (old, new)
        mv = " ".join(shlex.quote(w) for w in (manifest or "MANIFEST", a, b))
        text += (
            f" {len(renamed)} of the new jobs send exactly what a forgotten one sent (a rename?): "
            f"`specrunner state mv {mv}` keeps their records instead of paying again."
        )
    return text


def run_summary_line(summary: RunSummary) -> str:
    c = summary.counts()
    head = "Apply interrupted" if summary.interrupted else "Apply complete"
    parts = [
        f"{c['created']} created",
        f"{c['unchanged']} unchanged",
        f"{c['succeeded']} succeeded",
        f"{c['failed']} failed",
        f"{c['pending']} pending",
        f"{c['forgotten']} forgotten",
    ]
    extra = [f"{c[k]} {k}" for k in ("moved", "replaced", "retried", "resubmitted", "adopted") if c.get(k)]
    parts[1:1] = extra
    if c.get("kept_failed"):
        parts.append(f"{c['kept_failed']} failed before and not resubmitted")
    return f"{head}: {', '.join(parts)}."


def run_text(summary: RunSummary, manifest: str | None = None) -> str:
    lines = [run_summary_line(summary)]
    failed = sorted((r for r in summary.results.values() if r.status == "fail"), key=lambda r: r.key)
    if failed:
        lines.append("")
        lines.append(f"Failed ({len(failed)}):")
        for r in failed[:200]:
            lines.append(f"  ✗ {r.key}  {r.code}: {r.message}".rstrip())
        if len(failed) > 200:
            lines.append(f"  ... and {len(failed) - 200} more (see the run results JSON)")
    kept = sorted((r for r in summary.results.values() if r.status == "kept_failed"), key=lambda r: r.key)
    if kept:
        m = shlex.quote(manifest or "MANIFEST")
        lines.append("")
        lines.append(
            f"Still failed ({len(kept)}), from an earlier run; the same request meets the same error, so "
            "they were not resubmitted:"
        )
        for r in kept[:10]:
            lines.append(f"  ✗ {r.key}  {r.code}: {r.message}".rstrip())
        if len(kept) > 10:
            lines.append(f"  ... and {len(kept) - 10} more (`specrunner show {m}` lists them)")
        lines.append(
            "Fix: correct the input or the rule (a changed request is planned again), or, once the "
            f"cause is gone (e.g. the input re-uploaded), `specrunner retry {m}` resubmits them."
        )
    pending = sorted((r for r in summary.results.values() if r.status == "pending"), key=lambda r: r.key)
    if pending:
        lines.append("")
        m = shlex.quote(manifest or "MANIFEST")
        lines.append(
            f"Still running or unresolved ({len(pending)}): `specrunner refresh {m}` (or "
            f"`specrunner apply {m}`) picks them up."
        )
    return "\n".join(lines)


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Columns padded to their widest cell; nothing is cut (the last column, the error, runs on)."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    out = [fmt.format(*headers).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()]
    for row in rows:
        out.append(fmt.format(*row).rstrip())
    return "\n".join(out)


def state_text(
    rows: list[dict[str, Any]], lineage: str | None, serial: int | None, owner: str | None = None
) -> str:
    if not rows:
        return "The state has no jobs."
    body = table(
        [
            [
                r["key"],
                r["state"] or "-",
                r["mode"] or "-",
                str(r["count"] if r["count"] is not None else "-"),
                r["job_id"] or "-",
                (r["code"] + (": " + r["message"] if r["message"] else "")) if r["code"] else "",
            ]
            for r in rows
        ],
        ["JOB", "STATE", "MODE", "COUNT", "JOB ID", "ERROR"],
    )
    states: dict[str, int] = {}
    for r in rows:
        states[r["state"] or "-"] = states.get(r["state"] or "-", 0) + 1
    tail = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    mine = f"; owned by the manifest {owner!r}" if owner is not None else ""
    return f"{body}\n\n{len(rows)} jobs ({tail}); lineage {lineage}, serial {serial}{mine}."


def outputs_text(rows: list[dict[str, Any]]) -> str:
    """``outputs``: one object per line (bucket/key), its job and that job's state; a count at the end."""
    if not rows:
        return "No outputs recorded."
    cells = [[f"{r['bucket']}/{r['key']}", r["job"], r["state"] or "-"] for r in rows]
    jobs = len({r["job"] for r in rows})
    tail = f"{len(rows)} object{'s' if len(rows) != 1 else ''} from {jobs} job{'s' if jobs != 1 else ''}."
    return f"{table(cells, ['OBJECT', 'JOB', 'STATE'])}\n\n{tail}"

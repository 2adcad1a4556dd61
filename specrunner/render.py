"""Rendering plans, runs and state for people (text) and scripts (JSON). Pure string building."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .plan import ACTIONS, SYMBOLS, Plan

if TYPE_CHECKING:  # annotations only: rendering a plan never loads the executor (tenacity, SDK glue)
    from .executor import RunSummary

_TITLES = {"create": "to create", "replace": "to replace", "retry": "to retry", "resume": "to resume",
           "forget": "to forget", "noop": "unchanged"}


def plan_summary_line(plan: Plan) -> str:
    c = plan.counts()
    parts = [f"{c[a]} {_TITLES[a]}" for a in ("create", "replace", "retry", "resume", "forget")]
    return f"Plan: {', '.join(parts)}, {c['noop']} unchanged."


def plan_text(plan: Plan, *, show_unchanged: bool = False, recovery: str | None = None) -> str:
    lines = [plan_summary_line(plan)]
    if recovery:
        lines.append(recovery)
    if not plan.has_changes:
        lines.append("")
        lines.append("No changes. The state matches the manifest.")
    for action in ACTIONS:
        changes = plan.by_action(action)
        if not changes or (action == "noop" and not show_unchanged):
            continue
        lines.append("")
        lines.append(f"{SYMBOLS[action]} {action} ({len(changes)}):")
        width = min(60, max(len(c.key) for c in changes))
        for c in changes:
            lines.append(f"  {SYMBOLS[action]:>3} {c.key:<{width}}  {c.mode:<5}  {c.reason}")
    return "\n".join(lines)


def run_summary_line(summary: RunSummary) -> str:
    c = summary.counts()
    head = "Apply interrupted" if summary.interrupted else "Apply complete"
    parts = [f"{c['created']} created", f"{c['unchanged']} unchanged", f"{c['succeeded']} succeeded",
             f"{c['failed']} failed", f"{c['pending']} pending", f"{c['forgotten']} forgotten"]
    if c["adopted"]:
        parts.insert(1, f"{c['adopted']} adopted")
    return f"{head}: {', '.join(parts)}."


def run_text(summary: RunSummary) -> str:
    lines = [run_summary_line(summary)]
    failed = sorted((r for r in summary.results.values() if r.status == "fail"), key=lambda r: r.key)
    if failed:
        lines.append("")
        lines.append(f"Failed ({len(failed)}):")
        for r in failed[:200]:
            lines.append(f"  ✗ {r.key}  {r.code}: {r.message}".rstrip())
        if len(failed) > 200:
            lines.append(f"  ... and {len(failed) - 200} more (see the run results JSON)")
    pending = sorted((r for r in summary.results.values() if r.status == "pending"), key=lambda r: r.key)
    if pending:
        lines.append("")
        lines.append(f"Still running or unresolved ({len(pending)}): rerun `specrunner apply` or "
                     "`specrunner refresh` to pick them up.")
    return "\n".join(lines)


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = min(max(widths[i], len(cell)), 60)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*headers).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()]
    for row in rows:
        out.append(fmt.format(*(c if len(c) <= 60 else c[:57] + "..." for c in row)).rstrip())
    return "\n".join(out)


def state_text(rows: list[dict[str, Any]], lineage: str | None, serial: int | None) -> str:
    if not rows:
        return "The state has no jobs."
    body = table(
        [[r["key"], r["state"] or "-", r["mode"] or "-", str(r["count"] if r["count"] is not None else "-"),
          r["job_id"] or "-", (r["code"] + (": " + r["message"] if r["message"] else "")) if r["code"] else ""]
         for r in rows],
        ["JOB", "STATE", "MODE", "COUNT", "JOB ID", "ERROR"],
    )
    states: dict[str, int] = {}
    for r in rows:
        states[r["state"] or "-"] = states.get(r["state"] or "-", 0) + 1
    tail = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    return f"{body}\n\n{len(rows)} jobs ({tail}); lineage {lineage}, serial {serial}."


def to_json(doc: Any) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)

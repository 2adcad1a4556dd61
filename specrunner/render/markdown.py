"""Pull-request comments: plan and apply as GitHub-flavoured markdown.

Summary table first, then one ``<details>`` block per action, a hidden marker line so a bot can find
and update its own comment, and never more than GitHub's 65,536 characters: long lists are cut with
a pointer to the full JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from specrunner.apply.results import RunSummary
from specrunner.core.plan import SHOWN, SYMBOLS, Change, Plan, shown
from specrunner.render.groups import KEYS_SHOWN, Group, group
from specrunner.render.text import plan_summary_line, retry_command, run_summary_line, targeting_warning

LIMIT = 65_536
_RESERVE = 600  # room for the closing lines and the truncation note
_TITLES = {
    "create": "create",
    "replace": "replace",
    "retry": "retry",
    "resume": "resume",
    "forget": "forget",
    "moved": "moved (renamed in the state)",
    "failed": "failed, not resubmitted",
    "noop": "unchanged",
}


def marker(kind: str, manifest: str) -> str:
    return f"<!-- specrunner:{kind}:{manifest} -->"


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _code(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines: list[str] = []
        self.size = 0
        self.cut = 0

    def add(self, line: str) -> bool:
        if self.size + len(line) + 1 > self.limit - _RESERVE:
            self.cut += 1
            return False
        self.lines.append(line)
        self.size += len(line) + 1
        return True

    def text(self) -> str:
        return "\n".join(self.lines)


def plan_markdown(
    plan: Plan,
    manifest: str,
    *,
    json_hint: str,
    show_unchanged: bool = False,
    limit: int = LIMIT,
    verbose: bool = False,
    left_out: int = 0,
    refresh: bool = True,
    selection: Sequence[str] = (),
) -> str:
    b = _Budget(limit)
    b.add(marker("plan", manifest))
    b.add(f"### specrunner plan for `{manifest}`")
    b.add("")
    b.add(f"**{plan_summary_line(plan)}**")
    b.add("")
    counts = plan.counts()
    b.add("| Action | Jobs |")
    b.add("|---|---:|")
    for action in SHOWN:
        if action not in counts:  # "moved" is counted only by plans that move records
            continue
        b.add(f"| {SYMBOLS[action].strip() or '='} {_TITLES[action]} | {counts[action]} |")
    if not plan.has_changes:
        b.add("")
        b.add("No changes. The state matches the manifest.")
    if counts["failed"]:
        b.add("")
        narrowed = [*selection, *([] if refresh else ["--refresh=false"])]
        b.add(f"To resubmit the failed jobs anyway: `{retry_command(plan, manifest, narrowed)}`")
    if left_out:
        b.add("")
        b.add(f"> ⚠️ {_cell(targeting_warning(left_out, manifest, refresh=refresh))}")
    for action, changes in plan.groups(unchanged=show_unchanged):
        _details(
            b,
            f"{_TITLES.get(action, action)} ({len(changes)})",
            ["Job", "Mode", "Reason"],
            (row for g in group(changes) for row in _rows(g, verbose, json_hint)),
        )
    return _finish(b, json_hint)


def _rows(g: Group, verbose: bool, json_hint: str) -> list[list[str]]:
    """A group's one row (its rule, count and keys up to a limit), or one row per change."""
    if not g.grouped:
        return [[_code(c.key), c.mode, _reason(c, c.reason)] for c in g.changes]
    keys = g.keys if verbose else g.keys[:KEYS_SHOWN]
    left = len(g.keys) - len(keys)
    more = [f"… and {left} more ({_cell(json_hint)} lists all)"] if left else []
    cell = "<br>".join([f"**{_cell(g.rule)}**: {len(g.keys)} jobs", *(_code(k) for k in keys), *more])
    return [[cell, g.mode, _reason(g.changes[0], g.reason)]]


def _reason(c: Change, reason: str) -> str:
    """The reason cell (``reason``: the change's own, or its group's): a replaced job lists each
    changed attribute on its own line, after where it moved from (a ``moved:`` entry's job)."""
    if not c.diff:
        return _cell(reason)
    moved = (
        _cell(reason.partition("; ")[0]) + "<br>" if c.moved_from and reason.startswith("moved from ") else ""
    )
    return moved + "changed:<br>" + "<br>".join(_code(d.text()) for d in c.diff)


def apply_markdown(
    plan: Plan, summary: RunSummary, manifest: str, *, json_hint: str, limit: int = LIMIT
) -> str:
    b = _Budget(limit)
    b.add(marker("apply", manifest))
    status = "✅" if not summary.counts()["failed"] and not summary.interrupted else "❌"
    b.add(f"### {status} specrunner apply for `{manifest}`")
    b.add("")
    b.add(f"**{run_summary_line(summary)}**")
    b.add("")
    b.add("| Outcome | Jobs |")
    b.add("|---|---:|")
    for name, n in summary.counts().items():
        b.add(f"| {name} | {n} |")
    results = sorted(summary.results.values(), key=lambda r: r.key)
    failed = [r for r in results if r.status == "fail"]
    if failed:
        _details(
            b,
            f"failed ({len(failed)})",
            ["Job", "Code", "Message"],
            ([_code(r.key), _cell(r.code), _cell(r.message)] for r in failed),
            open_=True,
        )
    for status_, title in (("success", "succeeded"), ("pending", "still running")):
        rows = [r for r in results if r.status == status_ and r.action != "noop"]
        if rows:
            _details(
                b,
                f"{title} ({len(rows)})",
                ["Job", "Action", "Job id"],
                ([_code(r.key), shown(r.action), _code(r.job_id or "-")] for r in rows),
            )
    return _finish(b, json_hint)


def _details(
    b: _Budget, title: str, headers: list[str], rows: Iterable[list[str]], *, open_: bool = False
) -> None:
    b.add("")
    b.add(f"<details{' open' if open_ else ''}><summary>{title}</summary>")
    b.add("")
    b.add("| " + " | ".join(headers) + " |")
    b.add("|" + "---|" * len(headers))
    shown = 0
    total = 0
    for row in rows:
        total += 1
        if b.cut or not b.add("| " + " | ".join(row) + " |"):
            continue
        shown += 1
    if shown < total:
        b.lines.append(f"| … {total - shown} more not shown | | |"[: b.limit])
    b.lines.append("")
    b.lines.append("</details>")


def _finish(b: _Budget, json_hint: str) -> str:
    if b.cut:
        b.lines.append("")
        b.lines.append(
            f"> ⚠️ This comment was shortened to stay under GitHub's {LIMIT:,}-character limit. "
            f"The full list is in the JSON: {json_hint}"
        )
    text = b.text() + "\n"
    assert len(text) <= b.limit, len(text)
    return text

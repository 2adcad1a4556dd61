"""Rendering plans, runs and state for people (text) and scripts (JSON). Pure string building."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from specrunner.core import shellwords
from specrunner.core.jobs import split_key
from specrunner.core.plan import SYMBOLS, Change, Plan
from specrunner.render.groups import KEYS_SHOWN, Group, group
from specrunner.render.style import PLAIN, Style, arrow_lines, paragraph, shorten, wrap
from specrunner.validate.variables import given_options

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


def summary_text(line: str, style: Style) -> str:
    """A summary line as ``style`` lays it out (:func:`fit_summary` when the width is the reader's)."""
    return "\n".join(fit_summary(line, style.width)) if style.sized else line


def fit_summary(line: str, width: int) -> list[str]:
    """A summary line (``Plan: a, b, c.``) as lines of at most ``width``, broken only after a comma,
    each continuation under the first count; one line when it fits (the usual case)."""
    if len(line) <= width:
        return [line]
    head, _, rest = line.partition(": ")
    indent = " " * (len(head) + 2)
    out: list[str] = []
    cur = f"{head}:"
    for i, part in enumerate(rest.split(", ")):
        piece = part if i == len(rest.split(", ")) - 1 else f"{part},"
        if len(cur) + 1 + len(piece) > width and cur.strip() and cur != f"{head}:":
            out.append(cur)
            cur = indent + piece
        else:
            cur = f"{cur} {piece}" if cur != indent else cur + piece
    out.append(cur)
    return out


def _options() -> str:
    """The options a command printed for pasting repeats: the ``--state`` and the variables' values
    this one acts on (``given_options``)."""
    return given_options(state=True)


def retry_command(plan: Plan, manifest: str | None, selection: Sequence[str] = ()) -> str:
    """``specrunner retry`` of the failed jobs this plan shows: the one by its key, else those the
    plan's ``selection`` (``--target`` / ``--exclude`` / ``--refresh=false`` as typed) chose."""
    failed = plan.by_action("failed")
    if len(failed) == 1:
        refresh = ["--refresh=false"] if "--refresh=false" in selection else []
        selection = ["--target", shellwords.literal_glob(failed[0].key), *refresh]
    return f"specrunner retry {_path(manifest)}{_words(selection)}{_options()}"


def _path(manifest: str | None) -> str:
    return shellwords.path(manifest) if manifest else "MANIFEST"


def _words(words: Sequence[str]) -> str:
    """Options as typed (unquoted), quoted and each with a leading space."""
    return "".join(" " + shellwords.quote(w) for w in words)


def plan_text(
    plan: Plan,
    *,
    show_unchanged: bool = False,
    recovery: str | None = None,
    manifest: str | None = None,
    style: Style = PLAIN,
    left_out: int = 0,
    refresh: bool = True,
    selection: Sequence[str] = (),
) -> str:
    """The plan for people: a summary line, then one block per action. Changes of a rule that say
    the same thing are one group (``render.groups``), its keys listed up to a limit (all with
    ``style.verbose``); a replaced job lists every changed attribute on its own line in the
    manifest's terms. Every line fits ``style.width`` (wrapped, never cut; a key or command longer
    than the width alone on its line); the summary line too when the width is the reader's.
    ``refresh``: whether the plan was refreshed (the whole plan a warning names is made the same way);
    ``selection``: its ``--target`` / ``--exclude`` as typed (a retry it names retries no more)."""
    w = style.width
    summary = plan_summary_line(plan)
    lines = fit_summary(summary, w) if style.sized else [summary]
    if recovery:
        lines.extend(wrap(recovery, w))
    c = plan.counts()
    if not plan.has_changes:
        lines.append("")
        if c["failed"]:
            n = c["failed"]
            lines.extend(
                wrap(
                    f"No changes to submit. {n} job{'s' if n != 1 else ''} failed with an error the same "
                    f"request meets again, so apply leaves {'them' if n != 1 else 'it'} as recorded.",
                    w,
                )
            )
        else:
            lines.append("No changes. The state matches the manifest.")
    for action, changes in plan.groups(unchanged=show_unchanged):
        lines.append("")
        lines.append(style.action(f"{SYMBOLS[action]} {action} ({len(changes)}):", action))
        found = group(changes)
        width = max((len(ch.key) for g in found if not g.grouped for ch in g.changes), default=0)
        for g in found:
            if g.grouped:
                lines.extend(_group_lines(g, style))
            else:
                for ch in g.changes:
                    lines.extend(_change_lines(ch, width, style))
    if c["failed"]:
        lines.append("")
        narrowed = [*selection, *([] if refresh else ["--refresh=false"])]
        say = f"To resubmit the failed jobs anyway: {retry_command(plan, manifest, narrowed)}"
        head, _, command = say.partition(": ")
        lines.extend([say] if len(say) <= w else [head + ":", f"  {command}"])
    if c["forget"]:
        lines.append("")
        lines.append(style.warning(paragraph(forget_warning(plan, manifest), w)))
    if left_out:
        lines.append("")
        lines.append(style.warning(paragraph(targeting_warning(left_out, manifest, refresh=refresh), w)))
    return "\n".join(lines)


def targeting_warning(left_out: int, manifest: str | None = None, *, refresh: bool = True) -> str:
    """The call-out of a plan that ``--target`` / ``--exclude`` narrowed while other changes wait; the
    whole plan it names is made as this one was (``refresh``: with the refresh, or --refresh=false)."""
    n = f"{left_out} change{'s' if left_out != 1 else ''}"
    m = _path(manifest) + ("" if refresh else " --refresh=false")
    return (
        f"Warning: targeting is in effect (--target/--exclude): {n} of the manifest "
        f"{'are' if left_out != 1 else 'is'} left out of this plan, so the state will not match the "
        f"manifest after this apply. `specrunner plan {m}{_options()}` shows every change."
    )


def _head(ch: Change, reason: str | None = None) -> str:
    """What a change's line says after its key and mode: the reason (``reason``: a group's), or the
    names of what changed (after where the job moved from, for a job a ``moved:`` entry renames)."""
    reason = ch.reason if reason is None else reason
    if not ch.diff:
        return reason
    moved = reason.partition("; ")[0] + "; " if ch.moved_from and reason.startswith("moved from ") else ""
    names = ", ".join(d.attribute for d in ch.diff)
    head = (
        "interrupted submission, and the job changed since"
        if ch.reason.startswith("interrupted")
        else "changed"
    )
    extra = ch.reason[ch.reason.index(" (job ") :] if " (job " in ch.reason else ""
    return f"{moved}{head}: {names}{extra}"


def _painted(line: str, symbol: str, action: str, style: Style) -> str:
    """``line`` with its action symbol (the first columns) in the action's colour."""
    n = len(f"  {symbol:>3}")
    return line[:2] + style.action(line[2:n], action) + line[n:]


def _diff_lines(ch: Change, width: int) -> list[str]:
    return [out for d in ch.diff for line in d.lines() for out in arrow_lines(line, width, 8)]


def _change_lines(ch: Change, key_width: int, style: Style) -> list[str]:
    sym = SYMBOLS[ch.shown]
    prefix = f"  {sym:>3} {ch.key:<{key_width}}  {ch.mode:<5}  "
    lines = wrap(_head(ch), style.width, first=prefix, indent=8)
    lines[0] = _painted(lines[0], sym, ch.shown, style)
    return lines + _diff_lines(ch, style.width)


def _group_lines(g: Group, style: Style) -> list[str]:
    """A group: its rule and count, what its jobs share, then their keys (up to a limit)."""
    sym, n, first = SYMBOLS[g.action], len(g.changes), g.changes[0]
    lines = wrap(
        _head(first, g.reason), style.width, first=f"  {sym:>3} {g.rule}: {n} jobs  {g.mode:<5}  ", indent=8
    )
    lines[0] = _painted(lines[0], sym, g.action, style)
    lines.extend(_diff_lines(first, style.width))
    keys = g.keys if style.verbose else g.keys[:KEYS_SHOWN]
    lines.extend(f"{'        jobs: ' if i == 0 else ' ' * 14}{k}" for i, k in enumerate(keys))
    if len(keys) < n:
        lines.append(f"{' ' * 14}... and {n - len(keys)} more (-v lists all)")
    return lines


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
        mv = shellwords.command("state mv", manifest or "MANIFEST", a, b, options=_options())
        text += (
            f" {len(renamed)} of the new jobs send exactly what a forgotten one sent (a rename?): "
            f"`{mv}` keeps their records instead of paying again."
        )
        if oi == ni:  # a renamed rule: the manifest can carry the rename, for every state of it
            text += (
                f" Or keep the rename in the manifest, reviewed with it and applied by the next apply "
                f"of every environment: `moved: [{{from: {orule}, to: {nrule}}}]`."
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


def run_text(
    summary: RunSummary, manifest: str | None = None, style: Style = PLAIN, selection: Sequence[str] = ()
) -> str:
    """What a run did: the summary line, then its failures one line each (a message longer than the
    line is cut with ``…``: whole with ``style.verbose``, in ``state show`` and the run results).
    ``selection``: the run's ``--target`` / ``--exclude`` / ``--refresh=false`` as typed; the retry and
    apply it names act on no other jobs."""
    w = style.width
    head = run_summary_line(summary)
    lines = fit_summary(head, w) if style.sized else [head]
    failed = sorted((r for r in summary.results.values() if r.status == "fail"), key=lambda r: r.key)
    m = _path(manifest)
    narrowed = _words(selection)
    cut: list[str] = []  # the keys whose message was cut

    def failure(r: Any) -> str:
        line = f"  ✗ {r.key}  {r.code}: {r.message}".rstrip()
        if style.verbose or len(line) <= w:
            return style.action("  ✗", "failed") + line[3:]
        cut.append(r.key)
        return style.action("  ✗", "failed") + shorten(line, w)[3:]

    if failed:
        lines.append("")
        lines.append(f"Failed ({len(failed)}):")
        lines.extend(failure(r) for r in failed[:200])
        if len(failed) > 200:
            lines.append(f"  ... and {len(failed) - 200} more (see the run results JSON)")
    kept = sorted((r for r in summary.results.values() if r.status == "kept_failed"), key=lambda r: r.key)
    if kept:
        lines.append("")
        lines.extend(
            wrap(
                f"Still failed ({len(kept)}), from an earlier run; the same request meets the same error, "
                "so they were not resubmitted:",
                w,
            )
        )
        lines.extend(failure(r) for r in kept[:10])
        if len(kept) > 10:
            lines.append(f"  ... and {len(kept) - 10} more (`specrunner show {m}{_options()}` lists them)")
        lines.extend(
            wrap(
                "Fix: correct the input or the rule (a changed request is planned again), or, once the "
                f"cause is gone (e.g. the input re-uploaded), `specrunner retry {m}{narrowed}{_options()}` "
                "resubmits them.",
                w,
            )
        )
    if cut:
        lines.append("")
        whole = (
            f"`{shellwords.command('state show', manifest, cut[0], options=_options())}` gives "
            + ("it whole" if len(cut) == 1 else "the first whole (each key alike)")
            if manifest
            else "the run results hold them whole"
        )
        lines.extend(wrap(f"Messages cut to fit {w} columns: {whole}.", w))
    pending = sorted((r for r in summary.results.values() if r.status == "pending"), key=lambda r: r.key)
    if pending:
        lines.append("")
        lines.extend(
            wrap(
                f"Still running or unresolved ({len(pending)}): "
                f"`specrunner refresh {m}{_options()}` (or "
                f"`specrunner apply {m}{narrowed}{_options()}`) picks them up.",
                w,
            )
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


def _table_width(rows: list[list[str]], headers: list[str]) -> int:
    return max(len(line) for line in table(rows, headers).splitlines())


SHORT_ID = 8  # a job id's first characters, when the whole id does not fit (like a short git hash)


def state_text(
    rows: list[dict[str, Any]],
    lineage: str | None,
    serial: int | None,
    owner: str | None = None,
    *,
    style: Style = PLAIN,
    manifest: str | None = None,
) -> str:
    """``show``: one row per job. Wider than the terminal (and not ``style.verbose``), each error
    goes on lines of its own under its row, whole; if still too wide, job ids are shortened (with a
    note naming the commands that print them whole)."""
    if not rows:
        return "The state has no jobs."
    w = style.width
    headers = ["JOB", "STATE", "MODE", "COUNT", "JOB ID", "ERROR"]
    cells = [
        [
            r["key"],
            r["state"] or "-",
            r["mode"] or "-",
            str(r["count"] if r["count"] is not None else "-"),
            r["job_id"] or "-",
            (r["code"] + (": " + r["message"] if r["message"] else "")) if r["code"] else "",
        ]
        for r in rows
    ]
    note = ""
    if style.verbose or _table_width(cells, headers) <= w:
        body = table(cells, headers)
    else:
        narrow = [row[:-1] for row in cells]
        if _table_width(narrow, headers[:-1]) > w:
            narrow = [[*row[:-1], shorten(row[-1], SHORT_ID + 1)] for row in narrow]
            show = shellwords.command("state show", manifest or "MANIFEST", cells[0][0], options=_options())
            note = (
                f"\nJob ids shortened to fit {w} columns: `specrunner show {_path(manifest)} -v{_options()}` "
                f"prints them whole; one job's whole record: `{show}`."
            )
        # A key too long for its column goes on a line of its own, above its row: the other rows keep
        # the table within the width instead of being padded to the longest key.
        room = w - _table_width([["", *row[1:]] for row in narrow], ["", *headers[1:-1]])
        long_keys = [row[0] if len(row[0]) > max(room, len(headers[0])) else "" for row in narrow]
        if any(long_keys):
            narrow = [["" if k else row[0], *row[1:]] for k, row in zip(long_keys, narrow, strict=True)]
        lines = table(narrow, headers[:-1]).splitlines()
        body_lines = lines[:2]
        for line, row, key in zip(lines[2:], cells, long_keys, strict=True):
            if key:
                body_lines.append(key)
            body_lines.append(line)
            if row[-1]:
                body_lines.extend(wrap(row[-1], w, first="    error: ", indent=11))
        body = "\n".join(body_lines)
    states: dict[str, int] = {}
    for r in rows:
        states[r["state"] or "-"] = states.get(r["state"] or "-", 0) + 1
    tail = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    mine = f"; owned by the manifest {owner!r}" if owner is not None else ""
    summary = f"{len(rows)} jobs ({tail}); lineage {lineage}, serial {serial}{mine}."
    seen = sorted(r["verified_at"] for r in rows if r.get("verified_at"))
    if seen:  # what was verified and when (the times per job: --format json)
        summary += f" Outputs of {len(seen)} job(s) listed with sizes and ETags, the last at {seen[-1]}."
    return f"{body}\n\n{paragraph(summary, w)}{paragraph(note, w) if note else ''}"


def outputs_text(rows: list[dict[str, Any]], *, style: Style = PLAIN) -> str:
    """``outputs``: one object per line (bucket/key), its job and that job's state; a count at the end.
    Wider than the terminal (and not ``style.verbose``): each job on a line, its objects under it."""
    if not rows:
        return "No outputs recorded."
    cells = [[f"{r['bucket']}/{r['key']}", r["job"], r["state"] or "-"] for r in rows]
    jobs = len({r["job"] for r in rows})
    tail = f"{len(rows)} object{'s' if len(rows) != 1 else ''} from {jobs} job{'s' if jobs != 1 else ''}."
    headers = ["OBJECT", "JOB", "STATE"]
    if style.verbose or _table_width(cells, headers) <= style.width:
        return f"{table(cells, headers)}\n\n{tail}"
    lines: list[str] = []
    last = None
    for obj, job, state in cells:
        if job != last:
            lines.append(f"{job}  ({state})")
            last = job
        lines.append(f"  {obj}")
    return "\n".join(lines) + f"\n\n{tail}"

"""See before you pay: apply shows its plan, and asks before a paid backend is sent anything.

Invariants:
- The plan shown is the one made under the state lock, i.e. exactly what the run will do.
- In text output the plan is printed (stdout) before any call to the backend; a plan that forgets
  jobs carries a warning line.
- On a paid backend (``aliyun``) a plan with changes runs only after approval: ``--auto-approve``, a
  saved plan file (already reviewed), or ``yes`` typed on a terminal. Without a terminal (or with
  JSON / markdown output) and neither flag nor plan file, it is refused with a command that works.
- The local engine costs nothing and is never asked about: ``specrunner apply specs/demo.yaml``
  stays one command.
- Declining or refusing raises :class:`ApprovalError` (exit 1) before anything is submitted; the
  state is left as it was.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from specrunner.core import shellwords
from specrunner.core.errors import ApprovalError
from specrunner.core.plan import Plan
from specrunner.validate.variables import given_options

if TYPE_CHECKING:
    from specrunner.render.style import Style

PAID_BACKENDS = {"aliyun": "Alibaba Cloud MTS, billed per job"}


@dataclass
class Approval:
    backend: str
    manifest: str
    text: bool  # text output (else JSON / markdown: nothing extra on stdout)
    quiet: bool
    auto_approve: bool
    saved_plan: bool
    command: str = "apply"
    printed: bool = False  # the plan was shown before the run
    selection: tuple[str, ...] = ()  # --target / --exclude / ... as given, for the hint's command
    jobs: tuple[str, ...] = ()  # --target / --exclude alone: a retry the plan names retries no more
    style: Style | None = None  # colour, width, every key of a group (-v); None: plain, 80 columns
    left_out: Callable[[Plan], int] | None = None  # changes --target / --exclude leave out of a plan
    refresh: bool = True  # the plan was refreshed (--refresh=false: not): so is the one a warning names

    def needs_approval(self, plan: Plan) -> bool:
        return (
            self.backend in PAID_BACKENDS
            and plan.has_changes
            and not self.auto_approve
            and not self.saved_plan
        )

    def __call__(self, plan: Plan) -> None:
        from specrunner.render.style import PLAIN, paragraph
        from specrunner.render.text import forget_warning, plan_summary_line, plan_text, summary_text

        if self.text and not self.saved_plan and plan.has_changes:
            if self.quiet:
                style = self.style or PLAIN
                typer.echo(summary_text(plan_summary_line(plan), style))
                if plan.counts()["forget"]:
                    typer.echo(style.warning(paragraph(forget_warning(plan, self.manifest), style.width)))
            else:
                skipped = self.left_out(plan) if self.left_out else 0
                style = self.style or PLAIN
                typer.echo(
                    plan_text(
                        plan,
                        manifest=self.manifest,
                        left_out=skipped,
                        style=style,
                        refresh=self.refresh,
                        selection=self.jobs,
                    )
                )
            typer.echo("")
            self.printed = True
        if not self.needs_approval(plan):
            return
        c = plan.counts()
        submits = c["create"] + c["replace"] + c["retry"]
        selection = shellwords.join(self.selection)
        m = shellwords.path(self.manifest)
        saved = ""
        if self.command == "apply":
            plan_cmd = " ".join(
                w
                for w in (
                    "specrunner plan",
                    m,
                    selection,
                    given_options(state=True).strip(),
                    "--out plan.json",
                )
                if w
            )
            saved = f", or save it with `{plan_cmd}` and run `specrunner apply plan.json`"
        ask(
            refused=f"{self.command} on {self.backend} ({PAID_BACKENDS[self.backend]})",
            command=self.command,
            manifest=self.manifest,
            text=self.text,
            selection=self.selection,
            preview=None if self.printed else "specrunner plan",
            also=saved,
            question=[
                f"Do you want to perform these actions on {self.backend} ({PAID_BACKENDS[self.backend]})?",
                f"  {submits} job{'s' if submits != 1 else ''} will be submitted"
                + (f" and {c['forget']} forgotten" if c["forget"] else "")
                + ".",
            ],
            nothing="nothing was submitted",
        )


def ask(
    *,
    refused: str,
    command: str,
    manifest: str,
    text: bool,
    selection: tuple[str, ...],
    preview: str | None,
    question: list[str],
    nothing: str,
    also: str = "",
) -> None:
    """Ask for `yes` on the terminal (``question`` first); refuse without one (or with JSON /
    markdown output), naming the command that works. ``refused``: what would be done (``refusing to
    {refused} without approval``); ``preview``: the command that shows the plan, None when it was
    printed above; ``nothing``: what was not done (``nothing was submitted``)."""
    stdin = sys.stdin
    m = shellwords.path(manifest)
    if not text or not stdin.isatty():
        why = "no terminal to ask on" if text else "JSON / markdown output cannot ask"
        sel = shellwords.join(selection)
        same = given_options(state=True).strip()  # the state and the values this command acts on
        again = " ".join(w for w in ("specrunner", command, m, sel, same, "--auto-approve") if w)
        shown = (
            "the plan above"
            if preview is None
            else "`" + " ".join(w for w in (preview, m, sel, same) if w) + "`"
        )
        raise ApprovalError(
            f"refusing to {refused} without approval: {why}; {nothing}",
            hint=f"review {shown}, then run `{again}`{also}",
        )
    for line in question:
        typer.echo(line)
    typer.echo("  Only 'yes' will be accepted to approve.")
    typer.echo("")
    typer.echo("  Enter a value: ", nl=False)
    answer = stdin.readline()
    if answer.strip() != "yes":
        typer.echo("")
        raise ApprovalError(f"{command} cancelled: the answer was not 'yes'; {nothing}")
    typer.echo("")

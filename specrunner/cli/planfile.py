"""A saved plan given where a manifest belongs: one error naming what takes it.

``apply PLANFILE`` applies a saved plan and ``show PLANFILE`` shows it (``retry PLANFILE`` says it
applies as made, ``cli.runcmds``); every other command that takes a manifest would read the plan's JSON
as a manifest and report its fields as manifest problems (``plan``, ``prune``, ``refresh``) or call it
"nor a saved plan" (the state verbs). :func:`refuse` says what the file is instead, before anything is
read or locked. Typer-free: the fast path (``cli.fast``) calls it too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from specrunner.core import shellwords
from specrunner.core.errors import SpecrunnerError

# The commands that take a saved plan themselves, or that take no manifest.
TAKE_A_PLAN = {"apply", "show", "retry", "init", "schema", "emulator"}


def refuse(verb: str, manifest: Path) -> None:
    """Raise for a saved plan ``manifest`` given to ``verb`` (a manifest's command)."""
    if verb in TAKE_A_PLAN or manifest.suffix.lower() in (".yaml", ".yml"):
        return
    from specrunner.ops.savedplan import is_plan_file

    if not is_plan_file(manifest):
        return
    p = shellwords.path(manifest)
    made = _manifest_of(manifest)
    raise SpecrunnerError(
        f"{manifest} is a saved plan: `{verb}` takes a manifest"
        + (f" (this plan was made from {made})" if made else ""),
        hint=f"give {verb} the manifest; `specrunner show {p}` says what applying the plan would do",
    )


def _manifest_of(plan: Path) -> str | None:
    """The manifest a plan file names, usable from here (None when it cannot be read)."""
    try:
        doc = json.loads(plan.read_text(encoding="utf-8"))
        where = doc["manifest"]["path"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(where, str):
        return None
    if doc.get("paths_relative_to_plan_file") and not where.startswith("oss://"):
        return os.path.relpath(plan.resolve().parent / where)
    return where

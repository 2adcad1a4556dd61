"""What Terraform's fingers type, answered with specrunner's spelling before the parser sees it.

``plan m.yaml -var env=prod`` would otherwise read as ``-v -a -r`` ("No such option: -a"), and
``specrunner destroy`` / ``output`` as an unknown command. :func:`check` finds such a word in the
arguments and raises one error naming the equivalent; it exits 1 as every usage error does (2 is
``plan --detailed-exitcode``'s "there are changes": a typo must never read as that).

Only stdlib and typer-free modules are imported: it runs at every start.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from specrunner.core import shellwords
from specrunner.core.errors import SpecrunnerError

_ONE_DASH = re.compile(r"-([a-z][a-z-]+)(=.*)?")
# Terraform's single-dash flags whose specrunner spelling is not simply the same name with two dashes.
_ELSEWHERE = {
    "out": "`specrunner plan MANIFEST --out FILE` saves a plan; `specrunner apply FILE` applies it",
    "destroy": "`specrunner prune MANIFEST` deletes the outputs of jobs the manifest no longer has; "
    "`specrunner state rm MANIFEST KEY...` drops records (their outputs stay)",
    "refresh-only": "`specrunner refresh MANIFEST` polls unfinished jobs and records their outcomes",
    "lock": "specrunner always takes the state's lock (it is what keeps two runs from submitting twice); "
    "`--lock-timeout 5m` waits for a held one, `specrunner force-unlock MANIFEST LOCK_ID` removes a "
    "stale one",
    "json": "`--format json` prints the machine-readable document",
    "input": "specrunner asks only on a terminal; without one it never waits for input "
    "(apply on aliyun needs `--auto-approve` or a saved plan there)",
    "refresh": "`specrunner refresh MANIFEST` polls unfinished jobs and records their outcomes",
}
_COMMANDS = {
    "output": "`specrunner outputs MANIFEST` lists every object the recorded jobs produced",
    "destroy": "`specrunner prune MANIFEST` deletes the outputs of jobs the manifest no longer has "
    "(remove them from the manifest, apply, then prune); `specrunner state rm MANIFEST KEY...` drops "
    "records from the state (their outputs stay in the bucket)",
    "taint": "`specrunner apply MANIFEST --replace KEY` submits a job again whatever the state says",
    "workspace": "one manifest serves several environments through variables: `--var env=prod`, with "
    "`key: site/${var.env}.lock.json` in its state: block (README: Variables)",
}


class HabitError(SpecrunnerError):
    """A Terraform spelling given to specrunner."""


def _valued(group: Any) -> set[str]:
    """The options of any command of ``group`` (and its sub-groups) that take a value."""
    out: set[str] = set()
    for command in getattr(group, "commands", {}).values():
        out |= {o for o, takes in _options(command).items() if takes} | _valued(command)
    return out


def _options(command: Any) -> dict[str, bool]:
    """Each option of ``command`` -> whether it takes a value."""
    return {
        o: not getattr(p, "is_flag", False) and not getattr(p, "count", False)
        for p in getattr(command, "params", ())
        for o in getattr(p, "opts", ())
    }


def check(args: Sequence[str], group: Any) -> None:
    """Raise :class:`HabitError` for the first Terraform spelling in ``args`` (a command line)."""
    words = list(args)
    if "--" in words:
        words = words[: words.index("--")]
    names = [w for w in words if not w.startswith("-")]
    if not names:
        return
    commands = getattr(group, "commands", {})
    name = names[0]
    valued = _valued(group)  # `--var-file prod.yaml` names no manifest
    manifests = [
        w
        for i, w in enumerate(words)
        if i and not w.startswith("-") and w.endswith((".yaml", ".yml")) and words[i - 1] not in valued
    ]
    # The hints name the manifest given, so they work when pasted (MANIFEST when none was given), and
    # the error handler adds the --state / --var / --var-file given (``errors.pasteable``).
    fill = shellwords.path(manifests[0]) if manifests else "MANIFEST"
    if manifests:
        _record(words, manifests[0])
    if name not in commands and name in _COMMANDS:
        extra = _COMMANDS[name]
        raise HabitError(
            f"`{name}` is a Terraform command; specrunner has none by that name",
            hint=extra.replace("MANIFEST", fill),
        )
    command = commands.get(name)
    if command is not None and len(names) > 1 and names[1] in getattr(command, "commands", {}):
        command, name = command.commands[names[1]], f"{name} {names[1]}"
    known = _options(command)
    for i, word in enumerate(words):
        m = _ONE_DASH.fullmatch(word)
        if m is None or word in known:
            continue
        flag, value = m.group(1), (m.group(2) or "")[1:]
        if f"--{flag}" in known:
            after = words[i + 1] if i + 1 < len(words) else ""
            if not value and known[f"--{flag}"] and after and not after.startswith("-"):
                value = after
            # A flag given a value (-refresh=false) keeps its `=`: `--refresh false` would read the value
            # as an argument.
            shown = f"--{flag}={value}" if value and not known[f"--{flag}"] else f"--{flag} {value}".rstrip()
            raise HabitError(
                f"{word!r} is Terraform's spelling; specrunner's options take two dashes: `{shown}`",
                hint=f"`specrunner {name} --help` lists the options",
            )
        if flag in _ELSEWHERE:
            raise HabitError(
                f"{word!r} is Terraform's spelling; specrunner has no such option here",
                hint=_ELSEWHERE[flag].replace("MANIFEST", fill),
            )
        before = words[i - 1] if i else ""
        if known.get(before) or (not value and all(f"-{ch}" in known for ch in flag)):
            continue  # an option's value, or short flags given together (-vq)
        if command is not None:
            raise HabitError(
                f"{word!r}: `specrunner {name}` has no option {'--' + flag!r} (options take two dashes)",
                hint=f"`specrunner {name} --help` lists the options",
            )


def _record(words: list[str], manifest: str) -> None:
    """Record the manifest and the ``--state`` / ``--var`` / ``--var-file`` options among ``words``
    (what the parser would record), for the commands a hint names."""
    from pathlib import Path

    from specrunner.cli.errors import record_command
    from specrunner.validate.variables import give, parse_pair

    given: dict[str, list[str]] = {"--state": [], "--var": [], "--var-file": []}
    for i, word in enumerate(words):
        name, eq, value = word.partition("=")
        if name in given and (eq or i + 1 < len(words)):
            given[name].append(value if eq else words[i + 1])
    try:
        pairs = tuple(parse_pair(v) for v in given["--var"])
    except ValueError:  # the parser says so, once the habit is fixed
        pairs = ()
    record_command(manifest, given["--state"][-1] if given["--state"] else None)
    give(cli=pairs, files=tuple(Path(f) for f in given["--var-file"]))

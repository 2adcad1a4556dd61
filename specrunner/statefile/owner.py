"""Which manifest a state belongs to: the owner recorded in the lock file (its ``manifest`` field).

Two manifests pointed at one state by mistake (the same ``state:`` key, the same ``--state`` file)
would each plan the other's jobs as forgotten, and alternating applies would resubmit every job. So
a state records its owner, and every command that plans or writes refuses another manifest's state
before anything is planned (``ops.context.check_owner``).

The owner id of a manifest, first that applies:

1. its explicit top-level ``name:``;
2. its path relative to the root of the git repository holding it (the nearest folder, from the
   manifest's own folder up, with a ``.git`` entry: a folder, or a file in a worktree or submodule),
   with ``/`` separators, e.g. ``specs/site.yaml``: the same in every checkout and CI runner;
3. outside a repository, its file name. That id is weak (two manifests ``a/m.yaml`` and ``b/m.yaml``
   share it), so such a manifest is also refused a state of which it would forget every recorded job
   (``ops.planrequest.check_takeover``): the one sign left that it is another manifest's state.

Invariants:

- A state without an owner (written before owners were recorded) is accepted, and adopted: the next
  write records the owner. Recording an owner never forces a write by itself (a no-op apply leaves
  the lock file byte-identical); ``state claim`` is the one command that writes only the owner.
- A manifest with ``name:`` also accepts a state owned by its own path id: adding ``name:`` to a
  manifest keeps its state (the next write records the name).
- Refused only where the state was named on purpose: in OSS (``state:`` or ``--state oss://``) or a
  ``--state`` file. The local default state (``<stem>.lock.json`` beside the manifest, derived from
  its name) follows the manifest when both are renamed together: its owner is adopted silently.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from specrunner.core.errors import StateError
from specrunner.statefile.doc import decode_state, default_state_path

# The schema's pattern for `name:` (schemas/manifest.v1.json), for commands that read it leniently.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")


@dataclass(frozen=True, slots=True)
class Owner:
    """A manifest's identity in a state: ``id`` is recorded; ``path_id`` (its path id, the same as
    ``id`` without ``name:``) is accepted too."""

    id: str
    path_id: str
    weak: bool = False  # known by its file name only (no `name:`, no repository): may be another's

    def accepts(self, recorded: str | None) -> bool:
        return recorded is None or recorded == self.id or recorded == self.path_id


def git_root(folder: Path) -> Path | None:
    """The nearest folder from ``folder`` up that holds a ``.git`` entry (None: not in a repository)."""
    for d in (folder, *folder.parents):
        if os.path.lexists(d / ".git"):
            return d
    return None


def path_id(manifest_path: str | Path) -> str:
    """The manifest's path relative to its repository's root (posix), else its file name."""
    full = Path(os.path.abspath(manifest_path))  # as named (symlinks are not followed), normalized
    root = git_root(full.parent)
    return full.relative_to(root).as_posix() if root is not None else full.name


def manifest_owner(manifest_path: str | Path, name: str | None) -> Owner:
    """The owner id of the manifest at ``manifest_path`` whose ``name:`` is ``name``."""
    pid = path_id(manifest_path)
    weak = name is None and git_root(Path(os.path.abspath(manifest_path)).parent) is None
    return Owner(name if name is not None else pid, pid, weak)


def read_name(manifest_path: str | Path) -> str | None:
    """The manifest's ``name:``, read leniently, for commands that do not load the manifest (``state
    rm``, ``state push``): None when it has none, or cannot be read (the commands that validate say why)."""
    try:
        text = Path(manifest_path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not re.search(r"^name\s*:", text, re.M):  # no need to parse a large manifest
        return None
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    from specrunner.validate.variables import lenient

    name = lenient(data).get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and _NAME.fullmatch(name) else None


def is_default_state(manifest_path: str | Path, state_path: str | Path) -> bool:
    """Whether ``state_path`` is the manifest's local default state, ``<stem>.lock.json`` beside it."""

    return os.path.abspath(state_path) == os.path.abspath(default_state_path(manifest_path))


def foreign_state(
    state: str, recorded: str, manifest: str, owner: Owner, *, jobs: int, state_arg: str | None = None
) -> StateError:
    """The error for the state ``state``, owned by ``recorded``, used with ``manifest`` (``owner``)."""
    from specrunner.core.shellwords import path, quote

    mine = manifest if owner.id == manifest else f"{manifest} ({owner.id!r})"
    claim = f"specrunner state claim {path(manifest)}"
    if state_arg is not None:
        claim += f" --state {quote(state_arg)}"
    n = f"{jobs} job{'s' if jobs != 1 else ''}"
    return StateError(
        f"the state {state} belongs to the manifest {recorded!r}, not to {mine}: refused before "
        f"planning (its {n} would be planned as forgotten)",
        hint="if you moved or renamed the manifest on purpose, "
        + ("give it a `name:` (it is known by its file name only), then " if owner.weak else "")
        + f"`{claim}` records it as the owner (nothing else changes); otherwise give each manifest "
        "its own state (its own `state:` key or --state file)",
    )


def check_pushed_owner(manifest: Path, data: bytes, source: Path, state_arg: str | None = None) -> None:
    """A lock file that records another manifest as its owner (``statefile.owner``) is not pushed as
    ``manifest``'s state: its jobs would be planned as forgotten."""
    from specrunner.core.shellwords import path, quote

    new = decode_state(data, source)
    owner = manifest_owner(manifest, read_name(manifest))
    if owner.accepts(new.owner):
        return
    mine = str(manifest) if owner.id == str(manifest) else f"{manifest} ({owner.id!r})"
    claim = f"specrunner state claim {path(manifest)}"
    if state_arg is not None:
        claim += f" --state {quote(state_arg)}"
    raise StateError(
        f"{source} is the state of the manifest {new.owner!r}, not of {mine}",
        hint="push it with the manifest it belongs to; if that manifest was moved or renamed to "
        f"{manifest}, push with --force, then `{claim}`",
    )

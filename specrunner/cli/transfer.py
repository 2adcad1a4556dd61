"""`state pull` / `state push`: move a lock file between the local file and OSS, byte for byte.

Invariants: pull writes the current lock file to stdout exactly as stored (a journal left by an
unfinished run is replayed first, then the state is encoded by the codec); push replaces the state
under its lock and refuses a file of another lineage, an older serial or another manifest (the owner
it records, ``statefile.owner``) unless ``--force``; a push of pulled bytes stores those bytes
unchanged, so local -> OSS -> local is byte-identical.
"""

# No `from __future__ import annotations`: typer evaluates string annotations at every start.
import sys
from pathlib import Path
from typing import Annotated

import typer

from specrunner.core.errors import SpecrunnerError

ManifestArg = Annotated[Path, typer.Argument(help="The manifest (YAML).", show_default=False)]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state",
        help="State file, or oss://BUCKET/KEY. Default: the manifest's state: block, else "
        "<manifest dir>/<stem>.lock.json.",
    ),
]


def _fail(e: SpecrunnerError) -> None:
    typer.echo(f"error: {e}", err=True)
    hint = getattr(e, "hint", None)
    if hint:
        typer.echo(f"hint: {hint}", err=True)
    raise typer.Exit(e.exit_code)


def pull(manifest: ManifestArg, state: StateOpt = None) -> None:
    """Print the current lock file (local or in OSS) to stdout.

    Example: specrunner state pull specs/demo.yaml > demo.lock.json
    """
    from specrunner.statefile.backend import locate

    try:
        where = locate(manifest, state)
        data = where.pull()
    except SpecrunnerError as e:
        _fail(e)
        return
    if data is None:
        typer.echo(f"error: no state at {where.label} yet", err=True)
        raise typer.Exit(1)
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def push(
    manifest: ManifestArg,
    file: Annotated[Path, typer.Argument(help="A lock file (e.g. from `state pull`).", show_default=False)],
    state: StateOpt = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Push even another lineage, an older serial or another manifest's lock file."
        ),
    ] = False,
    lock_timeout: Annotated[
        float, typer.Option("--lock-timeout", help="Wait this many seconds for the state lock.")
    ] = 0.0,
) -> None:
    """Replace the state (local or in OSS) with FILE; refuses another lineage, an older serial or a
    lock file that another manifest owns (its `manifest` field).

    Example: specrunner state push specs/demo.yaml demo.lock.json
    """
    from specrunner.statefile.backend import locate
    from specrunner.statefile.owner import check_pushed_owner

    try:
        data = file.read_bytes()
    except OSError as e:
        typer.echo(f"error: cannot read {file}: {e.strerror or e}", err=True)
        raise typer.Exit(1) from None
    try:
        where = locate(manifest, state)
        if not force:
            arg = None if state is None else (where.label if where.shared else str(state))
            check_pushed_owner(manifest, data, file, arg)
        where.push(data, file, force=force, lock_timeout=lock_timeout)
    except SpecrunnerError as e:
        _fail(e)
        return
    typer.echo(f"Pushed {file} to {where.label}.", err=True)

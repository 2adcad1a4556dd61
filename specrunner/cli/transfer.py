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

from specrunner.cli.options import LockTimeoutOpt, ManifestArg, StateOpt, VarFileOpt, VarOpt


def pull(
    manifest: ManifestArg, state: StateOpt = None, var: VarOpt = None, var_file: VarFileOpt = None
) -> None:
    """Print the current lock file (local or in OSS) to stdout.

    Example: specrunner state pull specs/demo.yaml > demo.lock.json
    """
    from specrunner.statefile.backend import locate

    where = locate(manifest, state)
    data = where.pull()
    if data is None:
        typer.echo(f"error: no state at {where.label} yet", err=True)
        raise typer.Exit(1)
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def push(
    manifest: ManifestArg,
    file: Annotated[Path, typer.Argument(help="A lock file (e.g. from `state pull`).", show_default=False)],
    state: StateOpt = None,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Push even another lineage, an older serial or another manifest's lock file."
        ),
    ] = False,
    lock_timeout: LockTimeoutOpt = 0.0,
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
    where = locate(manifest, state)
    if not force:
        arg = None if state is None else (where.label if where.shared else str(state))
        check_pushed_owner(manifest, data, file, arg)
    where.push(data, file, force=force, lock_timeout=lock_timeout)
    typer.echo(f"Pushed {file} to {where.label}.", err=True)

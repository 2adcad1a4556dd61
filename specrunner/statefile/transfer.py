"""`state pull` / `state push`: move a lock file between the local file and OSS, byte for byte.

Invariants: pull writes the current lock file to stdout exactly as stored (a journal left by an
unfinished run is replayed first, then the state is encoded by the codec); push replaces the state
under its lock and refuses a file of another lineage, an older serial or another manifest (the owner
it records, ``statefile.owner``) unless ``--force``; a push of pulled bytes stores those bytes
unchanged, so local -> OSS -> local is byte-identical.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from specrunner.core.errors import SpecrunnerError, StateError

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


def pull_bytes(where: Path | object) -> bytes | None:
    from specrunner.statefile.remote import OssState
    from specrunner.statefile.remote import pull as pull_remote
    from specrunner.statefile.state import encode_state, journal_path, read_state

    if isinstance(where, OssState):
        return pull_remote(where)
    assert isinstance(where, Path)
    if journal_path(where).exists():
        doc = read_state(where)
        return encode_state(doc.to_json()) if doc is not None else None
    try:
        return where.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StateError(f"{where}: cannot read the state file: {e.strerror or e}") from None


def push_bytes(where: Path | object, data: bytes, source: Path, *, force: bool, lock_timeout: float) -> None:
    from specrunner.statefile.locking import acquire
    from specrunner.statefile.remote import OssState
    from specrunner.statefile.remote import push as push_remote
    from specrunner.statefile.state import StateStore, atomic_write, backup_path, decode_state, journal_path

    if isinstance(where, OssState):
        push_remote(where, data, source, force=force, lock_timeout=lock_timeout)
        return
    assert isinstance(where, Path)
    new = decode_state(data, source)
    with acquire(where, "state push", timeout=lock_timeout):
        store = StateStore.open(where)
        cur = store.doc
        exists = where.exists() or bool(cur.jobs)
        store.close()
        if exists and not force:
            if cur.lineage != new.lineage:
                raise StateError(
                    f"{source} belongs to another state (lineage {new.lineage}) than {where} "
                    f"(lineage {cur.lineage})",
                    hint="push it elsewhere, or pass --force",
                )
            if new.serial < cur.serial or (new.serial == cur.serial and new.jobs != cur.jobs):
                raise StateError(
                    f"{source} (serial {new.serial}) is older than {where} (serial {cur.serial})",
                    hint="`specrunner state pull` the newer one first, or pass --force",
                )
        if where.exists():  # the version replaced, as a run's commit keeps it
            atomic_write(backup_path(where), where.read_bytes())
        atomic_write(where, data)
        try:
            journal_path(where).unlink()
        except FileNotFoundError:
            pass


def check_pushed_owner(manifest: Path, data: bytes, source: Path, state_arg: str | None = None) -> None:
    """A lock file that records another manifest as its owner (``statefile.owner``) is not pushed as
    ``manifest``'s state: its jobs would be planned as forgotten."""
    import shlex

    from specrunner.statefile.owner import manifest_owner, read_name
    from specrunner.statefile.state import decode_state

    new = decode_state(data, source)
    owner = manifest_owner(manifest, read_name(manifest))
    if owner.accepts(new.owner):
        return
    mine = str(manifest) if owner.id == str(manifest) else f"{manifest} ({owner.id!r})"
    claim = f"specrunner state claim {shlex.quote(str(manifest))}"
    if state_arg is not None:
        claim += f" --state {shlex.quote(state_arg)}"
    raise StateError(
        f"{source} is the state of the manifest {new.owner!r}, not of {mine}",
        hint="push it with the manifest it belongs to; if that manifest was moved or renamed to "
        f"{manifest}, push with --force, then `{claim}`",
    )


def pull(manifest: ManifestArg, state: StateOpt = None) -> None:
    """Print the current lock file (local or in OSS) to stdout.

    Example: specrunner state pull specs/demo.yaml > demo.lock.json
    """
    from specrunner.statefile.remote import OssState, locate

    try:
        where = locate(manifest, state)
        data = pull_bytes(where)
    except SpecrunnerError as e:
        _fail(e)
        return
    if data is None:
        label = where.url if isinstance(where, OssState) else str(where)
        typer.echo(f"error: no state at {label} yet", err=True)
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
    from specrunner.statefile.remote import OssState, locate

    try:
        data = file.read_bytes()
    except OSError as e:
        typer.echo(f"error: cannot read {file}: {e.strerror or e}", err=True)
        raise typer.Exit(1) from None
    try:
        where = locate(manifest, state)
        if not force:
            arg = None if state is None else (where.url if isinstance(where, OssState) else str(state))
            check_pushed_owner(manifest, data, file, arg)
        push_bytes(where, data, file, force=force, lock_timeout=lock_timeout)
    except SpecrunnerError as e:
        _fail(e)
        return
    label = where.url if isinstance(where, OssState) else str(where)
    typer.echo(f"Pushed {file} to {label}.", err=True)

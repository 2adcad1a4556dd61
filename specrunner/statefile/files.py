"""The state's files on disk: their names (lock file, journal, backup), their signature, atomic
writes (temp file + fsync + rename, through a symlink to its target), and the private dumps a run
leaves when it cannot write the state (a full disk: the records are never lost).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from specrunner.core.errors import StateError


def state_signature(path: Path) -> tuple[Any, ...]:
    """What identifies a version of the state files: (inode, size, mtime) of the lock file and journal."""
    sig: list[Any] = []
    for p in (path, journal_path(path)):
        try:
            st = p.stat()
            sig.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            sig.append(None)
    return tuple(sig)


def state_file(path: Path) -> Path:
    """The file that holds the state named ``path``: ``path`` itself, or the final target when it is
    a symbolic link (say to a persistent volume). The lock file is written through the link, and
    every file beside the state (journal, lock, backup, temp files, errored dumps) sits beside the
    target, where the next run that follows the link finds it. A dangling link or a loop is a
    StateError: read as "no state yet", it would resubmit every job."""
    if not os.path.islink(path):
        return path
    try:
        return Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        target = Path(os.path.realpath(path))
        raise StateError(
            f"{path}: the state file is a symbolic link to {_link_text(path)}, which does not exist",
            hint=f"mount or restore {target} (the state it holds is needed to not resubmit jobs); to "
            f"start a new state there, run once with `--state {target}`, or remove the link",
        ) from None
    except OSError as e:  # ELOOP: a loop of links
        raise StateError(
            f"{path}: the state file is a symbolic link that cannot be followed "
            f"({e.strerror or e}: a loop of links?)",
            hint=f"point the link at the state file (`ln -sfn TARGET {path}`), or remove it",
        ) from None


def _link_text(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:  # pragma: no cover - replaced meanwhile
        return "a missing file"


def journal_path(state_path: Path) -> Path:
    """``<state>.journal``, beside the file the state really is (``state_file``)."""
    real = state_file(state_path)
    return real.with_name(real.name + ".journal")


def backup_path(state_path: Path) -> Path:
    """``<state>.backup``: the previous version of the lock file, beside it (``state_file``)."""
    real = state_file(state_path)
    return real.with_name(real.name + ".backup")


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` by a file holding ``data`` (temp file + fsync + rename). A symbolic link is
    written through: its target is replaced, in the target's folder, and the link stays."""
    import threading

    if os.path.islink(path):
        path = Path(os.path.realpath(path))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


def _dump_new(state: Path, data: bytes) -> Path | None:
    """A new private dump of ``data`` (see ``StateStore._dump_errored``), or None if none could be made."""
    import tempfile

    name = state.name + ".errored"
    for folder in _dump_folders(state.parent):
        dumped = _write_private(folder, name, data)
        if dumped is not None:
            return dumped
    try:
        scratch = Path(tempfile.mkdtemp(prefix="specrunner-errored-"))  # 0700, a new name
    except OSError:
        return None
    dumped = _write_private(scratch, name, data)
    if dumped is None:
        try:
            scratch.rmdir()
        except OSError:  # pragma: no cover
            pass
    return dumped


def _rewrite_private(path: Path, data: bytes) -> Path | None:
    """Replace this run's dump at ``path`` by a new private file holding ``data`` (renamed over it:
    whatever is at ``path`` is replaced, never followed). None if that failed."""
    new = _write_private(path.parent, path.name, data)
    if new is None:
        return None
    try:
        os.replace(new, path)
    except OSError:
        return new
    return path


def _shared(folder: Path) -> bool:
    """Whether others may create files in ``folder`` (world-writable, like /tmp)."""
    try:
        return bool(os.stat(folder).st_mode & 0o002)
    except OSError:
        return True


def _dump_folders(state_folder: Path) -> Iterator[Path]:
    """Where an errored dump may go, best first (the per-user folder is made only when reached)."""
    yield state_folder
    try:
        cwd = Path.cwd()
    except OSError:  # the current folder was deleted
        cwd = None
    if cwd is not None and cwd != state_folder and not _shared(cwd):
        yield cwd
    private = _user_state_folder()
    if private is not None:
        yield private


def _user_state_folder() -> Path | None:
    """``$XDG_STATE_HOME/specrunner`` (else ``~/.local/state/specrunner``), mode 0700, ours."""
    import stat

    base = os.environ.get("XDG_STATE_HOME", "")
    try:
        root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
        folder = root / "specrunner"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(folder)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            return None
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(folder, 0o700)
        return folder
    except (OSError, RuntimeError):  # RuntimeError: no home folder
        return None


def _write_private(folder: Path, name: str, data: bytes) -> Path | None:
    """Write ``data`` to a new file ``folder/name`` (mode 0600), or ``name.<time>-<random>`` when that
    name is taken or ``folder`` is shared. None if the folder cannot take it (the file is removed)."""
    import errno
    import secrets
    import time

    names = [] if _shared(folder) else [name]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    names += [f"{name}.{stamp}-{secrets.token_hex(4)}" for _ in range(4)]
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for candidate in names:
        path = folder / candidate
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as e:
            if e.errno in (errno.EEXIST, errno.ELOOP):  # taken (a file, a planted symlink): another name
                continue
            return None
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            try:
                os.unlink(path)
            except OSError:  # pragma: no cover
                pass
            return None
        return path
    return None

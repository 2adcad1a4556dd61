"""State locking: an OS advisory lock (flock) plus lock info beside the state.

The kernel drops a flock when its process dies, so a SIGKILLed run never blocks the next one and
recovery needs no flag. The lock file ``<state>.lock`` holds the lock info (id, operation,
user@host, pid, created, version) so a second run can name the holder; a run that waits for the
lock (``--lock-timeout``) says whose lock it waits for, and every hint is a command that works.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from specrunner import __version__
from specrunner.core.durations import format_ms
from specrunner.core.errors import LockError
from specrunner.statefile.files import state_file


def lock_path(state_path: Path) -> Path:
    """``<state>.lock``, beside the file the state really is (the target of a symlink): every run
    that follows the link takes the same lock."""

    real = state_file(state_path)
    return real.with_name(real.name + ".lock")


def who() -> str:
    """``user@host`` of this process, as lock info names a holder."""
    try:
        user = getpass.getuser()
    except Exception:  # pragma: no cover - no user name in some containers
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - exists, owned by another user
        return True
    return True


def read_info(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError, IsADirectoryError):
        return None
    try:
        info = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        return None
    return info if isinstance(info, dict) else None


def describe(info: dict[str, Any] | None) -> str:
    if not info:
        return "an unknown process"
    return (
        f"{info.get('operation', '?')} (lock id {info.get('id', '?')}) by {info.get('who', '?')}, "
        f"pid {info.get('pid', '?')}, since {info.get('created', '?')}"
    )


@dataclass
class StateLock:
    path: Path
    fd: int
    info: dict[str, Any]
    stale_cleaned: dict[str, Any] | None = None

    def release(self) -> None:
        if self.fd < 0:
            return
        try:
            # Unlink while still holding the lock; waiters re-check the inode after acquiring.
            try:
                st = os.fstat(self.fd)
                cur = os.stat(self.path)
                if (st.st_ino, st.st_dev) == (cur.st_ino, cur.st_dev):
                    os.unlink(self.path)
            except FileNotFoundError:
                pass
        finally:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> StateLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _force_unlock_command(state_path: Path, manifest: Path | None, lock_id: str) -> str:
    """``specrunner force-unlock MANIFEST LOCK_ID`` that works when pasted (``--state`` if not the
    default)."""
    from specrunner.core.shellwords import path, quote

    if manifest is None:
        return f"specrunner force-unlock MANIFEST {quote(lock_id)} --state {quote(str(state_path))}"
    cmd = f"specrunner force-unlock {path(manifest)} {quote(lock_id)}"
    default = manifest.with_name(manifest.stem + ".lock.json")
    if os.path.abspath(default) != os.path.abspath(state_path):
        cmd += f" --state {quote(str(state_path))}"
    return cmd


def _wait_note(seconds: float) -> str:

    return format_ms(int(seconds * 1000))


def acquire(
    state_path: Path,
    operation: str,
    *,
    timeout: float = 0.0,
    manifest: Path | None = None,
    waiting: TextIO | None = None,
) -> StateLock:
    """Take the exclusive lock on ``state_path`` or raise LockError naming the holder.

    While it waits (``timeout`` > 0) it says once, on ``waiting`` (default stderr), whose lock it
    waits for. The error's hint holds a ``force-unlock`` command that works when pasted.
    """
    path = lock_path(state_path)
    deadline = time.monotonic() + max(0.0, timeout)
    said_waiting = False
    if not path.parent.is_dir():
        raise LockError(f"cannot lock {state_path}: folder {path.parent} does not exist")
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise LockError(f"cannot create the lock file {path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            if time.monotonic() >= deadline:
                holder = read_info(path)
                for _ in range(20):  # the holder writes its info right after taking the lock
                    if holder is not None:
                        break
                    time.sleep(0.05)
                    holder = read_info(path)
                waited = f" (waited {_wait_note(timeout)})" if timeout > 0 else ""
                lock_id = str((holder or {}).get("id", "LOCK_ID"))
                raise LockError(
                    f"the state {state_path} is locked by {describe(holder)}{waited}",
                    hint="wait for that run to finish: add `--lock-timeout 5m` to this command to wait up to "
                    "5 minutes; if that run is truly gone: "
                    f"`{_force_unlock_command(state_path, manifest, lock_id)}`",
                ) from None
            if not said_waiting:
                said_waiting = True
                out = waiting or sys.stderr
                out.write(
                    f"waiting for the lock held by {describe(read_info(path))} "
                    f"(up to {_wait_note(timeout)})...\n"
                )
                out.flush()
            time.sleep(0.1)
            continue
        # We hold a lock on *this* inode; make sure it is still the one at `path`.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        stale = read_info(path)
        info = {
            "id": str(uuid.uuid4()),
            "operation": operation,
            "who": who(),
            "pid": os.getpid(),
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "version": __version__,
        }
        data = (json.dumps(info, indent=2, sort_keys=True) + "\n").encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)
        return StateLock(path, fd, info, stale_cleaned=stale)


def force_unlock(state_path: Path, lock_id: str) -> dict[str, Any]:
    """Remove lock info that outlived its process. Refuses a wrong id or a live holder."""
    path = lock_path(state_path)
    info = read_info(path)
    if info is None:
        raise LockError(f"the state {state_path} is not locked (no lock info at {path})")
    if info.get("id") != lock_id:
        raise LockError(
            f"lock id {lock_id!r} does not match the current lock {info.get('id')!r}",
            hint="copy the id from the error that names the holder",
        )
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = info.get("pid")
            alive = (
                isinstance(pid, int)
                and info.get("who", "").endswith("@" + socket.gethostname())
                and _pid_alive(pid)
            )
            if alive:
                raise LockError(
                    f"the lock is held by a live process ({describe(info)}); stop it first"
                ) from None
            raise LockError("the lock is still held by a process on this machine; stop it first") from None
        os.unlink(path)
    finally:
        os.close(fd)
    return info

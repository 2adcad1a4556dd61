"""``Run``: one locked, state-writing operation (apply, refresh, import, ``state mv``...): lock -> store
-> work -> commit.

Invariants: the state is read again under the lock (another run may have finished just before); a
state another manifest owns is refused (``context.check_owner``; not for ``state claim``, whose point
it is); a run that writes the state records this manifest as its owner (``statefile.owner``: the owner
alone never makes a run write).
"""

from __future__ import annotations

from specrunner.ops.context import Context, check_owner
from specrunner.statefile.backend import JobStore, Lock


class Run:
    """One locked, state-writing operation (apply, refresh, ...): lock -> store -> work -> commit.

    The state read under the lock is refused if another manifest owns it (``check_owner``; not for
    ``state claim``, whose point it is), and a run that writes the state records this manifest as its
    owner (``statefile.owner``: the owner alone never makes a run write)."""

    def __init__(self, ctx: Context, operation: str, lock_timeout: float = 0.0) -> None:
        self.ctx = ctx
        self.operation = operation
        opened = ctx.home.open_run(
            operation,
            lock_timeout,
            manifest=ctx.manifest_path,
            known=ctx.state,
            known_signature=ctx.state_signature,
        )
        self.lock: Lock = opened.lock
        self.store: JobStore = opened.store
        exists = opened.existed
        # Re-read under the lock: another run may have finished just before we got it.
        doc = self.store.doc
        self._serial = doc.serial
        ctx.state = doc.copy() if (exists or doc.jobs) else None
        if operation != "state claim":
            try:
                check_owner(ctx)
            except BaseException:
                self.close(commit=False)
                raise

    def close(self, *, commit: bool = True) -> bool:
        try:
            if commit:
                self._record_owner()
            return self.store.commit() if commit else False
        finally:
            self.store.close()
            self.lock.release()

    def _record_owner(self) -> None:
        """This manifest becomes the owner recorded by a run that writes the state (a state without
        an owner, a local default state renamed with its manifest); never a reason to write."""
        owner, doc = self.ctx.owner, self.store.doc
        if owner is None or doc.owner == owner.id or self.operation == "state claim":
            return
        if self.store.dirty() or doc.serial != self._serial:  # changed, or committed during the run
            doc.owner = owner.id

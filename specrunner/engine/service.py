"""The local MTS service: SubmitSnapshotJob and QuerySnapshotJobList over a folder.

Buckets are folders under ``root``; objects are files (:mod:`~specrunner.engine.objects`). Job
records persist as JSON under ``root/.mts/jobs/`` (:mod:`~specrunner.engine.records`) so that a later
process (a rerun, the emulator, ``refresh``) can query them. A sync job runs within its Submit; async
jobs move Submitted -> Snapshoting -> Success/Fail on a worker pool
(:func:`~specrunner.engine.runner.run_job`); a job whose process died mid-way is picked up again by
whichever process next queries it (a per-job OS lock decides who).

The API is the service's, shapes included (:mod:`~specrunner.engine.api`,
:mod:`~specrunner.engine.jobtable`). Invalid requests raise :class:`ServiceError` with the service's
error code (``engine.errors``), which the emulator turns into HTTP errors.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from specrunner.engine.jobtable import JobTable
from specrunner.engine.objects import ObjectStore
from specrunner.engine.records import JobRecords
from specrunner.engine.runner import run_job
from specrunner.engine.spec import SnapshotSpec


class SnapshotService(JobTable):
    """The two MTS snapshot actions, served from a folder."""

    def __init__(
        self, root: Path, *, sync_timeout: float = 6.0, workers: int | None = None, process_async: bool = True
    ) -> None:
        self.root = Path(root).resolve()
        super().__init__(ObjectStore(self.root))
        self.sync_timeout = sync_timeout
        self.records = JobRecords(self.root / ".mts" / "jobs")
        self.locks_dir = self.root / ".mts" / "locks"
        self.locks_dir.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(
            max_workers=workers or min(4, os.cpu_count() or 2), thread_name_prefix="engine"
        )
        self._claimed: dict[str, int] = {}  # job id -> fd of its held lock
        self._lock = threading.Lock()
        self.process_async = process_async

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def drain(self, timeout: float = 60.0) -> None:
        """Wait for this process's async work (tests and the emulator's shutdown use it)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if not self._claimed:
                    return
            time.sleep(0.01)

    # ---------------------------------------------------------------- the job table

    def _accept(self, job: dict[str, Any], spec: SnapshotSpec) -> dict[str, Any]:
        if not spec.is_async:
            run_job(self.store, job, deadline=time.monotonic() + self.sync_timeout)
            self.records.save(job)
            return job
        self.records.save(job)
        if self.process_async:
            self._schedule(job["Id"])
        return job

    def _find(self, jid: str) -> dict[str, Any] | None:
        job = self.records.load(jid)
        if job is None:
            return None
        if job["State"] in ("Submitted", "Snapshoting") and self.process_async:
            self._schedule(jid)  # resume jobs whose process died
        return _public(job)

    def _all(self) -> list[dict[str, Any]]:
        jobs = (self.records.load(jid) for jid in self.records.ids())
        return [_public(j) for j in jobs if j is not None]

    # ---------------------------------------------------------------- async processing

    def _schedule(self, jid: str) -> None:
        with self._lock:
            if jid in self._claimed:
                return
            fd = os.open(self.locks_dir / f"{jid}.lock", os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)  # another live process is working on it
                return
            self._claimed[jid] = fd
        try:
            self._pool.submit(self._work, jid)
        except RuntimeError:  # the pool is shut down (process exiting)
            self._release(jid)

    def _release(self, jid: str) -> None:
        with self._lock:
            fd = self._claimed.pop(jid, None)
        if fd is not None:
            os.close(fd)

    def _work(self, jid: str) -> None:
        try:
            job = self.records.load(jid)
            if job is None or job["State"] in ("Success", "Fail"):
                return
            job["State"] = "Snapshoting"
            self.records.save(job)
            run_job(self.store, job, deadline=None)
            self.records.save(job)
        except Exception as e:  # pragma: no cover - a bug in the engine must not hang the job
            job = self.records.load(jid) or {}
            if job:
                job.update(State="Fail", Code="InternalError", Message=f"engine error: {e}")
                self.records.save(job)
        finally:
            self._release(jid)


def _public(job: dict[str, Any]) -> dict[str, Any]:
    """A record as answers show it: without the engine's own ``_`` fields."""
    return {k: v for k, v in job.items() if not k.startswith("_")}

"""The engine's job records: one JSON file per job under ``root/.mts/jobs/``, so that a later process
(a rerun, the emulator, ``refresh``) can query them.

A record is written atomically (a temp file, fsync, rename) and cached; a final record (Success or
Fail) is served from the cache, others are read again from their file, since another process may be
working on the job. Callers get copies, never the cached record.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class JobRecords:
    """The job records in ``jobs_dir``, cached."""

    def __init__(self, jobs_dir: Path) -> None:
        self.jobs_dir = jobs_dir
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._cache: dict[str, dict[str, Any]] = {}

    def ids(self) -> Iterator[str]:
        """The id of every stored record, in no particular order."""
        return (path.stem for path in self.jobs_dir.glob("*.json"))

    def save(self, job: dict[str, Any]) -> None:
        path = self._job_path(job["Id"])
        assert path is not None
        data = json.dumps(job, sort_keys=True).encode()
        tmp = path.with_name(f".{path.name}.{threading.get_ident()}")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        with self._lock:
            self._cache[job["Id"]] = json.loads(data)

    def load(self, jid: str) -> dict[str, Any] | None:
        with self._lock:
            cached = self._cache.get(jid)
            if cached is not None and cached["State"] in ("Success", "Fail"):
                return _copy(cached)
        path = self._job_path(jid)
        if path is None:
            return None
        try:
            job = json.loads(path.read_bytes())
        except (FileNotFoundError, ValueError):
            return None
        with self._lock:
            self._cache[jid] = job
        return _copy(job)

    def _job_path(self, jid: str) -> Path | None:
        if not re.fullmatch(r"[0-9a-f]{32}", jid or ""):
            return None
        return self.jobs_dir / f"{jid}.json"


def _copy(job: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a job record, through JSON (callers never share the cached record)."""
    copied: dict[str, Any] = json.loads(json.dumps(job))
    return copied

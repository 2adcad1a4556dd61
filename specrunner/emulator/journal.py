"""The emulator's request journal: every request as a dict in memory, and as one JSON line in a file.

Every entry has the same fields (:func:`journal_entry`): ``ts, method, action, status, code,
request_id, job_id, user_data, ids, params``; the handlers add ``sts``, ``signature``, ``dropped``,
``keys`` and ``ms`` where they apply. Invariants: the handlers never put a signature, an AccessKeyId
or a token into ``params``; a line is written and flushed per request, under one lock.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def journal_entry(
    method: str, action: str, rid: str, params: dict[str, Any], user_data: str | None = None
) -> dict[str, Any]:
    """One request's entry (``status`` and ``code`` are filled in when it is answered)."""
    return {
        "ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "method": method,
        "action": action,
        "status": None,
        "code": "",
        "request_id": rid,
        "job_id": None,
        "user_data": user_data,
        "ids": 0,
        "params": params,
    }


class Journal:
    """Every request as a dict in memory, and as one JSON line in ``path`` if given."""

    def __init__(self, path: Path | None) -> None:
        self.path = Path(path) if path else None
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def add(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True)
        with self._lock:
            self._entries.append(entry)
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(json.dumps(e)) for e in self._entries]

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

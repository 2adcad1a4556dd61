"""What a run did, job by job: the results an apply reports, counts and writes to its run file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from specrunner.core.plan import shown


@dataclass
class JobResult:
    key: str
    action: str
    mode: str
    status: str = "pending"  # success | fail | pending | unchanged | moved | forgotten | skipped
    job_id: str | None = None
    code: str = ""
    message: str = ""
    attempts: int = 0
    adopted: bool = False
    started: float | None = None
    submitted: float | None = None
    finished: float | None = None

    def to_json(self) -> dict[str, Any]:
        def dur(a: float | None, b: float | None) -> float | None:
            return round(b - a, 4) if a is not None and b is not None else None

        return {
            "key": self.key,
            "action": shown(self.action),
            "mode": self.mode,
            "status": self.status,
            "job_id": self.job_id,
            "code": self.code,
            "message": self.message,
            "attempts": self.attempts,
            "adopted": self.adopted,
            "submit_seconds": dur(self.started, self.submitted),
            "total_seconds": dur(self.started, self.finished),
        }


@dataclass
class RunSummary:
    results: dict[str, JobResult] = field(default_factory=dict)
    recovered_adopted: int = 0
    recovered_resubmitted: int = 0
    interrupted: bool = False
    elapsed: float = 0.0

    def acted_on(self) -> list[dict[str, Any]]:
        """Per-job results, sorted, for the jobs the run did something about (unchanged ones are
        only counted: a no-op rerun of 100,000 jobs should not write 100,000 lines)."""
        return [
            r.to_json() for r in sorted(self.results.values(), key=lambda r: r.key) if r.status != "unchanged"
        ]

    def count(self, status: str) -> int:
        return sum(1 for r in self.results.values() if r.status == status)

    @property
    def created(self) -> int:
        return sum(1 for r in self.results.values() if r.submitted is not None and not r.adopted)

    def submitted_by(self, action: str) -> int:
        """Jobs this run submitted (not adopted) for plan action ``action``."""
        return sum(
            1
            for r in self.results.values()
            if r.submitted is not None and not r.adopted and r.action == action
        )

    def counts(self) -> dict[str, int]:
        moved = self.count("moved")  # counted only by runs that renamed records (`moved:` entries)
        return ({"moved": moved} if moved else {}) | {
            "created": self.submitted_by("create"),
            "replaced": self.submitted_by("replace"),
            "retried": self.submitted_by("retry"),
            "resubmitted": self.submitted_by("recover"),
            "adopted": sum(1 for r in self.results.values() if r.adopted),
            "unchanged": self.count("unchanged"),
            "succeeded": self.count("success"),
            "failed": self.count("fail"),
            "pending": self.count("pending"),
            "forgotten": self.count("forgotten"),
            "kept_failed": self.count("kept_failed"),
        }

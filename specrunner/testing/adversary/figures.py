"""The figures of one adversary run, all measured from the outside, and how they print: one line a run
(with its notes and every failed expectation) and a table a scenario."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Figures:
    scenario: str
    seed: int
    jobs: int = 0
    created: int = 0  # jobs created on the service
    duplicates: int = 0
    lost: int = 0
    requests: int = 0  # OSS + MTS requests the emulator answered during the run
    mts: int = 0  # of which MTS (Submit, Query)
    wall: float = 0.0
    longest: float = 0.0  # seconds of the longest command (time spent stopped not counted)
    longest_command: str = ""
    finished: bool = False  # every job of the final manifest Success in the final state
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.skipped is not None or (
            not self.failures and self.duplicates == 0 and self.lost == 0 and self.finished
        )


def line(fig: Figures) -> str:
    if fig.skipped is not None:
        return f"{fig.scenario} seed {fig.seed}: SKIPPED: {fig.skipped}"
    state = "ok" if fig.ok else "FAIL"
    head = (
        f"{fig.scenario} seed {fig.seed}: {state}: duplicates {fig.duplicates}, lost {fig.lost}, "
        f"requests {fig.requests} ({fig.mts} MTS), wall {fig.wall:.1f} s, longest {fig.longest:.1f} s "
        f"({fig.longest_command}), {'complete' if fig.finished else 'NOT complete'}"
    )
    extra = [f"  note: {n}" for n in fig.notes] + [
        "  failed: " + f.replace("\n", "\n    ") for f in fig.failures
    ]
    return "\n".join([head, *extra])


def table(figs: list[Figures]) -> str:
    head = (
        f"{'scenario':<22} {'runs':>4} {'failed':>6} {'dup':>4} {'lost':>4} {'requests/run':>13} "
        f"{'wall s/run':>11} {'longest s':>9} {'complete':>8}"
    )
    rows = [head, "-" * len(head)]
    for name in dict.fromkeys(f.scenario for f in figs):
        fs = [f for f in figs if f.scenario == name and f.skipped is None]
        skipped = sum(1 for f in figs if f.scenario == name and f.skipped is not None)
        if not fs:
            rows.append(f"{name:<22} {'':>4} skipped ({skipped})")
            continue
        req = f"{statistics.mean(f.requests for f in fs):.0f} (max {max(f.requests for f in fs)})"
        wall = f"{statistics.mean(f.wall for f in fs):.1f}"
        rows.append(
            f"{name:<22} {len(fs):>4} {sum(not f.ok for f in fs):>6} {sum(f.duplicates for f in fs):>4} "
            f"{sum(f.lost for f in fs):>4} {req:>13} {wall:>11} {max(f.longest for f in fs):>9.1f} "
            f"{sum(f.finished for f in fs):>3}/{len(fs):<4}"
        )
    return "\n".join(rows)

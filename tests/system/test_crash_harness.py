"""The crash harness in CI: >= 20 SIGKILLs of a real `specrunner apply` against the emulator (real
SDK, real HTTP, 5% dropped answers), rerun until done; the emulator's journal proves 0 duplicate
jobs, 0 lost job ids, and the lock file was readable after every kill.
`python -m specrunner.testing.crash --kills 100` runs more."""

from __future__ import annotations

from pathlib import Path

import pytest

from specrunner.testing.crash import Figures, run


@pytest.mark.slow
def test_sigkill_at_random_moments_never_duplicates_or_loses_a_job(tmp_path: Path) -> None:
    total = Figures()
    seed = 100
    while total.kills < 20:
        fig = run(tmp_path / f"seed{seed}", kills=8, seed=seed, n_inputs=50, latency_ms=20)
        assert fig.finished
        assert fig.created == fig.jobs, fig  # every job created exactly once...
        assert (fig.duplicates, fig.lost, fig.corrupt) == (0, 0, 0), fig  # ...and recorded
        for k in ("kills", "runs", "created", "duplicates", "lost", "corrupt"):
            setattr(total, k, getattr(total, k) + getattr(fig, k))
        seed += 1
    print(
        f"\ncrash harness: {total.kills} kills, {total.runs} runs, {total.duplicates} duplicates, "
        f"{total.lost} lost job ids, {total.corrupt} corrupt lock files"
    )

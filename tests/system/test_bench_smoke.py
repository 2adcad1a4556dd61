"""The benchmark suite's smoke mode runs (tiny sizes); it asserts that every figure is measured and
that 0 API calls are made by a no-op plan, never timings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

ROOT = REPO


def bench(cwd: Path, script: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a bench script in its smoke mode, without the developer's credentials or settings."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "ALIYUN_", "SPECRUNNER_"))
    }
    r = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


@pytest.mark.slow
@pytest.mark.timeout(330)  # the bench run's own limit (300 s) decides first
def test_bench_quick_runs_every_figure(tmp_path: Path) -> None:
    r = bench(tmp_path, "run.py", "--only", "throughput,noop,validate,stateio,memory", timeout=300)
    assert "name | specrunner | baseline | ratio | goal" in r.stdout
    for figure in ("1a ", "2 ", "3 ", "4 "):
        assert any(line.startswith(figure) for line in r.stdout.splitlines()), figure
    assert "0 API calls" in r.stdout


@pytest.mark.slow
@pytest.mark.timeout(630)  # the scale run's own limit (600 s) decides first
def test_scale_quick_measures_every_figure(tmp_path: Path) -> None:
    """bench/scale.py --quick: the whole-process figures of issue 14 (the lock file's bytes and its
    one-line-per-job diff after a real apply, start-up, no-op plans, a million-job run scaled down, the
    apply's state bytes, runner CPU) are all measured, none fails."""
    r = bench(tmp_path, "scale.py", timeout=600)
    assert "; 0 failed;" in r.stdout, r.stdout[-3000:]
    for figure in (
        "L1 ",
        "L2 ",
        "D1 ",
        "S1 ",
        "S2 ",
        "S3 ",
        "S4 ",
        "N1 ",
        "M1 ",
        "M2 ",
        "M3 ",
        "M4 ",
        "A1 ",
        "C1 ",
    ):
        assert any(line.startswith(figure) for line in r.stdout.splitlines()), figure


@pytest.mark.slow
@pytest.mark.timeout(330)
def test_refresh_bench_quick_measures_every_figure(tmp_path: Path) -> None:
    """bench/refresh.py --quick: the refresh against the emulator (R1, listing calls within their bound
    and no HEAD) and the whole-process no-op plan with the refresh beside --refresh=false and the
    parse floor (R2, R2b) are all measured, none fails."""
    r = bench(tmp_path, "refresh.py", timeout=300)
    assert "; 0 failed" in r.stdout, r.stdout[-3000:]
    for figure in ("R1 ", "R2 ", "R2b "):
        assert any(line.startswith(figure) for line in r.stdout.splitlines()), figure
    assert "--refresh=false" in r.stdout and ", 0 HEAD" in r.stdout

"""Real wall-clock skew for one runner: libfaketime (the ``libfaketime.so.1`` the PyPI package
``libfaketime`` ships) LD_PRELOADed into its environment, the monotonic clocks left alone, and checked
with a probe process before a scenario relies on it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path


def faketime_library() -> Path | None:
    """``libfaketime.so.1`` as the PyPI package ``libfaketime`` ships it (None: not installed)."""
    spec = importlib.util.find_spec("libfaketime")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        so = Path(base) / "vendor" / "libfaketime" / "src" / "libfaketime.so.1"
        if so.is_file():
            return so
    return None


class ClockNotSkewed(Exception):
    """libfaketime loaded, yet the clock is not moved as asked."""


def skewed_env(env: dict[str, str], seconds: float) -> tuple[dict[str, str] | None, str]:
    """``env`` with the wall clock moved by ``seconds`` (monotonic clocks untouched), checked with a
    probe process: (None, why) when the library is missing or cannot be loaded; raises ClockNotSkewed
    when it loads but the clock is not moved."""
    so = faketime_library()
    if so is None:
        return None, "libfaketime is not installed (pip install libfaketime): no libfaketime.so.1 found"
    out = {**env, "LD_PRELOAD": str(so), "FAKETIME": f"{seconds:+g}s", "DONT_FAKE_MONOTONIC": "1"}
    out["FAKETIME_DONT_RESET"] = "1"
    try:
        before = time.time()
        r = subprocess.run(
            [sys.executable, "-c", "import time; print(repr(time.time()))"],
            env=out,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        after = time.time()
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"libfaketime could not be loaded: {e}"
    if r.returncode != 0 or "ld.so" in r.stderr:
        return None, f"libfaketime could not be loaded ({so}): {r.stderr.strip()[-300:]}"
    try:
        seen = float(r.stdout.strip())
    except ValueError:
        return None, f"libfaketime could not be loaded: unexpected probe output {r.stdout!r}"
    skew = seen - (before + after) / 2
    if abs(skew - seconds) > 5:
        raise ClockNotSkewed(f"libfaketime loaded but the clock is off by {skew:+.1f} s, not {seconds:+g} s")
    return out, ""

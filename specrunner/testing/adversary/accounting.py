"""The accounting of an adversary run, from the emulator's request journal (``EmulatorProcess.entries``)
against the final state: jobs created on the service, duplicates (more than one job created for one
(Input, SnapshotConfig)), lost ids (created on the service, missing from the final state), requests,
and whether the final state holds every job of the manifest as Success."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from specrunner.statefile.doc import StateDoc
from specrunner.testing.adversary.figures import Figures


def entry_time(entry: dict[str, Any]) -> float:
    """The wall-clock time (``time.time()`` scale) at which the emulator answered a journal entry."""
    return datetime.strptime(str(entry["ts"]), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def created_submits(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries of Submit requests that created a job on the service."""
    return [e for e in entries if e.get("action") == "SubmitSnapshotJob" and e.get("job_id")]


def input_of(job: str) -> str:
    """The input object of a ``Input|SnapshotConfig`` job identity, for messages."""
    try:
        return unquote(str(json.loads(job.split("|", 1)[0])["Object"]))
    except (ValueError, KeyError, TypeError):
        return job[:80]


def tally(fig: Figures, keys: set[str], entries: list[dict[str, Any]], doc: StateDoc | None) -> list[str]:
    """Fill in ``fig``'s counts from the emulator's journal ``entries`` against the final state ``doc``
    (None: empty or unreadable) for the manifest's job ``keys``; returns the failed expectations."""
    failures: list[str] = []
    fig.jobs = len(keys)
    made = created_submits(entries)
    per_job: Counter[str] = Counter(e["params"]["Input"] + "|" + e["params"]["SnapshotConfig"] for e in made)
    fig.created = len(made)
    fig.duplicates = sum(n - 1 for n in per_job.values() if n > 1)
    fig.requests = len(entries)
    fig.mts = sum(1 for e in entries if str(e.get("action", "")).endswith(("SnapshotJob", "SnapshotJobList")))
    recorded = {r.job_id for r in doc.jobs.values()} if doc is not None else set()
    fig.lost = len({e["job_id"] for e in made} - recorded)
    if doc is not None:
        missing = sorted(k for k in keys if k not in doc.jobs)
        bad = {k: doc.jobs[k].state for k in keys if k in doc.jobs}
        bad = {k: v for k, v in bad.items() if v != "Success"}
        fig.finished = not bad and not missing
        if missing:
            failures.append(
                f"the final state lacks {len(missing)} job(s) of the manifest, e.g. {missing[:3]}"
            )
        if bad:
            shown = dict(sorted(bad.items())[:5])
            failures.append(f"the final state is not complete: {len(bad)} job(s) not Success, e.g. {shown}")
    else:
        failures.append("the final state is empty")
    if fig.duplicates:
        twice = [input_of(k) for k, n in per_job.items() if n > 1][:3]
        failures.append(f"{fig.duplicates} duplicate job(s) on the service, e.g. {twice}")
    if fig.lost:
        failures.append(f"{fig.lost} job id(s) created on the service but missing from the final state")
    return failures

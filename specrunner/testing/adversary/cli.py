"""The adversary harness: every attack on the remote state's lock and journal that a real machine can
mount, each on real ``specrunner`` processes with real signals, against ``specrunner emulator`` running
as its own process (a stopped runner never stops the server).

Scenarios (``run_<name>(workdir, seed) -> Figures``):

``frozen``            runner A is SIGSTOPped mid-submission; B (``--lock-timeout 60``) says it waits,
                      takes over once A's lease stayed unrenewed for a full lease, finishes; A, resumed,
                      submits nothing and says it lost the lock and what it submitted.
``frozen_skew``       the same with B's wall clock 100 s behind (libfaketime).
``force_unlock``      B is refused by a live A (the lock id and ``force-unlock`` named); the operator
                      force-unlocks (A acknowledges, well within two leases); B applies; A says revoked.
``skew_ahead`` / ``skew_behind``
                      B's wall clock 100 s ahead / behind (libfaketime): B never takes over from a live
                      A; it fails naming the holder.
``two_manifests``     two manifests, both ``m.yaml`` (an ephemeral runner's checkout holds only the
                      manifest), different inputs, one ``state:`` block, applied A, B, A, B: B refused.
``two_manifests_named``
                      the same with distinct file names (``a.yaml``, ``b.yaml``).
``normal_journal``    a killed run's journal replaced by a Normal object (a copy tool): a bounded error
                      naming it and ``state repair``; repair, apply: complete.
``deleted_lock_and_head``
                      every lock object and the head deleted: an error naming a journal, nothing
                      submitted; repair, apply: complete.
``implausible_head``  the head set to ``-1`` / ``3000`` / ``99999999`` / ``abc``: a bounded error naming
                      it; repair, apply: complete.
``corrupt_journal``   one job-id record of a killed run's journal damaged in place: an error naming the
                      object, the byte and ``state repair`` with counts (never "delete it"); repair,
                      apply: the job is found by its tag.
``symlinked_local``   a local lock file that is a symlink to another folder; SIGKILL mid-apply, rerun.

Figures of a run, all from the outside: duplicates (more than one job created on the service for one
(Input, SnapshotConfig)), lost ids (created on the service, missing from the final state), requests
(OSS + MTS, from the emulator's request journal), wall seconds, the longest any one command took
(time spent SIGSTOPped not counted), whether the final state holds every job as Success, and every
expectation of the scenario that did not hold (with the command's output).

    python -m specrunner.testing.adversary --scenario all --runs 20 --seed 1
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

from specrunner.testing.adversary import contention, damage
from specrunner.testing.adversary.figures import Figures, line, table

SCENARIOS: dict[str, Callable[[Path, int], Figures]] = {
    "frozen": contention.run_frozen,
    "frozen_skew": contention.run_frozen_skew,
    "force_unlock": contention.run_force_unlock,
    "skew_ahead": contention.run_skew_ahead,
    "skew_behind": contention.run_skew_behind,
    "two_manifests": contention.run_two_manifests,
    "two_manifests_named": contention.run_two_manifests_named,
    "normal_journal": damage.run_normal_journal,
    "deleted_lock_and_head": damage.run_deleted_lock_and_head,
    "implausible_head": damage.run_implausible_head,
    "corrupt_journal": damage.run_corrupt_journal,
    "symlinked_local": damage.run_symlinked_local,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m specrunner.testing.adversary",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--scenario", default="all", help=f"all, or one of: {', '.join(SCENARIOS)}")
    ap.add_argument("--runs", type=int, default=20, help="runs per scenario (seeds SEED, SEED+1, ...)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="keep every run's folder (logs, emulator journal) under this")
    args = ap.parse_args(argv)
    names = list(SCENARIOS) if args.scenario == "all" else args.scenario.split(",")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s) {unknown}: choose from {', '.join(SCENARIOS)} or all")
    figs: list[Figures] = []
    for name in names:
        for i in range(args.runs):
            seed = args.seed + i
            if args.keep is not None:
                fig = SCENARIOS[name](args.keep / f"{name}-{seed}", seed)
            else:
                with tempfile.TemporaryDirectory(prefix=f"adversary-{name}-") as tmp:
                    fig = SCENARIOS[name](Path(tmp), seed)
            figs.append(fig)
            print(line(fig), flush=True)
        print(flush=True)
        print(table([f for f in figs if f.scenario == name]), flush=True)
        print(flush=True)
    if len(names) > 1:
        print(table(figs))
    return 0 if all(f.ok for f in figs) else 1

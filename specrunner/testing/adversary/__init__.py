"""The adversary harness: every attack on the remote state's lock and journal that a real machine can
mount, each on real ``specrunner`` processes with real signals, against ``specrunner emulator`` running
as its own process; it counts duplicate and lost jobs from the emulator's journal.

- ``contention``: two runners contend for the lock (a frozen holder, force-unlock of a live holder, a
  waiter with a skewed wall clock, two manifests on one state);
- ``damage``: the state damaged by a copy tool, by hand or through a symlink, then repaired;
- ``arena``: one run (folders, the emulator, runners, what the emulator saw, the expectations);
- ``processes``: the emulator's and each command's process, stopped, resumed, killed;
- ``clock``: wall-clock skew for one runner (libfaketime);
- ``accounting``: duplicates, lost ids and requests from the emulator's journal and the final state;
- ``figures``: the figures of a run and how they print;
- ``cli``: ``python -m specrunner.testing.adversary`` (every scenario is described in its help).
"""

"""The scenarios where two runners contend for the remote state's lock: a holder frozen by SIGSTOP (the
waiter's clock true or 100 s behind), a live holder force-unlocked, a waiter whose wall clock is 100 s
ahead or behind (it must never take over from a live holder), and two manifests on one state.

Each is ``run_<name>(workdir, seed) -> Figures``."""

from __future__ import annotations

import re
import time
from pathlib import Path

from specrunner.testing.adversary.accounting import created_submits, entry_time
from specrunner.testing.adversary.arena import KEY, LEASE, N_JOBS, arena, job_keys, manifest_text
from specrunner.testing.adversary.figures import Figures

UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
SKEW = 100.0  # seconds of wall-clock skew for a skewed runner


def _frozen(scenario: str, workdir: Path, seed: int, skew: float) -> Figures:
    with arena(scenario, workdir, seed) as a:
        b_env = a.skewed(skew) if skew else a.env
        if b_env is None:  # skipped (no libfaketime) or failed (the clock did not move)
            return a.fig
        n = N_JOBS
        text = manifest_text(n)
        pa = a.apply("A apply", a.runner(text, label="a"))
        quarter = n // 4 + a.rng.randint(-2, 2)
        if not a.expect(a.wait_submits(quarter, proc=pa), "A never submitted a quarter of the jobs"):
            return a.finish(job_keys(n))
        pa.stop()  # its threads wait on the Submit rate limiter, its heartbeat with them
        stopped_at = time.time()
        at_stop = a.submitted()
        pb = a.apply(
            "B apply --lock-timeout 60", a.runner(text, label="b"), "--lock-timeout", "60", env=b_env
        )
        rb = pb.wait(120)
        a.expect_code(rb, 0, " (B takes the lock over from the frozen A and finishes)")
        a.expect_in(rb, "note: waiting for the lock", where="stderr")
        # B took over only once A's lease object stayed unchanged for a full lease
        lease_key = f"{KEY}.lock/{1:012d}.lease"
        appends = [
            e
            for e in a.emu.entries()
            if e.get("action") == "AppendObject"
            and e["params"].get("key") == lease_key
            and e["status"] == 200
        ]
        before = [e for e in appends if entry_time(e) < stopped_at]
        after = [e for e in appends if entry_time(e) >= stopped_at]
        if a.expect(
            bool(before and after), "no renewal of A before its stop, or no takeover append after it"
        ):
            gap = entry_time(after[0]) - (entry_time(before[-1]) + float(before[-1]["ms"]) / 1000)
            a.expect(
                gap >= LEASE * 0.98, f"B fenced A's lease {gap:.2f} s after its last renewal (< {LEASE:g} s)"
            )
            a.fig.notes.append(f"B fenced A {gap:.1f} s after A's last renewal; A had {at_stop} submits")
        a.expect(any(x.get("lapsed") for x in a.lease_lines(1)), "A's lease was not marked lapsed")
        resumed_at = time.time()
        pa.cont()
        ra = pa.wait(60)
        a.expect_code(ra, 1, " (A, resumed, lost the lock)")
        a.expect_line(ra, "lost the lock", "submitted")
        late = [e for e in created_submits(a.emu.entries()) if entry_time(e) >= resumed_at]
        a.expect(not late, f"A submitted {len(late)} job(s) after it was resumed", ra)
        final = a.apply("final apply", a.runner(text, label="final")).wait(60)
        a.expect_code(final, 0)
        a.expect_no_creations(final)
        return a.finish(job_keys(n))


def run_frozen(workdir: Path, seed: int) -> Figures:
    """A is SIGSTOPped mid-submission; B waits, takes over after a full unrenewed lease, finishes; A,
    resumed, submits nothing and exits 1 saying it lost the lock and what it submitted."""
    return _frozen("frozen", workdir, seed, 0.0)


def run_frozen_skew(workdir: Path, seed: int) -> Figures:
    """``frozen`` with B's wall clock 100 s behind."""
    return _frozen("frozen_skew", workdir, seed, -SKEW)


def run_force_unlock(workdir: Path, seed: int) -> Figures:
    """B is refused by a live A, naming the lock id and force-unlock; force-unlock returns once A
    acknowledged (well within 2 leases); B applies; A exits 1 saying its lock was revoked."""
    with arena("force_unlock", workdir, seed) as a:
        n = N_JOBS
        text = manifest_text(n)
        pa = a.apply("A apply", a.runner(text, label="a"))
        a.expect(a.wait_submits(n // 4, proc=pa), "A never submitted a quarter of the jobs")
        b = a.runner(text, label="b")
        rb = a.apply("B apply", b).wait(60)
        a.expect_code(rb, 1, " (the state is locked by a live A)")
        lock_id = str(a.lock_info(1).get("id", "?"))
        a.expect_in(rb, "force-unlock", lock_id, where="stderr")
        named = UUID.findall(rb.err)
        a.expect(lock_id in named, f"B's error names no lock id (uuid) that is A's ({lock_id})", rb)
        ru = a.run("force-unlock", b, "force-unlock", "m.yaml", named[0] if named else lock_id, timeout=60)
        a.expect_code(ru, 0)
        a.expect(ru.seconds < 2 * LEASE, f"force-unlock took {ru.seconds:.1f} s (>= 2 leases)", ru)
        a.fig.notes.append(f"force-unlock returned after {ru.seconds:.1f} s (lease {LEASE:g} s)")
        a.expect(
            any(x.get("stopped") for x in a.lease_lines(1)),
            "A never acknowledged the revocation (no `stopped` in its lease)",
            ru,
        )
        ra = pa.wait(60)
        a.expect_code(ra, 1, " (A's lock was revoked)")
        a.expect_line(ra, "lost the lock", "revoked")
        rb2 = a.apply("B apply again", b).wait(90)
        late = [e for e in created_submits(a.emu.entries()) if ru.ended <= entry_time(e) < rb2.started]
        a.expect(not late, f"{len(late)} job(s) submitted after force-unlock returned, before B's rerun")
        a.expect_code(rb2, 0)
        return a.finish(job_keys(n))


def _skew(scenario: str, workdir: Path, seed: int, skew: float) -> Figures:
    with arena(scenario, workdir, seed, simulate_seconds=8.0) as a:
        got = a.skewed(skew)
        if got is None:
            return a.fig
        n = N_JOBS
        text = manifest_text(n)
        pa = a.apply("A apply", a.runner(text, label="a"))
        a.expect(a.wait_submits(2, proc=pa), "A never submitted")
        pb = a.apply(
            f"B apply {skew:+g} s --lock-timeout 8", a.runner(text, label="b"), "--lock-timeout", "8", env=got
        )
        rb = pb.wait(60)
        a_alive = pa.alive()
        gens = a.generations("lock")
        if a_alive or rb.code != 0:
            a.expect_code(rb, 1, " (B must not take over from a live A)")
            info = a.lock_info(1)
            a.expect_in(rb, "locked by", str(info.get("id", "?")), f"pid {pa.pid}", where="stderr")
            a.expect(gens == [1], f"B took a lock generation while A held it: {gens}", rb)
            a.expect(not any(x.get("lapsed") for x in a.lease_lines(1)), "B fenced the live A's lease", rb)
        else:
            a.fig.notes.append("A finished before B's lock timeout: B proceeded")
            a.expect_no_creations(rb)
        ra = pa.wait(90)
        a.expect_code(ra, 0, " (A, never fenced, finishes)")
        return a.finish(job_keys(n))


def run_skew_ahead(workdir: Path, seed: int) -> Figures:
    """B's wall clock 100 s ahead sees A's lease as expired: it must not take over from the live A."""
    return _skew("skew_ahead", workdir, seed, SKEW)


def run_skew_behind(workdir: Path, seed: int) -> Figures:
    """B's wall clock 100 s behind: it must not take over from the live A either."""
    return _skew("skew_behind", workdir, seed, -SKEW)


def _two(scenario: str, workdir: Path, seed: int, names: tuple[str, str]) -> Figures:
    with arena(scenario, workdir, seed, simulate_seconds=1.0) as a:
        n = 5
        ta, tb = manifest_text(n, prefix="v"), manifest_text(n, prefix="w")
        fa, fb = a.runner(ta, names[0], label="a"), a.runner(tb, names[1], label="b")
        for round_ in (1, 2):
            ra = a.apply(f"A apply #{round_}", fa, name=names[0]).wait(60)
            a.expect_code(ra, 0)
            if round_ == 2:
                a.expect_no_creations(ra)
            rb = a.apply(f"B apply #{round_}", fb, name=names[1]).wait(60)
            a.expect_code(rb, 1, " (another manifest's state)")
            a.expect(rb.submits == 0, f"B submitted {rb.submits} job(s)", rb)
            # Told apart by name: `state claim` is the way to move one on purpose. Known by the same
            # file name only (no repository): refused because it would forget every job, fix: `name:`.
            a.expect_in(
                rb, "state claim" if names[0] != names[1] else "another manifest's state", where="stderr"
            )
            both = rb.err.count(names[0]) + (rb.err.count(names[1]) if names[1] != names[0] else 0)
            a.expect(
                both >= 2 and names[0] in rb.err and names[1] in rb.err, "B's error names both manifests", rb
            )
        doc = a.read_remote()
        forgotten = job_keys(n) - set(doc.jobs if doc else {})
        a.expect(not forgotten, f"{len(forgotten)} of A's jobs left the state")
        foreign = set(doc.jobs if doc else {}) - job_keys(n)
        a.expect(not foreign, f"B's jobs entered the state: {sorted(foreign)[:3]}")
        return a.finish(job_keys(n))


def run_two_manifests(workdir: Path, seed: int) -> Figures:
    """Two ephemeral runners, each with its own ``m.yaml`` (different inputs), one state: the second
    manifest's apply is refused, A's jobs stay."""
    return _two("two_manifests", workdir, seed, ("m.yaml", "m.yaml"))


def run_two_manifests_named(workdir: Path, seed: int) -> Figures:
    """``two_manifests`` with distinct file names: ``a.yaml`` and ``b.yaml``."""
    return _two("two_manifests_named", workdir, seed, ("a.yaml", "b.yaml"))

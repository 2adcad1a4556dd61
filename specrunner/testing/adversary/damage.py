"""The scenarios where a run's state is damaged the way machines and people do it: a killed run's
journal replaced by a Normal object (a copy tool), every lock object and the head deleted, an
implausible head, one journal record damaged in place, and a local lock file that is a symlink into
another folder, SIGKILLed mid-apply. The next apply must end with a bounded error naming what is
wrong and ``state repair`` (never advice to delete or move it); repair, apply: complete.

Each is ``run_<name>(workdir, seed) -> Figures``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path

import oss2

from specrunner.statefile.journal import read_state
from specrunner.testing.adversary.arena import (
    HEAD,
    KEY,
    LEASE,
    N_JOBS,
    Arena,
    arena,
    job_keys,
    manifest_text,
)
from specrunner.testing.adversary.figures import Figures
from specrunner.testing.adversary.processes import Proc, Result

HEADS = ("-1", "3000", "99999999", "abc")  # implausible heads, one per seed (cycling)
_IMPERATIVE = re.compile(r"\b(delete|remove|move|rename|rm|mv)\b(?! -)", re.I)
_NEGATION = re.compile(r"(\bnot|\bnever|n't|\bno)\s+$", re.I)


def advises_removal(text: str) -> str | None:
    """The first place where ``text`` tells the user to delete or move something (a negated mention,
    "do not delete the object", is not advice)."""
    for m in _IMPERATIVE.finditer(text):
        if not _NEGATION.search(text[max(0, m.start() - 12) : m.start()]):
            return text[max(0, m.start() - 60) : m.end() + 60]
    return None


# ------------------------------------------------------------------------------------ the steps


def _killed_apply(a: Arena, n: int, text: str, fraction: float, *, wait_lease: bool = True) -> Proc:
    """A runner applies and is SIGKILLed once ``fraction`` of the jobs were submitted; then (optionally)
    its lease runs out by the wall clock."""
    pa = a.apply("A apply (killed)", a.runner(text, label="a"))
    enough = max(1, int(n * fraction) + a.rng.randint(-2, 2))
    a.expect(a.wait_submits(enough, proc=pa), "A never submitted enough jobs")
    time.sleep(0.3)  # their job ids reach the journal (group commit)
    pa.kill()
    pa.wait(10)
    if wait_lease:
        time.sleep(LEASE + 0.5)
    return pa


def _killed_journal(a: Arena, n: int, text: str, fraction: float) -> str | None:
    """The key of the last journal a runner left, SIGKILLed once ``fraction`` of the jobs were
    submitted, its lease run out; None: it left none (a failed expectation)."""
    _killed_apply(a, n, text, fraction)
    gens = a.generations("journal")
    if not a.expect(bool(gens), "A left no journal"):
        return None
    return f"{KEY}.journal/{gens[-1]:012d}"


def _killed_or_completed(a: Arena, n: int, text: str, *, wait_lease: bool) -> str:
    """An apply SIGKILLed at half the jobs (odd seed) or one that completed (even seed): which one."""
    if a.fig.seed % 2:
        _killed_apply(a, n, text, 0.5, wait_lease=wait_lease)
        return "killed"
    first = a.apply("A apply", a.runner(text, label="a")).wait(90)
    a.expect_code(first, 0)
    return "completed"


def _refused(a: Arena, label: str, text: str, *fragments: str, why: str = "") -> Result:
    """A fresh runner's apply on the damaged state: exit 1 within the bounds (``expect_bounded``),
    every fragment in its stderr, nothing submitted."""
    rn = a.apply(label, a.runner(text, label="b")).wait(90)
    a.expect_code(rn, 1, why)
    a.expect_bounded(rn)
    a.expect_in(rn, *fragments, where="stderr")
    a.expect(rn.submits == 0, f"it submitted {rn.submits} job(s)", rn)
    return rn


def _repair_then_apply(a: Arena, text: str) -> None:
    folder = a.runner(text, label="repair")
    rr = a.run("state repair", folder, "state", "repair", "m.yaml", timeout=60)
    a.expect_code(rr, 0)
    a.expect(rr.submits == 0, f"state repair submitted {rr.submits} job(s)", rr)
    rf = a.apply("apply after repair", folder).wait(90)
    a.expect_code(rf, 0)


# ------------------------------------------------------------------------------------ the scenarios


def run_normal_journal(workdir: Path, seed: int) -> Figures:
    """A killed run's journal replaced by a Normal object with the same bytes (a copy tool): the next
    apply ends within 60 s with a bounded number of requests, naming it and ``state repair``."""
    with arena("normal_journal", workdir, seed) as a:
        n = N_JOBS
        text = manifest_text(n)
        key = _killed_journal(a, n, text, 0.25)
        if key is None:
            return a.finish(job_keys(n))
        b = a.bucket()
        data = b.get_object(key).read()
        b.delete_object(key)
        b.put_object(key, data)
        a.expect(b.head_object(key).object_type == "Normal", "the replaced journal is not a Normal object")
        _refused(a, "apply on a Normal journal", text, key, "specrunner state repair")
        _repair_then_apply(a, text)
        return a.finish(job_keys(n))


def run_deleted_lock_and_head(workdir: Path, seed: int) -> Figures:
    """Every object under ``K.lock/`` and ``K.head`` deleted after a killed (odd seed) or a completed
    (even seed) apply: the next apply names a journal and ``state repair``, submits nothing."""
    with arena("deleted_lock_and_head", workdir, seed) as a:
        n = N_JOBS
        text = manifest_text(n)
        before = _killed_or_completed(a, n, text, wait_lease=False)
        b = a.bucket()
        doomed = [o.key for o in oss2.ObjectIteratorV2(b, prefix=f"{KEY}.lock/")] + [HEAD]
        for k in doomed:
            b.delete_object(k)
        a.fig.notes.append(f"{before} apply; deleted {len(doomed)} objects")
        _refused(
            a,
            "apply without lock objects",
            text,
            f"{KEY}.journal/",
            "state repair",
            why=" (never a silent new lineage)",
        )
        _repair_then_apply(a, text)
        return a.finish(job_keys(n))


def run_implausible_head(workdir: Path, seed: int) -> Figures:
    """``K.head`` set to -1 / 3000 / 99999999 / abc (by seed) after a killed (odd seed) or completed
    apply: the next apply ends within 60 s, bounded, naming the head; repair, apply: complete."""
    with arena("implausible_head", workdir, seed) as a:
        n = N_JOBS
        text = manifest_text(n)
        value = HEADS[(seed - 1) % len(HEADS)]
        before = _killed_or_completed(a, n, text, wait_lease=True)
        a.bucket().put_object(HEAD, value.encode())
        a.fig.notes.append(f"head {value!r} after a {before} apply")
        _refused(a, f"apply with head {value}", text, HEAD)
        _repair_then_apply(a, text)
        return a.finish(job_keys(n))


def _damage_a_job_id_record(a: Arena, key: str) -> tuple[int, str, str] | None:
    """One job-id record in the middle of the journal object ``key`` overwritten in place, same
    length (the object stays appendable), chosen by seed: (its byte offset, job key, job id); None:
    the journal holds no such record (a failed expectation)."""
    path = a.oss_path(key)
    data = path.read_bytes()
    starts = [0] + [i + 1 for i, c in enumerate(data) if c == 0x0A][:-1]
    ids: list[tuple[int, str, str]] = []  # (offset, job key, job id) of job-id records
    for s in starts:
        end = data.find(b"\n", s)
        with contextlib.suppress(ValueError):
            rec = json.loads(data[s:end])
            if isinstance(rec, dict) and rec.get("op") == "put":
                entry = rec.get("entry") or rec.get("record") or {}
                if entry.get("job_id") and entry.get("state") == "Submitted" and end < len(data) - 1:
                    ids.append((s, str(rec["key"]), str(entry["job_id"])))
    if not a.expect(len(ids) >= 1, f"A's journal holds no job-id record to damage ({len(data)} bytes)"):
        return None
    offset, damaged_key, damaged_id = ids[(len(ids) // 2 + a.fig.seed) % len(ids)]
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"#\x01@!")
    return offset, damaged_key, damaged_id


def run_corrupt_journal(workdir: Path, seed: int) -> Figures:
    """One job-id record in the middle of a killed run's journal damaged in place (same length): the
    next apply names the object, the byte and ``state repair`` with counts, never "delete it"; after
    the repair the damaged job is found by its tag (its intent survived)."""
    with arena("corrupt_journal", workdir, seed) as a:
        n = N_JOBS
        text = manifest_text(n)
        key = _killed_journal(a, n, text, 0.5)
        damaged = _damage_a_job_id_record(a, key) if key is not None else None
        if key is None or damaged is None:
            return a.finish(job_keys(n))
        offset, damaged_key, damaged_id = damaged
        a.fig.notes.append(f"damaged the job-id record of {damaged_key} at byte {offset} of {key}")
        rn = _refused(a, "apply on a damaged journal", text, key, f"byte {offset}", "state repair")
        a.expect(
            re.search(r"\d+ (readable|unreadable|records?|jobs?)\b", rn.err) is not None,
            "the error gives no counts of what `state repair` keeps",
            rn,
        )
        advice = advises_removal(rn.err)
        a.expect(advice is None, f"the error tells the user to delete or move something: ...{advice}...", rn)
        _repair_then_apply(a, text)
        doc = a.read_remote()
        entry = doc.jobs.get(damaged_key) if doc is not None else None
        got = entry.job_id if entry is not None else None
        a.expect(
            got == damaged_id,
            f"{damaged_key}: job id {got}, not the one its damaged record held ({damaged_id})",
        )
        return a.finish(job_keys(n))


def _beside_the_link(folder: Path) -> list[str]:
    """State files in ``folder`` other than the lock file (the link) itself."""
    return sorted(
        p.name for p in folder.iterdir() if p.name.startswith("m.lock.json") and p.name != "m.lock.json"
    )


def run_symlinked_local(workdir: Path, seed: int) -> Figures:
    """A local lock file that is a symlink into another folder (a persistent volume): SIGKILL mid-apply,
    rerun: nothing doubled, the link stays a link, the journal lives beside the target."""
    with arena("symlinked_local", workdir, seed) as a:
        small, n = 4, N_JOBS
        folder = a.dir / "runner"
        volume = a.dir / "volume"
        folder.mkdir()
        volume.mkdir()
        (folder / "m.yaml").write_text(manifest_text(small, remote=False))
        first = a.apply("first apply (4 jobs)", folder).wait(60)
        a.expect_code(first, 0)
        target = volume / "m.lock.json"
        os.replace(folder / "m.lock.json", target)
        for p in folder.glob("m.lock.json*"):
            p.unlink()
        (folder / "m.lock.json").symlink_to(target)
        (folder / "m.yaml").write_text(manifest_text(n, remote=False))
        pa = a.apply("apply (killed)", folder)
        quarter = small + (n - small) // 4 + a.rng.randint(-2, 2)
        a.expect(a.wait_submits(quarter, proc=pa), "the apply never submitted a quarter")
        time.sleep(0.2)
        pa.kill()
        pa.wait(10)
        a.expect(
            (volume / "m.lock.json.journal").exists(), "no journal beside the link's target after the kill"
        )
        here = _beside_the_link(folder)
        a.expect(not here, f"state files beside the link instead of its target: {here}")
        rr = a.apply("rerun", folder).wait(90)
        a.expect_code(rr, 0)
        link = folder / "m.lock.json"
        a.expect(
            link.is_symlink() and Path(os.readlink(link)) == target, "the lock file is no longer the link"
        )
        here = _beside_the_link(folder)
        a.expect(not here, f"state files beside the link instead of its target: {here}")
        return a.finish(job_keys(n), lambda: read_state(link))

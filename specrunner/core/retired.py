"""Retired objects and the prune plan: outputs that only forgotten or replaced jobs named. Pure code.

When ``apply`` forgets a job, or replaces one and the new record no longer names some object the old
one wrote, the old objects would leave the state with the old record: nothing would know they exist.
They are kept instead as :class:`Retired` entries (the object, and the job key and job id that wrote
it) in the state's ``retired`` list, until ``specrunner prune`` deletes them.

Invariants:

- An object is retired only by a state change that drops the last name its writer gave it
  (:func:`retirements`); any record that names it again takes it out of the list.
- :func:`plan_prune` deletes only objects the state names: retired entries and the outputs of
  records the manifest no longer wants. Never an object that a record the manifest still wants
  names, and never the retired objects of a wanted job whose replacement has not succeeded yet (its
  old objects are all it has until then).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from specrunner.core.record import LockEntry


@dataclass(frozen=True, slots=True)
class Retired:
    """An object the state still names although no record does: written by ``job`` (its ``job_id``)."""

    #: ``bucket/key``, as a record's ``outputs`` name it.
    object: str
    #: The key of the job that wrote it (``<input id>::<rule id>``).
    job: str
    #: The service's id of that job (None if the record had none).
    job_id: str | None
    #: Its ETag when specrunner last listed it (None: never listed): prune deletes it only unchanged.
    etag: str | None = None


def retirements(key: str, prior: LockEntry | None, new: LockEntry | None) -> tuple[list[Retired], list[str]]:
    """What replacing ``prior`` by ``new`` under ``key`` (None: the record is dropped) does to the
    retired list: (objects ``prior`` named and ``new`` does not, objects ``new`` names)."""
    now = new.outputs if new is not None else ()
    if prior is None or not prior.outputs:
        return [], list(now)
    kept = set(now)
    etags = etags_of(prior)
    gone = [Retired(o, key, prior.job_id, etags.get(o)) for o in sorted(set(prior.outputs)) if o not in kept]
    return gone, list(now)


def etags_of(rec: LockEntry) -> dict[str, str]:
    """The ETag each output of ``rec`` had when last listed (outputs never listed are absent)."""
    return {o: was[1] for o, was in rec.observed() if was is not None}


Source = Literal["forgotten", "retired"]


@dataclass(frozen=True, slots=True)
class Deletion:
    """One object of a prune plan, and where the state names it."""

    object: str
    job: str
    job_id: str | None
    #: ``forgotten``: an output of a record the manifest no longer wants; ``retired``: in the list.
    source: Source
    #: Why it is kept instead of deleted ("" for an object to delete).
    kept: str = ""
    #: Kept because a wanted record names it: it leaves the retired list without being deleted.
    named: bool = False
    #: Its ETag when specrunner last listed it (None: never listed).
    etag: str | None = None

    @property
    def bucket(self) -> str:
        return self.object.partition("/")[0]

    @property
    def key(self) -> str:
        return self.object.partition("/")[2]


@dataclass(frozen=True)
class PrunePlan:
    """What ``prune`` deletes (``deletions``), what it leaves and why (``kept``), and the records of
    jobs no longer wanted that it forgets once their outputs are handled (``forget``)."""

    deletions: tuple[Deletion, ...] = ()
    kept: tuple[Deletion, ...] = ()
    forget: tuple[str, ...] = ()

    @property
    def objects(self) -> list[str]:
        return [d.object for d in self.deletions]

    @property
    def settled(self) -> list[str]:
        """Objects that leave the retired list without a delete: a wanted record names them."""
        return [d.object for d in self.kept if d.named]

    @property
    def has_changes(self) -> bool:
        return bool(self.deletions or self.forget)


def plan_prune(
    records: Mapping[str, LockEntry],
    retired: Mapping[str, Retired],
    wanted: Callable[[str], bool],
    selected: Callable[[str], bool] = lambda key: True,
    inputs: Iterable[str] = (),
) -> PrunePlan:
    """The prune plan of a state: ``records`` (job key -> record), ``retired`` (object -> entry),
    ``wanted(key)``: the manifest still has job ``key``; ``selected(key)``: ``--target``/``--exclude``
    keep job ``key`` (protection is computed over the whole state, whatever is selected);
    ``inputs``: the manifest's inputs (``bucket/key``). An input (the manifest's or a record's) is
    never deleted, whatever a hand-edited state says: it leaves the retired list untouched."""
    named: dict[str, str] = {}  # object -> a wanted record naming it
    unfinished: set[str] = set()  # wanted jobs whose record is not a success: replacement pending
    sources = set(inputs) | {rec.input for rec in records.values()}
    for key, rec in records.items():
        if wanted(key):
            for o in rec.outputs:
                named.setdefault(o, key)
            if rec.state != "Success":
                unfinished.add(key)
    candidates: dict[str, Deletion] = {}
    forget: list[str] = []
    for key in sorted(records):
        rec = records[key]
        if wanted(key) or not selected(key) or not rec.outputs:
            continue
        forget.append(key)
        etags = etags_of(rec)
        for o in rec.outputs:
            candidates.setdefault(o, Deletion(o, key, rec.job_id, "forgotten", etag=etags.get(o)))
    for obj in sorted(retired):
        r = retired[obj]
        if selected(r.job) and obj not in candidates:
            candidates[obj] = Deletion(obj, r.job, r.job_id, "retired", etag=r.etag)
    deletions, kept = [], []
    for obj in sorted(candidates):
        d = candidates[obj]
        if obj in sources:
            kept.append(
                _keep(
                    d, "an input of the manifest or of a recorded job: prune never deletes inputs", named=True
                )
            )
        elif obj in named:
            kept.append(_keep(d, f"named by {named[obj]}, which the manifest still wants", named=True))
        elif d.source == "retired" and d.job in unfinished:
            kept.append(_keep(d, f"{d.job} has not finished its replacement yet"))
        else:
            deletions.append(d)
    order = lambda d: (d.job, d.object)  # noqa: E731 - grouped by job, as the plan shows them
    return PrunePlan(tuple(sorted(deletions, key=order)), tuple(sorted(kept, key=order)), tuple(forget))


def _keep(d: Deletion, why: str, *, named: bool = False) -> Deletion:
    return Deletion(d.object, d.job, d.job_id, d.source, why, named, d.etag)


def keep_changed(plan: PrunePlan, now: Mapping[str, str]) -> PrunePlan:
    """``plan`` without the objects whose ETag ``now`` (object -> ETag as listed now) differs from the
    one specrunner recorded: someone wrote them since, so they are not specrunner's to delete. They stay
    in the retired list, kept with the reason."""
    deletions, changed = [], []
    for d in plan.deletions:
        cur = now.get(d.object)
        if d.etag is not None and cur is not None and cur != d.etag:
            why = (
                f"changed since specrunner wrote it (ETag {d.etag}, now {cur}): not deleted; "
                "delete it by hand if it is unwanted"
            )
            changed.append(_keep(d, why))
        else:
            deletions.append(d)
    if not changed:
        return plan
    order = lambda d: (d.job, d.object)  # noqa: E731
    return PrunePlan(tuple(deletions), tuple(sorted((*plan.kept, *changed), key=order)), plan.forget)


def names(records: Iterable[LockEntry], retired: Mapping[str, Retired]) -> set[str]:
    """Every object the state names (a prune deletes nothing else)."""
    out = set(retired)
    for rec in records:
        out.update(rec.outputs)
    return out

"""Renames of records in the state: ``state mv OLD NEW`` (one-off surgery) and the manifest's
``moved:`` entries (kept in the manifest, applied by the next apply). Pure code, no I/O.

``expand`` gives the (from, to) job key pairs a rename means for the keys a state holds: two job
keys move one record; a rule id (or, for ``state mv``, an input id) moves every record of it.

``moved:`` entries are applied in order to a view of the state (``apply_moved``): an entry whose
``from`` the state no longer holds was applied already and does nothing; a ``to`` that the state
holds already is a conflict (:class:`MoveError`, with the fix); so renames chain (a -> b, then b -> c).
The planner then plans each moved job against its renamed record: an unchanged request is a
``moved`` change, which submits nothing (``core.plan``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from specrunner.core.errors import SpecrunnerError
from specrunner.core.jobs import KEY_SEP, job_key, split_key
from specrunner.core.model import Moved
from specrunner.core.record import LockEntry
from specrunner.core.shellwords import command


class MoveError(SpecrunnerError):
    """A rename that cannot be made: its target is taken, or the names given are not in the state."""


def _closest(word: str, options: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(options), n=3, cutoff=0.5)
    return f"; closest: {', '.join(close)}" if close else ""


def expand(keys: Collection[str], old: str, new: str, *, inputs: bool = True) -> list[tuple[str, str]]:
    """The (from, to) key pairs that renaming ``old`` to ``new`` means for the job ``keys`` of a
    state; ``inputs=False``: a name is a rule id only (``moved:`` entries)."""
    if KEY_SEP in old or KEY_SEP in new:
        if KEY_SEP not in old or KEY_SEP not in new:
            raise MoveError(
                f"cannot move {old!r} to {new!r}: give two job keys "
                "(<input id>::<rule id>), two rule ids or two input ids"
            )
        if old not in keys:
            raise MoveError(f"{old!r} is not in the state{_closest(old, sorted(keys))}")
        return [(old, new)]
    rules = {split_key(k)[1] for k in keys}
    ids = {split_key(k)[0] for k in keys} if inputs else set()
    if old in rules and old in ids:
        first = next(k for k in sorted(keys) if split_key(k)[1] == old)
        example = command("state mv", "MANIFEST", first, job_key(split_key(first)[0], new))
        raise MoveError(
            f"{old!r} is both a rule id and an input id in the state",
            hint=f"move the job keys one by one, e.g. the rule's: `{example}`",
        )
    if old in rules:
        return [(k, job_key(split_key(k)[0], new)) for k in sorted(keys) if split_key(k)[1] == old]
    if old in ids:
        return [(k, job_key(new, split_key(k)[1])) for k in sorted(keys) if split_key(k)[0] == old]
    raise MoveError(
        f"{old!r} is no job key, rule id or input id in the state"
        + _closest(old, sorted(rules | ids | set(keys)))
    )


def renamed(record: LockEntry, dest: str) -> LockEntry:
    """``record`` as the record of job ``dest`` (its rule renamed; the request is the same)."""
    return record.evolve(rule=split_key(dest)[1])


def taken(src: str, dst: str, manifest: str) -> MoveError:
    return MoveError(
        f"cannot move {src} to {dst}: {dst} is in the state already",
        hint=f"remove it first if it is stale: `{command('state rm', manifest, dst)}`",
    )


def pending(keys: Collection[str], moved: Iterable[Moved]) -> bool:
    """Whether any ``moved:`` entry names a record of a state holding ``keys`` (cheap: keys only)."""
    entries = list(moved)
    if not entries:
        return False
    whole = {m.source for m in entries if KEY_SEP in m.source}
    rules = {m.source for m in entries if KEY_SEP not in m.source}
    return any(k in whole or split_key(k)[1] in rules for k in keys)


def apply_moved(
    state: Mapping[str, LockEntry], moved: Iterable[Moved], desired: Collection[str], manifest: str
) -> tuple[dict[str, LockEntry], dict[str, str]]:
    """The state as it reads after the ``moved:`` entries (in order), and each moved job's key ->
    the key the state records it under. Unchanged (the same mapping) when no entry applies."""
    view: dict[str, LockEntry] | None = None
    origin: dict[str, str] = {}
    for entry in moved:
        jobs = view if view is not None else state
        if KEY_SEP in entry.source:
            pairs = [(entry.source, entry.dest)] if entry.source in jobs else []
        else:
            pairs = [
                (k, job_key(split_key(k)[0], entry.dest))
                for k in sorted(jobs)
                if split_key(k)[1] == entry.source
            ]
        if not pairs:
            continue  # applied already (or never recorded): nothing to do
        if view is None:
            view = dict(state)
        for src, dst in pairs:
            if dst in origin:
                raise MoveError(
                    f"moved: two entries rename onto {dst} (from {origin[dst]} and from {src})",
                    hint="keep one of them in the manifest's moved: list; the plan forgets the other record",
                )
            if dst in view:
                raise taken(src, dst, manifest)
        for src, dst in pairs:
            view[dst] = renamed(view.pop(src), dst)
            origin[dst] = origin.pop(src, src)
    if view is None:
        return dict(state) if not isinstance(state, dict) else state, {}
    lost = [dst for dst in origin if dst not in desired]
    if lost:
        raise MoveError(
            f"moved: {origin[lost[0]]} -> {lost[0]}, but the manifest has no job {lost[0]}"
            + _closest(lost[0], sorted(desired)),
            hint="a moved: entry's `to` must be a job of the manifest (an input its rule applies to); "
            "fix the entry, or drop it and let the plan forget the record",
        )
    return view, origin

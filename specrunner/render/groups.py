"""Plans at scale: the changes of one action that say the same thing, grouped per rule. Pure code.

A width change on a rule of 50 inputs is 50 replaces with one and the same diff: people read it once,
as ``poster: 50 jobs``, with the diff and the keys under it (the first :data:`KEYS_SHOWN`, all of
them with ``-v``; every key is in the JSON). Changes group when they share the shown action, the rule,
the mode and the reason (which carries the diff text, the failure's code, a refresh's finding), so
any action, present or future, groups the same way; a job whose reason names its own job id or
object stays on a line of its own. Fewer than :data:`GROUP_MIN` alike are listed one by one.
Jobs a ``moved:`` entry renames from another rule say so per rule (``moved from rule poster``), so a
renamed rule's 50 jobs read as one group too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from specrunner.core.jobs import split_key
from specrunner.core.plan import Change, Plan

GROUP_MIN = 3  # alike changes listed as one group from this many on
KEYS_SHOWN = 5  # keys listed under a group without -v


@dataclass(frozen=True)
class Group:
    """Changes of one action and rule that say the same thing (sorted by key)."""

    action: str  # the shown action
    rule: str
    mode: str
    reason: str
    changes: tuple[Change, ...]

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.changes]

    @property
    def grouped(self) -> bool:
        """Shown as one group (else each change on its own line)."""
        return len(self.changes) >= GROUP_MIN

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "rule": self.rule,
            "mode": self.mode,
            "reason": self.reason,
            "count": len(self.changes),
            "keys": self.keys,
        }


def rule_of(change: Change) -> str:
    return change.job.rule_id if change.job is not None else split_key(change.key)[1]


def shared_reason(change: Change) -> str:
    """``change``'s reason as the jobs of a group share it: a job moved from another rule of the same
    input says ``moved from rule OLD`` instead of its own old key."""
    source = change.moved_from
    if source is None or not change.reason.startswith(f"moved from {source}"):
        return change.reason
    (old_input, old_rule), (new_input, _) = split_key(source), split_key(change.key)
    if old_input != new_input:
        return change.reason
    return f"moved from rule {old_rule}" + change.reason[len(f"moved from {source}") :]


def group(changes: Iterable[Change]) -> list[Group]:
    """The changes (of one shown action, sorted by key) in groups, in the order of their first key."""
    found: dict[tuple[str, str, str, str], list[Change]] = {}
    for c in changes:
        found.setdefault((c.shown, rule_of(c), c.mode, shared_reason(c)), []).append(c)
    return [Group(a, r, m, why, tuple(cs)) for (a, r, m, why), cs in found.items()]


def plan_groups(plan: Plan, *, unchanged: bool = False) -> list[Group]:
    """Every group of the plan, action by action in the order plans show them."""
    return [g for _, changes in plan.groups(unchanged=unchanged) for g in group(changes)]

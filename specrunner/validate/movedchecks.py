"""Checks of the ``moved:`` entries against the manifest itself (the state's side is checked at plan
time, ``core.moves``).

An entry renames a rule (``{from: poster, to: cover}``) or one job key
(``{from: "videos/a.mp4::poster", to: "videos/b.mp4::poster"}``). Its ``to`` must be what the
manifest has now (or the ``from`` of a later entry: renames chain, in order); its ``from`` must no
longer be in the manifest (a rename whose old name is still used would move a live job's record).
"""

from __future__ import annotations

import re
from typing import Any

from specrunner.core.keys import KEY_SEP, split_key
from specrunner.validate.reporting import Add, close_matches

_RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # the schema's pattern of rules[].id


def _input_ids(inputs: Any) -> set[str] | None:
    """The listed inputs' ids; None when discovery entries add inputs known at plan time only."""
    ids: set[str] = set()
    for item in inputs if isinstance(inputs, list) else ():
        if isinstance(item, str):
            ids.add(item)
        elif isinstance(item, dict) and "prefix" in item:
            return None
        elif isinstance(item, dict) and isinstance(item.get("object"), str):
            ids.add(item["id"] if isinstance(item.get("id"), str) else item["object"])
    return ids


def check_moved(data: dict[str, Any], add: Add) -> None:
    entries = data.get("moved")
    if not isinstance(entries, list):
        return
    rules = [r["id"] for r in data.get("rules") or () if isinstance(r, dict) and isinstance(r.get("id"), str)]
    inputs = _input_ids(data.get("inputs"))
    seen: dict[str, int] = {}
    onto: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("from"), str):
            continue  # the schema says what is wrong
        src, dst = entry["from"], entry.get("to")
        if not isinstance(dst, str):
            continue
        here = ("moved", i)
        later = {e.get("from") for e in entries[i + 1 :] if isinstance(e, dict)}
        if src in seen:
            add((*here, "from"), f"{src!r} is moved already by moved[{seen[src]}]; keep one entry")
        seen.setdefault(src, i)
        if dst in onto:
            add(
                (*here, "to"),
                f"moved[{onto[dst]}] renames onto {dst!r} already: two renames onto one name would "
                "collide; keep one entry (the other's records are forgotten by the plan)",
            )
        onto.setdefault(dst, i)
        if src == dst:
            add(here, f"moves {src!r} to itself; remove the entry")
            continue
        if (KEY_SEP in src) != (KEY_SEP in dst):
            add(
                here,
                "from and to must be two rule ids or two job keys (<input id>::<rule id>), "
                f"not {src!r} and {dst!r}",
            )
            continue
        if KEY_SEP not in src and dst not in rules and inputs is not None and dst in inputs:
            pairs = ", ".join(f'{{from: "{src}::{r}", to: "{dst}::{r}"}}' for r in rules[:3])
            add(
                (*here, "to"),
                f"{dst!r} is an input id: moved: entries rename rules or job keys; for a renamed input "
                f"give its job keys, one entry per rule: {pairs}",
            )
        elif KEY_SEP not in src:
            _check_rule_move(src, dst, rules, later, add, here)
        else:
            _check_key_move(src, dst, rules, inputs, later, add, here)


def _check_rule_move(
    src: str, dst: str, rules: list[str], later: set[Any], add: Add, here: tuple[str, int]
) -> None:
    if not _RULE_ID.fullmatch(src):
        add(
            (*here, "from"),
            f"{src!r} cannot be a rule id (letters, digits, _ . -): a renamed input takes its job keys, "
            f'one entry per rule, e.g. {{from: "{src}::{rules[0] if rules else dst}", to: "NEW_INPUT_ID::'
            f'{rules[0] if rules else dst}"}}',
        )
        return
    if src in rules:
        add(
            (*here, "from"),
            f"rule {src!r} is still in the manifest: a moved: entry renames a rule that is gone; "
            "rename the rule's id, or remove the entry",
        )
    if dst not in rules and dst not in later:
        hint = close_matches(dst, rules)
        add(
            (*here, "to"),
            f"the manifest has no rule {dst!r}"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")
            + "; `to` is the rule's id as the manifest now has it",
        )


def _check_key_move(
    src: str,
    dst: str,
    rules: list[str],
    inputs: set[str] | None,
    later: set[Any],
    add: Add,
    here: tuple[str, int],
) -> None:
    s_in, s_rule = split_key(src)
    d_in, d_rule = split_key(dst)
    if s_rule in rules and inputs is not None and s_in in inputs:
        add(
            (*here, "from"),
            f"job {src!r} is still in the manifest: a moved: entry renames a job that is gone; "
            "remove the entry",
        )
    if dst in later:
        return
    if d_rule not in rules:
        hint = close_matches(d_rule, rules)
        add(
            (*here, "to"),
            f"the manifest has no rule {d_rule!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""),
        )
    elif inputs is not None and d_in not in inputs:
        hint = close_matches(d_in, sorted(inputs))
        add(
            (*here, "to"),
            f"the manifest has no input {d_in!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""),
        )

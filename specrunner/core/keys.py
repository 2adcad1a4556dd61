"""Job keys, ``<input id>::<rule id>``: built and split here (no model needed, so ``validate`` can check
`moved:` entries without loading the typed model)."""

from __future__ import annotations

KEY_SEP = "::"


def job_key(input_id: str, rule_id: str) -> str:
    return f"{input_id}{KEY_SEP}{rule_id}"


def split_key(key: str) -> tuple[str, str]:
    input_id, _, rule_id = key.rpartition(KEY_SEP)
    return input_id, rule_id

"""What ``validate`` says of a valid manifest (its inputs, rules and jobs), read from the validated document.

``validate`` checks a manifest without building its typed model (``check_manifest_document``), so it
never imports ``core.model``; these counts are read from the document the checks accepted.

Invariant: ``document_counts(data)`` equals ``model_counts`` of the model ``check_manifest`` builds from
the same document: listed inputs (a string or a mapping with ``object``), discovery entries (a mapping
with ``prefix``), rules, and jobs = the (rule, listed input) pairs where the rule has no ``inputs:`` or
one of its globs matches the input's id (``Rule.applies_to``).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from specrunner.core.model import Manifest


class Counts(NamedTuple):  # a NamedTuple: a frozen dataclass costs ~1 ms to create at import
    inputs: int  # listed inputs (discovery entries are listed at plan time)
    discoveries: int
    rules: int
    jobs: int  # of the listed inputs


def document_counts(data: dict[str, Any]) -> Counts:
    """The counts of a document that passed every check (``check_manifest_document``)."""
    ids: list[str] = []
    discoveries = 0
    for item in data["inputs"]:
        if isinstance(item, dict) and "prefix" in item:
            discoveries += 1
        else:
            ids.append(item if isinstance(item, str) else item.get("id", item["object"]))
    rules = data["rules"]
    jobs = sum(
        1
        for rule in rules
        for input_id in ids
        if "inputs" not in rule or any(fnmatchcase(input_id, g) for g in rule["inputs"])
    )
    return Counts(inputs=len(ids), discoveries=discoveries, rules=len(rules), jobs=jobs)


def model_counts(model: Manifest) -> Counts:
    """The same counts of the typed model."""
    jobs = sum(1 for rule in model.rules for inp in model.inputs if rule.applies_to(inp.id))
    return Counts(
        inputs=len(model.inputs), discoveries=len(model.discoveries), rules=len(model.rules), jobs=jobs
    )

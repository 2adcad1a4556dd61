"""The output collision check: no two jobs write one object, and no output resolves to an unsafe key.

For every rule (in order) and every input it applies to, each output template (``output``,
``tile.output``) is resolved to a key ``bucket + NUL + object``. The first key of a rule that another
of its jobs or an earlier rule's job also writes is reported, naming both jobs; a safe template that
resolves to an unsafe key for some input (``{ObjectPrefix}../x.jpg``) is reported once.

Invariant: the fast path (``Outputs.fast_check``, every key of a rule resolved at once) accepts a
rule only when the exact input-by-input loop (``_check_outputs``) would report nothing for it;
``tests/unit/validate/test_collisions.py`` checks both report the same.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from itertools import starmap
from typing import Any

from specrunner.core.diagnostics import PathT
from specrunner.core.mtsrules import vtt_object
from specrunner.core.templates import PLACEHOLDER_RE, object_parts, parts_format, resolve_template
from specrunner.validate.objectkeys import object_key_problem
from specrunner.validate.reporting import Add, short


def _input_parts(item: Any, defaults: dict[str, Any]) -> tuple[str, str] | None:
    if isinstance(item, str):
        return defaults.get("input_bucket", ""), item
    if isinstance(item, dict) and isinstance(item.get("object"), str):
        return item.get("bucket", defaults.get("input_bucket", "")), item["object"]
    return None


class InputFacts:
    """What the collision check needs of one input, computed once (not once per rule)."""

    __slots__ = ("iid", "obj", "parts", "risky", "safe")

    def __init__(self, iid: str, obj: str) -> None:
        self.iid = iid
        self.obj = obj
        self.safe = object_key_problem(obj) is None
        self.parts = prefix, stem, ext = object_parts(obj)
        # A safe key and a safe template can only combine into an unsafe key when the key's parts
        # are empty or dots (a "." segment, a leading "/"), %-escaped, or long: only then resolve a sample.
        self.risky = (
            not prefix or stem in ("", ".", "..") or ext in ("", ".", "..") or "%" in obj or len(obj) > 256
        )


class Outputs:
    """What the rules checked so far write, for the collision check.

    Every rule's keys (``bucket + NUL + object``) are kept as resolved; they are indexed (``owner``: key ->
    the rule whose job writes it first) only when needed: a key is written by two rules only if the
    literal start of one's template (``head``) is a prefix of the other's, so a rule is compared with
    the earlier rules whose heads relate to its own, and the common manifest (one folder per rule)
    builds no index at all.
    """

    def __init__(self) -> None:
        self.owner: dict[str, int] = {}
        self.rules: dict[int, tuple[str, list[tuple[PathT, str, str]], list[InputFacts]]] = {}
        self.keys: dict[int, list[str]] = {}
        self.indexed: set[int] = set()
        self._heads: list[str] = []  # sorted
        self._head_rules: dict[str, list[int]] = {}
        self.vtt: dict[str, str] = {}  # a Format: vtt job's WebVTT index (bucket NUL object) -> its job

    def fast_check(
        self,
        r: int,
        rid: str,
        targets: list[tuple[PathT, str, str]],
        matched: list[InputFacts],
        keys: list[str],
    ) -> bool:
        """Record rule ``r``; whether its keys are sure to be its own (unique, and no earlier rule's)."""
        self.rules[r] = (rid, targets, matched)
        self.keys[r] = keys
        heads = [f"{bucket}\0{PLACEHOLDER_RE.split(template, 1)[0]}" for _, bucket, template in targets]
        related = {q for h in heads for q in self._related(h)}
        for h in heads:
            if h not in self._head_rules:
                bisect.insort(self._heads, h)
            self._head_rules.setdefault(h, []).append(r)
        if len(set(keys)) != len(keys):
            return False
        if related:
            self.index(related)
            return self.owner.keys().isdisjoint(keys)
        return True

    def _related(self, head: str) -> list[int]:
        out = [q for i in range(len(head) + 1) for q in self._head_rules.get(head[:i], ())]
        j = bisect.bisect_right(self._heads, head)
        while j < len(self._heads) and self._heads[j].startswith(head):
            out += self._head_rules[self._heads[j]]
            j += 1
        return out

    def index(self, rules: Iterable[int]) -> None:
        """Put the keys of ``rules`` in ``owner`` (earlier rules first: the first writer keeps a key)."""
        for q in sorted(set(rules) - self.indexed):
            self.indexed.add(q)
            self.owner.update(dict.fromkeys([k for k in self.keys[q] if k not in self.owner], q))

    def writer(self, key: str) -> str:
        rid, targets, matched = self.rules[self.owner[key]]
        for f in matched:
            for _, bucket, template in targets:
                if parts_format(template, f"{bucket}\0").format(*f.parts) == key:
                    return f"{f.iid}::{rid}"
        return f"?::{rid}"  # pragma: no cover - every key was resolved from one of them


def input_facts(inputs: list[Any], input_ids: dict[str, int], defaults: dict[str, Any]) -> list[InputFacts]:
    """The facts of every listed input with an object key (``input_ids``: id -> index in ``inputs``)."""
    facts = []
    for iid, i in input_ids.items():
        parts = _input_parts(inputs[i], defaults)
        if parts is not None:
            facts.append(InputFacts(iid, parts[1]))
    return facts


def check_collisions(
    rule: dict[str, Any],
    r: int,
    rid: str,
    matched: list[InputFacts],
    stats: tuple[int, bool],
    defaults: dict[str, Any],
    outputs: Outputs,
    add: Add,
) -> None:
    """Rule ``r`` (id ``rid``) over the inputs it applies to (``matched``, with their ``input_stats``):
    report a clash or an unsafe resolved key, and record what the rule writes in ``outputs``."""
    targets: list[tuple[PathT, str, str]] = []
    if isinstance(rule.get("output"), str):
        targets.append(
            (
                ("rules", r, "output"),
                rule.get("output_bucket", defaults.get("output_bucket", "")),
                rule["output"],
            )
        )
    tile = rule.get("tile")
    if isinstance(tile, dict) and isinstance(tile.get("output"), str):
        targets.append(
            (
                ("rules", r, "tile", "output"),
                tile.get("bucket", rule.get("output_bucket", defaults.get("output_bucket", ""))),
                tile["output"],
            )
        )
    _check_vtt(rule, r, rid, matched, targets, outputs, add)
    # The common case at C speed: every output of the rule resolved at once (one str.format per job
    # and template, keys "bucket\0object"); no key repeats within the rule or meets another rule's.
    # Anything else (or a key that may be unsafe) takes the exact loop, which names the first clash.
    parts = [f.parts for f in matched]
    keys: list[str] = []
    for _, bucket, template in targets:
        keys += starmap(parts_format(template, f"{bucket}\0").format, parts)
    if outputs.fast_check(r, rid, targets, matched, keys) and not _may_be_unsafe(targets, matched, stats):
        return
    outputs.index(q for q in outputs.keys if q != r)  # the exact loop sees every earlier rule's keys
    _check_outputs(targets, r, rid, matched, outputs, add)


def _check_vtt(
    rule: dict[str, Any],
    r: int,
    rid: str,
    matched: list[InputFacts],
    targets: list[tuple[PathT, str, str]],
    outputs: Outputs,
    add: Add,
) -> None:
    """A ``format: vtt`` job also writes ``{FileName}.vtt`` next to its first snapshot (as the engine
    and the recorded outputs name it, ``core.mtsrules.vtt_object``): no two jobs may share one. Outputs
    are .jpg, so an index can only meet another index."""
    if rule.get("format") != "vtt" or not targets or targets[0][0] != ("rules", r, "output"):
        return
    _, bucket, template = targets[0]
    for f in matched:
        first = resolve_template(template, f.obj, Count="00001", SnapshotTime="0")
        index = vtt_object(first, f.parts[1])
        key = f"{bucket}\0{index}"
        job = f"{f.iid}::{rid}"
        other = outputs.vtt.setdefault(key, job)
        if other != job:
            add(
                ("rules", r, "format"),
                f"jobs {other} and {job} would both write the WebVTT index {bucket}/{index} "
                "({FileName}.vtt next to the first snapshot); give each job's snapshots a folder of their "
                "own (e.g. vtt/{FileName}/" + rid + "/{Count}.jpg)",
            )
            return


def input_stats(matched: list[InputFacts]) -> tuple[int, bool]:
    """The longest input key, and whether any safe key has risky parts (computed once per input list)."""
    return max((len(f.obj) for f in matched), default=0), any(f.safe and f.risky for f in matched)


def _may_be_unsafe(
    targets: list[tuple[PathT, str, str]], matched: list[InputFacts], stats: tuple[int, bool]
) -> bool:
    """Whether any output of these templates over these inputs could resolve to an unsafe key."""
    longest, any_risky = stats
    for _, _, template in targets:
        if object_key_problem(template.replace("{", "x").replace("}", "x")) is not None:
            continue  # an unsafe template is reported as such, not per input
        if _template_risky(template) or len(template) + template.count("{") * longest > 1000:
            return True
    return any_risky


def _template_risky(template: str) -> bool:
    # {ObjectPrefix} ends in "/": dots right after it start a segment of their own ("videos/../x").
    return len(template) > 256 or re.search(r"\{ObjectPrefix\}\.\.?(/|$)", template) is not None


def _check_outputs(
    targets: list[tuple[PathT, str, str]],
    r: int,
    rid: str,
    matched: list[InputFacts],
    outputs: Outputs,
    add: Add,
) -> None:
    """Input by input, template by template: an unsafe resolved key, and the first two jobs writing one
    object (``outputs``: what the earlier rules write, and which rule writes it)."""
    unsafe: set[PathT] = set()  # report a template that resolves to an unsafe key once
    compiled = [
        (
            path,
            str(bucket),
            template,
            parts_format(template, f"{bucket}\0"),
            object_key_problem(template.replace("{", "x").replace("}", "x")) is None,
            _template_risky(template),
            template.count("{"),
        )
        for path, bucket, template in targets
    ]
    mine: dict[str, str] = {}  # key -> input id, for this rule's jobs
    for f in matched:
        for path, bucket, template, fmt, safe_tpl, tpl_risky, braces in compiled:
            key = fmt.format(*f.parts)
            if (
                safe_tpl
                and f.safe
                and path not in unsafe
                and (f.risky or tpl_risky or len(template) + braces * len(f.obj) > 1000)  # past 1,024 bytes?
            ):
                sample = resolve_template(template, f.obj, Count="00001", TileCount="00001", SnapshotTime="0")
                problem = object_key_problem(sample)
                if problem:  # e.g. "{ObjectPrefix}../x.jpg", or {FileName} "." from an input "..mp4"
                    unsafe.add(path)
                    add(path, f"for input {f.iid!r} the output resolves to {short(sample)}: {problem}")
            job = f"{f.iid}::{rid}"
            earlier = outputs.writer(key) if key in outputs.owner else None  # another rule's job (or a twin)
            who = earlier if earlier is not None else f"{mine.setdefault(key, f.iid)}::{rid}"
            if who != job:
                resolved = key.partition("\0")[2]
                add(
                    path,
                    f"jobs {who} and {f.iid}::{rid} would both write {bucket}/{resolved}; "
                    "add {FileName} or {ObjectPrefix} to the output, or use a different folder",
                )
                break
        else:
            continue
        break
    outputs.owner.update(dict.fromkeys(mine, r))  # an earlier rule's key stays its own (named first)
    outputs.indexed.add(r)

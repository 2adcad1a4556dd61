"""The checks beyond the JSON Schema: what the schema cannot express about the target, the inputs and
the rules (duplicate ids, missing buckets and locations, placeholders, {Count} for several snapshots,
unsafe object keys, user_data, the ``mts:`` escape hatch, ...), and the output collisions
(``validate.collisions``).

Invariant: defensive: the document may also have schema errors, so every value's type is checked
before it is used. A message that repeats a schema error's text at the same path (a bad duration) is
dropped as a duplicate when the diagnostics are sorted.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from specrunner.core import durations
from specrunner.core.attrdiff import CONFIG_ATTRIBUTES
from specrunner.core.diagnostics import PathT
from specrunner.core.mtsrules import TIME_ARRAY_FIX, TIME_ARRAY_RULE, pipeline_id_problem, user_data_problem
from specrunner.core.templates import PLACEHOLDER_RE, PLACEHOLDERS
from specrunner.engine.colours import colour_problem
from specrunner.validate import safedurations
from specrunner.validate.collisions import Outputs, check_collisions, input_facts, input_stats
from specrunner.validate.objectkeys import object_key_problem
from specrunner.validate.reporting import Add, clip_part, close_matches

# SnapshotConfig keys that the manifest models; the `mts:` escape hatch must not set them.
MODELED_KEYS = {
    "Time": "time",
    **CONFIG_ATTRIBUTES,
    "SubOut": "sub_out",
    "OutputFile": "output",
    "TileOutputFile": "tile.output",
    "TileOut": "tile",
}
TAG_RESERVE = 20  # "-" + "sr-" + 16 hex: the tag apply appends to user_data


def _placeholders(template: str) -> list[str]:
    return PLACEHOLDER_RE.findall(template)


def semantic_errors(data: dict[str, Any], add: Add) -> None:
    """Checks the schema cannot express. Defensive: the document may also have schema errors."""
    defaults = _dict_at(data, "defaults")
    name = data.get("name")
    if isinstance(name, str) and name.endswith("\n"):  # the schema's `$` lets one trailing newline through
        add(("name",), "a name is one line: remove the trailing newline")
    _check_target(_dict_at(data, "target"), add)
    for where in ("target", "defaults"):
        _check_pipeline_id(_dict_at(data, where).get("pipeline_id"), (where, "pipeline_id"), add)
    inputs = _list_at(data, "inputs")
    input_ids = _check_inputs(inputs, defaults, add)
    _check_rules(_list_at(data, "rules"), inputs, input_ids, defaults, add)


def _check_target(target: dict[str, Any], add: Add) -> None:
    """Keys of the other backend."""
    backend = target.get("backend", "local")
    if backend == "aliyun":
        if "root" in target:
            add(
                ("target", "root"),
                "root is for the local backend; remove it (aliyun reads from OSS)",
                key=True,
            )
        if "sync_timeout" in target:
            add(("target", "sync_timeout"), "sync_timeout is for the local backend; remove it", key=True)
        if "region" not in target:
            add(("target",), "backend aliyun needs `region`, e.g. region: cn-shanghai")
    elif backend == "local":
        for k in ("region", "endpoint"):
            if k in target:
                add(
                    ("target", k),
                    f"{k} is for the aliyun backend; remove it or set backend: aliyun",
                    key=True,
                )


def _check_inputs(inputs: list[Any], defaults: dict[str, Any], add: Add) -> dict[str, int]:
    """Object keys, duplicate ids, buckets and locations; returns the listed inputs' ids (id -> index)."""
    input_ids: dict[str, int] = {}
    iid: object
    obj: object
    for i, item in enumerate(inputs):
        if isinstance(item, str):
            iid, obj, has_bucket, has_loc = item, item, False, False
        elif isinstance(item, dict) and "prefix" in item and "object" not in item:
            if "bucket" not in item and "input_bucket" not in defaults:
                add(("inputs", i), "no bucket: set defaults.input_bucket or this entry's `bucket`")
            if "location" not in item and "location" not in defaults:
                add(("inputs", i), "no location: set defaults.location or this entry's `location`")
            prefix = item.get("prefix")
            if isinstance(prefix, str) and (prefix.startswith("/") or ".." in prefix.split("/")):
                add(("inputs", i, "prefix"), "prefix must be relative to the bucket, without '..' segments")
            continue
        elif isinstance(item, dict):
            obj = item.get("object")
            iid = item.get("id", obj)
            has_bucket, has_loc = "bucket" in item, "location" in item
        else:
            continue
        if isinstance(obj, str):
            _check_object_key(obj, ("inputs", i) if isinstance(item, str) else ("inputs", i, "object"), add)
        if not isinstance(iid, str):
            continue
        if iid in input_ids:
            add(
                ("inputs", i),
                f"duplicate input id {iid!r} (also inputs[{input_ids[iid]}]); give one an `id:`",
            )
        else:
            input_ids[iid] = i
        if not has_bucket and "input_bucket" not in defaults:
            add(("inputs", i), "no bucket: set defaults.input_bucket or this input's `bucket`")
        if not has_loc and "location" not in defaults:
            add(("inputs", i), "no location: set defaults.location or this input's `location`")
    return input_ids


def _check_rules(
    rules: list[Any], inputs: list[Any], input_ids: dict[str, int], defaults: dict[str, Any], add: Add
) -> None:
    """Each rule (``_check_rule``), duplicate rule ids, globs that match nothing, output collisions."""
    rule_ids: dict[str, int] = {}
    outputs = Outputs()
    facts = input_facts(inputs, input_ids, defaults)
    facts_stats = input_stats(facts)
    for r, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        rid = rule.get("id")
        if isinstance(rid, str):
            if rid in rule_ids:
                add(("rules", r, "id"), f"duplicate rule id {rid!r} (also rules[{rule_ids[rid]}])")
            else:
                rule_ids[rid] = r
        _check_rule(rule, r, defaults, add)
        globs = rule.get("inputs")
        matched, stats = facts, facts_stats
        if isinstance(globs, list) and all(isinstance(g, str) for g in globs):
            has_discovery = any(isinstance(x, dict) and "prefix" in x for x in inputs)
            for g, glob in enumerate(globs):
                if not has_discovery and not any(fnmatch.fnmatchcase(iid, glob) for iid in input_ids):
                    add(("rules", r, "inputs", g), f"glob {glob!r} matches no input id", severity="warning")
            matched = [f for f in facts if any(fnmatch.fnmatchcase(f.iid, g) for g in globs)]
            stats = input_stats(matched)
        if isinstance(rid, str):
            check_collisions(rule, r, rid, matched, stats, defaults, outputs, add)


def _dict_at(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _list_at(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _check_object_key(key: str, path: PathT, add: Add) -> None:
    problem = object_key_problem(key)
    if problem:
        add(path, problem)


def _check_rule(rule: dict[str, Any], r: int, defaults: dict[str, Any], add: Add) -> None:
    p: PathT = ("rules", r)
    time_ms = interval = None
    if "time" in rule and isinstance(rule["time"], (int, str)) and not isinstance(rule["time"], bool):
        try:
            time_ms = safedurations.time_ms(rule["time"])
        except durations.DurationError as e:
            if isinstance(rule["time"], str):  # the schema reports the same text too: deduplicated
                add((*p, "time"), f"time: {e}")
    if (
        "interval" in rule
        and isinstance(rule["interval"], (int, str))
        and not isinstance(rule["interval"], bool)
    ):
        try:
            interval = safedurations.interval_s(rule["interval"])
        except durations.DurationError as e:
            if isinstance(rule["interval"], str):
                add((*p, "interval"), f"interval: {e}")
    num = (
        rule.get("num")
        if isinstance(rule.get("num"), int) and not isinstance(rule.get("num"), bool)
        else None
    )
    multi = (num is not None and num > 1) or (num is None and "interval" in rule)
    mode = rule.get("mode", "auto")
    if mode == "sync" and ("num" in rule or "interval" in rule):
        add(
            (*p, "mode"),
            "mode sync cannot be used with num or interval: the service makes such jobs async; "
            "use mode: auto",
        )
    output = rule.get("output")
    if isinstance(output, str):
        _check_template(output, (*p, "output"), add, allow_tilecount=False)
        if multi and "{Count}" not in output:
            add(
                (*p, "output"),
                "more than one snapshot per job: the output must contain {Count} "
                "(e.g. snaps/{FileName}/{Count}.jpg)",
            )
        _check_object_key(output.replace("{", "x").replace("}", "x"), (*p, "output"), add)
    tile = rule.get("tile")
    if isinstance(tile, dict):
        tout = tile.get("output")
        if isinstance(tout, str):
            _check_template(tout, (*p, "tile", "output"), add, allow_tilecount=True)
            if multi and "{TileCount}" not in tout:
                add(
                    (*p, "tile", "output"),
                    "more than one snapshot per job: the tile output must contain "
                    "{TileCount} (e.g. sprites/{FileName}-{TileCount}.jpg)",
                )
            _check_object_key(tout.replace("{", "x").replace("}", "x"), (*p, "tile", "output"), add)
        if not multi:
            add((*p, "tile"), "a tile needs several snapshots: set num (> 1) or interval", severity="warning")
        colour = tile.get("color")
        if isinstance(colour, str) and colour.strip():
            problem = colour_problem(colour)
            if problem:  # the service refuses it at Submit: caught here, with the fix
                add((*p, "tile", "color"), problem)
    if "black_level" in rule and not (time_ms in (0, None) and multi):
        add(
            (*p, "black_level"),
            "black_level only applies when time is 0 and several snapshots are taken (num > 1, or an "
            "interval without num); the service ignores it here",
            severity="warning",
            key=True,
        )
    if "pixel_black_threshold" in rule and "black_level" not in rule:
        add(
            (*p, "pixel_black_threshold"),
            "pixel_black_threshold is used together with black_level",
            severity="warning",
            key=True,
        )
    if num == 1 and interval is not None:
        add((*p, "interval"), "num: 1 ignores interval (a single snapshot)", severity="warning", key=True)
    ud = rule.get("user_data")
    ud_problem = user_data_problem(ud, TAG_RESERVE) if isinstance(ud, str) else None
    if ud_problem:  # the documented rule (mtsrules), with the bytes specrunner's tag needs
        add((*p, "user_data"), f"user_data {ud_problem}")
    _check_pipeline_id(rule.get("pipeline_id"), (*p, "pipeline_id"), add)
    mts = rule.get("mts")
    if isinstance(mts, dict):
        for key in mts:
            if key == "TimeArray":  # the service would take it as nobody knows: refused until documented
                add((*p, "mts", key), f"{TIME_ARRAY_RULE}; {TIME_ARRAY_FIX}", key=True)
            if key in MODELED_KEYS:
                add(
                    (*p, "mts", key),
                    f"{key} is modelled: use `{MODELED_KEYS[key]}:` on the rule instead",
                    key=True,
                )
    if "output_bucket" not in rule and "output_bucket" not in defaults:
        add(p, "no output bucket: set defaults.output_bucket or the rule's `output_bucket`")
    if "output_location" not in rule and "location" not in defaults:
        add(p, "no output location: set defaults.location or the rule's `output_location`")


def _check_pipeline_id(value: Any, path: PathT, add: Add) -> None:
    """The service answers InvalidParameter.UUIDFormatInvalid to anything but 32 [a-f0-9]."""
    problem = pipeline_id_problem(value) if isinstance(value, str) else None
    if problem:
        add(path, f"{problem}; copy the pipeline's ID from the MTS console (Pipelines)")


def _check_template(template: str, path: PathT, add: Add, *, allow_tilecount: bool) -> None:
    for name in _placeholders(template):
        if name not in PLACEHOLDERS:
            close = close_matches(name, PLACEHOLDERS, n=1)
            hint = (
                f"; did you mean {{{close[0]}}}?"
                if close
                else f"; allowed: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
            )
            add(path, f"unknown placeholder {{{clip_part(name)}}}{hint}")
        elif name == "TileCount" and not allow_tilecount:
            add(path, "{TileCount} belongs in tile.output; use {Count} here")
    if not template.lower().endswith(".jpg"):
        add(path, "output objects are JPG images: the key must end in .jpg")

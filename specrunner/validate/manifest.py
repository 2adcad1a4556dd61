"""Manifest v1: loading, JSON Schema validation, semantic checks, and the typed model.

``load_manifest(path)`` returns a :class:`Manifest` or raises :class:`ManifestError` carrying every
problem found (schema and semantic), each with ``file:line:col`` and a JSON path.
"""

from __future__ import annotations

import bisect
import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from itertools import starmap
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from specrunner.core import durations
from specrunner.core.diagnostics import Diagnostic, PathT, Severity, json_path, refused, sort_diagnostics
from specrunner.core.errors import ManifestError
from specrunner.core.mtsrules import key_length_problem, user_data_problem
from specrunner.core.templates import (
    PLACEHOLDER_RE,
    PLACEHOLDERS,
    object_parts,
    parts_format,
    resolve_template,
)
from specrunner.validate import fastschema
from specrunner.validate.schema import load_schema
from specrunner.validate.yamlload import Marks, YamlError, display_path, load, read_text

if TYPE_CHECKING:
    import jsonschema

    from specrunner.core.model import Manifest

_CONTROL_RE = re.compile(r"[\x00-\x1f]")
# SnapshotConfig keys that the manifest models; the `mts:` escape hatch must not set them.
MODELED_KEYS = {
    "Time": "time",
    "Interval": "interval",
    "Num": "num",
    "Width": "width",
    "Height": "height",
    "FrameType": "frame_type",
    "BlackLevel": "black_level",
    "PixelBlackThreshold": "pixel_black_threshold",
    "Format": "format",
    "SubOut": "sub_out",
    "OutputFile": "output",
    "TileOutputFile": "tile.output",
    "TileOut": "tile",
}
USER_DATA_LIMIT = 1024
MAX_HINT_CHARS = 100  # no longer word is "close" to a key or placeholder name
MAX_DURATION_CHARS = 40
TAG_RESERVE = 20  # "-" + "sr-" + 16 hex


# --------------------------------------------------------------------------------------------
# Loading and validation


def load_manifest(path: str | Path, *, strict_warnings: bool = False) -> Manifest:
    """Load and validate; raise ManifestError with every diagnostic when anything is wrong."""
    manifest, diags = check_manifest(path)
    errors = refused(diags, strict=strict_warnings)
    if manifest is None or errors:
        n = len(errors)
        raise ManifestError(
            f"{display_path(Path(path))}: {n} problem{'s' if n != 1 else ''} found",
            diags,
            hint=f"run `specrunner validate {display_path(Path(path))}` for the list",
        )
    return manifest


def check_manifest(path: str | Path) -> tuple[Manifest | None, list[Diagnostic]]:
    """Validate a manifest file. Returns the model (None if invalid) and all diagnostics."""
    data, diags = check_manifest_document(path)
    return (None if data is None else _build(data, Path(path))), diags


def check_manifest_document(path: str | Path) -> tuple[dict[str, Any] | None, list[Diagnostic]]:
    """``check_manifest`` without building the typed model (nor importing pydantic): the validated
    document (None if invalid) and all diagnostics. ``validate`` needs no more."""
    p = Path(path)
    shown = display_path(p)
    try:
        data, marks = load(read_text(p))
    except YamlError as e:
        return None, [
            Diagnostic(
                shown, e.mark.line, e.mark.column, json_path(tuple(map(_clip_part, e.path))), e.message
            )
        ]
    return check_document_data(data, marks, shown, p)


def check_document(
    data: Any, marks: Marks, shown: str, path: Path
) -> tuple[Manifest | None, list[Diagnostic]]:
    valid, diags = check_document_data(data, marks, shown, path)
    return (None if valid is None else _build(valid, path)), diags


def check_document_data(
    data: Any, marks: Marks, shown: str, path: Path
) -> tuple[dict[str, Any] | None, list[Diagnostic]]:
    """Every check of ``check_document``; the document itself when it has no error."""
    diags: list[Diagnostic] = []

    def add(p: PathT, message: str, *, key: bool = False, severity: Severity = "error") -> None:
        m = marks.find(p, key=key)
        diags.append(
            Diagnostic(shown, m.line, m.column, json_path(tuple(map(_clip_part, p))), message, severity)
        )

    if data is None:
        add((), "the manifest is empty; start from `specrunner init` or see the README's manifest reference")
        return None, diags
    if not isinstance(data, dict):
        add((), f"the manifest must be a mapping with version, inputs and rules, not a {_kind(data)}")
        return None, diags

    _schema_errors(data, add)
    _semantic_errors(data, add)
    _documented_errors(data, path, add)
    diags = sort_diagnostics(diags)
    if any(d.severity == "error" for d in diags):
        return None, diags
    return data, diags


def _documented_errors(data: dict[str, Any], path: Path, add: Any) -> None:
    """The MTS documentation's rules and the target's facts (regions, inputs): see docchecks."""
    from specrunner.validate import docchecks

    docchecks.check_regions(data, add)
    docchecks.check_aliyun_rules(data, add)
    docchecks.check_local_inputs(data, path, add)


def _kind(value: Any) -> str:
    return {
        dict: "mapping",
        list: "list",
        str: "string",
        int: "integer",
        float: "number",
        bool: "boolean",
        type(None): "null",
    }.get(type(value), type(value).__name__)


@cache
def _validator() -> jsonschema.Draft202012Validator:
    import jsonschema  # only for a document with schema errors: see _schema_errors

    return jsonschema.Draft202012Validator(load_schema())


_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "null": type(None),
}


def _type_matches(instance: Any, type_: Any) -> bool:
    types = type_ if isinstance(type_, list) else [type_]
    for t in types:
        py = _JSON_TYPES.get(t)
        if py is None:
            continue
        if isinstance(instance, bool) and t in ("integer", "number"):
            continue
        if isinstance(instance, py):
            return True
    return False


def _schema_errors(data: dict[str, Any], add: Any) -> None:
    """JSON Schema errors. Plain-string inputs (the short form; often thousands) are checked here
    directly, as the schema's string branch would (1..1024 characters), and only the other input
    entries go through the validator, so a 10,000-input manifest validates in a fraction of a second.
    Error paths are mapped back to the entries' real indexes."""
    inputs = data.get("inputs")
    index_map: list[int] | None = None
    doc = data
    if isinstance(inputs, list) and len(inputs) > 1:
        kept = [i for i, x in enumerate(inputs) if not isinstance(x, str)]
        if len(kept) < len(inputs):
            index_map = kept or [0]  # keep one entry so minItems still sees a non-empty list
            doc = {**data, "inputs": [inputs[i] for i in index_map]}
            for i, x in enumerate(inputs):
                if isinstance(x, str) and not 1 <= len(x) <= 1024:
                    add(
                        ("inputs", i),
                        f"length {len(x)} is out of range (an object key has 1 to 1,024 characters)",
                    )
    report = add
    if index_map is not None:
        mapping = index_map

        def report(p: PathT, message: str, **kw: Any) -> None:  # paths back to the real indexes
            if len(p) >= 2 and p[0] == "inputs" and isinstance(p[1], int) and p[1] < len(mapping):
                p = ("inputs", mapping[p[1]], *p[2:])
            add(p, message, **kw)

    if fastschema.accepts(load_schema(), doc):  # valid: jsonschema (~40 ms to import) has nothing to say
        return
    for err in _validator().iter_errors(doc):
        _report(err, report)


def _report(err: jsonschema.ValidationError, add: Any) -> None:
    path: PathT = tuple(err.absolute_path)
    v = err.validator
    # The schema object holding the failed keyword: always a mapping for the keywords read below.
    schema: Mapping[str, Any] = err.schema if isinstance(err.schema, Mapping) else {}
    if path and path[-1] in ("time", "interval") and v in ("anyOf", "pattern", "type", "minimum"):
        try:
            if path[-1] == "time":
                _time_ms(err.instance)
            else:
                _interval_s(err.instance)
        except durations.DurationError as e:
            add(path, f"{path[-1]}: {e}")
            return
    if v == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        extras = [k for k in err.instance if k not in allowed] if isinstance(err.instance, dict) else []
        for key in extras:
            close = _close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed keys: {', '.join(allowed)}"
            add((*path, key), f"unknown key {_short(key)}{hint}", key=True)
        return
    if v == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        add(path, f"missing required key {missing!r}")
        return
    if v in ("anyOf", "oneOf"):
        branches: dict[str | int, list[jsonschema.ValidationError]] = {}
        for sub in err.context or []:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        options = schema[v]
        fitting = [
            i
            for i, b in enumerate(options)
            if "type" in b and _type_matches(err.instance, b["type"]) and i in branches
        ]
        # Among branches of the right type, prefer one whose required keys are all present.
        if isinstance(err.instance, dict):
            instance: dict[str, Any] = err.instance
            fitting.sort(key=lambda i: not all(k in instance for k in options[i].get("required", [])))
        if fitting:
            for sub in branches[fitting[0]]:
                _report(sub, add)
            return
        types = [b.get("type") for b in options if "type" in b]
        add(path, f"expected {' or '.join(_type_word(t) for t in types)}, got {_describe(err.instance)}")
        return
    if v == "type":
        add(path, f"expected {_type_word(err.validator_value)}, got {_describe(err.instance)}")
        return
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        lo = schema.get("minimum", schema.get("exclusiveMinimum"))
        hi = schema.get("maximum", schema.get("exclusiveMaximum"))
        name = path[-1] if path and isinstance(path[-1], str) else "value"
        rng = (
            f"{lo}..{hi}"
            if lo is not None and hi is not None
            else (f">= {lo}" if lo is not None else f"<= {hi}")
        )
        add(path, f"{name} = {_short(err.instance)} is out of range; allowed: {rng}")
        return
    if v == "enum":
        values = err.validator_value if isinstance(err.validator_value, list) else []
        choices = ", ".join(repr(x) for x in values)
        close = _close_matches(str(err.instance), [str(x) for x in values], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        add(path, f"{_short(err.instance)} is not one of {choices}{hint}")
        return
    if v == "const":
        add(path, f"must be {err.validator_value!r}, got {_short(err.instance)}")
        return
    if v in ("minLength", "maxLength"):
        n = len(err.instance) if isinstance(err.instance, str) else "?"
        add(path, f"length {n} is out of range ({v} {err.validator_value})")
        return
    if v == "minItems":
        add(path, f"must have at least {err.validator_value} item(s)")
        return
    if v == "pattern":
        add(path, f"{_short(err.instance)} is not valid here ({_pattern_help(path)})")
        return
    if v == "propertyNames":
        add(path, f"{err.message}")
        return
    add(path, err.message)


def _pattern_help(path: PathT) -> str:
    last = next((p for p in reversed(path) if isinstance(p, str)), "")
    if path[:1] == ("inputs",) and last == "id":
        return "input ids cannot contain spaces or the glob characters * ? [ ]"
    return {
        "id": "use letters, digits, '_', '.', '-'; start with a letter or digit",
        "bucket": "bucket names are 3-63 lowercase letters, digits and '-'",
        "input_bucket": "bucket names are 3-63 lowercase letters, digits and '-'",
        "output_bucket": "bucket names are 3-63 lowercase letters, digits and '-'",
        "location": "an OSS region such as oss-cn-shanghai",
        "output_location": "an OSS region such as oss-cn-shanghai",
        "region": "an MTS region such as cn-shanghai",
        "pipeline_id": "letters, digits, '_' and '-'",
        "name": "1-128 letters, digits, '.', '_', '/', '-'; start with a letter or digit",
    }.get(last, "see the schema")


def _type_word(t: Any) -> str:
    if isinstance(t, list):
        return " or ".join(_type_word(x) for x in t)
    return {
        "object": "a mapping",
        "array": "a list",
        "string": "a string",
        "integer": "an integer",
        "number": "a number",
        "boolean": "true or false",
        "null": "null",
    }.get(t, str(t))


def _describe(v: Any) -> str:
    return f"{_kind(v)} {_short(v)}" if not isinstance(v, (dict, list)) else f"a {_kind(v)}"


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _placeholders(template: str) -> list[str]:
    return PLACEHOLDER_RE.findall(template)


def _semantic_errors(data: dict[str, Any], add: Any) -> None:
    """Checks the schema cannot express. Defensive: the document may also have schema errors."""
    target = _dict_at(data, "target")
    defaults = _dict_at(data, "defaults")
    name = data.get("name")
    if isinstance(name, str) and name.endswith("\n"):  # the schema's `$` lets one trailing newline through
        add(("name",), "a name is one line: remove the trailing newline")
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

    inputs = _list_at(data, "inputs")
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

    rules = _list_at(data, "rules")
    rule_ids: dict[str, int] = {}
    outputs = _Outputs()
    facts = _input_facts(inputs, input_ids, defaults)
    facts_stats = _input_stats(facts)
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
            stats = _input_stats(matched)
        if isinstance(rid, str):
            _check_collisions(rule, r, rid, matched, stats, defaults, outputs, add)


def _dict_at(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _list_at(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _check_object_key(key: str, path: PathT, add: Any) -> None:
    problem = _object_key_problem(key)
    if problem:
        add(path, problem)


def _object_key_problem(key: str) -> str | None:
    if key.startswith("/"):
        return "object keys must not start with '/'; write the key relative to the bucket"
    if _CONTROL_RE.search(key):
        return "object keys must not contain control characters"
    if "\\" in key:
        return "object keys must not contain '\\'; OSS folders are separated by '/'"
    if ".." in key.split("/") or key.endswith("/"):
        return "object key must name a file: no '..' segments and no trailing '/'"
    if "." in key.split("/"):
        return "object keys must not contain '.' segments ('a/./b'); write 'a/b'"
    too_long = key_length_problem(key) if len(key) > 255 else None  # 1 to 1,023 bytes (MTS error code list)
    if too_long:
        return too_long
    decoded = unquote(key) if "%" in key else key  # decoded once, as the service does
    if decoded != key and (
        decoded.startswith("/")
        or "\\" in decoded
        or _CONTROL_RE.search(decoded)
        or any(part in (".", "..") for part in decoded.split("/"))
    ):
        return (
            "object key looks URL-encoded and decodes to an unsafe key ('%2F..', '%00', ...); write keys "
            "as plain text: specrunner encodes them"
        )
    return None


def _check_rule(rule: dict[str, Any], r: int, defaults: dict[str, Any], add: Any) -> None:
    p: PathT = ("rules", r)
    time_ms = interval = None
    if "time" in rule and isinstance(rule["time"], (int, str)) and not isinstance(rule["time"], bool):
        try:
            time_ms = _time_ms(rule["time"])
        except durations.DurationError as e:
            if isinstance(rule["time"], str):  # the schema reports the same text too: deduplicated
                add((*p, "time"), f"time: {e}")
    if (
        "interval" in rule
        and isinstance(rule["interval"], (int, str))
        and not isinstance(rule["interval"], bool)
    ):
        try:
            interval = _interval_s(rule["interval"])
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
    if "black_level" in rule and not (time_ms in (0, None) and multi):
        add(
            (*p, "black_level"),
            "black_level only applies when time is 0 and num > 1; the service ignores it here",
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
    mts = rule.get("mts")
    if isinstance(mts, dict):
        for key in mts:
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


def _check_template(template: str, path: PathT, add: Any, *, allow_tilecount: bool) -> None:
    for name in _placeholders(template):
        if name not in PLACEHOLDERS:
            close = _close_matches(name, PLACEHOLDERS, n=1)
            hint = (
                f"; did you mean {{{close[0]}}}?"
                if close
                else f"; allowed: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
            )
            add(path, f"unknown placeholder {{{_clip_part(name)}}}{hint}")
        elif name == "TileCount" and not allow_tilecount:
            add(path, "{TileCount} belongs in tile.output; use {Count} here")
    if not template.lower().endswith(".jpg"):
        add(path, "output objects are JPG images: the key must end in .jpg")


def _input_parts(item: Any, defaults: dict[str, Any]) -> tuple[str, str] | None:
    if isinstance(item, str):
        return defaults.get("input_bucket", ""), item
    if isinstance(item, dict) and isinstance(item.get("object"), str):
        return item.get("bucket", defaults.get("input_bucket", "")), item["object"]
    return None


class _InputFacts:
    """What the collision check needs of one input, computed once (not once per rule)."""

    __slots__ = ("iid", "obj", "parts", "risky", "safe")

    def __init__(self, iid: str, obj: str) -> None:
        self.iid = iid
        self.obj = obj
        self.safe = _object_key_problem(obj) is None
        self.parts = prefix, stem, ext = object_parts(obj)
        # A safe key and a safe template can only combine into an unsafe key when the key's parts
        # are empty or dots (a "." segment, a leading "/"), %-escaped, or long: only then resolve a sample.
        self.risky = (
            not prefix or stem in ("", ".", "..") or ext in ("", ".", "..") or "%" in obj or len(obj) > 256
        )


class _Outputs:
    """What the rules checked so far write, for the collision check.

    Every rule's keys (``"bucket\0object"``) are kept as resolved; they are indexed (``owner``: key ->
    the rule whose job writes it first) only when needed: a key is written by two rules only if the
    literal start of one's template (``head``) is a prefix of the other's, so a rule is compared with
    the earlier rules whose heads relate to its own, and the common manifest (one folder per rule)
    builds no index at all.
    """

    def __init__(self) -> None:
        self.owner: dict[str, int] = {}
        self.rules: dict[int, tuple[str, list[tuple[PathT, str, str]], list[_InputFacts]]] = {}
        self.keys: dict[int, list[str]] = {}
        self.indexed: set[int] = set()
        self._heads: list[str] = []  # sorted
        self._head_rules: dict[str, list[int]] = {}

    def fast_check(
        self,
        r: int,
        rid: str,
        targets: list[tuple[PathT, str, str]],
        matched: list[_InputFacts],
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


def _input_facts(inputs: list[Any], input_ids: dict[str, int], defaults: dict[str, Any]) -> list[_InputFacts]:
    facts = []
    for iid, i in input_ids.items():
        parts = _input_parts(inputs[i], defaults)
        if parts is not None:
            facts.append(_InputFacts(iid, parts[1]))
    return facts


def _check_collisions(
    rule: dict[str, Any],
    r: int,
    rid: str,
    matched: list[_InputFacts],
    stats: tuple[int, bool],
    defaults: dict[str, Any],
    outputs: _Outputs,
    add: Any,
) -> None:
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


def _input_stats(matched: list[_InputFacts]) -> tuple[int, bool]:
    """The longest input key, and whether any safe key has risky parts (computed once per input list)."""
    return max((len(f.obj) for f in matched), default=0), any(f.safe and f.risky for f in matched)


def _may_be_unsafe(
    targets: list[tuple[PathT, str, str]], matched: list[_InputFacts], stats: tuple[int, bool]
) -> bool:
    """Whether any output of these templates over these inputs could resolve to an unsafe key."""
    longest, any_risky = stats
    for _, _, template in targets:
        if _object_key_problem(template.replace("{", "x").replace("}", "x")) is not None:
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
    matched: list[_InputFacts],
    outputs: _Outputs,
    add: Any,
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
            _object_key_problem(template.replace("{", "x").replace("}", "x")) is None,
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
                problem = _object_key_problem(sample)
                if problem:  # e.g. "{ObjectPrefix}../x.jpg", or {FileName} "." from an input "..mp4"
                    unsafe.add(path)
                    add(path, f"for input {f.iid!r} the output resolves to {_short(sample)}: {problem}")
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


# --------------------------------------------------------------------------------------------
# Building the model


def _build(data: dict[str, Any], path: Path) -> Manifest:
    # The typed model is imported here: `validate` checks a document without building it.
    from specrunner.core.model import Discovery, Input, Manifest, RemoteState, Rule, Target, Tile

    t = data.get("target", {})
    d = data.get("defaults", {})
    target = Target(
        backend=t.get("backend", "local"),
        root=t.get("root", "./oss"),
        region=t.get("region"),
        endpoint=t.get("endpoint"),
        pipeline_id=t.get("pipeline_id"),
        qps_submit=float(t.get("qps", {}).get("submit", 50.0)),
        qps_query=float(t.get("qps", {}).get("query", 100.0)),
        sync_timeout=float(t.get("sync_timeout", 6.0)),
    )
    inputs = []
    discoveries = []
    for i, item in enumerate(data["inputs"]):
        if isinstance(item, dict) and "prefix" in item:
            discoveries.append(
                Discovery(
                    index=i,
                    prefix=item["prefix"],
                    match=item.get("match", "*"),
                    bucket=item.get("bucket", d.get("input_bucket")),
                    location=item.get("location", d.get("location")),
                )
            )
            continue
        if isinstance(item, str):
            item = {"object": item}
        inputs.append(
            Input(
                id=item.get("id", item["object"]),
                object=item["object"],
                bucket=item.get("bucket", d.get("input_bucket")),
                location=item.get("location", d.get("location")),
            )
        )
    rules = []
    for rule in data["rules"]:
        out_bucket = rule.get("output_bucket", d.get("output_bucket"))
        out_loc = rule.get("output_location", d.get("location"))
        tile = None
        if "tile" in rule:
            tl = {k: _int(v) if k in _TILE_INTS else v for k, v in rule["tile"].items()}
            tile = Tile(
                **{**tl, "bucket": tl.get("bucket", out_bucket), "location": tl.get("location", out_loc)}
            )
        rules.append(
            Rule(
                id=rule["id"],
                time_ms=_time_ms(rule.get("time", 0)),
                interval_s=_interval_s(rule["interval"]) if "interval" in rule else None,
                num=_int(rule.get("num")),
                width=_int(rule.get("width")),
                height=_int(rule.get("height")),
                frame_type=rule.get("frame_type"),
                black_level=_int(rule.get("black_level")),
                pixel_black_threshold=_int(rule.get("pixel_black_threshold")),
                format=rule.get("format"),
                sub_out_is_spt_frag=rule.get("sub_out", {}).get("is_spt_frag"),
                output=rule["output"],
                output_bucket=out_bucket,
                output_location=out_loc,
                pipeline_id=rule.get("pipeline_id"),
                user_data=rule.get("user_data"),
                tile=tile,
                inputs=tuple(rule["inputs"]) if "inputs" in rule else None,
                mode=rule.get("mode", "auto"),
                mts=tuple(sorted(rule.get("mts", {}).items())),
            )
        )
    return Manifest(
        path=display_path(path),
        base_dir=str(path.resolve().parent),
        target=target,
        pipeline_id=t.get("pipeline_id", d.get("pipeline_id")),
        inputs=tuple(inputs),
        rules=tuple(rules),
        discoveries=tuple(discoveries),
        state=RemoteState(**data["state"]) if isinstance(data.get("state"), dict) else None,
        name=data.get("name"),
    )


# Integers in the JSON Schema's sense (640 and 640.0 alike) become Python ints: what is sent is "640".
_TILE_INTS = frozenset(
    {"lines", "columns", "cell_width", "cell_height", "margin", "padding", "cell_sel_step"}
)


def _int(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _close_matches(word: str, options: Sequence[str], n: int = 1, cutoff: float = 0.6) -> list[str]:
    """difflib's hint, skipped for absurd words: it indexes every character of ``word`` first."""
    if len(word) > MAX_HINT_CHARS:
        return []
    import difflib

    return difflib.get_close_matches(word, options, n=n, cutoff=cutoff)


def _duration(fn: Callable[[Any], int], value: Any) -> int:
    """``durations.*`` with every failure as a DurationError.

    Hostile texts that match the schema's pattern otherwise escape as ValueError (``int()`` of a
    5,000-digit hour) or decimal.Overflow.
    """
    if isinstance(value, str) and len(value) > MAX_DURATION_CHARS:
        raise durations.DurationError(f"{_short(value)} is too long to be a duration")
    try:
        return fn(value)
    except durations.DurationError:
        raise
    except (ValueError, ArithmeticError):
        raise durations.DurationError(f"cannot read {_short(value)} as a duration") from None


def _time_ms(value: Any) -> int:
    return _duration(durations.time_ms, value)


def _interval_s(value: Any) -> int:
    return _duration(durations.interval_s, value)


def _clip_part(part: str | int) -> str | int:
    return part[:57] + "..." if isinstance(part, str) and len(part) > 60 else part


def did_you_mean(word: str, options: list[str]) -> str:
    close = _close_matches(word, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""

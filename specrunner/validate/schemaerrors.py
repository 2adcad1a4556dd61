"""JSON Schema errors in the manifest's terms: each jsonschema error becomes a message at its JSON path
("unknown key 'outptu'; did you mean 'output'?", "expected an integer, got string '4'", ...), reported
through ``Add`` (which places it at ``file:line:col``).

A valid document never imports jsonschema (~40 ms): ``fastschema.accepts`` says it is valid first.

Invariants: the validator is ``Draft202012Validator`` with no format checker (what ``fastschema``
mirrors); every error path is the real path in the document (see ``schema_errors``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from specrunner.core import durations
from specrunner.core.diagnostics import PathT, Severity
from specrunner.validate import fastschema
from specrunner.validate.reporting import Add, close_matches, kind, short
from specrunner.validate.safedurations import interval_s, time_ms
from specrunner.validate.schema import load_schema

if TYPE_CHECKING:
    import jsonschema

_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "null": type(None),
}


@cache
def _validator() -> jsonschema.Draft202012Validator:
    import jsonschema  # only for a document with schema errors: see schema_errors

    return jsonschema.Draft202012Validator(load_schema())


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


def schema_errors(data: dict[str, Any], add: Add) -> None:
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

        def real_index(p: PathT, message: str, /, *, key: bool = False, severity: Severity = "error") -> None:
            if len(p) >= 2 and p[0] == "inputs" and isinstance(p[1], int) and p[1] < len(mapping):
                p = ("inputs", mapping[p[1]], *p[2:])
            add(p, message, key=key, severity=severity)

        report = real_index  # paths back to the real indexes

    if fastschema.accepts(load_schema(), doc):  # valid: jsonschema (~40 ms to import) has nothing to say
        return
    for err in _validator().iter_errors(doc):
        _report(err, report)


def _report(err: jsonschema.ValidationError, add: Add) -> None:
    path: PathT = tuple(err.absolute_path)
    v = err.validator
    # The schema object holding the failed keyword: always a mapping for the keywords read below.
    schema: Mapping[str, Any] = err.schema if isinstance(err.schema, Mapping) else {}
    if path and path[-1] in ("time", "interval") and v in ("anyOf", "pattern", "type", "minimum"):
        try:
            if path[-1] == "time":
                time_ms(err.instance)
            else:
                interval_s(err.instance)
        except durations.DurationError as e:
            add(path, f"{path[-1]}: {e}")
            return
    if path and path[-1] == "pipeline_id" and v in ("pattern", "minLength", "maxLength"):
        return  # the semantic check says it once, in the error code list's words (core/mtsrules.py)
    if v == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        extras = [k for k in err.instance if k not in allowed] if isinstance(err.instance, dict) else []
        for key in extras:
            close = close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed keys: {', '.join(allowed)}"
            add((*path, key), f"unknown key {short(key)}{hint}", key=True)
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
        add(path, f"{name} = {short(err.instance)} is out of range; allowed: {rng}")
        return
    if v == "enum":
        values = err.validator_value if isinstance(err.validator_value, list) else []
        choices = ", ".join(repr(x) for x in values)
        close = close_matches(str(err.instance), [str(x) for x in values], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        add(path, f"{short(err.instance)} is not one of {choices}{hint}")
        return
    if v == "const":
        add(path, f"must be {err.validator_value!r}, got {short(err.instance)}")
        return
    if v in ("minLength", "maxLength"):
        n = len(err.instance) if isinstance(err.instance, str) else "?"
        add(path, f"length {n} is out of range ({v} {err.validator_value})")
        return
    if v == "minItems":
        add(path, f"must have at least {err.validator_value} item(s)")
        return
    if v == "pattern":
        add(path, f"{short(err.instance)} is not valid here ({_pattern_help(path)})")
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
    return f"{kind(v)} {short(v)}" if not isinstance(v, (dict, list)) else f"a {kind(v)}"

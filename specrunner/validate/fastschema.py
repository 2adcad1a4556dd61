"""Says that a document is valid under a JSON Schema without importing ``jsonschema`` (~40 ms of start-up).

``accepts(schema, instance)`` is True only when ``jsonschema.Draft202012Validator(schema)`` (no format
checker, as ``validate/schemaerrors.py`` builds it) finds no error in ``instance``; False means "not known
valid": the caller asks jsonschema, which finds and words the errors. A valid manifest, what every
``validate`` and ``plan`` of a working setup reads, never imports jsonschema.

Invariant: ``accepts`` is True exactly when jsonschema reports no error, for a schema made only of the
keywords of ``_KEYWORDS`` (each implemented as jsonschema 4's ``_keywords`` module does, with its
draft 2020-12 types: an integer is an int or an integral float, ``bool`` is no number, ``enum`` and
``const`` compare with jsonschema's ``equal``) and the annotations of ``_ANNOTATIONS``; and values of
the types YAML and JSON give (dict, list, str, int, float, bool, None: exactly these types). Any other
keyword in the schema (``$ref``, ``oneOf``, ``format``...) or any other type of value makes it False.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_JSON = frozenset({dict, list, str, int, float, bool, type(None)})
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "default", "examples"})
_SCHEMAS = ("properties",)  # keywords whose value maps names to schemas
_SUBSCHEMA = ("additionalProperties", "propertyNames", "items")  # keywords whose value is a schema
_SCHEMA_LISTS = ("anyOf", "allOf")  # keywords whose value is a list of schemas


def accepts(schema: Any, instance: Any) -> bool:
    """True when jsonschema (draft 2020-12) finds ``instance`` valid under ``schema``; False if it
    does not, or if that cannot be told here (then ask jsonschema)."""
    if not supported(schema):
        return False
    return _valid(instance, schema)


def supported(schema: Any) -> bool:
    """Whether every keyword of ``schema`` (all the way down) is one ``accepts`` implements."""
    try:
        return _check(schema)
    except RecursionError:  # pragma: no cover - a schema nested deeper than the interpreter allows
        return False


def _check(schema: Any) -> bool:
    if type(schema) is bool:
        return True
    if type(schema) is not dict:
        return False
    for k, v in schema.items():
        if k in _ANNOTATIONS:
            continue
        if k not in _KEYWORDS:
            return False
        if k in _SCHEMAS and not (type(v) is dict and all(_check(s) for s in v.values())):
            return False
        if k in _SUBSCHEMA and not _check(v):
            return False
        if k in _SCHEMA_LISTS and not (type(v) is list and v and all(_check(s) for s in v)):
            return False
        if k == "type" and not (
            v in _TYPES if type(v) is str else type(v) is list and all(t in _TYPES for t in v)
        ):
            return False
        if k in ("enum", "required") and type(v) is not list:
            return False
        if k == "pattern" and type(v) is not str:
            return False
        if k in ("minItems", "maxItems", "minLength", "maxLength") and type(v) is not int:
            return False
        if k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") and type(v) not in (
            int,
            float,
        ):
            return False
    return True


def _is_integer(x: Any) -> bool:
    return type(x) is int or (type(x) is float and x.is_integer())


_TYPES: dict[str, Any] = {
    "object": lambda x: type(x) is dict,
    "array": lambda x: type(x) is list,
    "string": lambda x: type(x) is str,
    "integer": _is_integer,
    "number": lambda x: type(x) in (int, float),
    "boolean": lambda x: type(x) is bool,
    "null": lambda x: x is None,
}


def _valid(x: Any, schema: Any) -> bool:
    """jsonschema's verdict for ``x`` under a supported ``schema`` (False for a non-JSON value)."""
    if schema is True:
        return True
    if schema is False or type(x) not in _JSON:
        return False
    return all(_CHECKS[k](x, v, schema) for k, v in schema.items() if k not in _ANNOTATIONS)


def _number(x: Any) -> bool:
    return type(x) in (int, float)


# Each keyword as jsonschema's _keywords checks it; a keyword for another type of value passes. The
# comparisons are jsonschema's own (``not x < minimum``: a NaN passes there too).
_CHECKS: dict[str, Callable[[Any, Any, Any], bool]] = {
    "type": lambda x, v, s: any(_TYPES[n](x) for n in ([v] if type(v) is str else v)),
    "enum": lambda x, v, s: any(_equal(e, x) for e in v),
    "const": lambda x, v, s: _equal(x, v),
    "properties": lambda x, v, s: (
        type(x) is not dict or all(_valid(x[p], sub) for p, sub in v.items() if p in x)
    ),
    "additionalProperties": lambda x, v, s: (
        type(x) is not dict or all(_valid(x[p], v) for p in x if p not in s.get("properties", {}))
    ),
    "required": lambda x, v, s: type(x) is not dict or all(p in x for p in v),
    "propertyNames": lambda x, v, s: type(x) is not dict or all(_valid(p, v) for p in x),
    "items": lambda x, v, s: type(x) is not list or all(_valid(i, v) for i in x),
    "minItems": lambda x, v, s: type(x) is not list or not len(x) < v,
    "maxItems": lambda x, v, s: type(x) is not list or not len(x) > v,
    "minLength": lambda x, v, s: type(x) is not str or not len(x) < v,
    "maxLength": lambda x, v, s: type(x) is not str or not len(x) > v,
    "pattern": lambda x, v, s: type(x) is not str or re.search(v, x) is not None,
    "minimum": lambda x, v, s: not _number(x) or not x < v,
    "maximum": lambda x, v, s: not _number(x) or not x > v,
    "exclusiveMinimum": lambda x, v, s: not _number(x) or not x <= v,
    "exclusiveMaximum": lambda x, v, s: not _number(x) or not x >= v,
    "anyOf": lambda x, v, s: any(_valid(x, sub) for sub in v),
    "allOf": lambda x, v, s: all(_valid(x, sub) for sub in v),
}
_KEYWORDS = frozenset(_CHECKS)


def _equal(one: Any, two: Any) -> bool:
    """jsonschema's ``_utils.equal`` for JSON values: ``True`` is not ``1``, lists and mappings deeply."""
    if one is two:
        return True
    if type(one) is str or type(two) is str:
        return bool(one == two)
    if type(one) is list and type(two) is list:
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if type(one) is dict and type(two) is dict:
        return len(one) == len(two) and all(k in two and _equal(v, two[k]) for k, v in one.items())
    if type(one) is bool or type(two) is bool:
        return False  # unbool: True/False equal only themselves (`one is two` above)
    return bool(one == two)

"""validate.fastschema gives jsonschema's verdict: ``accepts`` is True exactly when jsonschema's
Draft202012Validator (as validate/schemaerrors.py builds it) reports no error.

Compared on the manifests of the repo, valid and invalid, on a seeded corpus of mutations of them
(every kind of value at every place, keys removed and added), and keyword by keyword on small schemas
with the values where JSON Schema and Python disagree (``True`` vs ``1``, ``1.0`` as an integer, NaN).
"""

from __future__ import annotations

import copy
import datetime
import random
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from specrunner.validate import fastschema
from specrunner.validate.schema import load_schema
from specrunner.validate.yamlload import load
from tests.conftest import REPO, TESTS

SCHEMA = load_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def jsonschema_valid(schema: Any, doc: Any) -> bool:
    return not any(True for _ in jsonschema.Draft202012Validator(schema).iter_errors(doc))


def documents() -> list[tuple[str, Any]]:
    files = [
        REPO / "specs" / "demo.yaml",
        REPO / "specs" / "demo-aliyun.yaml",
        *sorted((TESTS / "examples" / "valid").glob("*.yaml")),
        *sorted((TESTS / "examples" / "invalid").glob("*.yaml")),
    ]
    out = []
    for f in files:
        try:
            data, _ = load(f.read_text(encoding="utf-8"))
        except Exception:  # a file that is not YAML has no document to compare
            continue
        out.append((f.name, data))
    return out


PALETTE: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.0,
    2.5,
    -0.0,
    1e300,
    float("nan"),
    float("inf"),
    2**70,
    "",
    "x",
    "a" * 1100,
    "oss-cn-shanghai",
    "cn-shanghai",
    "5s",
    "00:00:05.000",
    "p/{FileName}.jpg",
    "local",
    "aliyun",
    "intra",
    [],
    [1],
    ["a"],
    ["v/*", "w"],
    {},
    {"a": 1},
    {"submit": 10, "query": 20},
]


def places(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from places(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from places(v, (*path, i))


def mutate(doc: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    doc = copy.deepcopy(doc)
    if not path:
        return value if how == "set" else doc
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    last = path[-1]
    if how == "set":
        parent[last] = value
    elif how == "delete":
        del parent[last]
    elif how == "add" and isinstance(parent[last], dict):
        parent[last]["unknown_key"] = value
    return doc


def corpus(n: int, seed: int = 14) -> list[Any]:
    rng = random.Random(seed)
    docs = [d for _, d in documents() if isinstance(d, dict)]
    out = []
    for _ in range(n):
        doc = rng.choice(docs)
        path = rng.choice(list(places(doc)))
        how = rng.choice(["set", "set", "set", "delete", "add"])
        out.append(mutate(doc, path, how, rng.choice(PALETTE)))
    return out


def test_the_published_schema_is_fully_supported() -> None:
    assert fastschema.supported(SCHEMA)


@pytest.mark.parametrize("name,doc", documents(), ids=[n for n, _ in documents()])
def test_the_repo_manifests_get_jsonschemas_verdict(name: str, doc: Any) -> None:
    assert fastschema.accepts(SCHEMA, doc) == (not any(True for _ in VALIDATOR.iter_errors(doc)))


def test_a_mutation_corpus_gets_jsonschemas_verdict() -> None:
    verdicts = []
    for doc in corpus(1500):
        expected = not any(True for _ in VALIDATOR.iter_errors(doc))
        assert fastschema.accepts(SCHEMA, doc) == expected, doc
        verdicts.append(expected)
    assert 100 < sum(verdicts) < len(verdicts) - 500  # both verdicts, many times each


KEYWORD_CASES: list[tuple[dict[str, Any], list[Any]]] = [
    ({"type": "integer"}, [1, 1.0, 1.5, True, "1", None, 2**70, 1e300, float("nan"), float("inf")]),
    ({"type": "number"}, [1, 1.5, True, False, "1", None, float("nan")]),
    ({"type": ["string", "null"]}, ["a", None, 1, [], {}]),
    ({"type": "boolean"}, [True, False, 0, 1, "true"]),
    ({"type": "object"}, [{}, [], "x"]),
    ({"type": "array"}, [[], {}, "x"]),
    ({"enum": ["a", 1, None]}, ["a", 1, 1.0, True, None, "b", [1]]),
    (
        {"enum": [True, [1, 2], {"a": [False]}]},
        [True, 1, [1, 2], [1, 2.0], [True, 2], {"a": [False]}, {"a": [0]}],
    ),
    ({"enum": [0, False]}, [0, False, 0.0, True, None]),
    ({"const": 1}, [1, 1.0, True, "1", [1]]),
    ({"const": False}, [False, 0, None]),
    ({"minimum": 0, "maximum": 10}, [0, 10, -1, 11, 5.5, float("nan"), True, "5", None]),
    ({"exclusiveMinimum": 0, "exclusiveMaximum": 1}, [0, 1, 0.5, float("nan"), -0.0, False]),
    ({"minLength": 2, "maxLength": 3}, ["a", "ab", "abcd", "\U0001f600\U0001f600", 12, None]),
    ({"pattern": "^[a-z]+$"}, ["abc", "ab1", "abc\n", "", 5]),
    ({"pattern": "b"}, ["abc", "xyz"]),
    ({"minItems": 1, "maxItems": 2, "items": {"type": "string"}}, [[], ["a"], ["a", "b", "c"], [1], "ab"]),
    (
        {"properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": False},
        [{"a": 1}, {"a": "1"}, {}, {"a": 1, "b": 2}, [], "a"],
    ),
    ({"additionalProperties": {"type": "string"}}, [{"x": "a"}, {"x": 1}, {}]),
    ({"propertyNames": {"pattern": "^[a-z]+$"}}, [{"ab": 1}, {"aB": 1}, {}]),
    ({"anyOf": [{"type": "string"}, {"minimum": 5}]}, ["x", 6, 4, None]),
    ({"allOf": [{"type": "integer"}, {"minimum": 5}]}, [5, 4, "x"]),
    (
        {"anyOf": [True, False]},
        [1, None],
    ),
    ({"properties": {"a": False}}, [{"a": 1}, {"b": 1}]),
    ({"title": "t", "description": "d", "default": 1, "examples": [1]}, [1, None, {}]),
]


@pytest.mark.parametrize("schema,values", KEYWORD_CASES, ids=lambda x: repr(x)[:50])
def test_each_keyword_gets_jsonschemas_verdict(schema: dict[str, Any], values: list[Any]) -> None:
    assert fastschema.supported(schema)
    for value in values:
        assert fastschema.accepts(schema, value) == jsonschema_valid(schema, value), value


def test_every_implemented_keyword_is_exercised() -> None:
    used = {k for schema, _ in KEYWORD_CASES for k in schema} - fastschema._ANNOTATIONS
    assert used == set(fastschema._CHECKS)


@pytest.mark.parametrize(
    "schema",
    [
        {"oneOf": [{"type": "string"}]},
        {"$ref": "#/$defs/x", "$defs": {"x": {}}},
        {"format": "date"},
        {"properties": {"a": {"if": {}}}},
        {"type": "decimal"},
        {"items": [{"type": "string"}]},
        {"anyOf": []},
        "not a schema",
    ],
    ids=repr,
)
def test_a_keyword_it_does_not_know_means_ask_jsonschema(schema: Any) -> None:
    assert not fastschema.supported(schema)
    assert not fastschema.accepts(schema, "anything")


@pytest.mark.parametrize("value", [datetime.date(2026, 1, 1), (1, 2), b"x", {1, 2}], ids=repr)
def test_a_value_json_does_not_have_means_ask_jsonschema(value: Any) -> None:
    assert not fastschema.accepts({}, value)
    schema = {"type": "object"}  # the value is never read: both say valid
    assert fastschema.accepts(schema, {"a": value}) == jsonschema_valid(schema, {"a": value}) is True
    assert not fastschema.accepts({"properties": {"a": {}}}, {"a": value})


def test_the_check_can_fail() -> None:
    """A verdict that differs is seen: a document jsonschema refuses is not accepted."""
    doc = copy.deepcopy(dict(documents())["demo.yaml"])
    doc["version"] = 2
    assert not fastschema.accepts(SCHEMA, doc) and any(True for _ in VALIDATOR.iter_errors(doc))

"""core.construct builds exactly what pydantic's validation builds: same values, same types, same
fields set, hash and repr, or the very same error (then it is pydantic's own).

Every manifest here is built twice, once as validation builds it (``construct``) and once with each
``construct(cls, ...)`` replaced by ``cls(...)`` (pydantic's full validation), and the two are compared
recursively, types included (``qps: {submit: 40}`` must be ``40.0`` both ways).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from specrunner.core import construct as construct_mod
from specrunner.core import model
from specrunner.core.construct import construct, fast_path_covers
from specrunner.validate.manifest import check_manifest
from tests.conftest import REPO, TESTS

EXTRA = {
    "ints-for-floats.yaml": """
version: 1
target: {backend: local, root: ./buckets, qps: {submit: 50, query: 7}, sync_timeout: 3}
defaults: {location: oss-cn-shanghai, input_bucket: in-b, output_bucket: out-b}
inputs: [a.mp4, {id: two, object: "b b.mp4"}, {prefix: clips/, match: "*.mp4"}]
rules:
  - {id: one, time: 5s, width: 640, output: "p/{FileName}.jpg"}
""",
    "floats.yaml": """
version: 1
target: {backend: local, qps: {submit: 12.5, query: 0.5}, sync_timeout: 2.25}
defaults: {location: oss-cn-shanghai, input_bucket: in-b, output_bucket: out-b}
inputs: [a.mp4]
rules:
  - {id: one, time: "00:00:01.500", height: 360, output: "p/{FileName}.jpg", mode: sync}
""",
    "tile-and-state.yaml": """
version: 1
state: {backend: oss, bucket: team-state, key: sr/site.lock.json, location: oss-cn-hangzhou}
target: {backend: aliyun, region: cn-hangzhou, pipeline_id: 0123456789abcdef0123456789abcdef}
defaults: {location: oss-cn-hangzhou, input_bucket: in-b, output_bucket: out-b}
inputs: [v/a.mp4, {id: b, object: v/b.mp4, bucket: other-in, location: oss-cn-hangzhou}]
rules:
  - id: sheet
    time: 0
    interval: 2s
    num: 4
    output: "s/{FileName}/{Count}.jpg"
    tile: {lines: 2, columns: 2, output: "t/{FileName}-{TileCount}.jpg"}
    inputs: ["v/*"]
    user_data: hello
    mts: {Foo: 1, Bar: "x"}
  - {id: plain, time: 1s, frame_type: normal, black_level: 30, output: "p/{FileName}.jpg"}
""",
}


def manifests(tmp_path: Path) -> list[Path]:
    for name, text in EXTRA.items():
        (tmp_path / name).write_text(text)
    return [
        REPO / "specs" / "demo.yaml",
        REPO / "specs" / "demo-aliyun.yaml",
        *sorted((TESTS / "examples" / "valid").glob("*.yaml")),
        *(tmp_path / name for name in EXTRA),
    ]


def same(a: Any, b: Any, where: str = "$") -> None:
    """a and b are equal and of the same type, all the way down (models: fields in order, fields set)."""
    assert type(a) is type(b), (where, a, b)
    if isinstance(a, BaseModel):
        assert list(a.__dict__) == list(b.__dict__), where
        assert a.model_fields_set == b.model_fields_set, where
        assert a.__pydantic_extra__ == b.__pydantic_extra__ and a.__pydantic_private__ is None, where
        for name in a.__dict__:
            same(a.__dict__[name], b.__dict__[name], f"{where}.{name}")
        assert a == b and repr(a) == repr(b), where
        assert _hash(a) == _hash(b), where
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, (where, a, b)


def _hash(m: BaseModel) -> object:
    try:
        return hash(m)
    except TypeError as e:  # a model holding a dict (a rule's `mts:` values) is unhashable both ways
        return str(e)


def validated(cls: type[Any], /, **values: Any) -> Any:
    return cls(**values)


def test_validation_builds_the_same_manifest_as_pydantic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = manifests(tmp_path)
    fast = {}
    for p in paths:
        m, diags = check_manifest(p)
        assert m is not None, [d.render() for d in diags]
        fast[p] = m
    monkeypatch.setattr(construct_mod, "construct", validated)  # _build imports it at each call
    for p in paths:
        slow, _ = check_manifest(p)
        same(fast[p], slow, str(p.name))
    ints = fast[tmp_path / "ints-for-floats.yaml"].target
    assert type(ints.qps_submit) is float and ints.qps_submit == 50.0 and ints.sync_timeout == 3.0
    assert fast[tmp_path / "tile-and-state.yaml"].state is not None
    assert fast[tmp_path / "ints-for-floats.yaml"].discoveries


def test_validation_never_runs_pydantic_for_a_valid_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path is taken for every model of these manifests (the fallback would call __init__)."""

    def refuse(self: BaseModel, /, **data: Any) -> None:
        raise AssertionError(f"{type(self).__name__} validated by pydantic: {data}")

    paths = manifests(tmp_path)
    monkeypatch.setattr(model.FrozenModel, "__init__", refuse)
    for p in paths:
        m, diags = check_manifest(p)
        assert m is not None, [d.render() for d in diags]


def test_the_check_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """``same`` sees an int where pydantic makes a float, and the refusing __init__ does refuse."""
    with pytest.raises(AssertionError):
        same(model.Target.model_construct(qps_submit=50), model.Target(qps_submit=50))
    monkeypatch.setattr(model.FrozenModel, "__init__", lambda self, **data: (_ for _ in ()).throw(KeyError()))
    with pytest.raises(KeyError):
        construct(model.Target, qps_submit="50")


RULE = {"id": "r", "output": "o.jpg", "output_bucket": "b", "output_location": "oss-cn-shanghai"}
CASES: list[tuple[type[Any], dict[str, Any]]] = [
    (model.Target, {}),
    (model.Target, {"qps_submit": 50, "qps_query": 0, "sync_timeout": -3}),
    (model.Target, {"qps_submit": 2**60}),  # beyond 2**53: pydantic decides
    (model.Target, {"qps_submit": 2.5, "sync_timeout": float("inf")}),
    (model.Target, {"qps_submit": float("nan")}),
    (model.Target, {"qps_submit": True}),
    (model.Target, {"qps_submit": "50"}),
    (model.Target, {"backend": "aliyun", "region": None}),
    (model.Target, {"backend": "gcs"}),
    (model.Target, {"root": 5}),
    (model.Target, {"nope": 1}),
    (model.Input, {"id": "a", "object": "a", "bucket": "b", "location": "l"}),
    (model.Input, {"id": "a\udcff", "object": "a", "bucket": "b", "location": "l"}),
    (model.Input, {"id": "a", "object": "a", "bucket": "b"}),  # missing
    (model.Input, {"id": None, "object": "a", "bucket": "b", "location": "l"}),
    (model.Rule, RULE),
    (model.Rule, {**RULE, "width": 640, "num": None, "sub_out_is_spt_frag": True, "mode": "sync"}),
    (model.Rule, {**RULE, "width": 640.0}),  # a float for an int: pydantic converts it
    (model.Rule, {**RULE, "width": 640.5}),
    (model.Rule, {**RULE, "width": True}),
    (model.Rule, {**RULE, "sub_out_is_spt_frag": 1}),
    (model.Rule, {**RULE, "inputs": ("a*", "b")}),
    (model.Rule, {**RULE, "inputs": ["a*", "b"]}),  # a list for a tuple
    (model.Rule, {**RULE, "inputs": ("a*", 3)}),
    (model.Rule, {**RULE, "mts": (("A", {"x": [1]}), ("B", 2))}),
    (model.Rule, {**RULE, "mts": (("A", 1, 2),)}),
    (model.Rule, {**RULE, "mts": ((1, 1),)}),
    (model.Rule, {**RULE, "tile": model.Tile(output="t.jpg", bucket="b", location="l")}),
    (model.Rule, {**RULE, "tile": {"output": "t.jpg", "bucket": "b", "location": "l"}}),
    (model.Rule, {**RULE, "frame_type": "key"}),
]


@pytest.mark.parametrize("cls,values", CASES, ids=lambda x: repr(x)[:60] if isinstance(x, dict) else None)
def test_construct_is_pydantic_or_its_error(cls: type[Any], values: dict[str, Any]) -> None:
    try:
        expected = cls(**values)
    except ValidationError as e:
        with pytest.raises(ValidationError) as got:
            construct(cls, **values)
        assert str(got.value) == str(e)
        return
    same(construct(cls, **values), expected)


def test_every_field_of_the_manifest_models_has_a_fast_path() -> None:
    """No annotation of core.model falls to the always-validate answer (a new field type would)."""
    for cls in model.FrozenModel.__subclasses__():
        assert fast_path_covers(cls), cls
    assert len(model.FrozenModel.__subclasses__()) >= 7


def test_an_unknown_annotation_always_validates() -> None:
    class Odd(model.FrozenModel):
        when: complex = 0j

    assert not fast_path_covers(Odd)
    assert type(construct(Odd, when=1).when) is complex  # pydantic converted it

"""validate's counts, read from the validated document, are the typed model's counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from specrunner.validate.manifest import check_manifest, check_manifest_document
from specrunner.validate.summary import Counts, document_counts, model_counts
from tests.conftest import REPO, TESTS

HEAD = """
version: 1
defaults: {location: oss-cn-shanghai, input_bucket: in-b, output_bucket: out-b}
"""
DOCS = {
    "globs": HEAD
    + """
inputs: [v/a.mp4, v/b.mp4, {id: launch, object: "w/launch day.mp4"}, {object: w/c.mp4, bucket: other-in}]
rules:
  - {id: all, time: 1s, output: "a/{FileName}.jpg"}
  - {id: v, time: 1s, output: "v/{FileName}.jpg", inputs: ["v/*"]}
  - {id: named, time: 1s, output: "n/{FileName}.jpg", inputs: [launch, "w/c*", nothing]}
  - {id: none, time: 1s, output: "x/{FileName}.jpg", inputs: ["zzz*"]}
""",
    "discovery": HEAD
    + """
inputs: [v/a.mp4, {prefix: clips/, match: "*.mp4"}, {prefix: more/}]
rules:
  - {id: all, time: 1s, output: "a/{FileName}.jpg"}
""",
    "only-discovery": HEAD
    + """
inputs: [{prefix: clips/}]
rules:
  - {id: all, time: 1s, output: "a/{FileName}.jpg"}
  - {id: two, time: 2s, output: "b/{FileName}.jpg"}
""",
}


def paths(tmp_path: Path) -> list[Path]:
    for name, text in DOCS.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    return [
        REPO / "specs" / "demo.yaml",
        REPO / "specs" / "demo-aliyun.yaml",
        *sorted((TESTS / "examples" / "valid").glob("*.yaml")),
        *(tmp_path / f"{name}.yaml" for name in DOCS),
    ]


def test_document_counts_are_the_models(tmp_path: Path) -> None:
    seen = []
    for p in paths(tmp_path):
        document, diags = check_manifest_document(p)
        model, diags2 = check_manifest(p)
        assert document is not None and model is not None, [d.render() for d in diags]
        assert diags == diags2
        seen.append(document_counts(document))
        assert seen[-1] == model_counts(model), p
    by_name = dict(zip([p.stem for p in paths(tmp_path)], seen, strict=True))
    assert by_name["globs"] == Counts(inputs=4, discoveries=0, rules=4, jobs=4 + 2 + 2 + 0)
    assert by_name["discovery"] == Counts(inputs=1, discoveries=2, rules=1, jobs=1)


@pytest.mark.parametrize("name", sorted(p.name for p in (TESTS / "examples" / "invalid").glob("*.yaml")))
def test_an_invalid_document_is_refused_the_same_way(name: str) -> None:
    path = TESTS / "examples" / "invalid" / name
    document, diags = check_manifest_document(path)
    model, diags2 = check_manifest(path)
    assert document is None and model is None and diags == diags2 and diags

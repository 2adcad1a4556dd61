"""Every YAML block in the README and in docs/ parses, with duplicate keys refused: a snippet users
copy (a CI workflow, a manifest, a pre-commit config) must work literally (YAML itself keeps the last
of two equal keys silently, which is how a workflow step loses `submodules: true`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


class _NoDuplicates(yaml.SafeLoader):
    pass


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_NoDuplicates.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def blocks() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in re.finditer(r"^```ya?ml\n(.*?)^```", text, re.S | re.M):
            line = text[: m.start()].count("\n") + 2
            out.append((f"{doc.relative_to(ROOT)}:{line}", m.group(1)))
    return out


@pytest.mark.parametrize(("where", "block"), blocks(), ids=[w for w, _ in blocks()])
def test_yaml_blocks_parse_with_duplicate_keys_refused(where: str, block: str) -> None:
    try:
        list(yaml.load_all(block, Loader=_NoDuplicates))
    except yaml.YAMLError as e:
        pytest.fail(f"{where}: {e}")


def test_the_checker_refuses_a_duplicate_key() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 'with'"):
        yaml.load("- uses: a\n  with: {x: 1}\n  with: {y: 2}\n", Loader=_NoDuplicates)

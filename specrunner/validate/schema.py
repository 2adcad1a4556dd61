"""The published JSON Schemas (``schemas/`` in the repo, ``specrunner/schemas`` in the wheel)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

MANIFEST_SCHEMA = "manifest.v1.json"


def schema_path(name: str) -> Path:
    # The package's folder, as importlib.resources.files("specrunner") gives it for an installed
    # package, without importing importlib.resources' readers (and zipfile) at every start.
    here = Path(__file__).resolve().parents[1]
    packaged = here / "schemas" / name
    if packaged.is_file():  # installed from a wheel
        return packaged
    return here.parent / "schemas" / name  # source checkout / editable


@cache
def load_schema(name: str = MANIFEST_SCHEMA) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_path(name).read_text(encoding="utf-8"))
    return schema


def schema_text(name: str = MANIFEST_SCHEMA) -> str:
    return schema_path(name).read_text(encoding="utf-8")

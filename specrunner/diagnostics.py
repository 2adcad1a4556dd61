"""Diagnostics: every problem found in a manifest, with its place, reported all at once."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

from .yamlload import PathT

Severity = Literal["error", "warning"]


def json_path(path: PathT) -> str:
    """``("rules", 0, "tile", "output")`` -> ``$.rules[0].tile.output``."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            out += "[" + json.dumps(part, ensure_ascii=False) + "]"
    return out


@dataclass(frozen=True, order=True)
class Diagnostic:
    file: str
    line: int
    column: int
    path: str
    message: str
    severity: Severity = "error"

    def render(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}:{self.column}: {self.path}: {prefix}{self.message}"

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def sort_diagnostics(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[Diagnostic] = set()
    out = []
    for d in sorted(diags, key=lambda d: (d.file, d.line, d.column, d.path, d.message)):
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out

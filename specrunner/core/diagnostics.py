"""Diagnostics: every problem found in a manifest, with its place, reported all at once."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

# error: refused. warning: accepted, refused with --strict. note: information only, never refused
# (what cannot be checked offline, for instance), so --strict stays usable on every manifest.
PathT = tuple[str | int, ...]  # a place in a document: keys and list indexes

Severity = Literal["error", "warning", "note"]


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
        prefix = "" if self.severity == "error" else f"{self.severity}: "
        return f"{self.file}:{self.line}:{self.column}: {self.path}: {prefix}{self.message}"

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def refused(diags: list[Diagnostic], *, strict: bool = False) -> list[Diagnostic]:
    """The diagnostics that make a manifest invalid: errors, and warnings too when ``strict``."""
    return [d for d in diags if d.severity == "error" or (strict and d.severity == "warning")]


def sort_diagnostics(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[Diagnostic] = set()
    out = []
    for d in sorted(diags, key=lambda d: (d.file, d.line, d.column, d.path, d.message)):
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out

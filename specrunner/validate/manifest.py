"""Manifest v1: the entry points that load a manifest, run every check and build the typed model.

``load_manifest(path)`` returns a :class:`Manifest` or raises :class:`ManifestError` carrying every
problem found, each with ``file:line:col`` and a JSON path. The checks run in this order, each on
the whole document, so one pass reports everything:

- YAML loading with marks (``yamlload``): a document that cannot be read, is empty or is not a
  mapping stops here;
- JSON Schema errors in the manifest's terms (``schemaerrors``);
- the checks beyond the schema (``semantic``, with ``collisions``);
- the MTS documentation's rules and the target's facts (``docchecks``).

A document without errors is built into the typed model (``build``); ``check_manifest_document``
stops before that, which is all ``specrunner validate`` needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from specrunner.core import shellwords
from specrunner.core.diagnostics import Diagnostic, PathT, Severity, json_path, refused, sort_diagnostics
from specrunner.core.errors import ManifestError
from specrunner.validate import docchecks, movedchecks, variables
from specrunner.validate.reporting import clip_part, kind
from specrunner.validate.schemaerrors import schema_errors
from specrunner.validate.semantic import semantic_errors
from specrunner.validate.yamlload import Marks, YamlError, display_path, load, read_text

if TYPE_CHECKING:
    from specrunner.core.model import Manifest


def load_manifest(path: str | Path, *, strict_warnings: bool = False) -> Manifest:
    """Load and validate; raise ManifestError with every diagnostic when anything is wrong."""
    manifest, diags = check_manifest(path)
    errors = refused(diags, strict=strict_warnings)
    if manifest is None or errors:
        n = len(errors)
        raise ManifestError(
            f"{display_path(Path(path))}: {n} problem{'s' if n != 1 else ''} found",
            diags,
            hint=f"run `specrunner validate {shellwords.path(display_path(Path(path)))}` for the list",
        )
    return manifest


def check_manifest(path: str | Path) -> tuple[Manifest | None, list[Diagnostic]]:
    """Validate a manifest file. Returns the model (None if invalid) and all diagnostics."""
    data, diags = check_manifest_document(path)
    return (None if data is None else _build(data, Path(path))), diags


def check_manifest_document(path: str | Path) -> tuple[dict[str, Any] | None, list[Diagnostic]]:
    """``check_manifest`` without building the typed model (nor importing it): the validated
    document (None if invalid) and all diagnostics. ``validate`` needs no more."""
    p = Path(path)
    shown = display_path(p)
    try:
        data, marks = load(read_text(p))
    except YamlError as e:
        return None, [
            Diagnostic(shown, e.mark.line, e.mark.column, json_path(tuple(map(clip_part, e.path))), e.message)
        ]
    return check_document_data(data, marks, shown, p)


def check_document(
    data: Any, marks: Marks, shown: str, path: Path
) -> tuple[Manifest | None, list[Diagnostic]]:
    """``check_manifest`` of a document already loaded (``yamlload.load``) from ``path``."""
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
            Diagnostic(shown, m.line, m.column, json_path(tuple(map(clip_part, p))), message, severity)
        )

    if data is None:
        add((), "the manifest is empty; start from `specrunner init` or see the README's manifest reference")
        return None, diags
    if not isinstance(data, dict):
        add((), f"the manifest must be a mapping with version, inputs and rules, not a {kind(data)}")
        return None, diags

    values, var_file_diags = variables.resolve(data, add)
    diags.extend(var_file_diags)
    if any(d.severity == "error" for d in diags):  # a reference left as written is no value to check
        return None, sort_diagnostics(diags)
    schema_errors(data, add)
    semantic_errors(data, add)
    movedchecks.check_moved(data, add)
    docchecks.check_regions(data, add)
    docchecks.check_aliyun_rules(data, add)
    docchecks.check_local_inputs(data, path, add)
    diags = sort_diagnostics(diags)
    if any(d.severity == "error" for d in diags):
        return None, diags
    if values is not None:  # checked: from here on the block holds the values used
        data["variables"] = values
    return data, diags


def _build(data: dict[str, Any], path: Path) -> Manifest:
    # Imported here: creating the typed model's dataclasses takes milliseconds at import, and
    # `validate` checks a document without building it (check_manifest_document).
    from specrunner.validate.build import build_manifest

    return build_manifest(data, path)

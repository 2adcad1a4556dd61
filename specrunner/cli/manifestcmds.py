"""The commands that work on manifests alone, never on a state: ``validate``, ``schema``, ``init``.

``validate`` runs in pre-commit hooks: it loads only what checking a document needs (no typed model,
no jsonschema for a valid document). Module-level imports are stdlib, typer and ``cli.options``; the
rest is imported inside the commands, so that start-up (completion, ``--help``) never loads it.

No ``from __future__ import annotations`` (as in ``cli.main``): typer reads the annotations of every
command at each start; as strings each one is compiled and evaluated again.
"""

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from specrunner.cli.options import Fmt, FormatOpt, VarFileOpt, VarOpt
from specrunner.core.errors import EXIT_ERROR, EXIT_OK, ManifestError, SpecrunnerError
from specrunner.render.json import validate_document, validate_json

if TYPE_CHECKING:
    from specrunner.core.diagnostics import Diagnostic

ManifestsArg = Annotated[
    list[Path],
    typer.Argument(
        help="One or more manifests (YAML); each is checked, every problem of every file is reported.",
        show_default=False,
        metavar="MANIFEST...",
    ),
]


def validate(
    manifests: ManifestsArg,
    fmt: FormatOpt = Fmt.text,
    strict: Annotated[
        bool, typer.Option("--strict", help="Treat warnings as errors (notes stay notes).")
    ] = False,
    var: VarOpt = None,
    var_file: VarFileOpt = None,
) -> None:
    """Check manifests against the schema and the semantic rules; report every problem at once.

    Several manifests (a pre-commit hook passes the changed files) are checked in one process; the exit
    code is 1 if any of them is invalid. With one manifest, `--format json` prints one document; with
    several, a JSON list of such documents, each with its `file`.

    Example: specrunner validate specs/demo.yaml --format json
    """
    if len(manifests) > 1:
        _validate_many(manifests, fmt, strict)
    manifest = manifests[0]
    document, diags, errors = _check(manifest, strict)
    if fmt == Fmt.text and len(diags) == 1 and diags[0].path == "$" and diags[0].message == "file not found":
        raise ManifestError("file not found", diags)  # one line with a hint, from the one handler
    if fmt == Fmt.json:
        typer.echo(validate_json(validate_document(diags, valid=not errors)))
    else:
        _print_text(manifest, document, diags, errors, name_file=False)
    raise typer.Exit(EXIT_ERROR if errors else EXIT_OK)


def _validate_many(manifests: list[Path], fmt: Fmt, strict: bool) -> NoReturn:
    """``validate`` of several manifests: each one checked and reported in order, then one exit code.

    Text: a file's diagnostics, then ``FILE: valid (...)`` on stdout or ``error: FILE: N problems found``
    on stderr; a last line counts the invalid files. JSON: a list of the one-file documents, each with
    its ``file``. A missing or unreadable file is one diagnostic of its own, never the end of the run.
    """
    from specrunner.validate.yamlload import display_path

    documents: list[dict[str, Any]] = []
    invalid = 0
    for manifest in manifests:
        document, diags, errors = _check(manifest, strict)
        invalid += bool(errors)
        if fmt == Fmt.json:
            documents.append(validate_document(diags, valid=not errors, file=display_path(manifest)))
        else:
            _print_text(manifest, document, diags, errors, name_file=True)
    if fmt == Fmt.json:
        typer.echo(validate_json(documents))
    elif invalid:
        typer.echo(f"error: {invalid} of {len(manifests)} manifests invalid", err=True)
    raise typer.Exit(EXIT_ERROR if invalid else EXIT_OK)


def _check(
    manifest: Path, strict: bool
) -> "tuple[dict[str, Any] | None, list[Diagnostic], list[Diagnostic]]":
    """The validated document (None if invalid), every diagnostic, and those that make it invalid."""
    from specrunner.core.diagnostics import refused
    from specrunner.validate.manifest import check_manifest_document

    document, diags = check_manifest_document(manifest)
    return document, diags, refused(diags, strict=strict)


def _print_text(
    manifest: Path,
    document: dict[str, Any] | None,
    diags: "list[Diagnostic]",
    errors: "list[Diagnostic]",
    *,
    name_file: bool,
) -> None:
    """One manifest's diagnostics, then ``FILE: valid (...)`` (stdout) or ``error: [FILE: ]N problems
    found`` (stderr)."""
    from specrunner.validate.yamlload import display_path

    for d in diags:
        typer.echo(d.render(), err=bool(errors))
    if errors:
        where = f"{display_path(manifest)}: " if name_file else ""
        typer.echo(f"error: {where}{_count(len(errors), 'problem')} found", err=True)
    else:
        assert document is not None
        typer.echo(f"{display_path(manifest)}: valid ({_validate_counts(document, display_path(manifest))})")


def _count(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _validate_counts(document: dict[str, Any], manifest: str) -> str:
    """``2 inputs, 3 rules, 6 jobs``; with discovery entries the inputs and jobs are known at plan time."""
    from specrunner.cli.errors import command_line
    from specrunner.validate.summary import document_counts

    c = document_counts(document)
    rules = _count(c.rules, "rule")
    if c.discoveries:
        listed = f"{_count(c.inputs, 'listed input')} + " if c.inputs else ""
        found = _count(c.discoveries, "discovery entry").replace("entrys", "entries")
        return (
            f"{listed}{found} (inputs found at plan time), {rules}; "
            f"`{command_line('plan', manifest)}` counts the jobs"
        )
    return f"{_count(c.inputs, 'input')}, {rules}, {_count(c.jobs, 'job')}"


def schema() -> None:
    """Print the manifest JSON Schema (draft 2020-12).

    Example: specrunner schema > manifest.v1.json
    """
    from specrunner.validate.schema import schema_text

    typer.echo(schema_text(), nl=False)


def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter manifest.", metavar="FILE")] = Path(
        "specrunner.yaml"
    ),
    backend: Annotated[
        str, typer.Option("--backend", metavar="local|aliyun", help="local or aliyun.")
    ] = "local",
    sample: Annotated[
        bool,
        typer.Option(
            "--sample/--no-sample",
            help="local: also write a small sample video where the starter's input points, so that "
            "`apply` works at once (an existing file is kept).",
        ),
    ] = True,
) -> None:
    """Write a commented starter manifest (never overwrites); on the local backend, a sample video too.

    Example: specrunner init specs/site.yaml --backend aliyun
    """
    from specrunner.core import shellwords
    from specrunner.ops.starter import (
        sample_path,
        schema_reference,
        starter_manifest,
        write_sample,
        write_schema_copy,
    )
    from specrunner.render.style import WIDTH, paragraph

    if backend not in ("local", "aliyun"):
        raise SpecrunnerError(f"unknown backend {backend!r}; use local or aliyun")
    if path.exists():
        raise SpecrunnerError(f"{path} already exists; choose another path or remove it first")
    wrote: list[str] = [str(path)]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(starter_manifest(path, backend), encoding="utf-8")
        _, local_schema = schema_reference(path)
        if local_schema is not None and write_schema_copy(local_schema):
            wrote.append(f"{path.parent / local_schema.name} (the schema, for editors)")
        video = write_sample(path) if backend == "local" and sample else None
        if video is not None:
            wrote.append(f"{os.path.relpath(video)} (a 100 s sample video, the starter's input)")
    except OSError as e:
        raise SpecrunnerError(f"cannot write {e.filename or path}: {e.strerror or e}") from None
    m = shellwords.path(path)
    listed = wrote[0] if len(wrote) == 1 else f"{', '.join(wrote[:-1])} and {wrote[-1]}"
    steps = [f"specrunner validate {m}", f"specrunner plan {m}"]
    input_there = backend == "local" and sample_path(path).is_file()
    if input_there:
        steps.append(f"specrunner apply {m}")
    typer.echo(paragraph(f"Wrote {listed}.", WIDTH))
    if backend == "local" and not input_there:  # --no-sample: apply would fail every job until then
        where = shellwords.path(os.path.relpath(sample_path(path)))
        typer.echo(paragraph(f"Put a video at {where} (the starter's input) before you apply.", WIDTH))
    typer.echo(f"Next: {' && '.join(steps)}")

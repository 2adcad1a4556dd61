"""Input variables: a manifest's ``variables:`` block, their values, and ``${var.NAME}`` references.

One manifest serves several environments: ``variables: {env: {type: string}}`` declares a variable,
``key: site/${var.env}.lock.json`` uses it (in any string of the manifest, the ``state:`` block
included; never in mapping keys nor in the ``variables:`` block itself). A value comes from, first
that applies (Terraform's precedence): ``--var NAME=VALUE`` (repeatable), ``--var-file FILE`` (YAML
``NAME: value``; a later file wins), the environment ``SPECRUNNER_VAR_NAME``, the declared
``default``. A saved plan's values replace all of these when it is applied (``Given.saved``).

Invariants:

- Substitution happens on the parsed document, value by value, so every mark still points at the
  string the user wrote: an unknown variable is reported at the string that names it, an unset one
  at its declaration, each with the fix.
- A string that is exactly one reference takes the variable's type (``width: ${var.width}`` is a
  number); inside a longer string the value is written as text (``true``/``false`` for a bool).
  ``$${var.NAME}`` is the literal text ``${var.NAME}``.
- A document without a ``variables:`` block and without ``${var.`` in any string is left untouched:
  it plans, locks and saves plans byte for byte as before variables existed.
- The values given on the command line live in ``GIVEN`` (set by the CLI's shared ``--var`` /
  ``--var-file`` options), so every command that reads a manifest sees the same ones.

Secrets never belong in variables: their values are printed in plans and recorded in saved plans.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from specrunner.core.diagnostics import Diagnostic, PathT, json_path
from specrunner.validate.reporting import Add, close_matches, short
from specrunner.validate.treewalk import texts

ENV_PREFIX = "SPECRUNNER_VAR_"
TYPES = ("string", "number", "bool")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REF = re.compile(r"\$?\$\{var\.([^}]*)\}")


@dataclass(frozen=True)
class Given:
    """The values given from outside the manifest: ``--var`` pairs in order, ``--var-file`` files in
    order, and a saved plan's values (``saved``: used as they are, nothing else is read). Also the
    ``--state`` a command acts on (as given, or a saved plan's when not the manifest's own), which a
    command printed for pasting repeats with the values (:func:`given_options`)."""

    cli: tuple[tuple[str, str], ...] = ()
    files: tuple[Path, ...] = ()
    saved: Mapping[str, Any] | None = None
    state: str | None = None

    @property
    def explicit(self) -> bool:
        """Whether values were given on the command line (``--var`` or ``--var-file``)."""
        return bool(self.cli or self.files)


GIVEN: ContextVar[Given] = ContextVar("specrunner_variables", default=Given())  # noqa: B039 (frozen)
# The values this command took from ``SPECRUNNER_VAR_*`` (name -> the text), as ``values_of`` read them.
FROM_ENV: ContextVar[Mapping[str, str]] = ContextVar("specrunner_env", default={})  # noqa: B039 (set anew)


def give(**changes: Any) -> None:
    """Record values given on the command line (the CLI options' callbacks call this)."""
    GIVEN.set(replace(GIVEN.get(), **changes))


@contextmanager
def using_saved(values: Mapping[str, Any]) -> Iterator[None]:
    """Within this block, the variables take ``values`` (a saved plan's), whatever else is set."""
    token = GIVEN.set(replace(GIVEN.get(), saved=dict(values)))
    try:
        yield
    finally:
        GIVEN.reset(token)


def given_options(*, state: bool = False) -> str:
    """The options that chose this command's environment, ready to paste (`` --var env=prod``; empty
    when none): the ``--var`` / ``--var-file`` options as typed, then each value this command took from
    ``SPECRUNNER_VAR_*`` as ``--var`` (the pasting shell may not have it: ``SPECRUNNER_VAR_env=prod
    specrunner apply ...`` sets it for one command); or, applying a saved plan, every value it recorded
    as ``--var`` (it was made with exactly those); with ``state``, ``--state`` first. A command printed
    for pasting repeats them, so that it acts on the same environment (its state, its buckets), not on
    the defaults'."""
    from specrunner.core.shellwords import quote

    given = GIVEN.get()
    words = [f"--state {quote(given.state)}"] if state and given.state is not None else []
    if given.saved is not None:
        pairs = [(n, printed_value(v)) for n, v in sorted(given.saved.items())]
        words += [f"--var {quote(f'{n}={v}')}" for n, v in pairs]
    else:
        words += [f"--var {quote(f'{n}={v}')}" for n, v in given.cli]
        words += [f"--var-file {quote(str(f))}" for f in given.files]
        words += [f"--var {quote(f'{n}={v}')}" for n, v in sorted(FROM_ENV.get().items())]
    return "".join(" " + w for w in words)


def printed_value(value: Any) -> str:
    """A value as ``--var NAME=<this>`` gives it back, of the same type: a number stays a number of the
    same kind (``1e16`` as a float prints ``1e+16``, which reads back as an integer)."""
    if isinstance(value, float) and "." not in repr(value):
        return repr(value).replace("e", ".0e", 1)  # 1.0e+16: a float, not 1e16 written out
    return as_text(value)


def parse_pair(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` (a --var argument) -> (NAME, VALUE); ValueError naming the fix otherwise."""
    name, sep, value = text.partition("=")
    if not sep or not NAME.fullmatch(name.strip()):
        raise ValueError(f"{text!r} is not NAME=VALUE (e.g. --var env=prod)")
    return name.strip(), value


# ---------------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class _Decl:
    name: str
    type: str
    default: Any  # _UNSET when there is none


_UNSET = object()


def _declarations(block: Any) -> dict[str, _Decl]:
    """The well-formed declarations (the schema reports the others)."""
    out: dict[str, _Decl] = {}
    if not isinstance(block, dict):
        return out
    for name, spec in block.items():
        if not NAME.fullmatch(name):
            continue
        spec = spec if isinstance(spec, dict) else {}
        default = spec.get("default", _UNSET)
        kind = spec.get("type")
        if kind not in TYPES:
            kind = "bool" if isinstance(default, bool) else "number" if _is_number(default) else "string"
        out[name] = _Decl(name, kind, default)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def coerce(kind: str, value: Any) -> Any:
    """``value`` as a ``kind`` variable's value; ValueError saying what is expected otherwise."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError("expected a bool: true or false")
    if kind == "number":
        if _is_number(value):
            return value
        if isinstance(value, str):
            text = value.strip()
            try:
                return int(text)
            except ValueError:
                try:
                    number = float(text)
                except ValueError:
                    pass
                else:
                    if math.isfinite(number) and len(text) <= 100:
                        return int(number) if number.is_integer() and "." not in text else number
        raise ValueError("expected a number")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError("expected a string")


def as_text(value: Any) -> str:
    """A value inside a longer string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------------- values


Where = tuple[str, int, int] | None  # a value's place in a --var-file; None: not in a file


def _var_files(
    given: Given, decls: dict[str, _Decl], diags: list[Diagnostic]
) -> dict[str, tuple[Any, Where]]:
    """The values of every --var-file (a later one wins), each with where it was read."""
    from specrunner.validate.yamlload import YamlError, display_path, load, read_text

    values: dict[str, tuple[Any, Where]] = {}
    for path in given.files:
        shown = display_path(path)
        try:
            data, marks = load(read_text(path))
        except YamlError as e:
            message = (
                "this --var-file is not found: check the path (a YAML file of NAME: value)"
                if e.message == "file not found"
                else f"--var-file: {e.message}"
            )
            diags.append(Diagnostic(shown, e.mark.line, e.mark.column, json_path(e.path), message))
            continue
        if data is None:
            continue
        if not isinstance(data, dict):
            diags.append(Diagnostic(shown, 1, 1, "$", "a --var-file is a YAML mapping of NAME: value"))
            continue
        for name, value in data.items():
            m = marks.find((name,), key=True)
            if name not in decls:
                hint = close_matches(name, sorted(decls))
                diags.append(
                    Diagnostic(
                        shown,
                        m.line,
                        m.column,
                        json_path((name,)),
                        f"the manifest declares no variable {name!r}"
                        + (f" (did you mean {hint[0]!r}?)" if hint else "")
                        + "; the value is not used",
                        "warning",
                    )
                )
                continue
            v = marks.find((name,))
            values[name] = (value, (shown, v.line, v.column))
    return values


def values_of(
    block: Any, given: Given, diags: list[Diagnostic] | None = None
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Each well-formed declaration's value (those without one are left out), and the values that do
    not fit their variable's type as (name, message). Problems in --var-file files go to ``diags``
    (located in the file), when given; the lenient readers pass them over."""
    decls = _declarations(block)
    sink: list[Diagnostic] = diags if diags is not None else []
    out: dict[str, Any] = {}
    bad: list[tuple[str, str]] = []
    if given.saved is not None:
        return {n: given.saved[n] for n in decls if n in given.saved}, bad
    from_files = _var_files(given, decls, sink) if given.files else {}
    from_cli = dict(given.cli)
    for name, decl in decls.items():
        place: Where = None
        if name in from_cli:
            raw, source = from_cli[name], f"--var {name}={from_cli[name]}"
        elif name in from_files:
            raw, place = from_files[name]
            source = "the --var-file"
        elif ENV_PREFIX + name in os.environ:
            raw, source = os.environ[ENV_PREFIX + name], f"{ENV_PREFIX}{name} in the environment"
            FROM_ENV.set({**FROM_ENV.get(), name: raw})
        elif miscased := _miscased(name):
            # Names are case-sensitive (as Terraform's TF_VAR_): a near-miss must not fall back to the
            # default silently (SPECRUNNER_VAR_ENV=prod with `env: {default: dev}` would apply to dev).
            bad.append(
                (
                    name,
                    f"variable {name!r}: {miscased} is set in the environment, but names are "
                    f"case-sensitive: set {ENV_PREFIX}{name} (or give `--var {name}=...`)",
                )
            )
            continue
        elif decl.default is not _UNSET:
            raw, source = decl.default, "its default"
        else:
            continue
        try:
            out[name] = coerce(decl.type, raw)
        except ValueError as e:
            message = f"variable {name!r} is a {decl.type}: {short(raw)} ({source}) does not fit: {e}"
            if place is not None:
                sink.append(Diagnostic(place[0], place[1], place[2], json_path((name,)), message))
            else:
                bad.append((name, message))
    return out, bad


def _miscased(name: str) -> str | None:
    """An environment variable that names ``name`` in other letter case (SPECRUNNER_VAR_ENV for env)."""
    wanted = (ENV_PREFIX + name).lower()
    return next((k for k in sorted(os.environ) if k.lower() == wanted), None)


# ---------------------------------------------------------------------------------- substitution


def substitute(text: str, values: Mapping[str, Any], on_unknown: Callable[[str], None] | None = None) -> Any:
    """``text`` with its references replaced (a lone reference keeps the value's type). A name
    without a value is left as written, after ``on_unknown(name)``."""
    if "${var." not in text:
        return text
    whole = _REF.fullmatch(text)
    if whole and not text.startswith("$$") and whole.group(1) in values:
        return values[whole.group(1)]

    def one(m: re.Match[str]) -> str:
        if m.group(0).startswith("$$"):
            return m.group(0)[1:]
        name = m.group(1)
        if name in values:
            return as_text(values[name])
        if on_unknown is not None:
            on_unknown(name)
        return m.group(0)

    return _REF.sub(one, text)


def _walk(node: Any, path: PathT, visit: Callable[[str, PathT], Any]) -> Any:
    if isinstance(node, str):
        return visit(node, path)
    if isinstance(node, dict):
        for k, v in node.items():
            if path == () and k == "variables":
                continue
            node[k] = _walk(v, (*path, k), visit)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            node[i] = _walk(v, (*path, i), visit)
    return node


def resolve(data: dict[str, Any], add: Add) -> tuple[dict[str, Any] | None, list[Diagnostic]]:
    """Substitute every reference in ``data`` (in place). Returns the values used (None: the
    manifest declares no variables) and the problems found in --var-file files; the manifest's own
    problems go to ``add``."""
    given = GIVEN.get()
    block = data.get("variables")
    if block is None and not given.explicit and not _mentions(data):
        return None, []
    extra: list[Diagnostic] = []
    malformed = _malformed(block, add)
    decls = {n: d for n, d in _declarations(block).items() if n not in malformed}
    values, bad = values_of(block, given, extra)
    for name, message in bad:
        add(("variables", name), message, key=True)
    for name, _ in given.cli:
        if name not in decls and given.saved is None:
            hint = close_matches(name, sorted(decls))
            declared = ", ".join(sorted(decls)) or "none"
            add(
                ("variables",) if block is not None else (),
                f"--var {name}=...: the manifest declares no variable {name!r}"
                + (f" (did you mean {hint[0]!r}?)" if hint else f" (declared: {declared})"),
                key=True,
            )
    for name in decls:
        if (
            name not in malformed
            and name not in values
            and name not in dict(bad)
            and not any(d.path == json_path((name,)) for d in extra)
        ):
            add(
                ("variables", name),
                f"variable {name!r} has no value: give it with `--var {name}=...`, in a --var-file, as "
                f"{ENV_PREFIX}{name} in the environment, or give it a default",
                key=True,
            )

    def visit(text: str, path: PathT) -> Any:
        def unknown(name: str) -> None:
            if name in decls or name in malformed or not isinstance(block, (dict, type(None))):
                return  # reported at its declaration (or the block is no mapping: reported)
            if "${" in name:
                add(
                    path,
                    "references do not nest (${var.${var.NAME}}): use one variable that holds the value "
                    "(e.g. `--var bucket=media-prod` and ${var.bucket})",
                )
                return
            if not NAME.fullmatch(name):
                add(path, f"${{var.{name}}} is not a variable reference: names are letters, digits and _")
                return
            hint = close_matches(name, sorted(decls))
            add(
                path,
                f"unknown variable {name!r}: declare it under `variables:` ({name}: {{type: string}})"
                + (f", or did you mean {hint[0]!r}?" if hint else ""),
            )

        return substitute(text, values, unknown)

    _walk(data, (), visit)
    for path in _keys_with_references(data, ()):
        add(
            path,
            f"{path[-1]!r}: ${{var.NAME}} is not substituted in a mapping key (only in values); write "
            "the key as it is",
            key=True,
        )
    return (values if block is not None else None), extra


def _keys_with_references(node: Any, path: PathT) -> Iterator[PathT]:
    """Where a mapping key holds ``${var.`` (outside ``variables:``, whose names the schema checks)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if path == () and k == "variables":
                continue
            if isinstance(k, str) and "${var." in k:
                yield (*path, k)
            yield from _keys_with_references(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _keys_with_references(v, (*path, i))


def _malformed(block: Any, add: Add) -> set[str]:
    """Report the declarations that are not ``NAME: {type, default, description}`` (the schema's checks,
    said first and in these words: a wrong one would otherwise read as "has no value")."""
    if block is None:
        return set()
    if not isinstance(block, dict):
        add(("variables",), "variables: is a mapping of NAME: {type, default, description}", key=True)
        return set()
    bad: set[str] = set()
    for name, spec in block.items():
        if not isinstance(name, str) or not NAME.fullmatch(name):
            add(("variables", name), f"{name!r} is no variable name: letters, digits and _", key=True)
            bad.add(str(name))
        elif not isinstance(spec, dict):
            add(
                ("variables", name),
                f"declare the variable as a mapping: `{name}: {{default: {short(spec)}}}` "
                "(keys: type, default, description)",
                key=True,
            )
            bad.add(name)
        elif "type" in spec and spec["type"] not in TYPES:
            add(("variables", name, "type"), f"type is one of {', '.join(TYPES)}, not {short(spec['type'])}")
            bad.add(name)
    return bad


def _mentions(node: Any) -> bool:
    if isinstance(node, str):
        return "${var." in node
    if isinstance(node, dict):
        return any(_mentions(v) for v in node.values())
    if isinstance(node, list):
        return any(_mentions(v) for v in node)
    return False


def lenient(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (read without marks, by the commands that do not validate the manifest) with the
    references it can resolve substituted; the rest is left as written."""
    block = data.get("variables")
    if block is None and not GIVEN.get().explicit:
        return data
    values, _ = values_of(block, GIVEN.get())
    top = {k: v for k, v in data.items() if k != "variables"}
    for parent, k, text in list(texts(top)):
        (data if parent is top else parent)[k] = substitute(text, values)
    return data


def unresolved(node: Any) -> list[str]:
    """The variable names still referenced in ``node`` (after ``lenient``)."""
    found = [node] if isinstance(node, str) else [t for _, _, t in texts(node)]
    return [m.group(1) for t in found for m in _REF.finditer(t) if not m.group(0).startswith("$$")]

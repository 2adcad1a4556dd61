"""Typer's parameter coercion, built only for a value that needs it (start-up of every command).

Typer (0.2x) coerces every parameter of every parsed context through a runtime object it builds on
first use; for most annotations that is a pydantic ``TypeAdapter``, and building the first one imports
pydantic's schema machinery (tens of milliseconds). Shell completion parses with ``resilient_parsing``,
where every unset parameter is ``None``, and typer's coercion of ``None`` is ``None`` (``()`` for a
multi-value parameter) whatever the adapter: building it there is pure cost. For a set value of a
plain annotation the adapter only wraps one of typer's own functions, called the same way here.

Invariant: ``defer_coercion`` changes no value and no error. Each typer parameter (the ones typer
creates on demand, like ``--help``, too) first gets a stand-in runtime object that answers ``None``
exactly as typer's own base class does (``RuntimeParam.coerce``). Any other value is coerced without
an adapter when the annotation is one of ``_leaf``'s (``str``, ``bool``, ``int``, ``float``, ``Path``,
an ``Enum`` or ``Literal`` choice, a ``parser=``; or a ``list`` of one) and the value is what typer's
adapter would hand back unchanged or pass to the same typer function (``coerce_cli_path`` with
``Path(value)``, ``coerce_cli_choice``, the parser): the result is typer's. Whenever that path
fails or does not apply, typer's real coercion is built, stored on the parameter (so it is built
once, as typer would) and coerces the value: it raises typer's own error, worded by typer. If typer's
internals are not the ones this relies on, nothing is changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from typer import _click

try:
    from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
    from typer._param_types import coerce_cli_choice, coerce_cli_path, lenient_issubclass, routes_to_path
    from typer._typing import is_literal_type, literal_values
    from typer.core import _TyperParameter
    from typer.models import ParameterInfo
except ImportError:  # pragma: no cover - another typer: coercion stays as typer builds it
    RuntimeParam = None  # type: ignore[assignment,misc]

Coerce = Callable[[Any, Any, Any], Any]  # (value, param, ctx) -> typer's result, or raises
_MISS = object()


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _Deferred(RuntimeParam):
        """Answers ``None`` like ``RuntimeParam.coerce``; builds typer's real coercion for any other value."""

        def coerce(self, value: Any, param: _TyperParameter, ctx: _click.Context) -> Any:
            if value is None:
                return super().coerce(value, param=param, ctx=ctx)
            got = fast_coerce(param.type_descriptor, value, param, ctx)
            if got is not _MISS:
                return got
            real = build_runtime_param(param.type_descriptor)
            param._runtime_param = real
            return real.coerce(value, param=param, ctx=ctx)

        def _coerce_value(
            self, value: Any, param: _TyperParameter, ctx: _click.Context
        ) -> Any:  # pragma: no cover - coerce never calls it
            raise AssertionError("unreachable")


def defer_coercion() -> None:
    """Make typer's parameters (the help options it creates on demand too) start with a deferred coercion.

    Idempotent. Replaces ``_TyperParameter.get_runtime_param`` (typer's one accessor of the lazily built
    coercion) by one that builds ``_Deferred`` first; ``_Deferred`` builds typer's real one for a value.
    """
    if RuntimeParam is None or getattr(_TyperParameter, "_specrunner_deferred", False):
        return
    if not callable(getattr(_TyperParameter, "get_runtime_param", None)):  # pragma: no cover
        return

    def get_runtime_param(self: _TyperParameter) -> RuntimeParam:
        if self._runtime_param is None:
            desc = self.type_descriptor
            self._runtime_param = _Deferred(parameter_info=desc.parameter_info, annotation=desc.annotation)
        return self._runtime_param

    _TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]
    _TyperParameter._specrunner_deferred = True  # type: ignore[attr-defined]


def fast_coerce(desc: TypeDescriptor, value: Any, param: Any, ctx: Any) -> Any:
    """typer's coercion of a set ``value`` computed without an adapter, or ``_MISS``: typer's decides.

    ``_MISS`` for an annotation ``_leaf`` does not know, a value it does not take, and any exception
    (typer's real coercion then raises its own, worded as typer words it)."""
    if desc.file_annotation is not None:
        return _MISS
    multi = param.multiple or param.nargs == -1
    if multi and isinstance(value, str):  # RuntimeParam.coerce refuses it: typer's error
        return _MISS
    try:
        if desc.is_list:
            (item,) = desc.annotation.__args__
            leaf = _leaf(item, desc.parameter_info)
            if leaf is None or type(value) not in (list, tuple):
                return _MISS
            out = [leaf(v, param, ctx) for v in value]
            return _MISS if any(v is _MISS for v in out) else out
        leaf = _leaf(desc.annotation, desc.parameter_info)
        return _MISS if leaf is None else leaf(value, param, ctx)
    except Exception:  # typer's coercion decides, and raises its own error
        return _MISS


def _leaf(annotation: Any, info: ParameterInfo) -> Coerce | None:
    """One value of ``annotation`` as typer's ``_adapters.build_leaf_adapter`` coerces it (same order of
    cases), for the values its adapter hands back unchanged or passes to a typer function; ``None``
    for an annotation not listed."""
    if info.parser is not None:
        parser = info.parser
        return lambda v, param, ctx: parser(v)
    if lenient_issubclass(annotation, Enum) or is_literal_type(annotation):
        choices = list(annotation) if lenient_issubclass(annotation, Enum) else literal_values(annotation)
        sensitive = info.case_sensitive
        return lambda v, param, ctx: coerce_cli_choice(v, choices=choices, case_sensitive=sensitive, ctx=ctx)
    if annotation in (int, float):
        exact: type = annotation
        low: Any = info.min
        high: Any = info.max
        return lambda v, param, ctx: (
            v if type(v) is exact and (low is None or v >= low) and (high is None or v <= high) else _MISS
        )
    if annotation in (bool, str):
        plain: type = annotation
        return lambda v, param, ctx: v if type(v) is plain else _MISS
    if annotation is Path and info.path_type is None and routes_to_path(annotation, info):
        return _path(info)
    return None


def _path(info: ParameterInfo) -> Coerce:
    """typer's path coercion: pydantic makes ``Path(value)`` of a string, then ``coerce_cli_path``."""

    def coerce(v: Any, param: Any, ctx: Any) -> Any:
        if type(v) is str:
            v = Path(v)
        elif not isinstance(v, Path):
            return _MISS
        return coerce_cli_path(v, info, path_type=Path, param=param, ctx=ctx)

    return coerce


# On/off flags that also take a value, as Terraform's ``-refresh=false``: ``--refresh=false`` is
# ``--no-refresh``, ``--refresh=true`` is ``--refresh``.
VALUED_FLAGS = ("--refresh",)
_FALSE = ("false", "no", "off", "0")
_TRUE = ("true", "yes", "on", "1")


def flag_values(args: list[str]) -> list[str]:
    """``args`` with ``--FLAG=false`` / ``--FLAG=true`` of ``VALUED_FLAGS`` spelt as click's on/off
    flags (up to ``--``; another value is left for click to refuse). ``--FLAG false`` / ``--FLAG true``
    (the words themselves, a space between) too: click would take the word for an extra argument."""
    out: list[str] = []
    skip = False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a == "--":
            return out + args[i:]
        name, eq, value = a.partition("=")
        if not eq and name in VALUED_FLAGS and i + 1 < len(args) and args[i + 1].lower() in ("false", "true"):
            eq, value, skip = "=", args[i + 1], True
        if eq and name in VALUED_FLAGS and value.lower() in _FALSE + _TRUE:
            a = name if value.lower() in _TRUE else "--no-" + name[2:]
        out.append(a)
    return out

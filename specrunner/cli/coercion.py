"""Typer's parameter coercion, built only for a value that needs it (start-up of completion and help).

Typer (0.2x) coerces every parameter of every parsed context through a runtime object it builds on
first use; for most annotations that is a pydantic ``TypeAdapter``, and building the first one imports
pydantic (tens of milliseconds). Shell completion parses with ``resilient_parsing``, where every
unset parameter is ``None``, and typer's coercion of ``None`` is ``None`` (``()`` for a multi-value
parameter) whatever the adapter: building it there is pure cost.

Invariant: ``defer_coercion`` changes no value and no error. Each typer parameter (the ones typer
creates on demand, like ``--help``, too) first gets a stand-in runtime object that answers ``None``
exactly as typer's own base class does (``RuntimeParam.coerce``) and, for any other value, builds
typer's real one, stores it on the parameter (so it is built once, as typer would) and lets it
coerce. If typer's internals are not the ones this relies on, nothing is changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from typer import _click

try:
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer.core import _TyperParameter
except ImportError:  # pragma: no cover - another typer: coercion stays as typer builds it
    RuntimeParam = None  # type: ignore[assignment,misc]


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _Deferred(RuntimeParam):
        """Answers ``None`` like ``RuntimeParam.coerce``; builds typer's real coercion for any other value."""

        def coerce(self, value: Any, param: _TyperParameter, ctx: _click.Context) -> Any:
            if value is None:
                return super().coerce(value, param=param, ctx=ctx)
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

"""Build a frozen model from already validated data without building pydantic's validator.

The models of ``core.model`` are declared with ``defer_build=True``: pydantic builds a model's core
schema (tens of milliseconds for the manifest's models, plus the plugin scan) on its first validation,
not at import. ``construct(cls, **values)`` makes the instance ``cls(**values)`` would make, and only
falls back to ``cls(**values)`` (pydantic's own validation) when it cannot be sure.

Invariant: ``construct(cls, **values) == cls(**values)`` with the same field values *and types*, the
same ``model_fields_set``, hash and repr, or the same exception (then it is pydantic's own). The fast
path takes a value only when pydantic's lax-mode result for it is that value itself: ``str``, ``int``,
``bool``, ``float`` of their exact type (``bool`` is no ``int`` here), ``None`` for an optional field,
a member of a ``Literal``, an instance of the exact model class of a nested field, a tuple whose items
qualify, ``Any``. One conversion is made as pydantic makes it: an ``int`` for a ``float`` field becomes
``float(value)`` (``50`` -> ``50.0``; beyond 2**53 the fallback decides). Anything else (an unknown or
missing field, a float for an ``int``, a list for a tuple, an annotation not listed here) goes through
pydantic.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any, Literal, TypeVar, Union

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_MISS = object()  # a checker's answer: "not sure: let pydantic validate"
Checker = Callable[[Any], Any]
_FLOAT_EXACT = 2**53  # every int up to this is exactly a float: float(v) is pydantic's answer too


def construct(cls: type[M], /, **values: Any) -> M:
    """``cls(**values)``, without building ``cls``'s validator when every value already has its type."""
    plan = _plan(cls)
    if plan is None:
        return cls(**values)
    checkers, required = plan
    if not required <= values.keys():
        return cls(**values)
    out: dict[str, Any] = {}
    for name, value in values.items():
        check = checkers.get(name)
        if check is None:
            return cls(**values)
        v = check(value)
        if v is _MISS:
            return cls(**values)
        out[name] = v
    return cls.model_construct(**out)


class Unsupported(Exception):
    """An annotation the fast path does not know: the model is always validated by pydantic."""


@cache
def _plan(cls: type[BaseModel]) -> tuple[dict[str, Checker], frozenset[str]] | None:
    """Each field's checker and the required fields' names (``model_fields`` needs no core schema);
    ``None`` when a field's annotation is not one the fast path knows."""
    fields = cls.model_fields
    try:
        checkers = {name: _checker(f.annotation) for name, f in fields.items()}
    except Unsupported:
        return None
    return checkers, frozenset(name for name, f in fields.items() if f.is_required())


def fast_path_covers(cls: type[BaseModel]) -> bool:
    """Whether every field of ``cls`` has a fast path (else ``construct`` is ``cls(**values)``)."""
    return _plan(cls) is not None


def _checker(annotation: Any) -> Checker:
    """The fast path's answer for one annotation: the value pydantic would produce, or ``_MISS``.

    Raises ``Unsupported`` for an annotation not listed in the module's docstring."""
    if annotation is Any:
        return lambda v: v
    if annotation in (str, int, bool):
        exact: type = annotation
        return lambda v: v if type(v) is exact else _MISS
    if annotation is float:
        return _float
    if annotation is type(None):
        return lambda v: v if v is None else _MISS
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        model: type = annotation
        return lambda v: v if type(v) is model else _MISS
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal and all(type(a) is str for a in args):
        allowed = frozenset(args)
        return lambda v: v if type(v) is str and v in allowed else _MISS
    if origin in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
        inner = _checker(next(a for a in args if a is not type(None)))
        return lambda v: None if v is None else inner(v)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _checker(args[0])
        return lambda v: v if type(v) is tuple and all(item(x) is x for x in v) else _MISS
    if origin is tuple and args and Ellipsis not in args:
        items = [_checker(a) for a in args]
        return lambda v: (
            v
            if type(v) is tuple
            and len(v) == len(items)
            and all(c(x) is x for c, x in zip(items, v, strict=True))
            else _MISS
        )
    raise Unsupported(annotation)


def _float(value: Any) -> Any:
    if type(value) is float:
        return value
    if type(value) is int and -_FLOAT_EXACT <= value <= _FLOAT_EXACT:
        return float(value)
    return _MISS

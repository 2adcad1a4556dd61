"""cli.coercion coerces as typer does: every supported annotation, on the same inputs, gives typer's
own runtime coercion's value (and type), or the very same error (then raised by typer's own).

The parameters are typer's real ones (a typer app, its click command and context); "typer" below is
``build_runtime_param(...)``, what typer builds without cli.coercion.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import pytest
import typer
from typer import _click
from typer._coercion import build_runtime_param

from specrunner.cli import coercion
from specrunner.cli.coercion import fast_coerce


class Fmt(StrEnum):
    text = "text"
    json = "json"


def _seconds(value: Any) -> float:
    if isinstance(value, float):
        return value
    if not str(value).endswith("s"):
        raise ValueError(f"not a duration: {value!r}")
    return float(str(value)[:-1])


app = typer.Typer()


@app.command()
def cmd(
    p: Annotated[Path, typer.Argument()],
    lp: Annotated[list[Path], typer.Argument()],
    s: Annotated[str, typer.Option()] = "",
    pe: Annotated[
        Path, typer.Option(exists=True, file_okay=True, dir_okay=False, readable=True, resolve_path=True)
    ] = Path("x"),
    pd: Annotated[Path, typer.Option(file_okay=False)] = Path("x"),
    pdash: Annotated[Path, typer.Option(allow_dash=True, exists=True)] = Path("x"),
    ps: Annotated[Path, typer.Option(path_type=str)] = Path("x"),
    i: Annotated[int, typer.Option()] = 0,
    ir: Annotated[int, typer.Option(min=1, max=256)] = 1,
    ic: Annotated[int, typer.Option(min=1, max=10, clamp=True)] = 1,
    f: Annotated[float, typer.Option()] = 0.0,
    fr: Annotated[float, typer.Option(min=0.5)] = 1.0,
    e: Annotated[Fmt, typer.Option()] = Fmt.text,
    ecase: Annotated[Fmt, typer.Option(case_sensitive=False)] = Fmt.text,
    lit: Annotated[Literal["a", "b"], typer.Option()] = "a",
    ls: Annotated[list[str] | None, typer.Option()] = None,
    dur: Annotated[float, typer.Option(parser=_seconds)] = 0.0,
    when: Annotated[datetime | None, typer.Option()] = None,
) -> None:
    """The annotations to check."""


@pytest.fixture
def params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "folder").mkdir()
    command = typer.main.get_command(app)
    return {p.name: p for p in command.params} | {"ctx": _click.Context(command)}


FILE, FOLDER, MISSING = "file.txt", "folder", "missing.txt"
FAST: list[tuple[str, Any]] = [  # the value is coerced without an adapter
    ("p", FILE),
    ("p", "./x//y/"),
    ("p", ""),
    ("p", "a\udcffb"),
    ("p", Path("q")),
    ("p", MISSING),
    ("lp", ("a", "./b")),
    ("lp", ()),
    ("lp", [Path("a"), "b"]),
    ("s", "abc"),
    ("s", ""),
    ("s", "a\udcffb"),
    ("pe", FILE),
    ("pe", "./" + FILE),
    ("pd", FOLDER),
    ("pd", MISSING),
    ("i", 5),
    ("i", -(2**70)),
    ("ir", 1),
    ("ir", 256),
    ("ic", 5),
    ("f", 1.5),
    ("f", math.inf),
    ("fr", 0.5),
    ("e", Fmt.json),
    ("e", "json"),
    ("ecase", "JSON"),
    ("lit", "b"),
    ("ls", ("a", "b")),
    ("ls", ["x"]),
    ("ls", ()),
    ("dur", "90s"),
    ("dur", 0.0),
]
TYPERS: list[tuple[str, Any]] = [  # typer's own coercion decides (a value or an error)
    ("p", 5),
    ("lp", ("a", 5)),
    ("lp", "a"),  # a string for a multi-value parameter
    ("s", b"bytes"),
    ("s", 5),
    ("pe", MISSING),
    ("pe", FOLDER),
    ("pe", "./" + MISSING),
    ("pd", FILE),
    ("pdash", "x/" + MISSING),
    ("pdash", "-"),  # typer compares Path("-") with "-": no dash, a missing file
    ("ps", "x"),  # path_type=str: not this path
    ("i", True),
    ("i", "5"),
    ("i", 5.0),
    ("i", "x"),
    ("ir", 0),
    ("ir", 300),
    ("ir", "10"),
    ("ic", 50),
    ("f", 2),
    ("f", "1.5"),
    ("fr", 0.25),
    ("e", "JSON"),
    ("e", "xml"),
    ("ecase", "xml"),
    ("lit", "c"),
    ("ls", "abc"),
    ("ls", ("a", 5)),
    ("dur", "bad"),
    ("when", "2026-01-02"),
    ("when", "never"),
]


def _no_adapter(self: Any, *args: Any, **kwargs: Any) -> None:
    raise AssertionError("a TypeAdapter was built")


def typers(params: dict[str, Any], name: str, value: Any) -> Any:
    param = params[name]
    return build_runtime_param(param.type_descriptor).coerce(value, param=param, ctx=params["ctx"])


def ours(params: dict[str, Any], name: str, value: Any) -> Any:
    """What typer runs with cli.coercion: the deferred runtime param of a fresh parameter."""
    param = params[name]
    param._runtime_param = None
    coercion.defer_coercion()
    return param.get_runtime_param().coerce(value, param=param, ctx=params["ctx"])


def outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "value", fn(*args)
    except Exception as e:
        return "error", (type(e), str(e), getattr(e, "param", None), getattr(e, "ctx", None))


def same(a: Any, b: Any) -> None:
    assert type(a) is type(b), (a, b)
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b, (a, b)


@pytest.mark.parametrize("name,value", FAST, ids=repr)
def test_the_fast_path_gives_typers_value(
    params: dict[str, Any], name: str, value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    param = params[name]
    with monkeypatch.context() as m:  # no pydantic adapter is built on the way (typer's own build some)
        m.setattr(pydantic.TypeAdapter, "__init__", _no_adapter)
        got = fast_coerce(param.type_descriptor, value, param, params["ctx"])
    assert got is not coercion._MISS, "this value should not need an adapter"
    kind, expected = outcome(typers, params, name, value)
    assert kind == "value", expected
    same(got, expected)
    same(ours(params, name, value), expected)
    assert param._runtime_param.__class__.__name__ == "_Deferred"  # no adapter was built


@pytest.mark.parametrize("name,value", TYPERS, ids=repr)
def test_anything_else_is_typers_own_coercion(params: dict[str, Any], name: str, value: Any) -> None:
    param = params[name]
    fast = fast_coerce(param.type_descriptor, value, param, params["ctx"])
    kind, expected = outcome(typers, params, name, value)
    if fast is not coercion._MISS:  # a newer typer may take it as a plain value: then it is typer's
        assert kind == "value", expected
        same(fast, expected)
        return
    got_kind, got = outcome(ours, params, name, value)
    assert got_kind == kind
    if kind == "value":
        same(got, expected)
    else:
        assert got == expected
    assert param._runtime_param.__class__.__name__ != "_Deferred"  # typer's real one, stored


def test_the_cases_cover_errors_and_conversions(params: dict[str, Any]) -> None:
    """The second table holds real errors and real conversions, so the delegation is exercised."""
    kinds = [outcome(typers, params, n, v)[0] for n, v in TYPERS]
    assert kinds.count("error") >= 15 and kinds.count("value") >= 5
    assert outcome(typers, params, "f", 2) == ("value", 2.0)
    assert type(outcome(typers, params, "f", 2)[1]) is float
    assert "does not exist" in str(outcome(typers, params, "pe", "./" + MISSING)[1][1])
    assert "./missing.txt" in str(outcome(typers, params, "pe", "./" + MISSING)[1][1])

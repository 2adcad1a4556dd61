"""Laying text out for a terminal: wrapping that never breaks a pasted command, grouping alike changes."""

from __future__ import annotations

from specrunner.core.plan import Change
from specrunner.render.groups import GROUP_MIN, group
from specrunner.render.style import Style, arrow_lines, shorten, wrap


def test_wrap_never_breaks_inside_a_backticked_command() -> None:
    text = (
        "Warning: " + "word " * 12 + "`specrunner state mv specs/a long name.yaml poster cover` keeps them."
    )
    lines = wrap(text, 40)
    assert any("`specrunner state mv specs/a long name.yaml poster cover`" in line for line in lines)
    assert all(len(line) <= 40 or "`" in line for line in lines)


def test_a_long_diff_puts_the_new_value_under_the_old_one() -> None:
    line = 'output: "posters/{FileName}.jpg" -> "covers/{ObjectPrefix}{FileName} large.jpg"'
    assert arrow_lines(line, 80, 8) == [
        '        output: "posters/{FileName}.jpg"',
        '             -> "covers/{ObjectPrefix}{FileName} large.jpg"',
    ]
    assert arrow_lines("width: 320 -> 480", 80, 8) == ["        width: 320 -> 480"]


def test_shorten_and_paint() -> None:
    assert shorten("x" * 100, 10) == "x" * 9 + "…" and shorten("short", 10) == "short"
    assert Style(color=True).action("+", "create") == "\x1b[32m+\x1b[0m"
    assert Style(color=False).action("+", "create") == "+"
    assert Style(color=True).action("?", "an action added later") == "?"  # no colour, no error


def _change(key: str, reason: str, action: str = "replace") -> Change:
    return Change(key, action, reason, "sync", None)  # type: ignore[arg-type]


def test_changes_group_by_action_rule_mode_and_reason_whatever_the_action() -> None:
    alike = [_change(f"v/{i}.mp4::poster", "width: 320 -> 480") for i in range(GROUP_MIN)]
    other = _change("v/x.mp4::poster", "output missing: posters/x.jpg")
    moved = [_change(f"v/{i}.mp4::cover", "moved from poster", "moved") for i in range(GROUP_MIN)]
    found = group([*alike, other, *moved])
    assert [(g.action, g.rule, len(g.changes), g.grouped) for g in found] == [
        ("replace", "poster", GROUP_MIN, True),
        ("replace", "poster", 1, False),
        ("moved", "cover", GROUP_MIN, True),
    ]
    assert not group(alike[: GROUP_MIN - 1])[0].grouped  # fewer are listed one by one

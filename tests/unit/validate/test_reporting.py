"""validate.reporting: how messages quote values and offer "did you mean" hints."""

from __future__ import annotations

from specrunner.validate.reporting import MAX_HINT_CHARS, clip_part, close_matches, did_you_mean, kind, short


def test_values_are_quoted_and_clipped_to_60_characters() -> None:
    assert short("abc") == "'abc'" and short(5) == "5"
    long = short("x" * 100)
    assert len(long) == 60 and long == "'" + "x" * 56 + "..."
    assert clip_part(3) == 3 and clip_part("k" * 60) == "k" * 60 and clip_part("k" * 61) == "k" * 57 + "..."


def test_kinds_are_the_manifests_words() -> None:
    assert [kind(v) for v in ({}, [], "", 1, 1.5, True, None)] == [
        "mapping",
        "list",
        "string",
        "integer",
        "number",
        "boolean",
        "null",
    ]
    assert kind(b"") == "bytes"


def test_hints_name_the_closest_option_and_skip_absurd_words() -> None:
    assert did_you_mean("poster::videos/a.mp", ["poster::videos/a.mp4", "board::videos/a.mp4"]) == (
        "; did you mean 'poster::videos/a.mp4'?"
    )
    assert did_you_mean("zzz", ["poster"]) == ""
    word = "o" * (MAX_HINT_CHARS + 1)
    assert close_matches(word, [word]) == [] and close_matches(word[:-1], [word[:-1]]) == [word[:-1]]

"""The words of a printed command read back as the same arguments in a real shell."""

from __future__ import annotations

import fnmatch
import subprocess

import pytest

from specrunner.cli.errors import command_args, pasteable
from specrunner.core.shellwords import command, literal_glob, path, quote, split

HOSTILE = [
    "plain",
    "a b",
    "two  spaces",
    "it's",
    'd"q',
    "$HOME",
    "`x`",
    "a\nb",
    "tab\there",
    "é ü",
    "",
    "-m.yaml",
    "back\\slash",
    "all `'\"$\n\\ of it",
    "\x01\x7f",
    "tag=a=b",
    "*?[]",
]


def test_every_word_reads_back_the_same_in_bash() -> None:
    line = " ".join(quote(w) for w in HOSTILE)
    assert "`" not in line and "\n" not in line  # whole on one line, between backticks
    script = 'for a in "$@"; do printf \'%s\\0\' "$a"; done'
    out = subprocess.run(["bash", "-c", f"set -- {line}; {script}"], capture_output=True, check=True)
    assert out.stdout.decode().split("\0")[:-1] == HOSTILE
    assert split(line) == HOSTILE


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("-m.yaml", "./-m.yaml"),
        ("sub/-m.yaml", "sub/-m.yaml"),
        ("/abs/-m.yaml", "/abs/-m.yaml"),
        ("m.yaml", "m.yaml"),
    ],
)
def test_a_path_never_reads_as_an_option(given: str, shown: str) -> None:
    assert path(given) == shown


def test_a_key_that_starts_with_a_dash_comes_after_the_options_and_two_dashes() -> None:
    assert (
        command("state show", "m.yaml", "a::p", options=" --state s")
        == "specrunner state show m.yaml a::p --state s"
    )
    assert (
        command("state show", "m.yaml", "-a::p", options=" --state s")
        == "specrunner state show --state s -- m.yaml -a::p"
    )


@pytest.mark.parametrize("key", ["v/a[1].mp4::p", "v/*.mp4::p", "v/a?.mp4::p", "v/a.mp4::p"])
def test_a_key_as_a_glob_matches_only_itself(key: str) -> None:
    keys = {key, "v/a1.mp4::p", "v/ab.mp4::p", "v/a.mp4::p", "v/[1].mp4::p"}
    assert {k for k in keys if fnmatch.fnmatchcase(k, literal_glob(key))} == {key}


def test_an_error_hint_gets_its_options_before_the_two_dashes() -> None:
    token = command_args.set(("-m.yaml", "s t.json"))
    try:
        hint = pasteable("e.g. `specrunner state mv -- MANIFEST -a::p -a::q`")
    finally:
        command_args.reset(token)
    assert hint == "e.g. `specrunner state mv --state 's t.json' -- ./-m.yaml -a::p -a::q`"

"""Variables: values by precedence (--var over --var-file over SPECRUNNER_VAR_ over the default),
typed substitution into any string, and every mistake reported at its file:line:col with the fix.
Also the `moved:` entries' checks against the manifest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from specrunner.validate.manifest import check_manifest
from specrunner.validate.variables import GIVEN, Given, give, parse_pair, substitute
from tests.unit.validate.conftest import Check

HEAD = """\
version: 1
variables:
  env: {type: string}
  width: {type: number, default: 320}
  keep: {type: bool, default: false}
target: {backend: local, root: ./oss}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: "out-${var.env}"}
inputs: [videos/a.mp4, videos/b.mp4]
"""
RULES = """\
rules:
  - id: poster
    time: 1s
    width: ${var.width}
    output: "${var.env}/p/{FileName}.jpg"
    sub_out: {is_spt_frag: "${var.keep}"}
"""


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    token = GIVEN.set(Given())
    yield
    GIVEN.reset(token)


def model(text: str):
    Path("m.yaml").write_text(text, encoding="utf-8")
    m, diags = check_manifest("m.yaml")
    assert m is not None, [d.render() for d in diags]
    return m


def test_values_by_precedence_typed_where_a_string_is_one_reference(
    check: Check, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECRUNNER_VAR_env", "from-env")
    m = model(HEAD + RULES)
    assert m.rules[0].output == "from-env/p/{FileName}.jpg" and m.rules[0].output_bucket == "out-from-env"
    assert m.rules[0].width == 320 and m.rules[0].sub_out_is_spt_frag is False
    assert dict(m.variables) == {"env": "from-env", "width": 320, "keep": False}
    Path("dev.yaml").write_text("env: from-file\nwidth: 480\n")
    give(files=(Path("dev.yaml"),))
    assert dict(model(HEAD + RULES).variables)["env"] == "from-file"
    give(cli=(("env", "cli"), ("width", "640"), ("keep", "true")))
    m = model(HEAD + RULES)
    assert dict(m.variables) == {"env": "cli", "width": 640, "keep": True}
    assert m.rules[0].width == 640 and m.rules[0].sub_out_is_spt_frag is True


def test_inside_a_longer_string_a_value_is_text_and_double_dollar_is_literal(check: Check) -> None:
    give(cli=(("env", "dev"),))
    text = HEAD + RULES.replace("${var.env}/p/", "w${var.width}-${var.keep}/")
    assert model(text).rules[0].output == "w320-false/{FileName}.jpg"
    assert substitute("$${var.env}-${var.env}", {"env": "dev"}) == "${var.env}-dev"


def test_an_unset_variable_is_an_error_at_its_declaration_naming_the_fix(check: Check) -> None:
    out = check(HEAD + RULES)
    assert out == [
        "m.yaml:3:3: $.variables.env: variable 'env' has no value: give it with `--var env=...`, in a "
        "--var-file, as SPECRUNNER_VAR_env in the environment, or give it a default"
    ]


def test_an_unknown_variable_is_an_error_at_the_string_that_names_it(check: Check) -> None:
    give(cli=(("env", "dev"),))
    out = check(HEAD + RULES.replace("${var.width}", "${var.widht}"))
    assert out == [
        "m.yaml:12:12: $.rules[0].width: unknown variable 'widht': declare it under `variables:` "
        "(widht: {type: string}), or did you mean 'width'?"
    ]


def test_a_var_the_manifest_does_not_declare_or_a_value_of_the_wrong_type(check: Check) -> None:
    give(cli=(("env", "dev"), ("evn", "x"), ("width", "wide")))
    out = check(HEAD + RULES)
    assert out == [
        "m.yaml:2:1: $.variables: --var evn=...: the manifest declares no variable 'evn' "
        "(did you mean 'env'?)",
        "m.yaml:4:3: $.variables.width: variable 'width' is a number: 'wide' (--var width=wide) "
        "does not fit: expected a number",
    ]


def test_var_file_problems_point_into_the_var_file(check: Check) -> None:
    Path("prod.yaml").write_text("env: prod\nwidht: 1\nkeep: maybe\n")
    give(files=(Path("prod.yaml"),))
    out = check(HEAD + RULES)
    assert out == [
        "prod.yaml:2:1: $.widht: warning: the manifest declares no variable 'widht' (did you mean "
        "'width'?); the value is not used",
        "prod.yaml:3:7: $.keep: variable 'keep' is a bool: 'maybe' (the --var-file) does not fit: expected "
        "a bool: true or false",
    ]


def test_a_manifest_without_variables_is_read_exactly_as_before(check: Check) -> None:
    text = HEAD.replace(
        "variables:\n  env: {type: string}\n  width: {type: number, default: 320}\n  keep: "
        "{type: bool, default: false}\n",
        "",
    ).replace("${var.env}", "x")
    rules = RULES.replace("${var.width}", "320").replace('"${var.keep}"', "false").replace("${var.env}", "x")
    m = model(text + rules)
    assert m.variables == () and m.rules[0].output == "x/p/{FileName}.jpg"
    # `${...}` that is no variable reference stays what it was (the bucket check refuses it, as before).
    out = check(text.replace('"out-x"', '"${OUTPUT_BUCKET}"') + rules)
    assert len(out) == 1 and "$.defaults.output_bucket" in out[0] and "var" not in out[0].split(": ", 1)[0]


@pytest.mark.parametrize("text", ["env", "=x", "1x=2", ""])
def test_a_var_that_is_not_name_equals_value_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_pair(text)


MOVED = HEAD.replace("  env: {type: string}\n", "  env: {type: string, default: dev}\n") + RULES


@pytest.mark.parametrize(
    "entry,message",
    [
        ("{from: thumb, to: cover}", "m.yaml:16:23: $.moved[0].to: the manifest has no rule 'cover'"),
        ("{from: poster, to: poster}", "m.yaml:16:5: $.moved[0]: moves 'poster' to itself; remove the entry"),
        (
            "{from: old, to: poster}",
            None,
        ),
        (
            '{from: "videos/a.mp4::poster", to: "videos/b.mp4::poster"}',
            "m.yaml:16:12: $.moved[0].from: job 'videos/a.mp4::poster' is still in the manifest",
        ),
        (
            '{from: "videos/z.mp4::poster", to: poster}',
            "m.yaml:16:5: $.moved[0]: from and to must be two rule ids or two job keys",
        ),
    ],
)
def test_moved_entries_are_checked_against_the_manifest(
    check: Check, entry: str, message: str | None
) -> None:
    out = check(MOVED + f"moved:\n  - {entry}\n")
    if message is None:
        assert out == []
    else:
        assert len(out) == 1 and out[0].startswith(message), out


def test_two_moved_entries_onto_one_name_are_refused_and_a_chain_is_not(check: Check) -> None:
    out = check(MOVED + "moved:\n  - {from: old, to: poster}\n  - {from: older, to: poster}\n")
    assert len(out) == 1 and out[0].startswith("m.yaml:17:23: $.moved[1].to: moved[0] renames onto 'poster'")
    assert check(MOVED + "moved:\n  - {from: old, to: mid}\n  - {from: mid, to: poster}\n") == []


def test_a_moved_entry_onto_an_input_id_names_the_job_key_entries_that_do_it(check: Check) -> None:
    out = check(MOVED + "moved:\n  - {from: videos/old.mp4, to: videos/a.mp4}\n")
    assert out == [
        "m.yaml:16:32: $.moved[0].to: 'videos/a.mp4' is an input id: moved: entries rename rules or job "
        'keys; for a renamed input give its job keys, one entry per rule: {from: "videos/old.mp4::poster", '
        'to: "videos/a.mp4::poster"}'
    ]
    entry = '{from: "videos/old.mp4::poster", to: "videos/a.mp4::poster"}'
    assert check(MOVED + f"moved:\n  - {entry}\n") == []


def test_a_nested_reference_and_a_reference_in_a_key_each_say_what_to_do(check: Check) -> None:
    text = (HEAD + RULES).replace("env: {type: string}", "env: {type: string, default: dev}")
    out = check(text.replace('"out-${var.env}"', '"out-${var.${var.env}}"'))
    assert len(out) == 1 and out[0].startswith(
        "m.yaml:7:78: $.defaults.output_bucket: references do not nest"
    )
    out = check(text + '    mts: {"${var.env}": "1"}\n')
    assert out == [
        "m.yaml:15:11: $.rules[0].mts[\"${var.env}\"]: '${var.env}': ${var.NAME} is not substituted in a "
        "mapping key (only in values); write the key as it is"
    ]


@pytest.mark.parametrize(
    "block,message",
    [
        (
            "variables:\n  env: dev\n",
            "m.yaml:3:3: $.variables.env: declare the variable as a mapping: `env: {default: 'dev'}`",
        ),
        ("variables: [env]\n", "m.yaml:2:1: $.variables: variables: is a mapping of NAME: {type, default"),
        (
            "variables:\n  env: {type: str}\n",
            "m.yaml:3:15: $.variables.env.type: type is one of string, number",
        ),
    ],
)
def test_a_declaration_of_the_wrong_shape_is_one_error_at_it_not_has_no_value(
    check: Check, block: str, message: str
) -> None:
    """A Terraform habit (`env: dev` for a default) must not read as "variable 'env' has no value"."""
    text = (
        "version: 1\n"
        + block
        + HEAD.split("\n", 5)[5]
        + RULES.replace("${var.width}", "64").replace('"${var.keep}"', "false")
    )
    out = check(text)
    assert len(out) == 1 and out[0].startswith(message), out


def test_a_moved_from_that_cannot_be_a_rule_id_is_not_a_silent_no_op(check: Check) -> None:
    """`{from: videos/old.mp4, to: poster}` (an input meant) would match no rule in the state and do
    nothing: the plan would create and forget instead. It is refused, naming the job-key form."""
    out = check(MOVED + "moved:\n  - {from: videos/old.mp4, to: poster}\n")
    assert len(out) == 1 and out[0].startswith(
        "m.yaml:16:12: $.moved[0].from: 'videos/old.mp4' cannot be a rule id"
    ), out
    assert '{from: "videos/old.mp4::poster", to: "NEW_INPUT_ID::poster"}' in out[0]

"""Variables as people get them wrong: a --var-file that is not there, an environment variable in
the wrong letter case, and a saved plan gone stale whose hint must make the same plan again (with
its values) when pasted. Real files, the real CLI, the local engine."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.conftest import Workspace

MANIFEST = """\
version: 1
variables:
  env: {type: string, default: dev}
  width: {type: number, default: 160}
target: {backend: local, root: ./oss}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: "media-${var.env}"}
inputs: [videos/a.mp4]
rules:
  - {id: poster, time: 1s, width: "${var.width}", output: "p/{FileName}.jpg"}
"""


@pytest.fixture
def site(ws: Workspace, video_4s: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.chdir(ws.dir)
    ws.add_video(video_4s, "videos/a.mp4")
    for env in ("dev", "prod"):
        (ws.oss / f"media-{env}").mkdir(parents=True)
    ws.write(MANIFEST)
    return ws


def test_a_missing_var_file_is_named_as_one_not_as_a_manifest(site: Workspace) -> None:
    r = site.cli("plan", "m.yaml", "--var-file", "prod.yaml", code=1)
    assert "prod.yaml:1:1: $: this --var-file is not found: check the path" in r.output
    assert "specrunner init" not in r.output and "Traceback" not in r.output
    assert not site.state.exists()


def test_an_environment_variable_in_the_wrong_case_is_refused_not_replaced_by_the_default(
    site: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECRUNNER_VAR_ENV", "prod")
    r = site.cli("apply", "m.yaml", code=1)
    assert (
        "m.yaml:3:3: $.variables.env: variable 'env': SPECRUNNER_VAR_ENV is set in the environment, but "
        "names are case-sensitive: set SPECRUNNER_VAR_env" in r.output
    )
    assert not site.state.exists() and not any((site.oss / "media-dev").iterdir())
    # The exact name, or --var, decides; the near-miss is then irrelevant.
    monkeypatch.setenv("SPECRUNNER_VAR_env", "prod")
    site.cli("apply", "m.yaml", code=0)
    assert (site.oss / "media-prod" / "p" / "a.jpg").is_file()
    monkeypatch.delenv("SPECRUNNER_VAR_env")
    assert "No changes." in site.cli("plan", "m.yaml", "--var", "env=prod", code=0).stdout


def test_a_stale_saved_plan_names_the_plan_command_with_its_values(site: Workspace) -> None:
    site.cli("plan", "m.yaml", "--var", "env=prod", "--var", "width=120", "--out", "p.json", code=0)
    site.cli("apply", "m.yaml", "--var", "env=prod", "--var", "width=120", code=0)  # the state moves on
    r = site.cli("apply", "p.json", code=1)
    command = "specrunner plan m.yaml --var env=prod --var width=120 --out plan.json"
    assert f"`{command}`" in r.output, r.output
    shown = site.cli("show", "p.json", code=0).stdout
    assert "no longer current" in shown and command in " ".join(shown.split())
    # Pasted, it plans the environment the saved plan was for: nothing left to do there.
    again = site.cli(*shlex.split(command)[1:], code=0)
    assert "No changes." in again.stdout
    r = site.cli("apply", "p.json", "--var", "env=dev", code=1)
    assert "`specrunner plan m.yaml --var env=dev --var width=160 --out plan.json`" in r.output


def test_a_state_block_reference_without_a_value_is_named_at_its_line_and_column(site: Workspace) -> None:
    """Commands that read only the state: block (no validation) still point at the reference."""
    text = MANIFEST.replace("env: {type: string, default: dev}", "env: {type: string}")
    state = 'state:\n  backend: oss\n  bucket: team-state\n  key: "site/${var.env}/${var.zone}.lock.json"\n'
    site.write(text + state)
    r = site.cli("state", "list", "m.yaml", code=1)
    assert "error: m.yaml:13:14: its state: block uses ${var.env}, which has no value here" in r.output
    assert "`--var env=...`" in r.output
    r = site.cli("show", "m.yaml", "--var", "env=dev", code=1)
    assert (
        "error: m.yaml:13:25: its state: block uses ${var.zone}, which the manifest's variables: block "
        "does not declare" in r.output
    )
    assert "declare it under `variables:` (zone: {type: string})" in r.output


def test_commands_printed_for_pasting_repeat_the_var_options_given(site: Workspace) -> None:
    """A hint or warning names a command; pasted, it must act on the same environment (its state,
    its buckets), not on the defaults': it repeats the --var / --var-file options given."""
    site.cli("apply", "m.yaml", "--var", "env=prod", code=0)
    r = site.cli("plan", "m.yaml", "--var", "env=prod", "--var", "width=120", "--exclude", "poster", code=0)
    said = " ".join(r.stdout.split())
    command = "specrunner plan m.yaml --var env=prod --var width=120"
    assert f"`{command}` shows every change" in said, said
    pasted = site.cli(*shlex.split(command)[1:], code=0).stdout
    assert "width: 160 -> 120" in pasted and "output_bucket" not in pasted, pasted
    r = site.cli("state", "rm", "m.yaml", "nokey", "--var", "env=prod", code=1)
    assert "`specrunner state list m.yaml --var env=prod` shows the keys" in r.output, r.output
    Path("prod.yaml").write_text("env: prod\n")
    r = site.cli(
        "plan", "m.yaml", "--var-file", "prod.yaml", "--exclude", "poster", "--var", "width=90", code=0
    )
    assert "`specrunner plan m.yaml --var width=90 --var-file prod.yaml`" in " ".join(r.stdout.split())

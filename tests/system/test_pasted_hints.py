"""Every command a hint prints works when pasted: the manifest, its --state and the variables' values
named, no placeholder.

Each test provokes a hint through the CLI, takes the command out of the printed text literally, and
runs it verbatim from the same folder (split as a shell splits it, ``python -m specrunner``, a real
process), as a user would. The saved plans' commands: ``test_pasted_saved_plans``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import HEADER, Workspace, read_jobs
from tests.helpers import pasted, printed_command, printed_commands

MANIFEST = (
    HEADER
    + """\
inputs: [videos/a.mp4, videos/b.mp4, videos/c.mp4]
rules:
  - {id: poster, time: 1s, output: "p/{FileName}.jpg"}
"""
)


@pytest.fixture
def here(ws: Workspace, video_4s: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A workspace that is the current folder: the CLI is given relative paths, as people type them."""
    for name in ("a", "b", "c"):
        ws.add_video(video_4s, f"videos/{name}.mp4")
    ws.write(MANIFEST)
    monkeypatch.chdir(ws.dir)
    return ws


def command_in(text: str) -> str:
    """The one `specrunner ...` command a hint names (backticked, or alone after a colon)."""
    found = re.findall(r"`(specrunner [^`]+)`", text) or re.findall(r":\s+(specrunner [^\n]+)", text)
    assert len(set(found)) == 1, (found, text)
    assert not re.search(r"\b(MANIFEST|FILE|KEY|LOCK_ID|PLANFILE)\b", found[0]), found[0]
    return found[0]


def paste(ws: Workspace, command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` verbatim in the workspace (``helpers.pasted``)."""
    return pasted(ws.dir, command)


def test_a_missing_manifest_hint_writes_it(here: Workspace) -> None:
    r = here.cli("plan", "site.yaml", code=1)
    pasted = paste(here, command_in(r.stderr))
    assert pasted.returncode == 0, pasted.stderr
    assert (here.dir / "site.yaml").is_file()


def test_a_target_typo_and_the_targeting_warning_name_a_plan_that_runs(here: Workspace) -> None:
    here.cli("apply", "m.yaml", code=0)
    here.write(MANIFEST.replace("time: 1s", "time: 2s"))
    r = here.cli("plan", "m.yaml", "--target", "postr", code=1)
    assert paste(here, command_in(r.stderr)).returncode == 0
    r = here.cli("plan", "m.yaml", "--target", "videos/a.mp4", code=0)
    assert "2 changes of the manifest" in " ".join(r.stdout.split())
    pasted = paste(here, command_in(r.stdout.split("Warning: targeting")[1]))
    assert pasted.returncode == 0 and "3 to replace" in pasted.stdout, pasted.stdout


def test_the_retry_and_rename_commands_of_a_plan_run(here: Workspace) -> None:
    (here.oss / "media-in" / "videos" / "c.mp4").unlink()
    here.cli("apply", "m.yaml", code=3)
    r = here.cli("plan", "m.yaml", code=0)
    retry = command_in(r.stdout.split("To resubmit")[1])
    assert retry == "specrunner retry m.yaml --target videos/c.mp4::poster"
    pasted = paste(here, retry)
    assert pasted.returncode == 3 and "Apply complete" in pasted.stdout, pasted.stderr  # it ran

    here.write(MANIFEST.replace("id: poster", "id: cover"))
    r = here.cli("plan", "m.yaml", code=0)
    mv = command_in(r.stdout.split("Warning: this plan forgets")[1])
    assert mv == "specrunner state mv m.yaml poster cover"
    assert paste(here, mv).returncode == 0
    r = here.cli("plan", "m.yaml", code=0)
    assert "0 to create" in r.stdout and "0 to forget" in r.stdout


def test_a_state_given_with_state_is_named_in_the_hints(here: Workspace) -> None:
    """Hints from the state's own layer (which knows no manifest) name the manifest and --state given."""
    here.cli("apply", "m.yaml", "--state", "other.lock.json", code=0)
    r = here.cli("state", "rm", "m.yaml", "videos/z.mp4::poster", "--state", "other.lock.json", code=1)
    listed = command_in(r.stderr)
    assert listed == "specrunner state list m.yaml --state other.lock.json"
    pasted = paste(here, listed)
    assert pasted.returncode == 0 and "videos/a.mp4::poster" in pasted.stdout, pasted.stderr

    (here.dir / "other.lock.json.journal").write_text("{torn\n")  # a damaged journal
    r = here.cli("plan", "m.yaml", "--state", "other.lock.json", code=1)
    repair = command_in(r.stderr)
    assert repair == "specrunner state repair m.yaml --state other.lock.json"
    pasted = paste(here, repair)
    assert pasted.returncode == 0, pasted.stderr
    after = command_in(pasted.stdout.split("Next")[1])  # what repair says to run next
    assert after == "specrunner plan m.yaml --state other.lock.json"
    pasted = paste(here, after + " --detailed-exitcode")
    assert pasted.returncode == 0 and "No changes" in pasted.stdout, pasted.stdout


# ------------------------------------------------------------------- a state and variables given

SITE = """\
version: 1
name: media/site
variables:
  env: {type: string, default: dev}
  width: {type: number, default: 160}
  tag: {type: string, default: plain}
target: {backend: local, root: ./oss}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: "media-${var.env}"}
inputs: [videos/a.mp4, videos/b.mp4]
rules:
  - {id: poster, time: 1s, width: "${var.width}", output: "p/${var.tag}/{FileName}.jpg"}
"""
STATE = "s t.lock.json"  # not the manifest's own state (m.lock.json), a space in its name
# Not the defaults: a pasted command without them acts on another bucket, object and state.
GIVEN = ("--state", STATE, "--var", "env=prod", "--var", "tag=it's new", "--var-file", "my vars.yaml")


@pytest.fixture
def site(here: Workspace) -> Workspace:
    """``here`` with a manifest of variables, applied to the state STATE with the values GIVEN."""
    for env in ("dev", "prod"):
        (here.oss / f"media-{env}").mkdir(parents=True)
    (here.dir / "my vars.yaml").write_text("width: 120\n")
    here.write(SITE)
    here.cli("apply", "m.yaml", *GIVEN, code=0)
    return here


def prod(ws: Workspace, key: str) -> Path:
    return ws.out(key, "media-prod")


def test_a_runs_failure_hints_act_on_its_state_and_values(site: Workspace) -> None:
    video = site.oss / "media-in" / "videos" / "b.mp4"
    kept = video.read_bytes()
    video.unlink()
    r = site.cli("apply", "m.yaml", *GIVEN, "--replace", "videos/b.mp4::poster", code=3)
    shown = paste(site, printed_command(r.stdout, "state show"))  # the message cut to 80 columns
    assert shown.returncode == 0 and "InvalidParameter.ResourceNotFound" in shown.stdout, shown.stderr
    r = site.cli("plan", "m.yaml", *GIVEN, code=0)
    retry = printed_command(r.stdout, "retry")
    assert retry.startswith("specrunner retry m.yaml --target videos/b.mp4::poster --state 's t.lock.json'")
    video.write_bytes(kept)
    done = paste(site, retry)
    assert done.returncode == 0 and "1 retried" in done.stdout, (done.stdout, done.stderr)
    assert read_jobs(site.dir / STATE)["videos/b.mp4::poster"]["state"] == "Success"
    assert not site.state.exists() and not any((site.oss / "media-dev").iterdir())


def test_the_targeting_and_forget_warnings_name_commands_of_the_same_environment(site: Workspace) -> None:
    r = site.cli("plan", "m.yaml", *GIVEN, "--var", "width=90", "--target", "videos/a.mp4", "--refresh=false")
    assert r.exit_code == 0, r.output
    command = printed_command(r.stdout.split("Warning: targeting")[1], "plan")
    assert command.startswith("specrunner plan m.yaml --refresh=false --state 's t.lock.json'"), command
    poster = prod(site, "p/it's new/b.jpg")
    kept = poster.read_bytes()
    poster.unlink()  # what a refresh would find (and say)
    whole = paste(site, command)  # the whole plan, made as this one was: without the refresh
    assert whole.returncode == 0 and "2 to replace" in whole.stdout and "width: 120 -> 90" in whole.stdout
    assert "Refreshed" not in whole.stdout and "output missing" not in whole.stdout, whole.stdout
    poster.write_bytes(kept)

    site.write(SITE.replace("id: poster", "id: cover"))
    r = site.cli("plan", "m.yaml", *GIVEN, code=0)
    mv = printed_command(r.stdout, "state mv")
    assert mv.startswith("specrunner state mv m.yaml poster cover --state 's t.lock.json'")
    assert paste(site, mv).returncode == 0
    r = site.cli("plan", "m.yaml", *GIVEN, "--detailed-exitcode", code=0)
    assert "No changes." in r.stdout


def test_nothing_to_retry_and_no_state_yet_name_the_apply_of_that_state(site: Workspace) -> None:
    given = ("--state", "new state.json", "--var", "env=prod")
    r = site.cli("retry", "m.yaml", *given, code=0)
    apply = printed_command(r.stdout, "apply")
    assert apply == "specrunner apply m.yaml --state 'new state.json' --var env=prod"
    assert paste(site, apply).returncode == 0 and (site.dir / "new state.json").is_file()
    r = site.cli("show", "m.yaml", "--state", "none.json", "--var", "env=prod", code=0)
    assert paste(site, printed_command(r.stdout, "apply")).returncode == 0
    assert set(read_jobs(site.dir / "none.json")) == {"videos/a.mp4::poster", "videos/b.mp4::poster"}


def test_show_at_a_narrow_width_names_the_commands_that_print_job_ids_whole(
    site: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    r = site.cli("show", "m.yaml", *GIVEN, code=0)
    ids = {r["job_id"] for r in read_jobs(site.dir / STATE).values()}
    assert not any(i in r.stdout for i in ids)  # shortened
    wide = paste(site, printed_command(r.stdout, "show"))
    assert wide.returncode == 0 and all(i in wide.stdout for i in ids), wide.stderr
    one = paste(site, printed_command(r.stdout, "state show"))
    assert one.returncode == 0 and "# videos/a.mp4::poster" in one.stdout, one.stderr


def test_a_prune_that_failed_names_the_prune_of_the_same_jobs(site: Workspace) -> None:
    """Pasted, it deletes no more than the prune that failed chose (its --target), in its state."""
    site.cli("apply", "m.yaml", *GIVEN, "--var", "tag=v2", code=0)  # the old posters are retired
    bucket = site.oss / "media-prod"
    bucket.rename(site.dir / "away")
    bucket.write_text("not a folder")  # the listing that checks the objects fails
    r = site.cli("prune", "m.yaml", *GIVEN, "--var", "tag=v2", "--target", "videos/b.mp4", code=1)
    again = printed_command(r.stderr, "prune")
    assert "--target videos/b.mp4" in again and "--var tag=v2" in again, again
    bucket.unlink()
    (site.dir / "away").rename(bucket)
    done = paste(site, again)
    assert done.returncode == 0, done.stderr
    assert not prod(site, "p/it's new/b.jpg").exists() and prod(site, "p/it's new/a.jpg").is_file()


def test_a_state_error_names_a_manifest_with_a_space_and_its_options(site: Workspace) -> None:
    shutil.copy(site.manifest, site.dir / "my site.yaml")
    given = ("--state", "o t.json", "--var", "env=prod", "--var", "tag=x")
    site.cli("apply", "my site.yaml", *given, code=0)
    r = site.cli("state", "rm", "my site.yaml", "videos/z.mp4::poster", *given, code=1)
    listed = printed_command(r.stderr, "state list")
    assert listed == "specrunner state list 'my site.yaml' --state 'o t.json' --var env=prod --var tag=x"
    done = paste(site, listed)
    assert done.returncode == 0 and "videos/a.mp4::poster" in done.stdout, done.stderr


def test_a_terraform_habit_names_the_command_with_the_options_given(site: Workspace) -> None:
    r = site.cli("output", "m.yaml", *GIVEN, code=1)
    done = paste(site, printed_command(r.stderr, "outputs"))
    assert done.returncode == 0 and "media-prod" in done.stdout and "it's new/a.jpg" in done.stdout


def test_validate_names_the_plan_that_counts_discovered_jobs(site: Workspace) -> None:
    text = SITE.replace("inputs: [videos/a.mp4, videos/b.mp4]", 'inputs: [{prefix: videos/, match: "*.mp4"}]')
    (site.dir / "d.yaml").write_text(text)
    r = site.cli("validate", "d.yaml", "--var", "env=prod", code=0)
    plan = printed_command(r.stdout, "plan")
    assert plan == "specrunner plan d.yaml --var env=prod"
    done = paste(site, plan)
    assert done.returncode == 0 and "Discovered 3 inputs" in done.stdout, done.stderr


def test_a_markdown_plan_names_the_json_of_the_same_plan(site: Workspace) -> None:
    many = SITE.replace("[videos/a.mp4, videos/b.mp4]", "[" + ", ".join(f"v/{i}.mp4" for i in range(9)) + "]")
    site.write(many)
    r = site.cli("plan", "m.yaml", *GIVEN, "--exclude", "v/0.mp4", "--format", "markdown", code=0)
    (command,) = [c for c in printed_commands(r.stdout) if "--format json" in c]  # "... lists all"
    done = paste(site, command)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["selection"]["excludes"] == ["v/0.mp4"] and doc["state"]["path"] == STATE
    assert doc["variables"] == {"env": "prod", "tag": "it's new", "width": 120}
    assert doc["summary"]["create"] == 8

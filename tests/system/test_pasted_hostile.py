"""Printed commands work pasted whatever the names and values hold.

An operator's paths and values are whatever they are: a manifest named like an option (``-m.yaml``),
a job key that starts with ``-``, a backtick, ``$``, quotes, spaces and non-ASCII in a path in another
folder, a ``--var`` value with a newline or a run of spaces, a value taken from ``SPECRUNNER_VAR_*``
for one command only, a float that prints like an integer. Each test provokes the hint, takes the
command out of the output literally and runs it verbatim in a real shell (``helpers.pasted``): it must
act on the same manifest, state and values. Real files, the local engine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import HEADER, Workspace, read_jobs
from tests.helpers import pasted, printed_command, printed_commands

TWO = HEADER + 'inputs: [videos/a.mp4, {id: "-b", object: videos/gone.mp4}]\n'
POSTER = 'rules:\n  - {id: poster, time: 1s, output: "p/{FileName}.jpg"}\n'


@pytest.fixture
def here(ws: Workspace, video_4s: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The workspace is the current folder; videos/a.mp4 is there, videos/gone.mp4 is not."""
    ws.add_video(video_4s, "videos/a.mp4")
    monkeypatch.chdir(ws.dir)
    return ws


def test_a_manifest_named_like_an_option_and_a_key_that_starts_with_a_dash(here: Workspace) -> None:
    """``-m.yaml`` pasted as it was typed would be read as the option ``-m``: the command says
    ``./-m.yaml``. The failed job's key ``-b::poster`` comes after ``--``, with the options before it."""
    (here.dir / "-m.yaml").write_text(TWO + POSTER)
    r = here.cli("apply", "./-m.yaml", "--state", "-s.json", code=3)
    show = printed_command(r.stdout, "state show")
    shown = pasted(here.dir, show)
    assert shown.returncode == 0 and "# -b::poster" in shown.stdout, shown.stderr
    assert show == "specrunner state show --state -s.json -- ./-m.yaml -b::poster", show
    r = here.cli("plan", "./-m.yaml", "--state", "-s.json", code=0)
    retry = printed_command(r.stdout, "retry")
    again = pasted(here.dir, retry)
    assert again.returncode == 3 and "1 retried" in again.stdout, (retry, again.stdout, again.stderr)
    assert not (here.dir / "-m.lock.json").exists()  # both acted on -s.json


def test_backticks_quotes_and_spaces_in_paths_in_another_folder(here: Workspace) -> None:
    """A manifest in another folder named with a backtick, ``$``, quotes, spaces and non-ASCII, run
    from the workspace, and a state named alike: the printed command (between backticks) names both."""
    name = "sub dir/m `x` $HOME 'q' \"d\" é.yaml"
    manifest = here.dir / name
    manifest.parent.mkdir()
    manifest.write_text(TWO.replace("root: ./oss", "root: ../oss") + POSTER)
    state = "sub dir/s `t`.json"
    r = here.cli("apply", name, "--state", state, code=3)
    shown = pasted(here.dir, printed_command(r.stdout, "state show"))
    assert shown.returncode == 0 and "# -b::poster" in shown.stdout, shown.stderr
    r = here.cli("plan", name, "--state", state, code=0)
    again = pasted(here.dir, printed_command(r.stdout, "retry"))
    assert again.returncode == 3 and "1 retried" in again.stdout, again.stderr
    assert read_jobs(here.dir / state)["-b::poster"]["state"] == "Fail"


def test_a_value_with_a_newline_and_a_run_of_spaces_reads_back_the_same(here: Workspace) -> None:
    """A saved plan made stale names the plan that makes it again; ``show`` prints that command in a
    paragraph wrapped to 80 columns, which turns a line break into a space. Pasted, the new plan
    records the very value the old one did."""
    declared = "variables:\n  note: {type: string}\n"
    (here.dir / "m.yaml").write_text(TWO + declared + POSTER)
    note = "two  spaces\nand a line"
    here.cli("plan", "m.yaml", "--var", f"note={note}", "--out", "old.json", code=0)
    here.cli("apply", "m.yaml", "--var", f"note={note}", code=3)  # the state moves on
    stale = here.cli("show", "old.json", code=0).stdout
    assert "no longer current" in stale
    made = pasted(here.dir, printed_command(stale.split("To replace it")[1], "plan"))
    assert made.returncode == 0, made.stderr
    assert json.loads((here.dir / "plan.json").read_text())["variables"] == {"note": note}


def test_a_value_from_the_environment_for_one_command_is_repeated(
    here: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``SPECRUNNER_VAR_env=prod specrunner apply ...`` sets the value for that command only: the
    shell the command is pasted into has no such variable, so the printed command gives it."""
    (here.dir / "m.yaml").write_text(
        HEADER.replace("output_bucket: media-out", 'output_bucket: "media-${var.env}"')
        + "variables:\n  env: {type: string, default: dev}\n"
        + 'inputs: [videos/a.mp4, {id: "b", object: videos/gone.mp4}]\n'
        + POSTER
    )
    for env in ("dev", "prod"):
        (here.oss / f"media-{env}").mkdir(parents=True)
    monkeypatch.setenv("SPECRUNNER_VAR_env", "prod")
    here.cli("apply", "m.yaml", code=3)
    r = here.cli("plan", "m.yaml", code=0)
    retry = printed_command(r.stdout, "retry")
    assert retry.endswith("--var env=prod"), retry
    shell = {k: v for k, v in os.environ.items() if k != "SPECRUNNER_VAR_env"}
    again = pasted(here.dir, retry, env=shell)
    assert again.returncode == 3 and "1 retried" in again.stdout, (again.stdout, again.stderr)
    assert [p.name for p in (here.oss / "media-prod" / "p").iterdir()] == ["a.jpg"]
    assert not any((here.oss / "media-dev").iterdir())  # nothing ran in dev
    # A value given on the command line wins over the environment's: not repeated from it.
    r = here.cli("plan", "m.yaml", "--var", "env=dev", code=0)
    assert all("env=prod" not in c for c in printed_commands(r.stdout)), r.stdout


def test_a_float_value_prints_back_as_a_float(here: Workspace) -> None:
    """1e16 as a float prints ``1e+16``, which ``--var`` reads back as an integer: in a longer string
    another text, so another output and another job. The printed value reads back as the same float."""
    (here.dir / "m.yaml").write_text(
        HEADER
        + "variables:\n  n: {type: number}\n"
        + "inputs: [videos/a.mp4]\n"
        + 'rules:\n  - {id: poster, time: 1s, output: "p/${var.n}/{FileName}.jpg"}\n'
    )
    here.cli("plan", "m.yaml", "--var", "n=1.0e16", "--out", "old.json", code=0)
    here.cli("apply", "m.yaml", "--var", "n=1.0e16", code=0)  # the state moves on: old.json is stale
    r = here.cli("apply", "old.json", code=1)
    made = pasted(here.dir, printed_command(r.stderr, "plan"))
    assert made.returncode == 0 and "No changes." in made.stdout, (made.stdout, made.stderr)
    old, new = (json.loads((here.dir / f).read_text()) for f in ("old.json", "plan.json"))
    assert new["variables"] == old["variables"] and isinstance(new["variables"]["n"], float)


def test_a_retry_of_one_key_with_glob_characters_retries_that_job(here: Workspace, video_4s: Path) -> None:
    """``--target`` takes globs: the key ``videos/a[1].mp4::poster`` as a glob matches
    ``videos/a1.mp4::poster`` and not itself. The printed retry names exactly the failed job."""
    here.add_video(video_4s, "videos/a1.mp4")
    (here.dir / "m.yaml").write_text(HEADER + 'inputs: [videos/a1.mp4, "videos/a[1].mp4"]\n' + POSTER)
    here.cli("apply", "m.yaml", code=3)
    here.add_video(video_4s, "videos/a[1].mp4")  # the cause is gone
    r = here.cli("plan", "m.yaml", code=0)
    again = pasted(here.dir, printed_command(r.stdout, "retry"))
    assert again.returncode == 0 and "1 retried" in again.stdout, (again.stdout, again.stderr)
    assert read_jobs(here.state)["videos/a[1].mp4::poster"]["state"] == "Success"


def test_a_terraform_habit_names_the_manifest_not_a_var_file(here: Workspace) -> None:
    (here.dir / "m.yaml").write_text(TWO + POSTER)
    (here.dir / "prod.yaml").write_text("{}\n")
    r = here.cli("destroy", "--var-file", "prod.yaml", "m.yaml", code=1)
    assert "`specrunner prune m.yaml --var-file prod.yaml`" in r.stderr, r.stderr

"""A saved plan's printed commands work when pasted, and its planning options are fixed.

Every command ``plan --out`` / ``apply PLANFILE`` / ``show PLANFILE`` prints is taken out of the output
literally and run verbatim (split as a shell splits it, ``python -m specrunner`` in the same folder,
a real process): it must act on the state, the variables' values and the planning options the plan
was made with, not on the manifest's defaults. A planning option given again with ``apply PLANFILE``
is accepted when it is the plan's own and refused with one error otherwise (Terraform's rule: a saved
plan fixed them). Real files, the local engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Workspace, read_jobs
from tests.helpers import pasted, printed_command

MANIFEST = """\
version: 1
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
GIVEN = ("--var", "env=prod", "--var", "tag=it's new", "--var-file", "my vars.yaml", "--state", STATE)
VALUES = {"env": "prod", "tag": "it's new", "width": 120}


@pytest.fixture
def site(ws: Workspace, video_4s: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The workspace is the current folder: paths are typed relative, as people type them."""
    monkeypatch.chdir(ws.dir)
    for name in ("a", "b"):
        ws.add_video(video_4s, f"videos/{name}.mp4")
    for env in ("dev", "prod"):
        (ws.oss / f"media-{env}").mkdir(parents=True)
    (ws.dir / "my vars.yaml").write_text("width: 120\n")
    ws.write(MANIFEST)
    return ws


def out(ws: Workspace, name: str) -> Path:
    return ws.out(f"p/it's new/{name}.jpg", "media-prod")


def jobs(ws: Workspace) -> dict[str, dict[str, object]]:
    return read_jobs(ws.dir / STATE)


def test_the_commands_an_applied_saved_plan_prints_act_on_its_state_and_values(site: Workspace) -> None:
    ws = site
    ws.cli("apply", "m.yaml", *GIVEN, code=0)
    r = ws.cli("plan", "m.yaml", *GIVEN, "--replace", "videos/b.mp4::poster", "--out", "my plan.json", code=0)
    apply = printed_command(r.stdout, "apply")
    assert apply == "specrunner apply 'my plan.json'"
    video = ws.oss / "media-in" / "videos" / "b.mp4"
    kept = video.read_bytes()
    video.unlink()  # b's replacement fails
    done = pasted(ws.dir, apply)
    assert done.returncode == 3 and "1 replaced" in done.stdout and "1 failed" in done.stdout, done.stderr

    # Its failure message is cut to 80 columns: the command that prints it whole reads the plan's state.
    shown = pasted(ws.dir, printed_command(done.stdout, "state show"))
    assert shown.returncode == 0, shown.stderr
    assert "# videos/b.mp4::poster" in shown.stdout and "InvalidParameter.ResourceNotFound" in shown.stdout
    # b's old poster stays recorded for prune: the pasted prune names it in the plan's bucket.
    pruned = pasted(ws.dir, printed_command(done.stdout, "prune"))
    assert pruned.returncode == 0, pruned.stderr
    assert "media-prod/p/it's new/b.jpg" in pruned.stdout and out(ws, "b").is_file()

    # A saved plan that leaves b failed names the retry of the plan's environment; pasted, it runs there.
    r = ws.cli("plan", "m.yaml", *GIVEN, "--out", "my plan.json", code=0)
    assert "1 failed (not resubmitted)" in r.stdout
    done = pasted(ws.dir, printed_command(r.stdout, "apply"))
    assert done.returncode == 3 and "Still failed (1)" in done.stdout, done.stderr
    retry = printed_command(done.stdout, "retry")
    video.write_bytes(kept)  # the cause is gone
    again = pasted(ws.dir, retry)
    assert again.returncode == 0 and "1 retried" in again.stdout, (again.stdout, again.stderr)
    assert jobs(ws)["videos/b.mp4::poster"]["state"] == "Success"
    assert not (ws.dir / "m.lock.json").exists() and not any((ws.oss / "media-dev").iterdir())


def test_a_stale_saved_plan_names_the_plan_command_that_makes_the_same_plan(site: Workspace) -> None:
    """The hint repeats the plan's state, --target / --exclude / --replace, --refresh=false and values:
    pasted, it saves a plan with exactly the options of the stale one."""
    ws = site
    ws.cli("apply", "m.yaml", *GIVEN, code=0)
    options = ("--target", "videos/a.mp4", "--replace", "videos/a.mp4::poster", "--refresh=false")
    ws.cli("plan", "m.yaml", *GIVEN, *options, "--out", "old.json", code=0)
    ws.cli("apply", "m.yaml", *GIVEN, "--replace", "videos/b.mp4::poster", code=0)  # the state moves on
    r = ws.cli("apply", "old.json", code=1)
    assert "the saved plan is stale: the state changed since it was made" in r.stderr
    replan = printed_command(r.stderr, "plan")
    assert (
        "--refresh=false" in replan
        and "--target videos/a.mp4" in replan
        and "--state 's t.lock.json'" in replan
    )
    shown = ws.cli("show", "old.json", code=0).stdout
    assert "no longer current" in shown and replan == printed_command(shown, "plan")
    made = pasted(ws.dir, replan)
    assert made.returncode == 0, made.stderr
    old, new = (json.loads((ws.dir / f).read_text()) for f in ("old.json", "plan.json"))
    for part in ("selection", "variables", "manifest"):
        assert new[part] == old[part], part
    assert new["state"]["path"] == old["state"]["path"] == STATE
    assert [c["key"] for c in new["changes"]] == ["videos/a.mp4::poster"]
    # ... and that plan applies as printed.
    done = pasted(ws.dir, printed_command(made.stdout, "apply"))
    assert done.returncode == 0 and "1 replaced" in done.stdout, done.stderr


def test_refresh_false_with_a_plan_saved_with_the_refresh_is_one_clear_error(site: Workspace) -> None:
    """The refresh found an output gone and planned its job again; --refresh=false at apply would plan
    from the state as recorded, i.e. another plan. Refused (not "stale"), exit 1, nothing locked or
    submitted; both ways on work when pasted."""
    ws = site
    ws.cli("apply", "m.yaml", *GIVEN, code=0)
    out(ws, "a").unlink()
    ws.cli("plan", "m.yaml", *GIVEN, "--out", "p.json", code=0)
    recorded = (ws.dir / STATE).read_bytes()
    r = ws.cli("apply", "p.json", "--refresh=false", code=1)
    assert (
        "error: --refresh=false contradicts the saved plan p.json (made with the refresh): a saved plan "
        "is applied with the planning options it was made with" in r.stderr
    )
    assert "stale" not in r.output and r.stderr.count("error:") == 1
    assert (ws.dir / STATE).read_bytes() == recorded and not out(ws, "a").exists()
    assert ws.cli("apply", "p.json", "--no-refresh", code=1).stderr == r.stderr  # the other spelling

    # Way 1: a plan without the refresh (the state as recorded: nothing to do); it applies, and
    # --refresh=false given again with it is its own option: accepted.
    replan = printed_command(r.stderr, "plan")
    made = pasted(ws.dir, replan)
    assert made.returncode == 0 and "No changes." in made.stdout, made.stderr
    assert json.loads((ws.dir / "plan.json").read_text())["selection"]["refresh"] is False
    assert "The plan is current" in ws.cli("show", "plan.json", code=0).stdout  # shown as applied
    r2 = ws.cli("apply", "plan.json", "--refresh=false", code=0)
    assert "0 succeeded" in r2.stdout and not out(ws, "a").exists()
    r2 = ws.cli("apply", "plan.json", "--refresh", code=1)  # the refresh it was made without
    assert "--refresh contradicts the saved plan plan.json (made with --refresh=false)" in r2.stderr

    # Way 2: the saved plan as it was made (its refresh again: the output is still gone).
    done = pasted(ws.dir, printed_command(r.stderr, "apply"))
    assert done.returncode == 0 and "1 replaced" in done.stdout, (done.stdout, done.stderr)
    assert out(ws, "a").is_file()


def test_planning_options_given_again_are_accepted_only_as_the_plan_made_them(site: Workspace) -> None:
    ws = site
    ws.cli("plan", "m.yaml", *GIVEN, "--target", "videos/a.mp4", "--out", "p.json", code=0)
    r = ws.cli("apply", "p.json", "--target", "poster", "--state", "other.lock.json", code=1)
    assert (
        "error: --target poster and --state other.lock.json contradict the saved plan p.json (made with "
        "--target videos/a.mp4 and the state s t.lock.json)" in r.stderr
    )
    made = pasted(ws.dir, printed_command(r.stderr, "plan"))  # the plan those options make
    assert made.returncode == 0 and "2 to create" in made.stdout, made.stderr
    saved = json.loads((ws.dir / "plan.json").read_text())
    assert saved["state"]["path"] == "other.lock.json" and saved["selection"]["targets"] == ["poster"]
    r = ws.cli("retry", "p.json", code=1)
    assert "p.json is a saved plan: retry takes a manifest" in r.stderr
    assert not (ws.dir / STATE).exists()
    # The plan's own options, spelt another way, change nothing: it applies.
    r = ws.cli("apply", "p.json", "--target", "videos/a.mp4", "--state", f"./{STATE}", "--refresh", code=0)
    assert "1 created" in r.stdout and set(jobs(ws)) == {"videos/a.mp4::poster"}
    pasted_retry = pasted(ws.dir, printed_command(ws.cli("retry", "p.json", code=1).stderr, "apply"))
    assert pasted_retry.returncode == 1 and "stale" in pasted_retry.stderr  # applied once already


def test_a_damaged_saved_plan_names_the_plan_of_its_manifest_with_its_values(site: Workspace) -> None:
    ws = site
    ws.cli("plan", "m.yaml", *GIVEN, "--out", "p.json", code=0)
    doc = json.loads((ws.dir / "p.json").read_text())
    doc["changes"] = "torn"
    (ws.dir / "p.json").write_text(json.dumps(doc))
    r = ws.cli("apply", "p.json", code=1)
    assert "p.json: the saved plan is damaged at changes" in r.stderr
    made = pasted(ws.dir, printed_command(r.stderr, "plan"))
    assert made.returncode == 0, made.stderr
    made_doc = json.loads((ws.dir / "plan.json").read_text())
    assert made_doc["variables"] == VALUES and made_doc["state"]["path"] == STATE

"""A printed command does no more than the run that printed it was asked to.

A run narrowed by ``--target`` / ``--exclude`` (typed, or fixed in a saved plan) names a prune, a
retry or an apply to paste next: each must act on the same jobs. Without the selection, a pasted prune
deletes the outputs of forgotten jobs the run left out, an apply makes the changes it left out, a retry
resubmits failures it did not show. Each test pastes the printed command verbatim in a real shell
(``helpers.pasted``) and checks what it did to the files. Also the saved plan's own edges: a plan file
moved away from its manifest, ``--out`` into a folder that is not there. Real files, the local engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import HEADER, Workspace, read_jobs
from tests.helpers import both, engine_jobs, pasted, printed_command

THREE = HEADER + "inputs: [videos/a.mp4, videos/b.mp4, videos/c.mp4]\n"
POSTER = 'rules:\n  - {id: poster, time: 1s, output: "p/{FileName}.jpg"}\n'


@pytest.fixture
def here(ws: Workspace, video_4s: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    for name in ("a", "b", "c"):
        ws.add_video(video_4s, f"videos/{name}.mp4")
    ws.write(THREE + POSTER)
    monkeypatch.chdir(ws.dir)
    return ws


def test_a_targeted_apply_names_a_prune_of_its_own_jobs(here: Workspace) -> None:
    """c left the manifest (its record waits to be forgotten, its poster to be pruned); a run targeted
    at b replaces b. The prune it prints must not delete c's poster: the run left c out. The same for a
    saved plan made with that target, applied from another folder."""
    ws = here
    ws.cli("apply", "m.yaml", code=0)
    ws.write(THREE.replace(", videos/c.mp4", "") + POSTER.replace("time: 1s", "time: 2s"))
    (ws.oss / "media-in" / "videos" / "b.mp4").unlink()  # b's replacement fails: its old poster stays
    sel = ("--target", "videos/[b]*", "--replace", "videos/b.mp4::poster")
    r = ws.cli("apply", "m.yaml", *sel, code=3)
    prune = printed_command(r.stdout, "prune")
    done = pasted(ws.dir, prune)
    assert done.returncode == 0, done.stderr
    assert ws.out("p/c.jpg").is_file() and "videos/c.mp4::poster" in read_jobs(ws.state), prune

    (ws.oss / "media-in" / "videos" / "a.mp4").unlink()  # the same for a, by a saved plan
    sel = ("--target", "videos/[a]*", "--replace", "videos/a.mp4::poster")
    ws.cli("plan", "m.yaml", *sel, "--out", "my plan.json", code=0)
    elsewhere = ws.dir / "other dir"
    elsewhere.mkdir()
    done = pasted(elsewhere, "specrunner apply '../my plan.json'")
    assert done.returncode == 3, done.stderr
    prune = printed_command(done.stdout, "prune")
    assert prune.startswith("specrunner prune ../m.yaml --target 'videos/[a]*'"), prune
    pruned = pasted(elsewhere, prune)
    assert pruned.returncode == 0, pruned.stderr
    assert ws.out("p/c.jpg").is_file() and "videos/c.mp4::poster" in read_jobs(ws.state)


def test_a_targeted_run_names_an_apply_of_its_own_jobs(here: Workspace) -> None:
    """A run targeted at a: its async job still running names an apply that picks it up; pasted, it
    submits nothing for b and c (the changes the run left out)."""
    ws = here
    seq = '{id: seq, time: 0, interval: 1, num: 3, frame_type: normal, output: "s/{FileName}/{Count}.jpg"}'
    ws.write(f"{THREE}rules:\n  - {seq}\n")
    r = ws.cli("apply", "m.yaml", "--target", "videos/a.mp4", "--no-wait", code=4)
    apply = printed_command(r.stdout.split("Still running")[1], "apply")
    done = pasted(ws.dir, apply)
    assert done.returncode == 0, (apply, done.stdout, done.stderr)
    assert set(read_jobs(ws.state)) == {"videos/a.mp4::seq"}, apply
    assert {j["Input"]["Object"] for j in engine_jobs(ws)} == {"videos%2Fa.mp4"}


def test_a_targeted_run_and_plan_name_a_retry_of_their_own_failures(here: Workspace, video_4s: Path) -> None:
    """Every job failed once (the inputs were gone); a run targeted at a and b keeps theirs failed and
    names the retry; so does a plan that excludes c. Pasted once the cause is gone, c stays failed."""
    ws = here
    for name in ("a", "b", "c"):
        (ws.oss / "media-in" / "videos" / f"{name}.mp4").unlink()
    ws.cli("apply", "m.yaml", code=3)
    r = ws.cli("apply", "m.yaml", "--target", "videos/[ab].mp4", code=3)
    assert "Still failed (2)" in r.stdout
    retry = printed_command(r.stdout, "retry")
    r = ws.cli("plan", "m.yaml", "--exclude", "videos/c.mp4", code=0)
    assert printed_command(r.stdout, "retry") == "specrunner retry m.yaml --exclude videos/c.mp4"
    for name in ("a", "b", "c"):
        ws.add_video(video_4s, f"videos/{name}.mp4")  # the cause is gone
    again = pasted(ws.dir, retry)
    assert again.returncode == 0 and "2 retried" in again.stdout, (retry, again.stdout, again.stderr)
    assert read_jobs(ws.state)["videos/c.mp4::poster"]["state"] == "Fail"


def test_a_plan_file_moved_away_from_its_manifest_says_so(here: Workspace) -> None:
    """A plan file names its manifest relative to itself: moved, it names none. One error saying so,
    not "file not found" with a hint that writes a starter manifest there."""
    ws = here
    ws.cli("plan", "m.yaml", "--out", "p.json", code=0)
    (ws.dir / "a" / "b").mkdir(parents=True)
    (ws.dir / "p.json").rename(ws.dir / "a" / "b" / "p.json")
    for verb in ("apply", "show"):
        r = ws.cli(verb, "a/b/p.json", code=1)
        assert (
            "error: a/b/p.json: the manifest it was made from is not at a/b/m.yaml (the plan names it "
            "m.yaml, from the plan file's own folder)" in r.stderr
        ), r.stderr
        assert "init" not in r.stderr and "move the plan file back" in r.stderr
    r = ws.cli("apply", "a/b/p.json", "--format", "json", code=1)
    assert "the manifest it was made from is not at" in json.loads(r.stdout)["message"]
    assert not (ws.dir / "a" / "b" / "m.yaml").exists() and not ws.state.exists()


def test_a_plan_saved_into_a_missing_folder_is_one_error(here: Workspace) -> None:
    r = here.cli("plan", "m.yaml", "--out", "plans dir/p.json", code=1)
    assert r.stderr.startswith("error: --out plans dir/p.json: cannot write the plan: "), r.stderr
    assert "hint: create the folder plans dir first" in r.stderr and "bug" not in r.stderr


def test_show_json_of_a_plan_file_names_a_show_that_runs(here: Workspace) -> None:
    here.cli("plan", "m.yaml", "--out", "my plan.json", code=0)
    r = here.cli("show", "my plan.json", "--format", "json", code=1)
    show = printed_command(json.loads(r.stdout)["hint"], "show")
    done = pasted(here.dir, show)
    assert done.returncode == 0 and "The plan is current" in done.stdout, (show, done.stderr)


@pytest.mark.parametrize("verb", ["plan", "prune", "refresh", "outputs", "state list", "force-unlock"])
def test_a_plan_file_given_where_a_manifest_belongs_is_one_error(here: Workspace, verb: str) -> None:
    """Read as a manifest, a plan file's fields were reported as manifest problems; the state verbs
    called it "nor a saved plan". One error saying what it is; the command it names runs."""
    here.cli("plan", "m.yaml", "--out", "my plan.json", code=0)
    extra = ("0" * 8,) if verb == "force-unlock" else ()
    r = here.cli(*verb.split(), "my plan.json", *extra, code=1)
    assert r.stderr.startswith(
        f"error: my plan.json is a saved plan: `{verb}` takes a manifest (this plan was made from m.yaml)"
    ), r.stderr
    shown = pasted(here.dir, printed_command(r.stderr, "show"))
    assert shown.returncode == 0 and "The plan is current" in shown.stdout, shown.stderr
    if verb == "plan":  # the fast path (no CLI framework) says the same
        assert both(here.dir, "plan", "my plan.json") == (1, "", r.stderr.rstrip("\n"))

"""state mv / state show, full messages in show, durations and working hints around the lock."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from specrunner.statefile.locking import acquire
from tests.conftest import HEADER, Workspace

LONG = "videos/a-rather-long-folder-name/b-with-an-even-longer-file-name.mp4"
MANIFEST = (
    HEADER
    + """\
inputs: [videos/a.mp4, videos/b.mp4]
rules:
  - {id: poster, time: 1s, output: "p/{FileName}.jpg"}
"""
)


def test_state_mv_renames_a_rule_without_resubmitting_and_the_plan_is_a_noop(
    ws: Workspace, video_4s: Path
) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.add_video(video_4s, "videos/b.mp4")
    ws.write(MANIFEST)
    ws.cli("apply", ws.manifest, code=0)
    before = json.loads(ws.state.read_text())
    ws.write(MANIFEST.replace("id: poster", "id: cover"))
    r = ws.cli("plan", ws.manifest, code=0)
    assert "2 to create" in r.stdout and "2 to forget" in r.stdout
    said = " ".join(r.stdout.split())  # the warning is wrapped to 80 columns, never inside a command
    assert f"(a rename?): `specrunner state mv {ws.manifest} poster cover` keeps their records" in said
    assert f"`specrunner state mv {ws.manifest} poster cover`" in r.stdout
    # ... or the manifest's own rename, which CI applies with the change (every environment's state).
    assert "`moved: [{from: poster, to: cover}]`" in said
    r = ws.cli("state", "mv", ws.manifest, "poster", "cover", code=0)
    assert (
        "Moved videos/a.mp4::poster -> videos/a.mp4::cover" in r.stdout
        and "nothing was submitted" in r.stdout
    )
    r = ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0)
    assert "No changes." in r.stdout
    after = json.loads(ws.state.read_text())
    assert after["serial"] == before["serial"] + 1
    assert after["jobs"]["videos/a.mp4::cover"]["job_id"] == before["jobs"]["videos/a.mp4::poster"]["job_id"]
    assert ws.jobs()["videos/a.mp4::cover"]["rule"] == "cover"
    # A job key too, and back.
    ws.write(MANIFEST)
    ws.cli("state", "mv", ws.manifest, "videos/a.mp4::cover", "videos/a.mp4::poster", code=0)
    ws.cli("state", "mv", ws.manifest, "videos/b.mp4::cover", "videos/b.mp4::poster", code=0)
    ws.cli("plan", ws.manifest, "--detailed-exitcode", code=0)


def test_state_mv_refuses_a_different_request_an_unknown_target_or_a_taken_key(
    ws: Workspace, video_4s: Path
) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.add_video(video_4s, "videos/b.mp4")
    ws.write(MANIFEST)
    ws.cli("apply", ws.manifest, code=0)
    before = ws.state.read_bytes()
    ws.write(MANIFEST.replace("id: poster, time: 1s", "id: cover, time: 2s"))
    r = ws.cli("state", "mv", ws.manifest, "poster", "cover", code=1)
    assert "the request differs (time: 1s -> 2s); a rename would hide a change" in r.stderr
    r = ws.cli("state", "mv", ws.manifest, "poster", "covr", code=1)
    assert "has no job videos/a.mp4::covr" in r.stderr
    r = ws.cli("state", "mv", ws.manifest, "postr", "cover", code=1)
    assert "'postr' is no job key, rule id or input id in the state; closest: poster" in r.stderr
    ws.write(MANIFEST)
    r = ws.cli("state", "mv", ws.manifest, "videos/a.mp4::poster", "videos/b.mp4::poster", code=1)
    assert "is in the state already" in r.stderr
    assert ws.state.read_bytes() == before


def test_state_show_and_show_print_whole_messages(ws: Workspace, video_4s: Path) -> None:
    ws.add_video(video_4s, "videos/a.mp4")  # b is missing: its job fails with a long message
    ws.write(MANIFEST.replace("videos/b.mp4", LONG))
    ws.cli("apply", ws.manifest, code=3)
    rec = ws.jobs()[f"{LONG}::poster"]
    assert len(rec["message"]) > 60
    shown = ws.cli("show", ws.manifest, code=0).stdout
    # The error wrapped under its row, whole (a word longer than the line runs on, never cut).
    assert rec["message"] in " ".join(shown.split())
    assert rec["message"] in ws.cli("show", ws.manifest, "-v", code=0).stdout  # one line per job
    out = ws.cli("state", "show", ws.manifest, f"{LONG}::poster", code=0).stdout
    assert "code         = InvalidParameter.ResourceNotFound" in out
    assert rec["message"] in out and "time = 1s" in out and 'output = "p/{FileName}.jpg"' in out
    doc = json.loads(ws.cli("state", "show", ws.manifest, f"{LONG}::poster", "--format", "json").stdout)
    assert doc["record"] == rec
    r = ws.cli("state", "show", ws.manifest, f"{LONG}::postr", code=1)
    assert f"closest: {LONG}::poster" in r.stderr and f"specrunner state list {ws.manifest}" in r.stderr


def test_lock_timeout_takes_a_duration_says_whom_it_waits_for_and_hints_a_working_command(
    ws: Workspace, video_4s: Path
) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(MANIFEST)
    ws.cli("apply", ws.manifest, "--timeout", "90s", code=3)
    with acquire(ws.state, "apply") as held:
        r = ws.cli("apply", ws.manifest, "--lock-timeout", "300ms", code=1)
        assert f"waiting for the lock held by apply (lock id {held.info['id']})" in r.stderr
        assert "(up to 0.3s)" in r.stderr
        command = f"specrunner force-unlock {ws.manifest} {held.info['id']}"
        assert f"`{command}`" in r.stderr and "--lock-timeout 5m" in r.stderr
        assert shlex.split(command)[2:] == [str(ws.manifest), held.info["id"]]
    r = ws.cli("apply", ws.manifest, "--lock-timeout", "5 minutes", code=1)
    assert "Invalid value for '--lock-timeout': cannot read '5 minutes' as a duration" in r.stderr
    ws.cli("apply", ws.manifest, "--lock-timeout", "5m", code=3)  # got the lock; the earlier failure stands


def test_outputs_lists_every_produced_object_with_its_job(ws: Workspace, video_4s: Path) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.add_video(video_4s, "videos/b.mp4")
    ws.write(
        MANIFEST.replace(
            "rules:\n",
            'rules:\n  - {id: seq, time: 0, num: 2, interval: 1s, output: "s/{FileName}/{Count}.jpg"}\n',
        )
    )
    r = ws.cli("outputs", ws.manifest, code=0)
    assert "No state file at" in r.stdout  # nothing applied yet
    ws.cli("apply", ws.manifest, code=0)
    r = ws.cli("outputs", ws.manifest, "--format", "json", code=0)
    rows = json.loads(r.stdout)["outputs"]
    recorded = {o for rec in ws.jobs().values() for o in rec["outputs"]}
    assert {f"{x['bucket']}/{x['key']}" for x in rows} == recorded and len(rows) == 6  # 2 posters + 2 x 2
    assert all((ws.oss / x["bucket"] / x["key"]).is_file() and x["state"] == "Success" for x in rows)
    r = ws.cli("outputs", ws.manifest, "--target", "seq", "--exclude", "videos/b.mp4", code=0)
    assert r.stdout.count("videos/a.mp4::seq") == 2 and "poster" not in r.stdout
    assert "2 objects from 1 job." in r.stdout
    r = ws.cli("outputs", ws.manifest, "--target", "sequence", code=1)
    assert "--target 'sequence' matches no job" in r.stderr


def test_show_knows_what_it_is_given(ws: Workspace, video_4s: Path) -> None:
    """A saved plan renders as the plan, saying whether `apply PLANFILE` would still take it; a file
    that is neither a manifest nor a plan is an error, not "no state yet"."""
    ws.add_video(video_4s, "videos/a.mp4")
    ws.add_video(video_4s, "videos/b.mp4")
    ws.write(MANIFEST)
    plan = ws.dir / "p.plan.json"
    ws.cli("plan", ws.manifest, "--out", plan, code=0)
    r = ws.cli("show", plan, code=0)
    assert "Plan: 2 to create" in r.stdout and f"The plan is current: `specrunner apply {plan}`" in r.stdout
    ws.cli("apply", ws.manifest, code=0)
    r = ws.cli("show", plan, code=0)
    # Stale: said first (with the command that makes a new plan), then what a new plan would do now,
    # never the current plan shown under the saved plan's name as if it were that plan.
    assert "no longer current" in r.stdout and "would refuse it" in r.stdout
    assert r.stdout.index("no longer current") < r.stdout.index("What a new plan would do now:")
    assert r.stdout.index("What a new plan would do now:") < r.stdout.index("Plan: ")
    assert "--out plan.json" in r.stdout
    junk = ws.dir / "junk.yaml"
    junk.write_text("foo: bar\n")
    for command in (("show",), ("state", "list"), ("outputs",)):
        r = ws.cli(*command, junk, code=1)
        assert "not a specrunner manifest" in r.stderr, (command, r.stderr)
    r = ws.cli("show", ws.manifest, code=0)
    assert "2 jobs (2 Success)" in r.stdout

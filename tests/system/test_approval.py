"""See before you pay: apply on aliyun shows the plan and asks for `yes` on a terminal (a real pty),
refuses without one unless --auto-approve or a saved plan; the local engine never asks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from specrunner.emulator.server import Emulator
from tests.conftest import HEADER, Workspace
from tests.helpers import on_a_terminal, pasted, printed_command, printed_commands

MANIFEST = """\
version: 1
target: {backend: aliyun, region: cn-shanghai}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs: [videos/a.mp4]
rules:
  - {id: p, time: 1s, output: "p/{FileName}.jpg"}
"""


@pytest.fixture
def emu(ws: Workspace, monkeypatch: pytest.MonkeyPatch):
    with Emulator(ws.oss, {"rAK": "r-secret"}) as e:
        monkeypatch.setenv("SPECRUNNER_MTS_ENDPOINT", e.url)
        monkeypatch.setenv("SPECRUNNER_OSS_ENDPOINT", e.url)  # the plan refreshes against its OSS
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "rAK")
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "r-secret")
        yield e


def submits(emu: Emulator) -> int:
    return sum(1 for e in emu.requests() if e["action"] == "SubmitSnapshotJob")


def test_aliyun_apply_shows_the_plan_then_asks_and_yes_applies(
    ws: Workspace, video_4s: Path, emu: Emulator
) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(MANIFEST)
    code, out = on_a_terminal(ws, "no", "apply", "m.yaml")
    assert code == 1, out
    assert out.index("+ create (1):") < out.index("Do you want to perform these actions on aliyun")
    assert "apply cancelled: the answer was not 'yes'; nothing was submitted" in out
    assert submits(emu) == 0 and not ws.state.exists()
    code, out = on_a_terminal(ws, "yes", "apply", "m.yaml")
    assert code == 0, out
    assert "Apply complete: 1 created" in out and submits(emu) == 1


def test_aliyun_apply_without_a_terminal_is_refused_unless_auto_approve_or_a_saved_plan(
    ws: Workspace, video_4s: Path, emu: Emulator
) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(MANIFEST)
    r = ws.cli("apply", ws.manifest, code=1)
    assert "+ create (1):" in r.stdout  # the plan is shown first
    assert (
        "refusing to apply on aliyun (Alibaba Cloud MTS, billed per job) without approval: no terminal"
        in r.stderr
    )
    assert f"specrunner apply {ws.manifest} --auto-approve" in r.stderr
    r = ws.cli("apply", ws.manifest, "--format", "json", code=1)  # one JSON error document on stdout
    refused = json.loads(r.stdout)
    assert refused["kind"] == "specrunner-error" and r.stderr == ""
    assert "JSON / markdown output cannot ask" in refused["message"]
    assert f"review `specrunner plan {ws.manifest}`, then run" in refused["hint"]
    r = ws.cli("apply", ws.manifest, "--target", "p", code=1)  # the hint keeps the selection
    assert f"`specrunner apply {ws.manifest} --target p --auto-approve`" in r.stderr
    assert submits(emu) == 0
    ws.cli("plan", ws.manifest, "--out", ws.dir / "plan.json", code=0)
    ws.cli("apply", ws.dir / "plan.json", code=0)  # a saved plan was reviewed already
    assert submits(emu) == 1
    ws.write(MANIFEST.replace("time: 1s", "time: 2s"))
    r = ws.cli("apply", ws.manifest, "--auto-approve", code=0)
    assert "time: 1s -> 2s" in r.stdout and submits(emu) == 2
    ws.cli("apply", ws.manifest, code=0)  # nothing to do: nothing to approve


def test_local_apply_needs_no_approval_and_a_forget_is_called_out(ws: Workspace, video_4s: Path) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.add_video(video_4s, "videos/b.mp4")
    ws.write(
        HEADER
        + 'inputs: [videos/a.mp4, videos/b.mp4]\nrules:\n  - {id: p, time: 1s, output: "p/{FileName}.jpg"}\n'
    )
    r = ws.cli("apply", ws.manifest, code=0)
    assert r.stdout.index("+ create (2):") < r.stdout.index("Apply complete")
    ws.write(HEADER + 'inputs: [videos/a.mp4]\nrules:\n  - {id: p, time: 1s, output: "p/{FileName}.jpg"}\n')
    r = ws.cli("apply", ws.manifest, code=0)
    assert "Warning: this plan forgets 1 of the 2 jobs recorded" in r.stdout


def test_the_refused_applys_commands_keep_its_state_values_and_refresh_when_pasted(
    ws: Workspace, video_4s: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pasted, the refusal's commands (review the plan; apply with --auto-approve; or save the plan)
    act on the state, the values and the --refresh=false given: the plan reviewed is the one applied."""
    monkeypatch.chdir(ws.dir)
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(
        MANIFEST.replace(
            "version: 1\n", "version: 1\nvariables: {w: {type: number, default: 160}}\n"
        ).replace("time: 1s,", 'time: 1s, width: "${var.w}",')
    )
    given = ("--state", "s t.json", "--var", "w=90", "--refresh=false")
    r = ws.cli("apply", "m.yaml", *given, "--format", "json", code=1)
    refusal = json.loads(r.stdout)  # under --format json the refusal is one JSON document
    said = f"{refusal['message']}\n{refusal.get('hint') or ''}"
    review, save = (c for c in printed_commands(said) if c.startswith("specrunner plan "))
    assert review == "specrunner plan m.yaml --refresh=false --state 's t.json' --var w=90"
    assert save == f"{review} --out plan.json"
    shown = pasted(ws.dir, review)
    assert shown.returncode == 0 and "at 1s 90xauto" in shown.stdout, shown.stderr
    r = ws.cli("apply", "m.yaml", *given, code=1)  # text: the plan above, then the refusal
    auto, apply_saved = (c for c in printed_commands(r.stderr) if c.startswith("specrunner apply "))
    assert auto == "specrunner apply m.yaml --refresh=false --state 's t.json' --var w=90 --auto-approve"
    assert printed_command(r.stderr, "plan") == save
    saved = pasted(ws.dir, save)
    assert (
        saved.returncode == 0
        and json.loads((ws.dir / "plan.json").read_text())["selection"]["refresh"] is False
    )
    done = pasted(ws.dir, apply_saved)  # a saved plan was reviewed: no approval asked
    assert done.returncode == 0 and "1 created" in done.stdout, done.stderr
    assert submits(emu) == 1 and (ws.dir / "s t.json").is_file() and not ws.state.exists()
    done = pasted(ws.dir, auto)  # the same environment: nothing left to do
    assert done.returncode == 0 and "1 unchanged" in done.stdout and submits(emu) == 1, done.stderr

"""Wrong secret, unknown key, missing credentials, unreachable endpoint: one clear line each, exit 1,
nothing recorded as done that was not (the real CLI, the real SDK, the emulator)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from specrunner.emulator.server import Emulator
from tests.conftest import Workspace
from tests.helpers import free_port

MANIFEST = """\
version: 1
target: {backend: aliyun, region: cn-shanghai}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs: [videos/a.mp4, videos/b.mp4]
rules:
  - {id: p, time: 1s, output: "p/{FileName}.jpg"}
  - {id: s, time: 0, num: 2, interval: 1, output: "s/{FileName}/{Count}.jpg"}
"""


def apply(ws: Workspace, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "ALIYUN_"))}
    return subprocess.run(
        [sys.executable, "-m", "specrunner", "apply", "m.yaml", "--auto-approve"],
        cwd=ws.dir,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "case,needle",
    [
        ("wrong-secret", "secret is wrong"),
        ("unknown-key", "does not exist"),
        ("missing", "ALIBABA_CLOUD_ACCESS_KEY_ID"),
        ("unreachable", "cannot reach MTS"),
    ],
)
def test_one_clear_line_exit_1_nothing_recorded(
    ws: Workspace, video_4s: Path, case: str, needle: str
) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.add_video(video_4s, "videos/b.mp4")
    ws.write(MANIFEST)
    with Emulator(ws.oss, {"goodAK": "good-secret"}, journal=ws.dir / "j.jsonl") as emu:
        env = {
            "SPECRUNNER_MTS_ENDPOINT": emu.url,
            "SPECRUNNER_OSS_ENDPOINT": emu.url,  # the refresh lists the outputs there
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "goodAK",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "good-secret",
        }
        assert apply(ws, env).returncode == 0  # a good run first: its records must survive
        before = ws.state.read_bytes()
        ws.write(MANIFEST.replace("time: 1s", "time: 2s"))  # so the next apply has work to do
        if case == "wrong-secret":
            env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = "bad-secret"
        elif case == "unknown-key":
            env["ALIBABA_CLOUD_ACCESS_KEY_ID"] = "nobodyAK"
        elif case == "missing":
            del env["ALIBABA_CLOUD_ACCESS_KEY_ID"], env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]
        else:
            env["SPECRUNNER_MTS_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
        r = apply(ws, env)
        created_after = sum(
            1 for e in emu.requests() if e["action"] == "SubmitSnapshotJob" and e.get("job_id")
        )
    assert r.returncode == 1, (r.stdout, r.stderr)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], r.stderr
    assert "Traceback" not in r.stderr
    assert ws.state.read_bytes() == before  # nothing recorded as done, nothing lost
    assert created_after == 4  # only the first good run created jobs
    assert all(rec["state"] == "Success" for rec in ws.jobs().values())

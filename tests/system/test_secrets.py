"""Credentials and STS tokens never reach any file or stream a full run produces."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from specrunner.emulator.server import Emulator
from tests.conftest import Workspace

AK = "testAKsecretprobe"
SECRET = "S3cr3t-Zq9xWv7Kp2Lm8Nb4"  # recognisable: grep for it everywhere
TOKEN = "STS-T0ken-Hj6Yu3Rt5Ew1Qa0"

MANIFEST = """\
version: 1
target: {backend: aliyun, region: cn-shanghai, pipeline_id: pipe01}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs: [videos/a.mp4, videos/missing.mp4]
rules:
  - {id: p, time: 1s, output: "p/{FileName}.jpg", user_data: visible-user-data}
  - {id: s, time: 0, num: 2, interval: 1, output: "s/{FileName}/{Count}.jpg"}
"""


def run(ws: Workspace, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "ALIYUN_"))}
    return subprocess.run(
        [sys.executable, "-m", "specrunner", *args],
        cwd=ws.dir,
        env={**base, **env, "DEBUG": "sdk"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("secret_env", ["ALIBABA_CLOUD", "ALIYUN"])
def test_no_secret_in_any_file_or_stream(ws: Workspace, video_4s: Path, secret_env: str) -> None:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(MANIFEST)
    journal = ws.dir / "emulator.jsonl"
    with Emulator(ws.oss, {AK: SECRET}, journal=journal, drop_rate=0.2, error_rate=0.1, seed=7) as emu:
        env = {
            f"{secret_env}_ACCESS_KEY_ID": AK,
            f"{secret_env}_ACCESS_KEY_SECRET": SECRET,
            "SPECRUNNER_MTS_ENDPOINT": emu.url,
        }
        if secret_env == "ALIBABA_CLOUD":
            env["ALIBABA_CLOUD_SECURITY_TOKEN"] = TOKEN
            emu_keys_note = "sts"
        else:
            emu_keys_note = "ak"
        streams = []
        for args in (
            ["validate", "m.yaml"],
            ["plan", "m.yaml", "--out", "plan.json"],
            ["apply", "plan.json", "--verbose"],
            ["apply", "m.yaml", "--format", "json", "--auto-approve"],
            ["apply", "m.yaml", "--format", "markdown", "--auto-approve"],
            ["refresh", "m.yaml"],
            ["show", "m.yaml"],
            ["retry", "m.yaml", "--verbose", "--auto-approve"],
        ):
            r = run(ws, env, *args)
            streams += [r.stdout, r.stderr]
            assert "Traceback" not in r.stderr, r.stderr
        # a wrong secret: the SDK's error embeds the string-to-sign; our message must not leak anything
        bad = {**env, f"{secret_env}_ACCESS_KEY_SECRET": SECRET[::-1]}
        r = run(ws, bad, "retry", "m.yaml", "--verbose", "--auto-approve")  # failed jobs: resubmitted
        assert r.returncode in (1, 3)
        streams += [r.stdout, r.stderr]
    assert any("visible-user-data" in p.read_text(errors="replace") for p in ws.dir.rglob("*.json")), (
        emu_keys_note
    )
    everything = "\n".join(streams)
    for path in ws.dir.rglob("*"):
        if path.is_file():
            everything += path.read_bytes().decode("utf-8", errors="replace")
    for needle in (SECRET, SECRET[::-1], TOKEN):
        assert needle not in everything

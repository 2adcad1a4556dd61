"""Ctrl-C against the emulator (real SDK, slow answers): after the first, nothing new is submitted;
a second exits at once; either way the next apply finishes with every job created exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from specrunner.emulator.server import Emulator
from tests.conftest import Workspace

PARALLELISM = 4


def manifest(n: int) -> str:
    inputs = "\n".join(f"  - v/{i:03d}.mp4" for i in range(n))
    return (
        "version: 1\ntarget: {backend: aliyun, region: cn-shanghai}\n"
        "defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}\n"
        f'inputs:\n{inputs}\nrules:\n  - {{id: p, time: 0, num: 1, output: "p/{{FileName}}.jpg"}}\n'
    )


def submits(journal: Path) -> list[dict]:
    if not journal.exists():
        return []
    text = journal.read_text()
    # Read while the emulator may be writing: only complete lines (a line ends with its newline).
    complete = text[: text.rfind("\n") + 1]
    entries = [json.loads(line) for line in complete.splitlines() if line.strip()]
    return [e for e in entries if e["action"] == "SubmitSnapshotJob" and e.get("job_id")]


def spawn(
    ws: Workspace, url: str, parallelism: int = PARALLELISM, extra: tuple[str, ...] = ()
) -> subprocess.Popen[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "ALIYUN_"))},
        "SPECRUNNER_MTS_ENDPOINT": url,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "iAK",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "i-secret",
        "SPECRUNNER_UNCERTAIN_GRACE": "0",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "specrunner",
            "apply",
            "m.yaml",
            "-p",
            str(parallelism),
            "--auto-approve",
            "--no-wait",
            *extra,
        ],
        cwd=ws.dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(cond, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("twice", [False, True], ids=["one-interrupt", "two-interrupts"])
def test_ctrl_c_stops_submitting_and_a_second_exits_at_once_leaving_the_state_recoverable(
    ws: Workspace, twice: bool
) -> None:
    n = 40
    ws.write(manifest(n))
    journal = ws.dir / "emu.jsonl"
    with Emulator(ws.oss, {"iAK": "i-secret"}, latency_ms=100, simulate=True, journal=journal) as emu:
        p = spawn(ws, emu.url)
        wait_until(lambda: len(submits(journal)) >= 8)
        p.send_signal(signal.SIGINT)
        at_signal = len(submits(journal))
        if twice:
            time.sleep(0.05)
            p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 130, (out, err)
        assert "Interrupted (SIGINT): no new submissions" in err
        if twice:
            assert "Two interrupts received: exiting immediately. The state is recoverable" in err
        else:
            assert "Apply interrupted" in out
        time.sleep(0.5)  # requests already in the emulator's hands are journaled when they end
        after = len(submits(journal))
        assert after - at_signal <= PARALLELISM, (at_signal, after)  # only the calls in flight ended
        assert after < n
        # The next apply picks everything up: every job exactly once, all in the lock file.
        p = spawn(ws, emu.url, parallelism=32)
        out, err = p.communicate(timeout=120)
        assert p.returncode in (0, 4), (out, err)
        created = submits(journal)
        by_key: dict[str, int] = {}
        for e in created:
            by_key[e["params"]["Input"]] = by_key.get(e["params"]["Input"], 0) + 1
        assert len(created) == n and all(v == 1 for v in by_key.values()), by_key
        state = ws.jobs()
        assert {r["job_id"] for r in state.values()} == {e["job_id"] for e in created}


@pytest.mark.parametrize("twice", [False, True], ids=["one-interrupt", "two-interrupts"])
def test_under_json_an_interrupted_apply_leaves_one_document_on_stdout(ws: Workspace, twice: bool) -> None:
    """`apply --format json` interrupted: stdout is still one JSON document that validates (the apply
    document once the state is saved; the error document when a second interrupt exits at once),
    with exit code 130 as in text mode; the next apply records every job exactly once."""
    import jsonschema

    from specrunner.validate.schema import load_schema

    n = 40
    ws.write(manifest(n))
    journal = ws.dir / "emu.jsonl"
    with Emulator(ws.oss, {"iAK": "i-secret"}, latency_ms=100, simulate=True, journal=journal) as emu:
        p = spawn(ws, emu.url, extra=("--format", "json"))
        wait_until(lambda: len(submits(journal)) >= 8)
        p.send_signal(signal.SIGINT)
        if twice:
            time.sleep(0.05)
            p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 130, (out, err)
        doc = json.loads(out)
        schema = "error.v1.json" if twice else "apply.v1.json"
        jsonschema.Draft202012Validator(load_schema(schema)).validate(doc)
        assert doc["exit_code"] == 130
        if twice:
            assert doc["kind"] == "specrunner-error"
            assert doc["message"].startswith("two interrupts received: exited at once"), doc
            assert doc["hint"] == "`specrunner plan m.yaml` shows the state and any submission in flight"
        else:
            assert doc["kind"] == "specrunner-apply"
        time.sleep(0.5)  # requests already in the emulator's hands are journaled when they end
        p = spawn(ws, emu.url, parallelism=32)
        out, err = p.communicate(timeout=120)
        assert p.returncode in (0, 4), (out, err)
        created = submits(journal)
        assert len(created) == n and len({e["params"]["Input"] for e in created}) == n
        assert {r["job_id"] for r in ws.jobs().values()} == {e["job_id"] for e in created}

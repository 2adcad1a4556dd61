"""Credentials and STS tokens never reach any file or stream a full run produces."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import pytest

from specrunner.emulator.server import Emulator
from tests.conftest import Workspace, read_jobs
from tests.helpers import serving

AK = "testAKsecretprobe"
SECRET = "S3cr3t-Zq9xWv7Kp2Lm8Nb4"  # recognisable: grep for it everywhere
TOKEN = "STS-T0ken-Hj6Yu3Rt5Ew1Qa0"

MANIFEST = """\
version: 1
target: {backend: aliyun, region: cn-shanghai, pipeline_id: a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1}
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


# ---------------------------------------------------------------------------------------------
# A server that echoes the request: the STS token comes back URL-encoded, JSON- or XML-escaped

# An STS token has the characters that change when encoded: "/", "+", "=". Its letter-and-digit runs
# appear in every form (raw, %2F or %2f, quote_plus, \/, encoded twice): none may reach anything.
ECHO_TOKEN = "STStokA1b2C3d4E5/F6g7H8i9J0k+L1m2N3o4P5q=R6s7T8u9V0w=="
TOKEN_RUNS = [run for run in re.split(r"[^A-Za-z0-9]+", ECHO_TOKEN) if len(run) >= 8]

ECHO_MANIFEST = """\
version: 1
target: {backend: aliyun, region: cn-shanghai}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs: [videos/a.mp4, videos/b.mp4]
rules:
  - {id: p, time: 1s, output: "p/{FileName}.jpg"}
  - {id: s, time: 0, num: 2, interval: 1, output: "s/{FileName}/{Count}.jpg"}
"""


def token_forms(request: str) -> str:
    """What an echoing server writes: the token in every usual encoding, then the request as received."""
    t = ECHO_TOKEN
    lower = re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(t, safe=""))
    return " | ".join(
        [
            "quote: " + quote(t, safe=""),
            "quote keeping /: " + quote(t),
            "quote_plus: " + quote_plus(t),
            "lower-case hex: " + lower,
            "json: " + json.dumps({"SecurityToken": t}).replace("/", "\\/"),
            "twice: " + quote(quote(t, safe=""), safe=""),
            "request: " + request,
        ]
    )


class EchoHandler(BaseHTTPRequestHandler):
    """MTS RPC (JSON) and OSS ListObjectsV2 (XML) answers whose messages echo the request."""

    jobs: dict[str, dict[str, Any]]
    seen: list[str]

    def log_message(self, format: str, *args: Any) -> None:  # never logs a request (it has the token)
        pass

    def do_GET(self) -> None:
        self.answer(b"")

    def do_POST(self) -> None:
        self.answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def answer(self, body: bytes) -> None:
        query = urlsplit(self.path).query
        raw = f"{self.command} {self.path} {body.decode(errors='replace')} {dict(self.headers.items())}"
        params = {k: v[-1] for k, v in parse_qs(query + "&" + body.decode(errors="replace")).items()}
        self.seen.append(raw)
        if "Action" not in params:  # OSS: the token came in the x-oss-security-token header
            msg = token_forms(raw).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidArgument</Code>'
                f"<Message>{msg}</Message><RequestId>echo-1</RequestId><HostId>echo</HostId></Error>"
            )
            self.send(400, xml.encode(), "application/xml", {"x-oss-request-id": "echo-1"})
            return
        action = params["Action"]
        if action == "SubmitSnapshotJob" and '"Num"' not in params.get("SnapshotConfig", ""):
            err = {
                "RequestId": "echo-2",
                "HostId": "echo",
                "Code": "InvalidParameter",
                "Message": token_forms(raw),
            }
            self.send(400, json.dumps(err).encode(), "application/json")
            return
        if action == "SubmitSnapshotJob":  # a job whose Message echoes the request
            job = {
                "Id": uuid.uuid4().hex,
                "State": "Fail",
                "Code": "InvalidParameter",
                "Message": token_forms(raw),
                "UserData": params.get("UserData", ""),
                "PipelineId": params.get("PipelineId", ""),
                "CreationTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "Input": json.loads(params["Input"]),
                "SnapshotConfig": json.loads(params["SnapshotConfig"]),
            }
            self.jobs[job["Id"]] = job
            self.send(
                200, json.dumps({"RequestId": "echo-3", "SnapshotJob": job}).encode(), "application/json"
            )
            return
        ids = [i for i in params.get("SnapshotJobIds", "").split(",") if i]
        found = [self.jobs[i] for i in ids if i in self.jobs] if ids else list(self.jobs.values())
        answer = {
            "RequestId": "echo-4",
            "SnapshotJobList": {"SnapshotJob": found},
            "NonExistSnapshotJobIds": {"String": [i for i in ids if i not in self.jobs]},
        }
        self.send(200, json.dumps(answer).encode(), "application/json")

    def send(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def echo_server() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (EchoHandler,), {"jobs": {}, "seen": seen})
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen


def assert_no_token(text: str) -> None:
    for run in TOKEN_RUNS:
        assert run not in text, (
            f"{run!r} of the token leaked: ...{text[max(0, text.find(run) - 200) :][:400]}..."
        )


def test_a_server_echoing_the_sts_token_encoded_leaks_nothing(
    ws: Workspace, echo_server: tuple[str, list[str]]
) -> None:
    url, seen = echo_server
    ws.write(ECHO_MANIFEST)
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": AK,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
        "ALIBABA_CLOUD_SECURITY_TOKEN": ECHO_TOKEN,
        "SPECRUNNER_MTS_ENDPOINT": url,
    }
    streams = []
    for args in (
        ["apply", "m.yaml", "--auto-approve", "--verbose"],
        ["refresh", "m.yaml"],
        ["show", "m.yaml"],
        ["retry", "m.yaml", "--auto-approve", "--format", "json"],
    ):
        r = run(ws, env, *args)
        assert "Traceback" not in r.stderr, r.stderr
        streams += [r.stdout, r.stderr]
    # The server did get the token, and did echo it: the messages recorded say *** where it was.
    assert any(quote(ECHO_TOKEN, safe="~") in s or ECHO_TOKEN in s for s in seen), seen[:1]
    jobs = read_jobs(ws.state)
    assert {rec["code"] for rec in jobs.values()} == {"InvalidParameter"}, jobs
    for key, rec in jobs.items():
        assert (
            "quote: *** | quote keeping /: *** | quote_plus: *** | lower-case hex: ***" in rec["message"]
        ), (
            key,
            rec["message"],
        )
        assert 'json: {"SecurityToken": "***"} | twice: ***' in rec["message"], rec["message"]
    runs = list((ws.dir / ".specrunner" / "runs").glob("*.json"))
    assert runs and all("***" in p.read_text() for p in runs)
    everything = "\n".join(streams)
    for path in ws.dir.rglob("*"):
        if path.is_file():
            everything += path.read_bytes().decode("utf-8", errors="replace")
    assert_no_token(everything)


def test_an_oss_listing_echoing_the_sts_token_leaks_nothing(
    ws: Workspace, echo_server: tuple[str, list[str]]
) -> None:
    url, seen = echo_server
    ws.write(
        ECHO_MANIFEST.replace(
            "inputs: [videos/a.mp4, videos/b.mp4]", 'inputs: [{prefix: videos/, match: "*.mp4"}]'
        )
    )
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": AK,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
        "ALIBABA_CLOUD_SECURITY_TOKEN": ECHO_TOKEN,
        "SPECRUNNER_OSS_ENDPOINT": url,
        "SPECRUNNER_MTS_ENDPOINT": url,
    }
    r = run(ws, env, "plan", "m.yaml")
    assert r.returncode == 1 and "Traceback" not in r.stderr, (r.stdout, r.stderr)
    assert any(ECHO_TOKEN in s for s in seen), seen[:1]  # sent as a header, as it is
    assert "InvalidArgument (HTTP 400): quote: *** | quote keeping /: *** | quote_plus: ***" in r.stderr, (
        r.stderr
    )
    assert_no_token(r.stdout + r.stderr)

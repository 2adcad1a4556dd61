"""Helpers more than one test module uses (no fixtures: those live in ``conftest.py``; no test doubles:
those live in ``fakes.py``). A test module imports shared code from these three, never from another
test module (``test_layers.py`` checks that)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from specrunner.cli.main import cli
from specrunner.emulator import Emulator
from specrunner.testing.crash import AK, SECRET, _env
from specrunner.testing.video import make_video
from tests.conftest import HEADER, REPO, Workspace, probe, read_jobs


def free_port() -> int:
    """A TCP port nobody listens on (bound once, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(server: ThreadingHTTPServer, stop_within: float = 5.0) -> Iterator[ThreadingHTTPServer]:
    """A test's HTTP server answering in a daemon thread, each connection in a daemon thread of its own
    (never joined), and a bounded teardown: the accept loop must stop within ``stop_within`` seconds
    or the teardown fails saying so, instead of waiting forever in ``shutdown()``."""
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        stopper.join(stop_within)
        server.server_close()
        assert not stopper.is_alive(), f"the test server did not stop within {stop_within} s"


def cli_run(*args: str | Path, code: int | None = None) -> Result:
    """The typer CLI in-process (no workspace), its exit code checked when ``code`` is given."""
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if code is not None:
        assert result.exit_code == code, (result.exit_code, result.output)
    return result


def spawn_cli(ws: Workspace, *args: str) -> subprocess.Popen[str]:
    """``python -m specrunner ARGS`` in the workspace, a real process, without cloud credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "ALIYUN_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "specrunner", *args],
        cwd=ws.dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# ------------------------------------------------------------------------------------ pasted commands

PLACEHOLDERS = re.compile(r"\b(MANIFEST|FILE|KEY|LOCK_ID|PLANFILE)\b")


def printed_commands(text: str) -> list[str]:
    """Every ``specrunner ...`` command ``text`` prints for pasting, in order: backticked ones, and one
    alone after a colon (``...: specrunner apply p.json``) or on a line of its own. None names a
    placeholder (MANIFEST, KEY, ...), none is broken over lines: each must work as it is, pasted whole
    (taken as printed: a run of spaces in a quoted value is part of the value)."""
    found = re.findall(r"`(specrunner [^`]+)`", text)
    for command in found:
        assert "\n" not in command, command
    bare = re.sub(r"`[^`]*`", "", text)
    found += [m.strip() for m in re.findall(r"(?:^|:[ \t]+|^[ \t]+)(specrunner [^\n`]+)$", bare, re.M)]
    for command in found:
        assert not PLACEHOLDERS.search(command), command
    return found


def printed_command(text: str, verb: str) -> str:
    """The one command ``text`` prints for pasting whose verb is ``verb`` (``state show``, ``apply``)."""
    found = {c for c in printed_commands(text) if c.startswith(f"specrunner {verb} ")}
    assert len(found) == 1, (verb, found, text)
    return found.pop()


def pasted(
    cwd: Path, command: str, *, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``command`` (a line specrunner printed) run verbatim by a real shell (bash) in ``cwd``, with
    ``specrunner`` as ``python -m specrunner`` of this checkout; ``env``: the shell's environment
    (default: this process's)."""
    assert command.startswith("specrunner "), command
    env = {
        **(os.environ if env is None else env),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "SPECRUNNER_TEST_PYTHON": sys.executable,
    }
    return subprocess.run(
        ["bash", "-c", 'specrunner() { "$SPECRUNNER_TEST_PYTHON" -m specrunner "$@"; }\n' + command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def engine_jobs(ws: Workspace) -> list[dict[str, Any]]:
    """Every job the workspace's local engine created (its ``.mts/jobs`` records)."""
    return [json.loads(p.read_text()) for p in (ws.oss / ".mts" / "jobs").glob("*.json")]


# ------------------------------------------------------------------------------------ the fast path

VIA_ENTRY = "from specrunner.cli.entry import main; main()"  # the console script: the fast path
VIA_TYPER = "from specrunner.cli.main import main; main()"  # the typer application, always


def both(cwd: Path, *args: str) -> tuple[int, str, str]:
    """The command through the console script's fast path and through typer, each in a fresh
    interpreter: (exit code, stdout, stderr), checked to be the same both ways."""
    fast, framework = probe(VIA_ENTRY, *args, cwd=cwd), probe(VIA_TYPER, *args, cwd=cwd)
    assert "typer" not in fast["modules"]  # type: ignore[operator]  # the fast path did run
    said = (fast["code"], fast["stdout"], fast["stderr"])
    assert said == (framework["code"], framework["stdout"], framework["stderr"])
    assert "Traceback" not in str(fast["stderr"])
    return said  # type: ignore[return-value]


# ------------------------------------------------------------------------------------ OSS


def put_file(root: Path, bucket: str, key: str, data: bytes | None = None) -> Path:
    """An object of the local root (or the emulator's folder): its key as its content unless given."""
    p = root / bucket / key
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data if data is not None else key.encode())
    return p


def listings(em: Emulator) -> list[dict[str, Any]]:
    """The ListObjectsV2 requests the emulator served."""
    return [e for e in em.requests() if e["action"] == "ListObjectsV2"]


@contextmanager
def state_emulator(
    root: Path, bucket: str, monkeypatch: pytest.MonkeyPatch, lease: str | None = None
) -> Iterator[Emulator]:
    """The emulator's MTS and OSS on ``root`` with ``bucket`` for a remote state; the environment points
    specrunner at it with the crash harness's credentials (and a lock lease of ``lease`` seconds)."""
    (root / bucket).mkdir(parents=True)
    with Emulator(root, {AK: SECRET}, simulate=True, simulate_seconds=0.2) as e:
        for k, v in _env(e.url).items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("SPECRUNNER_OSS_ENDPOINT", e.url)
        if lease is not None:
            monkeypatch.setenv("SPECRUNNER_LOCK_LEASE", lease)
        yield e


# ------------------------------------------------------------------------------------ the report

REPORT_RULES = """\
rules:
  - id: poster
    time: 2s
    width: 320
    output: posters/{FileName}.jpg
  - id: seq
    time: 0
    interval: 1
    num: 3
    width: 400
    frame_type: normal
    output: seq/{FileName}/{Count}.jpg
  - id: board
    time: 0
    interval: 1
    num: 4
    frame_type: normal
    output: board/{FileName}/{Count}.jpg
    tile: {lines: 2, columns: 2, cell_width: 80, padding: 2, margin: 2, keep_cells: false,
           output: "sprites/{FileName}-{TileCount}.jpg"}
    inputs: ["clips/*"]
"""

REPORT_MANIFEST = (
    HEADER
    + """\
inputs:
  - clips/a.mp4
  - {id: gone, object: "clips/missing.mp4"}
"""
    + REPORT_RULES
)


def setup_applied(ws: Workspace) -> None:
    """A real local apply: 'clips/a.mp4' is a real 4 s video; 'gone' does not exist (its jobs fail)."""
    video = ws.oss / "media-in" / "clips" / "a.mp4"
    video.parent.mkdir(parents=True)
    make_video(video, duration_s=4, fps=25, width=320, height=240, gop=25)
    ws.write(REPORT_MANIFEST)
    ws.cli("apply", ws.manifest, code=3)


# ------------------------------------------------------------------------------------ OSS permissions


class DenyingProxy(ThreadingHTTPServer):
    """An OSS endpoint whose RAM policy lacks one permission: ``method`` requests (DELETE:
    ``oss:DeleteObject`` of one object; POST: DeleteMultipleObjects too, and AppendObject) are
    answered 403 AccessDenied as OSS answers them; every other request is passed to ``upstream``
    (the emulator) as it is, its signature intact."""

    def __init__(self, upstream: str, method: str = "DELETE") -> None:
        from http.server import BaseHTTPRequestHandler
        from urllib.parse import urlsplit

        self.upstream = urlsplit(upstream).netloc
        self.method = method
        self.denied = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                import http.client

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == proxy.method:
                    proxy.denied += 1
                    bucket = self.path.lstrip("/").partition("/")[0]
                    xml = (
                        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                        "<Message>You have no right to access this object because of bucket acl."
                        f"</Message><RequestId>5F0000000000000000000000</RequestId><HostId>{bucket}"
                        "</HostId></Error>"
                    ).encode()
                    self.send_response(403)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("x-oss-request-id", "5F0000000000000000000000")
                    self.send_header("Content-Length", str(len(xml)))
                    self.end_headers()
                    self.wfile.write(xml)
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                conn.request(self.command, self.path, body, headers=dict(self.headers.items()))
                r = conn.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


# ------------------------------------------------------------------------------------ a terminal


def on_a_terminal(ws: Workspace, answer: str, *args: str) -> tuple[int, str]:
    """Run the real CLI with its stdin/stdout/stderr on a pty; type ``answer`` when it asks."""
    import pty
    import select
    import time

    master, slave = pty.openpty()
    p = subprocess.Popen(
        [sys.executable, "-m", "specrunner", *args],
        cwd=ws.dir,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "COLUMNS": "80"},
        close_fds=True,
    )
    os.close(slave)
    out = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the pty
                break
            if not chunk:
                break
            out += chunk
        if not answered and b"Enter a value:" in out:
            os.write(master, answer.encode() + b"\n")
            answered = True
        if p.poll() is not None and not ready:
            break
    code = p.wait(timeout=30)
    os.close(master)
    return code, out.decode(errors="replace").replace("\r\n", "\n")


def put_outputs(lock: Path, root: Path) -> int:
    """Every object the lock file ``lock`` names, as a small file under ``root`` (the buckets a plan
    refreshes against): a state written elsewhere then finds its outputs. Returns how many."""
    n = 0
    for rec in read_jobs(lock).values():
        for out in rec["outputs"]:
            path = root / out
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"a frame")
                n += 1
    return n

"""Shared fixtures: real videos, real folders, the real CLI.

Found by pytest for every folder below (``unit/<package>/``, ``system/``); test modules import its
helpers as ``from tests.conftest import ...`` and compute paths from ``TESTS`` and ``REPO``, never from
their own ``__file__`` (so a test module can move without breaking a path). Helpers several modules
share are in ``helpers.py``, the test doubles in ``fakes.py``; no test module imports another."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from specrunner.cli.main import cli
from specrunner.testing.video import make_video

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


# What a developer's shell may hold that changes what specrunner, its SDKs or its subprocesses do: cloud
# credentials and profiles (the V1/Tea SDKs, the aliyun CLI, Terraform's ALICLOUD_*), proxies (any
# *_proxy, either case), specrunner's own settings, CA bundles, the per-user state folder, and the
# terminal (colour, width, CI detection). The suite's own switches (SPECRUNNER_SLOW: `.ci/run` selects
# the slow tests with it, read when test modules are collected) are kept.
USER_ENV_PREFIXES = ("ALIBABA_CLOUD_", "ALICLOUD_", "ALIYUN_", "SPECRUNNER_")
USER_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "XDG_STATE_HOME")
TERMINAL_ENV = ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES", "CI", "TERM", "CLICOLOR", "CLICOLOR_FORCE")
SUITE_ENV = ("SPECRUNNER_SLOW",)


def users_setting(name: str) -> bool:
    """True for a variable of the user's that no test may see (see USER_ENV_PREFIXES)."""
    if name in SUITE_ENV:
        return False
    return name.startswith(USER_ENV_PREFIXES) or name.lower().endswith("_proxy") or name in USER_ENV


def pytest_configure(config: pytest.Config) -> None:
    """At session start (in every xdist worker too), before collection and before any session- or
    module-scoped fixture starts a server or a subprocess: the user's settings are gone for the whole
    run. Tests set their own values with ``monkeypatch`` or a subprocess's ``env``. The terminal
    variables stay until each test starts (below), so pytest's own output keeps the user's width and
    colours."""
    for name in list(os.environ):
        if users_setting(name):
            del os.environ[name]


@pytest.fixture(autouse=True)
def _no_real_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never see the developer's cloud credentials or CLI profile, never use a proxy, and never
    depend on the user's terminal settings (colour, width, CI detection). Again per test: a value a
    previous test left in ``os.environ`` does not leak into the next."""
    for name in list(os.environ):
        if users_setting(name) or name in TERMINAL_ENV:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture(autouse=True)
def _fresh_command_context() -> Iterator[None]:
    """Each test starts outside any command: what a command records for its own run (the variables
    given and taken from the environment, its arguments, whether its output is JSON) never leaks from
    a test that ran one in this process (the CLI sets them anew per command; a test calling the parts
    directly does not)."""
    from specrunner.cli import errors
    from specrunner.validate import variables

    tokens = [
        (variables.GIVEN, variables.GIVEN.set(variables.Given())),
        (variables.FROM_ENV, variables.FROM_ENV.set({})),
        (errors.command_args, errors.command_args.set(None)),
        (errors.json_errors, errors.json_errors.set(False)),
        (errors.document_started, errors.document_started.set(False)),
    ]
    yield
    for var, token in reversed(tokens):
        var.reset(token)


@pytest.fixture(scope="session")
def video_10s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 s, 25 fps, 160x120, a keyframe every second; frame i shows its own index."""
    path = tmp_path_factory.mktemp("videos") / "ten.mp4"
    make_video(path, duration_s=10, fps=25, width=160, height=120, gop=25)
    return path


@pytest.fixture(scope="session")
def video_4s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("videos") / "four.mp4"
    make_video(path, duration_s=4, fps=25, width=160, height=120, gop=25)
    return path


def read_jobs(path: Path) -> dict[str, dict[str, Any]]:
    """Every job of a lock file as specrunner reads it (any format version), in its whole-record JSON form."""
    from specrunner.statefile.doc import decode_state

    return {k: e.to_record() for k, e in decode_state(path.read_bytes(), path).jobs.items()}


class Workspace:
    """A manifest folder with a local root; videos are copied into the input bucket."""

    def __init__(self, root: Path) -> None:
        self.dir = root
        self.oss = root / "oss"
        self.manifest = root / "m.yaml"
        self.state = root / "m.lock.json"
        self.runner = CliRunner()

    def add_video(self, src: Path, key: str, bucket: str = "media-in") -> Path:
        dest = self.oss / bucket / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return dest

    def write(self, text: str) -> Path:
        self.manifest.write_text(textwrap.dedent(text).lstrip())
        return self.manifest

    def out(self, key: str, bucket: str = "media-out") -> Path:
        return self.oss / bucket / key

    def jobs(self) -> dict[str, dict[str, Any]]:
        """The full job records of the lock file (format 2 stores them compactly)."""
        return read_jobs(self.state)

    def cli(self, *args: str, code: int | None = None):
        result = self.runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, (result.exit_code, result.output)
        return result


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


HEADER = """\
version: 1
target: {backend: local, root: ./oss}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
"""


# ---------------------------------------------------------------------------------------------
# What a command loads: a fresh interpreter runs it and reports its modules

HEAVY = (
    "jsonschema",
    "pydantic",
    "pydantic_core",
    "av",
    "aliyunsdkcore",
    "aliyunsdkmts",
    "oss2",
    "PIL",
    "yaml",
    "tenacity",
    "rich",
)
PROBE = """
import json, sys
sys.argv = ["specrunner", *json.loads(sys.argv[1])]
try:
    {run}
except SystemExit as e:
    code = e.code
else:
    code = 0
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))
print("@@" + json.dumps({{"code": code, "heavy": heavy, "modules": sorted(sys.modules),
                         "specrunner": sorted(m for m in sys.modules if m.startswith("specrunner"))}}),
      file=sys.stderr)
"""


def probe(run: str, *args: str, env: dict[str, str] | None = None, cwd: Path = TESTS) -> dict[str, object]:
    """Run ``run`` (e.g. the console script's ``main()``) in a fresh interpreter with ``args`` as the
    command line; its exit code, stdout, stderr, and which modules it loaded (``heavy``: those of
    ``HEAVY``)."""
    code = PROBE.format(run=run, heavy=HEAVY)
    r = subprocess.run(
        [sys.executable, "-c", code, json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    lines = r.stderr.splitlines()
    at = max(i for i, ln in enumerate(lines) if ln.startswith("@@"))
    out: dict[str, object] = json.loads(lines[at][2:])
    out["stdout"] = r.stdout
    out["stderr"] = "\n".join(lines[:at] + lines[at + 1 :])
    return out

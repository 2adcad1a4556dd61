"""Every command a hint prints works when pasted: the manifest (and its --state) named, no placeholder.

Each test provokes a hint through the CLI, takes the command out of the printed text literally, and
runs it in a shell from the same folder with the installed console script, as a user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HEADER, Workspace

MANIFEST = (
    HEADER
    + """\
inputs: [videos/a.mp4, videos/b.mp4, videos/c.mp4]
rules:
  - {id: poster, time: 1s, output: "p/{FileName}.jpg"}
"""
)


@pytest.fixture
def here(ws: Workspace, video_4s: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A workspace that is the current folder: the CLI is given relative paths, as people type them."""
    for name in ("a", "b", "c"):
        ws.add_video(video_4s, f"videos/{name}.mp4")
    ws.write(MANIFEST)
    monkeypatch.chdir(ws.dir)
    return ws


def command_in(text: str) -> str:
    """The one `specrunner ...` command a hint names (backticked, or alone after a colon)."""
    found = re.findall(r"`(specrunner [^`]+)`", text) or re.findall(r":\s+(specrunner [^\n]+)", text)
    assert len(set(found)) == 1, (found, text)
    assert not re.search(r"\b(MANIFEST|FILE|KEY|LOCK_ID|PLANFILE)\b", found[0]), found[0]
    return found[0]


def paste(ws: Workspace, command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in a shell in the workspace, the console script first on the PATH."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run(
        command, shell=True, cwd=ws.dir, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_missing_manifest_hint_writes_it(here: Workspace) -> None:
    r = here.cli("plan", "site.yaml", code=1)
    pasted = paste(here, command_in(r.stderr))
    assert pasted.returncode == 0, pasted.stderr
    assert (here.dir / "site.yaml").is_file()


def test_a_target_typo_and_the_targeting_warning_name_a_plan_that_runs(here: Workspace) -> None:
    here.cli("apply", "m.yaml", code=0)
    here.write(MANIFEST.replace("time: 1s", "time: 2s"))
    r = here.cli("plan", "m.yaml", "--target", "postr", code=1)
    assert paste(here, command_in(r.stderr)).returncode == 0
    r = here.cli("plan", "m.yaml", "--target", "videos/a.mp4", code=0)
    assert "2 changes of the manifest" in " ".join(r.stdout.split())
    pasted = paste(here, command_in(r.stdout.split("Warning: targeting")[1]))
    assert pasted.returncode == 0 and "3 to replace" in pasted.stdout, pasted.stdout


def test_the_retry_and_rename_commands_of_a_plan_run(here: Workspace) -> None:
    (here.oss / "media-in" / "videos" / "c.mp4").unlink()
    here.cli("apply", "m.yaml", code=3)
    r = here.cli("plan", "m.yaml", code=0)
    retry = command_in(r.stdout.split("To resubmit")[1])
    assert retry == "specrunner retry m.yaml --target videos/c.mp4::poster"
    pasted = paste(here, retry)
    assert pasted.returncode == 3 and "Apply complete" in pasted.stdout, pasted.stderr  # it ran

    here.write(MANIFEST.replace("id: poster", "id: cover"))
    r = here.cli("plan", "m.yaml", code=0)
    mv = command_in(r.stdout.split("Warning: this plan forgets")[1])
    assert mv == "specrunner state mv m.yaml poster cover"
    assert paste(here, mv).returncode == 0
    r = here.cli("plan", "m.yaml", code=0)
    assert "0 to create" in r.stdout and "0 to forget" in r.stdout


def test_a_state_given_with_state_is_named_in_the_hints(here: Workspace) -> None:
    """Hints from the state's own layer (which knows no manifest) name the manifest and --state given."""
    here.cli("apply", "m.yaml", "--state", "other.lock.json", code=0)
    r = here.cli("state", "rm", "m.yaml", "videos/z.mp4::poster", "--state", "other.lock.json", code=1)
    listed = command_in(r.stderr)
    assert listed == "specrunner state list m.yaml --state other.lock.json"
    pasted = paste(here, listed)
    assert pasted.returncode == 0 and "videos/a.mp4::poster" in pasted.stdout, pasted.stderr

    (here.dir / "other.lock.json.journal").write_text("{torn\n")  # a damaged journal
    r = here.cli("plan", "m.yaml", "--state", "other.lock.json", code=1)
    repair = command_in(r.stderr)
    assert repair == "specrunner state repair m.yaml --state other.lock.json"
    pasted = paste(here, repair)
    assert pasted.returncode == 0, pasted.stderr
    after = command_in(pasted.stdout.split("Next")[1])  # what repair says to run next
    assert after == "specrunner plan m.yaml --state other.lock.json"
    pasted = paste(here, after + " --detailed-exitcode")
    assert pasted.returncode == 0 and "No changes" in pasted.stdout, pasted.stdout

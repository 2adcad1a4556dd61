"""Every command that takes ``--format json``, run as a real process in an error situation: stdout is
exactly one JSON document (``json.loads`` of all of it), stderr is empty, and the exit code is the
text mode's. An invalid manifest answers its validation document (``schemas/validate.v1.json``); any
other error the error document (``schemas/error.v1.json``), both checked against the published
schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from specrunner.validate.schema import load_schema
from tests.conftest import HEADER, Workspace

MANIFEST = (
    HEADER
    + """\
inputs: [videos/a.mp4]
rules:
  - {id: poster, time: 1s, width: 80, output: "posters/{FileName}.jpg"}
"""
)
ERROR, VALIDATION = "error.v1.json", "validate.v1.json"


def run_json(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> tuple[int, Any, str]:
    """The real CLI in its own process: (exit code, stdout parsed as one JSON document, stderr)."""
    p = subprocess.run(
        [sys.executable, "-m", "specrunner", *args],
        cwd=ws.dir,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    return p.returncode, json.loads(p.stdout), p.stderr


def text_code(ws: Workspace, *args: str) -> int:
    """The exit code of the same command line without ``--format json`` (text mode)."""
    words = list(args)
    i = words.index("--format")
    del words[i : i + 2]
    p = subprocess.run(
        [sys.executable, "-m", "specrunner", *words], cwd=ws.dir, capture_output=True, text=True, timeout=60
    )
    assert p.stderr.startswith(("error:", "Usage:")), p.stderr  # text mode: the error is text, on stderr
    return p.returncode


def check(doc: Any, schema: str) -> None:
    jsonschema.Draft202012Validator(load_schema(schema)).validate(doc)


@pytest.fixture
def applied(ws: Workspace, video_4s: Path) -> Workspace:
    ws.add_video(video_4s, "videos/a.mp4")
    ws.write(MANIFEST)
    ws.cli("apply", ws.manifest, code=0)
    return ws


def corrupt_state(ws: Workspace) -> None:
    ws.state.write_text('{"version": 2, "lineage": "x", "jobs": [\n')


def saved_plan(ws: Workspace) -> None:
    ws.cli("plan", ws.manifest, "--replace", "*", "--out", ws.dir / "p.json", code=0)


def nothing(ws: Workspace) -> None:
    pass


def a_folder(ws: Workspace) -> None:
    (ws.dir / "specs").mkdir()


# (setup, command line, the message's start): each must fail with exit 1 and the error document.
ERRORS: dict[str, tuple[Callable[[Workspace], None], list[str], str]] = {
    "outputs-missing-manifest": (nothing, ["outputs", "absent.yaml"], "absent.yaml: no such file"),
    "outputs-bad-glob": (nothing, ["outputs", "m.yaml", "--target", "nope"], "--target 'nope' matches no"),
    "outputs-unreadable-state": (corrupt_state, ["outputs", "m.yaml"], "m.lock.json:2:1: the state file"),
    "show-unreadable-state": (corrupt_state, ["show", "m.yaml"], "m.lock.json:2:1: the state file"),
    "show-a-folder": (a_folder, ["show", "specs"], "specs: is a folder, not a manifest"),
    "outputs-a-folder": (a_folder, ["outputs", "specs"], "specs: is a folder, not a manifest"),
    "state-show-unknown-key": (nothing, ["state", "show", "m.yaml", "nope"], "'nope' is not in the state"),
    "state-show-unreadable": (corrupt_state, ["state", "show", "m.yaml", "x"], "m.lock.json:2:1:"),
    "plan-bad-glob": (nothing, ["plan", "m.yaml", "--exclude", "nope*"], "--exclude 'nope*' matches no"),
    "plan-unreadable-state": (corrupt_state, ["plan", "m.yaml"], "m.lock.json:2:1: the state file"),
    "plan-terraform-habit": (nothing, ["plan", "m.yaml", "-out=p.json"], "'-out=p.json' is Terraform's"),
    "apply-unreadable-state": (corrupt_state, ["apply", "m.yaml"], "m.lock.json:2:1: the state file"),
    "apply-refused-option": (
        saved_plan,
        ["apply", "p.json", "--target", "poster"],
        "--target poster contradicts",
    ),
    "apply-bad-value": (nothing, ["apply", "m.yaml", "--parallelism", "0"], "Invalid value for"),
    "apply-unknown-option": (nothing, ["apply", "m.yaml", "--dry-run"], "No such option: --dry-run"),
    "retry-unreadable-state": (corrupt_state, ["retry", "m.yaml"], "m.lock.json:2:1: the state file"),
    "refresh-unreadable-state": (corrupt_state, ["refresh", "m.yaml"], "m.lock.json:2:1: the state"),
    "refresh-bad-duration": (nothing, ["refresh", "m.yaml", "--lock-timeout", "soon"], "Invalid value"),
    "prune-bad-glob": (nothing, ["prune", "m.yaml", "--target", "nope"], "--target 'nope' matches no"),
    "prune-unreadable-state": (corrupt_state, ["prune", "m.yaml", "--dry-run"], "m.lock.json:2:1:"),
    "validate-terraform-habit": (nothing, ["validate", "m.yaml", "-var", "a=b"], "'-var' is Terraform"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_each_error_is_one_json_document_with_the_text_modes_exit_code(applied: Workspace, case: str) -> None:
    setup, args, message = ERRORS[case]
    setup(applied)
    code, doc, stderr = run_json(applied, *args, "--format", "json")
    assert (code, stderr) == (1, ""), (code, doc, stderr)
    check(doc, ERROR)
    assert doc["kind"] == "specrunner-error" and doc["exit_code"] == code
    assert doc["message"].startswith(message), doc
    assert code == text_code(applied, *args, "--format", "json")


def test_show_of_a_saved_plan_as_json_says_the_file_is_that_json(applied: Workspace) -> None:
    saved_plan(applied)
    code, doc, stderr = run_json(applied, "show", "p.json", "--format", "json")
    assert (code, stderr) == (1, "")
    check(doc, ERROR)
    assert doc["message"].startswith("p.json is a saved plan: `show --format json` prints a state")
    assert doc["hint"] == "`specrunner show p.json` says whether `apply p.json` would still take it"


def test_the_equals_spelling_asks_for_json_too(applied: Workspace) -> None:
    code, doc, stderr = run_json(applied, "outputs", "m.yaml", "--target", "nope", "--format=json")
    assert (code, stderr, doc["kind"]) == (1, "", "specrunner-error")
    assert doc["hint"] == "`specrunner state list m.yaml` lists the recorded job keys"


def test_an_invalid_manifest_is_its_validation_document(applied: Workspace) -> None:
    applied.write(MANIFEST.replace("time: 1s", "time: soon"))
    for command in ("plan", "apply", "retry", "refresh", "prune", "validate"):
        code, doc, stderr = run_json(applied, command, "m.yaml", "--format", "json")
        assert (code, stderr) == (1, ""), (command, doc, stderr)
        check(doc, VALIDATION)
        assert doc["valid"] is False and doc["diagnostics"][0]["path"] == "$.rules[0].time", command
    code, doc, _ = run_json(applied, "plan", "absent.yaml", "--format", "json")
    assert code == 1 and doc["diagnostics"][0]["message"] == "file not found"


def test_a_usage_error_of_a_subcommand_names_its_help(applied: Workspace) -> None:
    code, doc, stderr = run_json(applied, "state", "show", "m.yaml", "--format", "json", "--verbose")
    assert (code, stderr) == (1, "")
    check(doc, ERROR)
    assert doc["message"] == "No such option: --verbose"
    assert doc["hint"] == "`specrunner state show --help` lists the options"


def test_a_command_without_a_json_format_keeps_its_usage_error_in_text(applied: Workspace) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "specrunner", "import", "m.yaml", "k", "j", "--format", "json"],
        cwd=applied.dir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 1 and p.stdout == "" and "No such option: --format" in p.stderr


def test_retry_with_no_state_yet_prints_the_document_of_a_run_that_did_nothing(ws: Workspace) -> None:
    ws.write(MANIFEST)
    code, doc, stderr = run_json(ws, "retry", "m.yaml", "--format", "json")
    assert (code, stderr) == (0, "")
    check(doc, "apply.v1.json")
    assert doc["kind"] == "specrunner-apply" and doc["results"] == [] and doc["exit_code"] == 0
    assert not ws.state.exists()


def test_a_refused_apply_on_aliyun_is_the_error_document(ws: Workspace) -> None:
    ws.write(
        MANIFEST.replace(
            "target: {backend: local, root: ./oss}", "target: {backend: aliyun, region: cn-shanghai}"
        )
    )
    code, doc, stderr = run_json(
        ws,
        "apply",
        "m.yaml",
        "--refresh=false",
        "--format",
        "json",
        env={"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIjson", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"},
    )
    assert (code, stderr) == (1, ""), doc
    check(doc, ERROR)
    assert doc["message"].startswith("refusing to apply on aliyun") and "JSON / markdown" in doc["message"]
    assert "--auto-approve" in doc["hint"]


def test_a_bug_is_the_error_document_naming_its_traceback_file(applied: Workspace, tmp_path: Path) -> None:
    crash = (
        "import sys\n"
        "from specrunner.ops import records\n"
        "def broken(*a, **k):\n"
        "    raise RuntimeError('boom')\n"
        "records.output_rows = broken\n"
        "sys.argv = ['specrunner', *sys.argv[1:]]\n"
        "from specrunner.cli.main import main\n"
        "main()\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", crash, "outputs", "m.yaml", "--format", "json"],
        cwd=applied.dir,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    doc = json.loads(p.stdout)
    assert (p.returncode, p.stderr) == (70, "")
    check(doc, ERROR)
    assert doc["exit_code"] == 70 and doc["message"].startswith("specrunner hit a bug (RuntimeError)")
    assert "RuntimeError: boom" in Path(doc["traceback_file"]).read_text()


def run_into_closed_pipe(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI with its stdout a pipe whose reader is gone (`| head -c 0`): every write to it fails."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "specrunner", *args],
            cwd=ws.dir,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "args",
    [
        ["outputs", "absent.yaml"],  # the error document
        ["plan", "absent.yaml"],  # the validation document
        ["apply", "m.yaml", "--dry-run"],  # a usage error's document
    ],
    ids=["error", "validation", "usage"],
)
def test_a_reader_gone_before_the_error_document_is_no_traceback(applied: Workspace, args: list[str]) -> None:
    p = run_into_closed_pipe(applied, *args, "--format", "json")
    assert (p.returncode, p.stderr) == (1, ""), p.stderr[-2000:]
    assert p.returncode == text_code(applied, *args, "--format", "json")


def test_the_last_format_given_is_the_one_errors_follow(applied: Workspace) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "specrunner", "outputs", "m.yaml", "--target", "nope"]
        + ["--format", "json", "--format", "text"],
        cwd=applied.dir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (p.returncode, p.stdout) == (1, "") and p.stderr.startswith("error: --target 'nope' matches no")
    code, doc, stderr = run_json(
        applied, "outputs", "m.yaml", "--target", "nope", "--format=text", "--format", "json"
    )
    assert (code, stderr, doc["kind"]) == (1, "", "specrunner-error")


BOMB = """\
version: 1
variables: {env: {type: string, default: dev}}
state: {backend: oss, bucket: "team-${var.env}", key: m.lock.json, location: oss-cn-shanghai, extra: *i}
"""
LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([prev] * 9)}]\n"
    for name, prev in zip("abcdefghi", ['"lol"', *("*" + c for c in "abcdefgh")], strict=True)
)


@pytest.mark.parametrize(
    "args", [["show", "m.yaml"], ["outputs", "m.yaml"], ["state", "show", "m.yaml", "k"]]
)
@pytest.mark.parametrize("state_block", ["", "state: {backend: oss, bucket: b, key: k}\n"])
def test_a_manifest_nested_too_deeply_read_without_validation_is_one_error(
    ws: Workspace, args: list[str], state_block: str
) -> None:
    # 100,000 nested lists: the commands that read only the manifest's state: block treat it as a
    # broken manifest (one error, exit 1), never as a bug (a RecursionError, exit 70)
    ws.write("version: 1\n" + state_block + "rules: " + "[" * 100_000 + "]" * 100_000 + "\n")
    code, doc, stderr = run_json(ws, *args, "--format", "json")
    assert (code, stderr) == (1, ""), (code, doc, stderr)
    check(doc, ERROR)
    assert "not a specrunner manifest" in doc["message"], doc


@pytest.mark.parametrize(
    "args", [["show", "m.yaml"], ["outputs", "m.yaml"], ["state", "show", "m.yaml", "k"]]
)
def test_an_alias_bomb_in_a_manifest_read_without_validation_answers_at_once(
    ws: Workspace, args: list[str]
) -> None:
    # 9^9 strings once expanded: the commands that read only the manifest's state: block must not
    # walk every alias again (show, outputs and state show do not validate the manifest)
    ws.write(LAUGHS + BOMB.replace("state:", "rules: *i\nstate:"))
    code, doc, stderr = run_json(ws, *args, "--format", "json")  # no credentials: the state is not read
    assert (code, stderr) == (1, "")
    check(doc, ERROR)
    assert doc["message"].startswith("no Alibaba Cloud credentials found"), doc


@pytest.mark.parametrize(
    ("variable", "args"),
    [
        ("SPECRUNNER_OSS_ENDPOINT", ["show", "m.yaml", "--state", "oss://team-state/m.lock.json"]),
        ("SPECRUNNER_MTS_ENDPOINT", ["apply", "m.yaml", "--auto-approve", "--refresh=false"]),
    ],
)
def test_an_endpoint_with_a_password_in_it_is_refused_without_showing_it(
    ws: Workspace, variable: str, args: list[str]
) -> None:
    ws.write(MANIFEST.replace("{backend: local, root: ./oss}", "{backend: aliyun, region: cn-shanghai}"))
    env = {
        variable: "http://ci-bot:Pa55w0rd-from-env@127.0.0.1:8765",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIjson",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s3cret-from-env",
    }
    code, doc, stderr = run_json(ws, *args, "--format", "json", env=env)
    assert (code, stderr) == (1, "")
    check(doc, ERROR)
    assert f"{variable}: invalid " in doc["message"] and "user info" in doc["message"], doc
    text = subprocess.run(
        [sys.executable, "-m", "specrunner", *args],
        cwd=ws.dir,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert text.returncode == code
    for shown in (json.dumps(doc), text.stdout + text.stderr):
        assert "Pa55w0rd" not in shown and "s3cret" not in shown, shown


def test_validate_of_several_manifests_is_one_list_the_published_schema_describes(applied: Workspace) -> None:
    (applied.dir / "specs").mkdir()
    code, doc, stderr = run_json(applied, "validate", "m.yaml", "specs", "--format", "json")
    assert (code, stderr) == (1, "")
    check(doc, VALIDATION)
    assert [(d["file"], d["valid"]) for d in doc] == [("m.yaml", True), ("specs", False)]
    text = subprocess.run(
        [sys.executable, "-m", "specrunner", "validate", "m.yaml", "specs"],
        cwd=applied.dir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert text.returncode == code and "1 of 2 manifests invalid" in text.stderr

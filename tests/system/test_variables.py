"""One manifest, two environments: `--var` picks the output bucket and the state (one per environment,
in OSS: the emulator's object API over real HTTP), every command that reads the manifest takes the
same options, saved plans carry the values, and a manifest without variables reads as before."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from specrunner.emulator.server import Emulator
from tests.conftest import HEADER, Workspace
from tests.helpers import cli_run, put_outputs, state_emulator

STATE_BUCKET = "team-state"
MANIFEST = f"""\
version: 1
name: media/site
variables:
  env: {{type: string, description: dev or prod}}
  width: {{type: number, default: 160}}
target: {{backend: local, root: ./oss}}
defaults: {{location: oss-cn-shanghai, input_bucket: media-in, output_bucket: "media-${{var.env}}"}}
state: {{backend: oss, bucket: {STATE_BUCKET}, key: "site/${{var.env}}.lock.json", location: oss-cn-shanghai}}
inputs: [videos/a.mp4]
rules:
  - {{id: poster, time: 1s, width: "${{var.width}}", output: "p/{{FileName}}.jpg"}}
"""


@pytest.fixture
def emu(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with state_emulator(ws.oss, STATE_BUCKET, monkeypatch) as e:
        yield e


@pytest.fixture
def site(ws: Workspace, video_4s: Path, emu: Emulator) -> Workspace:
    ws.add_video(video_4s, "videos/a.mp4")
    for env in ("dev", "prod"):
        (ws.oss / f"media-{env}").mkdir(parents=True)
    ws.write(MANIFEST)
    return ws


def state_keys(ws: Workspace) -> list[str]:
    """The states in the state bucket (each is objects named after its key: .head, .journal/, .lock/)."""
    root = ws.oss / STATE_BUCKET / "site"
    return (
        sorted({p.name.split(".lock.json")[0] + ".lock.json" for p in root.iterdir()})
        if root.exists()
        else []
    )


def test_dev_and_prod_apply_to_their_own_bucket_and_state(site: Workspace) -> None:
    ws = site
    r = ws.cli("apply", ws.manifest, "--var", "env=dev", code=0)
    assert "oss://team-state/site/dev.lock.json" in r.stdout
    r = ws.cli("apply", ws.manifest, "--var", "env=prod", "--var", "width=120", code=0)
    assert "oss://team-state/site/prod.lock.json" in r.stdout
    assert ws.out("p/a.jpg", "media-dev").is_file() and ws.out("p/a.jpg", "media-prod").is_file()
    assert state_keys(ws) == ["dev.lock.json", "prod.lock.json"]
    # Each environment plans against its own state: nothing to do in either.
    assert "No changes." in ws.cli("plan", ws.manifest, "--var", "env=dev", code=0).stdout
    assert "No changes." in ws.cli("plan", ws.manifest, "--var=env=prod", "--var", "width=120", code=0).stdout
    # prod with dev's width is a change of prod's jobs only.
    assert "1 to replace" in ws.cli("plan", ws.manifest, "--var", "env=prod", code=0).stdout
    # The commands that only read the state find it through the same options.
    listed = ws.cli("state", "list", ws.manifest, "--var", "env=prod", code=0).stdout
    assert listed.startswith("videos/a.mp4::poster\tSuccess\t")
    out = json.loads(ws.cli("outputs", ws.manifest, "--var", "env=dev", "--format", "json", code=0).stdout)
    assert "media-dev" in json.dumps(out) and "media-prod" not in json.dumps(out)
    # and so does the contact sheet (its hint to give the value works as printed)
    r = ws.cli("report", ws.manifest, code=1)
    assert "--var env=..." in r.output
    ws.cli("report", ws.manifest, "--var", "env=prod", "--out", str(ws.dir / "rep"), code=0)
    page = (ws.dir / "rep" / "index.html").read_text()
    assert "site/prod.lock.json" in page or "media-prod" in page


def test_a_var_file_and_the_environment_set_values_with_the_cli_first(
    site: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = site
    prod = ws.dir / "prod.yaml"
    prod.write_text("env: prod\nwidth: 120\n")
    monkeypatch.setenv("SPECRUNNER_VAR_env", "dev")
    doc = json.loads(ws.cli("plan", ws.manifest, "--format", "json", code=0).stdout)
    assert doc["variables"] == {"env": "dev", "width": 160}
    doc = json.loads(ws.cli("plan", ws.manifest, "--var-file", str(prod), "--format", "json", code=0).stdout)
    assert doc["variables"] == {"env": "prod", "width": 120} and doc["state"]["path"].endswith(
        "prod.lock.json"
    )
    args = ("--var-file", str(prod), "--var", "width=200", "--format", "json")
    doc = json.loads(ws.cli("plan", ws.manifest, *args, code=0).stdout)
    assert doc["variables"] == {"env": "prod", "width": 200}


def test_an_unset_variable_is_one_error_naming_the_fix(site: Workspace) -> None:
    ws = site
    r = ws.cli("plan", ws.manifest, code=1)
    assert (
        "m.yaml:4:3: $.variables.env: variable 'env' has no value: give it with `--var env=...`" in r.output
    )
    r = ws.cli("validate", ws.manifest, code=1)
    assert "m.yaml:4:3: $.variables.env: variable 'env' has no value" in r.output
    # A command that reads only the state: block says which variable it needs.
    r = ws.cli("state", "list", ws.manifest, code=1)
    assert "its state: block uses ${var.env}, which has no value here" in r.output
    assert "--var env=..." in r.output


def test_a_saved_plan_applies_with_its_values_and_refuses_others(site: Workspace) -> None:
    ws = site
    planfile = str(ws.dir / "prod.plan.json")
    ws.cli("plan", ws.manifest, "--var", "env=prod", "--out", planfile, code=0)
    saved = json.loads((ws.dir / "prod.plan.json").read_text())
    assert saved["variables"] == {"env": "prod", "width": 160}
    r = ws.cli("apply", planfile, "--var", "env=dev", code=1)
    assert "the saved plan was made with other variable values: env='prod' (now 'dev')" in r.output
    assert state_keys(ws) == []
    assert "The plan is current" in ws.cli("show", planfile, code=0).stdout
    r = ws.cli("apply", planfile, code=0)  # no --var needed: the plan carries them
    assert "oss://team-state/site/prod.lock.json" in r.stdout
    assert state_keys(ws) == ["prod.lock.json"] and ws.out("p/a.jpg", "media-prod").is_file()


def test_a_manifest_whose_variables_give_its_literal_values_writes_the_same_lock_file(
    ws: Workspace, video_4s: Path
) -> None:
    """Substitution changes nothing but the strings it fills: the lock file and the plan's changes are
    those of the manifest written out by hand (whose plan JSON has no `variables`)."""
    ws.add_video(video_4s, "videos/a.mp4")
    literal = (
        HEADER
        + 'inputs: [videos/a.mp4]\nrules:\n  - {id: p, time: 1s, width: 160, output: "p/{FileName}.jpg"}\n'
    )
    templated = (
        literal.replace("version: 1\n", "version: 1\nvariables:\n  w: {type: number, default: 160}\n")
        .replace("width: 160", 'width: "${var.w}"')
        .replace("output_bucket: media-out", 'output_bucket: "media-${var.kind}"')
    )
    templated = templated.replace("  w: {", "  kind: {default: out}\n  w: {")
    ws.write(literal)
    lit_plan = json.loads(ws.cli("plan", ws.manifest, "--format", "json", code=0).stdout)
    assert "variables" not in lit_plan and "moved" not in lit_plan["summary"]
    ws.cli("apply", ws.manifest, code=0)
    lock = ws.state.read_bytes()
    ws.state.unlink()
    ws.write(templated)
    tpl_plan = json.loads(ws.cli("plan", ws.manifest, "--format", "json", code=0).stdout)
    assert tpl_plan["variables"] == {"kind": "out", "w": 160}
    assert tpl_plan["changes"] == lit_plan["changes"] and tpl_plan["summary"] == lit_plan["summary"]
    ws.cli("apply", ws.manifest, code=0)
    assert _same_jobs(ws.state.read_bytes(), lock)


def _same_jobs(a: bytes, b: bytes) -> bool:
    """Two lock files with the same job lines and configs (lineage, job ids and listing times differ
    between runs)."""
    da, db = json.loads(a), json.loads(b)
    strip = {"job_id", "seen_at"}
    ja = {k: {f: v for f, v in r.items() if f not in strip} for k, r in da["jobs"].items()}
    jb = {k: {f: v for f, v in r.items() if f not in strip} for k, r in db["jobs"].items()}
    return ja == jb and da.get("configs") == db.get("configs")


def test_a_lock_file_written_before_variables_plans_as_a_no_op(tmp_path: Path) -> None:
    """The lock file of specs/demo.yaml written by the version before variables and moved: entries:
    the manifest as it was, and the same manifest with variables (giving the same values) and a
    moved: entry applied long ago, both plan no changes."""
    repo = Path(__file__).resolve().parents[2]
    shutil.copytree(repo / "specs" / "oss", tmp_path / "oss")
    demo = (repo / "specs" / "demo.yaml").read_text()
    shutil.copyfile(
        repo / "tests" / "fixtures" / "before-variables" / "demo.lock.json", tmp_path / "demo.lock.json"
    )
    manifest = tmp_path / "demo.yaml"
    manifest.write_text(demo)
    before = (tmp_path / "demo.lock.json").read_bytes()
    put_outputs(tmp_path / "demo.lock.json", tmp_path / "oss")  # the buckets hold what it names
    r = cli_run("plan", manifest, "--detailed-exitcode", code=0)
    assert "No changes." in r.stdout
    templated = (
        demo.replace(
            "version: 1\n", "version: 1\nvariables:\n  out: {default: media-out}\n  w: {default: 640}\n", 1
        )
        .replace("output_bucket: media-out", 'output_bucket: "${var.out}"')
        .replace("width: 640", 'width: "${var.w}"')
        + "moved:\n  - {from: cover, to: poster}\n"
    )
    manifest.write_text(templated)
    r = cli_run("plan", manifest, "--detailed-exitcode", code=0)
    assert "No changes." in r.stdout
    # a no-op apply writes nothing (with the refresh, the first apply over a lock file written before
    # records what it verified: tests/system/test_refresh_buckets.py)
    cli_run("apply", manifest, "--refresh=false", code=0)
    assert (tmp_path / "demo.lock.json").read_bytes() == before

"""`specrunner prune --format json` on aliyun against the emulator (real oss2 DeleteMultipleObjects):
objects whose keys carry spaces, `&<>'"`, a `%`, non-ASCII and an emoji, more than one call's 1,000
keys, a RAM policy denying part of them and answers lost on the way. After each run the lock file's
`retired` list names exactly the objects still in the bucket, nothing another job names is touched,
and a rerun finishes the job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from specrunner.emulator import Emulator
from specrunner.statefile.doc import decode_state
from specrunner.validate.schema import load_schema
from tests.conftest import Workspace

ODD = "a b&<>'\"%25é😀"  # an input key's file name: every output of its job carries it
MANIFEST = """\
version: 1
target: {backend: aliyun, region: cn-shanghai}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs: INPUTS
rules:
  - {id: seq, time: 0, interval: 1, num: 1001, output: "seq/{FileName}/{Count}.jpg"}
"""


@pytest.fixture
def cloud(ws: Workspace) -> Iterator[Emulator]:
    for key in (f"v/{ODD}.mp4", "v/keep.mp4"):  # simulated jobs read no video
        path = ws.oss / "media-in" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not decoded")
    (ws.oss / "media-out").mkdir()
    with Emulator(ws.oss, {"pAK": "p-secret"}, simulate=True, simulate_seconds=0) as em:
        yield em


def write(ws: Workspace, inputs: list[str]) -> None:
    ws.manifest.write_text(MANIFEST.replace("INPUTS", json.dumps(inputs, ensure_ascii=False)))


def run(ws: Workspace, em: Emulator, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "ALIYUN_"))},
        "SPECRUNNER_MTS_ENDPOINT": em.url,
        "SPECRUNNER_OSS_ENDPOINT": em.url,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "pAK",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "p-secret",
    }
    cmd = [sys.executable, "-m", "specrunner", *args]
    return subprocess.run(cmd, cwd=ws.dir, env=env, capture_output=True, text=True, timeout=300)


def stored(ws: Workspace, prefix: str) -> list[str]:
    base = ws.oss / "media-out"
    found = (str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())
    return sorted(f"media-out/{k}" for k in found if k.startswith(prefix))


def retired(ws: Workspace) -> list[str]:
    return sorted(decode_state(ws.state.read_bytes(), ws.state).retired)


def test_the_record_of_what_prune_deleted_is_exact_through_denials_and_lost_answers(
    ws: Workspace, cloud: Emulator
) -> None:
    write(ws, [f"v/{ODD}.mp4", "v/keep.mp4"])
    p = run(ws, cloud, "apply", "m.yaml", "--auto-approve")
    assert p.returncode == 0, p.stderr
    kept = stored(ws, "seq/keep/")
    assert len(stored(ws, f"seq/{ODD}/")) == len(kept) == 1001

    write(ws, ["v/keep.mp4"])  # the odd input's job is forgotten: its 1,001 objects are prune's
    p = run(ws, cloud, "prune", "m.yaml", "--dry-run", "--format", "json")
    plan = json.loads(p.stdout)
    jsonschema.Draft202012Validator(load_schema("prune.v1.json")).validate(plan)
    assert (p.returncode, plan["dry_run"], plan["summary"]["delete"]) == (0, True, 1001)
    cloud.faults.delete_deny = frozenset({f"media-out/seq/{ODD}/0000"})  # 00001 to 00009
    cloud.faults.oss_drop_rate, cloud.faults.seed = 0.5, 3  # deleted, but the answer lost: retried
    p = run(ws, cloud, "prune", "m.yaml", "--auto-approve", "--format", "json")
    doc = json.loads(p.stdout)
    jsonschema.Draft202012Validator(load_schema("prune.v1.json")).validate(doc)
    assert (p.returncode, doc["exit_code"]) == (1, 1), p.stderr
    left = stored(ws, f"seq/{ODD}/")
    assert left == [f"media-out/seq/{ODD}/{i:05d}.jpg" for i in range(1, 10)]
    assert sorted(f["object"] for f in doc["failed"]) == left
    assert retired(ws) == left  # nothing recorded as deleted that is still there, nothing else kept
    assert not set(doc["deleted"]) & set(left) and len(doc["deleted"]) == 1001 - 9
    assert [e["action"] for e in cloud.requests() if e["params"].get("bucket") == "media-out"].count(
        "DeleteObject"
    ) == 0

    cloud.faults.delete_deny, cloud.faults.oss_drop_rate = frozenset(), 0.0
    p = run(ws, cloud, "prune", "m.yaml", "--auto-approve", "--format", "json")
    assert p.returncode == 0, p.stdout
    assert sorted(json.loads(p.stdout)["deleted"]) == left
    assert stored(ws, f"seq/{ODD}/") == [] and b'"retired"' not in ws.state.read_bytes()
    assert stored(ws, "seq/keep/") == kept  # what the state still wants is never touched


def test_ctrl_c_during_the_deletes_records_what_was_deleted_and_is_one_json_document(
    ws: Workspace, cloud: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal
    import threading
    import time

    buckets = [f"out-{i}" for i in range(10)]  # one DeleteMultipleObjects call per bucket: 10 calls
    for b in buckets:
        (ws.oss / b).mkdir()
    rules = "".join(
        f'  - {{id: r{i}, time: 0, output_bucket: {b}, output: "{{FileName}}.jpg"}}\n'
        for i, b in enumerate(buckets)
    )
    spec = MANIFEST.split("rules:")[0] + "rules:\n" + rules
    ws.manifest.write_text(
        spec.replace("INPUTS", json.dumps(["v/keep.mp4", f"v/{ODD}.mp4"], ensure_ascii=False))
    )
    assert run(ws, cloud, "apply", "m.yaml", "--auto-approve").returncode == 0
    ws.manifest.write_text(spec.replace("INPUTS", "[v/keep.mp4]"))
    started = threading.Event()
    real = cloud.handle_oss_batch_delete

    def slow(*args: object) -> object:  # each call takes a second: Ctrl-C lands while 8 are in flight
        started.set()
        time.sleep(1.0)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(cloud, "handle_oss_batch_delete", slow)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "ALIYUN_"))},
        "SPECRUNNER_MTS_ENDPOINT": cloud.url,
        "SPECRUNNER_OSS_ENDPOINT": cloud.url,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "pAK",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "p-secret",
    }
    cmd = [sys.executable, "-m", "specrunner", "prune", "m.yaml", "--auto-approve", "--format", "json"]
    p = subprocess.Popen(cmd, cwd=ws.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert started.wait(60)
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    doc = json.loads(out)
    jsonschema.Draft202012Validator(load_schema("error.v1.json")).validate(doc)
    assert (p.returncode, doc["exit_code"], doc["message"]) == (130, 130, "interrupted"), err
    left = [f"{b}/{ODD}.jpg" for b in buckets if (ws.oss / b / f"{ODD}.jpg").exists()]
    assert len(left) == 2  # the 8 calls in flight ended, the other 2 never started
    assert retired(ws) == left  # each object deleted is recorded as such, no other
    assert all((ws.oss / b / "keep.jpg").exists() for b in buckets)

    monkeypatch.setattr(cloud, "handle_oss_batch_delete", real)
    p2 = run(ws, cloud, "prune", "m.yaml", "--auto-approve", "--format", "json")
    assert p2.returncode == 0 and sorted(json.loads(p2.stdout)["deleted"]) == left
    assert b'"retired"' not in ws.state.read_bytes()
    assert all((ws.oss / b / "keep.jpg").exists() for b in buckets)


def test_on_the_local_engine_a_key_with_an_empty_segment_is_never_deleted_for_another(
    ws: Workspace, video_4s: Path
) -> None:
    # A bucket folder holds "x//a.jpg" and "x/a.jpg" as one file: deleting the first (replaced, so
    # retired) would delete the second, the output the state still wants
    ws.add_video(video_4s, "videos/a.mp4")
    local = MANIFEST.replace("{backend: aliyun, region: cn-shanghai}", "{backend: local, root: ./oss}")
    rule = '  - {id: poster, time: 1s, width: 80, output: "x//{FileName}.jpg"}\n'
    ws.manifest.write_text(local.split("rules:")[0].replace("INPUTS", "[videos/a.mp4]") + "rules:\n" + rule)
    ws.cli("apply", ws.manifest, code=0)
    ws.manifest.write_text(ws.manifest.read_text().replace("x//", "x/"))
    ws.cli("apply", ws.manifest, code=0)
    assert retired(ws) == ["media-out/x//a.jpg"]
    r = ws.cli("prune", ws.manifest, code=1)
    assert "refusing to delete media-out/x//a.jpg: " in r.output and "x/a.jpg" in r.output, r.output
    assert (ws.oss / "media-out" / "x" / "a.jpg").is_file()  # the wanted output is still there
    assert retired(ws) == ["media-out/x//a.jpg"]

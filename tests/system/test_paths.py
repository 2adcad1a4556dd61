"""Hostile object keys (issue 5, part 3): `..`, absolute paths, NUL, backslashes, URL-encoded traversal,
very long keys. (a) Manifest validation refuses them with a clear message; (b) the local engine and the
emulator (real engine behind real HTTP) answer InvalidParameter.ObjectKeyInvalid and never create a file
outside their root, whatever the request carries.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from specrunner.engine.errors import ServiceError
from specrunner.engine.objects import ObjectStore
from specrunner.engine.service import SnapshotService
from specrunner.validate.manifest import check_manifest
from tests.conftest import HEADER, Workspace

IN, OUT = "media-in", "media-out"
LOC = "oss-cn-shanghai"


def tree(folder: Path) -> dict[str, int | None]:
    """Every path below ``folder`` (files with their size), the engine's own `.mts` records left out."""
    out: dict[str, int | None] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != ".mts"]
        rel = os.path.relpath(dirpath, folder)
        out[rel + "/"] = None
        for name in filenames:
            p = os.path.join(dirpath, name)
            out[os.path.join(rel, name)] = os.lstat(p).st_size
    return out


# --------------------------------------------------------------------------------------------
# (a) manifest validation

BAD_KEYS = {
    "dotdot": ("../../etc/passwd.mp4", "no '..' segments"),
    "dotdot-inside": ("videos/../../x.mp4", "no '..' segments"),
    "absolute": ("/etc/passwd.mp4", "must not start with '/'"),
    "nul": ("a\x00b.mp4", "control characters"),
    "newline": ("a\nb.mp4", "control characters"),
    "backslash": ("..\\..\\windows.mp4", "must not contain '\\'"),
    "backslash-start": ("\\server\\share.mp4", "must not contain '\\'"),
    "url-encoded-dotdot": ("..%2F..%2Fetc%2Fpasswd", "looks URL-encoded"),
    "url-encoded-abs": ("%2Fabs.mp4", "looks URL-encoded"),
    "url-encoded-nul": ("a%00b.mp4", "looks URL-encoded"),
    "url-encoded-dots": ("%2E%2E/x.mp4", "looks URL-encoded"),
    "dot-segment": ("a/./b.mp4", "'.' segments"),
    "trailing-slash": ("videos/", "no trailing '/'"),
    "too-long": ("v/" + "a" * 1100 + ".mp4", "1 to 1,023 bytes"),
}


def _yaml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a YAML double-quoted scalar (escapes \u0000 too)


@pytest.mark.parametrize("case", list(BAD_KEYS))
def test_manifest_refuses_a_hostile_input_key(ws: Workspace, case: str) -> None:
    key, message = BAD_KEYS[case]
    ws.write(HEADER + f"inputs:\n  - {_yaml_str(key)}\nrules:\n  - {{id: p, output: 'x/{{FileName}}.jpg'}}\n")
    _, diags = check_manifest(ws.manifest)
    errors = [d for d in diags if d.path == "$.inputs[0]" and d.severity == "error"]
    assert any(message in d.message for d in errors), [d.render() for d in diags]
    assert all((d.line, d.column) == (5, 5) for d in errors)
    r = ws.cli("validate", ws.manifest, code=1)
    assert "m.yaml:5:5: $.inputs[0]: " in r.stderr and message in r.stderr and "Traceback" not in r.output


@pytest.mark.parametrize("case", [c for c in BAD_KEYS if c not in ("too-long", "trailing-slash")])
@pytest.mark.parametrize("field", ["output", "tile.output"])
def test_manifest_refuses_a_hostile_output_key(ws: Workspace, case: str, field: str) -> None:
    key = BAD_KEYS[case][0].replace(".mp4", "-{Count}.jpg")
    if field == "output":
        rule = f"{{id: p, num: 2, output: {_yaml_str(key)}}}"
    else:
        rule = (
            f"{{id: p, num: 2, output: 'ok/{{FileName}}-{{Count}}.jpg', "
            f"tile: {{output: {_yaml_str(key.replace('{Count}', '{TileCount}'))}}}}}"
        )
    ws.write(HEADER + f"inputs: [videos/a.mp4]\nrules:\n  - {rule}\n")
    model, diags = check_manifest(ws.manifest)
    assert model is None
    path = "$.rules[0].output" if field == "output" else "$.rules[0].tile.output"
    mine = [d for d in diags if d.path == path and d.severity == "error"]
    assert mine, [d.render() for d in diags]
    assert all(d.line == 6 for d in mine)


@pytest.mark.parametrize(
    ("inputs", "output", "resolved"),
    [
        (["videos/a.mp4"], "{ObjectPrefix}../up/{FileName}.jpg", "'videos/../up/a.jpg'"),
        (["..mp4"], "s/{FileName}/{Count}.jpg", "'s/./00001.jpg'"),  # {FileName} of "..mp4" is "."
        (["...mp4"], "s/{FileName}/{Count}.jpg", "'s/../00001.jpg'"),  # and of "...mp4", ".."
    ],
)
def test_manifest_refuses_templates_that_resolve_to_unsafe_keys(
    ws: Workspace, inputs: list[str], output: str, resolved: str
) -> None:
    ws.write(
        HEADER + f"inputs: {json.dumps(inputs)}\nrules:\n  - {{id: p, num: 2, output: {_yaml_str(output)}}}\n"
    )
    _, diags = check_manifest(ws.manifest)
    assert any(d.path == "$.rules[0].output" and f"resolves to {resolved}" in d.message for d in diags), [
        d.render() for d in diags
    ]


def test_plain_keys_with_odd_but_safe_characters_stay_valid(ws: Workspace) -> None:
    ws.write(
        HEADER + 'inputs: ["videos/launch%20day.mp4", "a..b/c...mp4", "x/\u2215etc.mp4", "v/%252F..x.mp4"]\n'
        "rules:\n  - {id: p, output: 'o/{ObjectPrefix}{FileName}.jpg'}\n"
    )
    model, diags = check_manifest(ws.manifest)
    assert model is not None, [d.render() for d in diags]


# --------------------------------------------------------------------------------------------
# (b) the engine, directly


@pytest.fixture
def engine(tmp_path: Path, video_4s: Path) -> Iterator[tuple[SnapshotService, Path]]:
    root = tmp_path / "root"
    (root / IN / "videos").mkdir(parents=True)
    (root / IN / "videos" / "a.mp4").write_bytes(video_4s.read_bytes())
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "keep.txt").write_text("x")
    svc = SnapshotService(root, sync_timeout=30)
    try:
        yield svc, root
    finally:
        svc.drain()
        svc.close()


def loc(bucket: str, obj: str) -> dict[str, str]:
    return {"Bucket": bucket, "Location": LOC, "Object": obj}


def submit(svc: SnapshotService, inp: dict[str, Any], out: dict[str, Any], **cfg: Any) -> dict[str, Any]:
    config = {"Time": "1000", "OutputFile": out, **cfg}
    return svc.submit_snapshot_job(json.dumps(inp), json.dumps(config))


A = loc(IN, "videos%2Fa.mp4")
HOSTILE_OBJECTS = [
    "..%2F..%2Fetc%2Fpasswd",
    "..%2F..%2F..%2F..%2F..%2F..%2Ftmp%2Fescaped.jpg",
    "%2Fabs.jpg",
    "%2F%2Fdouble-slash.jpg",
    "a%00b.jpg",
    "%00",
    "..%5C..%5Cwin.jpg",
    "%5Cabs.jpg",
    "%2E%2E%2F%2E%2E%2Fdots.jpg",
    "x%2F..%2F..%2Fup.jpg",
    "x%2F.%2Fdot.jpg",
    "..",
    ".",
    "",
    "x%2F..",
    "a" * 300 + ".jpg",  # a segment longer than NAME_MAX
    "%2F".join(["a"] * 600) + ".jpg",  # a key over 1,024 bytes
    "{ObjectPrefix}..%2F..%2Fprefix.jpg",
    "{FileName}%2F..%2F..%2F..%2Ffile.jpg",
]


@pytest.mark.parametrize("obj", HOSTILE_OBJECTS, ids=range(len(HOSTILE_OBJECTS)))
@pytest.mark.parametrize("side", ["Input", "OutputFile"])
def test_engine_refuses_keys_that_would_escape(
    engine: tuple[SnapshotService, Path], tmp_path: Path, obj: str, side: str
) -> None:
    svc, _root = engine
    before = tree(tmp_path)
    inp, out = (loc(IN, obj), loc(OUT, "x.jpg")) if side == "Input" else (A, loc(OUT, obj))
    with pytest.raises(ServiceError) as e:
        submit(svc, inp, out)
    expected = "InvalidParameter.NullValue" if obj == "" else "InvalidParameter.ObjectKeyInvalid"
    if obj.endswith(".jpg") or side == "Input" or obj == "":
        assert e.value.code == expected, (e.value.code, e.value.message)
    else:  # "..", ".", "%00", "x/..": refused as not a .jpg before the key is looked at
        assert e.value.code in ("InvalidParameter", expected), (e.value.code, e.value.message)
    svc.drain()
    assert tree(tmp_path) == before  # nothing written anywhere, inside the root or out of it


@pytest.mark.parametrize(
    "bucket", ["media-out\n", "..", "media-out/../..", "/tmp", "MEDIA", "a", ".mts", "x\x00y"]
)
def test_engine_refuses_bucket_names_that_are_paths(
    engine: tuple[SnapshotService, Path], tmp_path: Path, bucket: str
) -> None:
    svc, _ = engine
    before = tree(tmp_path)
    with pytest.raises(ServiceError) as e:
        submit(svc, A, loc(bucket, "x.jpg"))
    assert e.value.code == "InvalidParameter.BucketNameInvalid"
    assert tree(tmp_path) == before


def test_unsafe_tile_output_fails_the_job_and_writes_nothing_outside(
    engine: tuple[SnapshotService, Path], tmp_path: Path
) -> None:
    """TileOutputFile is only used when the async job runs: it fails there, with the same code."""
    svc, _root = engine
    outside = tree(tmp_path / "outside")
    job = submit(
        svc,
        A,
        loc(OUT, "cells%2F%7BCount%7D.jpg"),
        Num="4",
        Interval="1",
        TileOut={"Lines": "2", "Columns": "2"},
        TileOutputFile=loc(OUT, "..%2F..%2F..%2Fsprite.jpg"),
    )
    svc.drain()
    done = svc.query_snapshot_job_list([job["Id"]])["SnapshotJobList"]["SnapshotJob"][0]
    assert done["State"] == "Fail" and done["Code"] == "InvalidParameter.ObjectKeyInvalid", done
    assert tree(tmp_path / "outside") == outside
    assert not (tmp_path / "sprite.jpg").exists() and not (tmp_path.parent / "sprite.jpg").exists()


def test_symlink_inside_a_bucket_cannot_lead_out(
    engine: tuple[SnapshotService, Path], tmp_path: Path
) -> None:
    svc, root = engine
    (root / OUT).mkdir()
    (root / OUT / "link").symlink_to(tmp_path / "outside")
    (root / OUT / "file-link.jpg").symlink_to(tmp_path / "outside" / "keep.txt")
    before = tree(tmp_path / "outside")
    for obj in ("link%2Fx.jpg", "file-link.jpg"):
        with pytest.raises(ServiceError) as e:
            submit(svc, A, loc(OUT, obj))
        assert e.value.code == "InvalidParameter.ObjectKeyInvalid" and "escapes its bucket" in e.value.message
    assert tree(tmp_path / "outside") == before
    assert (tmp_path / "outside" / "keep.txt").read_text() == "x"


def test_safe_odd_keys_stay_inside_the_bucket(engine: tuple[SnapshotService, Path], tmp_path: Path) -> None:
    """Double encoding and look-alike slashes are plain characters: files inside the bucket, nothing else."""
    svc, root = engine
    before = tree(tmp_path)
    for obj, name in [
        ("%252F..%252Fdouble.jpg", "%2F..%2Fdouble.jpg"),
        ("..%E2%88%95..%E2%88%95u.jpg", "..\u2215..\u2215u.jpg"),
        ("a..b.jpg", "a..b.jpg"),
        ("..x.jpg", "..x.jpg"),
        ("a" * 251 + ".jpg", "a" * 251 + ".jpg"),
    ]:
        job = submit(svc, A, loc(OUT, obj))
        assert job["State"] == "Success", job
        assert (root / OUT / name).is_file()
    new = set(tree(tmp_path)) - set(before)
    assert new and all(k.startswith(f"root/{OUT}") for k in new), sorted(new)


def test_file_system_clashes_are_service_errors_not_crashes(engine: tuple[SnapshotService, Path]) -> None:
    """On OSS "a.jpg" and "a.jpg/b.jpg" can coexist; on a file system they cannot: a clear job failure."""
    svc, _root = engine
    assert submit(svc, A, loc(OUT, "a.jpg"))["State"] == "Success"
    job = submit(svc, A, loc(OUT, "a.jpg%2Fb.jpg"))
    assert job["State"] == "Fail" and job["Code"] == "InvalidParameter.ObjectKeyInvalid", job
    assert "cannot store object" in job["Message"]


def test_object_store_path_directly(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / "root")
    for key in ["../x", "/x", "a\x00b", "a\\b", "a/../../b", ".", "", "a/" * 600, "a" * 256]:
        with pytest.raises(ServiceError):
            store.path(OUT, key)
    assert store.path(OUT, "a/b.jpg") == (tmp_path / "root" / OUT / "a" / "b.jpg").resolve()


# --------------------------------------------------------------------------------------------
# (b) the emulator: the same engine behind real HTTP and the real SDK


def test_emulator_refuses_escaping_keys_over_http(tmp_path: Path, video_4s: Path) -> None:
    from aliyunsdkcore.acs_exception.exceptions import ServerException
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkmts.request.v20140618.SubmitSnapshotJobRequest import SubmitSnapshotJobRequest

    from specrunner.emulator import Emulator

    root = tmp_path / "root"
    (root / IN / "videos").mkdir(parents=True)
    (root / IN / "videos" / "a.mp4").write_bytes(video_4s.read_bytes())
    key, secret = "testAK0001", "emulator-secret-value"
    with Emulator(root, {key: secret}) as em:
        before = dict(tree(tmp_path).items())
        client = AcsClient(
            key,
            secret,
            region_id="cn-shanghai",
            auto_retry=False,
            timeout=10,
            proxy={"http": None, "https": None},
        )
        for inp, out in [
            (A, loc(OUT, "..%2F..%2F..%2Fpwned.jpg")),
            (A, loc(OUT, "%2Fabs.jpg")),
            (A, loc(OUT, "a%00b.jpg")),
            (loc(IN, "..%2F..%2Fetc%2Fpasswd"), loc(OUT, "x.jpg")),
        ]:
            req = SubmitSnapshotJobRequest()
            req.set_endpoint(em.url.removeprefix("http://"))
            req.set_Input(json.dumps(inp))
            req.set_SnapshotConfig(json.dumps({"Time": "1000", "OutputFile": out}))
            with pytest.raises(ServerException) as e:
                client.do_action_with_exception(req)
            assert e.value.error_code == "InvalidParameter.ObjectKeyInvalid", e.value
        assert {k: v for k, v in tree(tmp_path).items() if "journal" not in k} == {
            k: v for k, v in before.items() if "journal" not in k
        }

"""``statefile.backend.locate``: the one place that decides where a manifest's state lives, and the
state backends behind the one interface (a local file, OSS, and the in-memory fake of the tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from specrunner.statefile.backend import LocalBackend, OssBackend, locate
from specrunner.statefile.ossobjects import OssState
from specrunner.validate.manifest import load_manifest
from tests.fakes import MemoryBackend
from tests.records import entry

HEAD = """version: 1
defaults: {location: oss-cn-hangzhou, input_bucket: in-b, output_bucket: out-b}
inputs: [v/a.mp4]
rules:
  - {id: poster, time: 5s, output: "p/{FileName}.jpg"}
"""


def write(tmp_path: Path, extra: str = "") -> Path:
    m = tmp_path / "site.yaml"
    m.write_text(HEAD + extra)
    return m


@pytest.mark.parametrize("loaded", [False, True], ids=["read-leniently", "as-loaded"])
def test_where_the_state_lives(tmp_path: Path, loaded: bool) -> None:
    plain = write(tmp_path)
    manifest = load_manifest(plain) if loaded else None
    assert locate(plain, None, manifest) == LocalBackend(tmp_path / "site.lock.json")
    assert locate(plain, tmp_path / "x.json", manifest) == LocalBackend(tmp_path / "x.json")
    url = locate(plain, "oss://b1/k/s.lock.json", manifest)
    assert isinstance(url, OssBackend) and url.loc == OssState("b1", "k/s.lock.json", "oss-cn-hangzhou")
    assert url.shared and url.label == "oss://b1/k/s.lock.json"
    (tmp_path / "r").mkdir()
    block = write(
        tmp_path / "r",
        "state: {backend: oss, bucket: state-b, key: st/s.lock.json, location: oss-cn-beijing}\n",
    )
    manifest = load_manifest(block) if loaded else None
    here = locate(block, None, manifest)
    assert here == OssBackend(OssState("state-b", "st/s.lock.json", "oss-cn-beijing"))
    # --state wins over the block; a file given stays a file
    assert locate(block, tmp_path / "mine.json", manifest) == LocalBackend(tmp_path / "mine.json")
    other = locate(block, "oss://elsewhere/k", manifest)  # another bucket: the block's location is not its
    assert isinstance(other, OssBackend) and other.loc.location == "oss-cn-hangzhou"


def test_a_local_state_is_not_shared_and_names_its_file(tmp_path: Path) -> None:
    b = locate(write(tmp_path), None)
    assert not b.shared and b.label == str(tmp_path / "site.lock.json") and b.read() is None
    assert b.pull() is None


def test_the_in_memory_backend_runs_like_the_others() -> None:
    """The fake honours the protocol's contract: a run under its lock, a commit that bumps the serial
    once, a second run refused while the first holds the lock."""
    home = MemoryBackend()
    assert home.read() is None
    run = home.open_run("apply")
    assert not run.existed
    run.store.put("v/a.mp4::poster", entry(fingerprint="sha256:1", mode="sync", state="Success", job_id="J"))
    with pytest.raises(RuntimeError, match="locked"):
        home.open_run("apply")
    assert run.store.commit() is True
    run.store.close()
    run.lock.release()
    doc = home.read()
    assert doc is not None and doc.serial == 1 and doc.jobs["v/a.mp4::poster"].job_id == "J"
    again = home.open_run("apply")
    assert again.existed and again.store.commit() is False  # nothing changed: no new serial
    again.lock.release()
    assert home.read().serial == 1  # type: ignore[union-attr]

"""A first run that works anywhere: `init` on the local backend lays down a real sample video where the
starter manifest reads its input, so `init` then `apply` cuts real JPGs, from this checkout and from a
wheel installed outside it."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from specrunner.cli.main import cli
from tests.conftest import REPO


def _frames(root: Path) -> list[Path]:
    return sorted((root / "oss" / "media-out").rglob("*.jpg"))


def test_init_lays_down_a_sample_video_and_apply_cuts_real_jpgs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    r = runner.invoke(cli, ["init", "site.yaml"])
    assert r.exit_code == 0, r.output
    video = tmp_path / "oss" / "media-in" / "videos" / "intro.mp4"
    assert video.is_file() and 20_000 < video.stat().st_size < 400_000
    assert "oss/media-in/videos/intro.mp4 (a 100 s sample video" in " ".join(r.output.split())
    assert (
        "Next: specrunner validate site.yaml && specrunner plan site.yaml && specrunner apply site.yaml"
        in (r.output)
    )
    r = runner.invoke(cli, ["apply", "site.yaml"])
    assert r.exit_code == 0, r.output
    assert "2 succeeded, 0 failed" in r.output
    frames = _frames(tmp_path)
    assert [p.relative_to(tmp_path / "oss" / "media-out").as_posix() for p in frames] == [
        "posters/intro.jpg",
        *(f"thumbs/intro/{i:05d}.jpg" for i in range(1, 11)),
    ]
    with Image.open(frames[0]) as poster:
        assert poster.format == "JPEG" and poster.width == 640  # the starter's width: 640

    # Never overwritten, and left out on request or for a cloud backend.
    video.write_bytes(b"mine")
    assert runner.invoke(cli, ["init", "again.yaml"]).exit_code == 0
    assert video.read_bytes() == b"mine"
    r = runner.invoke(cli, ["init", "sub/none.yaml", "--no-sample"])
    assert r.exit_code == 0 and "sample" not in r.output and not (tmp_path / "sub" / "oss").exists()
    # Without the sample, the next steps stop at the plan and say where the input goes first: an
    # apply pasted from the hint would fail every job.
    assert "Next: specrunner validate sub/none.yaml && specrunner plan sub/none.yaml\n" in r.output
    assert "Put a video at sub/oss/media-in/videos/intro.mp4" in " ".join(r.output.split())
    r = runner.invoke(cli, ["init", "cloud/site.yaml", "--backend", "aliyun"])
    assert r.exit_code == 0 and not (tmp_path / "cloud" / "oss").exists()
    assert "Next: specrunner validate cloud/site.yaml && specrunner plan cloud/site.yaml\n" in r.output


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(not os.environ.get("SPECRUNNER_SLOW"), reason="set SPECRUNNER_SLOW=1 (about 30 s)")
def test_init_then_apply_from_an_installed_wheel_outside_the_repository(tmp_path: Path) -> None:
    """The wheel carries the sample video (package data); installed in a fresh venv (offline: its
    dependencies are this environment's, on the path after the wheel's own site-packages), run from a
    folder outside the repository, `init` then `apply` cuts JPGs."""
    dist = tmp_path / "dist"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")}
    # With hatchling here the build is offline; without it, pip fetches it (the only download).
    isolation = ["--no-build-isolation"] if _has("hatchling") else []
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, str(REPO), "-w", str(dist)],
        check=True,
        env=env,
        timeout=300,
    )
    (wheel,) = dist.glob("specrunner-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "specrunner/data/sample.mp4" in names and "specrunner/schemas/manifest.v1.json" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        env=env,
        timeout=120,
    )
    # The dependencies: this environment's site-packages, after the wheel's (a path line in a .pth
    # adds the folder without running the .pth files in it, so this checkout's editable install stays out).
    site = Path(
        subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "zz-shared-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    exe = str(venv / "bin" / "specrunner")
    where = subprocess.run(
        [str(py), "-c", "import specrunner; print(specrunner.__file__)"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        check=True,
    ).stdout
    assert where.startswith(str(site)), where  # the wheel's code, not the checkout's
    r = subprocess.run(
        [exe, "init", "site.yaml"], capture_output=True, text=True, cwd=work, env=env, timeout=120
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [exe, "apply", "site.yaml"], capture_output=True, text=True, cwd=work, env=env, timeout=300
    )
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "2 succeeded, 0 failed" in r.stdout
    assert len(_frames(work)) == 11


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None

"""The commented starter manifest written by `specrunner init`, and the schema its editor line names.

Editors (the YAML language server) read ``# yaml-language-server: $schema=<path or URL>``. The path
must exist for whoever opens the manifest, offline too: inside a specrunner checkout it is the
checkout's ``schemas/manifest.v1.json`` (relative); anywhere else (a pip install) ``init`` writes the
installed package's schema next to the manifest as ``manifest.v1.json`` and names it relatively, so
the pair can be committed and works on every machine without network. An existing file of that
name is never overwritten (``specrunner schema > manifest.v1.json`` refreshes it).

A first run that works anywhere: on the local backend ``init`` also lays down a small real video
where the starter's input points (``<root>/<input bucket>/<input key>`` next to the manifest), so
``init`` then ``apply`` cuts real JPGs from an installed wheel, outside any checkout. The video ships
as package data (``specrunner/data/sample.mp4``, ~100 KB: 100 s, 320x180, 2 fps, a keyframe every
10 s, each frame showing its number and time), made once with
``specrunner.testing.video.make_video(path, duration_s=100, fps=2, width=320, height=180, gop=20)``.
An existing file is never overwritten.
"""

from __future__ import annotations

import os
import shutil
from importlib.resources import files
from pathlib import Path

from specrunner.validate.schema import MANIFEST_SCHEMA, schema_path, schema_text

# Where the local starter reads its input: one definition for the manifest text and the sample.
ROOT = "./oss"
INPUT_BUCKET = "media-in"
INPUT_KEY = "videos/intro.mp4"
SAMPLE = "data/sample.mp4"  # in the package


def sample_path(path: Path) -> Path:
    """Where the local starter manifest at ``path`` expects its input video."""
    return path.parent / ROOT / INPUT_BUCKET / INPUT_KEY


def write_sample(path: Path) -> Path | None:
    """Copy the packaged sample video to where the starter manifest at ``path`` reads its input.
    Returns the file written, or None if one is there already (never overwritten)."""
    dest = sample_path(path)
    if dest.exists():
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    with files("specrunner").joinpath(SAMPLE).open("rb") as src, dest.open("xb") as out:
        shutil.copyfileobj(src, out)
    return dest


def schema_reference(path: Path) -> tuple[str, Path | None]:
    """(the $schema value for a manifest at ``path``, the schema file to write next to it or None)."""
    schema = schema_path(MANIFEST_SCHEMA).resolve()
    repo = schema.parent.parent
    here = path.resolve().parent
    if (here == repo or repo in here.parents) and schema.parent.name == "schemas":
        return os.path.relpath(schema, here), None
    local = here / MANIFEST_SCHEMA
    return f"./{MANIFEST_SCHEMA}", local


def write_schema_copy(local: Path) -> bool:
    """Write the installed schema to ``local`` unless a file is there already. True if written."""
    if local.exists():
        return False
    local.write_text(schema_text(MANIFEST_SCHEMA), encoding="utf-8")
    return True


def starter_manifest(path: Path, backend: str) -> str:
    rel, _ = schema_reference(path)
    target = (
        (
            "target:\n  backend: local          # the embedded engine: buckets are folders under root\n"
            f"  root: {ROOT}\n"
        )
        if backend == "local"
        else (
            "target:\n  backend: aliyun\n  region: cn-shanghai\n"
            "  # pipeline_id: <MTS pipeline id>   # optional; needed for notifications\n"
            "  # qps: {submit: 50, query: 100}    # your account's limits\n"
            "# The state (job ids) in OSS, shared by every CI runner and laptop, locked with a lease\n"
            "# (docs/ci.md): a runner's local lock file dies with its disk. Uncomment and name a bucket\n"
            "# of yours; one key per manifest.\n"
            "# state:\n"
            "#   backend: oss\n"
            "#   bucket: my-team-state\n"
            f"#   key: specrunner/{path.stem}.lock.json\n"
            "#   location: oss-cn-shanghai\n"
        )
    )
    return f"""# yaml-language-server: $schema={rel}
# A specrunner manifest: every rule below runs on every input (inputs x rules = jobs).
#   specrunner validate {path.name}   # every problem at once, with file:line:col
#   specrunner plan {path.name}       # what would happen, job by job
#   specrunner apply {path.name}      # does it; records job ids in {path.stem}.lock.json
version: 1
# name: {path.stem}   # optional: its identity in the state (default: its path in the git repository)
# variables:                    # one manifest, several environments: "${{var.env}}" in any string
#   env: {{type: string, default: dev}}   # set with --var env=prod; never a secret (plans show it)
{target}defaults:
  location: oss-cn-shanghai     # OSS region of the buckets
  input_bucket: {INPUT_BUCKET}
  output_bucket: media-out
inputs:
  - {INPUT_KEY}            # an object key (plain text); also the input's id
  # - {{id: launch, object: "videos/launch day.mp4", bucket: other-in}}
rules:
  - id: poster                  # one frame -> a sync job
    time: 5s                    # ms, s, m, h or HH:MM:SS(.fff); a bare number is ms
    width: 640                  # one side only keeps the aspect ratio
    output: posters/{{FileName}}.jpg
  - id: thumbs                  # several frames -> an async job
    time: 0
    interval: 10s               # a bare number is seconds; 0 spreads them evenly
    num: 10
    frame_type: intra           # intra (nearest keyframe) | normal (exact frame)
    output: thumbs/{{FileName}}/{{Count}}.jpg
    # tile: {{lines: 2, columns: 5, output: "sprites/{{FileName}}-{{TileCount}}.jpg"}}
# moved:                        # after renaming a rule: its jobs keep their records (no resubmit)
#   - {{from: poster, to: cover}}
"""

"""The commented starter manifest written by `specrunner init`."""

from __future__ import annotations

import os
from pathlib import Path

from .schema import schema_path


def starter_manifest(path: Path, backend: str) -> str:
    schema = schema_path("manifest.v1.json").resolve()
    repo = schema.parent.parent
    here = path.resolve().parent
    if here == repo or repo in here.parents:
        rel = os.path.relpath(schema, here)
    else:  # outside a specrunner checkout: `specrunner schema > manifest.v1.json` gives a local copy
        rel = "https://specrunner.dev/schemas/manifest.v1.json"
    target = ("target:\n  backend: local          # the embedded engine: buckets are folders under root\n"
              "  root: ./oss\n") if backend == "local" else (
              "target:\n  backend: aliyun\n  region: cn-shanghai\n"
              "  # pipeline_id: <MTS pipeline id>   # optional; needed for notifications\n"
              "  # qps: {submit: 50, query: 100}    # your account's limits\n")
    return f"""# yaml-language-server: $schema={rel}
# A specrunner manifest: every rule below runs on every input (inputs x rules = jobs).
#   specrunner validate {path.name}   # every problem at once, with file:line:col
#   specrunner plan {path.name}       # what would happen, job by job
#   specrunner apply {path.name}      # does it; records job ids in {path.stem}.lock.json
version: 1
{target}defaults:
  location: oss-cn-shanghai     # OSS region of the buckets
  input_bucket: media-in
  output_bucket: media-out
inputs:
  - videos/intro.mp4            # an object key (plain text); also the input's id
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
"""

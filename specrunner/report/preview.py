"""``specrunner preview``: run a manifest's rules on the embedded local engine, in a scratch folder.

The scratch folder is ``<manifest dir>/.specrunner/preview/<manifest stem>/`` (git-ignored), emptied
at the start of every preview::

    oss/<bucket>/<key>      the scratch root: input videos (hard links or copies) and the outputs
    <stem>.lock.json        the scratch state (the real ``<stem>.lock.json`` is never read or written)
    runs/                   the run results of the preview
    report/index.html       the contact sheet (unless --out says otherwise)

Inputs: for a local target, the manifest's own videos; with ``--sample DIR`` (required for a cloud
target), the files of DIR: an input takes the sample with the same file name as its object key's
basename, else the samples in name order, cycling (``first`` restricts that pool to the first N).
The manifest itself is the user's, unchanged except its target (local, at the scratch root), so the
jobs send exactly the requests the cloud would receive.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specrunner.core.errors import SpecrunnerError
from specrunner.core.jobs import expand
from specrunner.core.model import Manifest, evolve
from specrunner.core.plan import TargetError, keys_hint, select
from specrunner.engine.errors import ServiceError
from specrunner.engine.objects import ObjectStore
from specrunner.ops.context import Context
from specrunner.ops.execute import ApplyOptions, apply
from specrunner.ops.planrequest import PlanRequest
from specrunner.render.json import write_run_results
from specrunner.report.build import collect, ensure_ignored, local_root, write_report
from specrunner.statefile.journal import read_state
from specrunner.validate.manifest import load_manifest
from specrunner.validate.yamlload import display_path as display

SAMPLE_SKIP = {".DS_Store", "Thumbs.db", "desktop.ini"}

if TYPE_CHECKING:
    from specrunner.apply.events import Event


@dataclass
class Assignment:
    input_id: str
    object: str  # "bucket/key"
    source: Path | None  # the video used; None: none (the job fails as a real run would)
    how: str  # for people: "its own file", "sample launch.mp4 (same name)", ...


@dataclass
class PreviewResult:
    scratch: Path
    root: Path
    state_path: Path
    index: Path
    assignments: list[Assignment]
    outcome: Any  # ops.execute.ApplyOutcome
    report: Any  # build.Report
    run_file: Path | None = None
    notes: list[str] = field(default_factory=list)


def scratch_dir(manifest_path: Path) -> Path:
    p = Path(manifest_path).resolve()
    return p.parent / ".specrunner" / "preview" / p.stem


def list_samples(sample_dir: Path) -> list[Path]:
    d = Path(sample_dir)
    if not d.is_dir():
        raise SpecrunnerError(f"--sample {d}: not a folder", hint="pass a folder of sample videos")
    files = sorted(
        (p for p in d.iterdir() if p.is_file() and not p.name.startswith(".") and p.name not in SAMPLE_SKIP),
        key=lambda p: p.name,
    )
    if not files:
        raise SpecrunnerError(f"--sample {d}: the folder has no files", hint="put a few short videos in it")
    return files


def assign(
    manifest: Manifest, real_root: Path | None, samples: list[Path] | None, first: int | None
) -> list[Assignment]:
    """Which video each input uses in the preview."""
    out = []
    by_name = {p.name: p for p in samples or []}
    pool = (samples or [])[:first] if first else list(samples or [])
    cycled = 0
    for inp in manifest.inputs:
        obj = f"{inp.bucket}/{inp.object}"
        base = inp.object.rsplit("/", 1)[-1]
        if samples is not None:
            if base in by_name:
                out.append(Assignment(inp.id, obj, by_name[base], f"sample {base} (same file name)"))
            else:
                src = pool[cycled % len(pool)]
                cycled += 1
                out.append(
                    Assignment(
                        inp.id,
                        obj,
                        src,
                        f"sample {src.name} (no sample named {base}; "
                        f"samples in name order{f', first {first}' if first else ''})",
                    )
                )
            continue
        own = _real_input(real_root, inp.bucket, inp.object)
        if own is None:
            out.append(
                Assignment(inp.id, obj, None, "its own file is missing: the job fails as a real run would")
            )
        else:
            out.append(Assignment(inp.id, obj, own, "its own file"))
    return out


def _real_input(root: Path | None, bucket: str, key: str) -> Path | None:

    if root is None:
        return None
    try:
        p = ObjectStore(root).path(bucket, key)
    except ServiceError:
        return None
    return p if p.is_file() else None


def _place(src: Path, dest: Path) -> None:
    """Hard-link ``src`` at ``dest`` (copy across file systems); the engine only reads inputs."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        return
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def run_preview(
    manifest_path: Path,
    *,
    sample_dir: Path | None = None,
    first: int | None = None,
    out: Path | None = None,
    on_event: Callable[[Event], None] | None = None,
    targets: tuple[str, ...] = (),
    excludes: tuple[str, ...] = (),
) -> PreviewResult:
    """Run the selected jobs (``targets`` / ``excludes``: globs as for ``plan``; none: every job)."""

    mpath = Path(manifest_path)
    manifest = load_manifest(mpath)
    cloud = manifest.target.backend != "local"
    if cloud and sample_dir is None:
        raise SpecrunnerError(
            f"{display(mpath)} targets {manifest.target.backend}: its inputs are not on this machine",
            hint="pass --sample DIR, a folder of local videos to stand in for the inputs",
        )
    samples = list_samples(sample_dir) if sample_dir is not None else None
    assignments = assign(manifest, local_root(manifest), samples, first)

    scratch = scratch_dir(mpath)
    ensure_ignored(scratch.parent.parent)
    if scratch.exists():
        shutil.rmtree(scratch)
    root = scratch / "oss"
    store = ObjectStore(root)
    for a in assignments:
        if a.source is None:
            continue
        bucket, _, key = a.object.partition("/")
        try:
            _place(a.source, store.path(bucket, key))
        except ServiceError:  # pragma: no cover - the manifest validator refuses such keys
            a.how += " (not placed: invalid object key)"
        except OSError as e:
            raise SpecrunnerError(f"cannot place {a.source} in the scratch root: {e.strerror or e}") from None

    # The user's manifest, only the target swapped: the same jobs, the same requests, the same fingerprints.
    target = evolve(manifest.target, backend="local", root=str(root), region=None, endpoint=None)
    scratch_manifest = evolve(manifest, target=target)
    state_path = scratch / f"{mpath.stem}.lock.json"
    ctx = Context(mpath, state_path, scratch_manifest, expand(scratch_manifest), None)
    try:
        outcome = apply(ctx, PlanRequest(targets, excludes), ApplyOptions(wait=True), on_event=on_event)
    except TargetError as e:
        e.hint = keys_hint(display(mpath))
        raise
    outcome.run_file = write_run_results(ctx, outcome)
    run_file = None
    if outcome.run_file is not None:  # keep the preview's run results with the preview
        run_file = scratch / "runs" / outcome.run_file.name
        run_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(outcome.run_file, run_file)

    where = "cloud" if cloud else "real"
    chosen = select([j.key for j in ctx.jobs], targets, excludes)
    report = collect(
        scratch_manifest,
        [j for j in ctx.jobs if j.key in chosen],
        read_state(state_path),
        title=f"Preview · {mpath.name}",
        manifest_label=display(mpath),
        state_label=f"{display(state_path)} (scratch)",
        root=root,
    )
    report.backend = "local engine (preview of an aliyun manifest)" if cloud else "local engine (preview)"
    report.banner.append(
        f"Preview on the embedded local engine: nothing was submitted to MTS; the {where} "
        f"state file and output buckets were not touched. Scratch folder: "
        f"{display(scratch)}."
    )
    report.samples = [(a.input_id, a.object, a.how) for a in assignments]
    index = write_report(report, Path(out) if out else scratch / "report")
    return PreviewResult(scratch, root, state_path, index, assignments, outcome, report, run_file)

"""The context every command works in: the manifest, its jobs and its state as read, and where that state
lives (``statefile.backend.locate``).

Invariants:
- ``load_context`` reads the state after taking its signature, so a change after the read is seen.
- Inputs found by discovery (``{prefix, match}`` entries, listed at plan time) are checked for output
  collisions here; the listed ones were checked by validation.
- ``check_owner`` refuses a state another manifest owns (``statefile.owner``) before anything is planned.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specrunner.core.errors import ManifestError
from specrunner.core.jobs import Job, expand
from specrunner.core.model import Input, Manifest, evolve
from specrunner.core.record import LockEntry
from specrunner.statefile.backend import LocalBackend, StateBackend, locate
from specrunner.statefile.doc import StateDoc
from specrunner.statefile.owner import Owner, foreign_state, is_default_state, manifest_owner
from specrunner.validate.manifest import load_manifest


@dataclass
class Context:
    manifest_path: Path
    state_path: Path
    manifest: Manifest
    jobs: Sequence[Job]
    state: StateDoc | None
    discovered: list[tuple[Any, int]] = field(default_factory=list)
    state_signature: Any = None  # state files' signature when `state` was read
    where: StateBackend | None = None  # the state's home (``statefile.backend.locate``); None: state_path
    owner: Owner | None = None  # this manifest's identity in its state (``statefile.owner``)
    owner_strict: bool = False  # refuse a state another manifest owns (not the local default state)
    state_arg: str | None = None  # --state as given (repeated in hints)
    # Inputs' (size, ETag) by "bucket/key", as input discovery listed them (OSS: at no extra cost).
    input_etags: dict[str, tuple[int, str]] = field(default_factory=dict)
    refreshed: Any = None  # what the last plan's refresh found (``ops.refresh.Refresh``)

    @property
    def home(self) -> StateBackend:
        """Where the state lives (a local file, OSS): read, locked and written through this."""
        return self.where if self.where is not None else LocalBackend(self.state_path)

    @property
    def state_label(self) -> str:
        """The state as people name it: its file, or its oss:// URL."""
        return self.home.label

    @property
    def state_jobs(self) -> dict[str, LockEntry]:
        return self.state.jobs if self.state else {}

    def state_digest(self) -> str | None:
        return self.state.digest() if self.state else None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building large acyclic structures (100,000 jobs and their records):
    its full collections otherwise rescan every object built so far, again and again. What was
    built is then frozen (moved out of the collector's sight: it lives as long as the command),
    so the first collection afterwards does not scan it all either."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def load_context(
    manifest_path: str | Path,
    state_path: str | Path | None = None,
    *,
    lister: Any = None,
    expand_jobs: bool = True,
) -> Context:
    """The manifest, its jobs (``expand_jobs=False``: none, no input listed) and its state as read."""
    with gc_paused():
        return _load_context(manifest_path, state_path, lister=lister, expand_jobs=expand_jobs)


def _load_context(
    manifest_path: str | Path,
    state_path: str | Path | None = None,
    *,
    lister: Any = None,
    expand_jobs: bool = True,
) -> Context:
    mpath = Path(manifest_path)
    manifest = load_manifest(mpath)
    owner = manifest_owner(mpath, manifest.name)
    where = locate(mpath, state_path, manifest)
    spath = where.path
    discovered: list[tuple[Any, int]] = []
    input_etags: dict[str, tuple[int, str]] = {}
    if manifest.discoveries and expand_jobs:
        manifest, discovered = discover_inputs(manifest, lister, input_etags)
    jobs: Sequence[Job] = expand(manifest) if expand_jobs else ()
    if discovered:  # validation checked the listed inputs; discovered ones are checked here
        check_collisions(jobs)
    # The local default state follows its manifest (both renamed together); any other is refused to
    # another manifest than its owner.
    strict = where.shared or not is_default_state(mpath, spath)
    arg = None if state_path is None else (where.label if where.shared else str(state_path))
    signature = where.signature()  # before the read: a change after it is seen as a change
    ctx = Context(mpath, spath, manifest, jobs, where.read(), where=where)
    ctx.discovered = discovered
    ctx.input_etags = input_etags
    ctx.state_signature = signature
    ctx.owner, ctx.owner_strict, ctx.state_arg = owner, strict, arg
    return ctx


def check_owner(ctx: Context) -> None:
    """Refuse a state that another manifest owns (``statefile.owner``), before anything is planned."""
    doc, owner = ctx.state, ctx.owner
    if doc is None or owner is None or not ctx.owner_strict or owner.accepts(doc.owner):
        return
    assert doc.owner is not None
    where = ctx.state_label
    raise foreign_state(
        where, doc.owner, str(ctx.manifest_path), owner, jobs=doc.job_count(), state_arg=ctx.state_arg
    )


def discover_inputs(
    manifest: Manifest, lister: Any = None, etags: dict[str, tuple[int, str]] | None = None
) -> tuple[Manifest, list[tuple[Any, int]]]:
    """Expand `{prefix, match}` input entries by listing the bucket (at plan time). ``etags`` gets the
    discovered inputs' (size, ETag) when the lister saw them (OSS: ``OssLister.seen``)."""
    # Imported here: `plan` of a manifest without discovery entries never loads the backends.
    from specrunner.backends import open_lister

    lister = lister or open_lister(manifest)
    inputs = list(manifest.inputs)
    seen = {i.id for i in inputs}
    found: list[tuple[Any, int]] = []
    for d in manifest.discoveries:
        keys = [k for k in lister(d.bucket, d.location, d.prefix) if d.matches(k)]
        n = 0
        for key in keys:
            if key in seen:
                continue
            seen.add(key)
            inputs.append(Input(id=key, object=key, bucket=d.bucket, location=d.location))
            n += 1
            got = getattr(lister, "seen", {}).get((d.bucket, key))
            if etags is not None and got is not None:
                etags[f"{d.bucket}/{key}"] = got
        found.append((d, n))
    return evolve(manifest, inputs=tuple(inputs)), found


def check_collisions(jobs: Iterable[Job]) -> None:
    """Two jobs must never write the same object (checked again after discovery)."""
    owner: dict[str, str] = {}
    for job in jobs:
        for tpl in filter(None, (job.output_template, job.tile_template)):
            other = owner.setdefault(tpl, job.key)
            if other != job.key:
                raise ManifestError(
                    f"jobs {other} and {job.key} would both write {tpl}",
                    hint="add {FileName} or {ObjectPrefix} to the rule's output "
                    "so every input gets its own objects",
                )

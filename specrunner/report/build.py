"""Collect what a contact sheet shows, and write the self-contained report folder.

:func:`collect` turns a manifest, its jobs and a state document into a :class:`Report`: one
:class:`Section` per rule, one :class:`Card` per job, each with its snapshots (:class:`Shot`) in
time order. It reads the local engine's files only to find them and to probe input durations.

:func:`write_report` copies the images (downscaled when large) into ``<out>/images/`` and writes
``<out>/index.html``; every reference in the page is relative, so the folder can be zipped.

Snapshot times are computed from the request (``Time``, ``Interval``, ``Num``) the way the engine
picks its capture points; they are marked approximate (``≈``) where the service may pick another
frame (``FrameType`` intra: the nearest keyframe; black-frame filtering; fewer frames than points).
"""

from __future__ import annotations

import glob
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from specrunner.core.errors import SpecrunnerError
from specrunner.core.jobs import Job, describe_rule, split_key
from specrunner.core.model import Manifest
from specrunner.core.record import LockEntry
from specrunner.core.templates import resolve_template
from specrunner.engine.api import parse_config
from specrunner.engine.errors import ServiceError, VideoError
from specrunner.engine.objects import ObjectStore
from specrunner.engine.points import DEFAULT_INTERVAL_MS, capture_points
from specrunner.ops.refresh import Refresh
from specrunner.report.html import render
from specrunner.report.model import GENERATOR, STATUSES, Card, Report, Section, Shot, format_time
from specrunner.statefile.doc import StateDoc

CELL_MAX_WIDTH = 320
SPRITE_MAX_WIDTH = 960
_PLACEHOLDER = re.compile(r"\{(Count|TileCount|SnapshotTime)\}")


# ------------------------------------------------------------------------------------- collect


def local_root(manifest: Manifest) -> Path | None:
    """The local engine's folder of buckets, or None for a cloud target."""
    if manifest.target.backend != "local":
        return None
    return (Path(manifest.base_dir) / manifest.target.root).resolve()


def collect(
    manifest: Manifest,
    jobs: Sequence[Job],
    state: StateDoc | None,
    *,
    title: str,
    manifest_label: str,
    state_label: str,
    root: Path | None = None,
    refreshed: Refresh | None = None,
) -> Report:
    """The report of ``jobs`` (the manifest's) and ``state``; ``root``: where the objects are files;
    ``refreshed``: what a refresh found in the buckets (missing and changed outputs are marked)."""

    files = _Files(root)
    records = state.jobs if state else {}
    sections: dict[str, Section] = {r.id: Section(r.id, describe_rule(r)) for r in manifest.rules}
    seen = set()
    for job in jobs:
        seen.add(job.key)
        card = _card(job.key, job, records.get(job.key), files)
        _verified(card, records.get(job.key), refreshed)
        sections[job.rule_id].cards.append(card)
    for key in sorted(set(records) - seen):  # in the state, no longer in the manifest
        rec = records[key]
        rule_id = rec.rule or split_key(key)[1]
        sec = sections.get(rule_id)
        if sec is None:
            sec = sections[rule_id] = Section(rule_id, "not in the manifest any more", in_manifest=False)
        card = _card(key, None, rec, files)
        card.notes.append("no longer in the manifest: the next apply forgets it (MTS and OSS keep the files)")
        sec.cards.append(card)
    for sec in sections.values():
        sec.cards.sort(key=lambda c: (STATUSES.index(c.status), c.key))
    return Report(
        title=title,
        manifest=manifest_label,
        backend=manifest.target.backend,
        state=state_label,
        sections=list(sections.values()),
        local_images=root is not None,
    )


def _verified(card: Card, rec: LockEntry | None, refreshed: Refresh | None) -> None:
    """What the buckets hold of the card's outputs: missing and changed ones marked, and when the
    outputs were last listed."""
    if rec is None or card.status != "Success":
        return
    if refreshed is not None and refreshed.enabled:
        gone = refreshed.missing_outputs.get(card.key, [])
        card.missing = sorted(set(card.missing) | set(gone))
        changed = refreshed.changed_outputs.get(card.key, [])
        if changed:
            card.notes.append(
                f"{len(changed)} output(s) changed in the bucket since they were written (refreshed "
                f"{refreshed.at}): {', '.join(changed[:3])}; the next apply replaces the job"
            )
        if gone:
            card.notes.append(f"refreshed {refreshed.at}: the next apply replaces the job")
    if rec.seen_at:
        card.notes.append(f"outputs listed (size and ETag) at {rec.seen_at}")


def _card(key: str, job: Job | None, rec: LockEntry | None, files: _Files) -> Card:
    input_id, rule_id = split_key(key)
    request = (rec.request if rec is not None else None) or (job.request if job else None)
    card = Card(
        key=key,
        rule_id=job.rule_id if job else (rec.rule if rec is not None else "") or rule_id,
        input_id=job.input_id if job else input_id,
        input_ref=job.input_ref if job else (rec.input if rec is not None else ""),
        status=rec.status if rec is not None else "Not run",
        mode=(rec.mode if rec is not None else "") or (job.mode if job else ""),
    )
    if rec is not None:
        card.count, card.tile_count = rec.count, rec.tile_count
        card.code, card.message = rec.code, rec.message
        card.job_id = rec.job_id
        if job is not None and not job.matches(rec.fingerprint):
            card.notes.append("the rule or input changed since this ran: the next apply replaces it")
        if card.status == "Interrupted":
            card.notes.append("the submission was interrupted: the next apply looks it up by its tag")
    elif card.status == "Not run":
        card.notes.append("not applied yet")
    if isinstance(request, dict):
        card.duration_ms = files.duration(request)
        if card.status == "Success":
            card.shots, card.missing = _shots(request, rec, card.duration_ms, files)
    return card


def _shots(
    request: dict[str, Any], rec: LockEntry | None, duration_ms: int | None, files: _Files
) -> tuple[list[Shot], list[str]]:
    try:
        cfg = request["SnapshotConfig"]
        in_obj = unquote(request["Input"]["Object"])
        out = cfg["OutputFile"]
        cell_re = _template_re(f"{out['Bucket']}/{resolve_template(unquote(out['Object']), in_obj)}")
        tile_re = None
        if isinstance(cfg.get("TileOutputFile"), dict):
            t = cfg["TileOutputFile"]
            tile_re = _template_re(f"{t['Bucket']}/{resolve_template(unquote(t['Object']), in_obj)}")
    except (KeyError, TypeError):
        cfg, cell_re, tile_re = {}, None, None
    count = (rec.count if rec is not None else None) or 0
    times = snapshot_times(cfg, count, duration_ms)
    cells: list[Shot] = []
    sprites: list[Shot] = []
    missing: list[str] = []
    for obj in rec.outputs if rec is not None else ():
        m = tile_re.fullmatch(obj) if tile_re else None
        kind = "sprite" if m else "cell"
        m = m or (cell_re.fullmatch(obj) if cell_re else None)
        groups = m.groupdict() if m else {}
        index = groups.get("TileCount") or groups.get("Count")
        found = files.find(obj)
        if files.root is not None and not found:
            missing.append(obj)
        entries: list[tuple[str, Path | None, int | None]] = [*found] if found else [(obj, None, None)]
        for real_obj, path, real_time in entries:
            shot = Shot(
                kind, real_obj, int(index) if index else (1 if kind == "cell" and m else None), file=path
            )
            if real_time is not None:
                shot.time_ms, shot.approx = real_time, False
            (sprites if kind == "sprite" else cells).append(shot)
    for shot in cells:
        if shot.time_ms is None and shot.index is not None and 0 < shot.index <= len(times):
            shot.time_ms, shot.approx = times[shot.index - 1]
    cells.sort(key=lambda s: (s.time_ms if s.time_ms is not None else -1, s.index or 0, s.object))
    for shot in cells:
        shot.label = format_time(shot.time_ms, shot.approx) if shot.time_ms is not None else "time unknown"
        if shot.index is not None:
            shot.detail = f"#{shot.index}"
    sprites.sort(key=lambda s: (s.index or 0, s.object))
    _label_sprites(sprites, cfg, count, times)
    return cells + sprites, missing


def _label_sprites(
    sprites: list[Shot], cfg: dict[str, Any], count: int, times: list[tuple[int | None, bool]]
) -> None:
    tile = cfg.get("TileOut")
    tile = tile if isinstance(tile, dict) else {}
    try:
        lines, columns = int(tile.get("Lines", 10)), int(tile.get("Columns", 10))
    except (TypeError, ValueError):
        lines = columns = 0
    per = lines * columns
    for n, shot in enumerate(sprites, start=1):
        i = shot.index or n
        shot.label = f"sprite {i} of {len(sprites)}"
        parts = [f"{lines} rows × {columns} cols" if per else "grid unknown"]
        if per and count:
            first, last = (i - 1) * per + 1, min(i * per, count)
            if first <= last:
                parts.append(f"frames {first}–{last}" if last > first else f"frame {first}")
                t0 = times[first - 1] if first - 1 < len(times) else (None, True)
                t1 = times[last - 1] if last - 1 < len(times) else (None, True)
                if t0[0] is not None and t1[0] is not None:
                    parts.append(f"{format_time(t0[0], t0[1])} → {format_time(t1[0], t1[1])}")
        shot.detail = " · ".join(parts)


def _template_re(template: str) -> re.Pattern[str]:
    """A regex for the objects ``template`` yields: {Count}/{TileCount} digits; {SnapshotTime} as is."""
    out, pos = [], 0
    for m in _PLACEHOLDER.finditer(template):
        out.append(re.escape(template[pos : m.start()]))
        name = m.group(1)
        if name == "SnapshotTime":
            out.append(r"(?:\d+|\{SnapshotTime\})")
        elif f"(?P<{name}>" in "".join(out):
            out.append(f"(?P={name})")
        else:
            out.append(f"(?P<{name}>\\d+)")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out))


def snapshot_times(cfg: dict[str, Any], count: int, duration_ms: int | None) -> list[tuple[int | None, bool]]:
    """(time in ms or None, approximate?) of each of ``count`` snapshots of a SnapshotConfig."""

    if not count:
        return []
    try:
        spec = parse_config(cfg)
    except (ServiceError, TypeError, ValueError, AttributeError):
        return [(None, True)] * count
    points: list[int] = []
    if duration_ms:
        try:
            points = capture_points(spec, duration_ms)
        except (VideoError, ValueError):
            points = []
    elif not spec.is_async or spec.num == 1:
        points = [spec.time_ms]
    elif spec.interval_s != 0:  # without the duration, only evenly spread points are unknown
        step = DEFAULT_INTERVAL_MS if spec.interval_s is None else int(spec.interval_s * 1000)
        points = [spec.time_ms + k * step for k in range(count)]
    approx = spec.frame_type == "intra" or len(points) != count
    out: list[tuple[int | None, bool]] = []
    for i in range(count):
        t = points[i] if i < len(points) else None
        out.append((t, approx or (i == 0 and spec.black_level is not None)))
    return out


class _Files:
    """Objects as files under the local engine's root (None: a cloud target, no files)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._store: ObjectStore | None = None
        self._durations: dict[Path, int | None] = {}
        if root is not None:
            self._store = ObjectStore(root)

    def path(self, bucket: str, key: str) -> Path | None:

        if self._store is None:
            return None
        try:
            return self._store.path(bucket, key)  # refuses keys that would leave the bucket
        except ServiceError:
            return None

    def find(self, obj: str) -> list[tuple[str, Path, int | None]]:
        """(object, file, real time from {SnapshotTime}) for ``obj``; [] when it is not on disk."""
        bucket, _, key = obj.partition("/")
        if "{SnapshotTime}" not in key:
            p = self.path(bucket, key)
            return [(obj, p, None)] if p is not None and p.is_file() else []
        base = self.path(bucket, key.replace("{SnapshotTime}", "0"))
        if base is None or self._store is None:
            return []
        bucket_dir = self._store.root / bucket
        pattern = glob.escape(key).replace("{SnapshotTime}", "[0-9]*")
        rx = re.compile(re.escape(key).replace(re.escape("{SnapshotTime}"), r"(\d+)"))
        found: list[tuple[str, Path, int | None]] = []
        for p in sorted(bucket_dir.glob(pattern)):
            rel = p.relative_to(bucket_dir).as_posix()
            m = rx.fullmatch(rel)
            if m and p.is_file():
                found.append((f"{bucket}/{rel}", p, int(m.group(1))))
        return found

    def duration(self, request: dict[str, Any]) -> int | None:
        """The input's duration (ms) when it is a local file the engine can read."""

        try:
            p = self.path(request["Input"]["Bucket"], unquote(request["Input"]["Object"]))
        except (KeyError, TypeError):
            return None
        if p is None or not p.is_file():
            return None
        if p not in self._durations:
            from specrunner.engine.frames import probe  # PyAV: loaded only when a video is probed

            try:
                self._durations[p] = probe(p)[0]
            except (VideoError, OSError, ValueError):
                self._durations[p] = None
        return self._durations[p]


# --------------------------------------------------------------------------------------- write


def default_out(manifest_path: Path) -> Path:
    """``<manifest dir>/.specrunner/report/<stem>/`` (git-ignored)."""
    p = Path(manifest_path).resolve()
    return p.parent / ".specrunner" / "report" / p.stem


def ensure_ignored(specrunner_dir: Path) -> None:
    """``.specrunner/`` holds generated files only: make git ignore it (as run results do)."""
    specrunner_dir.mkdir(parents=True, exist_ok=True)
    ignore = specrunner_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# written by specrunner: run results, previews, reports; never committed\n*\n")


def write_report(report: Report, out: Path) -> Path:
    """Write ``out/index.html`` and ``out/images/``; return the page's path."""

    out = Path(out)
    index, images = out / "index.html", out / "images"
    if out.exists() and not out.is_dir():
        raise SpecrunnerError(f"{out} is a file; --out takes a folder")
    ours = index.is_file() and _is_ours(index)
    if (index.exists() or images.exists()) and not ours:
        raise SpecrunnerError(
            f"{out} already holds an index.html or images/ that specrunner did not write",
            hint="choose an empty folder for --out",
        )
    try:
        if images.exists():
            shutil.rmtree(images)
        images.mkdir(parents=True)
        n = 0
        for card in report.cards:
            for shot in card.shots:
                if shot.file is None:
                    continue
                n += 1
                name = f"{n:04d}-{_slug(shot.object)}.jpg"
                limit = SPRITE_MAX_WIDTH if shot.kind == "sprite" else CELL_MAX_WIDTH
                if _thumbnail(shot, images / name, limit):
                    shot.src = f"images/{name}"
        tmp = index.with_name(".index.html.tmp")
        tmp.write_text(render(report), encoding="utf-8")
        tmp.replace(index)
    except OSError as e:
        raise SpecrunnerError(f"cannot write the report to {out}: {e.strerror or e}") from None
    return index


def _is_ours(index: Path) -> bool:
    try:
        with open(index, encoding="utf-8", errors="replace") as f:
            return f'<meta name="generator" content="{GENERATOR}">' in f.read(2048)
    except OSError:
        return False


def _slug(obj: str) -> str:
    stem = obj.rsplit(".", 1)[0]
    return (re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-") or "image")[-60:]


def _thumbnail(shot: Shot, dest: Path, max_width: int) -> bool:
    """Copy ``shot.file`` to ``dest``, downscaled to ``max_width`` px when wider. False if unreadable."""
    from PIL import Image, UnidentifiedImageError

    assert shot.file is not None
    try:
        with Image.open(shot.file) as im:
            shot.width, shot.height = im.size
            if im.width > max_width:
                h = max(1, round(im.height * max_width / im.width))
                small = im.convert("RGB").resize((max_width, h), Image.Resampling.LANCZOS)
                small.save(dest, "JPEG", quality=85)
                shot.width, shot.height = max_width, h
                return True
    except (UnidentifiedImageError, OSError, ValueError):
        return False
    shutil.copyfile(shot.file, dest)
    return True

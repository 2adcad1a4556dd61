"""The local MTS service: SubmitSnapshotJob and QuerySnapshotJobList over a folder.

Buckets are folders under ``root``; objects are files. Job records persist as JSON under
``root/.mts/jobs/`` so that a later process (a rerun, the emulator, ``refresh``) can query them.
Async jobs move Submitted -> Snapshoting -> Success/Fail on a worker pool; a job whose process died
mid-way is picked up again by whichever process next queries it (a per-job OS lock decides who).

The API is the service's, shapes included: requests carry JSON strings with URL-encoded object keys;
answers are AliyunSnapshotJob dicts whose scalars are all strings. Invalid requests raise
:class:`ServiceError` with the service's error code, which the emulator turns into HTTP errors.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from specrunner.engine import frames
from specrunner.engine.spec import SnapshotSpec, TileSpec

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_PLACEHOLDER_RE = re.compile(r"\{(ObjectPrefix|FileName|ExtName|SnapshotTime|Count|TileCount)\}")
STATES = ("Submitted", "Snapshoting", "Success", "Fail")
NAME_MAX = 255  # bytes per path segment on the local file system (OSS keys have no such limit)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class ServiceError(Exception):
    """An API error: ``code`` as the service spells it, ``status`` the HTTP status it comes with."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def utc_now() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


def parse_time(value: str, name: str) -> datetime:
    try:
        return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise ServiceError("InvalidParameter.Format", f"{name} must be UTC YYYY-MM-DDThh:mm:ssZ") from None


class ObjectStore:
    """Buckets as folders. Every path is checked to stay inside its bucket."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def path(self, bucket: str, key: str) -> Path:
        # fullmatch: `$` would also accept a trailing newline ("media-out\n" -> a new folder)
        if not isinstance(bucket, str) or not _BUCKET_RE.fullmatch(bucket):
            raise ServiceError("InvalidParameter.BucketNameInvalid", f"invalid bucket name {bucket!r}")
        if (
            not isinstance(key, str)
            or not key
            or "\x00" in key
            or key.startswith("/")
            or "\\" in key
            or any(part in ("..", ".") for part in key.split("/"))
            or len(key.encode()) > 1024
        ):
            raise ServiceError("InvalidParameter.ObjectKeyInvalid", f"invalid object key {key[:200]!r}")
        if any(len(part.encode()) > NAME_MAX for part in key.split("/")):
            raise ServiceError(
                "InvalidParameter.ObjectKeyInvalid",
                f"object key {key[:60]!r}... has a segment longer than {NAME_MAX} bytes, which the "
                "local engine cannot store as a file name",
            )
        base = (self.root / bucket).resolve()
        p = (base / key).resolve()
        if base != p and base not in p.parents:
            raise ServiceError("InvalidParameter.ObjectKeyInvalid", f"object key {key!r} escapes its bucket")
        return p

    def write(self, bucket: str, key: str, data: bytes) -> None:
        p = self.path(bucket, key)
        # A short temp name: ".{name}.part-..." overflowed NAME_MAX for names near 255 bytes.
        tmp = p.with_name(f".part-{os.getpid()}-{threading.get_ident()}")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, p)
        except OSError as e:
            try:
                tmp.unlink()
            except OSError:
                pass
            if e.errno not in (errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG):
                raise  # ENOSPC, EACCES, ...: not the key's fault
            # e.g. "a.jpg/b.jpg" after "a.jpg": fine on OSS, impossible on a file system
            raise ServiceError(
                "InvalidParameter.ObjectKeyInvalid",
                f"the local engine cannot store object {bucket}/{key}: {e.strerror or e}",
            ) from None

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        """Object keys in ``bucket`` starting with ``prefix``, sorted (like ListObjectsV2)."""
        if not isinstance(bucket, str) or not _BUCKET_RE.fullmatch(bucket):
            raise ServiceError("InvalidParameter.BucketNameInvalid", f"invalid bucket name {bucket!r}")
        base = self.root / bucket
        if not base.is_dir():
            return []
        keys = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):
                    continue
                key = os.path.relpath(os.path.join(dirpath, name), base).replace(os.sep, "/")
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)


def loads_obj(text: Any, name: str) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        raise ServiceError("InvalidParameter.JsonFormatInvalid", f"{name} is not valid JSON") from None
    if not isinstance(value, dict):
        raise ServiceError("InvalidParameter.JsonObjectFormatInvalid", f"{name} must be a JSON object")
    return value


def _copy(job: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a job record, through JSON (callers never share the cached record)."""
    copied: dict[str, Any] = json.loads(json.dumps(job))
    return copied


def _int(cfg: dict[str, Any], key: str, lo: int, hi: int | None = None) -> int | None:
    if key not in cfg or cfg[key] in (None, ""):
        return None
    try:
        v = int(str(cfg[key]))
    except ValueError:
        raise ServiceError("InvalidParameter.NumberFormatInvalid", f"{key} must be an integer") from None
    if v < lo or (hi is not None and v > hi):
        rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ServiceError("InvalidParameter.OutOfRange", f"{key} {v} is out of range {rng}")
    return v


def object_location(obj: dict[str, Any], name: str) -> tuple[str, str, str]:
    for k in ("Bucket", "Location", "Object"):
        if not isinstance(obj.get(k), str) or not obj.get(k):
            raise ServiceError("InvalidParameter.NullValue", f"{name}.{k} is required")
    return obj["Bucket"], obj["Location"], unquote(obj["Object"])


def parse_config(cfg: dict[str, Any]) -> SnapshotSpec:
    """SnapshotConfig (strings) -> SnapshotSpec, checking ranges as the service does."""
    if "Time" not in cfg:
        raise ServiceError("InvalidParameter.NullValue", "SnapshotConfig.Time is required")
    frame_type = str(cfg.get("FrameType") or "intra").lower()
    if frame_type not in ("intra", "normal"):
        raise ServiceError("InvalidParameter", f"FrameType must be intra or normal, got {cfg['FrameType']!r}")
    tile = None
    if "TileOut" in cfg:
        t = cfg["TileOut"] if isinstance(cfg["TileOut"], dict) else loads_obj(cfg["TileOut"], "TileOut")
        if "TileOutputFile" not in cfg:
            raise ServiceError("InvalidParameter.NullValue", "TileOutputFile is required with TileOut")
        tile = TileSpec(
            lines=_int(t, "Lines", 1, 10000) or 10,
            columns=_int(t, "Columns", 1, 10000) or 10,
            cell_width=_int(t, "CellWidth", 8, 4096),
            cell_height=_int(t, "CellHeight", 8, 4096),
            margin=_int(t, "Margin", 0, 4096) or 0,
            padding=_int(t, "Padding", 0, 4096) or 0,
            color=str(t.get("Color") or "black"),
            keep_cells=str(t.get("IsKeepCellPic", "true")).lower() != "false",
        )
    interval = _int(cfg, "Interval", 0)
    return SnapshotSpec(
        time_ms=_int(cfg, "Time", 0) or 0,
        interval_s=float(interval) if interval is not None else None,
        num=_int(cfg, "Num", 1),
        width=_int(cfg, "Width", 8, 4096),
        height=_int(cfg, "Height", 8, 4096),
        frame_type=frame_type,
        black_level=_int(cfg, "BlackLevel", 30, 100),
        pixel_black_threshold=_int(cfg, "PixelBlackThreshold", 0, 255),
        tile=tile,
    )


def fill(template: str, input_key: str, **values: str) -> str:
    slash = input_key.rfind("/")
    prefix, name = input_key[: slash + 1], input_key[slash + 1 :]
    dot = name.rfind(".")
    stem, ext = (name[:dot], name[dot + 1 :]) if dot > 0 else (name, "")
    table = {"ObjectPrefix": prefix, "FileName": stem, "ExtName": ext, **values}
    return _PLACEHOLDER_RE.sub(lambda m: table.get(m.group(1), m.group(0)), template)


def list_page(
    jobs: list[dict[str, Any]],
    rid: str,
    *,
    page_token: str | None,
    max_page_size: Any,
    state: str | None,
    start: str | None,
    end: str | None,
    pipeline_id: str | None,
) -> dict[str, Any]:
    """QuerySnapshotJobList's listing mode over ``jobs``: filters, newest first, NextPageToken paging."""
    try:
        size = 30 if max_page_size in (None, "") else int(max_page_size)
    except (TypeError, ValueError):
        raise ServiceError(
            "InvalidParameter.NumberFormatInvalid", "MaximumPageSize must be an integer"
        ) from None
    if not 1 <= size <= 300:
        raise ServiceError("InvalidParameter.OutOfRange", "MaximumPageSize must be in [1, 300]")
    if state and state not in STATES:
        raise ServiceError("InvalidParameter", f"State must be one of {', '.join(STATES)}")
    lo = parse_time(start, "StartOfJobCreatedTimeRange") if start else None
    hi = parse_time(end, "EndOfJobCreatedTimeRange") if end else None
    selected = []
    for job in jobs:
        created = parse_time(job["CreationTime"], "CreationTime")
        if (
            (state and job["State"] != state)
            or (pipeline_id and job.get("PipelineId") != pipeline_id)
            or (lo and created < lo)
            or (hi and created > hi)
        ):
            continue
        selected.append(job)
    selected.sort(key=lambda j: (j["CreationTime"], j["Id"]), reverse=True)  # newest first
    offset = 0
    if page_token:
        offset = next((i for i, j in enumerate(selected) if j["Id"] == page_token), -1)
        if offset < 0:
            raise ServiceError("InvalidParameter", "NextPageToken is invalid or expired")
    out: dict[str, Any] = {
        "RequestId": rid,
        "SnapshotJobList": {"SnapshotJob": selected[offset : offset + size]},
    }
    if offset + size < len(selected):
        out["NextPageToken"] = selected[offset + size]["Id"]
    return out


class SnapshotService:
    """The two MTS snapshot actions, served from a folder."""

    def __init__(
        self, root: Path, *, sync_timeout: float = 6.0, workers: int | None = None, process_async: bool = True
    ) -> None:
        self.root = Path(root).resolve()
        self.store = ObjectStore(self.root)
        self.sync_timeout = sync_timeout
        self.jobs_dir = self.root / ".mts" / "jobs"
        self.locks_dir = self.root / ".mts" / "locks"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.locks_dir.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(
            max_workers=workers or min(4, os.cpu_count() or 2), thread_name_prefix="engine"
        )
        self._claimed: dict[str, int] = {}  # job id -> fd of its held lock
        self._lock = threading.Lock()
        self._cache: dict[str, dict[str, Any]] = {}
        self.process_async = process_async

    # ---------------------------------------------------------------- the API

    def submit_snapshot_job(
        self, input: Any, snapshot_config: Any, pipeline_id: str | None = None, user_data: str | None = None
    ) -> dict[str, Any]:
        inp = loads_obj(input, "Input")
        cfg = loads_obj(snapshot_config, "SnapshotConfig")
        in_bucket, in_loc, in_key = object_location(inp, "Input")
        self.store.path(in_bucket, in_key)  # validates the key
        if "OutputFile" not in cfg or not isinstance(cfg["OutputFile"], dict):
            raise ServiceError("InvalidParameter.NullValue", "SnapshotConfig.OutputFile is required")
        out_bucket, _, out_key = object_location(cfg["OutputFile"], "OutputFile")
        if not out_key.lower().endswith(".jpg"):
            raise ServiceError("InvalidParameter", "OutputFile.Object must be a .jpg")
        spec = parse_config(cfg)
        self.store.path(out_bucket, fill(out_key, in_key, Count="00001", SnapshotTime="0"))
        if spec.num not in (None, 1) and "{Count}" not in out_key:
            raise ServiceError("InvalidParameter", "OutputFile.Object must contain {Count} when Num != 1")
        if user_data is not None and len(user_data.encode()) > 1024:
            raise ServiceError("InvalidParameter.OutOfRange", "UserData is longer than 1024 bytes")
        job: dict[str, Any] = {
            "Id": uuid.uuid4().hex,
            "State": "Submitted",
            "Code": "",
            "Message": "",
            "Count": "0",
            "TileCount": "0",
            "UserData": user_data or "",
            "PipelineId": pipeline_id or "",
            "CreationTime": utc_now(),
            "Input": {"Bucket": in_bucket, "Location": in_loc, "Object": inp["Object"]},
            "SnapshotConfig": cfg,
        }
        if not spec.is_async:
            self._run(job, deadline=time.monotonic() + self.sync_timeout)
            self._save(job)
            return job
        self._save(job)
        if self.process_async:
            self._schedule(job["Id"])
        return job

    def query_snapshot_job_list(
        self,
        ids: list[str] | None = None,
        *,
        page_token: str | None = None,
        max_page_size: int | None = None,
        state: str | None = None,
        start: str | None = None,
        end: str | None = None,
        pipeline_id: str | None = None,
    ) -> dict[str, Any]:
        rid = uuid.uuid4().hex.upper()
        if ids:
            if len(ids) > 10:
                raise ServiceError("InvalidParameter", "SnapshotJobIds takes at most 10 ids")
            found, missing = [], []
            for jid in ids:
                job = self._load(jid)
                if job is None:
                    missing.append(jid)
                    continue
                if job["State"] in ("Submitted", "Snapshoting") and self.process_async:
                    self._schedule(jid)  # resume jobs whose process died
                found.append(self._public(job))
            out: dict[str, Any] = {"RequestId": rid, "SnapshotJobList": {"SnapshotJob": found}}
            if missing:
                out["NonExistSnapshotJobIds"] = {"String": missing}
            return out
        return self._list(rid, page_token, max_page_size, state, start, end, pipeline_id)

    # ---------------------------------------------------------------- listing

    def _list(
        self,
        rid: str,
        page_token: str | None,
        max_page_size: int | None,
        state: str | None,
        start: str | None,
        end: str | None,
        pipeline_id: str | None,
    ) -> dict[str, Any]:
        jobs = (self._load(path.stem) for path in self.jobs_dir.glob("*.json"))
        return list_page(
            [self._public(j) for j in jobs if j is not None],
            rid,
            page_token=page_token,
            max_page_size=max_page_size,
            state=state,
            start=start,
            end=end,
            pipeline_id=pipeline_id,
        )

    # ---------------------------------------------------------------- records

    def _job_path(self, jid: str) -> Path | None:
        if not re.fullmatch(r"[0-9a-f]{32}", jid or ""):
            return None
        return self.jobs_dir / f"{jid}.json"

    def _save(self, job: dict[str, Any]) -> None:
        path = self._job_path(job["Id"])
        assert path is not None
        data = json.dumps(job, sort_keys=True).encode()
        tmp = path.with_name(f".{path.name}.{threading.get_ident()}")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        with self._lock:
            self._cache[job["Id"]] = json.loads(data)

    def _load(self, jid: str) -> dict[str, Any] | None:
        with self._lock:
            cached = self._cache.get(jid)
            if cached is not None and cached["State"] in ("Success", "Fail"):
                return _copy(cached)
        path = self._job_path(jid)
        if path is None:
            return None
        try:
            job = json.loads(path.read_bytes())
        except (FileNotFoundError, ValueError):
            return None
        with self._lock:
            self._cache[jid] = job
        return _copy(job)

    @staticmethod
    def _public(job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if not k.startswith("_")}

    # ---------------------------------------------------------------- async processing

    def _schedule(self, jid: str) -> None:
        with self._lock:
            if jid in self._claimed:
                return
            fd = os.open(self.locks_dir / f"{jid}.lock", os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)  # another live process is working on it
                return
            self._claimed[jid] = fd
        try:
            self._pool.submit(self._work, jid)
        except RuntimeError:  # the pool is shut down (process exiting)
            self._release(jid)

    def _release(self, jid: str) -> None:
        with self._lock:
            fd = self._claimed.pop(jid, None)
        if fd is not None:
            os.close(fd)

    def _work(self, jid: str) -> None:
        try:
            job = self._load(jid)
            if job is None or job["State"] in ("Success", "Fail"):
                return
            job["State"] = "Snapshoting"
            self._save(job)
            self._run(job, deadline=None)
            self._save(job)
        except Exception as e:  # pragma: no cover - a bug in the engine must not hang the job
            job = self._load(jid) or {}
            if job:
                job.update(State="Fail", Code="InternalError", Message=f"engine error: {e}")
                self._save(job)
        finally:
            self._release(jid)

    def _run(self, job: dict[str, Any], deadline: float | None) -> None:
        """Cut the snapshots of ``job`` and set its final State/Code/Count (in place)."""
        cfg = job["SnapshotConfig"]
        try:
            spec = parse_config(cfg)
            in_key = unquote(job["Input"]["Object"])
            src = self.store.path(job["Input"]["Bucket"], in_key)
            result = frames.cut(src, spec, deadline=deadline)
            self._write_outputs(job, spec, result, in_key)
        except frames.VideoError as e:
            # The service names the object, never a path on this machine (the message goes into lock files).
            message = str(e)
            if "src" in locals():
                message = message.replace(os.fspath(src), f"{job['Input']['Bucket']}/{in_key}")
            job.update(State="Fail", Code=e.code, Message=message, Count="0", TileCount="0")
            return
        except ServiceError as e:
            job.update(State="Fail", Code=e.code, Message=e.message, Count="0", TileCount="0")
            return
        except (
            OSError
        ) as e:  # writing the outputs failed (disk full, permissions): the service's InternalError
            job.update(
                State="Fail",
                Code="InternalError",
                Message=f"writing the snapshots failed: {e.strerror or e}",
                Count="0",
                TileCount="0",
            )
            return
        job.update(
            State="Success",
            Code="",
            Message="",
            Count=str(len(result.frames)),
            TileCount=str(len(result.frames) if spec.tile else 0),
        )

    def _write_outputs(self, job: dict[str, Any], spec: SnapshotSpec, result: Any, in_key: str) -> None:
        cfg = job["SnapshotConfig"]
        out_bucket, _, out_tpl = object_location(cfg["OutputFile"], "OutputFile")
        written: list[tuple[str, Any]] = []
        if spec.tile is None or spec.tile.keep_cells:
            for frame in result.frames:
                key = fill(out_tpl, in_key, Count=f"{frame.index:05d}", SnapshotTime=str(frame.time_ms))
                self.store.write(out_bucket, key, frames.encode_jpeg(frame.image))
                written.append((key, frame))
        sprites_keys: list[str] = []
        if spec.tile is not None:
            t_bucket, _, t_tpl = object_location(cfg["TileOutputFile"], "TileOutputFile")
            for i, sprite in enumerate(frames.build_sprites(result.frames, spec.tile), start=1):
                key = fill(t_tpl, in_key, TileCount=f"{i:05d}", Count=f"{i:05d}", SnapshotTime="0")
                self.store.write(t_bucket, key, frames.encode_jpeg(sprite))
                sprites_keys.append(key)
        if str(cfg.get("Format", "")).lower() == "vtt":
            self._write_vtt(cfg, out_bucket, out_tpl, in_key, spec, result, written, sprites_keys)

    def _write_vtt(
        self,
        cfg: dict[str, Any],
        bucket: str,
        out_tpl: str,
        in_key: str,
        spec: SnapshotSpec,
        result: Any,
        written: list[tuple[str, Any]],
        sprites: list[str],
    ) -> None:
        first = fill(out_tpl, in_key, Count="00001", SnapshotTime="0")
        folder = first.rsplit("/", 1)[0] + "/" if "/" in first else ""
        vtt_key = folder + fill("{FileName}.vtt", in_key)
        times = [f.time_ms for f in result.frames] + [result.duration_ms]
        lines = ["WEBVTT", ""]
        tiled = spec.tile is not None and str(cfg.get("SubOut", {}).get("IsSptFrag", "")).lower() == "true"
        for i, frame in enumerate(result.frames):
            ref = ""
            if tiled and spec.tile is not None and sprites:
                per = spec.tile.lines * spec.tile.columns
                cw, ch = (
                    frame.image.size
                    if spec.tile.cell_width is None
                    else (spec.tile.cell_width, spec.tile.cell_height or frame.image.size[1])
                )
                cell = i % per
                x = spec.tile.margin + (cell % spec.tile.columns) * (cw + spec.tile.padding)
                y = spec.tile.margin + (cell // spec.tile.columns) * (ch + spec.tile.padding)
                ref = f"{sprites[i // per].rsplit('/', 1)[-1]}#xywh={x},{y},{cw},{ch}"
            elif i < len(written):
                ref = written[i][0].rsplit("/", 1)[-1]
            lines += [
                f"{_vtt_ts(frame.time_ms)} --> {_vtt_ts(max(times[i + 1], frame.time_ms + 1))}",
                ref,
                "",
            ]
        self.store.write(bucket, vtt_key, "\n".join(lines).encode())

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def drain(self, timeout: float = 60.0) -> None:
        """Wait for this process's async work (tests and the emulator's shutdown use it)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if not self._claimed:
                    return
            time.sleep(0.01)


def _vtt_ts(ms: int) -> str:
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"

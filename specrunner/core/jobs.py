"""Jobs: the manifest expanded into inputs x rules, each with the exact MTS request it would send.

Pure code, no I/O. A job's *fingerprint* is the sha256 of its canonical request (Input,
SnapshotConfig, PipelineId, and the user's own UserData), so any change that would change what is
sent to the service changes the fingerprint, and nothing else does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, overload
from urllib.parse import quote

from specrunner.core.canonical import canonical_json
from specrunner.core.durations import format_ms
from specrunner.core.keys import KEY_SEP as KEY_SEP  # re-exported: callers import them from here
from specrunner.core.keys import job_key as job_key
from specrunner.core.keys import split_key as split_key
from specrunner.core.model import Input, Manifest, Rule
from specrunner.core.templates import resolve_template

Mode = Literal["sync", "async"]


@lru_cache(maxsize=65536)
def encode_object(key: str) -> str:
    """OSS object keys travel URL-encoded (UTF-8) inside the Input/OutputFile JSON."""
    return quote(key, safe="")


@dataclass(frozen=True)
class Job:
    key: str
    input_id: str
    rule_id: str
    mode: Mode
    request: dict[str, Any]  # {"Input": {...}, "SnapshotConfig": {...}, "PipelineId"?: str}
    user_data: str | None
    fingerprint: str
    input_ref: str  # "bucket/object" (plain), for people
    output_template: str  # "bucket/object-template" with input placeholders resolved
    tile_template: str | None
    auto_mode: bool  # the rule said `mode: auto`
    single_frame: bool  # neither interval nor num in the rule
    summary: str = field(default="", compare=False)
    fallback: str | None = None  # why an auto single-frame job runs async (e.g. "SnapshotTimeOut")
    # SnapshotConfig entries that earlier versions sent differently (the value they sent, or _OMIT):
    # a lock file written by them records that request's fingerprint, which must still match.
    legacy: tuple[tuple[str, Any], ...] = field(default=(), compare=False, repr=False)

    def matches(self, recorded: Any) -> bool:
        """Whether a recorded fingerprint is this job's: today's request, or the same manifest's
        request as an earlier version built it (so an upgrade never replaces, i.e. pays for, a job)."""
        if recorded == self.fingerprint:
            return True
        return bool(self.legacy) and isinstance(recorded, str) and recorded == self.legacy_fingerprint()

    def legacy_fingerprint(self) -> str:
        req = json.loads(canonical_json(self.request))
        cfg = req["SnapshotConfig"]
        for name, value in self.legacy:
            if value is _OMIT:
                cfg.pop(name, None)
            else:
                cfg[name] = value
        return fingerprint(req, self.user_data)

    def as_async(self, fallback: str) -> Job:
        """The same single-frame job sent in async mode (Num=1), e.g. after a SnapshotTimeOut."""
        if self.mode == "async":
            return self
        req = json.loads(canonical_json(self.request))
        req["SnapshotConfig"]["Num"] = "1"
        return _replace_request(self, req, "async", fallback)


def _replace_request(job: Job, request: dict[str, Any], mode: Mode, fallback: str | None) -> Job:
    return Job(
        key=job.key,
        input_id=job.input_id,
        rule_id=job.rule_id,
        mode=mode,
        request=request,
        user_data=job.user_data,
        fingerprint=fingerprint(request, job.user_data),
        input_ref=job.input_ref,
        output_template=job.output_template,
        tile_template=job.tile_template,
        auto_mode=job.auto_mode,
        single_frame=job.single_frame,
        summary=job.summary,
        fallback=fallback,
        legacy=job.legacy,
    )


def fingerprint(request: dict[str, Any], user_data: str | None) -> str:
    basis = {"request": request, "user_data": user_data or ""}
    return "sha256:" + hashlib.sha256(canonical_json(basis).encode("utf-8")).hexdigest()


def _s(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _mts_value(value: Any) -> Any:
    """An ``mts:`` value as the API models it: objects keep their shape with string scalars (every
    documented SnapshotConfig scalar is a string); arrays go out as JSON arrays, items as written
    (``TimeArray.TimePointList`` is a list of integers in the SDK models)."""
    if isinstance(value, dict):
        return {k: _mts_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mts_item(v) for v in value]
    return _s(value)


def _mts_item(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mts_item(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mts_item(v) for v in value]
    return value


def _legacy_mts_value(value: Any) -> Any:
    """How versions up to 0.x (commit eb535d3) encoded an ``mts:`` value: every leaf through str()."""
    if isinstance(value, dict):
        return {k: _legacy_mts_value(v) for k, v in value.items()}
    return _s(value)


# What the plan shows and sends when the rule sets no frame_type. The documents disagree on the
# service's default (the Chinese pages and the data types page: intra; one Tea SDK model: Normal), so
# specrunner never relies on it. intra is also the local engine's default.
DEFAULT_FRAME_TYPE = "intra"
_OMIT = object()


def build_request(inp: Input, rule: Rule, pipeline_id: str | None, mode: Mode) -> dict[str, Any]:
    config: dict[str, Any] = {
        "OutputFile": {
            "Bucket": rule.output_bucket,
            "Location": rule.output_location,
            "Object": encode_object(rule.output),
        },
        "Time": str(rule.time_ms),
    }
    if rule.interval_s is not None:
        config["Interval"] = str(rule.interval_s)
    if rule.num is not None:
        config["Num"] = str(rule.num)
    elif mode == "async" and rule.interval_s is None:
        config["Num"] = "1"
    config["FrameType"] = rule.frame_type or DEFAULT_FRAME_TYPE  # always explicit (see DEFAULT_FRAME_TYPE)
    for name, value in (
        ("Width", rule.width),
        ("Height", rule.height),
        ("BlackLevel", rule.black_level),
        ("PixelBlackThreshold", rule.pixel_black_threshold),
        ("Format", rule.format),
    ):
        if value is not None:
            config[name] = _s(value)
    if rule.sub_out_is_spt_frag is not None:
        config["SubOut"] = {"IsSptFrag": _s(rule.sub_out_is_spt_frag)}
    if rule.tile is not None:
        t = rule.tile
        config["TileOutputFile"] = {
            "Bucket": t.bucket,
            "Location": t.location,
            "Object": encode_object(t.output),
        }
        tile_out = {
            "Lines": str(t.lines),
            "Columns": str(t.columns),
            "Margin": str(t.margin),
            "Padding": str(t.padding),
            "Color": t.color,
            "IsKeepCellPic": _s(t.keep_cells),
        }
        if t.cell_width is not None:
            tile_out["CellWidth"] = str(t.cell_width)
        if t.cell_height is not None:
            tile_out["CellHeight"] = str(t.cell_height)
        if t.cell_sel_step is not None:
            tile_out["CellSelStep"] = str(t.cell_sel_step)
        config["TileOut"] = tile_out
    for key, value in rule.mts:
        config[key] = _mts_value(value)
    request: dict[str, Any] = {
        "Input": {"Bucket": inp.bucket, "Location": inp.location, "Object": encode_object(inp.object)},
        "SnapshotConfig": config,
    }
    pipe = rule.pipeline_id or pipeline_id
    if pipe:
        request["PipelineId"] = pipe
    return request


def legacy_entries(rule: Rule) -> tuple[tuple[str, Any], ...]:
    """The SnapshotConfig entries that version eb535d3 built differently for ``rule`` (see Job.legacy)."""
    out: list[tuple[str, Any]] = []
    if rule.frame_type is None:
        out.append(("FrameType", _OMIT))
    for key, value in rule.mts:
        old = _legacy_mts_value(value)
        if old != _mts_value(value):
            out.append((key, old))
    return tuple(out)


def rule_mode(rule: Rule) -> Mode:
    if rule.mode == "async" or rule.num is not None or rule.interval_s is not None:
        return "async"
    return "sync"


def describe_rule(rule: Rule) -> str:

    parts = [f"at {format_ms(rule.time_ms)}"]
    if rule.num is not None:
        parts.append(f"x{rule.num}")
    if rule.interval_s is not None:
        parts.append("spread evenly" if rule.interval_s == 0 else f"every {rule.interval_s}s")
    if rule.width or rule.height:
        parts.append(f"{rule.width or 'auto'}x{rule.height or 'auto'}")
    if rule.tile:
        parts.append(f"tile {rule.tile.lines}x{rule.tile.columns}")
    parts.append("keyframes" if (rule.frame_type or DEFAULT_FRAME_TYPE) == "intra" else "exact frames")
    return " ".join(parts)


class RuleJobs:
    """Builds the jobs of one rule, one input at a time; what every job of the rule shares is built once.

    Fingerprints are hashed from canonical JSON assembled out of per-rule and per-input fragments
    (the same bytes as ``fingerprint()``; the SnapshotConfig is encoded once per rule, the Input
    once per input, instead of the whole request once per job). The jobs of a rule share one
    SnapshotConfig object, the jobs of an input one Input object (``build_request`` gives equal
    ones): requests are read-only.
    """

    def __init__(self, rule: Rule, pipeline_id: str | None, cache: _InputCache) -> None:
        self.rule = rule
        self.pipeline_id = pipeline_id
        self.mode = rule_mode(rule)
        self.summary = describe_rule(rule)
        self.legacy = legacy_entries(rule)
        self.auto_mode = rule.mode == "auto"
        self.single_frame = rule.num is None and rule.interval_s is None
        self._cache = cache  # shared by the rules of a manifest: per input id, its Input and its JSON
        self._shared: dict[str, Any] | None = None
        self._middle = ""
        self._tail = '},"user_data":' + canonical_json(rule.user_data or "") + "}"

    def job(self, inp: Input) -> Job:
        rule = self.rule
        if self._shared is None:
            shared = self._shared = build_request(inp, rule, self.pipeline_id, self.mode)
            self._middle = (
                (',"PipelineId":' + canonical_json(shared["PipelineId"]) if "PipelineId" in shared else "")
                + ',"SnapshotConfig":'
                + canonical_json(shared["SnapshotConfig"])
            )
        hit = self._cache.get(inp.id)
        if hit is None:
            inp_dict = build_request(inp, rule, self.pipeline_id, self.mode)["Input"]
            hit = self._cache[inp.id] = (inp_dict, canonical_json(inp_dict))
        inp_dict, ij = hit
        request = {**self._shared, "Input": inp_dict}
        digest = hashlib.sha256(
            ('{"request":{"Input":' + ij + self._middle + self._tail).encode("utf-8")
        ).hexdigest()
        tile_tpl = None
        if rule.tile:
            tile_tpl = f"{rule.tile.bucket}/{resolve_template(rule.tile.output, inp.object)}"
        return Job(
            key=job_key(inp.id, rule.id),
            input_id=inp.id,
            rule_id=rule.id,
            mode=self.mode,
            request=request,
            user_data=rule.user_data,
            fingerprint="sha256:" + digest,
            input_ref=f"{inp.bucket}/{inp.object}",
            output_template=f"{rule.output_bucket}/{resolve_template(rule.output, inp.object)}",
            tile_template=tile_tpl,
            auto_mode=self.auto_mode,
            single_frame=self.single_frame,
            summary=self.summary,
            legacy=self.legacy,
        )


_InputCache = dict[str, tuple[dict[str, str], str]]


class JobSet(Sequence[Job]):
    """Every job of a manifest (inputs x rules), sorted by key, built only when first asked for.

    A million-job no-op plan compares the lock file with the manifest rule by rule (``groups``) and
    builds the few jobs that change; anything that iterates, indexes or measures the set builds them
    all once, exactly as ``expand`` always did.
    """

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self._jobs: list[Job] | None = None
        self._cache: _InputCache = {}

    def rule_jobs(self, rule: Rule) -> RuleJobs:
        return RuleJobs(rule, self.manifest.pipeline_id, self._cache)

    def groups(self) -> Iterator[tuple[Rule, list[Input]]]:
        """Each rule with the inputs it applies to (manifest order)."""
        inputs = self.manifest.inputs
        for rule in self.manifest.rules:
            yield (
                rule,
                (list(inputs) if rule.inputs is None else [i for i in inputs if rule.applies_to(i.id)]),
            )

    @property
    def all(self) -> list[Job]:
        if self._jobs is None:
            jobs: list[Job] = []
            for rule, inputs in self.groups():
                build = self.rule_jobs(rule)
                jobs.extend(build.job(inp) for inp in inputs)
            jobs.sort(key=lambda j: j.key)
            self._jobs = jobs
        return self._jobs

    def __len__(self) -> int:
        return len(self.all)

    @overload
    def __getitem__(self, i: int) -> Job: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Job]: ...
    def __getitem__(self, i: int | slice) -> Job | Sequence[Job]:
        return self.all[i]

    def __iter__(self) -> Iterator[Job]:
        return iter(self.all)


def expand(manifest: Manifest) -> JobSet:
    """Every job of the manifest, sorted by key (built lazily: see ``JobSet``)."""
    return JobSet(manifest)


def implied_count(request: dict[str, Any]) -> int | None:
    """The snapshots a request asks for: 1 for a single snapshot (sync, or Num=1), Num when set,
    None when only Interval is (as many as the video's length allows)."""
    cfg = request.get("SnapshotConfig") or {}
    num = cfg.get("Num")
    if num not in (None, ""):
        try:
            return int(num)
        except (TypeError, ValueError):
            return None
    return None if cfg.get("Interval") not in (None, "") else 1


def expected_outputs(
    job_template: str,
    tile_template: str | None,
    count: int,
    tile_cells: int,
    keep_cells: bool,
    lines_columns: int | None,
) -> list[str]:
    """The objects a finished job wrote, from its templates and the service's Count.

    {SnapshotTime} cannot be predicted exactly (keyframes), so templates using it are kept as is.
    """
    outs: list[str] = []
    if keep_cells or tile_template is None:
        if "{Count}" in job_template:
            outs += [job_template.replace("{Count}", f"{i:05d}") for i in range(1, count + 1)]
        elif count:
            outs.append(job_template)
    if tile_template is not None and lines_columns and tile_cells:
        sprites = -(-tile_cells // lines_columns)
        if "{TileCount}" in tile_template:
            outs += [tile_template.replace("{TileCount}", f"{i:05d}") for i in range(1, sprites + 1)]
        else:
            outs.append(tile_template)
    return sorted(set(outs))

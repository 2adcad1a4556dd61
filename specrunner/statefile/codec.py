"""The lock file codec, format version 2: what every job of a rule shares is written once per rule.

File layout (``<manifest>.lock.json``, valid JSON)::

    {
      "version": 2,
      "lineage": "<uuid, set once>",
      "manifest": "specs/site.yaml",     # the owning manifest (absent in files written before owners)
      "serial": 7,
      "configs": {                       # per rule, every configuration its recorded jobs were sent with
        "<rule id>": {
          "<config id>": {<RuleConfig>}  # pretty-printed, sorted keys
        }
      },
      "jobs": {                          # one line per job, sorted by key
        "<input id>::<rule id>": {<LockEntry>},
        ...
      }
    }

Invariants:

- Lossless. ``decode(encode(records)) == records`` for every record, key for key; a record whose
  compact form would not decode back to itself exactly is written whole (``{"record": {...}}``), so
  the codec never guesses.
- Deterministic and byte-stable: configs and jobs sorted by key, JSON with sorted keys, a config id
  is a hash of the config's canonical JSON, no run timestamps, hostnames or absolute paths.
- One line per job: a job whose state changed changes exactly its own line (plus, when its rule
  changed, the few lines of that rule's configs), so a pull-request diff reads job by job.
- What a job line leaves out is derived from its rule's config: the full request (the Input is
  rebuilt from the job's ``input``), the fingerprint (sha256 of request + user data, as in
  ``jobs.fingerprint``), the outputs of a successful job (from the output templates and the
  counts), and the defaults (empty code and message, no tile count when untiled).

The in-memory form is :class:`core.record.LockEntry`; this module converts between it and the compact
job line; the whole record (``LockEntry.to_record`` / ``checks.from_record``: format 1 files, lines
kept whole, journals of format 1) is checked in ``checks.py``. Decoded entries of one config share
one SnapshotConfig object.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, unquote

from specrunner.core.canonical import canonical_json
from specrunner.core.jobs import expected_outputs
from specrunner.core.record import OPTIONAL_FIELDS, RECORD_FIELDS, LockEntry
from specrunner.core.templates import object_parts, parts_format, parts_resolver
from specrunner.statefile.checks import FIELD_CHECKS, check_config, from_record, seen_pairs

FORMAT_VERSION = 2
CONFIG_ID_LEN = 10
# The fields of a job line (``LockEntry`` in its compact form): the record's own fields (what its rule's
# config holds, mode, rule and request, is not repeated), the config's id, and the codec's own marks
# (``encoded``: a key recorded URL-encoded; ``record``: a record kept whole). Anything else is refused.
ENTRY_KEYS = frozenset(
    {*RECORD_FIELDS, *OPTIONAL_FIELDS} - {"mode", "rule", "request", "user_data", "fallback"}
    | {"config", "encoded", "record"}
)
_SENTINEL = "\x00input\x00"
_InputCache = dict[tuple[str, str, bool], tuple[dict[str, Any], str, str]]
_SENTINEL_JSON = json.dumps(_SENTINEL)


def rule_config(rec: LockEntry) -> dict[str, Any] | None:
    """What ``rec`` shares with the other jobs of its rule sent the same way, or None if not compactable.

    ``{"mode", "rule", "request": the request without Input.Bucket/Object, "user_data"?, "fallback"?}``.
    """
    req, ref = rec.request, rec.input
    if not (isinstance(req, dict) and isinstance(req.get("Input"), dict) and "/" in ref):
        return None
    shared = {k: v for k, v in req.items() if k != "Input"}
    shared["Input"] = {k: v for k, v in req["Input"].items() if k not in ("Bucket", "Object")}
    cfg: dict[str, Any] = {"mode": rec.mode, "rule": rec.rule, "request": shared}
    if rec.user_data is not None:
        cfg["user_data"] = rec.user_data
    if rec.fallback is not None:
        cfg["fallback"] = rec.fallback
    return cfg


def config_id(cfg: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(cfg).encode("utf-8")).hexdigest()[:CONFIG_ID_LEN]


def _as_sent(value: Any, key: str = "") -> Any:
    """``value`` with every recorded ``Object`` key back in the form the request carried it."""
    if isinstance(value, Mapping):
        return {k: _as_sent(v, k) for k, v in value.items()}
    if key == "Object" and isinstance(value, str) and "%" not in value:
        return quote(value, safe="")
    return value


class _Derive:
    """What one config lets a job line leave out: precomputed once per config, applied per job."""

    __slots__ = (
        "cfg",
        "fp_head",
        "fp_tail",
        "input_key",
        "input_rest",
        "inputs",
        "one_output",
        "outputs_of",
        "rest",
    )

    def __init__(self, cfg: Mapping[str, Any], inputs: _InputCache | None = None) -> None:
        self.cfg = cfg
        req = cfg["request"]
        self.rest = {k: v for k, v in req.items() if k != "Input"}
        self.input_rest = dict(req["Input"])
        self.input_key = canonical_json(self.input_rest)
        # Shared by the configs of one file: an input's request Input (and its JSON) is built once, and
        # the records of one input share it.
        self.inputs: _InputCache = inputs if inputs is not None else {}
        # The fingerprint hashes the request as sent: object keys URL-encoded (the record shows them
        # as written, see attrdiff.plain_keys; a key still holding `%` was recorded as sent).
        basis = canonical_json(
            {"request": {**_as_sent(self.rest), "Input": _SENTINEL}, "user_data": cfg.get("user_data") or ""}
        )
        self.fp_head, _, self.fp_tail = basis.partition(_SENTINEL_JSON)
        self.outputs_of = _outputs_deriver(self.rest.get("SnapshotConfig"))
        self.one_output = _one_output(self.rest.get("SnapshotConfig"))

    def record(self, entry: Mapping[str, Any], *, light: bool = False) -> LockEntry:
        """The entry of a job line; ``light``: its fingerprint left empty (not hashed), for readers
        that need only what the job recorded of the buckets (``ops.refresh``)."""
        ref: str = entry["input"]
        # The request records the key as written (URL-encoded only when it contains `%`); lock files of
        # earlier versions recorded every key encoded: such lines carry `"encoded": true`.
        encoded = bool(entry.get("encoded"))
        hit = self.inputs.get((ref, self.input_key, encoded))
        if hit is None:
            bucket, _, obj = ref.partition("/")
            sent = quote(obj, safe="")  # what the request carried: the fingerprint hashes this
            inp = {**self.input_rest, "Bucket": bucket, "Object": sent if encoded or "%" in obj else obj}
            hashed = inp if inp["Object"] == sent else {**inp, "Object": sent}
            hit = self.inputs[(ref, self.input_key, encoded)] = (inp, canonical_json(hashed), obj)
        inp, inp_json, obj = hit
        request = {**self.rest, "Input": inp}
        fp = entry.get("fingerprint")
        if fp is None and light:
            fp = ""
        elif fp is None:
            fp = (
                "sha256:"
                + hashlib.sha256((self.fp_head + inp_json + self.fp_tail).encode("utf-8")).hexdigest()
            )
        count, state = entry.get("count"), entry.get("state")
        tile_count = entry.get("tile_count", 0 if count is not None else None)
        outputs = entry.get("outputs")
        if outputs is None:
            outputs = (self.outputs_of(obj, count or 0, tile_count or 0) or []) if state == "Success" else []
        cfg = self.cfg
        return LockEntry(
            fp,
            cfg["mode"],
            ref,
            cfg["rule"],
            request,
            entry.get("job_id"),
            state,
            entry.get("code", ""),
            entry.get("message", ""),
            count,
            tile_count,
            tuple(outputs),
            cfg.get("user_data"),
            cfg.get("fallback"),
            entry.get("intent"),
            entry.get("attempts"),
            seen_pairs(entry.get("seen")),
            entry.get("seen_at"),
            entry.get("input_etag"),
        )

    def entry(self, cid: str, rec: LockEntry) -> dict[str, Any]:
        """The compact line of ``rec`` (a record of this config); verified to decode back to ``rec``."""
        entry: dict[str, Any] = {"config": cid, "input": rec.input}
        if rec.job_id is not None:
            entry["job_id"] = rec.job_id
        if rec.state is not None:
            entry["state"] = rec.state
        if rec.count is not None:
            entry["count"] = rec.count
        if rec.code != "":
            entry["code"] = rec.code
        if rec.message != "":
            entry["message"] = rec.message
        if rec.tile_count != (0 if rec.count is not None else None):
            entry["tile_count"] = rec.tile_count
        if rec.intent is not None:
            entry["intent"] = rec.intent
        if rec.attempts is not None:
            entry["attempts"] = rec.attempts
        if rec.seen is not None:
            entry["seen"] = [list(s) for s in rec.seen]
        if rec.seen_at is not None:
            entry["seen_at"] = rec.seen_at
        if rec.input_etag is not None:
            entry["input_etag"] = rec.input_etag
        back = self.record(entry)
        if back.request != rec.request:
            entry["encoded"] = True  # a record of an earlier version: its key is stored encoded
            back = self.record(entry)
        if back.outputs != rec.outputs:
            entry["outputs"] = list(rec.outputs)
            back.outputs = rec.outputs
        if back.fingerprint != rec.fingerprint:
            entry["fingerprint"] = rec.fingerprint
            back.fingerprint = rec.fingerprint
        if back != rec:
            return {"record": rec.to_record()}
        return entry


def _outputs_deriver(sc: Any) -> Callable[[str, int, int], list[str] | None]:
    """From a SnapshotConfig: (input object, Count, TileCount) -> the outputs a successful job wrote."""

    def none(obj: str, count: int, tiles: int) -> list[str] | None:
        return None

    if not isinstance(sc, dict):
        return none
    try:
        of, tile = sc["OutputFile"], sc.get("TileOut")
        tof: dict[str, Any] = sc.get("TileOutputFile") or {}
        out_bucket, out_tpl = of["Bucket"], unquote(of["Object"])
        tile_bucket = tile_tpl = None
        per: int | None = None
        keep = True
        if tile is not None:
            tile_bucket, tile_tpl = tof["Bucket"], unquote(tof["Object"])
            per = int(tile["Lines"]) * int(tile["Columns"])
            keep = tile.get("IsKeepCellPic", "true") != "false"
    except (KeyError, TypeError, ValueError, AttributeError):
        return none

    def resolver(template: str) -> Callable[[str], str]:
        """``manifest.resolve_template(template, obj)`` with the template compiled once."""
        resolve = parts_resolver(template)
        return lambda obj: resolve(object_parts(obj))

    out_of = resolver(out_tpl)
    tile_of = resolver(tile_tpl) if tile_tpl is not None else None
    plain = tile is None and "{Count}" not in out_tpl  # one object per job whatever the count

    def derive(obj: str, count: int, tiles: int) -> list[str] | None:
        try:
            job_tpl = f"{out_bucket}/{out_of(obj)}"
            if plain:
                return [job_tpl] if count else []
            tile_job = f"{tile_bucket}/{tile_of(obj)}" if tile_of is not None else None
            return expected_outputs(job_tpl, tile_job, count, tiles, keep, per)
        except (TypeError, ValueError, KeyError, IndexError):  # pragma: no cover - odd template
            return None

    return derive


def _one_output(sc: Any) -> tuple[str, str] | None:
    """(bucket, ``str.format`` string of ``object_parts(obj)``) of a SnapshotConfig whose successful job
    wrote one object named by its input alone (no tiles, no {Count}, nothing only the service knows),
    else None: ``outputs_of(obj, count, 0) == [f"{bucket}/{fmt.format(*object_parts(obj))}"]`` for a
    count above 0 (none for 0)."""
    if not isinstance(sc, dict) or sc.get("TileOut") is not None:
        return None
    of = sc.get("OutputFile")
    if (
        not isinstance(of, dict)
        or not isinstance(of.get("Bucket"), str)
        or not isinstance(of.get("Object"), str)
    ):
        return None
    template = unquote(of["Object"])
    fmt = parts_format(template)
    if "{Count}" in template or "{{" in fmt or "}}" in fmt:
        return None
    return of["Bucket"], fmt


class Encoder:
    """Compact lines for records, collecting each rule's configs; reusable across calls (a journal)."""

    def __init__(self) -> None:
        self.configs: dict[str, dict[str, dict[str, Any]]] = {}
        self._derive: dict[str, _Derive] = {}
        self._ids: dict[tuple[Any, ...], tuple[str, str, Any]] = {}

    def line(self, key: str, rec: LockEntry) -> tuple[str | None, str | None, dict[str, Any]]:
        """(rule id, config id, compact entry) of job ``key``; (None, None, {"record": ...}) if not compact
        (the entry is then the whole record)."""
        cfg_key = _config_cache_key(rec)
        try:
            hit = self._ids.get(cfg_key) if cfg_key is not None else None
        except TypeError:  # an unhashable value in the request: no cache
            cfg_key = hit = None
        if hit is None:
            cfg = rule_config(rec)
            if cfg is None:
                return None, None, {"record": rec.to_record()}
            cid = config_id(cfg)
            rule: str = cfg["rule"]
            if cid not in self._derive:
                self._derive[cid] = _Derive(cfg)
            if cfg_key is not None:
                if len(self._ids) >= 4096:
                    self._ids.clear()
                # the value pins the SnapshotConfig object, so its id() in the key cannot be reused
                self._ids[cfg_key] = (rule, cid, rec.request.get("SnapshotConfig"))
        else:
            rule, cid, _ = hit
        if rule != key.rpartition("::")[2]:  # a record filed under another rule's key: kept whole
            return None, None, {"record": rec.to_record()}
        self.configs.setdefault(rule, {})[cid] = dict(self._derive[cid].cfg)
        entry = self._derive[cid].entry(cid, rec)
        return (rule, cid, entry) if "record" not in entry else (None, None, entry)


def _config_cache_key(rec: LockEntry) -> tuple[Any, ...] | None:
    """A cheap identity of a record's config: the jobs of a rule share one SnapshotConfig object."""
    req = rec.request
    if not isinstance(req, dict) or not isinstance(req.get("Input"), dict):
        return None
    sc = req.get("SnapshotConfig")
    if not isinstance(sc, dict):
        return None
    inp = tuple(sorted((k, v) for k, v in req["Input"].items() if k not in ("Bucket", "Object")))
    return (
        id(sc),
        inp,
        tuple(sorted((k, v) for k, v in req.items() if k not in ("Input", "SnapshotConfig"))),
        rec.mode,
        rec.rule,
        rec.user_data,
        rec.fallback,
    )


def encode(lineage: str, serial: int, jobs: Mapping[str, LockEntry], owner: str | None = None) -> bytes:
    """The bytes of a version 2 lock file holding ``jobs`` (full records), owned by the manifest
    ``owner`` (no ``manifest`` line when None: a state written before owners were recorded re-encodes
    to its own bytes)."""
    enc = Encoder()
    lines = []
    used: dict[str, set[str]] = {}
    for key in sorted(jobs):
        rule, cid, entry = enc.line(key, jobs[key])
        if rule is not None and cid is not None:
            used.setdefault(rule, set()).add(cid)
        lines.append(
            f"    {json.dumps(key, ensure_ascii=False)}: "
            + json.dumps(entry, sort_keys=True, ensure_ascii=False)
        )
    configs = {r: {c: enc.configs[r][c] for c in sorted(cids)} for r, cids in sorted(used.items())}
    mine = f'  "manifest": {json.dumps(owner, ensure_ascii=False)},\n' if owner is not None else ""
    head = (
        f'{{\n  "version": {FORMAT_VERSION},\n  "lineage": {json.dumps(lineage, ensure_ascii=False)},\n'
        f'{mine}  "serial": {serial},\n'
    )
    cfg_text = json.dumps(configs, indent=2, sort_keys=True, ensure_ascii=False).replace("\n", "\n  ")
    body = ",\n".join(lines)
    jobs_text = "{\n" + body + "\n  }" if lines else "{}"
    return (head + f'  "configs": {cfg_text},\n  "jobs": {jobs_text}\n}}\n').encode("utf-8")


class Decoder:
    """Full records from compact lines, given the configs they name."""

    def __init__(self, configs: Mapping[str, Any]) -> None:
        self.configs = configs
        self._derive: dict[tuple[str, str], _Derive] = {}
        self._inputs: _InputCache = {}

    def record(self, key: str, entry: Any, *, light: bool = False) -> LockEntry | str:
        """The entry of a job line, or a message saying what is wrong with it (``light``: without its
        fingerprint, see ``_Derive.record``)."""
        if not isinstance(entry, dict):
            return "a job line must be an object"
        unknown = set(entry) - ENTRY_KEYS
        if unknown:
            return f"unknown field(s) {sorted(unknown)}"
        if "record" in entry:
            if len(entry) != 1:
                return "a job line with `record` has no other field"
            return from_record(entry["record"])
        cid, ref = entry.get("config"), entry.get("input")
        if not isinstance(cid, str):
            return "`config` must be a string naming one of the rule's configs"
        if not (isinstance(ref, str) and "/" in ref):
            return "`input` must be a string bucket/object"
        d = self._config(key.rpartition("::")[2], cid)
        if isinstance(d, str):
            return d
        for k, v in entry.items():
            problem = FIELD_CHECKS[k](v)
            if problem:
                return f"`{k}` {problem}"
        try:
            return d.record(entry, light=light)
        except (TypeError, AttributeError) as e:  # pragma: no cover - the field checks catch these
            return f"invalid job line ({e})"

    def _config(self, rule: str, cid: str) -> _Derive | str:
        d = self._derive.get((rule, cid))
        if d is None:
            cfg = self.configs.get(rule, {}).get(cid) if isinstance(self.configs.get(rule), dict) else None
            if cfg is None:
                return f"`config` {cid!r} is not among the configs of rule {rule!r}"
            problem = check_config(cfg)
            if problem:
                return f"$.configs[{json.dumps(rule)}][{json.dumps(cid)}]: {problem}"
            d = self._derive[(rule, cid)] = _Derive(cfg, self._inputs)
        return d

    def outputs_deriver(self, rule: str, cid: str) -> Callable[[str, int, int], list[str] | None] | None:
        """``(input object, count, tile count) -> outputs`` of rule ``rule``'s valid config ``cid``, as
        a line naming it without ``outputs`` records them (None when the config is unknown or invalid):
        readers of many lines (``ops.refresh``) get a line's outputs without decoding its record."""
        d = self._config(rule, cid)
        return None if isinstance(d, str) else d.outputs_of

    def one_output(self, rule: str, cid: str) -> tuple[str, str] | None:
        """(bucket, format) when every successful job of rule ``rule``'s valid config ``cid`` wrote one
        object named by its input alone (``_one_output``): a reader of many lines names it in one call."""
        d = self._config(rule, cid)
        return None if isinstance(d, str) else d.one_output

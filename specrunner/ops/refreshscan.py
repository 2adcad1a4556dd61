"""The refresh's hot path: the finished job lines of a lock file, checked as parsed (``ops.refresh``).

A no-op refresh of a big state is mostly jobs whose outputs and input are exactly as recorded. For the
usual line of such a job (``Success`` with its verification recorded: ``seen``, ``input_etag``; only the
plain fields ``ops.planning``'s shortcut reads past, each valid), :func:`scan` gets the names of its
outputs from its rule's config (``Decoder.outputs_deriver``, built once per config) and hands the keys
to list to the caller, without building the job's record or request; after the listing, :func:`settle`
counts a job whose every output and input is as recorded and leaves it alone.

Anything else (a state without compact lines, an odd or invalid line, a job whose outputs or input
differ from the record, an output the service names) goes back to ``ops.refresh``, which decodes the
record and compares it as it always did: every finding (a reason, what apply records) is made from
the full record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple
from urllib.parse import unquote

from specrunner.core.record import LockEntry
from specrunner.core.templates import object_parts
from specrunner.statefile.checks import FIELD_CHECKS
from specrunner.statefile.doc import CompactLines, StateDoc

FINISHED = ("Success", "Fail")
# A Success line the scan reads (all of _NEEDED, nothing outside _PLAIN); any other goes to the record.
_PLAIN = frozenset(
    {"config", "input", "job_id", "state", "count", "tile_count", "outputs", "seen", "seen_at", "input_etag"}
)
_NEEDED = frozenset({"config", "input", "state", "seen", "input_etag"})
# The line of a verified job of most rules (``ops.planning`` reads it inline too).
_USUAL_VERIFIED = frozenset({"config", "input", "job_id", "state", "count", "seen", "seen_at", "input_etag"})
_utc_ok, _outputs_ok = FIELD_CHECKS["seen_at"], FIELD_CHECKS["outputs"]

Template = tuple[str, str, str]  # (bucket, location, static prefix) of an output template
Group = Callable[[str, str, str], set[str]]  # (bucket, location, prefix) -> the keys to list there
Found = Mapping[tuple[str, str], tuple[int, str]]  # (bucket, key) -> (size, ETag) as listed


class Quick(NamedTuple):
    """A finished job's usual line, as the scan read it."""

    key: str
    outputs: list[tuple[str, str]]  # (bucket, key) of each output, in the record's order
    seen: list[Any]  # [[size, ETag], ...] as the line holds them, one per output
    input: tuple[str, str]  # (bucket, key)
    input_etag: str


def where(request: Any) -> tuple[list[Template], str]:
    """(bucket, location, static prefix) of each output template of a job's request, and its input's
    location."""
    req = request if isinstance(request, dict) else {}
    inp, sc = req.get("Input"), req.get("SnapshotConfig")
    in_loc = str(inp.get("Location") or "") if isinstance(inp, dict) else ""
    out: list[Template] = []
    if isinstance(sc, dict):
        for name in ("OutputFile", "TileOutputFile"):
            f = sc.get(name)
            if isinstance(f, dict) and isinstance(f.get("Bucket"), str):
                static = unquote(str(f.get("Object") or "")).split("{", 1)[0]
                out.append((f["Bucket"], str(f.get("Location") or ""), static))
    return out, in_loc


def group_of(templates: list[Template], bucket: str, obj: str, in_loc: str) -> tuple[str, str]:
    """(location, prefix) an output is listed under: the longest static prefix of its templates."""
    best: tuple[str, str] | None = None
    for b, loc, static in templates:
        if b == bucket and obj.startswith(static) and (best is None or len(static) > len(best[1])):
            best = (loc, static)
    return best if best is not None else (in_loc, folder(obj))


def folder(key: str) -> str:
    return key[: key.rfind("/") + 1]


class _Conf(NamedTuple):
    derive: Callable[[str, int, int], list[str] | None]
    templates: list[Template]
    in_loc: str
    keys: set[str] | None  # the group of its one output template, when it has one: its bucket, prefix
    bucket: str
    prefix: str
    one: str | None  # one object per job, named by its input: its key's format (``Decoder.one_output``)


_UNSEEN = _Conf(lambda obj, count, tiles: None, [], "", None, "", "", None)


def scan(
    compact: CompactLines, keys: Iterable[str] | None, group: Group, list_input: Callable[[str], bool]
) -> tuple[list[Quick], list[str]]:
    """The finished lines of ``compact`` (those of ``keys``; all when None): the usual ones read here,
    the keys of their outputs (and of their input, when ``list_input(ref)``) added to ``group(bucket,
    location, prefix)``; and the keys of the others, in the file's order, for the caller to decode
    (whatever their state, unless the line says it is not finished)."""
    wanted = set(keys) if keys is not None else None
    configs: dict[tuple[str, str], _Conf | None] = {}
    inputs: set[str] = set()
    quick: list[Quick] = []
    other: list[str] = []
    named: dict[str, tuple[str, str, str]] = {}  # input object -> its parts (inputs recur per rule)
    for key, entry in compact.lines.items():
        if wanted is not None and key not in wanted:
            continue
        if type(entry) is not dict:
            other.append(key)
            continue
        if entry.get("state") != "Success" or not (_NEEDED <= entry.keys() <= _PLAIN):
            if "record" in entry or entry.get("state") in FINISHED:
                other.append(key)
            continue
        cid, ref, seen, etag = entry["config"], entry["input"], entry["seen"], entry["input_etag"]
        count = entry.get("count")
        tiles = entry.get("tile_count", 0 if count is not None else None)
        if not (
            type(cid) is str
            and type(ref) is str
            and "/" in ref
            and type(seen) is list
            and type(etag) is str
            and etag
            and type(entry.get("job_id", "")) is str
            and ("count" not in entry or (type(count) is int and count >= 0))
            and (tiles is None or (type(tiles) is int and tiles >= 0))
            and ("seen_at" not in entry or _utc_ok(entry["seen_at"]) is None)
            and ("outputs" not in entry or _outputs_ok(entry["outputs"]) is None)
        ):
            other.append(key)
            continue
        refs = entry.get("outputs")
        which = (key.rpartition("::")[2], cid)
        conf = configs.get(which, _UNSEEN)
        if conf is _UNSEEN:
            conf = configs[which] = _config(compact, *which, group)
        if conf is None:
            other.append(key)
            continue
        bucket, _, obj = ref.partition("/")
        if refs is None and conf.one is not None and conf.keys is not None:  # one object, named here
            if not count:
                refs = []
            elif len(seen) == 1:
                parts = named.get(obj)
                if parts is None:
                    parts = named[obj] = object_parts(obj)
                k = conf.one.format(*parts)
                conf.keys.add(k)  # under the template's static prefix, by construction
                if ref not in inputs and list_input(ref):
                    inputs.add(ref)
                    group(bucket, conf.in_loc, folder(obj)).add(obj)
                quick.append(Quick(key, [(conf.bucket, k)], seen, (bucket, obj), etag))
                continue
            else:
                other.append(key)
                continue
        if refs is None:
            refs = conf.derive(obj, count or 0, tiles or 0) or []
        if len(refs) != len(seen):
            other.append(key)
            continue
        only, tb, tprefix = conf.keys, conf.bucket, conf.prefix
        outputs = []
        for r in refs:
            if "{" in r:  # a name only the service knows: the record's way (the keys added: harmless)
                break
            b, _, k = r.partition("/")
            outputs.append((b, k))
            if only is not None and b == tb and k.startswith(tprefix):
                only.add(k)
            else:
                group(b, *group_of(conf.templates, b, k, conf.in_loc)).add(k)
        else:
            if ref not in inputs and list_input(ref):
                inputs.add(ref)
                group(bucket, conf.in_loc, folder(obj)).add(obj)
            quick.append(Quick(key, outputs, seen, (bucket, obj), etag))
            continue
        other.append(key)
    return quick, other


def _config(compact: CompactLines, rule: str, cid: str, group: Group) -> _Conf | None:
    derive = compact.decoder.outputs_deriver(rule, cid)
    if derive is None:
        return None
    templates, in_loc = where(compact.configs[rule][cid].get("request"))
    if len(templates) == 1:
        bucket, loc, prefix = templates[0]
        one = compact.decoder.one_output(rule, cid)
        fmt = one[1] if one is not None and one[0] == bucket else None
        return _Conf(derive, templates, in_loc, group(bucket, loc, prefix), bucket, prefix, fmt)
    return _Conf(derive, templates, in_loc, None, "", "", None)


def settle(quick: list[Quick], found: Found) -> tuple[tuple[int, int, int], list[str]]:
    """((jobs, outputs, inputs) checked and found as recorded, the keys of the other jobs): a job whose
    outputs all exist with the size and ETag recorded, and whose input (when listed) has its recorded
    ETag, is as recorded; the others are compared from their records.

    A no-op refresh compares every output at once: the pairs as listed, in the order of the jobs and
    their outputs, with the pairs as recorded (a pair of the wrong shape or types never equal); only
    when they differ is each job compared on its own."""
    get = found.get
    listed = [get(ref) for q in quick for ref in q.outputs]
    recorded = [
        (p[0], p[1]) if type(p) is list and len(p) == 2 and type(p[0]) is int else _BAD
        for q in quick
        for p in q.seen
    ]
    ins = [get(q.input) for q in quick]
    # the inputs as recorded (few: each is the input of many jobs), each compared once
    moved = {ref_etag for ref_etag in {(q.input, q.input_etag) for q in quick} if _moved(get, ref_etag)}
    if listed == recorded and not moved:
        return (len(quick), len(listed), len(ins) - ins.count(None)), []
    jobs = outputs = inputs = 0
    again: list[str] = []
    at = 0
    for q, now_in in zip(quick, ins, strict=True):
        n = len(q.outputs)
        if listed[at : at + n] != recorded[at : at + n] or (q.input, q.input_etag) in moved:
            again.append(q.key)
        else:
            jobs += 1
            outputs += n
            inputs += now_in is not None
        at += n
    return (jobs, outputs, inputs), again


def _moved(get: Callable[[tuple[str, str]], Any], ref_etag: tuple[tuple[str, str], str]) -> bool:
    """Whether an input listed now has another ETag than the one recorded (one not listed: not)."""
    now = get(ref_etag[0])
    return now is not None and now[1] != ref_etag[1]


_BAD = object()  # a recorded pair that is not [size, ETag]: equal to nothing listed


def decoded(state: StateDoc, keys: list[str]) -> Iterator[tuple[str, LockEntry]]:
    """The finished records of ``keys`` (lines of ``state``'s compact lines), decoded without their
    fingerprints (an invalid line is left out: the plan says what is wrong with it)."""
    assert state.compact is not None
    lines, light = state.compact.lines, state.compact.decoder.record
    for key in keys:
        got = light(key, lines[key], light=True)
        if isinstance(got, LockEntry) and got.state in FINISHED:
            yield key, got


def finished(state: StateDoc, keys: set[str] | None = None) -> Iterator[tuple[str, LockEntry]]:
    """The finished records (Success, Fail) of a state held as records (one without compact lines)."""
    for key, rec in state.jobs.items():
        if rec.state in FINISHED and (keys is None or key in keys):
            yield key, rec

"""Manifest checks that come from the MTS documentation and from the target, run by ``validate``
(and by every command that loads a manifest), reported through the diagnostics machinery.

- Regions and OSS locations must be real ones: a near miss of a known name is an error with
  "did you mean"; a name in no list is a warning (a region may be newer than specrunner).
- backend aliyun: every bucket must be in the MTS region (``location`` = ``oss-`` + ``target.region``;
  SubmitSnapshotJob documentation), ``interval: 0`` is disputed by the documentation (warning, an
  error with ``--strict``), and input objects cannot be checked offline (a note: never refused, even
  with ``--strict``).
- backend local: checking costs nothing, so the inputs are checked: a bucket folder that does not
  exist but is a near miss of one that does is an error (did you mean ...?); any other missing bucket
  or object is a warning (it may still appear before apply; its jobs would fail with
  InvalidParameter.ResourceNotFound).

Invariants: defensive against documents that also have schema errors (every value's type is
checked before use); reads the file system only under the local target's root, never writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from specrunner.core import durations, mtsrules
from specrunner.core.diagnostics import PathT
from specrunner.validate.reporting import Add

MAX_STATS = 100_000  # inputs checked on disk at most (a guard, far above real manifests)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _locations(data: dict[str, Any]) -> list[tuple[PathT, str, bool]]:
    """Every location written in the manifest: (path, value, is it used by some job)."""
    out: list[tuple[PathT, str, bool]] = []
    defaults = _dict(data.get("defaults"))
    if isinstance(defaults.get("location"), str):
        out.append((("defaults", "location"), defaults["location"], True))
    for i, item in enumerate(_list(data.get("inputs"))):
        if isinstance(item, dict) and isinstance(item.get("location"), str):
            out.append((("inputs", i, "location"), item["location"], True))
    for r, rule in enumerate(_list(data.get("rules"))):
        rule = _dict(rule)
        if isinstance(rule.get("output_location"), str):
            out.append((("rules", r, "output_location"), rule["output_location"], True))
        tile = _dict(rule.get("tile"))
        if isinstance(tile.get("location"), str):
            out.append((("rules", r, "tile", "location"), tile["location"], True))
    return out


def check_regions(data: dict[str, Any], add: Add) -> None:
    target = _dict(data.get("target"))
    backend = target.get("backend", "local")
    region = target.get("region") if isinstance(target.get("region"), str) else None
    if backend == "aliyun" and region and region not in mtsrules.MTS_REGIONS:
        close = mtsrules.closest(region, mtsrules.MTS_REGIONS)
        if close:
            add(("target", "region"), f"{region!r} is not an MTS region; did you mean {close!r}?")
            region = None
        else:
            add(
                ("target", "region"),
                f"{region!r} is not an MTS region specrunner knows (known: "
                f"{', '.join(mtsrules.MTS_REGIONS)}); check the spelling",
                severity="warning",
            )
    for path, loc, _ in _locations(data):
        if loc not in mtsrules.OSS_LOCATIONS and loc.startswith("oss-"):
            close = mtsrules.closest(loc, mtsrules.OSS_LOCATIONS)
            if close:
                add(path, f"{loc!r} is not an OSS region; did you mean {close!r}?")
                continue
            add(
                path, f"{loc!r} is not an OSS region specrunner knows; check the spelling", severity="warning"
            )
        if backend == "aliyun" and region and loc.startswith("oss-"):
            problem = mtsrules.region_mismatch(loc, region)
            if problem:
                add(path, problem + " (SubmitSnapshotJob documentation; every job would fail at apply)")


def check_aliyun_rules(data: dict[str, Any], add: Add) -> None:
    """What only matters on the real service."""
    target = _dict(data.get("target"))
    if target.get("backend", "local") != "aliyun":
        return
    for r, rule in enumerate(_list(data.get("rules"))):
        interval = _dict(rule).get("interval")
        try:
            zero = (
                interval is not None
                and not isinstance(interval, bool)
                and durations.interval_s(interval) == 0
            )
        except (durations.DurationError, ValueError, ArithmeticError, TypeError):
            zero = False
        if zero:
            add(
                ("rules", r, "interval"),
                "interval 0 (spread evenly over the video) is documented on the "
                "parameter details page but refused (Interval > 0) by the data types page and the SDK "
                "models: it may fail on the service; set an interval in seconds to be safe",
                severity="warning",
            )
    inputs = data.get("inputs")
    if isinstance(inputs, list) and inputs:
        n = sum(1 for x in inputs if isinstance(x, str) or (isinstance(x, dict) and "object" in x))
        if n:
            what = "the input object exists" if n == 1 else f"the {n} input objects exist"
            add(
                ("inputs",),
                f"backend aliyun: whether {what} in OSS cannot be checked offline; a missing "
                "one fails at apply (InvalidParameter.ResourceNotFound)",
                severity="note",
                key=True,
            )


def check_local_inputs(data: dict[str, Any], manifest: Path, add: Add) -> None:
    """backend local: the input buckets and objects exist under target.root."""
    target = _dict(data.get("target"))
    if target.get("backend", "local") != "local":
        return
    root_s = target.get("root", "./oss")
    if not isinstance(root_s, str):
        return
    root = Path(root_s) if Path(root_s).is_absolute() else manifest.resolve().parent / root_s
    defaults = _dict(data.get("defaults"))
    inputs = data.get("inputs") if isinstance(data.get("inputs"), list) else []
    if not inputs:
        return
    if not root.is_dir():
        add(
            ("target", "root") if "root" in target else ("target",) if "target" in data else (),
            f"the local root {root_s!r} does not exist (next to the manifest): the inputs cannot be checked; "
            "apply would fail every job",
            severity="warning",
            key="root" in target,
        )
        return
    buckets = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    missing_buckets: set[str] = set()
    for i, item in enumerate(inputs[:MAX_STATS]):
        path: PathT
        bucket_path: PathT
        obj: Any
        if isinstance(item, str):
            bucket, obj, path = defaults.get("input_bucket"), item, ("inputs", i)
            bucket_path = ("defaults", "input_bucket")
        elif isinstance(item, dict) and isinstance(item.get("object") or item.get("prefix"), str):
            bucket = item.get("bucket", defaults.get("input_bucket"))
            obj = item.get("object")
            path = ("inputs", i, "object") if "object" in item else ("inputs", i, "prefix")
            bucket_path = ("inputs", i, "bucket") if "bucket" in item else ("defaults", "input_bucket")
        else:
            continue
        if not isinstance(bucket, str) or not bucket or "/" in bucket or bucket in (".", ".."):
            continue
        if not (root / bucket).is_dir():
            if bucket not in missing_buckets:
                missing_buckets.add(bucket)
                close = mtsrules.closest(bucket, tuple(buckets)) if buckets else None
                if close:  # a typo of a bucket that exists: every job of it would fail
                    add(
                        bucket_path,
                        f"input bucket {bucket!r} does not exist: no folder {root_s}/{bucket}; "
                        f"did you mean {close!r}?",
                    )
                else:
                    there = f" (buckets there: {', '.join(buckets[:10])})" if buckets else ""
                    add(
                        bucket_path,
                        f"input bucket {bucket!r} does not exist yet: no folder "
                        f"{root_s}/{bucket}{there}; its jobs would fail (InvalidParameter.ResourceNotFound)",
                        severity="warning",
                    )
            continue
        safe = isinstance(obj, str) and obj and not obj.startswith("/") and ".." not in obj.split("/")
        if safe and not (root / bucket / obj).is_file():
            add(
                path,
                f"input {bucket}/{obj} does not exist under {root_s}: its jobs would fail "
                "(InvalidParameter.ResourceNotFound)",
                severity="warning",
            )

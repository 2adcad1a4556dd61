"""The typed build: the ``core.model.Manifest`` of a document that passed every check.

Nothing is checked here: ``validate.manifest`` builds only a document without errors. Defaults are
filled in (``defaults:`` and the target's), durations are converted to the API's units
(``time_ms``, ``interval_s``), and integers written as floats (640.0, an integer for JSON Schema)
become ints, so every field is in its final type.

Importing this module imports the typed model; ``validate.manifest`` imports it only when a model is
built, so ``specrunner validate`` (which needs no model) does not pay for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from specrunner.core.model import Discovery, Input, Manifest, Moved, RemoteState, Rule, Target, Tile
from specrunner.validate import safedurations
from specrunner.validate.yamlload import display_path

# Integers in the JSON Schema's sense (640 and 640.0 alike) become Python ints: what is sent is "640".
_TILE_INTS = frozenset(
    {"lines", "columns", "cell_width", "cell_height", "margin", "padding", "cell_sel_step"}
)


def _int(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def build_manifest(data: dict[str, Any], path: Path) -> Manifest:
    """The model of ``data``, a document read from ``path`` that passed every check."""
    t = data.get("target", {})
    d = data.get("defaults", {})
    target = Target(
        backend=t.get("backend", "local"),
        root=t.get("root", "./oss"),
        region=t.get("region"),
        endpoint=t.get("endpoint"),
        pipeline_id=t.get("pipeline_id"),
        qps_submit=float(t.get("qps", {}).get("submit", 50.0)),
        qps_query=float(t.get("qps", {}).get("query", 100.0)),
        sync_timeout=float(t.get("sync_timeout", 6.0)),
    )
    inputs = []
    discoveries = []
    for i, item in enumerate(data["inputs"]):
        if isinstance(item, dict) and "prefix" in item:
            discoveries.append(
                Discovery(
                    index=i,
                    prefix=item["prefix"],
                    match=item.get("match", "*"),
                    bucket=item.get("bucket", d.get("input_bucket")),
                    location=item.get("location", d.get("location")),
                )
            )
            continue
        if isinstance(item, str):
            item = {"object": item}
        inputs.append(
            Input(
                id=item.get("id", item["object"]),
                object=item["object"],
                bucket=item.get("bucket", d.get("input_bucket")),
                location=item.get("location", d.get("location")),
            )
        )
    rules = []
    for rule in data["rules"]:
        out_bucket = rule.get("output_bucket", d.get("output_bucket"))
        out_loc = rule.get("output_location", d.get("location"))
        tile = None
        if "tile" in rule:
            tl = {k: _int(v) if k in _TILE_INTS else v for k, v in rule["tile"].items()}
            tile = Tile(
                **{**tl, "bucket": tl.get("bucket", out_bucket), "location": tl.get("location", out_loc)}
            )
        rules.append(
            Rule(
                id=rule["id"],
                time_ms=safedurations.time_ms(rule.get("time", 0)),
                interval_s=safedurations.interval_s(rule["interval"]) if "interval" in rule else None,
                num=_int(rule.get("num")),
                width=_int(rule.get("width")),
                height=_int(rule.get("height")),
                frame_type=rule.get("frame_type"),
                black_level=_int(rule.get("black_level")),
                pixel_black_threshold=_int(rule.get("pixel_black_threshold")),
                format=rule.get("format"),
                sub_out_is_spt_frag=rule.get("sub_out", {}).get("is_spt_frag"),
                output=rule["output"],
                output_bucket=out_bucket,
                output_location=out_loc,
                pipeline_id=rule.get("pipeline_id"),
                user_data=rule.get("user_data"),
                tile=tile,
                inputs=tuple(rule["inputs"]) if "inputs" in rule else None,
                mode=rule.get("mode", "auto"),
                mts=tuple(sorted(rule.get("mts", {}).items())),
            )
        )
    return Manifest(
        path=display_path(path),
        base_dir=str(path.resolve().parent),
        target=target,
        pipeline_id=t.get("pipeline_id", d.get("pipeline_id")),
        inputs=tuple(inputs),
        rules=tuple(rules),
        discoveries=tuple(discoveries),
        state=RemoteState(**data["state"]) if isinstance(data.get("state"), dict) else None,
        name=data.get("name"),
        variables=tuple(sorted((data.get("variables") or {}).items())),
        moved=tuple(Moved(m["from"], m["to"]) for m in data.get("moved") or ()),
    )

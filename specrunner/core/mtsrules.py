"""What the MTS documentation says a request must satisfy: one definition, used on both sides of the wire
(the manifest checks of ``validate`` and the emulator's answers).

Sources (MTS API 2014-06-18; the Chinese originals where the English pages lag):

- UserData (SubmitSnapshotJob page, and the Tea SDK model's comment): Chinese and English letters,
  digits and hyphens; must not start with a special character; at most 1,024 bytes.
- Regions (SubmitSnapshotJob page, Input / OutputFile): the OSS buckets must be in the same region as
  the MTS endpoint, so a ``Location`` is ``oss-`` + the MTS region (``oss-cn-shanghai`` with
  ``mts.cn-shanghai.aliyuncs.com``).
- Object keys (error code list, InvalidParameter.ObjectKeyInvalid): 1 to 1,023 bytes (UTF-8, decoded).
- ``{TileCount}`` (parameter details, TileOutputFile): required in the tile's Object when the job is
  async and ``Num`` is not 1; ``{Count}`` likewise in OutputFile.
- Interval (parameter details page: >= 0, 0 spreads the snapshots evenly; the data types page, the Tea
  model and the English page: > 0): 0 is disputed, so specrunner warns about it on an aliyun target.

Region lists: the MTS regions are those of the V1 SDK's endpoint data (``aliyunsdkcore/data/
endpoints.json``, mts) plus the newer public MPS regions; the OSS regions are OSS's public regions.
A name in neither list is not necessarily wrong (new regions open): callers treat a near miss of a
known name as an error (did you mean ...?) and anything else as a warning. Pure code, no I/O.
"""

from __future__ import annotations

import re
from functools import cache

USER_DATA_MAX_BYTES = 1024
OBJECT_KEY_MAX_BYTES = 1023

MTS_REGIONS: tuple[str, ...] = (
    "cn-hangzhou",
    "cn-shanghai",
    "cn-beijing",
    "cn-shenzhen",
    "cn-zhangjiakou",
    "cn-hongkong",
    "ap-northeast-1",
    "ap-southeast-1",
    "ap-southeast-3",
    "ap-southeast-5",
    "ap-south-1",
    "us-west-1",
    "us-east-1",
    "eu-central-1",
    "eu-west-1",
)
OSS_REGIONS: tuple[str, ...] = (
    "cn-hangzhou",
    "cn-shanghai",
    "cn-nanjing",
    "cn-fuzhou",
    "cn-wuhan-lr",
    "cn-qingdao",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-huhehaote",
    "cn-wulanchabu",
    "cn-shenzhen",
    "cn-heyuan",
    "cn-guangzhou",
    "cn-chengdu",
    "cn-hongkong",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-3",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ap-south-1",
    "us-west-1",
    "us-east-1",
    "eu-central-1",
    "eu-west-1",
    "me-east-1",
    "me-central-1",
)
OSS_LOCATIONS: tuple[str, ...] = tuple("oss-" + r for r in OSS_REGIONS)

# A letter (Latin or CJK) or digit first, then letters, digits and hyphens.
_USER_DATA_PATTERN = (
    r"^[0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
    r"[0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff-]*$"
)


@cache
def _user_data_re() -> re.Pattern[str]:
    """Compiled on first use: its CJK ranges take ~3 ms to compile, paid only for a UserData."""
    return re.compile(_USER_DATA_PATTERN)


USER_DATA_RULE = (
    "UserData may hold only Chinese and English letters, digits and hyphens, must not start "
    "with a hyphen, and has at most 1,024 bytes (MTS SubmitSnapshotJob documentation)"
)


def user_data_problem(text: str, reserve: int = 0) -> str | None:
    """Why ``text`` is not a documented UserData (``reserve`` bytes are kept for a suffix), or None."""
    size = len(text.encode("utf-8"))
    if size > USER_DATA_MAX_BYTES - reserve:
        why = (
            f" (MTS allows {USER_DATA_MAX_BYTES} and specrunner appends a {reserve}-byte tag)"
            if reserve
            else ""
        )
        return f"is {size} bytes; the limit is {USER_DATA_MAX_BYTES - reserve}{why}"
    if not text:
        return None
    pattern = _user_data_re()
    if not pattern.match(text):
        bad = next((c for c in text if not pattern.match("a" + c)), None)
        if bad is None:
            return f"starts with {text[0]!r}: {USER_DATA_RULE}"
        return f"contains {bad!r}: {USER_DATA_RULE}"
    return None


def key_length_problem(key: str) -> str | None:
    """1 to 1,023 bytes (UTF-8), the documented limit of an OSS object key in MTS requests."""
    size = len(key.encode("utf-8"))
    if size == 0:
        return "an object key has 1 to 1,023 bytes; this one is empty"
    if size > OBJECT_KEY_MAX_BYTES:
        return f"an object key has 1 to 1,023 bytes (MTS error code list); this one has {size:,}"
    return None


def location_region(location: str) -> str | None:
    """``oss-cn-shanghai`` -> ``cn-shanghai``; None for a string that is not ``oss-<region>``."""
    return location[4:] if location.startswith("oss-") and len(location) > 4 else None


def region_mismatch(location: str, region: str) -> str | None:
    """Why a bucket at ``location`` cannot be used by MTS in ``region``, or None."""
    if location_region(location) == region:
        return None
    return (
        f"location {location} is not in the MTS region {region}: MTS reads and writes only buckets "
        f"in its own region (use oss-{region}, or a bucket there)"
    )


def closest(word: str, options: tuple[str, ...]) -> str | None:
    import difflib

    close = difflib.get_close_matches(word, options, n=1, cutoff=0.8) if len(word) <= 100 else []
    return close[0] if close else None


def tile_count_problem(is_async: bool, num: int | None, tile_object: str) -> str | None:
    if is_async and num != 1 and "{TileCount}" not in tile_object:
        return "TileOutputFile.Object must contain {TileCount} when the job is async and Num is not 1"
    return None


def count_problem(is_async: bool, num: int | None, output_object: str) -> str | None:
    """``{Count}`` in OutputFile.Object: required when the job is async and Num is not 1 (an Interval
    alone takes as many snapshots as the video allows: also several)."""
    if is_async and num != 1 and "{Count}" not in output_object:
        return "OutputFile.Object must contain {Count} when the job is async and Num is not 1"
    return None


# PipelineId (error code list, InvalidParameter.UUIDFormatInvalid): a UUID without dashes.
_PIPELINE_ID_RE = re.compile(r"[a-f0-9]{32}")
PIPELINE_ID_RULE = (
    "a PipelineId is 32 characters [a-f0-9], an MTS pipeline's id (MTS error code list, "
    "InvalidParameter.UUIDFormatInvalid)"
)


def pipeline_id_problem(text: str) -> str | None:
    """Why ``text`` is not a documented PipelineId, or None."""
    if _PIPELINE_ID_RE.fullmatch(text):
        return None
    return f"{text[:40]!r} is not a pipeline id: {PIPELINE_ID_RULE}"


# TimeArray (SDK answer models only: SnapshotConfig.TimeArray.TimePointList, integer milliseconds).
TIME_ARRAY_RULE = (
    "TimeArray appears only in MTS answers (SnapshotConfig.TimeArray.TimePointList, integer "
    "milliseconds, in the SDK models); no MTS page documents it as a SubmitSnapshotJob parameter, so "
    "its request form, mode and Count are unknown"
)
TIME_ARRAY_FIX = "take the snapshots with time, interval and num, or one rule per time point (time: 1s)"


def black_lead_in_filtered(time_ms: int, single: bool, black_level: int | None, num: int | None) -> bool:
    """Whether the first snapshot skips black frames (parameter details page, BlackLevel): with
    ``Time=0`` and one snapshot (``Num=1`` or sync) always, whatever BlackLevel says; with ``Time=0``
    and several (``Num>1``, or an Interval alone: every interval to the end) when BlackLevel is set;
    never when ``Time>0``."""
    if time_ms != 0:
        return False
    if single:
        return True
    return black_level is not None and (num is None or num > 1)


def tile_cells(count: int, cell_sel_step: int | None) -> int:
    """The cells a sprite sheet holds for ``count`` snapshots when every ``CellSelStep``-th snapshot is
    tiled (the first, then every step-th after it; no step: every snapshot)."""
    step = cell_sel_step if cell_sel_step and cell_sel_step > 0 else 1
    return -(-count // step) if count > 0 else 0


def vtt_object(first_output: str, file_name: str) -> str:
    """The WebVTT index of a ``Format: vtt`` job: ``{FileName}.vtt`` in the folder of its first
    snapshot (``first_output``: bucket/key or key, or the output template: its ``{Count}`` and
    ``{SnapshotTime}`` are the first snapshot's, ``00001`` and ``0``, as the engine names it)."""
    first_output = first_output.replace("{Count}", "00001").replace("{SnapshotTime}", "0")
    folder = first_output.rsplit("/", 1)[0] + "/" if "/" in first_output else ""
    return f"{folder}{file_name}.vtt"

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

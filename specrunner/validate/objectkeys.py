"""Whether a text is a safe OSS object key: the rule shared by the inputs' keys, the rules' output
templates and the keys those templates resolve to (``validate.collisions``).

``object_key_problem(key)`` is None for a safe key, else the message that says what is wrong.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from specrunner.core.mtsrules import key_length_problem

_CONTROL_RE = re.compile(r"[\x00-\x1f]")


def object_key_problem(key: str) -> str | None:
    if key.startswith("/"):
        return "object keys must not start with '/'; write the key relative to the bucket"
    if _CONTROL_RE.search(key):
        return "object keys must not contain control characters"
    if "\\" in key:
        return "object keys must not contain '\\'; OSS folders are separated by '/'"
    if ".." in key.split("/") or key.endswith("/"):
        return "object key must name a file: no '..' segments and no trailing '/'"
    if "." in key.split("/"):
        return "object keys must not contain '.' segments ('a/./b'); write 'a/b'"
    too_long = key_length_problem(key) if len(key) > 255 else None  # 1 to 1,023 bytes (MTS error code list)
    if too_long:
        return too_long
    decoded = unquote(key) if "%" in key else key  # decoded once, as the service does
    if decoded != key and (
        decoded.startswith("/")
        or "\\" in decoded
        or _CONTROL_RE.search(decoded)
        or any(part in (".", "..") for part in decoded.split("/"))
    ):
        return (
            "object key looks URL-encoded and decodes to an unsafe key ('%2F..', '%00', ...); write keys "
            "as plain text: specrunner encodes them"
        )
    return None

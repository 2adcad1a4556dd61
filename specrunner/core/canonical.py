"""The canonical JSON encoding: sorted keys, no spaces, UTF-8 kept as is (``ensure_ascii=False``).

What fingerprints, config ids and the state's digest hash, and what the state's journal and its OSS
objects hold one per line. Pure functions; the bytes never change (fingerprints and digests recorded
in states depend on them). One encoder built once: ``json.dumps`` with these options would build a new
one on every call.
"""

from __future__ import annotations

import json
from typing import Any

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """``value`` encoded canonically."""
    return _ENCODER.encode(value)


def canonical_bytes(value: Any) -> bytes:
    """``value`` encoded canonically, as UTF-8."""
    return _ENCODER.encode(value).encode("utf-8")


def canonical_line(value: Any) -> bytes:
    """``value`` encoded canonically as one line (newline-terminated), as UTF-8."""
    return (_ENCODER.encode(value) + "\n").encode("utf-8")

"""A memo of the JSON Schema pass: a document once found valid is not walked (nor jsonschema loaded) again.

Every command validates its manifest, and the JSON Schema pass is the costly part of starting up
(importing ``jsonschema`` alone takes longer than parsing a 5,000-job lock file). Its result is a pure
function of the manifest's text, the schema and the validator, so a clean result is remembered, as
mypy, ruff and dbt's partial parsing remember theirs:

- Key: sha256 over a format tag, specrunner's version, the schema's bytes, the installed jsonschema's
  stamp (its ``__init__``'s size and mtime) and the manifest's text. Any change to one is a new key.
- Only "no schema error and no schema warning" is remembered (an empty file named by the key);
  a document with findings is validated every time, so its diagnostics are always fresh. The
  semantic and documentation checks are never memoized (they also look at the disk).
- Where: ``$SPECRUNNER_CACHE_DIR``, else ``$XDG_CACHE_HOME/specrunner``, else ``~/.cache/specrunner``;
  ``SPECRUNNER_CACHE_DIR=`` (empty) turns the memo off. A cache that cannot be read or written is
  ignored silently: the memo can only save time, never fail a command. At most ``LIMIT`` entries
  are kept (the oldest half is dropped when it is reached).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from specrunner import __version__
from specrunner.validate.schema import MANIFEST_SCHEMA, schema_path

TAG = b"specrunner schema pass 1\0"
LIMIT = 4096


def cache_dir() -> Path | None:
    configured = os.environ.get("SPECRUNNER_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "specrunner"


def _validator_stamp() -> bytes:
    import importlib.util

    spec = importlib.util.find_spec("jsonschema")
    if spec is None or spec.origin is None:  # pragma: no cover - a dependency
        return b"-"
    st = os.stat(spec.origin)
    return f"{spec.origin}\0{st.st_size}\0{st.st_mtime_ns}".encode()


def key(text: str) -> str | None:
    """The memo key of a manifest's text (None when the memo is off or its inputs cannot be read)."""
    if cache_dir() is None:
        return None
    try:
        h = hashlib.sha256(TAG)
        for part in (__version__.encode(), schema_path(MANIFEST_SCHEMA).read_bytes(), _validator_stamp()):
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
        h.update(text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()
    except (OSError, ValueError):  # pragma: no cover - an unreadable schema fails elsewhere, loudly
        return None


def _entry(k: str) -> Path | None:
    d = cache_dir()
    return d / "schema-pass" / k if d is not None else None


def known_valid(k: str | None) -> bool:
    entry = _entry(k) if k else None
    try:
        return entry is not None and entry.is_file()
    except OSError:
        return False


def remember_valid(k: str | None) -> None:
    entry = _entry(k) if k else None
    if entry is None:
        return
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f".{entry.name}.{os.getpid()}")
        tmp.touch()
        os.replace(tmp, entry)
        _prune(entry.parent)
    except OSError:
        pass  # a read-only or full cache only costs time


def _prune(folder: Path) -> None:
    with os.scandir(folder) as it:
        entries = [e for e in it if e.is_file()]
    if len(entries) < LIMIT:
        return
    entries.sort(key=lambda e: e.stat().st_mtime_ns)
    for e in entries[: len(entries) // 2]:
        try:
            os.unlink(e.path)
        except OSError:
            pass

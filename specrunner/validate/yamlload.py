"""A safe YAML loader that keeps line marks and refuses what a manifest must never contain.

It composes the YAML node graph (libyaml when available) and builds plain Python values itself, so
that it can:

- remember the position of every value (``Marks``), for ``FILE:LINE:COL: $.path: message``;
- refuse duplicate mapping keys, custom or Python tags (``!!python/object``), and non-string keys;
- stay bounded on hostile input: nesting depth, node count (alias "billion laughs" bombs), file size,
  string and number length.

Nesting is checked on the parser's event stream *before* composing: libyaml's parser keeps its
stack on the heap, but the composer (C, recursive) overflows the C stack and kills the interpreter
(SIGSEGV, not a RecursionError) somewhere below 100,000 nested ``[``.

Timestamps are kept as the text the user wrote; ``!!binary`` is refused.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from specrunner.core.diagnostics import PathT

try:  # pragma: no cover - depends on the PyYAML build
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 500_000  # values after alias expansion; about 0.3 s and 60 MB per 100,000
MAX_STRING_CHARS = 65_536  # no manifest value comes near this (object keys: 1,024 bytes)
MAX_NUMBER_CHARS = 100  # also keeps int() off huge decimal/sexagesimal texts

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class Marks:
    """Positions of values (and of mapping keys) by JSON path."""

    values: dict[PathT, Mark] = field(default_factory=dict)
    keys: dict[PathT, Mark] = field(default_factory=dict)

    def find(self, path: PathT, *, key: bool = False) -> Mark:
        """The position of ``path``; for a missing path, that of its nearest existing parent."""
        table = self.keys if key else self.values
        if path in table:
            return table[path]
        if key and path in self.values:
            return self.values[path]
        p = tuple(path)
        while p:
            p = p[:-1]
            if p in self.values:
                return self.values[p]
        return self.values.get((), Mark(1, 1))


class YamlError(Exception):
    """A document that is not valid YAML, or YAML a manifest must not contain."""

    def __init__(self, message: str, mark: Mark | None = None, path: PathT = ()) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark or Mark(1, 1)
        self.path = path


def _mark(node: yaml.Node) -> Mark:
    m = node.start_mark
    return Mark(m.line + 1, m.column + 1)


def _event_mark(ev: yaml.Event) -> Mark:
    m = ev.start_mark  # the parser sets it on every event it emits
    return Mark(m.line + 1, m.column + 1) if m is not None else Mark(1, 1)


def read_text(path: Path) -> str:
    """Read a manifest file as UTF-8 text; raise YamlError with a clear message otherwise."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise YamlError("file not found") from None
    except OSError as e:
        raise YamlError(f"cannot read the file: {e.strerror or e}") from None
    if path.is_dir():
        raise YamlError("is a directory, not a manifest file; pass the .yaml file inside it")
    if st.st_size > MAX_FILE_BYTES:
        raise YamlError(f"file is too large ({st.st_size} bytes; the limit is {MAX_FILE_BYTES})")
    chunks, total = [], 0
    try:
        with open(path, "rb") as f:  # bounded: /dev/zero or a pipe reports size 0 and may never end
            while chunk := f.read(1 << 20):
                chunks.append(chunk)
                total += len(chunk)
                if total > MAX_FILE_BYTES:
                    raise YamlError(f"file is too large (more than {MAX_FILE_BYTES} bytes)")
    except OSError as e:
        raise YamlError(f"cannot read the file: {e.strerror or e}") from None
    return decode_bytes(b"".join(chunks))


def decode_bytes(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise YamlError(
            "contains NUL bytes: this is a binary file, not a YAML manifest",
            Mark(line, 1),
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise YamlError(
            f"is not valid UTF-8 (byte 0x{data[e.start]:02x}); save the file as UTF-8",
            Mark(line, col),
        ) from None


def _too_deep(mark: Mark | None = None, path: PathT = ()) -> YamlError:
    return YamlError(f"nested too deeply (limit {MAX_DEPTH} levels)", mark, path)


def _too_many(mark: Mark | None = None, path: PathT = ()) -> YamlError:
    return YamlError(
        f"the document expands to more than {MAX_NODES:,} values (an alias bomb?); "
        "remove the repeated aliases or split the manifest",
        mark,
        path,
    )


def _prescan(text: str) -> None:
    """Refuse too deep or too big documents from the event stream, before the composer sees them."""
    depth = nodes = 0
    for ev in yaml.parse(text, Loader=_Loader):
        kind = type(ev)
        if kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            depth += 1
            nodes += 1
            if depth > MAX_DEPTH:
                raise _too_deep(_event_mark(ev))
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            depth -= 1
        elif kind is yaml.ScalarEvent or kind is yaml.AliasEvent:
            nodes += 1
        else:
            continue
        if nodes > MAX_NODES:
            raise _too_many(_event_mark(ev))


def _expanded_size(root: yaml.Node) -> None:
    """Count values as the builder will see them (aliases expanded) without building anything."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, height)
    active: set[int] = set()

    def visit(node: yaml.Node, depth: int) -> tuple[int, int]:
        known = sizes.get(id(node))
        if known is not None:
            if depth + known[1] > MAX_DEPTH:
                raise _too_deep(_mark(node))
            return known
        if id(node) in active:
            raise YamlError(
                "an alias refers to the collection that contains it (a recursive anchor)", _mark(node)
            )
        if depth > MAX_DEPTH:
            raise _too_deep(_mark(node))
        if isinstance(node, yaml.ScalarNode):
            return 1, 0
        active.add(id(node))
        children = (
            [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
        )
        total, height = 1, 0
        for child in children:
            n, h = visit(child, depth + 1)
            total += n
            height = max(height, h + 1)
            if total > MAX_NODES:
                raise _too_many(_mark(node))
        active.discard(id(node))
        sizes[id(node)] = (total, height)
        return total, height

    visit(root, 0)


def load(text: str) -> tuple[Any, Marks]:
    """Parse one YAML document into plain JSON-like values plus their marks."""
    try:
        _prescan(text)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        m = e.problem_mark or e.context_mark
        mark = Mark(m.line + 1, m.column + 1) if m else None
        problem = e.problem or "invalid YAML"
        if e.context:
            problem = f"{e.context}: {problem}" if "while" not in e.context else f"{problem} ({e.context})"
        raise YamlError(f"invalid YAML: {problem}", mark) from None
    except yaml.reader.ReaderError as e:  # a character YAML does not allow; position is a UTF-8 offset
        raise YamlError(
            f"invalid YAML: unacceptable character #x{e.character:04x}: {e.reason}",
            _offset_mark(text, e.position),
        ) from None
    except yaml.YAMLError as e:
        raise YamlError(f"invalid YAML: {e}") from None
    marks = Marks()
    if node is None:
        return None, marks
    _expanded_size(node)  # the builder below stays within MAX_DEPTH and MAX_NODES
    return _Builder(marks).build(node, ()), marks


def _offset_mark(text: str, offset: Any) -> Mark | None:
    if not isinstance(offset, int) or offset < 0:
        return None
    data = text.encode("utf-8", "surrogatepass")[:offset]
    start = data.rfind(b"\n") + 1
    return Mark(data.count(b"\n") + 1, len(data[start:].decode("utf-8", "replace")) + 1)


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Builder:
    """Plain values from a composed node graph that ``_expanded_size`` found within the limits."""

    def __init__(self, marks: Marks) -> None:
        self.marks = marks
        self._constructor = yaml.SafeLoader("")  # only its scalar constructors are used

    def build(self, node: yaml.Node, path: PathT) -> Any:
        self.marks.values.setdefault(path, _mark(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                raise self._bad_tag(node, path)
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: PathT) -> dict[str, Any]:
        if node.tag != _MAP:
            raise self._bad_tag(node, path)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlError(
                    "merge keys (<<) are not supported in manifests; write the keys out",
                    _mark(key_node),
                    path,
                )
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlError("mapping keys must be plain strings", _mark(key_node), path)
            key = self._scalar(key_node, path)
            if not isinstance(key, str):
                key = key_node.value  # e.g. `1: x` or `true: x`: keep the text as written
            if key in out:
                first = self.marks.keys.get((*path, key))
                where = f" (first defined at line {first.line})" if first else ""
                raise YamlError(f"duplicate key {_clip(key)!r}{where}", _mark(key_node), (*path, key))
            self.marks.keys[(*path, key)] = _mark(key_node)
            out[key] = self.build(value_node, (*path, key))
        return out

    def _scalar(self, node: yaml.Node, path: PathT) -> Any:
        tag = node.tag
        if isinstance(node.value, str) and len(node.value) > MAX_STRING_CHARS:
            raise YamlError(
                f"a value of {len(node.value):,} characters is too long (the limit is {MAX_STRING_CHARS:,})",
                _mark(node),
                path,
            )
        if tag == _STR:
            return node.value
        if tag in (_INT, _FLOAT) and len(node.value) > MAX_NUMBER_CHARS:
            raise YamlError(
                f"the number {_clip(node.value, 40)!r} is too long ({len(node.value)} "
                f"characters; the limit is {MAX_NUMBER_CHARS})",
                _mark(node),
                path,
            )
        if tag in (_INT, _FLOAT, _BOOL, _NULL):
            try:
                value = self._constructor.construct_object(node, deep=True)
            except Exception as e:  # ValueError, OverflowError, and KeyError from `!!bool maybe`, ...
                what = "boolean" if tag == _BOOL else "number"
                detail = f": {e}" if isinstance(e, (ValueError, OverflowError)) else ""
                raise YamlError(
                    f"invalid {what} {_clip(node.value, 40)!r}{detail}", _mark(node), path
                ) from None
            if isinstance(value, float) and not math.isfinite(value):
                raise YamlError(f"{_clip(node.value, 40)!r} is not a finite number", _mark(node), path)
            return value
        if tag == _TIMESTAMP:
            return node.value
        raise self._bad_tag(node, path)

    def _bad_tag(self, node: yaml.Node, path: PathT) -> YamlError:
        return YamlError(
            f"unsupported YAML tag {node.tag!r}: manifests hold plain strings, numbers, lists and maps",
            _mark(node),
            path,
        )


def display_path(path: Path, base: Path | None = None) -> str:
    """A path for messages: relative to the working directory when it is below it."""
    try:
        return os.path.relpath(path, base or Path.cwd()) if path.is_absolute() else str(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)

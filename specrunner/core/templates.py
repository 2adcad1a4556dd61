"""Object key templates: the service's placeholders, resolved the way the service resolves them.

``{ObjectPrefix}`` is the input key's folder with its trailing ``/``, ``{FileName}`` its base name
without extension, ``{ExtName}`` the extension without the dot; ``{Count}``, ``{TileCount}`` and
``{SnapshotTime}`` are filled per snapshot. Pure string work, cached.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

PLACEHOLDERS = ("ObjectPrefix", "FileName", "ExtName", "SnapshotTime", "Count", "TileCount")
PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")


def resolve_template(template: str, input_object: str, **extra: str) -> str:
    """Fill the input-dependent placeholders ({ObjectPrefix}, {FileName}, {ExtName}) and ``extra``."""
    prefix, stem, ext = object_parts(input_object)
    fmt, names = compiled_template(template)
    if not names:
        return template
    values = {"ObjectPrefix": prefix, "FileName": stem, "ExtName": ext, **extra}
    return fmt.format(*[values.get(n, "{" + n + "}") for n in names])


@lru_cache(maxsize=65536)
def object_parts(input_object: str) -> tuple[str, str, str]:
    """(ObjectPrefix, FileName, ExtName) of an object key."""
    slash = input_object.rfind("/")
    prefix, name = input_object[: slash + 1], input_object[slash + 1 :]
    dot = name.rfind(".")
    stem, ext = (name[:dot], name[dot + 1 :]) if dot > 0 else (name, "")
    return prefix, stem, ext


@lru_cache(maxsize=4096)
def compiled_template(template: str) -> tuple[str, tuple[str, ...]]:
    """``template`` as a positional str.format string plus its placeholder names, in order
    (one C-level format per call instead of a regex substitution with a Python callback)."""
    parts = PLACEHOLDER_RE.split(template)  # literal, name, literal, name, ..., literal
    fmt = [parts[0].replace("{", "{{").replace("}", "}}")]
    for i in range(1, len(parts), 2):
        fmt.append("{" + str(i // 2) + "}")
        fmt.append(parts[i + 1].replace("{", "{{").replace("}", "}}"))
    return "".join(fmt), tuple(parts[1::2])


_PART_INDEX = {"ObjectPrefix": "{0}", "FileName": "{1}", "ExtName": "{2}"}


def parts_format(template: str, head: str = "") -> str:
    """``head + template`` as a ``str.format`` string of ``object_parts(obj)``: ``{0}``, ``{1}``, ``{2}``
    are {ObjectPrefix}, {FileName}, {ExtName}; every other placeholder stays as written. So
    ``parts_format(t).format(*object_parts(obj)) == resolve_template(t, obj)``, in one C call (and over
    many inputs with ``itertools.starmap``)."""
    parts = PLACEHOLDER_RE.split(template)  # literal, name, literal, name, ..., literal
    out = [(head + parts[0]).replace("{", "{{").replace("}", "}}")]
    for i in range(1, len(parts), 2):
        name = parts[i]
        out.append(_PART_INDEX.get(name) or "{{" + name.replace("{", "{{").replace("}", "}}") + "}}")
        out.append(parts[i + 1].replace("{", "{{").replace("}", "}}"))
    return "".join(out)


def parts_resolver(template: str) -> Callable[[tuple[str, str, str]], str]:
    """``resolve_template(template, obj)`` as a function of ``object_parts(obj)``, compiled once."""
    fmt = parts_format(template)
    return lambda parts: fmt.format(*parts)

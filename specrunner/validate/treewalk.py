"""The strings of a parsed YAML or JSON document, each container walked once however many aliases name it.

Pure logic: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def texts(node: Any) -> Iterator[tuple[dict[Any, Any] | list[Any], Any, str]]:
    """Each string in ``node`` as (its dict or list, its key or index, it), in document order,
    every dict and list walked once however many YAML aliases name it (an alias is the same
    object again: an "alias bomb" names a few lists billions of times). The manifests read
    without the bounded loader (``lenient``) come from ``yaml.safe_load``."""
    seen: set[int] = set()
    stack: list[Iterator[tuple[Any, Any]]] = []

    def enter(n: Any) -> None:
        if isinstance(n, dict | list) and id(n) not in seen:
            seen.add(id(n))
            pairs = list(n.items()) if isinstance(n, dict) else list(enumerate(n))
            stack.append(iter([(n, kv) for kv in pairs]))

    enter(node)
    while stack:
        step = next(stack[-1], None)
        if step is None:
            stack.pop()
            continue
        parent, (k, v) = step
        if isinstance(v, str):
            yield parent, k, v
        else:
            enter(v)

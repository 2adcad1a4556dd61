"""Secrets (AccessKey secrets, STS tokens) taken out of any text that is shown or recorded.

A server that echoes a request back in an error message, or a job message that quotes one, carries
a secret not only as itself but as the request carried it: URL-encoded (``quote`` with or without
``/`` kept, ``quote_plus``; ``%2F`` or ``%2f``; even encoded twice, ``%252F``), JSON-escaped
(``\\/``, ``\\u002f``), or XML-escaped (``&#47;``). ``redact`` replaces every such form, and any mix
of them character by character, with ``***``. A base64 form of a secret is not looked for.

Pure logic: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

MASK = "***"

_JSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_XML_NAMED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}


def _hex(value: int, width: int) -> str:
    """``value`` in hex, each letter digit matching either case: 2f -> 2[fF]."""
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in f"{value:0{width}x}")


def _char_forms(c: str) -> str:
    """A regex matching the character ``c`` as itself or in any encoding a message may carry it in."""
    forms = [re.escape(c)]
    data = c.encode("utf-8")
    for prefix in ("%", "%25"):  # percent-encoded, once or twice
        forms.append("".join(prefix + _hex(b, 2) for b in data))
    if c == " ":
        forms.append(r"\+")  # quote_plus
    # JSON: the short escapes, and \uXXXX (a surrogate pair beyond the BMP)
    if c in _JSON_SHORT:
        forms.append(re.escape(_JSON_SHORT[c]))
    units = c.encode("utf-16-be")
    forms.append(
        "".join(r"\\u" + _hex(int.from_bytes(units[i : i + 2], "big"), 4) for i in range(0, len(units), 2))
    )
    # XML / HTML: the named entities, and decimal or hexadecimal character references
    if c in _XML_NAMED:
        forms.append(re.escape(_XML_NAMED[c]))
    forms.append(f"&#0*{ord(c)};")
    forms.append(f"&#[xX]0*{_hex(ord(c), 1)};")
    return "(?:" + "|".join(forms) + ")"


@lru_cache(maxsize=32)
def _pattern(secret: str) -> re.Pattern[str]:
    return re.compile("".join(_char_forms(c) for c in secret))


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each secret, in any form it may take, replaced by ``***``.

    Empty or missing secrets (``None``: e.g. no STS token) are skipped. The longest secret is
    replaced first, so a secret that contains another is masked whole.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = _pattern(secret).sub(MASK, text)
    return text

"""How text output fits a terminal: 80 columns, wrapped prose, shortened cells, optional colour.

Pure string building: whether colour is on and how wide the terminal is are decided by the command
(``cli.plancmd.terminal``) from the environment, and passed in as a :class:`Style`.

Invariants:
- Wrapping never breaks a word, and never breaks inside a `backticked command`: a command printed
  as a hint stays on one line, so it can be pasted whole.
- Colour is ANSI SGR codes around a part of a line, added after the line is laid out (escape codes
  take no columns); with ``color`` off the text is the plain text, byte for byte.
- A shortened cell ends with ``…`` and says so; what is cut is whole in the JSON and in ``-v``.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

WIDTH = 80  # the columns every line fits unless the terminal says otherwise

# Per shown plan action; actions not listed (a newer one) are printed without colour.
ACTION_COLORS = {
    "create": "32",  # green
    "replace": "33",  # yellow
    "retry": "33",
    "resume": "36",  # cyan
    "moved": "36",
    "forget": "31",  # red
    "failed": "31",
    "noop": "2",  # dim
}
WARNING_COLOR = "1;33"  # bold yellow
_NBSP = "\x00"  # stands for a space inside a backticked command while wrapping
_TICKED = re.compile(r"`[^`]*`")


@dataclass(frozen=True)
class Style:
    """How to lay text out: the width, colour on or off, and ``verbose`` (every key, whole texts)."""

    width: int = WIDTH
    color: bool = False
    verbose: bool = False
    #: The width is the reader's (a terminal, or COLUMNS given): the plan's summary line fits it too.
    #: Piped without COLUMNS, the summary stays one line, so `grep '^Plan:'` gets every count.
    sized: bool = False

    def paint(self, text: str, code: str | None) -> str:
        if not self.color or not code or not text:
            return text
        return f"\x1b[{code}m{text}\x1b[0m"

    def action(self, text: str, action: str) -> str:
        return self.paint(text, ACTION_COLORS.get(action))

    def warning(self, text: str) -> str:
        """A ``Warning:`` paragraph: the word painted, the rest plain."""
        head, sep, rest = text.partition(":")
        if not sep or not head.startswith("Warning"):
            return text
        return self.paint(head + sep, WARNING_COLOR) + rest


PLAIN = Style()


def wrap(text: str, width: int, *, first: str = "", indent: int = 0) -> list[str]:
    """``text`` in lines of at most ``width`` columns after the prefix ``first`` (the first line)
    and ``indent`` spaces (the others). A word longer than the width runs on, never cut."""
    protected = _TICKED.sub(lambda m: m.group(0).replace(" ", _NBSP), text)
    lines = textwrap.wrap(
        protected,
        width=max(width, 20),
        initial_indent=first,
        subsequent_indent=" " * indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [first.rstrip()]
    return [line.replace(_NBSP, " ") for line in lines]


def paragraph(text: str, width: int) -> str:
    """A paragraph of prose wrapped to ``width`` (each of its lines wrapped on its own)."""
    return "\n".join(line for part in text.split("\n") for line in wrap(part, width))


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` columns with a closing ``…`` (unchanged if it fits)."""
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)].rstrip() + "…"


def arrow_lines(line: str, width: int, indent: int) -> list[str]:
    """A diff line ``attr: before -> after`` that is too wide: ``-> after`` on a line of its own,
    under the value (whole values, never cut)."""
    if indent + len(line) <= width or " -> " not in line:
        return [" " * indent + line]
    before, after = line.split(" -> ", 1)
    name = before.split(": ", 1)[0]
    return [" " * indent + before, " " * (indent + len(name) - 1) + "-> " + after]

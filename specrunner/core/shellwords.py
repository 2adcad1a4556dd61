"""The words of a command specrunner prints for pasting into a shell (pure string building).

Every printed ``specrunner ...`` command is built from these, so that pasted verbatim it runs with
exactly the arguments the run used, whatever they hold.

Invariants:
- :func:`quote` reads back as the same single word in a POSIX shell (``shlex.quote``). A word holding
  a backtick or a control character (a newline, a tab) is written in ``$'...'`` instead (bash, zsh,
  ksh, busybox sh): a printed command never contains a backtick (hints show commands between
  backticks) nor a line break (hints are wrapped to the terminal's width, which turns it into a space).
- A path never reads as an option: a relative path that starts with ``-`` gets ``./`` (:func:`path`).
- A job key as a positional argument after which options follow never reads as an option either:
  :func:`command` puts the options first and ``--`` before the arguments when one starts with ``-``.
- A job key given to ``--target`` / ``--exclude`` (globs) selects only that job (:func:`literal_glob`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

_NEEDS_ANSI_C = re.compile(r"[`\x00-\x1f\x7f]")
_ANSI_C_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def quote(word: str) -> str:
    """``word`` as one shell word (see the module's invariants)."""
    if not _NEEDS_ANSI_C.search(word):
        return shlex.quote(word)
    out = []
    for ch in word:
        if ch in _ANSI_C_ESCAPES:
            out.append(_ANSI_C_ESCAPES[ch])
        elif ch == "`" or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "$'" + "".join(out) + "'"


def path(p: object) -> str:
    """A path (a manifest, a plan file) as one shell word that is never read as an option."""
    text = str(p)
    if text.startswith("-"):
        text = "./" + text
    return quote(text)


def literal_glob(key: str) -> str:
    """A ``--target`` glob that matches exactly ``key`` (``*``, ``?`` and ``[`` taken literally)."""
    return re.sub(r"([*?\[])", r"[\1]", key)


def command(verb: str, manifest: object, *args: str, options: str = "") -> str:
    """``specrunner VERB MANIFEST ARGS... OPTIONS``, quoted; when an argument starts with ``-`` (a job
    key, a rule id), ``specrunner VERB OPTIONS -- MANIFEST ARGS...``. ``options``: already quoted,
    each with a leading space (``errors.command_line``, ``given_options``)."""
    words = " ".join([path(manifest), *(quote(a) for a in args)])
    if any(a.startswith("-") for a in args):
        return f"specrunner {verb}{options} -- {words}"
    return f"specrunner {verb} {words}{options}"


_WORD = re.compile(
    r"""\$'((?:[^'\\]|\\.)*)'|'([^']*)'|"((?:[^"\\]|\\.)*)"|\\(.)|(\s+)|([^\s'"\\$]+|\$)""", re.S
)
_UNESCAPE = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


def split(line: str) -> list[str]:
    """The words a shell reads in ``line`` (``shlex.split``, plus the ``$'...'`` of :func:`quote`);
    ValueError for a line no shell reads (an unclosed quote)."""
    words: list[str] = []
    cur: list[str] | None = None
    pos = 0
    while pos < len(line):
        m = _WORD.match(line, pos)
        if m is None:
            raise ValueError(f"cannot split {line!r} at {pos}")
        pos = m.end()
        ansi, single, double, escaped, space, plain = m.groups()
        if space is not None:
            if cur is not None:
                words.append("".join(cur))
            cur = None
            continue
        cur = [] if cur is None else cur
        if ansi is not None:
            cur.append(_ansi_c(ansi))
        elif single is not None:
            cur.append(single)
        elif double is not None:
            cur.append(re.sub(r'\\(["\\$`])', r"\1", double))
        elif escaped is not None:
            cur.append(escaped)
        else:
            cur.append(plain)
    if cur is not None:
        words.append("".join(cur))
    return words


def _ansi_c(body: str) -> str:
    def one(m: re.Match[str]) -> str:
        c = m.group(1)
        if c.startswith("x"):
            return chr(int(c[1:], 16))
        return _UNESCAPE.get(c, "\\" + c)

    return re.sub(r"\\(x[0-9a-fA-F]{2}|.)", one, body)


def join(words: Sequence[str]) -> str:
    """Words joined into a command line, each quoted (:func:`quote`)."""
    return " ".join(quote(w) for w in words)

"""Hostile manifests: a deterministic fuzz of malformed YAML / manifest documents (issue 5, part 3).

Every document - hand-made hostile cases, a seeded mutation corpus built from the demo and the valid
examples, and hypothesis-generated documents (derandomized) - is written to a real file and validated
in-process with ``check_manifest``; a sample also goes through the real CLI in a subprocess. For each:

- validation returns diagnostics and never raises;
- every diagnostic renders as one ``FILE:LINE:COL: $...: message`` line with LINE, COL >= 1;
- the CLI exits 1 (0 only where the in-process check found the document valid), its stderr names the
  file with ``:LINE:``, and no ``Traceback`` reaches the user;
- no document takes 5 s or more; peak memory stays under 500 MB (tracemalloc for the hostile cases,
  the child's max RSS for the CLI runs).

``pytest -s tests/test_fuzz_manifest.py`` prints ``fuzz: N documents, 0 tracebacks, 0 hangs, max T s``.
"""

from __future__ import annotations

import os
import random
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import traceback
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specrunner.core.diagnostics import Diagnostic
from specrunner.validate.manifest import check_manifest
from tests.conftest import REPO

ROOT = REPO
SEEDS = [ROOT / "specs" / "demo.yaml", *sorted((ROOT / "tests" / "examples" / "valid").glob("*.yaml"))]
FALLBACK_SEED = """\
version: 1
target: {backend: local, root: ./oss}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs:
  - videos/a.mp4
  - {id: b, object: "videos/b clip.mp4", bucket: other-in}
rules:
  - id: poster
    time: 5s
    width: 320
    output: posters/{FileName}.jpg
  - id: board
    time: 0
    interval: 1
    num: 6
    frame_type: normal
    output: board/{FileName}/{Count}.jpg
    tile: {lines: 2, columns: 3, cell_width: 80, output: "sprites/{FileName}-{TileCount}.jpg"}
    inputs: ["videos/*"]
"""

MUTANTS = 1100  # seeded mutation corpus (in-process)
HYPOTHESIS_EXAMPLES = 150  # per hypothesis strategy (three strategies)
CLI_SAMPLE = 50  # documents through `python -m specrunner validate` in a subprocess
MAX_SECONDS = 5.0
MAX_BYTES = 500 * 2**20
WATCHDOG_SECONDS = 30  # a document still running after this counts as a hang
MB10 = 10 * 2**20
BOMBS = ("deep", "huge", "billion", "quadratic", "recursive", "600,000", "10 MB", "/dev/zero", "random bytes")
MARKER = "specrunner-fuzz-pwned"  # what the !!python/object/apply cases would create if ever run


# --------------------------------------------------------------------------------------------
# Bookkeeping


@dataclass
class Stats:
    documents: int = 0
    invalid: int = 0
    valid: int = 0
    cli: int = 0
    tracebacks: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    max_seconds: float = 0.0
    slowest: str = ""
    peak_traced: int = 0
    peak_child_rss: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    results: dict[str, bool] = field(default_factory=dict)  # file name -> in-process "has errors"


class _Hang(BaseException):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Hang()


LINE_RE = re.compile(r"^(?P<file>.+?):(?P<line>[1-9]\d*):(?P<col>[1-9]\d*): (?P<rest>\$.*)$")


def _check_diag(d: Diagnostic, shown: str) -> str | None:
    """None if ``d`` is a well-formed diagnostic of file ``shown``; else what is wrong."""
    if not (isinstance(d.line, int) and d.line >= 1 and isinstance(d.column, int) and d.column >= 1):
        return f"bad position {d.line}:{d.column}"
    if d.file != shown:
        return f"file {d.file!r} is not {shown!r}"
    if not d.path.startswith("$"):
        return f"path {d.path!r} is not a JSON path"
    if not d.message.strip():
        return "empty message"
    line = d.render()
    if "\n" in line or "\r" in line:
        return f"diagnostic spans several lines: {line[:200]!r}"
    if not line.startswith(f"{d.file}:{d.line}:{d.column}: {d.path}: ") or not LINE_RE.match(line):
        return f"not FILE:LINE:COL: $...: message: {line[:200]!r}"
    return None


def validate_in_process(
    stats: Stats,
    path: Path,
    kind: str,
    *,
    trace_memory: bool = False,
    expect_error: bool = False,
    expect: str | None = None,
) -> list[Diagnostic]:
    """check_manifest on one file, timed, with a watchdog; records every failure in ``stats``."""
    name = path.name if path.parent.name == "docs" else str(path)
    stats.documents += 1
    stats.kinds[kind] = stats.kinds.get(kind, 0) + 1
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, WATCHDOG_SECONDS)
    t0 = time.perf_counter()
    model = diags = None
    try:
        model, diags = check_manifest(path)
    except _Hang:
        stats.hangs.append(f"{kind} {name}: still running after {WATCHDOG_SECONDS} s")
    except BaseException:
        stats.tracebacks.append(f"{kind} {name}:\n{traceback.format_exc()}")
    finally:
        elapsed = time.perf_counter() - t0
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    if trace_memory and diags is not None:  # a second, untimed pass: tracemalloc slows allocations 5-10x
        tracemalloc.start()
        try:
            check_manifest(path)
            stats.peak_traced = max(stats.peak_traced, tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    if elapsed > stats.max_seconds:
        stats.max_seconds, stats.slowest = elapsed, f"{kind} {name}"
    if diags is None:
        return []
    from specrunner.validate.yamlload import display_path

    shown = display_path(path)
    errors = [d for d in diags if d.severity == "error"]
    if model is None and not errors:
        stats.problems.append(f"{kind} {name}: invalid, but no error diagnostic")
    if model is not None and errors:
        stats.problems.append(f"{kind} {name}: a model despite errors")
    if expect_error and not errors:
        stats.problems.append(f"{kind} {name}: expected an error, got {[d.render() for d in diags]}")
    if kind.startswith("hostile/deep") and errors and len(errors) != 1:
        stats.problems.append(
            f"{kind} {name}: a document refused for its depth gets one error, got "
            f"{[d.render()[:200] for d in errors][:3]}"
        )
    if expect and not any(expect in d.message for d in errors):
        stats.problems.append(
            f"{kind} {name}: expected an error with {expect!r}, got {[d.render()[:200] for d in diags][:3]}"
        )
    for d in diags:
        problem = _check_diag(d, shown)
        if problem:
            stats.problems.append(f"{kind} {name}: {problem}")
    if errors:
        stats.invalid += 1
    else:
        stats.valid += 1
    stats.results[name] = bool(errors)
    return diags


# --------------------------------------------------------------------------------------------
# The hand-made hostile documents (each one named; every one must be refused with an error)


def _seed_texts() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in SEEDS if p.is_file()]
    return texts or [FALLBACK_SEED]


def _nested_block_mapping(levels: int) -> str:
    return "".join(" " * i + "a:\n" for i in range(levels)) + " " * levels + "x\n"


def _billion_laughs(width: int = 9, depth: int = 9, mapping: bool = False) -> str:
    lines = ["version: 1", "inputs: [a.mp4]", "rules: [{id: r, output: x.jpg}]"]
    lines.append("lol0: &l0 " + ("{a: lol}" if mapping else '["lol"]'))
    for i in range(1, depth + 1):
        items = ", ".join(f"*l{i - 1}" for _ in range(width))
        if mapping:
            items = ", ".join(f"k{j}: *l{i - 1}" for j in range(width))
            lines.append(f"lol{i}: &l{i} {{{items}}}")
        else:
            lines.append(f"lol{i}: &l{i} [{items}]")
    return "\n".join(lines) + "\n"


HEAD = (
    "version: 1\ntarget: {backend: local, root: ./oss}\n"
    "defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}\n"
    "inputs: [videos/a.mp4]\n"
)


def _rule(**fields: str) -> str:
    body = {"id": "r", "output": "x/{FileName}.jpg"}
    body.update(fields)
    return HEAD + "rules:\n  - " + "\n    ".join(f"{k}: {v}" for k, v in body.items()) + "\n"


# (kind prefix, a substring the first error must contain). Only specrunner's own messages are listed:
# libyaml may refuse very deep flow nesting itself (PyYAML >= 6.0.4 stops at 1,000 levels, in its own
# words), so the "deep" cases past that depth are held to the shape every diagnostic has (one error,
# FILE:LINE:COL: $: message, no traceback, no hang), not to a dependency's wording.
EXPECT = [
    ("deep 65 levels", "nested too deeply"),
    ("deep via aliases", "nested too deeply"),
    ("billion laughs", "alias bomb"),
    ("quadratic", "alias bomb"),
    ("600,000 values", "more than 500,000 values"),
    ("recursive anchor", "recursive anchor"),
    ("duplicate", "duplicate key"),
    ("NUL at start", "NUL bytes"),
    ("NUL in the middle", "NUL bytes"),
    ("NUL in a quoted", "NUL bytes"),
    ("escaped NUL", "control characters"),
    ("latin-1", "not valid UTF-8"),
    ("lone continuation", "not valid UTF-8"),
    ("overlong", "not valid UTF-8"),
    ("UTF-8 surrogate", "not valid UTF-8"),
    ("truncated multibyte", "not valid UTF-8"),
    ("control character", "unacceptable character"),
    ("10 MB", "too long"),
    ("tag !!python", "unsupported YAML tag"),
    ("tag !<tag:yaml.org,2002:python", "unsupported YAML tag"),
    ("tag !custom", "unsupported YAML tag"),
    ("tag !Ref", "unsupported YAML tag"),
    ("python tag at the top", "unsupported YAML tag"),
    ("tag !!bool", "invalid boolean"),
    ("tag !!int", "invalid number"),
    ("tag !!float", "invalid number"),
    ("merge key", "merge keys"),
    ("empty file", "empty"),
    ("a directory", "is a directory"),
    ("missing file", "file not found"),
    ("symlink loop", "cannot read"),
    ("/dev/zero", "too large"),
    ("huge number 1.0e+999", "not a finite number"),
    ("huge number .nan", "not a finite number"),
    ("huge number -.inf", "not a finite number"),
    ("huge number qps .nan", "not a finite number"),
    ("huge number 999", "too long"),
    ("huge number 0x", "too long"),
    ("huge number 0b", "too long"),
    ("huge number 077", "too long"),
    ("huge number 1:59", "too long"),
    ("huge number 1.00", "too long"),
    ("huge number 1_1_", "too long"),
    ("huge number in rule.num", "too long"),
    ("huge number key", "too long"),
    ("huge time", "too long to be a duration"),
]


def hostile_documents(tmp: Path) -> Iterator[tuple[str, bytes | Path, bool]]:
    """(kind, content or a ready path, CLI-worthy). Content is written to a file by the caller."""
    demo = _seed_texts()[0]
    big_digits = "9" * 5000
    # deep nesting
    yield "deep [ x10,000", b"[" * 10_000 + b"]" * 10_000, True
    yield "deep [ x10,000 unclosed", b"[" * 10_000, False
    yield "deep [ x1,000,000 (C stack)", b"[" * 1_000_000, True
    yield "deep {a: x10,000", b"{a: " * 10_000 + b"}" * 10_000, True
    yield "deep a: block x2,000", _nested_block_mapping(2_000).encode(), True
    yield "deep - x100,000", b"- " * 100_000 + b"x\n", True
    yield "deep ? x100,000", b"? " * 100_000 + b"x\n", False
    yield (
        "deep 65 levels",
        ("version: 1\ninputs: " + "[" * 65 + "a" + "]" * 65 + "\nrules: []\n").encode(),
        False,
    )
    yield (
        "deep via aliases",
        ("a: &a " + "[" * 40 + "x" + "]" * 40 + "\nb: &b " + "[" * 40 + "*a" + "]" * 40 + "\n").encode(),
        False,
    )
    # huge numbers
    for where, value in [
        ("version", "1e999"),
        ("version", "1.0e+999"),
        ("version", "-.inf"),
        ("version", ".nan"),
        ("version", big_digits),
        ("version", "0x" + "f" * 5000),
        ("version", "0b" + "1" * 20000),
        ("version", "0" + "7" * 5000),
        ("version", "1" + ":59" * 100_000),
        ("version", "1." + "0" * 5000),
        ("version", "1_" * 3000 + "1"),
    ]:
        yield f"huge number {value[:12]}", f"{where}: {value}\ninputs: [a.mp4]\nrules: []\n".encode(), False
    yield "huge number in rule.num", _rule(num=big_digits).encode(), True
    yield (
        "huge number qps .nan",
        HEAD.replace("root: ./oss", "root: ./oss, qps: {submit: .nan}").encode()
        + b"rules: [{id: r, output: x.jpg}]\n",
        False,
    )
    yield "huge number key", (HEAD + "rules: []\n? " + big_digits + "\n: 1\n").encode(), False
    yield "huge time HH:MM:SS", _rule(time=f"'{big_digits}:00:00'").encode(), True
    yield "huge time digits", _rule(time=f"'{'9' * 30000}'").encode(), False
    yield "huge interval 1e999s", _rule(num="3", interval="'1e999s'", output="x/{Count}.jpg").encode(), False
    # wrong types at the top
    for value in ["[1, 2]", "42", "'just a string'", "true", "~", "2026-01-01", "!!binary aGVsbG8="]:
        yield f"top-level {value[:10]}", f"{value}\n".encode(), False
    yield (
        "wrong types everywhere",
        (
            b"version: [1]\ntarget: 5\ndefaults: [a]\ninputs: {a: 1}\n"
            b"rules: [1, 'x', [], {id: [], time: {}, num: 'x',"
            b" width: true, output: 7, tile: [], inputs: 3, mts: 1}]\n"
        ),
        False,
    )
    # alias bombs
    yield "billion laughs (lists)", _billion_laughs().encode(), True
    yield "billion laughs (mappings)", _billion_laughs(mapping=True).encode(), True
    yield (
        "quadratic blowup",
        ("big: &b [" + ",".join(["x"] * 5000) + "]\nuse: [" + ",".join(["*b"] * 5000) + "]\n").encode(),
        True,
    )
    yield "recursive anchor", b"version: 1\na: &a [1, *a]\n", True
    yield "recursive anchor mapping", b"a: &a {b: *a}\n", False
    yield "undefined alias", b"version: 1\ninputs: *nope\nrules: []\n", False
    yield "alias as key", b"base: &m {a: 1}\n*m : x\n", False
    yield "600,000 values", ("inputs: [" + ",".join(["a"] * 600_000) + "]\n").encode(), True
    # duplicate keys
    yield "duplicate top key", (demo + "\nversion: 1\n").encode(), True
    yield "duplicate nested key", _rule(width="320\n    width: 640").encode(), False
    yield (
        "duplicate flow key",
        b"version: 1\ntarget: {backend: local, backend: aliyun}\ninputs: [a]\nrules: []\n",
        False,
    )
    yield "duplicate 1 and '1'", b"1: a\n'1': b\n", False
    yield "complex key", b"? [a, b]\n: c\n", False
    # NUL and non-UTF-8
    yield "NUL at start", b"\x00" + demo.encode(), True
    yield "NUL in the middle", demo.encode().replace(b"rules:", b"ru\x00les:", 1), False
    yield "NUL in a quoted string", _rule(user_data='"a\x00b"').encode(), False
    yield "escaped NUL in a string", _rule(output='"x/\\0{FileName}.jpg"').encode(), False
    yield "latin-1 byte", demo.encode().replace(b"rules:", b"r\xe9gles:", 1), True
    yield "lone continuation byte", b"version: 1\ninputs: [\x80]\n", False
    yield "overlong UTF-8", b"version: 1\ninputs: [\xc0\xaf]\n", False
    yield "UTF-8 surrogate", b"version: 1\ninputs: [\xed\xa0\x80]\n", False
    yield "truncated multibyte at EOF", b"version: 1\ninputs: [\xe6\x97", False
    yield "UTF-16 with BOM", "\ufeff".encode("utf-16-le") + demo.encode("utf-16-le"), True
    yield "UTF-32", demo.encode("utf-32"), False
    yield "control character", b"version: 1\ninputs: [a\x01b]\n", True
    yield "escape sequence", b"version: 1\ninputs: [\x1b[31mred\x1b[0m]\n", False
    yield "DEL and C1", "version: 1\ninputs: [a\x7f\x85b]\n".encode(), False
    # 10 MB strings (few: each costs ~0.2 s)
    yield (
        "10 MB plain value",
        (HEAD + "rules: [{id: r, output: x.jpg, user_data: " + "a" * MB10 + "}]\n").encode(),
        True,
    )
    yield "10 MB quoted key", (HEAD + 'rules: []\n? "' + "k" * MB10 + '"\n: 1\n').encode(), False
    yield "10 MB time", _rule(time="'" + "9" * MB10 + "'").encode(), True
    yield (
        "10 MB literal block",
        (
            HEAD
            + "rules:\n  - id: r\n    output: x.jpg\n    user_data: |\n"
            + ("      " + "b" * 1000 + "\n") * (MB10 // 1007)
        ).encode(),
        False,
    )
    yield (
        "10 MB unknown key",
        (HEAD + "rules: []\n" + "k" * 1000 + ": 1\n" + "? " + "u" * MB10 + "\n: 2\n").encode(),
        False,
    )
    # python tags and custom tags
    cmd = f"touch {tmp / MARKER}"
    for tag in [
        f"!!python/object/apply:os.system ['{cmd}']",
        f"!!python/object/apply:subprocess.call [['sh', '-c', '{cmd}']]",
        "!!python/object:__main__.Evil {a: 1}",
        "!!python/object/new:os.system ['true']",
        "!!python/name:os.system ''",
        "!!python/module:os ''",
        "!!python/tuple [1, 2]",
        "!!python/bytes aGk=",
        f"!<tag:yaml.org,2002:python/object/apply:os.system> ['{cmd}']",
        "!custom {a: 1}",
        "!Ref MyBucket",
        "!GetAtt [a, b]",
        "!!set {a, b}",
        "!!omap [a: 1]",
        "!!pairs [a: 1]",
        "!!binary aGVsbG8=",
        "!!str [1, 2]",
        "!!map [1]",
        "!!seq {a: 1}",
        "!!bool maybe",
        "!!int ''",
        "!!float ''",
        "!!int 0x",
        "!!float abc",
        "!!null zzz",
        "!!merge x",
        "!!value x",
        "!!yaml x",
    ]:
        yield (
            f"tag {tag[:40]}",
            f"{HEAD}rules: [{{id: r, output: x.jpg, user_data: {tag}}}]\n".encode(),
            tag.startswith(("!!python/object/apply", "!custom", "!!bool")),
        )
    yield "python tag at the top", f"!!python/object/apply:os.system ['{cmd}']\n".encode(), True
    yield "%TAG directive", b"%TAG !e! tag:evil.example.com,2026:\n---\nversion: !e!thing 1\n", False
    yield "%YAML 1.2 directive + tag", b"%YAML 1.2\n---\nversion: !local 1\n", False
    # merge keys
    yield (
        "merge key",
        (HEAD + "base: &base {time: 5s, output: x.jpg}\nrules:\n  - <<: *base\n    id: r\n").encode(),
        True,
    )
    yield "merge key list", b"a: &a {x: 1}\nb: &b {y: 2}\nc: {<<: [*a, *b]}\n", False
    # binary junk
    rnd = random.Random(1234)
    yield "random bytes 4 KB", bytes(rnd.randrange(256) for _ in range(4096)), True
    yield "PNG header", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), False
    yield "ELF header", b"\x7fELF\x02\x01\x01" + bytes(57), False
    yield "gzip", b"\x1f\x8b\x08\x00" + bytes(rnd.randrange(256) for _ in range(200)), False
    yield (
        "random printable",
        "".join(rnd.choice("[]{}:-,&*!|>'\"#%@` \n\tab01.?") for _ in range(5000)).encode(),
        False,
    )
    # empty and odd files
    yield "empty file", b"", True
    yield "only spaces", b"   \n\n  \t\n", False
    yield "only a comment", b"# nothing here\n", False
    yield "document markers", b"---\n...\n", False
    yield "two documents", (demo + "\n---\n" + demo).encode(), True
    yield "unclosed quote", b'version: 1\ninputs: ["a.mp4\n', False
    yield "tab indentation", b"version: 1\ninputs:\n\t- a.mp4\n", False
    yield "implicit key over 1024", (("k" * 2000) + ": 1\n").encode(), False
    # BOM and CRLF (the valid ones must stay valid; the broken ones must point at the right line)
    yield "BOM + valid", b"\xef\xbb\xbf" + demo.encode(), False
    yield "BOM + duplicate key", b"\xef\xbb\xbf" + demo.encode() + b"\nversion: 1\n", True
    yield "double BOM", b"\xef\xbb\xbf\xef\xbb\xbf" + demo.encode(), False
    yield "BOM in the middle", demo.encode().replace(b"rules:", b"\xef\xbb\xbfrules:", 1), False
    yield "CRLF + valid", demo.replace("\n", "\r\n").encode(), False
    yield "CRLF + duplicate key", (demo + "\nversion: 1\n").replace("\n", "\r\n").encode(), True
    yield "CR only", demo.replace("\n", "\r").encode(), False
    yield "mixed line ends", demo.replace("\n", "\r\n", 5).encode(), False
    # odd keys (json_path)
    for key in [
        "''",
        "' '",
        "'a.b'",
        "'$'",
        "'[0]'",
        '"\'"',
        "'\"'",
        "'\\'",
        "'🙂'",
        '"tab\\there"',
        "'1'",
        "true",
        "null",
        "~",
        '"new\\nline"',
        '"\\u2028"',
        '"\\x85"',
    ]:
        yield (
            f"odd key {key}",
            (HEAD + f"rules: [{{id: r, output: x.jpg}}]\ntarget2: {{{key}: 1}}\n{key}: 2\n").encode(),
            False,
        )
    # not a regular file
    yield "a directory", tmp / "a-directory.yaml", True
    yield "missing file", tmp / "no-such-file.yaml", False
    yield "symlink loop", tmp / "loop.yaml", False
    if Path("/dev/zero").exists():
        yield "/dev/zero", Path("/dev/zero"), False


# --------------------------------------------------------------------------------------------
# The seeded mutation corpus


TAGS = [
    "!!python/object/apply:os.system ['true']",
    "!!python/name:os.system",
    "!custom",
    "!!binary",
    "!!set",
    "!!omap",
    "!!str",
    "!!int",
    "!!float",
    "!!bool",
    "!!null",
    "!!map",
    "!!seq",
    "!!timestamp",
    "!<tag:example.com,2026:x>",
    "!",
]
WEIRD_SCALARS = [
    "1e999",
    "1.0e999",
    ".nan",
    "-.inf",
    "0x" + "f" * 200,
    "9" * 120,
    "0b101",
    "0o17",
    "017",
    "190:20:30",
    "1_000",
    "-0",
    "+12",
    "~",
    "null",
    "yes",
    "No",
    "on",
    "2026-01-01",
    "2026-01-01T00:00:00Z",
    "''",
    '""',
    "'{FileName}'",
    "'../../etc/passwd.jpg'",
    "/abs.jpg",
    "'a\\x00b'",
    '"a\\0b"',
    "[]",
    "{}",
    "[[]]",
    "{a: {b: {c: []}}}",
    "*undefined",
    "&anchor x",
    "'" + "x" * 3000 + "'",
    "|\n  block",
    ">-\n  folded",
    "? x",
    "- x",
    "<<: {}",
    "'\\u0000'",
    '"\\uD800"',
    "'\\'",
]
SPECIAL_BYTES = [
    b"\x00",
    b"\xff",
    b"\xfe\xff",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\xef\xbb\xbf",
    b"\r\n",
    b"\r",
    b"\t",
    b"\x01",
    b"\x7f",
    b"\xc2\x85",
    b"\xe2\x80\xa8",
    b"\x1b[0m",
    b"\\",
    b"%",
    b"@",
    b"`",
]
KEY_RE = re.compile(rb"^(\s*(?:-\s+)?)([A-Za-z_][A-Za-z0-9_]*)(\s*:)", re.M)


def _random_value(rnd: random.Random, depth: int = 0) -> object:
    choice = rnd.randrange(11 if depth < 3 else 8)
    if choice == 0:
        return None
    if choice == 1:
        return rnd.choice([True, False])
    if choice == 2:
        return rnd.choice([0, -1, 1, 2**31, -(2**63), 10**30, 7])
    if choice == 3:
        return rnd.choice([0.5, -1e-9, 1e300, 3.0])
    if choice == 4:
        return rnd.choice(
            ["", " ", "x", "{Count}", "../x.jpg", "/abs.jpg", "a\tb", "🙂", "5 sec", "1.5s", "oss-"]
        )
    if choice == 5:
        return "".join(rnd.choice("abc{}/.:-_ 019") for _ in range(rnd.randrange(1, 30)))
    if choice == 6:
        return rnd.randrange(-5, 10**6)
    if choice == 7:
        return rnd.choice(["2026-01-01", "1:30", "00:00:05.5000", "0x10", "1e3"])
    if choice == 8:
        return [_random_value(rnd, depth + 1) for _ in range(rnd.randrange(0, 4))]
    if choice == 9:
        return {
            rnd.choice(
                ["id", "object", "output", "time", "num", "tile", "x", "Id", "outputs"]
            ): _random_value(rnd, depth + 1)
            for _ in range(rnd.randrange(0, 4))
        }
    return {str(_random_value(rnd, depth + 1)): _random_value(rnd, depth + 1)}


def _paths(data: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def _set(data: object, path: tuple, value: object) -> object:
    if not path:
        return value
    parent = data
    for part in path[:-1]:
        parent = parent[part]  # type: ignore[index]
    parent[path[-1]] = value  # type: ignore[index]
    return data


def _dump(data: object, rnd: random.Random) -> bytes:
    return yaml.safe_dump(
        data,
        sort_keys=False,
        allow_unicode=rnd.random() < 0.5,
        default_flow_style=rnd.choice([False, None, True]),
        width=rnd.choice([80, 10**6]),
    ).encode()


def _mutate_structure(seed: str, rnd: random.Random) -> bytes:
    data = yaml.safe_load(seed)
    for _ in range(rnd.randrange(1, 4)):
        op = rnd.randrange(5)
        paths = _paths(data)
        path = rnd.choice(paths[1:] or paths)
        if op <= 1:  # type swap
            data = _set(data, path, _random_value(rnd))
        elif op == 2 and path:  # delete a key or an item
            parent = data
            for part in path[:-1]:
                parent = parent[part]
            del parent[path[-1]]
        elif op == 3:  # key rename (typos, case, junk)
            maps = [p for p in paths if isinstance(_get(data, p), dict) and _get(data, p)]
            if maps:
                target = _get(data, rnd.choice(maps))
                key = rnd.choice(list(target))
                new = rnd.choice(
                    [
                        key[:-1],
                        key.upper(),
                        key + "s",
                        key.replace("_", "-"),
                        "x" + key,
                        key[::-1],
                        "",
                        " " + key,
                        key + "\t",
                    ]
                )
                if new not in target:
                    target[new] = target.pop(key)
        else:  # wrap
            data = rnd.choice([[data], {"manifest": data}, {"version": 1, "inputs": data, "rules": data}])
    return _dump(data, rnd)


def _get(data: object, path: tuple) -> object:
    for part in path:
        data = data[part]  # type: ignore[index]
    return data


def _mutate_text(seed: str, rnd: random.Random) -> bytes:
    data = seed.encode()
    for _ in range(rnd.randrange(1, 4)):
        lines = data.split(b"\n")
        op = rnd.randrange(13)
        if op == 0 and data:  # byte flips
            b = bytearray(data)
            for _ in range(rnd.randrange(1, 8)):
                i = rnd.randrange(len(b))
                b[i] = b[i] ^ (1 << rnd.randrange(8)) if rnd.random() < 0.6 else rnd.randrange(256)
            data = bytes(b)
        elif op == 1:  # truncation
            data = data[: rnd.randrange(len(data) + 1)]
        elif op == 2 and len(lines) > 1:  # line deletion
            del lines[rnd.randrange(len(lines))]
            data = b"\n".join(lines)
        elif op == 3:  # line duplication (duplicate keys, mostly)
            i = rnd.randrange(len(lines))
            lines.insert(i, lines[i])
            data = b"\n".join(lines)
        elif op == 4 and len(lines) > 1:  # line swap
            i, j = rnd.randrange(len(lines)), rnd.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
        elif op == 5:  # key rename in place
            keys = list(KEY_RE.finditer(data))
            if keys:
                m = rnd.choice(keys)
                key = m.group(2)
                new = rnd.choice(
                    [
                        key[:-1],
                        key.upper(),
                        key + b"x",
                        key[1:],
                        b"<<",
                        b"? " + key,
                        b"'" + key,
                        key + b" " + key,
                        b"",
                        b"-",
                    ]
                )
                data = data[: m.start(2)] + new + data[m.end(2) :]
        elif op == 6:  # a scalar replaced by something weird
            keys = list(KEY_RE.finditer(data))
            if keys:
                m = rnd.choice(keys)
                end = data.find(b"\n", m.end())
                end = len(data) if end < 0 else end
                data = data[: m.end()] + b" " + rnd.choice(WEIRD_SCALARS).encode() + data[end:]
        elif op == 7:  # a tag before a value
            keys = list(KEY_RE.finditer(data))
            if keys:
                m = rnd.choice(keys)
                data = data[: m.end()] + b" " + rnd.choice(TAGS).encode() + data[m.end() :]
        elif op == 8:  # special bytes anywhere
            i = rnd.randrange(len(data) + 1)
            data = data[:i] + rnd.choice(SPECIAL_BYTES) + data[i:]
        elif op == 9:  # indentation shift
            i = rnd.randrange(len(lines))
            lines[i] = b" " * rnd.randrange(1, 5) + lines[i] if rnd.random() < 0.5 else lines[i].lstrip()
            data = b"\n".join(lines)
        elif op == 10:  # anchors, aliases, merge keys
            extra = rnd.choice(
                [
                    b"x: &a [1, 2]\ny: [*a, *a]\n",
                    b"z: *missing\n",
                    b"m: &m {a: 1}\nn: {<<: *m}\n",
                    b"r: &r [*r]\n",
                    b"&a a: 1\n",
                    b"? *x\n",
                ]
            )
            data = data + b"\n" + extra if rnd.random() < 0.5 else extra + data
        elif op == 11:  # line endings and BOM
            data = rnd.choice(
                [
                    data.replace(b"\n", b"\r\n"),
                    b"\xef\xbb\xbf" + data,
                    data.replace(b"\n", b"\r"),
                    data.replace(b"  ", b"\t", 1),
                ]
            )
        else:  # splice with another seed or with itself; directives; documents
            data = rnd.choice(
                [
                    data[: len(data) // 2] + data[len(data) // 3 :],
                    b"%YAML 1.1\n---\n" + data,
                    data + b"\n---\n" + data,
                    b"--- |\n" + data,
                    b"[" + data,
                    data + b"\n...",
                ]
            )
    return data


def mutation_corpus(count: int, seed: int = 20260105) -> Iterator[tuple[str, bytes]]:
    rnd = random.Random(seed)
    seeds = _seed_texts()
    for i in range(count):
        base = seeds[i % len(seeds)]
        if i % 3 == 0:
            yield "mutant/structure", _mutate_structure(base, rnd)
        else:
            yield "mutant/text", _mutate_text(base, rnd)


# --------------------------------------------------------------------------------------------
# Hypothesis strategies (derandomized: the same documents on every run)

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_value = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=15,
)
maybe = lambda good, bad=json_value: st.one_of(st.just(good), bad)  # noqa: E731
rule_strategy = st.fixed_dictionaries(
    {"id": maybe("r"), "output": maybe("x/{FileName}.jpg")},
    optional={
        "time": maybe("5s", json_value | st.sampled_from(["5 sec", "1.5ms", "99:99:99", "-1", "1e3s"])),
        "num": maybe(3),
        "interval": maybe(1),
        "width": maybe(320),
        "tile": json_value,
        "mts": json_value,
        "inputs": maybe(["*"]),
        "mode": maybe("auto"),
        "user_data": json_value,
        "frame_type": json_value,
    },
)
manifest_strategy = st.fixed_dictionaries(
    {
        "version": maybe(1),
        "inputs": maybe(["videos/a.mp4"], st.lists(json_value, max_size=3)),
        "rules": st.one_of(st.lists(rule_strategy, max_size=3), json_value),
    },
    optional={
        "target": json_value,
        "defaults": maybe(
            {"location": "oss-cn-shanghai", "input_bucket": "media-in", "output_bucket": "media-out"}
        ),
        "extra": json_value,
    },
)
YAMLISH = list("[]{}:-,&*!|>'\"#%@`?~<= \n\t abcxyz0189._/") + [
    "\x00",
    "\ufeff",
    "é",
    "\u2028",
    "\r",
    "\x85",
    "!!python/object:os.system ",
    "<<: ",
    "&a ",
    "*a",
]
yamlish_text = st.lists(st.sampled_from(YAMLISH), max_size=300).map("".join)


def _hyp_settings() -> settings:
    return settings(
        derandomize=True,
        max_examples=HYPOTHESIS_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


# --------------------------------------------------------------------------------------------
# The CLI in a subprocess


def run_cli(folder: Path, name: str) -> tuple[int, str, str, float, int]:
    """`python -m specrunner validate NAME` in ``folder``: exit code, stdout, stderr, seconds, max RSS
    bytes."""
    out, err = folder / f".{name}.out", folder / f".{name}.err"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "specrunner", "validate", name],
            cwd=folder,
            stdout=fo,
            stderr=fe,
            stdin=subprocess.DEVNULL,
        )
        killer = threading.Timer(WATCHDOG_SECONDS, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    stdout = out.read_bytes().decode("utf-8", "replace")
    stderr = err.read_bytes().decode("utf-8", "replace")
    return proc.returncode, stdout, stderr, elapsed, rss


def check_cli_result(
    stats: Stats, name: str, kind: str, has_errors: bool | None, result: tuple[int, str, str, float, int]
) -> None:
    code, stdout, stderr, elapsed, rss = result
    stats.cli += 1
    stats.peak_child_rss = max(stats.peak_child_rss, rss)
    where = f"CLI {kind} {name}"
    if elapsed > stats.max_seconds:
        stats.max_seconds, stats.slowest = elapsed, where
    if code < 0 or elapsed >= WATCHDOG_SECONDS:
        stats.hangs.append(f"{where}: killed or crashed (exit {code}, {elapsed:.1f} s)")
        return
    if "Traceback" in stderr or "Traceback" in stdout:
        stats.tracebacks.append(f"{where}:\n{stderr[-3000:]}")
        return
    if has_errors is False:
        if code != 0:
            stats.problems.append(f"{where}: valid in-process but the CLI exits {code}: {stderr[:300]}")
        return
    if code != 1:
        stats.problems.append(f"{where}: exit {code}, expected 1: {stderr[:300]}")
    if not re.search(rf"^{re.escape(name)}:[1-9]\d*:[1-9]\d*: \$", stderr, re.M):
        stats.problems.append(f"{where}: stderr does not name the file with :LINE:COL: {stderr[:300]!r}")
    if not stderr.rstrip().endswith("found"):
        stats.problems.append(f"{where}: no closing `error: N problems found` line: {stderr[-300:]!r}")


# --------------------------------------------------------------------------------------------
# The test


@pytest.mark.slow
# Its per-document watchdog uses SIGALRM, so the run's time limit takes the thread method here.
@pytest.mark.timeout(300, method="thread")  # about 20 s alone
def test_fuzz_manifests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = Stats()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a-directory.yaml").mkdir()
    (docs / "loop.yaml").symlink_to(docs / "loop.yaml")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t_start = time.perf_counter()
    cli_jobs: list[tuple[str, str]] = []  # (file name, kind)
    counter = iter(range(10**9))

    def write(content: bytes) -> Path:
        path = docs / f"doc{next(counter):05d}.yaml"
        path.write_bytes(content)
        return path

    # 1. hand-made hostile documents: every one is an error (except the few valid BOM/CRLF/comment ones)
    may_be_valid = {
        "BOM + valid",
        "CRLF + valid",
        "CR only",
        "mixed line ends",
        "double BOM",
        "BOM in the middle",
    }
    by_kind: dict[str, str] = {}
    for kind, content, to_cli in hostile_documents(docs):
        path = content if isinstance(content, Path) else write(content)
        expect = next((text for prefix, text in EXPECT if kind.startswith(prefix)), None)
        validate_in_process(
            stats,
            path,
            f"hostile/{kind}",
            trace_memory=kind.startswith(BOMBS),
            expect_error=kind not in may_be_valid,
            expect=expect,
        )
        by_kind[kind] = path.name
        if to_cli and path.parent == docs:
            cli_jobs.append((path.name, f"hostile/{kind}"))
    assert not (docs / MARKER).exists(), "a !!python tag was executed"
    for kind in ("BOM + valid", "CRLF + valid", "CR only"):
        assert stats.results[by_kind[kind]] is False, f"{kind} must stay valid"

    # 2. the seeded mutation corpus
    for i, (kind, content) in enumerate(mutation_corpus(MUTANTS)):
        path = write(content)
        validate_in_process(stats, path, kind)
        if i % 50 == 7 and len(cli_jobs) < CLI_SAMPLE:
            cli_jobs.append((path.name, kind))

    # 3. hypothesis: structured wrong-type manifests, YAML-ish text, raw bytes
    def hyp(kind: str, strategy: st.SearchStrategy, to_bytes: Callable[[object], bytes]) -> None:
        @_hyp_settings()
        @given(strategy)
        def run(value: object) -> None:
            validate_in_process(stats, write(to_bytes(value)), kind)

        run()

    hyp(
        "hypothesis/manifest",
        manifest_strategy,
        lambda v: yaml.safe_dump(v, sort_keys=False, allow_unicode=True).encode(),
    )
    hyp("hypothesis/yaml-ish", yamlish_text, lambda v: str(v).encode("utf-8", "surrogatepass"))
    hyp("hypothesis/bytes", st.binary(max_size=600), lambda v: bytes(v))  # type: ignore[arg-type]

    in_process_seconds = time.perf_counter() - t_start
    rss_delta = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024

    # 4. a sample through the real CLI, two at a time (plus one valid document: exit 0 there)
    cli_jobs = cli_jobs[: CLI_SAMPLE - 1] + [(by_kind["CRLF + valid"], "hostile/CRLF + valid")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda job: run_cli(docs, job[0]), cli_jobs))
    for (name, kind), result in zip(cli_jobs, results, strict=True):
        check_cli_result(stats, name, kind, stats.results.get(name), result)

    with capsys.disabled():
        print(
            f"\nfuzz: {stats.documents} documents, {len(stats.tracebacks)} tracebacks, "
            f"{len(stats.hangs)} hangs, "
            f"max {stats.max_seconds:.2f} s"
        )
        print(
            f"fuzz: {stats.invalid} refused with diagnostics, {stats.valid} valid survivors; "
            f"{stats.cli} through the "
            f"CLI subprocess; peak traced memory {stats.peak_traced / 2**20:.0f} MB (hostile cases), "
            "CLI max RSS "
            f"{stats.peak_child_rss / 2**20:.0f} MB, "
            f"in-process maxrss delta {rss_delta / 2**20:.0f} MB; slowest: "
            f"{stats.slowest}; in-process {in_process_seconds:.1f} s"
        )
    assert not stats.tracebacks, "\n\n".join(stats.tracebacks[:5])
    assert not stats.hangs, stats.hangs[:10]
    assert not stats.problems, "\n".join(stats.problems[:20])
    assert stats.documents >= 1000 and stats.invalid >= 1000, (stats.documents, stats.invalid)
    assert stats.cli >= 45
    assert stats.max_seconds < MAX_SECONDS, stats.slowest
    assert stats.peak_traced < MAX_BYTES
    assert stats.peak_child_rss < MAX_BYTES
    assert rss_delta < MAX_BYTES


# --------------------------------------------------------------------------------------------
# Focused regressions (each found by the fuzz; each cheap)


@pytest.mark.parametrize(
    "text", ["[" * 200_000, "- " * 200_000, "{a: " * 200_000], ids=["flow-seq", "block-seq", "flow-map"]
)
def test_deep_nesting_is_refused_before_libyaml_recurses(tmp_path: Path, text: str) -> None:
    """Before the fix, libyaml's composer overflowed the C stack here: SIGSEGV, not an exception.

    What specrunner guarantees: no crash, exactly one error, at deep.yaml:1:COL, on ``$``. The wording
    may come from libyaml (newer releases refuse deep flow nesting themselves), so it is not asserted.
    """
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    code = (
        "import sys; from specrunner.validate.manifest import check_manifest; "
        "m, d = check_manifest(sys.argv[1]); assert m is None; "
        "print(len([x for x in d if x.severity == 'error'])); print(d[0].render())"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    count, line = proc.stdout.splitlines()
    assert count == "1", proc.stdout
    assert re.fullmatch(r".*deep\.yaml:1:[1-9]\d*: \$: \S.*", line), line


@pytest.mark.parametrize(
    "text", ["[" * 300, "- " * 300, "{a: " * 300], ids=["flow-seq", "block-seq", "flow-map"]
)
def test_nesting_past_the_limit_gets_specrunners_own_message(tmp_path: Path, text: str) -> None:
    """Below any parser's own limit, specrunner's pre-scan refuses depth 65+ in its own words."""
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    _, diags = check_manifest(path)
    assert [d.message for d in diags] == ["nested too deeply (limit 64 levels)"]
    assert (diags[0].line, diags[0].path) == (1, "$")


def test_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    path = tmp_path / "lol.yaml"
    path.write_text(_billion_laughs())
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        _, diags = check_manifest(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 1.0
    assert peak < 50 * 2**20
    assert [d.render() for d in diags] == [
        "lol.yaml:9:5: $: the document expands to more than 500,000 values (an alias bomb?); "
        "remove the repeated "
        "aliases or split the manifest"
    ] or "alias bomb" in diags[0].message


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"time": "'" + "9" * 5000 + ":00:00'"}, "too long to be a duration"),
        ({"time": "'" + "9" * 41 + "'"}, "too long to be a duration"),
        ({"width": "0x" + "f" * 5000}, "is too long (5002 characters; the limit is 100)"),
        ({"width": "9" * 5000}, "is too long (5000 characters; the limit is 100)"),
        ({"width": "!!bool maybe"}, "invalid boolean 'maybe'"),
        ({"width": "!!int ''"}, "invalid number ''"),
        ({"width": ".nan"}, "'.nan' is not a finite number"),
        ({"user_data": "'" + "u" * 70_000 + "'"}, "a value of 70,000 characters is too long"),
    ],
    ids=[
        "hour-5000-digits",
        "time-41-digits",
        "hex-5000",
        "decimal-5000",
        "bool-maybe",
        "int-empty",
        "nan",
        "long-string",
    ],
)
def test_odd_scalars_get_one_clear_error(ws, fields: dict[str, str], message: str) -> None:
    ws.write(_rule(**fields))
    model, diags = check_manifest(ws.manifest)
    assert model is None
    assert any(message in d.render() for d in diags), [d.render() for d in diags]
    r = ws.cli("validate", ws.manifest, code=1)
    assert "Traceback" not in r.output


def test_long_unknown_key_gets_a_short_message_quickly(ws) -> None:
    ws.write(
        HEAD + "rules: [{id: r, output: x.jpg}]\n" + "k" * 60_000 + "x: 1\n? " + "q" * 60_000 + "\n: 2\n"
    )
    t0 = time.perf_counter()
    _, diags = check_manifest(ws.manifest)
    assert time.perf_counter() - t0 < 1.0
    assert diags and all(len(d.render()) < 400 for d in diags), [d.render()[:200] for d in diags]


def test_crlf_and_bom_keep_line_numbers(tmp_path: Path) -> None:
    text = HEAD + "rules:\n  - id: r\n    output: x.jpg\n    widht: 5\n"
    for data in (
        text.replace("\n", "\r\n").encode(),
        b"\xef\xbb\xbf" + text.encode(),
        b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode(),
    ):
        path = tmp_path / "m.yaml"
        path.write_bytes(data)
        _, diags = check_manifest(path)
        assert any(d.line == 8 and d.column == 5 and "did you mean 'width'" in d.message for d in diags), [
            d.render() for d in diags
        ]


def test_non_regular_files(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").mkdir()
    _, diags = check_manifest(tmp_path / "d.yaml")
    assert "is a directory" in diags[0].message
    if Path("/dev/zero").exists():
        t0 = time.perf_counter()
        _, diags = check_manifest("/dev/zero")  # reports size 0 and never ends: the read is bounded
        assert "too large" in diags[0].message or "NUL" in diags[0].message
        assert time.perf_counter() - t0 < 5


def test_reader_errors_point_at_the_character(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes("version: 1\ninputs: [é\x01]\n".encode())
    _, diags = check_manifest(path)
    assert [(d.line, d.column) for d in diags] == [(2, 11)], [d.render() for d in diags]
    assert "unacceptable character #x0001" in diags[0].message

"""Progress output: the live bar fits 80 columns; CI set means plain lines even on a terminal."""

from __future__ import annotations

import io
import re

import pytest

from specrunner.apply import events as ev
from specrunner.render.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def drive(p: Progress, total: int, submitted: int, done: int) -> None:
    p.event(ev.Start(total=total, submit=total, poll=0))
    for i in range(submitted):
        p.event(ev.Submitted(key=f"k{i}", job_id=f"j{i}", state="Submitted", adopted=False))
    for i in range(done):
        p.event(
            ev.Finished(
                key=f"k{i}",
                job_id=f"j{i}",
                state="Success" if i % 7 else "Fail",
                code="" if i % 7 else "InvalidParameter.ResourceContentBad",
                message="bad",
            )
        )
    p.close()


def test_the_live_bar_fits_80_columns_with_its_counts_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    term = Terminal()
    drive(Progress(stream=term), 99_999, 300, 200)
    lines = [
        re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", x) for x in term.getvalue().replace("\r", "\n").split("\n")
    ]
    bars = [x for x in lines if "ETA" in x]
    assert bars, term.getvalue()
    assert all(len(x.rstrip()) <= 80 for x in bars), [len(x) for x in bars]
    last = bars[-1]
    assert "200/99999" in last and "sub 300" in last and "ok 171 fail 29" in last
    assert sum(last.count(c) for c in "━╸╺") >= 8, last  # the bar keeps its width
    assert re.search(r"ETA (-:--|\d+:\d\d)", last), last  # the ETA is not cut


def test_ci_set_means_plain_lines_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    term = Terminal()
    drive(Progress(stream=term, quiet=False), 10, 10, 10)
    out = term.getvalue()
    assert "\x1b[" not in out and "\r" not in out
    assert "submitted 10/10" in out and "done 8, failed 2" in out

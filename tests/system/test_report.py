"""The contact sheet (`report`) and the scratch-folder preview (`preview`), on real videos and files."""

from __future__ import annotations

import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

from specrunner.report.html import render
from specrunner.report.model import Card, Report, Section, Shot
from specrunner.testing.video import read_stamp
from tests.conftest import HEADER, Workspace
from tests.helpers import REPORT_RULES, setup_applied

CLOUD = (
    """\
version: 1
target: {backend: aliyun, region: cn-shanghai}
defaults: {location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}
inputs:
  - clips/a.mp4
  - {id: other, object: "uploads/2024/other clip.mov"}
"""
    + REPORT_RULES
)


class Page(HTMLParser):
    """What the tests read back from index.html: cards in order, images, summary numbers."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.cards: list[dict[str, str]] = []  # in document order
        self.imgs: list[str] = []
        self.counts: dict[str, str] = {}
        self._tile: str | None = None
        self._in_n = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "article":
            self.cards.append(
                {
                    "key": a.get("data-key") or "",
                    "state": a.get("data-state") or "",
                    "rule": a.get("data-rule") or "",
                    "imgs": "",
                }
            )
        elif tag == "img":
            self.imgs.append(a["src"] or "")
            if self.cards:
                self.cards[-1]["imgs"] += (a["src"] or "") + " "
        elif tag == "div" and (a.get("id") or "").startswith("count-"):
            self._tile = (a.get("id") or "")[len("count-") :]
        elif tag == "span" and a.get("class") == "n" and self._tile:
            self._in_n = True

    def handle_data(self, data: str) -> None:
        if self._in_n and self._tile:
            self.counts[self._tile] = data
            self._in_n, self._tile = False, None


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ------------------------------------------------------------------------------------ report


def test_report_of_a_real_apply(ws: Workspace) -> None:
    setup_applied(ws)
    before = ws.state.read_bytes()
    out = ws.dir / "review"
    r = ws.cli("report", ws.manifest, "--out", out, code=0)
    assert "Report of 5 job(s): 2 Fail, 3 Success." in r.stdout
    assert f"Contact sheet: {os.path.relpath(out / 'index.html')}" in r.stdout
    assert ws.state.read_bytes() == before  # read-only

    text = (out / "index.html").read_text(encoding="utf-8")
    page = Page(text)
    # Counts: a.mp4 x 3 rules succeed; gone x poster/seq fail (board applies to clips/* only: gone is
    # an id, and ids are what rules match, so board runs for clips/a.mp4 alone).
    keys = {c["key"]: c for c in page.cards}
    assert set(keys) == {
        "clips/a.mp4::poster",
        "clips/a.mp4::seq",
        "clips/a.mp4::board",
        "gone::poster",
        "gone::seq",
    }
    assert page.counts == {"total": "5", "fail": "2", "success": "3"}
    # Failed jobs first in each section, with their code.
    for rule in ("poster", "seq"):
        in_rule = [c for c in page.cards if c["rule"] == rule]
        assert [c["state"] for c in in_rule] == ["Fail", "Success"]
    assert text.count("InvalidParameter.ResourceNotFound") == 2
    # Every image resolves to a file inside the out folder, and the page references nothing else.
    assert page.imgs and len(page.imgs) == 1 + 3 + 1
    for src in page.imgs:
        assert not src.startswith(("/", "http:", "https:", "file:")) and ".." not in src
        p = (out / src).resolve()
        assert p.is_file() and out.resolve() in p.parents
    assert "http://" not in text and "https://" not in text and "<link" not in text
    # Thumbnails in time order, each labelled; the real frames (stamped with their index) agree.
    seq = keys["clips/a.mp4::seq"]["imgs"].split()
    assert [read_stamp(Image.open(out / s)) for s in seq] == [0, 25, 50]
    assert all(Image.open(out / s).width <= 320 for s in seq)  # 400 px snapshots, downscaled
    assert ">0 s<" in text and ">1 s<" in text and ">2 s<" in text
    assert "≈ 2 s" in text  # the poster: FrameType intra by default, the nearest keyframe
    # The sprite, shown whole, labelled with its grid and frames.
    board = keys["clips/a.mp4::board"]["imgs"].split()
    assert len(board) == 1
    assert "sprite 1 of 1" in text and "2 rows × 2 cols · frames 1–4 · 0 s → 3 s" in text
    # Filters exist but are hidden until the inline script shows them (no JS: everything visible).
    assert '<form class="filters" id="filters" hidden>' in text
    assert " hidden" not in text.split("</form>")[1].split("<script>")[0]


def test_report_escapes_text_from_users_and_the_service(ws: Workspace) -> None:
    ws.write(
        HEADER
        + """\
inputs:
  - {id: "x<u>&'\\"", object: "v/<script>alert(1)</script>.mp4"}
rules:
  - {id: poster, time: 1s, output: "posters/{FileName}.jpg"}
"""
    )
    ws.cli("apply", ws.manifest, code=3)
    ws.cli("report", ws.manifest, "--out", ws.dir / "r", code=0)
    text = (ws.dir / "r" / "index.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in text and "<u>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert 'data-key="x&lt;u&gt;&amp;&#x27;&quot;::poster"' in text

    # And straight from data (pure rendering): quotes cannot break out of attributes either.
    evil = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
    card = Card(
        key=f"in{evil}::r",
        rule_id=f"r{evil}",
        input_id="in",
        input_ref=f"b/{evil}",
        status="Fail",
        code=evil,
        message=evil,
        shots=[Shot("cell", f"b/{evil}.jpg", 1, label=evil, src=f"images/{evil}")],
    )
    html = render(
        Report(
            title=evil,
            manifest=evil,
            backend="local",
            state=evil,
            sections=[Section(f"r{evil}", evil, [card])],
            local_images=True,
            samples=[(evil, evil, evil)],
            banner=[evil],
        )
    )
    assert "<img src=x" not in html and "<script>alert" not in html
    assert html.count("<script>") == 1  # the page's own filter script


def test_report_without_state_and_for_a_cloud_target(ws: Workspace) -> None:
    ws.write(CLOUD)
    r = ws.cli("report", ws.manifest, code=0)
    assert "Report of 5 job(s): 5 Not run." in r.stdout
    index = ws.dir / ".specrunner" / "report" / "m" / "index.html"
    assert index.is_file() and (ws.dir / ".specrunner" / ".gitignore").is_file()
    assert "nothing has been applied" in index.read_text(encoding="utf-8")
    # A foreign folder is never overwritten.
    foreign = ws.dir / "mine"
    foreign.mkdir()
    (foreign / "index.html").write_text("my page")
    r = ws.cli("report", ws.manifest, "--out", foreign, code=1)
    assert "did not write" in r.output and "Traceback" not in r.output
    assert (foreign / "index.html").read_text() == "my page"
    # A broken manifest: one clear error, exit 1.
    bad = ws.dir / "bad.yaml"
    bad.write_text("version: 1\ninputs: 3\n")
    r = ws.cli("report", bad, code=1)
    assert "Traceback" not in r.output


# ------------------------------------------------------------------------------------ preview


def test_preview_of_a_local_manifest_never_touches_state_or_buckets(ws: Workspace) -> None:
    setup_applied(ws)
    state_before = (ws.state.read_bytes(), ws.state.stat().st_mtime_ns)
    buckets_before = tree(ws.oss)
    r = ws.cli("preview", ws.manifest, code=0)
    assert "clips/a.mp4  its own file" in r.stdout
    assert "gone         its own file is missing" in r.stdout
    assert "3 succeeded, 2 failed" in r.stdout
    scratch = ws.dir / ".specrunner" / "preview" / "m"
    assert f"Contact sheet: {os.path.relpath(scratch / 'report' / 'index.html')}" in r.stdout
    assert (ws.state.read_bytes(), ws.state.stat().st_mtime_ns) == state_before
    assert tree(ws.oss) == buckets_before
    outs = tree(scratch / "oss" / "media-out")
    assert "posters/a.jpg" in outs and "seq/a/00003.jpg" in outs and "sprites/a-00001.jpg" in outs
    page = Page((scratch / "report" / "index.html").read_text(encoding="utf-8"))
    assert page.counts == {"total": "5", "fail": "2", "success": "3"}
    assert all((scratch / "report" / s).is_file() for s in page.imgs)
    # The scratch state is the preview's own; a second preview starts from scratch again.
    assert (scratch / "m.lock.json").is_file()
    ws.cli("preview", ws.manifest, code=0)
    assert (ws.state.read_bytes(), ws.state.stat().st_mtime_ns) == state_before
    assert tree(ws.oss) == buckets_before
    # Run results: the real folder only has the real apply's; the previews keep theirs in the scratch.
    assert len(list((ws.dir / ".specrunner" / "runs").glob("*.json"))) == 1
    assert len(list((scratch / "runs").glob("*.json"))) == 1


def test_preview_of_a_cloud_manifest_with_samples(ws: Workspace, video_4s: Path, video_10s: Path) -> None:
    ws.write(CLOUD)
    samples = ws.dir / "samples"
    samples.mkdir()
    shutil.copyfile(video_4s, samples / "a.mp4")  # same file name as clips/a.mp4
    shutil.copyfile(video_10s, samples / "b-long.mp4")
    shutil.copyfile(video_4s, samples / "c.mp4")

    r = ws.cli("preview", ws.manifest, code=1)  # a cloud manifest needs samples
    assert "--sample" in r.output and "Traceback" not in r.output

    r = ws.cli("preview", ws.manifest, "--sample", samples, code=0)
    assert "clips/a.mp4  sample a.mp4 (same file name)" in r.stdout
    assert "other        sample a.mp4 (no sample named other clip.mov; samples in name order)" in r.stdout
    r = ws.cli("preview", ws.manifest, "--sample", samples, "--first", "2", "--out", ws.dir / "sheet", code=0)
    assert "5 succeeded, 0 failed" in r.stdout
    assert not ws.state.exists() and not ws.oss.exists()  # no state file, no buckets next to the manifest
    scratch = ws.dir / ".specrunner" / "preview" / "m"
    outs = tree(scratch / "oss" / "media-out")
    assert "posters/other clip.jpg" in outs and "seq/other clip/00003.jpg" in outs
    assert (ws.dir / "sheet" / "index.html").is_file()
    text = (ws.dir / "sheet" / "index.html").read_text(encoding="utf-8")
    assert "preview of an aliyun manifest" in text and "sample a.mp4 (same file name)" in text
    page = Page(text)
    assert page.counts == {"total": "5", "fail": "0", "success": "5"}
    assert all((ws.dir / "sheet" / s).is_file() for s in page.imgs)

    # The scratch state, reported against the cloud manifest: OSS objects listed, no images.
    r = ws.cli("report", ws.manifest, "--state", scratch / "m.lock.json", "--out", ws.dir / "cloud", code=0)
    text = (ws.dir / "cloud" / "index.html").read_text(encoding="utf-8")
    assert "<img" not in text and "oss://media-out/seq/other clip/00002.jpg" in text


def test_preview_runs_only_the_jobs_target_and_exclude_select(ws: Workspace) -> None:
    setup_applied(ws)
    r = ws.cli("preview", ws.manifest, "--target", "poster", "--exclude", "gone", code=0)
    assert "1 created" in r.stdout and "1 succeeded, 0 failed" in r.stdout, r.stdout
    scratch = ws.dir / ".specrunner" / "preview" / "m"
    outs = tree(scratch / "oss" / "media-out")
    assert "posters/a.jpg" in outs and not any(o.startswith(("seq/", "board/", "sprites/")) for o in outs)
    page = Page((scratch / "report" / "index.html").read_text(encoding="utf-8"))
    assert page.counts == {"total": "1", "fail": "0", "success": "1"}
    # A glob that matches nothing is refused, as plan refuses it.
    r = ws.cli("preview", ws.manifest, "--target", "postr", code=1)
    assert "--target 'postr' matches no job key, input id or rule id; closest: poster" in r.output

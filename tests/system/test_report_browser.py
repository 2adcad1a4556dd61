"""The contact sheet as a person sees it: rendered by headless Chromium, driven over the DevTools protocol.

No extra Python packages: Chromium is started with ``--remote-debugging-pipe`` and the protocol
(JSON messages separated by NUL bytes) goes over two pipes, file descriptors 3 and 4 of the browser.
Needs Debian's ``chromium`` (``apt-get install chromium``); skipped, with the reason, without it.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Workspace
from tests.helpers import setup_applied

CHROMIUM = shutil.which("chromium")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"
)


class Browser:
    """Headless Chromium and one page, over the DevTools protocol on a pipe."""

    def __init__(self, profile: Path, timeout: float = 20.0) -> None:
        self.timeout = timeout
        to_child_r, self._out = os.pipe()
        self._in, from_child_w = os.pipe()
        args = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--mute-audio",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # The browser reads commands on fd 3 and writes answers on fd 4: a tiny Python trampoline puts
        # the pipes there (by way of fds >= 10, so that neither overwrites the other), then execs it.
        trampoline = (
            "import fcntl, os, sys; fds = [int(x) for x in sys.argv[1:3]];"
            "r, w = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in fds);"
            "[os.close(fd) for fd in fds if fd not in (3, 4)]; os.dup2(r, 3); os.dup2(w, 4);"
            "os.close(r); os.close(w); os.execv(sys.argv[3], sys.argv[3:])"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", trampoline, str(to_child_r), str(from_child_w), *args],
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the page's session."""
        return self.call(method, self.session, **params)

    def _read(self) -> dict[str, Any]:
        end = time.monotonic() + self.timeout
        while b"\0" not in self._buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def wait_event(self, method: str) -> dict[str, Any]:
        end = time.monotonic() + self.timeout
        while time.monotonic() < end:
            for i, ev in enumerate(self.events):
                if ev.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read())
        raise TimeoutError(f"no {method}")

    def open(self, url: str, width: int = 1280, height: int = 900) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")  # fires once every image has loaded (or failed)

    def js(self, expression: str) -> Any:
        r = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"page script failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element, as a person would do it."""
        box = self.js(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            "el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();"
            "return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def screenshot(self, path: Path) -> None:
        import base64

        self.js("window.scrollTo(0, 0)")
        height = int(self.js("Math.ceil(document.documentElement.scrollHeight)"))
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=min(height, 6000),
            deviceScaleFactor=1,
            mobile=False,
        )
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.proc.kill()
            self.proc.wait()
        os.close(self._in)
        os.close(self._out)


VISIBLE_CARDS = """[...document.querySelectorAll('article.card')]
  .filter(c => c.getClientRects().length > 0).map(c => c.dataset.state + ' ' + c.dataset.key)"""


@pytest.mark.slow
def test_the_report_in_a_real_browser(ws: Workspace, tmp_path: Path) -> None:
    setup_applied(ws)
    out = ws.dir / "review"
    ws.cli("report", ws.manifest, "--out", out, code=0)
    browser = Browser(tmp_path / "profile")
    try:
        browser.open((out / "index.html").as_uri())
        # Every thumbnail loaded (offline, from the images/ folder next to the page).
        imgs = browser.js(
            "[...document.images].map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
        )
        assert len(imgs) == 5
        assert all(done and width > 0 for _, done, width in imgs), imgs
        # The summary a person reads at the top.
        summary = browser.js("document.getElementById('summary').innerText")
        assert summary.split() == ["5", "JOBS", "2", "FAIL", "3", "SUCCESS"], summary
        assert browser.js("document.getElementById('filters').hidden") is False  # the script ran
        assert len(browser.js(VISIBLE_CARDS)) == 5
        # Failed jobs come first in their rule's section.
        firsts = browser.js(
            "[...document.querySelectorAll('section.rule')]"
            ".map(s => s.querySelector('article.card').dataset.state)"
        )
        assert firsts == ["Fail", "Fail", "Success"]
        # Hide Success: only the failed cards are left, each showing its error code.
        browser.click('input[name=state][value="Success"]')
        visible = browser.js(VISIBLE_CARDS)
        assert sorted(visible) == ["Fail gone::poster", "Fail gone::seq"], visible
        assert browser.js("document.getElementById('shown').textContent") == "2"
        assert browser.js("[...document.querySelectorAll('section.rule')].filter(s => !s.hidden).length") == 2
        errors = browser.js(
            "[...document.querySelectorAll('article.card')].filter(c => c.getClientRects()"
            ".length).map(c => c.querySelector('.error').innerText)"
        )
        assert all(t.startswith("InvalidParameter.ResourceNotFound") for t in errors), errors
        # Show everything again, then one rule only.
        browser.click('input[name=state][value="Success"]')
        assert len(browser.js(VISIBLE_CARDS)) == 5
        browser.js(
            "(() => { const s = document.getElementById('rule-filter'); s.value = 'board';"
            "s.dispatchEvent(new Event('change', {bubbles: true})); })()"
        )
        assert browser.js(VISIBLE_CARDS) == ["Success clips/a.mp4::board"]
        browser.js(
            "(() => { const s = document.getElementById('rule-filter'); s.value = '';"
            "s.dispatchEvent(new Event('change', {bubbles: true})); })()"
        )
        # Keep a screenshot of the whole page as a test artifact.
        shot = tmp_path / "report.png"
        browser.screenshot(shot)
    finally:
        browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("CI"):
        artifacts = REPO / ".specrunner" / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, artifacts / "report.png")
        shot = artifacts / "report.png"
    print(f"\nscreenshot of the report: {shot}")

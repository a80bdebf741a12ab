"""Check the course site in a real browser: headless Chromium driven over the DevTools protocol.

`check_site(index_html)` opens the index, follows every local link, and on every page counts the
images that did not load (`img.complete && img.naturalWidth > 0` is false); it saves a screenshot of
the index. Chromium talks over `--remote-debugging-pipe` (JSON messages separated by NUL bytes on file
descriptors 3 and 4), so nothing beyond the standard library and Debian's `chromium` is needed.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

from course_lib.io import atomic_open

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-default-apps", "--disable-sync", "--no-first-run",
                  "--metrics-recording-only", "--mute-audio", "--remote-debugging-pipe")
PAGE_REPORT_JS = """JSON.stringify({
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  images: document.images.length,
  broken: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80)),
  title: document.title})"""


def find_chromium() -> str | None:
    return next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)


class Chromium:
    """A headless Chromium with one page, driven by DevTools commands over a pipe."""

    def __init__(self, executable: str | None = None, timeout_s: float = 60.0):
        executable = executable or find_chromium()
        if executable is None:
            raise FileNotFoundError("chromium is not installed (Debian: apt-get install chromium)")
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def wire_pipes():  # Chromium reads commands on fd 3 and writes replies on fd 4
            read_end, write_end = os.dup(to_browser_read), os.dup(from_browser_write)  # survive 3/4 clashes
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        # close_fds=False: Python would close the descriptors 3 and 4 made in wire_pipes
        self._process = subprocess.Popen([executable, *CHROMIUM_FLAGS, "about:blank"], preexec_fn=wire_pipes,
                                         close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer, self._next_id, self.timeout_s = b"", 0, timeout_s
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable", session=True)

    def _read_message(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: bool = False, **params) -> dict:
        """Run one DevTools command and return its result (events that arrive meanwhile are dropped)."""
        self._next_id += 1
        command = {"id": self._next_id, "method": method, "params": params}
        if session:
            command["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(command).encode() + b"\0")
        while True:
            message = self._read_message()
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def open(self, url: str) -> dict:
        """Navigate, wait for the page's load event, and report its links, images and broken images."""
        self.send("Page.navigate", session=True, url=url)
        self.send("Runtime.evaluate", session=True, awaitPromise=True,
                  expression="new Promise(r => document.readyState === 'complete' ? r() : addEventListener('load', r))")
        result = self.send("Runtime.evaluate", session=True, expression=PAGE_REPORT_JS, returnByValue=True)
        return json.loads(result["result"]["value"])

    def screenshot(self, path: Path) -> None:
        data = base64.b64decode(self.send("Page.captureScreenshot", session=True, format="png")["data"])
        with atomic_open(path, "wb") as handle:
            handle.write(data)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        self._process.wait(timeout=self.timeout_s)
        os.close(self._to_browser)
        os.close(self._from_browser)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclasses.dataclass
class SiteReport:
    pages: dict  # file path -> {links, images, broken, title}
    missing: list  # local links whose file does not exist

    @property
    def broken_images(self) -> dict:
        return {page: report["broken"] for page, report in self.pages.items() if report["broken"]}


def check_site(index_html, screenshot: Path | None = None, executable: str | None = None) -> SiteReport:
    """Visit the index and every local page it links to (transitively); report what does not load."""
    index_html = Path(index_html).resolve()
    if not index_html.is_file():
        raise ValueError(f"index_html={str(index_html)!r} does not exist; build the site first (make report)")
    pages, missing, queue = {}, [], [index_html]
    with Chromium(executable) as browser:
        while queue:
            page = queue.pop(0)
            if page in pages:
                continue
            pages[page] = report = browser.open(page.as_uri())
            if page == index_html and screenshot is not None:
                browser.screenshot(Path(screenshot))
            for link in report["links"]:
                parsed = urlparse(link)
                if parsed.scheme != "file":
                    continue
                target = Path(unquote(parsed.path))
                if not target.is_file():
                    missing.append(str(target))
                elif target.suffix == ".html" and target not in pages:
                    queue.append(target)
    return SiteReport({str(page): report for page, report in pages.items()}, missing)

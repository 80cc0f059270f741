"""The report's PDF: headless Chromium's print-to-PDF when a Chromium is installed, else WeasyPrint.

Both engines print the same HTML with the same print stylesheet (A4, page numbers "Page n of N",
figures kept whole, table headers repeated on every page). They differ in speed and in one detail:

- **Chromium** (headless, driven over the DevTools protocol on a pipe; version ≥ :data:`MIN_CHROMIUM`,
  the first with CSS ``@page`` margin boxes) prints the 1,000-patient report (47 pages) in about
  1 s in its own processes, with the figures as vectors. It has no CSS ``string-set``, so the
  running header shows the study name but not the section's title. It prints ``report.html``
  itself, which carries a Content Security Policy that forbids every fetch (``default-src
  'none'``): nothing leaves the machine.
- **WeasyPrint** (DESIGN.md's PDF library, always installed) takes about 6 s at 1,000 patients on one
  core and embeds the figures as 300-dpi PNGs; it has the section title in the running header. Its
  URL fetcher serves ``data:`` URIs only.

``auto`` (the default) takes Chromium when one is found (``LATC_CHROMIUM``, else ``chromium``,
``chromium-browser``, ``google-chrome``, ``google-chrome-stable`` on the PATH, else the usual macOS
application path) and WeasyPrint otherwise; the run record names the engine and its version. On
Windows only WeasyPrint is used (Chrome has no ``--version`` there to check it with).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["ENGINES", "MIN_CHROMIUM", "Chromium", "ChromiumBrowser", "PdfEngineError", "find_chromium",
           "resolve_engine", "write_pdf"]

#: The values of ``--pdf-engine``.
ENGINES = ("auto", "chromium", "weasyprint")
#: CSS Paged Media margin boxes (``@bottom-center { content: counter(page) }``) arrived in Chrome 131.
MIN_CHROMIUM = 131
#: Seconds a Chromium print may take before it is stopped (the 100,000-patient report takes ~1.5 s).
CHROMIUM_TIMEOUT = 300.0
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_MAC = "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)\.(\d+)")


class PdfEngineError(ValueError):
    """An engine was asked for by name and cannot be used here (one line, for the CLI)."""


@dataclass(frozen=True)
class Chromium:
    """A Chromium (or Google Chrome) binary and its version."""

    path: str
    version: str
    product: str = "Chromium"  # as its --version says: "Chromium", "Google Chrome"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def label(self) -> str:
        return f"{self.product} {self.version}"


def _candidates() -> list[str]:
    env = os.environ.get("LATC_CHROMIUM", "").strip()
    if env:
        return [env]
    found = [p for p in (shutil.which(n) for n in _NAMES) if p]
    if sys.platform == "darwin" and Path(_MAC).is_file():
        found.append(_MAC)
    return found


@lru_cache(maxsize=8)
def _probe(path: str) -> Chromium | None:
    """``path --version`` → :class:`Chromium`, or None when it does not run or says no version."""
    try:
        r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    m = _VERSION.search(r.stdout)
    if r.returncode != 0 or not m:
        return None
    product = r.stdout[: m.start()].strip() or "Chromium"
    return Chromium(path, m.group(0), product if len(product) <= 40 else "Chromium")


def find_chromium() -> Chromium | None:
    """The first usable Chromium of version ≥ :data:`MIN_CHROMIUM` (``LATC_CHROMIUM`` names one
    binary and turns the search off; ``LATC_CHROMIUM=none`` turns Chromium off), or None."""
    if sys.platform == "win32" or os.environ.get("LATC_CHROMIUM", "").strip().lower() == "none":
        return None
    for path in _candidates():
        c = _probe(path)
        if c is not None and c.major >= MIN_CHROMIUM:
            return c
    return None


def resolve_engine(requested: str) -> tuple[str, Chromium | None]:
    """``("chromium", Chromium)`` or ``("weasyprint", None)`` for ``--pdf-engine requested``.

    Raises :class:`PdfEngineError` for an unknown name, or for ``chromium`` when none is usable."""
    if requested not in ENGINES:
        raise PdfEngineError(f"unknown PDF engine {requested!r}; choose one of: {', '.join(ENGINES)}")
    if requested == "weasyprint":
        return "weasyprint", None
    chrome = find_chromium()
    if chrome is not None:
        return "chromium", chrome
    if requested == "chromium":
        env = os.environ.get("LATC_CHROMIUM", "").strip()
        if env.lower() == "none":
            why = "LATC_CHROMIUM=none turns Chromium off"
        elif env:
            why = f"LATC_CHROMIUM={env} is not a Chromium or Google Chrome {MIN_CHROMIUM} or newer that answers --version"
        else:
            why = (f"no Chromium or Google Chrome {MIN_CHROMIUM} or newer found (install it, or name the binary in "
                   "LATC_CHROMIUM)")
        raise PdfEngineError(f"--pdf-engine chromium: {why}; --pdf-engine weasyprint always works")
    return "weasyprint", None


def weasyprint_label() -> str:
    import weasyprint

    return f"WeasyPrint {weasyprint.__version__}"


def _offline_fetcher() -> Any:
    """WeasyPrint URL fetcher that serves ``data:`` URIs only: the PDF never touches the network
    (WeasyPrint ≥ 68 ``URLFetcher(allowed_protocols=...)``)."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, timeout=1)


def write_pdf(html: str, path: Path) -> Path:
    """Render ``html`` to an A4 PDF with WeasyPrint, fetching nothing but ``data:`` URIs."""
    from weasyprint import HTML

    HTML(string=html, url_fetcher=_offline_fetcher(), base_url=None).write_pdf(path)
    return path


class ChromiumBrowser:
    """A headless Chromium started at once, driven over the DevTools protocol on a pipe
    (``--remote-debugging-pipe``: commands on its fd 3, replies on its fd 4; no port is opened).

    Started when the report begins, it is ready by the time ``report.html`` is written;
    :meth:`start_print` then loads the page and prints it (``Page.printToPDF`` with the page's own
    ``@page`` size and margins, backgrounds, and the document outline) on a thread, while the caller
    writes ``tables.xlsx``; :meth:`wait` returns the PDF's path or raises :class:`RuntimeError` with
    the reason. The PDF is written under a temporary name and renamed when complete. The profile
    folder is a fresh temporary one, removed by :meth:`close`, which also ends Chromium and its
    helper processes. ``--no-sandbox`` is passed only when running as root, where Chromium refuses
    to start without it (the page is the report's own HTML, whose Content Security Policy forbids
    scripts and fetches).
    """

    def __init__(self, chrome: Chromium) -> None:
        import fcntl

        self.chrome = chrome
        self._tmp = tempfile.TemporaryDirectory(prefix="latc-chromium-", ignore_cleanup_errors=True)
        self._log = open(Path(self._tmp.name) / "stderr.txt", "w+b")  # noqa: SIM115 (closed in close)
        # two pipes, above fd 4 so that the child can get them as its fds 3 and 4
        originals = (*os.pipe(), *os.pipe())
        cmd_r, cmd_w, out_r, out_w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in originals)
        for fd in originals:  # only the copies stay open: Chromium's exit must close the reply pipe
            os.close(fd)
        self._reader, self._writer = out_r, cmd_w
        args = [chrome.path, "--headless", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-default-apps", "--mute-audio",
                "--disable-breakpad", "--disable-crash-reporter",
                f"--user-data-dir={Path(self._tmp.name) / 'profile'}", "about:blank"]
        if os.geteuid() == 0:
            args.insert(2, "--no-sandbox")
        null = os.open(os.devnull, os.O_RDWR)
        try:
            # posix_spawn (safe beside the progress display's thread, unlike a preexec_fn) with the
            # protocol's fds 3 and 4
            self._pid = os.posix_spawn(chrome.path, args, dict(os.environ), file_actions=[
                (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1),
                (os.POSIX_SPAWN_DUP2, self._log.fileno(), 2),
                (os.POSIX_SPAWN_DUP2, cmd_r, 3), (os.POSIX_SPAWN_DUP2, out_w, 4)])
        except OSError:
            for fd in (cmd_w, out_r):
                os.close(fd)
            self._log.close()
            self._tmp.cleanup()
            raise
        finally:
            for fd in (null, cmd_r, out_w):
                os.close(fd)
        self._buf = b""
        self._id = 0
        self._thread: Any = None
        self._result: Path | BaseException | None = None

    # -- the protocol: NUL-terminated JSON messages ------------------------------------------------
    def _send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        import json

        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._writer, data):]
        except OSError:
            raise RuntimeError("Chromium has exited" + self._reason()) from None
        return self._id

    def _next(self, deadline: float) -> dict[str, Any]:
        import json
        import select
        import time

        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._reader], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(self._reader, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium has exited" + self._reason())
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def _call(self, method: str, params: dict[str, Any] | None, session: str | None, deadline: float) -> dict[str, Any]:
        wanted = self._send(method, params, session)
        while True:
            msg = self._next(deadline)
            if msg.get("id") == wanted:
                if "error" in msg:
                    raise RuntimeError(f"Chromium: {method}: {msg['error'].get('message', msg['error'])}")
                return msg.get("result", {})

    def _event(self, method: str, deadline: float) -> dict[str, Any]:
        while True:
            msg = self._next(deadline)
            if msg.get("method") == method:
                return msg.get("params", {})

    # -- printing -------------------------------------------------------------------------------------
    def _print(self, html: Path, pdf: Path, timeout: float) -> Path:
        import base64
        import time

        deadline = time.monotonic() + timeout
        part = pdf.with_name(f".{pdf.name}.part")
        try:
            target = self._call("Target.createTarget", {"url": "about:blank"}, None, deadline)["targetId"]
            session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True}, None, deadline)["sessionId"]
            self._call("Page.enable", None, session, deadline)
            nav = self._call("Page.navigate", {"url": Path(html).resolve().as_uri()}, session, deadline)
            if nav.get("errorText"):
                raise RuntimeError(f"Chromium could not open {Path(html).name}: {nav['errorText']}")
            self._event("Page.loadEventFired", deadline)
            stream = self._call("Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True,
                                                    "generateDocumentOutline": True, "displayHeaderFooter": False,
                                                    "transferMode": "ReturnAsStream"}, session, deadline)["stream"]
            with open(part, "wb") as fh:
                while True:
                    r = self._call("IO.read", {"handle": stream, "size": 1 << 22}, session, deadline)
                    fh.write(base64.b64decode(r["data"]) if r.get("base64Encoded") else r["data"].encode("latin-1"))
                    if r.get("eof"):
                        break
            if part.read_bytes()[:5] != b"%PDF-":
                raise RuntimeError("Chromium returned something that is not a PDF")
            os.replace(part, pdf)
            return pdf
        except TimeoutError:
            raise RuntimeError(f"Chromium did not finish printing within {timeout:g} s") from None
        finally:
            part.unlink(missing_ok=True)

    def start_print(self, html: Path, pdf: Path, *, timeout: float | None = None) -> None:
        """Print ``html`` to ``pdf`` on a thread (the work is Chromium's; the thread only waits on the pipe)."""
        import threading

        def run() -> None:
            try:
                self._result = self._print(Path(html), Path(pdf), CHROMIUM_TIMEOUT if timeout is None else timeout)
            except (RuntimeError, OSError, ValueError, KeyError) as exc:
                self._result = exc if isinstance(exc, RuntimeError) else RuntimeError(f"Chromium: {type(exc).__name__}: {exc}")

        self._thread = threading.Thread(target=run, name="latc-chromium-print", daemon=True)
        self._thread.start()

    def wait(self) -> Path:
        self._thread.join()
        if isinstance(self._result, BaseException):
            raise self._result
        assert isinstance(self._result, Path)
        return self._result

    def close(self) -> None:
        """Stop Chromium and its helpers and remove the temporary profile: ``Browser.close`` first
        (Chromium ends its own processes), then, after 5 s, SIGKILL to every process descended from
        the one started (Chromium gives itself a session of its own, so a process group is not
        enough; a launcher script such as Debian's ``/usr/bin/chromium`` stays in between)."""
        import time

        try:
            self._send("Browser.close")
        except RuntimeError:
            pass
        deadline = time.monotonic() + 5
        ended = False
        while not ended and time.monotonic() < deadline:
            try:
                ended = os.waitpid(self._pid, os.WNOHANG) != (0, 0)
            except ChildProcessError:
                ended = True
            if not ended:
                time.sleep(0.02)
        if not ended:
            for pid in [*_descendants(self._pid), self._pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.waitpid(self._pid, 0)
            except ChildProcessError:
                pass
        for fd in (self._reader, self._writer):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
        self._tmp.cleanup()

    def __enter__(self) -> ChromiumBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reason(self) -> str:
        """Chromium's last error line (its own words about itself; the page's content is not logged)."""
        try:
            self._log.flush()
            text = (Path(self._tmp.name) / "stderr.txt").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        lines = [ln.strip() for ln in text.splitlines() if "ERROR" in ln or "FATAL" in ln]
        return f": {lines[-1][-200:]}" if lines else ""


def _descendants(pid: int) -> list[int]:
    """Every process descended from ``pid`` (Linux ``/proc``; empty elsewhere)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").glob("[0-9]*"):
        try:
            parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out

"""The report's PDF: headless Chromium's print-to-PDF when a Chromium is installed, else WeasyPrint.

Both engines print the same HTML with the same print stylesheet (A4, page numbers "Page n of N",
figures kept whole, table headers repeated on every page). They differ in speed and in one detail:

- **Chromium** (``--print-to-pdf``, version ≥ :data:`MIN_CHROMIUM`, the first with CSS ``@page``
  margin boxes) prints the 1,000-patient report (47 pages) in about 2 s on a separate process, with
  the figures as vectors. It has no CSS ``string-set``, so the running header shows the study name
  but not the section's title. It prints ``report.html`` itself, which carries a Content Security
  Policy that forbids every fetch (``default-src 'none'``): nothing leaves the machine.
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

__all__ = ["ENGINES", "MIN_CHROMIUM", "Chromium", "ChromiumPrint", "PdfEngineError", "find_chromium",
           "resolve_engine", "write_pdf"]

#: The values of ``--pdf-engine``.
ENGINES = ("auto", "chromium", "weasyprint")
#: CSS Paged Media margin boxes (``@bottom-center { content: counter(page) }``) arrived in Chrome 131.
MIN_CHROMIUM = 131
#: Seconds a Chromium print may take before it is stopped (a 100,000-patient report takes ~10 s).
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

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def label(self) -> str:
        return f"Chromium {self.version}"


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
    return Chromium(path, m.group(0)) if r.returncode == 0 and m else None


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
        raise PdfEngineError(f"--pdf-engine chromium: no Chromium or Google Chrome {MIN_CHROMIUM} or newer found "
                             "(install it, or name the binary in LATC_CHROMIUM; --pdf-engine weasyprint always works)")
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


class ChromiumPrint:
    """Headless Chromium printing ``html`` (a file) to ``pdf``, started at once in its own process;
    :meth:`wait` returns the PDF's path or raises :class:`RuntimeError` with Chromium's reason.

    The PDF is written to a temporary name beside ``pdf`` and renamed when complete, so a failed
    print leaves no half-written file. The profile folder is a fresh temporary one, removed after.
    ``--no-sandbox`` is passed only when running as root, where Chromium refuses to start without it
    (the page is the report's own HTML, whose Content Security Policy forbids scripts and fetches).
    """

    def __init__(self, chrome: Chromium, html: Path, pdf: Path, *, timeout: float | None = None) -> None:
        self.pdf, self.timeout = Path(pdf), CHROMIUM_TIMEOUT if timeout is None else timeout
        self._tmp = tempfile.TemporaryDirectory(prefix="latc-chromium-", ignore_cleanup_errors=True)
        self._part = self.pdf.with_name(f".{self.pdf.name}.part")
        self._log = open(Path(self._tmp.name) / "stderr.txt", "w+b")  # noqa: SIM115 (closed in wait)
        args = [chrome.path, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-default-apps", "--mute-audio", "--no-pdf-header-footer",
                "--generate-pdf-document-outline", f"--user-data-dir={Path(self._tmp.name) / 'profile'}",
                f"--print-to-pdf={self._part}", Path(html).resolve().as_uri()]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(2, "--no-sandbox")
        # its own process group, so that a stop reaches the renderer and zygote processes too
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
                                      start_new_session=os.name == "posix")

    def _kill(self) -> None:
        if os.name == "posix":
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        else:
            self._proc.kill()
        self._proc.wait()

    def wait(self) -> Path:
        try:
            try:
                code = self._proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                self._kill()
                raise RuntimeError(f"Chromium did not finish printing within {self.timeout:g} s") from None
            ok = self._part.is_file() and self._part.read_bytes()[:5] == b"%PDF-"
            if code != 0 or not ok:
                raise RuntimeError(f"Chromium exited with code {code} without a PDF" + self._reason())
            os.replace(self._part, self.pdf)
            return self.pdf
        finally:
            self._log.close()
            self._part.unlink(missing_ok=True)
            self._tmp.cleanup()

    def cancel(self) -> None:
        """Stop the print (when the report fails elsewhere) and remove what it left."""
        self._kill()
        self._log.close()
        self._part.unlink(missing_ok=True)
        self._tmp.cleanup()

    def _reason(self) -> str:
        """Chromium's last error line (its own words about itself; the page's content is not logged)."""
        self._log.seek(0)
        lines = [ln.strip() for ln in self._log.read().decode("utf-8", "replace").splitlines()
                 if "ERROR" in ln or "FATAL" in ln]
        return f": {lines[-1][-200:]}" if lines else ""

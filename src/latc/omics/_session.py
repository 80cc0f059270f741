"""What an omics command shows in the terminal, and what it keeps in ``OUT/warnings.log``.

:func:`omics_session` wraps a command body:

* **progress** — ``session.step("…")`` prints one line per step on stderr (rich; elapsed time),
  with a spinner when stderr is a terminal;
* **library noise** — Python warnings raised by libraries (FutureWarning, numba, anndata …), their
  log lines (scanpy's logger, the ``logging`` fallback) and anything they print are kept out of
  the terminal and written to ``OUT/warnings.log`` (each distinct warning once, with a count);
  one line at the end says how many were kept there;
* **warnings that matter** — a warning raised by latc itself (e.g. batch correction not applied)
  is shown as ``warning: …``;
* **samples not analysed** — :class:`latc.omics.SampleRefused` warnings are printed once each as
  ``skipped: …`` and listed in ``OUT/refused_samples.csv``.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

__all__ = ["OmicsSession", "omics_session"]

_LATC_DIR = str(Path(__file__).resolve().parents[1])


def _matters(w: warnings.WarningMessage) -> bool:
    """A warning the user should see: raised by latc's own code (its category defined in latc, or
    a plain UserWarning issued from a latc source file)."""
    cat = w.category
    if getattr(cat, "__module__", "").startswith("latc"):
        return True
    try:
        from_latc = str(Path(w.filename).resolve()).startswith(_LATC_DIR)
    except (OSError, ValueError):
        from_latc = False
    return from_latc and cat is UserWarning


class OmicsSession:
    """Progress printer of one command (``step``), created by :func:`omics_session`."""

    def __init__(self, stream, out: Path) -> None:
        from rich.console import Console

        self.console = Console(file=stream, highlight=False, soft_wrap=True)
        self.out = out
        self.t0 = time.perf_counter()
        self._live = None
        self.steps: list[str] = []

    def step(self, message: str) -> None:
        """Announce the step about to run (a line on stderr with the elapsed time)."""
        from rich.markup import escape

        self.steps.append(message)
        line = f"[dim]{time.perf_counter() - self.t0:6.1f} s[/] {escape(message)}"
        if self._live is not None:
            from rich.spinner import Spinner

            self._live.update(Spinner("dots", text=f" {message} …"))
        self.console.print(line)

    def print(self, message: str, style: str | None = None) -> None:
        from rich.markup import escape

        self.console.print(f"[{style}]{escape(message)}[/]" if style else escape(message))

    def _start(self) -> None:
        if self.console.is_terminal:
            from rich.live import Live
            from rich.spinner import Spinner

            self._live = Live(Spinner("dots", text=" starting …"), console=self.console, transient=True,
                              redirect_stdout=False, redirect_stderr=False, refresh_per_second=8)
            self._live.start()

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


@contextmanager
def omics_session(out: str | Path, *, scanpy: bool = False):
    """Run an omics command body (module docstring); yields an :class:`OmicsSession`.

    ``scanpy``: import scanpy inside the session and send its log lines to the log too.
    """
    from latc.omics._manifest import SampleRefused

    out = Path(out)
    err, std = sys.stderr, sys.stdout
    session = OmicsSession(err, out)
    # a real file (with a fileno) rather than StringIO: some libraries ask sys.stderr for its descriptor
    buffer = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
    sc_prev = None
    caught: list[warnings.WarningMessage] = []
    session._start()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sys.stderr, sys.stdout = buffer, buffer
            try:
                if scanpy:
                    import scanpy as sc

                    sc_prev = sc.settings.logfile
                    sc.settings.logfile = buffer
                yield session
            finally:
                sys.stderr, sys.stdout = err, std
                if sc_prev is not None:
                    import scanpy as sc

                    sc.settings.logfile = sc_prev
    finally:
        session._stop()
        try:
            buffer.flush()
            buffer.seek(0)
            text = buffer.read()
        finally:
            buffer.close()
        _report(session, out, caught, text, SampleRefused)


def _report(session: OmicsSession, out: Path, caught, text: str, refused_cls) -> None:
    from rich.markup import escape

    from latc._logging import mask_identifiers

    seen: set[str] = set()
    rows: list[dict] = []
    logged: dict[tuple, list] = {}
    for w in caught:
        if isinstance(w.message, refused_cls):
            msg = mask_identifiers(str(w.message))
            if msg not in seen:
                seen.add(msg)
                rows.append({k: mask_identifiers(v) if isinstance(v, str) else v for k, v in w.message.record.items()})
                session.console.print(f"[yellow]skipped:[/] {escape(msg)}")
            continue
        key = (w.category.__name__, str(w.message))
        if _matters(w):
            if key not in logged:
                session.console.print(f"[yellow]warning:[/] {escape(mask_identifiers(str(w.message)))}")
        entry = logged.setdefault(key, [f"{w.filename}:{w.lineno}", 0])
        entry[1] += 1
    if rows or out.is_dir():
        # always written (header only when every sample was analysed): one layout for every
        # command, and no refused_samples.csv of an earlier run left behind in OUT
        import pandas as pd

        from latc.io._spreadsheet import neutralise_formulas

        out.mkdir(parents=True, exist_ok=True)
        neutralise_formulas(pd.DataFrame(rows, columns=["sample_id", "assay", "file_ref", "rule", "message"])).to_csv(
            out / "refused_samples.csv", index=False)
        if rows:
            session.console.print(f"{len(rows)} sample(s) not analysed → {out / 'refused_samples.csv'}")
    if not (logged or text.strip()) or not out.is_dir():
        return
    lines = ["# library warnings and log output of this run (kept out of the terminal)\n"]
    if logged:
        lines.append(f"\n## warnings ({len(logged)} distinct)\n")
        for (cat, msg), (where, n) in logged.items():
            lines.append(f"{cat} ×{n} at {where}: {mask_identifiers(msg)}\n")
    if text.strip():
        lines.append("\n## output and log lines\n")
        lines.append(text if text.endswith("\n") else text + "\n")
    (out / "warnings.log").write_text("".join(lines), encoding="utf-8")
    n_lines = len([ln for ln in text.splitlines() if ln.strip()])
    session.console.print(f"[dim]{sum(n for _, n in logged.values())} library warning(s) and {n_lines} log line(s) "
                          f"→ {out / 'warnings.log'}[/]")

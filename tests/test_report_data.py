"""Shared inputs for the ``latc.report`` tests (no tests here; imported by test_report*.py).

Every results folder is produced by the real pipeline (``latc.synth`` → ``run_pipeline``: validate,
derive, analyze, report) — no hand-made report inputs. Awkward cohorts are made the way they
arise in practice: a study with 10 patients; a study whose upfront-surgery patients are absent
(rows removed from every CSV of the written study); and a cohort without any event (the derived
time-to-event data censored, then the analysis re-run on them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pandas as pd

#: Rendered pages and screenshots for a person to look at (``out/`` is git-ignored).
ARTIFACTS = Path(__file__).resolve().parents[1] / "out" / "test-artifacts" / "report"


def pipeline_run(out: Path, n_patients: int, seed: int, *, n_centers: int = 4, only_cohort: str | None = None,
                 **options) -> Path:
    """Synthesise a study, optionally keep one cohort, run the whole pipeline; return ``out``.

    ``options`` go to ``run_pipeline``; the PDF engine is WeasyPrint unless given (the engine every
    machine has, so these reports are the same everywhere; Chromium's PDF: test_report_pdf_engines.py)."""
    from latc.pipeline import run_pipeline
    from latc.synth import write_synthetic_study

    synth = write_synthetic_study(out / "synthetic", n_patients=n_patients, n_centers=n_centers, seed=seed)
    cut = date.fromisoformat(json.loads(Path(synth.truth_path).read_text())["data_cut"])
    study = Path(synth.study_path)
    if only_cohort:
        pts = pd.read_csv(study / "patients.csv", dtype=str, keep_default_na=False)
        keep = set(pts.loc[pts["cohort"] == only_cohort, "patient_id"])
        for csv in study.glob("*.csv"):
            t = pd.read_csv(csv, dtype=str, keep_default_na=False)
            if "patient_id" in t:
                t[t["patient_id"].isin(keep)].to_csv(csv, index=False)
    run_pipeline(study, out, data_cut=cut, **{"pdf_engine": "weasyprint", **options})
    return out


def censor_all_events(run: Path, out: Path) -> Path:
    """A copy of ``run`` whose derived datasets have no event at all, re-analysed; return ``out``."""
    from latc.analysis import analyze_path

    shutil.copytree(run, out)
    d = out / "derived"
    tte = pd.read_parquet(d / "tte.parquet")
    tte["event"] = 0
    tte["cnsr"] = 1
    tte["event_type"] = 0
    tte["event_description"] = pd.Series(pd.NA, index=tte.index, dtype="str")
    tte.to_parquet(d / "tte.parquet")
    subj = pd.read_parquet(d / "subject.parquet")
    for c in [c for c in subj.columns if c.endswith("_event") and c.split("_")[0] in ("os", "dss", "efs", "ttp", "rfs", "rfsstr")]:
        subj[c] = subj[c] * 0
    subj.to_parquet(d / "subject.parquet")
    shutil.rmtree(out / "analysis")
    shutil.rmtree(out / "report", ignore_errors=True)
    analyze_path(d, out)
    return out


def chromium() -> str | None:
    """Path of Debian's chromium (installed by ``make test`` when apt is available), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_flags(profile: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--disable-default-apps", "--mute-audio", f"--user-data-dir={profile}"]


def run_chromium(args: list[str], profile: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), *chromium_flags(profile), *args], capture_output=True, text=True, timeout=timeout)


def netlog_page_requests(netlog: Path) -> list[str]:
    """URLs the *page* asked the network for, from a Chromium ``--log-net-log`` file.

    Chromium's own background requests (component updater, time sync, accounts) carry the
    initiator ``"not an origin"``; every request made on behalf of the page has the page's origin
    (``"null"`` for a file:// page). ``data:`` URIs never reach the network stack.
    """
    text = netlog.read_text(encoding="utf-8", errors="replace")
    try:
        log = json.loads(text)
    except ValueError:  # Chromium may leave the file without its closing brackets
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    out = []
    for e in log.get("events", []):
        p = e.get("params") or {}
        if (start.get(e.get("type")) == "URL_REQUEST_START_JOB" and "url" in p  # begin phase only
                and p.get("initiator") != "not an origin"):
            out.append(p.get("url", ""))
    return out


def console_messages(stderr: str) -> list[str]:
    """Console output of the page (Chromium ``--enable-logging=stderr`` lines tagged ``CONSOLE``)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def render_html(html: Path, work: Path, *, screenshot: Path | None = None, height: int = 3000) -> dict:
    """Load ``html`` in headless Chromium (network blocked by the resolver rule, net log on):
    return ``{"dom", "requests", "console", "stderr"}``; optionally write a screenshot."""
    work.mkdir(parents=True, exist_ok=True)
    netlog = work / "netlog.json"
    common = ["--enable-logging=stderr", "--v=0", "--host-resolver-rules=MAP * ~NOTFOUND",
              f"--log-net-log={netlog}", "--net-log-capture-mode=Default", "--virtual-time-budget=5000"]
    r = run_chromium([*common, "--dump-dom", html.resolve().as_uri()], work / "profile-dom")
    out = {"dom": r.stdout, "requests": netlog_page_requests(netlog) if netlog.exists() else None,
           "console": console_messages(r.stderr), "stderr": r.stderr, "returncode": r.returncode}
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        s = run_chromium(["--hide-scrollbars", f"--window-size=1280,{height}", f"--screenshot={screenshot}",
                          html.resolve().as_uri()], work / "profile-shot")
        out["screenshot_returncode"] = s.returncode
    return out


@contextmanager
def recording_server() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server (loopback, any free port) that answers 404 and records every path asked
    for: yields ``(base URL, paths)``; shut down on exit. The negative control of the "never fetches"
    tests of the PDF engines."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", hits
    finally:
        server.shutdown()

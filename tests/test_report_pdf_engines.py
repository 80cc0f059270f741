"""The report's PDF engines (issue 17 item 1): headless Chromium when installed, else WeasyPrint.

Chromium is the real Debian browser (``make test`` installs it when apt is available; these tests
skip with the reason otherwise). The same run folder is printed by both engines and the PDFs are
held to the same rules: A4, "Page n of N" on every page, every figure and table caption, a
document outline. Chromium prints ``report.html`` itself, whose Content Security Policy forbids
every fetch: a local HTTP server proves it (and that without the policy Chromium would fetch).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_report_data import chromium, pipeline_run, recording_server

POPPLER = all(shutil.which(t) for t in ("pdfinfo", "pdftotext", "pdfimages", "pdftohtml"))
needs_chromium = pytest.mark.skipif(chromium() is None or not POPPLER,
                                    reason="Debian's chromium / poppler-utils not installed (make test installs them when apt is available)")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return pipeline_run(tmp_path_factory.mktemp("engines"), 120, seed=20261206, n_centers=3, pdf=False)


def _pdf_text(pdf: Path) -> tuple[int, str, str]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return pages, info, text


@needs_chromium
def test_chromium_and_weasyprint_print_the_same_report(run, tmp_path):
    from latc.report import build_report

    chrome = build_report(run, tmp_path / "c", pdf_engine="chromium", record=False)
    weasy = build_report(run, tmp_path / "w", pdf_engine="weasyprint", record=False)
    assert chrome.pdf_engine.startswith("Chromium ") and weasy.pdf_engine.startswith("WeasyPrint ")
    html = (tmp_path / "c" / "report.html").read_text(encoding="utf-8")
    n_fig, n_tab = len(re.findall(r"<figure ", html)), len(re.findall(r'data-table="', html))
    assert n_fig >= 15 and n_tab >= 20
    for res in (chrome, weasy):
        pages, info, text = _pdf_text(res.pdf)
        assert "(A4)" in info and pages >= 15, res.pdf_engine
        assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text, res.pdf_engine
        for k in range(1, n_fig + 1):
            assert f"Figure {k}." in text, (res.pdf_engine, k)
        for k in range(1, n_tab + 1):
            assert f"Table {k}." in text, (res.pdf_engine, k)
        # bookmarks from the headings (poppler's XML export lists the outline)
        xml = subprocess.run(["pdftohtml", "-q", "-i", "-xml", "-stdout", "-f", "1", "-l", "1", str(res.pdf)],
                             capture_output=True, text=True, check=True).stdout
        outline = re.findall(r'<item page="\d+">([^<]+)</item>', xml)
        assert "Summary" in outline and "Participants (STROBE flow)" in outline, (res.pdf_engine, outline[:5])
    # Chromium prints the figures as vectors: only the dense ones (embedded as PNG in the HTML too)
    # are images; WeasyPrint embeds every figure's PNG
    images = subprocess.run(["pdfimages", "-list", str(chrome.pdf)], capture_output=True, text=True, check=True).stdout
    n_images = len(images.splitlines()) - 2
    dense = html.count('src="data:image/png')
    assert n_images == dense < n_fig
    assert len(list((tmp_path / "c" / "figures").glob("*.png"))) == dense
    assert len(list((tmp_path / "w" / "figures").glob("*.png"))) == n_fig
    assert not list((tmp_path / "c").glob(".*.part"))


@needs_chromium
def test_the_engine_and_its_version_are_in_the_run_record(run, tmp_path):
    from latc.report import build_report

    r = build_report(run, run / "report_c", pdf_engine="auto")
    m = json.loads((run / "manifest.json").read_text())
    assert m["stages"]["report"]["parameters"]["pdf_engine"] == "auto"
    assert m["counts"]["report"]["pdf_engine"] == r.pdf_engine
    assert re.fullmatch(r"Chromium \d+\.\d+\.\d+\.\d+", r.pdf_engine)
    assert r.pdf_engine in r.summary()


@needs_chromium
def test_report_html_forbids_every_fetch_when_chromium_prints_it(tmp_path):
    """The report's Content Security Policy, printed by the real Chromium: with it, an image and a
    stylesheet on a local server are never requested; without it they are (the check can fail)."""
    from latc.report._pdf import ChromiumBrowser, find_chromium

    template = (Path(__file__).parents[1] / "src/latc/report/templates/report.html.j2").read_text(encoding="utf-8")
    csp = re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>', template).group(0)
    with recording_server() as (url, hits):
        body = f'<link rel="stylesheet" href="{url}/s.css"><p>x</p><img src="{url}/x.png">'
        for name, head in (("open", ""), ("csp", csp)):
            page = tmp_path / f"{name}.html"
            page.write_text(f"<!doctype html><html><head>{head}</head><body>{body}</body></html>", encoding="utf-8")
            with ChromiumBrowser(find_chromium()) as browser:
                browser.start_print(page, tmp_path / f"{name}.pdf")
                browser.wait()
            if name == "open":
                assert hits, "without the policy Chromium fetches (the check can fail)"
                hits.clear()
    assert (tmp_path / "csp.pdf").read_bytes()[:5] == b"%PDF-"
    assert hits == []


def test_engine_choice(monkeypatch):
    from latc.report import PdfEngineError
    from latc.report._pdf import _probe, resolve_engine

    with pytest.raises(PdfEngineError, match="unknown PDF engine 'prince'"):
        resolve_engine("prince")
    assert resolve_engine("weasyprint") == ("weasyprint", None)
    monkeypatch.setenv("LATC_CHROMIUM", "none")
    assert resolve_engine("auto") == ("weasyprint", None)
    with pytest.raises(PdfEngineError, match="LATC_CHROMIUM=none turns Chromium off; --pdf-engine weasyprint always works"):
        resolve_engine("chromium")
    monkeypatch.setenv("LATC_CHROMIUM", "/nonexistent/chromium")
    _probe.cache_clear()
    assert resolve_engine("auto") == ("weasyprint", None)
    with pytest.raises(PdfEngineError, match="LATC_CHROMIUM=/nonexistent/chromium is not a Chromium or Google Chrome 131"):
        resolve_engine("chromium")
    monkeypatch.delenv("LATC_CHROMIUM")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PdfEngineError, match="no Chromium or Google Chrome 131 or newer found"):
        resolve_engine("chromium")
    if chromium() is not None:
        monkeypatch.setenv("LATC_CHROMIUM", chromium())
        engine, chrome = resolve_engine("auto")
        assert engine == "chromium" and chrome.major >= 131 and chrome.path == chromium()


def test_cli_refuses_an_unusable_engine_before_doing_anything(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from latc.cli import app

    monkeypatch.setenv("LATC_CHROMIUM", "none")
    out, study = tmp_path / "out", tmp_path / "study"
    study.mkdir()
    r = CliRunner().invoke(app, ["run", str(study), "--out", str(out), "--pdf-engine", "chromium"])
    assert r.exit_code == 2  # latc's exit code for a refused input
    assert "--pdf-engine chromium: LATC_CHROMIUM=none turns Chromium off" in r.output and "Traceback" not in r.output
    assert not out.exists()


@needs_chromium
def test_a_chromium_that_fails_falls_back_to_weasyprint_under_auto_only(run, tmp_path, monkeypatch):
    """The real Chromium, stopped by a timeout too short to print: ``auto`` prints with WeasyPrint
    instead and says why; ``chromium`` asked for by name writes no PDF and says why."""
    import latc.report._pdf as pdfmod
    from latc.report import build_report

    monkeypatch.setattr(pdfmod, "CHROMIUM_TIMEOUT", 0.01)
    auto = build_report(run, tmp_path / "auto", pdf_engine="auto", record=False)
    assert auto.pdf is not None and auto.pdf_error is None
    assert auto.pdf_engine.startswith("WeasyPrint ") and "Chromium failed: Chromium did not finish printing" in auto.pdf_engine
    pages, _, text = _pdf_text(auto.pdf)
    assert f"Page {pages} of {pages}" in text
    named = build_report(run, tmp_path / "named", pdf_engine="chromium", record=False)
    assert named.pdf is None and "did not finish printing within 0.01 s" in named.pdf_error
    assert not (tmp_path / "named" / "report.pdf").exists()
    assert not list((tmp_path / "named").glob(".*.part"))
    assert "PDF not written (RuntimeError: Chromium did not finish" in named.summary()


def _broken_chromium(tmp_path: Path) -> str:
    """An installed browser that answers ``--version`` but dies when started (a broken install:
    missing libraries, a sandbox refusal), writing an error line as Chromium does."""
    exe = tmp_path / "broken-chromium"
    exe.write_text('#!/bin/sh\nif [ "$1" = "--version" ]; then echo "Chromium 156.0.0.0"; exit 0; fi\n'
                   'echo "[1:1:ERROR:zygote_host_impl_linux.cc(100)] Running as root without --no-sandbox" >&2\n'
                   "sleep 1\nexit 1\n")
    exe.chmod(0o755)
    return str(exe)


def test_a_chromium_that_dies_is_noticed_at_once_and_says_why(run, tmp_path, monkeypatch):
    """The reply pipe closes when Chromium exits: auto falls back to WeasyPrint within seconds (not the
    300 s timeout) with Chromium's own error line; asked for by name, no PDF, exit code 1, no earlier
    report.pdf left beside the new report, and ``--resume`` makes the report again."""
    import time

    from typer.testing import CliRunner

    from latc.cli import app
    from latc.report import build_report
    from latc.report._pdf import _probe

    _probe.cache_clear()
    monkeypatch.setenv("LATC_CHROMIUM", _broken_chromium(tmp_path))
    t0 = time.perf_counter()
    auto = build_report(run, tmp_path / "auto", pdf_engine="auto", record=False)
    assert time.perf_counter() - t0 < 120
    assert auto.pdf is not None and "Chromium failed: Chromium has exited" in auto.pdf_engine
    assert "Running as root without --no-sandbox" in auto.pdf_engine
    out = tmp_path / "named"
    out.mkdir()
    (out / "report.pdf").write_bytes(b"%PDF-1.4 an earlier run's PDF")
    r = CliRunner().invoke(app, ["report", str(run), "--out", str(out), "--pdf-engine", "chromium"])
    assert r.exit_code == 1 and "PDF not written" in r.output and "Traceback" not in r.output
    assert not (out / "report.pdf").exists() and (out / "report.html").is_file()


def test_resume_makes_again_a_report_whose_pdf_was_not_written(tmp_path, monkeypatch):
    from latc.pipeline import run_pipeline
    from latc.report._pdf import _probe

    study = pipeline_run(tmp_path / "first", 40, seed=3, n_centers=2, pdf=False) / "synthetic" / "study"
    out = tmp_path / "run"
    _probe.cache_clear()
    monkeypatch.setenv("LATC_CHROMIUM", "none")
    first = run_pipeline(study, out, pdf_engine="auto", quiet=True)  # WeasyPrint: written
    assert first.counts["report"]["pdf"] is True
    bad = run_pipeline(study, out, pdf_engine="auto", quiet=True, resume=True)
    assert "report" in bad.kept  # nothing changed: kept
    # the report asked for by an engine that cannot run here: not written, recorded, then made again
    monkeypatch.setenv("LATC_CHROMIUM", _broken_chromium(tmp_path))
    _probe.cache_clear()
    failed = run_pipeline(study, out, pdf_engine="chromium", quiet=True, resume=True)
    assert failed.counts["report"]["pdf"] is False and "Chromium" in failed.counts["report"]["pdf_error"]
    monkeypatch.setenv("LATC_CHROMIUM", "none")
    again = run_pipeline(study, out, pdf_engine="weasyprint", quiet=True, resume=True)
    assert "report" not in again.kept and again.counts["report"]["pdf"] is True
    monkeypatch.setenv("LATC_CHROMIUM", _broken_chromium(tmp_path))
    _probe.cache_clear()
    run_pipeline(study, out, pdf_engine="chromium", quiet=True, resume=True)
    retry = run_pipeline(study, out, pdf_engine="chromium", quiet=True, resume=True)
    assert "report" not in retry.kept
    assert "the earlier run asked for report.pdf and could not write it" in retry.resume_note


def test_ctrl_c_during_the_report_stops_everything_with_one_line(tmp_path):
    """SIGINT to the whole process group (what Ctrl-C does) while the report is being built: `latc run`
    ends within seconds with exit code 130 and one line; no worker, browser, temporary profile or
    partial PDF is left (the workers ignore SIGINT and are cancelled by the parent; before, one could
    hang for ever on a queue lock)."""
    import json
    import os
    import signal
    import sys
    import time

    from latc.synth import write_synthetic_study

    syn = write_synthetic_study(tmp_path / "s", n_patients=1000, n_centers=4, seed=5)
    out = tmp_path / "out"
    tmp = tmp_path / "tmp"  # the run's own temporary folder: Chromium's profile goes there
    tmp.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "from latc.cli import main; main()", "run", str(syn.study_path),
                             "--out", str(out), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "TMPDIR": str(tmp)})
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:  # wait until the report stage begins
        rec = out / "manifest.json"
        if rec.exists() and "analyze" in (json.loads(rec.read_text() or "{}").get("stages") or {}):
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before its report stage could be interrupted"
    time.sleep(1.0)
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and time.monotonic() - t0 < 60
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: interrupted: the run stopped") and "Traceback" not in err
    time.sleep(0.5)
    alive = subprocess.run(["ps", "-eo", "stat=,pgid=,args="], capture_output=True, text=True).stdout.splitlines()
    assert not [ln for ln in alive if not ln.strip().startswith("Z") and ln.split()[1:2] == [str(proc.pid)]]
    assert not list(tmp.glob("latc-chromium-*"))
    assert not list(out.glob("report/.*.part"))

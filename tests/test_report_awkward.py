"""``latc report`` on awkward cohorts: 10 patients in one center, one cohort only, no events.

Each report must build (HTML, PDF, XLSX) without a traceback, show what can be shown, and say
why for everything else — with the analysis's own reasons (results.json) where it recorded one.
The 10-patient report is rendered in headless Chromium and with poppler, and its pages are kept
under ``out/test-artifacts/report/`` for a person to look at (no overlapping text at 10 patients).
"""

from __future__ import annotations

import html as H
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from test_report_data import ARTIFACTS, censor_all_events, chromium, pipeline_run, render_html


def _html(report: Path) -> str:
    return (report / "report.html").read_text(encoding="utf-8")


def _reasons(run: Path) -> list[str]:
    res = json.loads((run / "analysis" / "results.json").read_text())
    out = [s["reason"] for s in res["sections"].values() if s.get("reason")]
    out += [nc["reason"] for s in res["sections"].values() for nc in s.get("not_computed", [])]
    return out


@pytest.fixture(scope="module")
def ten(tmp_path_factory) -> Path:
    """10 patients, a single center (the whole pipeline, report included)."""
    return pipeline_run(tmp_path_factory.mktemp("ten"), 10, seed=11, n_centers=1)


@pytest.fixture(scope="module")
def one_cohort(tmp_path_factory) -> Path:
    """Neoadjuvant patients only (the upfront-surgery rows removed from the written study)."""
    return pipeline_run(tmp_path_factory.mktemp("neo"), 40, seed=5, n_centers=2, only_cohort="neoadjuvant")


@pytest.fixture(scope="module")
def no_events(tmp_path_factory) -> Path:
    """Both cohorts, every time-to-event censored, re-analysed; the report built by the CLI."""
    from typer.testing import CliRunner

    from latc.cli import app

    base = tmp_path_factory.mktemp("noev")
    run = pipeline_run(base / "run", 40, seed=7, n_centers=2)
    out = censor_all_events(run, base / "censored")
    r = CliRunner().invoke(app, ["report", str(out), "--out", str(out / "report"), "--pdf-engine", "weasyprint"])
    assert r.exit_code == 0, r.output
    assert "report:" in r.output
    return out


@pytest.mark.parametrize("case", ["ten", "one_cohort", "no_events"])
def test_awkward_cohort_builds_every_output_and_explains_gaps(case, request):
    run = request.getfixturevalue(case)
    report = run / "report"
    for name in ("report.html", "report.pdf", "tables.xlsx"):
        assert (report / name).stat().st_size > 5_000
    html = _html(report)
    n_fig = len(re.findall(r"<figure ", html))
    assert n_fig >= 5 and n_fig == len(list((report / "figures").glob("*.png")))
    assert re.search(r'data-table="flow_counts"', html) and re.search(r'data-table="strobe_checklist"', html)
    # every reason the analysis recorded for what it could not compute is in the report
    for reason in _reasons(run):
        assert H.escape(reason, quote=False)[:50] in html, reason
    assert "Traceback" not in html


def test_ten_patients_single_center(ten):
    html = _html(ten / "report")
    m = re.search(r"(\d+) patient records were screened", html)
    assert m and int(m.group(1)) == 10
    # the completeness table has one center column (plus "all centers")
    body = html.split('data-table="completeness"', 1)[1].split("</table>", 1)[0]
    header = re.findall(r"<th>(.*?)</th>", body.split("</thead>")[0])
    assert header == ["Form", "C01", "All centers"]


def test_one_cohort_says_the_comparison_needs_both(one_cohort):
    html = _html(one_cohort / "report")
    assert "Only one cohort is present" in html
    assert "the neoadjuvant vs upfront comparison needs both" in html
    assert 'data-figure="km_os_cohort"' not in html and 'data-figure="ps_distribution"' not in html
    assert 'data-figure="waterfall"' in html  # the neoadjuvant sections still stand


def test_no_events_curves_stay_flat_and_survival_models_explain(no_events):
    html = _html(no_events / "report")
    assert 'data-figure="km_os_efs"' in html
    assert "0 event(s)" in html
    # no median is reached without events
    assert "median not reached" in html.lower()


@pytest.mark.skipif(chromium() is None or shutil.which("pdftoppm") is None,
                    reason="Debian's chromium / poppler-utils not installed (make test installs them when apt is available)")
def test_ten_patient_report_renders(ten, tmp_path):
    report = ten / "report"
    art = ARTIFACTS / "report10"
    r = render_html(report / "report.html", tmp_path, screenshot=art / "report_top.png", height=3000)
    assert r["returncode"] == 0 and r["requests"] == [] and r["console"] == []
    assert r["dom"].count("<figure") == len(re.findall(r"<figure ", _html(report)))
    shutil.rmtree(art / "pdf", ignore_errors=True)
    (art / "pdf").mkdir(parents=True)
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(report / "report.pdf"), str(art / "pdf" / "page")], check=True)
    from PIL import Image

    pages = sorted((art / "pdf").glob("page-*.png"))
    assert len(pages) >= 10
    for p in pages:
        with Image.open(p) as im:
            assert np.asarray(im.convert("L")).std() > 3, p.name

"""``latc report`` on a 120-patient synthetic run (the real pipeline end to end).

Checks the three outputs and the figures folder: every figure and table present and non-empty
in the HTML, the HTML self-contained (no URL a browser would fetch; verified in headless
Chromium with the network log), the PDF A4 with page numbers and every caption, the XLSX with
numbers as numbers and equal to the analysis CSVs. Screenshots and PDF pages are kept under
``out/test-artifacts/report/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_report_data import ARTIFACTS, chromium, pipeline_run, render_html

URL_ATTRS = {"src", "href", "srcset", "poster", "data", "action", "formaction", "background", "xlink:href"}
EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.I)


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[tuple[str, dict]] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        for k, v in a.items():
            if k in URL_ATTRS and v is not None:
                self.urls.append((tag, k, v))
            if k == "style" and v:
                self.style += v
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return pipeline_run(tmp_path_factory.mktemp("report120"), 120, seed=20261125, n_centers=4)


@pytest.fixture(scope="module")
def report(run) -> Path:
    return run / "report"


@pytest.fixture(scope="module")
def parsed(report) -> _Collect:
    p = _Collect()
    p.feed((report / "report.html").read_text(encoding="utf-8"))
    return p


def test_pipeline_writes_the_report_and_records_it_in_the_manifest(run):
    import json

    m = json.loads((run / "manifest.json").read_text())
    assert m["outputs"]["report"] == "report/report.html"
    assert m["counts"]["report"]["pdf"] is True and m["counts"]["report"]["figures"] >= 15
    assert "report" in m["timings_seconds"]
    for name in ("report.html", "report.pdf", "tables.xlsx"):
        assert (run / "report" / name).stat().st_size > 10_000
    # the validation summary page (validation/summary.html since the summary moved there) links to the full report
    assert 'href="../report/report.html"' in (run / "validation" / "summary.html").read_text()
    # every stage is in the run record, none stale
    assert list(m["stages"]) == ["validate", "derive", "analyze", "report"]
    assert not any("stale" in s for s in m["stages"].values())


def test_html_has_no_url_a_browser_would_fetch(parsed):
    """Self-contained: every src/href is a data: URI or an in-page anchor; no script, no stylesheet link,
    no url() other than data:, no @import."""
    for tag, attr, url in parsed.urls:
        if attr == "href":
            assert url.startswith("#"), (tag, attr, url[:80])
        else:
            assert url.startswith("data:"), (tag, attr, url[:80])
    assert not any(t == "script" for t, _ in parsed.tags)
    assert not any(t == "link" for t, _ in parsed.tags)
    assert "@import" not in parsed.style
    for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)", parsed.style):
        assert u.startswith("data:"), u
    # fonts are local: a font stack naming installed DejaVu, no @font-face download
    assert "DejaVu Sans" in parsed.style and "@font-face" not in parsed.style


def test_html_shows_every_figure_and_table_non_empty(report, parsed):
    from latc.report import build_sections, find_inputs

    html = (report / "report.html").read_text(encoding="utf-8")
    figures = [a for t, a in parsed.tags if t == "figure"]
    imgs = [a for t, a in parsed.tags if t == "img"]
    keys = [a["data-figure"] for a in figures]
    assert len(keys) == len(set(keys)) == len(imgs) >= 15
    on_disk = sorted(p.stem for p in (report / "figures").glob("*.svg"))
    assert sorted(keys) == on_disk
    for img in imgs:
        head, data = img["src"].split(",", 1)
        raw = base64.b64decode(data)
        if head.startswith("data:image/svg+xml"):
            assert raw.lstrip().startswith(b"<svg") and raw.count(b"<path") > 20
        else:
            assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 5_000
    # the main figures of the issue are all there
    for key in ("flow_strobe", "waterfall", "spider", "swimmer", "km_os_efs", "km_os_cohort", "km_recurrence_iptw",
                "forest_subgroups", "cif_recurrence", "ps_distribution", "downstaging_sankey", "trajectory_tg"):
        assert key in keys
    # the Love plot is drawn from the analysis's balance table; when the analysis could not compute it,
    # the report shows the analysis's reason instead
    import html as H
    import json

    res = json.loads((report.parent / "analysis" / "results.json").read_text())
    comp = res["sections"]["comparative"]
    if any(t["name"] == "love_plot" for t in comp["tables"]):
        assert "love_iptw_ate" in keys
    else:
        reason = next(nc["reason"] for nc in comp["not_computed"] if nc["table"] == "balance")
        assert H.escape(reason, quote=False)[:60] in html
    tables = re.findall(r'<div class="tablewrap" data-table="([^"]+)">(.*?)</div>', html, re.S)
    assert len(tables) >= 25
    # weight diagnostics: the sentence quotes the analysis's own largest weight and truncated HR
    if any(t["name"] == "weight_sensitivity" for t in comp["tables"]):
        ws = pd.read_csv(report.parent / "analysis" / "comparative" / "weight_sensitivity.csv").set_index("analysis")
        assert f"Largest IPTW weight {ws.loc['primary (stabilized IPTW)', 'max_weight']:.1f}" in html
        assert {"comparative_weight_sensitivity", "comparative_weights_summary"} <= {k for k, _ in tables}
        # the summary adds the truncated estimate exactly when truncation moves the HR by > 10 %
        ratio = ws.loc["truncated at the 0.99 quantile", "hr"] / ws.loc["primary (stabilized IPTW)", "hr"]
        summary = html.split('id="summary"', 1)[1].split("<section", 1)[0]
        assert ("Primary comparison with weights truncated" in summary) == (abs(np.log(ratio)) > np.log(1.1))
    for key, body in tables:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
        assert cells and any(c.strip() for c in cells), key
    # sections in the order, each with a heading
    sections = re.findall(r'<section id="([^"]+)" data-section', html)
    assert sections[:3] == ["summary", "cohort", "baseline"]
    for s in ("quality", "imaging", "biochemical", "pathology", "surgery", "safety", "survival", "comparative",
              "prognostic", "methods", "strobe", "not_computed"):
        assert s in sections
    assert "biomarkers" not in sections  # no omics outputs in this run
    # the builder's own inventory agrees with what the HTML shows
    secs = build_sections(find_inputs(report.parent))
    assert sum(len(s.figures) for s in secs) == len(keys)


def test_figure_files_are_svg_and_300_dpi_png(report):
    from PIL import Image

    svgs = sorted((report / "figures").glob("*.svg"))
    assert svgs
    for svg in svgs:
        png = svg.with_suffix(".png")
        assert svg.stat().st_size > 2_000 and png.exists()
        with Image.open(png) as im:
            dpi = im.info.get("dpi")
            assert dpi is not None and abs(dpi[0] - 300) < 1, (png.name, dpi)
            assert np.asarray(im.convert("L")).std() > 5  # not a blank canvas


def test_figures_drawn_in_worker_processes_equal_a_serial_draw_and_png_is_only_where_needed(run, report, tmp_path):
    """``jobs=2`` (forked workers) writes the same bytes as the pipeline's report; without the PDF and
    ``--png`` a figure has a PNG only when its SVG is too large to embed without comparing (issue 17)."""
    from openpyxl import load_workbook

    from latc.report import build_report
    from latc.report._build import SMALL_SVG_BYTES

    steps: list[str] = []
    lean = build_report(run, tmp_path / "lean", pdf=False, png=False, jobs=2, record=False, progress=steps.append)
    full = build_report(run, tmp_path / "full", pdf=False, png=True, jobs=1, record=False)
    assert steps == ["sections and figures", "report.html", "tables.xlsx"]  # the progress line
    figs = tmp_path / "lean" / "figures"
    assert lean.figures == full.figures and len(lean.figures) >= 15
    for key in lean.figures:
        svg = (figs / f"{key}.svg").read_bytes()
        assert svg == (report / "figures" / f"{key}.svg").read_bytes() == (tmp_path / "full" / "figures" / f"{key}.svg").read_bytes()
        assert (tmp_path / "full" / "figures" / f"{key}.png").read_bytes() == (report / "figures" / f"{key}.png").read_bytes()
        assert (figs / f"{key}.png").exists() == (len(svg) > SMALL_SVG_BYTES), key
    assert not (tmp_path / "lean" / "report.pdf").exists()
    # the contents sheet lists exactly the files written
    ws = load_workbook(tmp_path / "lean" / "tables.xlsx", read_only=True)["contents"]
    listed = {x.strip() for row in ws.iter_rows(values_only=True) if row and isinstance(row[1], str)
              and row[1].startswith("figures/") for x in row[1].split(",")}
    assert listed == {f"figures/{p.name}" for p in figs.iterdir()}
    # the HTML embeds the same pictures either way (the small SVGs inline, the rest by the same rule)
    srcs = [re.findall(r'<img src="([^"]+)"', (tmp_path / d / "report.html").read_text(encoding="utf-8")) for d in ("lean", "full")]
    assert srcs[0] == srcs[1] and len(srcs[0]) == len(lean.figures)
    # each caption names exactly the files written
    html = (tmp_path / "lean" / "report.html").read_text(encoding="utf-8")
    for key in lean.figures:
        names = ", ".join(f"figures/{p.name}" for p in sorted(figs.glob(f"{key}.*"), key=lambda q: q.suffix != ".svg"))
        assert f"Files: {names}." in html, key


def test_xlsx_one_sheet_per_table_numbers_as_numbers(report, run):
    from openpyxl import load_workbook

    wb = load_workbook(report / "tables.xlsx")
    assert wb.sheetnames[0] == "contents"
    html = (report / "report.html").read_text(encoding="utf-8")
    n_tables = len(re.findall(r'data-table="', html))
    assert len(wb.sheetnames) == n_tables + 1
    ws = wb["response_objective_response"]
    header = [c.value for c in ws[1]]
    assert ws["A1"].font.bold and ws.freeze_panes == "A2"
    csv = pd.read_csv(run / "analysis" / "response" / "objective_response.csv")
    col = header.index("rate") + 1
    cells = [ws.cell(row=i, column=col) for i in range(2, ws.max_row + 1)]
    assert all(c.data_type == "n" and not isinstance(c.value, bool) for c in cells)  # numeric cells, not text
    values = [c.value for c in cells]
    np.testing.assert_allclose(values, csv["rate"].to_numpy(float))
    # the contents sheet lists every table sheet
    listed = {r[1] for r in wb["contents"].iter_rows(min_row=4, values_only=True) if r and r[1]}
    assert set(wb.sheetnames[1:]) <= listed


def test_methods_record_what_ran(report, run):
    import json

    html = (report / "report.html").read_text(encoding="utf-8")
    m = json.loads((run / "manifest.json").read_text())
    assert m["input"]["combined"] in html
    assert "pandas</td>" in html and m["software"]["pandas"] in html
    res = json.loads((run / "analysis" / "results.json").read_text())
    caliper = res["parameters"]["caliper"]
    assert f"caliper of {caliper} SD of the logit PS" in html
    # every analysis table's method text is in the methods table (up to the HTML escaping)
    import html as H

    for sec in res["sections"].values():
        for t in sec["tables"]:
            assert H.escape(t["method"][:40], quote=False) in html, t["name"]


def test_strobe_checklist_has_the_22_items(report):
    from latc.report import STROBE_ITEMS

    assert [i[0] for i in STROBE_ITEMS] == [str(k) for k in range(1, 23)]
    html = (report / "report.html").read_text(encoding="utf-8")
    body = html.split('id="strobe"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>(\d+)</td>", body)
    assert rows == [str(k) for k in range(1, 23)]
    assert "not addressed" in body and "addressed" in body


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed (make test installs it when apt is available)")
def test_html_renders_in_headless_chromium_without_requests_or_errors(report, tmp_path):
    art = ARTIFACTS / "report120"
    r = render_html(report / "report.html", tmp_path, screenshot=art / "report_top.png", height=4000)
    assert r["returncode"] == 0, r["stderr"][-2000:]
    assert r["requests"] == [], r["requests"]
    assert r["console"] == []
    dom = r["dom"]
    keys = re.findall(r'<figure id="fig-([^"]+)"', (report / "report.html").read_text(encoding="utf-8"))
    for k in keys:
        assert f'id="fig-{k}"' in dom
    assert dom.count("<table") >= 25
    from PIL import Image

    with Image.open(art / "report_top.png") as im:
        assert im.size[0] == 1280 and np.asarray(im.convert("L")).std() > 10


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed")
def test_network_check_catches_an_external_request(tmp_path):
    """Negative control: the Chromium check does see a page that fetches from the web, and its console."""
    page = tmp_path / "bad.html"
    page.write_text('<!doctype html><img src="http://example.invalid/x.png"><script>console.error("boom")</script>')
    r = render_html(page, tmp_path / "w")
    assert any("example.invalid" in u for u in r["requests"])
    assert any("boom" in c for c in r["console"])


@pytest.mark.skipif(any(shutil.which(t) is None for t in ("pdftoppm", "pdftotext", "pdfinfo")),
                    reason="poppler-utils (pdftoppm, pdftotext, pdfinfo) not installed (make test installs them when apt is available)")
def test_pdf_is_a4_numbered_and_holds_every_caption(report):
    pdf = report / "report.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert "(A4)" in info
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= 15
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text
    html = (report / "report.html").read_text(encoding="utf-8")
    n_fig = len(re.findall(r"<figure ", html))
    n_tab = len(re.findall(r'data-table="', html))
    for k in range(1, n_fig + 1):
        assert f"Figure {k}." in text
    for k in range(1, n_tab + 1):
        assert f"Table {k}." in text
    art = ARTIFACTS / "report120" / "pdf"
    shutil.rmtree(art, ignore_errors=True)
    art.mkdir(parents=True)
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(art / "page")], check=True)
    from PIL import Image

    pngs = sorted(art.glob("page-*.png"))
    assert len(pngs) == pages
    for p in pngs:
        with Image.open(p) as im:
            assert np.asarray(im.convert("L")).std() > 3, p.name  # no blank page

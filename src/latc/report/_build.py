"""``build_report(results_dir, out_dir)``: the publication-ready study report.

Writes ``report.html`` (self-contained: inline CSS, figures as data URIs, no script, no external
request), ``report.pdf`` (A4, running header, page numbers, figures kept whole, table headers
repeated; headless Chromium when installed, else WeasyPrint: :mod:`latc.report._pdf`),
``tables.xlsx`` (contents + one sheet per table) and ``figures/`` (SVG of every figure, and the
300-dpi PNG where it is embedded or asked for, via :func:`latc.plot.save`).
"""

from __future__ import annotations

import base64
import os
import re
import struct
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

import latc
import latc.plot as P
from latc._progress import Step, no_progress

from . import _clinical, _federated, _methods, _outcomes, _quality, _strobe
from ._inputs import ReportInputError, ReportInputs, find_inputs
from ._draw import SMALL_SVG_BYTES, Builder, build_and_draw_all, draw
from ._model import ReportFigure, ReportTable, Section
from ._pdf import Chromium, ChromiumBrowser, PdfEngineError, resolve_engine, weasyprint_label, write_pdf
from ._xlsx import write_xlsx

__all__ = ["MAX_HTML_ROWS", "ReportResult", "build_report", "build_sections"]

#: Rows of a table shown in the HTML/PDF (the whole table is always in tables.xlsx).
MAX_HTML_ROWS = 80
#: SVGs larger than this (or than 1.5 × the PNG) are embedded as PNG instead (e.g. a spider plot of 10,000 patients).
MAX_INLINE_SVG_BYTES = 1_500_000


@dataclass
class ReportResult:
    """What :func:`build_report` wrote, and what it could not show (with reasons)."""

    out_dir: Path
    html: Path
    pdf: Path | None
    xlsx: Path
    figures_dir: Path
    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    pdf_error: str | None = None
    pdf_engine: str | None = None  # e.g. "Chromium 156.0.8078.114" or "WeasyPrint 70.0"

    def summary(self) -> str:
        size = self.html.stat().st_size / 1e6
        return (f"report: {len(self.sections)} sections, {len(self.figures)} figures, {len(self.tables)} tables, "
                f"{len(self.notes)} note{'' if len(self.notes) == 1 else 's'} on what could not be shown; "
                f"report.html {size:.1f} MB"
                + (f", report.pdf {self.pdf.stat().st_size / 1e6:.1f} MB ({self.pdf_engine})" if self.pdf else f"; PDF not written ({self.pdf_error})" if self.pdf_error
                   else "; no PDF (--no-pdf)")
                + f", tables.xlsx in {sum(self.timings.values()):.1f} s → {self.out_dir}")


#: The costliest sections (their figures draw thousands of patients' lines), handed out first.
_COSTLY = ("comparative", "imaging", "biochemical", "quality", "survival")


def _builders(inp: ReportInputs) -> list[Builder]:
    """The section builders in report order, before the two that depend on the others (the STROBE
    checklist and "not computed"); a federated analysis has its own short list."""
    if _federated.is_federated(inp):
        return [_methods.summary_section, _federated.federated_section, _outcomes.comparative_section,
                _methods.methods_section]
    return [_methods.summary_section, _strobe.flow_section, _quality.baseline_section, _quality.quality_section,
            _clinical.imaging_section, _clinical.biochemical_section, _clinical.pathology_section,
            _clinical.surgery_section, _clinical.safety_section, _outcomes.survival_section,
            _outcomes.comparative_section, _outcomes.prognostic_section, _methods.biomarkers_section,
            _methods.methods_section]


def _costly_first(builders: list[Builder]) -> list[int]:
    """Indices of the :data:`_COSTLY` sections' builders, costliest first."""
    where = {b.__name__.removesuffix("_section"): i for i, b in enumerate(builders)}
    return [where[k] for k in _COSTLY if k in where]


def _closing(inp: ReportInputs, secs: list[Section]) -> list[Section]:
    """The STROBE checklist (what the other sections show) and the analyses not computed."""
    if _federated.is_federated(inp):
        return [_methods.not_computed(inp)]
    present = {s.key for s in secs if s.figures or s.tables or s.extra.get("items")}
    return [_strobe.strobe_section(present), _methods.not_computed(inp)]


def build_sections(inp: ReportInputs) -> list[Section]:
    """Every section in report order, figures not drawn (the biomarkers section only when omics
    outputs exist; a federated analysis: summary, the federated run, the comparison, methods, not
    computed)."""
    secs = [s for s in (b(inp) for b in _builders(inp)) if s is not None]
    return secs + _closing(inp, secs)


_DOCTYPE = re.compile(rb"<\?xml[^>]*>\s*|<!DOCTYPE[^>]*>\s*", re.S)


def _png_width_mm(png: bytes) -> float:
    w = struct.unpack(">I", png[16:20])[0]
    return w / P._style.DPI * 25.4


_SVG_WIDTH = re.compile(rb'<svg[^>]*?\swidth="([0-9.]+)pt"', re.S)


def _svg_width_mm(svg: bytes) -> float:
    """The figure's width from matplotlib's SVG header (``width="…pt"``), in mm."""
    m = _SVG_WIDTH.search(svg[:2000])
    return float(m.group(1)) * 25.4 / 72 if m else 170.0


def _set_sources(figures: list[ReportFigure], folder: Path) -> None:
    """Each figure's files and data URIs from the bytes drawn: the SVG, or the PNG where the SVG is
    larger (a dense figure such as 10,000 patients' lines); ``png_src`` for WeasyPrint's PDF."""
    for f in figures:
        data, png_bytes = f.svg or b"", f.png
        stem = str(folder / f.key)
        f.files = [stem + ".svg"] + ([stem + ".png"] if png_bytes is not None else [])
        if png_bytes is None:  # an earlier run's PNG (another engine, --png) is not this figure's
            Path(stem + ".png").unlink(missing_ok=True)
        svg_data = _DOCTYPE.sub(b"", data)
        f.png_src = None if png_bytes is None else _data_uri("image/png", png_bytes)  # type: ignore[attr-defined]
        f.width_mm = _svg_width_mm(data) if png_bytes is None else _png_width_mm(png_bytes)  # type: ignore[attr-defined]
        # vector when it is compact (no PNG was needed to decide: it is); a dense figure (10,000
        # patients' lines) is smaller as the 300-dpi PNG
        use_svg = png_bytes is None or len(svg_data) <= min(max(1.5 * len(png_bytes), SMALL_SVG_BYTES), MAX_INLINE_SVG_BYTES)
        f.src = _data_uri("image/svg+xml", svg_data) if use_svg else f.png_src  # type: ignore[attr-defined]
        f.svg = f.png = None  # the data URIs hold them now


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _table_html(t: ReportTable) -> None:
    d = t.display
    t.rows, t.shown = len(d), min(len(d), MAX_HTML_ROWS)  # type: ignore[attr-defined]
    t.truncated = len(d) > MAX_HTML_ROWS  # type: ignore[attr-defined]
    t.html = d.head(MAX_HTML_ROWS).to_html(index=False, escape=True, border=0, classes="t", na_rep="")  # type: ignore[attr-defined]


def _env() -> Environment:
    return Environment(loader=PackageLoader("latc.report", "templates"), autoescape=select_autoescape(["html", "j2"]))


def _render(sections: list[Section], inp: ReportInputs, *, pdf: bool) -> str:
    figs = [f for s in sections for f in s.figures]
    saved = {f.key: f.src for f in figs}
    if pdf:
        for f in figs:
            f.src = getattr(f, "png_src", None) or f.src
    try:
        m = inp.manifest
        return _env().get_template("report.html.j2").render(
            title=("LATC study report (federated analysis): neoadjuvant therapy in locally advanced thyroid cancer"
                   if _federated.is_federated(inp) else
                   "LATC study report: neoadjuvant therapy in locally advanced thyroid cancer"),
            created=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), version=latc.__version__,
            results_name=inp.root.resolve().name, sections=sections,
            data_cut=(inp.validation_summary.get("data_cut") or inp.derive_parameters.get("data_cut")),
            checksum=(m.get("input") or {}).get("combined"),
            n_figures=len(figs), n_tables=sum(len(s.tables) for s in sections))
    finally:
        for f in figs:
            f.src = saved[f.key]


def build_report(results_dir: str | Path, out_dir: str | Path, *, pdf: bool = True, record: bool = True,
                 png: bool = False, jobs: int | None = None, progress: Step | None = None,
                 pdf_engine: str = "auto") -> ReportResult:
    """Build the study report from a ``latc run`` / ``latc analyze`` output folder.

    Figures are written as SVG; as 300-dpi PNG too when ``png`` is asked for, when WeasyPrint writes
    the PDF (it embeds them) or where a dense figure is embedded in the HTML as PNG. ``jobs`` worker
    processes build the sections and draw their figures (default: every core; 1: this process).
    ``progress`` is called with each step ("sections and figures", "report.html", "tables.xlsx",
    "report.pdf") as it starts.

    ``pdf_engine`` is ``auto`` (headless Chromium when one is installed, else WeasyPrint),
    ``chromium`` or ``weasyprint`` (:mod:`latc.report._pdf`). Chromium prints ``report.html`` in its
    own process while ``tables.xlsx`` is written; should it fail under ``auto``, WeasyPrint prints
    the same HTML instead. An engine asked for by name that cannot run raises
    :class:`~latc.report._pdf.PdfEngineError` before anything is written.

    With ``record`` the report stage is entered in the run record: ``RESULTS/manifest.json`` when
    the report is written inside the results folder (``RESULTS/report``), else ``OUT/manifest.json``
    (copying the results folder's stages). Raises :class:`~latc.report.ReportInputError` (one line)
    only when the folder holds nothing a report can use; every section that cannot be computed says
    why inside the report.
    """
    t0 = time.perf_counter()
    engine, chrome = resolve_engine(pdf_engine) if pdf else ("", None)
    inp = find_inputs(results_dir)
    with ExitStack() as stack:
        # Chromium starts now and is ready when report.html is (the sections take seconds)
        browser = stack.enter_context(_start_browser(chrome)) if pdf and chrome is not None else None
        return _build_report(inp, Path(out_dir), pdf=pdf, record=record, png=png, jobs=jobs, step=progress or no_progress,
                             pdf_engine=pdf_engine, engine=engine, browser=browser, t0=t0)


def _start_browser(chrome: Chromium) -> ChromiumBrowser | nullcontext[None]:
    """The headless browser, or nothing when it will not start (``auto`` then uses WeasyPrint)."""
    try:
        return ChromiumBrowser(chrome)
    except OSError:
        return nullcontext()


def _build_report(inp: ReportInputs, out: Path, *, pdf: bool, record: bool, png: bool, jobs: int | None, step: Step,
                  pdf_engine: str, engine: str, browser: ChromiumBrowser | None, t0: float) -> ReportResult:
    timings: dict[str, float] = {}
    out.mkdir(parents=True, exist_ok=True)
    # an earlier run's PDF must not stand beside this report (written again below, or not at all)
    (out / "report.pdf").unlink(missing_ok=True)
    step("sections and figures")
    # each section is built and its figures drawn in a forked worker, the costliest first
    folder, want_png = out / "figures", png or (pdf and engine == "weasyprint")
    builders = _builders(inp)
    built = build_and_draw_all(builders, inp, folder, png=want_png, jobs=jobs,
                               first=_costly_first(builders))
    sections = [s for s in built if s is not None]
    sections += [draw(s, folder, png=want_png) for s in _closing(inp, sections)]
    timings["sections"] = time.perf_counter() - t0
    figures = [f for s in sections for f in s.figures]
    tables = [t for s in sections for t in s.tables]
    for i, f in enumerate(figures, 1):
        f.number = i
    for i, t in enumerate(tables, 1):
        t.number = i
        _table_html(t)
    _set_sources(figures, folder)
    t1 = time.perf_counter()
    html_path = out / "report.html"
    step("report.html")
    html_path.write_text(_render(sections, inp, pdf=False), encoding="utf-8")
    timings["html"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    if browser is not None:  # Chromium prints report.html in its own processes while the workbook is written
        browser.start_print(html_path, out / "report.pdf")
    step("tables.xlsx")
    xlsx = write_xlsx(tables, figures, out / "tables.xlsx")
    timings["xlsx"] = time.perf_counter() - t1
    pdf_path, pdf_error, label = None, None, None
    if pdf:
        t1 = time.perf_counter()
        step("report.pdf")
        try:
            pdf_path, label = _finish_pdf(sections, inp, out / "report.pdf", engine=engine, pdf_engine=pdf_engine,
                                          browser=browser)
        except (OSError, ImportError, RuntimeError) as exc:  # no engine could run: the HTML still stands
            pdf_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        timings["pdf"] = time.perf_counter() - t1
    notes = [f"{s.title}: {n}" for s in sections for n in s.notes]
    if record:
        _record(inp, out, pdf=pdf, png=png, pdf_engine=pdf_engine, seconds=time.perf_counter() - t0,
                counts={"figures": len(figures), "tables": len(tables), "not_shown": len(notes), "pdf": pdf_path is not None,
                        **({"pdf_engine": label} if label else {}), **({"pdf_error": pdf_error} if pdf_error else {})})
    return ReportResult(out_dir=out, html=html_path, pdf=pdf_path, xlsx=xlsx, figures_dir=out / "figures",
                        figures=[f.key for f in figures], tables=[t.key for t in tables],
                        sections=[s.key for s in sections], notes=notes, timings=timings, pdf_error=pdf_error,
                        pdf_engine=label)


def _finish_pdf(sections: list[Section], inp: ReportInputs, path: Path, *, engine: str, pdf_engine: str,
                browser: ChromiumBrowser | None) -> tuple[Path, str]:
    """``report.pdf`` and the engine that wrote it: Chromium's print (started beside the workbook) or
    WeasyPrint; under ``auto`` a Chromium that failed is replaced by WeasyPrint on the same HTML (its
    figures as SVG: slower, the same report), and the label says why. Raises what the last engine
    tried raised."""
    if engine != "chromium":
        return write_pdf(_render(sections, inp, pdf=True), path), weasyprint_label()
    try:
        if browser is None:
            raise RuntimeError("Chromium did not start")
        return browser.wait(), browser.chrome.label
    except RuntimeError as exc:
        if pdf_engine == "chromium":
            raise
        return write_pdf(_render(sections, inp, pdf=True), path), f"{weasyprint_label()} (Chromium failed: {exc})"


def _record(inp: ReportInputs, out: Path, *, pdf: bool, png: bool, pdf_engine: str, seconds: float,
            counts: dict[str, Any]) -> Path:
    """Enter the report stage in the run record of the folder the report belongs to."""
    from latc.manifest import record_stage

    base = inp.analysis_dir.parent if inp.analysis_dir is not None and inp.analysis_dir != inp.root else inp.root
    inside = Path(os.path.abspath(out)).is_relative_to(Path(os.path.abspath(base)))
    folder = base if inside else out
    rel = os.path.relpath(out, folder)
    prefix = "" if rel == "." else rel + "/"
    return record_stage(folder, "report", input_path=inp.analysis_dir or inp.root, parameters={"pdf": pdf, "png": png, **({"pdf_engine": pdf_engine} if pdf else {})},
                        seconds=seconds, counts={"report": counts}, upstream=inp.manifest_path,
                        outputs={"report": f"{prefix}report.html", **({"report_pdf": f"{prefix}report.pdf"} if counts.get("pdf") else {}),
                                 "tables": f"{prefix}tables.xlsx", "figures": f"{prefix}figures/"})


__all__ += ["PdfEngineError", "ReportInputError", "write_pdf"]

"""``build_report(results_dir, out_dir)``: the publication-ready study report.

Writes ``report.html`` (self-contained: inline CSS, figures as data URIs, no script, no external
request), ``report.pdf`` (WeasyPrint, A4, running header, page numbers, figures kept whole,
table headers repeated), ``tables.xlsx`` (contents + one sheet per table) and ``figures/`` (SVG +
300-dpi PNG of every figure, via :func:`latc.plot.save`).
"""

from __future__ import annotations

import base64
import os
import re
import struct
import sys
import time
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
from ._model import ReportFigure, ReportTable, Section
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

    def summary(self) -> str:
        size = self.html.stat().st_size / 1e6
        return (f"report: {len(self.sections)} sections, {len(self.figures)} figures, {len(self.tables)} tables, "
                f"{len(self.notes)} note{'' if len(self.notes) == 1 else 's'} on what could not be shown; "
                f"report.html {size:.1f} MB"
                + (f", report.pdf {self.pdf.stat().st_size / 1e6:.1f} MB" if self.pdf else f"; PDF not written ({self.pdf_error})" if self.pdf_error
                   else "; no PDF (--no-pdf)")
                + f", tables.xlsx in {sum(self.timings.values()):.1f} s → {self.out_dir}")


def build_sections(inp: ReportInputs) -> list[Section]:
    """Every section in report order (the biomarkers section only when omics outputs exist; a
    federated analysis: summary, the federated run, the comparison, methods, not computed)."""
    if _federated.is_federated(inp):
        secs = [_methods.summary_section(inp), _federated.federated_section(inp), _outcomes.comparative_section(inp),
                _methods.methods_section(inp), _methods.not_computed(inp)]
        return secs
    secs = [
        _methods.summary_section(inp),
        _strobe.flow_section(inp),
        _quality.baseline_section(inp),
        _quality.quality_section(inp),
        _clinical.imaging_section(inp),
        _clinical.biochemical_section(inp),
        _clinical.pathology_section(inp),
        _clinical.surgery_section(inp),
        _clinical.safety_section(inp),
        _outcomes.survival_section(inp),
        _outcomes.comparative_section(inp),
        _outcomes.prognostic_section(inp),
    ]
    bio = _methods.biomarkers_section(inp)
    if bio is not None:
        secs.append(bio)
    secs.append(_methods.methods_section(inp))
    present = {s.key for s in secs if s.figures or s.tables or s.extra.get("items")}
    secs.append(_strobe.strobe_section(present))
    secs.append(_methods.not_computed(inp))
    return secs


_DOCTYPE = re.compile(rb"<\?xml[^>]*>\s*|<!DOCTYPE[^>]*>\s*", re.S)


def _png_width_mm(png: bytes) -> float:
    w = struct.unpack(">I", png[16:20])[0]
    return w / P._style.DPI * 25.4


_SVG_WIDTH = re.compile(rb'<svg[^>]*?\swidth="([0-9.]+)pt"', re.S)


def _svg_width_mm(svg: bytes) -> float:
    """The figure's width from matplotlib's SVG header (``width="…pt"``), in mm."""
    m = _SVG_WIDTH.search(svg[:2000])
    return float(m.group(1)) * 25.4 / 72 if m else 170.0


#: SVGs up to this size are embedded as they are, without a PNG to compare with.
SMALL_SVG_BYTES = 150_000

#: The figures a forked worker renders (set just before the workers fork; read only there).
_PENDING: list[Any] = []


def _draw(i: int, stem: str, fmt: str) -> bytes:
    """Write figure ``i`` of :data:`_PENDING` as ``stem.<fmt>`` (svg or png) and return the file's bytes."""
    (path,) = P.save(_PENDING[i], stem, formats=(fmt,))
    return path.read_bytes()


def _render_all(tasks: list[tuple[int, str, str]], workers: int) -> list[bytes]:
    """Run the ``(figure, stem, format)`` tasks, in ``workers`` forked processes when > 1 (dynamic
    scheduling: one task per hand-out, so a slow figure's SVG and PNG go to different workers)."""
    if workers == 1 or len(tasks) < 2:
        return [_draw(*t) for t in tasks]
    import multiprocessing
    import warnings
    from concurrent.futures import ProcessPoolExecutor

    with warnings.catch_warnings():  # a progress spinner's thread: the workers only draw and write files
        warnings.filterwarnings("ignore", message=".*use of fork\\(\\) may lead to deadlocks", category=DeprecationWarning)
        with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=multiprocessing.get_context("fork")) as ex:
            return list(ex.map(_draw, *zip(*tasks)))


def _workers(jobs: int | None, n: int) -> int:
    """Worker processes for ``n`` figures: ``jobs`` (default: the cores this process may use), at most
    ``n``; 1 where ``fork`` is not the safe default (figures are inherited by forking, not pickled)."""
    if sys.platform != "linux" or n < 4:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(jobs or cores, n // 2))


def _save_figures(figures: list[ReportFigure], folder: Path, *, png: bool = True, jobs: int | None = None) -> None:
    """Save each figure and set its data URIs: SVG always; the 300-dpi PNG when ``png`` (the PDF embeds
    it; ``latc report --png`` asks for it) or when the SVG is larger than :data:`SMALL_SVG_BYTES` (the
    HTML then embeds whichever is smaller, the PNG for a dense figure such as 10,000 patients' lines).

    With ``jobs`` > 1 (default: every core) the figures are drawn in forked worker processes, which
    inherit them, each SVG and PNG a task of its own; the files are byte-identical to a serial save
    (``latc.plot.save`` is deterministic)."""
    folder.mkdir(parents=True, exist_ok=True)
    stems = [str(folder / f.key) for f in figures]
    workers = _workers(jobs, len(figures))
    _PENDING[:] = [f.figure for f in figures]
    try:
        n = len(figures)
        drawn = _render_all([(i, st, "svg") for i, st in enumerate(stems)]
                            + ([(i, st, "png") for i, st in enumerate(stems)] if png else []), workers)
        svgs = drawn[:n]
        pngs: list[bytes | None] = list(drawn[n:]) if png else [None] * n
        dense = [i for i, d in enumerate(svgs) if pngs[i] is None and len(d) > SMALL_SVG_BYTES]
        for i, data in zip(dense, _render_all([(i, stems[i], "png") for i in dense], workers)):
            pngs[i] = data
    finally:
        _PENDING.clear()
    for data, png_bytes, f, stem in zip(svgs, pngs, figures, stems):
        f.files = [stem + ".svg"] + ([stem + ".png"] if png_bytes is not None else [])
        svg_data = _DOCTYPE.sub(b"", data)
        f.png_src = None if png_bytes is None else _data_uri("image/png", png_bytes)  # type: ignore[attr-defined]
        f.width_mm = _svg_width_mm(data) if png_bytes is None else _png_width_mm(png_bytes)  # type: ignore[attr-defined]
        # vector when it is compact (no PNG was needed to decide: it is); a dense figure (10,000
        # patients' lines) is smaller as the 300-dpi PNG
        use_svg = png_bytes is None or len(svg_data) <= min(max(1.5 * len(png_bytes), SMALL_SVG_BYTES), MAX_INLINE_SVG_BYTES)
        f.src = _data_uri("image/svg+xml", svg_data) if use_svg else f.png_src  # type: ignore[attr-defined]
        f.figure.clear()  # free the drawing (the files are written)


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


def build_report(results_dir: str | Path, out_dir: str | Path, *, pdf: bool = True, record: bool = True,
                 png: bool = False, jobs: int | None = None, progress: Step | None = None) -> ReportResult:
    """Build the study report from a ``latc run`` / ``latc analyze`` output folder.

    Figures are written as SVG; as 300-dpi PNG too when ``png`` is asked for, when the PDF is written
    (it embeds them) or where a dense figure is embedded in the HTML as PNG. ``jobs`` worker processes
    draw them (default: every core; 1 draws in this process). ``progress`` is called with each step
    ("sections", "22 figures", "tables.xlsx", "report.html", "report.pdf") as it starts.

    With ``record`` the report stage is entered in the run record: ``RESULTS/manifest.json`` when
    the report is written inside the results folder (``RESULTS/report``), else ``OUT/manifest.json``
    (copying the results folder's stages). Raises :class:`~latc.report.ReportInputError` (one line)
    only when the folder holds nothing a report can use; every section that cannot be computed says
    why inside the report.
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    step = progress or no_progress
    inp = find_inputs(results_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    step("sections")
    sections = build_sections(inp)
    timings["sections"] = time.perf_counter() - t0
    figures = [f for s in sections for f in s.figures]
    tables = [t for s in sections for t in s.tables]
    for i, f in enumerate(figures, 1):
        f.number = i
    for i, t in enumerate(tables, 1):
        t.number = i
        _table_html(t)
    t1 = time.perf_counter()
    step(f"{len(figures)} figures")
    _save_figures(figures, out / "figures", png=png or pdf, jobs=jobs)
    timings["figures"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    step("tables.xlsx")
    xlsx = write_xlsx(tables, figures, out / "tables.xlsx")
    timings["xlsx"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    html_path = out / "report.html"
    step("report.html")
    html_path.write_text(_render(sections, inp, pdf=False), encoding="utf-8")
    timings["html"] = time.perf_counter() - t1
    pdf_path, pdf_error = None, None
    if pdf:
        t1 = time.perf_counter()
        step("report.pdf")
        try:
            pdf_path = write_pdf(_render(sections, inp, pdf=True), out / "report.pdf")
        except (OSError, ImportError) as exc:  # WeasyPrint's system libraries missing: HTML still stands
            pdf_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        timings["pdf"] = time.perf_counter() - t1
    notes = [f"{s.title}: {n}" for s in sections for n in s.notes]
    if record:
        _record(inp, out, pdf=pdf, png=png, seconds=time.perf_counter() - t0,
                counts={"figures": len(figures), "tables": len(tables), "not_shown": len(notes), "pdf": pdf_path is not None})
    return ReportResult(out_dir=out, html=html_path, pdf=pdf_path, xlsx=xlsx, figures_dir=out / "figures",
                        figures=[f.key for f in figures], tables=[t.key for t in tables],
                        sections=[s.key for s in sections], notes=notes, timings=timings, pdf_error=pdf_error)


def _record(inp: ReportInputs, out: Path, *, pdf: bool, png: bool, seconds: float, counts: dict[str, Any]) -> Path:
    """Enter the report stage in the run record of the folder the report belongs to."""
    import os

    from latc.manifest import record_stage

    base = inp.analysis_dir.parent if inp.analysis_dir is not None and inp.analysis_dir != inp.root else inp.root
    inside = Path(os.path.abspath(out)).is_relative_to(Path(os.path.abspath(base)))
    folder = base if inside else out
    rel = os.path.relpath(out, folder)
    prefix = "" if rel == "." else rel + "/"
    return record_stage(folder, "report", input_path=inp.analysis_dir or inp.root, parameters={"pdf": pdf, "png": png},
                        seconds=seconds, counts={"report": counts}, upstream=inp.manifest_path,
                        outputs={"report": f"{prefix}report.html", **({"report_pdf": f"{prefix}report.pdf"} if counts.get("pdf") else {}),
                                 "tables": f"{prefix}tables.xlsx", "figures": f"{prefix}figures/"})


__all__ += ["ReportInputError", "write_pdf"]

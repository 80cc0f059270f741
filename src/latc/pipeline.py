"""The main job: read → validate → derive → analyze → report.

``run_pipeline`` is what ``latc run`` calls; ``run_demo`` synthesises the bundled default cohort
and runs the pipeline on it (``latc demo`` / ``make demo``); ``derive_path`` is the ``latc derive``
step on its own (a validation folder or a raw study in, the analysis datasets out).  Each stage
writes a plain table folder under ``OUT`` so a statistician can stop at any stage and take over.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from latc._fork import release_memory
from latc._progress import Step, no_progress
from latc._resume import PDF_NOT_WRITTEN, STAGE_OUTPUTS, options_key, plan_resume
from latc.manifest import RECORD_NAME, file_sha256, input_checksum, note_resume, read_record, record_stage

if TYPE_CHECKING:
    from latc.derive.datasets import DerivedDatasets

#: Stages in order (progress bar and timings; the run record groups them as validate, derive, analyze, report).
STAGES = ("read", "validate", "derive", "analyze", "summary", "report")


@dataclass
class PipelineResult:
    out: Path
    manifest: Path
    report: Path
    counts: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    #: stages kept from the earlier run by ``resume`` (stage → why), and the resume line
    kept: dict[str, str] = field(default_factory=dict)
    resume_note: str = ""

    def summary(self) -> str:
        c = self.counts
        return (
            (f"{self.resume_note}\n" if self.resume_note else "")
            + f"[bold green]done[/] in {sum(self.timings.values()):.1f} s — "
            f"{c.get('patients_clean', '?')} patients clean, {c.get('queries_error', 0)} error and "
            f"{c.get('queries_warning', 0)} warning queries, {c.get('rows_quarantined', 0)} rows quarantined\n"
            + (f"data cut {c.get('data_cut')}: rows dated later left out of the analysis — "
               + ", ".join(f"{f} {n:,}" for f, n in c["rows_after_data_cut"].items()) + "\n"
               if c.get("rows_after_data_cut") else "")
            + f"report   → {self.report}\n"
            + self._pdf_line()
            + f"queries  → {self.out / 'validation' / 'queries.csv'}\n"
            f"derived  → {self.out / 'derived'} ({c.get('derived', {}).get('analysis_set', '?')} patients in the analysis set, "
            f"{c.get('derived', {}).get('problems', 0)} derivation problems)\n"
            + (f"analysis → {self.out / 'analysis'} ({c['analysis']['summary']})\n" if "analysis" in c else "")
            + f"manifest → {self.manifest}"
        )


    def _pdf_line(self) -> str:
        rep = self.counts.get("report") or {}
        if rep.get("pdf"):
            return f"pdf      → {self.report.with_name('report.pdf')} ({rep.get('pdf_engine', 'kept')})\n"
        return f"pdf      → not written ({rep['pdf_error']})\n" if rep.get("pdf_error") else ""


@contextmanager
def _stage(progress: Progress, task: Any, name: str, timings: dict[str, float]) -> Iterator[None]:
    progress.update(task, description=f"{name:<10}")
    t0 = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - t0
    progress.advance(task)


def _step(progress: Progress, task: Any, name: str) -> Step:
    """A step callback showing ``stage · step`` in the pipeline's progress line."""
    return lambda text: progress.update(task, description=f"{name:<10} · {text}")


def run_pipeline(study: Path, out: Path, *, data_cut: date | None = None, options: Any = None, pdf: bool = True,
                 png: bool = False, console: Console | None = None, extra_manifest: dict[str, Any] | None = None,
                 resume: bool = False, quiet: bool = False, pdf_engine: str = "auto") -> PipelineResult:
    """Run every stage on ``study`` and write the outputs, the report and the run record ``manifest.json``.

    ``options`` are the analysis options (:class:`latc.analysis.AnalysisOptions`; default: the plan's
    defaults, as ``latc analyze``); ``pdf=False`` skips ``report.pdf`` (as ``latc report --no-pdf``),
    ``pdf_engine`` chooses how it is printed (``auto``, ``chromium``, ``weasyprint``: ``latc report
    --pdf-engine``) and ``png=True`` writes every figure's 300-dpi PNG (as ``latc report --png``).
    Each stage updates ``OUT/manifest.json`` as it finishes (:func:`latc.manifest.record_stage`), so
    the record is current even when a later stage fails. ``resume=True`` keeps the stages of an
    earlier run in ``out`` whose input, options and output are provably unchanged
    (:mod:`latc._resume`) and runs the rest. ``quiet`` hides the progress display (it is also
    hidden when the console is not a terminal, e.g. in CI). Raises
    :class:`latc.io.StudyReadError` only when the input cannot be read at all.
    """
    from latc.analysis import AnalysisOptions, input_locations, run_analysis, write_results
    from latc.derive.datasets import derive_datasets
    from latc.io import read_clean_tables, read_study, write_datasets
    from latc.report.summary import write_validation_summary
    from latc.validate import validate_study, write_validation

    study, out = Path(study), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    options = options or AnalysisOptions()
    timings: dict[str, float] = {}
    console = console or Console(stderr=True)
    report_options = {"pdf": pdf, "png": png, **({"pdf_engine": pdf_engine} if pdf else {})}
    keys = {"analyze": options_key(options), "report": options_key(report_options)}
    plan = _plan(study, out, data_cut, keys, {"analyze": options.as_dict(), "report": report_options}) if resume else None
    keep = plan.keep if plan else {}
    prev = (read_record(out) or {}) if keep else {}
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=quiet) as progress:
        task = progress.add_task("start", total=len(STAGES))
        if "validate" in keep:
            counts = {k: v for k, v in (prev.get("counts") or {}).items()}
            progress.advance(task, 2)
            result = None
            cut_used = (prev["stages"]["validate"].get("parameters") or {}).get("data_cut_used")
            parameters = {k: v for k, v in (prev["stages"]["validate"].get("parameters") or {}).items()
                          if k != "data_cut_used"}
        else:
            with _stage(progress, task, "read", timings):
                raw = read_study(study)
            with _stage(progress, task, "validate", timings):
                result = validate_study(raw, data_cut=data_cut)
                write_validation(result, out / "validation")
            counts = result.counts()
            cut_used = result.data_cut
            parameters = {"data_cut": str(data_cut) if data_cut else "today", "input_format": raw.format}
            del raw  # the raw text tables (GBs at 100,000 patients) are not needed after validation
            record_stage(out, "validate", input_path=study, parameters={**parameters, "data_cut_used": cut_used},
                         seconds=timings["read"] + timings["validate"],
                         timings={k: timings[k] for k in ("read", "validate")},
                         outputs={"validation": "validation/", "summary": "validation/summary.html"},
                         counts=counts, extra=extra_manifest, output_path=out / STAGE_OUTPUTS["validate"])
        if "derive" in keep:
            progress.advance(task)
            dc = counts["derived"]
            derived: Any = out / "derived"
        else:
            with _stage(progress, task, "derive", timings):
                if result is not None:
                    clean, eligibility = result.clean, result.eligibility
                else:  # validation kept from the earlier run: read its clean tables
                    clean, eligibility, _ = read_clean_tables(out / "validation")
                derived = derive_datasets(clean, date.fromisoformat(cut_used), eligibility=eligibility)
                write_datasets(derived, out / "derived")
            counts["derived"] = dc = derived.counts()
            record_stage(out, "derive", input_path=out / "validation", parameters=derived.parameters,
                         seconds=timings["derive"], outputs={"derived": "derived/"}, counts={"derived": dc},
                         output_path=out / STAGE_OUTPUTS["derive"])
        headline = (f"{dc['analysis_set']} patients in the analysis set, ORR {dc['objective_response']}/{dc['response_set']}, "
                    f"pCR {dc['pcr']}/{dc['pathology_graded']} (derived/)")
        if "analyze" in keep:
            progress.advance(task)
        else:
            with _stage(progress, task, "analyze", timings):
                analysis = run_analysis(derived, options, progress=_step(progress, task, "analyze"))
                analysis.inputs.update(input_locations(out / "derived", out / "analysis"))
                write_results(analysis, out / "analysis")
            counts["analysis"] = {"summary": analysis.summary(), "not_computed": analysis.skipped()}
            record_stage(out, "analyze", input_path=out / "derived", parameters=analysis.parameters,
                         seconds=timings["analyze"], outputs={"analysis": "analysis/results.json"},
                         counts={"analysis": counts["analysis"]}, output_path=out / STAGE_OUTPUTS["analyze"],
                         resume_key=keys["analyze"])
        derived = analysis = None  # the report reads them back from disk
        release_memory()  # before the report forks its workers: idle imputation workers, freed heap
        if result is not None:
            with _stage(progress, task, "summary", timings):
                report = write_validation_summary(result, out / "validation" / "summary.html", study_name=str(study),
                                                  parameters={**parameters, "derived datasets": headline},
                                                  report_link=True)
        else:  # validation kept: its summary page too (the derive headline it shows is the same)
            progress.advance(task)
            report = out / "validation" / "summary.html"
        if "report" in keep:
            progress.advance(task)
            report = out / "report" / "report.html"
            manifest = out / RECORD_NAME
        else:
            with _stage(progress, task, "report", timings):
                from latc.report import ReportInputError, build_report

                try:
                    rep = build_report(out, out / "report", pdf=pdf, png=png, record=False, pdf_engine=pdf_engine,
                                       jobs=getattr(options, "n_jobs", None), progress=_step(progress, task, "report"))
                    report = rep.html
                    counts["report"] = {"figures": len(rep.figures), "tables": len(rep.tables), "not_shown": len(rep.notes),
                                        "pdf": rep.pdf is not None, **({"pdf_engine": rep.pdf_engine} if rep.pdf_engine else {}),
                                        **({"pdf_error": rep.pdf_error} if rep.pdf_error else {})}
                except ReportInputError as exc:
                    counts["report"] = {"error": str(exc)}
            manifest = record_stage(
                out, "report", input_path=out / "analysis", parameters=report_options,
                seconds=timings["report"], counts={"report": counts["report"]},
                timings={"summary": timings.get("summary", 0.0), "report": timings["report"]},
                outputs={"report": "report/report.html", **({"report_pdf": "report/report.pdf"} if pdf else {}),
                         "tables": "report/tables.xlsx", "figures": "report/figures/"},
                output_path=out / STAGE_OUTPUTS["report"],
                resume_key=keys["report"] + (PDF_NOT_WRITTEN if pdf and not counts["report"].get("pdf") else ""))
    if plan is not None:
        note_resume(out, kept=list(plan.keep), ran=dict(plan.run))
    return PipelineResult(out=out, manifest=manifest, report=report, counts=counts, timings=timings,
                          kept=dict(keep), resume_note=plan.line() if plan else "")


def _plan(study: Path, out: Path, data_cut: date | None, keys: dict[str, str], values: dict[str, dict[str, Any]]):
    """The :func:`latc._resume.plan_resume` decision for a run of ``study`` into ``out``."""
    import latc
    from latc.dictionary import load_dictionary

    return plan_resume(read_record(out), folder=out, study_checksum=input_checksum(study)["combined"],
                       data_cut=(data_cut or date.today()).isoformat(), keys=keys, latc_version=latc.__version__,
                       dictionary_sha256=file_sha256(load_dictionary().source), options=values)


def run_demo(out: Path, *, n_patients: int = 600, n_centers: int = 8, seed: int = 20261125,
             inject_errors: int = 20, options: Any = None, pdf: bool = True, png: bool = False,
             console: Console | None = None, quiet: bool = False, pdf_engine: str = "auto") -> PipelineResult:
    """Synthesise the default multicenter cohort into ``out/synthetic`` and run the pipeline on it.

    ``inject_errors`` realistic data errors (listed in ``out/synthetic/injected_errors.csv``) are
    planted by default so the demo shows the query log and quarantine at work. ``options`` (analysis
    options) and ``pdf`` are passed to :func:`run_pipeline`.
    """
    import json

    from latc.synth import write_synthetic_study

    out = Path(out)
    console = console or Console(stderr=True)
    t0 = time.perf_counter()
    synth = write_synthetic_study(out / "synthetic", n_patients=n_patients, n_centers=n_centers, seed=seed,
                                  inject_errors=inject_errors)
    synth_seconds = time.perf_counter() - t0
    truth = json.loads(Path(synth.truth_path).read_text())
    data_cut = date.fromisoformat(truth["data_cut"])
    result = run_pipeline(
        synth.study_path, out, data_cut=data_cut, options=options, pdf=pdf, png=png, console=console, quiet=quiet,
        pdf_engine=pdf_engine,
        extra_manifest={"synthetic": {"n_patients": n_patients, "n_centers": n_centers, "seed": seed,
                                      "inject_errors": inject_errors, "truth": str(synth.truth_path), "seconds": round(synth_seconds, 3)}},
    )
    result.timings = {"synth": synth_seconds, **result.timings}
    return result


# ------------------------------------------------------------------------------------------------
# latc derive


@dataclass
class DeriveRun:
    """What :func:`derive_path` did (for the CLI)."""

    datasets: DerivedDatasets
    written: dict[str, Path]
    input_kind: str  # "validation" (a validation/run output folder) or "study" (raw, validated here)
    validation_dir: Path | None
    data_cut: str


def _validation_folder(path: Path) -> Path | None:
    """``path`` itself or ``path/validation`` when it holds ``clean/*.parquet`` (a `latc validate` /
    `latc run` output folder)."""
    for cand in (path, path / "validation"):
        if cand.is_dir() and any((cand / "clean").glob("*.parquet")):
            return cand
    return None


def derive_path(study: str | Path, out: str | Path, *, data_cut: date | None = None,
                progress: Step | None = None, **kwargs: Any) -> DeriveRun:
    """``latc derive``: derive the analysis datasets of a study and write them to ``out/derived``.

    ``study`` is either a validation output folder (``clean/*.parquet``, as written by
    ``latc validate``; or a ``latc run`` output folder holding ``validation/``) or a raw study (CSV
    folder, XLSX workbook, REDCap export), which is read and validated first (the validation
    outputs go to ``out/validation``). The data cut is ``data_cut`` when given, else the one the
    validation used (``summary.json``), else today. ``kwargs`` go to :func:`latc.derive.datasets.derive_datasets`.
    ``progress`` is called with each step as it starts. Raises :class:`latc.io.StudyReadError`
    when a raw study cannot be read at all.
    """
    from latc.derive.datasets import derive_datasets
    from latc.io import read_clean_tables, read_study, write_datasets

    study, out = Path(study), Path(out)
    folder = _validation_folder(study) if study.is_dir() else None
    step = progress or no_progress
    if folder is not None:
        step("reading the validated tables")
        clean, eligibility, cut_text = read_clean_tables(folder)
        cut = data_cut or (date.fromisoformat(cut_text) if cut_text else date.today())
        kind, vdir = "validation", folder
    else:
        from latc.validate import validate_study, write_validation

        step("reading the study")
        raw = read_study(study)
        step("validating")
        result = validate_study(raw, data_cut=data_cut)
        vdir = write_validation(result, out / "validation")
        clean, eligibility, cut = result.clean, result.eligibility, date.fromisoformat(result.data_cut)
        kind = "study"
    step("deriving the datasets")
    ds = derive_datasets(clean, cut, eligibility=eligibility, **kwargs)
    step("writing derived/")
    written = write_datasets(ds, out / "derived")
    return DeriveRun(datasets=ds, written=written, input_kind=kind, validation_dir=vdir, data_cut=cut.isoformat())

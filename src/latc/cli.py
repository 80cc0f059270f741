"""The ``latc`` command line: one command, a verb per pipeline stage.

Each command body is thin: it parses options, calls the documented Python API, and prints a short
summary with rich. Data problems never surface as tracebacks: they become queries; only an
unreadable input stops a command (exit code 2, one line naming the input).
"""

from __future__ import annotations

import errno
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from latc._progress import progress_line

app = typer.Typer(
    name="latc",
    help="LATC neoadjuvant study platform: validate → derive → analyze → report, plus omics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
dictionary_app = typer.Typer(help="The study data dictionary.", no_args_is_help=True)
recist_app = typer.Typer(help="RECIST 1.1 tools usable on any trial's data.", no_args_is_help=True)
app.add_typer(dictionary_app, name="dictionary")
app.add_typer(recist_app, name="recist")
omics_app = typer.Typer(help="Omics: immune profiling and biomarkers.", no_args_is_help=True)
app.add_typer(omics_app, name="omics")
from latc.capture.commands import capture_app  # noqa: E402 - imports no Django (lazy inside the commands)
app.add_typer(capture_app, name="capture")
from latc._cli_federated import federated_app  # noqa: E402 - imports latc.federated lazily (inside the commands)
app.add_typer(federated_app, name="federated")
from latc._cli_export import export_app  # noqa: E402 - imports pandas and latc.cbioportal inside the command
app.add_typer(export_app, name="export")

console = Console()
err_console = Console(stderr=True)


def _error_line(message: str) -> None:
    """``error: <message>`` on stderr; the message is text, never rich markup ('[1,2' stays as typed),
    with identifier-like parts masked (a data value quoted by a reader may be an email or a phone)."""
    from rich.markup import escape

    from latc._logging import mask_identifiers

    err_console.print(f"[bold red]error:[/] {escape(mask_identifiers(message))}", highlight=False, soft_wrap=True)


def _fail(message: str) -> None:
    _error_line(message)
    raise typer.Exit(code=2)


def _data_cut(value: str | None):
    """The ``--data-cut`` option as a date (None when not given); exits with a one-line message
    for text that is not an ISO date or a date outside the dates a study record may hold."""
    from datetime import date

    from latc.validate._schema import DATE_MAX, DATE_MIN

    if not value:
        return None
    try:
        cut = date.fromisoformat(value.strip())
    except ValueError:
        _fail(f"--data-cut {value!r} is not a date YYYY-MM-DD")
    if not DATE_MIN <= cut.isoformat() <= DATE_MAX:
        _fail(f"--data-cut {value}: outside the dates a study may hold ({DATE_MIN} to {DATE_MAX})")
    return cut


def _data_root_option():
    return typer.Option(None, "--data-root", help="Folder the manifest's file_ref paths are relative to "
                        "(default: the study folder); a file_ref must stay inside it.")


def _subject_option():
    return typer.Option(None, "--subject", help="Outcomes: `latc derive`'s subject table (subject.parquet/.csv) or a "
                        "`latc derive`/`latc run` output folder. Default: STUDY's derived/subject.parquet when STUDY is "
                        "such a folder, else a derived/ folder beside STUDY; without one the outcome analyses are "
                        "skipped (never taken from synthetic truth).")


def _response_option():
    return typer.Option(None, "--response-column", help="Binary subject column(s), comma-separated; the first drives "
                        "group comparisons, all are screened for association (default objective_response; e.g. mpr, pcr).")


def _time_option():
    return typer.Option(None, "--time-column", help="RFS time column of the subject table (default rfs_time_months).")


def _jobs_option():
    return typer.Option(None, "--jobs", "-j", min=1, help="Worker processes for the pseudobulk fits "
                        "(default: every CPU; the results do not depend on it).")


def _quiet_option():
    return typer.Option(False, "--quiet", "-q", help="No progress display (it is off anyway when the output is not a terminal).")


def _event_option():
    return typer.Option(None, "--event-column", help="RFS event column, 1 = event (default rfs_event).")


@contextmanager
def _omics_refusals(out: Path, *, scanpy: bool = False):
    """Run an omics command body in :func:`latc.omics._session.omics_session` (yields it: ``.step``
    prints progress on stderr): samples not analysed are printed and listed in
    OUT/refused_samples.csv; library warnings and log lines go to OUT/warnings.log, latc's own
    warnings are shown."""
    from latc.omics._session import omics_session

    with omics_session(out, scanpy=scanpy) as session:
        yield session


def _version(value: bool) -> None:
    if value:
        from latc.manifest import version_text

        console.print(version_text(), highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print latc's version and the Python version, then exit."),
) -> None:
    """LATC neoadjuvant study platform."""


def _analysis_options(imputations: int, caliper: float, bootstrap: int, seed: int, jobs: Optional[int] = None):
    """The analysis options of `latc analyze`, `latc run` and `latc demo` (same names, same defaults)."""
    from latc.analysis import AnalysisOptions

    return AnalysisOptions(imputations=imputations, caliper=caliper, prognostic_bootstrap=bootstrap, seed=seed,
                           n_jobs=jobs)


def _analysis_jobs_option():
    return typer.Option(None, "--jobs", "-j", min=1, help="Worker processes for the multiple imputation "
                        "(default: every CPU when the data are large) and the report's figures (default: every "
                        "CPU); the results do not depend on it.")


#: `latc analyze` / `latc run` / `latc demo` analysis options: one definition, so names and defaults agree.
def _imputations_option():
    return typer.Option(20, "--imputations", "-m", min=2, help="Imputed data sets of the sensitivity analysis: at least this many; more when von Hippel's rule asks for more (from 50,000 patients the rule's number; the choice is in results.json).")


def _caliper_option():
    return typer.Option(0.2, "--caliper", min=0.0, help="Matching caliper in SD of the logit propensity score.")


def _bootstrap_option():
    return typer.Option(100, "--bootstrap", min=0, help="Bootstrap replicates of the prognostic comparison (0: none).")


def _pdf_option():
    return typer.Option(True, "--pdf/--no-pdf", help="Also render report.pdf (see --pdf-engine).")


def _pdf_engine_option():
    return typer.Option("auto", "--pdf-engine", metavar="auto|chromium|weasyprint",
                        help="How report.pdf is printed: auto (headless Chromium when installed, about 1 s at 1,000 "
                        "patients; else WeasyPrint, several times slower), chromium (LATC_CHROMIUM names the binary) "
                        "or weasyprint.")


def _png_option():
    return typer.Option(False, "--png", help="Write every figure's 300-dpi PNG beside its SVG (WeasyPrint's PDF "
                        "embeds them, so they are written then too; otherwise only dense figures get one).")


def _interrupted(what: str, out: Path, *, resume: bool = False) -> None:
    """Ctrl-C: one line (the helpers have been stopped), exit code 130 as a shell expects."""
    hint = "; `latc run --resume` keeps the stages that finished" if resume else ""
    _error_line(f"interrupted: {what} stopped before it finished; {out} may hold a partial output{hint}")
    raise typer.Exit(code=130)


def _exit_if_pdf_missing(pdf: bool, result: Any) -> None:
    """Exit code 1 when report.pdf was asked for and not written (the summary's ``pdf →`` line says why)."""
    rep = result.counts.get("report") or {}
    if pdf and "error" not in rep and not rep.get("pdf"):
        raise typer.Exit(code=1)


def _check_pdf_engine(pdf: bool, engine: str) -> None:
    """Refuse an unusable --pdf-engine before any work is done (one line, exit 2)."""
    if not pdf:
        return
    from latc.report import PdfEngineError
    from latc.report._pdf import resolve_engine

    try:
        resolve_engine(engine)
    except PdfEngineError as exc:
        _fail(str(exc))


@dictionary_app.command("export")
def dictionary_export(
    format: str = typer.Option("redcap", "--format", "-f", help="redcap (REDCap data dictionary CSV) or markdown (codebook)."),
    out: Path = typer.Option(..., "--out", "-o", help="File to write."),
    dictionary: Optional[Path] = typer.Option(None, help="Dictionary YAML (default: the bundled one)."),
) -> None:
    """Export the data dictionary as a REDCap data dictionary CSV or a Markdown codebook."""
    from latc.dictionary import load_dictionary
    from latc.dictionary.export import export_dictionary

    d = load_dictionary(dictionary)
    try:
        export_dictionary(d, format, out)
    except ValueError as exc:
        _fail(str(exc))
    console.print(f"wrote {format} dictionary ({len(d.fields())} fields in {len(d.forms)} forms) → {out}")


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the synthetic study into."),
    patients: int = typer.Option(600, "--patients", "-n", help="Total patients over both cohorts."),
    centers: int = typer.Option(8, "--centers", "-k", help="Number of centers."),
    seed: int = typer.Option(20261125, "--seed", "-s", help="Random seed (deterministic output per seed)."),
    format: str = typer.Option("csv", "--format", "-f", help="csv (folder), xlsx (workbook) or redcap (flat export + dictionary)."),
    inject_errors: int = typer.Option(0, "--inject-errors", help="Number of realistic data errors to inject (listed in injected_errors.csv)."),
    omics: str = typer.Option("", "--omics", help="Comma-separated assays whose data files to generate (e.g. scrna_seq,spatial) or 'all'."),
    omics_scale: float = typer.Option(1.0, "--omics-scale", help="Multiplies the (small) default size of the synthetic omics data."),
) -> None:
    """Synthesise a multicenter neoadjuvant + upfront-surgery cohort with documented true effects.

    Writes OUT/study/ (what `latc validate OUT/study` reads; OUT/study.xlsx with --format xlsx),
    OUT/truth.json, OUT/truth_patients.csv and, with --inject-errors, OUT/injected_errors.csv;
    with --omics, the data files of the biospecimen manifest under OUT/study/omics/.
    """
    from latc.synth import write_synthetic_study
    from latc.synth._write import FORMATS

    if format not in FORMATS:
        _fail(f"unknown --format {format!r}; expected one of {', '.join(FORMATS)}")
    if patients < 1 or centers < 1 or inject_errors < 0:
        _fail("--patients and --centers must be at least 1 and --inject-errors at least 0")
    with console.status(f"synthesising {patients:,} patients in {centers} centers …"):
        try:
            result = write_synthetic_study(out, n_patients=patients, n_centers=centers, seed=seed, fmt=format,
                                           inject_errors=inject_errors, omics=[a for a in omics.split(",") if a],
                                           omics_scale=omics_scale)
        except ValueError as exc:
            _fail(str(exc))
    console.print(result.summary())


@app.command()
def validate(
    study: Path = typer.Argument(..., help="Study folder of CSVs, an XLSX workbook, or a REDCap export folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: queries.csv, quarantine/, clean/."),
    data_cut: Optional[str] = typer.Option(None, "--data-cut", help="Data-cut date YYYY-MM-DD (default: today): records dated after it are counted and left for the analysis to set aside, not queried; only dates after today are errors."),
) -> None:
    """Validate a study against the data dictionary and the protocol's eligibility criteria."""

    from latc.io import StudyReadError, read_study
    from latc.validate import validate_study, write_validation

    import time

    cut = _data_cut(data_cut)
    t0 = time.perf_counter()
    try:
        raw = read_study(study)
    except StudyReadError as exc:
        _fail(str(exc))
    result = validate_study(raw, data_cut=cut)
    write_validation(result, out)
    from latc.report.summary import write_validation_summary

    write_validation_summary(result, out / "summary.html", study_name=str(study),
                             parameters={"data cut": result.data_cut})
    from latc.manifest import record_stage

    record_stage(out, "validate", input_path=study, seconds=time.perf_counter() - t0, counts=result.counts(),
                 parameters={"data_cut": str(cut) if cut else "today", "input_format": raw.format,
                             "data_cut_used": result.data_cut},
                 outputs={"validation": "./", "summary": "summary.html"})
    console.print(result.summary_table())
    n_err = int((result.queries["severity"] == "error").sum())
    console.print(f"{len(result.queries):,} queries ({n_err:,} errors); data cut {result.data_cut}")
    if result.rows_after_data_cut:
        later = ", ".join(f"{f} {n:,}" for f, n in result.rows_after_data_cut.items())
        console.print(f"rows dated after the data cut (valid; left out of the analysis by latc derive): {later}")
    console.print(f"summary → {out / 'summary.html'}; queries → {out / 'queries.csv'} (per center: {out / 'queries_by_center'}); "
                  f"clean tables → {out / 'clean'}; quarantine → {out / 'quarantine'}; "
                  f"eligibility → {out / 'eligibility.csv'}")


@app.command()
def derive(
    study: Path = typer.Argument(..., help="A validation output folder (clean/*.parquet, or a `latc run` folder) or a raw study (CSV folder, XLSX, REDCap export)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: the datasets go to OUT/derived/ (a raw study's validation to OUT/validation/)."),
    data_cut: Optional[str] = typer.Option(None, "--data-cut", help="Data-cut date YYYY-MM-DD (default: the validation's, else today)."),
    response_source: str = typer.Option("computed", "--response-source", help="computed (RECIST from measurements; recorded responses as fallback) or investigator (recorded responses first)."),
    confirm_days: int = typer.Option(28, "--confirm-days", min=0, help="BOR confirmation interval (days)."),
    sd_min_days: int = typer.Option(42, "--sd-min-days", min=0, help="Minimum SD duration from the first dose (days)."),
    time_zero: str = typer.Option("decision", "--time-zero", help="Time zero of OS/DSS/EFS: decision, diagnosis or treatment_start."),
    quiet: bool = _quiet_option(),
) -> None:
    """Derive the analysis datasets (subject, response, tumour, tte, ae, …) with their metadata."""

    from latc.derive.datasets import RESPONSE_SOURCES
    from latc.pipeline import derive_path
    from latc.derive.tte import TIME_ZEROS
    from latc.io import StudyReadError

    if response_source not in RESPONSE_SOURCES:
        _fail(f"--response-source {response_source!r}: expected one of {', '.join(RESPONSE_SOURCES)}")
    if time_zero not in TIME_ZEROS:
        _fail(f"--time-zero {time_zero!r}: expected one of {', '.join(TIME_ZEROS)}")
    if not study.exists():
        _fail(f"{study}: not found")
    import time

    cut = _data_cut(data_cut)
    t0 = time.perf_counter()
    try:
        with progress_line(console, "derive", quiet=quiet) as step:
            r = derive_path(study, out, progress=step, data_cut=cut, response_source=response_source, confirm_days=confirm_days,
                            sd_min_days=sd_min_days, time_zero=time_zero)
    except StudyReadError as exc:
        _fail(str(exc))
    from latc.manifest import record_stage, run_record_near

    if r.input_kind == "study":  # validated here: the validate stage belongs to this run record too
        record_stage(out, "validate", input_path=study, parameters={"data_cut": str(cut) if cut else "today",
                     "data_cut_used": r.data_cut}, outputs={"validation": "validation/"})
    record_stage(out, "derive", input_path=r.validation_dir, parameters=r.datasets.parameters,
                 seconds=time.perf_counter() - t0, outputs={"derived": "derived/"},
                 counts={"derived": r.datasets.counts()},
                 upstream=run_record_near(r.validation_dir) if r.input_kind == "validation" else None)
    source = "validated tables in " + str(r.validation_dir) if r.input_kind == "validation" else f"raw study (validation → {r.validation_dir})"
    console.print(f"input: {source}; data cut {r.data_cut}", highlight=False, soft_wrap=True)
    for row in r.datasets.parameters.get("rows_after_data_cut", []):
        console.print(f"  {row['form']}: {row['rows']:,} row(s) {row['action']}", highlight=False, soft_wrap=True)
    console.print(r.datasets.summary(), highlight=False, soft_wrap=True)
    rows = ", ".join(f"{k} {len(v):,}" for k, v in r.datasets.tables().items())
    console.print(f"datasets ({rows}) + metadata.csv → {out / 'derived'}", highlight=False, soft_wrap=True)
    if len(r.datasets.problems):
        console.print(f"derivation problems → {out / 'derived' / 'problems.csv'}", highlight=False)


@app.command()
def analyze(
    derived: Path = typer.Argument(..., help="A `latc derive` / `latc run` output folder (OUT or OUT/derived with subject.parquet, tte.parquet, …)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: tables go to OUT/analysis/<section>/<table>.csv plus OUT/analysis/results.json."),
    imputations: int = _imputations_option(),
    caliper: float = _caliper_option(),
    bootstrap: int = _bootstrap_option(),
    seed: int = typer.Option(20240611, "--seed", help="Seed of the imputation and bootstrap."),
    jobs: Optional[int] = _analysis_jobs_option(),
    quiet: bool = _quiet_option(),
) -> None:
    """Run the statistical analysis plan on the derived datasets: result tables (CSV) + results.json.

    Records the analyze stage (parameters, the derived data's checksum, timing) in OUT/manifest.json."""
    from latc.analysis import AnalysisInputError, analyze_path

    if not derived.exists():
        _fail(f"{derived}: not found")
    options = _analysis_options(imputations, caliper, bootstrap, seed, jobs)
    try:
        with progress_line(console, "analyze", quiet=quiet) as step:
            results, index = analyze_path(derived, out, options, progress=step)
    except AnalysisInputError as exc:
        _fail(str(exc))
    console.print(f"input: {results.inputs.get('source')} — analysis set {results.inputs.get('analysis_set', 0):,} "
                  f"({', '.join(f'{k} {v:,}' for k, v in results.inputs.get('analysis_set_by_cohort', {}).items())})",
                  highlight=False, soft_wrap=True)
    try:
        console.print(f"primary: {results.primary()}", highlight=False, soft_wrap=True)
    except KeyError:
        pass  # the comparison did not run: its reason is among the "not computed" lines
    console.print(results.summary(), highlight=False)
    for key, reason in results.skipped().items():
        console.print(f"  not computed: {key} — {reason}", highlight=False, soft_wrap=True)
    console.print(f"tables → {index.parent}; index → {index}; run record → {out / 'manifest.json'}",
                  highlight=False, soft_wrap=True)


@app.command()
def report(
    results: Path = typer.Argument(..., help="A `latc run` or `latc analyze` output folder (analysis/results.json, derived/, validation/, manifest.json)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: report.html, report.pdf, tables.xlsx, figures/."),
    pdf: bool = _pdf_option(),
    pdf_engine: str = _pdf_engine_option(),
    png: bool = _png_option(),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, help="Worker processes drawing the figures "
                                       "(default: every core)."),
    quiet: bool = _quiet_option(),
) -> None:
    """Publication-ready study report: STROBE flow, response, surgery, safety, survival, comparison, methods.

    Records the report stage in the run record (RESULTS/manifest.json when OUT is inside RESULTS)."""
    from latc.report import ReportInputError, build_report

    _check_pdf_engine(pdf, pdf_engine)
    try:
        with progress_line(console, "report", quiet=quiet) as step:
            r = build_report(results, out, pdf=pdf, png=png, jobs=jobs, progress=step, pdf_engine=pdf_engine)
    except ReportInputError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _interrupted("the report", out)
    console.print(r.summary(), highlight=False, soft_wrap=True)
    if r.notes:
        console.print(f"{len(r.notes)} item(s) not shown, each with its reason in the report (first: {r.notes[0]})",
                      highlight=False, soft_wrap=True)
    if pdf and r.pdf is None:  # asked for and not written: the summary said why; scripts must see it
        raise typer.Exit(code=1)


@app.command()
def run(
    study: Path = typer.Argument(..., help="Study folder of CSVs, an XLSX workbook, or a REDCap export folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    data_cut: Optional[str] = typer.Option(None, "--data-cut", help="Data-cut date YYYY-MM-DD (default: today): records after it are excluded from the analysis (and counted), follow-up is censored at it; only dates after today are queried."),
    imputations: int = _imputations_option(),
    caliper: float = _caliper_option(),
    bootstrap: int = _bootstrap_option(),
    seed: int = typer.Option(20240611, "--seed", help="Seed of the imputation and bootstrap (as `latc analyze --seed`)."),
    pdf: bool = _pdf_option(),
    pdf_engine: str = _pdf_engine_option(),
    png: bool = _png_option(),
    jobs: Optional[int] = _analysis_jobs_option(),
    resume: bool = typer.Option(False, "--resume", help="Keep the stages of an earlier run in OUT whose input (SHA-256), "
                                "options, output and latc version are unchanged; run the rest (docs: README, Reproducibility)."),
    quiet: bool = _quiet_option(),
) -> None:
    """Run the whole pipeline (validate → derive → analyze → report) and keep its run record, OUT/manifest.json
    (versions, input checksum, each stage's parameters and timing). The analysis and report options are
    those of `latc analyze` and `latc report`."""

    from latc.io import StudyReadError
    from latc.pipeline import run_pipeline

    cut = _data_cut(data_cut)
    options = _analysis_options(imputations, caliper, bootstrap, seed, jobs)
    _check_pdf_engine(pdf, pdf_engine)
    try:
        result = run_pipeline(study, out, data_cut=cut, options=options, pdf=pdf, png=png, console=console, resume=resume,
                              quiet=quiet, pdf_engine=pdf_engine)
    except StudyReadError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _interrupted("the run", out, resume=True)
    console.print(result.summary())
    _exit_if_pdf_missing(pdf, result)


@app.command()
def demo(
    out: Path = typer.Option(Path("out/demo"), "--out", "-o", help="Output folder."),
    patients: int = typer.Option(600, "--patients", "-n", help="Total patients over both cohorts."),
    centers: int = typer.Option(8, "--centers", "-k"),
    seed: int = typer.Option(20261125, "--seed", "-s"),
    inject_errors: int = typer.Option(20, "--inject-errors", help="Realistic data errors planted to show the query log (0 for a clean study)."),
    imputations: int = _imputations_option(),
    caliper: float = _caliper_option(),
    bootstrap: int = _bootstrap_option(),
    analysis_seed: int = typer.Option(20240611, "--analysis-seed", help="Seed of the imputation and bootstrap "
                                      "(`latc analyze --seed`; --seed is the synthetic cohort's)."),
    pdf: bool = _pdf_option(),
    pdf_engine: str = _pdf_engine_option(),
    png: bool = _png_option(),
    jobs: Optional[int] = _analysis_jobs_option(),
    quiet: bool = _quiet_option(),
) -> None:
    """Synthesise the default multicenter cohort and run the whole pipeline on it (analysis and report
    options as `latc run`)."""
    from latc.pipeline import run_demo

    _check_pdf_engine(pdf, pdf_engine)
    try:
        result = run_demo(out, n_patients=patients, n_centers=centers, seed=seed, inject_errors=inject_errors,
                          options=_analysis_options(imputations, caliper, bootstrap, analysis_seed, jobs), pdf=pdf,
                          png=png, console=console, quiet=quiet, pdf_engine=pdf_engine)
    except KeyboardInterrupt:
        _interrupted("the demo", out)
    console.print(result.summary())
    _exit_if_pdf_missing(pdf, result)


@app.command()
def stage(
    input: Path = typer.Option(..., "--input", "-i", help="CSV with columns histology,age,t,n,m (one row per case)."),
    out: Path = typer.Option(..., "--out", "-o", help="CSV to write: the input columns + stage + stage_problem."),
) -> None:
    """AJCC 8th edition stage group (I, II, III, IVA, IVB, IVC) for any thyroid carcinoma table."""
    from latc.derive.staging import StageInputError, stage_csv

    try:
        result = stage_csv(input, out)
    except StageInputError as exc:
        _fail(str(exc))
    n_problem = int(result["stage"].isna().sum())
    console.print(f"staged {len(result) - n_problem} of {len(result)} rows ({n_problem} not stageable, see stage_problem) → {out}")


@recist_app.command("bor")
def recist_bor(
    responses: Path = typer.Option(..., "--responses", "-r", help="CSV: patient_id,assessment_date,overall_response (CR, PR, SD, NON-CR/NON-PD, PD, NE)."),
    reference: Path = typer.Option(..., "--reference", help="CSV: patient_id,reference_date (e.g. treatment start); one output row per patient."),
    out: Path = typer.Option(..., "--out", "-o", help="CSV to write: patient_id, (confirmed) best overall response and its date."),
    confirm_days: int = typer.Option(28, "--confirm-days", min=0, help="CR/PR confirmed by a CR/PR at least this many days later."),
    sd_min_days: int = typer.Option(42, "--sd-min-days", min=0, help="SD / NON-CR/NON-PD count only this many days after the reference date."),
    stop_at_first_pd: bool = typer.Option(True, "--stop-at-first-pd/--keep-after-pd", help="Ignore assessments after the first PD (admiralonco source_pd)."),
) -> None:
    """Best overall response and confirmed BOR (RECIST 1.1; pharmaverse admiralonco conventions)."""
    from rich.markup import escape

    from latc.derive.bor import BorInputError, bor_csv

    try:
        result = bor_csv(responses, reference, out, confirm_days=confirm_days, sd_min_days=sd_min_days, stop_at_first_pd=stop_at_first_pd)
    except BorInputError as exc:
        _fail(str(exc))
    from latc.validate._privacy import MASK, looks_like_identifier

    shown = result.problems.astype({"patient_id": "str", "value": "str"})
    for col in ("patient_id", "value"):  # the terminal is a log: never echo a national id or a phone number
        shown.loc[looks_like_identifier(shown[col]), col] = MASK
    for p in shown.itertuples(index=False):
        detail = escape(f"{p.file} row {p.row} (patient {p.patient_id or '?'}), field {p.field} = {p.value!r}: {p.message} [rule {p.rule}]")
        err_console.print(f"[yellow]skipped:[/] {detail}", highlight=False, soft_wrap=True)
    for w in result.cr_then_pr.itertuples(index=False):
        err_console.print(
            f"[yellow]warning:[/] patient {w.patient_id}: CR on {w.cr_date:%Y-%m-%d} followed by PR on {w.pr_date:%Y-%m-%d} "
            "(admiralonco signal_crpr; rows kept)",
            highlight=False, soft_wrap=True,
        )
    t = result.table
    counts = t["confirmed_best_overall_response"].value_counts()
    console.print(
        f"{len(t)} patients → {out}; {len(result.problems)} input row(s) skipped; "
        "confirmed BOR: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
        highlight=False, soft_wrap=True,
    )


omics_imaging_app = typer.Typer(help="Ultrasonomics and H&E histology features.", no_args_is_help=True)
omics_app.add_typer(omics_imaging_app, name="imaging")


@omics_imaging_app.command("run")
def omics_imaging_run(
    study_dir: Path = typer.Argument(..., help="Study folder with biospecimens.csv (validated here; file_ref paths are relative to it), or a `latc validate`/`latc run` output folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: tables/*.csv, figures/, run.json, *_parameters.json."),
    subject: Optional[Path] = _subject_option(),
    response_column: Optional[str] = _response_option(),
    time_column: Optional[str] = _time_option(),
    event_column: Optional[str] = _event_option(),
    strict: bool = typer.Option(False, "--strict", help="Fail when a manifest file is absent (default: skip and list it)."),
    discretisation: str = typer.Option("fixed_bin_number", help="fixed_bin_number or fixed_bin_size (IBSI 2.7)."),
    n_bins: int = typer.Option(32, help="Bins for fixed_bin_number."),
    bin_width: float = typer.Option(8.0, help="Bin width for fixed_bin_size."),
    spacing_mm: Optional[float] = typer.Option(None, "--resample-mm", help="Resample to this pixel spacing (mm)."),
    no_figures: bool = typer.Option(False, "--no-figures", help="Write no figures."),
    data_root: Optional[Path] = _data_root_option(),
) -> None:
    """Ultrasonomics (IBSI radiomics), delta-radiomics and H&E features, with example figures."""
    from latc.omics._manifest import OmicsInputError

    try:
        with _omics_refusals(out) as session:
            from latc.omics.imaging import RadiomicsSettings, run_imaging

            rs = RadiomicsSettings(discretisation=discretisation, n_bins=n_bins, bin_width=bin_width, target_spacing_mm=spacing_mm)
            r = run_imaging(study_dir, out, subject=subject, strict=strict, radiomics_settings=rs, data_root=data_root,
                            outcomes=response_column, time_col=time_column, event_col=event_column,
                            figures=not no_figures, progress=session.step)
    except (OmicsInputError, ValueError) as exc:
        _fail(str(exc))
    console.print(f"radiomics: {len(r.radiomics)} ultrasound samples; delta rows {len(r.delta)}; "
                  f"histology: {len(r.histology)} H&E samples; absent files skipped: {len(r.missing)}")
    if r.outcomes is not None:
        console.print(r.outcomes.message(), highlight=False, soft_wrap=True)
    if r.subject_source:
        n_sig = int((r.association["q_value"] < 0.05).sum()) if len(r.association) else 0
        console.print(f"association with the response: {n_sig} feature tests with q < 0.05")
    console.print(f"wrote {len(r.written)} files → {out} (tables/, {'figures/, ' if not no_figures else ''}run.json)")


omics_spatial_app = typer.Typer(help="Spatial transcriptomics: deconvolution, neighbourhoods, infiltration, TLS.", no_args_is_help=True)
omics_app.add_typer(omics_spatial_app, name="spatial")


@omics_spatial_app.command("run")
def omics_spatial_run(
    study_dir: Path = typer.Argument(..., help="Study folder with biospecimens.csv (validated here; file_ref paths are relative to it), or a `latc validate`/`latc run` output folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: tables/*.csv, figures/, adata.h5ad (spots), run.json, skipped.csv."),
    subject: Optional[Path] = _subject_option(),
    response_column: Optional[str] = _response_option(),
    time_column: Optional[str] = _time_option(),
    event_column: Optional[str] = _event_option(),
    reference: Optional[Path] = typer.Option(None, "--reference", help="Single-cell reference .h5ad (obs cell_type) or profile CSV "
                                             "(default: omics/spatial/sc_reference.h5ad when present, else marker-based)."),
    method: str = typer.Option("poisson", help="Reference deconvolution: poisson or nnls."),
    n_perms: int = typer.Option(1000, "--n-perms", min=10, help="Permutations for neighbourhood enrichment."),
    seed: int = typer.Option(0, "--seed", help="Seed of the permutation test and the UMAP."),
    umap: bool = typer.Option(True, "--umap/--no-umap", help="UMAP of the spots by cell-type proportions (adata.h5ad, figure)."),
    no_figures: bool = typer.Option(False, "--no-figures", help="Write no figures."),
    data_root: Optional[Path] = _data_root_option(),
) -> None:
    """Per-sample spatial features, figures and their association with response / RFS (BH-FDR)."""
    from latc.omics._manifest import OmicsInputError

    try:
        with _omics_refusals(out, scanpy=True) as session:
            from latc.omics.spatial._run import default_inputs, run_spatial

            subj, ref, note = default_inputs(study_dir, subject, reference, data_root=data_root)
            r = run_spatial(study_dir, out, subject=subj, response=response_column, time_col=time_column,
                            event_col=event_column, reference=ref, method=method, n_perms=n_perms, seed=seed,
                            data_root=data_root, figures=not no_figures, umap=umap, progress=session.step)
    except (OmicsInputError, ValueError) as exc:
        _fail(str(exc))
    note = "; ".join(n for n in (r.outcomes.message() if r.outcomes else "", note) if n)
    _omics_done(r, note, out, figures=not no_figures, adata=True)


omics_sc_app = typer.Typer(help="Single-cell RNA-seq immune profiling before/after neoadjuvant therapy.", no_args_is_help=True)
omics_app.add_typer(omics_sc_app, name="sc")


@omics_sc_app.command("run")
def omics_sc_run(
    study_dir: Path = typer.Argument(..., help="Study folder (file_ref paths are relative to it), or a `latc run` output folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: tables/*.csv, figures/, adata.h5ad, run.json, skipped.csv."),
    manifest: Optional[Path] = typer.Option(None, "--manifest", help="Biospecimens: a `latc validate` output / clean folder / parquet "
                                            "(validated), or a CSV validated here; default: the study folder."),
    subject: Optional[Path] = _subject_option(),
    response_column: Optional[str] = _response_option(),
    time_column: Optional[str] = _time_option(),
    event_column: Optional[str] = _event_option(),
    strict: bool = typer.Option(False, "--strict", help="Fail when a manifest file is absent (default: skip and list it)."),
    correction: str = typer.Option("harmony", help="Batch correction across --batch-key: harmony (default), pc_centering, combat or none."),
    batch_key: str = typer.Option("center_id", help="obs column of the technical batch."),
    resolution: float = typer.Option(1.0, help="Leiden resolution."),
    doublets: bool = typer.Option(True, "--doublets/--no-doublets", help="Scrublet doublet detection per sample "
                                  "(--no-doublets when the libraries are already doublet-filtered)."),
    seed: int = typer.Option(0, "--seed"),
    no_figures: bool = typer.Option(False, "--no-figures", help="Write no figures."),
    data_root: Optional[Path] = _data_root_option(),
    jobs: Optional[int] = _jobs_option(),
) -> None:
    """QC → annotation → malignant cells → composition/DA → pseudobulk DE → sample features (+ response/RFS tests) → T-cell clonotypes → figures.

    Re-run only the statistics (e.g. after a new `latc derive`) with `latc omics sc stats OUT`.
    """
    from latc.omics._manifest import OmicsInputError

    if correction not in ("harmony", "pc_centering", "combat", "none"):
        _fail(f"--correction {correction!r}: expected one of harmony, pc_centering, combat, none")
    try:
        with _omics_refusals(out, scanpy=True) as session:
            from latc.omics.sc._run import run_study

            r, note = run_study(study_dir, out, manifest=manifest, subject=subject, response=response_column,
                                time_col=time_column, event_col=event_column, strict=strict, correction=correction,
                                batch_key=batch_key, resolution=resolution, seed=seed, doublets=doublets,
                                figures=not no_figures, data_root=data_root, progress=session.step, n_jobs=jobs)
    except (OmicsInputError, ValueError) as exc:
        _fail(str(exc))
    _omics_done(r, note, out, figures=not no_figures, adata=True)


def _omics_done(r, note: str, out: Path, *, figures: bool, adata: bool = False) -> None:
    """The closing lines of an sc/spatial run: outcome source (or why skipped), summary, where things are."""
    if note:
        console.print(note, highlight=False, soft_wrap=True)
    console.print(r.summary(), highlight=False, soft_wrap=True)
    what = ["tables → " + str(out / "tables")]
    if adata:
        what.append(f"AnnData → {out / 'adata.h5ad'}")
    if figures:
        what.append(f"figures → {out / 'figures'}")
    what.append(f"run record → {out / 'run.json'}")
    console.print("; ".join(what), highlight=False, soft_wrap=True)


@omics_sc_app.command("stats")
def omics_sc_stats(
    source: Path = typer.Argument(..., help="Output folder of `latc omics sc run` (adata.h5ad + run.json) or its adata.h5ad."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: SOURCE's folder, updated in place)."),
    subject: Optional[Path] = typer.Option(None, "--subject", help="Subject table or `latc derive`/`latc run` output folder "
                                           "(default: the one the earlier run used, read again)."),
    response_column: Optional[str] = _response_option(),
    time_column: Optional[str] = _time_option(),
    event_column: Optional[str] = _event_option(),
    no_figures: bool = typer.Option(False, "--no-figures", help="Write no figures."),
    jobs: Optional[int] = _jobs_option(),
) -> None:
    """Statistics only, from the saved adata.h5ad: no QC, no embedding, paired pseudobulk DE reused."""
    from latc.omics._manifest import OmicsInputError

    target = out if out is not None else (source if source.is_dir() else source.parent)
    try:
        with _omics_refusals(target, scanpy=True) as session:
            from latc.omics.sc._run import stats_from_h5ad

            r, note = stats_from_h5ad(source, out, subject=subject, response=response_column, time_col=time_column,
                                      event_col=event_column, figures=not no_figures, progress=session.step,
                                      n_jobs=jobs)
    except (OmicsInputError, ValueError) as exc:
        _fail(str(exc))
    _omics_done(r, note, target, figures=not no_figures, adata=True)


@omics_app.command("biomarkers")
def omics_biomarkers(
    features: list[str] = typer.Option(..., "--features", "-f", help="Feature tables (.parquet/.csv/.tsv) or folders of them; "
                                       "repeat or comma-separate; modality = file stem, or name=path."),
    subject: Optional[Path] = typer.Option(None, "--subject", help="`latc derive`'s subject table (or a `latc derive`/`latc run` "
                                           "output folder) with patient_id, the outcome and clinical covariates "
                                           "(default: the one of --manifest when that is such a folder)."),
    outcome: str = typer.Option("objective_response", "--outcome", "--response-column",
                                help="mpr, pcr, objective_response (default; any binary subject column) or rfs "
                                "(--time-column + --event-column)."),
    time_column: Optional[str] = typer.Option(None, "--time-column", help="RFS time column for --outcome rfs "
                                              "(default rfs_time_months when present, else rfs_time|rfs_time_days|rfs_months)."),
    event_column: Optional[str] = typer.Option(None, "--event-column", help="RFS event column for --outcome rfs "
                                               "(default rfs_event, or 1 − rfs_cnsr)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: tables/ (CV results, screen, MOFA), figures/, summary.json, run.json."),
    manifest: Optional[Path] = typer.Option(None, "--manifest", help="Biospecimen manifest to check sample metadata against "
                                            "(a `latc run`/`latc derive` folder also gives the subject table)."),
    timepoint: str = typer.Option("baseline", "--timepoint", help="Timepoint of the samples used (e.g. baseline for prediction)."),
    clinical: Optional[str] = typer.Option(None, "--clinical", help="Comma-separated clinical covariates (default: those of "
                                           "histology_group, histology, ct, braf_v600e, tert_promoter, age_at_diagnosis present)."),
    folds: int = typer.Option(5, "--folds", min=2, help="Outer folds (split by patient)."),
    inner_folds: int = typer.Option(3, "--inner-folds", min=2, help="Inner folds tuning the penalty."),
    n_features: int = typer.Option(50, "--n-features", min=1, help="Columns kept by the fold-internal univariate filter."),
    n_boot: int = typer.Option(1000, "--n-boot", min=50, help="Patient bootstrap resamples for CIs."),
    n_permutations: int = typer.Option(100, "--n-permutations", min=0, help="Outcome permutations (0 = skip the permutation test)."),
    mofa_factors: int = typer.Option(5, "--mofa-factors", min=1, help="MOFA+ factors."),
    no_mofa: bool = typer.Option(False, "--no-mofa", help="Skip MOFA+."),
    jobs: int = typer.Option(1, "--jobs", min=1, help="Parallel processes for the permutation test."),
    seed: int = typer.Option(0, "--seed", help="Seed of folds, bootstrap, permutations and MOFA."),
) -> None:
    """Multi-omics biomarkers: screen (BH-FDR), nested patient-grouped CV vs a clinical model, MOFA+."""
    from latc.omics._manifest import OmicsInputError

    try:
        with _omics_refusals(out) as session:
            import time

            from latc.omics import load_manifest
            from latc.omics._outcomes import NO_SUBJECT_HINT, find_subject
            from latc.omics._output import Output, files_checksum, write_run_json
            from latc.omics.integrate import read_feature_tables
            from latc.omics.models import run_biomarkers, write_biomarkers

            t0 = time.perf_counter()
            session.step("reading the feature tables and the subject table")
            tables = read_feature_tables([x for item in features for x in item.split(",") if x])
            subj, src = _biomarker_subject(subject, manifest, outcome, time_column, event_column, find_subject,
                                           NO_SUBJECT_HINT, OmicsInputError)
            man = None
            if manifest is not None:
                if not manifest.exists():
                    raise OmicsInputError(f"manifest not found: {manifest}")
                man = load_manifest(manifest)
            session.step(f"screen, nested cross-validation and {'no ' if no_mofa else ''}MOFA+ for {outcome}")
            res = run_biomarkers(tables, subj, outcome, timepoint=timepoint, manifest=man,
                                 clinical=[c for c in clinical.split(",") if c] if clinical else None,
                                 outer_folds=folds, inner_folds=inner_folds, n_features=n_features, n_boot=n_boot,
                                 n_permutations=n_permutations, mofa_factors=mofa_factors, run_mofa_model=not no_mofa,
                                 seed=seed, n_jobs=jobs)
            session.step(f"writing tables and figures → {out}")
            written = write_biomarkers(res, out, n_boot=n_boot, seed=seed)
            oo = Output(out)
            oo.files = list(written)
            oo.skipped([])
            feats = {}
            for item in features:
                for x in item.split(","):
                    p = Path(x.split("=", 1)[-1])
                    for f in ([p] if p.is_file() else sorted(p.glob("*")) if p.is_dir() else []):
                        if f.is_file():
                            feats[str(f)] = f
            write_run_json(oo, command="latc omics biomarkers",
                           parameters={"outcome": outcome, "time_column": time_column, "event_column": event_column,
                                       "timepoint": timepoint, "clinical": clinical, "folds": folds,
                                       "inner_folds": inner_folds, "n_features": n_features, "n_boot": n_boot,
                                       "n_permutations": n_permutations, "mofa_factors": mofa_factors, "mofa": not no_mofa,
                                       "seed": seed},
                           inputs={"features": files_checksum(feats), "subject": files_checksum({"subject": src}),
                                   "manifest": str(manifest) if manifest else None},
                           outcomes={"subject": str(Path(src).resolve()), "outcome": outcome},
                           timings={"total": time.perf_counter() - t0}, steps=["screen", "cv", "mofa"],
                           counts={"n_patients": int(len(res.matrix.values))})
            written.append(oo.run_json)
    except (OmicsInputError, ValueError) as exc:
        _fail(str(exc))
    console.print(f"outcome {outcome} from {src}", highlight=False, soft_wrap=True)
    for note in res.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    for r in res.performance.itertuples():
        console.print(f"{r.model}: {r.metric} {r.estimate:.3f} (95% CI {r.lower:.3f}–{r.upper:.3f}), "
                      f"{r.n_patients} patients", highlight=False)
    if not res.permutation.empty:
        console.print(f"permutation p (omics) = {res.permutation['p_permutation'].iloc[0]:.3g}", highlight=False)
    console.print(f"screen: {int((res.screen['q_value'] <= 0.05).sum())} of {len(res.screen)} features with q ≤ 0.05; "
                  f"wrote {len(written)} files → {out} (tables/, figures/, summary.json, run.json)", highlight=False, soft_wrap=True)


def _biomarker_subject(subject, manifest, outcome, time_column, event_column, find_subject, hint, error):
    """The subject table of `latc omics biomarkers` (file, or derive/run folder; else --manifest's
    folder) with, for --outcome rfs, the named time/event columns as rfs_time/rfs_event."""
    import pandas as pd

    if subject is not None and not subject.exists():
        raise error(f"subject file not found: {subject}")
    path, _ = find_subject(manifest if subject is None and manifest is not None and manifest.is_dir() else None, subject)
    if path is None:
        raise error(f"no subject table: the biomarker models need the outcome ({hint})")
    try:
        subj = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # unreadable input: one line
        raise error(f"{path}: cannot read subject table ({type(exc).__name__})") from None
    if outcome == "rfs":
        t = time_column or ("rfs_time_months" if "rfs_time_months" in subj.columns else None)
        e = event_column or ("rfs_event" if time_column and "rfs_event" in subj.columns else None)
        for c, opt in ((time_column, "--time-column"), (event_column, "--event-column")):
            if c is not None and c not in subj.columns:
                raise error(f"subject table {path} has no column {c!r} ({opt})")
        if t is not None:
            subj = subj.drop(columns=[c for c in ("rfs_time", "rfs_time_days", "rfs_months") if c in subj.columns and c != t])
            subj["rfs_time"] = subj[t]
        if e is not None:
            subj["rfs_event"] = subj[e]
    return subj, path


omics_bulk_app = typer.Typer(help="Bulk RNA-seq: QC, TDS/BRS/ERK and immune scores, DESeq2 DE.", no_args_is_help=True)
omics_app.add_typer(omics_bulk_app, name="bulk")
omics_flow_app = typer.Typer(help="Flow cytometry of blood: compensation, gating, population frequencies.", no_args_is_help=True)
omics_app.add_typer(omics_flow_app, name="flow")


@omics_bulk_app.command("run")
def omics_bulk_run(
    study_dir: Path = typer.Argument(..., help="Study folder with biospecimens.csv (validated here; file_ref paths are relative to it), or a `latc validate`/`latc run` output folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: tables/ (bulk_qc, bulk_scores, de_*, bulk_association), figures/, adata.h5ad, run.json."),
    subject: Optional[Path] = _subject_option(),
    response_column: Optional[str] = _response_option(),
    time_column: Optional[str] = _time_option(),
    event_column: Optional[str] = _event_option(),
    counts: Optional[Path] = typer.Option(None, "--counts", help="A shared counts matrix (CSV/TSV, genes × samples or samples × genes) instead of per-sample files."),
    response_timepoint: str = typer.Option("baseline", "--response-timepoint", help="Timepoint of the responder vs non-responder comparison."),
    pre: str = typer.Option("baseline", "--pre", help="Earlier timepoint of the paired comparison."),
    post: str = typer.Option("surgery", "--post", help="Later timepoint of the paired comparison."),
    shrink: bool = typer.Option(True, "--shrink/--no-shrink", help="Add apeGLM-shrunken log2 fold changes (slow: ~17 ms per gene)."),
    cpus: Optional[int] = typer.Option(None, "--cpus", min=1, help="CPU cores for pydeseq2 (default 1)."),
    strict: bool = typer.Option(False, "--strict", help="Fail when a manifest file is absent (default: skip and list it)."),
    no_figures: bool = typer.Option(False, "--no-figures", help="Write no figures."),
    data_root: Optional[Path] = _data_root_option(),
) -> None:
    """Bulk RNA-seq: sample QC (outliers, sex check), thyroid/immune scores, responder and paired pre/post DE."""
    from latc.omics._manifest import OmicsInputError

    try:
        with _omics_refusals(out) as session:
            from latc.omics.bulk._pipeline import run_bulk

            r = run_bulk(study_dir, out, subject=subject, response_column=response_column, time_col=time_column,
                         event_col=event_column, counts=counts, response_timepoint=response_timepoint, pre=pre, post=post,
                         shrink=shrink, n_cpus=cpus, strict=strict, data_root=data_root, figures=not no_figures,
                         progress=session.step)
    except (OmicsInputError, ValueError) as exc:
        _fail(str(exc))
    for note in r.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    n_out = int(r.qc["outlier"].sum())
    n_swap = int(r.qc["sex_mismatch"].fillna(False).astype(bool).sum()) if "sex_mismatch" in r.qc else 0
    console.print(f"{r.n_samples} bulk samples; QC: {n_out} outlier(s), {n_swap} sex mismatch(es)", highlight=False)
    for name, res in r.de.items():
        console.print(f"DE {name}: {int((res['padj'] < 0.05).sum())} of {len(res)} genes padj < 0.05 ({res.attrs.get('design', '')})",
                      highlight=False)
    console.print(f"wrote {len(r.files)} files → {out} (tables/, {'figures/, ' if not no_figures else ''}run.json)", highlight=False)


@omics_flow_app.command("run")
def omics_flow_run(
    study_dir: Path = typer.Argument(..., help="Study folder with biospecimens.csv (validated here; file_ref paths are relative to it), or a `latc validate`/`latc run` output folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: tables/ (flow_populations, flow_gating_report, flow_association), figures/, run.json."),
    gating: Optional[Path] = typer.Option(None, "--gating", help="Gating strategy: YAML (default: the shipped PBMC strategy) or GatingML 2.0 XML."),
    compensation: Optional[str] = typer.Option(None, "--compensation", help="FCS (spillover stored in each file), none, or a CSV spillover matrix (overrides the YAML)."),
    subject: Optional[Path] = _subject_option(),
    response_column: Optional[str] = _response_option(),
    time_column: Optional[str] = _time_option(),
    event_column: Optional[str] = _event_option(),
    strict: bool = typer.Option(False, "--strict", help="Fail when a manifest file is absent (default: skip and list it)."),
    no_figures: bool = typer.Option(False, "--no-figures", help="Write no figures."),
    data_root: Optional[Path] = _data_root_option(),
) -> None:
    """Flow cytometry: compensate, transform and gate every FCS file; population counts and % of parent per sample."""
    from latc.omics._manifest import OmicsInputError

    try:
        with _omics_refusals(out) as session:
            from latc.omics.flow._pipeline import run_flow

            r = run_flow(study_dir, out, gating=gating, compensation=compensation, subject=subject,
                         response_column=response_column, time_col=time_column, event_col=event_column, strict=strict,
                         data_root=data_root, figures=not no_figures, progress=session.step)
    except (OmicsInputError, ValueError) as exc:
        _fail(str(exc))
    for note in r.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    console.print(f"{len(r.features)} flow samples gated; wrote {len(r.files)} files → {out} "
                  f"(tables/, {'figures/, ' if not no_figures else ''}run.json)", highlight=False)


#: File-system errors that are the user's setting, not a bug: said in one line by :func:`main`.
_USER_FS_ERRORS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT})


def main() -> None:
    """The ``latc`` command. An error of latc's own (:class:`latc.errors.LatcError`: a problem of the
    input, never a bug) that a command did not report itself ends as one line on stderr and exit
    code 2, never a traceback; possible identifiers in it are masked."""
    from latc.errors import LatcError

    try:
        app()
    except LatcError as exc:
        from latc._logging import mask_identifiers

        _error_line(mask_identifiers(str(exc)))
        raise SystemExit(2) from None
    except OSError as exc:
        if exc.errno not in _USER_FS_ERRORS:
            raise
        # the output folder cannot be written (read-only, no permission, disk full): one line, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        _error_line(f"cannot write {where}{exc.strerror or exc} (check the output folder's permissions and free space)")
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()

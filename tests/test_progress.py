"""The progress line of the longer commands (issue 17 item 3): stage · step · elapsed on a terminal,
nothing with ``--quiet`` or when the output is not a terminal; the analysis and the report report
their steps in order."""

from __future__ import annotations

import io
import time

import pandas as pd
from rich.console import Console

from latc._progress import progress_line
from latc.analysis import SECTIONS, AnalysisOptions, run_analysis
from latc.derive.datasets import derive_datasets
from latc.synth import synthesize


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=terminal, width=100, color_system=None), buf


def test_the_line_shows_stage_step_and_elapsed_time_on_a_terminal():
    con, buf = _console(True)
    with progress_line(con, "analyze") as step:
        step("comparative (7/10)")
        time.sleep(0.35)  # rich refreshes 10 times a second
    out = buf.getvalue()
    assert "analyze · comparative (7/10)" in out
    assert "0:00:00" in out


def test_quiet_or_no_terminal_shows_nothing():
    for terminal, quiet in ((True, True), (False, False)):
        con, buf = _console(terminal)
        with progress_line(con, "report", quiet=quiet) as step:
            step("22 figures")
            time.sleep(0.25)
        assert "figures" not in buf.getvalue(), (terminal, quiet)


def test_analysis_reports_each_section_it_runs_in_plan_order():
    s = synthesize(n_patients=200, n_centers=2, seed=3)
    elig = pd.DataFrame({"patient_id": s.latent["patient_id"].astype("str"), "eligible": s.latent["eligible"].astype(bool)})
    ds = derive_datasets(s.tables, s.truth["data_cut"], eligibility=elig)
    seen: list[str] = []
    wanted = ["baseline", "response", "survival"]
    res = run_analysis(ds, AnalysisOptions(imputations=2, imputation_iterations=2, prognostic_bootstrap=5),
                       sections=wanted, progress=seen.append)
    in_order = [k for k in SECTIONS if k in wanted]
    assert seen == [f"{k} ({i}/3)" for i, k in enumerate(in_order, 1)]
    assert list(res.sections) == in_order


def test_derive_reports_its_steps(tmp_path):
    from latc.pipeline import derive_path
    from latc.synth import write_synthetic_study

    syn = write_synthetic_study(tmp_path / "s", n_patients=40, n_centers=2, seed=7)
    seen: list[str] = []
    derive_path(syn.study_path, tmp_path / "out", progress=seen.append)
    assert seen == ["reading the study", "validating", "deriving the datasets", "writing derived/"]
    seen.clear()
    derive_path(tmp_path / "out", tmp_path / "out2", progress=seen.append)  # the validated folder
    assert seen == ["reading the validated tables", "deriving the datasets", "writing derived/"]


def test_an_error_line_masks_an_identifier_it_quotes(tmp_path):
    """A command's one-line error quotes what the user gave (a path, a value); an email or phone
    number in it is masked as in the query log (tester, 2026-12-05)."""
    from typer.testing import CliRunner

    from latc.cli import app

    r = CliRunner().invoke(app, ["derive", str(tmp_path / "jane.doe@hospital.org"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "not found" in r.output and "<masked>" in r.output and "jane.doe" not in r.output

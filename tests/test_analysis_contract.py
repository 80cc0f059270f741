"""The analysis → report contract: declared table schemas, curve tables, a report that computes nothing.

* every table the plan writes has a declared schema (``latc.analysis.SCHEMAS``), and every
  declared schema is written on a full synthetic run (no stale declaration);
* ``check_table`` refuses an undeclared column or a value of another kind, and writes a declared
  column the data could not fill as empty; ``conform`` refuses a read-back CSV with a missing or
  mistyped column, naming the file and the column, and types what it reads;
* the curves the report draws are the analysis's own: ``KMResult.from_table`` /
  ``CIFResult.from_table`` on the written CSVs give the same survival, numbers at risk and
  cumulative incidence as the fitted objects;
* ``latc.report`` imports no estimating function of ``latc.stats`` (checked on the source);
* an edited CSV, or an analysis folder written by an older latc, is a one-line ``ReportInputError``.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.analysis import SCHEMAS, AnalysisContractError, check_table, conform
from latc.report._inputs import ReportInputError, find_inputs
from latc.stats import CIFResult, KMResult, cumulative_incidence, kaplan_meier
from test_report_data import pipeline_run

SRC = Path(__file__).resolve().parents[1] / "src" / "latc"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return pipeline_run(tmp_path_factory.mktemp("contract"), 300, seed=20261204, n_centers=4)


def _listed(run: Path) -> dict[str, dict]:
    idx = json.loads((run / "analysis" / "results.json").read_text(encoding="utf-8"))
    return {f"{s}/{t['name']}": t for s, sec in idx["sections"].items() for t in sec["tables"]}


def test_every_written_table_is_declared_and_every_declaration_is_written(run):
    listed = _listed(run)
    assert sorted(set(listed) - set(SCHEMAS)) == []
    # a declared table not written must be one the run says it could not compute (a stale
    # declaration would show here); at 300 patients that is the prognostic section only
    idx = json.loads((run / "analysis" / "results.json").read_text(encoding="utf-8"))
    skipped = {s for s, sec in idx["sections"].items() if sec["reason"]}
    assert sorted(k for k in set(SCHEMAS) - set(listed) if k.split("/")[0] not in skipped) == []
    assert skipped <= {"prognostic"}
    for key, entry in listed.items():
        csv = pd.read_csv(run / "analysis" / entry["file"], nrows=0)
        assert list(csv.columns) == SCHEMAS[key].names, key   # written in the declared order
        assert [c["name"] for c in entry["schema"]] == SCHEMAS[key].names


def test_the_curve_tables_are_written(run):
    listed = _listed(run)
    for key in ("survival/km_curves", "comparative/km_curves", "competing/cif_curves", "survival/follow_up",
                "comparative/logrank"):
        assert key in listed and listed[key]["rows"] > 0, key
    curves = pd.read_csv(run / "analysis" / "survival" / "km_curves.csv")
    overall = curves[curves["factor"].eq("overall")]
    assert set(overall["endpoint"]) == {"OS", "EFS"} and set(overall["group"]) == {"all"}


def test_check_table_refuses_undeclared_and_mistyped_columns_and_fills_absent_ones():
    key = "comparative/evalues"
    good = pd.DataFrame({"endpoint": ["recurrence"], "analysis": ["iptw_ate"], "hr": [0.56], "lower": [0.41],
                         "upper": [0.78], "evalue_point": [2.97], "evalue_ci": [1.88], "primary": [True]})
    assert list(check_table("comparative", "evalues", good).columns) == SCHEMAS[key].names
    filled = check_table("comparative", "evalues", good.drop(columns=["evalue_ci"]))
    assert list(filled.columns) == SCHEMAS[key].names and filled["evalue_ci"].isna().all()
    with pytest.raises(AnalysisContractError, match="column.s. extra not declared"):
        check_table("comparative", "evalues", good.assign(extra=1))
    with pytest.raises(AnalysisContractError, match="column hr has a non-numeric value"):
        check_table("comparative", "evalues", good.assign(hr=["0.56 (0.41-0.78)"]))
    with pytest.raises(AnalysisContractError, match="column primary is not TRUE/FALSE"):
        check_table("comparative", "evalues", good.assign(primary=["yes"]))
    with pytest.raises(AnalysisContractError, match="no declared schema"):
        check_table("comparative", "not_a_table", good)


def test_conform_types_what_it_reads_and_names_the_file_and_column():
    read = pd.DataFrame({"group": [1, 2], "cause": [1.0, 2.0], "time": [3, 4], "n_risk": [10, 9], "n_event": [1, 1],
                         "cif": [0.1, 0.2], "var": [0.01, 0.02], "std_err": [0.1, 0.14], "lower": [0.02, 0.05],
                         "upper": [0.3, 0.4], "cause_label": ["a", "b"], "follow_up_end": [9, 9]})
    t = conform("competing", "cif_curves", read)
    assert t["group"].tolist() == ["1", "2"]                  # a group code is text, as written
    assert str(t["cause"].dtype) == "Int64" and t["time"].dtype == float
    with pytest.raises(AnalysisContractError, match=r"x\.csv: column\(s\) cif missing"):
        conform("competing", "cif_curves", read.drop(columns=["cif"]), source="x.csv")
    with pytest.raises(AnalysisContractError, match="column cause has a non-integer value"):
        conform("competing", "cif_curves", read.assign(cause=[1.5, 2.0]))


def test_km_and_cif_curves_round_trip_through_their_csv(tmp_path):
    rng = np.random.default_rng(7)
    n = 120
    df = pd.DataFrame({"time": np.round(rng.exponential(20, n), 1), "event": rng.integers(0, 2, n).astype(float),
                       "cause": rng.integers(0, 3, n), "arm": rng.choice(["a", "b"], n)})
    km = kaplan_meier(df, "time", "event", group="arm")
    km.table.assign(endpoint="OS", weighting="unweighted").to_csv(tmp_path / "km.csv", index=False)
    km.medians.to_csv(tmp_path / "med.csv", index=False)
    back = KMResult.from_table(conform("comparative", "km_curves", pd.read_csv(tmp_path / "km.csv")),
                               pd.read_csv(tmp_path / "med.csv"))
    ticks = [0, 6, 12, 24, 48]
    pd.testing.assert_frame_equal(back.at(ticks), km.at(ticks), check_dtype=False)
    pd.testing.assert_frame_equal(back.risk_table(ticks), km.risk_table(ticks), check_dtype=False)
    assert back.medians["median"].tolist() == pytest.approx(km.medians["median"].tolist(), nan_ok=True)

    ci = cumulative_incidence(df, "time", "cause", group="arm")
    t = ci.table.assign(cause_label="x", follow_up_end=ci.table["group"].map(ci.last_time))
    t.to_csv(tmp_path / "cif.csv", index=False)
    back_ci = CIFResult.from_table(conform("competing", "cif_curves", pd.read_csv(tmp_path / "cif.csv")))
    assert back_ci.last_time == ci.last_time
    pd.testing.assert_frame_equal(back_ci.at(ticks)[["group", "cause", "time", "cif", "lower", "upper"]],
                                  ci.at(ticks)[["group", "cause", "time", "cif", "lower", "upper"]], check_dtype=False)


def test_the_report_imports_no_estimating_function():
    """The report formats: it may use result *types* of latc.stats (to draw a written curve) but
    no function that fits or tests anything."""
    allowed = {"KMResult", "CIFResult", "TestResult", "StatsInputError"}
    found = []
    for path in sorted((SRC / "report").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("latc.stats"):
                found += [f"{path.name}: {a.name}" for a in node.names if a.name not in allowed]
            if isinstance(node, ast.Import):
                found += [f"{path.name}: {a.name}" for a in node.names if a.name.startswith("latc.stats")]
    assert found == []


def test_an_edited_csv_or_an_old_analysis_folder_is_one_clear_error(run, tmp_path):
    copy = tmp_path / "edited"
    shutil.copytree(run / "analysis", copy / "analysis")
    hr = copy / "analysis" / "comparative" / "hazard_ratios.csv"
    pd.read_csv(hr).drop(columns=["upper"]).to_csv(hr, index=False)
    inp = find_inputs(copy)
    with pytest.raises(ReportInputError, match=r"hazard_ratios\.csv: column\(s\) upper missing"):
        inp.table("comparative", "hazard_ratios")
    assert inp.table("comparative", "evalues") is not None     # the other tables still read

    idx = copy / "analysis" / "results.json"
    d = json.loads(idx.read_text(encoding="utf-8"))
    d["latc_analysis"] = 1
    idx.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(ReportInputError, match="older latc .analysis format 1.*re-run `latc analyze`"):
        find_inputs(copy)
    for value, words in ((3, "newer latc"), ("2", "is '2', not a format number")):
        d["latc_analysis"] = value
        idx.write_text(json.dumps(d), encoding="utf-8")
        with pytest.raises(ReportInputError, match=words):
            find_inputs(copy)


def test_a_listed_table_whose_csv_is_missing_is_an_error(run, tmp_path):
    copy = tmp_path / "gone"
    shutil.copytree(run / "analysis", copy / "analysis")
    (copy / "analysis" / "comparative" / "hazard_ratios.csv").unlink()
    with pytest.raises(ReportInputError, match=r"hazard_ratios\.csv: listed in results.json but missing"):
        find_inputs(copy).table("comparative", "hazard_ratios")

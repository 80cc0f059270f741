"""Unit tests of the report's building blocks (fast; no pipeline run).

Worked cases are computed by hand in the test: completeness with a conditional field (the data
dictionary's ``show_if``), STROBE flow counting (a patient failing several criteria counted once),
estimate/CI and p-value formatting, Excel sheet names, and the PDF renderer's refusal to fetch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from latc.report import STROBE_ITEMS, ReportInputError, ReportInputs, completeness, find_inputs, flow_counts, write_pdf
from latc.report._format import NBSP, display_table, fmt_p
from latc.report._strobe import strobe_section
from latc.report._xlsx import sheet_names
from test_report_data import recording_server


def _folder(tmp_path: Path, tables: dict[str, pd.DataFrame], summary: dict | None = None,
            eligibility: pd.DataFrame | None = None) -> Path:
    (tmp_path / "validation" / "clean").mkdir(parents=True)
    (tmp_path / "derived").mkdir()
    for name, df in tables.items():
        df.to_parquet(tmp_path / "validation" / "clean" / f"{name}.parquet")
    if summary is not None:
        (tmp_path / "validation" / "summary.json").write_text(json.dumps(summary))
    if eligibility is not None:
        eligibility.to_csv(tmp_path / "validation" / "eligibility.csv", index=False)
    return tmp_path


def test_completeness_counts_conditional_fields_only_where_they_apply(tmp_path):
    """follow_up.death_date is required only when vital_status == 'dead' (dictionary show_if)."""
    from latc.dictionary import load_dictionary

    form = load_dictionary().forms["follow_up"]
    req = [f.name for f in form.fields if f.required]
    assert "death_date" in req and "vital_status" in req
    n = 4
    fu = pd.DataFrame({c: pd.Series(["x"] * n, dtype="str") for c in req})
    fu["patient_id"] = ["C01-0001", "C01-0002", "C02-0001", "C02-0002"]
    fu["center_id"] = ["C01", "C01", "C02", "C02"]
    fu["vital_status"] = ["alive", "dead", "dead", "alive"]
    fu["death_date"] = pd.Series([pd.NA, "2024-01-01", pd.NA, pd.NA], dtype="str")  # C02-0001: dead, date missing
    fu["recurrence"] = pd.array([False, False, False, False], dtype="boolean")
    for c in ("recurrence_date", "recurrence_site", "recurrence_type"):
        fu[c] = pd.Series([pd.NA] * n, dtype="str")                                  # not applicable (no recurrence)
    patients = pd.DataFrame({"patient_id": fu["patient_id"], "center_id": ["C01", "C01", "C02", "C02"]})
    folder = _folder(tmp_path, {"follow_up": fu, "patients": patients})
    c = completeness(ReportInputs(root=folder, validation_dir=folder / "validation"))
    c = c[c["form"] == "follow_up"].set_index("center_id")
    conditional = {f.name for f in form.fields if f.required and f.show_if is not None}
    always = len(req) - len(conditional)
    # per row: every unconditional field, plus death_date / cause_of_death when dead
    dead_extra = len([f for f in form.fields if f.required and f.show_if is not None and "dead" in f.show_if.source])
    assert c.loc["C01", "required_cells"] == 2 * always + dead_extra
    assert c.loc["C02", "required_cells"] == 2 * always + dead_extra
    assert c.loc["C01", "filled_cells"] == c.loc["C01", "required_cells"]          # all filled
    assert c.loc["C02", "filled_cells"] == c.loc["C02", "required_cells"] - 1      # the missing death date
    assert c.loc["C02", "percent_filled"] == pytest.approx(100 * (2 * always + dead_extra - 1) / (2 * always + dead_extra))


def test_flow_counts_each_ineligible_patient_once_under_the_first_failed_criterion(tmp_path):
    subject = pd.DataFrame({
        "patient_id": [f"C01-{i:04d}" for i in range(1, 7)],
        "cohort": ["neoadjuvant"] * 3 + ["upfront_surgery"] * 3,
        "analysis_set": [True, True, False, True, True, False],
        "response_set": [True, False, False, False, False, False],
        "operated_set": [False, False, False, True, False, False],
    })
    elig = pd.DataFrame({"patient_id": subject["patient_id"], "eligible": [True, True, False, True, True, False],
                         "failed_criteria": ["", "", "clinical_t4_n0_1;measurable_lesion", "", "", "no_prior_neck_surgery"]})
    folder = _folder(tmp_path, {}, {"patients_read": 7, "patients_clean": 6}, elig)
    subject.to_parquet(folder / "derived" / "subject.parquet")
    c = flow_counts(find_inputs(folder))
    assert c["screened"] == 7
    assert c["excluded"] == {"Patient record failed validation (quarantined)": 1,
                             "Not clinical stage T4 N0–1 at baseline": 1, "Prior thyroid or major neck surgery": 1}
    assert c["eligible"] == 4 == c["screened"] - sum(c["excluded"].values())
    assert c["cohorts"]["neoadjuvant"] == {"included": 2, "excluded": {"No dose of neoadjuvant therapy recorded": 1},
                                           "analysed": 1}
    assert c["cohorts"]["upfront_surgery"]["included"] == 2 and c["cohorts"]["upfront_surgery"]["analysed"] == 1


def test_find_inputs_names_the_folder_when_nothing_is_usable(tmp_path):
    with pytest.raises(ReportInputError, match="not found"):
        find_inputs(tmp_path / "absent")
    with pytest.raises(ReportInputError, match=str(tmp_path.name)):
        find_inputs(tmp_path)


def test_find_inputs_accepts_the_analysis_folder_itself(tmp_path):
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "results.json").write_text(json.dumps({"latc_analysis": 2, "sections": {}, "parameters": {}, "inputs": {}}))
    inp = find_inputs(tmp_path / "analysis")
    assert inp.analysis_dir == tmp_path / "analysis" and inp.derived_dir is None
    assert "the analysis has no 'survival' section" == inp.why_not("survival")


def test_estimates_and_p_values_print_as_papers_do():
    df = pd.DataFrame({"outcome": ["objective_response"], "rate": [0.529412], "lower": [0.384587], "upper": [0.6707],
                       "hr": [1.22424], "p": [0.0004]})
    d = display_table(df.drop(columns=["hr"]))
    assert d.loc[0, "% (95% CI)"] == f"52.9{NBSP}(38.5–67.1)"
    assert d.loc[0, "Outcome"] == "Objective response"
    h = display_table(pd.DataFrame({"hr": [1.22424], "lower": [0.64], "upper": [float("nan")]}))
    assert h.iloc[0, 0] == f"1.22{NBSP}(0.64–NR)"  # an upper limit not reached
    assert list(fmt_p(pd.Series([0.0004, 0.004, 0.2731, float("nan")]))) == [f"<{NBSP}0.001", "0.004", "0.27", ""]


def test_sheet_names_are_unique_and_excel_safe():
    keys = ["comparative_effective_sample_size", "comparative_effective_sample_size_2", "a/b:c", "contents"]
    names = sheet_names(keys)
    assert len(set(n.lower() for n in names)) == 4 and "contents" not in names
    assert all(len(n) <= 31 and not set(n) & set("[]*?/\\:") for n in names)


def test_strobe_checklist_marks_absent_sections_not_addressed():
    assert len(STROBE_ITEMS) == 22
    sec = strobe_section(present={"cohort", "baseline"})
    rows = {r["item"]: r for r in sec.extra["checklist"]}
    assert rows["13"]["status"] == "addressed"                     # participant flow present
    assert rows["16"]["status"] == "not addressed"                 # comparison absent in this report
    assert "section not in this report" in rows["16"]["where"]
    assert rows["22"]["status"] == "not addressed"                 # funding: the manuscript's job


def test_pdf_renderer_never_fetches_a_url(tmp_path):
    """Negative control on a local HTTP server: an <img> / stylesheet pointing at it is not requested."""
    with recording_server() as (url, hits):
        html = (f'<html><head><link rel="stylesheet" href="{url}/s.css"></head>'
                f'<body><p>x</p><img src="{url}/x.png"><div style="background: url({url}/b.png)">y</div></body></html>')
        from weasyprint import HTML

        HTML(string=html).write_pdf(tmp_path / "default.pdf")   # WeasyPrint's default fetcher does fetch …
        fetched_by_default = list(hits)
        hits.clear()
        out = write_pdf(html, tmp_path / "x.pdf")               # … the report's renderer does not
    assert fetched_by_default  # the check can fail
    assert out.read_bytes()[:5] == b"%PDF-"
    assert hits == []


def test_biomarkers_section_only_with_omics_outputs(tmp_path):
    from latc.report._methods import biomarkers_section

    assert biomarkers_section(ReportInputs(root=tmp_path)) is None
    perf = tmp_path / "omics" / "biomarkers"
    perf.mkdir(parents=True)
    pd.DataFrame({"model": ["clinical", "clinical + omics"], "metric": ["auc", "auc"], "estimate": [0.61, 0.74],
                  "lower": [0.52, 0.66], "upper": [0.70, 0.82]}).to_csv(perf / "performance.csv", index=False)
    pd.DataFrame({"feature": [f"g{i}" for i in range(100)]}).to_csv(perf / "screen.csv", index=False)
    sec = biomarkers_section(ReportInputs(root=tmp_path, omics_dir=tmp_path / "omics"))
    keys = [t.key for t in sec.tables]
    assert keys == ["omics_files", "omics_performance"]
    files = sec.tables[0].data
    assert set(files["file"]) == {"omics/biomarkers/performance.csv", "omics/biomarkers/screen.csv"}
    assert sec.tables[1].display.iloc[1]["Estimate (95% CI)"] == f"0.740{NBSP}(0.660–0.820)"

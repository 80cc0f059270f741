"""Round trips of a small hand-built study through every writer and reader.

Contract: docs/dev/CONTRACTS.md ("Raw study", "Canonical text form"): a study written as a CSV
folder, an XLSX workbook or a REDCap export reads back to identical raw tables.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import openpyxl
import pandas as pd
import pytest

from latc.dictionary import load_dictionary
from latc.io import ROW, read_study, write_study

D = load_dictionary()


def small_study() -> dict[str, pd.DataFrame]:
    """Three patients at two centers, typed the way an analysis would hold them."""
    patients = pd.DataFrame(
        {
            "patient_id": ["C01-001", "C01-002", "C02-001"],
            "center_id": ["C01", "C01", "C02"],
            "cohort": ["neoadjuvant", "upfront_surgery", "neoadjuvant"],
            "diagnosis_date": pd.to_datetime(["2021-01-02", "2021-02-15", None]),
            "treatment_decision_date": pd.to_datetime(["2021-01-20", "2021-03-01", "2022-07-09"]),
            "enrollment_date": pd.to_datetime(["2021-01-25", "2021-03-02", "2022-07-10"]),
            "age_at_diagnosis": pd.array([54, 71, None], dtype="Int64"),
            "sex": ["female", "male", "female"],
            "ecog": ["0", "1", "2"],
            "consent": pd.array([True, True, False], dtype="boolean"),
            "consent_date": pd.to_datetime(["2021-01-25", "2021-03-02", None]),
        }
    )
    labs = pd.DataFrame(
        {
            "patient_id": ["C01-001", "C01-001", "C02-001"],
            "center_id": ["C01", "C01", "C02"],
            "lab_date": pd.to_datetime(["2021-01-03", "2021-04-03", "2022-07-11"]),
            "test": ["tg", "tgab", "calcitonin"],
            "value": [12.5, 1 / 3, np.nan],
            "unit": ["ng_ml", "iu_ml", "pg_ml"],
            "below_detection": pd.array([False, None, True], dtype="boolean"),
            "upper_reference_limit": [55.0, 4.0, 10.25],
            "stimulated": pd.array([False, False, None], dtype="boolean"),
        }
    )
    lesions = pd.DataFrame(
        {
            "patient_id": ["C01-001", "C01-001"],
            "center_id": ["C01", "C01"],
            "lesion_id": ["T1 gauche — lésion", "N1 右颈"],  # unicode free text
            "site": ["thyroid", "lymph_node"],
            "lesion_role": ["target", "target"],
            "is_lymph_node": pd.array([False, True], dtype="boolean"),
            "baseline_date": pd.to_datetime(["2021-01-10", "2021-01-10"]),
            "baseline_diameter_mm": [48.0, 17.5],
            "imaging_modality": ["ct", "ct"],
        }
    )
    # a form already as strings, with values a site might send: kept exactly as found
    treatments = pd.DataFrame(
        {
            "patient_id": ["C01-001"],
            "center_id": ["C01"],
            "course_id": ["1"],
            "agent": ["lenvatinib"],
            "start_date": ["2021-13-45"],
            "start_dose": ["24"],
            "final_dose": ["012"],
        }
    )
    return {"patients": patients, "labs": labs, "lesions": lesions, "treatments": treatments}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    tables = small_study()
    write_study(tables, root / "csv", fmt="csv")
    write_study(tables, root / "study.xlsx", fmt="xlsx")
    return root


def test_csv_round_trip_gives_canonical_text(written):
    study = read_study(written / "csv")
    assert study.format == "csv"
    assert list(study.tables)[: len(D.forms)] == D.form_names
    assert study.missing_forms == []  # empty forms are written as header-only files
    assert study.read_issues == []
    p = study["patients"]
    assert list(p.columns) == D["patients"].field_names + [ROW]
    assert all(p[c].dtype == "str" for c in D["patients"].field_names)
    assert p[ROW].tolist() == [2, 3, 4]
    assert p["diagnosis_date"].tolist()[:2] == ["2021-01-02", "2021-02-15"]
    assert pd.isna(p.loc[2, "diagnosis_date"]) and pd.isna(p.loc[2, "age_at_diagnosis"])
    assert p["age_at_diagnosis"].tolist()[:2] == ["54", "71"]
    assert p["consent"].tolist() == ["1", "1", "0"]
    labs = study["labs"]
    assert labs["value"].tolist()[:2] == ["12.5", "0.333333"] and pd.isna(labs.loc[2, "value"])
    assert labs["upper_reference_limit"].tolist() == ["55", "4", "10.25"]
    assert labs["below_detection"].tolist()[0::2] == ["0", "1"]
    assert study["lesions"]["lesion_id"].tolist() == ["T1 gauche — lésion", "N1 右颈"]
    t = study["treatments"]
    assert t.loc[0, "start_date"] == "2021-13-45" and t.loc[0, "final_dose"] == "012"
    assert len(study["surgery"]) == 0 and list(study["surgery"].columns) == D["surgery"].field_names + [ROW]
    assert study.sources["patients"] == "patients.csv"


def test_xlsx_reads_back_identical_to_csv(written):
    from_csv = read_study(written / "csv")
    from_xlsx = read_study(written / "study.xlsx")
    assert from_xlsx.format == "xlsx" and from_xlsx.read_issues == []
    assert from_xlsx.sources["labs"] == "study.xlsx#labs"
    assert list(from_xlsx.tables) == list(from_csv.tables)
    for form in from_csv.tables:
        pd.testing.assert_frame_equal(from_xlsx[form], from_csv[form], obj=form)


def test_xlsx_cells_are_typed_and_header_bold_and_frozen(written):
    wb = openpyxl.load_workbook(written / "study.xlsx")
    ws = wb["patients"]
    assert ws.freeze_panes == "A2"
    assert ws["A1"].value == "patient_id" and ws["A1"].font.b
    col = {c.value: c.column_letter for c in ws[1]}
    assert ws[f"{col['diagnosis_date']}2"].value == dt.datetime(2021, 1, 2)  # a real Excel date
    assert ws[f"{col['diagnosis_date']}2"].number_format == "yyyy-mm-dd"
    assert ws[f"{col['age_at_diagnosis']}2"].value == 54
    assert ws[f"{col['ecog']}2"].value == "0"  # choice codes stay text
    tr = wb["treatments"]
    tcol = {c.value: c.column_letter for c in tr[1]}
    assert tr[f"{tcol['start_date']}2"].value == "2021-13-45"  # not a date: text as found
    assert tr[f"{tcol['final_dose']}2"].value == "012"  # not canonical: text, so it reads back the same
    labs = wb["labs"]
    lcol = {c.value: c.column_letter for c in labs[1]}
    assert labs[f"{lcol['value']}2"].value == 12.5


def test_three_way_csv_xlsx_redcap(written, tmp_path):
    pytest.importorskip("latc.io.redcap")
    tables = small_study()
    write_study(tables, tmp_path / "redcap", fmt="redcap")
    from_csv = read_study(written / "csv")
    from_redcap = read_study(tmp_path / "redcap")
    from_xlsx = read_study(written / "study.xlsx")
    assert from_redcap.format == "redcap"
    for form in D.forms:
        a = from_csv[form].drop(columns=ROW)
        pd.testing.assert_frame_equal(from_redcap[form].drop(columns=ROW), a, obj=f"redcap {form}")
        pd.testing.assert_frame_equal(from_xlsx[form].drop(columns=ROW), a, obj=f"xlsx {form}")


def test_rewriting_a_read_study_is_stable(written, tmp_path):
    first = read_study(written / "csv")
    write_study(first.tables, tmp_path / "again")
    again = read_study(tmp_path / "again")
    for form in D.forms:
        pd.testing.assert_frame_equal(again[form], first[form], obj=form)
    assert (tmp_path / "again" / "patients.csv").read_bytes() == (written / "csv" / "patients.csv").read_bytes()

"""Reading CSV folders and workbooks with imperfect content: never fatal, every problem reported.

Contract: docs/dev/CONTRACTS.md ("Raw study"); rules listed in latc/io/_read.py.
"""

from __future__ import annotations

import datetime as dt

import openpyxl
import pandas as pd
import pytest

from latc.dictionary import load_dictionary
from latc.io import ROW, read_study

D = load_dictionary()
HEADER = "patient_id,center_id,cohort,age_at_diagnosis,consent"


def _study(tmp_path, files: dict[str, bytes | str]):
    folder = tmp_path / "study"
    folder.mkdir()
    for name, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return read_study(folder)


def _rules(study, form="patients"):
    return sorted((i["rule"], i["severity"], i["row"], i["field"]) for i in study.read_issues if i["form"] == form)


def test_cells_are_text_as_found(tmp_path):
    s = _study(tmp_path, {"patients.csv": HEADER + "\n C01-001 ,C01,neoadjuvant,007,1\nC01-002,C01,NA,54.50,maybe\n"})
    p = s["patients"]
    assert p["patient_id"].tolist() == ["C01-001", "C01-002"]  # whitespace stripped
    assert p["age_at_diagnosis"].tolist() == ["007", "54.50"]  # no type inference
    assert p["cohort"].tolist() == ["neoadjuvant", "NA"]  # 'NA' is a value for validation to query
    assert p["consent"].tolist() == ["1", "maybe"]
    assert pd.isna(p.loc[0, "sex"])


def test_yesno_words_become_codes(tmp_path):
    s = _study(tmp_path, {"patients.csv": HEADER + "\nC01-001,C01,,,Yes\nC01-002,C01,,,FALSE\nC01-003,C01,,,no\nC01-004,C01,,,true\n"})
    assert s["patients"]["consent"].tolist() == ["1", "0", "0", "1"]


def test_utf8_bom_is_read_silently(tmp_path):
    s = _study(tmp_path, {"patients.csv": b"\xef\xbb\xbf" + (HEADER + "\nC01-001,C01,,,1\n").encode()})
    assert s["patients"]["patient_id"].tolist() == ["C01-001"]
    assert s.read_issues == [i for i in s.read_issues if i["rule"] in ("missing_column", "missing_form")]


def test_semicolon_delimiter(tmp_path):
    s = _study(tmp_path, {"patients.csv": HEADER.replace(",", ";") + "\nC01-001;C01;neoadjuvant;54;1\n"})
    assert s["patients"].loc[0, "cohort"] == "neoadjuvant" and s["patients"].loc[0, "age_at_diagnosis"] == "54"
    assert ("csv_delimiter", "warning", None, None) in _rules(s)


def test_tab_delimiter(tmp_path):
    s = _study(tmp_path, {"patients.csv": HEADER.replace(",", "\t") + "\nC01-001\tC01\tneoadjuvant\t54\t1\n"})
    assert s["patients"].loc[0, "age_at_diagnosis"] == "54"


def test_latin1_file(tmp_path):
    content = "patient_id,center_id,lesion_id\nC01-001,C01,lésion près du côté\n".encode("latin-1")
    s = _study(tmp_path, {"lesions.csv": content})
    assert s["lesions"].loc[0, "lesion_id"] == "lésion près du côté"
    enc = [i for i in s.read_issues if i["rule"] == "file_encoding"]
    assert len(enc) == 1 and enc[0]["form"] == "lesions" and "lesions.csv" in enc[0]["message"]


def test_ragged_rows(tmp_path):
    s = _study(tmp_path, {"patients.csv": HEADER + "\nC01-001,C01,neoadjuvant,54,1\nC01-002,C01,upfront_surgery,6,1,extra,more\nC01-003,C01\n"})
    p = s["patients"]
    assert p[ROW].tolist() == [2, 3, 4]
    assert p.loc[1, "consent"] == "1"  # the first cells are kept
    assert p.loc[1, "_extra_cells"] == "extra,more" and pd.isna(p.loc[0, "_extra_cells"])  # and the others too
    assert pd.isna(p.loc[2, "cohort"]) and p.loc[2, "center_id"] == "C01"  # short row padded
    rules = _rules(s)
    assert ("ragged_row", "error", 3, "_extra_cells") in rules
    assert ("ragged_row", "warning", 4, None) in rules
    msg = next(i["message"] for i in s.read_issues if i["rule"] == "ragged_row" and i["row"] == 3)
    assert "patients.csv row 3" in msg and "\n" not in msg


def test_ragged_row_numbered_after_multiline_value_and_blank_lines(tmp_path):
    content = "patient_id,center_id,lesion_id\nC01-001,C01,\"two\nlines\"\n\nC01-002,C01,x,y\nC01-003,C01,z\n"
    s = _study(tmp_path, {"lesions.csv": content})
    t = s["lesions"]
    # rows as a spreadsheet shows them: header 1, multi-line record 2, blank 3, ragged 4, last 5
    assert t[ROW].tolist() == [2, 4, 5]
    assert t.loc[0, "lesion_id"] == "two\nlines"
    assert ("ragged_row", "error", 4, "_extra_cells") in _rules(s, "lesions")
    assert ("blank_rows", "warning", 3, None) in _rules(s, "lesions")


def test_blank_lines_keep_row_numbers(tmp_path):
    s = _study(tmp_path, {"patients.csv": HEADER + "\nC01-001,C01,,,\n\n,,,,\nC01-002,C01,,,\n\n\n"})
    assert s["patients"][ROW].tolist() == [2, 5]
    blank = [i for i in s.read_issues if i["rule"] == "blank_rows"]
    assert len(blank) == 1 and blank[0]["row"] == 3 and "2 blank row(s)" in blank[0]["message"]


def test_extra_and_missing_columns(tmp_path):
    s = _study(tmp_path, {"patients.csv": "Patient_ID,center_id,hospital_ward\nC01-001,C01,B2\n"})
    p = s["patients"]
    assert list(p.columns) == D["patients"].field_names + ["hospital_ward", ROW]  # header case ignored
    assert p.loc[0, "hospital_ward"] == "B2"
    assert p["cohort"].isna().all() and p["cohort"].dtype == "str"
    rules = _rules(s)
    assert ("unknown_column", "warning", None, "hospital_ward") in rules
    assert ("missing_column", "warning", None, "cohort") in rules
    assert not any(r[3] in ("patient_id", "center_id") for r in rules)


def test_duplicate_column(tmp_path):
    s = _study(tmp_path, {"patients.csv": "patient_id,center_id,center_id\nC01-001,C01,C09\n"})
    p = s["patients"]
    assert p.loc[0, "center_id"] == "C01" and p.loc[0, "center_id.2"] == "C09"
    assert ("duplicate_column", "warning", None, "center_id") in _rules(s)


def test_missing_form_file_and_unknown_file(tmp_path):
    s = _study(tmp_path, {"patients.csv": HEADER + "\nC01-001,C01,,,\n", "notes.csv": "a\n1\n"})
    assert set(s.missing_forms) == set(D.form_names) - {"patients"}
    assert list(s["labs"].columns) == D["labs"].field_names + [ROW] and len(s["labs"]) == 0
    missing = [i for i in s.read_issues if i["rule"] == "missing_form"]
    assert {i["form"] for i in missing} == set(s.missing_forms)
    assert s.sources["labs"] == "labs.csv"
    assert any(i["rule"] == "unknown_form" and i["form"] == "notes" for i in s.read_issues)


def test_empty_form_file_is_a_missing_form(tmp_path):
    s = _study(tmp_path, {"patients.csv": HEADER + "\nC01-001,C01,,,\n", "labs.csv": b""})
    assert "labs" in s.missing_forms and len(s["labs"]) == 0


def test_user_made_workbook(tmp_path):
    """A workbook typed by hand in Excel: typed cells become canonical text."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Patients"  # differs only in case: accepted
    ws.append(["patient_id", "center_id", "diagnosis_date", "age_at_diagnosis", "consent", "Remark"])
    ws.append(["C01-001", "C01", dt.datetime(2021, 1, 2, 9, 30), 61.0, True, dt.datetime(2021, 5, 6, 7, 8, 9)])
    ws.append([])
    ws.append(["C01-002", "C01", "02/01/2021", 47, "No", 0.1 + 0.2])
    notes = wb.create_sheet("Notes")
    notes["A1"] = "free text"
    wb.create_sheet("Sheet2")  # empty: ignored silently
    path = tmp_path / "site.xlsx"
    wb.save(path)
    s = read_study(path)
    p = s["patients"]
    assert p[ROW].tolist() == [2, 4]
    assert p["diagnosis_date"].tolist() == ["2021-01-02", "02/01/2021"]  # a date field keeps the date
    assert p["age_at_diagnosis"].tolist() == ["61", "47"]
    assert p["consent"].tolist() == ["1", "0"]
    assert p["Remark"].tolist() == ["2021-05-06 07:08:09", "0.3"]
    assert s.sources["patients"] == "site.xlsx#Patients"
    rules = [(i["rule"], i["form"]) for i in s.read_issues]
    assert ("unknown_form", "Notes") in rules and ("unknown_form", "Sheet2") not in rules
    assert ("blank_rows", "patients") in rules
    assert ("unknown_column", "patients") in rules


@pytest.mark.parametrize("encoding", ["utf-16"])
def test_utf16_file(tmp_path, encoding):
    s = _study(tmp_path, {"patients.csv": (HEADER + "\nC01-001,C01,,,1\n").encode(encoding)})
    assert s["patients"]["patient_id"].tolist() == ["C01-001"]
    assert any(i["rule"] == "file_encoding" for i in s.read_issues)


def test_unclosed_quote_is_reported_on_the_row_that_swallows_the_rest(tmp_path):
    content = "patient_id,center_id,cohort\nC01-001,C01,neoadjuvant\nC01-002,C01,\"neoadjuvant\nC01-003,C01,neoadjuvant\n"
    s = _study(tmp_path, {"patients.csv": content})
    assert s["patients"][ROW].tolist() == [2, 3]
    assert ("unclosed_quote", "error", 3, None) in _rules(s)

"""Canonical text form and the CSV writer (docs/dev/CONTRACTS.md, "Canonical text form")."""

from __future__ import annotations

import numpy as np
import pandas as pd

from latc.dictionary import load_dictionary
from latc.io import to_canonical_text, write_study

D = load_dictionary()


def test_canonical_text_of_typed_columns():
    t = pd.DataFrame(
        {
            "patient_id": ["C01-001", "C01-002", None],
            "diagnosis_date": pd.to_datetime(["2021-01-02", None, "2022-03-04 10:30"], format="ISO8601"),
            "age_at_diagnosis": pd.array([54, None, 33], dtype="Int64"),
            "consent": pd.array([True, False, None], dtype="boolean"),
            "ecog": [0, 1, 2],
            "score": [1.5, 2.0, np.nan],
            "ratio": [1 / 3, -1e-9, 12.50],
        }
    )
    out = to_canonical_text(t, D["patients"])
    assert all(out[c].dtype == "str" for c in out.columns)
    # dictionary fields first, in dictionary order; extra columns after
    assert list(out.columns) == ["patient_id", "diagnosis_date", "age_at_diagnosis", "ecog", "consent", "score", "ratio"]
    assert out["diagnosis_date"].tolist()[0] == "2021-01-02"
    assert pd.isna(out["diagnosis_date"][1])
    # a date field drops the time of day
    assert out["diagnosis_date"][2] == "2022-03-04"
    assert out["age_at_diagnosis"].tolist()[::2] == ["54", "33"] and pd.isna(out["age_at_diagnosis"][1])
    assert out["consent"].tolist()[:2] == ["1", "0"] and pd.isna(out["consent"][2])
    assert out["ecog"].tolist() == ["0", "1", "2"]
    assert out["score"].tolist()[:2] == ["1.5", "2"] and pd.isna(out["score"][2])
    assert out["ratio"].tolist() == ["0.333333", "0", "12.5"]


def test_strings_pass_through_unchanged():
    t = pd.DataFrame({"diagnosis_date": ["2021-13-45", "01/02/2021"], "age_at_diagnosis": ["012", "abc"]})
    out = to_canonical_text(t, D["patients"])
    assert out["diagnosis_date"].tolist() == ["2021-13-45", "01/02/2021"]
    assert out["age_at_diagnosis"].tolist() == ["012", "abc"]


def test_object_column_of_mixed_python_values():
    import datetime as dt

    t = pd.DataFrame({"x": [dt.date(2020, 5, 6), True, 3, 2.25, None, "text"]})
    assert to_canonical_text(t)["x"].tolist()[:4] == ["2020-05-06", "1", "3", "2.25"]


def test_write_csv_folder_one_file_per_form(tmp_path):
    patients = pd.DataFrame(
        {
            "cohort": ["neoadjuvant", "upfront_surgery"],
            "patient_id": ["C01-001", "C01-002"],
            "note": ['says "hi", twice', "é ü 中"],
            "age_at_diagnosis": [61.0, np.nan],
        }
    )
    out = write_study({"patients": patients}, tmp_path / "study")
    files = sorted(p.stem for p in out.glob("*.csv"))
    assert files == sorted(D.form_names)
    lines = (out / "patients.csv").read_bytes().decode("utf-8").split("\n")
    assert lines[0] == ",".join(D["patients"].field_names + ["note"])
    assert lines[1].startswith("C01-001,,neoadjuvant,")
    assert lines[1].endswith(',61,,,,,"says ""hi"", twice"')
    assert lines[2].endswith(",é ü 中")
    assert lines[3] == "" and len(lines) == 4
    # forms without a table: header only
    assert (out / "labs.csv").read_text(encoding="utf-8") == ",".join(D["labs"].field_names) + "\n"


def test_nullable_float_categorical_and_timezone_columns():
    t = pd.DataFrame(
        {
            "a": pd.array([2.5, None, 3.0], dtype="Float64"),
            "b": pd.Categorical(["tg", None, "tsh"]),
            "c": pd.to_datetime(["2021-01-02 00:00", None, "2021-01-03 00:00"]).tz_localize("UTC"),
        }
    )
    out = to_canonical_text(t)
    assert out["a"].tolist()[0::2] == ["2.5", "3"] and pd.isna(out["a"][1])
    assert out["b"].tolist()[0::2] == ["tg", "tsh"] and pd.isna(out["b"][1])
    assert out["c"].tolist()[0::2] == ["2021-01-02", "2021-01-03"]


def test_xlsx_refuses_more_rows_than_a_sheet_holds(tmp_path, monkeypatch):
    import pytest

    from latc.io import _xlsx

    monkeypatch.setattr(_xlsx, "MAX_SHEET_ROWS", 3)
    labs = pd.DataFrame({"patient_id": ["C01-001"] * 3})
    with pytest.raises(ValueError, match="labs"):
        write_study({"labs": labs}, tmp_path / "s.xlsx", fmt="xlsx")


def test_unknown_format_is_refused(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="parquet"):
        write_study({}, tmp_path / "x", fmt="parquet")

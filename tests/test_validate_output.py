"""write_validation outputs, the summary and the ``latc validate`` command."""

from __future__ import annotations

import json
import re

import pandas as pd
from rich.console import Console
from typer.testing import CliRunner

from latc.cli import app
from latc.io import write_study
from latc.validate import QUERY_FILE_COLUMNS, validate_study, write_validation
from test_validate_fixtures import DATA_CUT, edit, make_study, valid_rows


def test_write_validation_files(tmp_path):
    r = validate_study(edit("labs", 1, value="-3"), data_cut=DATA_CUT)
    out = write_validation(r, tmp_path / "v")
    q = pd.read_csv(out / "queries.csv")
    assert q.columns.tolist() == QUERY_FILE_COLUMNS
    assert q["rule"].tolist() == ["range"] and q["status"].tolist() == ["open"]
    qid = q["query_id"].iloc[0]
    assert re.fullmatch(r"Q[0-9a-f]{12}", qid)
    # one file per center, named by the (pseudonymous, pattern-checked) center id
    assert pd.read_csv(out / "queries_by_center" / f"{q['center_id'].iloc[0]}.csv")["query_id"].tolist() == [qid]
    # re-validating the same data gives the same id
    write_validation(validate_study(edit("labs", 1, value="-3"), data_cut=DATA_CUT), out)
    assert pd.read_csv(out / "queries.csv")["query_id"].tolist() == [qid]
    assert sorted(p.name for p in (out / "quarantine").iterdir()) == ["README.txt", "labs.csv"]
    ql = pd.read_csv(out / "quarantine" / "labs.csv", dtype=str)
    assert ql["_row"].tolist() == ["3"] and ql["quarantine_reason"].tolist() == ["range"]
    clean = pd.read_parquet(out / "clean" / "labs.parquet")
    assert len(clean) == 2 and str(clean["lab_date"].dtype).startswith("datetime64")
    csv = pd.read_csv(out / "clean" / "patients.csv", dtype=str)
    assert csv["diagnosis_date"].iloc[0] == "2022-01-10" and csv["consent"].iloc[0] == "1"
    assert {p.stem for p in (out / "clean").glob("*.parquet")} == set(r.clean)
    e = pd.read_csv(out / "eligibility.csv")
    assert e["patient_id"].tolist() == ["C01-0001", "C02-0001"]
    s = json.loads((out / "summary.json").read_text())
    assert s["queries_error"] == 1 and s["rows_quarantined"] == 1 and s["by_form"]["labs"]["quarantined"] == 1
    # a second run with a clean study removes the stale quarantine file
    write_validation(validate_study(make_study(), data_cut=DATA_CUT), out)
    assert sorted(p.name for p in (out / "quarantine").iterdir()) == ["README.txt"]
    # ... and keeps the corrected problem in the log as resolved, with the date it was first seen
    q2 = pd.read_csv(out / "queries.csv", dtype=str)
    assert q2[["query_id", "status"]].values.tolist() == [[qid, "resolved"]]
    assert q2["first_seen"].iloc[0] == q["first_seen"].iloc[0]


def test_counts_add_up():
    rows = valid_rows()
    rows["labs"].append(dict(rows["labs"][0]))
    study = make_study(rows)
    r = validate_study(study, data_cut=DATA_CUT)
    c = r.counts()
    assert c["rows_read"] == sum(len(t) for t in study.tables.values())
    assert c["rows_read"] == c["rows_clean"] + c["rows_quarantined"]
    assert c["queries"] == c["queries_error"] + c["queries_warning"] == 1
    assert c["patients_clean"] == 2 and c["patients_eligible"] == 2


def test_summary_table_renders_on_one_screen():
    r = validate_study(edit("patients", 0, age_at_diagnosis="99", ecog="x"), data_cut=DATA_CUT)
    console = Console(record=True, width=120)
    console.print(r.summary_table())
    text = console.export_text()
    assert "patients" in text and "soft_range" in text and "value_set" in text and "C01" in text
    assert len(text.splitlines()) < 50


def test_cli_validate_writes_outputs(tmp_path):
    rows = valid_rows()
    rows["labs"][1]["value"] = "lots"
    study = make_study(rows)
    folder = write_study({f: t.drop(columns="_row") for f, t in study.tables.items()}, tmp_path / "study")
    res = CliRunner().invoke(app, ["validate", str(folder), "--out", str(tmp_path / "v"), "--data-cut", "2026-06-30"])
    assert res.exit_code == 0, res.output
    q = pd.read_csv(tmp_path / "v" / "queries.csv")
    assert q["rule"].tolist() == ["type"] and q["row"].tolist() == [3]
    assert q["message"].iloc[0].startswith("labs.csv row 3, field value: lots")
    assert "queries.csv" in res.output.replace("\n", "")


def test_cli_validate_unreadable_input_is_one_line(tmp_path):
    res = CliRunner().invoke(app, ["validate", str(tmp_path / "nope"), "--out", str(tmp_path / "v")])
    assert res.exit_code == 2
    assert "Traceback" not in res.output


def test_cli_validate_bad_data_cut(tmp_path):
    res = CliRunner().invoke(app, ["validate", str(tmp_path), "--out", str(tmp_path / "v"), "--data-cut", "30.06.2026"])
    assert res.exit_code == 2

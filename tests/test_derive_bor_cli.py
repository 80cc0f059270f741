"""`latc recist bor` end to end (typer CliRunner, the real command, real files)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from latc.cli import app

runner = CliRunner()
DATA = Path(__file__).parent / "data" / "recist"
OUT_COLUMNS = [
    "patient_id",
    "best_overall_response",
    "best_overall_response_date",
    "confirmed_best_overall_response",
    "confirmed_best_overall_response_date",
]


def _run(*args: str):
    return runner.invoke(app, ["recist", "bor", *args])


def test_admiralonco_files_end_to_end(tmp_path):
    """The admiralonco test data through the command, with ref_start_window = ref_confirm = 28.
    Expected confirmed BOR = test-derive_param_confirmed_bor.R Test 1; unconfirmed BOR of
    subjects 1-8 = test-derive_param_bor.R expected_01 (subject 9: PD 2020-02-16, then the cut)."""
    out = tmp_path / "out" / "bor.csv"
    res = _run(
        "--responses", str(DATA / "admiralonco_adrs.csv"), "--reference", str(DATA / "admiralonco_adsl.csv"),
        "--confirm-days", "28", "--sd-min-days", "28", "--out", str(out),
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(table.columns) == OUT_COLUMNS
    got = {r.patient_id: (r.confirmed_best_overall_response, r.confirmed_best_overall_response_date) for r in table.itertuples()}
    assert got == {
        "1": ("CR", "2020-02-01"),
        "2": ("SD", "2020-02-01"),
        "3": ("SD", "2020-01-01"),
        "4": ("SD", "2020-03-01"),
        "5": ("NON-CR/NON-PD", "2020-05-15"),
        "6": ("SD", "2020-03-30"),
        "7": ("NE", "2020-02-06"),
        "8": ("MISSING", ""),
        "9": ("PD", "2020-02-16"),
    }
    unconf = {r.patient_id: (r.best_overall_response, r.best_overall_response_date) for r in table.itertuples()}
    assert unconf["2"] == ("CR", "2020-03-13") and unconf["8"] == ("MISSING", "") and unconf["9"] == ("PD", "2020-02-16")
    # the CR → PR of subject 6 is reported as admiralonco's signal_crpr warning, rows kept
    assert "patient 6: CR on 2020-02-16 followed by PR on 2020-03-30" in res.stderr
    assert "9 patients" in res.stdout


def test_defaults_are_28_and_42_days(tmp_path):
    """Without options: confirmation 28 days, SD 42 days after the reference date."""
    (tmp_path / "r.csv").write_text(
        "patient_id,assessment_date,overall_response\n"
        "A,2024-02-11,SD\n"  # day 41 → NE
        "B,2024-02-12,SD\n"  # day 42 → SD
        "C,2024-03-01,PR\n"
        "C,2024-03-29,PR\n"  # 28 days → confirmed
        "D,2024-03-01,PR\n"
        "D,2024-03-28,PR\n",  # 27 days → not confirmed → SD
        encoding="utf-8",
    )
    (tmp_path / "ref.csv").write_text("patient_id,reference_date\nA,2024-01-01\nB,2024-01-01\nC,2024-01-01\nD,2024-01-01\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    res = _run("--responses", str(tmp_path / "r.csv"), "--reference", str(tmp_path / "ref.csv"), "--out", str(out))
    assert res.exit_code == 0, res.output
    t = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("patient_id")
    assert t["best_overall_response"].to_dict() == {"A": "NE", "B": "SD", "C": "PR", "D": "PR"}
    assert t["confirmed_best_overall_response"].to_dict() == {"A": "NE", "B": "SD", "C": "PR", "D": "SD"}


def test_bad_rows_are_reported_and_skipped(tmp_path):
    (tmp_path / "R.csv").write_text(
        "patient_id,assessment_date,overall_response\n"
        "P1,2024-03-01,PR\n"          # row 2 ok
        "P1,2024-04-02,pr\n"          # row 3 ok (case-insensitive)
        "P2,2024-02-30,PR\n"          # row 4: not a calendar date
        "P2,2024-03-01,iCR\n"         # row 5: unknown response code
        "P3,2024-03-01,SD\n"          # row 6: patient not in REF
        "P1,2024-03-01,SD\n"          # row 7: second response same date
        "P4,2024-03-01,NON_CR_NON_PD\n"  # row 8 ok (dictionary code)
        ",2024-03-01,SD\n",           # row 9: no patient
        encoding="utf-8",
    )
    (tmp_path / "REF.csv").write_text(
        "patient_id,reference_date\nP1,2024-01-01\nP2,2024-01-01\nP4,2024-01-01\nP5,01/01/2024\n", encoding="utf-8"
    )
    out = tmp_path / "OUT.csv"
    res = _run("--responses", str(tmp_path / "R.csv"), "--reference", str(tmp_path / "REF.csv"), "--out", str(out))
    assert res.exit_code == 0, res.output
    err = res.stderr
    assert "R.csv row 4 (patient P2), field assessment_date = '2024-02-30'" in err and "[rule date_format]" in err
    assert "R.csv row 5 (patient P2), field overall_response = 'iCR'" in err and "[rule response_code]" in err
    assert "R.csv row 6 (patient P3), field patient_id = 'P3'" in err and "[rule patient_in_reference]" in err
    assert "R.csv row 7 (patient P1)" in err and "[rule duplicate]" in err
    assert "R.csv row 9" in err and "[rule required]" in err
    assert "REF.csv row 5 (patient P5), field reference_date = '01/01/2024'" in err
    for ok_row in ("row 2 ", "row 3 ", "row 8 "):
        assert f"R.csv {ok_row}" not in err
    assert "6 input row(s) skipped" in res.stdout
    t = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("patient_id")
    assert list(t.index) == ["P1", "P2", "P4"]  # one row per usable REF patient
    assert t.loc["P1", "confirmed_best_overall_response"] == "PR"  # 2024-03-01 PR confirmed on 04-02
    assert t.loc["P2", "best_overall_response"] == "MISSING"  # both its rows were skipped
    assert t.loc["P4", "best_overall_response"] == "NON-CR/NON-PD"


def test_missing_column_exits_2_with_one_line(tmp_path):
    (tmp_path / "R.csv").write_text("patient_id,date,overall_response\nP1,2024-03-01,PR\n", encoding="utf-8")
    shutil.copy(DATA / "admiralonco_adsl.csv", tmp_path / "REF.csv")
    res = _run("--responses", str(tmp_path / "R.csv"), "--reference", str(tmp_path / "REF.csv"), "--out", str(tmp_path / "o.csv"))
    assert res.exit_code == 2
    assert "missing column(s) assessment_date" in res.stderr
    assert "R.csv" in res.stderr
    assert "Traceback" not in res.output and "Traceback" not in res.stderr
    assert not (tmp_path / "o.csv").exists()


def test_unreadable_file_exits_2(tmp_path):
    (tmp_path / "R.csv").write_bytes(b"\xff\xfe\x00\x00garbage\x00\n\x81\x82")
    res = _run("--responses", str(tmp_path / "R.csv"), "--reference", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o.csv"))
    assert res.exit_code == 2
    assert "error:" in res.stderr and "Traceback" not in res.stderr
    res2 = _run("--responses", str(DATA / "admiralonco_adrs.csv"), "--reference", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o.csv"))
    assert res2.exit_code == 2 and "nope.csv: file not found" in res2.stderr

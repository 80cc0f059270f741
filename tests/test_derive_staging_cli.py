"""`latc stage --input IN.csv --out OUT.csv` end to end (typer CliRunner, the real command)."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from latc.cli import app

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["stage", *args])


def test_stages_a_good_file(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(
        "histology,age,t,n,m\n"
        "papillary,54,T4b,N1b,M0\n"          # DTC < 55, M0 -> I (AJCC 8th)
        "DTC,55,T4a,N0,M0\n"                 # DTC >= 55, T4a -> III
        "Anaplastic,70,T2,N1a,M0\n"          # ATC T1-T3a N1 -> IVB
        "MTC,40,T2,N1b,M0\n"                 # MTC T1-T3 N1b -> IVA
        "mtc,40,T1a,N0,M1\n"                 # MTC M1 -> IVC
        "ptc,60,T9,N0,M0\n"                  # bad T
        "ptc,,T1a,N0,M0\n",                  # DTC without age
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    result = _run("--input", str(src), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "staged 5 of 7" in result.output
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(table.columns) == ["histology", "age", "t", "n", "m", "stage", "stage_problem"]
    assert table["stage"].tolist() == ["I", "III", "IVB", "IVA", "IVC", "", ""]
    assert table["histology"].tolist()[0] == "papillary"  # input kept as given
    assert table["stage_problem"].tolist()[:5] == [""] * 5
    assert "T9" in table["stage_problem"].iloc[5]
    assert "age" in table["stage_problem"].iloc[6]


def test_header_names_are_case_insensitive_and_extra_columns_kept(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("case,Histology,AGE,T,N,M\nA1,ftc,70,T3b,N0,M0\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = _run("--input", str(src), "--out", str(out))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, dtype=str)
    assert table.loc[0, "case"] == "A1"
    assert table.loc[0, "stage"] == "II"


def test_missing_column_exits_2_with_one_line_message(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("histology,age,t\nptc,40,T1a\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = _run("--input", str(src), "--out", str(out))
    assert result.exit_code == 2
    assert "missing column(s) n, m" in result.output
    assert "in.csv" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_unreadable_file_exits_2(tmp_path):
    result = _run("--input", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "o.csv"))
    assert result.exit_code == 2
    assert "absent.csv: file not found" in result.output
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    result = _run("--input", str(empty), "--out", str(tmp_path / "o.csv"))
    assert result.exit_code == 2
    assert "cannot be read as CSV" in result.output
    assert "Traceback" not in result.output

"""No live spreadsheet formula in any output (OWASP CSV Injection; docs/spreadsheet_safety.md).

A small synthetic study gets formula payloads in its cells — a center id
``=HYPERLINK("http://x","click")``, ``+cmd|' /C calc'!A0``, ``@SUM(1)``, ``-2+3``, full-width and
tab-led text, a formula as a column name — and a negative number in a numeric field. After
``latc run`` (one run for the module) and ``latc validate`` on the same study as an XLSX workbook:

* no ``<f>`` element in any sheet of any ``.xlsx`` written, and every text cell of ``tables.xlsx``
  a string cell (openpyxl);
* every CSV cell under the output folder that starts with a trigger character is a plain number or
  starts with ``'``;
* the payloads are still there, prefixed, not deleted; the negative number is unchanged.

Plus unit tests of :mod:`latc.io._spreadsheet` and of the study-format XLSX writer (lossless).
"""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from latc.cli import app
from latc.io._spreadsheet import (FORMULA_TRIGGERS, neutralise_formulas, neutralise_series, restore_formulas,
                                  restore_series)

TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")

HYPERLINK = '=HYPERLINK("http://x","click")'
DDE = "+cmd|' /C calc'!A0"
AT = "@SUM(1)"
MINUS = "-2+3"
WIDE = "＝1+1"
TABBED = "\t=1+1"
BAD_HEADER = "=bad()"


# ------------------------------------------------------------------------------- the helper

def test_triggers_prefixed_numbers_kept():
    s = pd.Series(["=1+1", "+A1", "-A1", "@SUM(1)", "\t=1", "\r=1", "-2+3", "-", "+", "-inf", "--5",
                   "-5", "+3.2", "-1e-3", "+.5", "-7.", "12", "1-2", "abc", "C01-0001", "a=b"], dtype="str")
    out = neutralise_series(s).tolist()
    assert out[:10] == ["'=1+1", "'+A1", "'-A1", "'@SUM(1)", "'\t=1", "'\r=1", "'-2+3", "'-", "'+", "'-inf"]
    assert out[10] == "'--5"
    assert out[11:] == ["-5", "+3.2", "-1e-3", "+.5", "-7.", "12", "1-2", "abc", "C01-0001", "a=b"]


def test_full_width_triggers():
    s = pd.Series(["＝1+1", "＋1", "－1", "＠SUM(1)", "１２"], dtype=object)
    assert neutralise_series(s).tolist() == ["'＝1+1", "'＋1", "'－1", "'＠SUM(1)", "１２"]


def test_missing_and_empty_cells_untouched():
    s = pd.Series(["=x", None, np.nan, "", pd.NA, "y"], dtype=object)
    out = neutralise_series(s)
    assert out.iloc[0] == "'=x"
    assert out.iloc[1] is None and np.isnan(out.iloc[2]) and out.iloc[3] == "" and out.iloc[4] is pd.NA
    assert out.iloc[5] == "y"
    s = pd.Series(["=x", None, ""], dtype="str")
    out = neutralise_series(s)
    assert out.iloc[0] == "'=x" and pd.isna(out.iloc[1]) and out.iloc[2] == "" and str(out.dtype) == "str"
    assert neutralise_series(pd.Series([], dtype="str")).tolist() == []
    assert neutralise_series(pd.Series([None, None], dtype=object)).tolist() == [None, None]


def test_non_text_columns_and_mixed_objects():
    frame = pd.DataFrame({
        "n": [-5.0, float("-inf")], "i": [-1, 2], "b": [True, False],
        "d": pd.to_datetime(["2020-01-01", None]), "mixed": pd.Series(["=x", -3], dtype=object),
        "cat": pd.Series(["=y", "z"], dtype="category"),
    })
    out = neutralise_formulas(frame)
    for c in ("n", "i", "b", "d"):
        assert out[c].equals(frame[c])
    assert out["mixed"].tolist() == ["'=x", -3]
    assert out["cat"].tolist() == ["'=y", "z"]
    assert frame["mixed"].tolist() == ["=x", -3]  # the input is not modified


def test_nothing_to_do_returns_the_same_frame():
    frame = pd.DataFrame({"a": ["x", "-5"], "b": [1.0, 2.0]})
    assert neutralise_formulas(frame) is frame
    assert restore_formulas(frame) is frame


def test_column_names_prefixed():
    frame = pd.DataFrame({"=bad()": ["1"], "ok": ["2"]})
    assert neutralise_formulas(frame).columns.tolist() == ["'=bad()", "ok"]
    assert restore_formulas(neutralise_formulas(frame)).columns.tolist() == ["=bad()", "ok"]


def test_restore_is_exact():
    values = ["=x", "'=x", "''=x", "'abc", "'", "-5", "'-5", "-2+3", "＠a", "\tx", "abc", "", None]
    s = pd.Series(values, dtype=object)
    n = neutralise_series(s)
    assert n.tolist()[:3] == ["'=x", "''=x", "'''=x"] and n.iloc[3] == "'abc" and n.iloc[4] == "'"
    assert restore_series(n).tolist() == values
    assert restore_series(pd.Series(values, dtype="str")).tolist()[:2] == ["=x", "=x"]  # one ' removed


def test_csv_round_trip_through_pandas(tmp_path):
    frame = pd.DataFrame({"center_id": [HYPERLINK, "C01", MINUS], "value": ["-5", DDE, AT], "x": [-1.5, 2.0, np.nan]})
    neutralise_formulas(frame).to_csv(tmp_path / "t.csv", index=False)
    with open(tmp_path / "t.csv", encoding="utf-8", newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert all(not c.startswith(TRIGGERS) or NUMBER.match(c) or c.startswith("'") for c in cells)
    back = restore_formulas(pd.read_csv(tmp_path / "t.csv", dtype={"center_id": str, "value": str}))
    pd.testing.assert_frame_equal(back, frame)


def test_large_table_is_fast():
    import time

    n = 200_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": pd.Series(rng.choice(["C01-0001", "-3", "=x", "abc", "+1.5"], n), dtype="str"),
                          "v": rng.normal(size=n), "o": pd.Series(rng.choice(["x", "@y"], n), dtype=object)})
    t0 = time.perf_counter()
    out = neutralise_formulas(frame)
    elapsed = time.perf_counter() - t0
    assert (out["id"] == "'=x").sum() == (frame["id"] == "=x").sum()
    assert (out["id"] == "-3").sum() == (frame["id"] == "-3").sum()
    assert restore_formulas(out).equals(frame)
    assert elapsed < 2.0, elapsed  # column-wise pyarrow compute, not per-cell Python


def test_triggers_constant_matches_docs():
    assert set(TRIGGERS) <= set(FORMULA_TRIGGERS)
    doc = (Path(__file__).parents[1] / "docs" / "spreadsheet_safety.md").read_text(encoding="utf-8")
    assert "restore" in doc and "'" in doc


# ------------------------------------------------------------------- study-format XLSX writer

def test_study_xlsx_writer_has_no_formula_and_round_trips(tmp_path):
    from latc.dictionary import load_dictionary
    from latc.io._xlsx import write_xlsx

    table = pd.DataFrame({"patient_id": ["C01-0001", "C01-0002", "C01-0003", "C01-0004"],
                          "center_id": [HYPERLINK, DDE, AT, MINUS],
                          "age_at_diagnosis": ["-5", "40", WIDE, TABBED]}, dtype="str")
    path = write_xlsx({"patients": table}, tmp_path / "s.xlsx", load_dictionary())
    _assert_no_formula(path)
    ws = openpyxl.load_workbook(path)["patients"]
    rows = list(ws.iter_rows(min_row=2))
    assert [r[1].value for r in rows] == [HYPERLINK, DDE, AT, MINUS]  # as given, no prefix
    assert all(r[1].data_type == "s" for r in rows)
    assert rows[0][2].value == -5 and rows[0][2].data_type == "n"  # a number stays a number


# ------------------------------------------------------------------------ end to end (CLI)

def _set(path: Path, edits: list[tuple[int, str, str]], extra: dict[str, list[str]] | None = None) -> None:
    """Edit cells of a study CSV (row index among data rows, column, value); add extra columns."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    for i, col, value in edits:
        rows[i + 1][header.index(col)] = value
    for name, values in (extra or {}).items():
        header.append(name)
        for j, r in enumerate(rows[1:]):
            r.append(values[j % len(values)])
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> tuple[Path, str]:
    """A 40-patient, 2-center synthetic study with formula payloads; returns (study folder, data cut)."""
    from latc.synth import write_synthetic_study

    root = tmp_path_factory.mktemp("formulas")
    synth = write_synthetic_study(root / "synthetic", n_patients=40, n_centers=2, seed=3)
    cut = json.loads(Path(synth.truth_path).read_text())["data_cut"]
    study = Path(synth.study_path)
    _set(study / "patients.csv", [(1, "center_id", HYPERLINK)])
    _set(study / "adverse_events.csv", [(0, "ctcae_term", DDE)])
    _set(study / "treatments.csv", [(2, "agent", AT)])
    _set(study / "labs.csv", [(3, "value", MINUS)], extra={BAD_HEADER: ["", "1"]})
    _set(study / "surgery.csv", [(0, "blood_loss_ml", "-5"), (1, "operative_time_min", "-7")],
         extra={"comment": [WIDE, TABBED, "fine", "-3"]})
    return study, cut


@pytest.fixture(scope="module")
def run_out(hostile, tmp_path_factory) -> Path:
    study, cut = hostile
    out = tmp_path_factory.mktemp("formulas_run") / "out"
    res = CliRunner().invoke(app, ["run", str(study), "--out", str(out), "--data-cut", cut])
    assert res.exit_code == 0, res.output
    assert (out / "report" / "tables.xlsx").is_file(), res.output
    return out


@pytest.fixture(scope="module")
def xlsx_validate_out(hostile, tmp_path_factory) -> Path:
    """The same study written as an XLSX workbook (study format), then `latc validate` on it."""
    from latc.dictionary import load_dictionary
    from latc.io._xlsx import write_xlsx

    study, cut = hostile
    root = tmp_path_factory.mktemp("formulas_xlsx")
    tables = {p.stem: pd.read_csv(p, dtype="str", keep_default_na=False, na_values=[""]) for p in sorted(study.glob("*.csv"))}
    book = write_xlsx(tables, root / "study.xlsx", load_dictionary())
    res = CliRunner().invoke(app, ["validate", str(book), "--out", str(root / "v"), "--data-cut", cut])
    assert res.exit_code == 0, res.output
    return root


def _assert_no_formula(path: Path) -> None:
    with zipfile.ZipFile(path) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
        assert sheets
        for n in sheets:
            xml = z.read(n).decode("utf-8")
            assert "<f>" not in xml and "<f " not in xml, f"live formula in {path.name}:{n}"


def _csv_cells(out: Path):
    for p in sorted(out.rglob("*.csv")):
        with open(p, encoding="utf-8", newline="") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    yield p, cell


def _assert_csvs_safe(out: Path) -> list[str]:
    cells = []
    for p, cell in _csv_cells(out):
        if cell.startswith(TRIGGERS):
            assert NUMBER.match(cell), f"{p.relative_to(out)}: formula-leading cell {cell[:40]!r} not neutralised"
        cells.append(cell)
    assert cells
    return cells


def test_run_xlsx_has_no_formula(run_out):
    books = sorted(run_out.rglob("*.xlsx"))
    assert run_out / "report" / "tables.xlsx" in books
    for b in books:
        _assert_no_formula(b)
    wb = openpyxl.load_workbook(run_out / "report" / "tables.xlsx")
    texts, numbers = [], 0
    for ws in wb:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, str):
                    assert c.data_type == "s", (ws.title, c.coordinate, c.value)
                    texts.append(c.value)
                elif isinstance(c.value, (int, float)) and not isinstance(c.value, bool):
                    assert c.data_type == "n"
                    numbers += 1
    assert numbers > 0
    # the hostile center id reaches the report (queries by center) as text, without the CSV prefix
    assert HYPERLINK in texts


def test_run_csvs_have_no_live_formula(run_out):
    cells = _assert_csvs_safe(run_out)
    for payload in (HYPERLINK, DDE, AT, MINUS, WIDE, BAD_HEADER):
        assert "'" + payload in cells, f"{payload!r} missing from the CSV outputs"
    # the reader trims surrounding white space, so the tab-led payload arrives as '=1+1'
    assert "'" + TABBED in cells or "'" + TABBED.strip() in cells
    assert "-5" in cells and "-7" in cells  # negative numbers stay numbers


def test_run_queries_keep_the_values(run_out):
    q = pd.read_csv(run_out / "validation" / "queries.csv", dtype=str, keep_default_na=False)
    values = set(q["value"])
    assert {"'" + HYPERLINK, "'" + DDE, "'" + AT, "'" + MINUS} <= values
    assert "-5" in values
    assert "'" + BAD_HEADER in set(q["field"])
    assert set(restore_formulas(q)["value"]) >= {HYPERLINK, DDE, AT, MINUS, "-5"}
    quarantine = pd.read_csv(run_out / "validation" / "quarantine" / "patients.csv", dtype=str, keep_default_na=False)
    assert "'" + HYPERLINK in set(quarantine["center_id"])
    labs = pd.read_csv(run_out / "validation" / "quarantine" / "labs.csv", dtype=str, keep_default_na=False)
    assert "'" + BAD_HEADER in labs.columns
    # the parquet copies keep the values exactly (validated text fields are never formula-like)
    clean_pts = pd.read_parquet(run_out / "validation" / "clean" / "patients.parquet")
    assert not clean_pts["center_id"].astype(str).str.startswith(TRIGGERS).any()


def test_run_downstream_reads_the_prefixed_csv(run_out, tmp_path):
    """`latc derive` on the validation folder reads eligibility.csv back without the prefix."""
    from latc.io import read_clean_tables

    elig = pd.read_csv(run_out / "validation" / "eligibility.csv", dtype=str)
    _, eligibility, _ = read_clean_tables(run_out / "validation")
    assert eligibility is not None and len(eligibility) == len(elig)
    assert "'" + HYPERLINK in set(elig["center_id"])  # the quarantined patient is still assessed
    assert HYPERLINK in set(eligibility["center_id"])
    assert not eligibility["center_id"].str.startswith("'", na=False).any()


def test_validate_on_xlsx_study(xlsx_validate_out):
    root = xlsx_validate_out
    _assert_no_formula(root / "study.xlsx")
    cells = _assert_csvs_safe(root / "v")
    for payload in (HYPERLINK, DDE, AT, MINUS):
        assert "'" + payload in cells
    assert "-5" in cells

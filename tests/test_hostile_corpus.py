"""The hostile corpus (tests/data/hostile/, built by make_corpus.py): `latc validate` and `latc run`
on each case, as a center's data manager would run them.

For every case: exit code 0 for data problems (2 only for an unreadable input, with a one-line
message); every input row in clean or quarantine; each planted problem in queries.csv with file,
row, field and rule; no planted identifier outside quarantine; no file written outside --out; no
live spreadsheet formula in any output.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

CORPUS = Path(__file__).parent / "data" / "hostile"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expect.json").is_file())
LATC = [sys.executable, "-m", "latc.cli"] if not shutil.which("latc", path=str(Path(sys.executable).parent)) else [
    str(Path(sys.executable).parent / "latc")]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
csv.field_size_limit(2**31 - 1)  # the huge_cell case
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _expect(case: str) -> dict:
    return json.loads((CORPUS / case / "expect.json").read_text(encoding="utf-8"))


def _materialise(case: str, root: Path) -> Path:
    """Copy the case under ``root`` (making the generated parts) and return the input path."""
    exp = _expect(case)
    shutil.copytree(CORPUS / case, root / case, ignore=shutil.ignore_patterns("expect.json"))
    src = root / case / exp["input"]
    gen = exp.get("generate")
    if gen:
        path = src / gen["file"]
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        rows[0].append(gen["column"])
        for i, r in enumerate(rows[1:], start=2):
            r.append("x" * gen["characters"] if i == gen["row"] else "")
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        path.write_text(buf.getvalue(), encoding="utf-8")
    return src


def _tree(root: Path, skip: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*")
            if p.is_file() and skip not in p.parents}


def _latc(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([*LATC, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=900)


def _input_rows(src: Path, encodings: dict[str, str]) -> dict[str, int]:
    """Rows per form counted without latc's readers (csv module / openpyxl; ``encodings``: the
    codec each non-UTF-8 file was written in, from expect.json)."""
    counts: dict[str, int] = {}
    if src.suffix == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(src, read_only=True)
        for ws in wb.worksheets:
            counts[ws.title] = sum(1 for r in ws.iter_rows(min_row=2, values_only=True) if any(v is not None for v in r))
        return counts
    if (src / "redcap_export.csv").exists():
        rows = list(csv.DictReader(io.StringIO((src / "redcap_export.csv").read_text(encoding="utf-8-sig"))))
        for r in rows:
            inst = r.get("redcap_repeat_instrument") or ""
            if inst:
                counts[inst] = counts.get(inst, 0) + 1
        return counts
    for p in src.glob("*.csv"):
        text = p.read_bytes().decode(encodings.get(p.name, "utf-8-sig"))
        counts[p.stem] = sum(1 for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)) - 1
    return counts


def _output_texts(out: Path):
    """(path, text) of every output outside quarantine/, XLSX sheets and Parquet tables included."""
    for p in sorted(out.rglob("*")):
        if not p.is_file() or "quarantine" in p.relative_to(out).parts:
            continue
        if p.suffix == ".xlsx":
            with zipfile.ZipFile(p) as z:
                yield p, "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
        elif p.suffix == ".parquet":
            yield p, pd.read_parquet(p).astype(str).to_csv(index=False)
        elif p.suffix in (".png", ".pdf", ".h5ad"):
            continue
        else:
            yield p, p.read_bytes().decode("utf-8", "replace")


def _check_formulas(out: Path) -> None:
    for p in out.rglob("*.xlsx"):
        with zipfile.ZipFile(p) as z:
            for n in z.namelist():
                if n.startswith("xl/worksheets/"):
                    assert "<f>" not in z.read(n).decode("utf-8") and "<f " not in z.read(n).decode("utf-8"), f"live formula in {p}:{n}"
    for p in out.rglob("*.csv"):
        with open(p, encoding="utf-8", newline="") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    if cell.startswith(TRIGGERS) and not NUMBER.match(cell):
                        pytest.fail(f"{p.relative_to(out)}: formula-leading cell {cell[:40]!r} not neutralised")


def _check_data_outputs(case: str, src: Path, out: Path, validation: Path, proc: subprocess.CompletedProcess) -> None:
    exp = _expect(case)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    q = pd.read_csv(validation / "queries.csv", dtype=str, keep_default_na=False)
    for e in exp["queries"]:
        hit = q[(q["form"] == e["form"]) & (q["rule"] == e["rule"]) & (q["field"] == e["field"])
                & (q["row"] == ("" if e["row"] is None else str(e["row"])))]
        assert len(hit), f"{case}: no query {e} in queries.csv"
        msg = hit["message"].iloc[0]
        assert hit["source"].iloc[0] and hit["source"].iloc[0] in msg, msg
        if e["row"] is not None:
            assert re.search(rf"\b(row|line) {e['row']}\b", msg), msg
    summary = json.loads((validation / "summary.json").read_text())
    for form, c in summary["by_form"].items():
        assert c["rows_read"] == c["clean"] + c["quarantined"], (case, form, c)
        quarantine = validation / "quarantine" / f"{form}.csv"
        if not quarantine.exists():  # a table of no dictionary form (an unknown REDCap instrument)
            quarantine = next((validation / "quarantine").glob(f"unknown_{form}*.csv"), quarantine)
        if c["quarantined"]:
            assert len(pd.read_csv(quarantine, dtype=str)) == c["quarantined"]
            # every quarantined row is explained by a query naming its row
            rows = set(pd.read_csv(quarantine, dtype=str)["_row"])
            assert rows <= set(q.loc[q["form"] == form, "row"]), (case, form)
    for form, n in _input_rows(src, exp.get("encodings", {})).items():
        if form in summary["by_form"]:
            assert summary["by_form"][form]["rows_read"] == n, (case, form, n, summary["by_form"][form])
        else:
            pytest.fail(f"{case}: {n} input row(s) of '{form}' are in no output table")
    for path, text in _output_texts(out):
        for secret in exp["secrets"]:
            assert secret not in text, f"{case}: {secret!r} leaked into {path.relative_to(out)}"
    _check_formulas(out)


@pytest.fixture
def workspace(tmp_path):
    """A folder standing for the user's disk: everything written must land under --out."""
    return tmp_path


@pytest.mark.parametrize("case", CASES)
def test_validate(case, workspace):
    exp = _expect(case)
    src = _materialise(case, workspace)
    out = workspace / "out_validate"
    before = _tree(workspace, out)
    proc = _latc(["validate", str(src), "--out", str(out)], workspace)
    assert _tree(workspace, out) == before, "files written outside --out"
    if exp["exit"] == 2:
        assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        assert "Traceback" not in proc.stderr
        assert exp["message"] in " ".join(lines), proc.stderr
        return
    _check_data_outputs(case, src, out, out, proc)


@pytest.mark.parametrize("case", [c for c in CASES if _expect(c)["exit"] == 0])
def test_run(case, workspace):
    src = _materialise(case, workspace)
    out = workspace / "out_run"
    before = _tree(workspace, out)
    proc = _latc(["run", str(src), "--out", str(out)], workspace)
    assert _tree(workspace, out) == before, "files written outside --out"
    _check_data_outputs(case, src, out, out / "validation", proc)
    assert (out / "report" / "report.html").is_file(), proc.stdout[-2000:]

"""Build the hostile corpus: one small study per class of bad input a center really sends.

Run from the repository root (``.venv/bin/python tests/data/hostile/make_corpus.py``); it rewrites
every case folder under ``tests/data/hostile/`` from the same seeded 8-patient synthetic study, so
the corpus is reproducible and reviewable. Each case folder holds the study as a center would send
it (a CSV folder ``study/``, a workbook ``study.xlsx`` or a REDCap export folder ``study/``) and
``expect.json``: the exit code, the queries that must be raised (form, row, field, rule), text that
must never leave quarantine (``secrets``) and, for an unreadable input, the one-line message.
``tests/test_hostile_corpus.py`` runs ``latc validate`` and ``latc run`` on every case.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "src"))

from latc.io import write_study  # noqa: E402
from latc.synth import synthesize  # noqa: E402

SEED, PATIENTS, CENTERS = 11, 8, 2


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


class Case:
    """A case being built: files (name → bytes) and the expectations."""

    def __init__(self, name: str, description: str, base: dict[str, bytes], layout: str = "study"):
        self.name, self.description, self.files, self.layout = name, description, dict(base), layout
        self.queries: list[dict] = []
        self.secrets: list[str] = []
        self.exit = 0
        self.message: str | None = None
        self.generate: dict | None = None
        self.encodings: dict[str, str] = {}

    def table(self, file: str) -> list[list[str]]:
        return _rows(self.files[file].decode("utf-8"))

    def put(self, file: str, rows: list[list[str]] | str | bytes, encoding: str = "utf-8") -> None:
        if isinstance(rows, list):
            rows = _text(rows)
        self.files[file] = rows if isinstance(rows, bytes) else rows.encode(encoding)
        if encoding != "utf-8":
            self.encodings[file] = encoding

    def set_cell(self, file: str, row: int, column: str, value: str) -> None:
        """Set one cell (``row`` as a spreadsheet shows it: header = 1)."""
        t = self.table(file)
        t[row - 1][t[0].index(column)] = value
        self.put(file, t)

    def expect(self, form: str, row: int | None, field: str, rule: str) -> None:
        self.queries.append({"form": form, "row": row, "field": field, "rule": rule})

    def write(self) -> None:
        folder = HERE / self.name
        shutil.rmtree(folder, ignore_errors=True)
        (folder / self.layout).mkdir(parents=True) if self.layout != "study.xlsx" else folder.mkdir(parents=True)
        for name, data in self.files.items():
            target = folder / name if self.layout == "study.xlsx" else folder / self.layout / name
            target.write_bytes(data)
        expect = {"description": self.description, "input": self.layout, "exit": self.exit, "queries": self.queries,
                  "secrets": self.secrets}
        if self.message:
            expect["message"] = self.message
        if self.generate:
            expect["generate"] = self.generate
        if self.encodings:
            expect["encodings"] = self.encodings
        (folder / "expect.json").write_text(json.dumps(expect, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def base_files(tmp: Path, fmt: str) -> dict[str, bytes]:
    study = synthesize(n_patients=PATIENTS, n_centers=CENTERS, seed=SEED)
    out = tmp / fmt
    if fmt == "xlsx":
        write_study(study.tables, out / "study.xlsx", fmt="xlsx")
        return {"study.xlsx": (out / "study.xlsx").read_bytes()}
    write_study(study.tables, out, fmt=fmt)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def cases(csv_base: dict[str, bytes], redcap_base: dict[str, bytes], xlsx_base: dict[str, bytes]) -> list[Case]:
    out: list[Case] = []

    # ---------------------------------------------------------------- dates
    c = Case("dates_placeholder", "Placeholder dates outside pandas' nanosecond range (9999-12-31, 0001-01-01) and "
             "an impossible calendar date: queried, never a crash.", csv_base)
    c.set_cell("follow_up.csv", 2, "visit_date", "9999-12-31")
    c.expect("follow_up", 2, "visit_date", "date_range")
    c.set_cell("surgery.csv", 2, "surgery_date", "0001-01-01")
    c.expect("surgery", 2, "surgery_date", "date_range")
    c.set_cell("labs.csv", 3, "lab_date", "2021-02-30")
    c.expect("labs", 3, "lab_date", "type")
    out.append(c)

    # ---------------------------------------------------------------- quoting and sizes
    c = Case("quote_in_value", "A literal quote inside an unquoted value (2\" wide) is a character, not an "
             "unclosed quote: every row stays clean.", csv_base)
    t = c.table("lesions.csv")
    t[0].append("comment")
    for i, r in enumerate(t[1:], start=2):
        r.append('2" wide' if i == 3 else "ok")
    text = _text(t).replace('"2"" wide"', '2" wide')  # the center's file: the quote unescaped
    c.put("lesions.csv", text)
    c.expect("lesions", None, "comment", "unknown_column")
    out.append(c)

    c = Case("unclosed_quote", "A quote opened at the start of a cell and never closed: the rest of the file is "
             "one row, which is quarantined with the reason.", csv_base)
    t = c.table("labs.csv")
    n = len(t)
    text = _text(t).splitlines(keepends=True)
    text[n - 3] = text[n - 3].rstrip("\n").rsplit(",", 1)[0] + ',"oops\n'
    c.put("labs.csv", "".join(text))
    c.expect("labs", n - 2, "", "unclosed_quote")
    out.append(c)

    c = Case("huge_cell", "One 50 MB cell in an extra column (made by the test: too large to commit): that row is "
             "quarantined (rule cell_size), the study still runs.", csv_base)
    c.generate = {"file": "lesions.csv", "column": "comment", "row": 4, "characters": 50_000_000}
    c.expect("lesions", 4, "comment", "cell_size")
    out.append(c)

    c = Case("ragged_rows", "Rows with more cells than the header (the extra cells, one holding a phone number, "
             "are kept in quarantine) and with fewer (padded, then queried as missing).", csv_base)
    t = c.table("adverse_events.csv")
    t[1] += ["13812345678", "extra"]
    t[2] = t[2][:4]
    c.put("adverse_events.csv", t)
    c.expect("adverse_events", 2, "_extra_cells", "ragged_row")
    c.expect("adverse_events", 3, "", "ragged_row")
    c.secrets.append("13812345678")
    out.append(c)

    # ---------------------------------------------------------------- encodings
    c = Case("encoding_gb18030", "A form saved by Excel on a Chinese Windows (GB18030) with a Chinese header and "
             "values: decoded as Chinese, not as Windows-1252 mojibake.", csv_base)
    t = c.table("lesions.csv")
    t[0].append("备注")
    for r in t[1:]:
        r.append("右叶结节，边界不清")
    c.put("lesions.csv", _text(t), encoding="gb18030")
    c.expect("lesions", None, "", "file_encoding")
    c.expect("lesions", None, "备注", "unknown_column")
    out.append(c)

    c = Case("encoding_utf16", "Excel's 'Unicode text' (UTF-16 with byte-order mark) and UTF-16 without a mark: "
             "both decoded.", csv_base)
    c.put("labs.csv", c.files["labs.csv"].decode("utf-8"), encoding="utf-16")
    c.put("follow_up.csv", c.files["follow_up.csv"].decode("utf-8"), encoding="utf-16-le")
    c.expect("labs", None, "", "file_encoding")
    c.expect("follow_up", None, "", "file_encoding")
    out.append(c)

    c = Case("encoding_utf8_bom", "UTF-8 with a byte-order mark (Excel's 'CSV UTF-8') and Windows line ends: read "
             "silently as UTF-8.", csv_base)
    c.put("patients.csv", b"\xef\xbb\xbf" + c.files["patients.csv"].replace(b"\n", b"\r\n"))
    out.append(c)

    c = Case("encoding_unknown", "A file in an encoding latc does not read (Shift-JIS): refused with a message that "
             "names the encodings to save it in — never silently garbled.", csv_base)
    t = c.table("lesions.csv")
    t[0].append("備考")
    for r in t[1:]:
        r.append("右葉結節")
    c.put("lesions.csv", _text(t), encoding="shift_jis")
    c.exit = 2
    c.message = "CSV UTF-8"
    out.append(c)

    # ---------------------------------------------------------------- injection and identifiers
    c = Case("formula_injection", "Spreadsheet formulas in values (OWASP CSV injection): queried and written as "
             "inert text in every CSV and XLSX output.", csv_base)
    c.set_cell("patients.csv", 3, "center_id", '=HYPERLINK("http://x","click")')
    c.expect("patients", 3, "center_id", "pattern")
    t = c.table("surgery.csv")
    t[0].append("note")
    payloads = ["+cmd|' /C calc'!A0", "@SUM(1)", "-2+3", "=1+1"]
    for i, r in enumerate(t[1:]):
        r.append(payloads[i % len(payloads)])
    c.put("surgery.csv", t)
    c.expect("surgery", None, "note", "unknown_column")
    out.append(c)

    c = Case("identifiers", "Direct identifiers where pseudonyms belong: an 18-digit national id as patient id, a "
             "name as patient id, a phone number and an e-mail address in an extra column. Queried, masked in "
             "every output outside quarantine (values, messages, summaries).", csv_base)
    pts = c.table("patients.csv")
    victim = pts[2][0]
    c.set_cell("patients.csv", 3, "patient_id", "110101199003071234")
    c.expect("patients", 3, "patient_id", "pseudonym")
    labs = c.table("labs.csv")
    row = next(i for i, r in enumerate(labs[1:], start=2) if r[0] == victim)
    c.set_cell("labs.csv", row, "patient_id", "110101199003071234")
    c.expect("labs", row, "patient_id", "identifier")
    fu = c.table("follow_up.csv")
    c.set_cell("follow_up.csv", 2, "patient_id", "Zhang Wei")
    c.expect("follow_up", 2, "patient_id", "pseudonym")
    t = c.table("treatments.csv")
    t[0].append("contact")
    for i, r in enumerate(t[1:]):
        r.append("call 138-1234-5678" if i == 0 else ("li.na@example.cn" if i == 1 else ""))
    c.put("treatments.csv", t)
    c.secrets += ["110101199003071234", "Zhang Wei", "138-1234-5678", "li.na@example.cn"]
    out.append(c)

    # ---------------------------------------------------------------- paths in data
    c = Case("paths_in_data", "Biospecimen rows whose file_ref leaves the study folder (../, an absolute path) "
             "and a sample id with ../: queried and quarantined, never opened.", csv_base)
    bs = c.table("biospecimens.csv")
    c.set_cell("biospecimens.csv", 2, "file_ref", "../../../../etc/hostname")
    c.expect("biospecimens", 2, "file_ref", "pattern")
    c.set_cell("biospecimens.csv", 3, "file_ref", "/etc/hostname")
    c.expect("biospecimens", 3, "file_ref", "pattern")
    c.set_cell("biospecimens.csv", 4, "sample_id", "../../escape")
    c.expect("biospecimens", 4, "sample_id", "pattern")
    assert len(bs) > 4
    out.append(c)

    # ---------------------------------------------------------------- codes
    c = Case("unknown_codes", "Codes outside the value sets and text in number fields, one per form: each queried "
             "with file, row, field and rule; the other rows go through.", csv_base)
    c.set_cell("diagnosis.csv", 2, "histology", "papillary")
    c.expect("diagnosis", 2, "histology", "value_set")
    c.set_cell("labs.csv", 2, "value", "12,5")
    c.expect("labs", 2, "value", "type")
    c.set_cell("patients.csv", 2, "sex", "F")
    c.expect("patients", 2, "sex", "value_set")
    out.append(c)

    # ---------------------------------------------------------------- REDCap layout
    def rc(name: str, description: str) -> Case:
        return Case(name, description, redcap_base)

    c = rc("redcap_unknown_instrument", "REDCap rows of a repeating instrument the dictionary does not know (a typo: "
           "'lab' for 'labs'): kept in quarantine with a did-you-mean, never dropped.")
    t = c.table("redcap_export.csv")
    inst = t[0].index("redcap_repeat_instrument")
    hits = [i for i, r in enumerate(t[1:], start=2) if r[inst] == "labs"][:2]
    for i in hits:
        t[i - 1][inst] = "lab"
        c.expect("lab", i, "redcap_repeat_instrument", "unknown_form")
    c.put("redcap_export.csv", t)
    out.append(c)

    c = rc("redcap_layout", "REDCap's own columns broken: an event name that is no unique event name, repeat "
           "instances that are no positive whole number or missing, a checkbox cell holding 2.")
    t = c.table("redcap_export.csv")
    h = t[0]
    t = [r[:1] + ["baseline_arm_1"] + r[1:] for r in t]
    t[0][1] = "redcap_event_name"
    h = t[0]
    inst, num = h.index("redcap_repeat_instrument"), h.index("redcap_repeat_instance")
    fu = [i for i, r in enumerate(t[1:], start=2) if r[inst] == "follow_up"]
    t[fu[0] - 1][num] = "x1"
    c.expect("follow_up", fu[0], "redcap_repeat_instance", "redcap_instance")
    t[fu[1] - 1][num] = "0"
    c.expect("follow_up", fu[1], "redcap_repeat_instance", "redcap_instance")
    t[fu[2] - 1][num] = ""
    c.expect("follow_up", fu[2], "redcap_repeat_instance", "redcap_instance")
    lab = next(i for i, r in enumerate(t[1:], start=2) if r[inst] == "labs")
    t[lab - 1][1] = "Baseline Visit"
    c.expect("labs", lab, "redcap_event_name", "redcap_event")
    # the histology field exported as checkbox columns (dx_histology___<code>), one cell holding 2
    hcol = h.index("dx_histology")
    codes = ["ptc", "ftc", "oncocytic", "pdtc", "atc", "mtc"]
    for r_i, r in enumerate(t):
        if r_i == 0:
            cells = [f"dx_histology___{k}" for k in codes]
        else:
            cells = ["1" if r[hcol] == k else ("0" if r[inst] == "" else "") for k in codes]
        t[r_i] = r[:hcol] + cells + r[hcol + 1:]
    first = next(i for i, r in enumerate(t[1:], start=2) if r[inst] == "")
    t[first - 1][hcol] = "2"
    c.expect("diagnosis", first, "dx_histology___ptc", "redcap_checkbox")
    c.put("redcap_export.csv", t)
    out.append(c)

    c = rc("redcap_no_record_id", "A REDCap export that lost its record id column: refused with a one-line message "
           "(every row would be attributed to the wrong patient).")
    t = c.table("redcap_export.csv")
    c.put("redcap_export.csv", [r[1:] for r in t])
    c.exit = 2
    c.message = "no record id column"
    out.append(c)

    # ---------------------------------------------------------------- XLSX
    from openpyxl import load_workbook

    c = Case("xlsx_serial_date", "A plain number (43800) in a date column of a workbook: queried unless the cell is "
             "formatted as a date (then it is that date).", xlsx_base, layout="study.xlsx")
    wb = load_workbook(io.BytesIO(xlsx_base["study.xlsx"]))
    ws = wb["patients"]
    hdr = [cell.value for cell in ws[1]]
    j = hdr.index("diagnosis_date") + 1
    ws.cell(2, j).value = 43800
    ws.cell(2, j).number_format = "General"
    c.expect("patients", 2, "diagnosis_date", "type")
    ws.cell(3, j).value = 43800
    ws.cell(3, j).number_format = "yyyy-mm-dd"
    ws2 = wb["follow_up"]
    hdr2 = [cell.value for cell in ws2[1]]
    ws2.cell(2, hdr2.index("visit_date") + 1).value = "9999-12-31"
    c.expect("follow_up", 2, "visit_date", "date_range")
    ws2.cell(3, hdr2.index("center_id") + 1).value = '=HYPERLINK("http://x","click")'
    ws2.cell(3, hdr2.index("center_id") + 1).data_type = "s"
    c.expect("follow_up", 3, "center_id", "pattern")
    buf = io.BytesIO()
    wb.save(buf)
    c.files = {"study.xlsx": buf.getvalue()}
    out.append(c)

    c = Case("xlsx_formula_uncached", "A workbook written by a program and never opened in Excel: a formula cell has "
             "no computed value, so it would read as blank. Queried (xlsx_formula) and the row quarantined.",
             xlsx_base, layout="study.xlsx")
    wb = load_workbook(io.BytesIO(xlsx_base["study.xlsx"]))
    ws = wb["patients"]
    hdr = [cell.value for cell in ws[1]]
    ws.cell(2, hdr.index("age_at_diagnosis") + 1).value = "=40+15"
    c.expect("patients", 2, "age_at_diagnosis", "xlsx_formula")
    buf = io.BytesIO()
    wb.save(buf)
    c.files = {"study.xlsx": buf.getvalue()}
    out.append(c)
    return out


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        bases = {fmt: base_files(Path(tmp), fmt) for fmt in ("csv", "redcap", "xlsx")}
    for case in cases(bases["csv"], bases["redcap"], bases["xlsx"]):
        case.write()
        print(f"{case.name}: {len(case.queries)} expected queries")


if __name__ == "__main__":
    main()

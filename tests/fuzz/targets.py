"""Coverage-guided fuzz targets for the study readers and the validator (atheris = libFuzzer for Python).

Targets (each takes the fuzzer's bytes, builds one study on a tmpfs scratch folder, reads and validates it):

``csv_form``       first byte picks a form of the dictionary; the rest is that form's ``<form>.csv``, in a
                   folder beside a valid ``patients.csv`` (``tests/fuzz/base/``; alone when the form is
                   ``patients``).
``redcap_export``  the bytes are ``redcap_export.csv``, beside the project's ``redcap_data_dictionary.csv``
                   (written by :func:`latc.dictionary.redcap.write_redcap_data_dictionary` at start-up).
``xlsx``           first byte picks a mode: 0 = the bytes are the ``.xlsx`` file; 1 = the next byte picks a
                   member of a small valid workbook and the rest replaces it (the sheet XML, shared strings,
                   workbook.xml, styles, …), re-zipped; 2 = structure-aware: a workbook built with openpyxl
                   from fuzzed sheet names, headers, cell values and types (numbers, dates and date-times
                   of any year, times, durations, booleans, formulas, huge strings, control characters,
                   numbers with date formats, the 1904 date system, a blank first row, merged cells).

The contract checked on every input (tests/fuzz/README.md):

* ``read_study`` either returns or raises :class:`latc.io.StudyReadError` with a one-line message;
  no other exception; ``validate_study`` never raises;
* every row read ends up in clean or quarantine: ``len(clean[f]) + len(quarantine[f]) == rows_read[f]``
  and ``rows_read[f] == len(study.tables[f])`` for every form (quarantine ``_row`` unique);
* no row is lost by the reader: the non-blank records of the fuzzed CSV file (parsed independently
  with Python's ``csv`` module when that parse is unambiguous), the export lines that carry a
  repeat instrument or a dictionary variable's value, and the non-blank data rows of a structure-aware
  workbook's form sheets all reach ``study.tables``.

A violation raises :class:`ContractViolation` (an ``AssertionError``).  By default any exception
propagates, so libFuzzer reports it as a crash and stops.  With ``LATC_FUZZ_CRASH_DIR=DIR`` the
harness records each distinct failure (exception type + innermost ``latc`` frame) once under DIR
(``<target>-<hash>.<ext>`` = the smallest input seen, ``.json`` = signature, hits, traceback) and
keeps fuzzing.  ``LATC_FUZZ_ONLY=<signature>`` re-raises only that signature (for ``-minimize_crash``).

Run by hand::

    .venv/bin/python tests/fuzz/targets.py csv_form -max_total_time=60 -len_control=0 \\
        out/fuzz/corpus/csv_form tests/fuzz/corpus/csv_form
    .venv/bin/python tests/fuzz/targets.py --check tests/fuzz/crashes/*     # replay saved files
    .venv/bin/python tests/fuzz/targets.py --materialise DIR out/fuzz/crashes/xlsx-*.bin   # the files behind raw inputs
    .venv/bin/python benchmarks/fuzz.py --seconds 600 --target all           # the longer run
"""

from __future__ import annotations

import atexit
import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = HERE / "base"
CORPUS = HERE / "corpus"
CRASHES = HERE / "crashes"
DICT_FILE = HERE / "latc.dict"
TARGET_NAMES = ("csv_form", "redcap_export", "xlsx")
#: the synthetic study's data cut (latc synth); fixed so the result does not depend on today's date
DATA_CUT = dt.date(2026, 6, 30)
#: libFuzzer options per target (max_len fits the seed corpus; len_control=0: at a few inputs per
#: second libFuzzer would otherwise take hours to let inputs grow to the seeds' length)
MAX_LEN = {"csv_form": 4096, "redcap_export": 16384, "xlsx": 16384}
#: LATC_FUZZ_VALIDATE=0: read only (the reader's checks), for fast runs that grow the corpus
VALIDATE = os.environ.get("LATC_FUZZ_VALIDATE", "1") != "0"

csv.field_size_limit(2**31 - 1)


class ContractViolation(AssertionError):
    """The input broke the readers' / validator's contract (not an exception inside latc)."""

    def __init__(self, code: str, detail: str, kind: str = ""):
        super().__init__(f"{code}: {detail}")
        self.code = code
        #: what went wrong, without the form (the crash signature: one per kind, not per form)
        self.kind = kind


# ------------------------------------------------------------------------------- shared state

class _State:
    """Loaded once per process: the dictionary, fixed files and the scratch folder."""

    def __init__(self) -> None:
        from latc.dictionary import load_dictionary
        from latc.dictionary.redcap import redcap_naming, write_redcap_data_dictionary

        self.d = load_dictionary()
        self.forms = list(self.d.forms)
        self.patients_csv = (BASE / "patients.csv").read_bytes()
        root = os.environ.get("LATC_FUZZ_TMP") or ("/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
        self.scratch = Path(tempfile.mkdtemp(prefix=f"latc-fuzz-{os.getpid()}-", dir=root))
        atexit.register(shutil.rmtree, self.scratch, True)  # not run when libFuzzer exits: drivers set LATC_FUZZ_TMP
        self.redcap_dictionary = self.scratch / "redcap_data_dictionary.csv"
        write_redcap_data_dictionary(self.d, self.redcap_dictionary)
        self.redcap_dictionary_bytes = self.redcap_dictionary.read_bytes()
        naming = redcap_naming(self.d)
        self.redcap_vars = set(naming.variable.values())
        self.n = 0

    def folder(self) -> Path:
        self.n += 1
        p = self.scratch / f"in{self.n % 2}"  # the previous input's folder is removed in run()
        if p.exists():
            shutil.rmtree(p, ignore_errors=True)
        p.mkdir()
        return p


_STATE: _State | None = None


def state() -> _State:
    global _STATE
    if _STATE is None:
        _STATE = _State()
    return _STATE


# ------------------------------------------------------------------------------------ checks

def _check(study_path: Path, expected_rows: dict[str, int] | None = None,
           expected_lines: set[int] | None = None, hints: dict[str, str] | None = None) -> str:
    """Read and validate one materialised input; raise on any contract violation.

    ``expected_rows``: form → rows the reader must hand on; ``expected_lines``: REDCap export
    lines (``_row``) that must appear in some table; ``hints``: form → what is odd about its input
    (``blank_first_line``…), part of a lost-rows signature so known causes do not hide new ones.
    Returns ``"read"`` or ``"refused"``.
    With ``LATC_FUZZ_VALIDATE=0`` only the reader runs (its checks, 10-20 times more inputs per second).
    """
    from latc.io import StudyReadError, read_study
    from latc.validate import validate_study

    st = state()
    try:
        study = read_study(study_path, st.d)
    except StudyReadError as exc:
        msg = str(exc)
        if not msg.strip() or "\n" in msg or "\r" in msg:
            raise ContractViolation("multiline_read_error", repr(msg[:300])) from None
        return "refused"
    if expected_rows:
        for form, n in expected_rows.items():
            got = len(study.tables.get(form, ()))
            if got != n:
                kind = "none_read" if got == 0 else "fewer_read" if got < n else "more_read"
                if (hints or {}).get(form):
                    kind = f"{hints[form]}/{kind}"
                raise ContractViolation("reader_rows", f"{form}: {n} non-blank data rows in the input, {got} read", kind)
    if expected_lines:
        seen: set[int] = set()
        for t in study.tables.values():
            if "_row" in t.columns:
                seen.update(int(x) for x in t["_row"])
        lost = sorted(expected_lines - seen)
        if lost:
            raise ContractViolation("reader_lines", f"export line(s) {lost[:10]} with data reach no table")
    if not VALIDATE:
        return "read"
    result = validate_study(study, st.d, data_cut=DATA_CUT)
    result.counts()  # the summary every command prints
    for form, table in study.tables.items():
        n = result.rows_read.get(form)
        if n != len(table):
            raise ContractViolation("rows_read", f"{form}: rows_read {n} but the study table has {len(table)} rows")
        q = result.quarantine.get(form)
        n_q = 0 if q is None else len(q)
        n_c = len(result.clean.get(form, ()))
        if n_c + n_q != n:
            raise ContractViolation("rows_lost", f"{form}: {n} rows read, {n_c} clean + {n_q} quarantined")
        if q is not None and n_q and not q["_row"].is_unique:
            raise ContractViolation("quarantine_row_twice", f"{form}: a source row is quarantined twice")
    for form in set(result.rows_read) - set(study.tables):
        raise ContractViolation("rows_read", f"{form}: in rows_read but not in the study")
    q = result.queries
    if len(q) and not set(q["severity"]) <= {"error", "warning"}:
        raise ContractViolation("severity", f"{set(q['severity'])}")
    return "read"


# ------------------------------------------------------------------------------ CSV folder

def _csv_records(data: bytes) -> int | None:
    """Non-blank data records of a CSV file as Python's csv module reads it, or None when the
    file's reading is ambiguous (not decodable, an unbalanced quote, a header spanning lines)."""
    from latc.io import StudyReadError
    from latc.io._csv import decode_csv, sniff_delimiter

    try:
        body, _ = decode_csv(data, "x")
    except StudyReadError:
        return None
    text = body.decode("utf-8")
    if not text.strip() or "\x00" in text:
        return None
    # blank lines above the header are not records (the reader skips them: docs/validation.md)
    text = re.sub(r"\A(?:[ \t,;]*(?:\r\n|\r|\n))+", "", text)
    first_line = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]
    delimiter = sniff_delimiter(first_line)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error:
        return None  # e.g. an unclosed quote: documented to merge the rest of the file into one row
    if not records:
        return None
    header_again = list(csv.reader([first_line], delimiter=delimiter))
    if not header_again or header_again[0] != records[0]:
        return None  # a header with a quoted line break: the reader takes the first line as header
    return sum(1 for r in records[1:] if any(c.strip() for c in r))


def check_csv_form(form: str, content: bytes, expect: bool = True) -> str:
    """One form's CSV file (``content``) in a folder beside the valid ``patients.csv``."""
    st = state()
    folder = st.folder()
    if form != "patients":
        (folder / "patients.csv").write_bytes(st.patients_csv)
    (folder / f"{form}.csv").write_bytes(content)
    expected = None
    if expect:
        n = _csv_records(content)
        if n is not None:
            expected = {form: n}
    first = re.split(rb"\r\n|\r|\n", content.removeprefix(b"\xef\xbb\xbf"), maxsplit=1)[0]
    hints = {form: "blank_first_line"} if not first.strip(b" \t,;") else None
    return _check(folder, expected_rows=expected, hints=hints)


def fuzz_csv_form(data: bytes) -> str:
    st = state()
    if not data:
        return "empty"
    return check_csv_form(st.forms[data[0] % len(st.forms)], data[1:])


# ---------------------------------------------------------------------------- REDCap export

_CONTROL = {"redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance", "redcap_data_access_group",
            "redcap_survey_identifier"}


def _redcap_lines(data: bytes) -> set[int] | None:
    """Export lines (``_row`` = record index + 2) that must reach a table: those naming a repeat
    instrument and those holding a value of a dictionary variable (or its checkbox column); None
    when Python's csv module and the reader may disagree about the records."""
    from latc.io import StudyReadError
    from latc.io._csv import decode_csv

    try:
        body, _ = decode_csv(data, "x")
    except StudyReadError:
        return None
    text = body.decode("utf-8")
    if "\x00" in text:
        return None
    try:
        records = [r for r in csv.reader(io.StringIO(text, newline=""), strict=True) if r]
    except csv.Error:
        return None
    if len(records) < 2:
        return None
    header = [h.lstrip("\ufeff").strip() for h in records[0]]
    if any(len(r) != len(header) for r in records[1:]):
        return None
    vars_ = state().redcap_vars
    cols = [j for j, h in enumerate(header) if j > 0 and h not in _CONTROL
            and (h in vars_ or h.partition("___")[0] in vars_ and h.partition("___")[1])]
    inst = header.index("redcap_repeat_instrument") if "redcap_repeat_instrument" in header else None
    out = set()
    for i, r in enumerate(records[1:]):
        if (inst is not None and r[inst].strip()) or any(r[j].strip() for j in cols):
            out.add(i + 2)
    return out


def check_redcap_export(content: bytes, expect: bool = True) -> str:
    st = state()
    folder = st.folder()
    (folder / "redcap_export.csv").write_bytes(content)
    (folder / "redcap_data_dictionary.csv").write_bytes(st.redcap_dictionary_bytes)
    lines = _redcap_lines(content) if expect else None
    return _check(folder, expected_lines=lines)


def fuzz_redcap_export(data: bytes) -> str:
    return check_redcap_export(data)


# ------------------------------------------------------------------------------------ XLSX

#: text values a center's spreadsheet holds that are hard for a reader (placeholders, odd numbers)
TOKENS = [
    "", " ", "  \t", "9999-12-31", "0001-01-01", "1900-01-01", "1899-12-30", "1900-02-29", "2024-02-30", "2022-13-01",
    "0000-00-00", "2262-04-12", "1677-09-21", "2199-12-31", "2022-01-10 12:30:00", "2022-01-10T12:30", "10/01/2022",
    "2022/1/10", "20220110", "1e309", "-1e309", "1e-400", "NaN", "nan", "inf", "-inf", "-0", "0x1A", "1_000", "12,5",
    "１２", "٣", "12.", ".5", "+5", "99999999999999999999999", "TRUE", "FALSE", "yes", "No", "N/A", "NA", "-", "?",
    "#N/A", "#DIV/0!", "#REF!", "=1+1", "=TODAY()", "=A1", "+cmd", "@SUM(A1)", "＝1+1", "C01-0001", "C02-0002", "C01",
    "c01-0001", " C01-0001 ", "C01-0001\u200b", "\u202eC01", "😀", "张三", "13912345678", "a@b.cn", "110101199003077777",
    "_x0041_", "\r\n", "x" * 300,
]
FORMULAS = ["=1+1", "=TODAY()", "=A1", "=NOW()", "=1/0", '="a"&"b"', "=SUM(A1:A2)", "=DATE(9999,12,31)", "=NA()"]
NUMBER_FORMATS = ["General", "yyyy-mm-dd", "d-mmm-yy", "mm/dd/yyyy hh:mm", "h:mm", "[h]:mm:ss", "0.00", "0%", "@",
                  "0.00E+00", "yyyy-mm-dd;@", "[$-F800]dddd, mmmm dd, yyyy"]
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_ESCAPED = re.compile(r"_x[0-9A-Fa-f]{4}_")


def _template_workbook() -> dict[str, bytes]:
    """Members of a small valid workbook (patients + labs, a few typed rows), written by openpyxl."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "patients"
    ws.append(["patient_id", "center_id", "cohort", "diagnosis_date", "treatment_decision_date", "enrollment_date",
               "age_at_diagnosis", "sex", "ecog", "consent", "consent_date"])
    ws.append(["C01-0001", "C01", "neoadjuvant", dt.datetime(2020, 9, 24), dt.datetime(2020, 10, 5),
               dt.datetime(2020, 10, 18), 58, "female", 0, 1, dt.datetime(2020, 10, 15)])
    ws.append(["C01-0002", "C01", "upfront_surgery", dt.datetime(2021, 11, 8), "2022-01-14", "2022-01-15", 46.0,
               "female", 1, True, "2022-01-12"])
    for row in ws.iter_rows(min_row=2):
        for c in row:
            if isinstance(c.value, dt.datetime):
                c.number_format = "yyyy-mm-dd"
    labs = wb.create_sheet("labs")
    labs.append(["patient_id", "center_id", "lab_date", "test", "value", "unit", "below_detection", "stimulated"])
    labs.append(["C01-0001", "C01", dt.datetime(2020, 10, 20), "tg", 150.5, "ng_ml", 0, 0])
    labs.append(["C01-0001", "C01", "=DATE(2020,11,20)", "tsh", "=1/3", "miu_l", "no", None])
    wb.properties.created = wb.properties.modified = dt.datetime(2026, 1, 1)
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        members = {n: z.read(n) for n in sorted(z.namelist())}
    # openpyxl stamps the save time as "modified": fix it, so the template (and the seeds) are stable
    core = "docProps/core.xml"
    if core in members:
        members[core] = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-01-01T00:00:00Z", members[core])
    return members


_TEMPLATE: dict[str, bytes] | None = None


def template() -> dict[str, bytes]:
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = _template_workbook()
    return _TEMPLATE


def zip_members(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def check_xlsx(content: bytes, expected_rows: dict[str, int] | None = None,
               hints: dict[str, str] | None = None) -> str:
    folder = state().folder()
    path = folder / "study.xlsx"
    path.write_bytes(content)
    return _check(path, expected_rows=expected_rows, hints=hints)


def _valid_value(fdp, field) -> object:
    """A value the dictionary accepts for the field (so rows reach the cross-form rules)."""
    if field is None:
        return fdp.ConsumeUnicodeNoSurrogates(8)
    if field.name == "patient_id":
        return fdp.PickValueInList(["C01-0001", "C01-0002", "C02-0001", "C02-0002", "C01-0003"])
    if field.name == "center_id":
        return fdp.PickValueInList(["C01", "C02"])
    if field.codes:
        return fdp.PickValueInList(list(field.codes))
    if field.type == "date":
        day = dt.datetime(2019, 1, 1) + dt.timedelta(days=fdp.ConsumeIntInRange(0, 2800))
        return day if fdp.ConsumeBool() else day.strftime("%Y-%m-%d")
    if field.type in ("integer", "yesno"):
        lo = int(field.min) if field.min is not None else 0
        hi = int(field.max) if field.max is not None else lo + 100
        return fdp.ConsumeIntInRange(lo, max(lo, hi))
    if field.type == "number":
        lo = field.min if field.min is not None else 0.0
        hi = field.max if field.max is not None else lo + 100.0
        return lo + (hi - lo) * fdp.ConsumeProbability()
    return fdp.ConsumeUnicodeNoSurrogates(10)


def _cell_value(fdp, field) -> tuple[object, str | None]:
    """A fuzzed cell value and (sometimes) a number format."""
    kind = fdp.ConsumeIntInRange(0, 17)
    fmt = fdp.PickValueInList(NUMBER_FORMATS) if fdp.ConsumeIntInRange(0, 3) == 0 else None
    if kind == 0:
        return None, fmt
    if kind in (1, 2, 3):
        return _valid_value(fdp, field), fmt
    if kind == 4:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 16)), fmt
    if kind == 5:
        return fdp.ConsumeFloat(), fmt
    if kind == 6:
        return fdp.ConsumeIntInRange(-2, 5), fmt
    if kind == 7:
        return dt.date(fdp.ConsumeIntInRange(1, 9999), fdp.ConsumeIntInRange(1, 12), fdp.ConsumeIntInRange(1, 28)), fmt
    if kind == 8:
        return dt.datetime(fdp.ConsumeIntInRange(1, 9999), fdp.ConsumeIntInRange(1, 12), fdp.ConsumeIntInRange(1, 28),
                           fdp.ConsumeIntInRange(0, 23), fdp.ConsumeIntInRange(0, 59), fdp.ConsumeIntInRange(0, 59),
                           fdp.ConsumeIntInRange(0, 999999)), fmt
    if kind == 9:
        return dt.time(fdp.ConsumeIntInRange(0, 23), fdp.ConsumeIntInRange(0, 59), fdp.ConsumeIntInRange(0, 59)), fmt
    if kind == 10:
        return dt.timedelta(seconds=fdp.ConsumeFloatInRange(-1e7, 1e9)), fmt
    if kind == 11:
        return fdp.ConsumeBool(), fmt
    if kind == 12:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 40)), fmt
    if kind == 13:
        return fdp.PickValueInList(FORMULAS), fmt
    if kind == 14:
        return fdp.PickValueInList(list("xX1 -é中\n")) * fdp.ConsumeIntInRange(0, 40000), fmt
    if kind == 15:
        return fdp.PickValueInList(TOKENS), fmt
    if kind == 16:  # an Excel serial day number, with a date format half of the time
        serial = fdp.ConsumeFloatInRange(-1e6, 3e6) if fdp.ConsumeBool() else fdp.ConsumeIntInRange(-100, 2958466)
        return serial, "yyyy-mm-dd" if fdp.ConsumeBool() else fmt
    return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 12)).decode("latin-1"), fmt


def _is_blank(value: object) -> bool | None:
    """Whether the cell reads back blank (None: cannot tell — openpyxl rewrites the text)."""
    if value is None:
        return True
    if isinstance(value, str):
        if _ESCAPED.search(value) or "\r" in value:
            return None
        return value.startswith("=") or not value.strip()
    return False


def xlsx_structured(fdp) -> tuple[bytes | None, dict[str, int] | None, dict[str, str] | None]:  # noqa: C901 - over the complexity bar; to be split (issue #15, code layout)
    """A workbook built from fuzzed choices, the non-blank data rows of each form sheet (left out
    where it cannot be told) and hints (``blank_header_row``). (None, None, None) when openpyxl
    cannot write it."""
    from openpyxl import Workbook
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    st = state()
    d = st.d
    wb = Workbook()
    wb.remove(wb.active)
    if fdp.ConsumeIntInRange(0, 7) == 0:
        wb.epoch = CALENDAR_MAC_1904
    expected: dict[str, int] | None = {}
    hints: dict[str, str] = {}
    taken: set[str] = set()
    by_key = {n.strip().lower(): n for n in d.forms}
    for k in range(fdp.ConsumeIntInRange(1, 3)):
        form_name = st.forms[fdp.ConsumeIntInRange(0, len(st.forms) - 1)] if k else (
            "patients" if fdp.ConsumeBool() else st.forms[fdp.ConsumeIntInRange(0, len(st.forms) - 1)])
        how = fdp.ConsumeIntInRange(0, 7)
        title = {0: form_name.upper(), 1: f" {form_name} ", 2: fdp.ConsumeUnicodeNoSurrogates(12)}.get(how, form_name)
        try:
            ws = wb.create_sheet(title=title[:31] or f"Sheet{k}")
        except Exception:
            ws = wb.create_sheet(title=f"Sheet{k}")
        form = d.forms.get(ws.title if ws.title in d.forms else by_key.get(ws.title.strip().lower(), ""))
        fields = form.fields if form else []
        header: list[object] = []
        cols = []
        if fields and fdp.ConsumeIntInRange(0, 3):
            cols = [form["patient_id"], form["center_id"]] if "center_id" in form.field_names else [form["patient_id"]]
        for _ in range(fdp.ConsumeIntInRange(0, min(12, len(fields) + 2))):
            pick = fdp.ConsumeIntInRange(0, 9)
            if fields and pick < 7:
                cols.append(fields[fdp.ConsumeIntInRange(0, len(fields) - 1)])
            else:
                cols.append(None)
        for f in cols:
            how = fdp.ConsumeIntInRange(0, 15)
            if f is not None and how < 12:
                name = {0: f.name.upper(), 1: f" {f.name}"}.get(how, f.name)
            else:
                name, _ = _cell_value(fdp, None)
            header.append(name)
        first = 1 + (fdp.ConsumeIntInRange(0, 15) == 0)  # now and then a blank first row
        data_rows: list[list[tuple[object, str | None]]] = []
        for _ in range(fdp.ConsumeIntInRange(0, 6)):
            if fdp.ConsumeIntInRange(0, 15) == 0:
                data_rows.append([])  # a blank row between data rows
            row = []
            for f in cols:
                value, fmt = _cell_value(fdp, f)
                row.append((_ILLEGAL_XML.sub("", value) if isinstance(value, str) else value, fmt))
            if fdp.ConsumeIntInRange(0, 5) == 0:  # a cell beyond the header
                value, fmt = _cell_value(fdp, None)
                row.append((_ILLEGAL_XML.sub("", value) if isinstance(value, str) else value, fmt))
            data_rows.append(row)
        header = [_ILLEGAL_XML.sub("", h) if isinstance(h, str) else h for h in header]
        counts: int | None = 0
        try:
            for j, value in enumerate(header):
                ws.cell(row=first, column=j + 1, value=value)
            for i, row in enumerate(data_rows):
                for j, (value, fmt) in enumerate(row):
                    c = ws.cell(row=first + 1 + i, column=j + 1, value=value)
                    if fmt and not isinstance(value, str):
                        c.number_format = fmt
            if len(data_rows) > 1 and fdp.ConsumeIntInRange(0, 15) == 0:
                ws.merge_cells(start_row=first + 1, start_column=1, end_row=first + 2, end_column=2)
                counts = None
            stray = fdp.ConsumeIntInRange(0, 255)
            if stray in (0, 1):  # a stray value far right or far down (a touched cell at XFD / row 1,048,576)
                far_row = first + 1 if stray == 0 else fdp.ConsumeIntInRange(first + 1, 1_048_576)
                far_col = fdp.ConsumeIntInRange(1, 16_384) if stray == 0 else 1
                ws.cell(row=far_row, column=far_col, value="x")
                counts = None
        except Exception:
            return None, None, None  # openpyxl refuses the value (not the reader's business)
        if counts is not None:  # the header is the first non-blank row; the non-blank rows below it count
            filled = []
            for row in [[(h, None) for h in header], *data_rows]:
                blanks = [_is_blank(v) for v, _ in row]
                if any(b is None for b in blanks):
                    counts = None
                    break
                filled.append(not all(blanks))
            if counts is not None:
                counts = max(sum(filled) - 1, 0)
        if form is not None and form.name not in taken:
            taken.add(form.name)
            if first > 1 or all(_is_blank(h) for h in header):
                hints[form.name] = "blank_header_row"
            if expected is not None:
                expected[form.name] = counts if counts is not None else -1
    wb.properties.created = wb.properties.modified = dt.datetime(2026, 1, 1)
    buf = io.BytesIO()
    try:
        wb.save(buf)
    except Exception:
        return None, None, None
    exp = {k: v for k, v in (expected or {}).items() if v >= 0}
    return buf.getvalue(), exp, hints


def xlsx_bytes(data: bytes) -> tuple[bytes | None, dict[str, int] | None, dict[str, str] | None]:
    """The workbook a fuzz input stands for (see the module docstring), expected rows and hints."""
    if len(data) < 2:
        return None, None, None
    mode = data[0] % 3
    if mode == 0:
        return data[1:], None, None
    if mode == 1:
        members = dict(template())
        names = list(members)
        members[names[data[1] % len(names)]] = data[2:]
        return zip_members(members), None, None
    import atheris

    return xlsx_structured(atheris.FuzzedDataProvider(data[1:]))


def fuzz_xlsx(data: bytes) -> str:
    content, expected, hints = xlsx_bytes(data)
    if content is None:
        return "skipped"
    return check_xlsx(content, expected, hints)


FUZZ = {"csv_form": fuzz_csv_form, "redcap_export": fuzz_redcap_export, "xlsx": fuzz_xlsx}


# ----------------------------------------------------------------- saved files (tests/fuzz/crashes)

#: seconds a saved input named ``*-slow-*`` may take (``LATC_FUZZ_SLOW_LIMIT``): an input that made the
#: reader hang is replayed against the clock, so its test fails fast instead of hanging
SLOW_LIMIT = float(os.environ.get("LATC_FUZZ_SLOW_LIMIT", "30"))


def check_file(path: str | Path) -> str:
    """Replay one saved input: ``csv_form-<form>-<name>.csv`` (that form's file), ``redcap_export-<name>.csv``,
    ``xlsx-<name>.xlsx`` (the workbook) or a raw fuzz input ``<target>-<name>.bin``. A name holding
    ``-slow-`` must be read and validated within :data:`SLOW_LIMIT` seconds."""
    p = Path(path)
    if "-slow-" not in p.name:
        return _check_file(p)
    import signal

    def too_slow(signum, frame):  # noqa: ANN001
        raise ContractViolation("too_slow", f"{p.name}: not read and validated within {SLOW_LIMIT:g} s")

    old = signal.signal(signal.SIGALRM, too_slow)
    signal.setitimer(signal.ITIMER_REAL, SLOW_LIMIT)
    try:
        return _check_file(p)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _check_file(p: Path) -> str:
    data = p.read_bytes()
    target = next((t for t in TARGET_NAMES if p.name.startswith(t + "-")), None)
    if target is None:
        raise ValueError(f"{p.name}: name does not start with a target ({', '.join(TARGET_NAMES)})")
    if p.suffix == ".bin":
        return FUZZ[target](data)
    if target == "csv_form":
        rest = p.name[len("csv_form-"):]
        form = next((f for f in sorted(state().forms, key=len, reverse=True) if rest.startswith(f + "-")), None)
        if form is None:
            raise ValueError(f"{p.name}: expected csv_form-<form>-<name>.csv")
        return check_csv_form(form, data)
    if target == "redcap_export":
        return check_redcap_export(data)
    return check_xlsx(data, *_xlsx_expected(data))


def _xlsx_expected(content: bytes) -> tuple[dict[str, int] | None, dict[str, str] | None]:
    """For a saved workbook: per form sheet (the first for a form), its non-blank rows but the
    first (the header), as openpyxl reads them, and hints; (None, None) when openpyxl cannot open it."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(content), data_only=True)
    except Exception:
        return None, None
    d = state().d
    by_key = {n.strip().lower(): n for n in d.forms}
    out: dict[str, int] = {}
    hints: dict[str, str] = {}
    for ws in wb.worksheets:
        form = ws.title if ws.title in d.forms else by_key.get(ws.title.strip().lower())
        if form is None or form in out:
            continue
        blanks = [all(v is None or (isinstance(v, str) and not v.strip()) for v in row)
                  for row in ws.iter_rows(min_row=1, values_only=True)]
        out[form] = max(sum(not b for b in blanks) - 1, 0)
        if blanks and blanks[0]:
            hints[form] = "blank_header_row"
    return out, hints


def materialise(target: str, data: bytes) -> tuple[str, bytes] | None:
    """The file a raw fuzz input stands for, named as :func:`check_file` reads it:
    ``csv_form-<form>-.csv``, ``redcap_export-.csv`` or ``xlsx-.xlsx`` (add a short name before the suffix)."""
    if target == "csv_form":
        return (f"csv_form-{state().forms[data[0] % len(state().forms)]}-.csv", data[1:]) if data else None
    if target == "redcap_export":
        return "redcap_export-.csv", data
    content, _, _ = xlsx_bytes(data)
    return None if content is None else ("xlsx-.xlsx", content)


# ----------------------------------------------------------------------- keep-going recording

def signature(exc: BaseException) -> str:
    """Exception type and the innermost frame inside ``latc`` (else the innermost frame)."""
    tb = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in tb if "/latc/" in f.filename.replace(os.sep, "/")]
    frame = mine[-1] if mine else (tb[-1] if tb else None)
    where = "?"
    if frame is not None:
        fn = frame.filename.replace(os.sep, "/")
        where = (fn[fn.rindex("/latc/") + 1:] if "/latc/" in fn else Path(fn).name) + f":{frame.lineno}"
    if isinstance(exc, ContractViolation):
        return f"ContractViolation[{exc.code}]" + (f"@{exc.kind}" if exc.kind else "")
    return f"{type(exc).__name__}@{where}"


class Recorder:
    """Saves each distinct failure once (the smallest input seen) and counts hits."""

    def __init__(self, target: str, out: Path):
        self.target, self.out = target, out
        out.mkdir(parents=True, exist_ok=True)
        self.hits: dict[str, int] = {}

    def record(self, data: bytes, exc: BaseException) -> None:
        sig = signature(exc)
        self.hits[sig] = self.hits.get(sig, 0) + 1
        stem = self.out / f"{self.target}-{hashlib.sha1(sig.encode()).hexdigest()[:10]}"
        meta_path = stem.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
        bin_path = stem.with_suffix(".bin")
        new = meta is None
        if new or len(data) < meta.get("input_len", 1 << 62):
            bin_path.write_bytes(data)
            meta = {
                "target": self.target, "signature": sig, "exception": type(exc).__name__,
                "message": str(exc)[:2000], "input": bin_path.name, "input_len": len(data),
                "traceback": "".join(traceback.format_exception(exc))[-6000:],
                "first_seen": (meta or {}).get("first_seen", time.strftime("%Y-%m-%dT%H:%M:%S")),
                "hits": (meta or {}).get("hits", 0),
            }
        meta["hits"] = meta.get("hits", 0) + 1
        meta_path.write_text(json.dumps(meta, indent=2))
        if new:
            print(f"LATC-FUZZ NEW CRASH {self.target} {sig} -> {bin_path}", file=sys.stderr, flush=True)


def make_test_one_input(target: str):
    fn = FUZZ[target]
    crash_dir = os.environ.get("LATC_FUZZ_CRASH_DIR")
    only = os.environ.get("LATC_FUZZ_ONLY")
    recorder = Recorder(target, Path(crash_dir)) if crash_dir else None

    def test_one_input(data: bytes) -> None:
        try:
            fn(data)
        except Exception as exc:  # noqa: BLE001 - every exception is a finding
            if only is not None:
                if signature(exc) == only:
                    raise
                return
            if recorder is None:
                raise
            recorder.record(data, exc)

    return test_one_input


def main(argv: list[str]) -> None:
    import warnings

    warnings.simplefilter("ignore")  # openpyxl / pandas warnings on odd input: noise in the fuzz log
    if len(argv) >= 2 and argv[1] == "--check":
        bad = 0
        for p in argv[2:]:
            if not any(Path(p).name.startswith(t + "-") for t in TARGET_NAMES):
                continue  # README.md and the like
            try:
                print(f"{p}: {check_file(p)}")
            except Exception as exc:  # noqa: BLE001
                bad += 1
                print(f"{p}: FAIL {signature(exc)}\n{''.join(traceback.format_exception(exc))}")
        sys.exit(1 if bad else 0)
    if len(argv) >= 4 and argv[1] == "--materialise":  # --materialise DIR FILE...: raw fuzz inputs → files
        out = Path(argv[2])
        out.mkdir(parents=True, exist_ok=True)
        for p in map(Path, argv[3:]):
            target = next(t for t in TARGET_NAMES if p.name.startswith(t + "-"))
            made = materialise(target, p.read_bytes())
            if made is None:
                print(f"{p}: no input (too short, or openpyxl cannot write it)")
                continue
            name, content = made
            dest = out / name.replace("-.", f"-{p.stem.split('-', 1)[1]}.")
            dest.write_bytes(content)
            print(f"{p} -> {dest}")
        return
    # the target is the first argument; libFuzzer re-runs argv[0] with options only (-minimize_crash,
    # -fork, -merge), so the target is handed on in the environment and argv[0] runs this file
    if len(argv) >= 2 and argv[1] in TARGET_NAMES:
        target, rest = argv[1], argv[2:]
    elif os.environ.get("LATC_FUZZ_TARGET") in TARGET_NAMES:
        target, rest = os.environ["LATC_FUZZ_TARGET"], argv[1:]
    else:
        sys.exit(f"usage: {argv[0]} {{{','.join(TARGET_NAMES)}}} [libFuzzer options] [corpus dirs] | --check FILE...")
    os.environ["LATC_FUZZ_TARGET"] = target
    import atheris

    atheris.enabled_hooks.add("str")
    with atheris.instrument_imports(include=["latc"]):
        import pkgutil

        import latc.dictionary
        import latc.io
        import latc.validate

        for pkg in (latc.io, latc.validate, latc.dictionary):
            for m in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + "."):
                __import__(m.name)
    state()  # load the dictionary and fixed files before the first input is timed
    if target == "xlsx":
        template()
    args = [f"{sys.executable} {Path(__file__).resolve()}", *rest]
    if not any(a.startswith("-max_len=") for a in args):
        args.insert(1, f"-max_len={MAX_LEN[target]}")
    if DICT_FILE.is_file() and not any(a.startswith("-dict=") for a in args):
        args.insert(1, f"-dict={DICT_FILE}")
    atheris.Setup(args, make_test_one_input(target))
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)

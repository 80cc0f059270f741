"""Import a study into capture, export capture as a study, import latc validate's query log.

* :func:`import_study` reads a study (CSV folder, XLSX workbook or REDCap export) with
  :func:`latc.io.read_study` and validates it with :func:`latc.validate.validate_study` — the calls
  ``latc validate`` makes. Rows without a hard problem are stored (their soft problems become open
  queries); the others — a hard rule (:data:`latc.capture.validation.BLOCKING_RULES`), a row the
  reader could not take apart, no such patient, a second row of a one-row form, a form the
  dictionary does not know — are kept as :class:`~latc.capture.models.QuarantinedRow` and written
  to ``<out>/import_quarantine/<form>.csv`` with the reason. Every stored field is audited (action
  ``import``), in the same transaction.
* :func:`export_study` writes the CSV folder ``latc validate``/``latc run`` read (one CSV per form,
  dictionary column order, spreadsheet-safe), the REDCap flat export and ``export.json``. The
  quarantined rows still waiting for correction are written back at their source place, so the
  pipeline quarantines them itself, exactly as on the original files: the analysis of the export
  equals the analysis of the imported study (docs/capture.md "Round trip").
* :func:`import_queries` turns ``queries.csv`` into open queries on the matching records.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from django.db.models import Max
from django.utils import timezone

from latc.capture import audit, services
from latc.capture.errors import CaptureError, Forbidden
from latc.capture.models import (
    Center, Patient, Query, QueryMessage, QueryStatus, QuarantinedRow, Record, RecordStatus,
    validate_center_code,
)
from latc.capture.scoping import can
from latc.capture.validation import BLOCKING_RULES, IGNORED_RULES

#: reader/layout rules whose error means the row itself was not read right: such a row is not stored
_UNREADABLE = IGNORED_RULES - {"parent_quarantined", "missing_column", "unknown_column"}
QUARANTINE_DIR = "import_quarantine"


@dataclass
class ImportReport:
    source: str
    format: str
    rows_read: dict[str, int] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    patients_created: int = 0
    centers_created: list[str] = field(default_factory=list)
    queries_opened: int = 0
    quarantine_dir: Path | None = None
    #: (form, source row, patient_id, reason, message) of every row not stored
    quarantine: list[tuple[str, int | None, str, str, str]] = field(default_factory=list)

    @property
    def n_stored(self) -> int:
        return sum(self.stored.values())

    @property
    def n_quarantined(self) -> int:
        return sum(self.quarantined.values())

    def summary(self) -> str:
        return (f"{self.patients_created} patients, {self.n_stored:,} rows stored, {self.queries_opened:,} queries "
                f"opened, {self.n_quarantined:,} rows quarantined"
                + (f" (listed in {self.quarantine_dir})" if self.n_quarantined and self.quarantine_dir else ""))


def _require(user, action: str) -> None:
    if user is not None and not can(user, action):
        raise Forbidden(f"your role may not {action.replace('_', ' ')}")


def _cell(v) -> str | None:
    import pandas as pd

    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    s = str(v).strip()
    return s or None


def _strip_message(msg: str, source: str, row, fld: str) -> str:
    for head in (f"{source} row {row}, field {fld}: ", f"{source}, column {fld}: ", f"{source} row {row}: "):
        if msg.startswith(head):
            return msg[len(head):]
    return msg


def import_study(folder: str | Path, *, user=None, dictionary=None, out: str | Path | None = None,
                 data_cut: date | None = None, client_addr: str = "") -> ImportReport:
    """Load a study into capture through latc validate's reader and rules (see the module docs).

    ``user``: a data manager, or None for the command line. ``out``: the folder for
    ``import_quarantine/`` (default: the capture data folder). Patients already in capture are
    not touched: their rows are quarantined ("patient exists"), to be corrected in the forms.
    """
    from django.conf import settings

    from latc.io import StudyReadError, read_study
    from latc.validate import validate_study

    _require(user, "import")
    d = dictionary or services.dictionary()
    try:
        study = read_study(folder, d)
    except StudyReadError as exc:
        raise CaptureError(str(exc)) from None
    result = validate_study(study, d, data_cut=data_cut)
    imp = _Import(folder, study, result, d, user, client_addr)
    with audit.atomic():
        imp.start()
        imp.import_patients()
        imp.import_other_forms()
        imp.store()
    out_dir = Path(out) if out else Path(getattr(settings, "LATC_CAPTURE_DIR", "."))
    if imp.quarantine:
        imp.report.quarantine_dir = write_quarantine(imp.quarantine, out_dir / QUARANTINE_DIR, d)
    return imp.report


def _row_problems(result) -> tuple[dict[tuple[str, int], list[tuple[str, str]]], dict[tuple[str, int], list[dict]]]:
    """The queries of validation per (form, source row), message without the file and row: the
    hard ones (rule, message) that keep a row out, and the soft ones (query records) that become
    open queries on the stored record."""
    import pandas as pd

    hard: dict[tuple[str, int], list[tuple[str, str]]] = defaultdict(list)
    soft: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for q in result.queries.to_dict("records"):
        row = q.get("row")
        if row is None or pd.isna(row):
            continue
        key = (str(q["form"]), int(row))
        rule, sev = str(q["rule"]), str(q["severity"])
        src = result.sources.get(key[0]) or f"{key[0]}.csv"
        msg = _strip_message(str(q["message"]), src, int(row), "" if pd.isna(q.get("field")) else str(q.get("field")))
        if rule in BLOCKING_RULES or (rule in _UNREADABLE and sev == "error"):
            hard[key].append((rule, msg))
        elif rule not in IGNORED_RULES:
            soft[key].append({**q, "message": msg})
    return hard, soft


def _forced_forms(result, d) -> dict[str, str]:
    """Forms rejected as a whole (form → reason): a form the dictionary does not know, or one whose
    key column is missing."""
    forced = {}
    for form, qt in result.quarantine.items():
        reasons = set(";".join(qt["quarantine_reason"].astype(str)).split(";"))
        if form not in d.forms or "missing_column" in reasons:
            forced[form] = "unknown_form" if form not in d.forms else "missing_column"
    return forced


def _hard_reason(problems: list[tuple[str, str]]) -> tuple[str, str]:
    """(rules, messages) of a row's hard problems, each rule once."""
    return ";".join(dict.fromkeys(p[0] for p in problems)), " | ".join(p[1] for p in problems)


class _Import:
    """One :func:`import_study` run: the study as read and validated, and what it stores (patients,
    records, queries, audit entries) and quarantines. :meth:`start` and the steps after it run in
    one transaction."""

    def __init__(self, folder, study, result, d, user, client_addr: str):
        self.folder, self.study, self.result, self.d = folder, study, result, d
        self.user, self.client_addr = user, client_addr
        self.a = services.actor(user)
        self.report = ImportReport(source=str(folder), format=study.format)
        self.pid_pattern = d.patterns["patient_id_pattern"]
        self.hard, self.soft = _row_problems(result)
        self.forced = _forced_forms(result, d)
        self.quarantine: list[QuarantinedRow] = []
        self.parked_pids: dict[str, str] = {}  # patient_id → why its patients row was not stored
        self.stored: list[tuple[str, dict, Patient]] = []  # (form, row, patient) in source order per form
        self.saved: dict[str, Patient] = {}  # the patients created, by patient_id

    def start(self) -> None:
        """Read what capture holds already (inside the transaction): the next source order, the
        patients and the centers."""
        self.base = max(Record.objects.aggregate(m=Max("source_order"))["m"] or 0,
                        QuarantinedRow.objects.aggregate(m=Max("source_order"))["m"] or 0) + 1
        self.existing = set(Patient.objects.values_list("patient_id", flat=True))
        self.centers = {c.code: c for c in Center.objects.all()}

    def source(self, form: str) -> str:
        """The file a form was read from."""
        return self.result.sources.get(form) or f"{form}.csv"

    def park(self, form: str, r: dict, pid, reason: str, message: str) -> None:
        """Keep row ``r`` of ``form`` as a quarantined row (a non-pseudonymous patient id masked)."""
        import pandas as pd

        from latc.io import ROW
        from latc.validate._privacy import MASK, non_pseudonymous

        data = {k: v for k, v in r.items() if k != ROW and not k.startswith("_") and v is not None}
        shown = pid or ""
        if shown and non_pseudonymous(pd.Series([shown], dtype="str"), self.pid_pattern)[0]:
            shown = MASK
            if "patient_id" in data:
                data["patient_id"] = MASK
        center = _cell(r.get("center_id")) or ""
        self.quarantine.append(QuarantinedRow(
            form=form, patient_id=shown[:64], center=center[:16], data=data, reason=reason, message=message,
            source=f"{self.source(form)} row {r.get(ROW)}", source_order=self.base + int(r.get(ROW) or 0),
            imported_by=self.a.username))
        self.report.quarantine.append((form, r.get(ROW), shown, reason, message))
        self.report.quarantined[form] = self.report.quarantined.get(form, 0) + 1

    def rows_of(self, form: str) -> list[dict]:
        """The rows of ``form`` as read (dictionary columns and the source row), cells as text or None."""
        from latc.io import ROW

        t = self.study.tables.get(form)
        if t is None or not len(t):
            return []
        d = self.d
        cols = [c for c in t.columns if c in d.forms[form].field_names or c == ROW] if form in d.forms else list(t.columns)
        return [{k: _cell(v) if k != ROW else int(v) for k, v in r.items()} for r in t[cols].to_dict("records")]

    def _read(self, form: str) -> None:
        self.report.rows_read[form] = self.report.rows_read.get(form, 0) + 1

    # -- 1. patients: one Patient per first clean row of a new pseudonym ----------------------------
    def _why_not_patient(self, r: dict, new_patients: dict[str, Patient]) -> tuple[str, str] | None:
        """Why a patients row is not stored (reason, message), or None."""
        from latc.io import ROW

        pid, center = r.get("patient_id"), r.get("center_id")
        problems = self.hard.get(("patients", r[ROW]))
        if "patients" in self.forced:
            return (self.forced["patients"], "the form's key column is missing")
        if problems:
            return _hard_reason(problems)
        if not pid:
            return ("required", "patient_id is missing")
        if pid in self.existing:
            return ("patient_exists", f"patient {pid} is already in capture; correct it in the forms")
        if pid in new_patients:
            return ("duplicate", f"a second patients row for {pid}")
        if not center:
            return ("required", "center_id is missing: the patient cannot be assigned to a center")
        return None

    def _center(self, code: str) -> Center:
        """The center ``code``, created when capture does not have it yet."""
        if code not in self.centers:
            self.centers[code] = Center.objects.create(code=code, name=code)
            self.report.centers_created.append(code)
        return self.centers[code]

    def import_patients(self) -> None:
        """Create the patients of the clean rows of ``patients``; park the others (and remember
        their pseudonyms: the patient's rows in other forms are parked too)."""
        new_patients: dict[str, Patient] = {}
        for r in self.rows_of("patients"):
            self._read("patients")
            pid, center = r.get("patient_id"), r.get("center_id")
            why = self._why_not_patient(r, new_patients)
            if why:
                self.park("patients", r, pid, *why)
                if pid and pid not in new_patients:
                    self.parked_pids.setdefault(pid, why[0])
                continue
            try:
                validate_center_code(center)
            except Exception:  # noqa: BLE001 - pattern problems are hard errors above; defensive
                self.park("patients", r, pid, "pattern", f"center_id {center!r} is not a center code")
                self.parked_pids.setdefault(pid, "pattern")
                continue
            new_patients[pid] = Patient(patient_id=pid, center=self._center(center))
            self.stored.append(("patients", r, new_patients[pid]))
        Patient.objects.bulk_create(list(new_patients.values()))
        saved = {p.patient_id: p for p in Patient.objects.filter(patient_id__in=list(new_patients)).select_related("center")}
        self.saved = saved
        self.stored = [(f, r, saved[p.patient_id]) for f, r, p in self.stored]
        self.report.patients_created = len(saved)
        for pid in list(self.parked_pids):  # a clean second row does not rescue a patient
            if pid in saved:
                self.parked_pids.pop(pid)

    # -- 2. every other form, in source order ------------------------------------------------------
    def _why_not_row(self, form: str, r: dict, one_row: bool, seen: set[str]) -> tuple[str, str] | None:
        """Why a row of a form other than ``patients`` is not stored (reason, message), or None."""
        from latc.io import ROW

        d = self.d
        pid = r.get("patient_id")
        problems = self.hard.get((form, r[ROW]))
        if form in self.forced:
            return (self.forced[form], "not a form of the data dictionary" if form not in d.forms
                    else "the form's key column is missing")
        if problems:
            return _hard_reason(problems)
        if not pid:
            return ("required", "patient_id is missing")
        if pid in self.parked_pids:
            return ("parent_quarantined", f"the patient's patients row is quarantined ({self.parked_pids[pid]})")
        if pid in self.existing:
            return ("patient_exists", f"patient {pid} is already in capture; enter this row in the forms")
        if pid not in self.saved:
            return ("reference", f"no patient {pid} in patients")
        if one_row and pid in seen:
            return ("duplicate", f"a second {form} row for {pid} (one row per patient)")
        return None

    def import_other_forms(self) -> None:
        """The rows of every other form (dictionary order, then forms the dictionary does not
        know): stored under their new patient, or parked."""
        d = self.d
        for form in [f for f in d.forms if f != "patients"] + [f for f in self.study.tables if f not in d.forms]:
            one_row = form in d.forms and not d.forms[form].repeating
            seen: set[str] = set()
            for r in self.rows_of(form):
                self._read(form)
                pid = r.get("patient_id")
                why = self._why_not_row(form, r, one_row, seen)
                if why:
                    self.park(form, r, pid, *why)
                    continue
                seen.add(pid)
                self.stored.append((form, r, self.saved[pid]))

    # -- 3. records, audit, queries ----------------------------------------------------------------
    def store(self) -> None:
        """Create the records, their queries and the quarantined rows, and audit all of it."""
        now = timezone.now()
        records = self._create_records(now)
        rec_at, entries = self._record_entries(records)
        queries, qentries = self._queries(rec_at, now)
        Query.objects.bulk_create(queries, batch_size=1000)
        QueryMessage.objects.bulk_create([QueryMessage(query=q, user=None, at=now, action=QueryMessage.Action.OPEN,
                                                       text=q.message) for q in queries], batch_size=1000)
        self.report.queries_opened = len(queries)
        QuarantinedRow.objects.bulk_create(self.quarantine, batch_size=1000)
        entries.extend(self._quarantine_entries())
        audit.append_many(entries + qentries)

    def _create_records(self, now) -> list[Record]:
        """One record per stored row (instances numbered per patient and form, in source order)."""
        from latc.io import ROW

        counters: dict[tuple[int, str], int] = defaultdict(int)
        records: list[Record] = []
        for form, r, p in self.stored:
            counters[(p.pk, form)] += 1
            data = {k: v for k, v in r.items() if k != ROW and v is not None}
            records.append(Record(patient=p, form=form, instance=counters[(p.pk, form)], data=data, version=1,
                                  status=RecordStatus.COMPLETE, created_at=now, updated_at=now, updated_by=self.user,
                                  source=f"{self.source(form)} row {r[ROW]}", source_order=self.base + int(r[ROW])))
            self.report.stored[form] = self.report.stored.get(form, 0) + 1
        Record.objects.bulk_create(records, batch_size=1000)
        return records

    def _record_entries(self, records: list[Record]) -> tuple[dict[tuple[str, int], Record], list[dict]]:
        """The saved record of each (form, source row), and the audit entries: the import of the
        file, then one ``import`` entry per stored field."""
        from latc.io import ROW

        a, d, client_addr = self.a, self.d, self.client_addr
        by_key = {(r.patient_id, r.form, r.instance): r for r in
                  Record.objects.filter(patient__in=list(self.saved.values())).only("id", "patient_id", "form", "instance")}
        rec_at: dict[tuple[str, int], Record] = {}
        entries = [dict(action="import_file", username=a.username, role=a.role, client_addr=client_addr,
                        new_value=f"{self.folder} ({self.study.format})", reason="latc capture import")]
        for (form, r, p), rec in zip(self.stored, records):
            rec = by_key[(p.pk, form, rec.instance)]
            rec_at[(form, r[ROW])] = rec
            for k in d.forms[form].field_names:
                v = r.get(k)
                if v is not None:
                    entries.append(dict(action="import", username=a.username, role=a.role, center=p.center.code,
                                        patient_id=p.patient_id, form=form, instance=rec.instance, field=k,
                                        new_value=v, reason=rec_source(self.result, form, r[ROW]),
                                        client_addr=client_addr))
        return rec_at, entries

    def _queries(self, rec_at: dict[tuple[str, int], Record], now) -> tuple[list[Query], list[dict]]:
        """An open query per soft problem of a stored row, and its ``query_open`` audit entry."""
        import pandas as pd

        a, client_addr = self.a, self.client_addr
        pk_patient = {p.pk: p for p in self.saved.values()}
        queries: list[Query] = []
        qentries = []
        for key, qs in self.soft.items():
            rec = rec_at.get(key)
            if rec is None:
                continue
            p = pk_patient[rec.patient_id]
            for q in qs:
                fld = "" if pd.isna(q.get("field")) else str(q["field"])
                qid = "" if pd.isna(q.get("query_id")) else str(q["query_id"])
                queries.append(Query(record=rec, field=fld, rule=str(q["rule"]), severity=str(q["severity"]),
                                     message=q["message"], status=QueryStatus.OPEN, query_id=qid, opened_by=None,
                                     opened_at=now))
                qentries.append(dict(action="query_open", username=a.username, role=a.role, center=p.center.code,
                                     patient_id=p.patient_id, form=rec.form, instance=rec.instance, field=fld,
                                     new_value=q["message"], reason=f"rule {q['rule']} ({qid}) at import",
                                     client_addr=client_addr))
        return queries, qentries

    def _quarantine_entries(self) -> list[dict]:
        """An ``import_quarantine`` audit entry per quarantined row (a masked patient id left blank)."""
        from latc.validate._privacy import MASK

        a = self.a
        return [dict(action="import_quarantine", username=a.username, role=a.role, center=qr.center,
                     patient_id=qr.patient_id if qr.patient_id != MASK else "", form=qr.form,
                     new_value=json.dumps(qr.data, sort_keys=True, ensure_ascii=False),
                     reason=f"{qr.source}: {qr.reason}", client_addr=self.client_addr) for qr in self.quarantine]


def rec_source(result, form: str, row: int) -> str:
    return f"imported from {result.sources.get(form) or form + '.csv'} row {row}"


def write_quarantine(rows: list[QuarantinedRow], folder: Path, d) -> Path:
    """``<folder>/<form>.csv``: the rows as read (dictionary columns), ``_source`` (file and row),
    ``quarantine_reason`` and ``quarantine_message``; spreadsheet-safe. Files of earlier imports
    in the folder are replaced form by form."""
    import pandas as pd

    from latc.io._csv import write_csv_table
    from latc.io._spreadsheet import neutralise_formulas

    folder.mkdir(parents=True, exist_ok=True)
    by_form: dict[str, list[QuarantinedRow]] = defaultdict(list)
    for r in rows:
        by_form[r.form].append(r)
    for form, rs in by_form.items():
        cols = d.forms[form].field_names if form in d.forms else sorted({k for r in rs for k in r.data})
        t = pd.DataFrame({c: pd.Series([r.data.get(c) for r in rs], dtype="str") for c in cols})
        t["_source"] = pd.Series([r.source for r in rs], dtype="str")
        t["quarantine_reason"] = pd.Series([r.reason for r in rs], dtype="str")
        t["quarantine_message"] = pd.Series([r.message for r in rs], dtype="str")
        write_csv_table(neutralise_formulas(t), folder / f"{_safe_name(form)}.csv")
    (folder / "README.txt").write_text(
        "Rows latc capture import could not store, one <form>.csv per form, as read, with _source (file and row),\n"
        "quarantine_reason (rules) and quarantine_message. Correct them at the source and import again (only\n"
        "patients not yet in capture are imported), or enter them in the web forms. Cells a spreadsheet would\n"
        "run as a formula start with ' (docs/spreadsheet_safety.md).\n", encoding="utf-8")
    return folder


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80] or "form"


# -- export ----------------------------------------------------------------------------------------

def _pseudonymiser(key: str, pid_pattern: str):
    """patient_id → a keyed pseudonym of the same shape (center prefix kept, number from
    HMAC-SHA256 with the installation's secret key): stable across exports, not reversible without
    the key, and still a valid pseudonym for latc validate."""
    used: dict[str, str] = {}
    taken: set[str] = set()

    def new_id(pid: str) -> str:
        if pid in used:
            return used[pid]
        prefix = pid.split("-")[0] if "-" in pid else "X"
        n = int.from_bytes(hmac.new(key.encode(), pid.encode(), hashlib.sha256).digest()[:8], "big")
        cand = f"{prefix}-{n % 900000 + 100000}"
        while cand in taken:
            n += 1
            cand = f"{prefix}-{n % 900000 + 100000}"
        if not re.fullmatch(pid_pattern.strip("^$"), cand):
            cand = f"{prefix[:6]}-{n % 900000 + 100000}"
        taken.add(cand)
        used[pid] = cand
        return cand

    return new_id


def export_tables(*, user=None, deidentified: bool = False) -> dict[str, "object"]:
    """The study tables (form → DataFrame of text, dictionary columns, source order)."""
    import pandas as pd
    from django.conf import settings

    d = services.dictionary()
    rows: dict[str, list[tuple[tuple, dict]]] = defaultdict(list)
    big = 1 << 62
    for form, data, order, pk in Record.objects.order_by("pk").values_list("form", "data", "source_order", "pk"):
        rows[form].append(((order if order is not None else big, 0, pk), data))
    for form, data, order, pk in QuarantinedRow.objects.filter(resolved_at__isnull=True).order_by("pk").values_list(
            "form", "data", "source_order", "pk"):
        if form in d.forms:
            rows[form].append(((order if order is not None else big, 1, pk), data))
    out = {}
    for name, f in d.forms.items():
        rs = [data for _, data in sorted(rows.get(name, []), key=lambda t: t[0])]
        cols = {c: pd.Series([r.get(c) for r in rs], dtype="str") for c in f.field_names}
        out[name] = pd.DataFrame(cols, index=pd.RangeIndex(len(rs)))
    if deidentified:
        out = deidentify_tables(out, d, _pseudonymiser(settings.SECRET_KEY, d.patterns["patient_id_pattern"]))
    return out


def deidentify_tables(tables: dict, d, pseudo) -> dict:
    """The de-identified copy of study tables: identifier and free-text (notes) fields blanked,
    ``patient_id`` replaced by ``pseudo(patient_id)`` (:func:`_pseudonymiser`) — also inside text
    fields that embed it (sample ids, file references). Used by the de-identified export and the
    API's de-identified record export, so both give the same pseudonyms."""
    import pandas as pd

    out = {}
    for name, t in tables.items():
        f = d.forms.get(name)
        if f is None:
            out[name] = t
            continue
        t = t.copy()
        for x in f.fields:
            if (x.type == "notes" or x.identifier) and x.name in t.columns:
                t[x.name] = pd.Series([None] * len(t), index=t.index, dtype="str")
        if "patient_id" in t.columns and len(t):
            old = t["patient_id"]
            new = old.map(lambda v: pseudo(v) if isinstance(v, str) else v)
            for c in f.field_names:  # sample ids and file references that embed the patient id
                if c != "patient_id" and c in t.columns and f[c].type in ("text", "notes"):
                    t[c] = pd.Series([_swap(v, o, n) for v, o, n in zip(t[c], old, new)], index=t.index, dtype="str")
            t["patient_id"] = new.astype("str")
        out[name] = t
    return out


def _swap(v, old, new):
    if isinstance(v, str) and isinstance(old, str) and isinstance(new, str) and old in v:
        return v.replace(old, new)
    return v


def export_study(out_dir: str | Path, *, user=None, deidentified: bool = False, client_addr: str = "") -> Path:
    """Write ``out_dir/study/`` (one <form>.csv per form, what latc validate and latc run read),
    ``out_dir/redcap/`` (REDCap flat export + data dictionary) and ``out_dir/export.json``;
    returns ``out_dir/study``. Text a spreadsheet would run as a formula gets a leading ``'``."""
    from latc.io._csv import write_csv_table
    from latc.io._spreadsheet import neutralise_formulas
    from latc.io.redcap import write_redcap_export

    if user is not None:
        if deidentified:
            if not (can(user, "export_deidentified") or can(user, "export_identified")):
                raise Forbidden("your role may not export data")
        elif not can(user, "export_identified"):
            raise Forbidden("your role may only make a de-identified export (--deidentified)"
                            if can(user, "export_deidentified") else "your role may not export data")
    d = services.dictionary()
    out_dir = Path(out_dir)
    study_dir = out_dir / "study"
    study_dir.mkdir(parents=True, exist_ok=True)
    with audit.atomic():  # a consistent snapshot, and the audit entry with it
        tables = export_tables(user=user, deidentified=deidentified)
        files = {}
        for name, t in tables.items():
            path = study_dir / f"{name}.csv"
            write_csv_table(neutralise_formulas(t), path)
            files[f"study/{name}.csv"] = hashlib.sha256(path.read_bytes()).hexdigest()
        safe = {n: neutralise_formulas(t) for n, t in tables.items()}
        write_redcap_export(safe, out_dir / "redcap", d)
        for p in sorted((out_dir / "redcap").iterdir()):
            files[f"redcap/{p.name}"] = hashlib.sha256(p.read_bytes()).hexdigest()
        a = services.actor(user)
        counts = {n: len(t) for n, t in tables.items()}
        meta = {"exported_at": timezone.now().isoformat(), "by": a.username, "deidentified": deidentified,
                "dictionary": f"{d.study} {d.version}", "rows": counts,
                "quarantined_rows_included": QuarantinedRow.objects.filter(resolved_at__isnull=True).count(),
                "files_sha256": files}
        (out_dir / "export.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        services._entry(user, "export", new_value=f"{out_dir} ({sum(counts.values())} rows)",
                        reason="de-identified" if deidentified else "identified", client_addr=client_addr)
    return study_dir


# -- queries.csv -----------------------------------------------------------------------------------

@dataclass
class QueryImportReport:
    opened: int = 0
    already_open: int = 0
    not_open: int = 0
    #: ``required`` queries on forms the site still marks incomplete (quiet until complete, as on save)
    quiet_incomplete: int = 0
    #: (query_id, patient_id, form, row, why) of queries that match no record
    unmatched: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.opened} queries opened, {self.already_open} already open, {len(self.unmatched)} matched no "
                f"record, {self.not_open} not open (resolved) skipped"
                + (f", {self.quiet_incomplete} 'required' on forms still incomplete left quiet" if self.quiet_incomplete else ""))


def import_queries(queries_csv: str | Path, *, user=None, client_addr: str = "") -> QueryImportReport:
    """Open a query for every open row of latc validate's ``queries.csv`` on its record.

    A row is matched by patient and form, then by row: the record imported from that file row
    (``Record.source``), the one record of a one-row form, or — for queries found by validating a
    capture export — the record at that row of the export."""
    import pandas as pd

    from latc.io._spreadsheet import restore_formulas

    if user is not None and not can(user, "close_query"):
        raise Forbidden("your role may not import queries")
    path = Path(queries_csv)
    try:
        q = restore_formulas(pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""]))
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise CaptureError(f"{path}: cannot read the query log ({str(exc).splitlines()[0]})") from None
    need = {"form", "row", "patient_id", "field", "rule", "severity", "message"}
    if not need <= set(q.columns):
        raise CaptureError(f"{path}: not a latc validate queries.csv (missing columns {', '.join(sorted(need - set(q.columns)))})")
    d = services.dictionary()
    report = QueryImportReport()
    export_pos: dict[str, list[int]] = {}

    def export_order(form: str) -> list[int]:
        if form not in export_pos:
            rs = [(o if o is not None else 1 << 62, 0, pk, pk) for pk, o in
                  Record.objects.filter(form=form).values_list("pk", "source_order")]
            rs += [(o if o is not None else 1 << 62, 1, pk, None) for pk, o in
                   QuarantinedRow.objects.filter(form=form, resolved_at__isnull=True).values_list("pk", "source_order")]
            export_pos[form] = [t[3] for t in sorted(rs)]
        return export_pos[form]

    with audit.atomic():
        for r in q.to_dict("records"):
            if str(r.get("status") or "open") not in ("open", "nan", "None"):
                report.not_open += 1
                continue
            form, pid = str(r.get("form") or ""), str(r.get("patient_id") or "")
            row = str(r.get("row") or "")
            qid = str(r.get("query_id") or "") if not pd.isna(r.get("query_id")) else ""
            fld = "" if pd.isna(r.get("field")) else str(r["field"])
            rec = None
            why = ""
            patient = Patient.objects.filter(patient_id=pid).select_related("center").first() if pid else None
            if form not in d.forms:
                why = "not a form of the data dictionary"
            elif patient is None:
                why = "no such patient in capture"
            else:
                recs = list(Record.objects.filter(patient=patient, form=form))
                src = str(r.get("source") or "")
                value = None if pd.isna(r.get("value")) else str(r.get("value"))
                by_src = by_row = None
                if row:
                    hits = [x for x in recs if x.source and _same_source(x.source, src, row)]
                    by_src = hits[0] if len(hits) == 1 else None
                if row.isdigit():  # the row of a capture export (validated after export)
                    order = export_order(form)
                    i = int(row) - 2
                    if 0 <= i < len(order) and order[i] is not None:
                        by_row = next((x for x in recs if x.pk == order[i]), None)
                if by_src is not None and by_row is not None and by_src != by_row and value is not None and fld:
                    # both readings possible: the one holding the query's value wins
                    rec = by_row if by_row.data.get(fld) == value and by_src.data.get(fld) != value else by_src
                else:
                    rec = by_src or (recs[0] if not d.forms[form].repeating and len(recs) == 1 else None) or by_row
                if rec is None:
                    why = f"no {form} record of {pid} at row {row or '?'}"
            if rec is None:
                report.unmatched.append((qid, pid, form, row, why))
                continue
            if str(r["rule"]) in services._QUIET_WHILE_INCOMPLETE and rec.status == RecordStatus.INCOMPLETE:
                report.quiet_incomplete += 1  # the same rule as on save: a blank field of a form still being filled
                continue
            if Query.objects.filter(record=rec, field=fld, rule=str(r["rule"]), query_id=qid).exclude(
                    status=QueryStatus.CLOSED).exists():
                report.already_open += 1
                continue
            msg = _strip_message(str(r["message"]), str(r.get("source") or ""), row, fld)
            services._open(None, rec, fld, msg, rule=str(r["rule"]), severity=str(r.get("severity") or "warning"),
                           query_id=qid, acting=user, client_addr=client_addr)
            report.opened += 1
        services._entry(user, "import_queries", new_value=f"{path}: {report.summary()}", client_addr=client_addr)
    return report


def _same_source(record_source: str, query_source: str, row: str) -> bool:
    """``labs.csv row 12`` (capture) vs source ``labs.csv`` and row ``12`` (queries.csv)."""
    m = re.fullmatch(r"(.*) row (\d+)", record_source)
    if not m:
        return False
    return m.group(2) == row and Path(m.group(1)).name == Path(query_source).name
